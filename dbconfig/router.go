package dbconfig

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
)

// An Opener opens the store a config points at, with its password
// opened from its Secret. The Router calls it when a config starts
// being routed to, and again after a failure, and closes what it
// returned when the config changes or stops being routed to. cmd/activitylog
// registers one per engine (sqlite, postgres, mysql, clickhouse, mongodb).
type Opener func(ctx context.Context, c Config, password string) (activitylog.Store, error)

// RouterOptions configures a Router. The zero value, or nil, means the
// defaults written beside each field; Pending is required.
type RouterOptions struct {
	// Pending keeps the batches written to the default store in place
	// of their own, until they are replayed; sqlite.Store's
	// PendingEvents is one. Required: without it a fall-back could not
	// be replayed after a restart.
	Pending Pending
	// Keyring opens the configs' passwords for the Opener. Default:
	// nil, and a config with a password cannot be opened (its events
	// fall back).
	Keyring *Keyring
	// Refresh is how often the routing table is read again from the
	// Repository, beside the Reload that the API calls after each
	// change. Negative: never. Default: 30s.
	Refresh time.Duration
	// ReplayInterval is how often pending batches are replayed to
	// their stores (and stores that could not be opened are opened
	// again), starting at once, in the background, so that what fell
	// back before a restart is replayed. Negative: never, only when
	// Replay is called. Default: 30s.
	ReplayInterval time.Duration
	// WriteTimeout bounds one write to a routed store, after which its
	// events fall back: keep it below the Recorder's WriteTimeout
	// (10s). Default: 5s.
	WriteTimeout time.Duration
	// ReadTimeout bounds one Get from a routed store. Default: 5s.
	ReadTimeout time.Duration
	// OpenTimeout bounds one call of the Opener. Default: 10s.
	OpenTimeout time.Duration
	// ReplayBatch is how many pending batches one replay reads at once.
	// Default: 16.
	ReplayBatch int
	// Logger receives fall-backs, failed opens and replays. Default:
	// slog.Default().
	Logger *slog.Logger
}

// Defaults of RouterOptions.
const (
	DefaultRefresh        = 30 * time.Second
	DefaultReplayInterval = 30 * time.Second
	DefaultWriteTimeout   = 5 * time.Second
	DefaultReadTimeout    = 5 * time.Second
	DefaultOpenTimeout    = 10 * time.Second
	DefaultReplayBatch    = 16
)

// DefaultRoute is the key of the default store in RouterStats.Routed.
const DefaultRoute = "default"

// RouterStats are the Router's counters since it was made.
type RouterStats struct {
	// Routed counts the events committed in each store, by config id;
	// DefaultRoute for the default store (fall-backs included).
	Routed map[string]int64 `json:"routed"`
	// Fallbacks counts the events written to the default store because
	// their own store failed or could not be opened.
	Fallbacks int64 `json:"fallbacks"`
	// Replayed counts the fall-back events since committed in their
	// own store.
	Replayed int64 `json:"replayed"`
	// Pending is the number of events waiting to be replayed.
	Pending int64 `json:"pending"`
	// Abandoned counts pending events that will not be replayed: those
	// of configs that were deleted, and those whose config was given
	// another tenant or route_for since (see Router.Replay). They stay
	// in the default store only.
	Abandoned int64 `json:"abandoned"`
	// Routes is the number of configs routed to.
	Routes int `json:"routes"`
}

