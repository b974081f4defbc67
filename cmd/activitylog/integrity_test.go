package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// TestKeysAndVerify runs the binary: it generates a signing key, a
// trail is sealed with it, verify passes; an edit made directly in the
// database file, and an event written without a seal, make it fail
// with exit 1 and the finding named.
func TestKeysAndVerify(t *testing.T) {
	dir := t.TempDir()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 || !strings.Contains(r.stdout, "key id:") {
		t.Fatalf("keys generate: %+v", r)
	}
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code == 0 {
		t.Fatalf("keys generate over existing files succeeded: %+v", r)
	}
	priv, err := integrity.LoadPrivateKey(filepath.Join(dir, "k.key"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "audit.db")
	store, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := integrity.NewWriter(store, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var events []activitylog.Event
	for i := range 30 {
		events = append(events, activitylog.Event{ID: activitylog.NewID(now), Time: now.Add(time.Duration(i) * time.Millisecond),
			Kind: activitylog.KindCustom, Action: "x", Severity: activitylog.SeverityInfo, Message: "event"})
	}
	for i := 0; i < len(events); i += 10 {
		if err := w.Write(context.Background(), events[i:i+10]); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "k.pub")

	r := runBin(t, nil, "verify", "--db", db, "--public-key", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "events 30, verified 30") || !strings.HasSuffix(r.stdout, "OK\n") {
		t.Fatalf("verify of an untouched trail: %+v", r)
	}
	if r := runBin(t, nil, "verify", "--db", db, "--public-key", filepath.Join(dir, "nope.pub")); r.code != 2 {
		t.Errorf("verify with a missing key file: exit %d, want 2 (usage)", r.code)
	}

	// Edit one event's message in the file, as someone with write access.
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE events SET data = replace(CAST(data AS TEXT), '"message":"event"', '"message":"evEnt"') WHERE id = ?`, events[12].ID[:]); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	r = runBin(t, nil, "verify", "--db", db, "--public-key", pub, "--json")
	if r.code != 1 || !strings.Contains(r.stdout, `"modified"`) || !strings.Contains(r.stdout, events[12].ID.String()) {
		t.Fatalf("verify after an edit: exit %d, want 1 naming modified and the event:\n%s%s", r.code, r.stdout, r.stderr)
	}
}
