package activitylog_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// pager is a Querier of n events, paged with cursors that are the index
// of the next event. It notes the filters it is given.
type pager struct {
	n       int
	failAt  int // the call of Query that fails; 0: none
	filters []activitylog.Filter
}

func (p *pager) Query(ctx context.Context, f activitylog.Filter) (activitylog.Page, error) {
	p.filters = append(p.filters, f)
	if len(p.filters) == p.failAt {
		return activitylog.Page{}, fmt.Errorf("query events: %w", activitylog.ErrUnavailable)
	}
	start := 0
	if f.Cursor != "" {
		start, _ = strconv.Atoi(f.Cursor)
	}
	var page activitylog.Page
	for i := start; i < min(start+f.PageSize, p.n); i++ {
		page.Events = append(page.Events, activitylog.Event{Action: strconv.Itoa(i)})
	}
	if start+f.PageSize < p.n {
		page.Next = strconv.Itoa(start + f.PageSize)
	}
	return page, nil
}

func (p *pager) Get(context.Context, activitylog.ID) (activitylog.Event, error) {
	return activitylog.Event{}, activitylog.ErrNotFound
}

func (p *pager) Count(context.Context, activitylog.Filter) (int64, error) { return int64(p.n), nil }

// scanner is a pager that is also a Scanner.
type scanner struct {
	pager
	scanned bool
}

func (s *scanner) Scan(ctx context.Context, f activitylog.Filter, fn func(*activitylog.Event) error) error {
	s.scanned = true
	return fn(&activitylog.Event{Action: "scanned"})
}

func TestScanPages(t *testing.T) {
	t.Parallel()
	p := &pager{n: 2500}
	var got []string
	f := activitylog.Filter{LastHours: 3, Cursor: "7", PageSize: 5}
	err := activitylog.Scan(context.Background(), p, f, func(e *activitylog.Event) error {
		got = append(got, e.Action)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if len(got) != 2500 || got[0] != "0" || got[2499] != "2499" {
		t.Errorf("Scan gave %d events, %v … , want 0 to 2499", len(got), got[:min(3, len(got))])
	}
	if len(p.filters) != 3 {
		t.Fatalf("Scan made %d queries, want 3 pages of %d", len(p.filters), activitylog.MaxPageSize)
	}
	for _, f := range p.filters {
		if f.PageSize != activitylog.MaxPageSize || f.LastHours != 0 || !f.From.Equal(p.filters[0].From) ||
			time.Since(f.From) < 3*time.Hour-time.Minute {
			t.Errorf("query %+v: want pages of %d, and From fixed once from last_hours", f, activitylog.MaxPageSize)
		}
	}
}

func TestScanUsesScanner(t *testing.T) {
	t.Parallel()
	s := &scanner{pager: pager{n: 10}}
	var got []string
	err := activitylog.Scan(context.Background(), s, activitylog.Filter{}, func(e *activitylog.Event) error {
		got = append(got, e.Action)
		return nil
	})
	if err != nil || !s.scanned || len(s.filters) != 0 || len(got) != 1 {
		t.Errorf("Scan of a Scanner: err %v, scanned %v, %d queries, events %v; want its Scan alone", err, s.scanned, len(s.filters), got)
	}
}

func TestScanErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	stop := errors.New("stop")
	n := 0
	err := activitylog.Scan(ctx, &pager{n: 2500}, activitylog.Filter{}, func(*activitylog.Event) error {
		if n++; n == 1500 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Errorf("fn failed: Scan returned %v, want fn's error as it is", err)
	}

	n = 0
	err = activitylog.Scan(ctx, &pager{n: 2500, failAt: 2}, activitylog.Filter{}, func(*activitylog.Event) error {
		n++
		return nil
	})
	if !errors.Is(err, activitylog.ErrUnavailable) || n != activitylog.MaxPageSize {
		t.Errorf("second page failed: Scan returned %v after %d events, want ErrUnavailable after %d", err, n, activitylog.MaxPageSize)
	}

	cctx, cancel := context.WithCancel(ctx)
	err = activitylog.Scan(cctx, &pager{n: 2500}, activitylog.Filter{}, func(*activitylog.Event) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: Scan returned %v, want context.Canceled", err)
	}

	p := &pager{n: 5}
	var fe *activitylog.FieldError
	err = activitylog.Scan(ctx, p, activitylog.Filter{StatusMin: 42}, nil)
	if !errors.As(err, &fe) || fe.Field != "status_gte" || len(p.filters) != 0 {
		t.Errorf("bad filter: Scan returned %v after %d queries, want a FieldError for status_gte and no query", err, len(p.filters))
	}
}