// Router is an activitylog.Store that sends each event to the store of
// the config that takes it, and the rest to the default store.
//
// # Routing
//
// Only active, primary, writable configs are routed to. An event goes
// to the config of its tenant and its kind; else to the config of its
// tenant for all kinds; else to the default store. The tenant "" is
// the events without a tenant. The table is cached, and read again by
// Reload, which the API calls after each change, and every
// RouterOptions.Refresh: stores are opened and closed as configs come
// and go, without a restart.
//
// # Fall-back and replay
//
// When a routed store fails a write, or cannot be opened, its events
// are written to the default store instead and recorded in Pending;
// the store is then marked down, and its events go straight to the
// default store (and Pending) until a replay has emptied its queue.
// Replay, every RouterOptions.ReplayInterval, writes the pending
// batches to their store, oldest first, and removes each only after the
// store committed it. Stores are idempotent by event id, so a batch
// replayed twice (a crash between the commit and its removal, or a
// batch recorded twice by a retried Write) is stored once. Only the
// events the table routes to the config now are replayed: after its
// tenant or route_for changed, the others stay in the default store
// (RouterStats.Abandoned, logged). The default store keeps its copy of
// fall-back events.
//
// # Writes
//
// Write splits a batch by destination and writes each part. It is not
// all or none across stores: it returns an error when the default
// store (or Pending) fails, after the parts for other stores may have
// committed; the caller's retry writes those again, which their store
// ignores, so a retried batch converges to each event stored once in
// its store. A failing routed store is not an error: its part falls
// back, recorded in Pending before the default store is written, so
// that no crash leaves fall-back events in the default store only.
//
// # Reads
//
// Query and Count with a tenant (Filter.Tenant, or Filter.NoTenant for
// the tenant "") and a kind ask the store that tenant's events of that
// kind go to; without a tenant, the default store. With a tenant and
// no kind, the tenant's stores: when there are several (it has
// configs for single kinds), Count adds up theirs, and Query, which
// cannot merge pages of several stores under one cursor, is refused
// with an error wrapping activitylog.ErrInvalid that names kind (as is
// Count when the default store is one of them). Events that wait for
// replay are found in the default store only. Get asks the default
// store, then the routed stores of the tenant of its context (all of
// them when it has none), and returns the first that has the event.
//
// A Router is safe for concurrent use. Close stops its loops and closes
// the stores it opened, not the default store.
type Router struct {
	def     activitylog.Store
	repo    Repository
	open    Opener
	pending Pending
	keys    *Keyring
	o       RouterOptions
	log     *slog.Logger

	mu  sync.RWMutex
	tab *table

	reloadMu sync.Mutex // one Reload at a time
	closed   bool       // under reloadMu
	replayMu sync.Mutex // one Replay at a time

	defRouted atomic.Int64
	fallbacks atomic.Int64
	replayed  atomic.Int64
	pendingN  atomic.Int64
	abandoned atomic.Int64

	stop      chan struct{}
	loops     sync.WaitGroup
	retiring  sync.WaitGroup // stores of old routes being closed
	closeOnce sync.Once
}

var _ activitylog.Store = (*Router)(nil)

// kindIndex is the index of a kind in tenantRoutes.byKind, or -1.
func kindIndex(k activitylog.Kind) int {
	switch k {
	case activitylog.KindCRUD:
		return 0
	case activitylog.KindAuth:
		return 1
	case activitylog.KindRequest:
		return 2
	case activitylog.KindCORS:
		return 3
	case activitylog.KindExternal:
		return 4
	case activitylog.KindSystem:
		return 5
	case activitylog.KindExport:
		return 6
	case activitylog.KindCustom:
		return 7
	}
	return -1
}

// tenantRoutes are the routes of one tenant.
type tenantRoutes struct {
	all    *route
	byKind [8]*route
}

func (t *tenantRoutes) lookup(k activitylog.Kind) *route {
	if i := kindIndex(k); i >= 0 && t.byKind[i] != nil {
		return t.byKind[i]
	}
	return t.all
}

// table is one routing table; it is never changed once published.
type table struct {
	tenants map[string]*tenantRoutes
	byID    map[string]*route
}

// route is one routed config and its store.
type route struct {
	cfg      Config // without Password
	st       atomic.Pointer[storeBox]
	openMu   sync.Mutex
	openErr  atomic.Pointer[error]
	down     atomic.Bool // a write failed; its events go to Pending until a replay empties it
	routed   atomic.Int64
	inflight sync.WaitGroup // writes and replays using st; Close waits for them
}

type storeBox struct{ s activitylog.Store }

func (rt *route) store() activitylog.Store {
	if b := rt.st.Load(); b != nil {
		return b.s
	}
	return nil
}

// NewRouter returns a Router over the default store def, routing by
// the configs of repo, whose stores open calls. It reads the routing
// table and opens the stores before it returns (a store that fails to
// open is not an error: its events fall back until it opens). opts must
// give Pending.
func NewRouter(def activitylog.Store, repo Repository, open Opener, opts *RouterOptions) (*Router, error) {
	switch {
	case def == nil:
		return nil, activitylog.Invalid("default", "nil", "is required: the store of events no config takes")
	case repo == nil:
		return nil, activitylog.Invalid("repository", "nil", "is required")
	case open == nil:
		return nil, activitylog.Invalid("opener", "nil", "is required")
	}
	var o RouterOptions
	if opts != nil {
		o = *opts
	}
	if o.Pending == nil {
		return nil, activitylog.Invalid("pending", "nil", "is required: without it, events that fall back could not be replayed after a restart")
	}
	if o.Refresh == 0 {
		o.Refresh = DefaultRefresh
	}
	if o.ReplayInterval == 0 {
		o.ReplayInterval = DefaultReplayInterval
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = DefaultOpenTimeout
	}
	if o.ReplayBatch <= 0 {
		o.ReplayBatch = DefaultReplayBatch
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &Router{
		def: def, repo: repo, open: open, pending: o.Pending, keys: o.Keyring, o: o, log: o.Logger,
		tab:  &table{tenants: map[string]*tenantRoutes{}, byID: map[string]*route{}},
		stop: make(chan struct{}),
	}
	ctx := context.Background()
	if err := r.Reload(ctx); err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	counts, err := r.pending.Counts(ctx)
	if err != nil {
		r.closeRoutes()
		return nil, fmt.Errorf("new router: count pending events: %w", err)
	}
	var n int64
	for _, c := range counts {
		n += c
	}
	r.pendingN.Store(n)
	if o.Refresh > 0 {
		r.every(o.Refresh, false, func(ctx context.Context) {
			if err := r.Reload(ctx); err != nil {
				r.log.WarnContext(ctx, "activitylog router: reload configs", "err", err)
			}
		})
	}
	if o.ReplayInterval > 0 {
		r.every(o.ReplayInterval, true, func(ctx context.Context) {
			if err := r.Replay(ctx); err != nil {
				r.log.WarnContext(ctx, "activitylog router: replay", "err", err)
			}
		})
	}
	return r, nil
}

// every runs f every d until Close, and at once when now.
func (r *Router) every(d time.Duration, now bool, f func(ctx context.Context)) {
	r.loops.Add(1)
	go func() {
		defer r.loops.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-r.stop
			cancel()
		}()
		if now {
			f(ctx)
		}
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
				f(ctx)
			}
		}
	}()
}

