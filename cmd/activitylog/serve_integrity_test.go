package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/sqlite"
)

func TestChainGenerations(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want int
	}{
		{"serve-web", 1}, {"serve-web:2", 2}, {"serve-web:17", 17},
		{"serve-web:1", 0}, {"serve-web:02", 0}, {"serve-web:", 0}, {"serve-web:x", 0},
		{"serve-web2", 0}, {"serve-we", 0}, {"serve-web:2:3", 0}, {"other", 0},
	} {
		if got := generationOf("serve-web", tc.id); got != tc.want {
			t.Errorf("generationOf(serve-web, %q) = %d, want %d", tc.id, got, tc.want)
		}
	}
	for gen := 1; gen < 5; gen++ {
		if g := generationOf("b", generationID("b", gen)); g != gen {
			t.Errorf("generation %d round-trips to %d", gen, g)
		}
	}
	for _, h := range []string{"web-1.example.com", "WEIRD host/ä", strings.Repeat("h", 300), ""} {
		id := "serve-" + sanitizeChain(h)
		if err := integrity.ValidateChainID(generationID(id, 99)); err != nil {
			t.Errorf("host %q: chain %q: %v", h, id, err)
		}
	}
	if err := integrity.ValidateChainID(defaultChain()); err != nil || !strings.HasPrefix(defaultChain(), "serve") {
		t.Errorf("defaultChain() = %q: %v", defaultChain(), err)
	}
}

// sealEnv is a store in a temporary directory, a signing key, and a
// configuration that seals with it.
type sealEnv struct {
	dir, db string
	cfg     config.Config
	pub     ed25519.PublicKey
	log     *lockedBuffer
}

func newSealEnv(t *testing.T) *sealEnv {
	t.Helper()
	e := &sealEnv{dir: t.TempDir(), log: &lockedBuffer{}}
	e.db = filepath.Join(e.dir, "a.db")
	pub, err := integrity.GenerateKeyFiles(filepath.Join(e.dir, "k.key"), filepath.Join(e.dir, "k.pub"))
	if err != nil {
		t.Fatal(err)
	}
	e.pub = pub
	e.cfg = config.Default()
	e.cfg.DB = e.db
	e.cfg.IntegritySigningKey = filepath.Join(e.dir, "k.key")
	e.cfg.IntegrityChain = "test"
	return e
}

