// Package storetest is the conformance suite that every activitylog
// store passes unchanged. A backend's test calls Run with a function
// that opens a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) activitylog.Store {
//			s, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), nil)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// # What it checks
//
// Write: every field of an event round-trips through Write and Get,
// times in UTC to the nanosecond; writes are idempotent by id, all or
// nothing (a cancelled context stores nothing), safe from several
// goroutines at once, and do not keep the caller's events.
//
// Query and Count: every field of activitylog.Filter, alone and
// combined, against a reference implementation of its meaning; every
// ordering in activitylog.Orderings in both directions, ties broken by
// id in the same direction and never by insertion order; keyset paging
// forwards through Page.Next and back through Page.Prev, and offset
// paging; Count ignoring paging; and every filter that
// Filter.Normalize refuses, refused with the same *activitylog.FieldError.
//
// Purge, for a store that is an activitylog.Purger: requests of every
// scope (one kind of one tenant, the events of no tenant, one kind of
// every tenant, everything) over four months of events, each followed
// by a check that exactly the events no purge selected are left and
// that the result counts, kind by kind, what went; the records of
// purges are never deleted; a bad request is a FieldError and deletes
// nothing.
//
// # Test data
//
// NewEvent and Fixture make the suite's events, small and varied so
// that every filter selects some and not others. TrailEvent and
// WriteTrail make a large, realistic trail (a million events, say) for
// measurements, such as the SQLite store's and the API's paging
// targets.
//
// # What it assumes
//
// Text orderings compare bytes (a "C" collation). Search folds ASCII
// letters only. A store may return a nil map where an empty one was
// written. Numbers in any-typed fields come back as float64, as
// encoding/json decodes them.
package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// Run runs the whole suite. open must return a fresh, empty store each
// time it is called, and arrange with t.Cleanup to close it.
func Run(t *testing.T, open func(t *testing.T) activitylog.Store) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s activitylog.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"GetUnknownID", testGetUnknown},
		{"WriteDoesNotRetainEvents", testNoRetain},
		{"EmptyBatch", testEmptyBatch},
		{"Idempotent", testIdempotent},
		{"CancelledWriteStoresNothing", testCancelled},
		{"ConcurrentWrites", testConcurrent},
		{"LargeBatch", testLargeBatch},
		{"Filters", testFilters},
		{"Search", testSearch},
		{"Orderings", testOrderings},
		{"KeysetPaging", testKeyset},
		{"KeysetPagingWithFilter", testKeysetFiltered},
		{"KeysetPagingIgnoresNewEvents", testKeysetStable},
		{"OffsetPaging", testOffset},
		{"CountIgnoresPaging", testCountPaging},
		{"BadFilters", testBadFilters},
		{"Resolve", resolver(testResolve)},
		{"ResolveFillsTime", resolver(testResolveFillsTime)},
		{"ResolveUnknownEvent", resolver(testResolveUnknown)},
		{"NotResolved", resolver(testNotResolved)},
		{"ResolveRefusesBadInput", resolver(testResolveInvalid)},
		{"ResolveLeavesEventUnchanged", resolver(testResolveLeavesEvent)},
		{"ResolveAgainLatestWins", resolver(testResolveAgain)},
		{"ConcurrentResolves", resolver(testResolveConcurrent)},
		{"Purge", purger(testPurge)},
		{"PurgeRefusesBadRequests", purger(testPurgeRefusesBadRequests)},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open(t)) })
	}
}

var ctx = context.Background()

func write(t *testing.T, s activitylog.Store, es []activitylog.Event) {
	t.Helper()
	if err := s.Write(ctx, es); err != nil {
		t.Fatalf("Write(%d events): %v", len(es), err)
	}
}

func count(t *testing.T, s activitylog.Store, f activitylog.Filter) int64 {
	t.Helper()
	n, err := s.Count(ctx, f)
	if err != nil {
		t.Fatalf("Count(%+v): %v", f, err)
	}
	return n
}