// routable reports whether c is written to.
func routable(c Config) bool { return c.Active && c.Primary && !c.ReadOnly }

// sameStore reports whether a and b open the same store the same way.
func sameStore(a, b Config) bool {
	return a.Engine == b.Engine && a.Host == b.Host && a.Port == b.Port && a.Database == b.Database &&
		a.User == b.User && a.Secret == b.Secret && maps.Equal(a.Options, b.Options)
}

// Reload reads the configs again and makes the routing table theirs:
// it opens the stores of configs newly routed to, keeps those whose
// connection did not change, and closes the others once the writes
// under way on them end. A store that fails to open is not an error:
// its events fall back, and Replay tries to open it again.
func (r *Router) Reload(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if r.closed {
		return fmt.Errorf("reload configs: router closed: %w", activitylog.ErrClosed)
	}
	cs, err := r.repo.List(ctx)
	if err != nil {
		return fmt.Errorf("reload configs: %w", err)
	}
	r.mu.RLock()
	old := r.tab
	r.mu.RUnlock()
	next := &table{tenants: map[string]*tenantRoutes{}, byID: map[string]*route{}}
	for _, c := range cs {
		if !routable(c) {
			continue
		}
		c.Password = ""
		rt := old.byID[c.ID]
		if rt == nil || !sameStore(rt.cfg, c) || rt.cfg.Tenant != c.Tenant || rt.cfg.RouteFor != c.RouteFor || rt.cfg.Name != c.Name {
			// New, or changed: a route of its own, the old one's store
			// closed once its writes end.
			rt = &route{cfg: c}
			r.openRoute(ctx, rt)
		}
		tr := next.tenants[c.Tenant]
		if tr == nil {
			tr = &tenantRoutes{}
			next.tenants[c.Tenant] = tr
		}
		if c.RouteFor == RouteAll {
			tr.all = rt
		} else if i := kindIndex(activitylog.Kind(c.RouteFor)); i >= 0 {
			tr.byKind[i] = rt
		}
		next.byID[c.ID] = rt
	}
	r.mu.Lock()
	r.tab = next
	r.mu.Unlock()
	for id, rt := range old.byID {
		if next.byID[id] != rt {
			r.retiring.Add(1)
			go func() {
				defer r.retiring.Done()
				r.retire(rt)
			}()
		}
	}
	return nil
}

// retire closes rt's store once the writes under way on it end.
func (r *Router) retire(rt *route) {
	rt.inflight.Wait()
	if b := rt.st.Swap(nil); b != nil {
		if err := b.s.Close(); err != nil {
			r.log.Warn("activitylog router: close store", "config", rt.cfg.ID, "err", err)
		}
	}
}

// openRoute opens rt's store unless it is open, and reports whether it
// is.
func (r *Router) openRoute(ctx context.Context, rt *route) bool {
	rt.openMu.Lock()
	defer rt.openMu.Unlock()
	if rt.st.Load() != nil {
		return true
	}
	err := func() error {
		// A config stored before Validate refused what it holds (an
		// option no longer accepted) is not opened.
		if err := rt.cfg.Validate(); err != nil {
			return err
		}
		password := ""
		if rt.cfg.Secret != "" {
			if r.keys == nil {
				return errors.New("the config has a password and the router has no keyring")
			}
			p, err := r.keys.Decrypt(rt.cfg.ID, rt.cfg.Secret)
			if err != nil {
				return err
			}
			password = p
		}
		octx, cancel := context.WithTimeout(ctx, r.o.OpenTimeout)
		defer cancel()
		s, err := r.open(octx, rt.cfg, password)
		if err != nil {
			return redactErr(err, password)
		}
		if s == nil {
			return errors.New("the opener returned no store")
		}
		rt.st.Store(&storeBox{s})
		return nil
	}()
	if err != nil {
		err = fmt.Errorf("open store of config %s: %w", rt.cfg.Name, err)
		rt.openErr.Store(&err)
		r.log.WarnContext(ctx, "activitylog router: open store", "config", rt.cfg.ID, "name", rt.cfg.Name, "err", err)
		return false
	}
	rt.openErr.Store(nil)
	return true
}