func (e *sealEnv) open(t *testing.T) *sqlite.Store {
	t.Helper()
	store, err := sqlite.Open(e.db, &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func (e *sealEnv) sealer(t *testing.T, store *sqlite.Store) *sealer {
	t.Helper()
	s, err := newSealer(context.Background(), e.cfg, store, slog.New(slog.NewTextHandler(e.log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testEvents(n int) []activitylog.Event {
	now := time.Now().UTC()
	events := make([]activitylog.Event, n)
	for i := range events {
		events[i] = activitylog.Event{ID: activitylog.NewID(now), Time: now.Add(time.Duration(i) * time.Millisecond),
			Kind: activitylog.KindCustom, Action: "x", Severity: activitylog.SeverityInfo, Message: "event"}
	}
	return events
}

// verify runs the Verifier over the database.
func (e *sealEnv) verify(t *testing.T, store *sqlite.Store) *integrity.Report {
	t.Helper()
	rep, err := integrity.NewVerifier(store, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{e.pub}, MaxFindings: -1}).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// tear deletes the newest event of chain directly in the file, as a
// write cut short or an intruder would leave it.
func (e *sealEnv) tear(t *testing.T, chain string) {
	t.Helper()
	raw, err := sql.Open("sqlite", e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	res, err := raw.Exec(`DELETE FROM events WHERE chain = ? AND chain_seq = (SELECT max(chain_seq) FROM events WHERE chain = ?)`, chain, chain)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("deleted %d rows", n)
	}
}

// A restart continues the chain from its stored tail; a torn tail,
// found at start or under a running sealer, moves sealing to a new
// generation of the chain, says so, and loses no event.
func TestSealerRestartAndTornTail(t *testing.T) {
	e := newSealEnv(t)
	ctx := context.Background()
	store := e.open(t)
	s := e.sealer(t, store)
	if err := s.Write(ctx, testEvents(5)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// A restart: the same chain goes on.
	s = e.sealer(t, store)
	if s.chain() != "test" {
		t.Fatalf("after a restart: chain %s, want test", s.chain())
	}
	if err := s.Write(ctx, testEvents(5)); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	rep := e.verify(t, store)
	if !rep.OK() || rep.Total != 10 || len(rep.Chains) != 1 || rep.Chains[0].Length != 10 {
		t.Fatalf("after a restart: %+v", rep)
	}

	// Torn, found at start: the chain stays, test:2 begins.
	e.tear(t, "test")
	s = e.sealer(t, store)
	if s.chain() != "test:2" {
		t.Fatalf("after a torn tail: chain %s, want test:2", s.chain())
	}
	if log := e.log.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "torn") ||
		!strings.Contains(log, "chain=test ") || !strings.Contains(log, "new_chain=test:2") {
		t.Errorf("no error naming the torn chain:\n%s", log)
	}
	if err := s.Write(ctx, testEvents(3)); err != nil {
		t.Fatal(err)
	}
	// Torn under the running sealer: the batch goes to test:3.
	e.tear(t, "test:2")
	if err := s.Write(ctx, testEvents(4)); err != nil {
		t.Fatalf("Write after the tail was torn: %v", err)
	}
	if s.chain() != "test:3" {
		t.Errorf("chain %s, want test:3", s.chain())
	}
	s.Close(ctx)
	// A restart continues the newest generation, which is whole.
	s = e.sealer(t, store)
	if s.chain() != "test:3" {
		t.Errorf("after a restart: chain %s, want test:3", s.chain())
	}
	if err := s.Write(ctx, testEvents(1)); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)

	rep = e.verify(t, store)
	byID := map[string]integrity.ChainReport{}
	for _, c := range rep.Chains {
		byID[c.ID] = c
	}
	if c := byID["test:3"]; c.Length != 5 || c.Verified != 5 || c.CheckpointsVerified == 0 {
		t.Errorf("test:3: %+v", c)
	}
	// 9 + 2 + 5 events left; the findings are the two torn tails only.
	if rep.Total != 16 || rep.Unsealed != 0 {
		t.Errorf("total %d, unsealed %d", rep.Total, rep.Unsealed)
	}
	for _, f := range rep.Findings {
		if f.Chain != "test" && f.Chain != "test:2" {
			t.Errorf("finding in a whole chain: %v", f)
		}
	}
	if rep.OK() {
		t.Error("the torn chains verified: the evidence is gone")
	}
}

// A chain begun without an HMAC key is not continued with one: sealing
// goes on in a new generation, with a warning.
func TestSealerHMACKeyChange(t *testing.T) {
	e := newSealEnv(t)
	ctx := context.Background()
	store := e.open(t)
	s := e.sealer(t, store)
	s.Write(ctx, testEvents(2))
	s.Close(ctx)
	hk, _ := integrity.GenerateHMACKey()
	e.cfg.IntegrityHMACKey = filepath.Join(e.dir, "h.key")
	if err := integrity.WriteHMACKeyFile(e.cfg.IntegrityHMACKey, hk); err != nil {
		t.Fatal(err)
	}
	s = e.sealer(t, store)
	if s.chain() != "test:2" || !strings.Contains(e.log.String(), "another HMAC key") {
		t.Fatalf("chain %s; log:\n%s", s.chain(), e.log.String())
	}
	if err := s.Write(ctx, testEvents(2)); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	rep, err := integrity.NewVerifier(store, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{e.pub}, HMACKeys: []*integrity.HMACKey{hk}}).Verify(ctx)
	if err != nil || !rep.OK() || rep.Total != 4 || len(rep.Chains) != 2 {
		t.Errorf("verify: %v %+v", err, rep)
	}
}

// flakyWitness fails while down is set, and counts the calls.
type flakyWitness struct {
	mu    sync.Mutex
	down  bool
	calls int
	got   []integrity.Checkpoint
}

func (f *flakyWitness) Write(_ context.Context, cp integrity.Checkpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return errors.New("connection refused")
	}
	f.got = append(f.got, cp)
	return nil
}

// A witness that is away costs no event and does not make the Recorder
// retry: the batch is stored, the failure logged once, tries are held
// back for a while, and the checkpoints reach the witness once it is
// back.
func TestSealerWitnessDown(t *testing.T) {
	e := newSealEnv(t)
	ctx := context.Background()
	store := e.open(t)
	s := e.sealer(t, store)
	fw := &flakyWitness{down: true}
	log := slog.New(slog.NewTextHandler(e.log, nil))
	clock := time.Unix(1_800_000_000, 0)
	s.witness = newGuardedWitness(fw, "flaky", log)
	s.witness.now = func() time.Time { return clock }
	s.opts.Witness = s.witness
	s.opts.CheckpointInterval = 0 // a checkpoint with every batch
	var err error
	if s.w, err = s.writer(s.gen); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Write(ctx, testEvents(2)); err != nil {
			t.Fatalf("Write with the witness down = %v, want nil: the events are stored", err)
		}
	}
	if fw.calls != 1 {
		t.Errorf("witness tried %d times within its backoff, want 1", fw.calls)
	}
	if n := strings.Count(e.log.String(), "the witness did not take a checkpoint"); n != 1 {
		t.Errorf("failure logged %d times, want 1:\n%s", n, e.log.String())
	}
	fw.mu.Lock()
	fw.down = false
	fw.mu.Unlock()
	clock = clock.Add(2 * witnessRetryMin)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(fw.got) != 3 || fw.got[2].ToSeq != 6 {
		t.Errorf("witness got %d checkpoints, want 3 up to seq 6", len(fw.got))
	}
	if !strings.Contains(e.log.String(), "takes checkpoints again") {
		t.Errorf("no recovery in the log:\n%s", e.log.String())
	}
	if rep := e.verify(t, store); !rep.OK() || rep.Total != 6 {
		t.Errorf("verify: %+v", rep)
	}
}

// The flusher anchors the last events of an idle trail: nothing else
// would make their checkpoint before shutdown.
func TestSealerFlusherAnchorsIdleTrail(t *testing.T) {
	e := newSealEnv(t)
	e.cfg.IntegrityCheckpointInterval = time.Hour
	ctx := context.Background()
	store := e.open(t)
	s := e.sealer(t, store)
	for range 2 { // the first batch is checkpointed, the second not within the hour
		if err := s.Write(ctx, testEvents(3)); err != nil {
			t.Fatal(err)
		}
	}
	anchored := func() uint64 {
		cps, err := store.Checkpoints(ctx, "test")
		if err != nil {
			t.Fatal(err)
		}
		if len(cps) == 0 {
			return 0
		}
		return cps[len(cps)-1].ToSeq
	}
	if a := anchored(); a != 3 {
		t.Fatalf("anchored up to %d before the flusher, want 3", a)
	}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.runFlusher(fctx, 5*time.Millisecond, time.Minute); close(done) }()
	for deadline := time.Now().Add(10 * time.Second); anchored() != 6; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the flusher did not anchor the idle trail in 10s")
		}
	}
	stop()
	<-done
}

