package activitylog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// memWriter collects what it is given. It can be stopped (every write
// fails), slowed, or made to fail a number of times.
type memWriter struct {
	mu      sync.Mutex
	events  []activitylog.Event
	ids     map[activitylog.ID]bool
	batches int
	stopped atomic.Bool
	failN   atomic.Int64 // fail this many more writes
	delay   time.Duration
	calls   atomic.Int64
}

var errStopped = errors.New("writer stopped")

func (w *memWriter) Write(ctx context.Context, es []activitylog.Event) error {
	w.calls.Add(1)
	if w.delay > 0 {
		select {
		case <-time.After(w.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if w.stopped.Load() {
		return errStopped
	}
	if w.failN.Load() > 0 {
		w.failN.Add(-1)
		return errStopped
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ids == nil {
		w.ids = map[activitylog.ID]bool{}
	}
	for _, e := range es {
		if !w.ids[e.ID] { // idempotent by id, as the Writer contract says
			w.ids[e.ID] = true
			w.events = append(w.events, e)
		}
	}
	w.batches++
	return nil
}

func (w *memWriter) all() []activitylog.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]activitylog.Event(nil), w.events...)
}

func (w *memWriter) byCategory(cat string) []activitylog.Event {
	var out []activitylog.Event
	for _, e := range w.all() {
		if e.Category == cat {
			out = append(out, e)
		}
	}
	return out
}

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

func ev(action string) activitylog.Event {
	return activitylog.Event{Kind: activitylog.KindCustom, Action: action}
}

func shutdown(t *testing.T, r *activitylog.Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestRecordEnrichesFromContext(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	fixed := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.FixedZone("X", 3600))
	r := activitylog.NewRecorder(w, &activitylog.Options{Service: "shop", Now: func() time.Time { return fixed }})

	ctx := activitylog.WithActor(context.Background(), activitylog.Actor{ID: "u1", Name: "Ann"})
	ctx = activitylog.WithTenant(ctx, "acme")
	ctx = activitylog.WithRequest(ctx, &activitylog.Request{RequestID: "req-1", Method: "POST", Path: "/orders", RemoteIP: "203.0.113.9", UserAgent: "ua"})
	ctx = activitylog.WithTrace(ctx, "trace-1", "span-1")

	if err := r.Record(ctx, activitylog.Event{Kind: activitylog.KindCRUD, Action: "create", Object: activitylog.Object{Type: "order", ID: "7"}}); err != nil {
		t.Fatal(err)
	}
	// An event's own values win over the context's.
	if err := r.Record(ctx, activitylog.Event{Kind: activitylog.KindAuth, Action: "login_failed", Tenant: "other",
		Actor: activitylog.Actor{Name: "mallory"}}); err != nil {
		t.Fatal(err)
	}
	shutdown(t, r)
	got := w.all()
	if len(got) != 2 {
		t.Fatalf("got %d events, want 2", len(got))
	}
	e := got[0]
	if e.ID.IsZero() || e.Time != fixed.UTC() || e.Time.Location() != time.UTC {
		t.Errorf("id %v time %v, want a new id and %v in UTC", e.ID, e.Time, fixed.UTC())
	}
	if e.Service != "shop" || e.Tenant != "acme" || e.Actor.ID != "u1" || e.Actor.Type != activitylog.ActorUser {
		t.Errorf("service %q tenant %q actor %+v", e.Service, e.Tenant, e.Actor)
	}
	if e.Request.RequestID != "req-1" || e.Request.Path != "/orders" || e.Request.RemoteIP != "203.0.113.9" ||
		e.Request.TraceID != "trace-1" || e.Request.SpanID != "span-1" {
		t.Errorf("request %+v", e.Request)
	}
	if e.Severity != activitylog.SeverityInfo {
		t.Errorf("severity %q, want info", e.Severity)
	}
	e2 := got[1]
	if e2.Tenant != "other" || e2.Actor.Name != "mallory" || e2.Actor.ID != "" || e2.Severity != activitylog.SeverityWarning {
		t.Errorf("own values lost: tenant %q actor %+v severity %q", e2.Tenant, e2.Actor, e2.Severity)
	}
	if !(e.ID.String() < e2.ID.String()) {
		t.Errorf("ids not increasing: %v then %v", e.ID, e2.ID)
	}
}

func TestRecordRefusesInvalidEvents(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	r := activitylog.NewRecorder(w, nil)
	cases := []struct {
		e     activitylog.Event
		field string
	}{
		{activitylog.Event{Kind: "bogus", Action: "x"}, "kind"},
		{activitylog.Event{Kind: activitylog.KindCRUD, Action: "upsert"}, "action"},
		{activitylog.Event{Kind: activitylog.KindCustom}, "action"},
		{activitylog.Event{Kind: activitylog.KindCustom, Action: "x", Severity: "loud"}, "severity"},
		{activitylog.Event{Kind: activitylog.KindCustom, Action: "x", Actor: activitylog.Actor{Type: "robot"}}, "actor.type"},
		{activitylog.Event{Kind: activitylog.KindRequest, Action: "GET", Request: activitylog.Request{RemoteIP: "999.1.1.1"}}, "request.remote_ip"},
		{activitylog.Event{Kind: activitylog.KindRequest, Action: "GET", Response: activitylog.Response{Status: 700}}, "response.status"},
		{activitylog.Event{Kind: activitylog.KindCustom, Action: "x", Time: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}, "time"},
	}
	for _, c := range cases {
		err := r.Record(context.Background(), c.e)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("%+v: err %v, want a FieldError", c.e, err)
			continue
		}
		if fe.Field != c.field {
			t.Errorf("%+v: field %q, want %q (%v)", c.e, fe.Field, c.field, err)
		}
	}
	shutdown(t, r)
	if n := len(w.all()); n != 0 {
		t.Errorf("%d invalid events were written", n)
	}
	if s := r.Stats(); s.Recorded != 0 {
		t.Errorf("recorded = %d, want 0", s.Recorded)
	}
}

