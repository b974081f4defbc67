package spool_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/spool"
)

var quiet = slog.New(slog.DiscardHandler)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Primary down: batches are spooled and Write succeeds; primary back:
// the replayer delivers them; every event reaches the primary exactly
// once.
func TestFallbackOutage(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), nil)
	primary := newMem()
	f := spool.NewFallback(primary, s, &spool.FallbackOptions{ReplayInterval: 20 * time.Millisecond, Timeout: time.Second, Logger: quiet})
	ctx := context.Background()
	var all []activitylog.Event
	w := func(b []activitylog.Event) {
		t.Helper()
		if err := f.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	w(batch(0, 5))
	primary.down.Store(true)
	for i := 1; i <= 10; i++ {
		w(batch(i*5, 5))
	}
	st := f.Stats()
	if st.Direct != 5 || st.Spooled != 50 || st.SpoolEvents != 50 || st.LastError == "" {
		t.Errorf("stats during the outage = %+v", st)
	}
	primary.down.Store(false)
	w(batch(100, 5)) // may go direct or to the spool
	waitFor(t, "the spool to drain", func() bool { ev, _ := s.Len(); return ev == 0 })
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, primary.snapshot(), all)
	st = f.Stats()
	if st.Direct+st.Replayed != uint64(len(all)) || st.Replayed < 50 || st.SpoolEvents != 0 {
		t.Errorf("stats after the outage = %+v", st)
	}
}

// ErrInvalid from the primary is the caller's error: not spooled.
func TestFallbackInvalidNotSpooled(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), nil)
	primary := newMem()
	primary.invalid = true
	f := spool.NewFallback(primary, s, nil)
	defer f.Close(context.Background())
	err := f.Write(context.Background(), batch(0, 3))
	if !errors.Is(err, activitylog.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if ev, _ := s.Len(); ev != 0 {
		t.Errorf("spool holds %d events", ev)
	}
	if st := f.Stats(); st.Spooled != 0 {
		t.Errorf("Spooled = %d", st.Spooled)
	}
}

// Primary and spool both fail: Write returns both errors.
func TestFallbackBothFail(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), &spool.Options{MaxBytes: 100})
	primary := newMem()
	primary.down.Store(true)
	f := spool.NewFallback(primary, s, nil)
	defer f.Close(context.Background())
	err := f.Write(context.Background(), batch(0, 3))
	if !errors.Is(err, errDown) || !errors.Is(err, spool.ErrFull) {
		t.Fatalf("err = %v, want the primary's error and ErrFull", err)
	}
	if st := f.Stats(); st.Failed != 3 {
		t.Errorf("Failed = %d, want 3", st.Failed)
	}
	// While the primary is marked down, the spool's error still names it.
	err = f.Write(context.Background(), batch(3, 3))
	if !errors.Is(err, spool.ErrFull) {
		t.Fatalf("second err = %v", err)
	}
}

// A primary that hangs costs one Timeout, not one per batch.
func TestFallbackHungPrimary(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), nil)
	release := make(chan struct{})
	defer close(release)
	var calls atomic.Int32
	hung := writerFunc(func(ctx context.Context, es []activitylog.Event) error {
		calls.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-release:
			return nil
		}
	})
	f := spool.NewFallback(hung, s, &spool.FallbackOptions{Timeout: 20 * time.Millisecond, ReplayInterval: time.Hour})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		f.Close(ctx)
	}()
	for i := 0; i < 5; i++ {
		if err := f.Write(context.Background(), batch(i*2, 2)); err != nil {
			t.Fatal(err)
		}
	}
	if ev, _ := s.Len(); ev != 10 {
		t.Errorf("spool holds %d events, want 10", ev)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the hung primary was tried %d times, want once", n)
	}
}

// Close makes a last replay.
func TestFallbackCloseReplays(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), nil)
	primary := newMem()
	primary.down.Store(true)
	f := spool.NewFallback(primary, s, &spool.FallbackOptions{ReplayInterval: time.Hour})
	b := batch(0, 4)
	if err := f.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	primary.down.Store(false)
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, primary.snapshot(), b)
}

// Through a Recorder: an outage costs no event.
func TestFallbackUnderRecorder(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), nil)
	primary := newMem()
	primary.down.Store(true)
	f := spool.NewFallback(primary, s, &spool.FallbackOptions{ReplayInterval: 10 * time.Millisecond, Logger: quiet})
	rec := activitylog.NewRecorder(f, &activitylog.Options{FlushInterval: time.Millisecond})
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCustom, Action: "tick"}); err != nil {
			t.Fatal(err)
		}
		if i == 100 {
			primary.down.Store(false)
		}
	}
	if err := rec.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := primary.snapshot()
	if st := rec.Stats(); st.Written != 200 || st.Failed != 0 {
		t.Errorf("recorder stats = %+v", st)
	}
	if len(got) != 200 {
		t.Errorf("primary holds %d events, want 200", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
}
