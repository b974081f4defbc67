package sftpaudit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sftpaudit"
)

// checkFileEvent checks the fields every file operation's event has.
func checkFileEvent(t *testing.T, s *sshServer, e activitylog.Event, action, objType, path string, failed bool) {
	t.Helper()
	if e.Kind != activitylog.KindExternal || e.Tool != "sftp" || e.Action != action {
		t.Errorf("kind, tool, action = %s, %s, %s; want external, sftp, %s", e.Kind, e.Tool, e.Action, action)
	}
	if e.Object != (activitylog.Object{Type: objType, ID: path}) {
		t.Errorf("object = %+v, want %s %q", e.Object, objType, path)
	}
	if e.Extra["host"] != s.addr || e.Extra["user"] != testUser || e.Extra["path"] != path {
		t.Errorf("extra = %v, want host, user and path", e.Extra)
	}
	if e.Response.Duration <= 0 {
		t.Error("no duration")
	}
	if want := map[bool]activitylog.Severity{false: "info", true: "error"}[failed]; e.Severity != want {
		t.Errorf("severity = %s, want %s", e.Severity, want)
	}
	if _, has := e.Extra["error"]; has != failed {
		t.Errorf("extra error = %v, want one: %v", e.Extra["error"], failed)
	}
	if err := e.Validate(); err != nil && !isOnlyMissingID(err) {
		t.Errorf("event does not validate: %v", err)
	}
}

