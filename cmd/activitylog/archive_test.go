package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/archive"
	"github.com/activitylog/activitylog/sqlite"
)

// archive restore, run as a user runs it: a good file loads back, once;
// a damaged one is refused and writes nothing.
func TestArchiveRestoreCommand(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.db"), filepath.Join(dir, "dst.db")
	seedOld(t, src, 40, "acme", 5, activitylog.KindCRUD)
	st, err := sqlite.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := archive.New(archive.Dir{Root: filepath.Join(dir, "archive")}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ar.Archive(context.Background(), activitylog.PurgeRequest{Before: time.Now().AddDate(0, 0, -30), AllTenants: true})
	st.Close()
	if err != nil || len(res.Files) != 1 || res.Events != 5 {
		t.Fatalf("archive: %v, %+v", err, res)
	}
	file := filepath.Join(dir, "archive", filepath.FromSlash(res.Files[0].Name))
	if r := runBin(t, nil, "migrate", "--db", dst); r.code != 0 {
		t.Fatal(r)
	}
	for range 2 { // twice: the second stores nothing new
		r := runBin(t, nil, "archive", "restore", file, "--db", dst)
		if r.code != 0 || !strings.Contains(r.stdout, "5 events restored or already present") {
			t.Fatalf("restore: %+v", r)
		}
	}
	if n := countKind(t, dst, activitylog.Filter{}); n != 5 {
		t.Fatalf("restored %d events, want 5", n)
	}
	// One byte changed: refused, nothing written.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	bad := filepath.Join(dir, "bad.ndjson.gz")
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sum, _ := os.ReadFile(file + ".sha256")
	os.WriteFile(bad+".sha256", []byte(strings.Replace(string(sum), filepath.Base(file), "bad.ndjson.gz", 1)), 0o600)
	empty := filepath.Join(dir, "empty.db")
	runBin(t, nil, "migrate", "--db", empty)
	r := runBin(t, nil, "archive", "restore", bad, "--db", empty)
	if r.code == 0 || !strings.Contains(r.stderr, "damaged") {
		t.Fatalf("damaged file: %+v", r)
	}
	if n := countKind(t, empty, activitylog.Filter{}); n != 0 {
		t.Fatalf("a damaged file wrote %d events", n)
	}
}
