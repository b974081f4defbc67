package httpaudit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

// trEvents is a Recorder that keeps the events it is given, for the
// transport tests.
type trEvents struct {
	mu  sync.Mutex
	all []activitylog.Event
	ch  chan struct{}
}

func newTrEvents() *trEvents { return &trEvents{ch: make(chan struct{}, 1024)} }

func (r *trEvents) Record(_ context.Context, e activitylog.Event) error {
	r.mu.Lock()
	r.all = append(r.all, e)
	r.mu.Unlock()
	r.ch <- struct{}{}
	return nil
}

func (r *trEvents) list() []activitylog.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]activitylog.Event(nil), r.all...)
}

// only returns the only event, failing unless exactly one was recorded.
func (r *trEvents) only(t *testing.T) activitylog.Event {
	t.Helper()
	all := r.list()
	if len(all) != 1 {
		t.Fatalf("recorded %d events, want 1: %+v", len(all), all)
	}
	return all[0]
}

// waitFor waits until n events have been recorded in all.
func (r *trEvents) waitFor(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d events recorded within 10s", len(r.list()), n)
		}
	}
}

func trGet(t *testing.T, rt http.RoundTripper, ctx context.Context, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestTransportStatus(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.Error(w, "no such order", http.StatusNotFound)
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			w.Write([]byte(`{"id":7}`))
		}
	}))
	t.Cleanup(srv.Close) // after the parallel subtests
	host := strings.TrimPrefix(srv.URL, "http://")

	tests := []struct {
		path     string
		status   int
		severity activitylog.Severity
		bytes    int64
	}{
		{"/orders/7?expand=lines", 200, activitylog.SeverityInfo, 8},
		{"/missing", 404, activitylog.SeverityWarning, 14},
		{"/broken", 500, activitylog.SeverityError, 5},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			rec := newTrEvents()
			client := &http.Client{Transport: httpaudit.NewTransport(rec, nil, nil)}
			resp, err := client.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			e := rec.only(t)
			path, query, _ := strings.Cut(tt.path, "?")
			if e.Kind != activitylog.KindExternal || e.Action != "GET" || e.Tool != "http" || e.Severity != tt.severity {
				t.Errorf("kind %q action %q tool %q severity %q", e.Kind, e.Action, e.Tool, e.Severity)
			}
			if e.Request.Method != "GET" || e.Request.Host != host || e.Request.Path != path || e.Request.Query != query {
				t.Errorf("request %+v", e.Request)
			}
			if e.Response.Status != tt.status || e.Response.ResponseBytes != tt.bytes || e.Response.Duration <= 0 {
				t.Errorf("response %+v", e.Response)
			}
			if e.Extra["service"] != host {
				t.Errorf("service = %v, want %s", e.Extra["service"], host)
			}
			if want := fmt.Sprintf("GET %s%s → %d", host, path, tt.status); e.Message != want {
				t.Errorf("message %q, want %q", e.Message, want)
			}
			if _, ok := e.Extra["error"]; ok {
				t.Errorf("error recorded: %v", e.Extra["error"])
			}
		})
	}
}

func TestTransportConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	rec := newTrEvents()
	rt := httpaudit.NewTransport(rec, nil, &httpaudit.TransportOptions{Service: "billing"})
	req, _ := http.NewRequest("POST", "http://"+addr+"/charge", strings.NewReader("amount=5"))
	resp, err := rt.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("no error from a closed port")
	}
	e := rec.only(t) // recorded before RoundTrip returned
	if e.Severity != activitylog.SeverityError || e.Response.Status != 0 || e.Extra["service"] != "billing" {
		t.Errorf("severity %q status %d service %v", e.Severity, e.Response.Status, e.Extra["service"])
	}
	msg, _ := e.Extra["error"].(string)
	if !strings.Contains(msg, "refused") || !strings.Contains(e.Message, "POST "+addr+"/charge: ") {
		t.Errorf("error %q message %q", msg, e.Message)
	}
}