func TestDisabledKindsAndFilter(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	r := activitylog.NewRecorder(w, &activitylog.Options{
		DisabledKinds: []activitylog.Kind{activitylog.KindRequest},
		Filter:        func(_ context.Context, e *activitylog.Event) bool { return e.Action != "noise" },
	})
	for _, e := range []activitylog.Event{
		{Kind: activitylog.KindRequest, Action: "GET"},
		ev("noise"),
		ev("keep"),
	} {
		if err := r.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	shutdown(t, r)
	got := w.all()
	if len(got) != 1 || got[0].Action != "keep" {
		t.Fatalf("got %+v, want only keep", got)
	}
	if s := r.Stats(); s.Filtered != 2 || s.Recorded != 1 {
		t.Errorf("stats %+v, want filtered 2 recorded 1", s)
	}
}

// Under Drop with a stopped writer, the counters and the recorded
// system event show exactly how many events were dropped.
func TestDropPolicyCountsAndReportsLoss(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	w.stopped.Store(true)
	const queue, batch = 20, 5
	r := activitylog.NewRecorder(w, &activitylog.Options{
		OnFull: activitylog.Drop, QueueSize: queue, BatchSize: batch,
		FlushInterval: time.Millisecond, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond,
	})
	// Wait until the batcher holds its first batch and is retrying.
	if err := r.Record(context.Background(), ev("first")); err != nil {
		t.Fatal(err)
	}
	for w.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// The queue now fills; everything past it is dropped.
	const sent = 1000
	for i := 0; i < sent; i++ {
		if err := r.Record(context.Background(), ev("burst")); err != nil {
			t.Fatalf("Record under Drop returned %v", err)
		}
	}
	s := r.Stats()
	if s.Recorded+s.Dropped != sent+1 {
		t.Fatalf("recorded %d + dropped %d != %d sent", s.Recorded, s.Dropped, sent+1)
	}
	if s.Dropped < sent-queue-batch {
		t.Fatalf("dropped %d, want at least %d", s.Dropped, sent-queue-batch)
	}
	wantDropped := s.Dropped
	w.stopped.Store(false)
	shutdown(t, r)

	s = r.Stats()
	loss := w.byCategory("audit_loss")
	if len(loss) == 0 {
		t.Fatal("no audit_loss event was recorded")
	}
	var reported float64
	for _, e := range loss {
		if e.Kind != activitylog.KindSystem || e.Severity != activitylog.SeverityError {
			t.Errorf("loss event %+v", e)
		}
		reported += e.Extra["dropped"].(float64)
	}
	if uint64(reported) != wantDropped || s.Dropped != wantDropped {
		t.Errorf("loss events report %v dropped, counters %d, want %d", reported, s.Dropped, wantDropped)
	}
	if got := uint64(len(w.all())) - uint64(len(loss)); got != s.Recorded {
		t.Errorf("stored %d events, recorder accepted %d", got, s.Recorded)
	}
	if s.Failed != 0 || s.Written != s.Recorded+uint64(len(loss)) {
		t.Errorf("stats %+v", s)
	}
	if s.Retries == 0 {
		t.Error("retries = 0 with a stopped writer")
	}
}

// After Shutdown every accepted event is in the store, with a slow
// writer and 100,000 events from several goroutines.
func TestShutdownDrainsEverythingWithSlowWriter(t *testing.T) {
	t.Parallel()
	// The queue holds all 100,000, so that most of them are still
	// queued behind the slow writer when Shutdown starts.
	w := &memWriter{delay: 5 * time.Millisecond}
	r := activitylog.NewRecorder(w, &activitylog.Options{QueueSize: 200_000, BatchSize: 1000, BlockTimeout: time.Minute})
	const goroutines, each = 8, 12_500
	var wg sync.WaitGroup
	var errs atomic.Int64
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := r.Record(context.Background(), ev("bulk")); err != nil {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if queued := r.Stats().QueueDepth; queued < 10_000 {
		t.Logf("only %d events queued at Shutdown: the writer kept up", queued)
	}
	shutdown(t, r)
	if errs.Load() != 0 {
		t.Fatalf("%d Records failed", errs.Load())
	}
	s := r.Stats()
	if got := len(w.all()); got != goroutines*each || s.Recorded != goroutines*each || s.Written != goroutines*each {
		t.Fatalf("stored %d, stats %+v, want %d", got, s, goroutines*each)
	}
	if err := r.Record(context.Background(), ev("late")); !errors.Is(err, activitylog.ErrClosed) {
		t.Errorf("Record after Shutdown: %v, want ErrClosed", err)
	}
}

func TestShutdownDeadlineCountsLostEvents(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	w.stopped.Store(true)
	r := activitylog.NewRecorder(w, &activitylog.Options{RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
	for i := 0; i < 10; i++ {
		if err := r.Record(context.Background(), ev("doomed")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := r.Shutdown(ctx)
	if err == nil || !errors.Is(err, activitylog.ErrUnavailable) {
		t.Fatalf("Shutdown = %v, want an error wrapping ErrUnavailable", err)
	}
	if s := r.Stats(); s.Failed != 10 || s.Written != 0 {
		t.Errorf("stats %+v, want 10 failed", s)
	}
}

func TestRetryWithBackoffThenSuccess(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	w.failN.Store(3)
	r := activitylog.NewRecorder(w, &activitylog.Options{RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond})
	if err := r.Record(context.Background(), ev("x")); err != nil {
		t.Fatal(err)
	}
	shutdown(t, r)
	s := r.Stats()
	if s.Retries != 3 || s.Written != 1 || s.Failed != 0 || len(w.all()) != 1 {
		t.Errorf("stats %+v, stored %d; want 3 retries and 1 written", s, len(w.all()))
	}
}

func TestMaxRetriesGivesUpAndReportsFailure(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	w.failN.Store(3) // the first batch fails 3 times: 1 try + 2 retries
	r := activitylog.NewRecorder(w, &activitylog.Options{Mode: activitylog.Sync, MaxRetries: 2, RetryMin: time.Millisecond})
	err := r.Record(context.Background(), ev("lost"))
	if !errors.Is(err, errStopped) {
		t.Fatalf("Sync Record = %v, want the writer's error", err)
	}
	// The next batch succeeds and carries the report of the failure.
	if err := r.Record(context.Background(), ev("kept")); err != nil {
		t.Fatal(err)
	}
	shutdown(t, r)
	s := r.Stats()
	if s.Failed != 1 || s.Retries != 2 {
		t.Errorf("stats %+v, want failed 1 retries 2", s)
	}
	loss := w.byCategory("audit_loss")
	if len(loss) != 1 || loss[0].Extra["failed"].(float64) != 1 {
		t.Fatalf("loss events %+v, want one reporting 1 failed", loss)
	}
}

func TestSyncModeReturnsAfterCommit(t *testing.T) {
	t.Parallel()
	w := &memWriter{delay: 5 * time.Millisecond}
	r := activitylog.NewRecorder(w, &activitylog.Options{Mode: activitylog.Sync, FlushInterval: time.Hour})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := ev("sync")
			e.ID = activitylog.NewID(time.Now())
			if err := r.Record(context.Background(), e); err != nil {
				t.Error(err)
				return
			}
			// Committed: the writer holds it now, not later.
			w.mu.Lock()
			ok := w.ids[e.ID]
			w.mu.Unlock()
			if !ok {
				t.Errorf("Sync Record returned before %v was written", e.ID)
			}
		}()
	}
	wg.Wait()
	shutdown(t, r)
	if w.batches >= 20 {
		t.Logf("no group commit: %d batches for 20 events", w.batches)
	}
}

func TestFailPolicyAndReservation(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	w.stopped.Store(true)
	r := activitylog.NewRecorder(w, &activitylog.Options{OnFull: activitylog.Fail, QueueSize: 2, BatchSize: 1,
		RetryMin: time.Millisecond, RetryMax: time.Millisecond})
	// Fill: one event held by the batcher, two in the queue.
	if err := r.Record(context.Background(), ev("held")); err != nil {
		t.Fatal(err)
	}
	for w.calls.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	res, err := r.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Record(context.Background(), ev("q2")); err != nil {
		t.Fatal(err)
	}
	// Full now: Record and Reserve are refused, fail-closed.
	if err := r.Record(context.Background(), ev("refused")); !errors.Is(err, activitylog.ErrQueueFull) {
		t.Fatalf("Record on a full queue = %v, want ErrQueueFull", err)
	}
	if _, err := r.Reserve(); !errors.Is(err, activitylog.ErrQueueFull) {
		t.Fatalf("Reserve on a full queue = %v, want ErrQueueFull", err)
	}
	// The reservation still records.
	if err := res.Record(context.Background(), ev("reserved")); err != nil {
		t.Fatalf("reserved Record = %v", err)
	}
	if err := res.Record(context.Background(), ev("twice")); err == nil {
		t.Fatal("a reservation recorded twice")
	}
	w.stopped.Store(false)
	shutdown(t, r)
	s := r.Stats()
	if s.Refused != 2 || s.Recorded != 3 || s.Written != 4 { // 3 events + 1 loss report
		t.Errorf("stats %+v", s)
	}
	loss := w.byCategory("audit_loss")
	if len(loss) != 1 || loss[0].Extra["refused"].(float64) != 2 {
		t.Errorf("loss %+v, want one report of 2 refused", loss)
	}
}

func TestReservationRelease(t *testing.T) {
	t.Parallel()
	r := activitylog.NewRecorder(&memWriter{}, &activitylog.Options{OnFull: activitylog.Fail, QueueSize: 1})
	res, err := r.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reserve(); err == nil {
		t.Fatal("second Reserve on a queue of one succeeded")
	}
	res.Release()
	res.Release() // no-op
	res2, err := r.Reserve()
	if err != nil {
		t.Fatalf("Reserve after Release: %v", err)
	}
	res2.Release()
	shutdown(t, r)
}

func TestBlockPolicyTimesOut(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	w.stopped.Store(true)
	r := activitylog.NewRecorder(w, &activitylog.Options{QueueSize: 1, BatchSize: 1, BlockTimeout: 20 * time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: time.Millisecond})
	if err := r.Record(context.Background(), ev("held")); err != nil {
		t.Fatal(err)
	}
	for w.calls.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	if err := r.Record(context.Background(), ev("queued")); err != nil {
		t.Fatal(err)
	}
	err := r.Record(context.Background(), ev("blocked"))
	if !errors.Is(err, activitylog.ErrQueueFull) {
		t.Fatalf("Record = %v, want ErrQueueFull after the block timeout", err)
	}
	w.stopped.Store(false)
	shutdown(t, r)
	if s := r.Stats(); s.Dropped != 1 || s.Recorded != 2 {
		t.Errorf("stats %+v, want 1 dropped 2 recorded", s)
	}
}

func TestFlushWritesQueuedEvents(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	r := activitylog.NewRecorder(w, &activitylog.Options{FlushInterval: time.Hour})
	for i := 0; i < 3; i++ {
		if err := r.Record(context.Background(), ev("f")); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(w.all()); n != 3 {
		t.Errorf("after Flush %d events written, want 3", n)
	}
	shutdown(t, r)
}

func TestRecorderRedactsBeforeWriting(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	r := activitylog.NewRecorder(w, nil)
	extra := map[string]any{"api_key": "abc", "note": "card 4111 1111 1111 1111"}
	e := activitylog.Event{Kind: activitylog.KindCRUD, Action: "update",
		Changes: map[string]activitylog.Change{"password": {Old: "hunter2-old", New: "hunter2-new"}, "name": {Old: "a", New: "b"}},
		Extra:   extra,
		Request: activitylog.Request{Headers: map[string]string{"Authorization": "Bearer x", "Accept": "*/*"}},
	}
	if err := r.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	shutdown(t, r)
	got := w.all()[0]
	b, _ := json.Marshal(got)
	for _, secret := range []string{`"abc"`, "4111 1111 1111 1111", "Bearer x", "hunter2"} {
		if contains(string(b), secret) {
			t.Errorf("stored event holds %s: %s", secret, b)
		}
	}
	if got.Changes["name"].New != "b" || got.Request.Headers["Accept"] != "*/*" {
		t.Errorf("non-secret values changed: %s", b)
	}
	if extra["api_key"] != "abc" {
		t.Error("redaction changed the caller's map")
	}
}

func TestStatsExpvar(t *testing.T) {
	t.Parallel()
	r := activitylog.NewRecorder(&memWriter{}, nil)
	if err := r.Record(context.Background(), ev("x")); err != nil {
		t.Fatal(err)
	}
	shutdown(t, r)
	var s map[string]any
	if err := json.Unmarshal([]byte(r.Var().String()), &s); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"recorded", "written", "dropped", "refused", "failed", "retries", "queue_depth", "last_batch_latency_ns"} {
		if _, ok := s[k]; !ok {
			t.Errorf("expvar lacks %q: %v", k, s)
		}
	}
	if s["recorded"].(float64) != 1 || s["written"].(float64) != 1 {
		t.Errorf("expvar %v", s)
	}
}

func TestMultiWriter(t *testing.T) {
	t.Parallel()
	a, b := &memWriter{}, &memWriter{}
	b.failN.Store(1)
	r := activitylog.NewRecorder(activitylog.MultiWriter(a, b), &activitylog.Options{RetryMin: time.Millisecond})
	if err := r.Record(context.Background(), ev("x")); err != nil {
		t.Fatal(err)
	}
	shutdown(t, r)
	if len(a.all()) != 1 || len(b.all()) != 1 {
		t.Errorf("a has %d, b has %d, want 1 each (retry is idempotent)", len(a.all()), len(b.all()))
	}
}

func contains(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// cityEnricher fills the geo of events that have a client address, and
// panics on one address, to show that a faulty Enricher costs the event
// only its enrichment.
type cityEnricher struct{ calls atomic.Int64 }

func (c *cityEnricher) Enrich(e *activitylog.Event) {
	c.calls.Add(1)
	switch e.Request.RemoteIP {
	case "":
	case "198.51.100.66":
		e.Request.Geo.City = "half-written"
		panic("boom")
	default:
		if e.Request.Geo == (activitylog.Geo{}) {
			e.Request.Geo = activitylog.Geo{City: "Testville", CountryCode: "TV"}
		}
	}
}

func TestEnrichersRunInBatcher(t *testing.T) {
	t.Parallel()
	w := &memWriter{}
	en := &cityEnricher{}
	r := activitylog.NewRecorder(w, &activitylog.Options{Enrichers: []activitylog.Enricher{en}})
	for _, ip := range []string{"203.0.113.9", "198.51.100.66", ""} {
		e := ev("x")
		e.Request.RemoteIP = ip
		if err := r.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	kept := ev("kept")
	kept.Request = activitylog.Request{RemoteIP: "203.0.113.10", Geo: activitylog.Geo{City: "Own"}}
	if err := r.Record(context.Background(), kept); err != nil {
		t.Fatal(err)
	}
	shutdown(t, r)
	got := map[string]string{}
	for _, e := range w.all() {
		got[e.Action+"/"+e.Request.RemoteIP] = e.Request.Geo.City
	}
	want := map[string]string{"x/203.0.113.9": "Testville", "x/198.51.100.66": "", "x/": "", "kept/203.0.113.10": "Own"}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("event %s: city %q (present %v), want %q", k, g, ok, v)
		}
	}
	if n := en.calls.Load(); n != 4 {
		t.Errorf("Enrich called %d times, want 4", n)
	}
	if s := r.Stats(); s.Written != 4 || s.Failed != 0 {
		t.Errorf("stats %+v: a panicking enricher must not lose events", s)
	}
}

// refuseWriter is a memWriter that refuses, with a *FieldError wrapping
// ErrInvalid, every batch holding an event that refuse picks, as a
// store does that cannot hold an event faithfully. Until hold is
// closed, every Write waits for it. fail, when set, is returned instead
// by the next failN.Load() writes.
type refuseWriter struct {
	memWriter
	refuse func(e activitylog.Event) bool
	hold   chan struct{}
	fail   error
	calls  atomic.Int64
	mu2    sync.Mutex
	sizes  []int // len of every batch handed to Write
}

func (w *refuseWriter) Write(ctx context.Context, es []activitylog.Event) error {
	w.calls.Add(1)
	if w.hold != nil {
		<-w.hold
	}
	w.mu2.Lock()
	w.sizes = append(w.sizes, len(es))
	w.mu2.Unlock()
	if w.fail != nil && w.failN.Load() > 0 {
		w.failN.Add(-1)
		return w.fail
	}
	for _, e := range es {
		if w.refuse(e) {
			return fmt.Errorf("insert events: %w", &activitylog.FieldError{Field: "time", Value: e.Time.Format(time.RFC3339), Reason: "is outside the store's range"})
		}
	}
	return w.memWriter.Write(ctx, es)
}

func byAction(action string) func(activitylog.Event) bool {
	return func(e activitylog.Event) bool { return e.Action == action }
}

// logBuffer collects a Logger's output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the logged records whose message holds msg.
func (l *logBuffer) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.b.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && strings.Contains(fmt.Sprint(m["msg"]), msg) {
			out = append(out, m)
		}
	}
	return out
}

// checkSums checks that every accepted event was written or failed:
// Written counts the loss reports too.
func checkSums(t *testing.T, s activitylog.Stats) {
	t.Helper()
	if s.Written+s.Failed != s.Recorded+s.LossEvents {
		t.Errorf("written %d + failed %d != recorded %d + loss events %d", s.Written, s.Failed, s.Recorded, s.LossEvents)
	}
}

// A batch with one event the Writer refuses as invalid stores the other
// nine, counts the one as failed, logs its id (not its content) once,
// reports it in an audit_loss event, and does not stop the batcher.
func TestWriterRefusalIsolatesTheEvent(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	w := &refuseWriter{refuse: byAction("bad")}
	r := activitylog.NewRecorder(w, &activitylog.Options{FlushInterval: time.Hour,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))}) // MaxRetries 0: unlimited
	var badID activitylog.ID
	for i := 0; i < 10; i++ {
		e := ev("good")
		if i == 6 {
			e = ev("bad")
			e.Message = "secret-content"
			e.ID = activitylog.NewID(time.Now())
			badID = e.ID
		}
		if err := r.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v (the batcher is stuck)", err)
	}
	got := w.all()
	if len(got) != 9 {
		t.Fatalf("stored %d events, want the 9 good ones", len(got))
	}
	for _, e := range got {
		if e.Action != "good" {
			t.Errorf("stored %q", e.Action)
		}
	}
	if s := r.Stats(); s.Written != 9 || s.Failed != 1 || s.Retries != 0 {
		t.Errorf("stats %+v, want 9 written, 1 failed, no retries", s)
	}
	w.mu2.Lock()
	if w.sizes[0] != 10 || len(w.sizes) > 9 {
		t.Errorf("batches written %v: want the 10, then a bisection", w.sizes)
	}
	w.mu2.Unlock()

	// The batcher goes on, and the next batch reports the loss.
	if err := r.Record(context.Background(), ev("after")); err != nil {
		t.Fatal(err)
	}
	shutdown(t, r)
	if n := len(w.byCategory("")); n != 10 {
		t.Errorf("stored %d application events, want 10", n)
	}
	loss := w.byCategory(activitylog.CategoryAuditLoss)
	if len(loss) != 1 || loss[0].Extra["failed"].(float64) != 1 {
		t.Fatalf("loss events %+v, want one reporting 1 failed", loss)
	}
	s := r.Stats()
	if s.Recorded != 11 || s.Failed != 1 || s.Written != 11 || s.LossEvents != 1 {
		t.Errorf("stats %+v, want 11 recorded, 1 failed, 10+1 written", s)
	}
	checkSums(t, s)
	refused := logs.lines("refused event")
	if len(refused) != 1 || refused[0]["id"] != badID.String() || !strings.Contains(fmt.Sprint(refused[0]["err"]), "outside the store's range") {
		t.Errorf("refusal logged as %v, want once with id %s and the FieldError", refused, badID)
	}
	if strings.Contains(logs.b.String(), "secret-content") {
		t.Error("the log holds the refused event's content")
	}
}

