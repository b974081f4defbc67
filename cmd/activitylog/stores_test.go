package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/sqlite"
)

// storeCase is one backend that serve's store setting can name: its URL
// for this test, and how to open the same store directly to look.
type storeCase struct {
	name string
	url  func(t *testing.T) string
	open func(t *testing.T, url string) activitylog.Store
}

// storeCases are the backends to run serve against: SQLite always, the
// others when their server is there (stores_*_test.go add them).
var storeCases = []storeCase{{
	name: "sqlite",
	url:  func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "events.db") },
	open: func(t *testing.T, u string) activitylog.Store {
		s, err := sqlite.Open(sqlitePath(u), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
}}

// serve --store URL writes the events to that store, not to db, and
// reads them back from it; db keeps the credentials.
func TestServeStore(t *testing.T) {
	t.Parallel()
	for _, tc := range storeCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := tc.url(t)
			db := filepath.Join(t.TempDir(), "control.db")
			s := startServe(t, "--db", db, "--store", u, "--service", "store-test")
			if s.key == "" {
				t.Fatal("no bootstrap key: the credentials did not go to db")
			}
			if strings.Contains(s.log.String(), "secret-pw") {
				t.Errorf("the log shows the store's password:\n%s", s.log.String())
			}
			body := `{"kind":"crud","action":"update","actor":{"id":"user-7"},"object":{"type":"invoice","id":"INV-9"}}`
			var posted struct {
				IDs []string `json:"ids"`
			}
			if code := s.do(t, "POST", s.key, "/api/v1/events", body, &posted); code != http.StatusCreated || len(posted.IDs) != 1 {
				t.Fatalf("POST: status %d, %+v", code, posted)
			}
			var l list
			if code := s.get(t, s.key, "/api/v1/events?"+url.Values{"object_id": {"INV-9"}}.Encode(), &l); code != 200 || l.Count != 1 {
				t.Fatalf("GET: status %d, %d events, want 1", code, l.Count)
			}
			s.stop(t)

			id, err := activitylog.ParseID(posted.IDs[0])
			if err != nil {
				t.Fatal(err)
			}
			st := tc.open(t, u)
			defer st.Close()
			e, err := st.Get(context.Background(), id)
			if err != nil {
				t.Fatalf("the event is not in the store %s: %v", tc.name, err)
			}
			if e.Object.ID != "INV-9" || e.Service != "store-test" {
				t.Errorf("stored %+v", e)
			}
			ctl, err := sqlite.Open(db, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ctl.Close()
			if _, err := ctl.Get(context.Background(), id); err == nil {
				t.Error("the event went to db as well")
			}
		})
	}
}

// A store URL that names no compiled store, or is not a URL, is refused
// before serve listens, naming the setting.
func TestServeBadStore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ store, want string }{
		{"oracle://db", `config: store "oracle://db": has scheme oracle; must be one of sqlite, postgres`},
		{"just-a-path.db", `config: store "just-a-path.db": must be a URL`},
		{"clickhouse://u:hunter2@127.0.0.1/x", `integrity sealing needs a store that seals (sqlite, postgres, postgresql, mysql); clickhouse does not yet`},
	} {
		args := []string{"serve", "--db", filepath.Join(t.TempDir(), "a.db"), "--store", tc.store}
		if strings.Contains(tc.store, "hunter2") {
			args = append(args, "--integrity")
		}
		r := runBin(t, nil, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("store %q: exit %d, stderr %q; want exit 2 and %q", tc.store, r.code, r.stderr, tc.want)
		}
		if strings.Contains(r.stderr, "hunter2") {
			t.Errorf("store %q: the error shows the password: %s", tc.store, r.stderr)
		}
	}
}

