package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/sqlite"
)

func openDBConfigs(t *testing.T) (string, *sqlite.Store, *sqlite.DatabaseConfigs) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.db")
	s, err := sqlite.Open(path, &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path, s, s.DatabaseConfigs()
}

func testKeyring(t *testing.T) *dbconfig.Keyring {
	t.Helper()
	k, err := dbconfig.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := dbconfig.NewKeyring([]dbconfig.Key{k})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func dbConfig(name, tenant, routeFor string) dbconfig.Config {
	return dbconfig.Config{
		ID: dbconfig.NewID(), Name: name, Engine: dbconfig.Postgres, Host: "127.0.0.1", Port: 5432,
		Database: "audit_" + name, User: "audit", Options: map[string]string{"sslmode": "disable"},
		RouteFor: routeFor, Tenant: tenant, Primary: true, Active: true,
	}
}

func fieldOf(err error) string {
	var fe *activitylog.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

func TestDatabaseConfigsCRUD(t *testing.T) {
	ctx := context.Background()
	_, _, repo := openDBConfigs(t)
	kr := testKeyring(t)
	a, b, c := dbConfig("b-acme", "acme", "all"), dbConfig("a-acme-req", "acme", "request"), dbConfig("globex", "globex", "all")
	for _, x := range []dbconfig.Config{a, b, c} {
		x.Password = "pw-" + x.Name
		x, err := kr.Conceal(x)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.Create(ctx, x); err != nil {
			t.Fatalf("Create %s: %v", x.Name, err)
		}
	}
	list, err := repo.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range list {
		names = append(names, x.Name)
	}
	if got, want := strings.Join(names, ","), "b-acme,a-acme-req,globex"; got != want {
		t.Fatalf("List order = %s, want %s (tenant, route_for, name)", got, want)
	}
	got, err := repo.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != a.Name || got.Engine != a.Engine || got.Host != a.Host || got.Port != a.Port || got.Database != a.Database ||
		got.User != a.User || got.Options["sslmode"] != "disable" || got.RouteFor != "all" || got.Tenant != "acme" ||
		!got.Primary || !got.Active || got.ReadOnly || got.CreatedAt.IsZero() || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("Get = %+v", got)
	}
	if got.Password != "" {
		t.Fatal("Get returns a plain password")
	}
	if pw, err := kr.Decrypt(got.ID, got.Secret); err != nil || pw != "pw-b-acme" {
		t.Fatalf("stored secret opens to %q, %v", pw, err)
	}
	got.Host, got.Active, got.UpdatedAt = "db.example", false, time.Time{}
	if err := repo.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	again, _ := repo.Get(ctx, a.ID)
	if again.Host != "db.example" || again.Active || !again.CreatedAt.Equal(got.CreatedAt) || !again.UpdatedAt.After(got.CreatedAt) {
		t.Fatalf("after Update: %+v", again)
	}
	if err := repo.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Get":    func() error { _, err := repo.Get(ctx, a.ID); return err }(),
		"Delete": repo.Delete(ctx, a.ID),
		"Update": repo.Update(ctx, again),
	} {
		if !errors.Is(err, activitylog.ErrNotFound) {
			t.Errorf("%s of a deleted config = %v, want ErrNotFound", name, err)
		}
	}
}

