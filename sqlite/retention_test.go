package sqlite_test

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/retention"
	"github.com/activitylog/activitylog/sqlite"
)

func openRetention(t *testing.T) (string, *sqlite.RetentionPolicies) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.db")
	s := open(t, path, &sqlite.Options{CheckpointInterval: -1})
	return path, s.RetentionPolicies()
}

func TestRetentionPolicies(t *testing.T) {
	path, repo := openRetention(t)
	at := time.Date(2026, 6, 1, 10, 0, 0, 123, time.UTC)
	a := retention.Policy{ID: retention.NewID(), Name: "Requests", Kind: "request", RetainDays: 30, Active: true, AllTenants: true,
		CreatedAt: at, UpdatedAt: at}
	b := retention.Policy{ID: retention.NewID(), Name: "acme", Kind: "all", RetainDays: 90, Active: true, Tenant: "acme", Archive: true}
	for _, p := range []retention.Policy{a, b} {
		if err := repo.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := repo.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != a.Name || got.Kind != "request" || got.RetainDays != 30 || !got.Active || !got.AllTenants || got.Tenant != "" ||
		!got.CreatedAt.Equal(at) || !got.LastRun.IsZero() || got.RecordsDeleted != 0 {
		t.Fatalf("Get: %+v", got)
	}
	if g, _ := repo.Get(ctx, b.ID); g.CreatedAt.IsZero() || !g.Archive || g.Tenant != "acme" {
		t.Fatalf("Get b: %+v", g)
	}

	// Runs add up; an update keeps them.
	run := time.Date(2026, 6, 2, 3, 0, 0, 0, time.UTC)
	if err := repo.RecordRun(ctx, a.ID, run, 7, nil); err != nil {
		t.Fatal(err)
	}
	if err := repo.RecordRun(ctx, a.ID, run.Add(24*time.Hour), 5, errors.New("purge: disk I/O error")); err != nil {
		t.Fatal(err)
	}
	a.RetainDays, a.Name = 60, "requests 60"
	a.UpdatedAt = run.Add(48 * time.Hour)
	if err := repo.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, _ = repo.Get(ctx, a.ID)
	if got.RetainDays != 60 || got.Name != "requests 60" || !got.LastRun.Equal(run.Add(24*time.Hour)) || got.RecordsDeleted != 12 ||
		got.LastError != "purge: disk I/O error" || !got.CreatedAt.Equal(at) || !got.UpdatedAt.Equal(a.UpdatedAt) {
		t.Fatalf("after runs and an update: %+v", got)
	}
	if err := repo.RecordRun(ctx, a.ID, run.Add(72*time.Hour), 0, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ = repo.Get(ctx, a.ID); got.LastError != "" {
		t.Fatalf("a good run left last_error %q", got.LastError)
	}

	// Every tenant's policies first, then by tenant, kind, name.
	list, err := repo.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("List: %+v, %v", list, err)
	}

	// The policies are in the file: another store over it reads them.
	if again, err := open(t, path, &sqlite.Options{CheckpointInterval: -1}).RetentionPolicies().Get(ctx, b.ID); err != nil || again.Name != "acme" {
		t.Fatalf("read from a second store: %+v, %v", again, err)
	}

	if err := repo.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"get":        func() error { _, err := repo.Get(ctx, b.ID); return err }(),
		"delete":     repo.Delete(ctx, b.ID),
		"update":     repo.Update(ctx, b),
		"record run": repo.RecordRun(ctx, b.ID, run, 1, nil),
	} {
		if !errors.Is(err, activitylog.ErrNotFound) {
			t.Errorf("%s of a deleted policy: %v, want ErrNotFound", name, err)
		}
	}
}

func TestRetentionPolicyConflicts(t *testing.T) {
	_, repo := openRetention(t)
	a := retention.Policy{ID: retention.NewID(), Name: "crud", Kind: "crud", RetainDays: 30, Active: true, Tenant: "acme"}
	if err := repo.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	conflict := func(name string, err error, field string) {
		t.Helper()
		var ce *retention.ConflictError
		if !errors.As(err, &ce) || ce.Field != field || !errors.Is(err, retention.ErrConflict) {
			t.Errorf("%s: %v, want a ConflictError naming %s", name, err, field)
		}
	}
	conflict("name in another case", repo.Create(ctx, retention.Policy{ID: retention.NewID(), Name: "CRUD", Kind: "auth", RetainDays: 1, Tenant: "x"}), "name")
	conflict("second active policy", repo.Create(ctx, retention.Policy{ID: retention.NewID(), Name: "crud 2", Kind: "crud", RetainDays: 1, Active: true, Tenant: "acme"}), "kind")
	// An inactive one of the same scope, or one of another scope, is fine.
	idle := retention.Policy{ID: retention.NewID(), Name: "crud 3", Kind: "crud", RetainDays: 1, Tenant: "acme"}
	for _, p := range []retention.Policy{
		idle,
		{ID: retention.NewID(), Name: "crud globex", Kind: "crud", RetainDays: 1, Active: true, Tenant: "globex"},
		{ID: retention.NewID(), Name: "crud untenanted", Kind: "crud", RetainDays: 1, Active: true},
		{ID: retention.NewID(), Name: "crud everyone", Kind: "crud", RetainDays: 1, Active: true, AllTenants: true},
	} {
		if err := repo.Create(ctx, p); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
	idle.Active = true
	conflict("activating a second", repo.Update(ctx, idle), "kind")
	idle.Active, idle.Name = false, "Crud"
	conflict("renaming onto a name", repo.Update(ctx, idle), "name")
	// Refused values never reach the table.
	var fe *activitylog.FieldError
	if err := repo.Create(ctx, retention.Policy{ID: retention.NewID(), Name: "x", Kind: "all", RetainDays: 0}); !errors.As(err, &fe) || fe.Field != "retain_days" {
		t.Errorf("retain_days 0: %v", err)
	}
	if err := repo.Create(ctx, retention.Policy{Name: "x", Kind: "all", RetainDays: 1}); !errors.As(err, &fe) || fe.Field != "id" {
		t.Errorf("no id: %v", err)
	}
	if err := repo.Create(ctx, retention.Policy{ID: a.ID, Name: "other", Kind: "auth", RetainDays: 1}); !errors.As(err, &fe) || fe.Field != "id" {
		t.Errorf("id taken: %v", err)
	}
}

// Concurrent creates of one scope: exactly one is stored.
func TestRetentionPolicyConcurrentCreate(t *testing.T) {
	_, repo := openRetention(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			errs[i] = repo.Create(ctx, retention.Policy{ID: retention.NewID(), Name: "p" + string(rune('a'+i)), Kind: "auth", RetainDays: 5, Active: true, AllTenants: true})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, retention.ErrConflict):
			t.Errorf("create: %v", err)
		}
	}
	if list, _ := repo.List(ctx); ok != 1 || len(list) != 1 {
		t.Fatalf("%d creates succeeded, %d stored; want 1", ok, len(list))
	}
}
