package httpaudit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

// benchWriter is the cheapest ResponseWriter, so that the benchmarks
// measure the handler and the middleware, not httptest.
type benchWriter struct{ h http.Header }

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(int)             {}

type discardRecorder struct{}

func (discardRecorder) Record(context.Context, activitylog.Event) error { return nil }

type discardWriter struct{}

func (discardWriter) Write(context.Context, []activitylog.Event) error { return nil }

var benchBody = []byte(`{"id":7,"status":"paid"}`)

func benchHandler(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusOK)
	w.Write(benchBody)
}

func benchRequest() *http.Request {
	r := httptest.NewRequest("GET", "http://shop.example/orders/7?expand=lines", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
	r.Header.Set("Referer", "https://shop.example/orders")
	return r
}

// run serves the same request b.N times in the calling goroutine. The
// request is only read (the middleware works on a copy), so it is
// shared.
func run(b *testing.B, h http.Handler) {
	r := benchRequest()
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

func runParallel(b *testing.B, h http.Handler) {
	r := benchRequest()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &benchWriter{h: http.Header{}} // its header map is written
		for pb.Next() {
			h.ServeHTTP(w, r)
		}
	})
}

// BenchmarkBare is the baseline: the handler alone.
func BenchmarkBare(b *testing.B) { run(b, http.HandlerFunc(benchHandler)) }

// BenchmarkMiddleware is the handler behind the middleware, with a
// Recorder that discards: the middleware's own cost.
func BenchmarkMiddleware(b *testing.B) {
	run(b, httpaudit.Middleware(discardRecorder{}, nil)(http.HandlerFunc(benchHandler)))
}

// BenchmarkMiddlewareRecorder adds a real *activitylog.Recorder (async,
// dropping when full) in front of a Writer that discards: what a
// service pays per request. Allocations are counted across all
// goroutines, the batcher's included.
func BenchmarkMiddlewareRecorder(b *testing.B) {
	rec := activitylog.NewRecorder(discardWriter{}, &activitylog.Options{OnFull: activitylog.Drop, QueueSize: 1 << 16})
	defer rec.Shutdown(context.Background())
	run(b, httpaudit.Middleware(rec, nil)(http.HandlerFunc(benchHandler)))
}

// BenchmarkMiddlewareRequestID is BenchmarkMiddleware with an incoming
// X-Request-ID, which saves making one.
func BenchmarkMiddlewareRequestID(b *testing.B) {
	h := httpaudit.Middleware(discardRecorder{}, nil)(http.HandlerFunc(benchHandler))
	r := benchRequest()
	r.Header.Set("X-Request-ID", "0190b1f2-7c3e-7a41-9d2b-6f1e2a3b4c5d")
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

func BenchmarkBareParallel(b *testing.B) { runParallel(b, http.HandlerFunc(benchHandler)) }

func BenchmarkMiddlewareParallel(b *testing.B) {
	runParallel(b, httpaudit.Middleware(discardRecorder{}, nil)(http.HandlerFunc(benchHandler)))
}

func BenchmarkMiddlewareRecorderParallel(b *testing.B) {
	rec := activitylog.NewRecorder(discardWriter{}, &activitylog.Options{OnFull: activitylog.Drop, QueueSize: 1 << 16})
	defer rec.Shutdown(context.Background())
	runParallel(b, httpaudit.Middleware(rec, nil)(http.HandlerFunc(benchHandler)))
}
