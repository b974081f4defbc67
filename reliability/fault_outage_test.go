package reliability

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/demo"
	"github.com/activitylog/activitylog/internal/loadgen"
	"github.com/activitylog/activitylog/postgres"
	"github.com/activitylog/activitylog/spool"
)

// The private server below is postgres/fault_test.go's, which test
// files of another package cannot import.

// privateServer is a PostgreSQL server of a test's own, in a
// temporary directory, listening on 127.0.0.1 on a free port.
type privateServer struct {
	t       *testing.T
	bin     string
	base    string // owned by the server's user: data, socket, log
	port    int
	prefix  []string // runuser -u postgres --, when the test runs as root
	started bool
}

// startPrivateServer initdbs and starts a private server, stopped and
// removed when t ends; it skips t when pgBinEnv is unset.
func startPrivateServer(t *testing.T) *privateServer {
	t.Helper()
	bin := os.Getenv(pgBinEnv)
	if bin == "" {
		t.Skip("set " + pgBinEnv + "=/usr/lib/postgresql/15/bin to run the fault tests against a private PostgreSQL server")
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			t.Fatalf("%s=%s: %v", pgBinEnv, bin, err)
		}
	}
	p := &privateServer{t: t, bin: bin}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root: run them as the
		// postgres user, in a directory that user can reach (t.TempDir's
		// parents may be closed to it).
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			t.Fatalf("running as root, the fault tests need runuser to start PostgreSQL as the postgres user: %v", err)
		}
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the fault tests need a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		dir, err := os.MkdirTemp("/tmp", "activitylog-reliability-pg-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p.base = filepath.Join(dir, "pg")
		if err := os.Mkdir(p.base, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p.base, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.prefix = []string{runuser, "-u", "postgres", "--"}
	} else {
		p.base = t.TempDir()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = l.Addr().(*net.TCPAddr).Port
	l.Close()

	data := filepath.Join(p.base, "data")
	if out, err := p.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale", "C", "-N"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"+
		"fsync = on\nsynchronous_commit = on\nfull_page_writes = on\nmax_connections = 30\nshared_buffers = 32MB\n",
		p.port, p.base)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.started {
			p.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(p.base, "log")); err == nil {
				t.Logf("server log:\n%s", b)
			}
		}
	})
	p.start()
	return p
}

// run runs one of the server's binaries, as the server's user.
func (p *privateServer) run(name string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, p.prefix...), filepath.Join(p.bin, name)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.base
	return cmd.CombinedOutput()
}

// start starts the server and waits until it accepts connections (after
// crash recovery, when it crashed).
func (p *privateServer) start() {
	p.t.Helper()
	out, err := p.run("pg_ctl", "-D", filepath.Join(p.base, "data"), "-l", filepath.Join(p.base, "log"), "-w", "-t", "60", "start")
	if err != nil {
		p.t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	p.started = true
}

// crash stops the server with -m immediate: every process quits at
// once, without a checkpoint, as at a power cut of the server alone.
func (p *privateServer) crash() {
	p.t.Helper()
	out, err := p.run("pg_ctl", "-D", filepath.Join(p.base, "data"), "-m", "immediate", "-w", "stop")
	if err != nil {
		p.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	p.started = false
}

func (p *privateServer) dsn() string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable connect_timeout=5", p.port)
}

// TestFaultStoreOutage drives the demo shop at a sustained rate over a
// private PostgreSQL server behind a spool (spool.Fallback), stops the
// server (pg_ctl stop -m immediate) for ACTIVITYLOG_TEST_RELIABILITY_OUTAGE
// seconds, starts it again, and goes on. Every answered request's event
// must end up stored exactly once: those of the outage through the
// spool's replay.
func TestFaultStoreOutage(t *testing.T) {
	srv := startPrivateServer(t)
	outage := envSeconds(t, outageEnv, 3)
	rate := envFloat(t, rateEnv, 300)
	ctx := context.Background()
	store, err := postgres.Open(ctx, srv.dsn(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sp, err := spool.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	fb := spool.NewFallback(store, sp, &spool.FallbackOptions{
		Timeout: 2 * time.Second, ReplayInterval: 250 * time.Millisecond, Logger: discard,
	})
	rec := activitylog.NewRecorder(fb, &activitylog.Options{OnFull: activitylog.Block, BlockTimeout: 10 * time.Minute, Logger: discard})
	mux := http.NewServeMux()
	mux.Handle(demo.Prefix+"/", demo.Handler(rec))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	user := runID("outage")

	lead, tail := time.Second, 2*time.Second
	var res *loadgen.Result
	var loadErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, loadErr = load(loadArgs{targets: demoTargets(hs.URL), headers: []string{demo.UserHeader + ": " + user}, rate: rate, duration: lead + outage + tail})
	}()
	time.Sleep(lead)
	srv.crash()
	down := time.Now()
	time.Sleep(outage)
	srv.start()
	t.Logf("server down for %s", time.Since(down).Round(time.Millisecond))
	<-done
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	shutdown(t, rec)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for fb.Stats().SpoolEvents > 0 && sctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if err := fb.Close(sctx); err != nil {
		t.Fatalf("close fallback: %v", err)
	}
	t.Logf("load: %s", res)
	if res.Errors != 0 {
		t.Fatalf("%d requests failed (first: %s): the count needs every request answered", res.Errors, res.FirstError)
	}
	rs, fs := rec.Stats(), fb.Stats()
	stored := count(t, store, activitylog.Filter{Kind: activitylog.KindRequest, ActorID: user})
	created := count(t, store, activitylog.Filter{Kind: activitylog.KindCRUD, Action: "create", ActorID: user})
	wantCreated := int64(res.Targets[2].ByStatus[http.StatusCreated])
	if stored != int64(res.Answered) || created != wantCreated {
		t.Errorf("%d requests answered, %d request events stored; %d orders created, %d crud events stored", res.Answered, stored, wantCreated, created)
	}
	if rs.Dropped+rs.Refused+rs.Failed != 0 || fs.Failed != 0 || fs.SpoolEvents != 0 {
		t.Errorf("events lost: recorder %+v; fallback %+v", rs, fs)
	}
	if fs.Spooled == 0 {
		t.Error("no event went to the spool: the outage was not seen")
	}
	var dups int
	if err := store.Pool().QueryRow(ctx, `SELECT count(*) FROM (SELECT id FROM events GROUP BY id HAVING count(*) > 1) d`).Scan(&dups); err != nil {
		t.Fatal(err)
	}
	if dups != 0 {
		t.Errorf("%d events stored more than once", dups)
	}
	t.Logf("recorder: %d recorded, %d written; fallback: %d direct, %d spooled, %d replayed", rs.Recorded, rs.Written, fs.Direct, fs.Spooled, fs.Replayed)
	report(t, map[string]any{
		"test": "fault_outage", "outage_seconds": outage.Seconds(), "rate": rate, "answered": res.Answered,
		"events_stored": stored + created, "events_expected": int64(res.Answered) + wantCreated,
		"events_lost": int64(res.Answered) + wantCreated - stored - created,
		"spooled":     fs.Spooled, "replayed": fs.Replayed, "duplicates": dups,
		"p99_ms": ms(res.Latency.Quantile(0.99)), "max_ms": ms(res.Latency.Max()),
	})
}
