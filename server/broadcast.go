package server

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/activitylog/activitylog"
)

// Errors that end a Subscription, as its Err reports them.
var (
	// ErrSlowSubscriber: the subscriber's buffer filled up, because it
	// read more slowly than events were written. It may subscribe again
	// after the last sequence number it saw.
	ErrSlowSubscriber = errors.New("subscriber fell behind")
	// ErrBroadcasterClosed: the Broadcaster was closed, as at shutdown.
	ErrBroadcasterClosed = errors.New("broadcaster closed")
)

// BroadcastOptions configures a Broadcaster. The zero value, or nil,
// means the defaults written beside each field.
type BroadcastOptions struct {
	// Backlog is how many of the latest events are kept for
	// subscribers that resume after a sequence number. Default: 10,000.
	Backlog int
	// Buffer is how many events may wait for one subscriber before it
	// is disconnected with ErrSlowSubscriber. Default: 1024.
	Buffer int
}

// Defaults of BroadcastOptions.
const (
	DefaultBacklog = 10_000
	DefaultBuffer  = 1024
)

// Message is one published event. Messages are shared between
// subscribers: neither a Message nor its Event may be modified.
type Message struct {
	// Seq numbers the events a Broadcaster published, from 1, in the
	// order they were published; it is the SSE id.
	Seq uint64
	// Event is a deep copy of the event that was written.
	Event activitylog.Event
	// JSON is Event's JSON form.
	JSON []byte
}

// Broadcaster is an activitylog.Writer that writes through to another
// Writer and, once that Writer has committed a batch, publishes its
// events to subscribers, in one order for all of them.
//
// Write never waits for subscribers: a subscriber whose buffer is full
// is disconnected instead. The latest events are kept in a bounded
// backlog so that a subscriber that reconnects can resume where it
// left off. An event whose ID is still in the backlog is not published
// again, so an idempotent retry of a batch is published once. Its
// methods may be called from several goroutines at once.
type Broadcaster struct {
	w      activitylog.Writer
	buffer int

	mu     sync.Mutex
	ring   []*Message // the backlog; ring[(start+i)%len(ring)] for i < n
	start  int
	n      int
	ids    map[activitylog.ID]struct{} // the ids in the backlog
	seq    uint64                      // the last sequence number given out
	subs   map[*Subscription]struct{}
	closed bool
}

var _ activitylog.Writer = (*Broadcaster)(nil)

