package natsq

import (
	"context"
	"errors"
	"github.com/activitylog/activitylog/spool"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sqlite"
)

// A worker that dies after it received a batch and before the store
// committed it never acknowledges; JetStream delivers the batch again
// to another worker after AckWait, and every event is stored once.
func TestFaultWorkerKilledMidBatch(t *testing.T) {
	nc := sharedNATS(t)
	stream, prefix := names(t, nc)
	p := newPublisher(t, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
	want := events(800)
	for i := 0; i < len(want); i += 400 {
		if err := p.Write(context.Background(), want[i:i+400]); err != nil {
			t.Fatal(err)
		}
	}

	store := newMemStore()
	received := make(chan int, 1)
	release := make(chan error)
	var first atomic.Bool
	store.block = func(n int) chan error {
		if first.CompareAndSwap(false, true) {
			received <- n
			return release // the first batch hangs until the worker "dies"
		}
		return nil
	}
	opts := &WorkerOptions{Stream: stream, Prefix: prefix, AckWait: time.Second, BatchSize: 300}
	nc1 := connect(t, nc.ConnectedUrl())
	w1 := newWorker(t, nc1, store, opts)
	ctx1, cancel1 := context.WithCancel(context.Background())
	done1 := make(chan error, 1)
	go func() { done1 <- w1.Run(ctx1) }()
	var n int
	select {
	case n = <-received:
	case <-time.After(10 * time.Second):
		t.Fatal("worker 1 received no batch")
	}
	// Kill worker 1: its connection goes, then its store write fails, so
	// nothing of that batch is committed or acknowledged.
	nc1.Close()
	cancel1()
	release <- errors.New("process killed")
	if err := <-done1; err != nil {
		t.Fatal(err)
	}
	if s := w1.Stats(); s.Acked != 0 || s.Written != 0 {
		t.Fatalf("worker 1 stats = %+v, want nothing written or acknowledged", s)
	}

	w2 := newWorker(t, connect(t, nc.ConnectedUrl()), store, opts)
	runWorker(t, w2)
	eventually(t, 30*time.Second, "worker 2 stores every event", func() bool { return store.len() == len(want) })
	checkExactlyOnce(t, store, want)
	if s, k := w2.Stats(), w1.Stats().Fetched; s.Redelivered < k || k == 0 {
		t.Errorf("worker 2 saw %d redeliveries, want at least the %d messages (%d events) of the killed batch (stats %+v)", s.Redelivered, k, n, s)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	for id, c := range store.writes {
		if c != 1 {
			t.Fatalf("event %s committed %d times", id, c)
		}
	}
}

// While the store fails, batches are handed back with a delay and
// delivered again; once it is back, everything is stored once.
func TestFaultStoreDownThenUp(t *testing.T) {
	nc := sharedNATS(t)
	stream, prefix := names(t, nc)
	p := newPublisher(t, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
	store := newMemStore()
	var down atomic.Bool
	down.Store(true)
	var failures atomic.Int64
	store.fail = func() error {
		if down.Load() {
			failures.Add(1)
			return errStoreDown
		}
		return nil
	}
	w := newWorker(t, nc, store, &WorkerOptions{Stream: stream, Prefix: prefix, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	runWorker(t, w)
	want := events(1000)
	for i := 0; i < len(want); i += 250 {
		if err := p.Write(context.Background(), want[i:i+250]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "store refuses a few batches", func() bool { return failures.Load() >= 3 })
	if store.len() != 0 {
		t.Fatal("store took events while down")
	}
	down.Store(false)
	eventually(t, 30*time.Second, "every event stored after the store is back", func() bool { return store.len() == len(want) })
	checkExactlyOnce(t, store, want)
	// 4 batches of 250 events, one pack per kind each.
	eventually(t, 10*time.Second, "every message acknowledged", func() bool { return w.Stats().Acked == 4*8 })
	s := w.Stats()
	if s.Naked == 0 || s.Redelivered == 0 || s.StoreErrors == 0 || s.Acked != 4*8 {
		t.Errorf("stats = %+v, want naks, redeliveries, store errors and %d acks", s, 4*8)
	}
}

// NATS is stopped (SIGTERM) and started again on the same port and
// storage while a producer publishes on: every event a Write
// acknowledged is stored once, in a real sqlite store.
func TestFaultNATSRestart(t *testing.T) {
	srv := privateServer(t)
	pubNC := connect(t, srv.url())
	p := newPublisher(t, pubNC, &PublisherOptions{Timeout: 500 * time.Millisecond})

	db, err := sqlite.Open(t.TempDir()+"/a.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := newWorker(t, connect(t, srv.url()), db, &WorkerOptions{RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, AckWait: 2 * time.Second})
	runWorker(t, w)

	var (
		mu       sync.Mutex
		acked    []activitylog.Event
		refused  int
		stopProd = make(chan struct{})
		prodDone = make(chan struct{})
	)
	go func() {
		defer close(prodDone)
		for {
			select {
			case <-stopProd:
				return
			default:
			}
			batch := events(50)
			err := p.Write(context.Background(), batch)
			mu.Lock()
			if err == nil {
				acked = append(acked, batch...)
			} else {
				if !errors.Is(err, activitylog.ErrUnavailable) {
					t.Errorf("Write error %v does not wrap ErrUnavailable", err)
				}
				refused++
			}
			mu.Unlock()
			if err != nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	eventually(t, 10*time.Second, "some events published", func() bool { return count() >= 1000 })
	srv.stop()
	time.Sleep(500 * time.Millisecond)
	before := count()
	srv.start()
	eventually(t, 20*time.Second, "publishing resumes after the restart", func() bool { return count() >= before+1000 })
	close(stopProd)
	<-prodDone

	mu.Lock()
	want := acked
	t.Logf("%d events acknowledged, %d batches refused while NATS was down", len(want), refused)
	mu.Unlock()
	if refused == 0 {
		t.Error("no Write failed while NATS was down: the restart was not observed")
	}
	ctx := context.Background()
	eventually(t, 60*time.Second, "worker drains the stream", func() bool {
		for _, e := range want {
			if _, err := db.Get(ctx, e.ID); err != nil {
				return false
			}
		}
		return true
	})
	// Exactly once: the store holds each acknowledged event once, and
	// nothing beyond what was published (refused batches may have
	// reached the stream too, since their acknowledgement was lost).
	n, err := db.Count(ctx, activitylog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if n < int64(len(want)) || n > int64(len(want)+50*refused) {
		t.Errorf("store holds %d events, want between %d and %d", n, len(want), len(want)+50*refused)
	}
	t.Logf("worker stats %s", fmtStats(w.Stats()))
}

// While NATS is unreachable, Write spools and returns nil; once it is
// back, the spool is replayed into the stream and the worker stores
// every event once.
func TestFaultPublishFallback(t *testing.T) {
	testPublishFallback(t, &fakeSpool{})
}

// The same with the real disk spool (package spool).
func TestFaultPublishFallbackDiskSpool(t *testing.T) {
	sp, err := spool.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	testPublishFallback(t, diskSpool{sp})
}

// diskSpool is a spool.Spool with the len the tests read.
type diskSpool struct{ *spool.Spool }

func (d diskSpool) len() int {
	n, _ := d.Len()
	return int(n)
}

func testPublishFallback(t *testing.T, spool interface {
	Spool
	len() int
}) {
	srv := privateServer(t)
	pubNC := connect(t, srv.url())
	p := newPublisher(t, pubNC, &PublisherOptions{
		Timeout: 300 * time.Millisecond, Fallback: spool, ReplayInterval: 100 * time.Millisecond,
	})
	store := newMemStore()
	w := newWorker(t, connect(t, srv.url()), store, &WorkerOptions{RetryMin: 50 * time.Millisecond, RetryMax: 300 * time.Millisecond, AckWait: 2 * time.Second})
	runWorker(t, w)

	var want []activitylog.Event
	write := func(n int) {
		b := events(n)
		start := time.Now()
		if err := p.Write(context.Background(), b); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Write blocked %s", d)
		}
		want = append(want, b...)
	}
	write(100)
	srv.stop()
	for range 5 {
		write(100)
	}
	if got := spool.len(); got != 500 {
		t.Fatalf("spool holds %d events, want 500", got)
	}
	srv.start()
	eventually(t, 10*time.Second, "publisher reconnects", pubNC.IsConnected)
	write(100)
	eventually(t, 30*time.Second, "spool replayed", func() bool { return spool.len() == 0 })
	eventually(t, 30*time.Second, "every event stored", func() bool { return store.len() == len(want) })
	checkExactlyOnce(t, store, want)
	if s := p.Stats(); s.Spooled != 500 || s.Replayed != 500 || s.Failed != 0 {
		t.Errorf("publisher stats = %+v", s)
	}
}

// A Publisher made while NATS is down, with a Fallback, spools at once
// and creates the stream when NATS comes.
func TestFaultPublisherStartsWithoutNATS(t *testing.T) {
	srv := privateServer(t)
	srv.stop()
	nc := connect(t, srv.url())
	spool := &fakeSpool{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	p, err := NewPublisher(ctx, nc, &PublisherOptions{Timeout: 300 * time.Millisecond, Fallback: spool, ReplayInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewPublisher with a Fallback and NATS down: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	want := events(50)
	if err := p.Write(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	if spool.len() != 50 {
		t.Fatalf("spool holds %d", spool.len())
	}
	srv.start()
	eventually(t, 30*time.Second, "spool replayed", func() bool { return spool.len() == 0 })
	store := newMemStore()
	runWorker(t, newWorker(t, connect(t, srv.url()), store, nil))
	eventually(t, 30*time.Second, "every event stored", func() bool { return store.len() == len(want) })

	// Without a Fallback, NewPublisher refuses when NATS is down.
	srv.stop()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if _, err := NewPublisher(ctx2, nc, &PublisherOptions{Stream: "OTHER", Prefix: "other", Timeout: 300 * time.Millisecond}); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("NewPublisher without Fallback, NATS down: err = %v, want ErrUnavailable", err)
	}
}
