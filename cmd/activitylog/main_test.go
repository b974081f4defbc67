package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/config"
)

// bin is the activitylog binary that TestMain builds once.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "activitylog-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "activitylog")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build activitylog:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// environ returns the test's environment without ACTIVITYLOG_
// variables, plus extra ("KEY=value").
func environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ACTIVITYLOG_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

type result struct {
	code           int
	stdout, stderr string
}

// runBin runs the binary to completion, with a 30s limit.
func runBin(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runBinInput(t, "", env, args...)
}

// runBinInput is runBin with stdin as the standard input.
func runBinInput(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = environ(env...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Dir = t.TempDir() // so that a default ./activitylog.db lands nowhere that matters
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, stdout.String(), stderr.String()}
}

// flagNames returns the flags of a command as the binary defines them.
func flagNames(t *testing.T, name string) []string {
	t.Helper()
	cmd := lookup(name)
	if cmd == nil {
		t.Fatalf("no command %s", name)
	}
	fs, _ := flagSet(cmd)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, out string, commands ...string) {
		t.Helper()
		for _, c := range commands {
			names := flagNames(t, c)
			if c != "version" && len(names) == 0 {
				t.Fatalf("command %s has no flags", c)
			}
			for _, n := range names {
				if !regexp.MustCompile(`(?m)^  --` + regexp.QuoteMeta(n) + `( |$)`).MatchString(out) {
					t.Errorf("help does not document flag --%s of %s", n, c)
				}
				if s := config.Lookup(strings.ReplaceAll(n, "-", "_")); s != nil {
					if !strings.Contains(out, s.Describe()) {
						t.Errorf("help does not give --%s's env, key and default: %q", n, s.Describe())
					}
				}
			}
		}
		if !strings.Contains(out, config.ConfigEnv) {
			t.Errorf("help does not name %s", config.ConfigEnv)
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"-help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runBin(t, nil, args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			check(t, r.stdout, "serve", "migrate")
			for _, c := range commands {
				if !strings.Contains(r.stdout, "  "+c.name+" ") {
					t.Errorf("help does not list command %s", c.name)
				}
			}
			for _, s := range []string{"127.0.0.1:8080", "loopback", "./activitylog.db", "200ms", "30s"} {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("help does not mention %q", s)
				}
			}
		})
	}
	for _, tc := range []struct {
		command string
		args    []string
	}{
		{"serve", []string{"serve", "--help"}},
		{"serve", []string{"serve", "-h"}},
		{"serve", []string{"help", "serve"}},
		{"migrate", []string{"migrate", "--help"}},
		{"migrate", []string{"help", "migrate"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runBin(t, nil, tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			check(t, r.stdout, tc.command)
		})
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"serve", "--bogus"}, "activitylog serve: unknown flag --bogus"},
		{[]string{"serve", "-bogus=1"}, "unknown flag --bogus"},
		{[]string{"migrate", "--addr", "127.0.0.1:1"}, "activitylog migrate: unknown flag --addr"},
		{[]string{"version", "--db", "x"}, "activitylog version: unknown flag --db"},
		{[]string{"serve", "--addr"}, "flag --addr needs a value"},
		{[]string{"serve", "now"}, `unexpected argument "now"`},
		{[]string{"help", "bogus"}, `unknown command "bogus"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runBin(t, nil, tc.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2", r.code)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "--version"} {
		r := runBin(t, nil, arg)
		if r.code != 0 || !regexp.MustCompile(`^activitylog \S+ \(.*go1\.\d+.*\)\n$`).MatchString(r.stdout) {
			t.Errorf("%s: exit %d, stdout %q", arg, r.code, r.stdout)
		}
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "m.db")
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(db) + `: schema version (\d+) \(applied (\d+) migrations?\)\n$`)
	parse := func(r result) (version, applied int) {
		t.Helper()
		m := re.FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		v, _ := strconv.Atoi(m[1])
		a, _ := strconv.Atoi(m[2])
		return v, a
	}
	v1, a1 := parse(runBin(t, nil, "migrate", "--db", db))
	if v1 < 1 || a1 != v1 {
		t.Errorf("new database: version %d, applied %d", v1, a1)
	}
	// Again, through the environment: nothing left to apply.
	v2, a2 := parse(runBin(t, []string{"ACTIVITYLOG_DB=" + db}, "migrate"))
	if v2 != v1 || a2 != 0 {
		t.Errorf("second run: version %d, applied %d; want %d, 0", v2, a2, v1)
	}
}

func TestBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("db: "+filepath.Join(dir, "x.db")+"\nadr: 127.0.0.1:0\n"), 0o600)
	badValue := filepath.Join(dir, "value.yaml")
	os.WriteFile(badValue, []byte("flush_interval: soon\n"), 0o600)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown key", nil, []string{"serve", "--config", bad}, `config: ` + bad + ` line 2: unknown key "adr" (did you mean "addr"?)`},
		{"unknown key, env", []string{"ACTIVITYLOG_CONFIG=" + bad}, []string{"migrate"}, `line 2: unknown key "adr"`},
		{"bad value in file", nil, []string{"serve", "--config", badValue}, `config: flush_interval "soon": is not a duration`},
		{"bad env", []string{"ACTIVITYLOG_ON_FULL=sometimes"}, []string{"serve"},
			`config: on_full "sometimes": must be one of block, drop, fail (set by ACTIVITYLOG_ON_FULL)`},
		{"bad flag value", nil, []string{"serve", "--queue-size", "many"}, `config: queue_size "many": is not an integer (set by --queue-size)`},
		{"missing file", nil, []string{"serve", "--config", filepath.Join(dir, "none.yaml")}, "none.yaml: cannot read: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBin(t, tc.env, tc.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2", r.code)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "listening") {
				t.Error("served despite a bad configuration")
			}
		})
	}
}

// A runtime failure (the address is taken) exits 1 and says why.
func TestServeListenFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := runBin(t, nil, "serve", "--addr", ln.Addr().String(), "--db", filepath.Join(t.TempDir(), "a.db"))
	if r.code != 1 || !strings.Contains(r.stderr, "listen on "+ln.Addr().String()) {
		t.Errorf("exit %d, stderr %q; want 1 and the listen error", r.code, r.stderr)
	}
}

// serveProc is a running `activitylog serve`.
type serveProc struct {
	url string
	key string // the API key it printed on its first start; "" when it printed none
	// password is the console user's it printed on its first start.
	password string
	cmd      *exec.Cmd
	log      *syncBuffer
	done     chan error // the result of Wait
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) WriteLine(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(line + "\n")
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	listening    = regexp.MustCompile(`^activitylog: listening on (http://127\.0\.0\.1:\d+)$`)
	bootstrapKey = regexp.MustCompile(`^activitylog:\s+(alk_[0-9a-f]{16}_[a-z2-7]{52})$`)
	bootstrapPW  = regexp.MustCompile(`^activitylog:\s+password (\S+)$`)
)

// startServe runs `activitylog serve args…` and waits for its
// listening line.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serveProc{cmd: cmd, log: &syncBuffer{}, done: make(chan error, 1)}
	urls := make(chan string, 1)
	keys := make(chan string, 1)
	passwords := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.log.WriteLine(sc.Text())
			if m := bootstrapKey.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case keys <- m[1]:
				default:
				}
			}
			if m := bootstrapPW.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case passwords <- m[1]:
				default:
				}
			}
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		s.done <- cmd.Wait() // after the pipe is drained, as Wait requires
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("activitylog serve log:\n%s", s.log.String())
		}
	})
	select {
	case s.url = <-urls:
		select { // printed before the listening line, if at all
		case s.key = <-keys:
		default:
		}
		select {
		case s.password = <-passwords:
		default:
		}
	case err := <-s.done:
		t.Fatalf("serve exited before listening: %v\n%s", err, s.log.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("no listening line within 15s:\n%s", s.log.String())
	}
	return s
}