// part is the events of a batch bound for one route (nil: the default
// store).
type part struct {
	rt     *route
	events []activitylog.Event
}

// Write stores events, each in its store; see Router.
func (r *Router) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	r.mu.RLock()
	tab := r.tab
	if len(tab.byID) == 0 {
		r.mu.RUnlock()
		if err := r.def.Write(ctx, events); err != nil {
			return err
		}
		r.defRouted.Add(int64(len(events)))
		return nil
	}
	parts, backing := r.split(tab, events)
	for _, p := range parts {
		if p.rt != nil {
			p.rt.inflight.Add(1)
		}
	}
	r.mu.RUnlock()
	defer func() {
		for _, p := range parts {
			if p.rt != nil {
				p.rt.inflight.Done()
			}
		}
		putBacking(backing)
	}()
	if len(parts) == 1 && parts[0].rt == nil {
		if err := r.def.Write(ctx, events); err != nil {
			return err
		}
		r.defRouted.Add(int64(len(events)))
		return nil
	}
	var defPart []activitylog.Event
	var fell []part
	nfell := 0
	for _, p := range parts {
		if p.rt == nil {
			defPart = p.events
			continue
		}
		if err := r.writeRoute(ctx, p.rt, p.events); err != nil {
			if ctx.Err() != nil {
				return err
			}
			fell = append(fell, p)
			nfell += len(p.events)
		}
	}
	// The default store's part and the parts that fell back, in one
	// write: all or none.
	toDefault := defPart
	if nfell > 0 {
		toDefault = make([]activitylog.Event, 0, len(defPart)+nfell)
		toDefault = append(toDefault, defPart...)
		for _, p := range fell {
			toDefault = append(toDefault, p.events...)
		}
	}
	if len(toDefault) == 0 {
		return nil
	}
	// The parts that fell back are recorded in Pending before the
	// default store is written: a crash, or a failure, between the two
	// then leaves them pending (replayed to their store) rather than in
	// the default store only, never replayed. When the default store
	// then fails, Write fails and the caller's retry records them again:
	// a batch pending twice is replayed twice, which its store, being
	// idempotent by event id, stores once.
	for _, p := range fell {
		if err := r.pending.Add(ctx, p.rt.cfg.ID, p.events); err != nil {
			return fmt.Errorf("record fall-back events of config %s: %w", p.rt.cfg.Name, err)
		}
		r.pendingN.Add(int64(len(p.events)))
	}
	if err := r.def.Write(ctx, toDefault); err != nil {
		return err
	}
	r.defRouted.Add(int64(len(toDefault)))
	r.fallbacks.Add(int64(nfell))
	return nil
}

// split groups events by route, in order of first appearance; the
// default store's part has a nil route. A part whose events are
// contiguous in events is a sub-slice of it; the others share one new
// array.
func (r *Router) split(tab *table, events []activitylog.Event) (parts []part, backing []activitylog.Event) {
	type span struct {
		rt          *route
		n           int
		first, last int
	}
	var spans []span
	var (
		lastTenant string
		lastRoutes *tenantRoutes
		haveLast   bool
		lastSpan   = -1
	)
	lookup := func(e *activitylog.Event) *route {
		if !haveLast || e.Tenant != lastTenant {
			lastTenant, lastRoutes, haveLast = e.Tenant, tab.tenants[e.Tenant], true
		}
		if lastRoutes == nil {
			return nil
		}
		return lastRoutes.lookup(e.Kind)
	}
	find := func(rt *route) int {
		if lastSpan >= 0 && spans[lastSpan].rt == rt {
			return lastSpan
		}
		for j := range spans {
			if spans[j].rt == rt {
				lastSpan = j
				return j
			}
		}
		return -1
	}
	for i := range events {
		rt := lookup(&events[i])
		j := find(rt)
		if j < 0 {
			spans = append(spans, span{rt: rt, first: i})
			j = len(spans) - 1
			lastSpan = j
		}
		spans[j].n++
		spans[j].last = i
	}
	parts = make([]part, len(spans))
	copied := 0
	for j, sp := range spans {
		parts[j].rt = sp.rt
		if sp.last-sp.first+1 == sp.n {
			parts[j].events = events[sp.first : sp.last+1 : sp.last+1]
		} else {
			copied += sp.n
		}
	}
	if copied == 0 {
		return parts, nil
	}
	backing = getBacking(copied)
	used := 0
	for j, sp := range spans {
		if parts[j].events == nil {
			parts[j].events = backing[used : used : used+sp.n]
			used += sp.n
		}
	}
	lastSpan = -1
	for i := range events {
		j := find(lookup(&events[i]))
		if sp := spans[j]; sp.last-sp.first+1 != sp.n {
			parts[j].events = append(parts[j].events, events[i])
		}
	}
	return parts, backing
}

