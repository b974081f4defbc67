package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// resolver adapts a case of a Resolver to Run's list. The case is
// skipped for a store that does not implement activitylog.Resolver;
// a store that must implement it asserts so at compile time.
func resolver(test func(t *testing.T, s activitylog.Store, r activitylog.Resolver)) func(t *testing.T, s activitylog.Store) {
	return func(t *testing.T, s activitylog.Store) {
		r, ok := s.(activitylog.Resolver)
		if !ok {
			t.Skipf("%T does not implement activitylog.Resolver", s)
		}
		test(t, s, r)
	}
}

// systemEvent returns a valid system error event, distinct for each i.
func systemEvent(i int) activitylog.Event {
	t := Base.Add(time.Duration(i)*time.Minute + 17)
	return activitylog.Event{
		ID: activitylog.NewID(t), Time: t, Kind: activitylog.KindSystem, Action: "error",
		Severity: activitylog.SeverityError, Message: fmt.Sprintf("disk %d full", i), Service: "shop",
		Extra: map[string]any{"disk": float64(i), "mounts": []any{"/", "/var"}},
	}
}

func resolve(t *testing.T, r activitylog.Resolver, res activitylog.Resolution) {
	t.Helper()
	if err := r.Resolve(ctx, res); err != nil {
		t.Fatalf("Resolve(%+v): %v", res, err)
	}
}

func resolution(t *testing.T, r activitylog.Resolver, id activitylog.ID) activitylog.Resolution {
	t.Helper()
	got, err := r.Resolution(ctx, id)
	if err != nil {
		t.Fatalf("Resolution(%s): %v", id, err)
	}
	return got
}

func equalResolution(got, want activitylog.Resolution) bool {
	return got.ResolvedAt.Location() == time.UTC && got.ResolvedAt.Equal(want.ResolvedAt) &&
		got.EventID == want.EventID && got.ResolvedBy == want.ResolvedBy && got.Note == want.Note
}

// testResolve resolves events, with and without a note and in another
// time zone, and reads each resolution back.
func testResolve(t *testing.T, s activitylog.Store, r activitylog.Resolver) {
	es := []activitylog.Event{systemEvent(0), systemEvent(1), NewEvent(2)}
	write(t, s, es)
	at := time.Date(2031, 2, 3, 4, 5, 6, 7, time.FixedZone("", 5*3600+30*60))
	for i, want := range []activitylog.Resolution{
		{EventID: es[0].ID, ResolvedBy: "ops@example.test", ResolvedAt: at, Note: "freed 20 GiB\nünïcödé <&> \"q\" \\ \t\x01"},
		{EventID: es[1].ID, ResolvedBy: "ann", ResolvedAt: Base.Add(time.Hour)},
		// Any kind may be resolved, not only system events.
		{EventID: es[2].ID, ResolvedBy: "bob", ResolvedAt: Base.Add(2 * time.Hour), Note: "ok"},
	} {
		resolve(t, r, want)
		if got := resolution(t, r, want.EventID); !equalResolution(got, want) {
			t.Errorf("resolution %d read back as %+v, want %+v (in UTC)", i, got, want)
		}
	}
}

// testResolveFillsTime resolves with a zero ResolvedAt, which becomes
// the time of the call.
func testResolveFillsTime(t *testing.T, s activitylog.Store, r activitylog.Resolver) {
	e := systemEvent(0)
	write(t, s, []activitylog.Event{e})
	before := time.Now()
	resolve(t, r, activitylog.Resolution{EventID: e.ID, ResolvedBy: "ann"})
	after := time.Now()
	got := resolution(t, r, e.ID)
	if got.ResolvedAt.Before(before.Truncate(time.Microsecond)) || got.ResolvedAt.After(after) || got.ResolvedAt.Location() != time.UTC {
		t.Errorf("ResolvedAt = %v, want the time of Resolve in UTC, between %v and %v", got.ResolvedAt, before, after)
	}
}

