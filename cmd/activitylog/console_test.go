package main

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve mounts the console at / beside the API, which keeps /api/,
// /healthz and /readyz.
func TestServeConsole(t *testing.T) {
	t.Parallel()
	if !consoleBuilt {
		t.Skip("built with the noconsole tag")
	}
	s := startServe(t, "--db", filepath.Join(t.TempDir(), "c.db"))
	for _, tc := range []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html", `<script type="module" src="/assets/`},
		{"GET", "/events?kind=auth", 200, "text/html", `content="/api/v1"`},
		{"GET", "/login", 200, "text/html", "<main"},
		{"GET", "/nowhere", 404, "text/html", "<main"},
		{"POST", "/events", 405, "text/plain", ""},
		{"GET", "/healthz", 200, "application/json", `"status":"ok"`},
		{"GET", "/readyz", 200, "application/json", `"status":"ok"`},
		{"GET", "/api/v1/events", 401, "application/json", `"code":"unauthorized"`},
		{"GET", "/api/v1/nowhere", 404, "application/json", `"code":"not_found"`},
		{"GET", "/api/v1/openapi.json", 200, "application/json", `"openapi"`},
		{"GET", "/debug/vars", 401, "application/json", "superuser"},
	} {
		var body string
		code, hd := doRaw(t, s.url, tc.method, tc.path, &body)
		if code != tc.status || !strings.HasPrefix(hd.Get("Content-Type"), tc.ctype) || !strings.Contains(body, tc.body) {
			t.Errorf("%s %s: %d %q %.200q; want %d %q %q", tc.method, tc.path, code, hd.Get("Content-Type"), body, tc.status, tc.ctype, tc.body)
		}
		if strings.HasPrefix(tc.ctype, "text/") && !strings.Contains(hd.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s %s: no CSP on a console answer", tc.method, tc.path)
		}
	}
	var body string
	if doRaw(t, s.url, "GET", "/", &body); !strings.Contains(body, `name="activitylog-read-only" content="false"`) {
		t.Errorf("the console is read-only by default: %.300s", body)
	}
	s.stop(t)

	// console_read_only makes it read-only.
	s = startServe(t, "--db", filepath.Join(t.TempDir(), "r.db"), "--console-read-only")
	if doRaw(t, s.url, "GET", "/events", &body); !strings.Contains(body, `name="activitylog-read-only" content="true"`) {
		t.Errorf("console_read_only did not reach the console: %.300s", body)
	}
	s.stop(t)
}

// The noconsole build leaves the console out: / answers the API's JSON
// 404, as it did before the console.
func TestServeNoConsole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nc := filepath.Join(dir, "activitylog-noconsole")
	build := exec.Command("go", "build", "-tags", "noconsole", "-o", nc, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags noconsole: %v\n%s", err, out)
	}
	if out, err := exec.Command("go", "list", "-tags", "noconsole", "-deps", ".").Output(); err != nil {
		t.Fatalf("go list: %v", err)
	} else if strings.Contains(string(out), "github.com/activitylog/activitylog/console\n") {
		t.Error("the noconsole build still imports package console")
	}
	url := startBinary(t, nc, "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "n.db"))
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/", 404, `"no such route: /"`},
		{"/events", 404, `"no such route: /events"`},
		{"/healthz", 200, `"status":"ok"`},
		{"/api/v1/events", 401, `"unauthorized"`},
	} {
		var body string
		code, hd := doRaw(t, url, "GET", tc.path, &body)
		if code != tc.status || !strings.Contains(body, tc.body) || !strings.HasPrefix(hd.Get("Content-Type"), "application/json") {
			t.Errorf("noconsole GET %s: %d %q %q; want %d %q", tc.path, code, hd.Get("Content-Type"), body, tc.status, tc.body)
		}
	}
}

// doRaw sends one request without credentials.
func doRaw(t *testing.T, base, method, path string, body *string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	*body = string(b)
	return resp.StatusCode, resp.Header
}

// startBinary runs a binary built apart (not bin) and returns the URL
// of its listening line; it is killed when the test ends.
func startBinary(t *testing.T, path string, args ...string) string {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	urls := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteLine(sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(path), log.String())
		}
	})
	select {
	case u := <-urls:
		return u
	case <-done:
		t.Fatalf("%s exited before listening:\n%s", path, log.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: no listening line within 15s:\n%s", path, log.String())
	}
	return ""
}
