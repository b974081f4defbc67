package retention_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/retention"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

var ctx = context.Background()

// now is the tests' clock: the cut of a 30-day policy is 2026-05-16.
var now = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// auditor records into the store, at once, and keeps what it recorded.
type auditor struct {
	store *sqlite.Store
	mu    sync.Mutex
	fail  error
	got   []activitylog.Event
}

func (a *auditor) Record(ctx context.Context, e activitylog.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if err := a.store.Write(ctx, []activitylog.Event{e}); err != nil {
		return err
	}
	a.got = append(a.got, e)
	return nil
}

func (a *auditor) events() []activitylog.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

type env struct {
	t      *testing.T
	store  *sqlite.Store
	repo   *sqlite.RetentionPolicies
	audit  *auditor
	runner *retention.Runner
	n      int
}

func newEnv(t *testing.T, opts *retention.RunnerOptions) *env {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := &env{t: t, store: s, repo: s.RetentionPolicies(), audit: &auditor{store: s}}
	var o retention.RunnerOptions
	if opts != nil {
		o = *opts
	}
	o.Audit, o.Count, o.Logger = e.audit, s, slog.New(slog.DiscardHandler)
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	if e.runner, err = retention.NewRunner(e.repo, s.Purge, &o); err != nil {
		t.Fatal(err)
	}
	return e
}

// event writes an event of kind and tenant, age days old (at now), and
// returns its id.
func (e *env) event(kind activitylog.Kind, tenant string, age float64) activitylog.ID {
	e.t.Helper()
	return e.eventCat(kind, tenant, age, "orders")
}

func (e *env) eventCat(kind activitylog.Kind, tenant string, age float64, category string) activitylog.ID {
	e.t.Helper()
	e.n++
	ev := storetest.NewEvent(e.n)
	ev.Time = now.Add(-time.Duration(age * float64(24*time.Hour)))
	ev.ID = activitylog.NewID(ev.Time)
	ev.Kind, ev.Tenant, ev.Category = kind, tenant, category
	switch kind {
	case activitylog.KindCRUD:
		ev.Action = "create"
	case activitylog.KindAuth:
		ev.Action = "login"
	case activitylog.KindSystem:
		ev.Action = "warning"
	default:
		ev.Action = "call"
	}
	if err := e.store.Write(ctx, []activitylog.Event{ev}); err != nil {
		e.t.Fatal(err)
	}
	return ev.ID
}

