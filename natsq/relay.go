package natsq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/activitylog/activitylog"
	"github.com/nats-io/nats.go"
)

// RelayOptions configures a Relay. The zero value, or nil, means the
// defaults written beside each field.
type RelayOptions struct {
	// Prefix starts the live subject, <Prefix>.live. Default:
	// "activitylog".
	Prefix string
	// Logger receives publish failures and undecodable messages.
	// Default: slog.Default().
	Logger *slog.Logger
}

// RelayStats are a Relay's counters.
type RelayStats struct {
	Published uint64 `json:"published"` // events sent to the live subject
	Received  uint64 `json:"received"`  // events handed to the sink
	Lost      uint64 `json:"lost"`      // events not sent, or lines not decoded
	Dropped   uint64 `json:"dropped"`   // messages NATS dropped because the sink was too slow
}

// Relay fans committed events out to every replica over the core NATS
// subject <Prefix>.live: Wrap a store's Writer on the processes that
// commit (the workers), and Subscribe a sink on every process that
// serves live streams, such as a server.Broadcaster's Write:
//
//	b := server.NewBroadcaster(discard, nil) // discard: a Writer that does nothing
//	relay.Subscribe(func(ev []activitylog.Event) { b.Write(context.Background(), ev) })
//
// Delivery is at most once, as core NATS gives it: a replica that is
// disconnected, or too slow, misses events; the store holds them all.
// A batch written again (a redelivery) is relayed again; the
// Broadcaster drops the ids it has already published.
type Relay struct {
	nc      *nats.Conn
	subject string
	log     *slog.Logger

	mu   sync.Mutex
	subs []*nats.Subscription

	published, received, lost atomic.Uint64
}

// NewRelay returns a Relay on nc. It does not own nc. opts may be nil.
func NewRelay(nc *nats.Conn, opts *RelayOptions) (*Relay, error) {
	if nc == nil {
		return nil, activitylog.Invalid("nc", "nil", "is required")
	}
	var o RelayOptions
	if opts != nil {
		o = *opts
	}
	o.Prefix = or(o.Prefix, DefaultPrefix)
	if err := checkPrefix("prefix", o.Prefix); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Relay{nc: nc, subject: o.Prefix + ".live", log: o.Logger}, nil
}

// Subject returns the live subject.
func (r *Relay) Subject() string { return r.subject }

// Publish sends events to the live subject as NDJSON, in as many
// messages as the server's payload limit needs.
func (r *Relay) Publish(ctx context.Context, events []activitylog.Event) error {
	limit := int(r.nc.MaxPayload())
	if limit <= 0 {
		limit = 1 << 20
	}
	limit -= 1024 // room for the protocol line
	var buf bytes.Buffer
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		if err := r.nc.Publish(r.subject, buf.Bytes()); err != nil {
			r.lost.Add(uint64(n))
			return fmt.Errorf("publish %d live events: %w: %w", n, activitylog.ErrUnavailable, err)
		}
		r.published.Add(uint64(n))
		buf.Reset()
		n = 0
		return nil
	}
	for i := range events {
		line, err := json.Marshal(&events[i])
		if err != nil {
			r.lost.Add(1)
			continue
		}
		if len(line)+1 > limit {
			r.lost.Add(1) // larger than any message the server takes
			r.log.Warn("natsq: event too large to relay", "id", events[i].ID, "bytes", len(line))
			continue
		}
		if buf.Len()+len(line)+1 > limit {
			if err := flush(); err != nil {
				return err
			}
		}
		buf.Write(line)
		buf.WriteByte('\n')
		n++
	}
	return flush()
}

// Wrap returns a Writer that writes to w and, once w committed a batch,
// publishes it to the live subject. A failed publish is logged and
// counted, never returned: the batch is stored, only its live view is
// missing.
func (r *Relay) Wrap(w activitylog.Writer) activitylog.Writer { return relayWriter{r, w} }

type relayWriter struct {
	r *Relay
	w activitylog.Writer
}

func (rw relayWriter) Write(ctx context.Context, events []activitylog.Event) error {
	if err := rw.w.Write(ctx, events); err != nil {
		return err
	}
	if err := rw.r.Publish(ctx, events); err != nil {
		rw.r.log.Warn("natsq: relay committed events", "events", len(events), "err", err)
	}
	return nil
}

// Subscribe calls sink with the events of every message on the live
// subject, from one goroutine, in the order each publisher sent them.
// sink must not keep the slice. Close ends every subscription.
func (r *Relay) Subscribe(sink func(events []activitylog.Event)) error {
	if sink == nil {
		return activitylog.Invalid("sink", "nil", "is required")
	}
	sub, err := r.nc.Subscribe(r.subject, func(m *nats.Msg) {
		events := make([]activitylog.Event, 0, 16)
		sc := bufio.NewScanner(bytes.NewReader(m.Data))
		sc.Buffer(make([]byte, 0, 64<<10), len(m.Data)+1)
		for sc.Scan() {
			var e activitylog.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				r.lost.Add(1)
				r.log.Warn("natsq: undecodable live event", "err", err)
				continue
			}
			events = append(events, e)
		}
		if len(events) > 0 {
			r.received.Add(uint64(len(events)))
			sink(events)
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w: %w", r.subject, activitylog.ErrUnavailable, err)
	}
	// Hold up to 64 MiB for a slow sink before NATS drops messages.
	_ = sub.SetPendingLimits(-1, 64<<20)
	r.mu.Lock()
	r.subs = append(r.subs, sub)
	r.mu.Unlock()
	return nil
}

// Stats returns a snapshot of the counters.
func (r *Relay) Stats() RelayStats {
	s := RelayStats{Published: r.published.Load(), Received: r.received.Load(), Lost: r.lost.Load()}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sub := range r.subs {
		if n, err := sub.Dropped(); err == nil {
			s.Dropped += uint64(n)
		}
	}
	return s
}

// Close ends the subscriptions. It does not close the connection.
func (r *Relay) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.subs {
		_ = s.Unsubscribe()
	}
	r.subs = nil
	return nil
}
