package retention_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/retention"
)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	changed chan struct{} // closed when a waiter is added
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t, changed: make(chan struct{})} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	close(c.changed)
	c.changed = make(chan struct{})
	return ch
}

// Advance moves the clock by d and wakes the waiters whose time came.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// waitForWaiter returns once someone waits on the clock: the scheduler
// is idle until its next run.
func (c *fakeClock) waitForWaiter(t *testing.T) {
	t.Helper()
	deadline := time.After(30 * time.Second) // a hang, not a timing assertion
	for {
		c.mu.Lock()
		n, ch := len(c.waiters), c.changed
		c.mu.Unlock()
		if n > 0 {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("the scheduler never waited on the clock")
		}
	}
}

// scheduled starts a scheduler at start over a runner on the same
// clock, and returns the clock, the number of runs and a stop function
// that returns what Run returned.
func scheduled(t *testing.T, start time.Time, opts retention.SchedulerOptions) (*env, *fakeClock, *atomic.Int32, func() error) {
	t.Helper()
	clock := newFakeClock(start)
	e := newEnv(t, &retention.RunnerOptions{Now: clock.Now})
	var runs atomic.Int32
	opts.Clock, opts.Logger = clock, slog.New(slog.DiscardHandler)
	opts.OnRun = func(retention.Report, error) { runs.Add(1) }
	s, err := retention.NewScheduler(e.runner, &opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	clock.waitForWaiter(t)
	return e, clock, &runs, stop
}

func TestSchedulerRunsDailyAtTheTime(t *testing.T) {
	start := time.Date(2026, 6, 15, 2, 0, 0, 0, time.UTC)
	e, clock, runs, stop := scheduled(t, start, retention.SchedulerOptions{At: "03:00"})
	p := e.policy(retention.Policy{Name: "crud", Kind: "crud", RetainDays: 30, Active: true, AllTenants: true})
	old := e.event("crud", "", 45) // 45 days before the package's now, 2026-06-15T12:00

	clock.Advance(59 * time.Minute) // 02:59
	clock.waitForWaiter(t)
	if runs.Load() != 0 || !e.exists(old)[0] {
		t.Fatalf("ran before 03:00: %d runs", runs.Load())
	}
	clock.Advance(time.Minute) // 03:00
	clock.waitForWaiter(t)
	if runs.Load() != 1 || e.exists(old)[0] {
		t.Fatalf("at 03:00: %d runs, old event stored %v", runs.Load(), e.exists(old)[0])
	}
	got, _ := e.repo.Get(ctx, p.ID)
	if want := time.Date(2026, 6, 15, 3, 0, 0, 0, time.UTC); !got.LastRun.Equal(want) || got.RecordsDeleted != 1 {
		t.Fatalf("policy after the run: last_run %v, records_deleted %d", got.LastRun, got.RecordsDeleted)
	}
	clock.Advance(23*time.Hour + 59*time.Minute) // 02:59 the next day
	clock.waitForWaiter(t)
	if runs.Load() != 1 {
		t.Fatalf("%d runs before the second day's 03:00", runs.Load())
	}
	clock.Advance(time.Minute)
	clock.waitForWaiter(t)
	if runs.Load() != 2 {
		t.Fatalf("%d runs after the second day's 03:00", runs.Load())
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v on cancel, want nil", err)
	}
}

func TestSchedulerRunsOnlyWithTheLock(t *testing.T) {
	var lock retention.LocalLocker
	start := time.Date(2026, 6, 15, 2, 0, 0, 0, time.UTC)
	e, clock, runs, _ := scheduled(t, start, retention.SchedulerOptions{Interval: time.Hour, Locker: &lock, LockName: "retention"})
	e.policy(retention.Policy{Name: "crud", Kind: "crud", RetainDays: 30, Active: true, AllTenants: true})
	old := e.event("crud", "", 45)

	// Another replica holds the lock: no run.
	release, ok, err := lock.TryLock(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("TryLock: %v, %v", ok, err)
	}
	clock.Advance(time.Hour)
	clock.waitForWaiter(t)
	if runs.Load() != 0 || !e.exists(old)[0] {
		t.Fatalf("ran without the lock: %d runs", runs.Load())
	}
	release()
	clock.Advance(time.Hour)
	clock.waitForWaiter(t)
	if runs.Load() != 1 || e.exists(old)[0] {
		t.Fatalf("with the lock free: %d runs, old event stored %v", runs.Load(), e.exists(old)[0])
	}
	// The lock was given back after the run.
	release, ok, err = lock.TryLock(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("the lock is still held after the run: %v, %v", ok, err)
	}
	release()
}

// A replica that gets the lock after another ran the due run skips it.
func TestSchedulerSkipsARunAnotherReplicaDid(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 6, 15, 3, 0, 0, 0, time.UTC))
	e := newEnv(t, &retention.RunnerOptions{Now: clock.Now})
	e.policy(retention.Policy{Name: "crud", Kind: "crud", RetainDays: 30, Active: true, AllTenants: true})
	var lock retention.LocalLocker
	a, _ := retention.NewScheduler(e.runner, &retention.SchedulerOptions{Clock: clock, Locker: &lock, Logger: slog.New(slog.DiscardHandler)})
	b, _ := retention.NewScheduler(e.runner, &retention.SchedulerOptions{Clock: clock, Locker: &lock, Logger: slog.New(slog.DiscardHandler)})
	due := clock.Now()
	if !a.Tick(ctx, due) {
		t.Fatal("the first replica did not run")
	}
	clock.Advance(time.Second)
	if b.Tick(ctx, due) {
		t.Fatal("the second replica ran the same due run again")
	}
	if !b.Tick(ctx, due.Add(24*time.Hour)) {
		t.Fatal("the second replica did not run the next day's")
	}
}

