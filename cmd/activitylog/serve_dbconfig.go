package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/dbconfig/dbconfighttp"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// tenantStores are serve's database configurations: the router that
// sends each tenant's events to its own database, and the API that
// manages the configurations (docs/database-configs.md). They are on
// when database_config_keys is set.
type tenantStores struct {
	keys   *dbconfig.Keyring
	router *dbconfig.Router
	replay *lockedJob // nil until startReplay
}

// openTenant opens the store of a database configuration: a SQLite
// file by its path, the others by their URL (stores.go).
//
// A SQLite config's path is opened, and created, on this server's disk
// with the server's rights: the API lets only superusers write SQLite
// configs (dbconfighttp), and the path is whatever they gave. The other
// engines' options are limited to dbconfig.AllowedOptions, and mysql.Open
// refuses allowAllFiles and cleartext passwords whatever the URL says.
func openTenant(ctx context.Context, c dbconfig.Config, password string) (activitylog.Store, error) {
	if c.Engine == dbconfig.SQLite {
		return sqlite.Open(c.Database, nil)
	}
	return openStore(ctx, c.URL(password))
}

// checkTenant is the test-connection and health-check of a database
// configuration: it opens the store (which, like the first write
// would, creates the schema when it is missing), counts over an empty
// range, and closes it.
func checkTenant(ctx context.Context, c dbconfig.Config) error {
	s, err := openTenant(ctx, c, c.Password)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.Count(ctx, activitylog.Filter{From: activitylog.MaxTime})
	return err
}

// newTenantStores starts the router in front of def, the store that
// takes the events no configuration routes, and the events that fall
// back while a tenant's database is down. serve and worker both route
// through it. Its replay of pending batches starts with startReplay.
func newTenantStores(cfg config.Config, control *sqlite.Store, def activitylog.Store, log *slog.Logger) (*tenantStores, error) {
	kr, err := dbconfig.ParseKeyring(cfg.DatabaseConfigKeys)
	if err != nil {
		return nil, fmt.Errorf("database_config_keys: %w", err)
	}
	r, err := dbconfig.NewRouter(def, control.DatabaseConfigs(), openTenant, &dbconfig.RouterOptions{
		Pending:        control.PendingEvents(),
		Keyring:        kr,
		Refresh:        cfg.DatabaseConfigRefresh,
		ReplayInterval: -1, // startReplay's job replays, under a lock
		Logger:         log,
	})
	if err != nil {
		return nil, fmt.Errorf("start the tenant router: %w", err)
	}
	return &tenantStores{keys: kr, router: r}, nil
}

// replayJob is the name of the lock under which the router replays its
// pending batches.
const replayJob = "dbconfig-replay"

// startReplay replays the router's pending batches (the events that fell
// back to the default store) at once and every
// dbconfig.DefaultReplayInterval, each run under the lock replayJob of
// locker: processes that share a control database (the serve replicas
// and workers of one deployment) then never replay the same batches at
// the same time. A process that finds the lock held skips that run; as
// each run gives the lock up, every process runs its own replays in
// turn, and so marks its tenants' stores up again once their queue is
// empty. Processes with control databases of their own contend for the
// lock needlessly, which only delays a replay to the next tick.
func (t *tenantStores) startReplay(locker Locker, log *slog.Logger) {
	t.replay = &lockedJob{
		name:     replayJob,
		interval: dbconfig.DefaultReplayInterval,
		locker:   locker,
		log:      log,
		run:      t.router.Replay,
	}
	t.replay.start()
}

// Close stops the replays, then closes the router (and the tenants'
// stores it opened).
func (t *tenantStores) Close() error {
	if t.replay != nil {
		t.replay.Close()
	}
	return t.router.Close()
}

// routes are the database configuration API's, recording each change
// through audit.
func (t *tenantStores) routes(control *sqlite.Store, audit server.Auditor, log *slog.Logger) ([]server.Route, error) {
	h, err := dbconfighttp.New(control.DatabaseConfigs(), t.keys, &dbconfighttp.Options{
		Audit:  audit,
		Router: t.router,
		Check:  checkTenant,
		Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("configure the database config API: %w", err)
	}
	return h.Routes(), nil
}

// routedStore is what the API reads with the router on: lists, counts
// and gets through the router (a filter with a tenant reads that
// tenant's database), resolutions and purges on the default store.
type routedStore struct {
	*dbconfig.Router
	def activitylog.Store
}

func (s routedStore) Resolve(ctx context.Context, r activitylog.Resolution) error {
	res, ok := s.def.(activitylog.Resolver)
	if !ok {
		return fmt.Errorf("resolve: %w: the default store keeps no resolutions", activitylog.ErrUnavailable)
	}
	return res.Resolve(ctx, r)
}

func (s routedStore) Resolution(ctx context.Context, id activitylog.ID) (activitylog.Resolution, error) {
	res, ok := s.def.(activitylog.Resolver)
	if !ok {
		return activitylog.Resolution{}, fmt.Errorf("resolution: %w", activitylog.ErrNotFound)
	}
	return res.Resolution(ctx, id)
}

var _ activitylog.Resolver = routedStore{}

// sealedDefault is the default store of the router when sealing is on:
// writes through the sealer, reads from the store.
type sealedDefault struct {
	activitylog.Writer
	activitylog.Store
}

func (s sealedDefault) Write(ctx context.Context, events []activitylog.Event) error {
	return s.Writer.Write(ctx, events)
}
