package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the harness re-execute the test binary as a variant's
// server or as the load generator, as it does the httpbench binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "variant" || os.Args[1] == "loadgen") {
		os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestClaims runs a short httpbench (1 s per variant, 4 rounds) and
// fails only when one of the two claims that must never regress does:
// activitylog's throughput ratio to bare (metadata level, SQLite) below
// the audit table's, or events stored ≠ requests sent for an auditing
// variant. Timings are never asserted. ACTIVITYLOG_BENCH_HTTP_SECONDS
// runs a longer version: that many seconds per variant, 5 rounds.
func TestClaims(t *testing.T) {
	if testing.Short() {
		t.Skip("httpbench runs servers under load for about 45 s; not in -short")
	}
	if raceEnabled {
		t.Skip("the race detector distorts the ratios; the claims are checked in the build without it")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Duration: time.Second, Warmup: 200 * time.Millisecond, Rounds: 4, Workers: 32, Exe: exe, Log: tlog{t}}
	if s := os.Getenv("ACTIVITYLOG_BENCH_HTTP_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("ACTIVITYLOG_BENCH_HTTP_SECONDS=%q: want a whole number of seconds ≥ 1", s)
		}
		cfg.Duration, cfg.Warmup, cfg.Rounds = time.Duration(n)*time.Second, time.Second, 5
	}
	run := func() *Report {
		machine := readMachine()
		start := time.Now()
		rs, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		rep := newReport(cfg, rs, machine, "go test ./bench/cmd/httpbench -run TestClaims", start)
		t.Log("\n" + rep.Markdown())
		for _, s := range rep.Summaries {
			if s.Info.audits && s.Sent == 0 {
				t.Errorf("%s: no request was sent", s.Info.name)
			}
		}
		for _, err := range rep.CountFailures() {
			t.Error(err)
		}
		return rep
	}
	rep := run()
	if err := rep.RatioFailure(); err != nil && !t.Failed() {
		// Throughput on a shared machine swings from round to round (CPU
		// per request does not): a breach is confirmed by a second run
		// before the test fails on it.
		t.Logf("%v; confirming with a second run", err)
		rep = run()
		if err := rep.RatioFailure(); err != nil {
			t.Error(err)
		}
	}
}

// TestFailures checks that the report finds a broken claim: a ratio
// below the audit table's, or a round that stored less than it sent.
func TestFailures(t *testing.T) {
	t.Parallel()
	round := func(v string, n int, rps float64, stored int64) Round {
		return Round{Variant: v, Round: n, Sent: 1000, Answered: 1000, RPS: rps, Stored: stored, CPU: time.Millisecond, Mallocs: 20000}
	}
	cfg := Config{Rounds: 2, Duration: time.Second, Workers: 1}
	for _, tc := range []struct {
		name string
		rs   []Round
		want []string
	}{
		{"holds", []Round{
			round(vBare, 1, 100, -1), round(vTable, 1, 50, 1000), round(vMetadata, 1, 80, 1000),
			round(vBare, 2, 100, -1), round(vTable, 2, 50, 1000), round(vMetadata, 2, 80, 1000),
		}, nil},
		{"slower than the table", []Round{
			round(vBare, 1, 100, -1), round(vTable, 1, 50, 1000), round(vMetadata, 1, 40, 1000),
			round(vBare, 2, 100, -1), round(vTable, 2, 50, 1000), round(vMetadata, 2, 45, 1000),
		}, []string{"below the audit table's"}},
		{"lost an event", []Round{
			round(vBare, 1, 100, -1), round(vLog, 1, 90, 999), round(vMetadata, 1, 80, 1000),
			round(vBare, 2, 100, -1), round(vLog, 2, 90, 1000), round(vMetadata, 2, 80, 1000),
		}, []string{"log-line: events stored ≠ requests sent: round 1: 999 stored, 1000 sent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := newReport(cfg, tc.rs, Machine{}, "test", time.Now()).Failures()
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d failures %v, want %d", len(errs), errs, len(tc.want))
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), tc.want[i]) {
					t.Errorf("failure %d = %q, want it to contain %q", i, err, tc.want[i])
				}
			}
		})
	}
}

// TestVariantArgs checks the variant subcommand's refusals.
func TestVariantArgs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bare"}, "usage"},
		{[]string{"bare", "0.0.0.0:0", dir}, `host "0.0.0.0" is not a loopback IP address`},
		{[]string{"bare", "nohost", dir}, `addr "nohost"`},
		{[]string{"nope", "127.0.0.1:0", dir}, `variant "nope": unknown`},
		{[]string{"bare", "127.0.0.1:0", dir + "/missing"}, "not a directory"},
	} {
		var out, errb strings.Builder
		if code := runVariant(tc.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("variant %q: exit %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

// TestBody1K checks the 1 KB variants' request body.
func TestBody1K(t *testing.T) {
	if len(body1K) != 1024 || strings.ContainsAny(string(body1K), " \n") {
		t.Errorf("body1K: %d bytes, want 1024 without spaces or newlines", len(body1K))
	}
}

// tlog writes the harness's progress into the test log.
type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
