package natsq

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	gojson "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// WorkerOptions configures a Worker. The zero value, or nil, means the
// defaults written beside each field.
type WorkerOptions struct {
	// Stream and Prefix name the stream the Publishers write to.
	// Defaults: "ACTIVITYLOG" and "activitylog".
	Stream, Prefix string
	// Consumer is the durable pull consumer's name. Every worker with
	// the same name shares its messages: each message goes to one of
	// them. Default: "activitylog-workers".
	Consumer string
	// BatchSize is the most events written to the store at once (a
	// packed message is never split: a batch holds at least one
	// message, and whole messages up to BatchSize events), and the most
	// messages the client pulls ahead. Default: 500.
	BatchSize int
	// Linger is how long a batch that is not full waits for more
	// messages before it is written. Default: 0, none: a batch is what
	// arrived while the previous one was being written, which makes
	// batches grow with the load by themselves.
	Linger time.Duration
	// AckWait is how long JetStream waits for an acknowledgement before
	// it delivers a message again. A worker that is still writing tells
	// JetStream so (in progress) every AckWait/3. Default: 30s.
	AckWait time.Duration
	// MaxAckPending bounds the messages delivered and not yet
	// acknowledged, across all workers; each worker holds up to about
	// 3 × BatchSize (the batch in hand, and those pulled ahead).
	// Default: 20 × BatchSize.
	MaxAckPending int
	// WriteTimeout bounds one write to the store. Default: 10s.
	WriteTimeout time.Duration
	// RetryMin and RetryMax bound the delay with which a batch the store
	// refused is delivered again, doubling from RetryMin to RetryMax.
	// Defaults: 500ms and 30s.
	RetryMin, RetryMax time.Duration
	// Logger receives store failures and refused messages. Default:
	// slog.Default().
	Logger *slog.Logger
}

func (o *WorkerOptions) withDefaults() (WorkerOptions, error) {
	var c WorkerOptions
	if o != nil {
		c = *o
	}
	c.Stream = or(c.Stream, DefaultStream)
	c.Prefix = or(c.Prefix, DefaultPrefix)
	c.Consumer = or(c.Consumer, DefaultConsumer)
	if err := checkName("stream", c.Stream); err != nil {
		return c, err
	}
	if err := checkName("consumer", c.Consumer); err != nil {
		return c, err
	}
	if err := checkPrefix("prefix", c.Prefix); err != nil {
		return c, err
	}
	if c.BatchSize < 0 || c.BatchSize > 10_000 {
		return c, activitylog.Invalid("batch_size", strconv.Itoa(c.BatchSize), "must be between 1 and 10000")
	}
	if c.MaxAckPending < 0 {
		return c, activitylog.Invalid("max_ack_pending", strconv.Itoa(c.MaxAckPending), "must not be negative")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"linger", c.Linger}, {"ack_wait", c.AckWait}, {"write_timeout", c.WriteTimeout}, {"retry_min", c.RetryMin}, {"retry_max", c.RetryMax}} {
		if d.v < 0 {
			return c, activitylog.Invalid(d.name, d.v.String(), "must not be negative")
		}
	}
	c.BatchSize = or(c.BatchSize, 500)
	c.AckWait = or(c.AckWait, 30*time.Second)
	c.MaxAckPending = or(c.MaxAckPending, 20*c.BatchSize)
	c.WriteTimeout = or(c.WriteTimeout, 10*time.Second)
	c.RetryMin = or(c.RetryMin, 500*time.Millisecond)
	c.RetryMax = or(c.RetryMax, 30*time.Second)
	if c.RetryMax < c.RetryMin {
		return c, activitylog.Invalid("retry_max", c.RetryMax.String(), "must not be less than retry_min "+c.RetryMin.String())
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// WorkerStats are a Worker's counters.
type WorkerStats struct {
	Fetched     uint64 `json:"fetched"`     // messages received
	Written     uint64 `json:"written"`     // events in batches the store committed, ingest_rejected reports included
	Acked       uint64 `json:"acked"`       // messages acknowledged after a commit
	Redelivered uint64 `json:"redelivered"` // messages received more than once
	Terminated  uint64 `json:"terminated"`  // messages that held no valid event, terminated
	Rejected    uint64 `json:"rejected"`    // events replaced by an ingest_rejected report
	Naked       uint64 `json:"naked"`       // messages handed back after a store error
	StoreErrors uint64 `json:"store_errors"`
}

// decodeEvent decodes and validates one message. It decodes with
// goccy/go-json, which takes half the CPU of encoding/json (decoding is
// most of a worker's work), after encoding/json's syntax check (goccy
// skips unknown fields more leniently), and falls back to encoding/json
// before it calls a message bad, so that it accepts and refuses exactly
// what encoding/json does. Tests and a fuzzer hold the two to the same
// result.
func decodeEvent(data []byte, e *activitylog.Event) error {
	if !json.Valid(data) {
		return json.Unmarshal(data, e) // the syntax error, as encoding/json words it
	}
	// goccy keeps invalid UTF-8 that encoding/json replaces by U+FFFD
	// (the Publisher never sends any; another publisher might).
	if utf8.Valid(data) && gojson.Unmarshal(data, e) == nil {
		if e.Validate() == nil {
			return nil
		}
	}
	*e = activitylog.Event{}
	if err := json.Unmarshal(data, e); err != nil {
		return err
	}
	return e.Validate()
}

// decodeChunk is the fewest messages worth a goroutine of their own.
const decodeChunk = 64

// CategoryIngestRejected is the category of the system event a Worker
// writes in place of a message that is not a valid event.
const CategoryIngestRejected = "ingest_rejected"

// Worker moves events from the stream to a store: it takes a batch
// from the shared durable consumer, writes it, and acknowledges every
// message only after the store committed. On a store error it hands
// the batch back with a growing delay, so JetStream delivers it again.
// Call Run once per Worker; for more throughput start more Workers (in
// this process or others): they share the consumer. Stats may be
// called at any time.
type Worker struct {
	js    jetstream.JetStream
	store activitylog.Writer
	opts  WorkerOptions
	fails int // store errors in a row; Run's goroutine only

	fetched, written, acked, redelivered, terminated, rejected, naked, storeErrors atomic.Uint64
}

// NewWorker returns a Worker that writes what it takes from js to
// store. opts may be nil. It does not talk to NATS until Run.
func NewWorker(js jetstream.JetStream, store activitylog.Writer, opts *WorkerOptions) (*Worker, error) {
	if js == nil {
		return nil, activitylog.Invalid("js", "nil", "is required")
	}
	if store == nil {
		return nil, activitylog.Invalid("store", "nil", "is required")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Worker{js: js, store: store, opts: o}, nil
}

// ConsumerConfig returns the configuration of the shared consumer.
func (w *Worker) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       w.opts.Consumer,
		Description:   "activitylog workers",
		FilterSubject: w.opts.Prefix + ".events.>",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.opts.AckWait,
		MaxDeliver:    -1, // never give up on an event: the store comes back
		MaxAckPending: w.opts.MaxAckPending,
	}
}