// postEvents POSTs n custom events through the API and wants them all
// accepted.
func postEvents(t *testing.T, s *serveProc, key string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"kind":"custom","action":"sealed-%d","message":"event %d"}`, i, i)
	}
	b.WriteString("]")
	var posted struct {
		Accepted int `json:"accepted"`
	}
	if code := s.do(t, "POST", key, "/api/v1/events", b.String(), &posted); code != http.StatusCreated || posted.Accepted != n {
		t.Fatalf("POST %d events: status %d, accepted %d", n, code, posted.Accepted)
	}
}

var chainLine = regexp.MustCompile(`integrity: sealing every stored event" chain=(\S+) signing_key_id=([0-9a-f]{16}) `)

// verifyReport runs activitylog verify --json and decodes its report.
func verifyReport(t *testing.T, args ...string) (int, integrity.Report) {
	t.Helper()
	r := runBin(t, nil, append([]string{"verify", "--json"}, args...)...)
	var rep integrity.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("verify: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	return r.code, rep
}

// The binary as a user runs it: serve with a signing key and a witness
// file seals what it stores, a restart continues the same chain, and
// verify passes with every event and checkpoint; a tail torn in the
// file while serve is stopped is reported at the next start, sealing
// goes on in a new chain, and verify names the torn one.
func TestServeSealsAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	db, witness := filepath.Join(dir, "a.db"), filepath.Join(dir, "witness.jsonl")
	// A short interval, so that the API test below sees its events
	// checkpointed by the ticker without waiting long.
	args := []string{"--db", db, "--integrity-signing-key", filepath.Join(dir, "k.key"), "--integrity-witness", witness,
		"--integrity-checkpoint-interval", "200ms"}
	pub := filepath.Join(dir, "k.pub")

	s := startServe(t, args...)
	key := s.key
	m := chainLine.FindStringSubmatch(s.log.String())
	if key == "" || m == nil {
		t.Fatalf("no key or no integrity line:\n%s", s.log.String())
	}
	chain := m[1]
	postEvents(t, s, key, 3)
	s.stop(t)

	s = startServe(t, args...)
	if m := chainLine.FindStringSubmatch(s.log.String()); m == nil || m[1] != chain {
		t.Fatalf("the restart did not continue chain %s:\n%s", chain, s.log.String())
	}
	postEvents(t, s, key, 2)
	checkIntegrityAPI(t, s, key, pub)
	s.stop(t)

	code, rep := verifyReport(t, "--db", db, "--public-key", pub, "--witness", witness)
	if code != 0 || !rep.OK() || rep.Total < 5 || rep.Verified != rep.Total || rep.Unsealed != 0 ||
		len(rep.Chains) != 1 || rep.Chains[0].ID != chain || uint64(rep.Total) != rep.Chains[0].Length {
		t.Fatalf("verify: exit %d, %+v", code, rep)
	}
	// One checkpoint at least per run (each shutdown stores one), each
	// verified, and the last covers the whole chain.
	if rep.Checkpoints < 2 || rep.CheckpointsVerified < rep.Checkpoints || rep.Chains[0].Anchored != rep.Chains[0].Length {
		t.Errorf("checkpoints: %d, %d verified, anchored to %d of %d", rep.Checkpoints, rep.CheckpointsVerified, rep.Chains[0].Anchored, rep.Chains[0].Length)
	}
	cps, err := integrity.ReadWitnessFile(witness)
	if err != nil || len(cps) != rep.Checkpoints {
		t.Errorf("witness holds %d checkpoints (%v), the store %d", len(cps), err, rep.Checkpoints)
	}

	// Tear the tail in the file; the next start says so and seals on.
	e := &sealEnv{db: db}
	e.tear(t, chain)
	s = startServe(t, args...)
	if log := s.log.String(); !strings.Contains(log, "torn") || !strings.Contains(log, "chain="+chain+" new_chain="+chain+":2") {
		t.Fatalf("no error naming the torn chain:\n%s", log)
	}
	postEvents(t, s, key, 2)
	s.stop(t)
	code, rep = verifyReport(t, "--db", db, "--public-key", pub)
	if code != 1 || len(rep.Chains) != 2 || len(rep.Findings) == 0 {
		t.Fatalf("verify after a torn tail: exit %d, %+v", code, rep)
	}
	for _, f := range rep.Findings {
		if f.Chain != chain {
			t.Errorf("finding outside the torn chain: %v", f)
		}
	}
}