// In Sync mode each caller learns its own event's fate: the refused one
// gets the FieldError, the others of the same batch nil.
func TestWriterRefusalSyncCallersGetTheirOwnOutcome(t *testing.T) {
	t.Parallel()
	w := &refuseWriter{refuse: byAction("bad"), hold: make(chan struct{})}
	r := activitylog.NewRecorder(w, &activitylog.Options{Mode: activitylog.Sync})
	// The first write holds the batcher, so the next 10 are batched
	// together.
	first := make(chan error, 1)
	go func() { first <- r.Record(context.Background(), ev("first")) }()
	for w.calls.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	errs := make([]error, 10)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			action := "good"
			if i == 3 {
				action = "bad"
			}
			errs[i] = r.Record(context.Background(), ev(action))
		}()
	}
	for r.Stats().QueueDepth < 10 {
		time.Sleep(time.Millisecond)
	}
	close(w.hold)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if i != 3 {
			if err != nil {
				t.Errorf("good event %d: %v", i, err)
			}
			continue
		}
		var fe *activitylog.FieldError
		if !errors.Is(err, activitylog.ErrInvalid) || !errors.As(err, &fe) || fe.Field != "time" {
			t.Errorf("refused event: %v, want the Writer's FieldError", err)
		}
	}
	shutdown(t, r)
	if n := len(w.byCategory("")); n != 10 {
		t.Errorf("stored %d events, want 10", n)
	}
	s := r.Stats()
	if s.Failed != 1 {
		t.Errorf("stats %+v, want 1 failed", s)
	}
	checkSums(t, s)
}

