package retention

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
)

// A Locker gives a named lock to one holder at a time, across the
// replicas that share it, so that only one of them runs the policies.
// TryLock does not wait: ok is false when another holder has the lock.
// When ok, release gives it back; it may be called once. Every method
// may be called from several goroutines at once.
type Locker interface {
	TryLock(ctx context.Context, name string) (release func(), ok bool, err error)
}

// LocalLocker is a Locker within one process: enough for a single
// replica. The zero value is ready to use.
type LocalLocker struct {
	mu   sync.Mutex
	held map[string]bool
}

var _ Locker = (*LocalLocker)(nil)

// TryLock takes name if no one in this process holds it.
func (l *LocalLocker) TryLock(ctx context.Context, name string) (func(), bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[name] {
		return nil, false, nil
	}
	if l.held == nil {
		l.held = map[string]bool{}
	}
	l.held[name] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.held, name)
			l.mu.Unlock()
		})
	}, true, nil
}

// Clock is the time of a Scheduler, for tests.
type Clock interface {
	Now() time.Time
	// After sends the time on the channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults of SchedulerOptions.
const (
	DefaultTimeOfDay = "03:00"
	DefaultLockName  = "activitylog-retention"
)

// SchedulerOptions configures a Scheduler. The zero value, or nil,
// means the defaults written beside each field.
type SchedulerOptions struct {
	// At is the time of day, in UTC, of the daily run: "HH:MM".
	// Default: "03:00".
	At string
	// Interval, when above 0, runs the policies every Interval instead
	// of daily (for tests and demos). Default: 0, daily at At.
	Interval time.Duration
	// Locker is taken before each run, so that one replica runs it.
	// Default: a LocalLocker of the Scheduler's own, which is right for
	// one replica only.
	Locker Locker
	// LockName is the lock's name. Default: "activitylog-retention".
	LockName string
	// Clock is the Scheduler's time. Default: the system clock.
	Clock Clock
	// OnRun, when set, is told of every run, after it (for metrics).
	OnRun func(Report, error)
	// Logger receives what the runs did. Default: slog.Default().
	Logger *slog.Logger
}

// Scheduler runs a Runner's policies daily, at a time of day, on the
// replica that gets the lock.
type Scheduler struct {
	runner   *Runner
	at       time.Duration // since midnight UTC
	interval time.Duration
	locker   Locker
	name     string
	clock    Clock
	onRun    func(Report, error)
	log      *slog.Logger
}

// ParseTimeOfDay reads "HH:MM" (00:00 to 23:59) as the time since
// midnight. An error is a *activitylog.FieldError naming
// retention_time.
func ParseTimeOfDay(s string) (time.Duration, error) {
	bad := activitylog.Invalid("retention_time", clip(s), "must be a time of day in UTC, HH:MM, from 00:00 to 23:59")
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || s[0] == '+' || s[3] == '+' {
		return 0, bad
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// NewScheduler returns a Scheduler of r. An error is a
// *activitylog.FieldError naming the option.
func NewScheduler(r *Runner, opts *SchedulerOptions) (*Scheduler, error) {
	var o SchedulerOptions
	if opts != nil {
		o = *opts
	}
	if r == nil {
		return nil, activitylog.Invalid("runner", "nil", "is required")
	}
	if o.Interval < 0 {
		return nil, activitylog.Invalid("interval", o.Interval.String(), "must not be negative")
	}
	at, err := ParseTimeOfDay(cmp.Or(o.At, DefaultTimeOfDay))
	if err != nil {
		return nil, err
	}
	s := &Scheduler{runner: r, at: at, interval: o.Interval, locker: o.Locker, name: cmp.Or(o.LockName, DefaultLockName),
		clock: o.Clock, onRun: o.OnRun, log: cmp.Or(o.Logger, slog.Default())}
	if s.locker == nil {
		s.locker = new(LocalLocker)
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	return s, nil
}

// Next returns the time of the first run after now: the next At (in
// UTC), or now plus the Interval.
func (s *Scheduler) Next(now time.Time) time.Time {
	if s.interval > 0 {
		return now.Add(s.interval)
	}
	y, m, d := now.UTC().Date()
	next := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Add(s.at)
	if !next.After(now) {
		next = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Add(s.at)
	}
	return next
}

// Run runs the policies at each scheduled time until ctx is done, and
// returns nil then, once the run under way (if any) has stopped: a run
// stops between rules when ctx is done.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		now := s.clock.Now()
		due := s.Next(now)
		select {
		case <-ctx.Done():
			return nil
		case <-s.clock.After(due.Sub(now)):
		}
		if s.clock.Now().Before(due) {
			continue // the clock went back: wait again
		}
		s.Tick(ctx, due)
	}
}

// Tick runs the policies once, now, as the run due at due: when the
// lock is got and no other replica ran them since due. It reports
// whether it ran them.
func (s *Scheduler) Tick(ctx context.Context, due time.Time) bool {
	release, ok, err := s.locker.TryLock(ctx, s.name)
	if err != nil {
		s.log.ErrorContext(ctx, "activitylog retention: take the lock; the run is skipped", "lock", s.name, "err", err)
		return false
	}
	if !ok {
		s.log.InfoContext(ctx, "activitylog retention: another replica holds the lock and runs the policies", "lock", s.name)
		return false
	}
	defer release()
	if ran, err := s.ranSince(ctx, due); err != nil {
		s.log.ErrorContext(ctx, "activitylog retention: read the policies; the run is skipped", "err", err)
		return false
	} else if ran {
		s.log.InfoContext(ctx, "activitylog retention: another replica ran the policies already", "due", due)
		return false
	}
	rep, err := s.runner.Run(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "activitylog retention: run", "deleted", rep.Deleted, "err", err)
	} else {
		s.log.InfoContext(ctx, "activitylog retention: run", "deleted", rep.Deleted, "rules", len(rep.Rules))
	}
	if s.onRun != nil {
		s.onRun(rep, err)
	}
	return true
}

// ranSince reports whether an active policy ran at or after due: a
// replica that had the lock before this one ran the due run.
func (s *Scheduler) ranSince(ctx context.Context, due time.Time) (bool, error) {
	ps, err := s.runner.repo.List(ctx)
	if err != nil {
		return false, fmt.Errorf("list retention policies: %w", err)
	}
	for _, p := range ps {
		if p.Active && !p.LastRun.IsZero() && !p.LastRun.Before(due) {
			return true, nil
		}
	}
	return false, nil
}
