package httpaudit_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

// heldWriter takes nothing until hold is closed.
type heldWriter struct {
	memWriter
	hold chan struct{}
}

func (w *heldWriter) Write(ctx context.Context, es []activitylog.Event) error {
	select {
	case <-w.hold:
	case <-ctx.Done():
		return ctx.Err()
	}
	return w.memWriter.Write(ctx, es)
}

// With FailClosed, a request whose event cannot be queued is refused
// before the handler runs, and the refusal is counted; the requests
// served are each recorded.
func TestFailClosed(t *testing.T) {
	w := &heldWriter{hold: make(chan struct{})}
	rec := activitylog.NewRecorder(w, &activitylog.Options{QueueSize: 4, BatchSize: 1, Logger: slog.New(slog.DiscardHandler)})
	var served atomic.Int64
	h := httpaudit.Middleware(rec, &httpaudit.Options{FailClosed: true})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	var ok, refused int
	for range 20 {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("POST", "/orders", strings.NewReader("{}")))
		switch rr.Code {
		case http.StatusNoContent:
			ok++
		case http.StatusServiceUnavailable:
			refused++
			if rr.Header().Get("Retry-After") != "1" || !strings.Contains(rr.Body.String(), "audit_unavailable") {
				t.Fatalf("refusal: %v %q", rr.Header(), rr.Body)
			}
		default:
			t.Fatalf("status %d", rr.Code)
		}
	}
	if refused == 0 || ok == 0 || int64(ok) != served.Load() {
		t.Fatalf("%d served (handler ran %d times), %d refused", ok, served.Load(), refused)
	}
	close(w.hold)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rec.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st := rec.Stats()
	var requests int
	for _, e := range w.all() {
		if e.Kind == activitylog.KindRequest {
			requests++
		}
	}
	if requests != ok || st.Refused != uint64(refused) || st.LossEvents == 0 {
		t.Fatalf("%d request events for %d served; stats %+v", requests, ok, st)
	}
}

// Without FailClosed (the default) every request is served, and what
// the full queue could not take is counted.
func TestNotFailClosedServesAll(t *testing.T) {
	w := &heldWriter{hold: make(chan struct{})}
	rec := activitylog.NewRecorder(w, &activitylog.Options{QueueSize: 4, BatchSize: 1, OnFull: activitylog.Drop, Logger: slog.New(slog.DiscardHandler)})
	h := httpaudit.Middleware(rec, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	for range 20 {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
		if rr.Code != 204 {
			t.Fatalf("status %d", rr.Code)
		}
	}
	close(w.hold)
	if err := rec.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec.Stats().Dropped == 0 {
		t.Fatal("nothing dropped")
	}
}

func TestFailClosedNeedsReserve(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a Recorder without Reserve")
		}
	}()
	httpaudit.Middleware(newCollector(), &httpaudit.Options{FailClosed: true})
}
