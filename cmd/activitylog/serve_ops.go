package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/archive"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/metrics"
	"github.com/activitylog/activitylog/retention"
	"github.com/activitylog/activitylog/retention/retentionhttp"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
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

// retentionSetup is what serve runs retention with: the API's routes,
// the scheduler (nil when this replica does not run it) and the totals
// for /metrics.
type retentionSetup struct {
	routes []server.Route
	sched  *retention.Scheduler
	runs   atomic.Uint64
	fails  atomic.Uint64
	gone   atomic.Uint64
}

func (r *retentionSetup) stats() metrics.RetentionStats {
	return metrics.RetentionStats{Runs: r.runs.Load(), Failures: r.fails.Load(), Deleted: r.gone.Load()}
}

// setupRetention builds the retention runner over the event store: the
// purge (purgeFunc's: the sealer's when sealing, which prunes sealed
// chains under a signed record, and each tenant database's with the
// router), the archiver when archive_dir is set, the policies API, and
// the daily scheduler behind locker. It returns nil routes, and logs
// why, when the store cannot purge.
//
// With database configurations (tenants not nil), a run counts,
// archives and deletes in each tenant database of the policy's tenant
// scope as in the default store; a tenant database's files go to
// archive_dir/db-<config id>, since two databases hold events of the
// same kinds and days.
func setupRetention(cfg config.Config, control *sqlite.Store, events activitylog.Store, tenants *tenantStores, purge retention.PurgeFunc,
	pubs []ed25519.PublicKey, locker Locker, rec *activitylog.Recorder, log *slog.Logger) (*retentionSetup, error) {
	rs := &retentionSetup{}
	if purge == nil {
		log.Warn("retention: the event store cannot delete events; retention policies are not run", "store", storeName(cfg))
		return rs, nil
	}
	var count retention.Counter = events
	if tenants != nil {
		count = routedCount{router: tenants.router, def: events}
	}
	ro := &retention.RunnerOptions{Audit: rec, Count: count, DefaultRetentionDays: cfg.DefaultRetentionDays, Logger: log}
	if cfg.ArchiveDir != "" {
		ar, err := archive.New(archive.Dir{Root: cfg.ArchiveDir}, events, &archive.Options{PublicKeys: pubs})
		if err != nil {
			return nil, fmt.Errorf("archive_dir: %w", err)
		}
		// What the run may delete: the events archived, and those a
		// signed pruning record released already (a prune stopped half
		// way, which the purge finishes; archive.File.Released).
		ro.Archive = func(ctx context.Context, r activitylog.PurgeRequest) (int64, error) {
			res, err := ar.Archive(ctx, r)
			if err != nil || tenants == nil {
				return res.Events + res.Released, err
			}
			n := res.Events + res.Released
			err = tenants.router.EachStore(ctx, r.Tenant, r.AllTenants, func(c dbconfig.Config, s activitylog.Store) error {
				tar, err := archive.New(archive.Dir{Root: filepath.Join(cfg.ArchiveDir, "db-"+c.ID)}, s, &archive.Options{PublicKeys: pubs})
				if err != nil {
					return err
				}
				res, err := tar.Archive(ctx, r)
				n += res.Events + res.Released
				return err
			})
			return n, err
		}
	}
	runner, err := retention.NewRunner(control.RetentionPolicies(), purge, ro)
	if err != nil {
		return nil, fmt.Errorf("configure retention: %w", err)
	}
	h, err := retentionhttp.New(control.RetentionPolicies(), runner, &retentionhttp.Options{Audit: rec, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("configure the retention API: %w", err)
	}
	rs.routes = h.Routes()
	if !cfg.RetentionScheduler {
		return rs, nil
	}
	rs.sched, err = retention.NewScheduler(runner, &retention.SchedulerOptions{
		At: cfg.RetentionTime, Interval: cfg.RetentionInterval, Locker: retentionLocker{locker}, Logger: log,
		OnRun: func(rep retention.Report, err error) {
			rs.runs.Add(1)
			if err != nil {
				rs.fails.Add(1)
			}
			rs.gone.Add(uint64(max(rep.Deleted, 0)))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("configure the retention scheduler: %w", err)
	}
	return rs, nil
}

// routedCount counts for a retention plan with the router on, where the
// purge deletes (purgeFunc): in the default store, which also holds
// what fell back, and in each tenant database of the filter's tenant
// scope (of every tenant without one), added up.
type routedCount struct {
	router *dbconfig.Router
	def    activitylog.Store
}

func (c routedCount) Count(ctx context.Context, f activitylog.Filter) (int64, error) {
	n, err := c.def.Count(ctx, f)
	if err != nil {
		return 0, err
	}
	err = c.router.EachStore(ctx, f.Tenant, f.Tenant == "" && !f.NoTenant, func(_ dbconfig.Config, s activitylog.Store) error {
		m, err := s.Count(ctx, f)
		n += m
		return err
	})
	return n, err
}

// retentionLocker is the deployment's Locker as retention.Locker.
type retentionLocker struct{ l Locker }

func (r retentionLocker) TryLock(ctx context.Context, name string) (func(), bool, error) {
	h, err := r.l.TryLock(ctx, name)
	if err != nil || h == nil {
		return nil, false, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Release(ctx)
	}, true, nil
}

// logFile is the log_file: appended to, and reopened on SIGHUP so that
// logrotate can move it away.
type logFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func openLogFile(path string) (*logFile, error) {
	l := &logFile{path: path}
	if err := l.Reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen opens the path again; the old file is closed once the new one
// is open, so that no line is lost in between.
func (l *logFile) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("log_file: %w", err)
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// catchHangup catches SIGHUP from now on, so that one that comes before
// serve is ready to act on it is kept, not fatal. stop undoes it.
func catchHangup() (hup chan os.Signal, stop func()) {
	hup = make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup, func() { signal.Stop(hup) }
}

// onHangup runs fn on every signal of hup until ctx ends.
func onHangup(ctx context.Context, hup <-chan os.Signal, fn func()) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				fn()
			}
		}
	}()
}
