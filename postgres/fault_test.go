package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/spool"
)

// binEnv names the directory of the PostgreSQL binaries (initdb,
// pg_ctl, postgres) with which the fault tests run a private server,
// which they may crash without disturbing the shared one.
const binEnv = "ACTIVITYLOG_TEST_POSTGRES_BIN"

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
// removed when t ends; it skips t when binEnv is unset.
func startPrivateServer(t *testing.T) *privateServer {
	t.Helper()
	bin := os.Getenv(binEnv)
	if bin == "" {
		t.Skip("set " + binEnv + "=/usr/lib/postgresql/15/bin to run the fault tests against a private PostgreSQL server")
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			t.Fatalf("%s=%s: %v", binEnv, bin, err)
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
		dir, err := os.MkdirTemp("/tmp", "activitylog-pgfault-")
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

// TestFaultServerCrash stops PostgreSQL (pg_ctl stop -m immediate, a
// crash) while a Recorder writes through a spool.Fallback, goes on
// recording during the outage, and starts the server again. Every event
// Record accepted must end up stored exactly once: those whose write
// failed (or whose commit went unacknowledged) through the spool's
// replay, idempotent by id.
func TestFaultServerCrash(t *testing.T) {
	srv := startPrivateServer(t)
	ctx := context.Background()
	store, err := Open(ctx, srv.dsn(), nil)
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
		Timeout: 2 * time.Second, ReplayInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), // replays fail until the server is back
	})
	rec := activitylog.NewRecorder(fb, &activitylog.Options{
		Mode:          activitylog.Async,
		OnFull:        activitylog.Block,
		BlockTimeout:  time.Minute, // never drop: the test counts every event
		BatchSize:     100,
		FlushInterval: 20 * time.Millisecond,
	})

	writers, pause, phase := 4, 500*time.Microsecond, 1500*time.Millisecond
	if testing.Short() {
		writers, pause, phase = 2, 5*time.Millisecond, 500*time.Millisecond
	}
	var (
		wg       sync.WaitGroup
		stop     = make(chan struct{})
		mu       sync.Mutex
		accepted = map[activitylog.ID]bool{}
		recErrs  []error
	)
	for w := range writers {
		wg.Go(func() {
			var ids []activitylog.ID
			var errs []error
			for i := 0; ; i++ {
				select {
				case <-stop:
					mu.Lock()
					for _, id := range ids {
						accepted[id] = true
					}
					recErrs = append(recErrs, errs...)
					mu.Unlock()
					return
				default:
				}
				now := time.Now()
				e := activitylog.Event{
					ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindCustom,
					Action: "tick", Message: fmt.Sprintf("writer %d event %d", w, i),
				}
				if err := rec.Record(ctx, e); err != nil {
					errs = append(errs, err)
				} else {
					ids = append(ids, e.ID)
				}
				time.Sleep(pause)
			}
		})
	}

	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer halt() // when a step fails

	time.Sleep(phase)
	srv.crash()
	t.Log("server crashed")
	time.Sleep(phase) // the events of the outage go to the spool
	srv.start()
	t.Log("server restarted")
	time.Sleep(phase)
	halt()

	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := rec.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Replay until the spool is empty, then stop the replayer.
	for fb.Stats().SpoolEvents > 0 && sctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if err := fb.Close(sctx); err != nil {
		t.Fatalf("close fallback: %v", err)
	}

	if len(recErrs) > 0 {
		t.Errorf("Record refused %d events, the first with %v", len(recErrs), recErrs[0])
	}
	n := uint64(len(accepted))
	rs, fs := rec.Stats(), fb.Stats()
	t.Logf("accepted %d events; recorder %+v; fallback %+v", n, rs, fs)
	if rs.Recorded != n || rs.Written != n || rs.Failed != 0 || rs.Dropped != 0 || rs.Refused != 0 {
		t.Errorf("recorder stats: recorded %d, written %d, failed %d, dropped %d, refused %d; want %d accepted and written, none lost",
			rs.Recorded, rs.Written, rs.Failed, rs.Dropped, rs.Refused, n)
	}
	if fs.Spooled == 0 {
		t.Error("no event went to the spool: the outage was not seen")
	}
	if fs.Failed != 0 || fs.SpoolEvents != 0 || fs.Direct+fs.Spooled != n {
		t.Errorf("fallback stats: direct %d + spooled %d, failed %d, still spooled %d; want %d written, none failed or left",
			fs.Direct, fs.Spooled, fs.Failed, fs.SpoolEvents, n)
	}

	// Every accepted event is stored once, and nothing else is.
	stored := map[activitylog.ID]int{}
	rows, err := store.Pool().Query(ctx, `SELECT id FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id [16]byte
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[activitylog.ID(id)]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var missing, dup, extra int
	for id := range accepted {
		switch stored[id] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	for id := range stored {
		if !accepted[id] {
			extra++
		}
	}
	if missing+dup+extra > 0 {
		t.Errorf("of %d accepted events, %d are missing and %d stored more than once; %d stored events were not accepted",
			n, missing, dup, extra)
	}
	var ids int
	if err := store.Pool().QueryRow(ctx, `SELECT count(*) FROM event_ids`).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	if uint64(ids) != n {
		t.Errorf("event_ids holds %d ids, want %d", ids, n)
	}
}