// backings are the arrays of copied parts, reused: the stores do not
// keep what they are given.
var backings sync.Pool

func getBacking(n int) []activitylog.Event {
	if p, ok := backings.Get().(*[]activitylog.Event); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]activitylog.Event, 0, max(n, 512))
}

// putBacking returns a copied parts' array to the pool, cleared so
// that it keeps no event alive.
func putBacking(b []activitylog.Event) {
	if b == nil || cap(b) > 1<<16 {
		return
	}
	clear(b[:cap(b)])
	b = b[:0]
	backings.Put(&b)
}

// writeRoute writes events to rt's store, or says why it cannot; a
// failure marks rt down.
func (r *Router) writeRoute(ctx context.Context, rt *route, events []activitylog.Event) error {
	s := rt.store()
	if s == nil || rt.down.Load() {
		return errRouteDown
	}
	wctx, cancel := context.WithTimeout(ctx, r.o.WriteTimeout)
	err := s.Write(wctx, events)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			rt.down.Store(true)
			r.log.WarnContext(ctx, "activitylog router: store failed, its events fall back to the default store",
				"config", rt.cfg.ID, "name", rt.cfg.Name, "events", len(events), "err", err)
		}
		return err
	}
	rt.routed.Add(int64(len(events)))
	return nil
}

var errRouteDown = errors.New("store down")

// Replay writes the pending batches to their stores, oldest first, and
// removes each once its store committed it. A store that fails stops
// its own replay until the next call; a store that could not be opened
// is opened again first. A route whose queue is empty is marked up, so
// that its events go to it again. Pending batches of deleted configs
// are dropped (their events stay in the default store) and counted in
// RouterStats.Abandoned; those of configs not routed to now (inactive)
// wait.
func (r *Router) Replay(ctx context.Context) error {
	r.replayMu.Lock()
	defer r.replayMu.Unlock()
	counts, err := r.pending.Counts(ctx)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	r.pendingN.Store(total)
	r.mu.RLock()
	tab := r.tab
	var rts []*route
	for _, rt := range tab.byID {
		rt.inflight.Add(1)
		rts = append(rts, rt)
	}
	r.mu.RUnlock()
	defer func() {
		for _, rt := range rts {
			rt.inflight.Done()
		}
	}()
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		rt := tab.byID[id]
		if rt == nil {
			if err := r.abandon(ctx, id); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := r.replayRoute(ctx, tab, rt); err != nil {
			errs = append(errs, err)
		}
	}
	// Routes marked down with nothing pending (the write that failed
	// never reached Pending) and routes not open: try them again.
	for _, rt := range rts {
		if _, ok := counts[rt.cfg.ID]; ok {
			continue
		}
		if r.openRoute(ctx, rt) {
			rt.down.Store(false)
		}
	}
	return errors.Join(errs...)
}

// replayRoute replays rt's pending batches until none is left or its
// store fails. Only the events that tab routes to rt now are written:
// when the config was given another tenant or route_for since they fell
// back, they are not that database's any more, and stay in the default
// store only, counted in RouterStats.Abandoned.
func (r *Router) replayRoute(ctx context.Context, tab *table, rt *route) error {
	if !r.openRoute(ctx, rt) {
		return nil // logged; tried again next time
	}
	s := rt.store()
	for {
		bs, err := r.pending.Take(ctx, rt.cfg.ID, r.o.ReplayBatch)
		if err != nil {
			return fmt.Errorf("replay config %s: %w", rt.cfg.Name, err)
		}
		if len(bs) == 0 {
			if rt.down.Swap(false) {
				r.log.InfoContext(ctx, "activitylog router: store back, pending events replayed", "config", rt.cfg.ID, "name", rt.cfg.Name)
			}
			return nil
		}
		for _, b := range bs {
			events := r.stillRouted(ctx, tab, rt, b)
			var err error
			if len(events) > 0 {
				wctx, cancel := context.WithTimeout(ctx, r.o.WriteTimeout)
				err = s.Write(wctx, events)
				cancel()
			}
			if err != nil {
				rt.down.Store(true)
				r.log.WarnContext(ctx, "activitylog router: replay failed; will retry", "config", rt.cfg.ID, "name", rt.cfg.Name, "err", err)
				return nil
			}
			if err := r.pending.Done(ctx, b.Seq); err != nil {
				return fmt.Errorf("replay config %s: %w", rt.cfg.Name, err)
			}
			n := int64(len(events))
			rt.routed.Add(n)
			r.replayed.Add(n)
			r.abandoned.Add(int64(len(b.Events)) - n)
			r.pendingN.Add(-int64(len(b.Events)))
		}
	}
}

