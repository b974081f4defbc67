package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sqlite"
)

// TestMain runs the program itself when the test binary is started with
// runEnv set, so that the tests can run it as a process of its own.
func TestMain(m *testing.M) {
	if os.Getenv(runEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const runEnv = "ACTIVITYLOG_README_EXAMPLE_RUN"

// TestREADMESnippetIsThisProgram holds the README's snippet to this
// file: each of its lines, in order, is a line of main.go.
func TestREADMESnippetIsThisProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Add it to a net/http service")
	if !ok {
		t.Fatal(`README.md has no section "Add it to a net/http service"`)
	}
	_, block, ok := strings.Cut(after, "```go\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the section has no go block")
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	prog := strings.Split(string(src), "\n")
	at := 0
	for _, line := range strings.Split(block, "\n") {
		want := strings.TrimSpace(line)
		if want == "" {
			continue
		}
		for at < len(prog) && strings.TrimSpace(prog[at]) != want {
			at++
		}
		if at == len(prog) {
			t.Fatalf("README line %q is not in main.go (after the lines before it)", want)
		}
		at++
	}
}

// run starts the program in dir.
func run(t *testing.T, dir string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stderr
}

// wait waits for cmd to end and returns its exit code.
func wait(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the program did not end within 30 s")
		return -1
	}
}

// TestPortTakenExitsNonZero: a listen error ends the program with
// status 1 and the error, not a quiet 0.
func TestPortTakenExitsNonZero(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:3000")
	if err == nil { // else another process holds it: taken all the same
		defer ln.Close()
	}
	cmd, stderr := run(t, t.TempDir())
	if code := wait(t, cmd); code != 1 {
		t.Fatalf("exit status %d, want 1; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "address already in use") {
		t.Fatalf("stderr does not name the listen error:\n%s", stderr)
	}
}

// TestInterruptStoresEveryRequest: every request answered before SIGINT
// is in audit.db once the program has exited, with status 0.
func TestInterruptStoresEveryRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:3000")
	if err != nil {
		t.Skipf("127.0.0.1:3000, the README's address, is taken by another process: %v", err)
	}
	ln.Close()
	dir := t.TempDir()
	cmd, stderr := run(t, dir)
	defer cmd.Process.Kill()

	client := &http.Client{Timeout: 5 * time.Second}
	answered := 0
	get := func() bool {
		resp, err := client.Get("http://127.0.0.1:3000/invoices")
		if err != nil {
			return false
		}
		resp.Body.Close()
		answered++
		return resp.StatusCode == http.StatusOK
	}
	for deadline := time.Now().Add(20 * time.Second); !get(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the program did not answer within 20 s; stderr:\n%s", stderr)
		}
	}
	for range 200 {
		if !get() {
			t.Fatalf("a request failed; stderr:\n%s", stderr)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := wait(t, cmd); code != 0 {
		t.Fatalf("exit status %d after SIGINT, want 0; stderr:\n%s", code, stderr)
	}

	store, err := sqlite.Open(filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	n, err := store.Count(context.Background(), activitylog.Filter{Kind: activitylog.KindRequest})
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(answered) {
		t.Fatalf("%d request events stored for %d requests answered", n, answered)
	}
}
