package mongo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/activitylog/activitylog"
)

// orderFields maps each of activitylog.Orderings to its document field.
// Only these names, never the caller's string, reach a command.
var orderFields = map[string]string{
	"time":        fTime,
	"kind":        fKind,
	"action":      fAction,
	"status":      fStatus,
	"duration":    fDuration,
	"actor_id":    fActorID,
	"tenant":      fTenant,
	"object_type": fObjectType,
}

// projection reads back only what decode needs.
var projection = bson.D{{Key: fTime, Value: 1}, {Key: fEvent, Value: 1}}

// Get returns the event with id, or an error wrapping
// activitylog.ErrNotFound.
func (s *Store) Get(ctx context.Context, id activitylog.ID) (activitylog.Event, error) {
	if s.closed.Load() {
		return activitylog.Event{}, fmt.Errorf("get event %s: %w", id, errClosed)
	}
	raw, err := s.events.FindOne(ctx, bson.D{{Key: fID, Value: id.String()}},
		options.FindOne().SetProjection(projection)).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return activitylog.Event{}, fmt.Errorf("get event %s: %w", id, activitylog.ErrNotFound)
	}
	if err != nil {
		return activitylog.Event{}, fmt.Errorf("get event %s: %w", id, unavailable(ctx, err))
	}
	e, err := decode(raw)
	if err != nil {
		return activitylog.Event{}, fmt.Errorf("get event %s: decode: %w", id, err)
	}
	return e, nil
}

// Count returns how many events match f, ignoring its paging fields.
func (s *Store) Count(ctx context.Context, f activitylog.Filter) (int64, error) {
	return s.CountUpTo(ctx, f, 0)
}

// CountUpTo returns how many events match f, ignoring its paging
// fields, but counts no further than limit: min(Count(f), limit). A
// limit below 1 means no limit.
func (s *Store) CountUpTo(ctx context.Context, f activitylog.Filter, limit int64) (int64, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, fmt.Errorf("count events: %w", errClosed)
	}
	o := options.Count()
	if limit > 0 {
		o.SetLimit(limit)
	}
	n, err := s.events.CountDocuments(ctx, where(f), o)
	if err != nil {
		return 0, fmt.Errorf("count events: %w", unavailable(ctx, err))
	}
	return n, nil
}

// Query returns one page of the events that match f, in f's ordering.
//
// Keyset paging: a cursor holds the ordering value and id of the event
// at the page's edge, and the next page is the events strictly after
// that pair in the ordering (_id breaks ties), so pages never overlap or
// skip an event even while new events arrive. A "before" cursor runs the
// same query in the opposite direction and reverses the documents.
// Offset paging (Page > 1) uses skip and limit. Either way Query asks
// for one document more than the page to learn whether there is a next
// page.
func (s *Store) Query(ctx context.Context, f activitylog.Filter) (activitylog.Page, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.Page{}, err
	}
	if s.closed.Load() {
		return activitylog.Page{}, fmt.Errorf("query events: %w", errClosed)
	}
	if _, ok := orderFields[f.Field()]; !ok { // Normalize admits only activitylog.Orderings
		return activitylog.Page{}, activitylog.Invalid("ordering", f.Ordering, "is not supported by this store")
	}
	var cur activitylog.Cursor
	hasCursor := f.Cursor != ""
	if hasCursor {
		if cur, err = activitylog.DecodeCursor(f.Cursor); err != nil {
			return activitylog.Page{}, err
		}
	}
	filter, sort := pageQuery(f, cur)
	o := options.Find().SetSort(sort).SetLimit(int64(f.PageSize + 1)).SetProjection(projection).
		SetBatchSize(int32(f.PageSize + 1))
	if !hasCursor && f.Page > 1 {
		o.SetSkip(int64(f.Page-1) * int64(f.PageSize))
	}
	c, err := s.events.Find(ctx, filter, o)
	if err != nil {
		return activitylog.Page{}, fmt.Errorf("query events: %w", unavailable(ctx, err))
	}
	defer c.Close(context.WithoutCancel(ctx))
	events := make([]activitylog.Event, 0, min(f.PageSize+1, 64))
	for c.Next(ctx) {
		e, err := decode(c.Current)
		if err != nil {
			return activitylog.Page{}, fmt.Errorf("query events: decode: %w", err)
		}
		events = append(events, e)
	}
	if err := c.Err(); err != nil {
		return activitylog.Page{}, fmt.Errorf("query events: %w", unavailable(ctx, err))
	}
	more := len(events) > f.PageSize
	if more {
		events = events[:f.PageSize]
	}
	if cur.Before {
		slices.Reverse(events)
	}
	return activitylog.PageOf(f, events, hasCursor, cur.Before, more), nil
}

