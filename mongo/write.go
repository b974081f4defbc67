package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/activitylog/activitylog"
)

// Field names of an event document. Every field a Filter or an ordering
// reads is a top-level field; the event itself is kept whole, as its
// JSON document, in "event".
const (
	fID         = "_id" // the event id, canonical UUID text: sorts as the 16 bytes do
	fTime       = "time"
	fKind       = "kind"
	fAction     = "action"
	fSeverity   = "severity"
	fTenant     = "tenant"
	fActorID    = "actor_id"
	fObjectType = "object_type"
	fObjectID   = "object_id"
	fRemoteIP   = "remote_ip"
	fStatus     = "status"
	fDuration   = "duration"
	fMethod     = "method"
	fOrigin     = "origin"
	fCategory   = "category"
	fTool       = "tool"
	fEvent      = "event"
	// Search copies: ASCII-lowercased message, request path, object
	// repr and actor name, present only when not empty.
	fSearchMessage = "search_message"
	fSearchPath    = "search_path"
	fSearchRepr    = "search_repr"
	fSearchActor   = "search_actor"
)

var searchFields = [...]string{fSearchMessage, fSearchPath, fSearchRepr, fSearchActor}

// document returns the document stored for e. Fields that orderings
// read (time, kind, action, status, duration, actor_id, tenant,
// object_type) are always present, even when empty, so that a range
// condition on a cursor's value sees every event; the other filter
// fields are left out when empty, since a filter never asks for an empty
// value.
func document(e *activitylog.Event) (bson.D, error) {
	if t := e.Time; !time.Unix(0, t.UnixNano()).Equal(t) {
		return nil, activitylog.Invalid("time", t.Format(time.RFC3339Nano), "must be between the years 1678 and 2261")
	}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, activitylog.Invalid("event", e.ID.String(), "cannot be stored as JSON: "+err.Error())
	}
	d := make(bson.D, 0, 24)
	d = append(d,
		bson.E{Key: fID, Value: e.ID.String()},
		bson.E{Key: fTime, Value: e.Time.UnixNano()},
		bson.E{Key: fKind, Value: validUTF8(string(e.Kind))},
		bson.E{Key: fAction, Value: validUTF8(e.Action)},
		bson.E{Key: fSeverity, Value: validUTF8(string(e.Severity))},
		bson.E{Key: fTenant, Value: validUTF8(e.Tenant)},
		bson.E{Key: fActorID, Value: validUTF8(e.Actor.ID)},
		bson.E{Key: fObjectType, Value: validUTF8(e.Object.Type)},
		bson.E{Key: fStatus, Value: int64(e.Response.Status)},
		bson.E{Key: fDuration, Value: int64(e.Response.Duration)},
	)
	for _, f := range [...]struct{ k, v string }{
		{fObjectID, e.Object.ID}, {fRemoteIP, e.Request.RemoteIP}, {fMethod, e.Request.Method},
		{fOrigin, e.Request.Origin}, {fCategory, e.Category}, {fTool, e.Tool},
		{fSearchMessage, asciiLower(e.Message)}, {fSearchPath, asciiLower(e.Request.Path)},
		{fSearchRepr, asciiLower(e.Object.Repr)}, {fSearchActor, asciiLower(e.Actor.Name)},
	} {
		if f.v != "" {
			d = append(d, bson.E{Key: f.k, Value: validUTF8(f.v)})
		}
	}
	d = append(d, bson.E{Key: fEvent, Value: string(data)})
	return d, nil
}

// decode returns the event of a stored document.
func decode(raw bson.Raw) (activitylog.Event, error) {
	var e activitylog.Event
	data, ok := raw.Lookup(fEvent).StringValueOK()
	if !ok {
		return e, errors.New("document has no event")
	}
	ns, ok := raw.Lookup(fTime).AsInt64OK()
	if !ok {
		return e, errors.New("document has no time")
	}
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		return e, err
	}
	e.Time = time.Unix(0, ns).UTC()
	return e, nil
}

var insertOpts = options.InsertMany().SetOrdered(false)

// Write stores events, each as one document whose _id is the event id.
//
// It is idempotent by id: an event whose id is already stored is
// refused by the server with a duplicate-key error, which Write
// ignores, leaving the stored event as it is.
//
// It is NOT all or nothing. MongoDB transactions need a replica set,
// and FerretDB has none, so Write sends the batch as one unordered
// insertMany (the driver splits it into as many commands as the
// server's message size asks for). When Write returns nil, every event
// of the batch is stored. When it returns an error, any subset of the
// batch may have been stored: the documents the server inserted before
// it failed or the connection dropped. What holds instead is
// convergence: retrying the same batch (as the Recorder does with a
// batch whose Write failed) stores exactly the events still missing,
// so after a successful retry each event is stored exactly once. A
// context that has already ended, or an event that cannot be encoded,
// fails the batch before anything is sent, and then nothing is stored.
//
// Write does not validate events (the Recorder and the API do), but it
// refuses a batch with an event it cannot store faithfully, one with a
// time outside the years 1678 to 2261 or a value JSON cannot hold (NaN,
// a func) in an any-typed field, with an *activitylog.FieldError; a
// store opened with Options.ReadOnly refuses every batch with one
// naming read_only. Otherwise an error wraps activitylog.ErrUnavailable, or is the
// context's error when ctx ended first.
func (s *Store) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("write events: %w", errClosed)
	}
	if s.readOnly {
		return fmt.Errorf("write events: %w", errReadOnly)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	docs := make([]any, len(events))
	for i := range events {
		d, err := document(&events[i])
		if err != nil {
			return fmt.Errorf("write events: event %s: %w", events[i].ID, err)
		}
		docs[i] = d
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	_, err := s.events.InsertMany(ctx, docs, insertOpts)
	if err == nil || onlyDuplicates(err) {
		return nil
	}
	return fmt.Errorf("write events: %w", unavailable(ctx, err))
}

// onlyDuplicates reports whether err is a bulk write error all of whose
// write errors are duplicate keys (the events already stored), with no
// write concern error. The events collection has no unique index but
// _id, so a duplicate key is always an event id.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}

// validUTF8 returns s with each byte that is not part of valid UTF-8
// replaced by U+FFFD, as encoding/json writes it into the stored event:
// BSON strings must be UTF-8 (FerretDB refuses a regular expression
// that is not), and so a document's fields hold what Get returns. A
// filter's values go through it too, so that they compare as the
// stored fields do.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

// asciiLower lowers ASCII letters only, allocating only when there is
// one to lower: the folding activitylog.Filter.Match does.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
