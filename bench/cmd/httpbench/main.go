// Command httpbench puts activitylog side by side with what a team
// would use instead, over HTTP on loopback (issue 10):
//
//	go run ./bench/cmd/httpbench -duration 10s -rounds 5
//
// Each variant (bare, the log line, the audit table, activitylog at
// metadata level, with integrity, and at request_response level with
// 1 KB bodies) is a server in a process of its own, and the load comes
// from internal/loadgen in another process, closed loop, so that the
// server's CPU time and allocations are its own. Rounds alternate the
// variants (A B C … A B C …) so that machine drift cancels, and every
// figure is also given as a ratio to bare measured in the same round.
// The report goes to bench/results/httpbench.md, .svg and .json. See
// README.md beside this file.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/activitylog/activitylog/internal/loadgen"
)

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the hidden subcommands a re-executed harness (or test
// binary) is given, or the harness itself.
func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "variant":
			return runVariant(args[1:], stdout, stderr)
		case "loadgen":
			return loadgen.Main(args[1:], stdout, stderr)
		}
	}
	return runMain(args, stdout, stderr)
}

// Config is one run of the harness.
type Config struct {
	Duration time.Duration // of the measured load, per variant per round
	Warmup   time.Duration // of the load before it, per variant per round
	Rounds   int
	Workers  int      // closed-loop workers of the load generator
	Variants []string // default: all, in their order
	// Exe is the binary re-executed for the variants and the client:
	// this command, or a test binary whose TestMain calls dispatch.
	Exe string
	// ProfileDir, when set, receives cpu-VARIANT.pprof, the CPU profile
	// of each of ProfileVariants' processes, taken over the load of an
	// extra round after the measured ones, which is not reported.
	ProfileDir      string
	ProfileVariants []string
	Log             io.Writer // progress; nil: none
}

// Round is one variant's measurement in one round.
type Round struct {
	Variant  string        `json:"variant"`
	Round    int           `json:"round"`
	Sent     uint64        `json:"sent"`
	Answered uint64        `json:"answered"`
	OK       uint64        `json:"ok"`
	Errors   uint64        `json:"errors"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	RPS      float64       `json:"rps"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	CPU      time.Duration `json:"cpu_ns"` // the server process's user+system time over the round
	// ClientCPU is the load generator process's user+system time.
	ClientCPU time.Duration `json:"client_cpu_ns"`
	Mallocs   uint64        `json:"mallocs"` // the server process's allocations over the round
	Stored    int64         `json:"stored"`  // events stored over the round; -1: stores nothing
	Lost      uint64        `json:"lost"`    // dropped, refused or failed by the Recorder, in total
	FirstErr  string        `json:"first_error,omitempty"`
}

// CPUPerReq returns the server CPU time per answered request, in µs.
func (r Round) CPUPerReq() float64 {
	if r.Answered == 0 {
		return 0
	}
	return float64(r.CPU.Nanoseconds()) / 1e3 / float64(r.Answered)
}

// ClientCPUPerReq returns the load generator's CPU time per answered
// request, in µs.
func (r Round) ClientCPUPerReq() float64 {
	if r.Answered == 0 {
		return 0
	}
	return float64(r.ClientCPU.Nanoseconds()) / 1e3 / float64(r.Answered)
}

// AllocsPerReq returns the server's allocations per answered request.
func (r Round) AllocsPerReq() float64 {
	if r.Answered == 0 {
		return 0
	}
	return float64(r.Mallocs) / float64(r.Answered)
}

// Run measures cfg.Variants in cfg.Rounds alternating rounds.
func Run(ctx context.Context, cfg Config) ([]Round, error) {
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("duration %s: must be positive", cfg.Duration)
	}
	if cfg.Warmup < 0 {
		return nil, fmt.Errorf("warmup %s: must not be negative", cfg.Warmup)
	}
	if cfg.Rounds < 1 {
		return nil, fmt.Errorf("rounds %d: must be at least 1", cfg.Rounds)
	}
	if cfg.Workers < 1 {
		return nil, fmt.Errorf("workers %d: must be at least 1", cfg.Workers)
	}
	if len(cfg.Variants) == 0 {
		for _, v := range variants {
			if !v.extra {
				cfg.Variants = append(cfg.Variants, v.name)
			}
		}
	}
	for _, name := range cfg.Variants {
		if _, ok := variantByName(name); !ok {
			return nil, fmt.Errorf("variant %q: unknown; want one of %s", name, variantNames())
		}
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	for _, name := range cfg.ProfileVariants {
		if _, ok := variantByName(name); !ok {
			return nil, fmt.Errorf("profile variant %q: unknown; want one of %s", name, variantNames())
		}
	}
	var out []Round
	for round := 1; round <= cfg.Rounds; round++ {
		for _, name := range cfg.Variants {
			r, err := runRound(ctx, cfg, name, round, "")
			if err != nil {
				return out, fmt.Errorf("round %d, variant %s: %w", round, name, err)
			}
			fmt.Fprintf(cfg.Log, "round %d %-22s %8.0f req/s  p50 %-9s p99 %-9s cpu %6.1f µs/req  allocs %5.1f/req  stored %d of %d sent\n",
				round, name, r.RPS, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.CPUPerReq(), r.AllocsPerReq(), r.Stored, r.Sent)
			out = append(out, r)
		}
	}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return out, fmt.Errorf("create profile directory: %w", err)
		}
		for _, name := range cfg.ProfileVariants {
			file := filepath.Join(cfg.ProfileDir, "cpu-"+name+".pprof")
			if _, err := runRound(ctx, cfg, name, 0, file); err != nil {
				return out, fmt.Errorf("profile round, variant %s: %w", name, err)
			}
			fmt.Fprintf(cfg.Log, "profile of %s: %s\n", name, file)
		}
	}
	return out, nil
}