// Each bad integrity setting stops serve before it listens, with exit
// status 2 and the setting named; the token is never shown.
func TestServeBadIntegrityConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	key, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	db := filepath.Join(dir, "a.db")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"missing key", nil, []string{"--integrity-signing-key", filepath.Join(dir, "none.key")},
			`config: integrity_signing_key "` + filepath.Join(dir, "none.key") + `": cannot read: no such file or directory (set by --integrity-signing-key)`},
		{"public key as signing key", []string{"ACTIVITYLOG_INTEGRITY_SIGNING_KEY=" + pub}, nil,
			`config: integrity_signing_key "` + pub + `": is a public key`},
		{"hmac key is not one", nil, []string{"--integrity-signing-key", key, "--integrity-hmac-key", key},
			`config: integrity_hmac_key "` + key + `": is not a PEM block of type ACTIVITYLOG HMAC KEY`},
		{"witness scheme", nil, []string{"--integrity-signing-key", key, "--integrity-witness", "ftp://w.example/"},
			`config: integrity_witness "ftp://w.example/": must be an http:// or https:// URL`},
		{"token in the clear", []string{"ACTIVITYLOG_INTEGRITY_WITNESS_TOKEN=hunter2hunter2"},
			[]string{"--integrity-signing-key", key, "--integrity-witness", "http://w.example/"},
			`config: integrity_witness_token "[REDACTED]": would cross the network in the clear`},
		{"negative interval", nil, []string{"--integrity-signing-key", key, "--integrity-checkpoint-interval", "-5s"},
			`config: integrity_checkpoint_interval "-5s": must not be negative`},
		{"bad chain", nil, []string{"--integrity", "--integrity-chain", "my chain"},
			`config: integrity_chain "my chain": may hold only ASCII letters`},
		{"chain without sealing", nil, []string{"--integrity-chain", "c"},
			`config: integrity_chain "c": needs sealing on`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBin(t, tc.env, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "listening") || strings.Contains(r.stderr, "hunter2") {
				t.Errorf("served, or showed the token:\n%s", r.stderr)
			}
		})
	}
	// An unknown integrity key in the file stays an error.
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("integrity_signing_keys: "+key+"\n"), 0o600)
	r := runBin(t, nil, "serve", "--config", file)
	if r.code != 2 || !strings.Contains(r.stderr, `unknown key "integrity_signing_keys" (did you mean "integrity_signing_key"?)`) {
		t.Errorf("unknown key: exit %d, %q", r.code, r.stderr)
	}
}

