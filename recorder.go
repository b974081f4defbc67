package activitylog

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Mode says when Record returns.
type Mode int

const (
	// Async: Record returns once the event is queued. The default.
	Async Mode = iota
	// Sync: Record returns once a Writer has committed the event, or
	// with the error that kept it from being committed.
	Sync
)

// FullPolicy says what Record does when the queue is full.
type FullPolicy int

const (
	// Block waits for room up to Options.BlockTimeout, then drops the
	// event as Drop does and returns an error wrapping ErrQueueFull.
	// The default.
	Block FullPolicy = iota
	// Drop drops the event at once and returns nil. Every drop is
	// counted, and the count is recorded later as a system event
	// (category "audit_loss"), so a gap is visible, never silent.
	Drop
	// Fail refuses the event at once with an error wrapping
	// ErrQueueFull: fail-closed, for services that must not act
	// unaudited. Refusals are counted and reported like drops. Use
	// Recorder.Reserve to learn before acting whether an event can be
	// recorded.
	Fail
)

// Options configures a Recorder. The zero value, or nil, means the
// defaults written beside each field.
type Options struct {
	// Service is set on events that name none. Default: "".
	Service string
	// Mode is Async (default) or Sync.
	Mode Mode
	// QueueSize bounds the events waiting to be written. Default: 8192.
	QueueSize int
	// OnFull is the policy when the queue is full. Default: Block.
	OnFull FullPolicy
	// BlockTimeout is how long Block waits for room. Default: 1s.
	BlockTimeout time.Duration
	// BatchSize is the most events handed to the Writer at once.
	// Default: 500.
	BatchSize int
	// FlushInterval is the longest an event waits for its batch to
	// fill. Default: 200ms. In Sync mode a batch is written as soon as
	// the queue is empty.
	FlushInterval time.Duration
	// WriteTimeout bounds one write attempt. Default: 10s.
	WriteTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between write attempts,
	// which doubles from RetryMin up to RetryMax, with jitter.
	// Defaults: 100ms and 10s.
	RetryMin, RetryMax time.Duration
	// MaxRetries is how often a failing batch is retried before its
	// events are counted as failed and reported lost. Default: 0,
	// meaning retry until Shutdown's deadline. A Writer's refusal (an
	// error wrapping ErrInvalid) is never retried: see Recorder.
	MaxRetries int
	// DisabledKinds are not recorded. Record returns nil for them and
	// counts them as filtered. Default: none.
	DisabledKinds []Kind
	// Filter, when set, is called with each event after enrichment; an
	// event for which it returns false is not recorded (and counted as
	// filtered). It runs in the caller's goroutine.
	Filter func(ctx context.Context, e *Event) bool
	// Redact configures redaction, which runs on every event before it
	// reaches a Writer. Default: DefaultSensitiveKeys with DefaultMask,
	// card and IBAN numbers masked.
	Redact *RedactOptions
	// Enrichers fill in fields of each event in the batcher goroutine,
	// off the caller's path, before redaction: a GeoIP lookup, say
	// (geoip.Reader). They run in order on every event of a batch,
	// loss reports included. Default: none.
	Enrichers []Enricher
	// Trace returns the trace and span ids of ctx. Default: the ids set
	// by WithTrace. Use otelaudit.Trace for OpenTelemetry spans.
	Trace func(ctx context.Context) (traceID, spanID string)
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Logger receives the Recorder's own errors (a failing writer),
	// each message at most 5 times at once and then once per 10s, with
	// the count held back. Default: slog.Default().
	Logger *slog.Logger
	// Spill is the last resort for a batch that failed for good: its
	// retries spent (MaxRetries) or Shutdown's deadline passed. The
	// batch is handed to Spill, within WriteTimeout, and the events it
	// takes are counted in Stats.Spilled instead of Failed, and are not
	// reported lost. A spool.Spool fits: spool.Fallback replays it into
	// the store on the next start. A refused batch (ErrInvalid) is
	// never spilled. Default: nil, such events are failed.
	Spill Writer
}