// testResolveUnknown resolves, and reads the resolution of, an id that
// no event has.
func testResolveUnknown(t *testing.T, s activitylog.Store, r activitylog.Resolver) {
	write(t, s, []activitylog.Event{systemEvent(0)})
	id := activitylog.NewID(time.Now())
	err := r.Resolve(ctx, activitylog.Resolution{EventID: id, ResolvedBy: "ann"})
	if !errors.Is(err, activitylog.ErrNotFound) {
		t.Errorf("Resolve of an unknown event: %v, want an error wrapping ErrNotFound", err)
	}
	_, err = r.Resolution(ctx, id)
	if !errors.Is(err, activitylog.ErrNotFound) || errors.Is(err, activitylog.ErrNotResolved) {
		t.Errorf("Resolution of an unknown event: %v, want ErrNotFound and not ErrNotResolved", err)
	}
}

// testNotResolved reads the resolution of a stored, unresolved event.
func testNotResolved(t *testing.T, s activitylog.Store, r activitylog.Resolver) {
	es := []activitylog.Event{systemEvent(0), systemEvent(1)}
	write(t, s, es)
	resolve(t, r, activitylog.Resolution{EventID: es[1].ID, ResolvedBy: "ann"}) // another event's
	_, err := r.Resolution(ctx, es[0].ID)
	if !errors.Is(err, activitylog.ErrNotResolved) || !errors.Is(err, activitylog.ErrNotFound) {
		t.Errorf("Resolution of an unresolved event: %v, want an error wrapping ErrNotResolved and ErrNotFound", err)
	}
}

// testResolveInvalid checks that every refused field is named, with its
// value, and that nothing is stored.
func testResolveInvalid(t *testing.T, s activitylog.Store, r activitylog.Resolver) {
	e := systemEvent(0)
	write(t, s, []activitylog.Event{e})
	long := strings.Repeat("x", activitylog.MaxShortField+1)
	for _, tc := range []struct {
		name         string
		res          activitylog.Resolution
		field, value string
	}{
		{"no event id", activitylog.Resolution{ResolvedBy: "ann"}, "event_id", ""},
		{"no resolved_by", activitylog.Resolution{EventID: e.ID}, "resolved_by", ""},
		{"blank resolved_by", activitylog.Resolution{EventID: e.ID, ResolvedBy: " \t"}, "resolved_by", " \t"},
		{"long resolved_by", activitylog.Resolution{EventID: e.ID, ResolvedBy: long}, "resolved_by", long[:32] + "…"},
		{"long note", activitylog.Resolution{EventID: e.ID, ResolvedBy: "ann", Note: strings.Repeat("n", activitylog.MaxTextField+1)},
			"note", strings.Repeat("n", 32) + "…"},
		{"resolved_at too early", activitylog.Resolution{EventID: e.ID, ResolvedBy: "ann", ResolvedAt: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
			"resolved_at", "1969-12-31T00:00:00Z"},
		{"resolved_at too late", activitylog.Resolution{EventID: e.ID, ResolvedBy: "ann", ResolvedAt: activitylog.MaxTime},
			"resolved_at", "2200-01-01T00:00:00Z"},
	} {
		err := r.Resolve(ctx, tc.res)
		fe, ok := errors.AsType[*activitylog.FieldError](err)
		if !ok || !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("%s: Resolve: %v, want a *FieldError wrapping ErrInvalid", tc.name, err)
			continue
		}
		if fe.Field != tc.field || fe.Value != tc.value {
			t.Errorf("%s: refused field %q value %q, want %q %q", tc.name, fe.Field, fe.Value, tc.field, tc.value)
		}
	}
	if _, err := r.Resolution(ctx, e.ID); !errors.Is(err, activitylog.ErrNotResolved) {
		t.Errorf("after refused resolutions: Resolution: %v, want ErrNotResolved", err)
	}
	// The longest accepted values are accepted.
	want := activitylog.Resolution{EventID: e.ID, ResolvedBy: long[1:], ResolvedAt: Base,
		Note: strings.Repeat("n", activitylog.MaxTextField)}
	resolve(t, r, want)
	if got := resolution(t, r, e.ID); !equalResolution(got, want) {
		t.Errorf("the longest values did not round-trip")
	}
}

