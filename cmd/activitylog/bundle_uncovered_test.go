package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// A filtered export leaves out the selected events that no checkpoint
// covers yet (a proof to a signed checkpoint is all that vouches for a
// selected event), counts them on standard error and in the bundle, and
// the fresh bundle verifies.
func TestBundleLeavesOutUncovered(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if _, err := integrity.GenerateKeyFiles(priv, pub); err != nil {
		t.Fatal(err)
	}
	key, err := integrity.LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "audit.db")
	store, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(-time.Hour)
	// One checkpoint, with the first batch: the clock stands still and
	// the interval is an hour.
	w, err := integrity.NewWriter(store, &integrity.WriterOptions{SigningKey: key, CheckpointInterval: time.Hour, Now: func() time.Time { return start }})
	if err != nil {
		t.Fatal(err)
	}
	for b := range 4 {
		var events []activitylog.Event
		for i := range 10 {
			n := b*10 + i
			kind := activitylog.KindCustom
			if n%2 == 0 {
				kind = activitylog.KindAuth
			}
			events = append(events, activitylog.Event{ID: activitylog.NewID(start), Time: start.Add(time.Duration(n) * time.Millisecond),
				Kind: kind, Action: "x", Severity: activitylog.SeverityInfo, Message: "event"})
		}
		if err := w.Write(context.Background(), events); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "auth.bundle")
	r := runBin(t, nil, "export", "--with-proofs", "--db", db, "--out", out, "--public-key", pub, "--kind", "auth")
	if r.code != 0 || !strings.Contains(r.stderr, "5 sealed events") || !strings.Contains(r.stderr, "left out 15 selected events that no checkpoint covers yet") {
		t.Fatalf("export --kind auth: %+v", r)
	}
	b, err := integrity.OpenBundle(out)
	if err != nil || b.Uncovered() != 15 {
		t.Fatalf("bundle: uncovered %v, %v; want 15", b, err)
	}
	r = runBin(t, nil, "verify", "--bundle", out, "--public-key", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "events 5, verified 5") || !strings.Contains(r.stdout, "left out 15 selected events") {
		t.Fatalf("verify --bundle: %+v", r)
	}
}

// verify --bundle without --public-key exits 2 unless
// --trust-bundle-keys says to trust the bundle's own keys.
func TestBundleTrustKeys(t *testing.T) {
	dir := t.TempDir()
	db, _, _, pub := sealedStore(t, dir, 20, time.Now().UTC().Add(-time.Hour))
	out := filepath.Join(dir, "whole.bundle")
	if r := runBin(t, nil, "export", "--with-proofs", "--db", db, "--out", out, "--public-key", pub); r.code != 0 {
		t.Fatalf("export: %+v", r)
	}
	os.Remove(db)
	if r := runBin(t, nil, "verify", "--bundle", out); r.code != 2 || !strings.Contains(r.stderr, "--public-key") || strings.Contains(r.stdout, "OK") {
		t.Errorf("verify --bundle with no key: %+v, want exit 2 asking for --public-key", r)
	}
	if r := runBin(t, nil, "verify", "--bundle", out, "--trust-bundle-keys"); r.code != 0 || !strings.Contains(r.stdout, "TRUSTING THE KEY(S) INSIDE THE BUNDLE") || !strings.Contains(r.stderr, "TRUSTING") {
		t.Errorf("verify --bundle --trust-bundle-keys: %+v", r)
	}
	if r := runBin(t, nil, "verify", "--bundle", out, "--trust-bundle-keys", "--public-key", pub); r.code != 2 {
		t.Errorf("--trust-bundle-keys with --public-key: %+v, want exit 2", r)
	}
	if r := runBin(t, nil, "verify", "--db", db, "--trust-bundle-keys"); r.code != 2 || !strings.Contains(r.stderr, "--trust-bundle-keys goes with --bundle") {
		t.Errorf("--trust-bundle-keys without --bundle: %+v, want exit 2", r)
	}
}