// Stats are the Recorder's counters. Every event that Record accepted
// is, in the end, either Written or Failed; Dropped and Refused events
// were never accepted.
type Stats struct {
	Recorded   uint64        `json:"recorded"`    // accepted by Record
	Written    uint64        `json:"written"`     // committed by the Writer (loss reports included)
	Dropped    uint64        `json:"dropped"`     // not accepted: queue full under Drop or Block
	Refused    uint64        `json:"refused"`     // not accepted: queue full under Fail
	Failed     uint64        `json:"failed"`      // accepted but lost: the Writer never took them, or refused them
	Spilled    uint64        `json:"spilled"`     // accepted, not taken by the Writer, taken by Options.Spill
	Filtered   uint64        `json:"filtered"`    // left out by DisabledKinds or Filter
	Retries    uint64        `json:"retries"`     // write attempts that were retries
	Batches    uint64        `json:"batches"`     // batches committed
	QueueDepth int           `json:"queue_depth"` // events waiting now
	LastBatch  time.Duration `json:"last_batch_latency_ns"`
	MaxBatch   time.Duration `json:"max_batch_latency_ns"`
	AvgBatch   time.Duration `json:"avg_batch_latency_ns"`
	LossEvents uint64        `json:"loss_events"` // audit_loss system events emitted
	// ByKind holds the counters above by event kind, every kind
	// present.
	ByKind map[Kind]KindStats `json:"by_kind"`
	// WriteLatency is the time of each committed Write, retries
	// included, in seconds; BatchSize its number of events.
	WriteLatency Histogram `json:"write_latency_seconds"`
	BatchSize    Histogram `json:"batch_size"`
}

type item struct {
	ev    Event
	group []Event    // set by Commit: events written in one Write, never split
	done  chan error // Sync mode and Commit only
}

func (it *item) size() int {
	if it.group != nil {
		return len(it.group)
	}
	return 1
}

// Recorder is the one way events enter the trail. Record enriches,
// filters and validates an event in the caller's goroutine and queues
// it; one background goroutine batches the queue, redacts each event,
// and hands the batch to the Writer, retrying with capped backoff.
// Shutdown drains the queue. A Recorder is safe for concurrent use.
//
// # Refused events
//
// A Writer may refuse a batch with an error wrapping ErrInvalid (a
// *FieldError) when it cannot hold an event faithfully: a time outside
// the store's range, an event larger than a broker's max payload. That
// error would come back on every retry, so it is not retried. Instead
// the batch is bisected: each half is written on its own (with the
// usual retries for other errors), and a refused half is split again,
// down to the single Record'ed event, or the single Commit, whose events
// are written together or refused together. A refused event is counted
// in Stats.Failed, reported by the next audit_loss event, and logged
// with its id and the Writer's error, never its content; every other
// event of the batch is stored. A refused audit_loss event is reported
// again by the next one. An error that joins a refusal with another
// failure (a MultiWriter whose other store is down) is retried whole.
type Recorder struct {
	w        Writer
	opts     Options
	redactor *Redactor
	ids      *idGen
	buf      []Event // the batcher's reusable write buffer
	disabled [len(kindOrder)]bool

	q        chan item
	pending  atomic.Int64 // events queued or in flight to the queue, plus reservations
	closed   atomic.Bool
	stop     chan struct{}
	flushReq chan chan struct{}
	done     chan struct{}

	abortCtx    context.Context // cancelled when Shutdown's deadline passes
	abortCancel context.CancelFunc
	stopOnce    sync.Once

	recorded, written, dropped, refused, failed, filtered, retries, batches, lossEvents, spilled atomic.Uint64
	lastBatch, maxBatch, sumBatch                                                                atomic.Int64
	kinds                                                                                        [len(kindOrder)]kindCounters
	latency, batchSize                                                                           *histogram
	log                                                                                          *logLimiter // the Recorder's own errors, rate-limited

	// Loss accounting, read by the batcher only.
	reportedDropped, reportedRefused, reportedFailed uint64
	prevReported                                     [3]uint64
	lossSince                                        time.Time
	shutdownErr                                      error
}

var kindOrder = [...]Kind{KindCRUD, KindAuth, KindRequest, KindCORS, KindExternal, KindSystem, KindExport, KindCustom}

func kindIndex(k Kind) int {
	switch k {
	case KindCRUD:
		return 0
	case KindAuth:
		return 1
	case KindRequest:
		return 2
	case KindCORS:
		return 3
	case KindExternal:
		return 4
	case KindSystem:
		return 5
	case KindExport:
		return 6
	case KindCustom:
		return 7
	}
	return -1
}

