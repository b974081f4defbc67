package main

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/internal/demo"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// Timeouts of the HTTP server. A POST of max_body_bytes must arrive
// within readTimeout; a query must be answered within writeTimeout.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 1 << 20
)

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: cfg.Level()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// serve runs the API until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, cfg config.Config, _, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)

	store, err := sqlite.Open(cfg.DB, nil)
	if err != nil {
		return err
	}
	// The broadcaster publishes each committed batch to the live streams.
	bc := server.NewBroadcaster(store, nil)
	rec := activitylog.NewRecorder(bc, cfg.RecorderOptions(log))
	publishStats(rec)

	// closing is set when shutdown begins, so that /readyz says so
	// before the listener closes.
	var closing atomic.Bool
	ready := func(ctx context.Context) error {
		if closing.Load() {
			return activitylog.ErrClosed
		}
		// A count over an empty range of the time index: it touches
		// the events table without reading it.
		_, err := store.Count(ctx, activitylog.Filter{From: activitylog.MaxTime})
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /debug/vars", expvar.Handler())
	mux.Handle("/", server.New(store, rec, &server.Options{
		MaxBodyBytes: cfg.MaxBodyBytes,
		MaxBatch:     cfg.MaxBatch,
		Ready:        ready,
		Logger:       log,
		Audit:        rec, // every export is itself recorded
		Stream:       &server.StreamOptions{Broadcaster: bc},
	}))
	if cfg.Demo {
		mux.Handle(demo.Prefix+"/", demo.Handler(rec))
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", cfg.Addr, err), closeAll(context.Background(), rec, store))
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stderr, "activitylog: listening on %s\n", url)
	if !loopback(ln.Addr()) {
		log.Warn("listening beyond loopback: the API has no authentication of its own; put an authenticating proxy in front of it",
			"addr", ln.Addr().String())
	}

	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Streams never end by themselves: end them when shutdown begins,
	// or Shutdown would wait for them until its deadline.
	srv.RegisterOnShutdown(bc.Close)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	genCtx, stopGen := context.WithCancel(context.Background())
	defer stopGen()
	var gen sync.WaitGroup
	if cfg.Demo {
		log.Info("demo shop mounted; a generator drives it", "url", url+demo.Prefix+"/", "every", cfg.DemoInterval.String())
		gen.Go(func() { demo.Generate(genCtx, loopbackURL(ln.Addr())+demo.Prefix, cfg.DemoInterval) })
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down; a second signal stops at once", "cause", context.Cause(ctx).Error(),
			"timeout", cfg.ShutdownTimeout.String())
	case serveErr = <-served:
		serveErr = fmt.Errorf("serve http: %w", serveErr)
		log.Error("http server failed; shutting down", "err", serveErr)
	}

	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	closing.Store(true)
	// The generator first, so that it does not meet a closing server.
	stopGen()
	gen.Wait()
	var errs []error
	if serveErr != nil {
		errs = append(errs, serveErr)
	}
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("shut down http server: %w", err))
		srv.Close()
	}
	errs = append(errs, closeAll(sctx, rec, store))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	st := rec.Stats()
	log.Info("stopped", "recorded", st.Recorded, "written", st.Written, "dropped", st.Dropped,
		"refused", st.Refused, "failed", st.Failed)
	return nil
}

// closeAll drains the recorder into the store, then closes the store.
func closeAll(ctx context.Context, rec *activitylog.Recorder, store *sqlite.Store) error {
	var errs []error
	if err := rec.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := store.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// loopbackURL returns the URL of the server on a, dialling loopback
// when a is the unspecified address (all interfaces).
func loopbackURL(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil || !ap.Addr().IsUnspecified() {
		return "http://" + a.String()
	}
	return "http://" + netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port()).String()
}

func loopback(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().IsLoopback()
}

// stats is the "activitylog" expvar: the counters of the recorder that
// serve started last. expvar.Publish panics when a name is published
// twice, so it is published once, and serve points it at its recorder.
var stats struct {
	once sync.Once
	rec  atomic.Pointer[activitylog.Recorder]
}

type statsVar struct{}

func (statsVar) String() string {
	if r := stats.rec.Load(); r != nil {
		return r.Var().String()
	}
	return "null"
}

func publishStats(rec *activitylog.Recorder) {
	stats.rec.Store(rec)
	stats.once.Do(func() { expvar.Publish("activitylog", statsVar{}) })
}
