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
	"github.com/activitylog/activitylog/postgres"
	"github.com/jackc/pgx/v5"
)

// serve --store postgres://… with a signing key seals into PostgreSQL:
// the integrity API verifies the trail there and proves an event's
// inclusion; after an event's document is changed in the database,
// the next serve's verification reports it modified.
func TestServeSealPostgres(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("ACTIVITYLOG_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("set ACTIVITYLOG_TEST_POSTGRES_DSN='host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable' to run serve's sealing against PostgreSQL")
	}
	var storeURL string
	for _, c := range storeCases {
		if c.name == "postgres" {
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

	// The seals are in PostgreSQL, not in the control database: change
	// one event's document there.
	victim, err := activitylog.ParseID(evs[len(evs)-1].ID) // the oldest listed: not the chain's tail
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := conn.Exec(ctx, `UPDATE `+postgres.DefaultSchema+`.events SET data = convert_to(replace(convert_from(data, 'UTF8'), $2, $3), 'UTF8') WHERE id = $1`,
		[16]byte(victim), `"message":"`+evs[len(evs)-1].Message+`"`, `"message":"forged"`)
	conn.Close(ctx)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("tamper: %v, %d rows", err, tag.RowsAffected())
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

// serve --store postgres://… with sealing purges everything through the
// API as it does on SQLite: the chain is cut in PostgreSQL under a
// signed pruning record (postgres.Store.Prune), and the trail still
// verifies.
func TestServeSealPostgresPurge(t *testing.T) {
	t.Parallel()
	if os.Getenv("ACTIVITYLOG_TEST_POSTGRES_DSN") == "" {
		t.Skip("set ACTIVITYLOG_TEST_POSTGRES_DSN='host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable' to run serve's sealing against PostgreSQL")
	}
	var storeURL string
	for _, c := range storeCases {
		if c.name == "postgres" {
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