// With database_config_keys set, a configuration made through the API
// routes a tenant's events to its own database at once, without a
// restart; the API never answers the password, and the control
// database keeps it only encrypted.
func TestServeTenantDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, tenantDB := filepath.Join(dir, "control.db"), filepath.Join(dir, "acme.db")
	key, err := dbconfig.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--db", db, "--database-config-keys", key.String())
	if strings.Contains(s.log.String(), key.String()) {
		t.Fatalf("the log shows the key:\n%s", s.log.String())
	}
	body := `{"name":"acme","engine":"sqlite","database":` + strconv.Quote(tenantDB) + `,"tenant":"acme","password":"pw-never-shown"}`
	var created string
	if code := s.do(t, "POST", s.key, "/api/v1/database-configs", body, &created); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/database-configs: %d %s", code, created)
	}
	if strings.Contains(created, "pw-never-shown") || !strings.Contains(created, `"has_password":true`) {
		t.Fatalf("the answer shows the password or hides that there is one: %s", created)
	}
	var posted struct {
		IDs []string `json:"ids"`
	}
	ev := `[{"kind":"crud","action":"create","tenant":"acme","object":{"type":"doc","id":"A-1"}},` +
		`{"kind":"crud","action":"create","object":{"type":"doc","id":"N-1"}}]`
	if code := s.do(t, "POST", s.key, "/api/v1/events", ev, &posted); code != http.StatusCreated || len(posted.IDs) != 2 {
		t.Fatalf("POST events: %d %+v", code, posted)
	}
	var l list
	if code := s.get(t, s.key, "/api/v1/events?tenant=acme&kind=crud", &l); code != 200 || l.Count != 1 || l.Results[0].Object.ID != "A-1" {
		t.Fatalf("GET ?tenant=acme: %d %+v", code, l)
	}
	var all string
	s.get(t, s.key, "/api/v1/database-configs", &all)
	if strings.Contains(all, "pw-never-shown") {
		t.Fatalf("the list shows the password: %s", all)
	}
	s.stop(t)

	acme, err := sqlite.Open(tenantDB, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer acme.Close()
	ctl, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	ctx := context.Background()
	for i, want := range []struct {
		in, notIn *sqlite.Store
	}{{acme, ctl}, {ctl, acme}} {
		id, _ := activitylog.ParseID(posted.IDs[i])
		if _, err := want.in.Get(ctx, id); err != nil {
			t.Errorf("event %d is not where it was routed: %v", i, err)
		}
		if _, err := want.notIn.Get(ctx, id); err == nil {
			t.Errorf("event %d is in both databases", i)
		}
	}
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "pw-never-shown") {
		t.Error("the control database holds the password in the clear")
	}
}

