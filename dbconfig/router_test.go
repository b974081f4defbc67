package dbconfig_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/sqlite"
)

// flaky is a real store whose writes fail while down is set.
type flaky struct {
	activitylog.Store
	tenant *tenantDB
}

func (f flaky) Write(ctx context.Context, events []activitylog.Event) error {
	f.tenant.attempts.Add(1)
	if f.tenant.down.Load() {
		return fmt.Errorf("write %s: %w: connection refused", f.tenant.name, activitylog.ErrUnavailable)
	}
	return f.Store.Write(ctx, events)
}

// Get hangs until ctx ends while getHang is set.
func (f flaky) Get(ctx context.Context, id activitylog.ID) (activitylog.Event, error) {
	if f.tenant.getHang.Load() {
		<-ctx.Done()
		return activitylog.Event{}, ctx.Err()
	}
	return f.Store.Get(ctx, id)
}

func (f flaky) Close() error {
	f.tenant.closes.Add(1)
	return f.Store.Close()
}

// tenantDB is one tenant's SQLite file and the switches of its store.
type tenantDB struct {
	name     string
	path     string
	down     atomic.Bool // writes fail
	openFail atomic.Bool // the Opener fails
	getHang  atomic.Bool // Get hangs until its context ends
	attempts atomic.Int64
	opens    atomic.Int64
	closes   atomic.Int64
}

// routerEnv is a control database (configs, pending batches) that is
// also the default store, and tenant databases opened by an Opener
// through flaky.
type routerEnv struct {
	t        *testing.T
	dir      string
	ctlPath  string
	ctl      *sqlite.Store
	repo     *sqlite.DatabaseConfigs
	keys     *dbconfig.Keyring
	mu       sync.Mutex
	tenants  map[string]*tenantDB // by config name
	password string
}

func newRouterEnv(t *testing.T) *routerEnv {
	t.Helper()
	e := &routerEnv{t: t, dir: t.TempDir(), tenants: map[string]*tenantDB{}, password: "tenant-secret-9"}
	e.ctlPath = filepath.Join(e.dir, "control.db")
	e.openControl()
	e.keys = keyring(t, newKey(t, "k1"))
	return e
}

