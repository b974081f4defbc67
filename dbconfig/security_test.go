package dbconfig_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/sqlite"
)

// A tenant whose auth events go to a store of their own: counting its
// events without a kind adds up its stores; listing them without a kind
// cannot merge pages of several stores, and is refused naming kind.
func TestReadWithoutKindFindsKindRoutes(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	e.addConfig("acme-auth", "acme", "auth")
	e.addConfig("globex", "globex", "all")
	// beta's all and auth configs name the same database: one store.
	beta, _ := e.addConfig("beta", "beta", "all")
	e.mu.Lock()
	e.tenants["beta-auth"] = beta
	e.mu.Unlock()
	c := dbconfig.Config{ID: dbconfig.NewID(), Name: "beta-auth", Engine: dbconfig.SQLite, Database: beta.path,
		Password: e.password, RouteFor: "auth", Tenant: "beta", Primary: true, Active: true}
	c, _ = e.keys.Conceal(c)
	if err := e.repo.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	r := e.router(nil)
	if err := r.Write(ctx, concat(events(3, "acme", activitylog.KindAuth), events(2, "acme", activitylog.KindCRUD),
		events(4, "globex", activitylog.KindAuth), events(1, "beta", activitylog.KindAuth), events(2, "beta", activitylog.KindCRUD))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    activitylog.Filter
		want int64
	}{
		{activitylog.Filter{Tenant: "acme"}, 5}, // 3 in its auth store, 2 in the default store
		{activitylog.Filter{Tenant: "acme", Kind: activitylog.KindAuth}, 3},
		{activitylog.Filter{Tenant: "acme", Kind: activitylog.KindCRUD}, 2},
		{activitylog.Filter{Tenant: "globex"}, 4},
		{activitylog.Filter{Tenant: "beta"}, 3},
	} {
		if n, err := r.Count(ctx, tc.f); err != nil || n != tc.want {
			t.Fatalf("Count(tenant %s, kind %q) = %d, %v; want %d", tc.f.Tenant, tc.f.Kind, n, err, tc.want)
		}
	}
	_, err := r.Query(ctx, activitylog.Filter{Tenant: "acme"})
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Field != "kind" || !errors.Is(err, activitylog.ErrInvalid) {
		t.Fatalf("Query(tenant acme) = %v, want an error naming kind", err)
	}
	for _, tc := range []struct {
		f    activitylog.Filter
		want int
	}{
		{activitylog.Filter{Tenant: "acme", Kind: activitylog.KindAuth}, 3},
		{activitylog.Filter{Tenant: "globex"}, 4},
		{activitylog.Filter{Tenant: "beta"}, 3}, // two configs, one database
	} {
		if p, err := r.Query(ctx, tc.f); err != nil || len(p.Events) != tc.want {
			t.Fatalf("Query(tenant %s, kind %q) = %d events, %v; want %d", tc.f.Tenant, tc.f.Kind, len(p.Events), err, tc.want)
		}
	}
}

// Fall-back events of tenant acme are not replayed into the database
// of their config after it was moved to tenant globex: they stay in the
// default store, counted abandoned.
func TestReplayAfterTenantChange(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	shared, c := e.addConfig("shared", "acme", "all")
	r := e.router(nil)
	shared.down.Store(true)
	es := events(2, "acme", activitylog.KindCRUD)
	if err := r.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	c, _ = e.repo.Get(ctx, c.ID)
	c.Tenant = "globex"
	if err := e.repo.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	shared.down.Store(false)
	if err := r.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	holdsNone(t, shared.path, es)
	if got := ids(t, e.ctlPath); got[es[0].ID] != 1 || got[es[1].ID] != 1 {
		t.Fatal("the default store lost its copy")
	}
	if st := r.Stats(); st.Abandoned != 2 || st.Pending != 0 || st.Replayed != 0 {
		t.Fatalf("Stats = %+v, want 2 abandoned", st)
	}
	// globex's own events go there, and replay there.
	shared.down.Store(true)
	gl := events(2, "globex", activitylog.KindCRUD)
	if err := r.Write(ctx, gl); err != nil {
		t.Fatal(err)
	}
	shared.down.Store(false)
	if err := r.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	holdsExactlyOnce(t, shared.path, gl)
}

// failingPending is a Pending whose Add fails while fail is set.
type failingPending struct {
	dbconfig.Pending
	fail atomic.Bool
}

func (p *failingPending) Add(ctx context.Context, id string, es []activitylog.Event) error {
	if p.fail.Load() {
		return errors.New("pending: disk full")
	}
	return p.Pending.Add(ctx, id, es)
}

// failingDefault is a default store whose writes fail while fail is set.
type failingDefault struct {
	activitylog.Store
	fail atomic.Bool
}

func (d *failingDefault) Write(ctx context.Context, es []activitylog.Event) error {
	if d.fail.Load() {
		return activitylog.ErrUnavailable
	}
	return d.Store.Write(ctx, es)
}