// stop sends SIGTERM and wants a clean exit.
func (s *serveProc) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		s.done <- err // for Cleanup
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, s.log.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not exit within 15s of SIGTERM:\n%s", s.log.String())
	}
}

// get GETs path with key as the bearer token ("" for none) and
// decodes the answer into v.
func (s *serveProc) get(t *testing.T, key, path string, v any) int {
	t.Helper()
	return s.do(t, "GET", key, path, "", v)
}

// do sends a request with key as the bearer token ("" for none) and
// decodes the answer into v: a *string takes the body as it is.
func (s *serveProc) do(t *testing.T, method, key, path, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if p, ok := v.(*string); ok {
			*p = string(b)
		} else if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

type list struct {
	Count   int64               `json:"count"`
	Results []activitylog.Event `json:"results"`
}

func TestServeSurvivesRestart(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "a.db")
	s := startServe(t, "--db", db, "--service", "cli-test")
	if s.key == "" {
		t.Fatal("the first start printed no API key")
	}
	key := s.key

	body := `{"kind":"crud","action":"update","actor":{"id":"user-42","name":"Ann"},` +
		`"object":{"type":"invoice","id":"INV-7"},"changes":{"status":{"old":"draft","new":"sent"}}}`
	var posted struct {
		Accepted int      `json:"accepted"`
		IDs      []string `json:"ids"`
	}
	if code := s.do(t, "POST", key, "/api/v1/events", body, &posted); code != http.StatusCreated || posted.Accepted != 1 || len(posted.IDs) != 1 {
		t.Fatalf("POST: status %d, %+v", code, posted)
	}

	find := func(s *serveProc) {
		t.Helper()
		var l list
		q := url.Values{"kind": {"crud"}, "user_id": {"user-42"}}
		if code := s.get(t, key, "/api/v1/events?"+q.Encode(), &l); code != 200 {
			t.Fatalf("GET: status %d", code)
		}
		if l.Count != 1 || len(l.Results) != 1 {
			t.Fatalf("GET found %d events, want 1: %+v", l.Count, l.Results)
		}
		e := l.Results[0]
		if e.ID.String() != posted.IDs[0] || e.Object.ID != "INV-7" || e.Service != "cli-test" || e.Changes["status"].New != "sent" {
			t.Errorf("stored event %+v", e)
		}
	}
	find(s)

	if code := s.get(t, "", "/readyz", nil); code != 200 {
		t.Errorf("/readyz: %d", code)
	}
	if code := s.get(t, "", "/healthz", nil); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	var vars struct {
		Activitylog *activitylog.Stats `json:"activitylog"`
	}
	if code := s.get(t, "", "/debug/vars", nil); code != 401 {
		t.Errorf("/debug/vars without a key: status %d, want 401", code)
	}
	if code := s.get(t, s.key, "/debug/vars", &vars); code != 200 || vars.Activitylog == nil || vars.Activitylog.Written < 1 {
		t.Errorf("/debug/vars: status %d, activitylog %+v", code, vars.Activitylog)
	}
	if code := s.get(t, "", "/demo/products", nil); code != 404 {
		t.Errorf("/demo/products without --demo: status %d, want 404", code)
	}
	s.stop(t)
	if !strings.Contains(s.log.String(), "shutting down") {
		t.Errorf("no shutdown line in the log:\n%s", s.log.String())
	}

	s2 := startServe(t, "--db", db)
	if s2.key != "" || strings.Contains(s2.log.String(), key) {
		t.Errorf("the second start showed a key:\n%s", s2.log.String())
	}
	find(s2)
	s2.stop(t)
}

