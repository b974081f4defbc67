package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// memWriter is an activitylog.Writer that keeps what it is given, or
// fails with err.
type memWriter struct {
	mu     sync.Mutex
	err    error
	events []activitylog.Event
}

func (w *memWriter) Write(_ context.Context, events []activitylog.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.events = append(w.events, events...)
	return nil
}

var testTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newEvents returns n valid events with distinct ids and actions "a0"…
func newEvents(n int) []activitylog.Event {
	events := make([]activitylog.Event, n)
	for i := range events {
		events[i] = activitylog.Event{
			ID:       activitylog.NewID(testTime),
			Time:     testTime.Add(time.Duration(i) * time.Millisecond),
			Kind:     activitylog.KindCustom,
			Action:   "custom",
			Severity: activitylog.SeverityInfo,
			Message:  "event",
			Extra:    map[string]any{"i": i},
		}
	}
	return events
}

func write(t testing.TB, b *Broadcaster, events []activitylog.Event) {
	t.Helper()
	if err := b.Write(context.Background(), events); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// drain reads what is buffered on s without waiting.
func drain(s *Subscription) (got []*Message, open bool) {
	for {
		select {
		case m, ok := <-s.C():
			if !ok {
				return got, false
			}
			got = append(got, m)
		default:
			return got, true
		}
	}
}

func seqs(ms []*Message) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBroadcasterPublishesOnlyCommitted(t *testing.T) {
	t.Parallel()
	w := &memWriter{err: errors.New("disk full")}
	b := NewBroadcaster(w, nil)
	s := b.Subscribe()
	defer s.Close()
	if err := b.Write(context.Background(), newEvents(2)); err == nil {
		t.Fatal("Write: got nil, want the writer's error")
	}
	if got, _ := drain(s); len(got) != 0 {
		t.Fatalf("published %d events of a failed write, want 0", len(got))
	}
	w.err = nil
	write(t, b, newEvents(3))
	got, _ := drain(s)
	if want := []uint64{1, 2, 3}; !equalSeqs(seqs(got), want) {
		t.Fatalf("seqs: got %v, want %v", seqs(got), want)
	}
	if len(w.events) != 3 {
		t.Fatalf("written: got %d, want 3", len(w.events))
	}
}

func TestBroadcasterCopiesEvents(t *testing.T) {
	t.Parallel()
	b := NewBroadcaster(&memWriter{}, nil)
	s := b.Subscribe()
	defer s.Close()
	events := newEvents(1)
	write(t, b, events)
	events[0].Message = "changed"
	events[0].Extra["i"] = "changed"
	got, _ := drain(s)
	if len(got) != 1 {
		t.Fatalf("got %d messages, want 1", len(got))
	}
	if got[0].Event.Message != "event" || got[0].Event.Extra["i"] != float64(0) {
		t.Fatalf("the published event changed with the caller's: %+v", got[0].Event)
	}
}

func TestBroadcasterRetryPublishedOnce(t *testing.T) {
	t.Parallel()
	b := NewBroadcaster(&memWriter{}, nil)
	s := b.Subscribe()
	defer s.Close()
	events := newEvents(2)
	write(t, b, events)
	write(t, b, events) // an idempotent retry
	got, _ := drain(s)
	if want := []uint64{1, 2}; !equalSeqs(seqs(got), want) {
		t.Fatalf("seqs: got %v, want %v", seqs(got), want)
	}
}

// Events another replica committed reach the subscribers through
// Publish, without a write, and an echo of this replica's own events is
// not sent twice.
func TestBroadcasterPublishRemote(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	b := NewBroadcaster(w, nil)
	s := b.Subscribe()
	defer s.Close()
	local, remote := newEvents(2), newEvents(3)
	write(t, b, local)
	b.Publish(remote)
	b.Publish(local) // this replica's own events, relayed back
	got, _ := drain(s)
	if want := []uint64{1, 2, 3, 4, 5}; !equalSeqs(seqs(got), want) {
		t.Fatalf("seqs: got %v, want %v", seqs(got), want)
	}
	if got[2].Event.ID != remote[0].ID {
		t.Fatalf("third message is %s, want the first remote event %s", got[2].Event.ID, remote[0].ID)
	}
	if len(w.events) != 2 {
		t.Fatalf("the store got %d events, want only the 2 local ones", len(w.events))
	}
}

func TestBroadcasterResume(t *testing.T) {
	t.Parallel()
	b := NewBroadcaster(&memWriter{}, &BroadcastOptions{Backlog: 5})
	write(t, b, newEvents(8)) // the backlog keeps 4…8

	tests := []struct {
		name       string
		after      uint64
		wantReplay []uint64
		wantMissed int64
	}{
		{"within the backlog", 5, []uint64{6, 7, 8}, 0},
		{"at its start", 3, []uint64{4, 5, 6, 7, 8}, 0},
		{"beyond it", 1, []uint64{4, 5, 6, 7, 8}, 2},
		{"from the start", 0, []uint64{4, 5, 6, 7, 8}, 3},
		{"up to date", 8, []uint64{}, 0},
		{"ahead: another process", 100, []uint64{4, 5, 6, 7, 8}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := b.SubscribeAfter(tt.after)
			defer s.Close()
			if got := seqs(s.Replay()); !equalSeqs(got, tt.wantReplay) {
				t.Errorf("replay: got %v, want %v", got, tt.wantReplay)
			}
			if got := s.Missed(); got != tt.wantMissed {
				t.Errorf("missed: got %d, want %d", got, tt.wantMissed)
			}
		})
	}

	// A resumed subscription continues with new events, without a hole
	// or a repeat.
	s := b.SubscribeAfter(6)
	defer s.Close()
	write(t, b, newEvents(2))
	live, _ := drain(s)
	got := append(seqs(s.Replay()), seqs(live)...)
	if want := []uint64{7, 8, 9, 10}; !equalSeqs(got, want) {
		t.Fatalf("replay then live: got %v, want %v", got, want)
	}
}