// A taken name (in any case), a second primary for a tenant and
// route_for, a taken id, a plain password and a bad field are refused,
// naming the field.
func TestDatabaseConfigsRefused(t *testing.T) {
	ctx := context.Background()
	_, _, repo := openDBConfigs(t)
	first := dbConfig("acme", "acme", "all")
	if err := repo.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	replica := dbConfig("acme-replica", "acme", "all")
	replica.Primary, replica.ReadOnly = false, true
	if err := repo.Create(ctx, replica); err != nil {
		t.Fatalf("a second, non-primary config for acme/all: %v", err)
	}
	cases := []struct {
		name  string
		c     func() dbconfig.Config
		field string
	}{
		{"name taken", func() dbconfig.Config { return dbConfig("ACME", "x", "all") }, "name"},
		{"second primary", func() dbconfig.Config { return dbConfig("acme2", "acme", "all") }, "primary"},
		{"id taken", func() dbconfig.Config { c := dbConfig("other", "o", "all"); c.ID = first.ID; return c }, "id"},
		{"plain password", func() dbconfig.Config { c := dbConfig("p", "p", "all"); c.Password = "hunter2"; return c }, "password"},
		{"no id", func() dbconfig.Config { c := dbConfig("n", "n", "all"); c.ID = ""; return c }, "id"},
		{"bad route", func() dbconfig.Config { return dbConfig("r", "r", "nope") }, "route_for"},
		{"bad secret", func() dbconfig.Config { c := dbConfig("s", "s", "all"); c.Secret = "hunter2"; return c }, "secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := repo.Create(ctx, tc.c())
			if f := fieldOf(err); f != tc.field {
				t.Fatalf("Create = %v; want a *FieldError for %q", err, tc.field)
			}
			if strings.Contains(fmt.Sprint(err), "hunter2") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	// Update is held to the same rules, but a config may keep its own
	// name and primacy.
	r2, _ := repo.Get(ctx, replica.ID)
	r2.Primary, r2.ReadOnly = true, false
	if err := repo.Update(ctx, r2); fieldOf(err) != "primary" {
		t.Fatalf("Update to a second primary = %v, want a *FieldError for primary", err)
	}
	f2, _ := repo.Get(ctx, first.ID)
	f2.Port = 6543
	if err := repo.Update(ctx, f2); err != nil {
		t.Fatalf("Update keeping its own name and primacy: %v", err)
	}
}

// The stored row never holds the plain password: read with raw SQL,
// every column of every row is searched for it.
func TestDatabaseConfigsPlaintextNeverStored(t *testing.T) {
	ctx := context.Background()
	path, s, repo := openDBConfigs(t)
	kr := testKeyring(t)
	const pw = "Plain-Password-7f3a"
	c := dbConfig("acme", "acme", "all")
	c.Password = pw
	if err := repo.Create(ctx, c); err == nil {
		t.Fatal("Create stored a config with a plain password")
	}
	c, err := kr.Conceal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Password = pw // an update with a new password, sealed again
	c, _ = kr.Conceal(c)
	if err := repo.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	s.Close() // the WAL is folded into the file
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT * FROM database_configs`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	n := 0
	var secret string
	for rows.Next() {
		n++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			text := fmt.Sprint(v)
			if b, ok := v.([]byte); ok {
				text = string(b)
			}
			if strings.Contains(text, pw) {
				t.Fatalf("column %s holds the plain password: %q", cols[i], text)
			}
			if cols[i] == "secret" {
				secret = text
			}
		}
	}
	if n != 1 || !strings.HasPrefix(secret, "v1:k1:") {
		t.Fatalf("%d rows, secret %q; want 1 row sealed with k1", n, secret)
	}
	if got, err := kr.Decrypt(c.ID, secret); err != nil || got != pw {
		t.Fatalf("the stored secret opens to %q, %v", got, err)
	}
}

func TestDatabaseConfigsSetSecret(t *testing.T) {
	ctx := context.Background()
	_, _, repo := openDBConfigs(t)
	kr := testKeyring(t)
	c := dbConfig("acme", "acme", "all")
	c.Password = "one"
	c, _ = kr.Conceal(c)
	if err := repo.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	next, _ := kr.Encrypt(c.ID, "two")
	if err := repo.SetSecret(ctx, c.ID, "v1:k1:c3RhbGU=", next); !errors.Is(err, activitylog.ErrNotFound) {
		t.Fatalf("SetSecret from a stale secret = %v, want ErrNotFound", err)
	}
	if err := repo.SetSecret(ctx, c.ID, c.Secret, next); err != nil {
		t.Fatal(err)
	}
	got, _ := repo.Get(ctx, c.ID)
	if pw, _ := kr.Decrypt(c.ID, got.Secret); pw != "two" {
		t.Fatalf("after SetSecret the password is %q", pw)
	}
}

func pendingEvents(n int, tenant string) []activitylog.Event {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	es := make([]activitylog.Event, n)
	for i := range es {
		t := base.Add(time.Duration(i) * time.Millisecond)
		es[i] = activitylog.Event{ID: activitylog.NewID(t), Time: t, Kind: activitylog.KindCRUD, Action: "update",
			Severity: activitylog.SeverityInfo, Tenant: tenant, Object: activitylog.Object{Type: "invoice", ID: fmt.Sprint(i)},
			Extra: map[string]any{"n": float64(i), "s": "x"}}
	}
	return es
}

// Pending batches survive a restart, come back oldest first and whole,
// and go only when Done.
func TestPendingEvents(t *testing.T) {
	ctx := context.Background()
	path, s, _ := openDBConfigs(t)
	p := s.PendingEvents()
	b1, b2, b3 := pendingEvents(3, "acme"), pendingEvents(2, "acme"), pendingEvents(4, "globex")
	for _, x := range []struct {
		id string
		es []activitylog.Event
	}{{"dbc_a", b1}, {"dbc_a", b2}, {"dbc_g", b3}} {
		if err := p.Add(ctx, x.id, x.es); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s2, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	p = s2.PendingEvents()
	counts, err := p.Counts(ctx)
	if err != nil || counts["dbc_a"] != 5 || counts["dbc_g"] != 4 || len(counts) != 2 {
		t.Fatalf("Counts after reopening = %v, %v", counts, err)
	}
	bs, err := p.Take(ctx, "dbc_a", 10)
	if err != nil || len(bs) != 2 || len(bs[0].Events) != 3 || len(bs[1].Events) != 2 || bs[0].Seq >= bs[1].Seq {
		t.Fatalf("Take = %+v, %v", bs, err)
	}
	if bs[0].Events[1].ID != b1[1].ID || bs[0].Events[1].Extra["n"] != float64(1) || !bs[0].Events[1].Time.Equal(b1[1].Time) {
		t.Fatalf("event came back as %+v, want %+v", bs[0].Events[1], b1[1])
	}
	if one, _ := p.Take(ctx, "dbc_a", 1); len(one) != 1 || one[0].Seq != bs[0].Seq {
		t.Fatalf("Take limit 1 = %+v", one)
	}
	if err := p.Done(ctx, bs[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := p.Done(ctx, bs[0].Seq); err != nil {
		t.Fatalf("Done twice: %v", err)
	}
	if counts, _ := p.Counts(ctx); counts["dbc_a"] != 2 {
		t.Fatalf("Counts after Done = %v", counts)
	}
}