func (e *routerEnv) openControl() {
	s, err := sqlite.Open(e.ctlPath, &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	e.ctl, e.repo = s, s.DatabaseConfigs()
}

// open is the Opener: SQLite files, through flaky.
func (e *routerEnv) open(ctx context.Context, c dbconfig.Config, password string) (activitylog.Store, error) {
	e.mu.Lock()
	td := e.tenants[c.Name]
	e.mu.Unlock()
	if td == nil {
		return nil, fmt.Errorf("no tenant database %s", c.Name)
	}
	if password != e.password {
		return nil, errors.New("the opener was given the wrong password")
	}
	if td.openFail.Load() {
		return nil, fmt.Errorf("open %s: %w: connection refused (password %s)", c.Name, activitylog.ErrUnavailable, password)
	}
	s, err := sqlite.Open(c.Database, &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		return nil, err
	}
	td.opens.Add(1)
	return flaky{Store: s, tenant: td}, nil
}

// addConfig stores a routed SQLite config for tenant and routeFor.
func (e *routerEnv) addConfig(name, tenant, routeFor string) (*tenantDB, dbconfig.Config) {
	e.t.Helper()
	td := &tenantDB{name: name, path: filepath.Join(e.dir, name+".db")}
	e.mu.Lock()
	e.tenants[name] = td
	e.mu.Unlock()
	c := dbconfig.Config{ID: dbconfig.NewID(), Name: name, Engine: dbconfig.SQLite, Database: td.path,
		Password: e.password, RouteFor: routeFor, Tenant: tenant, Primary: true, Active: true}
	c, err := e.keys.Conceal(c)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.repo.Create(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return td, c
}

func (e *routerEnv) router(opts *dbconfig.RouterOptions) *dbconfig.Router {
	e.t.Helper()
	var o dbconfig.RouterOptions
	if opts != nil {
		o = *opts
	}
	if o.Refresh == 0 {
		o.Refresh = -1
	}
	if o.ReplayInterval == 0 {
		o.ReplayInterval = -1
	}
	o.Pending, o.Keyring = e.ctl.PendingEvents(), e.keys
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := dbconfig.NewRouter(e.ctl, e.repo, e.open, &o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { r.Close() })
	return r
}

var seq atomic.Int64

func events(n int, tenant string, kind activitylog.Kind) []activitylog.Event {
	action := map[activitylog.Kind]string{activitylog.KindCRUD: "update", activitylog.KindRequest: "GET", activitylog.KindAuth: "login"}[kind]
	base := time.Now().UTC().Add(-time.Hour)
	es := make([]activitylog.Event, n)
	for i := range es {
		t := base.Add(time.Duration(seq.Add(1)) * time.Microsecond)
		es[i] = activitylog.Event{ID: activitylog.NewID(t), Time: t, Kind: kind, Action: action,
			Severity: activitylog.SeverityInfo, Tenant: tenant, Message: fmt.Sprintf("%s %d", tenant, i)}
	}
	return es
}

// ids reads the ids of every event in the SQLite file at path, each
// as often as it is stored.
func ids(t *testing.T, path string) map[activitylog.ID]int {
	t.Helper()
	s, err := sqlite.Open(path, &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[activitylog.ID]int{}
	f := activitylog.Filter{PageSize: activitylog.MaxPageSize}
	for {
		p, err := s.Query(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range p.Events {
			out[ev.ID]++
		}
		if p.Next == "" {
			return out
		}
		f.Cursor = p.Next
	}
}

// holdsExactlyOnce fails unless each of es is in the file exactly once.
func holdsExactlyOnce(t *testing.T, path string, es ...[]activitylog.Event) {
	t.Helper()
	got := ids(t, path)
	n := 0
	for _, batch := range es {
		for _, ev := range batch {
			n++
			if got[ev.ID] != 1 {
				t.Fatalf("%s holds event %s (%s) %d times, want once", filepath.Base(path), ev.ID, ev.Message, got[ev.ID])
			}
		}
	}
	if len(got) != n {
		t.Fatalf("%s holds %d events, want %d", filepath.Base(path), len(got), n)
	}
}

func holdsNone(t *testing.T, path string, es []activitylog.Event) {
	t.Helper()
	got := ids(t, path)
	for _, ev := range es {
		if got[ev.ID] != 0 {
			t.Fatalf("%s holds event %s (%s), which belongs elsewhere", filepath.Base(path), ev.ID, ev.Message)
		}
	}
}

func concat(bs ...[]activitylog.Event) []activitylog.Event {
	var out []activitylog.Event
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// Each event reaches the store of its tenant and kind, else its
// tenant's, else the default; reads follow the same rules.
func TestRouterRoutes(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	acme, _ := e.addConfig("acme", "acme", "all")
	acmeReq, _ := e.addConfig("acme-req", "acme", "request")
	untenanted, _ := e.addConfig("untenanted", "", "all")
	// Neither a replica nor an inactive config is written to.
	_, replica := e.addConfig("acme-replica", "globex", "all")
	replica.Primary, replica.ReadOnly = false, true
	if err := e.repo.Update(ctx, replica); err != nil {
		t.Fatal(err)
	}
	_, off := e.addConfig("initech-off", "initech", "all")
	off.Active = false
	if err := e.repo.Update(ctx, off); err != nil {
		t.Fatal(err)
	}
	r := e.router(nil)

	acmeCRUD, acmeAuth := events(5, "acme", activitylog.KindCRUD), events(3, "acme", activitylog.KindAuth)
	acmeReqs := events(4, "acme", activitylog.KindRequest)
	globex, initech := events(6, "globex", activitylog.KindCRUD), events(2, "initech", activitylog.KindRequest)
	none := events(3, "", activitylog.KindCRUD)
	batch := concat(acmeCRUD[:2], globex[:3], acmeReqs, none, acmeCRUD[2:], globex[3:], acmeAuth, initech)
	if err := r.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	holdsExactlyOnce(t, acme.path, acmeCRUD, acmeAuth)
	holdsExactlyOnce(t, acmeReq.path, acmeReqs)
	holdsExactlyOnce(t, untenanted.path, none)
	holdsExactlyOnce(t, e.ctlPath, globex, initech)

	st := r.Stats()
	if st.Routed[dbconfig.DefaultRoute] != 8 || st.Routes != 3 || st.Fallbacks != 0 || st.Pending != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	// Reads.
	count := func(f activitylog.Filter) int64 {
		t.Helper()
		n, err := r.Count(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		name string
		f    activitylog.Filter
		want int64
	}{
		{"tenant: its stores added up", activitylog.Filter{Tenant: "acme"}, 12},
		{"tenant and routed kind", activitylog.Filter{Tenant: "acme", Kind: activitylog.KindRequest}, 4},
		{"tenant and other kind", activitylog.Filter{Tenant: "acme", Kind: activitylog.KindAuth}, 3},
		{"no tenant", activitylog.Filter{NoTenant: true}, 3},
		{"unrouted tenant", activitylog.Filter{Tenant: "globex"}, 6},
		{"without a tenant filter: the default store", activitylog.Filter{}, 8},
	} {
		if got := count(c.f); got != c.want {
			t.Errorf("Count %s = %d, want %d", c.name, got, c.want)
		}
	}
	p, err := r.Query(ctx, activitylog.Filter{Tenant: "acme", Kind: activitylog.KindRequest})
	if err != nil || len(p.Events) != 4 {
		t.Fatalf("Query = %d events, %v", len(p.Events), err)
	}
	for _, ev := range []activitylog.Event{acmeReqs[0], globex[0], none[1]} {
		got, err := r.Get(ctx, ev.ID)
		if err != nil || got.ID != ev.ID {
			t.Fatalf("Get %s = %v", ev.Message, err)
		}
	}
	if _, err := r.Get(ctx, activitylog.NewID(time.Now())); !errors.Is(err, activitylog.ErrNotFound) {
		t.Fatalf("Get of an unknown id = %v, want ErrNotFound", err)
	}
}

// A config added through the repository routes new events after
// Reload, without a restart; one made inactive stops, and its store is
// closed.
func TestRouterReload(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	r := e.router(nil)
	before := events(3, "acme", activitylog.KindCRUD)
	if err := r.Write(ctx, before); err != nil {
		t.Fatal(err)
	}
	acme, c := e.addConfig("acme", "acme", "all")
	early := events(2, "acme", activitylog.KindCRUD)
	if err := r.Write(ctx, early); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	after := events(4, "acme", activitylog.KindCRUD)
	if err := r.Write(ctx, after); err != nil {
		t.Fatal(err)
	}
	holdsExactlyOnce(t, acme.path, after)
	holdsExactlyOnce(t, e.ctlPath, before, early)

	// Reload with nothing changed keeps the store open.
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if acme.opens.Load() != 1 || acme.closes.Load() != 0 {
		t.Fatalf("a Reload without change reopened the store: %d opens, %d closes", acme.opens.Load(), acme.closes.Load())
	}
	c, _ = e.repo.Get(ctx, c.ID)
	c.Active = false
	if err := e.repo.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	off := events(2, "acme", activitylog.KindCRUD)
	if err := r.Write(ctx, off); err != nil {
		t.Fatal(err)
	}
	holdsExactlyOnce(t, e.ctlPath, before, early, off)
	deadline := time.Now().Add(10 * time.Second)
	for acme.closes.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the store of a config no longer routed was not closed")
		}
		time.Sleep(time.Millisecond)
	}
}

// The Refresh loop picks up a change made behind the router's back.
func TestRouterRefresh(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	r := e.router(&dbconfig.RouterOptions{Refresh: 5 * time.Millisecond})
	acme, _ := e.addConfig("acme", "acme", "all")
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Routes != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the refresh loop did not load the new config")
		}
		time.Sleep(time.Millisecond)
	}
	es := events(2, "acme", activitylog.KindCRUD)
	if err := r.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	holdsExactlyOnce(t, acme.path, es)
}

// A tenant whose database is down gets its events into the default
// store and the pending queue; once it is back, a replay puts each in
// its database exactly once and empties the queue.
func TestRouterFallbackAndReplay(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	acme, c := e.addConfig("acme", "acme", "all")
	r := e.router(nil)
	first := events(3, "acme", activitylog.KindCRUD)
	if err := r.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	acme.down.Store(true)
	down1 := events(5, "acme", activitylog.KindCRUD)
	globex := events(2, "globex", activitylog.KindCRUD)
	if err := r.Write(ctx, concat(down1, globex)); err != nil {
		t.Fatalf("Write with the tenant down = %v; want its events to fall back", err)
	}
	attempts := acme.attempts.Load()
	down2 := events(4, "acme", activitylog.KindAuth)
	if err := r.Write(ctx, down2); err != nil {
		t.Fatal(err)
	}
	if acme.attempts.Load() != attempts {
		t.Fatal("a store marked down was written to again before a replay")
	}
	holdsExactlyOnce(t, acme.path, first)
	holdsExactlyOnce(t, e.ctlPath, down1, globex, down2)
	st := r.Stats()
	if st.Fallbacks != 9 || st.Pending != 9 || st.Replayed != 0 {
		t.Fatalf("Stats while down = %+v", st)
	}
	if h := r.Health(c.ID); !h.Routed || !h.Open || !h.Down {
		t.Fatalf("Health while down = %+v", h)
	}
	// A replay while still down keeps everything pending.
	if err := r.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Pending != 9 || st.Replayed != 0 {
		t.Fatalf("Stats after a failed replay = %+v", st)
	}
	acme.down.Store(false)
	if err := r.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	holdsExactlyOnce(t, acme.path, first, down1, down2)
	st = r.Stats()
	if st.Pending != 0 || st.Replayed != 9 || st.Routed[c.ID] != 12 {
		t.Fatalf("Stats after replay = %+v", st)
	}
	if counts, _ := e.ctl.PendingEvents().Counts(ctx); len(counts) != 0 {
		t.Fatalf("pending after replay: %v", counts)
	}
	// The route is up again: new events go straight to it.
	later := events(2, "acme", activitylog.KindCRUD)
	if err := r.Write(ctx, later); err != nil {
		t.Fatal(err)
	}
	holdsExactlyOnce(t, acme.path, first, down1, down2, later)
	// A second replay of what was replayed changes nothing (a crash
	// between commit and Done replays a batch again).
	if err := e.ctl.PendingEvents().Add(ctx, c.ID, down1); err != nil {
		t.Fatal(err)
	}
	if err := r.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	holdsExactlyOnce(t, acme.path, first, down1, down2, later)
}

// A store that cannot be opened (the server down at start, the wrong
// password) falls back from the first event, and is opened by a later
// replay; the opener's error never shows the password.
func TestRouterOpenFails(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	acme, c := e.addConfig("acme", "acme", "all")
	acme.openFail.Store(true)
	r := e.router(nil)
	h := r.Health(c.ID)
	if !h.Routed || h.Open || h.Error == "" {
		t.Fatalf("Health = %+v, want routed, not open, with the error", h)
	}
	if containsAny(h.Error, e.password) {
		t.Fatalf("the open error shows the password: %s", h.Error)
	}
	es := events(4, "acme", activitylog.KindCRUD)
	if err := r.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	holdsExactlyOnce(t, e.ctlPath, es)
	if err := r.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Pending != 4 {
		t.Fatalf("Stats = %+v, want 4 pending", st)
	}
	acme.openFail.Store(false)
	if err := r.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	holdsExactlyOnce(t, acme.path, es)
	if h := r.Health(c.ID); !h.Open || h.Down || h.Error != "" {
		t.Fatalf("Health after replay = %+v", h)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if x != "" && len(s) >= len(x) {
			for i := 0; i+len(x) <= len(s); i++ {
				if s[i:i+len(x)] == x {
					return true
				}
			}
		}
	}
	return false
}

// What fell back before a restart is replayed by the next router,
// over the same pending table, by its replay loop.
func TestRouterRestartReplays(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	acme, _ := e.addConfig("acme", "acme", "all")
	acme.down.Store(true)
	r1 := e.router(nil)
	es := events(7, "acme", activitylog.KindCRUD)
	if err := r1.Write(ctx, es[:3]); err != nil {
		t.Fatal(err)
	}
	if err := r1.Write(ctx, es[3:]); err != nil {
		t.Fatal(err)
	}
	r1.Close()
	e.ctl.Close()

	e.openControl() // the process starts again
	acme.down.Store(false)
	if counts, err := e.ctl.PendingEvents().Counts(ctx); err != nil || len(counts) != 1 {
		t.Fatalf("pending after the restart: %v, %v; want 7 events of acme", counts, err)
	}
	holdsNone(t, acme.path, es)
	r2 := e.router(&dbconfig.RouterOptions{ReplayInterval: time.Hour}) // the loop's first round runs at start
	deadline := time.Now().Add(10 * time.Second)
	for r2.Stats().Pending != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the replay loop did not replay: %+v", r2.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	holdsExactlyOnce(t, acme.path, es)
}

// The pending events of a deleted config are dropped from the queue
// (they stay in the default store); an inactive config's wait.
func TestRouterDeletedConfig(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	acme, ca := e.addConfig("acme", "acme", "all")
	globex, cg := e.addConfig("globex", "globex", "all")
	acme.down.Store(true)
	globex.down.Store(true)
	r := e.router(nil)
	ea, eg := events(2, "acme", activitylog.KindCRUD), events(3, "globex", activitylog.KindCRUD)
	if err := r.Write(ctx, concat(ea, eg)); err != nil {
		t.Fatal(err)
	}
	if err := e.repo.Delete(ctx, ca.ID); err != nil {
		t.Fatal(err)
	}
	cg.Active = false
	if err := e.repo.Update(ctx, cg); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.Abandoned != 2 || st.Pending != 3 {
		t.Fatalf("Stats = %+v, want 2 abandoned and 3 pending", st)
	}
	holdsExactlyOnce(t, e.ctlPath, ea, eg)
}

// Writes and reloads at once: nothing is lost, nothing is written to
// a closed store, under -race.
func TestRouterConcurrent(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	acme, c := e.addConfig("acme", "acme", "all")
	r := e.router(nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []activitylog.Event
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				es := concat(events(5, "acme", activitylog.KindCRUD), events(5, fmt.Sprint("t", w), activitylog.KindCRUD))
				if err := r.Write(ctx, es); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, es...)
				mu.Unlock()
			}
		}()
	}
	for i := range 10 {
		c.Active = i%2 == 1
		c.UpdatedAt = time.Time{}
		if err := e.repo.Update(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			go r.Replay(ctx)
		}
	}
	wg.Wait()
	if err := r.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	inTenant, inDefault := ids(t, acme.path), ids(t, e.ctlPath)
	for _, ev := range all {
		if inTenant[ev.ID]+inDefault[ev.ID] == 0 {
			t.Fatalf("event %s (%s) is lost", ev.ID, ev.Message)
		}
		if inTenant[ev.ID] > 1 || inDefault[ev.ID] > 1 {
			t.Fatalf("event %s stored twice in one store", ev.ID)
		}
	}
}

