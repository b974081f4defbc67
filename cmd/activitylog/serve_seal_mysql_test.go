package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/mysql"
)

// serve --store mysql://… with a signing key seals into MySQL:
// the integrity API verifies the trail there and proves an event's
// inclusion; after an event's document is changed in the database,
// the next serve's verification reports it modified.
func TestServeSealMySQL(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("ACTIVITYLOG_TEST_MYSQL_DSN")
	if dsn == "" {
		t.Skip("set ACTIVITYLOG_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/test' to run serve's sealing against MySQL or MariaDB")
	}
	var storeURL string
	for _, c := range storeCases {
		if c.name == "mysql" {
			storeURL = c.url(t) // a database of its own, dropped afterwards
		}
	}
	dir := t.TempDir()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	pub, err := integrity.LoadPublicKey(filepath.Join(dir, "k.pub"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "control.db")
	args := []string{"--db", db, "--store", storeURL, "--integrity-signing-key", filepath.Join(dir, "k.key"),
		"--integrity-checkpoint-interval", "100ms"}
	s := startServe(t, args...)
	key := s.key
	postEvents(t, s, key, 5)

	type listed struct {
		ID        string `json:"id"`
		Message   string `json:"message"`
		Integrity struct {
			Status string `json:"status"`
		} `json:"integrity"`
	}
	// The ticker checkpoints what the Recorder has written: poll until
	// the five are listed as checkpointed.
	var evs []listed
	for deadline := time.Now().Add(30 * time.Second); ; {
		var page struct {
			Results []listed `json:"results"`
		}
		if code := s.get(t, key, "/api/v1/events?kind=custom&page_size=100", &page); code != http.StatusOK {
			t.Fatalf("list: status %d", code)
		}
		done := len(page.Results) == 5
		for _, e := range page.Results {
			done = done && e.Integrity.Status == "checkpointed"
		}
		if done {
			evs = page.Results
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events not checkpointed: %+v", page.Results)
		}
		time.Sleep(50 * time.Millisecond)
	}

	type verified struct {
		OK bool `json:"ok"`
		integrity.Report
	}
	var rep verified
	if code := s.get(t, key, "/api/v1/integrity/verify", &rep); code != http.StatusOK || !rep.OK || rep.Verified < 5 ||
		rep.Verified != rep.Total || rep.Unsealed != 0 || rep.CheckpointsVerified == 0 {
		t.Fatalf("verify: status %d, %+v", code, rep)
	}
	var p struct {
		Seal       integrity.Seal       `json:"seal"`
		Checkpoint integrity.Checkpoint `json:"checkpoint"`
		TreeSize   uint64               `json:"tree_size"`
		Proof      []integrity.Hash     `json:"proof"`
	}
	if code := s.get(t, key, "/api/v1/events/"+evs[0].ID+"/proof", &p); code != http.StatusOK {
		t.Fatalf("proof of %s: status %d", evs[0].ID, code)
	}
	if err := p.Checkpoint.Verify(pub); err != nil {
		t.Fatalf("proof checkpoint: %v", err)
	}
	if err := integrity.VerifyInclusion(p.Seal.Seq, p.TreeSize, p.Seal.Hash, p.Proof, p.Checkpoint.TreeRoot); err != nil {
		t.Fatalf("proof of %s: %v", evs[0].ID, err)
	}
	s.stop(t)

	// The seals are in MySQL, not in the control database: change
	// one event's document there.
	victim, err := activitylog.ParseID(evs[len(evs)-1].ID) // the oldest listed: not the chain's tail
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := mysql.Open(ctx, storeURL, &mysql.Options{SkipMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.DB().ExecContext(ctx, `UPDATE events SET data = REPLACE(data, ?, ?) WHERE id = ?`,
		`"message":"`+evs[len(evs)-1].Message+`"`, `"message":"forged"`, victim[:])
	store.Close()
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tamper: %d rows changed, want 1", n)
	}

	s = startServe(t, args...)
	defer s.stop(t)
	rep = verified{}
	if code := s.get(t, key, "/api/v1/integrity/verify", &rep); code != http.StatusOK || rep.OK || rep.Counts[integrity.ReasonModified] != 1 {
		t.Fatalf("verify after the edit: status %d, %+v; want one event modified", code, rep)
	}
	found := false
	for _, f := range rep.Findings {
		found = found || f.EventID == victim && f.Reason == integrity.ReasonModified
	}
	if !found {
		t.Fatalf("findings %+v do not name %s as modified", rep.Findings, victim)
	}
}

// serve --store mysql://… with sealing purges everything through the
// API as it does on SQLite: the chain is cut in MySQL under a
// signed pruning record (mysql.Store.Prune), and the trail still
// verifies.
func TestServeSealMySQLPurge(t *testing.T) {
	t.Parallel()
	if os.Getenv("ACTIVITYLOG_TEST_MYSQL_DSN") == "" {
		t.Skip("set ACTIVITYLOG_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/test' to run serve's sealing against MySQL or MariaDB")
	}
	var storeURL string
	for _, c := range storeCases {
		if c.name == "mysql" {
			storeURL = c.url(t)
		}
	}
	dir := t.TempDir()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	s := startServe(t, "--db", filepath.Join(dir, "control.db"), "--store", storeURL,
		"--integrity-signing-key", filepath.Join(dir, "k.key"), "--integrity-checkpoint-interval", "100ms")
	defer s.stop(t)
	postEvents(t, s, s.key, 20)
	time.Sleep(400 * time.Millisecond) // the ticker's checkpoint covers them
	postEvents(t, s, s.key, 1)         // the chain keeps its last event
	time.Sleep(400 * time.Millisecond)

	var res activitylog.PurgeResult
	if code := s.do(t, "POST", s.key, "/api/v1/events/purge", `{"confirm":"purge all"}`, &res); code != http.StatusOK {
		t.Fatalf("purge: %d %+v", code, res)
	}
	if res.Pruned < 20 || res.PrunedChains != 1 || res.KeptSealed < 1 {
		t.Errorf("purge all with sealing: %+v; want the chain cut (at least the 20 events) under one record, the last kept", res)
	}
	type verified struct {
		OK bool `json:"ok"`
		integrity.Report
	}
	var rep verified
	if code := s.get(t, s.key, "/api/v1/integrity/verify", &rep); code != http.StatusOK || !rep.OK || len(rep.Chains) != 1 || rep.Chains[0].PrunedTo == 0 {
		t.Fatalf("verify after the purge: status %d, %+v", code, rep)
	}
}
