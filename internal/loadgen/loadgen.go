// Package loadgen is a small HTTP load generator: open-loop at a
// constant rate, or closed-loop with a fixed number of workers. It
// records every request's latency in a log-linear Histogram and counts
// the answers by status, so that a test can compare what it sent with
// what the server stored.
//
// Run it as its own process (cmd/loadgen, or a test binary that calls
// Main) when the server's CPU time is to be measured apart from the
// client's: Result travels as JSON.
//
// # Open and closed loop
//
// With Options.Rate set, request i is due at start + i/Rate whatever
// happened to the earlier ones (open loop), and its latency is measured
// from when it was due, not from when it was sent: a stalled server is
// charged for the requests it kept waiting (no coordinated omission).
// Options.Workers then caps the requests in flight; a due request waits
// for a free slot. Without Rate, Workers goroutines each send their next
// request as soon as the last one is answered (closed loop), which
// measures the most the server sustains.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one request the generator sends; Options.Targets are sent
// in turn.
type Target struct {
	Method string      // default GET
	URL    string      // required: an absolute http or https URL
	Header http.Header // sent with every request; may be nil
	Body   []byte      // sent with every request; may be nil
}

// Options configures Run. The zero value is not runnable: Targets and
// one of Duration or Requests are required.
type Options struct {
	// Targets are sent round-robin. Required.
	Targets []Target
	// Rate is the open-loop rate in requests a second. Default: 0,
	// closed loop.
	Rate float64
	// Workers is the number of closed-loop workers, or in open loop the
	// most requests in flight. Default: 16 closed, 256 open.
	Workers int
	// Duration is how long to send. Run stops at Duration or after
	// Requests, whichever comes first; requests in flight are awaited.
	Duration time.Duration
	// Requests stops after this many requests. Default: 0, no limit.
	Requests int64
	// Timeout bounds one request, answer body included. Default: 30s.
	Timeout time.Duration
	// Client sends the requests. Default: a client with keep-alive
	// connections, as many idle ones per host as Workers.
	Client *http.Client
}

// TargetResult counts one target's requests.
type TargetResult struct {
	Method   string         `json:"method"`
	URL      string         `json:"url"`
	Sent     uint64         `json:"sent"`      // requests started
	Answered uint64         `json:"answered"`  // a status line came back and the body was read
	Errors   uint64         `json:"errors"`    // transport errors and timeouts
	ByStatus map[int]uint64 `json:"by_status"` // answered, by status code
}

// Result is what Run measured.
type Result struct {
	Mode     string         `json:"mode"` // "open" or "closed"
	Rate     float64        `json:"rate,omitempty"`
	Workers  int            `json:"workers"`
	Elapsed  time.Duration  `json:"elapsed_ns"`
	Sent     uint64         `json:"sent"`
	Answered uint64         `json:"answered"`
	OK       uint64         `json:"ok"` // answered with a 2xx or 3xx status
	Errors   uint64         `json:"errors"`
	ByStatus map[int]uint64 `json:"by_status"`
	Targets  []TargetResult `json:"targets"`
	// Latency holds the answered requests' latencies (open loop: from
	// when each was due).
	Latency *Histogram `json:"latency"`
	// FirstError is the first transport error, for the report.
	FirstError string `json:"first_error,omitempty"`
}

// Throughput returns the answered requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Answered) / r.Elapsed.Seconds()
}

// String summarises r on one line.
func (r *Result) String() string {
	return fmt.Sprintf("%s loop: %d sent, %d answered (%d ok), %d errors in %s: %.0f req/s, p50 %s, p99 %s, max %s",
		r.Mode, r.Sent, r.Answered, r.OK, r.Errors, r.Elapsed.Round(time.Millisecond), r.Throughput(),
		r.Latency.Quantile(0.5), r.Latency.Quantile(0.99), r.Latency.Max())
}

