package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/internal/demo"
	"github.com/activitylog/activitylog/jwtaudit"
	"github.com/activitylog/activitylog/metrics"
	"github.com/activitylog/activitylog/retention"
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
	rollupInterval    = time.Minute
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
	// The log goes to stderr, or to log_file, reopened on SIGHUP.
	var logOut io.Writer = stderr
	var reopenLog func() error
	if cfg.LogFile != "" {
		lf, err := openLogFile(cfg.LogFile)
		if err != nil {
			return err
		}
		defer lf.Close()
		logOut = lf
		reopenLog = lf.Reopen
	}
	log := newLogger(cfg, logOut)
	slog.SetDefault(log)
	hup, stopHup := catchHangup()
	defer stopHup()

	// The SQLite database db keeps users, API keys and seals, and the
	// events too unless store names another backend (stores.go).
	control, err := sqlite.Open(cfg.DB, nil)
	if err != nil {
		return err
	}
	var (
		events activitylog.Store = control
		store  io.Closer         = control // what closeSealed closes
	)
	if cfg.Store != "" && !(cfg.StoreScheme() == "sqlite" && sqlitePath(cfg.Store) == cfg.DB) {
		if events, err = openStore(ctx, cfg.Store); err != nil {
			return errors.Join(err, control.Close())
		}
		store = closers{events, control}
		log.Info("events go to the store", "store", config.RedactStore(cfg.Store))
	}
	// With integrity on, every batch is sealed into the chain as it is
	// stored (serve_integrity.go), in the event store; the configuration
	// allows it only on a store that can seal (SQLite, PostgreSQL).
	// With nats_url, the workers store and seal (worker_seal.go): serve
	// only serves the integrity API over what they sealed.
	if cfg.NATSURL == "" {
		if err := refuseUnsealed(ctx, cfg, events, "serve"); err != nil {
			return errors.Join(err, store.Close())
		}
	}
	var w activitylog.Writer = events
	var (
		seal     *sealer // writes; nil with nats_url
		sealKeys *sealer // the integrity API's and the purge's
		sealed   sealStore
	)
	if cfg.Sealing() {
		var ok bool
		if sealed, ok = events.(sealStore); !ok {
			return errors.Join(fmt.Errorf("integrity: the store %s cannot seal events", config.RedactStore(cfg.Store)), store.Close())
		}
		if cfg.NATSURL != "" {
			if sealKeys, err = newSealAPI(cfg, sealed, log); err != nil {
				return errors.Join(err, store.Close())
			}
			log.Info("integrity: the workers seal what they store (nats_url); serve serves the integrity API over it")
		} else {
			if seal, err = newSealer(ctx, cfg, sealed, log); err != nil {
				return errors.Join(err, store.Close())
			}
			w, sealKeys = seal, seal
		}
	}
	// With database configurations on, the router sends each tenant's
	// events to its own database, and the rest (and what falls back
	// while a tenant's database is down) to the store above
	// (serve_dbconfig.go). It is closed before the stores, and a replay
	// it had begun after the sealer closed stays pending for the next
	// start.
	var (
		tenants *tenantStores
		reader  activitylog.Querier = events
	)
	if cfg.DatabaseConfigKeys != "" {
		def := events
		if seal != nil {
			def = sealedDefault{Writer: seal, Store: events}
		}
		if tenants, err = newTenantStores(cfg, control, def, log); err != nil {
			errs := []error{err}
			if seal != nil {
				errs = append(errs, seal.Close(context.Background()))
			}
			return errors.Join(append(errs, store.Close())...)
		}
		w, reader = tenants.router, routedStore{Router: tenants.router, def: events}
		store = append(closers{tenants}, store)
	}
	// A disk spool for outages, and with nats_url the JetStream
	// publisher in place of the store (serve_pipeline.go): closed after
	// the Recorder drained into them, before the stores.
	pipe, pw, err := newPipeline(ctx, cfg, w, log)
	if err != nil {
		errs := []error{err}
		if seal != nil {
			errs = append(errs, seal.Close(context.Background()))
		}
		return errors.Join(append(errs, store.Close())...)
	}
	w, store = pw, append(closers{pipe}, store)
	if tenants != nil {
		// The replay of what fell back, one process at a time
		// (jobs.go): with nats_url, what the workers' routers left in
		// a control database this serve shares with them.
		tenants.startReplay(newLocker(events, pipe.jetStream(), cfg.NATSPrefix), log)
	}
	// The broadcaster publishes each committed batch to the live streams,
	// and with nats_url what every worker stored.
	bc := server.NewBroadcaster(w, nil)
	if err := pipe.subscribe(bc); err != nil {
		return errors.Join(fmt.Errorf("subscribe to the live subject: %w", err), store.Close())
	}
	ro := cfg.RecorderOptions(log)
	if pipe.spool != nil {
		// What the store never took when the shutdown deadline passes
		// (or a second signal comes), or after every retry, is spooled,
		// and replayed on the next start.
		ro.Spill = pipe.spool
	}
	rec := activitylog.NewRecorder(bc, ro)
	publishStats(rec)

	// closing is set when shutdown begins, so that /readyz says so
	// before the listener closes.
	var closing atomic.Bool
	ready := func(ctx context.Context) error {
		if closing.Load() {
			return activitylog.ErrClosed
		}
		if err := queueReady(rec, ro.QueueSize)(ctx); err != nil {
			return err
		}
		// A count over an empty range of the time index: it touches
		// the events table without reading it.
		_, err := events.Count(ctx, activitylog.Filter{From: activitylog.MaxTime})
		return err
	}

	// Who may call the API: API keys, sessions and, when a key is
	// configured, JWTs; sign-ins and key changes are recorded.
	ao, err := accessOptions(cfg, rec, log)
	if err != nil {
		return errors.Join(err, closeSealed(context.Background(), rec, seal, store))
	}
	svc, err := access.New(control.Credentials(), ao)
	if err != nil {
		return errors.Join(fmt.Errorf("configure authentication: %w", err), closeSealed(context.Background(), rec, seal, store))
	}

	routes, annotators := svc.Routes(), []server.Annotator(nil)
	var verifyStats func() metrics.VerifyStats
	var pubs []ed25519.PublicKey
	if sealKeys != nil {
		// The integrity API: public key, verification, proofs, and a
		// status on every event listed.
		io := sealKeys.apiOptions(cfg, log)
		io.Audit = rec // every bundle download is itself recorded
		ih, err := integrityhttp.New(sealed, io)
		if err != nil {
			return errors.Join(fmt.Errorf("configure the integrity API: %w", err), closeSealed(context.Background(), rec, seal, store))
		}
		routes, annotators = append(routes, ih.Routes()...), []server.Annotator{ih}
		verifyStats = func() metrics.VerifyStats {
			v := ih.VerifyStats()
			return metrics.VerifyStats{Runs: v.Runs, Failures: v.Failures, Findings: v.Findings}
		}
		pubs = io.PublicKeys
	}

	// Retention: the policies API, and the daily run on one replica
	// (serve_ops.go); with the router, in the tenants' databases too.
	purge := purgeFunc(sealKeys, events, tenants)
	locker := newLocker(events, pipe.jetStream(), cfg.NATSPrefix)
	rs, err := setupRetention(cfg, control, events, tenants, retention.PurgeFunc(purge), pubs, locker, rec, log)
	if err != nil {
		return errors.Join(err, closeSealed(context.Background(), rec, seal, store))
	}
	routes = append(routes, rs.routes...)

	if tenants != nil {
		dr, err := tenants.routes(control, rec, log)
		if err != nil {
			return errors.Join(err, closeSealed(context.Background(), rec, seal, store))
		}
		routes = append(routes, dr...)
	}

	mux := http.NewServeMux()
	// The counters show every tenant's volume: superusers only.
	mux.Handle("GET /debug/vars", superuserOnly(svc.Authenticate, expvar.Handler()))
	// The same and more for Prometheus, to view_metrics keys (docs/metrics.md).
	mo := &metrics.Options{Recorder: rec, Retention: rs.stats, Verify: verifyStats, Subscribers: bc.Subscribers}
	if pipe.fb != nil {
		mo.Spool = pipe.fb.Stats
	}
	mux.Handle("GET /metrics", metricsHandler(svc.Authenticate, mo))
	// The API at /api/, /healthz and /readyz; the web console at /,
	// unless built with the noconsole tag (console_on.go, console_off.go).
	mountAPI(mux, server.New(reader, rec, &server.Options{
		MaxBodyBytes: cfg.MaxBodyBytes,
		MaxBatch:     cfg.MaxBatch,
		Ready:        ready,
		Logger:       log,
		Audit:        rec, // every export is itself recorded
		Stream:       &server.StreamOptions{Broadcaster: bc},
		Authenticate: svc.Authenticate,
		Routes:       routes,
		Annotators:   annotators,
		Purge:        purge,
		IngestRate:   float64(cfg.IngestRate),
		IngestBurst:  cfg.IngestBurst,
	}), cfg.ConsoleReadOnly)
	if cfg.Demo {
		// With on_full: fail, the shop is fail-closed: a request whose
		// event cannot be queued is refused before it is served.
		mux.Handle(demo.Prefix+"/", demo.NewHandler(rec, &demo.Options{FailClosed: cfg.OnFull == "fail"}))
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", cfg.Addr, err), closeSealed(context.Background(), rec, seal, store))
	}
	url := "http://" + ln.Addr().String()
	// The first start over a database without credentials makes a
	// superuser key and shows it, this once: it is stored hashed.
	key, err := svc.Bootstrap(ctx)
	if err != nil {
		ln.Close()
		return errors.Join(fmt.Errorf("make the first API key: %w", err), closeSealed(context.Background(), rec, seal, store))
	}
	// On a sealed database the credential commands must seal too, and
	// take the settings from the environment: the commands shown say so.
	credEnv := credentialsEnv(cfg, credentialsSealed(ctx, cfg, control, events))
	if key != "" {
		printBootstrapKey(stderr, key, loopbackURL(ln.Addr()), cfg.DB, credEnv)
		user, password, err := svc.BootstrapUser(ctx)
		if err != nil {
			ln.Close()
			return errors.Join(fmt.Errorf("make the first console user: %w", err), closeSealed(context.Background(), rec, seal, store))
		}
		if user != "" {
			printBootstrapUser(stderr, user, password, loopbackURL(ln.Addr()))
		}
	} else {
		log.Info("the API needs credentials (docs/authentication.md)",
			"new_key", credEnv+"activitylog api-keys create --db "+cfg.DB+" --name NAME --scopes view_all_logs", "jwt", ao.JWT != nil)
	}
	fmt.Fprintf(stderr, "activitylog: listening on %s\n", url)
	if !loopback(ln.Addr()) && !cfg.CookieSecure {
		log.Warn("listening beyond loopback over plain HTTP: API keys, passwords and session cookies cross the network in the clear; "+
			"put a TLS-terminating proxy in front of it and set cookie_secure",
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
	// Fold new events into the analytics rollups every minute, so that
	// the dashboard's requests do not pay for it (they would fold what
	// is left before they read, so this is speed, not correctness).
	roll, _ := events.(*sqlite.Store) // other stores aggregate on demand
	gen.Go(func() {
		if roll == nil {
			return
		}
		t := time.NewTicker(rollupInterval)
		defer t.Stop()
		for {
			select {
			case <-genCtx.Done():
				return
			case <-t.C:
				if err := roll.Rollup(genCtx); err != nil && genCtx.Err() == nil {
					log.Warn("fold analytics rollups", "err", err)
				}
			}
		}
	})

	if seal != nil {
		gen.Go(func() { seal.runFlusher(genCtx, cfg.IntegrityCheckpointInterval, cfg.WriteTimeout) })
	}
	if rs.sched != nil {
		gen.Go(func() { _ = rs.sched.Run(genCtx) })
	}
	// SIGHUP reopens log_file and reloads the routing table, until serve
	// returns.
	hupCtx, hupDone := context.WithCancel(context.Background())
	defer hupDone()
	onHangup(hupCtx, hup, func() {
		if reopenLog != nil {
			if err := reopenLog(); err != nil {
				fmt.Fprintf(stderr, "activitylog: SIGHUP: %v\n", err)
			}
		}
		if tenants != nil {
			rctx, cancel := context.WithTimeout(context.Background(), cfg.WriteTimeout)
			err := tenants.router.Reload(rctx)
			cancel()
			if err != nil {
				log.Error("SIGHUP: reload the routing table", "err", err)
				return
			}
		}
		log.Info("SIGHUP: log reopened, routing reloaded", "log_file", cfg.LogFile, "routing", tenants != nil)
	})

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
	// A second signal stops waiting: what is still queued goes to the
	// spool (Recorder Options.Spill), and is counted below.
	var forced atomic.Bool
	go func() {
		select {
		case <-forceFrom(ctx):
			forced.Store(true)
			cancel()
		case <-sctx.Done():
		}
	}()
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
	errs = append(errs, closeSealed(sctx, rec, seal, store))
	if st := rec.Stats(); forced.Load() || st.Spilled > 0 {
		if pipe.spool != nil {
			fmt.Fprintf(stderr, "activitylog: stopped before the queue drained: %d events spooled to %s (replayed into the store on the next start), %d failed; recorded %d, written %d\n",
				st.Spilled, cfg.SpoolDir, st.Failed, st.Recorded, st.Written)
		} else {
			fmt.Fprintf(stderr, "activitylog: stopped before the queue drained: %d events not written (no spool_dir to keep them; counted failed)\n", st.Failed)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	st := rec.Stats()
	log.Info("stopped", "recorded", st.Recorded, "written", st.Written, "dropped", st.Dropped,
		"refused", st.Refused, "failed", st.Failed, "spilled", st.Spilled)
	return nil
}

// accessOptions maps cfg onto the access Service's options.
func accessOptions(cfg config.Config, rec *activitylog.Recorder, log *slog.Logger) (*access.Options, error) {
	o := &access.Options{
		Recorder:     rec,
		SessionTTL:   cfg.SessionTTL,
		SessionIdle:  cfg.SessionIdle,
		CookieSecure: cfg.CookieSecure,
		Logger:       log,
	}
	if !cfg.JWTEnabled() {
		return o, nil
	}
	v := jwtaudit.Options{
		PublicKeyFile: cfg.JWTPublicKeys,
		JWKSURL:       cfg.JWTJWKSURL,
		Issuer:        cfg.JWTIssuer,
		Audience:      cfg.JWTAudience,
	}
	for a := range strings.SplitSeq(cfg.JWTAlgorithms, ",") {
		if a = strings.TrimSpace(a); a != "" {
			v.Algorithms = append(v.Algorithms, a)
		}
	}
	if cfg.JWTSecretFile != "" {
		b, err := os.ReadFile(cfg.JWTSecretFile)
		if err != nil {
			return nil, fmt.Errorf("read jwt_secret_file: %w", err)
		}
		if b = []byte(strings.TrimRight(string(b), "\r\n")); len(b) == 0 {
			return nil, fmt.Errorf("read jwt_secret_file %s: it is empty", cfg.JWTSecretFile)
		}
		v.HMACSecret = b
	}
	o.JWT = &access.JWTOptions{Verifier: v, TenantClaim: cfg.JWTTenantClaim, PermissionsClaim: cfg.JWTPermClaim}
	return o, nil
}

// printBootstrapKey shows the first API key, once, and how to use it.
// It is written to stderr as the listening line is, not to the log; a
// service manager that keeps stderr (journald) keeps the key too, so
// the message says to revoke it once real keys or users exist. env is
// what the credential commands need set in front of them
// (credentialsEnv).
func printBootstrapKey(w io.Writer, key, url, db, env string) {
	fmt.Fprintf(w, `activitylog: %s has no user and no API key yet, so this superuser API key was made.
activitylog: It is shown this once; only its hash is stored. Keep it:
activitylog:
activitylog:     %s
activitylog:
activitylog: Send it as a bearer token, e.g. with KEY set to it:
activitylog:     curl -H "Authorization: Bearer $KEY" '%s/api/v1/events?page_size=5'
activitylog: More keys: %sactivitylog api-keys create --db %s --name NAME --scopes view_all_logs
activitylog: Users who sign in: %sactivitylog users create --db %s --username NAME --permissions view_all_logs --password-stdin
activitylog: Once those exist, revoke this one: %sactivitylog api-keys revoke --db %s %s
activitylog: See docs/authentication.md.
`, db, key, url, env, db, env, db, env, db, access.KeyPrefix+access.KeyID(key))
}

// purgeFunc is the purge of POST /api/v1/events/purge and of retention:
// the sealer's, which prunes the sealed chains too, when sealing is on,
// otherwise the event store's own; and with database configurations
// (tenants not nil), each tenant database's too (Router.PurgeRoutes), so
// that a tenant's old events go from its own database as from the
// default one. nil when the event store cannot delete.
func purgeFunc(seal *sealer, events activitylog.Store, tenants *tenantStores) server.PurgeFunc {
	var def server.PurgeFunc
	switch p, ok := events.(activitylog.Purger); {
	case seal != nil:
		def = seal.purge
	case ok:
		def = p.Purge
	default:
		return nil
	}
	if tenants == nil {
		return def
	}
	// The tenant databases are purged even when the default store's
	// purge fails (a sealed chain that cannot be cut, say): one store's
	// trouble must not keep the others' old events.
	return func(ctx context.Context, r activitylog.PurgeRequest) (activitylog.PurgeResult, error) {
		res, err := def(ctx, r)
		routed, rerr := tenants.router.PurgeRoutes(ctx, r)
		res.Add(routed)
		if rerr != nil {
			rerr = fmt.Errorf("purge the tenant databases: %w", rerr)
		}
		return res, errors.Join(err, rerr)
	}
}

// printBootstrapUser shows the first console user's password, once.
func printBootstrapUser(w io.Writer, user, password, url string) {
	fmt.Fprintf(w, `activitylog: And this superuser was made, to sign in to the web console at %s/ :
activitylog:     username %s
activitylog:     password %s
activitylog: It too is shown this once; only its argon2id hash is stored.
`, url, user, password)
}

// closeAll drains the recorder into the store, then closes the store.
func closeAll(ctx context.Context, rec *activitylog.Recorder, store io.Closer) error {
	return closeSealed(ctx, rec, nil, store)
}

// closeSealed drains the recorder into the store, stores the sealer's
// last checkpoint (seal may be nil), then closes the store.
func closeSealed(ctx context.Context, rec *activitylog.Recorder, seal *sealer, store io.Closer) error {
	var errs []error
	if err := rec.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if seal != nil {
		if err := seal.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := store.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// closers closes each of its Closers, in order.
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
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

// superuserOnly serves h to superusers and answers everyone else 401 or
// 403, in the API's error shape.
func superuserOnly(auth server.Authenticator, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := auth(r)
		status, msg := 0, ""
		switch {
		case err != nil || p == nil:
			status, msg = http.StatusUnauthorized, "authentication required: send a superuser API key"
		case !p.Has(activitylog.Superuser):
			status, msg = http.StatusForbidden, "only a superuser may read the recorder's counters"
		}
		if status != 0 {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="activitylog"`)
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			code := map[int]string{http.StatusUnauthorized: "unauthorized", http.StatusForbidden: "forbidden"}[status]
			fmt.Fprintf(w, "{\"error\":{\"code\":%q,\"message\":%q}}\n", code, msg)
			return
		}
		h.ServeHTTP(w, r)
	})
}