func routerOver(t *testing.T, e *routerEnv, def activitylog.Store, p dbconfig.Pending) *dbconfig.Router {
	t.Helper()
	r, err := dbconfig.NewRouter(def, e.repo, e.open, &dbconfig.RouterOptions{Pending: p, Keyring: e.keys,
		Refresh: -1, ReplayInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Fall-back events are recorded in Pending before the default store is
// written: a Write that fails between the two never leaves them in the
// default store without a pending batch that replays them.
func TestFallbackPendingBeforeDefault(t *testing.T) {
	ctx := context.Background()
	t.Run("pending fails", func(t *testing.T) {
		e := newRouterEnv(t)
		acme, _ := e.addConfig("acme", "acme", "all")
		p := &failingPending{Pending: e.ctl.PendingEvents()}
		r := routerOver(t, e, e.ctl, p)
		acme.down.Store(true)
		p.fail.Store(true)
		es := events(2, "acme", activitylog.KindCRUD)
		if err := r.Write(ctx, es); err == nil {
			t.Fatal("Write with Pending failing = nil")
		}
		// Nothing in the default store that would never be replayed.
		holdsNone(t, e.ctlPath, es)
		// The caller's retry converges.
		p.fail.Store(false)
		if err := r.Write(ctx, es); err != nil {
			t.Fatal(err)
		}
		acme.down.Store(false)
		if err := r.Replay(ctx); err != nil {
			t.Fatal(err)
		}
		holdsExactlyOnce(t, acme.path, es)
		holdsExactlyOnce(t, e.ctlPath, es)
	})
	t.Run("default fails", func(t *testing.T) {
		e := newRouterEnv(t)
		acme, _ := e.addConfig("acme", "acme", "all")
		def := &failingDefault{Store: e.ctl}
		r := routerOver(t, e, def, e.ctl.PendingEvents())
		acme.down.Store(true)
		def.fail.Store(true)
		es := events(2, "acme", activitylog.KindCRUD)
		if err := r.Write(ctx, es); !errors.Is(err, activitylog.ErrUnavailable) {
			t.Fatalf("Write with the default store failing = %v", err)
		}
		if n, _ := e.ctl.PendingEvents().Counts(ctx); len(n) != 1 {
			t.Fatalf("pending after the failed write: %v, want the batch", n)
		}
		// The retry records the batch again; its replay stores it once.
		def.fail.Store(false)
		if err := r.Write(ctx, es); err != nil {
			t.Fatal(err)
		}
		acme.down.Store(false)
		if err := r.Replay(ctx); err != nil {
			t.Fatal(err)
		}
		holdsExactlyOnce(t, acme.path, es)
		holdsExactlyOnce(t, e.ctlPath, es)
		if st := r.Stats(); st.Pending != 0 || st.Fallbacks != 2 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

// Get asks only the stores of the tenant of its context, within the
// read timeout, and takes no event of another tenant than the store's.
func TestGetTenantScoped(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	acme, _ := e.addConfig("acme", "acme", "all")
	globex, _ := e.addConfig("globex", "globex", "all")
	r := e.router(&dbconfig.RouterOptions{ReadTimeout: 50 * time.Millisecond})
	ae, ge := events(1, "acme", activitylog.KindCRUD), events(1, "globex", activitylog.KindCRUD)
	if err := r.Write(ctx, concat(ae, ge)); err != nil {
		t.Fatal(err)
	}
	acmeCtx, globexCtx := activitylog.WithTenant(ctx, "acme"), activitylog.WithTenant(ctx, "globex")
	if got, err := r.Get(acmeCtx, ae[0].ID); err != nil || got.ID != ae[0].ID {
		t.Fatalf("Get as acme of acme's event = %v", err)
	}
	globex.getHang.Store(true) // acme's Get never asks globex's store
	hctx, cancel := context.WithTimeout(acmeCtx, 3*time.Second)
	defer cancel()
	if _, err := r.Get(hctx, ge[0].ID); !errors.Is(err, activitylog.ErrNotFound) {
		t.Fatalf("Get as acme of globex's event = %v, want ErrNotFound", err)
	}
	// Without a tenant, every store is asked, each within the timeout.
	start := time.Now()
	hctx, cancel = context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := r.Get(hctx, ge[0].ID); !errors.Is(err, activitylog.ErrNotFound) {
		t.Fatalf("Get of an event in a hanging store = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("Get waited past the read timeout")
	}
	globex.getHang.Store(false)
	if got, err := r.Get(globexCtx, ge[0].ID); err != nil || got.ID != ge[0].ID {
		t.Fatalf("Get as globex = %v", err)
	}
	// An event of globex planted in acme's database is not taken.
	planted := events(1, "globex", activitylog.KindCRUD)
	s, err := sqlite.Open(acme.path, &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, planted); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, c := range []context.Context{ctx, acmeCtx} {
		if _, err := r.Get(c, planted[0].ID); !errors.Is(err, activitylog.ErrNotFound) {
			t.Fatalf("Get of another tenant's event planted in acme's store = %v, want ErrNotFound", err)
		}
	}
}