func TestUpload(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	c, rec := s.dial(t, nil)
	ctx := context.Background()

	big := make([]byte, 1<<20+123)
	rand.Read(big)
	for _, tc := range []struct {
		name, path string
		data       []byte
	}{
		{"small", "a.txt", []byte("hello world")},
		{"empty", "empty.txt", nil},
		{"big", "big.bin", big},
	} {
		n, err := c.Upload(ctx, tc.path, bytes.NewReader(tc.data))
		if err != nil || n != int64(len(tc.data)) {
			t.Fatalf("%s: Upload = %d, %v; want %d, nil", tc.name, n, err, len(tc.data))
		}
		got, err := os.ReadFile(filepath.Join(s.root, tc.path))
		if err != nil || !bytes.Equal(got, tc.data) {
			t.Errorf("%s: the remote file holds %d bytes (%v), want what was sent", tc.name, len(got), err)
		}
		e := rec.one(t)
		checkFileEvent(t, s, e, "upload", "file", tc.path, false)
		if e.Extra["bytes"] != n || e.Response.RequestBytes != n {
			t.Errorf("%s: bytes = %v, %d; want %d", tc.name, e.Extra["bytes"], e.Response.RequestBytes, n)
		}
		if want := fmt.Sprintf("upload %s (%d bytes)", tc.path, n); e.Message != want {
			t.Errorf("message = %q, want %q", e.Message, want)
		}
	}

	// Uploading truncates what was there.
	if _, err := c.Upload(ctx, "a.txt", strings.NewReader("hi")); err != nil {
		t.Fatal(err)
	}
	rec.one(t)
	if got, _ := os.ReadFile(filepath.Join(s.root, "a.txt")); string(got) != "hi" {
		t.Errorf("after a second upload the file holds %q, want hi", got)
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestUploadErrors(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	c, rec := s.dial(t, nil)
	ctx := context.Background()

	// Into a directory that does not exist.
	n, err := c.Upload(ctx, "nodir/a.txt", strings.NewReader("x"))
	if n != 0 || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nodir/a.txt") {
		t.Errorf("Upload = %d, %v; want 0 and a not-exist error naming the path", n, err)
	}
	e := rec.one(t)
	checkFileEvent(t, s, e, "upload", "file", "nodir/a.txt", true)
	if e.Extra["error"] != err.Error() || e.Message != "upload nodir/a.txt (0 bytes) failed: "+err.Error() {
		t.Errorf("error, message = %q, %q", e.Extra["error"], e.Message)
	}

	// A reader that fails part way.
	broken := errors.New("disk on fire")
	n, err = c.Upload(ctx, "part.txt", io.MultiReader(strings.NewReader("abc"), failingReader{broken}))
	if !errors.Is(err, broken) {
		t.Errorf("Upload error = %v, want the reader's", err)
	}
	e = rec.one(t)
	checkFileEvent(t, s, e, "upload", "file", "part.txt", true)
	if e.Extra["bytes"] != n {
		t.Errorf("bytes = %v, want %d", e.Extra["bytes"], n)
	}
}

// cancellingReader cancels its context after its first read.
type cancellingReader struct {
	cancel context.CancelFunc
	reads  int
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	r.reads++
	if r.reads == 1 {
		r.cancel()
		return copy(p, "first"), nil
	}
	return copy(p, "more"), nil
}

// Cancelling the context stops a transfer, and the event is recorded
// all the same, with a context that is not cancelled.
func TestUploadCancel(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	c, rec := s.dial(t, nil)
	ctx, cancel := context.WithCancel(activitylog.WithTenant(context.Background(), "acme"))
	r := &cancellingReader{cancel: cancel}
	_, err := c.Upload(ctx, "c.txt", r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Upload error = %v, want Canceled", err)
	}
	if r.reads != 1 {
		t.Errorf("the reader was read %d times after cancel", r.reads-1)
	}
	rec.mu.Lock()
	rctx := rec.ctxs[0]
	rec.mu.Unlock()
	if rctx.Err() != nil || activitylog.TenantFrom(rctx) != "acme" {
		t.Errorf("record context: err %v, tenant %q; want not done, the call's values", rctx.Err(), activitylog.TenantFrom(rctx))
	}
	checkFileEvent(t, s, rec.one(t), "upload", "file", "c.txt", true)

	// Every operation on a done context fails at once, and is recorded.
	for name, op := range map[string]func() error{
		"upload":   func() error { _, err := c.Upload(ctx, "d.txt", strings.NewReader("x")); return err },
		"download": func() error { _, err := c.Download(ctx, "c.txt", io.Discard); return err },
		"remove":   func() error { return c.Remove(ctx, "c.txt") },
		"rename":   func() error { return c.Rename(ctx, "c.txt", "e.txt") },
		"mkdir":    func() error { return c.Mkdir(ctx, "dir") },
	} {
		if err := op(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error = %v, want Canceled", name, err)
		}
		if e := rec.one(t); e.Action != name || e.Severity != "error" {
			t.Errorf("%s: event = %+v", name, e)
		}
	}
	if _, err := os.Stat(filepath.Join(s.root, "d.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("upload on a done context created the file: %v", err)
	}
}

func TestDownload(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	c, rec := s.dial(t, nil)
	ctx := context.Background()
	data := make([]byte, 300<<10)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(s.root, "d.bin"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := c.Download(ctx, "d.bin", &buf)
	if err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("Download = %d, %v; want %d bytes, the file's", n, err, len(data))
	}
	e := rec.one(t)
	checkFileEvent(t, s, e, "download", "file", "d.bin", false)
	if e.Extra["bytes"] != n || e.Response.ResponseBytes != n || e.Message != fmt.Sprintf("download d.bin (%d bytes)", n) {
		t.Errorf("bytes, message = %v, %d, %q", e.Extra["bytes"], e.Response.ResponseBytes, e.Message)
	}

	_, err = c.Download(ctx, "missing.bin", &buf)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.bin") {
		t.Errorf("Download(missing) error = %v, want a not-exist error naming the path", err)
	}
	checkFileEvent(t, s, rec.one(t), "download", "file", "missing.bin", true)
}

func TestRemove(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	c, rec := s.dial(t, nil)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(s.root, "r.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "r.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.root, "r.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the file is still there: %v", err)
	}
	e := rec.one(t)
	checkFileEvent(t, s, e, "remove", "file", "r.txt", false)
	if e.Message != "remove r.txt" {
		t.Errorf("message = %q", e.Message)
	}

	err := c.Remove(ctx, "r.txt")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove(missing) error = %v, want ErrNotExist", err)
	}
	e = rec.one(t)
	checkFileEvent(t, s, e, "remove", "file", "r.txt", true)
	if e.Message != "remove r.txt failed: "+err.Error() {
		t.Errorf("message = %q", e.Message)
	}
}

