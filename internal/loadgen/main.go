package loadgen

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// ParseTarget parses "[METHOD ]URL[ BODY]": "http://h/x", "POST
// http://h/orders {\"a\":1}". The body is everything after the URL.
func ParseTarget(s string) (Target, error) {
	f := strings.SplitN(strings.TrimSpace(s), " ", 3)
	var t Target
	switch {
	case len(f) == 1 && f[0] != "":
		t.URL = f[0]
	case len(f) >= 2 && !strings.Contains(f[0], "://"):
		t.Method, t.URL = f[0], f[1]
		if len(f) == 3 {
			t.Body = []byte(f[2])
		}
	case len(f) >= 2:
		t.URL, t.Body = f[0], []byte(strings.Join(f[1:], " "))
	default:
		return t, fmt.Errorf("target %q: want [METHOD ]URL[ BODY]", s)
	}
	if !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://") {
		return t, fmt.Errorf("target %q: url %q: must start with http:// or https://", s, t.URL)
	}
	return t, nil
}

// Main is the load generator's command line, for cmd/loadgen and for
// test binaries that re-execute themselves as the client. It returns the
// exit code: 0 after a run (failed requests included), 2 for bad
// arguments.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var targets, headers listFlag
	fs.Var(&targets, "target", `a request, "[METHOD ]URL[ BODY]"; repeat to send several in turn`)
	fs.Var(&headers, "header", `a header sent with every request, "Name: value"; repeatable`)
	rate := fs.Float64("rate", 0, "open loop: requests a second; 0 runs closed loop")
	workers := fs.Int("workers", 0, "closed-loop workers, or the most requests in flight in open loop (default 16 closed, 256 open)")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	requests := fs.Int64("requests", 0, "stop after this many requests (0: no limit)")
	timeout := fs.Duration("timeout", 30*time.Second, "timeout of one request")
	asJSON := fs.Bool("json", false, "print the Result as JSON instead of text")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: loadgen -target URL [-target …] [-rate N | -workers N] [-duration D] [-json]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	o := Options{Rate: *rate, Workers: *workers, Duration: *duration, Requests: *requests, Timeout: *timeout}
	h := http.Header{}
	for _, s := range headers {
		k, v, ok := strings.Cut(s, ":")
		if !ok || strings.TrimSpace(k) == "" {
			fmt.Fprintf(stderr, "loadgen: header %q: want \"Name: value\"\n", s)
			return 2
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	for _, s := range targets {
		t, err := ParseTarget(s)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 2
		}
		t.Header = h
		o.Targets = append(o.Targets, t)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *asJSON {
		b, err := json.Marshal(res)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	fmt.Fprintln(stdout, res)
	for _, t := range res.Targets {
		codes := make([]int, 0, len(t.ByStatus))
		for s := range t.ByStatus {
			codes = append(codes, s)
		}
		slices.Sort(codes)
		var parts []string
		for _, s := range codes {
			parts = append(parts, statusKey(s)+": "+fmt.Sprint(t.ByStatus[s]))
		}
		fmt.Fprintf(stdout, "  %s %s: %d sent, %d errors; %s\n", t.Method, t.URL, t.Sent, t.Errors, strings.Join(parts, ", "))
	}
	if res.FirstError != "" {
		fmt.Fprintf(stdout, "  first error: %s\n", res.FirstError)
	}
	return 0
}