// NewRecorder starts a Recorder that writes to w. To write to several
// stores, pass MultiWriter(a, b). Options may be nil. Call Shutdown to
// drain it.
func NewRecorder(w Writer, opts *Options) *Recorder {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 8192
	}
	if o.BlockTimeout <= 0 {
		o.BlockTimeout = time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
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
	if o.Trace == nil {
		o.Trace = TraceFrom
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &Recorder{
		w:         w,
		opts:      o,
		redactor:  NewRedactor(o.Redact),
		ids:       &idGen{used: len(idGen{}.pool)},
		q:         make(chan item, o.QueueSize),
		stop:      make(chan struct{}),
		flushReq:  make(chan chan struct{}),
		done:      make(chan struct{}),
		latency:   newHistogram(WriteLatencyBounds),
		batchSize: newHistogram(BatchSizeBounds),
		log:       newLogLimiter(o.Logger, time.Now),
	}
	for _, k := range o.DisabledKinds {
		if i := kindIndex(k); i >= 0 {
			r.disabled[i] = true
		}
	}
	r.abortCtx, r.abortCancel = context.WithCancel(context.Background())
	go r.run()
	return r
}

// Record enriches e from ctx, validates it and queues it for writing.
//
// Enrichment fills only what e leaves empty: ID (a new UUIDv7), Time
// (now, UTC), Service, the actor (WithActor), the tenant (WithTenant),
// the request context (WithRequest, WithRequestID), the trace and span
// ids (Options.Trace), Severity (from kind and action) and Actor.Type
// (user when the actor has an id, else anonymous).
//
// Record returns nil once the event is accepted (Async) or committed
// (Sync); an error wrapping ErrInvalid (a *FieldError) for an event
// that fails Validate; ErrQueueFull as the full-queue policy says; or
// ErrClosed after Shutdown. In Sync mode it returns the write's error
// when the event was not stored: an error wrapping ErrInvalid when the
// Writer refused this event (the other events of its batch are stored,
// and their Records return nil), or the Writer's last error when the batch
// failed for good. In Sync mode a ctx that ends before the commit
// returns ctx's error, but the accepted event is still written.
func (r *Recorder) Record(ctx context.Context, e Event) error {
	if err := r.prepare(ctx, &e); err != nil {
		return err
	}
	if r.skip(ctx, &e) {
		return nil
	}
	return r.enqueue(ctx, &e, false)
}

func (r *Recorder) skip(ctx context.Context, e *Event) bool {
	if r.disabled[kindIndex(e.Kind)] || (r.opts.Filter != nil && !r.filter(ctx, e)) {
		r.filtered.Add(1)
		return true
	}
	return false
}

// filter runs Options.Filter on a copy, so that only recorders with a
// filter pay for the event escaping to the heap. An event the filter
// changed into an invalid one is dropped as filtered rather than stored.
func (r *Recorder) filter(ctx context.Context, e *Event) bool {
	c := *e
	if !r.opts.Filter(ctx, &c) {
		return false
	}
	if c.Validate() != nil {
		r.log.Error("activitylog: filter made an event invalid; not recorded", "kind", c.Kind, "action", c.Action)
		return false
	}
	*e = c
	return true
}

// prepare enriches and validates e.
func (r *Recorder) prepare(ctx context.Context, e *Event) error {
	now := r.opts.Now()
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC()
	if e.ID.IsZero() {
		e.ID = r.ids.next(now.UnixMilli())
	}
	if e.Service == "" {
		e.Service = r.opts.Service
	}
	if e.Actor.ID == "" && e.Actor.Name == "" && e.Actor.Email == "" && e.Actor.Type == "" {
		e.Actor = ActorFrom(ctx)
	}
	if e.Actor.Type == "" {
		if e.Actor.ID != "" || e.Actor.Name != "" || e.Actor.Email != "" {
			e.Actor.Type = ActorUser
		} else {
			e.Actor.Type = ActorAnonymous
		}
	}
	if e.Tenant == "" {
		e.Tenant = TenantFrom(ctx)
	}
	enrichRequest(ctx, &e.Request)
	if e.Request.TraceID == "" {
		e.Request.TraceID, e.Request.SpanID = r.opts.Trace(ctx)
	}
	if e.Severity == "" {
		e.Severity = defaultSeverity(e)
	}
	if !e.Kind.Valid() {
		return invalid("kind", string(e.Kind), "must be one of crud, auth, request, cors, external, system, export, custom")
	}
	return e.Validate()
}

func enrichRequest(ctx context.Context, req *Request) {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && req.RequestID == "" {
		req.RequestID = id
	}
	rc := RequestFrom(ctx)
	if rc == nil {
		return
	}
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&req.RequestID, rc.RequestID)
	fill(&req.TraceID, rc.TraceID)
	fill(&req.SpanID, rc.SpanID)
	if req.Method == "" && req.Path == "" {
		req.Method, req.Host, req.Path, req.Route, req.Query = rc.Method, rc.Host, rc.Path, rc.Route, rc.Query
	}
	fill(&req.RemoteIP, rc.RemoteIP)
	fill(&req.UserAgent, rc.UserAgent)
	fill(&req.Browser, rc.Browser)
	fill(&req.Platform, rc.Platform)
	fill(&req.OS, rc.OS)
	fill(&req.Device, rc.Device)
	fill(&req.Origin, rc.Origin)
	fill(&req.Referer, rc.Referer)
	if req.Geo == (Geo{}) {
		req.Geo = rc.Geo
	}
}

