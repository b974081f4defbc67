package storetest

import (
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// purger adapts a case of a Purger to Run's list. The case is skipped
// for a store that does not implement activitylog.Purger; a store that
// must implement it asserts so at compile time.
func purger(test func(t *testing.T, s activitylog.Store, p activitylog.Purger)) func(t *testing.T, s activitylog.Store) {
	return func(t *testing.T, s activitylog.Store) {
		p, ok := s.(activitylog.Purger)
		if !ok {
			t.Skipf("%T does not implement activitylog.Purger", s)
		}
		test(t, s, p)
	}
}

// purgeTrail is the purge cases' events: NewEvent's fields (every kind,
// four tenants, one of them none) at times spread over the last four
// months, a system event every tenth, and the records of purges
// (system events of category retention) among them, in every month but
// the first (which a store may then drop whole). cut lies inside
// the month before the present one, not at a month's start, so that a
// store that drops whole months (partitions) also deletes rows from the
// month of the cut; one event lies exactly at the cut.
func purgeTrail() (es []activitylog.Event, cut time.Time) {
	now := time.Now().UTC()
	first := time.Date(now.Year(), now.Month()-4, 1, 0, 0, 0, 0, time.UTC)
	cut = time.Date(now.Year(), now.Month()-1, 11, 3, 0, 0, 123456789, time.UTC)
	at := func(t time.Time, i int) activitylog.Event {
		e := NewEvent(i)
		e.Time, e.ID = t, activitylog.NewID(t)
		switch {
		case i%25 == 7 && t.Month() != first.Month():
			e.Kind, e.Action, e.Category = activitylog.KindSystem, "security", activitylog.CategoryRetention
			e.Message = fmt.Sprintf("retention policy %d: purge started", i)
		case i%10 == 3:
			e.Kind, e.Action, e.Category = activitylog.KindSystem, "error", "disk"
		}
		return e
	}
	i := 0
	for t := first.Add(97 * time.Minute); t.Before(now.Add(-time.Hour)); t = t.Add(6*time.Hour + 7*time.Minute + 11*time.Second) {
		es = append(es, at(t, i))
		i++
	}
	es = append(es, at(cut, i))
	return es, cut
}

// isRetentionRecord reports whether e is the record of a purge, which
// no purge deletes.
func isRetentionRecord(e *activitylog.Event) bool {
	return e.Kind == activitylog.KindSystem && e.Category == activitylog.CategoryRetention
}

// selects reports whether r selects e: what a store must delete.
func selects(r activitylog.PurgeRequest, e *activitylog.Event) bool {
	if !e.Time.Before(r.Before) || isRetentionRecord(e) {
		return false
	}
	if !r.AllTenants && e.Tenant != r.Tenant {
		return false
	}
	if len(r.Kinds) == 0 {
		return true
	}
	for _, k := range r.Kinds {
		if k == e.Kind {
			return true
		}
	}
	return false
}

// testPurge runs purges of narrowing and widening scope over one trail
// and checks, after each, the result's counts and which events are
// left: exactly those no purge so far selected.
func testPurge(t *testing.T, s activitylog.Store, p activitylog.Purger) {
	es, cut := purgeTrail()
	write(t, s, es)
	left := map[activitylog.ID]*activitylog.Event{}
	for i := range es {
		left[es[i].ID] = &es[i]
	}
	crud, system := []activitylog.Kind{activitylog.KindCRUD}, []activitylog.Kind{activitylog.KindSystem}
	// A resolved event that the purges delete, and one they keep: the
	// first's resolution must go with it (Resolution then answers
	// ErrNotFound, as for any unknown event), the second's stay.
	res, _ := s.(activitylog.Resolver)
	var gone, kept *activitylog.Event
	for i := range es {
		e := &es[i]
		switch {
		case gone == nil && selects(activitylog.PurgeRequest{Before: cut, Kinds: crud, Tenant: "acme"}, e):
			gone = e
		case kept == nil && isRetentionRecord(e): // no purge deletes it
			kept = e
		}
	}
	if res != nil {
		for _, e := range []*activitylog.Event{gone, kept} {
			if err := res.Resolve(ctx, activitylog.Resolution{EventID: e.ID, ResolvedBy: "auditor", ResolvedAt: time.Now(), Note: "seen"}); err != nil {
				t.Fatalf("Resolve(%s): %v", e.ID, err)
			}
		}
	}
	for _, r := range []activitylog.PurgeRequest{
		{Before: cut.AddDate(-10, 0, 0), AllTenants: true}, // before every event: nothing
		{Before: cut, Kinds: crud, Tenant: "acme"},
		{Before: cut, Kinds: crud, Tenant: "acme"}, // again: nothing left to delete
		{Before: cut}, // the events of no tenant
		{Before: cut, Kinds: system, AllTenants: true},
		{Before: cut, AllTenants: true},
		{Before: cut.Add(time.Nanosecond), AllTenants: true},                    // the event at the cut
		{Before: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), AllTenants: true}, // before what int64 nanoseconds hold: nothing
		{Before: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), AllTenants: true}, // after it: everything but the records
	} {
		want := map[activitylog.Kind]int64{}
		for id, e := range left {
			if selects(r, e) {
				want[e.Kind]++
				delete(left, id)
			}
		}
		what := fmt.Sprintf("Purge(before %s, kinds %v, tenant %q, all tenants %v)", r.Before.Format(time.RFC3339Nano), r.Kinds, r.Tenant, r.AllTenants)
		res, err := p.Purge(ctx, r)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := maps.Clone(res.ByKind)
		maps.DeleteFunc(got, func(_ activitylog.Kind, n int64) bool { return n == 0 })
		var n int64
		for _, c := range want {
			n += c
		}
		if res.Deleted != n || !maps.Equal(got, want) {
			t.Errorf("%s = deleted %d by kind %v, want %d: %v", what, res.Deleted, got, n, want)
		}
		if res.KeptSealed != 0 || res.Pruned != 0 {
			t.Errorf("%s counted sealed or pruned events of an unsealed trail: %+v", what, res)
		}
		checkLeft(t, s, what, es, left)
	}
	if res != nil {
		if r, err := res.Resolution(ctx, gone.ID); !errors.Is(err, activitylog.ErrNotFound) || errors.Is(err, activitylog.ErrNotResolved) {
			t.Errorf("Resolution of a purged event = %+v, %v; want ErrNotFound (the resolution goes with the event)", r, err)
		}
		if r, err := res.Resolution(ctx, kept.ID); err != nil || r.ResolvedBy != "auditor" {
			t.Errorf("Resolution of a kept event = %+v, %v; want its resolution", r, err)
		}
	}
	retained := 0
	for _, e := range left {
		if isRetentionRecord(e) && e.Time.Before(cut) {
			retained++
		}
	}
	if retained < 3 {
		t.Fatalf("the trail kept %d records of purges before the cut; the case needs some", retained)
	}
}

