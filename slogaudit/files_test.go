package slogaudit_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/slogaudit"
)

func readKinds(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range parseLines(t, b) {
		k, _ := m["kind"].(string)
		kinds = append(kinds, k)
	}
	return kinds
}

func TestFilesPerKind(t *testing.T) {
	dir := t.TempDir()
	files, err := slogaudit.NewFiles(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := slogaudit.NewWriter(files).Write(context.Background(), sampleEvents()); err != nil {
		t.Fatal(err)
	}
	// The application's own records go by level.
	l := slog.New(files)
	l.Info("app started")
	l.Log(context.Background(), slogaudit.LevelLogin, "by level")
	if err := files.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"audit.log": "crud export custom",
		"api.log":   "request cors external",
		"login.log": "auth ",
		"app.log":   "system system ",
	}
	for name, kinds := range want {
		if got := strings.Join(readKinds(t, filepath.Join(dir, name)), " "); got != kinds {
			t.Errorf("%s holds kinds %q, want %q", name, got, kinds)
		}
	}
	for _, k := range activitylog.Kinds {
		if f := slogaudit.FileFor(k); want[f] == "" {
			t.Errorf("FileFor(%s) = %q", k, f)
		}
	}
	if err := files.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "late", 0)); err == nil {
		t.Error("Handle after Close: no error")
	}
}

func TestFilesRotateBySize(t *testing.T) {
	dir := t.TempDir()
	files, err := slogaudit.NewFiles(dir, &slogaudit.FileOptions{MaxSizeMB: 1})
	if err != nil {
		t.Fatal(err)
	}
	l := slog.New(files)
	pad := strings.Repeat("x", 1000)
	const n = 1500 // about 1.6 MB
	for i := range n {
		l.Log(context.Background(), slogaudit.LevelAudit, "fill", "i", i, "pad", pad)
	}
	if err := files.Close(); err != nil {
		t.Fatal(err)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "audit-*.log"))
	if len(backups) != 1 {
		t.Fatalf("got backups %v, want one", backups)
	}
	total := countLines(t, filepath.Join(dir, "audit.log")) + countLines(t, backups[0])
	if total != n {
		t.Errorf("%d lines across the files, want %d", total, n)
	}
	for _, f := range append(backups, filepath.Join(dir, "audit.log")) {
		if fi, _ := os.Stat(f); fi.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, more than 1 MB", f, fi.Size())
		}
	}
}

func TestFilesRotateByAge(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	files, err := slogaudit.NewFiles(dir, &slogaudit.FileOptions{RotateEvery: 24 * time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	l := slog.New(files)
	l.Error("day one")
	mu.Lock()
	now = now.Add(23 * time.Hour)
	mu.Unlock()
	l.Error("still day one")
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	l.Error("day two")
	files.Close()
	backups, _ := filepath.Glob(filepath.Join(dir, "app-*.log"))
	if len(backups) != 1 || countLines(t, backups[0]) != 2 || countLines(t, filepath.Join(dir, "app.log")) != 1 {
		t.Errorf("backups %v: want one with two lines, and app.log with one", backups)
	}
}

func TestFilesConsoleFormat(t *testing.T) {
	dir := t.TempDir()
	files, err := slogaudit.NewFiles(dir, &slogaudit.FileOptions{Format: slogaudit.FormatConsole})
	if err != nil {
		t.Fatal(err)
	}
	slogaudit.NewWriter(files).Write(context.Background(), sampleEvents()[:1])
	files.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
	if !strings.HasPrefix(string(b), "2026-11-24T08:00:00.123Z AUDIT crud update invoice/INV-7 by ann (42)") || json.Valid(b) {
		t.Errorf("audit.log: %s", b)
	}
}

func TestNewFilesRefusesUnwritableDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "f")
	os.WriteFile(dir, nil, 0o600) // a file where the directory should be
	if _, err := slogaudit.NewFiles(dir, nil); err == nil {
		t.Error("no error")
	}
}
