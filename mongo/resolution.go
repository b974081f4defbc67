package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/activitylog/activitylog"
)

// resolutionDoc is a stored resolution. In the resolutions collection
// its _id is the event id (one document per event: the latest); in the
// log collection _id is a fresh ObjectID and EventID names the event.
type resolutionDoc struct {
	EventID    string `bson:"event_id"`
	ResolvedBy string `bson:"resolved_by"`
	ResolvedAt int64  `bson:"resolved_at"` // Unix nanoseconds
	Note       string `bson:"note,omitempty"`
}

var (
	replaceUpsert = options.Replace().SetUpsert(true)
	existsOpts    = options.FindOne().SetProjection(bson.D{{Key: fID, Value: 1}})
)

// Resolve stores r as the event's latest resolution, after checking r
// with Validate (a zero ResolvedAt becomes the current time) and that
// the event exists. It never touches the event's own document. A store
// opened with Options.ReadOnly refuses with an *activitylog.FieldError
// naming read_only.
//
// Without transactions it takes three commands, each atomic on its
// own: it looks the event up, appends r to the log collection
// (Options.Resolutions+"_log", which is only ever inserted into, so
// every resolution is kept), and replaces the event's document in the
// resolutions collection with r (an upsert). The last replacement to
// reach the server is the event's resolution: "latest wins" is the
// order in which the server applies them, as the Resolver contract
// asks. A Resolve that fails between the log insert and the replace
// leaves a logged resolution that is not the latest, and returns an
// error: retrying it makes it the latest. Only Purge deletes events: a
// Resolve of an event that a Purge deletes between the first command
// and the last may leave that event a resolution in the resolutions
// collection, which the next write of the same id would inherit.
func (s *Store) Resolve(ctx context.Context, r activitylog.Resolution) error {
	if r.ResolvedAt.IsZero() {
		r.ResolvedAt = time.Now()
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("resolve event %s: %w", r.EventID, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("resolve event %s: %w", r.EventID, errClosed)
	}
	if s.readOnly {
		return fmt.Errorf("resolve event %s: %w", r.EventID, errReadOnly)
	}
	id := r.EventID.String()
	if err := s.exists(ctx, id); err != nil {
		return fmt.Errorf("resolve event %s: %w", r.EventID, err)
	}
	doc := resolutionDoc{EventID: id, ResolvedBy: r.ResolvedBy, ResolvedAt: r.ResolvedAt.UnixNano(), Note: r.Note}
	if _, err := s.resLog.InsertOne(ctx, doc); err != nil {
		return fmt.Errorf("resolve event %s: log: %w", r.EventID, unavailable(ctx, err))
	}
	// Two upserts of a missing document may race to insert it; the
	// loser gets a duplicate key error, and its replace then finds the
	// document.
	var err error
	for range 5 {
		_, err = s.res.ReplaceOne(ctx, bson.D{{Key: fID, Value: id}}, doc, replaceUpsert)
		if !mongo.IsDuplicateKeyError(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("resolve event %s: %w", r.EventID, unavailable(ctx, err))
	}
	return nil
}

// Resolution returns the last resolution stored for the event with id.
// Its error wraps activitylog.ErrNotFound when there is no such event
// (whatever resolution a purge may have left for its id), and also
// activitylog.ErrNotResolved when the event exists but has no
// resolution.
func (s *Store) Resolution(ctx context.Context, id activitylog.ID) (activitylog.Resolution, error) {
	if s.closed.Load() {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, errClosed)
	}
	var doc resolutionDoc
	err := s.res.FindOne(ctx, bson.D{{Key: fID, Value: id.String()}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		if err := s.exists(ctx, id.String()); err != nil {
			return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, err)
		}
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, activitylog.ErrNotResolved)
	}
	if err != nil {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, unavailable(ctx, err))
	}
	// The event must exist too: a resolution that a Purge left behind
	// (one racing a Resolve, or stopped between its two deletes) is not
	// an answer for an event that is gone.
	if err := s.exists(ctx, id.String()); err != nil {
		return activitylog.Resolution{}, fmt.Errorf("read resolution of event %s: %w", id, err)
	}
	return activitylog.Resolution{
		EventID:    id,
		ResolvedBy: doc.ResolvedBy,
		ResolvedAt: time.Unix(0, doc.ResolvedAt).UTC(),
		Note:       doc.Note,
	}, nil
}

// exists returns nil when an event has id, an error wrapping
// activitylog.ErrNotFound when none has, and otherwise the server's.
func (s *Store) exists(ctx context.Context, id string) error {
	err := s.events.FindOne(ctx, bson.D{{Key: fID, Value: id}}, existsOpts).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return activitylog.ErrNotFound
	}
	if err != nil {
		return unavailable(ctx, err)
	}
	return nil
}