func TestNewRouterRefusesMissing(t *testing.T) {
	e := newRouterEnv(t)
	for name, f := range map[string]func() error{
		"default": func() error {
			_, err := dbconfig.NewRouter(nil, e.repo, e.open, &dbconfig.RouterOptions{Pending: e.ctl.PendingEvents()})
			return err
		},
		"pending": func() error { _, err := dbconfig.NewRouter(e.ctl, e.repo, e.open, nil); return err },
		"opener": func() error {
			_, err := dbconfig.NewRouter(e.ctl, e.repo, nil, &dbconfig.RouterOptions{Pending: e.ctl.PendingEvents()})
			return err
		},
	} {
		var fe *activitylog.FieldError
		if err := f(); !errors.As(err, &fe) || fe.Field != name {
			t.Errorf("NewRouter without %s = %v, want a *FieldError naming it", name, err)
		}
	}
}

// Purge goes through to the SQLite store under flaky.
func (f flaky) Purge(ctx context.Context, r activitylog.PurgeRequest) (activitylog.PurgeResult, error) {
	return f.Store.(activitylog.Purger).Purge(ctx, r)
}

// PurgeRoutes deletes in the routed stores of the request's tenant
// scope, each database once, and never in the default store; a route
// whose store is not open is an error naming it, and the others are
// purged all the same.
func TestRouterPurgeRoutes(t *testing.T) {
	ctx := context.Background()
	e := newRouterEnv(t)
	acme, _ := e.addConfig("acme", "acme", "all")
	acmeReq, _ := e.addConfig("acme-req", "acme", "request")
	// Another config of acme's whose database is acme's own, with the
	// lowest id there is: it stands for that database, though acme's
	// config for all kinds comes first in the tenant's routes.
	_, same := e.addConfig("acme-auth", "acme", "auth")
	if err := e.repo.Delete(ctx, same.ID); err != nil {
		t.Fatal(err)
	}
	same.ID, same.Database, same.Password = "dbc_0000000000000000", acme.path, e.password
	same, err := e.keys.Conceal(same)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.repo.Create(ctx, same); err != nil {
		t.Fatal(err)
	}
	untenanted, _ := e.addConfig("untenanted", "", "all")
	down, _ := e.addConfig("initech", "initech", "all")
	down.openFail.Store(true)
	r := e.router(nil)

	acmeCRUD, acmeAuth, acmeReqs := events(5, "acme", activitylog.KindCRUD), events(3, "acme", activitylog.KindAuth), events(4, "acme", activitylog.KindRequest)
	globex, none := events(6, "globex", activitylog.KindCRUD), events(3, "", activitylog.KindCRUD)
	if err := r.Write(ctx, concat(acmeCRUD, acmeAuth, acmeReqs, globex, none)); err != nil {
		t.Fatal(err)
	}
	before := time.Now()

	// A database that two configs name is visited once, always as the
	// config with the lower id (neither map nor route order chooses).
	standFor := same.ID
	for range 20 {
		var seen []string
		if err := r.EachStore(ctx, "", true, func(c dbconfig.Config, _ activitylog.Store) error {
			seen = append(seen, c.ID)
			return nil
		}); !errors.Is(err, activitylog.ErrUnavailable) {
			t.Fatalf("EachStore: %v, want initech's store not open", err)
		}
		if !slices.Contains(seen, standFor) || len(seen) != 3 || !slices.IsSorted(seen) {
			t.Fatalf("EachStore visited %v; want 3 databases in id order, acme's as %s", seen, standFor)
		}
	}

	res, err := r.PurgeRoutes(ctx, activitylog.PurgeRequest{Before: before, Tenant: "acme", Kinds: []activitylog.Kind{activitylog.KindCRUD, activitylog.KindRequest}})
	if err != nil || res.Deleted != 9 || res.ByKind[activitylog.KindCRUD] != 5 || res.ByKind[activitylog.KindRequest] != 4 {
		t.Fatalf("PurgeRoutes(acme, crud and request) = %+v, %v; want 9 deleted", res, err)
	}
	holdsNone(t, acme.path, acmeCRUD)
	holdsNone(t, acmeReq.path, acmeReqs)
	holdsExactlyOnce(t, acme.path, acmeAuth)
	holdsExactlyOnce(t, untenanted.path, none)
	holdsExactlyOnce(t, e.ctlPath, globex) // the default store is the caller's

	res, err = r.PurgeRoutes(ctx, activitylog.PurgeRequest{Before: before, AllTenants: true})
	if res.Deleted != 6 || !errors.Is(err, activitylog.ErrUnavailable) || !strings.Contains(err.Error(), "initech") {
		t.Fatalf("PurgeRoutes(every tenant) = %+v, %v; want 6 deleted and an error naming initech's config", res, err)
	}
	holdsNone(t, acme.path, acmeAuth)
	holdsNone(t, untenanted.path, none)
	holdsExactlyOnce(t, e.ctlPath, globex)
}
