package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
)

var _ activitylog.Writer = (*Fallback)(nil)

// FallbackOptions configures a Fallback. The zero value, or nil, means
// the defaults written beside each field.
type FallbackOptions struct {
	// Timeout bounds one Write to the primary (and one replayed batch)
	// before the batch goes to the spool. Default: 5s.
	Timeout time.Duration
	// ReplayInterval is how often the background goroutine replays the
	// spool into the primary, and how long after a failed primary Write
	// new batches go straight to the spool. Default: 10s.
	ReplayInterval time.Duration
	// Logger receives replay failures. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// FallbackStats are a Fallback's counters, in events.
type FallbackStats struct {
	Direct        uint64    `json:"direct"`       // written to the primary by Write
	Spooled       uint64    `json:"spooled"`      // written to the spool by Write
	Replayed      uint64    `json:"replayed"`     // written to the primary from the spool
	Failed        uint64    `json:"failed"`       // refused by both the primary and the spool
	SpoolEvents   int64     `json:"spool_events"` // waiting in the spool now
	SpoolBytes    int64     `json:"spool_bytes"`  // the spool's size on disk now
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// Fallback is a Writer that writes to a primary Writer and, when the
// primary fails, to a Spool; a background goroutine replays the spool
// into the primary every ReplayInterval. It makes the spool the
// primary's outage buffer: a Recorder writing through a Fallback sees
// a failure only when the primary and the spool both fail.
//
// Replayed batches reach the primary after batches written directly
// since the outage; stores order events by time and id, not by arrival,
// so queries are unaffected.
type Fallback struct {
	primary activitylog.Writer
	spool   *Spool
	opts    FallbackOptions

	skipUntil                         atomic.Int64 // unix nanos: until then, Write goes straight to the spool
	direct, spooled, replayed, failed atomic.Uint64

	mu      sync.Mutex
	lastErr error
	lastAt  time.Time

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	cancel   context.CancelFunc
	ctx      context.Context
}

// NewFallback returns a Fallback writing to primary, with s as its
// spool, and starts its replayer. Options may be nil. Call Close to stop
// the replayer; Close closes neither primary nor s.
func NewFallback(primary activitylog.Writer, s *Spool, opts *FallbackOptions) *Fallback {
	var o FallbackOptions
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.ReplayInterval <= 0 {
		o.ReplayInterval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f := &Fallback{primary: primary, spool: s, opts: o, stop: make(chan struct{}), done: make(chan struct{})}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	go f.run()
	return f
}

// Write writes events to the primary, bounded by Timeout. If the
// primary fails with anything but ErrInvalid, Write appends the batch
// to the spool and returns nil once it is fsynced; for ReplayInterval
// after such a failure (or until a replay succeeds), batches go to the
// spool without trying the primary, so that a hung primary does not cost
// every batch its Timeout. An error wrapping ErrInvalid is returned as
// it is: invalid events are the caller's error, and spooling them would
// only defer the refusal. When the spool fails too, Write returns both
// errors joined. The spool write is not cancelled by ctx.
func (f *Fallback) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	var perr error
	if f.opts.Now().UnixNano() >= f.skipUntil.Load() {
		wctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
		perr = f.primary.Write(wctx, events)
		cancel()
		if perr == nil {
			f.direct.Add(uint64(len(events)))
			return nil
		}
		if errors.Is(perr, activitylog.ErrInvalid) {
			return perr
		}
		f.setErr(perr)
		f.skipUntil.Store(f.opts.Now().Add(f.opts.ReplayInterval).UnixNano())
		perr = fmt.Errorf("write primary: %w", perr)
	}
	if err := f.spool.Write(context.WithoutCancel(ctx), events); err != nil {
		f.failed.Add(uint64(len(events)))
		f.setErr(err)
		if perr == nil {
			perr = errors.New("write primary: skipped after a recent failure")
		}
		return errors.Join(perr, err)
	}
	f.spooled.Add(uint64(len(events)))
	return nil
}

func (f *Fallback) setErr(err error) {
	f.mu.Lock()
	f.lastErr, f.lastAt = err, f.opts.Now()
	f.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (f *Fallback) Stats() FallbackStats {
	ev, b := f.spool.Len()
	st := FallbackStats{
		Direct:      f.direct.Load(),
		Spooled:     f.spooled.Load(),
		Replayed:    f.replayed.Load(),
		Failed:      f.failed.Load(),
		SpoolEvents: ev,
		SpoolBytes:  b,
	}
	f.mu.Lock()
	if f.lastErr != nil {
		st.LastError, st.LastErrorTime = f.lastErr.Error(), f.lastAt
	}
	f.mu.Unlock()
	return st
}

// timeoutWriter bounds each replayed batch by the Fallback's Timeout.
type timeoutWriter struct{ f *Fallback }

func (t timeoutWriter) Write(ctx context.Context, events []activitylog.Event) error {
	ctx, cancel := context.WithTimeout(ctx, t.f.opts.Timeout)
	defer cancel()
	return t.f.primary.Write(ctx, events)
}

// replay replays the spool into the primary once.
func (f *Fallback) replay(ctx context.Context) error {
	if ev, _ := f.spool.Len(); ev == 0 {
		return nil
	}
	n, err := f.spool.Replay(ctx, timeoutWriter{f})
	f.replayed.Add(uint64(n))
	if err != nil {
		f.setErr(err)
		return err
	}
	f.skipUntil.Store(0) // the primary took everything: try it first again
	return nil
}

func (f *Fallback) run() {
	defer close(f.done)
	t := time.NewTicker(f.opts.ReplayInterval)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			if err := f.replay(f.ctx); err != nil && f.ctx.Err() == nil {
				ev, _ := f.spool.Len()
				f.opts.Logger.Error("activitylog: replay spool", "waiting_events", ev, "err", err)
			}
		}
	}
}

// Close stops the replayer and makes one last replay attempt, bounded by
// ctx; it returns that attempt's error. What is left stays in the spool
// for the next process. Close does not close the primary or the spool.
// Call it after the Recorder's Shutdown.
func (f *Fallback) Close(ctx context.Context) error {
	f.stopOnce.Do(func() { close(f.stop) })
	// A replay in progress is cancelled with ctx.
	stop := context.AfterFunc(ctx, f.cancel)
	defer stop()
	<-f.done
	f.cancel()
	if err := f.replay(ctx); err != nil {
		return fmt.Errorf("close spool fallback: %w", err)
	}
	return nil
}
