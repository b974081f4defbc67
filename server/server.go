package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/activitylog/activitylog"
)

// Ingester takes a batch of events all or none, and returns once they
// are committed. *activitylog.Recorder's Commit method fits it.
//
// Commit must validate every event and store all of them or none; an
// invalid event's error is a *activitylog.FieldError naming it as in
// "events[3].kind". It may be called from several goroutines at once
// and must not keep the slice.
type Ingester interface {
	Commit(ctx context.Context, events []activitylog.Event) error
}

var _ Ingester = (*activitylog.Recorder)(nil)

// Options configures the handler. The zero value, or nil, means the
// defaults written beside each field.
type Options struct {
	// MaxBodyBytes bounds a POST body. Default: 10 MiB.
	MaxBodyBytes int64
	// MaxBatch is the most events one POST may carry. Default: 1000.
	// A Recorder refuses a Commit larger than its QueueSize (default
	// 8192), so keep MaxBatch below that.
	MaxBatch int
	// Ready is the /readyz check, e.g. a store's Ping. Its error is
	// logged, never shown. Default: nil, always ready.
	Ready func(ctx context.Context) error
	// Logger receives internal errors, which clients never see.
	// Default: slog.Default().
	Logger *slog.Logger
	// Audit, when set, records every export of
	// GET /api/v1/events/export as an event of kind export, after the
	// download ends. Default: nil, exports are not recorded.
	Audit Auditor
	// Stream, when set, serves the live streams GET /api/v1/stream
	// (SSE) and GET /api/v1/ws (WebSocket); see docs/streams.md.
	// Default: nil, both answer 501.
	Stream *StreamOptions
}

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 10 << 20
	DefaultMaxBatch     = 1000
)

type server struct {
	q        activitylog.Querier
	in       Ingester
	maxBody  int64
	maxBatch int
	ready    func(ctx context.Context) error
	log      *slog.Logger
	mux      *http.ServeMux
}

// New returns the API handler, reading from q and ingesting through in.
// q must not be nil. A nil in makes the API read-only: POST is then
// answered with 405. opts may be nil. The handler is safe for
// concurrent use.
func New(q activitylog.Querier, in Ingester, opts *Options) http.Handler {
	if q == nil {
		panic("server.New: nil Querier")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &server{
		q:        q,
		in:       in,
		maxBody:  o.MaxBodyBytes,
		maxBatch: o.MaxBatch,
		ready:    o.Ready,
		log:      o.Logger,
		mux:      http.NewServeMux(),
	}
	if in != nil {
		s.mux.HandleFunc("POST /api/v1/events", s.ingest)
	}
	s.mux.HandleFunc("GET /api/v1/events", s.list)
	s.mux.HandleFunc("GET /api/v1/events/export", s.exportHandler(o.Audit))
	s.mux.HandleFunc("GET /api/v1/events/{id}", s.get)
	s.mux.HandleFunc("POST /api/v1/events/{id}/resolve", s.resolve)
	s.mux.HandleFunc("GET /api/v1/events/{id}/resolution", s.resolution)
	s.mux.HandleFunc("GET /api/v1/objects/{type}/{id}/events", s.objectEvents)
	s.mux.HandleFunc("GET /api/v1/stream", s.sseHandler(o.Stream))
	s.mux.HandleFunc("GET /api/v1/ws", s.wsHandler(o.Stream))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	return s
}

// ServeHTTP routes r. Requests that match no route get the JSON error
// shape rather than ServeMux's plain-text 404 and 405.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// ServeMux's own 404 or 405 handler: run it on a scratch writer to
	// learn which, and the Allow header.
	c := &capture{header: http.Header{}}
	h.ServeHTTP(c, r)
	if c.status == http.StatusMethodNotAllowed {
		allow := c.header.Get("Allow")
		w.Header().Set("Allow", allow)
		s.writeError(w, http.StatusMethodNotAllowed, apiError{
			Code:    "method_not_allowed",
			Message: "method " + clip(r.Method) + " is not allowed here; allowed: " + allow,
		})
		return
	}
	s.writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "no such route: " + clip(r.URL.Path)})
}

// capture is a ResponseWriter that keeps the status and headers and
// discards the body.
type capture struct {
	header http.Header
	status int
}

func (c *capture) Header() http.Header { return c.header }
func (c *capture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}
func (c *capture) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return len(b), nil
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.ready != nil {
		if err := s.ready(r.Context()); err != nil {
			s.log.WarnContext(r.Context(), "activitylog server: not ready", "err", err)
			s.writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
	}
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
