package multi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
)

var _ activitylog.Writer = (*Writer)(nil)

// Policy says when Write succeeds.
type Policy int

const (
	// All: Write succeeds only when every target committed the batch.
	// The default, and the fail-closed rule: a batch that a target
	// lacks is reported to the caller, which retries it.
	All Policy = iota
	// Any: Write succeeds once one target committed the batch (or a
	// Spill writer took it for a target whose queue was full); the
	// other targets keep it in their queues and retry until they
	// commit it.
	Any
)

func (p Policy) String() string {
	switch p {
	case All:
		return "all"
	case Any:
		return "any"
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// Target is one destination of a Writer.
type Target struct {
	// Name identifies the target in errors, logs and Stats. Required,
	// unique.
	Name string
	// Writer is the target's Writer. Required.
	Writer activitylog.Writer
	// Spill overrides Options.Spill for this target: for example a
	// spool.Spool of its own, replayed into Writer later.
	Spill activitylog.Writer
}

// Options configures a Writer. The zero value, or nil, means the
// defaults written beside each field.
type Options struct {
	// Policy is All (default) or Any.
	Policy Policy
	// QueueSize is the batches each target may hold waiting under Any.
	// Default: 64.
	QueueSize int
	// RetryMin and RetryMax bound a target's backoff between attempts
	// under Any: it doubles from RetryMin up to RetryMax, with jitter.
	// Defaults: 100ms and 10s.
	RetryMin, RetryMax time.Duration
	// Timeout bounds one write attempt to one target. Default: 10s.
	Timeout time.Duration
	// Spill, when set, takes a target's batch that does not fit in its
	// full queue, and what is left in the queues when Close gives up.
	// When nil, such a batch is dropped for that target, counted in
	// TargetStats.Dropped (or Lost, at Close) and logged. Target.Spill
	// overrides it.
	Spill activitylog.Writer
	// Logger receives drops, spills and failing targets. Default:
	// slog.Default().
	Logger *slog.Logger
}

// TargetStats are one target's counters. Events count events, not
// batches, unless the name says batches.
type TargetStats struct {
	Queued    int    `json:"queued"`    // batches waiting or being written now
	Batches   uint64 `json:"batches"`   // batches committed
	Written   uint64 `json:"written"`   // events committed
	Retries   uint64 `json:"retries"`   // attempts that were retries
	Failures  uint64 `json:"failures"`  // attempts that failed
	Dropped   uint64 `json:"dropped"`   // events dropped: queue full, no Spill (or Spill failed)
	Spilled   uint64 `json:"spilled"`   // events handed to Spill
	Lost      uint64 `json:"lost"`      // events left in the queue when Close gave up, not spilled
	Abandoned uint64 `json:"abandoned"` // events withdrawn because no target committed them in time (the caller retries)
	LastError string `json:"last_error,omitempty"`
}

// Writer writes every batch to several targets. It is safe for
// concurrent use.
type Writer struct {
	opts    Options
	targets []*target

	mu     sync.RWMutex // Write holds it shared while queueing; Close exclusively
	closed bool

	abort     context.Context // cancelled when Close gives up
	abortStop context.CancelFunc
	wg        sync.WaitGroup
}

type target struct {
	name  string
	w     activitylog.Writer
	spill activitylog.Writer
	q     chan *job

	queued                                                                 atomic.Int64
	batches, written, retries, failures, dropped, spilled, lost, abandoned atomic.Uint64

	errMu   sync.Mutex
	lastErr error
}

func (t *target) setErr(err error) {
	t.errMu.Lock()
	t.lastErr = err
	t.errMu.Unlock()
}

// New returns a Writer over targets. It starts one goroutine per target
// under Any; call Close to stop them. Options may be nil.
func New(targets []Target, opts *Options) (*Writer, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if len(targets) == 0 {
		return nil, activitylog.Invalid("targets", "0 targets", "must name at least one target")
	}
	if o.Policy != All && o.Policy != Any {
		return nil, activitylog.Invalid("Policy", strconv.Itoa(int(o.Policy)), "must be All or Any")
	}
	if o.QueueSize < 0 {
		return nil, activitylog.Invalid("QueueSize", strconv.Itoa(o.QueueSize), "must not be negative")
	}
	if o.QueueSize == 0 {
		o.QueueSize = 64
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = o.RetryMin
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	w := &Writer{opts: o}
	w.abort, w.abortStop = context.WithCancel(context.Background())
	seen := map[string]bool{}
	for i, tg := range targets {
		field := "targets[" + strconv.Itoa(i) + "]"
		if tg.Name == "" {
			return nil, activitylog.Invalid(field+".Name", "", "is required")
		}
		if seen[tg.Name] {
			return nil, activitylog.Invalid(field+".Name", tg.Name, "is used by another target")
		}
		seen[tg.Name] = true
		if tg.Writer == nil {
			return nil, activitylog.Invalid(field+".Writer", "nil", "is required")
		}
		t := &target{name: tg.Name, w: tg.Writer, spill: tg.Spill}
		if t.spill == nil {
			t.spill = o.Spill
		}
		w.targets = append(w.targets, t)
	}
	if o.Policy == Any {
		for _, t := range w.targets {
			t.q = make(chan *job, o.QueueSize)
			w.wg.Add(1)
			go w.run(t)
		}
	}
	return w, nil
}

// job is one batch under Any, shared by every target's queue.
type job struct {
	events []activitylog.Event // a copy, from eventPool
	n      int                 // targets
	refs   atomic.Int32        // holders of events: Write until it has queued, and each queue

	mu        sync.Mutex
	state     int // pending, committed, abandoned
	finished  int // targets that gave up on it (dropped, refused as invalid)
	errs      []error
	committed chan struct{} // closed on the first commit
	failed    chan struct{} // closed when every target gave up
}

const (
	pending = iota
	committed
	abandoned
)

// eventPool recycles the batch copies that Any queues, which are large
// (an Event is about 700 bytes): a 500-event batch would otherwise
// allocate a third of a megabyte per Write for the collector.
var eventPool sync.Pool

func newJob(events []activitylog.Event, n int) *job {
	var buf []activitylog.Event
	if p, ok := eventPool.Get().(*[]activitylog.Event); ok && cap(*p) >= len(events) {
		buf = (*p)[:0]
	}
	j := &job{
		events:    append(buf, events...),
		n:         n,
		errs:      make([]error, n),
		committed: make(chan struct{}),
		failed:    make(chan struct{}),
	}
	j.refs.Store(1)
	return j
}

// release drops one holder's reference; the last returns the copy to
// the pool. Like the Recorder's buffer, the slice keeps its old events
// until the next batch overwrites them.
func (j *job) release() {
	if j.refs.Add(-1) == 0 {
		b := j.events
		j.events = nil
		eventPool.Put(&b)
	}
}

func (j *job) commit() {
	j.mu.Lock()
	if j.state == pending {
		j.state = committed
		close(j.committed)
	}
	j.mu.Unlock()
}

// giveUp records that target i will not commit j.
func (j *job) giveUp(i int, err error) {
	j.mu.Lock()
	j.errs[i] = err
	j.finished++
	if j.finished == j.n && j.state == pending {
		close(j.failed)
	}
	j.mu.Unlock()
}

func (j *job) setErr(i int, err error) {
	j.mu.Lock()
	j.errs[i] = err
	j.mu.Unlock()
}

func (j *job) isAbandoned() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state == abandoned
}

// Write writes events to every target.
//
// Under All, it writes to every target at once, one attempt each
// bounded by Timeout and ctx, and returns nil when all committed;
// otherwise an error naming each failed target with its error (wrapping
// activitylog.ErrInvalid when every failure did). It does not retry: the
// caller (the Recorder) retries the whole batch, and the targets that
// already hold it ignore it, since Writers are idempotent by event id.
//
// Under Any, it puts the batch on every target's queue and returns nil
// as soon as one target committed it, or a Spill writer took it for a
// target whose queue was full; the other targets keep it and retry with
// backoff until they commit it or Close gives up. A target whose queue
// is full spills the batch or drops it (counted). If no target commits
// before ctx ends, or every target gave up on the batch, Write withdraws
// it from the queues (it was committed nowhere) and returns an error
// naming each target; the caller retries.
//
// Write copies the slice, not the events: their maps must not change
// afterwards (the Recorder never changes them). After Close it returns
// an error wrapping activitylog.ErrClosed.
func (w *Writer) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	if w.opts.Policy == All {
		return w.writeAll(ctx, events)
	}
	return w.writeAny(ctx, events)
}

func (w *Writer) writeAll(ctx context.Context, events []activitylog.Event) error {
	w.mu.RLock()
	closed := w.closed
	w.mu.RUnlock()
	if closed {
		return fmt.Errorf("write multi: %w", activitylog.ErrClosed)
	}
	errs := make([]error, len(w.targets))
	attempt := func(i int) {
		t := w.targets[i]
		t.queued.Add(1)
		defer t.queued.Add(-1)
		errs[i] = w.attempt(ctx, t, events)
	}
	if len(w.targets) == 1 {
		attempt(0)
	} else {
		var wg sync.WaitGroup
		for i := 1; i < len(w.targets); i++ {
			wg.Go(func() { attempt(i) })
		}
		attempt(0)
		wg.Wait()
	}
	return w.joinErrs("write all targets", errs)
}

// attempt makes one write of events to t and counts it.
func (w *Writer) attempt(ctx context.Context, t *target, events []activitylog.Event) error {
	actx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	err := t.w.Write(actx, events)
	cancel()
	if err != nil {
		t.failures.Add(1)
		t.setErr(err)
		return err
	}
	t.batches.Add(1)
	t.written.Add(uint64(len(events)))
	return nil
}

// joinErrs names each target that failed. The result wraps ErrInvalid
// when every failure did, else ErrUnavailable.
func (w *Writer) joinErrs(what string, errs []error) error {
	var parts []string
	var wrapped []error
	allInvalid := true
	for i, err := range errs {
		if err == nil {
			continue
		}
		parts = append(parts, w.targets[i].name+": "+err.Error())
		wrapped = append(wrapped, err)
		if !errors.Is(err, activitylog.ErrInvalid) {
			allInvalid = false
		}
	}
	if len(parts) == 0 {
		return nil
	}
	cat := activitylog.ErrUnavailable
	if allInvalid {
		cat = activitylog.ErrInvalid
	}
	return &targetsError{msg: what + ": " + strconv.Itoa(len(parts)) + " of " + strconv.Itoa(len(errs)) +
		" failed: " + strings.Join(parts, "; "), errs: append(wrapped, cat)}
}

// targetsError keeps each target's error for errors.Is and errors.As.
type targetsError struct {
	msg  string
	errs []error
}

func (e *targetsError) Error() string   { return e.msg }
func (e *targetsError) Unwrap() []error { return e.errs }

func (w *Writer) writeAny(ctx context.Context, events []activitylog.Event) error {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return fmt.Errorf("write multi: %w", activitylog.ErrClosed)
	}
	j := newJob(events, len(w.targets))
	for i, t := range w.targets {
		j.refs.Add(1)
		select {
		case t.q <- j:
			t.queued.Add(1)
		default:
			j.refs.Add(-1)
			w.overflow(ctx, t, i, j)
		}
	}
	w.mu.RUnlock()
	j.release()
	select {
	case <-j.committed:
		return nil
	case <-j.failed:
	case <-ctx.Done():
	}
	j.mu.Lock()
	if j.state == committed {
		j.mu.Unlock()
		return nil
	}
	j.state = abandoned
	errs := make([]error, len(j.errs))
	for i, err := range j.errs {
		if err == nil {
			err = fmt.Errorf("not committed before the deadline: %w", ctx.Err())
		}
		errs[i] = err
	}
	j.mu.Unlock()
	return w.joinErrs("write any target", errs)
}

