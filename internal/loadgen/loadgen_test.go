package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	// Every value falls in a bucket whose upper bound is at least the
	// value and within 1/64 of it, and buckets are in order.
	prev := int64(-1)
	for i := range numBuckets {
		u := upperOf(i)
		if u <= prev {
			t.Fatalf("bucket %d: upper %d after %d", i, u, prev)
		}
		prev = u
	}
	for range 100000 {
		v := rand.Int64N(1 << rand.IntN(63))
		b := bucketOf(v)
		u := upperOf(b)
		if u < v || (b > 0 && upperOf(b-1) >= v) {
			t.Fatalf("value %d in bucket %d (upper %d, previous upper %d)", v, b, u, upperOf(b-1))
		}
		if float64(u-v) > float64(v)/64+1 {
			t.Fatalf("value %d: upper %d off by more than 1/64", v, u)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}, {0, time.Millisecond}} {
		got := h.Quantile(c.q)
		if got < c.want || float64(got-c.want) > float64(c.want)/64 {
			t.Errorf("Quantile(%v) = %v, want %v within 1/64", c.q, got, c.want)
		}
	}
	if h.Count() != 1000 || h.Max() != time.Second || h.Min() != time.Millisecond {
		t.Errorf("count %d, min %v, max %v", h.Count(), h.Min(), h.Max())
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var back Histogram
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Quantile(0.99) != h.Quantile(0.99) || back.Count() != h.Count() || back.Mean() != h.Mean() {
		t.Errorf("after a JSON round trip: p99 %v count %d, want %v %d", back.Quantile(0.99), back.Count(), h.Quantile(0.99), h.Count())
	}
	for _, bad := range []string{`{"buckets":{"99999":1},"n":1}`, `{"buckets":{"3":2},"n":1}`, `[`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s): no error", bad)
		}
	}
	var empty Histogram
	if empty.Quantile(0.99) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram: non-zero quantile or mean")
	}
}

func TestRunCounts(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	targets := []Target{{URL: srv.URL + "/a"}, {Method: "POST", URL: srv.URL + "/missing", Body: []byte(`{}`)}}
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"closed", Options{Targets: targets, Workers: 4, Requests: 200}},
		{"open", Options{Targets: targets, Rate: 2000, Requests: 200}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hits.Store(0)
			res, err := Run(context.Background(), c.o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != 200 || res.Answered != 200 || res.Errors != 0 || res.OK != 100 || res.ByStatus[404] != 100 {
				t.Fatalf("%+v", res)
			}
			if int64(res.Answered) != hits.Load() || res.Latency.Count() != 200 {
				t.Fatalf("answered %d, server saw %d, latencies %d", res.Answered, hits.Load(), res.Latency.Count())
			}
			if res.Targets[1].ByStatus[404] != 100 || res.Targets[0].ByStatus[200] != 100 {
				t.Fatalf("by target: %+v", res.Targets)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	res, err := Run(context.Background(), Options{Targets: []Target{{URL: url}}, Requests: 5, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 5 || res.Answered != 0 || res.FirstError == "" {
		t.Fatalf("%+v", res)
	}
	for _, o := range []Options{{}, {Targets: []Target{{URL: "http://x"}}}, {Targets: []Target{{}}, Requests: 1}, {Targets: []Target{{URL: "http://x"}}, Requests: 1, Rate: -1}} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v): no error", o)
		}
	}
}

func TestMainCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Run") != "r1" {
			http.Error(w, "no header", 400)
		}
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	code := Main([]string{"-target", "POST " + srv.URL + "/x {\"a\": 1}", "-header", "X-Run: r1", "-requests", "10", "-json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.ByStatus[200] != 10 || string(res.Targets[0].Method) != "POST" {
		t.Fatalf("%+v", res)
	}
	for _, bad := range [][]string{{"-target", "ftp://x"}, {"-header", "nocolon", "-target", srv.URL}, {"stray"}, {"-bogus"}} {
		errb.Reset()
		if code := Main(bad, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("Main(%q): exit %d, stderr %q", bad, code, errb.String())
		}
	}
	out.Reset()
	if code := Main([]string{"-target", srv.URL, "-requests", "3", "-header", "X-Run: r1"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "3 answered") {
		t.Errorf("text output: %q", out.String())
	}
}