// checkLeft checks that the store holds exactly the events of left, of
// all the events es it was given: Count, and the ids that paging
// through every event finds (one query a page, not a Get an event, which
// took 20 s on FerretDB).
func checkLeft(t *testing.T, s activitylog.Store, what string, es []activitylog.Event, left map[activitylog.ID]*activitylog.Event) {
	t.Helper()
	n, err := s.Count(ctx, activitylog.Filter{})
	if err != nil {
		t.Fatalf("after %s: Count: %v", what, err)
	}
	if n != int64(len(left)) {
		t.Errorf("after %s: Count = %d, want %d", what, n, len(left))
	}
	stored := map[activitylog.ID]bool{}
	f := activitylog.Filter{PageSize: activitylog.MaxPageSize}
	for {
		p, err := s.Query(ctx, f)
		if err != nil {
			t.Fatalf("after %s: Query: %v", what, err)
		}
		for _, e := range p.Events {
			stored[e.ID] = true
		}
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	wrong := 0
	for i := range es {
		e := &es[i]
		_, kept := left[e.ID]
		switch {
		case kept && !stored[e.ID]:
			t.Errorf("after %s: %s (%s %s of tenant %q at %s) is gone, want it kept",
				what, e.ID, e.Kind, e.Category, e.Tenant, e.Time.Format(time.RFC3339Nano))
			wrong++
		case !kept && stored[e.ID]:
			t.Errorf("after %s: %s (%s of tenant %q at %s) is stored, want it deleted",
				what, e.ID, e.Kind, e.Tenant, e.Time.Format(time.RFC3339Nano))
			wrong++
		}
		if wrong >= 10 {
			t.Fatalf("after %s: more events wrong, not listed", what)
		}
	}
	// One Get of a deleted event and one of a kept one: Get agrees with
	// Query.
	for i := range es {
		if _, kept := left[es[i].ID]; !kept {
			if _, err := s.Get(ctx, es[i].ID); !errors.Is(err, activitylog.ErrNotFound) {
				t.Errorf("after %s: Get(%s) of a deleted event = %v, want ErrNotFound", what, es[i].ID, err)
			}
			break
		}
	}
	for id := range left {
		if _, err := s.Get(ctx, id); err != nil {
			t.Errorf("after %s: Get(%s) of a kept event: %v", what, id, err)
		}
		break
	}
}

// testPurgeRefusesBadRequests: a request a store cannot act on is an
// *activitylog.FieldError naming the field, and deletes nothing.
func testPurgeRefusesBadRequests(t *testing.T, s activitylog.Store, p activitylog.Purger) {
	es := Fixture(12)
	write(t, s, es)
	for _, tc := range []struct {
		r     activitylog.PurgeRequest
		field string
	}{
		{activitylog.PurgeRequest{AllTenants: true}, "before"},
		{activitylog.PurgeRequest{Before: time.Now(), AllTenants: true, Kinds: []activitylog.Kind{activitylog.KindCRUD, "weather"}}, "kinds"},
	} {
		_, err := p.Purge(ctx, tc.r)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("Purge(%+v) = %v, want a FieldError naming %q", tc.r, err, tc.field)
		}
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != int64(len(es)) {
		t.Errorf("after refused purges: Count = %d, %v, want %d", n, err, len(es))
	}
}