func defaultSeverity(e *Event) Severity {
	switch e.Kind {
	case KindSystem:
		switch e.Action {
		case "error":
			return SeverityError
		case "warning", "security":
			return SeverityWarning
		}
	case KindAuth:
		switch e.Action {
		case "login_failed", "blocked":
			return SeverityWarning
		}
	}
	switch s := e.Response.Status; {
	case s >= 500:
		return SeverityError
	case s >= 400:
		return SeverityWarning
	}
	return SeverityInfo
}

// enqueue puts e on the queue under the full-queue policy. reserved
// means a Reservation already holds its slot.
func (r *Recorder) enqueue(ctx context.Context, e *Event, reserved bool) error {
	if !reserved {
		if r.pending.Add(1) > int64(r.opts.QueueSize) {
			return r.full(ctx, e)
		}
	}
	if r.closed.Load() {
		r.pending.Add(-1)
		return ErrClosed
	}
	var done chan error
	if r.opts.Mode == Sync {
		done = make(chan error, 1)
	}
	r.q <- item{ev: *e, done: done} // never blocks: pending <= QueueSize
	r.recorded.Add(1)
	r.countKind(e.Kind, recordedOf, 1)
	return r.wait(ctx, done)
}

// full handles a Record that found the queue full. pending already
// counts it.
func (r *Recorder) full(ctx context.Context, e *Event) error {
	switch r.opts.OnFull {
	case Drop:
		r.pending.Add(-1)
		r.dropped.Add(1)
		r.countKind(e.Kind, droppedOf, 1)
		return nil
	case Fail:
		r.pending.Add(-1)
		r.refused.Add(1)
		r.countKind(e.Kind, refusedOf, 1)
		return fmt.Errorf("record %s event: %w", e.Kind, ErrQueueFull)
	}
	// Block: wait for the batcher to make room.
	if r.closed.Load() {
		r.pending.Add(-1)
		return ErrClosed
	}
	it := item{ev: *e}
	if r.opts.Mode == Sync {
		it.done = make(chan error, 1)
	}
	t := time.NewTimer(r.opts.BlockTimeout)
	defer t.Stop()
	select {
	case r.q <- it:
		r.recorded.Add(1)
		r.countKind(e.Kind, recordedOf, 1)
		return r.wait(ctx, it.done)
	case <-t.C:
	case <-ctx.Done():
	}
	r.pending.Add(-1)
	r.dropped.Add(1)
	r.countKind(e.Kind, droppedOf, 1)
	return fmt.Errorf("record %s event: waited %s: %w", e.Kind, r.opts.BlockTimeout, ErrQueueFull)
}

func (r *Recorder) wait(ctx context.Context, done chan error) error {
	if done == nil {
		return nil
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("wait for audit commit: %w", ctx.Err())
	}
}

// Reservation is a queue slot held for one event, so that a fail-closed
// caller can learn before it acts that its audit record will be taken.
// Call exactly one of Record or Release.
type Reservation struct {
	r    *Recorder
	used atomic.Bool
}

// Reserve takes a queue slot for one event, or returns an error
// wrapping ErrQueueFull (counted as refused) or ErrClosed.
func (r *Recorder) Reserve() (*Reservation, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if r.pending.Add(1) > int64(r.opts.QueueSize) {
		r.pending.Add(-1)
		r.refused.Add(1)
		return nil, fmt.Errorf("reserve audit slot: %w", ErrQueueFull)
	}
	return &Reservation{r: r}, nil
}

// Record records e in the reserved slot. It never meets a full queue. It
// still returns ErrInvalid for an invalid event (and frees the slot), or
// ErrClosed if the Recorder was shut down meanwhile.
func (v *Reservation) Record(ctx context.Context, e Event) error {
	if v.used.Swap(true) {
		return errors.New("record reserved event: reservation already used")
	}
	r := v.r
	if err := r.prepare(ctx, &e); err != nil {
		r.pending.Add(-1)
		return err
	}
	if r.skip(ctx, &e) {
		r.pending.Add(-1)
		return nil
	}
	return r.enqueue(ctx, &e, true)
}

// Release frees an unused slot. It is a no-op after Record.
func (v *Reservation) Release() {
	if !v.used.Swap(true) {
		v.r.pending.Add(-1)
	}
}

