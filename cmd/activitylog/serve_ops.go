package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/metrics"
	"github.com/activitylog/activitylog/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The operations side of serve: GET /metrics, readiness, and the
// signals that end it.

// metricsHandler serves GET /metrics: the Collector over o, and the Go
// runtime's and the process's own metrics, for principals with
// view_metrics (a scraper's API key) or superuser.
func metricsHandler(auth server.Authenticator, o *metrics.Options) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.New(o), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return needOnly(auth, activitylog.ViewMetrics, "GET /metrics needs an API key with the view_metrics scope (activitylog api-keys create --scopes view_metrics)", h)
}

// needOnly serves h only to principals that have need (a superuser has
// every permission), answering 401 and 403 as the API does.
func needOnly(auth server.Authenticator, need activitylog.Permission, why string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := auth(r)
		status := 0
		switch {
		case err != nil || p == nil:
			status = http.StatusUnauthorized
			w.Header().Set("WWW-Authenticate", `Bearer realm="activitylog"`)
		case !p.Has(need):
			status = http.StatusForbidden
		}
		if status != 0 {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			code := map[int]string{http.StatusUnauthorized: "unauthorized", http.StatusForbidden: "forbidden"}[status]
			fmt.Fprintf(w, "{\"error\":{\"code\":%q,\"message\":%q}}\n", code, why)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// queueHighWater is the share of the Recorder's queue above which
// /readyz says the replica is not ready: it is falling behind, and a
// load balancer should send its traffic elsewhere until it catches up.
const queueHighWater = 0.9

// queueReady is the /readyz check of the Recorder's queue.
func queueReady(rec *activitylog.Recorder, size int) func(context.Context) error {
	return func(context.Context) error {
		if d := rec.Stats().QueueDepth; float64(d) >= queueHighWater*float64(size) {
			return fmt.Errorf("recorder queue at %d of %d events, above its high-water mark (%.0f%%): %w", d, size, 100*queueHighWater, activitylog.ErrQueueFull)
		}
		return nil
	}
}

// forceKey carries, in serve's context, the channel that main closes on
// a second SIGINT or SIGTERM: shutdown then stops waiting.
type forceKey struct{}

func withForce(ctx context.Context, force <-chan struct{}) context.Context {
	return context.WithValue(ctx, forceKey{}, force)
}

// forceFrom returns the channel closed on a second signal; nil (never
// closed) when there is none, as in tests that call run.
func forceFrom(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(forceKey{}).(<-chan struct{})
	return ch
}