// lockerFunc is a Locker that fails.
type lockerFunc func(ctx context.Context, name string) (func(), bool, error)

func (f lockerFunc) TryLock(ctx context.Context, name string) (func(), bool, error) {
	return f(ctx, name)
}

func TestSchedulerSkipsWhenTheLockFails(t *testing.T) {
	clock := newFakeClock(now)
	e := newEnv(t, &retention.RunnerOptions{Now: clock.Now})
	broken := lockerFunc(func(context.Context, string) (func(), bool, error) {
		return nil, false, errors.New("nats: no responders")
	})
	s, _ := retention.NewScheduler(e.runner, &retention.SchedulerOptions{Clock: clock, Locker: broken, Logger: slog.New(slog.DiscardHandler)})
	if s.Tick(ctx, now) {
		t.Fatal("ran without the lock")
	}
}

func TestSchedulerNext(t *testing.T) {
	s, err := retention.NewScheduler(newEnv(t, nil).runner, &retention.SchedulerOptions{At: "03:30"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ now, want time.Time }{
		{time.Date(2026, 6, 15, 2, 0, 0, 0, time.UTC), time.Date(2026, 6, 15, 3, 30, 0, 0, time.UTC)},
		{time.Date(2026, 6, 15, 3, 30, 0, 0, time.UTC), time.Date(2026, 6, 16, 3, 30, 0, 0, time.UTC)},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 3, 30, 0, 0, time.UTC)},
		{time.Date(2026, 6, 15, 4, 0, 0, 0, time.FixedZone("CEST", 2*3600)), time.Date(2026, 6, 15, 3, 30, 0, 0, time.UTC)}, // 02:00 UTC
	} {
		if got := s.Next(c.now); !got.Equal(c.want) {
			t.Errorf("Next(%v) = %v, want %v", c.now, got, c.want)
		}
	}
}

func TestParseTimeOfDay(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"03:00", 3 * time.Hour, true},
		{"00:00", 0, true},
		{"23:59", 23*time.Hour + 59*time.Minute, true},
		{"24:00", 0, false},
		{"3:00", 0, false},
		{"03:60", 0, false},
		{"+3:00", 0, false},
		{"03-00", 0, false},
		{"", 0, false},
	} {
		got, err := retention.ParseTimeOfDay(c.in)
		var fe *activitylog.FieldError
		switch {
		case c.ok && (err != nil || got != c.want):
			t.Errorf("ParseTimeOfDay(%q) = %v, %v; want %v", c.in, got, err, c.want)
		case !c.ok && (!errors.As(err, &fe) || fe.Field != "retention_time" || fe.Value != c.in):
			t.Errorf("ParseTimeOfDay(%q): %v, want a FieldError naming retention_time and the value", c.in, err)
		}
	}
	if _, err := retention.NewScheduler(newEnv(t, nil).runner, &retention.SchedulerOptions{At: "25:00"}); err == nil {
		t.Error("NewScheduler took 25:00")
	}
}

func TestLocalLocker(t *testing.T) {
	var l retention.LocalLocker
	r1, ok, _ := l.TryLock(ctx, "a")
	if !ok {
		t.Fatal("a free lock was refused")
	}
	if _, ok, _ := l.TryLock(ctx, "a"); ok {
		t.Fatal("a held lock was given twice")
	}
	if r2, ok, _ := l.TryLock(ctx, "b"); !ok {
		t.Fatal("another name's lock was refused")
	} else {
		r2()
	}
	r1()
	r1() // a second release changes nothing
	r3, ok, _ := l.TryLock(ctx, "a")
	if !ok {
		t.Fatal("a released lock was refused")
	}
	if _, ok, _ := l.TryLock(ctx, "a"); ok {
		t.Fatal("the second release of r1 freed r3's lock")
	}
	r3()
}
