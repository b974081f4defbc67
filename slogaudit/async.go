package slogaudit

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
)

// AsyncOptions configures an Async. The zero value, or nil, means the
// defaults written beside each field.
type AsyncOptions struct {
	// QueueSize bounds the records waiting to be written. Default: 8192.
	QueueSize int
	// OnFull is the policy when the queue is full, as for the Recorder:
	// activitylog.Block (default) waits up to BlockTimeout, then drops
	// the record and returns an error wrapping activitylog.ErrQueueFull;
	// activitylog.Drop drops it at once and returns nil;
	// activitylog.Fail refuses it at once with an error wrapping
	// activitylog.ErrQueueFull. Drops and refusals are counted and
	// reported.
	OnFull activitylog.FullPolicy
	// BlockTimeout is how long Block waits for room. Default: 1s.
	BlockTimeout time.Duration
	// LossInterval is the least time between two loss reports while
	// the queue stays busy; an idle queue reports at once. Default: 1s.
	LossInterval time.Duration
	// Now is the clock for loss reports. Default: time.Now.
	Now func() time.Time
}

// Stats are an Async's counters. Every record that Handle accepted is,
// in the end, either Written or Failed; Dropped and Refused records
// were never accepted.
type Stats struct {
	Accepted    uint64 `json:"accepted"`     // taken into the queue
	Written     uint64 `json:"written"`      // handled without error (loss reports excluded)
	Dropped     uint64 `json:"dropped"`      // not accepted: queue full under Drop or Block
	Refused     uint64 `json:"refused"`      // not accepted: queue full under Fail
	Failed      uint64 `json:"failed"`       // accepted but lost: the handler failed, or Shutdown's deadline passed
	LossReports uint64 `json:"loss_reports"` // audit_loss records written
	QueueDepth  int    `json:"queue_depth"`  // records waiting now
}

// Async is a slog.Handler that queues records and hands them to another
// handler from one background goroutine, so that a slow disk or
// collector does not slow the caller. The queue is bounded and behaves
// as the Recorder's does (AsyncOptions.OnFull), with the same counters
// (Stats).
//
// Nothing is lost silently: drops, refusals and failures since the last
// report are written to the wrapped handler as one record at
// slog.LevelError with category "audit_loss" (kind system, action
// security, as the Recorder's loss events), so a gap is visible in the
// log itself. Shutdown writes everything that was accepted.
//
// Records keep the values of the caller's context but not its
// cancellation: a cancelled request does not drop its record. Handlers
// derived by WithAttrs and WithGroup share the queue. Async is safe for
// concurrent use.
type Async struct {
	c *asyncCore
	h slog.Handler
}

type asyncCore struct {
	base slog.Handler // the handler given to NewAsync; loss reports go there
	opts AsyncOptions
	q    chan asyncItem

	mu       sync.RWMutex // held shared by Handle, exclusive by Shutdown to close q
	closed   bool
	stopOnce sync.Once
	stopping chan struct{} // closed when Shutdown starts
	abortMu  sync.Once
	abort    chan struct{} // closed when Shutdown's deadline passes
	done     chan struct{} // closed when the worker has finished

	accepted, written, dropped, refused, failed, lossReports, aborted atomic.Uint64

	// Loss accounting, read and written by the worker only.
	reported   [3]uint64
	lastReport time.Time // last report written
	lastTry    time.Time // last report attempted
}

type asyncItem struct {
	h   slog.Handler
	ctx context.Context
	r   slog.Record
}

var _ slog.Handler = (*Async)(nil)

// NewAsync starts an Async in front of h. opts may be nil. Call
// Shutdown to drain it.
func NewAsync(h slog.Handler, opts *AsyncOptions) *Async {
	var o AsyncOptions
	if opts != nil {
		o = *opts
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 8192
	}
	if o.BlockTimeout <= 0 {
		o.BlockTimeout = time.Second
	}
	if o.LossInterval <= 0 {
		o.LossInterval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &asyncCore{
		base:     h,
		opts:     o,
		q:        make(chan asyncItem, o.QueueSize),
		stopping: make(chan struct{}),
		abort:    make(chan struct{}),
		done:     make(chan struct{}),
	}
	go c.run()
	return &Async{c: c, h: h}
}

// Enabled reports whether the wrapped handler is enabled for l.
func (a *Async) Enabled(ctx context.Context, l slog.Level) bool { return a.h.Enabled(ctx, l) }

// WithAttrs returns an Async, on the same queue, whose records carry
// attrs.
func (a *Async) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return a
	}
	return &Async{c: a.c, h: a.h.WithAttrs(attrs)}
}

// WithGroup returns an Async, on the same queue, that puts the
// attributes that follow under name.
func (a *Async) WithGroup(name string) slog.Handler {
	if name == "" {
		return a
	}
	return &Async{c: a.c, h: a.h.WithGroup(name)}
}