// Run takes batches until ctx ends, then finishes the batch in hand
// (bounded by WriteTimeout), hands back the messages it received and
// had not started on, and returns nil. While NATS or the stream is
// unavailable it waits and tries again; it returns an error only for a
// configuration JetStream refuses.
func (w *Worker) Run(ctx context.Context) error {
	fails := 0
	for ctx.Err() == nil {
		start := time.Now()
		err := w.session(ctx)
		if err == nil || ctx.Err() != nil {
			break
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code == 400 {
			return fmt.Errorf("run worker: %w", err)
		}
		if time.Since(start) > time.Minute {
			fails = 0 // it worked for a while: start the backoff again
		}
		if fails&(fails+1) == 0 { // 1st, 2nd, 4th, … failure in a row
			w.opts.Logger.Warn("natsq: worker waiting for nats", "attempt", fails+1, "err", err)
		}
		if !sleep(ctx, backoff(w.opts.RetryMin, w.opts.RetryMax, fails)) {
			break
		}
		fails = min(fails+1, 32)
	}
	return nil
}

// session consumes from the shared consumer until ctx ends (nil) or
// consuming stops (an error). The client library pulls ahead, up to
// BatchSize messages, while the store writes the batch in hand.
func (w *Worker) session(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	cons, err := w.js.CreateOrUpdateConsumer(cctx, w.opts.Stream, w.ConsumerConfig())
	cancel()
	if err != nil {
		return fmt.Errorf("create consumer %s on %s: %w", w.opts.Consumer, w.opts.Stream, err)
	}
	msgs := make(chan jetstream.Msg, w.opts.BatchSize)
	done := make(chan struct{})
	var lastErr atomic.Pointer[error] // the consumer's latest error, of any type
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-done:
			_ = m.Nak()
		}
	},
		jetstream.PullMaxMessages(w.opts.BatchSize),
		jetstream.PullExpiry(5*time.Second), // bounds a stalled pull; heartbeats every 2.5s
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { lastErr.Store(&err) }),
	)
	if err != nil {
		return fmt.Errorf("consume %s: %w", w.opts.Consumer, err)
	}
	defer func() {
		cc.Stop()
		close(done)
		// Hand back what was received and not started on, so another
		// worker takes it now rather than after AckWait.
		for {
			select {
			case m := <-msgs:
				_ = m.Nak()
			default:
				return
			}
		}
	}()
	batch := make([]jetstream.Msg, 0, w.opts.BatchSize)
	for {
		if ctx.Err() != nil { // before msgs, which may be ready too
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-cc.Closed():
			err := errors.New("consumer stopped")
			if p := lastErr.Load(); p != nil {
				err = *p
			}
			return fmt.Errorf("consume %s: %w", w.opts.Consumer, err)
		case m := <-msgs:
			batch = append(batch[:0], m)
		}
		batch = w.collect(batch, msgs)
		w.handle(ctx, batch)
	}
}

