package activitylog_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

func TestStatsByKind(t *testing.T) {
	w := &refuseWriter{refuse: byAction("bad")}
	rec := activitylog.NewRecorder(w, &activitylog.Options{Logger: slog.New(slog.DiscardHandler), MaxRetries: 1, RetryMin: time.Millisecond})
	ctx := context.Background()
	for range 3 {
		if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCRUD, Action: "create", Object: activitylog.Object{Type: "t", ID: "1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCustom, Action: "bad"}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Commit(ctx, []activitylog.Event{{Kind: activitylog.KindAuth, Action: "login"}, {Kind: activitylog.KindAuth, Action: "logout"}}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s := rec.Stats()
	want := map[activitylog.Kind]activitylog.KindStats{
		activitylog.KindCRUD:   {Recorded: 3, Written: 3},
		activitylog.KindAuth:   {Recorded: 2, Written: 2},
		activitylog.KindCustom: {Recorded: 1, Failed: 1},
	}
	for _, k := range activitylog.Kinds {
		got := s.ByKind[k]
		if k == activitylog.KindSystem {
			got.Written = 0 // the audit_loss report of the refused event, if written yet
		}
		if got != want[k] {
			t.Errorf("ByKind[%s] = %+v, want %+v", k, got, want[k])
		}
	}
	var sum activitylog.KindStats
	for _, ks := range s.ByKind {
		sum.Recorded += ks.Recorded
		sum.Written += ks.Written
		sum.Failed += ks.Failed
	}
	if sum.Recorded != s.Recorded || sum.Written != s.Written || sum.Failed != s.Failed {
		t.Errorf("by kind adds up to %+v, totals %+v", sum, s)
	}
	if s.BatchSize.Count != s.Batches || s.WriteLatency.Count != s.Batches || s.Batches == 0 {
		t.Errorf("histogram counts %d and %d, batches %d", s.BatchSize.Count, s.WriteLatency.Count, s.Batches)
	}
	if uint64(s.BatchSize.Sum) != s.Written {
		t.Errorf("batch size sum %v, written %d", s.BatchSize.Sum, s.Written)
	}
	if n := len(s.BatchSize.Counts); n != len(activitylog.BatchSizeBounds) || s.BatchSize.Counts[n-1] > s.BatchSize.Count {
		t.Errorf("batch size buckets %v of %d", s.BatchSize.Counts, s.BatchSize.Count)
	}
	for i := 1; i < len(s.WriteLatency.Counts); i++ {
		if s.WriteLatency.Counts[i] < s.WriteLatency.Counts[i-1] {
			t.Errorf("latency buckets not cumulative: %v", s.WriteLatency.Counts)
		}
	}
	if err := rec.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStatsByKindDropped(t *testing.T) {
	w := &refuseWriter{refuse: func(activitylog.Event) bool { return false }, hold: make(chan struct{})}
	rec := activitylog.NewRecorder(w, &activitylog.Options{QueueSize: 2, BatchSize: 1, OnFull: activitylog.Drop, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	for range 20 {
		if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindRequest, Action: "GET"}); err != nil {
			t.Fatal(err)
		}
	}
	close(w.hold)
	if err := rec.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s := rec.Stats()
	k := s.ByKind[activitylog.KindRequest]
	if k.Dropped != s.Dropped || k.Dropped == 0 || k.Recorded+k.Dropped != 20 || k.Written != k.Recorded {
		t.Errorf("request kind %+v, totals dropped %d", k, s.Dropped)
	}
}

// A writer that fails for a long time must not fill the host's log:
// each message is logged a few times, then held back and counted.
func TestRecorderLogIsRateLimited(t *testing.T) {
	var buf logBuffer
	w := &memWriter{}
	w.stopped.Store(true)
	rec := activitylog.NewRecorder(w, &activitylog.Options{
		Logger:   slog.New(slog.NewJSONHandler(&buf, nil)),
		RetryMin: time.Microsecond, RetryMax: time.Microsecond, MaxRetries: 3,
	})
	ctx := context.Background()
	for i := range 200 {
		if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCustom, Action: "x"}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			_ = rec.Flush(ctx)
		}
	}
	_ = rec.Flush(ctx)
	if calls := w.calls.Load(); calls < 100 {
		t.Fatalf("only %d write attempts", calls)
	}
	lines := buf.lines("activitylog: write batch")
	if len(lines) == 0 || len(lines) > 6 {
		t.Fatalf("%d log lines for %d failing writes, want 1 to 6", len(lines), w.calls.Load())
	}
	w.stopped.Store(false)
	_ = rec.Shutdown(ctx)
}

// A Shutdown whose deadline passes hands what is left to Spill, which
// keeps it: counted spilled, not failed, and no loss is reported.
func TestShutdownSpillsWhatIsLeft(t *testing.T) {
	w := &memWriter{}
	w.stopped.Store(true) // the store is down
	spill := &memWriter{}
	rec := activitylog.NewRecorder(w, &activitylog.Options{Logger: slog.New(slog.DiscardHandler), Spill: spill,
		RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, BatchSize: 10})
	ctx := context.Background()
	for range 35 {
		if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCustom, Action: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_ = rec.Shutdown(sctx)
	s := rec.Stats()
	spill.mu.Lock()
	n := len(spill.events)
	for _, e := range spill.events {
		if e.Kind == activitylog.KindSystem {
			t.Errorf("a loss report was spilled: %+v", e)
		}
	}
	spill.mu.Unlock()
	if n != 35 || s.Spilled != 35 || s.Failed != 0 || s.Written != 0 {
		t.Fatalf("spill holds %d; stats %+v", n, s)
	}
}

// When the spill fails too, the events are failed, as without one.
func TestSpillFailing(t *testing.T) {
	w := &memWriter{}
	w.stopped.Store(true)
	spill := &memWriter{}
	spill.stopped.Store(true)
	rec := activitylog.NewRecorder(w, &activitylog.Options{Logger: slog.New(slog.DiscardHandler), Spill: spill, MaxRetries: 1, RetryMin: time.Millisecond})
	ctx := context.Background()
	for range 5 {
		if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCustom, Action: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	_ = rec.Flush(ctx)
	s := rec.Stats()
	if s.Failed != 5 || s.Spilled != 0 {
		t.Fatalf("stats %+v", s)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_ = rec.Shutdown(sctx)
}
