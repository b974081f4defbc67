package archive_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/archive"
)

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "crud/2026/03/01/crud-2026-03-01.ndjson.gz", "x/a.tenant=b%2F.2.ndjson.gz.sha256", "a+b=c"} {
		if err := archive.ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/etc/passwd", "../x", "a/../b", "a/./b", "a//b", "a/", ".hidden", "a/.tmp", `a\b`, "a b", "a\x00b", "c:x", "é", strings.Repeat("a", archive.MaxNameLen+1)} {
		if err := archive.ValidName(bad); err == nil {
			t.Errorf("ValidName(%q) = nil, want an error", bad)
		}
	}
}

// failAfter yields n bytes, then fails.
type failAfter struct{ n int }

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("source failed")
	}
	n := min(len(p), f.n)
	for i := range p[:n] {
		p[i] = 'x'
	}
	f.n -= n
	return n, nil
}

func TestDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "new", "root")
	d := archive.Dir{Root: root}
	if names, err := d.List(ctx, ""); err != nil || len(names) != 0 {
		t.Fatalf("List of a missing root = %q, %v", names, err)
	}
	if err := d.Put(ctx, "a/b/c.gz", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "a/b/c.gz", strings.NewReader("other")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Put over a file = %v, want fs.ErrExist", err)
	}
	rc, err := d.Open(ctx, "a/b/c.gz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "hello" {
		t.Fatalf("Open read %q", b)
	}
	if _, err := d.Open(ctx, "a/b/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing file = %v", err)
	}
	if _, err := d.Open(ctx, "a/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a directory = %v", err)
	}
	for _, bad := range []string{"../escape", "/abs", "a/../../x"} {
		if err := d.Put(ctx, bad, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) = nil", bad)
		}
		if _, err := d.Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) = nil", bad)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "..", "escape")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file escaped the root: %v", err)
	}
	// A source that fails leaves nothing, not even a temporary file.
	if err := d.Put(ctx, "a/b/d.gz", &failAfter{n: 100000}); err == nil || !strings.Contains(err.Error(), "source failed") {
		t.Fatalf("Put of a failing source = %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.Put(cancelled, "a/b/e.gz", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context = %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "a", "b"))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after failed puts, want 1", len(entries))
	}
	// A stray temporary file is not listed.
	os.WriteFile(filepath.Join(root, "a", "b", ".c.gz.tmp-1"), nil, 0o600)
	if err := d.Put(ctx, "z/y.gz", strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	for prefix, want := range map[string][]string{"": {"a/b/c.gz", "z/y.gz"}, "a/": {"a/b/c.gz"}, "a/b/c": {"a/b/c.gz"}, "z": {"z/y.gz"}, "q": nil} {
		got, err := d.List(ctx, prefix)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("List(%q) = %q, %v; want %q", prefix, got, err, want)
		}
	}
	if err := (archive.Dir{}).Put(ctx, "a", strings.NewReader("")); err == nil {
		t.Error("Put without a root = nil")
	}
}

// lying is a store whose count differs from its events, as when events
// are written into an archived day while it is archived.
type lying struct {
	activitylog.Querier
}

func (l lying) Count(ctx context.Context, f activitylog.Filter) (int64, error) {
	n, err := l.Querier.Count(ctx, f)
	return n + 1, err
}

// When the file would not hold what the store counts, nothing is
// stored and Archive fails.
func TestArchiveCountMismatch(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	selected, _ := fixture(2)
	if err := s.Write(ctx, selected); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	ar, err := archive.New(archive.Dir{Root: root}, lying{s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ar.Archive(ctx, request())
	if err == nil || !strings.Contains(err.Error(), "the file would hold 2 events, the store counts 3") || len(res.Files) != 0 {
		t.Fatalf("Archive = %+v, %v", res, err)
	}
	if names, _ := (archive.Dir{Root: root}).List(ctx, ""); len(names) != 0 {
		t.Fatalf("files stored: %q", names)
	}
}
