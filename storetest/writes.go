package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// testRoundTrip writes fully populated events, a minimal one and one in
// another time zone, and reads each back through Get and Query.
func testRoundTrip(t *testing.T, s activitylog.Store) {
	es := Fixture(6)
	now := time.Now()
	es = append(es,
		// Only the required fields: every other one zero, maps nil.
		activitylog.Event{ID: activitylog.NewID(now), Time: now.UTC(), Kind: activitylog.KindCustom, Action: "x", Severity: activitylog.SeverityDebug},
		// A time in another zone comes back in UTC, the same instant.
		activitylog.Event{ID: activitylog.NewID(now), Time: time.Date(2031, 2, 3, 4, 5, 6, 7, time.FixedZone("", -(9*3600+30*60))),
			Kind: activitylog.KindSystem, Action: "warning", Severity: activitylog.SeverityCritical,
			Message: "ünïcödé <&> \"quotes\" \\ \n\t\x01", Changes: map[string]activitylog.Change{"x": {}}},
	)
	write(t, s, es)
	for _, w := range es {
		got, err := s.Get(ctx, w.ID)
		if err != nil {
			t.Fatalf("Get(%s): %v", w.ID, err)
		}
		if got.Time.Location() != time.UTC {
			t.Errorf("Get(%s).Time is in %v, want UTC", w.ID, got.Time.Location())
		}
		if !equalEvent(got, w) {
			t.Errorf("Get(%s) differs from what was written\n got %s\nwant %s", w.ID, dump(got), dump(w))
		}
	}
	// Query returns the same events as Get.
	for _, got := range all(t, s, activitylog.Filter{}) {
		i := slices.IndexFunc(es, func(e activitylog.Event) bool { return e.ID == got.ID })
		if i < 0 || !equalEvent(got, es[i]) {
			t.Errorf("Query returned %s, which differs from what was written", dump(got))
		}
	}
}

// testGetUnknown asks for an id that was never written.
func testGetUnknown(t *testing.T, s activitylog.Store) {
	write(t, s, Fixture(2))
	_, err := s.Get(ctx, activitylog.NewID(time.Now()))
	if !errors.Is(err, activitylog.ErrNotFound) {
		t.Fatalf("Get of an unknown id: %v, want an error wrapping ErrNotFound", err)
	}
}

// testNoRetain changes the caller's events and their maps after Write
// returned: the stored event must not change with them.
func testNoRetain(t *testing.T, s activitylog.Store) {
	es := Fixture(3)
	i := slices.IndexFunc(es, func(e activitylog.Event) bool { return e.Extra["i"] == 0.0 })
	orig := NewEvent(0) // event 0 again, with maps of its own; only the id differs
	orig.ID = es[i].ID
	write(t, s, es)
	// Change what the caller owns after Write returned.
	es[i].Message = "changed"
	es[i].Extra["i"] = "changed"
	es[i].Actor.Extra["level"] = "changed"
	es[i].Request.Headers["Accept"] = "changed"
	es[i] = activitylog.Event{}
	got, err := s.Get(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !equalEvent(got, orig) {
		t.Errorf("the stored event changed with the caller's\n got %s\nwant %s", dump(got), dump(orig))
	}
}

// testEmptyBatch writes nil and an empty slice.
func testEmptyBatch(t *testing.T, s activitylog.Store) {
	write(t, s, nil)
	write(t, s, []activitylog.Event{})
	if n := count(t, s, activitylog.Filter{}); n != 0 {
		t.Errorf("an empty store counts %d events", n)
	}
}

// testIdempotent writes a batch twice, then one that overlaps it and
// holds one id twice.
func testIdempotent(t *testing.T, s activitylog.Store) {
	es := Fixture(6)
	write(t, s, es)
	write(t, s, es) // the same batch again: a retry
	if n := count(t, s, activitylog.Filter{}); n != 6 {
		t.Fatalf("after writing the same batch twice: %d events, want 6", n)
	}
	// A batch that overlaps: the known ids are skipped, left as they
	// were, and the new ones stored; an id twice in one batch is stored once.
	again := slices.Clone(es[:3])
	again[0].Message = "overwritten?"
	n6 := NewEvent(6)
	again = append(again, n6, n6)
	write(t, s, again)
	if n := count(t, s, activitylog.Filter{}); n != 7 {
		t.Fatalf("after an overlapping batch: %d events, want 7", n)
	}
	got, err := s.Get(ctx, es[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Message != es[0].Message {
		t.Errorf("rewriting an id changed the stored event: message %q, want %q", got.Message, es[0].Message)
	}
	if got := all(t, s, activitylog.Filter{}); len(got) != 7 {
		t.Errorf("Query walks %d events, want 7", len(got))
	}
}

// testCancelled writes with a context cancelled before the call.
func testCancelled(t *testing.T, s activitylog.Store) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Write(cctx, Fixture(5)); err == nil {
		t.Fatal("Write with a cancelled context succeeded")
	}
	if n := count(t, s, activitylog.Filter{}); n != 0 {
		t.Fatalf("a failed Write stored %d events, want none", n)
	}
	// The store still works.
	write(t, s, Fixture(5))
	if n := count(t, s, activitylog.Filter{}); n != 5 {
		t.Fatalf("after a failed Write a good one stored %d events, want 5", n)
	}
}

// testConcurrent writes from several goroutines, with readers running
// at the same time.
func testConcurrent(t *testing.T, s activitylog.Store) {
	const writers, batches, size = 4, 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches+writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				es := make([]activitylog.Event, size)
				for i := range es {
					es[i] = NewEvent(1000*w + size*b + i)
				}
				if err := s.Write(ctx, es); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Readers at the same time.
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range batches {
				if _, err := s.Query(ctx, activitylog.Filter{Kind: activitylog.KindCRUD, PageSize: 10}); err != nil {
					errs <- err
					return
				}
				if _, err := s.Count(ctx, activitylog.Filter{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := count(t, s, activitylog.Filter{}); n != writers*batches*size {
		t.Fatalf("after concurrent writes: %d events, want %d", n, writers*batches*size)
	}
}

// testLargeBatch writes one batch larger than any one statement or
// request of a store is likely to take.
func testLargeBatch(t *testing.T, s activitylog.Store) {
	es := make([]activitylog.Event, 2345) // more than one statement's worth for most stores
	for i := range es {
		es[i] = NewEvent(i)
	}
	write(t, s, es)
	if n := count(t, s, activitylog.Filter{}); n != int64(len(es)) {
		t.Fatalf("after a batch of %d: %d events", len(es), n)
	}
	for _, i := range []int{0, 511, 512, 1999, len(es) - 1} {
		got, err := s.Get(ctx, es[i].ID)
		if err != nil || !equalEvent(got, es[i]) {
			t.Errorf("event %d of a large batch: %v\n got %s\nwant %s", i, err, dump(got), dump(es[i]))
		}
	}
}
