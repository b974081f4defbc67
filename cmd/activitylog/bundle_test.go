package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// sealedStore writes n events (kinds alternating auth and custom, one
// millisecond apart from start) sealed in batches of 10 with a signed
// checkpoint each, into a new database, and returns its path, the
// events and the key files.
func sealedStore(t *testing.T, dir string, n int, start time.Time) (db string, events []activitylog.Event, priv, pub string) {
	t.Helper()
	priv, pub = filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if _, err := os.Stat(priv); err != nil {
		if _, err := integrity.GenerateKeyFiles(priv, pub); err != nil {
			t.Fatal(err)
		}
	}
	key, err := integrity.LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	db = filepath.Join(dir, "audit.db")
	store, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// Checkpoints are signed at the time of their batch's last event,
	// which is what Prune cuts by.
	clock := start
	w, err := integrity.NewWriter(store, &integrity.WriterOptions{SigningKey: key, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		kind := activitylog.KindCustom
		if i%2 == 0 {
			kind = activitylog.KindAuth
		}
		events = append(events, activitylog.Event{ID: activitylog.NewID(start), Time: start.Add(time.Duration(i) * time.Millisecond),
			Kind: kind, Action: "x", Severity: activitylog.SeverityInfo, Message: "event", Extra: map[string]any{"n": i, "s": "é\u2028"}})
	}
	for i := 0; i < n; i += 10 {
		clock = events[min(n, i+10)-1].Time
		if err := w.Write(context.Background(), events[i:min(n, i+10)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	return db, events, priv, pub
}

// bundleLines decompresses a bundle into its lines.
func bundleLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(gz)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// writeBundle compresses lines into a new bundle file.
func writeBundle(t *testing.T, path string, lines []string) {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	io.WriteString(gz, strings.Join(lines, "\n")+"\n")
	gz.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBundleOffline is the "done when": a sealed store is
// exported, the database deleted, and verify --bundle checks the copy
// alone; edits, a dropped line, a wrong key, and a damaged file each
// fail as they should.
func TestBundleOffline(t *testing.T) {
	dir := t.TempDir()
	db, events, _, pub := sealedStore(t, dir, 40, time.Now().UTC().Add(-time.Hour))
	whole, part := filepath.Join(dir, "whole.bundle"), filepath.Join(dir, "auth.bundle")
	if r := runBin(t, nil, "export", "--with-proofs", "--db", db, "--out", whole, "--public-key", pub); r.code != 0 || !strings.Contains(r.stderr, "40 sealed events") {
		t.Fatalf("export: %+v", r)
	}
	if r := runBin(t, nil, "export", "--with-proofs", "--db", db, "--out", part, "--public-key", pub, "--kind", "auth"); r.code != 0 || !strings.Contains(r.stderr, "20 sealed events") || !strings.Contains(r.stderr, "20 inclusion proofs, 3 consistency proofs") {
		t.Fatalf("export --kind auth: %+v", r)
	}
	if r := runBin(t, nil, "export", "--with-proofs", "--db", db, "--out", part, "--public-key", pub); r.code != 2 {
		t.Errorf("export over an existing file: exit %d, want 2", r.code)
	}
	// The server is stopped and the database is gone.
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		os.Remove(f)
	}

	r := runBin(t, nil, "verify", "--bundle", whole, "--public-key", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "events 40, verified 40") || !strings.Contains(r.stdout, "checkpoints 4 (4 verified)") || !strings.HasSuffix(r.stdout, "OK\n") {
		t.Fatalf("verify --bundle (whole chains): %+v", r)
	}
	r = runBin(t, nil, "verify", "--bundle", part, "--public-key", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "events 20, verified 20") || !strings.HasSuffix(r.stdout, "OK\n") {
		t.Fatalf("verify --bundle (selected events): %+v", r)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("verify --bundle created the database")
	}
	r = runBin(t, nil, "verify", "--bundle", whole, "--trust-bundle-keys")
	if r.code != 0 || !strings.Contains(r.stdout, "TRUSTING THE KEY(S) INSIDE THE BUNDLE") || !strings.Contains(r.stderr, "TRUSTING") {
		t.Fatalf("verify --bundle with no key does not say it trusts the bundle's key: %+v", r)
	}
	other, otherPub := filepath.Join(dir, "o.key"), filepath.Join(dir, "o.pub")
	if _, err := integrity.GenerateKeyFiles(other, otherPub); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{whole, part} {
		if r := runBin(t, nil, "verify", "--bundle", b, "--public-key", otherPub); r.code != 1 || !strings.Contains(r.stdout, "bad_signature") {
			t.Errorf("verify --bundle %s with another key: exit %d, want 1 with bad_signature:\n%s", filepath.Base(b), r.code, r.stdout)
		}
	}

	// Edit one event's message inside each bundle.
	for _, b := range []string{whole, part} {
		lines := bundleLines(t, b)
		victim := events[12] // an auth event: in both bundles
		found := false
		for i, l := range lines {
			if strings.Contains(l, victim.ID.String()) {
				lines[i] = strings.Replace(l, `"message":"event"`, `"message":"evEnt"`, 1)
				found = lines[i] != l
			}
		}
		if !found {
			t.Fatalf("%s: no line holds event %s", b, victim.ID)
		}
		edited := b + ".edited"
		writeBundle(t, edited, lines)
		r := runBin(t, nil, "verify", "--bundle", edited, "--public-key", pub)
		if r.code != 1 || !strings.Contains(r.stdout, "modified") || !strings.Contains(r.stdout, victim.ID.String()) {
			t.Errorf("verify --bundle %s: exit %d, want 1 naming modified and %s:\n%s%s", filepath.Base(edited), r.code, victim.ID, r.stdout, r.stderr)
		}

		// Drop the line of another event.
		lines = bundleLines(t, b)
		for i, l := range lines {
			if strings.Contains(l, events[20].ID.String()) {
				lines = append(lines[:i], lines[i+1:]...)
				break
			}
		}
		dropped := b + ".dropped"
		writeBundle(t, dropped, lines)
		r = runBin(t, nil, "verify", "--bundle", dropped, "--public-key", pub)
		if r.code != 1 || !strings.Contains(r.stdout, "missing") {
			t.Errorf("verify --bundle %s: exit %d, want 1 with missing:\n%s%s", filepath.Base(dropped), r.code, r.stdout, r.stderr)
		}
	}

	// A damaged file: truncated, not gzip, a line that is no record.
	raw, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.bundle")
	os.WriteFile(cut, raw[:len(raw)/2], 0o644)
	if r := runBin(t, nil, "verify", "--bundle", cut, "--public-key", pub); r.code != 1 || !strings.Contains(r.stderr, "line") || strings.Contains(r.stderr, "panic") {
		t.Errorf("verify --bundle of a truncated file: %+v", r)
	}
	lines := bundleLines(t, whole)
	plain := filepath.Join(dir, "plain.bundle")
	os.WriteFile(plain, []byte(strings.Join(lines[:len(lines)-1], "\n")+"\n"), 0o644)
	if r := runBin(t, nil, "verify", "--bundle", plain, "--public-key", pub); r.code != 1 || !strings.Contains(r.stderr, "no end record after line") {
		t.Errorf("verify --bundle of a bundle without its end record: %+v", r)
	}
	lines[3] = `{"type":"event","seal":{"chain":"x"` // cut inside a record
	writeBundle(t, plain+".2", lines)
	if r := runBin(t, nil, "verify", "--bundle", plain+".2", "--public-key", pub); r.code != 1 || !strings.Contains(r.stderr, "line 4:") {
		t.Errorf("verify --bundle with a broken line 4: %+v", r)
	}
	if r := runBin(t, nil, "verify", "--bundle", filepath.Join(dir, "nope"), "--public-key", pub); r.code != 2 {
		t.Errorf("verify --bundle of a missing file: exit %d, want 2", r.code)
	}
}

// TestVerifyFix: events written before integrity was on fail as
// missing_hash; --fix seals them into a chain of their own and says so,
// and verify passes after it; an unsealed event inserted after
// integrity began, one back-dated before what a fix sealed, and a row
// with part of a seal stay findings, and a modified sealed event is not
// re-stamped.
func TestVerifyFix(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().UTC().Add(-48 * time.Hour)
	db, sealed, priv, pub := sealedStore(t, dir, 20, time.Now().UTC().Add(-time.Hour))
	store, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	var plain []activitylog.Event
	for i := range 15 {
		plain = append(plain, activitylog.Event{ID: activitylog.NewID(old), Time: old.Add(time.Duration(i) * time.Minute),
			Kind: activitylog.KindCRUD, Action: "update", Severity: activitylog.SeverityInfo, Message: "before integrity"})
	}
	if err := store.Write(context.Background(), plain); err != nil {
		t.Fatal(err)
	}
	store.Close()

	r := runBin(t, nil, "verify", "--db", db, "--public-key", pub)
	if r.code != 1 || strings.Count(r.stdout, "missing_hash") != 15 {
		t.Fatalf("verify before --fix: exit %d, want 1 with 15 missing_hash:\n%s", r.code, r.stdout)
	}
	if r := runBin(t, nil, "verify", "--db", db, "--public-key", pub, "--fix"); r.code != 2 || !strings.Contains(r.stderr, "--signing-key") {
		t.Errorf("--fix without --signing-key: %+v", r)
	}
	r = runBin(t, nil, "verify", "--db", db, "--public-key", pub, "--fix", "--signing-key", priv, "--json")
	if r.code != 0 || !strings.Contains(r.stderr, "fix: sealed 15 events written before integrity was on") || !strings.Contains(r.stderr, "into new chain fix-") {
		t.Fatalf("verify --fix --json (the fix report on standard error): %+v", r)
	}
	var rep integrity.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.OK() || rep.Verified != 35 {
		t.Fatalf("verify --fix --json: standard output is not the report alone: %v\n%s", err, r.stdout)
	}
	r = runBin(t, nil, "verify", "--db", db, "--public-key", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "events 35, verified 35") {
		t.Fatalf("verify after --fix: %+v", r)
	}

	// Tamper: edit a sealed event; insert an unsealed one after integrity
	// began, one back-dated before the fixed ones, and one with part of
	// a seal.
	store, err = sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	late := activitylog.Event{ID: activitylog.NewID(time.Now()), Time: time.Now().UTC(), Kind: activitylog.KindAuth, Action: "login", Severity: activitylog.SeverityInfo}
	early := activitylog.Event{ID: activitylog.NewID(old), Time: old.Add(-time.Hour), Kind: activitylog.KindAuth, Action: "login", Severity: activitylog.SeverityInfo}
	partial := activitylog.Event{ID: activitylog.NewID(old), Time: old.Add(-2 * time.Hour), Kind: activitylog.KindAuth, Action: "login", Severity: activitylog.SeverityInfo}
	if err := store.Write(context.Background(), []activitylog.Event{late, early, partial}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	victim := sealed[7]
	if _, err := raw.Exec(`UPDATE events SET data = replace(CAST(data AS TEXT), '"message":"event"', '"message":"evEnt"') WHERE id = ?`, victim.ID[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE events SET canon_version = 1 WHERE id = ?`, partial.ID[:]); err != nil {
		t.Fatal(err)
	}
	var hashBefore []byte
	if err := raw.QueryRow(`SELECT hash FROM events WHERE id = ?`, victim.ID[:]).Scan(&hashBefore); err != nil {
		t.Fatal(err)
	}
	r = runBin(t, nil, "verify", "--db", db, "--public-key", pub, "--fix", "--signing-key", priv)
	for _, want := range []string{
		"fix: sealed nothing",
		"left 1 events without a seal: they are not older than integrity",
		"left 1 events without a seal: they are older than what an earlier fix sealed",
		"left 1 events without a seal: they carry part of a seal",
		"modified chain", victim.ID.String(), late.ID.String(), early.ID.String(), partial.ID.String(),
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify --fix after tampering: stdout lacks %q", want)
		}
	}
	if r.code != 1 || strings.Count(r.stdout, "missing_hash event") != 3 {
		t.Errorf("verify --fix after tampering: exit %d, want 1 with 3 missing_hash:\n%s", r.code, r.stdout)
	}
	var hashAfter []byte
	var canon int
	if err := raw.QueryRow(`SELECT hash FROM events WHERE id = ?`, victim.ID[:]).Scan(&hashAfter); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hashBefore, hashAfter) {
		t.Error("--fix re-stamped a modified event")
	}
	if err := raw.QueryRow(`SELECT count(*) FROM events WHERE chain <> '' AND id IN (?, ?, ?)`, late.ID[:], early.ID[:], partial.ID[:]).Scan(&canon); err != nil || canon != 0 {
		t.Errorf("--fix sealed %d of the inserted events (%v)", canon, err)
	}
}

// TestVerifyFilterFlags: a bad --from, --to, --kind or --chain is a
// usage error naming the flag and the value.
func TestVerifyFilterFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "a.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "yesterday"}, `--from "yesterday": not an RFC 3339 time`},
		{[]string{"--to", "2026-13-01T00:00:00Z"}, `--to "2026-13-01T00:00:00Z": not an RFC 3339 time`},
		{[]string{"--from", "2026-11-24T10:00:00Z", "--to", "2026-11-24T09:00:00Z"}, "--from 2026-11-24T10:00:00Z is not before --to 2026-11-24T09:00:00Z"},
		{[]string{"--kind", "bogus"}, `--kind "bogus": must be one of crud, auth`},
		{[]string{"--chain", "a b"}, `--chain "a b":`},
		{[]string{"--signing-key", "k"}, "--signing-key is used only with --fix"},
		{[]string{"--bundle", "x", "--kind", "auth"}, "a bundle is checked whole"},
	} {
		r := runBin(t, nil, append([]string{"verify", "--db", db}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("verify %v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a refused command line created the database")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "give --with-proofs"},
		{[]string{"--with-proofs"}, "--out is required"},
		{[]string{"--with-proofs", "--out", filepath.Join(dir, "b"), "--db", db}, "--db"},
		{[]string{"--with-proofs", "--out", filepath.Join(dir, "b"), "--from", "now"}, `--from "now"`},
	} {
		r := runBin(t, nil, append([]string{"export"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("export %v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestBundlePruned: a chain pruned by retention carries its signed
// pruning records in the bundle, so the offline check accepts the gap
// before the cut, and nothing else.
func TestBundlePruned(t *testing.T) {
	dir := t.TempDir()
	start := time.Now().UTC().Add(-time.Hour)
	db, _, priv, pub := sealedStore(t, dir, 40, start)
	key, err := integrity.LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Prune(context.Background(), sqlite.PruneOptions{Before: start.Add(25 * time.Millisecond), SigningKey: key, Policy: "retention test", Actor: "test"})
	if err != nil || res.Deleted != 20 {
		t.Fatalf("prune: %+v, %v", res, err)
	}
	store.Close()
	out := filepath.Join(dir, "pruned.bundle")
	if r := runBin(t, nil, "export", "--with-proofs", "--db", db, "--out", out, "--public-key", pub); r.code != 0 || !strings.Contains(r.stderr, "1 prune records, 20 sealed events") {
		t.Fatalf("export of a pruned store: %+v", r)
	}
	// A filtered export begins at the cut, and verifies offline.
	if r := runBin(t, nil, "export", "--with-proofs", "--db", db, "--out", out+".auth", "--kind", "auth", "--public-key", pub); r.code != 0 || !strings.Contains(r.stderr, "1 prune records") {
		t.Errorf("filtered export of a pruned chain: %+v", r)
	}
	os.Remove(db)
	if r := runBin(t, nil, "verify", "--bundle", out+".auth", "--public-key", pub); r.code != 0 || !strings.Contains(r.stdout, "events 10, verified 10,") {
		t.Errorf("verify --bundle of a filtered export of a pruned chain: %+v", r)
	}
	if r := runBin(t, nil, "verify", "--bundle", out, "--public-key", pub); r.code != 0 || !strings.Contains(r.stdout, "events 20, verified 20") {
		t.Fatalf("verify --bundle of a pruned chain: %+v", r)
	}
	// Without its pruning record, the gap is missing.
	var lines []string
	for _, l := range bundleLines(t, out) {
		if !strings.HasPrefix(l, `{"type":"prune"`) {
			lines = append(lines, l)
		}
	}
	writeBundle(t, out+".noprune", lines)
	if r := runBin(t, nil, "verify", "--bundle", out+".noprune", "--public-key", pub); r.code != 1 || !strings.Contains(r.stdout, "missing") {
		t.Errorf("verify --bundle without the pruning record: %+v", r)
	}
}

// TestVerifyWitnessURL: --witness takes the URL of a URL witness, read
// with the token of --witness-token-file; the newest events deleted with
// their checkpoint show as truncated against it.
func TestVerifyWitnessURL(t *testing.T) {
	dir := t.TempDir()
	db, _, _, pub := sealedStore(t, dir, 30, time.Now().UTC().Add(-time.Hour))
	store, err := sqlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	chains, err := store.Chains(context.Background())
	if err != nil || len(chains) != 1 {
		t.Fatal(chains, err)
	}
	cps, err := store.Checkpoints(context.Background(), chains[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	var body bytes.Buffer
	for _, cp := range cps {
		b, _ := json.Marshal(cp)
		body.Write(append(b, '\n'))
	}
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		gets.Add(1)
		w.Write(body.Bytes())
	}))
	defer srv.Close()
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("s3cret\n"), 0o600)

	if r := runBin(t, nil, "verify", "--db", db, "--public-key", pub, "--witness", srv.URL, "--witness-token-file", token); r.code != 0 || gets.Load() != 1 {
		t.Fatalf("verify --witness URL: %+v (%d reads)", r, gets.Load())
	}
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM events WHERE chain_seq > 20`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM checkpoints WHERE to_seq > 20`); err != nil {
		t.Fatal(err)
	}
	if r := runBin(t, nil, "verify", "--db", db, "--public-key", pub); r.code != 0 {
		t.Fatalf("the tail deleted with its checkpoint passes without a witness (as documented): %+v", r)
	}
	r := runBin(t, nil, "verify", "--db", db, "--public-key", pub, "--witness", srv.URL, "--witness-token-file", token)
	if r.code != 1 || !strings.Contains(r.stdout, "truncated") {
		t.Errorf("verify --witness URL after the tail was deleted: %+v", r)
	}
	if r := runBin(t, nil, "verify", "--db", db, "--public-key", pub, "--witness", srv.URL); r.code != 2 || !strings.Contains(r.stderr, "--witness") {
		t.Errorf("verify --witness URL without the token: %+v", r)
	}
}

// TestVerifyFilterWiring: --kind, --from, --to and --chain reach the
// verifier: a modified custom event is a finding when custom events, or
// a time span holding it, are selected, and not otherwise.
func TestVerifyFilterWiring(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	db, events, _, pub := sealedStore(t, dir, 30, start)
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	victim := events[7] // custom, at start+7ms
	if _, err := raw.Exec(`UPDATE events SET data = replace(CAST(data AS TEXT), '"message":"event"', '"message":"evEnt"') WHERE id = ?`, victim.ID[:]); err != nil {
		t.Fatal(err)
	}
	var chain string
	if err := raw.QueryRow(`SELECT chain FROM events WHERE id = ?`, victim.ID[:]).Scan(&chain); err != nil {
		t.Fatal(err)
	}
	ms := func(n int) string { return start.Add(time.Duration(n) * time.Millisecond).Format(time.RFC3339Nano) }
	for _, tc := range []struct {
		args []string
		code int
	}{
		{nil, 1},
		{[]string{"--kind", "custom"}, 1},
		// The filters narrow the counts, never the findings.
		{[]string{"--kind", "auth"}, 1},
		{[]string{"--kind", "auth", "--kind", "custom"}, 1},
		{[]string{"--from", ms(8)}, 1},
		{[]string{"--from", ms(7)}, 1},
		{[]string{"--to", ms(7)}, 1},
		{[]string{"--from", ms(5), "--to", ms(9)}, 1},
		{[]string{"--chain", chain}, 1},
		// A chain the store does not hold is a usage error, never OK:
		// TestVerifyUnknownChain.
		{[]string{"--chain", "another-chain"}, 2},
	} {
		r := runBin(t, nil, append([]string{"verify", "--db", db, "--public-key", pub}, tc.args...)...)
		if r.code != tc.code || (tc.code == 1) != strings.Contains(r.stdout, victim.ID.String()) {
			t.Errorf("verify %v: exit %d, want %d (finding for %s listed: %v):\n%s%s", tc.args, r.code, tc.code, victim.ID, strings.Contains(r.stdout, victim.ID.String()), r.stdout, r.stderr)
		}
	}
}

// TestVerifyUnknownChain: a --chain that neither the store nor the
// witness holds is a usage error (exit 2) naming the flag and the
// chain, with no report and no OK: the verifier reports such a chain
// as an empty one with no finding, so a mistyped id would have read as
// a verified trail. A chain that only the witness holds is verified
// (the store lost it: truncated).
func TestVerifyUnknownChain(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	dir, otherDir := t.TempDir(), t.TempDir()
	db, _, _, pub := sealedStore(t, dir, 20, start)
	other, _, _, otherPub := sealedStore(t, otherDir, 10, start) // another trail, which the witness holds
	chainOf := func(db string) (string, []integrity.Checkpoint) {
		t.Helper()
		s, err := sqlite.Open(db, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cs, err := s.Chains(context.Background())
		if err != nil || len(cs) != 1 {
			t.Fatalf("chains of %s: %v %v", db, cs, err)
		}
		cps, err := s.Checkpoints(context.Background(), cs[0].ID)
		if err != nil || len(cps) == 0 {
			t.Fatalf("checkpoints of %s: %v %v", db, cps, err)
		}
		return cs[0].ID, cps
	}
	chain, _ := chainOf(db)
	gone, cps := chainOf(other)
	witness := filepath.Join(dir, "witness")
	fw, err := integrity.OpenFileWitness(witness)
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range cps {
		if err := fw.Write(context.Background(), cp); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args   []string
		code   int
		stderr string // in standard error, for exit 2
		stdout string // in standard output, otherwise
	}{
		{[]string{"--chain", "nosuch"}, 2, `--chain "nosuch": no such chain in the store, so nothing would be verified`, ""},
		{[]string{"--chain", "nosuch", "--json"}, 2, `--chain "nosuch": no such chain in the store`, ""},
		{[]string{"--chain", chain, "--chain", "nosuch"}, 2, `--chain "nosuch"`, ""},
		{[]string{"--chain", "nosuch", "--kind", "auth"}, 2, `--chain "nosuch"`, ""},
		{[]string{"--chain", "nosuch", "--witness", witness}, 2, `--chain "nosuch": no such chain in the store or the witness`, ""},
		{[]string{"--chain", gone}, 2, `--chain "` + gone + `"`, ""},
		// Known chains verify as before.
		{[]string{"--chain", chain}, 0, "", "events 20, verified 20"},
		{[]string{"--chain", gone, "--witness", witness, "--public-key", otherPub}, 1, "", "truncated"},
	} {
		r := runBin(t, nil, append([]string{"verify", "--db", db, "--public-key", pub}, tc.args...)...)
		if r.code != tc.code {
			t.Errorf("verify %v: exit %d, want %d:\n%s%s", tc.args, r.code, tc.code, r.stdout, r.stderr)
			continue
		}
		if tc.code == 2 && (!strings.Contains(r.stderr, tc.stderr) || r.stdout != "") {
			t.Errorf("verify %v: stdout %q, stderr %q; want no report and %q", tc.args, r.stdout, r.stderr, tc.stderr)
		}
		if tc.code != 2 && !strings.Contains(r.stdout, tc.stdout) {
			t.Errorf("verify %v: stdout %q lacks %q", tc.args, r.stdout, tc.stdout)
		}
	}
}