// Handle queues r under the full-queue policy. It returns nil once r is
// queued (or dropped under Drop), an error wrapping
// activitylog.ErrQueueFull as the policy says, or one wrapping
// activitylog.ErrClosed after Shutdown. Errors of the wrapped handler
// are not returned: they are counted as Failed and reported.
func (a *Async) Handle(ctx context.Context, r slog.Record) error {
	c := a.c
	it := asyncItem{h: a.h, ctx: context.WithoutCancel(ctx), r: r.Clone()}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return fmt.Errorf("log record: %w", activitylog.ErrClosed)
	}
	select {
	case c.q <- it:
		c.accepted.Add(1)
		return nil
	default:
	}
	switch c.opts.OnFull {
	case activitylog.Drop:
		c.dropped.Add(1)
		return nil
	case activitylog.Fail:
		c.refused.Add(1)
		return fmt.Errorf("log record: %w", activitylog.ErrQueueFull)
	}
	t := time.NewTimer(c.opts.BlockTimeout)
	defer t.Stop()
	select {
	case c.q <- it:
		c.accepted.Add(1)
		return nil
	case <-c.stopping:
		return fmt.Errorf("log record: %w", activitylog.ErrClosed)
	case <-t.C:
	case <-ctx.Done():
	}
	c.dropped.Add(1)
	return fmt.Errorf("log record: waited %s: %w", c.opts.BlockTimeout, activitylog.ErrQueueFull)
}

// Shutdown stops accepting records, writes every queued one, writes a
// last loss report if anything was lost, and returns. If ctx ends
// first, the records not yet written are counted as failed (and
// reported), and Shutdown returns an error that says how many; a write
// already under way is waited for. Shutdown does not close the wrapped
// handler: close Files after it.
func (a *Async) Shutdown(ctx context.Context) error {
	c := a.c
	c.stopOnce.Do(func() {
		close(c.stopping)
		c.mu.Lock()
		c.closed = true
		close(c.q)
		c.mu.Unlock()
	})
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
	}
	c.abortMu.Do(func() { close(c.abort) })
	<-c.done
	if n := c.aborted.Load(); n > 0 {
		return fmt.Errorf("shut down async handler: %d accepted records were not written: %w", n, ctx.Err())
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (a *Async) Stats() Stats {
	c := a.c
	return Stats{
		Accepted:    c.accepted.Load(),
		Written:     c.written.Load(),
		Dropped:     c.dropped.Load(),
		Refused:     c.refused.Load(),
		Failed:      c.failed.Load(),
		LossReports: c.lossReports.Load(),
		QueueDepth:  len(c.q),
	}
}

// run is the worker: it writes queued records in order until Shutdown
// closes the queue.
func (c *asyncCore) run() {
	defer close(c.done)
	for it := range c.q {
		select {
		case <-c.abort:
			c.failed.Add(1)
			c.aborted.Add(1)
			continue
		default:
		}
		if err := it.h.Handle(it.ctx, it.r); err != nil {
			c.failed.Add(1)
		} else {
			c.written.Add(1)
		}
		c.maybeReport(len(c.q) == 0)
	}
	c.maybeReport(true)
}

func (c *asyncCore) losses() [3]uint64 {
	return [3]uint64{c.dropped.Load(), c.refused.Load(), c.failed.Load()}
}

// maybeReport writes a loss report when something was lost since the
// last one, and the queue is idle or LossInterval has passed.
func (c *asyncCore) maybeReport(idle bool) {
	now := c.losses()
	if now == c.reported {
		return
	}
	t := c.opts.Now()
	if !idle && t.Sub(c.lastTry) < c.opts.LossInterval {
		return
	}
	c.lastTry = t
	d := [3]uint64{now[0] - c.reported[0], now[1] - c.reported[1], now[2] - c.reported[2]}
	extra := []any{
		slog.Uint64("dropped", d[0]), slog.Uint64("refused", d[1]), slog.Uint64("failed", d[2]),
		slog.Uint64("total_dropped", now[0]), slog.Uint64("total_refused", now[1]), slog.Uint64("total_failed", now[2]),
	}
	if !c.lastReport.IsZero() {
		extra = append(extra, slog.Time("since", c.lastReport))
	}
	r := slog.NewRecord(t, slog.LevelError, "audit events lost: "+strconv.FormatUint(d[0], 10)+" dropped, "+
		strconv.FormatUint(d[1], 10)+" refused, "+strconv.FormatUint(d[2], 10)+" failed", 0)
	r.AddAttrs(
		slog.String("kind", string(activitylog.KindSystem)),
		slog.String("action", "security"),
		slog.String("severity", string(activitylog.SeverityError)),
		slog.Group("actor", slog.String("id", "activitylog"), slog.String("type", string(activitylog.ActorSystem))),
		slog.String("category", "audit_loss"),
		slog.Group("extra", extra...),
	)
	// Handle is called whatever the handler's level: a gap must show.
	if err := c.base.Handle(context.Background(), r); err != nil {
		return // not reported: the totals report it again next time
	}
	c.reported = now
	c.lastReport = t
	c.lossReports.Add(1)
}
