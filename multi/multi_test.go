package multi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/multi"
	"github.com/activitylog/activitylog/storetest"
)

var quiet = slog.New(slog.DiscardHandler)

// mem is an idempotent in-memory target that counts deliveries per id.
// gate, when set, blocks each Write until it is closed (or ctx ends);
// fail makes Writes fail.
type mem struct {
	mu    sync.Mutex
	count map[activitylog.ID]int
	gate  chan struct{}
	fail  atomic.Bool
	calls atomic.Int64
	err   error
}

func newMem() *mem { return &mem{count: map[activitylog.ID]int{}} }

var errDown = fmt.Errorf("target down: %w", activitylog.ErrUnavailable)

func (m *mem) Write(ctx context.Context, events []activitylog.Event) error {
	m.calls.Add(1)
	if g := m.gate; g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if m.fail.Load() {
		if m.err != nil {
			return m.err
		}
		return errDown
	}
	m.mu.Lock()
	for _, e := range events {
		m.count[e.ID]++
	}
	m.mu.Unlock()
	return nil
}

func (m *mem) snapshot() map[activitylog.ID]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := make(map[activitylog.ID]int, len(m.count))
	for k, v := range m.count {
		c[k] = v
	}
	return c
}

func batch(i, n int) []activitylog.Event {
	es := make([]activitylog.Event, n)
	for j := range es {
		es[j] = storetest.NewEvent(i + j)
		es[j].ID = activitylog.NewID(es[j].Time)
	}
	return es
}

