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
	// Authenticate turns each request into a principal, whose
	// permissions and tenant every route then enforces (docs/api.md).
	// Hosts that mount the API supply their own, or the access
	// package's (sessions, API keys, JWT). Default: nil, every route
	// but /healthz and /readyz answers 401.
	Authenticate Authenticator
	// Routes are more endpoints behind the same authentication, such
	// as those of the access package (sign-in, API keys).
	Routes []Route
	// IngestRate bounds POST /api/v1/events per principal: at most
	// IngestRate requests a second on average, in bursts of up to
	// IngestBurst. Default: 0, unlimited.
	IngestRate  float64
	IngestBurst int
	// Stream, when set, serves the live streams GET /api/v1/stream
	// (SSE) and GET /api/v1/ws (WebSocket); see docs/streams.md.
	// Default: nil, both answer 501.
	Stream *StreamOptions
	// Purge deletes events for POST /api/v1/events/purge (needs
	// manage_retention, a typed confirmation, and Audit, which records
	// it). Default: the Querier's own Purge when it is an
	// activitylog.Purger (sqlite.Store is: it deletes unsealed events);
	// activitylog serve adds the pruning of sealed chains.
	Purge PurgeFunc
	// Annotators each add a member to every event of the list and
	// detail answers, such as the seal status that package
	// integrityhttp adds as "integrity"; see Annotator. New panics on
	// a nil one or a member that is taken. Default: none.
	Annotators []Annotator
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
	auth     Authenticator
	cop      *http.CrossOriginProtection
	routes   []route
	limits   *keyLimiter
	// annotators add members to the events answered; see Annotator.
	annotators []Annotator
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
	checkAnnotators(o.Annotators)
	s := &server{
		q:        q,
		in:       in,
		maxBody:  o.MaxBodyBytes,
		maxBatch: o.MaxBatch,
		ready:    o.Ready,
		log:      o.Logger,
		mux:      http.NewServeMux(),
		auth:     o.Authenticate,
		cop:      http.NewCrossOriginProtection(),
		limits:   newKeyLimiter(o.IngestRate, o.IngestBurst),

		annotators: o.Annotators,
	}
	if in != nil {
		s.handle("POST /api/v1/events", activitylog.Ingest, s.ingest)
	}
	read := activitylog.ViewLogs // held by view_all_logs and superuser too; the handlers scope
	s.handle("GET /api/v1/events", read, s.list)
	s.handle("GET /api/v1/events/export", read, s.exportHandler(o.Audit))
	s.handle("GET /api/v1/events/{id}", read, s.get)
	s.handle("POST /api/v1/events/{id}/resolve", activitylog.ResolveEvents, s.resolve)
	if o.Purge == nil {
		if p, ok := q.(activitylog.Purger); ok {
			o.Purge = p.Purge
		}
	}
	s.handle("POST /api/v1/events/purge", activitylog.ManageRetention, s.purgeHandler(o.Purge, o.Audit))
	s.handle("GET /api/v1/events/{id}/resolution", read, s.resolution)
	s.handle("GET /api/v1/objects/{type}/{id}/events", read, s.objectEvents)
	s.handle("GET /api/v1/stream", selfAuth, s.sseHandler(o.Stream))
	s.handle("GET /api/v1/ws", selfAuth, s.wsHandler(o.Stream))
	s.openapiRoutes()
	s.kindRoutes(o.Audit)
	s.analyticsRoutes()
	s.handle("GET /api/v1/me", signedIn, s.me)
	for _, rt := range o.Routes {
		s.handle(rt.Pattern, rt.Need, rt.Handler)
	}
	s.handle("GET /healthz", public, s.healthz)
	s.handle("GET /readyz", public, s.readyz)
	return s
}

// me handles GET /api/v1/me: the principal the request authenticated
// as, with its permissions.
func (s *server) me(w http.ResponseWriter, r *http.Request) {
	if err := NoParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, activitylog.PrincipalFrom(r.Context()))
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