func TestTransportBodies(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "sid=secret-session")
		fmt.Fprintf(w, `{"token":"tok-123","blob":%q}`, big)
	}))
	defer srv.Close()

	w := &transportStore{}
	rec := activitylog.NewRecorder(w, &activitylog.Options{Mode: activitylog.Sync})
	defer rec.Shutdown(context.Background())
	rt := httpaudit.NewTransport(rec, nil, &httpaudit.TransportOptions{Bodies: true, Headers: true, MaxBody: 1000})

	reqBody := `{"user":{"name":"ann","password":"hunter2"}}`
	req, _ := http.NewRequest("POST", srv.URL+"/login?api_key=k-999", strings.NewReader(reqBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer abc.def")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasSuffix(string(got), big+`"}`) {
		t.Fatalf("caller got %d bytes of a changed body", len(got))
	}

	all := w.all()
	if len(all) != 1 {
		t.Fatalf("%d events stored", len(all))
	}
	e := all[0]
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.Request.Body != `{"user":{"name":"ann","password":"[REDACTED]"}}` {
		t.Errorf("request body %s", e.Request.Body)
	}
	if e.Response.RequestBytes != int64(len(reqBody)) || e.Response.ResponseBytes != int64(len(got)) {
		t.Errorf("bytes %d/%d, want %d/%d", e.Response.RequestBytes, e.Response.ResponseBytes, len(reqBody), len(got))
	}
	// The response body was cut at 1000 bytes, and stays JSON so that
	// the token is still masked.
	if !strings.HasPrefix(e.Response.Body, `{"blob":"xxx`) || !strings.Contains(e.Response.Body, `"token":"[REDACTED]"`) ||
		!strings.Contains(e.Response.Body, fmt.Sprintf(`[truncated: %d bytes in all, 1000 kept]`, len(got))) {
		t.Errorf("response body %s", e.Response.Body)
	}
	for _, s := range []string{"hunter2", "tok-123", "abc.def", "secret-session", "k-999"} {
		if b, _ := trJSON(e); strings.Contains(b, s) {
			t.Errorf("secret %q stored", s)
		}
	}
	if e.Request.Headers["Content-Type"] != "application/json" || e.Response.Headers["Content-Type"] != "application/json" {
		t.Errorf("headers %v / %v", e.Request.Headers, e.Response.Headers)
	}
}

// transportStore is an activitylog.Writer that keeps what it is given.
type transportStore struct {
	mu     sync.Mutex
	events []activitylog.Event
}

func (s *transportStore) Write(_ context.Context, events []activitylog.Event) error {
	s.mu.Lock()
	s.events = append(s.events, events...)
	s.mu.Unlock()
	return nil
}

func (s *transportStore) all() []activitylog.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]activitylog.Event(nil), s.events...)
}