func (e *env) policy(p retention.Policy) retention.Policy {
	e.t.Helper()
	p.ID = retention.NewID()
	if err := e.repo.Create(ctx, p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// exists reports which of ids are still stored.
func (e *env) exists(ids ...activitylog.ID) []bool {
	e.t.Helper()
	out := make([]bool, len(ids))
	for i, id := range ids {
		_, err := e.store.Get(ctx, id)
		switch {
		case err == nil:
			out[i] = true
		case !errors.Is(err, activitylog.ErrNotFound):
			e.t.Fatal(err)
		}
	}
	return out
}

func (e *env) count() int64 {
	e.t.Helper()
	n, err := e.store.Count(ctx, activitylog.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestRunDeletesOnlyOldEventsOfThePolicy(t *testing.T) {
	e := newEnv(t, nil)
	crud := e.policy(retention.Policy{Name: "acme crud", Kind: "crud", RetainDays: 30, Active: true, Tenant: "acme"})
	sys := e.policy(retention.Policy{Name: "system", Kind: "system", RetainDays: 30, Active: true, AllTenants: true})
	e.policy(retention.Policy{Name: "inactive", Kind: "auth", RetainDays: 1, Active: false, AllTenants: true})
	gone := []activitylog.ID{
		e.event("crud", "acme", 40),
		e.event("crud", "acme", 30.6), // before 2026-05-16T00:00
		e.event("system", "globex", 40),
		e.event("system", "", 400),
	}
	kept := []activitylog.ID{
		e.event("crud", "acme", 10),
		e.event("crud", "acme", 30.4), // after the cut: days are whole days
		e.event("crud", "globex", 40),
		e.event("crud", "", 40),
		e.event("auth", "acme", 40),
		e.eventCat("system", "acme", 400, activitylog.CategoryRetention), // a purge's record
	}
	rep, err := e.runner.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.exists(gone...); slices.Contains(got, true) {
		t.Errorf("old events of the policies stored after the run: %v", got)
	}
	if got := e.exists(kept...); slices.Contains(got, false) {
		t.Errorf("events outside the policies deleted: %v", got)
	}
	if rep.Deleted != 4 || len(rep.Rules) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	for _, c := range []struct {
		p    retention.Policy
		want int64
	}{{crud, 2}, {sys, 2}} {
		got, err := e.repo.Get(ctx, c.p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastRun.Equal(now) || got.RecordsDeleted != c.want || got.LastError != "" {
			t.Errorf("%s after the run: last_run %v, records_deleted %d, last_error %q; want %v, %d, \"\"",
				c.p.Name, got.LastRun, got.RecordsDeleted, got.LastError, now, c.want)
		}
	}
	// Each rule is recorded: started before, done after, with the
	// policy's id and name, in the shape of the purge's events.
	evs := e.audit.events()
	if len(evs) != 4 {
		t.Fatalf("%d audit events, want 4: %+v", len(evs), evs)
	}
	for i, ev := range evs {
		p := []retention.Policy{sys, sys, crud, crud}[i] // every tenant's first
		op := []string{activitylog.PurgeStarted, activitylog.PurgeDone}[i%2]
		if ev.Kind != activitylog.KindSystem || ev.Category != activitylog.CategoryRetention || ev.Extra["operation"] != op ||
			ev.Extra["policy_id"] != p.ID || ev.Extra["policy_name"] != p.Name || ev.Object.ID != p.ID {
			t.Errorf("audit event %d: %+v %v", i, ev, ev.Extra)
		}
		if op == activitylog.PurgeDone && ev.Extra["deleted"] != int64(2) {
			t.Errorf("audit event %d: deleted %v, want 2", i, ev.Extra["deleted"])
		}
	}
	if evs[2].Extra["tenant"] != "acme" || evs[0].Extra["tenant"] != "*" || evs[3].Extra["deleted_crud"] != int64(2) {
		t.Errorf("audit extras: %v / %v / %v", evs[0].Extra, evs[1].Extra, evs[2].Extra)
	}
	// The run's own records survive the next run.
	if _, err := e.runner.Run(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if !e.exists(ev.ID)[0] {
			t.Errorf("the record %s of a run was deleted", ev.ID)
		}
	}
}

func TestKindPolicyBeatsAll(t *testing.T) {
	e := newEnv(t, nil)
	e.policy(retention.Policy{Name: "everything", Kind: "all", RetainDays: 10, Active: true, AllTenants: true})
	e.policy(retention.Policy{Name: "logins a year", Kind: "auth", RetainDays: 365, Active: true, AllTenants: true})
	// A tenant's own policy for all kinds, with a kind of its own.
	e.policy(retention.Policy{Name: "acme", Kind: "all", RetainDays: 5, Active: true, Tenant: "acme"})
	e.policy(retention.Policy{Name: "acme crud", Kind: "crud", RetainDays: 100, Active: true, Tenant: "acme"})
	gone := []activitylog.ID{e.event("crud", "globex", 40), e.event("auth", "", 400), e.event("request", "acme", 7)}
	kept := []activitylog.ID{e.event("auth", "globex", 40), e.event("crud", "globex", 5), e.event("request", "acme", 3)}
	if _, err := e.runner.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.exists(gone...); slices.Contains(got, true) {
		t.Errorf("stored after the run: %v", got)
	}
	if got := e.exists(kept...); slices.Contains(got, false) {
		t.Errorf("deleted by the run: %v", got)
	}
	// The rules say so: "everything" leaves auth to its policy, "acme"
	// leaves crud to acme's.
	ps, _ := e.repo.List(ctx)
	for _, r := range retention.Rules(ps, 0, now) {
		switch r.Name {
		case "everything":
			if slices.Contains(r.Kinds, activitylog.KindAuth) || len(r.Kinds) != len(activitylog.Kinds)-1 {
				t.Errorf("everything's kinds: %v", r.Kinds)
			}
		case "acme":
			if slices.Contains(r.Kinds, activitylog.KindCRUD) || !slices.Contains(r.Kinds, activitylog.KindAuth) {
				t.Errorf("acme's kinds: %v", r.Kinds)
			}
		}
	}
}

func TestDefaultRetentionDays(t *testing.T) {
	for _, c := range []struct {
		name       string
		days       int
		crudGone   bool
		wantRules  int
		allCovered bool
	}{
		{"default 30", 30, true, 2, false},
		{"no default keeps forever", 0, false, 1, false},
		{"a policy for every kind of every tenant replaces the default", 30, false, 2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, &retention.RunnerOptions{DefaultRetentionDays: c.days})
			e.policy(retention.Policy{Name: "logins", Kind: "auth", RetainDays: 365, Active: true, AllTenants: true})
			if c.allCovered {
				e.policy(retention.Policy{Name: "all", Kind: "all", RetainDays: 1000, Active: true, AllTenants: true})
			}
			crud := e.event("crud", "acme", 40)
			auth := e.event("auth", "acme", 40)
			fresh := e.event("request", "", 20)
			rep, err := e.runner.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.exists(crud, auth, fresh); got[0] == c.crudGone || !got[1] || !got[2] {
				t.Errorf("stored crud, auth, fresh: %v; want crud gone %v", got, c.crudGone)
			}
			if len(rep.Rules) != c.wantRules {
				t.Errorf("%d rules, want %d: %+v", len(rep.Rules), c.wantRules, rep.Rules)
			}
		})
	}
}

func TestPlanIsExactAndDeletesNothing(t *testing.T) {
	e := newEnv(t, &retention.RunnerOptions{DefaultRetentionDays: 60})
	e.policy(retention.Policy{Name: "acme", Kind: "all", RetainDays: 30, Active: true, Tenant: "acme"})
	e.policy(retention.Policy{Name: "untenanted system", Kind: "system", RetainDays: 7, Active: true})
	kinds := []activitylog.Kind{"crud", "auth", "system", "request"}
	tenants := []string{"acme", "globex", ""}
	for i := range 60 {
		e.event(kinds[i%len(kinds)], tenants[i%len(tenants)], float64(i*3))
	}
	for i := range 5 { // purge records, never deleted
		e.eventCat("system", tenants[i%len(tenants)], 400, activitylog.CategoryRetention)
	}
	before := e.count()
	plan, err := e.runner.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.count() != before {
		t.Fatalf("a dry run deleted %d events", before-e.count())
	}
	if len(e.audit.events()) != 0 {
		t.Fatalf("a dry run was recorded: %+v", e.audit.events())
	}
	rep, err := e.runner.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Count == 0 || plan.Count != rep.Deleted || before-e.count() != plan.Count-int64(len(e.audit.events())) {
		t.Fatalf("plan counted %d, the run deleted %d (%d fewer events stored, %d recorded)",
			plan.Count, rep.Deleted, before-e.count(), len(e.audit.events()))
	}
	if len(plan.Rules) != len(rep.Rules) {
		t.Fatalf("%d rules planned, %d run", len(plan.Rules), len(rep.Rules))
	}
	for i, pr := range plan.Rules {
		rr := rep.Rules[i]
		if pr.Name != rr.Name || pr.Count != rr.Deleted {
			t.Errorf("rule %s: planned %d, deleted %d", pr.Name, pr.Count, rr.Deleted)
		}
		for k, n := range pr.ByKind {
			if rr.ByKind[k] != n {
				t.Errorf("rule %s, kind %s: planned %d, deleted %d", pr.Name, k, n, rr.ByKind[k])
			}
		}
	}
	// What is left is what nothing selects: a second plan counts 0.
	again, err := e.runner.Plan(ctx)
	if err != nil || again.Count != 0 {
		t.Fatalf("plan after the run: %d, %v", again.Count, err)
	}
}

func TestArchiveBeforeDelete(t *testing.T) {
	t.Run("no archiver", func(t *testing.T) {
		e := newEnv(t, nil)
		p := e.policy(retention.Policy{Name: "archived", Kind: "crud", RetainDays: 30, Active: true, AllTenants: true, Archive: true})
		old := e.event("crud", "", 40)
		_, err := e.runner.Run(ctx)
		if !errors.Is(err, retention.ErrNoArchiver) {
			t.Fatalf("err = %v, want ErrNoArchiver", err)
		}
		if !e.exists(old)[0] {
			t.Fatal("deleted without an archive")
		}
		got, _ := e.repo.Get(ctx, p.ID)
		if got.LastError == "" || got.RecordsDeleted != 0 || !got.LastRun.Equal(now) {
			t.Fatalf("policy after the failed run: %+v", got)
		}
	})
	t.Run("archiver fails", func(t *testing.T) {
		var asked []activitylog.PurgeRequest
		e := newEnv(t, &retention.RunnerOptions{Archive: func(ctx context.Context, r activitylog.PurgeRequest) (int64, error) {
			asked = append(asked, r)
			return 0, errors.New("disk full")
		}})
		e.policy(retention.Policy{Name: "archived", Kind: "crud", RetainDays: 30, Active: true, Tenant: "acme", Archive: true})
		old := e.event("crud", "acme", 40)
		if _, err := e.runner.Run(ctx); err == nil {
			t.Fatal("the run succeeded")
		}
		if !e.exists(old)[0] {
			t.Fatal("deleted although the archive failed")
		}
		want := activitylog.PurgeRequest{Before: retention.Cut(now, 30), Kinds: []activitylog.Kind{"crud"}, Tenant: "acme"}
		if len(asked) != 1 || !asked[0].Before.Equal(want.Before) || !slices.Equal(asked[0].Kinds, want.Kinds) || asked[0].Tenant != "acme" || asked[0].AllTenants {
			t.Fatalf("archiver asked %+v, want %+v", asked, want)
		}
		evs := e.audit.events()
		if len(evs) != 2 || evs[1].Extra["operation"] != activitylog.PurgeFailed {
			t.Fatalf("audit: %+v", evs)
		}
	})
	t.Run("archiver succeeds", func(t *testing.T) {
		archived := 0
		e := newEnv(t, &retention.RunnerOptions{Archive: func(ctx context.Context, r activitylog.PurgeRequest) (int64, error) {
			archived++
			return 1, nil
		}})
		e.policy(retention.Policy{Name: "archived", Kind: "crud", RetainDays: 30, Active: true, AllTenants: true, Archive: true})
		old := e.event("crud", "", 40)
		rep, err := e.runner.Run(ctx)
		if err != nil || archived != 1 || !rep.Rules[0].Archived || e.exists(old)[0] {
			t.Fatalf("run: %v, archived %d, report %+v, still stored %v", err, archived, rep, e.exists(old)[0])
		}
	})
	// An event stored after the archive was written, with a time before
	// the cut, is deleted by the purge unarchived: the run says so.
	t.Run("late event deleted unarchived", func(t *testing.T) {
		var e *env
		e = newEnv(t, &retention.RunnerOptions{Archive: func(ctx context.Context, r activitylog.PurgeRequest) (int64, error) {
			e.event("crud", "", 41) // arrives while the archive is written
			return 1, nil           // the archive holds the one before it
		}})
		e.policy(retention.Policy{Name: "archived", Kind: "crud", RetainDays: 30, Active: true, AllTenants: true, Archive: true})
		e.event("crud", "", 40)
		rep, err := e.runner.Run(ctx)
		if err == nil || !strings.Contains(err.Error(), "1 events were deleted without being archived") || rep.Rules[0].Unarchived != 1 {
			t.Fatalf("run: %v, report %+v", err, rep)
		}
		evs := e.audit.events()
		if last := evs[len(evs)-1]; last.Extra["unarchived"] != int64(1) || last.Extra["operation"] != activitylog.PurgeFailed {
			t.Fatalf("the run's record: %+v", last.Extra)
		}
	})
}

// A run whose start cannot be recorded deletes nothing.
func TestUnrecordedRunDeletesNothing(t *testing.T) {
	e := newEnv(t, nil)
	e.policy(retention.Policy{Name: "crud", Kind: "crud", RetainDays: 30, Active: true, AllTenants: true})
	old := e.event("crud", "", 40)
	e.audit.fail = errors.New("recorder closed")
	if _, err := e.runner.Run(ctx); err == nil {
		t.Fatal("the run succeeded")
	}
	if !e.exists(old)[0] {
		t.Fatal("an unrecorded run deleted events")
	}
}

func TestRunPolicy(t *testing.T) {
	e := newEnv(t, nil)
	all := e.policy(retention.Policy{Name: "all", Kind: "all", RetainDays: 30, Active: false, AllTenants: true})
	e.policy(retention.Policy{Name: "auth", Kind: "auth", RetainDays: 365, Active: true, AllTenants: true})
	crud, auth := e.event("crud", "x", 40), e.event("auth", "x", 40)
	plan, err := e.runner.PlanPolicy(ctx, all.ID)
	if err != nil || plan.Count != 1 || plan.ByKind["crud"] != 1 {
		t.Fatalf("plan of an inactive policy: %+v, %v", plan, err)
	}
	if _, err := e.runner.RunPolicy(ctx, all.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.exists(crud, auth); got[0] || !got[1] {
		t.Fatalf("crud, auth stored: %v; want false, true", got)
	}
	if _, err := e.runner.RunPolicy(ctx, "rtp_missing"); !errors.Is(err, activitylog.ErrNotFound) {
		t.Fatalf("a missing policy: %v", err)
	}
}

func TestCut(t *testing.T) {
	for _, c := range []struct {
		now  time.Time
		days int
		want time.Time
	}{
		{now, 30, time.Date(2026, 5, 16, 0, 0, 0, 0, time.UTC)},
		{now, 1, time.Date(2026, 6, 14, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), 1, time.Date(2026, 2, 27, 0, 0, 0, 0, time.UTC)},
	} {
		if got := retention.Cut(c.now, c.days); !got.Equal(c.want) {
			t.Errorf("Cut(%v, %d) = %v, want %v", c.now, c.days, got, c.want)
		}
	}
}

func TestNewRunnerRefuses(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := &auditor{store: s}
	for _, c := range []struct {
		name  string
		repo  retention.Repository
		purge retention.PurgeFunc
		opts  *retention.RunnerOptions
		field string
	}{
		{"no repository", nil, s.Purge, &retention.RunnerOptions{Audit: a}, "repository"},
		{"no purge", s.RetentionPolicies(), nil, &retention.RunnerOptions{Audit: a}, "purge"},
		{"no audit", s.RetentionPolicies(), s.Purge, nil, "audit"},
		{"negative default", s.RetentionPolicies(), s.Purge, &retention.RunnerOptions{Audit: a, DefaultRetentionDays: -1}, "default_retention_days"},
	} {
		_, err := retention.NewRunner(c.repo, c.purge, c.opts)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: %v, want a FieldError naming %s", c.name, err, c.field)
		}
	}
}

// The CLI's cleanup: a rule that is no stored policy, counted and run;
// no stored policy's run is recorded.
func TestRunRules(t *testing.T) {
	e := newEnv(t, nil)
	stored := e.policy(retention.Policy{Name: "stored", Kind: "crud", RetainDays: 1, Active: true, AllTenants: true})
	cleanup := retention.Policy{ID: stored.ID, Name: "cleanup", Kind: "crud", RetainDays: 30, Tenant: "acme"}
	if err := cleanup.Validate(); err != nil {
		t.Fatal(err)
	}
	rule := cleanup.Rule(nil, now)
	old, fresh, other := e.event("crud", "acme", 40), e.event("crud", "acme", 20), e.event("crud", "globex", 40)
	plan, err := e.runner.PlanRules(ctx, []retention.Rule{rule})
	if err != nil || plan.Count != 1 {
		t.Fatalf("plan: %+v, %v", plan, err)
	}
	rep, err := e.runner.RunRules(ctx, []retention.Rule{rule})
	if err != nil || rep.Deleted != 1 {
		t.Fatalf("run: %+v, %v", rep, err)
	}
	if got := e.exists(old, fresh, other); got[0] || !got[1] || !got[2] {
		t.Fatalf("old, fresh, other stored: %v", got)
	}
	if p, _ := e.repo.Get(ctx, stored.ID); !p.LastRun.IsZero() {
		t.Fatalf("the cleanup was recorded as a run of a stored policy: %+v", p)
	}
	if evs := e.audit.events(); len(evs) != 2 || evs[0].Extra["policy_name"] != "cleanup" || evs[0].Object.Type != "events" {
		t.Fatalf("audit: %+v", evs)
	}
}