// runRound starts the variant's process, warms it up, measures it and
// stops it.
func runRound(ctx context.Context, cfg Config, name string, round int, profile string) (Round, error) {
	v, _ := variantByName(name)
	dir, err := os.MkdirTemp("", "httpbench-"+name+"-")
	if err != nil {
		return Round{}, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, cfg.Exe, "variant", name, "127.0.0.1:0", dir)
	dieWithParent(cmd)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Round{}, err
	}
	if err := cmd.Start(); err != nil {
		return Round{}, fmt.Errorf("start variant process: %w", err)
	}
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Wait()
		exited = true
		return Round{}, fmt.Errorf("variant process did not start: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		return Round{}, fmt.Errorf("variant process said %q, want \"listening URL\"", line)
	}
	target := base + "/api/orders/7"
	if v.body {
		target = "POST " + base + "/api/orders " + string(body1K)
	}
	ctl := &http.Client{Timeout: 2 * time.Minute}

	if cfg.Warmup > 0 {
		if _, _, err := client(ctx, cfg, target, cfg.Warmup); err != nil {
			return Round{}, fmt.Errorf("warm up: %w", err)
		}
	}
	f0, err := flush(ctx, ctl, base)
	if err != nil {
		return Round{}, err
	}
	s0, err := readStatsOf(ctx, ctl, base)
	if err != nil {
		return Round{}, err
	}
	if profile != "" {
		abs, err := filepath.Abs(profile)
		if err != nil {
			return Round{}, err
		}
		if err := post(ctx, ctl, base+"/_profile/start?file="+abs, nil); err != nil {
			return Round{}, err
		}
	}
	res, clientCPU, err := client(ctx, cfg, target, cfg.Duration)
	if err != nil {
		return Round{}, err
	}
	f1, err := flush(ctx, ctl, base)
	if err != nil {
		return Round{}, err
	}
	s1, err := readStatsOf(ctx, ctl, base)
	if err != nil {
		return Round{}, err
	}
	if profile != "" {
		if err := post(ctx, ctl, base+"/_profile/stop", nil); err != nil {
			return Round{}, err
		}
	}
	if err := post(ctx, ctl, base+"/_quit", nil); err != nil {
		return Round{}, err
	}
	werr := cmd.Wait()
	exited = true
	if werr != nil {
		return Round{}, fmt.Errorf("variant process: %v: %s", werr, strings.TrimSpace(stderr.String()))
	}
	r := Round{
		Variant: name, Round: round,
		Sent: res.Sent, Answered: res.Answered, OK: res.OK, Errors: res.Errors,
		Elapsed: res.Elapsed, RPS: res.Throughput(),
		P50: res.Latency.Quantile(0.5), P99: res.Latency.Quantile(0.99),
		CPU: s1.CPU - s0.CPU, Mallocs: s1.Mallocs - s0.Mallocs, ClientCPU: clientCPU,
		Stored: -1, Lost: f1.Lost, FirstErr: res.FirstError,
	}
	if f1.Stored >= 0 {
		r.Stored = f1.Stored - f0.Stored
	}
	return r, nil
}