// Commit records events as one unit: it enriches and validates every
// event first, and refuses them all if any is invalid (the
// *FieldError's field is prefixed with the event's index, as in
// "events[3].kind"); it then queues them together, and the Writer gets
// them in one Write call, so they are stored all or none. Commit waits
// for that write whatever the Mode, and returns its error. If the
// Writer refuses any of them (an error wrapping ErrInvalid), none is
// stored, Commit returns that error, and they are counted failed; the
// other events batched with them are stored (see Recorder). When the
// queue lacks room for all of them it refuses them all with
// ErrQueueFull, counted as refused. It serves ingestion from other
// processes, which must learn that their events are stored.
func (r *Recorder) Commit(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	if len(events) > r.opts.QueueSize {
		return invalid("events", strconv.Itoa(len(events))+" events", "is more than the queue size "+strconv.Itoa(r.opts.QueueSize))
	}
	group := make([]Event, 0, len(events))
	for i := range events {
		e := events[i]
		if err := r.prepare(ctx, &e); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return &FieldError{Field: "events[" + strconv.Itoa(i) + "]." + fe.Field, Value: fe.Value, Reason: fe.Reason}
			}
			return err
		}
		if !r.skip(ctx, &e) {
			group = append(group, e)
		}
	}
	if len(group) == 0 {
		return nil
	}
	if r.closed.Load() {
		return ErrClosed
	}
	n := int64(len(group))
	if r.pending.Add(n) > int64(r.opts.QueueSize) {
		r.pending.Add(-n)
		r.refused.Add(uint64(n))
		r.countKinds(group, refusedOf)
		return fmt.Errorf("commit %d events: %w", n, ErrQueueFull)
	}
	if r.closed.Load() {
		r.pending.Add(-n)
		return ErrClosed
	}
	// A group takes one channel slot but n pending slots, so the
	// channel always has room.
	it := item{group: group, done: make(chan error, 1)}
	r.q <- it
	r.recorded.Add(uint64(n))
	r.countKinds(group, recordedOf)
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("wait for audit commit: %w", ctx.Err())
	}
}

// Flush writes every event queued before the call and returns when they
// are committed (or counted failed), or when ctx ends.
func (r *Recorder) Flush(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case r.flushReq <- reply:
	case <-r.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown stops accepting events, writes every queued event and
// returns. If ctx ends first, writing is abandoned: the events not yet
// written go to Options.Spill when there is one (Stats.Spilled counts
// them), else they are counted as failed and Shutdown returns an error
// that says how many. Shutdown does not close the Writer.
func (r *Recorder) Shutdown(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.closed.Store(true)
		close(r.stop)
	})
	select {
	case <-r.done:
		return r.shutdownErr
	case <-ctx.Done():
		r.abortCancel()
		<-r.done
		if r.shutdownErr != nil {
			return r.shutdownErr
		}
		return fmt.Errorf("shut down recorder: %w", ctx.Err())
	}
}

// Stats returns a snapshot of the counters.
func (r *Recorder) Stats() Stats {
	s := Stats{
		Recorded:     r.recorded.Load(),
		Written:      r.written.Load(),
		Dropped:      r.dropped.Load(),
		Refused:      r.refused.Load(),
		Failed:       r.failed.Load(),
		Spilled:      r.spilled.Load(),
		Filtered:     r.filtered.Load(),
		Retries:      r.retries.Load(),
		Batches:      r.batches.Load(),
		QueueDepth:   int(r.pending.Load()),
		LastBatch:    time.Duration(r.lastBatch.Load()),
		MaxBatch:     time.Duration(r.maxBatch.Load()),
		LossEvents:   r.lossEvents.Load(),
		ByKind:       r.kindStats(),
		WriteLatency: r.latency.snapshot(),
		BatchSize:    r.batchSize.snapshot(),
	}
	if s.Batches > 0 {
		s.AvgBatch = time.Duration(r.sumBatch.Load() / int64(s.Batches))
	}
	return s
}

// Var returns the counters as an expvar.Var, for
// expvar.Publish("activitylog", rec.Var()).
func (r *Recorder) Var() expvar.Var { return expvar.Func(func() any { return r.Stats() }) }

// run is the batcher: it collects queued events into batches and writes
// them, until Shutdown. A batch is written when it is full, when the
// ticker fires, when a Sync caller waits on it and the queue is empty,
// on Flush, and at shutdown.
func (r *Recorder) run() {
	defer close(r.done)
	b := &batcher{r: r, batch: make([]item, 0, r.opts.BatchSize)}
	tick := time.NewTicker(r.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case it := <-r.q:
			b.take(it)
			sync := it.done != nil // Sync mode or Commit: write once the queue is empty
			b.takeWaiting()
			if sync || b.full() {
				b.flush()
			}
		case <-tick.C:
			if len(b.batch) > 0 || r.lossPending() {
				b.flush()
			}
		case reply := <-r.flushReq:
			b.takeWaiting()
			b.flush()
			close(reply)
		case <-r.stop:
			b.drain()
			return
		}
	}
}