// stillRouted returns the events of b that tab routes to rt, by their
// own tenant and kind, and logs the others.
func (r *Router) stillRouted(ctx context.Context, tab *table, rt *route, b PendingBatch) []activitylog.Event {
	keep := b.Events[:0:0]
	var tenants []string
	for i := range b.Events {
		e := &b.Events[i]
		if tr := tab.tenants[e.Tenant]; tr != nil && tr.lookup(e.Kind) == rt {
			keep = append(keep, *e)
		} else if !slices.Contains(tenants, e.Tenant) {
			tenants = append(tenants, e.Tenant)
		}
	}
	if len(keep) < len(b.Events) {
		r.log.WarnContext(ctx, "activitylog router: pending events no longer routed to their config (its tenant or route_for changed); they stay in the default store only",
			"config", rt.cfg.ID, "name", rt.cfg.Name, "tenant", rt.cfg.Tenant, "route_for", rt.cfg.RouteFor,
			"events", len(b.Events)-len(keep), "event_tenants", tenants, "batch", b.Seq)
	}
	if len(keep) == len(b.Events) {
		return b.Events
	}
	return keep
}

// abandon drops the pending batches of a config that no longer routes,
// if it was deleted; an inactive one keeps them.
func (r *Router) abandon(ctx context.Context, id string) error {
	_, err := r.repo.Get(ctx, id)
	switch {
	case err == nil:
		return nil // not routed now; its events wait
	case !errors.Is(err, activitylog.ErrNotFound):
		return fmt.Errorf("replay config %s: %w", id, err)
	}
	for {
		bs, err := r.pending.Take(ctx, id, r.o.ReplayBatch)
		if err != nil {
			return fmt.Errorf("drop pending events of deleted config %s: %w", id, err)
		}
		if len(bs) == 0 {
			return nil
		}
		for _, b := range bs {
			if err := r.pending.Done(ctx, b.Seq); err != nil {
				return fmt.Errorf("drop pending events of deleted config %s: %w", id, err)
			}
			n := int64(len(b.Events))
			r.abandoned.Add(n)
			r.pendingN.Add(-n)
		}
		r.log.WarnContext(ctx, "activitylog router: config deleted; its pending events stay in the default store only", "config", id)
	}
}

// errSeveral is why a read of a tenant's events without a kind is
// refused when they are in more than one database.
func errSeveral(tenant string) error {
	return fmt.Errorf("read events of tenant %q: %w", tenant,
		activitylog.Invalid("kind", "", "this tenant's events are in several databases: give kind"))
}

// readers returns the routes whose stores hold the events f asks for,
// whether the default store holds them too (alone, when there is no
// route), and the kinds the tenant has configs of its own for; each
// route is marked in flight until done is called. Without
// a tenant in f, it is the default store. With one and a kind, the
// store that tenant's events of that kind go to. With one and no kind,
// every store its events go to: its all-kinds store (or the default
// store) and its stores for single kinds, once each by database (two
// configs may name the same one).
func (r *Router) readers(f activitylog.Filter) (rts []*route, def bool, routedKinds []activitylog.Kind, done func()) {
	done = func() {}
	if f.Tenant == "" && !f.NoTenant {
		return nil, true, nil, done
	}
	tenant := f.Tenant
	if f.NoTenant {
		tenant = ""
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	tr := r.tab.tenants[tenant]
	switch {
	case tr == nil:
		return nil, true, nil, done
	case f.Kind != "":
		if rt := tr.lookup(f.Kind); rt != nil {
			rts = append(rts, rt)
		} else {
			def = true
		}
	default:
		if tr.all != nil {
			rts = append(rts, tr.all)
		} else {
			def = true
		}
		for _, rt := range tr.byKind {
			if rt != nil {
				routedKinds = append(routedKinds, activitylog.Kind(rt.cfg.RouteFor))
			}
			if rt != nil && !slices.ContainsFunc(rts, func(o *route) bool { return sameDatabase(o.cfg, rt.cfg) }) {
				rts = append(rts, rt)
			}
		}
	}
	for _, rt := range rts {
		rt.inflight.Add(1)
	}
	return rts, def, routedKinds, func() {
		for _, rt := range rts {
			rt.inflight.Done()
		}
	}
}

// EachStore calls fn with the store of each route that holds events of
// tenant (of every tenant, with all), once per database (two configs
// may name the same one: the one with the lowest id stands for it), in
// config id order, each route marked in
// flight while fn runs: what retention needs, which deletes (and
// archives) a tenant's old events in its own database as in the
// default store. A route whose store is not open is an error naming
// its config, wrapping activitylog.ErrUnavailable; every route is
// tried, and the errors (fn's too) are joined.
func (r *Router) EachStore(ctx context.Context, tenant string, all bool, fn func(c Config, s activitylog.Store) error) error {
	r.mu.RLock()
	var cands, rts []*route
	for t, tr := range r.tab.tenants {
		if all || t == tenant {
			cands = append(cands, tr.all)
			cands = append(cands, tr.byKind[:]...)
		}
	}
	// By config id, so that the same config stands for a database that
	// several name, run after run (retention archives by config id).
	cands = slices.DeleteFunc(cands, func(rt *route) bool { return rt == nil })
	slices.SortFunc(cands, func(a, b *route) int { return cmp.Compare(a.cfg.ID, b.cfg.ID) })
	for _, rt := range cands {
		if !slices.ContainsFunc(rts, func(o *route) bool { return sameDatabase(o.cfg, rt.cfg) }) {
			rts = append(rts, rt)
			rt.inflight.Add(1)
		}
	}
	r.mu.RUnlock()
	var errs []error
	for _, rt := range rts {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
		} else if st := rt.store(); st == nil {
			errs = append(errs, fmt.Errorf("the database of config %s (tenant %q) is not open: %w", rt.cfg.Name, rt.cfg.Tenant, activitylog.ErrUnavailable))
		} else if err := fn(rt.cfg, st); err != nil {
			errs = append(errs, fmt.Errorf("config %s (tenant %q): %w", rt.cfg.Name, rt.cfg.Tenant, err))
		}
		rt.inflight.Done()
	}
	return errors.Join(errs...)
}

