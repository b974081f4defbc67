package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/sqlite"
)

// database-configs rotate-keys re-encrypts a stored password with the
// new current key, which then decrypts it alone; list never shows it;
// delete removes a configuration; each change is in the trail.
func TestDatabaseConfigsCLI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "a.db")
	k1, _ := dbconfig.GenerateKey("k1")
	k2, _ := dbconfig.GenerateKey("k2")
	old, err := dbconfig.NewKeyring([]dbconfig.Key{k1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf := dbconfig.Config{ID: dbconfig.NewID(), Name: "acme", Engine: dbconfig.Postgres, Host: "127.0.0.1", Database: "audit",
		User: "audit", Tenant: "acme", RouteFor: "all", Primary: true, Active: true, Password: "pw-in-the-vault"}
	if cf, err = old.Conceal(cf); err != nil {
		t.Fatal(err)
	}
	if err := st.DatabaseConfigs().Create(ctx, cf); err != nil {
		t.Fatal(err)
	}
	st.Close()

	keys := k2.String() + "," + k1.String()
	if r := runBin(t, nil, "database-configs", "rotate-keys", "--db", db, "--database-config-keys", keys); r.code != 0 ||
		!strings.Contains(r.stdout, "key k2: 1 rotated, 0 already current") {
		t.Fatalf("rotate-keys: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r := runBin(t, nil, "database-configs", "list", "--db", db, "--json")
	if r.code != 0 || strings.Contains(r.stdout, "pw-in-the-vault") || strings.Contains(r.stdout, "v1:") {
		t.Fatalf("list --json: exit %d, %s", r.code, r.stdout)
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 1 || listed[0]["has_password"] != true {
		t.Fatalf("list --json: %v %s", err, r.stdout)
	}

	st, err = sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.DatabaseConfigs().Get(ctx, cf.ID)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := dbconfig.SecretKeyID(got.Secret); id != "k2" {
		t.Fatalf("the password is sealed with %q, want k2", id)
	}
	onlyNew, _ := dbconfig.NewKeyring([]dbconfig.Key{k2})
	if pw, err := onlyNew.Decrypt(cf.ID, got.Secret); err != nil || pw != "pw-in-the-vault" {
		t.Fatalf("the new key alone gives %q, %v", pw, err)
	}
	st.Close()

	if r := runBin(t, nil, "database-configs", "delete", "--db", db, cf.ID); r.code != 0 {
		t.Fatalf("delete: exit %d, %s", r.code, r.stderr)
	}
	st, err = sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if cs, _ := st.DatabaseConfigs().List(ctx); len(cs) != 0 {
		t.Fatalf("after delete: %d configs", len(cs))
	}
	n, err := st.Count(ctx, activitylog.Filter{Category: "database_config"})
	if err != nil || n != 2 {
		t.Fatalf("%d database_config events in the trail (%v), want 2: the rotation and the delete", n, err)
	}
}
