package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/postgres"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsTestArgs returns the NATS URL of ACTIVITYLOG_TEST_NATS_URL and
// the flags of a stream and prefix of the test's own, deleted at
// cleanup; it skips the test when the variable is unset.
func natsTestArgs(t *testing.T) (string, []string) {
	t.Helper()
	u := os.Getenv("ACTIVITYLOG_TEST_NATS_URL")
	if u == "" {
		t.Skip("set ACTIVITYLOG_TEST_NATS_URL=nats://127.0.0.1:4222 to run the worker over NATS JetStream")
	}
	suffix := strings.ReplaceAll(activitylog.NewID(time.Now()).String()[24:], "-", "")
	stream, prefix := "ALW_"+suffix, "alw"+suffix
	t.Cleanup(func() {
		nc, err := nats.Connect(u)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		js.DeleteStream(ctx, stream)
	})
	return u, []string{"--nats-url", u, "--nats-stream", stream, "--nats-prefix", prefix}
}

// postgresTestURL returns the URL of a PostgreSQL database of the
// test's own, dropped afterwards (stores_postgres_test.go); it skips
// the test when ACTIVITYLOG_TEST_POSTGRES_DSN is unset.
func postgresTestURL(t *testing.T) string {
	t.Helper()
	for _, c := range storeCases {
		if c.name == "postgres" {
			return c.url(t)
		}
	}
	t.Skip("set ACTIVITYLOG_TEST_POSTGRES_DSN to run the worker against PostgreSQL")
	return ""
}

// workerProc is a running `activitylog worker`.
type workerProc struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error
}

// startWorker runs `activitylog worker args…` and waits for the line
// that says it is storing.
func startWorker(t *testing.T, args ...string) *workerProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"worker"}, args...)...)
	cmd.Env = environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProc{cmd: cmd, log: &syncBuffer{}, done: make(chan error, 1)}
	storing := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			w.log.WriteLine(sc.Text())
			if strings.HasPrefix(sc.Text(), "activitylog worker: storing stream") {
				storing <- struct{}{}
			}
		}
		w.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		err := <-w.done
		w.done <- err
		if t.Failed() {
			t.Logf("activitylog worker %v log:\n%s", args, w.log.String())
		}
	})
	select {
	case <-storing:
	case err := <-w.done:
		t.Fatalf("worker exited before storing: %v\n%s", err, w.log.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("worker not storing within 20s:\n%s", w.log.String())
	}
	return w
}