func exactlyOnce(t *testing.T, name string, got map[activitylog.ID]int, want []activitylog.Event) {
	t.Helper()
	for _, e := range want {
		if got[e.ID] != 1 {
			t.Errorf("%s: event %s delivered %d times, want 1", name, e.ID, got[e.ID])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d distinct ids, want %d", name, len(got), len(want))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newWriter(t *testing.T, targets []multi.Target, o *multi.Options) *multi.Writer {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	w, err := multi.New(targets, o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestNewRefusesBadTargets(t *testing.T) {
	t.Parallel()
	m := newMem()
	for _, tc := range []struct {
		name    string
		targets []multi.Target
		opts    *multi.Options
		field   string
	}{
		{"none", nil, nil, "targets"},
		{"empty name", []multi.Target{{Name: "", Writer: m}}, nil, "targets[0].Name"},
		{"duplicate", []multi.Target{{Name: "a", Writer: m}, {Name: "a", Writer: m}}, nil, "targets[1].Name"},
		{"nil writer", []multi.Target{{Name: "a"}}, nil, "targets[0].Writer"},
		{"policy", []multi.Target{{Name: "a", Writer: m}}, &multi.Options{Policy: 7}, "Policy"},
		{"queue", []multi.Target{{Name: "a", Writer: m}}, &multi.Options{QueueSize: -1}, "QueueSize"},
	} {
		_, err := multi.New(tc.targets, tc.opts)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: err = %v, want a FieldError for %s", tc.name, err, tc.field)
		}
	}
}

// Any: a target blocked forever does not hold Write up; it gets the
// batches when it is unblocked.
func TestAnySlowTargetDoesNotBlock(t *testing.T) {
	t.Parallel()
	fast, slow := newMem(), newMem()
	slow.gate = make(chan struct{})
	w := newWriter(t, []multi.Target{{Name: "fast", Writer: fast}, {Name: "slow", Writer: slow}},
		&multi.Options{Policy: multi.Any, Timeout: time.Hour})
	var all []activitylog.Event
	for i := 0; i < 10; i++ {
		b := batch(i*3, 3)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := w.Write(ctx, b)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	exactlyOnce(t, "fast", fast.snapshot(), all)
	if n := len(slow.snapshot()); n != 0 {
		t.Fatalf("slow target has %d events while blocked", n)
	}
	if q := w.Stats()["slow"].Queued; q != 10 {
		t.Errorf("slow target queued = %d, want 10", q)
	}
	close(slow.gate)
	waitFor(t, "the slow target", func() bool { return len(slow.snapshot()) == len(all) })
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, "slow", slow.snapshot(), all)
	exactlyOnce(t, "fast", fast.snapshot(), all)
}

// Any: a failing target retries until it commits.
func TestAnyRetries(t *testing.T) {
	t.Parallel()
	good, flaky := newMem(), newMem()
	flaky.fail.Store(true)
	w := newWriter(t, []multi.Target{{Name: "good", Writer: good}, {Name: "flaky", Writer: flaky}},
		&multi.Options{Policy: multi.Any, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
	b := batch(0, 4)
	if err := w.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retries", func() bool { return w.Stats()["flaky"].Retries >= 3 })
	flaky.fail.Store(false)
	waitFor(t, "the flaky target", func() bool { return len(flaky.snapshot()) == 4 })
	st := w.Stats()["flaky"]
	if st.Failures < 3 || st.Batches != 1 || st.Written != 4 || st.LastError == "" {
		t.Errorf("flaky stats = %+v", st)
	}
	w.Close(context.Background())
	exactlyOnce(t, "flaky", flaky.snapshot(), b)
}

// Any: every target down → Write fails at ctx's end, naming each, and
// the batch is withdrawn (not delivered later).
func TestAnyNoneCommits(t *testing.T) {
	t.Parallel()
	a, b := newMem(), newMem()
	a.fail.Store(true)
	b.fail.Store(true)
	w := newWriter(t, []multi.Target{{Name: "a", Writer: a}, {Name: "b", Writer: b}},
		&multi.Options{Policy: multi.Any, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := w.Write(ctx, batch(0, 2))
	if err == nil || !strings.Contains(err.Error(), "a: ") || !strings.Contains(err.Error(), "b: ") || !errors.Is(err, activitylog.ErrUnavailable) {
		t.Fatalf("err = %v, want one naming a and b", err)
	}
	a.fail.Store(false)
	b.fail.Store(false)
	waitFor(t, "the queues to empty", func() bool {
		s := w.Stats()
		return s["a"].Queued == 0 && s["b"].Queued == 0
	})
	if n := len(a.snapshot()) + len(b.snapshot()); n != 0 {
		t.Errorf("a withdrawn batch was delivered %d times", n)
	}
	if s := w.Stats()["a"]; s.Abandoned != 2 {
		t.Errorf("a: Abandoned = %d, want 2", s.Abandoned)
	}
	w.Close(context.Background())
}

// All: one failing target → the error names it; the others committed.
func TestAllFailingTargetNamed(t *testing.T) {
	t.Parallel()
	ok1, bad, ok2 := newMem(), newMem(), newMem()
	bad.fail.Store(true)
	w := newWriter(t, []multi.Target{{Name: "one", Writer: ok1}, {Name: "broken", Writer: bad}, {Name: "two", Writer: ok2}}, &multi.Options{})
	b := batch(0, 3)
	err := w.Write(context.Background(), b)
	if err == nil || !strings.Contains(err.Error(), "broken: target down") || strings.Contains(err.Error(), "one:") {
		t.Fatalf("err = %v, want one naming only broken", err)
	}
	if !errors.Is(err, errDown) || !errors.Is(err, activitylog.ErrUnavailable) || errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("err %v does not wrap the target's error and ErrUnavailable only", err)
	}
	exactlyOnce(t, "one", ok1.snapshot(), b)
	exactlyOnce(t, "two", ok2.snapshot(), b)
	// The caller's retry: the others ignore the copy (idempotent), the
	// recovered target takes it.
	bad.fail.Store(false)
	if err := w.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, "broken", bad.snapshot(), b)
	if s := w.Stats()["broken"]; s.Failures != 1 || s.Batches != 1 {
		t.Errorf("broken stats = %+v", s)
	}
	w.Close(context.Background())
}

func TestAllInvalidWhenEveryTargetSaysSo(t *testing.T) {
	t.Parallel()
	a, b := newMem(), newMem()
	for _, m := range []*mem{a, b} {
		m.fail.Store(true)
		m.err = activitylog.Invalid("kind", "x", "refused")
	}
	w := newWriter(t, []multi.Target{{Name: "a", Writer: a}, {Name: "b", Writer: b}}, &multi.Options{})
	if err := w.Write(context.Background(), batch(0, 1)); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("err = %v, want ErrInvalid", err)
	}
}

// All: Write waits for a slow target, bounded by ctx.
func TestAllBoundedByContext(t *testing.T) {
	t.Parallel()
	fast, slow := newMem(), newMem()
	slow.gate = make(chan struct{})
	defer close(slow.gate)
	w := newWriter(t, []multi.Target{{Name: "fast", Writer: fast}, {Name: "slow", Writer: slow}}, &multi.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := w.Write(ctx, batch(0, 1))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "slow: ") {
		t.Fatalf("err = %v", err)
	}
}

// Queue full: the batch is spilled (Spill set) or dropped and counted.
func TestQueueFull(t *testing.T) {
	t.Parallel()
	for _, withSpill := range []bool{false, true} {
		t.Run(fmt.Sprint("spill=", withSpill), func(t *testing.T) {
			t.Parallel()
			fast, stuck, spill := newMem(), newMem(), newMem()
			stuck.gate = make(chan struct{})
			o := &multi.Options{Policy: multi.Any, QueueSize: 2, Timeout: time.Hour}
			if withSpill {
				o.Spill = spill
			}
			w := newWriter(t, []multi.Target{{Name: "fast", Writer: fast}, {Name: "stuck", Writer: stuck}}, o)
			var all []activitylog.Event
			for i := 0; i < 6; i++ {
				b := batch(i*5, 5)
				if err := w.Write(context.Background(), b); err != nil {
					t.Fatal(err)
				}
				all = append(all, b...)
				// Under Any, Write returns once the Spill writer took
				// stuck's copy, which may be before fast committed its
				// own: wait, so that only stuck's queue overflows.
				n := len(all)
				waitFor(t, "fast to commit", func() bool { return len(fast.snapshot()) == n })
			}
			// stuck holds one batch in its Write and two queued; three
			// did not fit. (The first may still sit in the queue when
			// the overflow starts, so 2 or 3 overflowed.)
			st := w.Stats()["stuck"]
			over := st.Dropped + st.Spilled
			if over != 15 && over != 20 {
				t.Errorf("stuck stats = %+v, want 15 or 20 events dropped or spilled", st)
			}
			if withSpill {
				if st.Dropped != 0 || uint64(len(spill.snapshot())) != st.Spilled {
					t.Errorf("stats = %+v, spill holds %d", st, len(spill.snapshot()))
				}
			} else if st.Spilled != 0 || len(spill.snapshot()) != 0 {
				t.Errorf("spilled without a Spill writer: %+v", st)
			}
			close(stuck.gate)
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Whatever was not dropped or spilled reached stuck exactly once.
			got := stuck.snapshot()
			if uint64(len(got))+over != uint64(len(all)) {
				t.Errorf("stuck has %d events + %d overflowed, want %d", len(got), over, len(all))
			}
			for id, n := range got {
				if n != 1 {
					t.Errorf("%s delivered %d times", id, n)
				}
			}
			exactlyOnce(t, "fast", fast.snapshot(), all)
		})
	}
}

// Every target down and every queue full, no Spill: Write fails with
// ErrQueueFull.
func TestQueueFullEverywhereFails(t *testing.T) {
	t.Parallel()
	a := newMem()
	a.gate = make(chan struct{})
	defer close(a.gate)
	w := newWriter(t, []multi.Target{{Name: "a", Writer: a}}, &multi.Options{Policy: multi.Any, QueueSize: 1, Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	var err error
	for i := 0; i < 4 && !errors.Is(err, activitylog.ErrQueueFull); i++ {
		err = w.Write(ctx, batch(i, 1))
	}
	if !errors.Is(err, activitylog.ErrQueueFull) {
		t.Fatalf("err = %v, want ErrQueueFull", err)
	}
}

// Close drains the queues; when its ctx ends first, what is left is
// spilled or counted lost, and the error says so.
func TestClose(t *testing.T) {
	t.Parallel()
	t.Run("drains", func(t *testing.T) {
		t.Parallel()
		a, b := newMem(), newMem()
		b.gate = make(chan struct{})
		w := newWriter(t, []multi.Target{{Name: "a", Writer: a}, {Name: "b", Writer: b}}, &multi.Options{Policy: multi.Any, Timeout: time.Hour})
		var all []activitylog.Event
		for i := 0; i < 5; i++ {
			bt := batch(i*2, 2)
			if err := w.Write(context.Background(), bt); err != nil {
				t.Fatal(err)
			}
			all = append(all, bt...)
		}
		go func() { time.Sleep(20 * time.Millisecond); close(b.gate) }()
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		exactlyOnce(t, "b", b.snapshot(), all)
		if err := w.Write(context.Background(), batch(50, 1)); !errors.Is(err, activitylog.ErrClosed) {
			t.Errorf("Write after Close = %v", err)
		}
	})
	for _, withSpill := range []bool{false, true} {
		t.Run(fmt.Sprint("gives up, spill=", withSpill), func(t *testing.T) {
			t.Parallel()
			a, dead, spill := newMem(), newMem(), newMem()
			dead.fail.Store(true)
			o := &multi.Options{Policy: multi.Any, RetryMin: time.Millisecond, RetryMax: time.Millisecond}
			if withSpill {
				o.Spill = spill
			}
			w := newWriter(t, []multi.Target{{Name: "a", Writer: a}, {Name: "dead", Writer: dead}}, o)
			var all []activitylog.Event
			for i := 0; i < 3; i++ {
				bt := batch(i*4, 4)
				if err := w.Write(context.Background(), bt); err != nil {
					t.Fatal(err)
				}
				all = append(all, bt...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			err := w.Close(ctx)
			if err == nil || !strings.Contains(err.Error(), "dead: ") {
				t.Fatalf("Close = %v, want an error naming dead", err)
			}
			st := w.Stats()["dead"]
			if withSpill {
				if st.Spilled != 12 || st.Lost != 0 || !strings.Contains(err.Error(), "12 events spilled, 0 lost") {
					t.Errorf("stats %+v, err %v", st, err)
				}
				exactlyOnce(t, "spill", spill.snapshot(), all)
			} else if st.Lost != 12 || !strings.Contains(err.Error(), "0 events spilled, 12 lost") {
				t.Errorf("stats %+v, err %v", st, err)
			}
		})
	}
}

// Many concurrent writers, both policies, a slow and a flaky target:
// every event reaches every healthy target exactly once. Run with -race.
func TestEveryEventExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, p := range []multi.Policy{multi.All, multi.Any} {
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			a, slow, flaky := newMem(), &slowMem{mem: newMem()}, &flakyMem{mem: newMem()}
			w := newWriter(t, []multi.Target{{Name: "a", Writer: a}, {Name: "slow", Writer: slow}, {Name: "flaky", Writer: flaky}},
				&multi.Options{Policy: p, QueueSize: 1000, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond})
			var (
				wg  sync.WaitGroup
				mu  sync.Mutex
				all []activitylog.Event
			)
			for g := 0; g < 4; g++ {
				wg.Go(func() {
					for i := 0; i < 30; i++ {
						b := batch(g*1000+i*3, 3)
						// The caller retries as the Recorder does.
						for {
							if err := w.Write(context.Background(), b); err == nil {
								break
							}
						}
						mu.Lock()
						all = append(all, b...)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			for name, m := range map[string]*mem{"a": a, "slow": slow.mem, "flaky": flaky.mem} {
				got := m.snapshot()
				if p == multi.All {
					// Retries re-send to targets that have the batch:
					// each id at least once, stored once (idempotent).
					for _, e := range all {
						if got[e.ID] < 1 {
							t.Errorf("%s: %s missing", name, e.ID)
						}
					}
					continue
				}
				exactlyOnce(t, name, got, all)
			}
		})
	}
}

type slowMem struct{ *mem }

func (s *slowMem) Write(ctx context.Context, es []activitylog.Event) error {
	time.Sleep(time.Millisecond)
	return s.mem.Write(ctx, es)
}

// flakyMem fails every third Write.
type flakyMem struct {
	*mem
	n atomic.Int64
}

func (f *flakyMem) Write(ctx context.Context, es []activitylog.Event) error {
	if f.n.Add(1)%3 == 0 {
		return errDown
	}
	return f.mem.Write(ctx, es)
}

// Through a Recorder, under All with a target that fails for a while:
// the Recorder's retries get every event to every target.
func TestUnderRecorder(t *testing.T) {
	t.Parallel()
	a, b := newMem(), newMem()
	b.fail.Store(true)
	w := newWriter(t, []multi.Target{{Name: "a", Writer: a}, {Name: "b", Writer: b}}, &multi.Options{})
	rec := activitylog.NewRecorder(w, &activitylog.Options{FlushInterval: time.Millisecond, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond, Logger: quiet})
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCustom, Action: "tick"}); err != nil {
			t.Fatal(err)
		}
		if i == 50 {
			b.fail.Store(false)
		}
	}
	if err := rec.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(b.snapshot()); n != 100 || len(a.snapshot()) != 100 {
		t.Errorf("a has %d, b has %d events; want 100 each", len(a.snapshot()), n)
	}
}
