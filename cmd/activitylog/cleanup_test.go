package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sqlite"
)

// seedOld writes, straight into db, n events of each kind given, aged
// days days, for tenant.
func seedOld(t *testing.T, db string, days int, tenant string, n int, kinds ...activitylog.Kind) {
	t.Helper()
	st, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Now().UTC().AddDate(0, 0, -days)
	var es []activitylog.Event
	for _, k := range kinds {
		for i := range n {
			e := activitylog.Event{ID: activitylog.NewID(at), Time: at.Add(time.Duration(i) * time.Second), Kind: k, Action: "x", Tenant: tenant,
				Actor: activitylog.Actor{ID: "u", Type: activitylog.ActorUser}, Severity: activitylog.SeverityInfo}
			switch k {
			case activitylog.KindCRUD:
				e.Action, e.Object = "update", activitylog.Object{Type: "order", ID: "1"}
			case activitylog.KindAuth:
				e.Action = "login"
			case activitylog.KindRequest:
				e.Action, e.Request.Method, e.Request.Path = "GET", "GET", "/x"
			case activitylog.KindSystem:
				e.Action = "warning"
			}
			es = append(es, e)
		}
	}
	if err := st.Write(context.Background(), es); err != nil {
		t.Fatal(err)
	}
}

func countKind(t *testing.T, db string, f activitylog.Filter) int64 {
	t.Helper()
	st, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.Count(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// cleanup and purge, run as a user runs them, on the SQLite store.
func TestCleanupAndPurge(t *testing.T) {
	db := filepath.Join(t.TempDir(), "c.db")
	env := []string{"ACTIVITYLOG_DB=" + db}
	if r := runBin(t, env, "migrate"); r.code != 0 {
		t.Fatal(r)
	}
	seedOld(t, db, 100, "acme", 4, activitylog.KindCRUD, activitylog.KindAuth)
	seedOld(t, db, 100, "globex", 3, activitylog.KindCRUD)
	seedOld(t, db, 5, "acme", 2, activitylog.KindCRUD, activitylog.KindRequest)

	// The dry run counts exactly, by kind, and deletes nothing.
	r := runBin(t, env, "cleanup", "--days", "30", "--dry-run", "--json")
	if r.code != 0 {
		t.Fatalf("dry run: %+v", r)
	}
	var plan struct {
		Count  int64
		ByKind map[string]int64 `json:"by_kind"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if plan.Count != 11 || plan.ByKind["crud"] != 7 || plan.ByKind["auth"] != 4 {
		t.Fatalf("plan %+v", plan)
	}
	if n := countKind(t, db, activitylog.Filter{}); n != 15 {
		t.Fatalf("dry run deleted: %d left", n)
	}

	// One tenant, one kind.
	r = runBin(t, env, "cleanup", "--days", "30", "--kind", "crud", "--tenant", "acme")
	if r.code != 0 || !strings.Contains(r.stdout, "cleanup: deleted 4 events") {
		t.Fatalf("cleanup: %+v", r)
	}
	if n := countKind(t, db, activitylog.Filter{Tenant: "globex"}); n != 3 {
		t.Errorf("globex lost events: %d left", n)
	}
	if n := countKind(t, db, activitylog.Filter{Tenant: "acme", Kind: activitylog.KindAuth}); n != 4 {
		t.Errorf("acme auth: %d left", n)
	}
	// Every tenant, every kind: what is left that is old.
	r = runBin(t, env, "cleanup", "--days", "30")
	if r.code != 0 || !strings.Contains(r.stdout, "cleanup: deleted 7 events") {
		t.Fatalf("cleanup all: %+v", r)
	}
	// The recent events stay; the runs are recorded (start and end, each).
	recent := countKind(t, db, activitylog.Filter{Kind: activitylog.KindCRUD}) + countKind(t, db, activitylog.Filter{Kind: activitylog.KindRequest})
	if recent != 4 {
		t.Errorf("recent events left: %d, want 4", recent)
	}
	records := countKind(t, db, activitylog.Filter{Kind: activitylog.KindSystem, Category: activitylog.CategoryRetention})
	if records != 4 {
		t.Errorf("retention records: %d, want 4 (2 runs × start and end)", records)
	}

	// purge: refused without --confirm, then every request event goes.
	if r := runBin(t, env, "purge", "--kind", "request"); r.code != 2 || !strings.Contains(r.stderr, "--confirm") {
		t.Fatalf("purge without confirm: %+v", r)
	}
	if r := runBin(t, env, "purge", "--kind", "request", "--confirm"); r.code != 0 || !strings.Contains(r.stdout, "purge: deleted 2 events") {
		t.Fatalf("purge: %+v", r)
	}
	if n := countKind(t, db, activitylog.Filter{Kind: activitylog.KindRequest}); n != 0 {
		t.Errorf("request events left: %d", n)
	}
	// The records of purges survive a purge of every kind.
	if r := runBin(t, env, "purge", "--all", "--confirm"); r.code != 0 {
		t.Fatalf("purge all: %+v", r)
	}
	if n := countKind(t, db, activitylog.Filter{Category: activitylog.CategoryRetention}); n != 8 {
		t.Errorf("retention records after purge --all: %d, want 8", n)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cleanup", "--days", "0"}, `--days "0"`},
		{[]string{"cleanup", "--days", "40000"}, `--days "40000"`},
		{[]string{"cleanup", "--days", "3", "--kind", "crudd"}, `"crudd" is not a kind`},
		{[]string{"purge"}, "give --kind"},
		{[]string{"purge", "--kind", "crud", "--all", "--confirm"}, "one or the other"},
	} {
		if r := runBin(t, env, c.args...); r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// purge --all with the signing key cuts the sealed chain under a signed
// pruning record, as serve's purge does, and the trail still verifies.
func TestPurgeSealedCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	db, pub, key := filepath.Join(dir, "p.db"), filepath.Join(dir, "k.pub"), filepath.Join(dir, "k.key")
	s := startServe(t, "--db", db, "--integrity-signing-key", key, "--integrity-checkpoint-interval", "100ms")
	postEvents(t, s, s.key, 20)
	time.Sleep(400 * time.Millisecond) // a checkpoint covers them
	postEvents(t, s, s.key, 1)         // and the chain goes on past it
	time.Sleep(400 * time.Millisecond)
	s.stop(t)

	r := runBin(t, nil, "purge", "--all", "--confirm", "--db", db, "--integrity-signing-key", key)
	if r.code != 0 || !strings.Contains(r.stdout, "cut from 1 chains under signed pruning records") {
		t.Fatalf("purge --all: %+v", r)
	}
	code, rep := verifyReport(t, "--db", db, "--public-key", pub)
	if code != 0 || !rep.OK() || len(rep.Chains) == 0 {
		t.Fatalf("verify after the CLI purge: exit %d, %+v", code, rep)
	}
	pruned := false
	for _, c := range rep.Chains {
		pruned = pruned || c.PrunedTo > 0
	}
	if !pruned {
		t.Fatalf("no chain was pruned: %+v", rep.Chains)
	}
}

// A command with sealing off refuses to store unsealed events in a
// trail that holds sealed chains, where each would show as missing_hash:
// unless integrity_allow_unsealed says it is meant.
func TestUnsealedCommandsRefusedOnSealedTrail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	db, pub, key := filepath.Join(dir, "s.db"), filepath.Join(dir, "k.pub"), filepath.Join(dir, "k.key")
	s := startServe(t, "--db", db, "--integrity-signing-key", key, "--integrity-checkpoint-interval", "100ms")
	postEvents(t, s, s.key, 5)
	time.Sleep(400 * time.Millisecond)
	s.stop(t)
	before, rep := verifyReport(t, "--db", db, "--public-key", pub)
	if before != 0 || !rep.OK() {
		t.Fatalf("verify of the sealed trail: exit %d, %+v", before, rep)
	}

	for _, args := range [][]string{
		{"purge", "--kind", "request", "--confirm", "--db", db},
		{"cleanup", "--days", "1", "--db", db},
		{"serve", "--db", db, "--addr", "127.0.0.1:0"},
	} {
		r := runBin(t, nil, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "holds 1 sealed chains") || !strings.Contains(r.stderr, "integrity_allow_unsealed") {
			t.Errorf("%s with sealing off: %+v", args[0], r)
		}
	}
	r := runBinInput(t, "a long passphrase\n", nil, "users", "create", "--db", db, "--username", "ann", "--password-stdin")
	if r.code == 0 || !strings.Contains(r.stderr, "sealed chains") {
		t.Errorf("users create with sealing off: %+v", r)
	}
	// Nothing unsealed was stored.
	if code, rep := verifyReport(t, "--db", db, "--public-key", pub); code != 0 || !rep.OK() || rep.Total != rep.Verified {
		t.Fatalf("verify after the refusals: exit %d, %+v", code, rep)
	}
	// Said on purpose, it is done, and verify shows what it cost.
	if r := runBin(t, nil, "purge", "--kind", "request", "--confirm", "--db", db, "--integrity-allow-unsealed"); r.code != 0 {
		t.Fatalf("purge --integrity-allow-unsealed: %+v", r)
	}
	if code, rep := verifyReport(t, "--db", db, "--public-key", pub); code == 0 || rep.Unsealed == 0 {
		t.Fatalf("verify after an unsealed purge: exit %d, %+v", code, rep)
	}
	// With sealing on, the setting is refused as a mistake.
	if r := runBin(t, nil, "purge", "--kind", "request", "--confirm", "--db", db, "--integrity-signing-key", key, "--integrity-allow-unsealed"); r.code == 0 || !strings.Contains(r.stderr, "integrity_allow_unsealed") {
		t.Errorf("both: %+v", r)
	}
}

// TestCleanupStoreWithoutDB: with --store, a --db that does not exist is
// neither refused nor made: a job run with the store alone (cron, a
// container) reads no retention policies, deletes by its flags' rule,
// and leaves no file. Without --store a missing --db is refused.
func TestCleanupStoreWithoutDB(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events.db")
	seedOld(t, events, 40, "", 3, activitylog.KindRequest)
	control := filepath.Join(dir, "control.db")
	for _, tc := range []struct {
		args []string
		left int64
	}{
		{[]string{"cleanup", "--db", control, "--store", "sqlite://" + events, "--days", "30", "--dry-run"}, 3},
		{[]string{"cleanup", "--db", control, "--store", "sqlite://" + events, "--days", "30"}, 0},
	} {
		r := runBin(t, nil, tc.args...)
		if r.code != 0 || !strings.Contains(r.stderr, "does not exist: no retention policies") {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", tc.args, r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(control); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v made %s (%v)", tc.args, control, err)
		}
		if n := countKind(t, events, activitylog.Filter{Kind: activitylog.KindRequest}); n != tc.left {
			t.Fatalf("%v: %d request events left, want %d", tc.args, n, tc.left)
		}
	}
	if r := runBin(t, nil, "cleanup", "--db", control, "--days", "30"); r.code != 2 || !strings.Contains(r.stderr, "--db") {
		t.Fatalf("cleanup of a missing --db without --store: %+v", r)
	}
	// A dry run makes no store either: a mistyped sqlite:// path is
	// refused, not created and reported as holding nothing to delete.
	typo := filepath.Join(dir, "evnets.db")
	if r := runBin(t, nil, "cleanup", "--db", control, "--store", "sqlite://"+typo, "--days", "30", "--dry-run"); r.code != 2 || !strings.Contains(r.stderr, "--store") {
		t.Fatalf("dry run on a missing sqlite:// store: %+v", r)
	}
	if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the dry run made %s (%v)", typo, err)
	}
}
