package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/activitylog/activitylog"
)

// scanBatch is how many documents each getMore of a Scan fetches.
const scanBatch = 1000

// Scan calls fn with every event that matches f, in f's ordering, as
// activitylog.Scanner describes: one find command whose cursor the
// server streams in batches, rather than one query per page. f's
// paging fields are ignored. The *Event is reused for the next event.
func (s *Store) Scan(ctx context.Context, f activitylog.Filter, fn func(e *activitylog.Event) error) error {
	f.Cursor, f.Page, f.PageSize = "", 0, 0
	f, err := f.Normalize(time.Now())
	if err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("scan events: %w", errClosed)
	}
	filter, sort := pageQuery(f, activitylog.Cursor{})
	c, err := s.events.Find(ctx, filter, options.Find().SetSort(sort).SetProjection(projection).SetBatchSize(scanBatch))
	if err != nil {
		return fmt.Errorf("scan events: %w", unavailable(ctx, err))
	}
	defer c.Close(context.WithoutCancel(ctx))
	var e activitylog.Event
	for c.Next(ctx) {
		if e, err = decode(bson.Raw(c.Current)); err != nil {
			return fmt.Errorf("scan events: decode: %w", err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := c.Err(); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("scan events: %w", unavailable(ctx, err))
	}
	return nil
}