type batcher struct {
	r      *Recorder
	batch  []item
	events int // events in batch; a group counts its members
}

func (b *batcher) take(it item) {
	n := it.size()
	b.r.pending.Add(-int64(n))
	if it.group != nil && b.events+n > b.r.opts.BatchSize {
		b.flush() // a group is never split across two writes
	}
	b.batch = append(b.batch, it)
	b.events += n
	if b.full() {
		b.flush()
	}
}

func (b *batcher) full() bool { return b.events >= b.r.opts.BatchSize }

// takeWaiting takes every queued event without blocking.
func (b *batcher) takeWaiting() {
	for {
		select {
		case it := <-b.r.q:
			b.take(it)
		default:
			return
		}
	}
}

func (b *batcher) flush() {
	b.r.writeBatch(b.batch, b.events)
	// The slice is reused as it is: clearing it costs more than the
	// references it keeps alive until the next batch overwrites them.
	b.batch = b.batch[:0]
	b.events = 0
}

// drain writes everything queued, waiting for Records that counted
// themselves into pending but have not sent yet.
func (b *batcher) drain() {
	r := b.r
	for {
		b.takeWaiting()
		if r.pending.Load() <= 0 {
			break
		}
		select {
		case it := <-r.q:
			b.take(it)
		case <-time.After(time.Millisecond):
		}
	}
	b.flush()
	if f := r.failed.Load(); f > 0 && r.abortCtx.Err() != nil {
		r.shutdownErr = fmt.Errorf("shut down recorder: %d accepted events were not written: %w", f, ErrUnavailable)
	}
}

func (r *Recorder) lossPending() bool {
	return r.dropped.Load() != r.reportedDropped || r.refused.Load() != r.reportedRefused || r.failed.Load() != r.reportedFailed
}

// CategoryAuditLoss is the category of the system event by which a
// Recorder reports the events it dropped, refused or failed to write
// (their counts in Extra); integrity.Writer checkpoints every batch that
// holds one.
const CategoryAuditLoss = "audit_loss"

// lossEvent returns the system event that reports drops, refusals and
// failures since the last report, and true, or false when there are
// none.
func (r *Recorder) lossEvent() (Event, bool) {
	d, f, x := r.dropped.Load(), r.refused.Load(), r.failed.Load()
	if d == r.reportedDropped && f == r.reportedRefused && x == r.reportedFailed {
		return Event{}, false
	}
	r.prevReported = [3]uint64{r.reportedDropped, r.reportedRefused, r.reportedFailed}
	now := r.opts.Now().UTC()
	dd, df, dx := d-r.reportedDropped, f-r.reportedRefused, x-r.reportedFailed
	r.reportedDropped, r.reportedRefused, r.reportedFailed = d, f, x
	since := r.lossSince
	r.lossSince = now
	e := Event{
		ID:       r.ids.next(now.UnixMilli()),
		Time:     now,
		Kind:     KindSystem,
		Action:   "security",
		Severity: SeverityError,
		Service:  r.opts.Service,
		Actor:    Actor{ID: "activitylog", Type: ActorSystem},
		Category: CategoryAuditLoss,
		Message: "audit events lost: " + strconv.FormatUint(dd, 10) + " dropped, " +
			strconv.FormatUint(df, 10) + " refused, " + strconv.FormatUint(dx, 10) + " failed",
		Extra: map[string]any{
			"dropped":       float64(dd),
			"refused":       float64(df),
			"failed":        float64(dx),
			"total_dropped": float64(d),
			"total_refused": float64(f),
			"total_failed":  float64(x),
		},
	}
	if !since.IsZero() {
		e.Extra["since"] = since.Format(time.RFC3339Nano)
	}
	return e, true
}