// testResolveLeavesEvent checks that resolving changes nothing of the
// event: Get returns the same event, encoding to the same bytes, and
// Query and Count see what they saw before.
func testResolveLeavesEvent(t *testing.T, s activitylog.Store, r activitylog.Resolver) {
	es := append(Fixture(6), systemEvent(0))
	write(t, s, es)
	target := es[len(es)-1]
	before, err := s.Get(ctx, target.ID)
	if err != nil {
		t.Fatal(err)
	}
	beforeJSON, _ := json.Marshal(before)
	beforeAll := all(t, s, activitylog.Filter{})
	n := count(t, s, activitylog.Filter{})

	resolve(t, r, activitylog.Resolution{EventID: target.ID, ResolvedBy: "ann", ResolvedAt: Base, Note: "done"})
	resolve(t, r, activitylog.Resolution{EventID: target.ID, ResolvedBy: "bob", ResolvedAt: Base})

	after, err := s.Get(ctx, target.ID)
	if err != nil {
		t.Fatal(err)
	}
	if afterJSON, _ := json.Marshal(after); !reflect.DeepEqual(after, before) || string(afterJSON) != string(beforeJSON) {
		t.Errorf("resolving changed the event\nbefore %s\n after %s", beforeJSON, afterJSON)
	}
	if !equalEvent(after, target) {
		t.Errorf("the resolved event differs from what was written\n got %s\nwant %s", dump(after), dump(target))
	}
	if got := all(t, s, activitylog.Filter{}); !reflect.DeepEqual(got, beforeAll) {
		t.Errorf("resolving changed what Query returns")
	}
	if got := count(t, s, activitylog.Filter{}); got != n {
		t.Errorf("resolving changed Count: %d, want %d", got, n)
	}
}

// testResolveAgain resolves one event several times: the last
// resolution stored wins, even when its ResolvedAt is the earliest.
func testResolveAgain(t *testing.T, s activitylog.Store, r activitylog.Resolver) {
	es := []activitylog.Event{systemEvent(0), systemEvent(1)}
	write(t, s, es)
	other := activitylog.Resolution{EventID: es[1].ID, ResolvedBy: "carol", ResolvedAt: Base.Add(time.Hour)}
	resolve(t, r, other)
	for i, res := range []activitylog.Resolution{
		{EventID: es[0].ID, ResolvedBy: "ann", ResolvedAt: Base.Add(2 * time.Hour), Note: "first"},
		{EventID: es[0].ID, ResolvedBy: "bob", ResolvedAt: Base.Add(3 * time.Hour)},
		{EventID: es[0].ID, ResolvedBy: "ann", ResolvedAt: Base.Add(time.Hour), Note: "back-dated, stored last"},
	} {
		resolve(t, r, res)
		if got := resolution(t, r, es[0].ID); !equalResolution(got, res) {
			t.Errorf("after resolution %d: got %+v, want %+v", i, got, res)
		}
	}
	if got := resolution(t, r, es[1].ID); !equalResolution(got, other) {
		t.Errorf("another event's resolution changed: got %+v, want %+v", got, other)
	}
}

// testResolveConcurrent resolves a few events from several goroutines at
// once, with readers beside them: every call succeeds, and each event
// ends with one of its resolutions whole, never a mix of two.
func testResolveConcurrent(t *testing.T, s activitylog.Store, r activitylog.Resolver) {
	const events, workers, rounds = 3, 6, 10
	es := make([]activitylog.Event, events)
	for i := range es {
		es[i] = systemEvent(i)
	}
	write(t, s, es)
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*events*2)
	for w := range workers {
		wg.Go(func() {
			for k := range rounds {
				for i := range es {
					by := fmt.Sprintf("w%d-r%d", w, k)
					err := r.Resolve(ctx, activitylog.Resolution{EventID: es[i].ID, ResolvedBy: by,
						ResolvedAt: Base.Add(time.Duration(w*rounds+k) * time.Second), Note: "note of " + by})
					if err != nil {
						errs <- err
					}
					if _, err := r.Resolution(ctx, es[i].ID); err != nil {
						errs <- fmt.Errorf("read while resolving: %w", err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range es {
		got := resolution(t, r, es[i].ID)
		var w, k int
		if _, err := fmt.Sscanf(got.ResolvedBy, "w%d-r%d", &w, &k); err != nil || got.Note != "note of "+got.ResolvedBy ||
			!got.ResolvedAt.Equal(Base.Add(time.Duration(w*rounds+k)*time.Second)) {
			t.Errorf("event %d ended with %+v, which no one resolved it with", i, got)
		}
		if got, err := s.Get(ctx, es[i].ID); err != nil || !equalEvent(got, es[i]) {
			t.Errorf("event %d changed under concurrent resolves: %v", i, err)
		}
	}
}