// checkIntegrityAPI checks, on a running serve with sealing on, that the
// integrity API is mounted: the public key is the one configured, every
// listed event carries its status, and once the ticker has made a
// checkpoint an event's inclusion proof verifies against it.
func checkIntegrityAPI(t *testing.T, s *serveProc, key, pubFile string) {
	t.Helper()
	want, err := integrity.LoadPublicKey(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	var keys struct {
		Keys []struct {
			KeyID string `json:"key_id"`
			PEM   string `json:"pem"`
		} `json:"keys"`
	}
	if code := s.do(t, "GET", "", "/api/v1/integrity/public-key", "", &keys); code != http.StatusOK ||
		len(keys.Keys) != 1 || keys.Keys[0].KeyID != integrity.KeyID(want) {
		t.Fatalf("public key: status %d, %+v, want key id %s", code, keys, integrity.KeyID(want))
	}
	type listed struct {
		ID        string `json:"id"`
		Integrity struct {
			Status string `json:"status"`
			Seq    uint64 `json:"seq"`
		} `json:"integrity"`
	}
	// The ticker (200ms) checkpoints what the Recorder has written; poll
	// until the posted events are listed as checkpointed.
	var ev listed
	for deadline := time.Now().Add(30 * time.Second); ; {
		var page struct {
			Results []listed `json:"results"`
		}
		if code := s.do(t, "GET", key, "/api/v1/events?kind=custom&page_size=100", "", &page); code != http.StatusOK {
			t.Fatalf("list: status %d", code)
		}
		done := len(page.Results) >= 2
		for _, e := range page.Results {
			switch e.Integrity.Status {
			case "checkpointed":
				ev = e
			case "sealed":
				done = false
			default:
				t.Fatalf("event %s listed with integrity %+v, want sealed or checkpointed", e.ID, e.Integrity)
			}
		}
		if done && ev.ID != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events not checkpointed: %+v", page.Results)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var p struct {
		Seal       integrity.Seal       `json:"seal"`
		Checkpoint integrity.Checkpoint `json:"checkpoint"`
		TreeSize   uint64               `json:"tree_size"`
		Proof      []integrity.Hash     `json:"proof"`
	}
	if code := s.do(t, "GET", key, "/api/v1/events/"+ev.ID+"/proof", "", &p); code != http.StatusOK {
		t.Fatalf("proof of %s: status %d", ev.ID, code)
	}
	if err := p.Checkpoint.Verify(want); err != nil {
		t.Fatalf("proof checkpoint: %v", err)
	}
	if err := integrity.VerifyInclusion(p.Seal.Seq, p.TreeSize, p.Seal.Hash, p.Proof, p.Checkpoint.TreeRoot); err != nil || p.TreeSize != p.Checkpoint.ToSeq {
		t.Fatalf("proof of %s: %v (tree size %d, checkpoint to %d)", ev.ID, err, p.TreeSize, p.Checkpoint.ToSeq)
	}
}

// With sealing configured, what the credential commands record (a key
// made) is sealed into a chain of their own, CHAIN.cli, so verify finds
// nothing unsealed; the same command run again continues that chain.
func TestCredentialCommandsSeal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	db := filepath.Join(dir, "a.db")
	env := []string{"ACTIVITYLOG_INTEGRITY_SIGNING_KEY=" + filepath.Join(dir, "k.key"), "ACTIVITYLOG_INTEGRITY_CHAIN=test"}
	for _, name := range []string{"one", "two"} {
		if r := runBin(t, env, "api-keys", "create", "--db", db, "--name", name, "--scopes", "view_logs"); r.code != 0 {
			t.Fatalf("api-keys create: %+v", r)
		}
	}
	code, rep := verifyReport(t, "--db", db, "--public-key", filepath.Join(dir, "k.pub"))
	if code != 0 || rep.Total < 2 || rep.Unsealed != 0 || len(rep.Chains) != 1 || rep.Chains[0].ID != "test.cli" ||
		rep.Chains[0].Anchored != rep.Chains[0].Length {
		t.Fatalf("verify: exit %d, %+v", code, rep)
	}
}

