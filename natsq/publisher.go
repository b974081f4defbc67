package natsq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublisherOptions configures a Publisher. The zero value, or nil,
// means the defaults written beside each field.
type PublisherOptions struct {
	// Stream is the JetStream stream's name. Default: "ACTIVITYLOG".
	Stream string
	// Prefix starts every subject: events go to <Prefix>.events.<kind>.
	// Default: "activitylog".
	Prefix string
	// MaxAge bounds how long an unconsumed event stays in the stream.
	// Default: 0, kept until a worker acknowledged it. A limit drops
	// events that no worker took in time: set it only with that in mind.
	MaxAge time.Duration
	// MaxBytes bounds the stream's size; when it is reached, publishes
	// are refused (and go to Fallback). Default: 0, no limit but the
	// server's.
	MaxBytes int64
	// Duplicates is the window within which JetStream drops a message
	// whose Nats-Msg-Id (the event id) it has seen. Default: 2m.
	Duplicates time.Duration
	// Replicas is the stream's replica count in a cluster. Default: 1.
	Replicas int
	// Timeout bounds one Write: publishing the batch and receiving every
	// acknowledgement. Default: 2s.
	Timeout time.Duration
	// Fallback, when set, takes a batch that could not be published in
	// Timeout, and Write returns nil; the Publisher replays it into the
	// stream once NATS answers again. Default: none, Write returns an
	// error wrapping activitylog.ErrUnavailable and the Recorder retries.
	Fallback Spool
	// ReplayInterval is how often the Fallback is replayed while it may
	// hold events. Default: 5s.
	ReplayInterval time.Duration
	// MaxPending bounds the publishes awaiting acknowledgement across
	// concurrent Writes. Default: 4000.
	MaxPending int
	// MessageEvents is the most events packed into one message: the
	// events of one kind in a batch share messages of up to
	// MessageEvents events and MessageBytes bytes. 1 publishes each
	// event as a message of its own, the form Workers before packing
	// read. Default: 100.
	MessageEvents int
	// MessageBytes is the most bytes of JSON packed into one message,
	// never more than the server's max payload (less 512 bytes for the
	// headers). An event larger than that goes alone. Default: 256 KiB.
	MessageBytes int
	// Logger receives publish failures and replays. Default:
	// slog.Default().
	Logger *slog.Logger
}

func (o *PublisherOptions) withDefaults() (PublisherOptions, error) {
	var c PublisherOptions
	if o != nil {
		c = *o
	}
	c.Stream = or(c.Stream, DefaultStream)
	c.Prefix = or(c.Prefix, DefaultPrefix)
	if err := checkName("stream", c.Stream); err != nil {
		return c, err
	}
	if err := checkPrefix("prefix", c.Prefix); err != nil {
		return c, err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"max_age", c.MaxAge}, {"duplicates", c.Duplicates}, {"timeout", c.Timeout}, {"replay_interval", c.ReplayInterval}} {
		if d.v < 0 {
			return c, activitylog.Invalid(d.name, d.v.String(), "must not be negative")
		}
	}
	if c.MaxBytes < 0 {
		return c, activitylog.Invalid("max_bytes", strconv.FormatInt(c.MaxBytes, 10), "must not be negative")
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		return c, activitylog.Invalid("replicas", strconv.Itoa(c.Replicas), "must be between 1 and 5")
	}
	if c.MaxPending < 0 {
		return c, activitylog.Invalid("max_pending", strconv.Itoa(c.MaxPending), "must not be negative")
	}
	if c.MessageEvents < 0 || c.MessageEvents > 10_000 {
		return c, activitylog.Invalid("message_events", strconv.Itoa(c.MessageEvents), "must be between 1 and 10000")
	}
	if c.MessageBytes < 0 {
		return c, activitylog.Invalid("message_bytes", strconv.Itoa(c.MessageBytes), "must not be negative")
	}
	c.Duplicates = or(c.Duplicates, 2*time.Minute)
	c.Replicas = or(c.Replicas, 1)
	c.Timeout = or(c.Timeout, 2*time.Second)
	c.ReplayInterval = or(c.ReplayInterval, 5*time.Second)
	c.MaxPending = or(c.MaxPending, 4000)
	c.MessageEvents = or(c.MessageEvents, 100)
	c.MessageBytes = or(c.MessageBytes, 256<<10)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// PublisherStats are a Publisher's counters.
