package reliability

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/loadgen"
	"github.com/activitylog/activitylog/postgres"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/jackc/pgx/v5"
)

// childEnv makes the test binary run as a child: "loadgen" runs the
// load generator on the arguments; the kill test's child is selected by
// -test.run and its own variable.
const childEnv = "ACTIVITYLOG_TEST_RELIABILITY_CHILD"

// The variables that set the runs' lengths and rate.
const (
	secondsEnv = "ACTIVITYLOG_TEST_RELIABILITY_SECONDS"
	outageEnv  = "ACTIVITYLOG_TEST_RELIABILITY_OUTAGE"
	rateEnv    = "ACTIVITYLOG_TEST_RELIABILITY_RATE"
	pgDSNEnv   = "ACTIVITYLOG_TEST_POSTGRES_DSN"
	pgBinEnv   = "ACTIVITYLOG_TEST_POSTGRES_BIN"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "loadgen" {
		os.Exit(loadgen.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

var discard = slog.New(slog.DiscardHandler)

// envSeconds reads a duration in seconds from name, def when unset.
func envSeconds(t testing.TB, name string, def float64) time.Duration {
	t.Helper()
	return time.Duration(envFloat(t, name, def) * float64(time.Second))
}

func envFloat(t testing.TB, name string, def float64) float64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || v > 1e6 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}

// runID is a fresh name for one run: the demo user whose events the
// run counts, a PostgreSQL schema.
func runID(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// loadArgs are a load generator's arguments.
type loadArgs struct {
	targets  []string // "[METHOD ]URL[ BODY]"
	headers  []string
	rate     float64 // 0: closed loop
	workers  int
	duration time.Duration
}

// runLoad runs the load generator as a child process, the test binary
// re-executed, so that the server's CPU time (this process's) is
// measured apart from the client's.
func runLoad(t testing.TB, a loadArgs) *loadgen.Result {
	t.Helper()
	res, err := load(a)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// load is runLoad for other goroutines than the test's.
func load(a loadArgs) (*loadgen.Result, error) {
	args := []string{"-json", "-duration", a.duration.String(), "-timeout", "2m"}
	for _, s := range a.targets {
		args = append(args, "-target", s)
	}
	for _, s := range a.headers {
		args = append(args, "-header", s)
	}
	if a.rate > 0 {
		args = append(args, "-rate", strconv.FormatFloat(a.rate, 'f', -1, 64))
	}
	if a.workers > 0 {
		args = append(args, "-workers", strconv.Itoa(a.workers))
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=loadgen")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("load generator: %v\n%s", err, stderr.String())
	}
	var res loadgen.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("load generator's result: %v\n%s", err, stdout.String())
	}
	return &res, nil
}

// cpuTime is this process's CPU time, user and system: the server's,
// the load generator running apart.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage is the first field of /proc/loadavg, or "" where there is
// none: the other work on the machine, for the report.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Fields(string(b))[0]
}

// report logs a figure as text and as a machine-readable line.
func report(t testing.TB, fields map[string]any) {
	t.Helper()
	fields["go_test"] = t.Name()
	fields["load_average"] = loadAverage()
	fields["cpus"] = runtime.NumCPU()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reliability-result: %s", b)
}

// openStore opens a fresh store of the kind named: "sqlite" in a
// temporary file, "postgres" in a schema of its own on
// ACTIVITYLOG_TEST_POSTGRES_DSN, dropped at the end (skips when unset).
func openStore(t testing.TB, kind string) activitylog.Store {
	t.Helper()
	switch kind {
	case "sqlite":
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	case "postgres":
		dsn := os.Getenv(pgDSNEnv)
		if dsn == "" {
			t.Skip("set " + pgDSNEnv + "='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' to run against PostgreSQL")
		}
		schema := runID("reliability")
		ctx := context.Background()
		s, err := postgres.Open(ctx, dsn, &postgres.Options{Schema: schema, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			s.Close()
			dropSchema(t, dsn, schema)
		})
		return s
	}
	t.Fatalf("unknown store %q", kind)
	return nil
}

func dropSchema(t testing.TB, dsn, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
}

// count counts the events f selects.
func count(t testing.TB, q activitylog.Querier, f activitylog.Filter) int64 {
	t.Helper()
	n, err := q.Count(context.Background(), f)
	if err != nil {
		t.Fatalf("count %+v: %v", f, err)
	}
	return n
}

// lossTotals sums the counts of the audit_loss events stored: what the
// trail itself says was lost.
func lossTotals(t testing.TB, q activitylog.Querier) (dropped, refused, failed uint64, reports int) {
	t.Helper()
	f := activitylog.Filter{Kind: activitylog.KindSystem, Category: activitylog.CategoryAuditLoss, PageSize: activitylog.MaxPageSize, Ordering: "time"}
	for {
		p, err := q.Query(context.Background(), f)
		if err != nil {
			t.Fatalf("query loss reports: %v", err)
		}
		for _, e := range p.Events {
			num := func(k string) uint64 {
				v, ok := e.Extra[k].(float64)
				if !ok {
					t.Fatalf("loss report %s: extra %q is %T %v, not a number", e.ID, k, e.Extra[k], e.Extra[k])
				}
				return uint64(v)
			}
			dropped += num("dropped")
			refused += num("refused")
			failed += num("failed")
			reports++
		}
		if p.Next == "" {
			return
		}
		f.Cursor = p.Next
	}
}

// shutdown drains rec, with a deadline long enough for a slow store.
func shutdown(t testing.TB, rec *activitylog.Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := rec.Shutdown(ctx); err != nil {
		t.Fatalf("shut down recorder: %v", err)
	}
}

// heapAfterGC is the live heap, after a collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// slowWriter delays every Write: a store that absorbs less than the
// traffic. It counts the events it passed on.
type slowWriter struct {
	w     activitylog.Writer
	delay time.Duration
	mu    sync.Mutex
}

func (s *slowWriter) Write(ctx context.Context, es []activitylog.Event) error {
	// One write at a time, like a store with one connection.
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.w.Write(ctx, es)
}

// switchWriter fails every Write while down is set: a store that has
// gone away, in front of a real one.
type switchWriter struct {
	w    activitylog.Writer
	mu   sync.Mutex
	down bool
}

func (s *switchWriter) set(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

func (s *switchWriter) Write(ctx context.Context, es []activitylog.Event) error {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return fmt.Errorf("write %d events: store down: %w", len(es), activitylog.ErrUnavailable)
	}
	return s.w.Write(ctx, es)
}
