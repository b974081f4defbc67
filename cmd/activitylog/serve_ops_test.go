package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

var createdKey = regexp.MustCompile(`alk_[0-9a-f]{16}_[a-z2-7]{52}`)

// newKey makes an API key with scopes through the CLI.
func newKey(t *testing.T, db, name, scopes string) string {
	t.Helper()
	r := runBin(t, nil, "api-keys", "create", "--db", db, "--name", name, "--scopes", scopes)
	k := createdKey.FindString(r.stdout + r.stderr)
	if r.code != 0 || k == "" {
		t.Fatalf("api-keys create: %+v", r)
	}
	return k
}

// GET /metrics: view_metrics keys only, and the counters a scrape shows
// are those of what was recorded.
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "m.db")
	s := startServe(t, "--db", db)
	prom := newKey(t, db, "prometheus", "view_metrics")
	reader := newKey(t, db, "reader", "view_all_logs")
	postEvents(t, s, s.key, 5)
	var body string
	for _, c := range []struct {
		key  string
		want int
	}{{"", 401}, {reader, 403}, {prom, 200}, {s.key, 200}} {
		if code := s.get(t, c.key, "/metrics", &body); code != c.want {
			t.Errorf("GET /metrics with %.12q: %d, want %d", c.key, code, c.want)
		}
	}
	// A view_metrics key reads nothing else.
	if code := s.get(t, prom, "/api/v1/events", nil); code != 403 {
		t.Errorf("view_metrics key on /api/v1/events: %d, want 403", code)
	}
	for _, want := range []string{
		`activitylog_events_total{kind="custom",outcome="written",writer="store"} 5`,
		`activitylog_events_total{kind="custom",outcome="failed",writer="store"} 0`,
		`activitylog_queue_depth 0`,
		`activitylog_write_duration_seconds_count{writer="store"}`,
		`activitylog_stream_subscribers 0`,
		`go_goroutines`, `process_cpu_seconds_total`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
	s.stop(t)
}

// Retention in serve: the policies API, a dry run and run-now; and the
// scheduler (retention_interval) applying default_retention_days.
func TestServeRetention(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "r.db")
	s := startServe(t, "--db", db, "--default-retention-days", "30", "--retention-interval", "1s")
	old := time.Now().UTC().AddDate(0, 0, -100).Format(time.RFC3339)
	var b strings.Builder
	b.WriteString("[")
	for i := range 6 {
		if i > 0 {
			b.WriteString(",")
		}
		kind, action := "custom", "old"
		if i%2 == 1 {
			kind, action = "crud", "update"
		}
		fmt.Fprintf(&b, `{"kind":%q,"action":%q,"time":%q,"object":{"type":"order","id":"%d"}}`, kind, action, old, i)
	}
	b.WriteString("]")
	if code := s.do(t, "POST", s.key, "/api/v1/events", b.String(), nil); code != http.StatusCreated {
		t.Fatalf("POST old events: %d", code)
	}
	postEvents(t, s, s.key, 2) // recent: they stay
	// The scheduler runs every second: the 100-day-old events go.
	var page struct {
		Count int `json:"count"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.get(t, s.key, "/api/v1/events?action=old", &page)
		if page.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old events still there after 20s: %d", page.Count)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.get(t, s.key, "/api/v1/events?action=sealed-0", &page)
	if page.Count != 1 {
		t.Errorf("recent event gone: count %d", page.Count)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s.get(t, s.key, "/api/v1/events?kind=system&category=retention", &page)
		if page.Count >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention runs not recorded: %d records", page.Count)
		}
	}
	// A policy through the API: created, then a run-now of it.
	var pol struct {
		ID string `json:"id"`
	}
	if code := s.do(t, "POST", s.key, "/api/v1/retention-policies", `{"name":"custom-1d","kind":"custom","retain_days":1,"active":true}`, &pol); code != http.StatusCreated || pol.ID == "" {
		t.Fatalf("create policy: %d %+v", code, pol)
	}
	if code := s.do(t, "POST", s.key, "/api/v1/retention-policies/"+pol.ID+"/run-now", "", nil); code != http.StatusOK {
		t.Fatalf("run-now: %d", code)
	}
	if code := s.do(t, "POST", s.key, "/api/v1/retention-policies", `{"name":"bad","kind":"crudd","retain_days":0}`, nil); code != http.StatusBadRequest {
		t.Errorf("bad policy: %d, want 400", code)
	}
	var body string
	s.get(t, s.key, "/metrics", &body)
	if !regexp.MustCompile(`activitylog_retention_events_deleted_total [1-9]`).MatchString(body) {
		t.Errorf("retention deletions not in /metrics")
	}
	s.stop(t)
}

// SIGHUP reopens log_file: after logrotate moved it, the log goes on in
// a new file at the path.
func TestServeSIGHUPReopensLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "activitylog.log")
	s := startServe(t, "--db", filepath.Join(dir, "h.db"), "--log-file", logPath)
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "SIGHUP: log reopened") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new log file with the SIGHUP line; %s holds %q", logPath, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if old, _ := os.ReadFile(logPath + ".1"); strings.Contains(string(old), "SIGHUP") {
		t.Errorf("the rotated file got the line after SIGHUP: %q", old)
	}
	s.stop(t) // SIGHUP did not end it
}

var drainLine = regexp.MustCompile(`stopped before the queue drained: (\d+) events spooled to .* (\d+) failed; recorded (\d+), written (\d+)`)

// A second SIGTERM stops serve at once: what the store did not take
// goes to the spool, the count is printed, and the next start replays
// it: every event the Recorder accepted ends up stored.
func TestServeSecondSignalSpools(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, sp := filepath.Join(dir, "s.db"), filepath.Join(dir, "spool")
	s := startServe(t, "--db", db, "--spool-dir", sp, "--write-timeout", "200ms", "--shutdown-timeout", "60s",
		"--demo", "--demo-interval", "2ms")
	time.Sleep(300 * time.Millisecond) // some events stored
	// Another process holds the database's write lock: the store stops
	// taking batches. (It waits for serve's write in progress to end:
	// without a busy timeout, BEGIN EXCLUSIVE failed with SQLITE_BUSY
	// when it came during one.)
	lock, err := sql.Open("sqlite", db+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	conn, err := lock.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // events pile up in the queue and the spool
	for range 2 {
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	select {
	case <-s.done:
		s.done <- nil
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop within 20s of the second signal:\n%s", s.log.String())
	}
	m := drainLine.FindStringSubmatch(s.log.String())
	if m == nil {
		t.Fatalf("no count of what was spooled:\n%s", s.log.String())
	}
	var spilled, failed, recorded int
	fmt.Sscan(m[1], &spilled)
	fmt.Sscan(m[2], &failed)
	fmt.Sscan(m[3], &recorded)
	if failed != 0 || recorded == 0 {
		t.Fatalf("spilled %d, failed %d, recorded %d", spilled, failed, recorded)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	lock.Close()
	// The next start replays the spool into the store.
	s2 := startServe(t, "--db", db, "--spool-dir", sp)
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := countKind(t, db, activitylog.Filter{})
		if n >= int64(recorded) {
			if n != int64(recorded) {
				t.Errorf("stored %d events, recorded %d", n, recorded)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored %d of the %d events recorded (%d spilled)", n, recorded, spilled)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s2.stop(t)
	t.Logf("recorded %d, spilled at the second signal %d", recorded, spilled)
}