// writeBatch redacts and writes one batch. A failure is retried with
// backoff until the batch is committed, MaxRetries is spent, or
// Shutdown's deadline passes. A refusal (see refusal) is not retried:
// the batch is split, and isolate writes what the Writer takes.
func (r *Recorder) writeBatch(batch []item, n int) {
	loss, hasLoss := r.lossEvent()
	if n == 0 && !hasLoss {
		return
	}
	// The buffer is reused: Writers must not retain the slice.
	events := r.buf[:0]
	if cap(events) < n+1 {
		events = make([]Event, 0, n+1)
	}
	defer func() { r.buf = events[:0] }()
	for i := range batch {
		if g := batch[i].group; g != nil {
			for _, e := range g {
				r.enrich(&e)
				r.redactor.Event(&e)
				events = append(events, e)
			}
			continue
		}
		e := batch[i].ev
		r.enrich(&e)
		r.redactor.Event(&e)
		events = append(events, e)
	}
	if hasLoss {
		events = append(events, loss)
	}
	start := time.Now()
	err := r.write(events)
	switch {
	case err == nil:
		r.committed(len(events), hasLoss, start)
		r.countKinds(events, writtenOf)
	case refusal(err):
		r.writeRefused(batch, events, hasLoss, err, start)
		return
	case r.spill(events[:n], err):
		// Not written but kept: the spill took the batch's events; a
		// loss report with them was not stored, and is made again.
		err = nil
		if hasLoss {
			r.lossLost()
		}
	default:
		// Lost: count the accepted events. A lost loss report is
		// reported again by the next one, through the totals.
		r.failed.Add(uint64(n))
		r.countKinds(events[:n], failedOf)
		if hasLoss {
			r.lossLost()
		}
		err = fmt.Errorf("write audit batch: %w", err)
	}
	for i := range batch {
		if batch[i].done != nil {
			batch[i].done <- err
		}
	}
}

// write hands events to the Writer. It retries a failure with backoff
// until MaxRetries is spent or Shutdown's deadline passes, but returns a
// refusal at once: the same events would be refused again.
func (r *Recorder) write(events []Event) error {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(r.abortCtx, r.opts.WriteTimeout)
		err := r.w.Write(ctx, events)
		cancel()
		if err == nil || refusal(err) {
			return err
		}
		if attempt&(attempt+1) == 0 { // attempts 1, 2, 4, 8, …
			r.log.Error("activitylog: write batch", "events", len(events), "attempt", attempt+1, "err", err)
		}
		if (r.opts.MaxRetries > 0 && attempt >= r.opts.MaxRetries) || r.abortCtx.Err() != nil {
			return err
		}
		r.retries.Add(1)
		select {
		case <-time.After(r.backoff(attempt)):
		case <-r.abortCtx.Done():
		}
	}
}

// spill hands events, which the Writer failed to take with err, to
// Options.Spill, and reports whether it took them.
func (r *Recorder) spill(events []Event, err error) bool {
	if r.opts.Spill == nil || len(events) == 0 {
		return false
	}
	// The abort context has ended when Shutdown's deadline passed: the
	// spill gets a context of its own, bounded by WriteTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.WriteTimeout)
	defer cancel()
	if serr := r.opts.Spill.Write(ctx, events); serr != nil {
		r.log.Error("activitylog: spill failed too; events lost", "events", len(events), "write_err", err, "err", serr)
		return false
	}
	r.spilled.Add(uint64(len(events)))
	r.log.Error("activitylog: writer failed; batch spilled", "events", len(events), "err", err)
	return true
}

// refusal reports whether err is a Writer refusing what it was given
// (an error wrapping ErrInvalid, such as a *FieldError) and nothing
// else. An error that joins a refusal with another failure, as a
// MultiWriter's does when one store refuses and another is down, is not
// a refusal: the batch is retried whole, as for any failure.
func refusal(err error) bool {
	if !errors.Is(err, ErrInvalid) {
		return false
	}
	for err != nil {
		switch x := err.(type) {
		case interface{ Unwrap() []error }:
			errs := x.Unwrap()
			for _, e := range errs {
				if !refusal(e) {
					return false
				}
			}
			return len(errs) > 0
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		default:
			return errors.Is(err, ErrInvalid)
		}
	}
	return false
}