// overflow handles a batch that does not fit in t's queue: it goes to
// the Spill writer, or is dropped and counted.
func (w *Writer) overflow(ctx context.Context, t *target, i int, j *job) {
	n := uint64(len(j.events))
	if t.spill != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Timeout)
		err := t.spill.Write(sctx, j.events)
		cancel()
		if err == nil {
			t.spilled.Add(n)
			j.commit()
			j.giveUp(i, errors.New("queue full; spilled"))
			return
		}
		t.setErr(err)
		w.opts.Logger.Error("activitylog: multi target queue full and spill failed; batch dropped for this target",
			"target", t.name, "events", n, "err", err)
		t.dropped.Add(n)
		j.giveUp(i, fmt.Errorf("queue full (%d batches), spill failed: %w: %w", w.opts.QueueSize, err, activitylog.ErrQueueFull))
		return
	}
	d := t.dropped.Add(n)
	if prev := d - n; prev == 0 || bitsLen(prev) != bitsLen(d) { // log at 1, 2, 4, 8, … dropped events
		w.opts.Logger.Error("activitylog: multi target queue full; batch dropped for this target",
			"target", t.name, "events", n, "total_dropped", d)
	}
	err := fmt.Errorf("queue full (%d batches); dropped: %w", w.opts.QueueSize, activitylog.ErrQueueFull)
	t.setErr(err)
	j.giveUp(i, err)
}

