package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/strictjson"
)

// ingest handles POST /api/v1/events.
func (s *server) ingest(w http.ResponseWriter, r *http.Request) {
	p := activitylog.PrincipalFrom(r.Context())
	if wait, ok := s.limits.allow(p.Method + "\x00" + p.Tenant + "\x00" + p.ID); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		s.writeError(w, http.StatusTooManyRequests, apiError{Code: "rate_limited",
			Message: "principal " + clip(principalName(p)) + " is over its ingest rate; retry after " + wait.Round(time.Millisecond).String()})
		return
	}
	if err := NoParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	ndjson, ok := mediaType(r.Header.Get("Content-Type"))
	if !ok {
		ct := clipN(r.Header.Get("Content-Type"), 128)
		s.writeError(w, http.StatusUnsupportedMediaType, apiError{
			Code:    "unsupported_media_type",
			Message: "Content-Type " + strconv.Quote(ct) + " is not supported: send application/json or application/x-ndjson, in UTF-8",
			Field:   "Content-Type",
			Value:   &ct,
		})
		return
	}
	if !s.identityEncoding(w, r) {
		return
	}
	tooLarge := func() {
		s.writeError(w, http.StatusRequestEntityTooLarge, apiError{
			Code:    "too_large",
			Message: "the request body is larger than " + strconv.FormatInt(s.maxBody, 10) + " bytes",
		})
	}
	if r.ContentLength > s.maxBody {
		tooLarge()
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			tooLarge()
			return
		}
		s.log.DebugContext(r.Context(), "activitylog server: read body", "err", err)
		s.writeError(w, http.StatusBadRequest, apiError{Code: "invalid", Message: "the request body could not be read"})
		return
	}
	events, err := decodeEvents(body, ndjson, s.maxBatch)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids, err := assignIDs(events)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The tenant is the key's, whatever the events say (a superuser's
	// events keep theirs), and the server's clock is kept beside the
	// client's as extra.received_at.
	received := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range events {
		e := &events[i]
		if !p.Has(activitylog.Superuser) {
			e.Tenant = p.Tenant
		}
		if e.Extra == nil {
			e.Extra = make(map[string]any, 1)
		}
		e.Extra["received_at"] = received
	}
	// The events describe other processes' activity: do not let the
	// Recorder enrich them with the actor, request and trace that
	// middleware put in this request's context. Keep its cancellation.
	ctx, cancel := detach(r.Context())
	defer cancel()
	if err := s.in.Commit(ctx, events); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusCreated, struct {
		Accepted int              `json:"accepted"`
		IDs      []activitylog.ID `json:"ids"`
	}{len(ids), ids})
}

// mediaType reports whether ct is one that ingest takes, and whether it
// is NDJSON. A charset parameter, if any, must be UTF-8.
func mediaType(ct string) (ndjson, ok bool) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, false
	}
	if cs, has := params["charset"]; has && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return false, false
	}
	switch mt {
	case "application/json":
		return false, true
	case "application/x-ndjson":
		return true, true
	}
	return false, false
}

// identityEncoding reports whether r's body is sent as it is: without
// a Content-Encoding, or with identity only. Otherwise it answers 415
// naming the header, with Accept-Encoding: identity (RFC 9110, 15.5.16),
// and returns false: the API decompresses nothing, and compressed bytes
// must not be read as JSON.
func (s *server) identityEncoding(w http.ResponseWriter, r *http.Request) bool {
	vs := r.Header.Values("Content-Encoding")
	for _, v := range vs {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				ce := clipN(strings.Join(vs, ", "), 128)
				w.Header().Set("Accept-Encoding", "identity")
				s.writeError(w, http.StatusUnsupportedMediaType, apiError{
					Code:    "unsupported_media_type",
					Message: "Content-Encoding " + strconv.Quote(ce) + " is not supported: send the body uncompressed, without a Content-Encoding",
					Field:   "Content-Encoding",
					Value:   &ce,
				})
				return false
			}
		}
	}
	return true
}