// writeRefused finishes a batch whose write was refused. The batch's
// units are its items (a Record'ed event, or a Commit's events, which
// stay together) and the loss report; isolate finds those the Writer
// refuses. Each refused unit is logged by id, never by content, and its
// events are counted failed; a refused loss report is reported again by
// the next one; the rest are stored. Each waiting caller learns its own
// unit's outcome.
func (r *Recorder) writeRefused(batch []item, events []Event, hasLoss bool, err error, start time.Time) {
	units := len(batch)
	if hasLoss {
		units++
	}
	bounds := make([]int, units+1) // unit k is events[bounds[k]:bounds[k+1]]
	for i := range batch {
		bounds[i+1] = bounds[i] + batch[i].size()
	}
	bounds[units] = len(events)
	errs := make([]error, units)
	r.isolate(events, bounds, 0, units, err, errs)

	var stored, failed int
	lossStored := hasLoss
	for k, err := range errs {
		es := events[bounds[k]:bounds[k+1]]
		if err == nil {
			stored += len(es)
			r.countKinds(es, writtenOf)
			continue
		}
		if hasLoss && k == units-1 {
			lossStored = false
			r.lossLost()
			if refusal(err) {
				r.log.Error("activitylog: writer refused the audit_loss report; it is reported again with the next batch", "id", es[0].ID.String(), "err", err)
			}
			continue
		}
		failed += len(es)
		r.countKinds(es, failedOf)
		if !refusal(err) {
			continue // logged by write
		}
		if len(es) == 1 {
			r.log.Error("activitylog: writer refused event; not stored", "id", es[0].ID.String(), "err", err)
		} else {
			r.log.Error("activitylog: writer refused committed events; none stored", "events", len(es), "first_id", es[0].ID.String(), "last_id", es[len(es)-1].ID.String(), "err", err)
		}
	}
	r.failed.Add(uint64(failed))
	if stored > 0 {
		r.committed(stored, lossStored, start)
	}
	for i := range batch {
		if batch[i].done == nil {
			continue
		}
		err := errs[i]
		if err != nil {
			if g := batch[i].group; g != nil {
				err = fmt.Errorf("write %d committed audit events: %w", len(g), err)
			} else {
				err = fmt.Errorf("write audit event %s: %w", events[bounds[i]].ID, err)
			}
		}
		batch[i].done <- err
	}
}

// isolate writes units lo to hi (events[bounds[lo]:bounds[hi]]), which
// the Writer refused as a whole with err, by bisection: each half is
// written with the usual retries, and a half that is refused is split
// again, down to the single unit, which is then refused for good. A
// half that fails otherwise (MaxRetries spent, Shutdown's deadline) is
// lost whole. It sets errs[k] for every unit k that was not stored. For
// r refused units among n, it costs about 2r·log₂(n) writes; when every
// unit is refused, 2n−1.
func (r *Recorder) isolate(events []Event, bounds []int, lo, hi int, err error, errs []error) {
	if hi-lo == 1 {
		errs[lo] = err
		return
	}
	mid := lo + (hi-lo)/2
	for _, h := range [2][2]int{{lo, mid}, {mid, hi}} {
		err := r.write(events[bounds[h[0]]:bounds[h[1]]])
		switch {
		case err == nil:
		case refusal(err):
			r.isolate(events, bounds, h[0], h[1], err, errs)
		default:
			for k := h[0]; k < h[1]; k++ {
				errs[k] = err
			}
		}
	}
}

// committed counts a batch of which n events were stored.
func (r *Recorder) committed(n int, loss bool, start time.Time) {
	r.written.Add(uint64(n))
	r.batches.Add(1)
	if loss {
		r.lossEvents.Add(1)
	}
	lat := int64(time.Since(start))
	r.latency.observe(time.Duration(lat).Seconds())
	r.batchSize.observe(float64(n))
	r.lastBatch.Store(lat)
	r.sumBatch.Add(lat)
	if lat > r.maxBatch.Load() {
		r.maxBatch.Store(lat)
	}
}

// lossLost undoes the last lossEvent, whose report was not stored, so
// that the next report counts the same losses again.
func (r *Recorder) lossLost() {
	p := r.prevReported
	r.reportedDropped, r.reportedRefused, r.reportedFailed = p[0], p[1], p[2]
}

// enrich runs the Enrichers on e. An Enricher that panics is logged and
// skipped for that event: a bug in an enrichment must not cost the
// trail its events.
func (r *Recorder) enrich(e *Event) {
	for _, en := range r.opts.Enrichers {
		r.enrichOne(en, e)
	}
}

func (r *Recorder) enrichOne(en Enricher, e *Event) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("activitylog: enricher panicked; event written without its enrichment", "enricher", fmt.Sprintf("%T", en), "panic", fmt.Sprint(p))
		}
	}()
	c := *e
	en.Enrich(&c)
	*e = c
}

func (r *Recorder) backoff(attempt int) time.Duration {
	d := r.opts.RetryMin
	for i := 0; i < attempt && d < r.opts.RetryMax; i++ {
		d *= 2
	}
	if d > r.opts.RetryMax {
		d = r.opts.RetryMax
	}
	// Full jitter in [d/2, d].
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// MultiWriter returns a Writer that writes each batch to every w in
// turn. It fails if any fails; since Writers are idempotent by event
// id, the Recorder's retry of the whole batch is safe.
func MultiWriter(ws ...Writer) Writer { return multiWriter(ws) }

type multiWriter []Writer

func (m multiWriter) Write(ctx context.Context, events []Event) error {
	var errs []error
	for i, w := range m {
		if err := w.Write(ctx, events); err != nil {
			errs = append(errs, fmt.Errorf("writer %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
