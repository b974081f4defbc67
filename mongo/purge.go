package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/activitylog/activitylog"
)

var _ activitylog.Purger = (*Store)(nil)

// purgeBatch bounds the events one round of a purge finds and deletes,
// so that no command grows large.
const purgeBatch = 5000

// Purge deletes the events that r selects: time before r.Before, of
// r.Kinds (every kind when empty), of r.Tenant unless r.AllTenants.
// System events of category retention, the records of purges, are
// never deleted. This store does not seal events, so nothing is kept
// for a seal: KeptSealed (and Pruned, PrunedChains) stay 0.
//
// It works in rounds of at most 5000 events, until a round finds
// fewer: it finds the ids and kinds of up to 5000 matching events, then
// deletes them by id, one deleteMany per kind, whose deleted counts make
// Deleted and ByKind exact (an event deleted by someone else meanwhile
// is not counted). Then it deletes their latest resolutions (the
// resolutions collection, keyed by event id), so that Resolution of a
// purged event is activitylog.ErrNotFound, as in the other stores, and
// an event written again later with the same id starts unresolved. The
// resolution log (every resolution ever stored) is kept, as the sqlite,
// postgres and mysql stores keep the resolution rows of purged events.
// Without transactions each command is atomic on its own, the purge is
// not: one that fails between deleting events and their resolutions
// leaves those resolutions behind. When ctx ends, Purge sends no
// further delete, but one already sent is waited for (at most a minute
// more), counted, and followed by the delete of its events'
// resolutions: the server may carry out a command whose caller gave
// up.
//
// A bad request is an *activitylog.FieldError, as is a store opened
// with Options.ReadOnly (naming read_only). On a store error the result
// counts what was deleted before it, and the error wraps
// activitylog.ErrUnavailable, or is the context's error when ctx ended.
func (s *Store) Purge(ctx context.Context, r activitylog.PurgeRequest) (activitylog.PurgeResult, error) {
	res := activitylog.PurgeResult{ByKind: map[activitylog.Kind]int64{}}
	if err := r.Validate(); err != nil {
		return res, err
	}
	if s.closed.Load() {
		return res, fmt.Errorf("purge: %w", errClosed)
	}
	if s.readOnly {
		return res, fmt.Errorf("purge: %w", errReadOnly)
	}
	before, ok := r.BeforeUnixNano()
	if !ok {
		return res, nil
	}
	find := options.Find().SetProjection(bson.D{{Key: fID, Value: 1}, {Key: fKind, Value: 1}}).
		SetLimit(purgeBatch).SetBatchSize(purgeBatch)
	for {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("purge: %w", err)
		}
		found, gone, err := s.purgeRound(ctx, r, before, find, &res)
		if err != nil {
			return res, fmt.Errorf("purge: %w", err)
		}
		// A full round that removed nothing found only documents this
		// package cannot delete (not its own): the next would find them
		// again.
		if found < purgeBatch || gone == 0 {
			return res, nil
		}
	}
}

// purgeFilter returns the query document for the events a purge of r
// deletes: time before before, of kind (any of r.Kinds when kind is
// empty), r's tenant unless every tenant, and never a record of a purge.
func purgeFilter(r activitylog.PurgeRequest, before int64, kind string) bson.D {
	d := bson.D{{Key: fTime, Value: bson.D{{Key: "$lt", Value: before}}}}
	switch {
	case kind != "":
		d = append(d, bson.E{Key: fKind, Value: kind})
	case len(r.Kinds) == 1:
		d = append(d, bson.E{Key: fKind, Value: string(r.Kinds[0])})
	case len(r.Kinds) > 1:
		ks := make(bson.A, len(r.Kinds))
		for i, k := range r.Kinds {
			ks[i] = string(k)
		}
		d = append(d, bson.E{Key: fKind, Value: bson.D{{Key: "$in", Value: ks}}})
	}
	if !r.AllTenants {
		d = append(d, bson.E{Key: fTenant, Value: validUTF8(r.Tenant)})
	}
	// Not (kind system and category retention); an event without a
	// category has none stored, which $ne matches.
	return append(d, bson.E{Key: "$or", Value: bson.A{
		bson.D{{Key: fKind, Value: bson.D{{Key: "$ne", Value: string(activitylog.KindSystem)}}}},
		bson.D{{Key: fCategory, Value: bson.D{{Key: "$ne", Value: activitylog.CategoryRetention}}}},
	}})
}