func bitsLen(x uint64) int {
	n := 0
	for ; x > 0; x >>= 1 {
		n++
	}
	return n
}

// run is t's goroutine under Any: it writes each queued batch, retrying
// until it is committed, withdrawn, or Close gives up.
func (w *Writer) run(t *target) {
	defer w.wg.Done()
	idx := 0
	for i, x := range w.targets {
		if x == t {
			idx = i
		}
	}
	for j := range t.q {
		w.deliver(t, idx, j)
		j.release()
		t.queued.Add(-1)
	}
}

func (w *Writer) deliver(t *target, i int, j *job) {
	for attempt := 0; ; attempt++ {
		if j.isAbandoned() {
			t.abandoned.Add(uint64(len(j.events)))
			return
		}
		if w.abort.Err() != nil {
			w.leftOver(t, j)
			return
		}
		err := w.attempt(w.abort, t, j.events)
		if err == nil {
			j.commit()
			return
		}
		if w.abort.Err() != nil {
			w.leftOver(t, j)
			return
		}
		if errors.Is(err, activitylog.ErrInvalid) {
			// Retrying cannot help: the caller learns of it.
			w.opts.Logger.Error("activitylog: multi target refused batch as invalid", "target", t.name, "events", len(j.events), "err", err)
			j.giveUp(i, err)
			return
		}
		j.setErr(i, err)
		if attempt&(attempt+1) == 0 {
			w.opts.Logger.Error("activitylog: multi target write failed; retrying", "target", t.name, "events", len(j.events), "attempt", attempt+1, "err", err)
		}
		t.retries.Add(1)
		timer := time.NewTimer(w.backoff(attempt))
		select {
		case <-timer.C:
		case <-w.abort.Done():
			timer.Stop()
		}
	}
}

