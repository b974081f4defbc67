package natsq

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestOptionsInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		err   func() error
		field string
	}{
		{"stream with a dot", func() error { _, err := (&PublisherOptions{Stream: "a.b"}).withDefaults(); return err }, "stream"},
		{"prefix with a wildcard", func() error { _, err := (&PublisherOptions{Prefix: "a.*"}).withDefaults(); return err }, "prefix"},
		{"prefix with an empty token", func() error { _, err := (&PublisherOptions{Prefix: "a..b"}).withDefaults(); return err }, "prefix"},
		{"negative timeout", func() error { _, err := (&PublisherOptions{Timeout: -1}).withDefaults(); return err }, "timeout"},
		{"negative max bytes", func() error { _, err := (&PublisherOptions{MaxBytes: -1}).withDefaults(); return err }, "max_bytes"},
		{"negative message events", func() error { _, err := (&PublisherOptions{MessageEvents: -1}).withDefaults(); return err }, "message_events"},
		{"negative message bytes", func() error { _, err := (&PublisherOptions{MessageBytes: -1}).withDefaults(); return err }, "message_bytes"},
		{"nil conn", func() error { _, err := NewPublisher(context.Background(), nil, nil); return err }, "nc"},
		{"huge batch", func() error { _, err := (&WorkerOptions{BatchSize: 1 << 20}).withDefaults(); return err }, "batch_size"},
		{"consumer with a space", func() error { _, err := (&WorkerOptions{Consumer: "a b"}).withDefaults(); return err }, "consumer"},
		{"retry max below min", func() error {
			_, err := (&WorkerOptions{RetryMin: time.Second, RetryMax: time.Millisecond}).withDefaults()
			return err
		}, "retry_max"},
		{"nil js", func() error { _, err := NewWorker(nil, newMemStore(), nil); return err }, "js"},
		{"nil relay conn", func() error { _, err := NewRelay(nil, nil); return err }, "nc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			var fe *activitylog.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, activitylog.ErrInvalid) {
				t.Fatalf("err = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q", fe.Field, tc.field)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	p, err := (*PublisherOptions)(nil).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	cfg := streamConfig(p)
	if cfg.Name != "ACTIVITYLOG" || cfg.Subjects[0] != "activitylog.events.>" || cfg.Duplicates != 2*time.Minute ||
		cfg.Retention != jetstream.WorkQueuePolicy || cfg.Discard != jetstream.DiscardNew || cfg.Storage != jetstream.FileStorage || p.Timeout != 2*time.Second ||
		p.MessageEvents != 100 || p.MessageBytes != 256<<10 {
		t.Errorf("stream config = %+v, timeout %s", cfg, p.Timeout)
	}
	w, err := (*WorkerOptions)(nil).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if w.BatchSize != 500 || w.Linger != 0 || w.AckWait != 30*time.Second || w.MaxAckPending != 10_000 || w.Consumer != DefaultConsumer {
		t.Errorf("worker defaults = %+v", w)
	}
}

func TestDerivedID(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	a, b := derivedID(ts, "S", 7, -1), derivedID(ts, "S", 7, -1)
	if a != b || derivedID(ts, "S", 7, 3) != derivedID(ts, "S", 7, 3) {
		t.Fatal("derivedID is not stable")
	}
	if derivedID(ts, "S", 8, -1) == a || derivedID(ts, "T", 7, -1) == a || derivedID(ts, "S", 7, 0) == a || derivedID(ts, "S", 7, 1) == derivedID(ts, "S", 7, 0) {
		t.Fatal("derivedID collides")
	}
	if !a.Time().Equal(ts.Truncate(time.Millisecond)) {
		t.Errorf("id time = %s, want %s", a.Time(), ts)
	}
	if _, err := activitylog.ParseID(a.String()); err != nil {
		t.Errorf("derived id %s does not parse: %v", a, err)
	}
}

func newPublisher(t testing.TB, nc *nats.Conn, opts *PublisherOptions) *Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := NewPublisher(ctx, nc, opts)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newWorker(t testing.TB, nc *nats.Conn, store activitylog.Writer, opts *WorkerOptions) *Worker {
	t.Helper()
	w, err := NewWorker(newJS(t, nc), store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestPublishAndWork(t *testing.T) {
	nc := sharedNATS(t)
	stream, prefix := names(t, nc)
	p := newPublisher(t, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
	want := events(1234)
	for i := 0; i < len(want); i += 500 {
		if err := p.Write(context.Background(), want[i:min(i+500, len(want))]); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if s := p.Stats(); s.Published != uint64(len(want)) || s.Spooled != 0 || s.Failed != 0 {
		t.Errorf("publisher stats = %+v", s)
	}
	// Subjects carry the kind.
	js := newJS(t, nc)
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(prefix+".events.>"))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects[prefix+".events.crud"]; got == 0 {
		t.Errorf("no message on %s.events.crud: %v", prefix, info.State.Subjects)
	}
	// Events are packed: 3 batches of up to 8 kinds, up to 100 events a
	// message.
	msgs := info.State.Msgs
	if msgs < 3*8 || msgs > 40 {
		t.Errorf("stream holds %d messages for %d events, want packs", msgs, len(want))
	}

	store := newMemStore()
	w := newWorker(t, nc, store, &WorkerOptions{Stream: stream, Prefix: prefix})
	stop := runWorker(t, w)
	eventually(t, 20*time.Second, "worker stores every event", func() bool { return store.len() == len(want) })
	stop()
	checkExactlyOnce(t, store, want)
	for _, e := range want[:3] {
		got := store.stored[e.ID]
		if got.Message != e.Message || got.Kind != e.Kind || !got.Time.Equal(e.Time) {
			t.Errorf("stored %+v, want %+v", got, e)
		}
	}
	s := w.Stats()
	if s.Fetched != msgs || s.Written != uint64(len(want)) || s.Acked != msgs || s.Terminated != 0 || s.Rejected != 0 {
		t.Errorf("worker stats = %+v", s)
	}
	// Work-queue retention: acknowledged messages leave the stream.
	eventually(t, 5*time.Second, "stream empties", func() bool {
		info, err := st.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	})
}

func TestPublishDeduplicates(t *testing.T) {
	nc := sharedNATS(t)
	stream, prefix := names(t, nc)
	p := newPublisher(t, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
	batch := events(100)
	st, err := newJS(t, nc).Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	var first uint64
	for i := range 3 { // the Recorder retrying a batch whose outcome it did not learn
		if err := p.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		info, _ := st.Info(context.Background())
		if i == 0 {
			first = info.State.Msgs
			if first != 8 { // one pack per kind
				t.Errorf("first write: %d messages, want 8", first)
			}
		} else if info.State.Msgs != first {
			t.Errorf("stream holds %d messages after retry %d, want %d", info.State.Msgs, i, first)
		}
	}
	if s := p.Stats(); s.Duplicates != 200 {
		t.Errorf("duplicates = %d, want 200", s.Duplicates)
	}
}

func TestPublisherWithRecorder(t *testing.T) {
	nc := sharedNATS(t)
	stream, prefix := names(t, nc)
	p := newPublisher(t, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
	rec := activitylog.NewRecorder(p, &activitylog.Options{BatchSize: 200, FlushInterval: 10 * time.Millisecond})
	for i := range 1000 {
		if err := rec.Record(context.Background(), activitylog.Event{Kind: activitylog.KindCustom, Action: "tick", Message: strings.Repeat("x", i%50)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rec.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	runWorker(t, newWorker(t, nc, store, &WorkerOptions{Stream: stream, Prefix: prefix}))
	eventually(t, 20*time.Second, "all recorded events stored", func() bool { return store.len() == 1000 })
}

func TestWorkerTerminatesInvalidMessages(t *testing.T) {
	nc := sharedNATS(t)
	stream, prefix := names(t, nc)
	p := newPublisher(t, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
	good := events(10)
	if err := p.Write(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	js := newJS(t, nc)
	ctx := context.Background()
	for _, data := range []string{"not json", `{"id":"01890a5d-ac96-774b-bcce-b302099a8057","kind":"nope"}`} {
		if _, err := js.Publish(ctx, prefix+".events.crud", []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	// A valid event in today's single-event form, and a pack from
	// another publisher with an unknown format version.
	legacy := events(1)[0]
	data, _ := json.Marshal(&legacy)
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: prefix + ".events.crud", Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{legacy.ID.String()}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: prefix + ".events.crud", Data: data, Header: nats.Header{HeaderPack: []string{"99"}, HeaderEvents: []string{"1"}}}); err != nil {
		t.Fatal(err)
	}
	st, _ := js.Stream(ctx, stream)
	info, _ := st.Info(ctx)
	store := newMemStore()
	w := newWorker(t, nc, store, &WorkerOptions{Stream: stream, Prefix: prefix})
	stop := runWorker(t, w)
	eventually(t, 20*time.Second, "worker handles every message", func() bool { return w.Stats().Acked+w.Stats().Terminated == info.State.Msgs })
	stop()
	if s := w.Stats(); s.Terminated != 3 || s.Acked != info.State.Msgs-3 || s.Written != 14 || s.Rejected != 3 {
		t.Errorf("stats = %+v, want 3 terminated, %d acked, 14 written, 3 rejected", s, info.State.Msgs-3)
	}
	if !store.has(legacy.ID) {
		t.Error("the single-event message is not stored")
	}
	var rejected []activitylog.Event
	for _, e := range store.stored {
		if e.Category == CategoryIngestRejected {
			rejected = append(rejected, e)
		}
	}
	if len(rejected) != 3 {
		t.Fatalf("%d ingest_rejected system events, want 3", len(rejected))
	}
	for _, e := range rejected {
		if err := e.Validate(); err != nil {
			t.Errorf("rejection event invalid: %v", err)
		}
		if e.Kind != activitylog.KindSystem || e.Extra["sequence"] == nil || !strings.Contains(e.Message, "not a valid event") {
			t.Errorf("rejection event = %+v", e)
		}
	}
	// Nothing is left pending: the bad messages are terminated, not redelivered.
	c, err := js.Consumer(ctx, stream, DefaultConsumer)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Errorf("consumer: %d ack pending, %d pending", ci.NumAckPending, ci.NumPending)
	}
}

func TestWorkersShareConsumer(t *testing.T) {
	nc := sharedNATS(t)
	stream, prefix := names(t, nc)
	p := newPublisher(t, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
	store := newMemStore()
	var ws []*Worker
	for range 3 {
		w := newWorker(t, connect(t, nc.ConnectedUrl()), store, &WorkerOptions{Stream: stream, Prefix: prefix, BatchSize: 50})
		ws = append(ws, w)
		runWorker(t, w)
	}
	want := events(3000)
	for i := 0; i < len(want); i += 100 {
		if err := p.Write(context.Background(), want[i:i+100]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "all stored", func() bool { return store.len() == len(want) })
	var acked, written uint64
	for _, w := range ws {
		acked += w.Stats().Acked
		written += w.Stats().Written
	}
	// 30 batches of 100 events, one pack per kind each.
	if acked != 30*8 || written != uint64(len(want)) {
		t.Errorf("workers acked %d messages and wrote %d events, want %d and %d (each message once)", acked, written, 30*8, len(want))
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	for id, n := range store.writes {
		if n != 1 {
			t.Fatalf("event %s written %d times, want once", id, n)
		}
	}
}

func TestRelay(t *testing.T) {
	nc := sharedNATS(t)
	_, prefix := names(t, nc)
	// Two replicas, each with its own connection and sink.
	var mu sync.Mutex
	got := [2]map[activitylog.ID]int{{}, {}}
	var relays [2]*Relay
	for i := range relays {
		r, err := NewRelay(connect(t, nc.ConnectedUrl()), &RelayOptions{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if err := r.Subscribe(func(ev []activitylog.Event) {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range ev {
				got[i][e.ID]++
			}
		}); err != nil {
			t.Fatal(err)
		}
		if err := r.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		relays[i] = r
	}
	store := newMemStore()
	w := relays[0].Wrap(store)
	want := events(1500)
	want[3].Message = strings.Repeat("m", 60<<10) // large: forces several messages
	for i := 0; i < len(want); i += 500 {
		if err := w.Write(context.Background(), want[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "both replicas see every event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got[0]) == len(want) && len(got[1]) == len(want)
	})
	if store.len() != len(want) {
		t.Errorf("store holds %d", store.len())
	}
	if s := relays[0].Stats(); s.Published != uint64(len(want)) || s.Lost != 0 {
		t.Errorf("relay stats = %+v", s)
	}
	// A failed store write is not relayed.
	store.fail = func() error { return errStoreDown }
	if err := w.Write(context.Background(), events(5)); !errors.Is(err, errStoreDown) {
		t.Fatalf("err = %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got[1]) != len(want) {
		t.Errorf("an uncommitted batch was relayed: %d events", len(got[1])-len(want))
	}
}

func TestLease(t *testing.T) {
	nc := sharedNATS(t)
	js := newJS(t, nc)
	ctx := context.Background()
	bucket := "leases_" + suffix()
	t.Cleanup(func() { _ = js.DeleteKeyValue(context.Background(), bucket) })
	const ttl = time.Second
	kv, err := LeaseBucket(ctx, js, bucket, ttl)
	if err != nil {
		t.Fatal(err)
	}
	a, err := AcquireLease(ctx, kv, "retention", "replica-a", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireLease(ctx, kv, "retention", "replica-b", ttl); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("second acquire: err = %v, want ErrLeaseHeld", err)
	}
	// While a renews, b never gets it.
	keepCtx, stopKeeping := context.WithCancel(ctx)
	kept := make(chan error, 1)
	go func() { kept <- a.KeepAlive(keepCtx) }()
	for range 3 * 5 { // three TTLs
		if _, err := AcquireLease(ctx, kv, "retention", "replica-b", ttl); !errors.Is(err, ErrLeaseHeld) {
			t.Fatalf("acquire while renewed: err = %v, want ErrLeaseHeld", err)
		}
		time.Sleep(ttl / 5)
	}
	// Stopping KeepAlive releases: b acquires at once.
	stopKeeping()
	if err := <-kept; err != nil {
		t.Fatal(err)
	}
	b, err := AcquireLease(ctx, kv, "retention", "replica-b", ttl)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	// b stops renewing without releasing (it crashed): a acquires after
	// the entry expired.
	var a2 *Lease
	eventually(t, 15*ttl, "a acquires after b's lease expired", func() bool {
		l, err := AcquireLease(ctx, kv, "retention", "replica-a", ttl)
		if err != nil && !errors.Is(err, ErrLeaseHeld) {
			t.Fatal(err)
		}
		a2 = l
		return err == nil
	})
	// b's renewal now fails: it must stop.
	if err := b.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("b.Renew = %v, want ErrLeaseLost", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Errorf("b.Release = %v", err)
	}
	if err := a2.Renew(ctx); err != nil {
		t.Errorf("a.Renew after b's stale release: %v", err)
	}
	if err := a2.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// An event the store refuses as invalid, though it passed Validate, is
// set aside (terminated, reported) instead of holding its batch back.
func TestWorkerIsolatesEventStoreRefuses(t *testing.T) {
	nc := sharedNATS(t)
	stream, prefix := names(t, nc)
	p := newPublisher(t, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
	want := events(50)
	poison := want[17].ID
	store := newMemStore()
	refuse := &refusingStore{memStore: store, id: poison}
	if err := p.Write(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	w := newWorker(t, nc, refuse, &WorkerOptions{Stream: stream, Prefix: prefix})
	stop := runWorker(t, w)
	eventually(t, 20*time.Second, "batch handled", func() bool { s := w.Stats(); return s.Acked+s.Terminated == 8 })
	stop()
	// The poison's pack holds other events: it is acknowledged, not
	// terminated, once they and the report are committed.
	if s := w.Stats(); s.Terminated != 0 || s.Acked != 8 || s.Rejected != 1 || s.Written != 50 {
		t.Errorf("stats = %+v, want 8 acked, 1 rejected, 50 written", s)
	}
	if store.has(poison) {
		t.Error("the refused event is stored")
	}
	if store.len() != 50 { // 49 events and the report of the refused one
		t.Errorf("store holds %d events, want 50", store.len())
	}
}

type refusingStore struct {
	*memStore
	id activitylog.ID
}

func (s *refusingStore) Write(ctx context.Context, events []activitylog.Event) error {
	for _, e := range events {
		if e.ID == s.id {
			return activitylog.Invalid("id", e.ID.String(), "refused by the test store")
		}
	}
	return s.memStore.Write(ctx, events)
}

func TestPublishRefusesUnencodableEvent(t *testing.T) {
	nc := sharedNATS(t)
	stream, prefix := names(t, nc)
	spool := &fakeSpool{}
	p := newPublisher(t, nc, &PublisherOptions{Stream: stream, Prefix: prefix, Fallback: spool})
	batch := events(3)
	batch[2].Extra = map[string]any{"f": func() {}}
	err := p.Write(context.Background(), batch)
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Value != batch[2].ID.String() {
		t.Fatalf("err = %v, want a FieldError naming event %s", err, batch[2].ID)
	}
	if spool.len() != 0 {
		t.Error("an unencodable batch was spooled: its replay would fail forever")
	}
	st, _ := newJS(t, nc).Stream(context.Background(), stream)
	if info, _ := st.Info(context.Background()); info.State.Msgs != 0 {
		t.Errorf("%d messages published from a refused batch", info.State.Msgs)
	}
}