// A witness that was away when serve stopped is not left behind for
// good: the next start hands it the store's newest checkpoint, whose
// tree covers every event before it, and only once.
func TestSealerWitnessCatchUpAtStart(t *testing.T) {
	e := newSealEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	down := true
	var got []integrity.Checkpoint
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		cps, err := integrity.ReadWitness(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = append(got, cps...)
	}))
	defer srv.Close()
	e.cfg.IntegrityWitness = srv.URL
	e.cfg.IntegrityCheckpointInterval = 0

	store := e.open(t)
	s := e.sealer(t, store)
	for range 3 {
		if err := s.Write(ctx, testEvents(2)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close(ctx) // the witness still lacks every checkpoint: logged, not failed
	mu.Lock()
	if len(got) != 0 {
		t.Fatalf("a witness that is down took %d checkpoints", len(got))
	}
	down = false
	mu.Unlock()

	s = e.sealer(t, store) // the restart
	mu.Lock()
	n, last := len(got), integrity.Checkpoint{}
	if n > 0 {
		last = got[n-1]
	}
	mu.Unlock()
	if n != 1 || last.Chain != "test" || last.ToSeq != 6 || last.Verify(e.pub) != nil {
		t.Fatalf("after the restart the witness holds %d checkpoints, the last %+v; want the store's newest, to seq 6", n, last)
	}
	// Flushes with nothing new do not hand it over again.
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Errorf("the witness got %d checkpoints, want the one", len(got))
	}
}

// integrity_witness_token_file: serve sends the file's token to a URL
// witness, on its POSTs and on the API's reads of the witness.
func TestSealerWitnessTokenFile(t *testing.T) {
	e := newSealEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	var auth []string
	var lines []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		auth = append(auth, r.Method+" "+r.Header.Get("Authorization"))
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			lines = append(lines, b...)
			return
		}
		w.Write(lines)
	}))
	defer srv.Close()
	tokFile := filepath.Join(e.dir, "token")
	if err := os.WriteFile(tokFile, []byte("tok-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.cfg.IntegrityWitness, e.cfg.IntegrityWitnessTokenFile = srv.URL, tokFile
	e.cfg.IntegrityCheckpointInterval = 0
	store := e.open(t)
	s := e.sealer(t, store)
	if err := s.Write(ctx, testEvents(2)); err != nil {
		t.Fatal(err)
	}
	cps, err := s.apiOptions(e.cfg, slog.New(slog.NewTextHandler(io.Discard, nil))).Witness(ctx)
	if err != nil || len(cps) != 1 {
		t.Fatalf("witness read back: %d checkpoints, %v", len(cps), err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"POST Bearer tok-from-file", "GET Bearer tok-from-file"}
	if len(auth) != 2 || auth[0] != want[0] || auth[1] != want[1] {
		t.Errorf("witness requests %q, want %q", auth, want)
	}
	if strings.Contains(e.log.String(), "tok-from-file") {
		t.Errorf("the token reached the log:\n%s", e.log.String())
	}
}