// pageQuery returns the filter and sort for one page of the normalized
// filter f after (or, for a "before" cursor, before) cur, in scan
// order.
func pageQuery(f activitylog.Filter, cur activitylog.Cursor) (bson.D, bson.D) {
	field := orderFields[f.Field()]
	filter := where(f)
	desc := f.Descending() != cur.Before // the direction of the scan
	if f.Cursor != "" {
		// (field, _id) strictly beyond (value, id) in scan direction;
		// the outer bound on field alone lets an index range serve it.
		op, opEq := "$gt", "$gte"
		if desc {
			op, opEq = "$lt", "$lte"
		}
		var v any = cur.Int
		if !activitylog.NumericOrdering(f.Field()) {
			v = cur.Str
		}
		filter = append(filter,
			bson.E{Key: "$and", Value: bson.A{
				bson.D{{Key: field, Value: bson.D{{Key: opEq, Value: v}}}},
				bson.D{{Key: "$or", Value: bson.A{
					bson.D{{Key: field, Value: bson.D{{Key: op, Value: v}}}},
					bson.D{{Key: field, Value: v}, {Key: fID, Value: bson.D{{Key: op, Value: cur.ID.String()}}}},
				}}},
			}})
	}
	dir := 1
	if desc {
		dir = -1
	}
	sort := bson.D{{Key: field, Value: dir}}
	if field != fID {
		sort = append(sort, bson.E{Key: fID, Value: dir})
	}
	return filter, sort
}

// where returns the query document for f's filters (not its paging).
func where(f activitylog.Filter) bson.D {
	d := bson.D{}
	eq := func(field, v string) {
		if v != "" {
			d = append(d, bson.E{Key: field, Value: validUTF8(v)})
		}
	}
	eq(fKind, string(f.Kind))
	eq(fAction, f.Action)
	eq(fActorID, f.ActorID)
	eq(fTenant, f.Tenant)
	if f.NoTenant {
		d = append(d, bson.E{Key: fTenant, Value: ""})
	}
	eq(fRemoteIP, f.RemoteIP)
	eq(fObjectType, f.ObjectType)
	eq(fObjectID, f.ObjectID)
	var tr bson.D
	if !f.From.IsZero() {
		tr = append(tr, bson.E{Key: "$gte", Value: f.From.UnixNano()})
	}
	if !f.To.IsZero() {
		tr = append(tr, bson.E{Key: "$lt", Value: f.To.UnixNano()})
	}
	if tr != nil {
		d = append(d, bson.E{Key: fTime, Value: tr})
	}
	var sr bson.D
	if f.StatusMin != 0 {
		sr = append(sr, bson.E{Key: "$gte", Value: int64(f.StatusMin)})
	}
	if f.StatusMax != 0 {
		sr = append(sr, bson.E{Key: "$lte", Value: int64(f.StatusMax)})
	}
	if f.Status != 0 {
		sr = append(sr, bson.E{Key: "$eq", Value: int64(f.Status)})
	}
	if sr != nil {
		d = append(d, bson.E{Key: fStatus, Value: sr})
	}
	eq(fMethod, f.Method)
	eq(fOrigin, f.Origin)
	eq(fSeverity, string(f.Severity))
	eq(fCategory, f.Category)
	eq(fTool, f.Tool)
	if f.Search != "" {
		// The stored search copies are ASCII-lowercased, and so is the
		// pattern, which then matches case-sensitively: only ASCII
		// letters fold, as activitylog.Filter.Match says, whatever the
		// server's regex engine would fold with the "i" option.
		p := bson.Regex{Pattern: regexLiteral(asciiLower(validUTF8(f.Search)))}
		or := make(bson.A, len(searchFields))
		for i, k := range searchFields {
			or[i] = bson.D{{Key: k, Value: p}}
		}
		d = append(d, bson.E{Key: "$or", Value: or})
	}
	return d
}

// regexLiteral returns a regular expression that matches s literally,
// in PCRE (MongoDB) and RE2 (FerretDB) alike: metacharacters are
// escaped, and control characters (NUL included, which a BSON regex
// cannot hold) are written as \xHH.
func regexLiteral(s string) string {
	q := regexp.QuoteMeta(s)
	if !strings.ContainsFunc(q, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return q
	}
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if c := q[i]; c < 0x20 || c == 0x7f {
			fmt.Fprintf(&b, `\x%02x`, c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