func query(t *testing.T, s activitylog.Store, f activitylog.Filter) activitylog.Page {
	t.Helper()
	p, err := s.Query(ctx, f)
	if err != nil {
		t.Fatalf("Query(%+v): %v", f, err)
	}
	return p
}

// walk follows Page.Next from the first page of f and returns every
// page's events.
func walk(t *testing.T, s activitylog.Store, f activitylog.Filter) (pages [][]activitylog.Event, last activitylog.Page) {
	t.Helper()
	for {
		p := query(t, s, f)
		if len(pages) == 0 && p.Prev != "" {
			t.Errorf("%+v: the first page has a Prev cursor", f)
		}
		if p.Next != "" && len(p.Events) != f.PageSize {
			t.Errorf("%+v: page %d has %d events and a Next cursor, want %d", f, len(pages)+1, len(p.Events), f.PageSize)
		}
		pages = append(pages, p.Events)
		if p.Next == "" {
			return pages, p
		}
		if len(pages) > 10_000 {
			t.Fatalf("%+v: Next never ends", f)
		}
		f.Cursor = p.Next
	}
}

// all returns every event that matches f, walking its pages 4 at a time.
func all(t *testing.T, s activitylog.Store, f activitylog.Filter) []activitylog.Event {
	t.Helper()
	f.PageSize = 4
	pages, _ := walk(t, s, f)
	return slices.Concat(pages...)
}

// ids returns the ids of es, for comparisons and readable failures.
func ids(es []activitylog.Event) []string {
	out := make([]string, len(es))
	for i := range es {
		out[i] = es[i].ID.String()
	}
	return out
}

// sortEvents sorts es as a store must for the normalized ordering:
// by the field's value, then by id, both in the ordering's direction.
func sortEvents(es []activitylog.Event, ordering string) {
	desc := strings.HasPrefix(ordering, "-")
	field := strings.TrimPrefix(ordering, "-")
	slices.SortStableFunc(es, func(a, b activitylog.Event) int {
		ai, as := activitylog.OrderingValue(&a, field)
		bi, bs := activitylog.OrderingValue(&b, field)
		c := 0
		switch {
		case ai < bi:
			c = -1
		case ai > bi:
			c = 1
		default:
			c = strings.Compare(as, bs)
		}
		if c == 0 {
			c = slices.Compare(a.ID[:], b.ID[:])
		}
		if desc {
			c = -c
		}
		return c
	})
}

// Matches is the meaning of a normalized Filter, f.Match: whether e is
// one of the events it selects. The suite holds every store to it.
func Matches(f activitylog.Filter, e *activitylog.Event) bool { return f.Match(e) }

// want returns the events of es that f selects, in f's ordering.
func want(t *testing.T, es []activitylog.Event, f activitylog.Filter) []activitylog.Event {
	t.Helper()
	nf, err := f.Normalize(time.Now())
	if err != nil {
		t.Fatalf("the suite's filter %+v is bad: %v", f, err)
	}
	var out []activitylog.Event
	for i := range es {
		if Matches(nf, &es[i]) {
			out = append(out, es[i])
		}
	}
	sortEvents(out, nf.Ordering)
	return out
}

func equalEvent(got, want activitylog.Event) bool {
	if got.Time.Location() != time.UTC || !got.Time.Equal(want.Time) {
		return false
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(got, want)
}

func dump(e activitylog.Event) string {
	b, _ := json.Marshal(e)
	return string(b)
}

// check compares Query (walked page by page) and Count for f with the
// reference, and returns how many events f selects.
func check(t *testing.T, s activitylog.Store, es []activitylog.Event, f activitylog.Filter) int {
	t.Helper()
	w := want(t, es, f)
	if got := all(t, s, f); !slices.Equal(ids(got), ids(w)) {
		t.Errorf("Query(%+v):\n got %d events %v\nwant %d events %v", f, len(got), ids(got), len(w), ids(w))
	}
	if n := count(t, s, f); n != int64(len(w)) {
		t.Errorf("Count(%+v) = %d, want %d", f, n, len(w))
	}
	return len(w)
}

// timeOf returns the time of NewEvent(i).
func timeOf(i int) time.Time { return NewEvent(i).Time }