// Retention with database configurations: a policy of every tenant
// counts, archives and deletes the old events in each tenant's own
// database as in the default one, and keeps the recent ones; a tenant
// database's files go to archive_dir/db-<config id>.
func TestServeRetentionInTenantDatabases(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, tenantDB, archiveDir := filepath.Join(dir, "control.db"), filepath.Join(dir, "acme.db"), filepath.Join(dir, "archive")
	if err := os.Mkdir(archiveDir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := dbconfig.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--db", db, "--database-config-keys", key.String(), "--archive-dir", archiveDir)
	old := time.Now().UTC().AddDate(0, 0, -100).Format(time.RFC3339)
	// Before acme has a database of its own: this one stays in the
	// default store.
	if code := s.do(t, "POST", s.key, "/api/v1/events", `[{"kind":"crud","action":"delete","tenant":"acme","time":"`+old+`","object":{"type":"doc","id":"A-0"}}]`, nil); code != http.StatusCreated {
		t.Fatalf("POST the first event: %d", code)
	}
	var cfg struct {
		ID string `json:"id"`
	}
	body := `{"name":"acme","engine":"sqlite","database":` + strconv.Quote(tenantDB) + `,"tenant":"acme"}`
	if code := s.do(t, "POST", s.key, "/api/v1/database-configs", body, &cfg); code != http.StatusCreated || cfg.ID == "" {
		t.Fatalf("POST /api/v1/database-configs: %d %+v", code, cfg)
	}
	ev := `[{"kind":"crud","action":"update","tenant":"acme","time":"` + old + `","object":{"type":"doc","id":"A-1"}},` +
		`{"kind":"custom","action":"old","tenant":"acme","time":"` + old + `"},` +
		`{"kind":"crud","action":"update","time":"` + old + `","object":{"type":"doc","id":"N-1"}},` +
		`{"kind":"crud","action":"create","tenant":"acme","object":{"type":"doc","id":"A-2"}}]`
	var posted struct {
		IDs []string `json:"ids"`
	}
	var answer string
	if code := s.do(t, "POST", s.key, "/api/v1/events", ev, &answer); code != http.StatusCreated {
		t.Fatalf("POST events: %d %s", code, answer)
	}
	if err := json.Unmarshal([]byte(answer), &posted); err != nil || len(posted.IDs) != 4 {
		t.Fatalf("POST events: %s", answer)
	}
	var pol, acmePol struct {
		ID string `json:"id"`
	}
	// A policy of acme's counts where its purge deletes: acme's
	// database, and the default store.
	if code := s.do(t, "POST", s.key, "/api/v1/retention-policies",
		`{"name":"acme-30d","kind":"all","retain_days":30,"active":true,"tenant":"acme","all_tenants":false}`, &acmePol); code != http.StatusCreated {
		t.Fatalf("create acme's policy: %d", code)
	}
	var acmePlan struct {
		Count int64 `json:"count"`
	}
	if code := s.do(t, "POST", s.key, "/api/v1/retention-policies/"+acmePol.ID+"/run-now?dry_run=true", "", &acmePlan); code != http.StatusOK || acmePlan.Count != 3 {
		t.Fatalf("acme's dry run: %d, count %d; want 3 (two in acme's database, A-0 in the default)", code, acmePlan.Count)
	}
	if code := s.do(t, "POST", s.key, "/api/v1/retention-policies",
		`{"name":"all-30d","kind":"all","retain_days":30,"active":true,"all_tenants":true,"archive":true}`, &pol); code != http.StatusCreated {
		t.Fatalf("create policy: %d", code)
	}
	var plan struct {
		Count int64 `json:"count"`
	}
	if code := s.do(t, "POST", s.key, "/api/v1/retention-policies/"+pol.ID+"/run-now?dry_run=true", "", &plan); code != http.StatusOK || plan.Count != 4 {
		t.Fatalf("dry run: %d, count %d; want 4 (two in acme's database, two in the default)", code, plan.Count)
	}
	var rep struct {
		Deleted int64 `json:"deleted"`
	}
	if code := s.do(t, "POST", s.key, "/api/v1/retention-policies/"+pol.ID+"/run-now", "", &rep); code != http.StatusOK || rep.Deleted != 4 {
		t.Fatalf("run-now: %d, deleted %d; want 4", code, rep.Deleted)
	}
	s.stop(t)

	acme, err := sqlite.Open(tenantDB, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer acme.Close()
	ctx := context.Background()
	// Left there: the recent event, and the record of the config's
	// creation (of tenant acme, so routed there too).
	if n, err := acme.Count(ctx, activitylog.Filter{To: time.Now().AddDate(0, 0, -30)}); err != nil || n != 0 {
		t.Fatalf("acme's database holds %d old events, %v; want none", n, err)
	}
	newID, _ := activitylog.ParseID(posted.IDs[3])
	if _, err := acme.Get(ctx, newID); err != nil {
		t.Fatalf("the recent event is gone: %v", err)
	}
	// Each database's files where they belong, and each restores.
	for _, where := range []string{"acme", "default"} {
		r, err := sqlite.Open(filepath.Join(dir, "restored-"+where+".db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	files := map[string]int{}
	err = filepath.WalkDir(archiveDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(path, ".ndjson.gz") {
			return err
		}
		where := "default"
		if strings.HasPrefix(path, filepath.Join(archiveDir, "db-"+cfg.ID)+string(filepath.Separator)) {
			where = "acme"
		}
		if r := runBin(t, nil, "archive", "restore", path, "--db", filepath.Join(dir, "restored-"+where+".db")); r.code != 0 {
			t.Fatalf("archive restore %s: %+v", path, r)
		}
		files[where]++
		return nil
	})
	if err != nil || files["acme"] != 2 || files["default"] != 1 {
		t.Fatalf("archive files %v, %v; want 2 of acme's database (crud, custom) and 1 of the default (crud)", files, err)
	}
}