// purgeRound finds up to purgeBatch events that r selects, deletes them
// (and their latest resolutions), and adds what it deleted to res. It
// returns how many it found, and how many of those are gone now
// (deleted by it or by someone else meanwhile).
func (s *Store) purgeRound(ctx context.Context, r activitylog.PurgeRequest, before int64, find *options.FindOptionsBuilder,
	res *activitylog.PurgeResult) (found, gone int, err error) {
	c, err := s.events.Find(ctx, purgeFilter(r, before, ""), find)
	if err != nil {
		return 0, 0, fmt.Errorf("find events: %w", unavailable(ctx, err))
	}
	byKind := map[string][]string{}
	var kinds []string // in the order found, for a stable order of commands
	for c.Next(ctx) {
		found++
		// Every event this package writes has a text _id and kind; a
		// document without is not deleted.
		id, ok := c.Current.Lookup(fID).StringValueOK()
		k, kok := c.Current.Lookup(fKind).StringValueOK()
		if !ok || !kok || k == "" {
			continue
		}
		if _, ok := byKind[k]; !ok {
			kinds = append(kinds, k)
		}
		byKind[k] = append(byKind[k], id)
	}
	err = c.Err()
	c.Close(context.WithoutCancel(ctx))
	if err != nil {
		return found, 0, fmt.Errorf("find events: %w", unavailable(ctx, err))
	}
	// A delete once sent is let finish, and the resolutions of what it
	// deleted deleted, even when ctx ends meanwhile (for at most
	// deleteGrace more): the server may carry out a command whose
	// caller gave up, and the result must count what is gone. ctx ending
	// stops the round before its next delete.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteGrace)
	defer cancel()
	var deleted []string // ids of the events no longer there
	for _, k := range kinds {
		if err = ctx.Err(); err != nil {
			break
		}
		ids := byKind[k]
		// The whole filter again, of the kind found, so that an event
		// changed since (deleted, written again) is deleted only if it
		// still matches, and counted under its kind.
		del := append(bson.D{{Key: fID, Value: bson.D{{Key: "$in", Value: ids}}}}, purgeFilter(r, before, k)...)
		dr, derr := s.events.DeleteMany(dctx, del)
		if derr != nil {
			err = fmt.Errorf("delete %d %s events: %w", len(ids), k, unavailable(ctx, derr))
			break
		}
		res.Deleted += dr.DeletedCount
		res.ByKind[activitylog.Kind(k)] += dr.DeletedCount
		if dr.DeletedCount != int64(len(ids)) {
			// Some were not deleted here: keep the resolutions of those
			// still there.
			if ids, err = s.missing(dctx, ids); err != nil {
				break
			}
		}
		deleted = append(deleted, ids...)
	}
	if len(deleted) > 0 {
		if _, rerr := s.res.DeleteMany(dctx, bson.D{{Key: fID, Value: bson.D{{Key: "$in", Value: deleted}}}}); rerr != nil && err == nil {
			err = fmt.Errorf("delete the resolutions of %d deleted events: %w", len(deleted), unavailable(ctx, rerr))
		}
	}
	return found, len(deleted), err
}

// deleteGrace bounds how long a purge's delete, once sent, goes on
// after the purge's context ended.
const deleteGrace = time.Minute

// missing returns those of ids that no event has.
func (s *Store) missing(ctx context.Context, ids []string) ([]string, error) {
	c, err := s.events.Find(ctx, bson.D{{Key: fID, Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: fID, Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("find events: %w", unavailable(ctx, err))
	}
	defer c.Close(context.WithoutCancel(ctx))
	there := map[string]bool{}
	for c.Next(ctx) {
		if id, ok := c.Current.Lookup(fID).StringValueOK(); ok {
			there[id] = true
		}
	}
	if err := c.Err(); err != nil {
		return nil, fmt.Errorf("find events: %w", unavailable(ctx, err))
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !there[id] {
			out = append(out, id)
		}
	}
	return out, nil
}