// client runs the load generator as its own process and returns what
// it measured and the CPU time it took.
func client(ctx context.Context, cfg Config, target string, d time.Duration) (*loadgen.Result, time.Duration, error) {
	cmd := exec.CommandContext(ctx, cfg.Exe, "loadgen", "-json",
		"-workers", fmt.Sprint(cfg.Workers), "-duration", d.String(), "-timeout", "60s", "-target", target)
	dieWithParent(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, 0, fmt.Errorf("load generator: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var res loadgen.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, 0, fmt.Errorf("load generator's result: %w", err)
	}
	if res.Latency == nil {
		res.Latency = &loadgen.Histogram{}
	}
	return &res, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func post(ctx context.Context, c *http.Client, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	return do(c, req, into)
}

func do(c *http.Client, req *http.Request, into any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, strings.TrimSpace(string(b)))
	}
	if into == nil {
		return nil
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func flush(ctx context.Context, c *http.Client, base string) (flushResult, error) {
	var fr flushResult
	return fr, post(ctx, c, base+"/_flush", &fr)
}

func readStatsOf(ctx context.Context, c *http.Client, base string) (stats, error) {
	var s stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_stats", nil)
	if err != nil {
		return s, err
	}
	return s, do(c, req, &s)
}

// runMain is the harness's command line.
func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("httpbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 10*time.Second, "measured load per variant per round")
	warmup := fs.Duration("warmup", time.Second, "load before the measurement, per variant per round")
	rounds := fs.Int("rounds", 5, "rounds; each runs every variant once, in turn")
	workers := fs.Int("workers", 32, "closed-loop workers of the load generator")
	only := fs.String("variants", "", "comma-separated variants to run (default all: "+variantNames()+")")
	out := fs.String("out", "bench/results", "directory of httpbench.md, httpbench.svg and httpbench.json; empty: none")
	profileDir := fs.String("cpuprofile", "", "write cpu-VARIANT.pprof into this directory: the CPU profile of each -profile-variants process, over an extra round after the measured ones")
	profileVariants := fs.String("profile-variants", vMetadata+","+vIntegrity, "comma-separated variants -cpuprofile profiles")
	stores := fs.Bool("stores", false, "measure the stores and the pipeline instead (stores.md, .svg, .json): ingest per backend, query latency and verify throughput")
	storeDuration := fs.Duration("store-duration", 3*time.Second, "with -stores: ingest per variant per round")
	events := fs.Int("events", 100_000, "with -stores: events of the query and verify stores")
	full := fs.Bool("full", false, "with -stores: -events 1000000")
	storeDir := fs.String("store-dir", "", "with -stores: keep the query and verify stores here, and reuse them (default: a temporary directory)")
	backends := fs.String("backends", "", "with -stores: comma-separated ingest backends (sqlite, postgres, mysql, nats); default: sqlite and those whose ACTIVITYLOG_TEST_* variable is set")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "httpbench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *stores {
		cfg := StoresConfig{Duration: *storeDuration, Rounds: *rounds, N: *events, StoreDir: *storeDir, Log: stderr}
		if *full {
			cfg.N = 1_000_000
		}
		if *backends != "" {
			cfg.Backends = strings.Split(*backends, ",")
		}
		return runStoresMain(cfg, "go run ./bench/cmd/httpbench "+strings.Join(args, " "), *out, stdout, stderr)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "httpbench: find own binary: %v\n", err)
		return 1
	}
	cfg := Config{Duration: *duration, Warmup: *warmup, Rounds: *rounds, Workers: *workers, Exe: exe,
		ProfileDir: *profileDir, Log: stderr}
	if *profileDir != "" {
		cfg.ProfileVariants = strings.Split(*profileVariants, ",")
	}
	if *only != "" {
		cfg.Variants = strings.Split(*only, ",")
	}
	machine := readMachine()
	start := time.Now()
	rs, err := Run(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(stderr, "httpbench: %v\n", err)
		return 1
	}
	machine.LoadAfter = loadAvg()
	rep := newReport(cfg, rs, machine, "go run ./bench/cmd/httpbench "+strings.Join(args, " "), start)
	fmt.Fprint(stdout, rep.Markdown())
	if *out != "" {
		if err := rep.WriteFiles(*out); err != nil {
			fmt.Fprintf(stderr, "httpbench: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "httpbench: wrote %s\n", filepath.Join(*out, "httpbench.{md,svg,json}"))
	}
	if errs := rep.Failures(); len(errs) > 0 {
		fmt.Fprintf(stderr, "httpbench: %v\n", errors.Join(errs...))
		return 1
	}
	return 0
}

// runStoresMain is the -stores mode: it measures, prints the report and
// writes stores.md, .svg and .json into out (none when empty).
func runStoresMain(cfg StoresConfig, command, out string, stdout, stderr io.Writer) int {
	cfg.setDefaults()
	machine := readMachine()
	start := time.Now()
	// An interrupt ends the run through its context, so that the
	// schemas, databases and stream it made are still dropped.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := RunStores(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "httpbench: %v\n", err)
		return 1
	}
	machine.LoadAfter = loadAvg()
	rep := &StoresReport{Config: cfg, Machine: machine, Command: command, Start: start, Result: res}
	fmt.Fprint(stdout, rep.Markdown())
	if out != "" {
		if err := rep.WriteFiles(out); err != nil {
			fmt.Fprintf(stderr, "httpbench: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "httpbench: wrote %s\n", filepath.Join(out, "stores.{md,svg,json}"))
	}
	if errs := rep.Failures(); len(errs) > 0 {
		fmt.Fprintf(stderr, "httpbench: %v\n", errors.Join(errs...))
		return 1
	}
	return 0
}