type PublisherStats struct {
	Published  uint64 `json:"published"`  // events JetStream acknowledged
	Duplicates uint64 `json:"duplicates"` // of those, acknowledged as duplicates of an earlier publish
	Spooled    uint64 `json:"spooled"`    // events handed to the Fallback
	Replayed   uint64 `json:"replayed"`   // events replayed from the Fallback into the stream
	Failed     uint64 `json:"failed"`     // events of Writes that returned an error
}

// Publisher is an activitylog.Writer that publishes events to a
// JetStream stream. Write returns nil once JetStream acknowledged every
// event of the batch, or once the Fallback took the batch. Its methods
// may be called from several goroutines at once.
type Publisher struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	opts   PublisherOptions
	ready  atomic.Bool // the stream is known to exist
	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once

	published, duplicates, spooled, replayed, failed atomic.Uint64
}

var _ activitylog.Writer = (*Publisher)(nil)

// NewPublisher makes sure the stream exists (creating it, or updating
// its limits) and returns a Publisher on nc. The Publisher does not own
// nc: close it after Close. opts may be nil.
//
// When the stream cannot be reached and opts.Fallback is set,
// NewPublisher still returns a Publisher, which spools until NATS
// answers, then creates the stream and replays. Without a Fallback it
// returns an error wrapping activitylog.ErrUnavailable.
func NewPublisher(ctx context.Context, nc *nats.Conn, opts *PublisherOptions) (*Publisher, error) {
	if nc == nil {
		return nil, activitylog.Invalid("nc", "nil", "is required")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncTimeout(o.Timeout),
		jetstream.WithPublishAsyncMaxPending(o.MaxPending),
	)
	if err != nil {
		return nil, fmt.Errorf("open jetstream: %w", err)
	}
	p := &Publisher{
		nc: nc, js: js, opts: o,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if err := p.ensureStream(ctx); err != nil {
		if o.Fallback == nil || !errors.Is(err, activitylog.ErrUnavailable) {
			return nil, err
		}
		o.Logger.Warn("natsq: stream unavailable; spooling until it is back", "stream", o.Stream, "err", err)
	}
	go p.loop()
	return p, nil
}

// StreamConfig returns the configuration NewPublisher gives the stream.
func (p *Publisher) StreamConfig() jetstream.StreamConfig { return streamConfig(p.opts) }

func streamConfig(o PublisherOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        o.Stream,
		Description: "activitylog events awaiting a store",
		Subjects:    []string{o.Prefix + ".events.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardNew,
		Storage:     jetstream.FileStorage,
		MaxAge:      o.MaxAge,
		MaxBytes:    or(o.MaxBytes, -1),
		MaxMsgs:     -1,
		Duplicates:  o.Duplicates,
		Replicas:    o.Replicas,
	}
}

func (p *Publisher) ensureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	if _, err := p.js.CreateOrUpdateStream(ctx, streamConfig(p.opts)); err != nil {
		return unavailable("create stream "+p.opts.Stream, err)
	}
	p.ready.Store(true)
	return nil
}

// Write publishes events, packed by kind into messages of up to
// MessageEvents events (see the package documentation, "Messages"), and
// waits up to Timeout for every acknowledgement. When
// one fails or is late, the whole batch goes to the Fallback, or, with
// none, Write returns an error wrapping activitylog.ErrUnavailable. A
// batch with an event that JSON cannot hold (a NaN or a func in an
// any-typed field), or that is larger than the server's max payload, is
// refused whole, before anything is published, with an
// *activitylog.FieldError naming the event, as the stores refuse it.
// Retrying the batch is safe: it packs into the same messages, which
// the stream drops within its duplicate window; past it, or packed
// otherwise (a spool replays in its own batches), the events are
// stored once all the same, since stores are idempotent by event id.
func (p *Publisher) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	err := p.publish(ctx, events)
	if err == nil {
		return nil
	}
	if p.opts.Fallback == nil || errors.Is(err, activitylog.ErrInvalid) {
		p.failed.Add(uint64(len(events)))
		return err
	}
	if serr := p.opts.Fallback.Write(context.WithoutCancel(ctx), events); serr != nil {
		p.failed.Add(uint64(len(events)))
		return fmt.Errorf("spool %d events: %w", len(events), errors.Join(err, serr))
	}
	p.spooled.Add(uint64(len(events)))
	p.opts.Logger.Warn("natsq: publish failed; batch spooled", "events", len(events), "err", err)
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return nil
}