// stop sends SIGTERM and wants a clean exit.
func (w *workerProc) stop(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-w.done:
		w.done <- err
		if err != nil {
			t.Fatalf("worker exited with %v after SIGTERM:\n%s", err, w.log.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("worker did not exit within 20s of SIGTERM:\n%s", w.log.String())
	}
}

// kill kills the worker at once (SIGKILL): no last checkpoint, no ack.
func (w *workerProc) kill(t *testing.T) {
	t.Helper()
	w.cmd.Process.Kill()
	err := <-w.done
	w.done <- err
}

var workerChainLine = regexp.MustCompile(`integrity: this worker seals into a chain of its own" chain=(\S+) `)

// chain returns the chain the worker's log says it claimed.
func (w *workerProc) chain(t *testing.T) string {
	t.Helper()
	m := workerChainLine.FindStringSubmatch(w.log.String())
	if m == nil {
		t.Fatalf("the worker's log names no chain:\n%s", w.log.String())
	}
	return m[1]
}

// postCustom posts n custom events whose action is prefix-i, in
// batches of up to 100.
func postCustom(t *testing.T, s *serveProc, key, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; {
		var b strings.Builder
		b.WriteString("[")
		for j := 0; j < 100 && i < n; i, j = i+1, j+1 {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"kind":"custom","action":"%s-%d","message":"event %d"}`, prefix, i, i)
		}
		b.WriteString("]")
		if code := s.do(t, "POST", key, "/api/v1/events", b.String(), nil); code != http.StatusCreated {
			t.Fatalf("POST events: status %d", code)
		}
	}
}

// waitCount waits until the store holds want events of f, and fails
// when it holds more or does not get there within a minute.
func waitCount(t *testing.T, st activitylog.Querier, f activitylog.Filter, want int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := st.Count(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if n > want {
			t.Fatalf("the store holds %d events of %+v, want %d: some were stored twice", n, f, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store holds %d events of %+v after a minute, want %d", n, f, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// verifyStore verifies the sealed trail in st with pub and wants it
// whole: every event sealed and verified, in the chains of chains, with
// signed checkpoints.
func verifyStore(t *testing.T, st integrity.Source, pub ed25519.PublicKey, chains []string) *integrity.Report {
	t.Helper()
	rep, err := integrity.NewVerifier(st, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}}).Verify(context.Background())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.OK() || rep.Total == 0 || rep.Verified != rep.Total || rep.Unsealed != 0 || rep.CheckpointsVerified == 0 {
		t.Fatalf("verify: ok %v, total %d, verified %d, unsealed %d, checkpoints verified %d, findings %+v",
			rep.OK(), rep.Total, rep.Verified, rep.Unsealed, rep.CheckpointsVerified, rep.Findings)
	}
	for _, c := range rep.Chains {
		if !slices.Contains(chains, c.ID) {
			t.Errorf("chain %s in the store; the workers claimed %v", c.ID, chains)
		}
		if c.Entries > 0 && c.CheckpointsVerified == 0 {
			t.Errorf("chain %s: %d events, no signed checkpoint verified", c.ID, c.Entries)
		}
	}
	return rep
}

func signingKey(t *testing.T, dir string) (string, ed25519.PublicKey) {
	t.Helper()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	pub, err := integrity.LoadPublicKey(filepath.Join(dir, "k.pub"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "k.key"), pub
}

// serve with nats_url and a signing key publishes; two workers with
// the key store into PostgreSQL, each sealing into a chain of its own;
// every event is stored once and the trail verifies, with signed
// checkpoints, through the library and through serve's integrity API.
func TestWorkerSealsPostgres(t *testing.T) {
	t.Parallel()
	_, natsArgs := natsTestArgs(t)
	storeURL := postgresTestURL(t)
	dir := t.TempDir()
	keyFile, pub := signingKey(t, dir)
	sealArgs := []string{"--store", storeURL, "--integrity-signing-key", keyFile, "--integrity-checkpoint-interval", "200ms"}

	s := startServe(t, slices.Concat([]string{"--db", filepath.Join(dir, "control.db")}, sealArgs, natsArgs)...)
	if !strings.Contains(s.log.String(), "the workers seal what they store") {
		t.Errorf("serve does not say the workers seal:\n%s", s.log.String())
	}
	w1 := startWorker(t, slices.Concat([]string{"--db", filepath.Join(dir, "w1.db")}, sealArgs, natsArgs)...)
	w2 := startWorker(t, slices.Concat([]string{"--db", filepath.Join(dir, "w2.db")}, sealArgs, natsArgs)...)
	chains := []string{w1.chain(t), w2.chain(t)}
	if chains[0] == chains[1] || !strings.HasPrefix(chains[0], "worker-") || !strings.HasPrefix(chains[1], "worker-") {
		t.Fatalf("the workers claimed chains %v; want two chains worker-…", chains)
	}

	// The relay still sends what the sealing workers stored to the
	// live subject, which every serve's live streams read.
	nc, err := nats.Connect(natsArgs[1])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	live, err := nc.SubscribeSync(natsArgs[5] + ".live")
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	postCustom(t, s, s.key, "w", n)
	st, err := postgres.Open(context.Background(), storeURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitCount(t, st, activitylog.Filter{Kind: activitylog.KindCustom}, n)
	// The first message may be another batch (the first start's own
	// events): look for the posted ones among what comes within 10s.
	for deadline := time.Now().Add(10 * time.Second); ; {
		m, err := live.NextMsg(time.Until(deadline))
		if err != nil {
			t.Errorf("none of the events the workers stored reached the live subject: %v", err)
			break
		}
		if strings.Contains(string(m.Data), `"kind":"custom"`) {
			break
		}
	}

	// serve's integrity API reads what the workers sealed, once their
	// checkpoints cover it.
	type verified struct {
		OK bool `json:"ok"`
		integrity.Report
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		var rep verified
		code := s.get(t, s.key, "/api/v1/integrity/verify", &rep)
		if code == http.StatusOK && rep.OK && rep.Verified >= n && rep.Verified == rep.Total && rep.CheckpointsVerified > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve's verify: status %d, %+v", code, rep)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.stop(t)
	w1.stop(t)
	w2.stop(t)
	waitCount(t, st, activitylog.Filter{Kind: activitylog.KindCustom}, n)
	rep := verifyStore(t, st, pub, chains)
	used := 0
	for _, c := range rep.Chains {
		if c.Entries > 0 {
			used++
		}
	}
	t.Logf("%d events in %d chains (%v)", rep.Total, used, chains)
}

// A worker killed (SIGKILL) while it stores leaves messages committed
// but not acknowledged, and a batch without a checkpoint: another
// worker, started after it, takes its chain over (the lock went with
// the process) and anchors its tail, and what is delivered again is
// stored and sealed once.
func TestWorkerSealKilledMidBatch(t *testing.T) {
	t.Parallel()
	_, natsArgs := natsTestArgs(t)
	storeURL := postgresTestURL(t)
	dir := t.TempDir()
	keyFile, pub := signingKey(t, dir)
	// A checkpoint only at the interval, so that the kill leaves
	// events without one.
	sealArgs := []string{"--store", storeURL, "--integrity-signing-key", keyFile, "--integrity-checkpoint-interval", "1h"}
	s := startServe(t, slices.Concat([]string{"--db", filepath.Join(dir, "control.db"), "--batch-size", "50"}, sealArgs, natsArgs)...)
	st, err := postgres.Open(context.Background(), storeURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	const n = 3000
	w1 := startWorker(t, slices.Concat([]string{"--db", filepath.Join(dir, "w1.db")}, sealArgs, natsArgs)...)
	first := w1.chain(t)
	posted := make(chan struct{})
	go func() {
		defer close(posted)
		postCustom(t, s, s.key, "k", n)
	}()
	// Kill it once it has stored some, not all.
	custom := activitylog.Filter{Kind: activitylog.KindCustom}
	for deadline := time.Now().Add(time.Minute); ; {
		c, err := st.Count(context.Background(), custom)
		if err != nil {
			t.Fatal(err)
		}
		if c > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker stored nothing within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	w1.kill(t)
	<-posted
	if t.Failed() {
		return
	}
	before, _ := st.Count(context.Background(), custom)

	w2 := startWorker(t, slices.Concat([]string{"--db", filepath.Join(dir, "w2.db")}, sealArgs, natsArgs)...)
	if got := w2.chain(t); got != first {
		t.Errorf("the second worker claimed %s, want the killed worker's chain %s", got, first)
	}
	// What the killed worker held comes back after the ack wait (30s).
	waitCount(t, st, custom, n)
	s.stop(t)
	w2.stop(t)
	rep := verifyStore(t, st, pub, []string{first})
	redelivered := "?"
	if m := regexp.MustCompile(`Redelivered:(\d+)`).FindStringSubmatch(w2.log.String()); m != nil {
		redelivered = m[1]
	}
	t.Logf("killed with %d of %d stored; the second worker had %s messages delivered again; then %d events verified",
		before, n, redelivered, rep.Verified)
}

// A worker with database_config_keys routes each tenant's events to
// the tenant's database (a PostgreSQL database of its own), made
// through serve's API in the control database the worker shares; the
// rest go to the worker's store.
func TestWorkerRoutesTenants(t *testing.T) {
	t.Parallel()
	_, natsArgs := natsTestArgs(t)
	defURL := postgresTestURL(t)
	tenantURL := postgresTestURL(t)
	dir := t.TempDir()
	control := filepath.Join(dir, "control.db")
	key, err := dbconfig.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	routeArgs := slices.Concat([]string{"--db", control, "--store", defURL, "--database-config-keys", key.String()}, natsArgs)
	s := startServe(t, routeArgs...)

	tu, err := url.Parse(tenantURL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(tu.Port())
	body := fmt.Sprintf(`{"name":"acme","engine":"postgres","host":%q,"port":%d,"database":%q,"user":%q,"tenant":"acme","options":{"sslmode":"disable"}}`,
		tu.Hostname(), port, strings.TrimPrefix(tu.Path, "/"), tu.User.Username())
	var created string
	if code := s.do(t, "POST", s.key, "/api/v1/database-configs", body, &created); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/database-configs: %d %s", code, created)
	}
	w := startWorker(t, routeArgs...)
	if !strings.Contains(w.log.String(), "tenant routing on") {
		t.Errorf("the worker does not say it routes:\n%s", w.log.String())
	}
	ev := `[{"kind":"crud","action":"create","tenant":"acme","object":{"type":"doc","id":"ROUTE-A"}},` +
		`{"kind":"crud","action":"create","object":{"type":"doc","id":"ROUTE-N"}}]`
	if code := s.do(t, "POST", s.key, "/api/v1/events", ev, nil); code != http.StatusCreated {
		t.Fatalf("POST events: %d", code)
	}
	def, err := postgres.Open(context.Background(), defURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	acme, err := postgres.Open(context.Background(), tenantURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer acme.Close()
	waitCount(t, acme, activitylog.Filter{ObjectID: "ROUTE-A"}, 1)
	waitCount(t, def, activitylog.Filter{ObjectID: "ROUTE-N"}, 1)
	// serve reads the tenant's events through its router.
	var l list
	if code := s.get(t, s.key, "/api/v1/events?tenant=acme&kind=crud", &l); code != 200 || l.Count != 1 || l.Results[0].Object.ID != "ROUTE-A" {
		t.Errorf("GET ?tenant=acme on serve: %d %+v", code, l)
	}
	w.stop(t)
	s.stop(t)
	for _, c := range []struct {
		st *postgres.Store
		id string
	}{{def, "ROUTE-A"}, {acme, "ROUTE-N"}} {
		if n, err := c.st.Count(context.Background(), activitylog.Filter{ObjectID: c.id}); err != nil || n != 0 {
			t.Errorf("%s is in the wrong database (%d, %v)", c.id, n, err)
		}
	}
}

// A sealing worker whose chain lock is lost (its PostgreSQL session
// terminated) stops with an error naming it, rather than go on writing
// a chain another worker may take; restarted, it claims its chain again.
func TestWorkerStopsWhenChainLockLost(t *testing.T) {
	t.Parallel()
	_, natsArgs := natsTestArgs(t)
	storeURL := postgresTestURL(t)
	dir := t.TempDir()
	keyFile, _ := signingKey(t, dir)
	args := slices.Concat([]string{"--db", filepath.Join(dir, "w.db"), "--store", storeURL, "--integrity-signing-key", keyFile}, natsArgs)
	w := startWorker(t, args...)
	chain := w.chain(t)
	conn, err := pgx.Connect(context.Background(), storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate the chain lock's session: %d sessions, %v", n, err)
	}
	select {
	case err := <-w.done:
		w.done <- err
		if err == nil || !strings.Contains(w.log.String(), "lost the lock of its chain") {
			t.Fatalf("the worker exited with %v; want an error about its chain's lock:\n%s", err, w.log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the worker goes on after losing its chain's lock:\n%s", w.log.String())
	}
	if got := startWorker(t, args...).chain(t); got != chain {
		t.Errorf("restarted, the worker claimed %s, want %s again", got, chain)
	}
}

// A routing worker whose tenant's database does not exist yet writes
// the tenant's events to its store and the pending queue; once the
// database is there, the next worker's replay (at its start, under the
// replay lock) moves them to it and empties the queue.
func TestWorkerReplaysPending(t *testing.T) {
	t.Parallel()
	_, natsArgs := natsTestArgs(t)
	defURL := postgresTestURL(t)
	dir := t.TempDir()
	control := filepath.Join(dir, "control.db")
	key, err := dbconfig.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	routeArgs := slices.Concat([]string{"--db", control, "--store", defURL, "--database-config-keys", key.String()}, natsArgs)
	s := startServe(t, routeArgs...)

	du, err := url.Parse(defURL)
	if err != nil {
		t.Fatal(err)
	}
	tenantDB := strings.TrimPrefix(du.Path, "/") + "_later"
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, defURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), defURL)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+tenantDB+" WITH (FORCE)")
	})
	port, _ := strconv.Atoi(du.Port())
	body := fmt.Sprintf(`{"name":"later","engine":"postgres","host":%q,"port":%d,"database":%q,"user":%q,"tenant":"later","options":{"sslmode":"disable"}}`,
		du.Hostname(), port, tenantDB, du.User.Username())
	if code := s.do(t, "POST", s.key, "/api/v1/database-configs", body, nil); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/database-configs: %d", code)
	}
	w1 := startWorker(t, routeArgs...)
	ev := `[{"kind":"crud","action":"create","tenant":"later","object":{"type":"doc","id":"LATER-1"}}]`
	if code := s.do(t, "POST", s.key, "/api/v1/events", ev, nil); code != http.StatusCreated {
		t.Fatalf("POST events: %d", code)
	}
	def, err := postgres.Open(ctx, defURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	waitCount(t, def, activitylog.Filter{ObjectID: "LATER-1"}, 1) // fell back
	w1.stop(t)
	if !strings.Contains(w1.log.String(), `msg="activitylog router: open store" config=`) {
		t.Errorf("the first worker's log does not say the tenant's store failed:\n%s", w1.log.String())
	}

	if _, err := admin.Exec(ctx, "CREATE DATABASE "+tenantDB); err != nil {
		t.Fatal(err)
	}
	w2 := startWorker(t, routeArgs...)
	tu := *du
	tu.Path = "/" + tenantDB
	later, err := postgres.Open(ctx, tu.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	waitCount(t, later, activitylog.Filter{ObjectID: "LATER-1"}, 1)
	w2.stop(t)
	s.stop(t)
	ctl, err := sqlite.Open(control, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if counts, err := ctl.PendingEvents().Counts(ctx); err != nil || len(counts) != 0 {
		t.Errorf("pending after the replay: %v, %v", counts, err)
	}
}

// Workers claim the first chain free of their base, never serve's, and
// a base too long for the suffixes is refused naming integrity_chain.
func TestClaimChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := "claim-" + strings.ReplaceAll(activitylog.NewID(time.Now()).String()[24:], "-", "")
	var held []HeldLock
	for i, want := range []string{base, base + ".2", base + ".3"} {
		id, lk, err := claimChain(ctx, processLocks, base)
		if err != nil || id != want {
			t.Fatalf("claim %d: %q, %v; want %q", i, id, err, want)
		}
		held = append(held, lk)
	}
	held[1].Release(ctx)
	if id, lk, err := claimChain(ctx, processLocks, base); err != nil || id != base+".2" {
		t.Fatalf("after .2 was released: %q, %v", id, err)
	} else {
		lk.Release(ctx)
	}
	held[0].Release(ctx)
	held[2].Release(ctx)

	cfg := config.Default()
	if b := workerChainBase(cfg); !strings.HasPrefix(b, "worker") || b == defaultChain() {
		t.Errorf("workerChainBase = %q; want worker-HOST, not serve's %q", b, defaultChain())
	}
	cfg.IntegrityChain = "prod"
	if b := workerChainBase(cfg); b != "prod.worker" {
		t.Errorf("workerChainBase with integrity_chain prod = %q", b)
	}
	_, _, err := claimChain(ctx, processLocks, strings.Repeat("c", 125))
	if err == nil || !strings.Contains(err.Error(), "integrity_chain") {
		t.Errorf("a base of 125 bytes: %v", err)
	}
}