// leftOver handles a batch t still holds when Close gave up: spilled,
// or counted lost.
func (w *Writer) leftOver(t *target, j *job) {
	n := uint64(len(j.events))
	if j.isAbandoned() {
		t.abandoned.Add(n)
		return
	}
	if t.spill != nil {
		ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
		err := t.spill.Write(ctx, j.events)
		cancel()
		if err == nil {
			t.spilled.Add(n)
			return
		}
		t.setErr(err)
	}
	t.lost.Add(n)
}

func (w *Writer) backoff(attempt int) time.Duration {
	d := w.opts.RetryMin
	for i := 0; i < attempt && d < w.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, w.opts.RetryMax)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Stats returns each target's counters, by name.
func (w *Writer) Stats() map[string]TargetStats {
	m := make(map[string]TargetStats, len(w.targets))
	for _, t := range w.targets {
		s := TargetStats{
			Queued:    int(t.queued.Load()),
			Batches:   t.batches.Load(),
			Written:   t.written.Load(),
			Retries:   t.retries.Load(),
			Failures:  t.failures.Load(),
			Dropped:   t.dropped.Load(),
			Spilled:   t.spilled.Load(),
			Lost:      t.lost.Load(),
			Abandoned: t.abandoned.Load(),
		}
		t.errMu.Lock()
		if t.lastErr != nil {
			s.LastError = t.lastErr.Error()
		}
		t.errMu.Unlock()
		m[t.name] = s
	}
	return m
}

// Close stops accepting batches and lets every target write what its
// queue holds, retrying, until ctx ends. Then it gives up: in-flight
// attempts are cancelled, and each batch a target still holds goes to
// its Spill writer, or is counted in TargetStats.Lost. Close returns
// nil when every queue drained, else an error with the counts per
// target. It does not close the targets.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	before := w.Stats()
	for _, t := range w.targets {
		if t.q != nil {
			close(t.q)
		}
	}
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		w.abortStop()
		<-done
	}
	w.abortStop()
	var parts []string
	for name, s := range w.Stats() {
		spilled := s.Spilled - before[name].Spilled
		if s.Lost > 0 || (spilled > 0 && ctx.Err() != nil) {
			parts = append(parts, fmt.Sprintf("%s: %d events spilled, %d lost", name, spilled, s.Lost))
		}
	}
	if len(parts) > 0 {
		slices.Sort(parts)
		return fmt.Errorf("close multi writer: queues not drained before %v: %s: %w",
			ctx.Err(), strings.Join(parts, "; "), activitylog.ErrUnavailable)
	}
	return nil
}