// detach returns a context that ends when parent does but carries none
// of its values.
func detach(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := context.AfterFunc(parent, func() { cancel(parent.Err()) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// assignIDs gives every event without an id a new one, and refuses an
// id that appears twice: only one of the two would be stored.
func assignIDs(events []activitylog.Event) ([]activitylog.ID, error) {
	ids := make([]activitylog.ID, len(events))
	seen := make(map[activitylog.ID]int, len(events))
	now := time.Now()
	for i := range events {
		e := &events[i]
		if e.ID.IsZero() {
			e.ID = activitylog.NewID(now)
		} else if j, dup := seen[e.ID]; dup {
			return nil, activitylog.Invalid(index(i)+".id", e.ID.String(), "repeats the id of "+index(j))
		}
		seen[e.ID] = i
		ids[i] = e.ID
	}
	return ids, nil
}

func index(i int) string { return "events[" + strconv.Itoa(i) + "]" }

// decodeEvents decodes a POST body: one JSON object, a JSON array of
// objects, or (ndjson) one object per line. Every error is a
// *activitylog.FieldError naming "body", "events" or the event's field.
func decodeEvents(body []byte, ndjson bool, maxBatch int) ([]activitylog.Event, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, activitylog.Invalid("body", "", "is empty: send an event, an array of events, or NDJSON")
	}
	if ndjson {
		return decodeNDJSON(body, maxBatch)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch trimmed[0] {
	case '{':
		raw, err := oneValue(body)
		if err != nil {
			return nil, syntaxError("body", "", body, err)
		}
		e, err := decodeEvent(raw, 0)
		if err != nil {
			return nil, err
		}
		return []activitylog.Event{e}, nil
	case '[':
		return decodeArray(body, maxBatch)
	}
	return nil, activitylog.Invalid("body", showValue(string(trimmed)), "must be a JSON object or an array of objects")
}

func decodeArray(body []byte, maxBatch int) ([]activitylog.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // the '['
		return nil, syntaxError("body", "", body, err)
	}
	var events []activitylog.Event
	n := 0
	for ; dec.More(); n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxError(index(n), "", body, err)
		}
		if n >= maxBatch {
			continue // count the rest, for the error
		}
		e, err := decodeEvent(raw, n)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim(']') {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, syntaxError("body", "", body, err)
	}
	if err := trailing(dec); err != nil {
		return nil, syntaxError("body", "", body, err)
	}
	if err := batchSize(n, maxBatch); err != nil {
		return nil, err
	}
	return events, nil
}

func decodeNDJSON(body []byte, maxBatch int) ([]activitylog.Event, error) {
	var events []activitylog.Event
	n := 0
	for lineNo := 1; len(body) > 0; lineNo++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		n++
		if n > maxBatch {
			continue // count the rest, for the error
		}
		where := "line " + strconv.Itoa(lineNo) + ": "
		if line[0] != '{' {
			return nil, activitylog.Invalid(index(n-1), showValue(string(line)), where+"must be a JSON object")
		}
		raw, err := oneValue(line)
		if err != nil {
			return nil, syntaxError(index(n-1), where, line, err)
		}
		e, err := decodeEvent(raw, n-1)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	if err := batchSize(n, maxBatch); err != nil {
		return nil, err
	}
	return events, nil
}

func batchSize(n, maxBatch int) error {
	if n == 0 {
		return activitylog.Invalid("events", "0 events", "must hold at least one event")
	}
	if n > maxBatch {
		return activitylog.Invalid("events", strconv.Itoa(n)+" events", "is more than "+strconv.Itoa(maxBatch)+" in one request")
	}
	return nil
}

// oneValue returns the single JSON value in b, refusing data after it.
func oneValue(b []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	if err := trailing(dec); err != nil {
		return nil, err
	}
	return raw, nil
}

// trailingError says that data followed a JSON value, from byte off.
type trailingError struct{ off int64 }

func (e *trailingError) Error() string {
	return "data after the JSON value at byte " + strconv.FormatInt(e.off, 10)
}

// trailing refuses anything but white space after the decoder's value.
func trailing(dec *json.Decoder) error {
	off := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return &trailingError{off}
	}
	return nil
}