func (o *Options) check() error {
	if len(o.Targets) == 0 {
		return errors.New("loadgen: targets: at least one is required")
	}
	for i, t := range o.Targets {
		if t.URL == "" {
			return fmt.Errorf("loadgen: targets[%d].url: required", i)
		}
		if _, err := http.NewRequest(cmpOr(t.Method, http.MethodGet), t.URL, nil); err != nil {
			return fmt.Errorf("loadgen: targets[%d]: %w", i, err)
		}
	}
	if o.Rate < 0 || o.Rate != o.Rate {
		return fmt.Errorf("loadgen: rate %v: must not be negative", o.Rate)
	}
	if o.Workers < 0 {
		return fmt.Errorf("loadgen: workers %d: must not be negative", o.Workers)
	}
	if o.Duration <= 0 && o.Requests <= 0 {
		return errors.New("loadgen: duration or requests: one is required")
	}
	if o.Duration < 0 || o.Requests < 0 || o.Timeout < 0 {
		return errors.New("loadgen: duration, requests and timeout must not be negative")
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// worker state: each goroutine keeps its own histogram and counters,
// merged at the end, so that recording takes no lock.
type tally struct {
	lat     Histogram
	targets []TargetResult
	firstEr string
}

// Run sends requests as opts says until Duration passes, Requests are
// sent or ctx ends, waits for the requests in flight, and returns what it
// measured. Only a bad Options is an error: failed requests are counted.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	open := opts.Rate > 0
	if opts.Workers == 0 {
		opts.Workers = 16
		if open {
			opts.Workers = 256
		}
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	client := opts.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = opts.Workers * 2
		tr.MaxIdleConnsPerHost = opts.Workers * 2
		client = &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
	}
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	// Requests are sent with their own context so that the end of the
	// run does not cut the ones in flight short.
	reqCtx := context.WithoutCancel(ctx)

	var seq atomic.Int64 // the next request's number
	next := func() (int64, bool) {
		n := seq.Add(1) - 1
		return n, opts.Requests == 0 || n < opts.Requests
	}
	tallies := make([]*tally, opts.Workers)
	for i := range tallies {
		tallies[i] = &tally{targets: make([]TargetResult, len(opts.Targets))}
	}
	send := func(tl *tally, n int64, due time.Time) {
		ti := int(n % int64(len(opts.Targets)))
		t := &opts.Targets[ti]
		tr := &tl.targets[ti]
		tr.Sent++
		status, err := do(reqCtx, client, t, opts.Timeout)
		if err != nil {
			tr.Errors++
			if tl.firstEr == "" {
				tl.firstEr = err.Error()
			}
			return
		}
		tl.lat.Record(time.Since(due))
		tr.Answered++
		if tr.ByStatus == nil {
			tr.ByStatus = map[int]uint64{}
		}
		tr.ByStatus[status]++
	}

	start := time.Now()
	var wg sync.WaitGroup
	if !open {
		for _, tl := range tallies {
			wg.Go(func() {
				for ctx.Err() == nil {
					n, ok := next()
					if !ok {
						return
					}
					send(tl, n, time.Now())
				}
			})
		}
	} else {
		// The slots: a free tally is a free slot, so each request in
		// flight has a tally of its own.
		free := make(chan *tally, len(tallies))
		for _, tl := range tallies {
			free <- tl
		}
		interval := time.Duration(float64(time.Second) / opts.Rate)
		timer := time.NewTimer(0)
	loop:
		for {
			n, ok := next()
			if !ok {
				break
			}
			due := start.Add(time.Duration(n) * interval)
			if d := time.Until(due); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					break loop
				case <-timer.C:
				}
			} else if ctx.Err() != nil {
				break
			}
			var tl *tally
			select {
			case tl = <-free:
			case <-ctx.Done():
				break loop
			}
			wg.Go(func() {
				send(tl, n, due)
				free <- tl
			})
		}
		timer.Stop()
	}
	wg.Wait()
	res := &Result{Mode: "closed", Workers: opts.Workers, Elapsed: time.Since(start), ByStatus: map[int]uint64{}, Latency: &Histogram{}}
	if open {
		res.Mode, res.Rate = "open", opts.Rate
	}
	res.Targets = make([]TargetResult, len(opts.Targets))
	for i, t := range opts.Targets {
		res.Targets[i] = TargetResult{Method: cmpOr(t.Method, http.MethodGet), URL: t.URL, ByStatus: map[int]uint64{}}
	}
	for _, tl := range tallies {
		res.Latency.Merge(&tl.lat)
		if res.FirstError == "" {
			res.FirstError = tl.firstEr
		}
		for i, tr := range tl.targets {
			dst := &res.Targets[i]
			dst.Sent += tr.Sent
			dst.Answered += tr.Answered
			dst.Errors += tr.Errors
			for s, c := range tr.ByStatus {
				dst.ByStatus[s] += c
			}
		}
	}
	for _, tr := range res.Targets {
		res.Sent += tr.Sent
		res.Answered += tr.Answered
		res.Errors += tr.Errors
		for s, c := range tr.ByStatus {
			res.ByStatus[s] += c
			if s < 400 {
				res.OK += c
			}
		}
	}
	return res, nil
}

// do sends one request and reads its answer to the end.
func do(ctx context.Context, c *http.Client, t *Target, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if t.Body != nil {
		body = bytes.NewReader(t.Body)
	}
	req, err := http.NewRequestWithContext(ctx, cmpOr(t.Method, http.MethodGet), t.URL, body)
	if err != nil {
		return 0, err
	}
	for k, vs := range t.Header {
		req.Header[k] = vs
	}
	if t.Body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("read answer of %s %s: %w", req.Method, t.URL, err)
	}
	return resp.StatusCode, nil
}

// statusKey formats a status for the text report.
func statusKey(s int) string { return strconv.Itoa(s) }