// A Writer that refuses everything costs every event, and nothing more:
// with unlimited retries the batcher neither loops nor sticks.
func TestWriterRefusingEverythingDoesNotStick(t *testing.T) {
	t.Parallel()
	w := &refuseWriter{refuse: func(activitylog.Event) bool { return true }}
	r := activitylog.NewRecorder(w, &activitylog.Options{BatchSize: 10, QueueSize: 100, BlockTimeout: time.Minute})
	for i := 0; i < 95; i++ {
		if err := r.Record(context.Background(), ev("x")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if s := r.Stats(); s.Failed != 95 || s.Written != 0 || s.Retries != 0 {
		t.Errorf("stats %+v, want 95 failed", s)
	}
	shutdown(t, r)
	s := r.Stats()
	if s.Failed != 95 || s.Written != 0 || s.Recorded != 95 || len(w.all()) != 0 {
		t.Errorf("stats %+v, want all 95 failed", s)
	}
	checkSums(t, s)
}

// A refused loss report is not lost: the next one reports its losses
// again.
func TestRefusedLossReportIsReportedAgain(t *testing.T) {
	t.Parallel()
	var refuseLoss atomic.Bool
	w := &refuseWriter{refuse: func(e activitylog.Event) bool {
		return e.Action == "bad" || e.Category == activitylog.CategoryAuditLoss && refuseLoss.Load()
	}}
	r := activitylog.NewRecorder(w, &activitylog.Options{Mode: activitylog.Sync, FlushInterval: time.Hour})
	if err := r.Record(context.Background(), ev("bad")); !errors.Is(err, activitylog.ErrInvalid) {
		t.Fatalf("Record = %v, want ErrInvalid", err)
	}
	refuseLoss.Store(true)
	if err := r.Record(context.Background(), ev("b")); err != nil { // its loss report is refused
		t.Fatal(err)
	}
	refuseLoss.Store(false)
	if err := r.Record(context.Background(), ev("c")); err != nil {
		t.Fatal(err)
	}
	shutdown(t, r)
	loss := w.byCategory(activitylog.CategoryAuditLoss)
	if len(loss) != 1 || loss[0].Extra["failed"].(float64) != 1 || loss[0].Extra["total_failed"].(float64) != 1 {
		t.Fatalf("loss events %+v, want one reporting 1 failed", loss)
	}
	s := r.Stats()
	if s.Failed != 1 || s.Written != 3 || s.LossEvents != 1 {
		t.Errorf("stats %+v, want 1 failed, b, c and one loss report written", s)
	}
	checkSums(t, s)
}

// Commit is all or none even when the Writer refuses one of its
// events: the Commit fails with the refusal and none of its events is
// stored, while the Commits and Records batched with it are.
func TestCommitRefusedByWriterStoresNone(t *testing.T) {
	t.Parallel()
	w := &refuseWriter{refuse: byAction("bad"), hold: make(chan struct{})}
	r := activitylog.NewRecorder(w, &activitylog.Options{Mode: activitylog.Sync})
	first := make(chan error, 1)
	go func() { first <- r.Record(context.Background(), ev("first")) }()
	for w.calls.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	var badErr, goodErr, recErr error
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		badErr = r.Commit(context.Background(), []activitylog.Event{ev("c1"), ev("bad"), ev("c3")})
	}()
	go func() {
		defer wg.Done()
		goodErr = r.Commit(context.Background(), []activitylog.Event{ev("g1"), ev("g2")})
	}()
	go func() { defer wg.Done(); recErr = r.Record(context.Background(), ev("single")) }()
	for r.Stats().QueueDepth < 6 {
		time.Sleep(time.Millisecond)
	}
	close(w.hold)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	var fe *activitylog.FieldError
	if !errors.Is(badErr, activitylog.ErrInvalid) || !errors.As(badErr, &fe) {
		t.Errorf("refused Commit = %v, want the Writer's FieldError", badErr)
	}
	if goodErr != nil || recErr != nil {
		t.Errorf("Commit = %v, Record = %v; want nil for both", goodErr, recErr)
	}
	stored := map[string]bool{}
	for _, e := range w.all() {
		stored[e.Action] = true
	}
	for _, a := range []string{"c1", "bad", "c3"} {
		if stored[a] {
			t.Errorf("%s of the refused Commit was stored", a)
		}
	}
	for _, a := range []string{"first", "g1", "g2", "single"} {
		if !stored[a] {
			t.Errorf("%s was not stored", a)
		}
	}
	if err := r.Record(context.Background(), ev("after")); err != nil {
		t.Fatal(err)
	}
	shutdown(t, r)
	loss := w.byCategory(activitylog.CategoryAuditLoss)
	if len(loss) != 1 || loss[0].Extra["failed"].(float64) != 3 {
		t.Fatalf("loss events %+v, want one reporting 3 failed", loss)
	}
	s := r.Stats()
	if s.Failed != 3 {
		t.Errorf("stats %+v, want 3 failed", s)
	}
	checkSums(t, s)
}

// Errors other than a refusal retry the whole batch, as before; so does
// one that joins a refusal with an unreachable store (a MultiWriter
// with one store down), which is isolated only once the store is back.
func TestWriterUnavailableRetriesWholeBatch(t *testing.T) {
	t.Parallel()
	unavailable := fmt.Errorf("connect: %w", activitylog.ErrUnavailable)
	joined := errors.Join(&activitylog.FieldError{Field: "time", Value: "x", Reason: "out of range"}, unavailable)
	for _, fail := range []error{unavailable, joined} {
		w := &refuseWriter{refuse: byAction("bad"), fail: fail}
		w.failN.Store(3)
		r := activitylog.NewRecorder(w, &activitylog.Options{FlushInterval: time.Hour, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond})
		for _, a := range []string{"a", "bad", "b", "c"} {
			if err := r.Record(context.Background(), ev(a)); err != nil {
				t.Fatal(err)
			}
		}
		shutdown(t, r)
		w.mu2.Lock()
		sizes := w.sizes
		w.mu2.Unlock()
		if len(sizes) < 4 || sizes[0] != 4 || sizes[1] != 4 || sizes[2] != 4 || sizes[3] != 4 {
			t.Errorf("%v: batches written %v, want the whole 4 retried 3 times, then refused", fail, sizes)
		}
		s := r.Stats()
		if s.Retries != 3 || s.Failed != 1 || len(w.byCategory("")) != 3 {
			t.Errorf("%v: stats %+v, stored %d; want 3 retries, 1 failed, 3 stored", fail, s, len(w.byCategory("")))
		}
		checkSums(t, s)
	}
}