// PurgeRoutes deletes what req selects from the routed stores of its
// tenant scope (EachStore), as activitylog.Purger does in one store,
// and adds up what each deleted. The default store is not touched: it
// is the caller's to purge (it may be sealed, and purged by pruning),
// and it also holds the copies of the events that fell back. A store
// that cannot delete is an error naming its config.
func (r *Router) PurgeRoutes(ctx context.Context, req activitylog.PurgeRequest) (activitylog.PurgeResult, error) {
	total := activitylog.PurgeResult{ByKind: map[activitylog.Kind]int64{}}
	err := r.EachStore(ctx, req.Tenant, req.AllTenants, func(c Config, s activitylog.Store) error {
		p, ok := s.(activitylog.Purger)
		if !ok {
			return fmt.Errorf("its %s store cannot delete events", c.Engine)
		}
		res, err := p.Purge(ctx, req)
		total.Add(res)
		return err
	})
	return total, err
}

// sameDatabase reports whether a and b name the same database.
func sameDatabase(a, b Config) bool {
	pa, pb := cmp.Or(a.Port, a.Engine.DefaultPort()), cmp.Or(b.Port, b.Engine.DefaultPort())
	return a.Engine == b.Engine && strings.EqualFold(a.Host, b.Host) && pa == pb && a.Database == b.Database
}

// routeStore returns rt's store, or why it cannot be read.
func routeStore(rt *route) (activitylog.Store, error) {
	if s := rt.store(); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("query store of config %s: %w", rt.cfg.Name, activitylog.ErrUnavailable)
}

// Query reads one page from the store of f's tenant and kind; see
// Router. A filter with a tenant and no kind, when that tenant's events
// are in several databases, is refused with an error wrapping
// activitylog.ErrInvalid that names kind: pages of several stores
// cannot be merged under one cursor.
func (r *Router) Query(ctx context.Context, f activitylog.Filter) (activitylog.Page, error) {
	rts, def, _, done := r.readers(f)
	defer done()
	switch {
	case len(rts) == 0:
		return r.def.Query(ctx, f)
	case len(rts) > 1 || def:
		return activitylog.Page{}, errSeveral(f.Tenant)
	}
	s, err := routeStore(rts[0])
	if err != nil {
		return activitylog.Page{}, err
	}
	return s.Query(ctx, f)
}

