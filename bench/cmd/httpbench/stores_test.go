package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStoresQuick runs the -stores mode's SQLite parts at tiny sizes
// and checks that the report has every section, that every ingest run
// stored exactly the events it wrote, and that the sealed trail
// verified whole. Timings are never asserted.
func TestStoresQuick(t *testing.T) {
	const n = 3000
	cfg := StoresConfig{Duration: 300 * time.Millisecond, Rounds: 2, Backends: []string{"sqlite"}, N: n,
		StoreDir: t.TempDir(), QueryRuns: 20, Log: tlog{t}}
	cfg.setDefaults()
	res, err := RunStores(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Ingest) != 2*3 {
		t.Fatalf("%d ingest runs, want 6 (2 rounds of raw, store, sealed)", len(res.Ingest))
	}
	for _, r := range res.Ingest {
		if r.Written == 0 || r.Stored != r.Written {
			t.Errorf("round %d, %s %s: %d stored, %d written", r.Round, r.Backend, r.Variant, r.Stored, r.Written)
		}
	}
	if len(res.Verify) != 2 {
		t.Fatalf("%d verify runs, want 2", len(res.Verify))
	}
	for _, v := range res.Verify {
		if !v.OK || v.Events != n {
			t.Errorf("verify: ok %v, %d events read, want %d", v.OK, v.Events, n)
		}
	}
	rep := &StoresReport{Config: cfg, Machine: readMachine(), Command: "test", Start: time.Now(), Result: res}
	if errs := rep.Failures(); len(errs) > 0 {
		t.Errorf("failures: %v", errs)
	}
	md := rep.Markdown()
	for _, want := range []string{
		"# Stores and pipeline", "## Ingest", "## Query latency at 3000 events", "## Verify throughput at 3000 events", "## Counts", "## Ingest rounds",
		"| sqlite | raw |", "| sqlite | store |", "| sqlite | sealed |",
		"list: first page", "list: kind=request & actor=user-42", "count: all events", "get by id", "dashboard: last 24 h",
		"Every ingest run stored as many events as it wrote",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	dir := t.TempDir()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"stores.md", "stores.svg", "stores.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if svg := rep.SVG(); !strings.Contains(svg, "sqlite store ÷ raw") || !strings.Contains(svg, "sqlite sealed ÷ store") {
		t.Errorf("the chart lacks the SQLite ratios:\n%s", svg)
	}

	// The stores are kept in StoreDir and reused by the next run.
	cfg.Rounds = 1
	res2, err := RunStores(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Build != 0 || res2.SealedBuild != 0 {
		t.Errorf("second run built the stores again (%v, %v), want them reused", res2.Build, res2.SealedBuild)
	}
	if len(res2.Verify) != 1 || !res2.Verify[0].OK {
		t.Errorf("second run's verify: %+v", res2.Verify)
	}
}

// TestStoresBadConfig checks that a configuration that cannot run is
// refused with an error naming the setting.
func TestStoresBadConfig(t *testing.T) {
	ok := StoresConfig{Duration: time.Second, Rounds: 1, N: 10, Backends: []string{"sqlite"}}
	for _, c := range []struct {
		change func(*StoresConfig)
		want   string
	}{
		{func(c *StoresConfig) { c.Duration = 0 }, "store duration 0s"},
		{func(c *StoresConfig) { c.Rounds = 0 }, "rounds 0"},
		{func(c *StoresConfig) { c.N = 0 }, "events 0"},
		{func(c *StoresConfig) { c.Backends = []string{"oracle"} }, `backend "oracle": unknown`},
	} {
		cfg := ok
		c.change(&cfg)
		_, err := RunStores(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
}