// collect adds to batch what msgs holds, waiting up to Linger for more
// while the batch holds fewer than BatchSize events.
func (w *Worker) collect(batch []jetstream.Msg, msgs <-chan jetstream.Msg) []jetstream.Msg {
	var linger <-chan time.Time
	n := 0
	for _, m := range batch {
		n += packCount(m.Headers())
	}
	for n < w.opts.BatchSize {
		select {
		case m := <-msgs:
			batch = append(batch, m)
			n += packCount(m.Headers())
			continue
		default:
		}
		if linger == nil {
			if w.opts.Linger <= 0 {
				return batch
			}
			t := time.NewTimer(w.opts.Linger)
			defer t.Stop()
			linger = t.C
		}
		select {
		case m := <-msgs:
			batch = append(batch, m)
			n += packCount(m.Headers())
		case <-linger:
			return batch
		}
	}
	return batch
}

// item is one event of a batch: a single-event message (line -1), or
// one line of a packed message. err, when set before decoding, is why
// it is not an event.
type item struct {
	msg  int // index in the batch's messages
	line int
	data []byte
	err  error
}

// split appends the events message i (headers h, body data) carries:
// the body when it is a single-event message, its lines when it is
// packed.
func split(items []item, i int, h nats.Header, data []byte) []item {
	v := h.Get(HeaderPack)
	if v == "" {
		return append(items, item{msg: i, line: -1, data: data})
	}
	if v != PackVersion {
		return append(items, item{msg: i, line: -1, data: data,
			err: fmt.Errorf("packed message of unknown format %s %q", HeaderPack, v)})
	}
	lines := splitPack(data)
	for k, l := range lines {
		items = append(items, item{msg: i, line: k, data: l})
	}
	if n := h.Get(HeaderEvents); n != strconv.Itoa(len(lines)) {
		// Truncated or corrupt: report it, besides storing what it holds.
		items = append(items, item{msg: i, line: len(lines), data: data,
			err: fmt.Errorf("packed message holds %d lines, its %s header says %q", len(lines), HeaderEvents, n)})
	}
	return items
}

// handle decodes msgs, writes their events to the store and
// acknowledges them, or hands them back after a store error.
func (w *Worker) handle(ctx context.Context, msgs []jetstream.Msg) {
	w.fetched.Add(uint64(len(msgs)))
	mds := make([]*jetstream.MsgMetadata, len(msgs))
	n := 0
	for _, m := range msgs {
		n += packCount(m.Headers())
	}
	items := make([]item, 0, n)
	for i, m := range msgs {
		mds[i], _ = m.Metadata()
		if mds[i] != nil && mds[i].NumDelivered > 1 {
			w.redelivered.Add(1)
		}
		items = split(items, i, m.Headers(), m.Data())
	}
	// events[j] is items[j]'s event, or the system event that reports
	// it when bad[j].
	events := make([]activitylog.Event, len(items))
	bad := make([]bool, len(items))
	// Decoding is most of a worker's CPU: spread a large batch over the
	// cores.
	decode := func(lo, hi int) {
		for j := lo; j < hi; j++ {
			if items[j].err == nil {
				items[j].err = decodeEvent(items[j].data, &events[j])
			}
		}
	}
	if p := min(runtime.GOMAXPROCS(0), len(items)/decodeChunk); p > 1 {
		var wg sync.WaitGroup
		per := (len(items) + p - 1) / p
		for lo := 0; lo < len(items); lo += per {
			wg.Go(func() { decode(lo, min(lo+per, len(items))) })
		}
		wg.Wait()
	} else {
		decode(0, len(items))
	}
	for j, it := range items {
		if it.err != nil {
			events[j], bad[j] = w.reject(msgs[it.msg], mds[it.msg], it, it.err), true
		}
	}

	// The write outlives ctx: a worker that is told to stop finishes the
	// batch in hand rather than leave it to AckWait.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.WriteTimeout)
	stopProgress := w.inProgress(wctx, msgs)
	err := w.store.Write(wctx, events)
	if errors.Is(err, activitylog.ErrInvalid) {
		err = w.isolate(wctx, msgs, mds, items, events, bad)
	}
	stopProgress()
	cancel()
	if err != nil {
		w.storeErrors.Add(1)
		delay := backoff(w.opts.RetryMin, w.opts.RetryMax, w.fails)
		w.fails = min(w.fails+1, 32)
		w.opts.Logger.Error("natsq: store write failed; batch handed back", "messages", len(msgs), "events", len(events), "redeliver_in", delay, "err", err)
		for _, m := range msgs {
			if m.NakWithDelay(delay) == nil {
				w.naked.Add(1)
			}
		}
		sleep(ctx, delay)
		return
	}
	w.fails = 0
	w.written.Add(uint64(len(events)))
	// A message all of whose events were bad is terminated; any other is
	// acknowledged, now that all of its events are committed.
	good := make([]bool, len(msgs))
	for j, it := range items {
		if bad[j] {
			w.rejected.Add(1)
		} else {
			good[it.msg] = true
		}
	}
	for i, m := range msgs {
		if !good[i] {
			if m.Term() == nil {
				w.terminated.Add(1)
			}
		} else if m.Ack() == nil {
			w.acked.Add(1)
		}
	}
}