// Count counts in the stores of f's tenant and kind; see Router. A
// filter with a tenant and no kind counts in each of the tenant's
// stores and adds up. When the default store is one of them (the
// tenant has configs for single kinds only), it is asked for the kinds
// no config of the tenant takes, one at a time: it also keeps a copy of
// the events that fell back, which are counted in their own store.
func (r *Router) Count(ctx context.Context, f activitylog.Filter) (int64, error) {
	rts, def, routedKinds, done := r.readers(f)
	defer done()
	if len(rts) == 0 {
		return r.def.Count(ctx, f)
	}
	var total int64
	if def {
		for _, k := range activitylog.Kinds {
			if slices.Contains(routedKinds, k) {
				continue
			}
			fk := f
			fk.Kind = k
			n, err := r.def.Count(ctx, fk)
			if err != nil {
				return 0, err
			}
			total += n
		}
	}
	for _, rt := range rts {
		s, err := routeStore(rt)
		if err != nil {
			return 0, err
		}
		n, err := s.Count(ctx, f)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// Get returns the event from the default store, or else from the first
// routed store that has it (in config id order): only the stores of
// the tenant of ctx (activitylog.TenantFrom) when it has one, each
// asked within RouterOptions.ReadTimeout. An event a store returns with
// another tenant than its config's is not taken (and is logged).
func (r *Router) Get(ctx context.Context, id activitylog.ID) (activitylog.Event, error) {
	e, err := r.def.Get(ctx, id)
	if err == nil || !errors.Is(err, activitylog.ErrNotFound) {
		return e, err
	}
	tenant := activitylog.TenantFrom(ctx)
	r.mu.RLock()
	var rts []*route
	if tenant != "" {
		if tr := r.tab.tenants[tenant]; tr != nil {
			for _, rt := range append([]*route{tr.all}, tr.byKind[:]...) {
				if rt != nil {
					rts = append(rts, rt)
				}
			}
		}
	} else {
		rts = make([]*route, 0, len(r.tab.byID))
		for _, rt := range r.tab.byID {
			rts = append(rts, rt)
		}
	}
	for _, rt := range rts {
		rt.inflight.Add(1)
	}
	r.mu.RUnlock()
	defer func() {
		for _, rt := range rts {
			rt.inflight.Done()
		}
	}()
	slices.SortFunc(rts, func(a, b *route) int { return strings.Compare(a.cfg.ID, b.cfg.ID) })
	for _, rt := range rts {
		s := rt.store()
		if s == nil {
			continue
		}
		gctx, cancel := context.WithTimeout(ctx, r.o.ReadTimeout)
		e, gerr := s.Get(gctx, id)
		cancel()
		if gerr != nil {
			if ctx.Err() != nil {
				return activitylog.Event{}, ctx.Err()
			}
			continue
		}
		if e.Tenant != rt.cfg.Tenant {
			r.log.WarnContext(ctx, "activitylog router: a store returned an event of another tenant than its config's; not taken",
				"config", rt.cfg.ID, "name", rt.cfg.Name, "tenant", rt.cfg.Tenant, "event", id.String(), "event_tenant", e.Tenant)
			continue
		}
		return e, nil
	}
	return activitylog.Event{}, err
}

// RouteHealth is what the Router knows of one config's route.
type RouteHealth struct {
	Routed  bool   `json:"routed"`          // active and primary: the router writes to it
	Open    bool   `json:"open"`            // its store is open
	Down    bool   `json:"down"`            // a write failed; its events fall back until replayed
	Error   string `json:"error,omitempty"` // why it could not be opened
	Written int64  `json:"written"`         // events committed in it
}

// Health returns the state of the route of the config with that id.
func (r *Router) Health(id string) RouteHealth {
	r.mu.RLock()
	rt := r.tab.byID[id]
	r.mu.RUnlock()
	if rt == nil {
		return RouteHealth{}
	}
	h := RouteHealth{Routed: true, Open: rt.store() != nil, Down: rt.down.Load(), Written: rt.routed.Load()}
	if e := rt.openErr.Load(); e != nil && !h.Open {
		h.Error = (*e).Error()
	}
	return h
}

// Stats returns the Router's counters.
func (r *Router) Stats() RouterStats {
	r.mu.RLock()
	tab := r.tab
	r.mu.RUnlock()
	s := RouterStats{
		Routed:    map[string]int64{DefaultRoute: r.defRouted.Load()},
		Fallbacks: r.fallbacks.Load(), Replayed: r.replayed.Load(),
		Pending: r.pendingN.Load(), Abandoned: r.abandoned.Load(), Routes: len(tab.byID),
	}
	for id, rt := range tab.byID {
		s.Routed[id] = rt.routed.Load()
	}
	return s
}

// Close stops the reload and replay loops and closes the stores the
// Router opened, after the writes under way on them end. It does not
// close the default store, nor Pending. Write after Close writes to the
// default store.
func (r *Router) Close() error {
	r.closeOnce.Do(func() {
		close(r.stop)
		r.loops.Wait()
		r.reloadMu.Lock()
		defer r.reloadMu.Unlock()
		r.closed = true
		r.closeRoutes()
		r.retiring.Wait()
	})
	return nil
}

func (r *Router) closeRoutes() {
	r.mu.Lock()
	old := r.tab
	r.tab = &table{tenants: map[string]*tenantRoutes{}, byID: map[string]*route{}}
	r.mu.Unlock()
	for _, rt := range old.byID {
		r.retire(rt)
	}
}