func trJSON(e activitylog.Event) (string, error) {
	b, err := json.Marshal(e)
	return string(b), err
}

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`)

func TestTransportPropagation(t *testing.T) {
	t.Parallel()
	type seen struct{ traceparent, requestID string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Get("Traceparent"), r.Header.Get("X-Request-Id")}
	}))
	defer srv.Close()

	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ctxTrace := activitylog.WithRequestID(activitylog.WithTrace(context.Background(), tid, sid), "req-1")
	ctxRequest := activitylog.WithRequest(context.Background(), &activitylog.Request{RequestID: "req-2", TraceID: tid, SpanID: sid})
	tests := []struct {
		name       string
		ctx        context.Context
		opts       *httpaudit.TransportOptions
		header     http.Header
		wantTrace  bool   // a traceparent with tid and a new span id
		wantExact  string // else exactly this traceparent ("" for none)
		wantID     string
		eventTrace string
	}{
		{"from WithTrace", ctxTrace, nil, nil, true, "", "req-1", tid},
		{"from the middleware's Request", ctxRequest, nil, nil, true, "", "req-2", tid},
		{"no trace", activitylog.WithRequestID(context.Background(), "req-3"), nil, nil, false, "", "req-3", ""},
		{"nothing", context.Background(), nil, nil, false, "", "", ""},
		{"caller's own kept", ctxTrace, nil,
			http.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, "X-Request-Id": {"mine"}},
			false, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "mine", "0af7651916cd43dd8448eb211c80319c"},
		{"NoPropagate", ctxTrace, &httpaudit.TransportOptions{NoPropagate: true}, nil, false, "", "", ""},
		{"invalid trace id", activitylog.WithTrace(context.Background(), "00000000000000000000000000000000", sid), nil, nil, false, "", "", ""},
		{"other header name", ctxTrace, &httpaudit.TransportOptions{RequestIDHeader: "x-correlation-id"}, nil, true, "", "", tid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newTrEvents()
			rt := httpaudit.NewTransport(rec, nil, tt.opts)
			req, _ := http.NewRequestWithContext(tt.ctx, "GET", srv.URL, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			before := req.Header.Clone()
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			s := <-got
			e := rec.only(t)
			if tt.wantTrace {
				m := traceparentRE.FindStringSubmatch(s.traceparent)
				if m == nil || m[1] != tid || m[2] == sid {
					t.Errorf("traceparent %q, want trace %s with a new span id", s.traceparent, tid)
				} else if e.Request.TraceID != tid || e.Request.SpanID != m[2] {
					t.Errorf("event trace %s/%s, want %s/%s", e.Request.TraceID, e.Request.SpanID, tid, m[2])
				}
			} else if s.traceparent != tt.wantExact {
				t.Errorf("traceparent %q, want %q", s.traceparent, tt.wantExact)
			}
			if s.requestID != tt.wantID {
				t.Errorf("X-Request-ID %q, want %q", s.requestID, tt.wantID)
			}
			if e.Request.TraceID != tt.eventTrace {
				t.Errorf("event trace id %q, want %q", e.Request.TraceID, tt.eventTrace)
			}
			if fmt.Sprint(req.Header) != fmt.Sprint(before) {
				t.Errorf("the caller's headers changed: %v, was %v", req.Header, before)
			}
		})
	}
}

func TestTransportCallerRequestUnchanged(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	ctx := activitylog.WithRequestID(activitylog.WithTrace(context.Background(), "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"), "req-1")
	req, _ := http.NewRequestWithContext(ctx, "PUT", srv.URL+"/x", strings.NewReader("payload"))
	req.Header.Set("Accept", "text/plain")
	body, header, getBody := req.Body, req.Header, req.GetBody
	snapshot := *req

	rec := newTrEvents()
	resp, err := httpaudit.NewTransport(rec, nil, &httpaudit.TransportOptions{Bodies: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request != req {
		t.Error("resp.Request is not the caller's request")
	}
	if req.Body != body || fmt.Sprint(req.Header) != "map[Accept:[text/plain]]" || len(header) != 1 ||
		fmt.Sprintf("%p", req.GetBody) != fmt.Sprintf("%p", getBody) || req.URL != snapshot.URL || req.Host != snapshot.Host {
		t.Errorf("the caller's request changed: %+v", req)
	}
	if e := rec.only(t); e.Request.Body != "payload" || e.Response.RequestBytes != 7 {
		t.Errorf("request body %q, %d bytes", e.Request.Body, e.Response.RequestBytes)
	}
}

func TestTransportRecordedOnCloseWithoutFullRead(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("a"), 1<<20))
	}))
	defer srv.Close()
	rec := newTrEvents()
	resp := trGet(t, httpaudit.NewTransport(rec, nil, nil), context.Background(), srv.URL)
	buf := make([]byte, 10)
	n, err := io.ReadFull(resp.Body, buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.list(); len(got) != 0 {
		t.Fatalf("recorded before the body was done: %+v", got)
	}
	resp.Body.Close()
	resp.Body.Close() // a second Close records nothing more
	e := rec.only(t)
	if e.Response.Status != 200 || e.Response.ResponseBytes != int64(n) {
		t.Errorf("status %d, %d bytes; want 200, %d", e.Response.Status, e.Response.ResponseBytes, n)
	}
}

func TestTransportStreams(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first\n"))
		w.(http.Flusher).Flush()
		<-release
		w.Write([]byte("second\n"))
	}))
	defer srv.Close()
	rec := newTrEvents()
	resp := trGet(t, httpaudit.NewTransport(rec, nil, &httpaudit.TransportOptions{Bodies: true}), context.Background(), srv.URL)
	defer resp.Body.Close()
	buf := make([]byte, 64)
	n, err := resp.Body.Read(buf) // must not wait for the rest
	if err != nil || string(buf[:n]) != "first\n" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second\n" {
		t.Fatalf("rest %q", rest)
	}
	if e := rec.only(t); e.Response.Body != "first\nsecond\n" || e.Response.ResponseBytes != 13 {
		t.Errorf("body %q, %d bytes", e.Response.Body, e.Response.ResponseBytes)
	}
}

// trStub returns a canned response in process.
type trStub struct {
	body   string
	header http.Header
	err    error
}

func (s *trStub) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	if s.err != nil {
		return nil, s.err
	}
	return &http.Response{
		StatusCode:    200,
		Header:        s.header,
		Body:          io.NopCloser(strings.NewReader(s.body)),
		ContentLength: int64(len(s.body)),
		Request:       req,
	}, nil
}

func TestTransportRecordsUnclosedBody(t *testing.T) {
	rec := newTrEvents()
	rt := httpaudit.NewTransport(rec, &trStub{body: "never read"}, nil)
	func() {
		req, _ := http.NewRequest("GET", "http://svc.internal/leak", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.StatusCode // the body is dropped without Close
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.list()) == 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	e := rec.only(t)
	if e.Extra["unclosed"] != true || e.Response.Status != 200 || e.Request.Path != "/leak" {
		t.Errorf("event %+v", e)
	}
}

func TestTransportBodylessRecordedAtOnce(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	rec := newTrEvents()
	req, _ := http.NewRequest("HEAD", srv.URL, nil)
	resp, err := httpaudit.NewTransport(rec, nil, nil).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Body != http.NoBody {
		t.Errorf("body %T, want http.NoBody untouched", resp.Body)
	}
	if e := rec.only(t); e.Response.Status != 204 || e.Action != "HEAD" {
		t.Errorf("status %d action %s", e.Response.Status, e.Action)
	}
}

func TestTransportRedirect(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		w.Write([]byte("here"))
	}))
	defer srv.Close()
	rec := newTrEvents()
	client := &http.Client{Transport: httpaudit.NewTransport(rec, nil, nil)}
	resp, err := client.Get(srv.URL + "/old")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// One event per hop.
	all := rec.list()
	if len(all) != 2 || all[0].Response.Status != 302 || all[0].Request.Path != "/old" ||
		all[1].Response.Status != 200 || all[1].Request.Path != "/new" {
		t.Fatalf("events %+v", all)
	}
}

func TestTransportUserinfoNotRecorded(t *testing.T) {
	t.Parallel()
	rec := newTrEvents()
	base := trFunc(func(r *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("proxy refused %s", r.URL) // an error that quotes the URL
	})
	rt := httpaudit.NewTransport(rec, base, nil)
	req, _ := http.NewRequest("GET", "https://ann:s3cr%40t@api.example.com/v1?token=abc", nil)
	if _, err := rt.RoundTrip(req); err == nil {
		t.Fatal("no error")
	}
	e := rec.only(t)
	b, _ := trJSON(e)
	for _, s := range []string{"s3cr", "abc"} {
		if strings.Contains(b, s) && !strings.Contains(e.Request.Query, s) {
			t.Errorf("%q recorded: %s", s, b)
		}
	}
	if e.Request.Host != "api.example.com" || !strings.Contains(e.Extra["error"].(string), "ann:xxxxx@api.example.com/v1?…") {
		t.Errorf("host %q error %q", e.Request.Host, e.Extra["error"])
	}
}

type trFunc func(*http.Request) (*http.Response, error)

func (f trFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportConcurrent(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(r.URL.Query().Get("i")))
	}))
	defer srv.Close()
	rec := newTrEvents()
	client := &http.Client{Transport: httpaudit.NewTransport(rec, nil, &httpaudit.TransportOptions{Bodies: true, Headers: true})}
	ctx := activitylog.WithRequestID(activitylog.WithTrace(context.Background(), "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"), "req-1")
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				req, _ := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("%s/?i=%d-%d", srv.URL, w, i), strings.NewReader("body"))
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if n := len(rec.list()); n != workers*each {
		t.Errorf("%d events, want %d", n, workers*each)
	}
	for _, e := range rec.list() {
		if e.Response.Body != strings.TrimPrefix(e.Request.Query, "i=") || e.Request.Body != "body" {
			t.Errorf("mixed up: query %q response %q request %q", e.Request.Query, e.Response.Body, e.Request.Body)
		}
	}
}

func TestTransportOnError(t *testing.T) {
	t.Parallel()
	want := errors.New("store down")
	var got error
	rt := httpaudit.NewTransport(trFailing{want}, &trStub{body: "x"}, &httpaudit.TransportOptions{OnError: func(err error) { got = err }})
	resp := trGet(t, rt, context.Background(), "http://svc/")
	io.ReadAll(resp.Body)
	if got != want {
		t.Errorf("OnError got %v, want %v", got, want)
	}
}

type trFailing struct{ err error }

func (f trFailing) Record(context.Context, activitylog.Event) error { return f.err }

// The benchmarks send a GET through a stub RoundTripper that answers in
// process, bare and through NewTransport, so that the difference is
// the transport's own cost: wrapping, the event, a no-op Recorder.
var trBenchBody = `{"id":7,"status":"paid"}`

func trBench(b *testing.B, rt http.RoundTripper, ctx context.Context) {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://orders.internal/orders/7?expand=lines", nil)
	buf := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		resp.Body.Close()
	}
}

type trNop struct{}

func (trNop) Record(context.Context, activitylog.Event) error { return nil }

func BenchmarkRoundTripBare(b *testing.B) {
	trBench(b, &trStub{body: trBenchBody, header: http.Header{}}, context.Background())
}

func BenchmarkRoundTripTransport(b *testing.B) {
	base := &trStub{body: trBenchBody, header: http.Header{}}
	trBench(b, httpaudit.NewTransport(trNop{}, base, nil), context.Background())
}

// With a trace and request id in the context, the request is copied to
// carry traceparent and X-Request-ID.
func BenchmarkRoundTripTransportPropagate(b *testing.B) {
	base := &trStub{body: trBenchBody, header: http.Header{}}
	ctx := activitylog.WithRequestID(activitylog.WithTrace(context.Background(), "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"), "req-1")
	trBench(b, httpaudit.NewTransport(trNop{}, base, nil), ctx)
}

func BenchmarkRoundTripTransportRecorder(b *testing.B) {
	base := &trStub{body: trBenchBody, header: http.Header{}}
	rec := activitylog.NewRecorder(transportDiscard{}, nil)
	defer rec.Shutdown(context.Background())
	trBench(b, httpaudit.NewTransport(rec, base, nil), context.Background())
}

type transportDiscard struct{}

func (transportDiscard) Write(context.Context, []activitylog.Event) error { return nil }