// publish publishes events and waits for every acknowledgement, up to
// Timeout, without the Fallback.
func (p *Publisher) publish(ctx context.Context, events []activitylog.Event) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	if !p.nc.IsConnected() {
		return fmt.Errorf("publish %d events: %w: %w", len(events), activitylog.ErrUnavailable, nats.ErrDisconnected)
	}
	if !p.ready.Load() {
		if err := p.ensureStream(ctx); err != nil {
			return fmt.Errorf("publish %d events: %w", len(events), err)
		}
	}
	// Encode and pack every event first, so that one that cannot be
	// published refuses the batch before any of it is published.
	msgs, err := packMessages(events, p.opts.Prefix, packLimits{
		events: p.opts.MessageEvents, bytes: p.opts.MessageBytes, maxPayload: p.nc.MaxPayload(),
	})
	if err != nil {
		return err
	}
	fail := func(err error) error {
		return fmt.Errorf("publish %d events: %w: %w", len(events), activitylog.ErrUnavailable, err)
	}
	futures := make([]jetstream.PubAckFuture, 0, len(events))
	for i := range msgs {
		f, err := p.js.PublishMsgAsync(&msgs[i].msg)
		if err != nil {
			return fail(err)
		}
		futures = append(futures, f)
	}
	dups := 0
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				dups += msgs[i].events
			}
		case err := <-f.Err():
			if errors.Is(err, jetstream.ErrNoStreamResponse) {
				p.ready.Store(false) // the stream may be gone: make sure of it next time
			}
			return fail(err)
		case <-ctx.Done():
			return fail(fmt.Errorf("wait for %d acknowledgements: %w", len(futures), ctx.Err()))
		}
	}
	p.published.Add(uint64(len(events)))
	p.duplicates.Add(uint64(dups))
	return nil
}

// replayWriter publishes replayed batches without the Fallback, so a
// failed replay leaves them in the spool.
type replayWriter struct{ p *Publisher }

func (w replayWriter) Write(ctx context.Context, events []activitylog.Event) error {
	return w.p.publish(ctx, events)
}

// loop replays the Fallback into the stream: at start, after each
// spooled batch, and every ReplayInterval while it may hold events.
func (p *Publisher) loop() {
	defer close(p.done)
	if p.opts.Fallback == nil {
		<-p.stop
		return
	}
	t := time.NewTicker(p.opts.ReplayInterval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.stop
		cancel()
	}()
	pending := true // a spool from an earlier run may hold events
	for {
		if pending && p.nc.IsConnected() {
			n, err := p.opts.Fallback.Replay(ctx, replayWriter{p})
			p.replayed.Add(uint64(n))
			if n > 0 {
				p.opts.Logger.Info("natsq: replayed spooled events", "events", n)
			}
			pending = err != nil
			if err != nil && ctx.Err() == nil {
				p.opts.Logger.Warn("natsq: replay spool", "replayed", n, "err", err)
			}
		}
		select {
		case <-p.stop:
			return
		case <-p.kick:
			pending = true
			// Let NATS come back before trying: wait for the tick.
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		case <-t.C:
		}
	}
}

// Replay replays the Fallback into the stream now and returns how many
// events it replayed. The background loop does the same on its own.
func (p *Publisher) Replay(ctx context.Context) (int, error) {
	if p.opts.Fallback == nil {
		return 0, nil
	}
	n, err := p.opts.Fallback.Replay(ctx, replayWriter{p})
	p.replayed.Add(uint64(n))
	return n, err
}

// Stats returns a snapshot of the counters.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{
		Published:  p.published.Load(),
		Duplicates: p.duplicates.Load(),
		Spooled:    p.spooled.Load(),
		Replayed:   p.replayed.Load(),
		Failed:     p.failed.Load(),
	}
}

// Close stops the replay loop. What the Fallback still holds stays
// there for the next Publisher on the same spool. It does not close the
// connection.
func (p *Publisher) Close() error {
	p.closed.Do(func() { close(p.stop) })
	<-p.done
	return nil
}