// NewBroadcaster returns a Broadcaster writing through to w, which must
// not be nil. opts may be nil.
func NewBroadcaster(w activitylog.Writer, opts *BroadcastOptions) *Broadcaster {
	if w == nil {
		panic("server.NewBroadcaster: nil Writer")
	}
	var o BroadcastOptions
	if opts != nil {
		o = *opts
	}
	if o.Backlog <= 0 {
		o.Backlog = DefaultBacklog
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	return &Broadcaster{
		w:      w,
		buffer: o.Buffer,
		ring:   make([]*Message, o.Backlog),
		ids:    make(map[activitylog.ID]struct{}, o.Backlog),
		subs:   make(map[*Subscription]struct{}),
	}
}

// Write writes events through, and publishes them only when the
// underlying Writer returned nil. Its error is the underlying Writer's.
func (b *Broadcaster) Write(ctx context.Context, events []activitylog.Event) error {
	if err := b.w.Write(ctx, events); err != nil {
		return err
	}
	b.publish(events)
	return nil
}

// Publish hands events that were committed elsewhere, by another
// replica writing to the same store, to this Broadcaster's subscribers
// without writing them: package natsq's Relay feeds it, so that a client
// of any replica sees every event. An event whose id is still in the
// backlog (this replica wrote it, or it came twice) is not sent again.
// events is not kept.
func (b *Broadcaster) Publish(events []activitylog.Event) { b.publish(events) }

// publish copies events (the Writer contract forbids keeping them) and
// hands them to every subscriber.
func (b *Broadcaster) publish(events []activitylog.Event) {
	msgs := make([]*Message, 0, len(events))
	for i := range events {
		data, err := json.Marshal(&events[i])
		if err != nil {
			continue // a committed event always encodes; nothing to publish otherwise
		}
		m := &Message{JSON: data}
		if err := json.Unmarshal(data, &m.Event); err != nil {
			continue
		}
		msgs = append(msgs, m)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	for _, m := range msgs {
		if _, dup := b.ids[m.Event.ID]; dup {
			continue
		}
		b.seq++
		m.Seq = b.seq
		b.push(m)
		for s := range b.subs {
			select {
			case s.ch <- m:
			default:
				b.drop(s, ErrSlowSubscriber)
			}
		}
	}
}

// push adds m to the backlog, evicting the oldest when it is full.
func (b *Broadcaster) push(m *Message) {
	if b.n == len(b.ring) {
		old := b.ring[b.start]
		delete(b.ids, old.Event.ID)
		b.ring[b.start] = m
		b.start = (b.start + 1) % len(b.ring)
	} else {
		b.ring[(b.start+b.n)%len(b.ring)] = m
		b.n++
	}
	b.ids[m.Event.ID] = struct{}{}
}

// drop ends s with err. b.mu must be held.
func (b *Broadcaster) drop(s *Subscription, err error) {
	if _, ok := b.subs[s]; !ok {
		return
	}
	delete(b.subs, s)
	s.err = err
	close(s.ch)
}

// Subscribe returns a Subscription to the events published from now on.
func (b *Broadcaster) Subscribe() *Subscription {
	return b.subscribe(false, 0)
}

// SubscribeAfter returns a Subscription that first replays the events
// of the backlog whose sequence number is above seq, then continues
// with those published from now on. When the backlog no longer reaches
// back to seq+1, Subscription.Missed says so.
func (b *Broadcaster) SubscribeAfter(seq uint64) *Subscription {
	return b.subscribe(true, seq)
}

func (b *Broadcaster) subscribe(resume bool, after uint64) *Subscription {
	s := &Subscription{b: b, ch: make(chan *Message, b.buffer)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.err = ErrBroadcasterClosed
		close(s.ch)
		return s
	}
	b.subs[s] = struct{}{}
	if !resume {
		return s
	}
	if after > b.seq {
		// An id this Broadcaster never gave out: the client saw a
		// previous process. Send all there is, and say so.
		s.missed = -1
		after = 0
	}
	oldest := b.seq - uint64(b.n) + 1 // the first sequence number in the backlog
	if after+1 < oldest && s.missed == 0 {
		s.missed = int64(oldest - after - 1)
	}
	for i := range b.n {
		m := b.ring[(b.start+i)%len(b.ring)]
		if m.Seq > after {
			s.replay = append(s.replay, m)
		}
	}
	return s
}

// Close ends every Subscription with ErrBroadcasterClosed and refuses
// new ones; writes still go through but are no longer published. It
// does not close the underlying Writer.
func (b *Broadcaster) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		b.drop(s, ErrBroadcasterClosed)
	}
}

// Seq returns the sequence number of the latest published event, 0
// when none has been published.
func (b *Broadcaster) Seq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}

// Subscription receives the events a Broadcaster publishes. One
// goroutine reads it: Replay first, then C until it is closed.
type Subscription struct {
	b      *Broadcaster
	ch     chan *Message
	replay []*Message
	missed int64
	err    error // set under b.mu before ch is closed
}

// Replay returns the backlog events to deliver before those from C.
func (s *Subscription) Replay() []*Message { return s.replay }

// Missed returns how many of the events the subscriber asked for are
// no longer in the backlog: 0 when none, -1 when unknown (it asked to
// resume after a sequence number this Broadcaster never gave out).
func (s *Subscription) Missed() int64 { return s.missed }

// C returns the channel of events published after the subscription
// began. It is closed when the subscription ends; Err then says why.
func (s *Subscription) C() <-chan *Message { return s.ch }

// Err returns why C was closed: ErrSlowSubscriber,
// ErrBroadcasterClosed, or nil while it is open or after Close.
func (s *Subscription) Err() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.err
}

// Close ends the subscription. It may be called more than once.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.drop(s, nil)
}

// Subscribers returns how many subscriptions (live SSE and WebSocket
// streams) are open now.
func (b *Broadcaster) Subscribers() int { return b.subscribers() }

// subscribers returns how many subscriptions are open.
func (b *Broadcaster) subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
