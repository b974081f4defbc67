package activitylog

import (
	"context"
	"fmt"
	"time"
)

// Scanner is implemented by a Querier that can read every event a
// filter selects in one pass, faster than paging through Query: an
// export of a million events, say. Use the function Scan, which falls
// back to paging when a Querier is not a Scanner.
//
// Scan calls fn with each event that matches f, in f's ordering, and
// ignores f's paging fields (Cursor, Page, PageSize). It normalizes f
// once, first, so that LastHours is fixed to one From for the whole
// scan; a filter that fails Filter.Normalize gets that error, before
// fn is called. fn is called from the goroutine that called Scan, one
// event at a time. The *Event, and what it points to, is valid only
// until fn returns: Scan may reuse it for the next event, so fn must
// copy what it keeps.
//
// A scan is not a snapshot. Like paging with cursors, it never returns
// an event twice nor skips one that existed when it started, but an
// event written during the scan is returned only if it falls after the
// scan's position in the ordering.
//
// When fn returns an error, Scan stops and returns that error as it is.
// When the context ends, Scan returns its error. Other errors are the
// store's, and wrap ErrUnavailable. Scan may be called from several
// goroutines at once.
type Scanner interface {
	Scan(ctx context.Context, f Filter, fn func(e *Event) error) error
}

// Scan calls fn with every event that q finds for f, in f's ordering,
// as Scanner describes: through q's own Scan when q is a Scanner, else
// by paging through Query, MaxPageSize events at a time.
func Scan(ctx context.Context, q Querier, f Filter, fn func(e *Event) error) error {
	if s, ok := q.(Scanner); ok {
		return s.Scan(ctx, f, fn)
	}
	f.Cursor, f.Page, f.PageSize = "", 0, MaxPageSize
	f, err := f.Normalize(time.Now())
	if err != nil {
		return err
	}
	for {
		page, err := q.Query(ctx, f)
		if err != nil {
			return fmt.Errorf("scan events: %w", err)
		}
		for i := range page.Events {
			if err := fn(&page.Events[i]); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		f.Cursor = page.Next
	}
}