func TestServeDemo(t *testing.T) {
	t.Parallel()
	s := startServe(t, "--demo", "--demo-interval", "20ms", "--db", filepath.Join(t.TempDir(), "demo.db"))
	if code := s.get(t, "", "/api/v1/events", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/events without a key: %d, want 401", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var requests, crud list
		s.get(t, s.key, "/api/v1/events?kind=request&page_size=100", &requests)
		// Orders: the first start records the making of its API key too.
		s.get(t, s.key, "/api/v1/events?kind=crud&action=create&object_type=order&page_size=100", &crud)
		demoPaths := 0
		for _, e := range requests.Results {
			if strings.HasPrefix(e.Request.Path, "/demo/") {
				demoPaths++
			}
		}
		if demoPaths > 0 && len(crud.Results) > 0 {
			if demoPaths != len(requests.Results) {
				t.Errorf("%d of %d request events are for paths under /demo/, want all", demoPaths, len(requests.Results))
			}
			for _, e := range crud.Results {
				if got := e.Changes["card_number"].New; got != activitylog.DefaultMask {
					t.Errorf("stored order %s has card_number %v, want %s", e.Object.ID, got, activitylog.DefaultMask)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %d request events (%d under /demo/), %d crud create events", requests.Count, demoPaths, crud.Count)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var all string
	s.get(t, s.key, "/api/v1/events?page_size=1000", &all)
	for _, secret := range []string{"4111 1111 1111 1111", "4111111111111111"} {
		if strings.Contains(all, secret) {
			t.Errorf("GET /api/v1/events shows the card number %q", secret)
		}
	}
	s.stop(t)
}