func TestRename(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	c, rec := s.dial(t, nil)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(s.root, "old.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(ctx, "old.txt", "new.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.root, "new.txt")); err != nil {
		t.Errorf("new.txt: %v", err)
	}
	e := rec.one(t)
	checkFileEvent(t, s, e, "rename", "file", "old.txt", false)
	if e.Extra["new_path"] != "new.txt" || e.Message != "rename old.txt to new.txt" {
		t.Errorf("new_path, message = %v, %q", e.Extra["new_path"], e.Message)
	}

	err := c.Rename(ctx, "old.txt", "other.txt")
	var le *os.LinkError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &le) || le.Old != "old.txt" || le.New != "other.txt" {
		t.Errorf("Rename(missing) error = %#v, want an *os.LinkError wrapping ErrNotExist", err)
	}
	checkFileEvent(t, s, rec.one(t), "rename", "file", "old.txt", true)
}

func TestMkdir(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	c, rec := s.dial(t, nil)
	ctx := context.Background()

	if err := c.Mkdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(s.root, "d")); err != nil || !fi.IsDir() {
		t.Errorf("d: %v", err)
	}
	e := rec.one(t)
	checkFileEvent(t, s, e, "mkdir", "directory", "d", false)
	if _, ok := e.Extra["parents"]; ok {
		t.Error("Mkdir's event says parents")
	}

	if err := c.Mkdir(ctx, "x/y"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Mkdir without a parent: %v, want ErrNotExist", err)
	}
	checkFileEvent(t, s, rec.one(t), "mkdir", "directory", "x/y", true)

	for i := 0; i < 2; i++ { // the second time it exists already
		if err := c.MkdirAll(ctx, "x/y/z"); err != nil {
			t.Fatal(err)
		}
		e := rec.one(t)
		checkFileEvent(t, s, e, "mkdir", "directory", "x/y/z", false)
		if e.Extra["parents"] != true {
			t.Error("MkdirAll's event does not say parents")
		}
	}
	if fi, err := os.Stat(filepath.Join(s.root, "x/y/z")); err != nil || !fi.IsDir() {
		t.Errorf("x/y/z: %v", err)
	}
}

// A path of any length leaves a valid event.
func TestLongPath(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	c, rec := s.dial(t, nil)
	long := strings.Repeat("ü", 40<<10) // 80 KiB
	if err := c.Rename(context.Background(), long, long); err == nil {
		t.Fatal("renaming an 80 KiB path succeeded")
	}
	e := rec.one(t)
	if err := e.Validate(); err != nil && !isOnlyMissingID(err) {
		t.Errorf("event does not validate: %v", err)
	}
	if p := e.Extra["path"].(string); len(p) > activitylog.MaxTextField || !strings.HasSuffix(p, "…") {
		t.Errorf("path is %d bytes, want it clipped", len(p))
	}
}

// A Record error goes to OnError and changes nothing for the caller.
func TestRecordError(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	var (
		mu   sync.Mutex
		errs []error
	)
	c, rec := s.dial(t, &sftpaudit.Options{OnError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}})
	rec.err = activitylog.ErrQueueFull
	if n, err := c.Upload(context.Background(), "a.txt", strings.NewReader("abc")); n != 3 || err != nil {
		t.Errorf("Upload = %d, %v; want 3, nil", n, err)
	}
	if err := c.Remove(context.Background(), "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove error = %v, want the operation's own", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 2 || !errors.Is(errs[0], activitylog.ErrQueueFull) {
		t.Errorf("OnError got %v, want ErrQueueFull twice", errs)
	}
}

// Operations through Raw are not recorded; the Client may be used from
// many goroutines at once.
func TestRawAndConcurrency(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	c, rec := s.dial(t, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("f%d.txt", i)
			if _, err := c.Upload(context.Background(), name, strings.NewReader(name)); err != nil {
				t.Error(err)
			}
			if _, err := c.Raw().Stat(name); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != 8 {
		t.Errorf("recorded %d events, want 8 uploads", len(rec.events))
	}
}