// syntaxError explains a JSON syntax error in b, for field. where, if
// set, starts the reason ("line 3: ").
func syntaxError(field, where string, b []byte, err error) error {
	if te, ok := errors.AsType[*trailingError](err); ok {
		rest := bytes.TrimSpace(b[min(int(te.off), len(b)):])
		return activitylog.Invalid(field, showValue(string(rest)), where+"has data after the end of the JSON value, at byte "+strconv.FormatInt(te.off, 10))
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		// The decoder's offsets point near the error, not always at
		// it, so no snippet is quoted as the value.
		return activitylog.Invalid(field, "", where+"is not valid JSON near byte "+strconv.FormatInt(se.Offset, 10)+": "+se.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return activitylog.Invalid(field, "", where+"ends in the middle of a JSON value")
	}
	return activitylog.Invalid(field, "", where+"is not valid JSON")
}

// wireEvent is an Event as it arrives: id and time are read as strings
// (they shadow the embedded fields) so that a malformed one can be named.
type wireEvent struct {
	activitylog.Event
	ID   *string `json:"id"`
	Time *string `json:"time"`
}

const nilUUID = "00000000-0000-0000-0000-000000000000"

// decodeEvent decodes the JSON object raw strictly, as event i.
func decodeEvent(raw json.RawMessage, i int) (activitylog.Event, error) {
	at := index(i)
	if len(raw) == 0 || raw[0] != '{' {
		return activitylog.Event{}, activitylog.Invalid(at, showValue(string(raw)), "must be a JSON object")
	}
	// Members given twice, in another case than the field's, unknown,
	// or with strings that are not UTF-8 (which encoding/json would
	// store as U+FFFD) are refused, not taken.
	if err := strictjson.Check(raw, wireEventType, strictjson.Options{Prefix: at, What: "an event", Valid: true}); err != nil {
		return activitylog.Event{}, err
	}
	var w wireEvent
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		// A wrong type, or (should Check have missed it) an unknown
		// member: named with its path and the value sent.
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok || strings.HasPrefix(err.Error(), "json: unknown field ") {
			return activitylog.Event{}, strictjson.DecodeError(raw, err, at)
		}
		return activitylog.Event{}, syntaxError(at, "", raw, err)
	}
	e := w.Event
	if w.ID != nil && *w.ID != "" && *w.ID != nilUUID {
		id, err := activitylog.ParseID(*w.ID)
		if err != nil {
			return activitylog.Event{}, activitylog.Invalid(at+".id", clip(*w.ID), "is not a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
		}
		e.ID = id
	}
	if w.Time != nil && *w.Time != "" {
		if err := e.Time.UnmarshalText([]byte(*w.Time)); err != nil {
			return activitylog.Event{}, activitylog.Invalid(at+".time", clip(*w.Time), "is not an RFC 3339 time, like 2025-01-02T15:04:05Z")
		}
	}
	if err := checkIngested(&e, at); err != nil {
		return activitylog.Event{}, err
	}
	return e, nil
}

// checkIngested refuses, naming the field of event at, what a client
// may not send though a Recorder's own callers may record it:
//
//   - category audit_loss (in any case), which docs/event-schema.md
//     reserves for the Recorder's own reports of events it lost; a
//     client could otherwise forge a loss report, or one that says
//     nothing was lost. The Recorder makes its reports itself, never
//     through ingest.
//   - a request.method that is not an HTTP token (RFC 9110, 5.6.2: the
//     tchar of a method), such as "GE T": no request has it, and the
//     list's method filter refuses it, so the event could never be
//     found by its method.
func checkIngested(e *activitylog.Event, at string) error {
	if strings.EqualFold(e.Category, activitylog.CategoryAuditLoss) {
		return activitylog.Invalid(at+".category", clip(e.Category),
			"is reserved for the reports of lost events that the server's Recorder makes itself; a client may not send one")
	}
	if m := e.Request.Method; m != "" && !activitylog.ValidMethod(m) {
		return activitylog.Invalid(at+".request.method", clip(m),
			"is not an HTTP method: a token of letters, digits and !#$%&'*+-.^_`|~, like GET or PROPFIND")
	}
	return nil
}

var wireEventType = reflect.TypeFor[wireEvent]()