// isolate writes the events of a batch the store refused as invalid one
// at a time, and replaces each event the store refuses by the system
// event that reports it, so one bad event does not hold the rest back
// forever. It returns the first error that is not ErrInvalid.
func (w *Worker) isolate(ctx context.Context, msgs []jetstream.Msg, mds []*jetstream.MsgMetadata, items []item, events []activitylog.Event, bad []bool) error {
	for j := range events {
		err := w.store.Write(ctx, events[j:j+1])
		if errors.Is(err, activitylog.ErrInvalid) && !bad[j] {
			it := items[j]
			events[j], bad[j] = w.reject(msgs[it.msg], mds[it.msg], it, err), true
			err = w.store.Write(ctx, events[j:j+1])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// inProgress tells JetStream every AckWait/3 that msgs are still being
// written, until the returned func is called.
func (w *Worker) inProgress(ctx context.Context, msgs []jetstream.Msg) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(w.opts.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress()
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// reject logs an event that is not valid (a message, or one line of a
// packed message) and returns the system event that takes its place in
// the store. Its id derives from the stream, the sequence and the line,
// so a redelivery writes the same event again.
func (w *Worker) reject(m jetstream.Msg, md *jetstream.MsgMetadata, it item, reason error) activitylog.Event {
	var seq uint64
	t := time.Now().UTC()
	if md != nil {
		seq = md.Sequence.Stream
		t = md.Timestamp.UTC()
	}
	what := "message " + strconv.FormatUint(seq, 10) + " of stream " + w.opts.Stream
	if it.line >= 0 {
		what = "event " + strconv.Itoa(it.line) + " of packed " + what
	}
	w.opts.Logger.Error("natsq: not a valid event; reported as ingest_rejected", "stream", w.opts.Stream, "seq", seq, "line", it.line, "subject", m.Subject(), "bytes", len(it.data), "err", reason)
	msg := what + " is not a valid event: " + reason.Error()
	if len(msg) > activitylog.MaxTextField {
		msg = msg[:activitylog.MaxTextField]
	}
	subject := m.Subject()
	if len(subject) > activitylog.MaxShortField {
		subject = subject[:activitylog.MaxShortField]
	}
	extra := map[string]any{
		"stream":   w.opts.Stream,
		"sequence": float64(seq),
		"subject":  subject,
		"bytes":    float64(len(it.data)),
	}
	if it.line >= 0 {
		extra["line"] = float64(it.line)
	}
	return activitylog.Event{
		ID:       derivedID(t, w.opts.Stream, seq, it.line),
		Time:     t,
		Kind:     activitylog.KindSystem,
		Action:   "error",
		Severity: activitylog.SeverityError,
		Actor:    activitylog.Actor{ID: "activitylog", Type: activitylog.ActorSystem},
		Category: CategoryIngestRejected,
		Message:  msg,
		Extra:    extra,
	}
}

// derivedID returns a version 7 UUID whose time is t and whose other
// bits come from a hash of stream, seq and, for a line of a packed
// message (line ≥ 0), line.
func derivedID(t time.Time, stream string, seq uint64, line int) activitylog.ID {
	key := stream + "\x00" + strconv.FormatUint(seq, 10)
	if line >= 0 {
		key += "\x00" + strconv.Itoa(line)
	}
	h := sha256.Sum256([]byte(key))
	var id activitylog.ID
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	copy(id[6:], h[:10])
	id[6] = 0x70 | id[6]&0x0f
	id[8] = 0x80 | id[8]&0x3f
	return id
}

// Stats returns a snapshot of the counters.
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{
		Fetched:     w.fetched.Load(),
		Written:     w.written.Load(),
		Acked:       w.acked.Load(),
		Redelivered: w.redelivered.Load(),
		Terminated:  w.terminated.Load(),
		Rejected:    w.rejected.Load(),
		Naked:       w.naked.Load(),
		StoreErrors: w.storeErrors.Load(),
	}
}

func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
