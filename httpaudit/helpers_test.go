package httpaudit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

// collector is a Recorder that keeps what it is given.
type collector struct {
	err error // returned by every Record

	mu     sync.Mutex
	events []activitylog.Event
	ctxs   []context.Context
	ch     chan struct{} // one send per Record
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 64)} }

func (c *collector) Record(ctx context.Context, e activitylog.Event) error {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.ctxs = append(c.ctxs, ctx)
	c.mu.Unlock()
	c.ch <- struct{}{}
	return c.err
}

// one returns the only event recorded, failing unless exactly one was.
func (c *collector) one(t *testing.T) activitylog.Event {
	t.Helper()
	e, _ := c.oneCtx(t)
	return e
}

func (c *collector) oneCtx(t *testing.T) (activitylog.Event, context.Context) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) != 1 {
		t.Fatalf("recorded %d events, want 1: %+v", len(c.events), c.events)
	}
	return c.events[0], c.ctxs[0]
}

// wait waits for the next Record, for tests over a real server, where
// the client may see the response before the middleware records it.
func (c *collector) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no event recorded within 10s")
	}
}

// serve runs one request through the middleware with an
// httptest.ResponseRecorder and returns the event and the response.
func serve(t *testing.T, opts *httpaudit.Options, h http.Handler, r *http.Request) (activitylog.Event, *httptest.ResponseRecorder) {
	t.Helper()
	c := newCollector()
	w := httptest.NewRecorder()
	httpaudit.Middleware(c, opts)(h).ServeHTTP(w, r)
	return c.one(t), w
}

// memWriter is an activitylog.Writer that keeps what it is given, for
// tests that run a real *activitylog.Recorder.
type memWriter struct {
	mu     sync.Mutex
	events []activitylog.Event
}

func (m *memWriter) Write(_ context.Context, events []activitylog.Event) error {
	m.mu.Lock()
	m.events = append(m.events, events...)
	m.mu.Unlock()
	return nil
}

func (m *memWriter) all() []activitylog.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]activitylog.Event(nil), m.events...)
}

// syncRecorder returns a real Recorder in Sync mode, so that Record
// returns once the event is in w, and shuts it down when the test ends.
func syncRecorder(t *testing.T) (*activitylog.Recorder, *memWriter) {
	t.Helper()
	w := &memWriter{}
	rec := activitylog.NewRecorder(w, &activitylog.Options{Mode: activitylog.Sync})
	t.Cleanup(func() { _ = rec.Shutdown(context.Background()) })
	return rec, w
}