func TestBroadcasterSlowSubscriber(t *testing.T) {
	t.Parallel()
	b := NewBroadcaster(&memWriter{}, &BroadcastOptions{Buffer: 4})
	slow, fast := b.Subscribe(), b.Subscribe()
	defer slow.Close()
	defer fast.Close()
	var fastGot []*Message
	for range 5 {
		write(t, b, newEvents(2)) // never blocks, though slow reads nothing
		got, open := drain(fast)
		if !open {
			t.Fatalf("the fast subscriber was closed: %v", fast.Err())
		}
		fastGot = append(fastGot, got...)
	}
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !equalSeqs(seqs(fastGot), want) {
		t.Fatalf("fast: got %v, want %v", seqs(fastGot), want)
	}
	got, open := drain(slow)
	if open {
		t.Fatal("the slow subscriber is still open")
	}
	if want := []uint64{1, 2, 3, 4}; !equalSeqs(seqs(got), want) {
		t.Fatalf("slow: got %v, want the buffered %v", seqs(got), want)
	}
	if !errors.Is(slow.Err(), ErrSlowSubscriber) {
		t.Fatalf("slow.Err: got %v, want ErrSlowSubscriber", slow.Err())
	}
}

func TestBroadcasterClose(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	b := NewBroadcaster(w, nil)
	s := b.Subscribe()
	b.Close()
	if _, open := drain(s); open {
		t.Fatal("subscription open after Close")
	}
	if !errors.Is(s.Err(), ErrBroadcasterClosed) {
		t.Fatalf("Err: got %v, want ErrBroadcasterClosed", s.Err())
	}
	write(t, b, newEvents(1)) // still written through
	if len(w.events) != 1 {
		t.Fatalf("written after Close: got %d, want 1", len(w.events))
	}
	late := b.Subscribe()
	if _, open := drain(late); open || !errors.Is(late.Err(), ErrBroadcasterClosed) {
		t.Fatalf("subscription after Close: open %v, Err %v", open, late.Err())
	}
	s.Close() // idempotent
}

func TestBroadcasterUnsubscribe(t *testing.T) {
	t.Parallel()
	b := NewBroadcaster(&memWriter{}, nil)
	s := b.Subscribe()
	s.Close()
	s.Close()
	write(t, b, newEvents(1))
	if _, open := drain(s); open {
		t.Fatal("subscription open after Close")
	}
	if s.Err() != nil {
		t.Fatalf("Err after Close: got %v, want nil", s.Err())
	}
}
