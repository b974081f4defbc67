package httpaudit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

// all returns every event recorded, in order.
func (c *collector) all() []activitylog.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]activitylog.Event(nil), c.events...)
}

func (c *collector) byKind(k activitylog.Kind) []activitylog.Event {
	var out []activitylog.Event
	for _, e := range c.all() {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func mustPolicy(t *testing.T, o *httpaudit.PolicyOptions) *httpaudit.Policy {
	t.Helper()
	p, err := httpaudit.NewPolicy(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestActorFromCredentials(t *testing.T) {
	t.Parallel()
	errBad := errors.New("token is expired")
	creds := func(r *http.Request) (activitylog.Actor, error) {
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			return activitylog.Actor{ID: "u-1", Name: "Ann"}, nil
		case "Bearer bad":
			return activitylog.Actor{}, errBad
		case "Bearer panic":
			panic("parser bug")
		}
		return activitylog.Actor{}, nil
	}
	tests := []struct {
		name      string
		auth      string
		ctxActor  string
		wantID    string
		wantAuth  any
		wantInner string // the actor events inside the handler see
	}{
		{name: "valid token", auth: "Bearer good", wantID: "u-1", wantInner: "u-1"},
		{name: "invalid token", auth: "Bearer bad", wantAuth: "token_invalid"},
		{name: "reader panics", auth: "Bearer panic", wantAuth: "token_invalid"},
		{name: "no token", wantID: ""},
		{name: "host's actor wins", auth: "Bearer good", ctxActor: "host-9", wantID: "host-9", wantInner: "host-9"},
		{name: "host's actor wins over a bad token", auth: "Bearer bad", ctxActor: "host-9", wantID: "host-9", wantInner: "host-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/orders", nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if tt.ctxActor != "" {
				r = r.WithContext(activitylog.WithActor(r.Context(), activitylog.Actor{ID: tt.ctxActor}))
			}
			var inner string
			got, w := serve(t, &httpaudit.Options{Actor: creds}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inner = activitylog.ActorFrom(r.Context()).ID
			}), r)
			if w.Code != 200 {
				t.Errorf("status %d: bad credentials must never break the request", w.Code)
			}
			if got.Actor.ID != tt.wantID || inner != tt.wantInner {
				t.Errorf("actor %q, inside %q; want %q, %q", got.Actor.ID, inner, tt.wantID, tt.wantInner)
			}
			if got.Extra["auth"] != tt.wantAuth {
				t.Errorf("extra auth %v, want %v", got.Extra["auth"], tt.wantAuth)
			}
			if tt.wantAuth != nil {
				if got.Actor.Type != activitylog.ActorAnonymous {
					t.Errorf("actor type %q, want anonymous", got.Actor.Type)
				}
				if s, _ := got.Extra["auth_error"].(string); s == "" || strings.Contains(s, "Bearer") {
					t.Errorf("auth_error %q", s)
				}
			}
		})
	}
}

func TestTrustedProxiesInEvent(t *testing.T) {
	t.Parallel()
	ps, err := httpaudit.ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ remote, xff, want string }{
		{"10.0.0.2:80", "6.6.6.6, 203.0.113.9", "203.0.113.9"},       // forged left-most loses
		{"198.51.100.2:80", "203.0.113.9", "198.51.100.2"},           // untrusted peer
		{"10.0.0.2:80", "203.0.113.9, ../../etc/passwd", "10.0.0.2"}, // garbage never stored
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		r.Header.Set("X-Forwarded-For", tt.xff)
		got, _ := serve(t, &httpaudit.Options{TrustedProxies: ps, NoSecurity: true}, http.NotFoundHandler(), r)
		if got.Request.RemoteIP != tt.want {
			t.Errorf("remote %s XFF %q: client %q, want %q", tt.remote, tt.xff, got.Request.RemoteIP, tt.want)
		}
	}
}

func TestCORSEvents(t *testing.T) {
	t.Parallel()
	allow := func(origin string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if origin != "" {
				w.Header().Set("Access-Control-Allow-Origin", origin)
			}
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
			}
		}
	}
	tests := []struct {
		name        string
		method      string
		header      map[string]string
		handler     http.HandlerFunc
		wantKind    activitylog.Kind
		wantAction  string
		wantAllowed any
		wantPage    any
		wantSource  any
	}{
		{name: "same origin is a request", method: "GET", header: map[string]string{"Origin": "http://shop.example"},
			handler: allow(""), wantKind: activitylog.KindRequest, wantAction: "GET"},
		{name: "cross origin allowed", method: "GET",
			header:  map[string]string{"Origin": "https://app.example", "Referer": "https://app.example/cart"},
			handler: allow("https://app.example"), wantKind: activitylog.KindCORS, wantAction: "GET", wantAllowed: true,
			wantPage: "https://app.example/cart", wantSource: "referer"},
		{name: "cross origin refused", method: "POST",
			header:  map[string]string{"Origin": "https://evil.example", "X-Frontend-URL": "https://evil.example/x"},
			handler: allow("https://app.example"), wantKind: activitylog.KindCORS, wantAction: "POST", wantAllowed: false,
			wantPage: "https://evil.example/x", wantSource: "client"},
		{name: "wildcard allowed", method: "GET", header: map[string]string{"Origin": "https://any.example"},
			handler: allow("*"), wantKind: activitylog.KindCORS, wantAction: "GET", wantAllowed: true},
		{name: "preflight", method: "OPTIONS",
			header:  map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "x-token"},
			handler: allow("https://app.example"), wantKind: activitylog.KindCORS, wantAction: "preflight", wantAllowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, "http://shop.example/api/cart", nil)
			r.RemoteAddr = "203.0.113.4:5555"
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			got, _ := serve(t, nil, tt.handler, r)
			if got.Kind != tt.wantKind || got.Action != tt.wantAction {
				t.Fatalf("kind %s action %s, want %s %s", got.Kind, got.Action, tt.wantKind, tt.wantAction)
			}
			if tt.wantKind != activitylog.KindCORS {
				return
			}
			if got.Extra["allowed"] != tt.wantAllowed || got.Extra["page_url"] != tt.wantPage || got.Extra["page_url_source"] != tt.wantSource {
				t.Errorf("extra %v", got.Extra)
			}
			if got.Request.Origin != tt.header["Origin"] || got.Request.RemoteIP != "203.0.113.4" || got.Request.Path != "/api/cart" {
				t.Errorf("request %+v", got.Request)
			}
			if tt.wantAction == "preflight" && (got.Extra["requested_method"] != "DELETE" || got.Extra["requested_headers"] != "x-token") {
				t.Errorf("preflight extra %v", got.Extra)
			}
		})
	}
}

func TestPolicyLevelsInMiddleware(t *testing.T) {
	t.Parallel()
	policy := mustPolicy(t, &httpaudit.PolicyOptions{
		Rules: []httpaudit.Rule{
			{Path: `^/none`, Level: httpaudit.LevelNone},
			{Path: `^/req$`, Level: httpaudit.LevelRequest},
			{Path: `^/both`, Level: httpaudit.LevelRequestResponse},
		},
	})
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "sid=secret-session")
		w.Write(b)
	})
	body := `{"user":"ann","password":"hunter2","nested":{"api_key":"k-123"}}`
	tests := []struct {
		path              string
		events            int
		wantReq, wantResp bool
		wantReqHeaders    bool
		wantRespHeaders   bool
	}{
		{"/none", 0, false, false, false, false},
		{"/healthz", 0, false, false, false, false}, // default deny
		{"/meta", 1, false, false, false, false},
		{"/req", 1, true, false, true, false},
		{"/both", 1, true, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			c := newCollector()
			r := httptest.NewRequest("POST", tt.path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer abc.def.ghi")
			r.Header.Set("Cookie", "sid=secret-session")
			w := httptest.NewRecorder()
			httpaudit.Middleware(c, &httpaudit.Options{Policy: policy})(echo).ServeHTTP(w, r)
			if w.Body.String() != body {
				t.Fatalf("handler's response changed: %q", w.Body.String())
			}
			evs := c.all()
			if len(evs) != tt.events {
				t.Fatalf("%d events, want %d", len(evs), tt.events)
			}
			if tt.events == 0 {
				return
			}
			e := evs[0]
			if (e.Request.Body != "") != tt.wantReq || (e.Response.Body != "") != tt.wantResp ||
				(e.Request.Headers != nil) != tt.wantReqHeaders || (e.Response.Headers != nil) != tt.wantRespHeaders {
				t.Fatalf("request body %q, response body %q, headers %v / %v", e.Request.Body, e.Response.Body, e.Request.Headers, e.Response.Headers)
			}
			b, _ := json.Marshal(e)
			for _, secret := range []string{"abc.def.ghi", "secret-session"} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("event holds %q raw: %s", secret, b)
				}
			}
			if tt.wantReq {
				var doc map[string]any
				if err := json.Unmarshal([]byte(e.Request.Body), &doc); err != nil {
					t.Errorf("JSON body not stored as JSON: %q", e.Request.Body)
				}
				// Through the Recorder's redaction, the password goes.
				red := activitylog.NewRedactor(nil).Body(e.Request.Body)
				if strings.Contains(red, "hunter2") || strings.Contains(red, "k-123") {
					t.Errorf("redacted body still holds secrets: %s", red)
				}
			}
		})
	}
}

// A 10 MB body is passed to the handler whole, and kept only up to
// MaxBody, with the cut said.
func TestLargeBodyIsCut(t *testing.T) {
	t.Parallel()
	policy := mustPolicy(t, &httpaudit.PolicyOptions{Level: httpaudit.LevelRequestResponse})
	big := strings.Repeat("a", 10<<20)
	var read int
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		read = len(b)
		w.Header().Set("Content-Type", "text/plain")
		io.Copy(w, strings.NewReader(big))
	})
	r := httptest.NewRequest("POST", "/upload", strings.NewReader(big))
	r.Header.Set("Content-Type", "text/plain")
	// No slow-request event: under the race detector 10 MB takes seconds.
	got, w := serve(t, &httpaudit.Options{Policy: policy, MaxBody: 1 << 10, SlowThreshold: -1}, h, r)
	if read != len(big) || w.Body.Len() != len(big) {
		t.Fatalf("handler read %d, client got %d; want %d each", read, w.Body.Len(), len(big))
	}
	for name, b := range map[string]string{"request": got.Request.Body, "response": got.Response.Body} {
		if len(b) > 2<<10 || !strings.Contains(b, "truncated") {
			t.Errorf("%s body: %d bytes, %q…", name, len(b), b[:min(len(b), 80)])
		}
	}
	if got.Response.ResponseBytes != int64(len(big)) || got.Response.RequestBytes != int64(len(big)) {
		t.Errorf("bytes %d / %d", got.Response.RequestBytes, got.Response.ResponseBytes)
	}
}

// Streaming responses still stream at the level that keeps bodies.
func TestStreamingAtRequestResponseLevel(t *testing.T) {
	t.Parallel()
	policy := mustPolicy(t, &httpaudit.PolicyOptions{Level: httpaudit.LevelRequestResponse})
	c := newCollector()
	next := make(chan struct{})
	srv := httptest.NewServer(httpaudit.Middleware(c, &httpaudit.Options{Policy: policy})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			io.WriteString(w, "data: "+string(rune('0'+i))+"\n\n")
			w.(http.Flusher).Flush()
			<-next
		}
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	for i := range 3 {
		n, err := resp.Body.Read(buf)
		if err != nil || !strings.Contains(string(buf[:n]), "data: "+string(rune('0'+i))) {
			t.Fatalf("event %d: %q, %v: the stream was buffered", i, buf[:n], err)
		}
		next <- struct{}{}
	}
	c.wait(t)
	if e := c.one(t); !strings.Contains(e.Response.Body, "data: 2") {
		t.Errorf("kept body %q", e.Response.Body)
	}
}

func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	c := newCollector()
	h := httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]int
		m["x"] = 1 // panics: assignment to entry in nil map
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	if w.Code != 500 {
		t.Errorf("status %d, want 500", w.Code)
	}
	req := c.byKind(activitylog.KindRequest)
	sys := c.byKind(activitylog.KindSystem)
	if len(req) != 1 || req[0].Response.Status != 500 {
		t.Fatalf("request events %+v", req)
	}
	if len(sys) != 1 {
		t.Fatalf("%d system events, want 1 panic", len(sys))
	}
	p := sys[0]
	if p.Severity != activitylog.SeverityCritical || p.Category != "panic" || p.Action != "error" {
		t.Errorf("panic event %s/%s/%s", p.Severity, p.Category, p.Action)
	}
	if fn, _ := p.Extra["function"].(string); !strings.Contains(fn, "TestPanicRecovered") {
		t.Errorf("function %q, want the handler's", fn)
	}
	if file, _ := p.Extra["file"].(string); !strings.HasSuffix(file, "middleware_capture_test.go") || p.Extra["line"].(int) == 0 {
		t.Errorf("file %q line %v", file, p.Extra["line"])
	}
	if st, _ := p.Extra["stack"].(string); !strings.Contains(st, "goroutine") {
		t.Errorf("stack %q", st)
	}
	if !strings.Contains(p.Extra["panic"].(string), "nil map") || p.Request.Path != "/boom" {
		t.Errorf("panic value %v, path %q", p.Extra["panic"], p.Request.Path)
	}
}

func TestPanicRepanic(t *testing.T) {
	t.Parallel()
	c := newCollector()
	h := httpaudit.Middleware(c, &httpaudit.Options{Repanic: true})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("again") }))
	func() {
		defer func() {
			if p := recover(); p != "again" {
				t.Errorf("recovered %v", p)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	if n := len(c.byKind(activitylog.KindSystem)); n != 1 {
		t.Errorf("%d panic events", n)
	}
}

func TestSlowRequest(t *testing.T) {
	t.Parallel()
	c := newCollector()
	h := httpaudit.Middleware(c, &httpaudit.Options{SlowThreshold: 20 * time.Millisecond})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(40 * time.Millisecond)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/fast", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/slow", nil))
	sys := c.byKind(activitylog.KindSystem)
	if len(sys) != 1 || sys[0].Action != "performance" || sys[0].Category != "slow_request" || sys[0].Request.Path != "/slow" {
		t.Fatalf("system events %+v", sys)
	}
	if sys[0].Response.Duration < 20*time.Millisecond {
		t.Errorf("duration %v", sys[0].Response.Duration)
	}
}

func TestSecuritySignalsRateLimited(t *testing.T) {
	t.Parallel()
	c := newCollector()
	c.ch = make(chan struct{}, 1000)
	h := httpaudit.Middleware(c, &httpaudit.Options{SecurityWindow: 50 * time.Millisecond})(http.NotFoundHandler())
	send := func(ip, target string) {
		r := httptest.NewRequest("GET", target, nil)
		r.RemoteAddr = ip + ":1000"
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	for range 20 {
		send("203.0.113.66", "/.env")
	}
	send("203.0.113.77", "/.env")
	send("203.0.113.66", "/orders?q=O%27Brien") // ordinary: no signal
	sec := func() []activitylog.Event {
		var out []activitylog.Event
		for _, e := range c.byKind(activitylog.KindSystem) {
			if e.Action == "security" {
				out = append(out, e)
			}
		}
		return out
	}
	if n := len(sec()); n != 2 {
		t.Fatalf("%d security events during the window, want 2 (one per address)", n)
	}
	if n := len(c.byKind(activitylog.KindRequest)); n != 22 {
		t.Errorf("%d request events, want 22", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(sec()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	all := sec()
	if len(all) != 3 {
		t.Fatalf("%d security events after the window, want 3", len(all))
	}
	sum := all[2]
	if sum.Extra["suppressed"] != 19 || sum.Extra["summary"] != true || sum.Request.RemoteIP != "203.0.113.66" {
		t.Errorf("summary %+v", sum.Extra)
	}
}

// Hostile input never breaks the host's request and never reaches the
// store unredacted.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	ps, _ := httpaudit.ParseTrustedProxies([]string{"10.0.0.0/8"})
	rec, w := syncRecorder(t)
	policy := mustPolicy(t, &httpaudit.PolicyOptions{Level: httpaudit.LevelRequestResponse})
	h := httpaudit.Middleware(rec, &httpaudit.Options{
		TrustedProxies: ps, Policy: policy,
		Actor: func(r *http.Request) (activitylog.Actor, error) {
			return activitylog.Actor{}, errors.New("token_invalid: alg none refused")
		},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"ok":true}`))
	}))
	r := httptest.NewRequest("POST", "/api/login?password=p4ss&token=t0k", strings.NewReader(`{"password":"hunter2","card":"4111 1111 1111 1111"}`))
	r.RemoteAddr = "10.0.0.9:1"
	r.Header.Set("X-Forwarded-For", "1.1.1.1, garbage")
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290In0.")
	r.Header.Set("Sec-CH-UA", `"Chromium";v="1`)
	r.Header.Set("Content-Type", "application/json")
	resp := httptest.NewRecorder()
	h.ServeHTTP(resp, r)
	if resp.Code != 200 {
		t.Fatalf("status %d", resp.Code)
	}
	evs := w.all()
	if len(evs) == 0 {
		t.Fatal("nothing recorded")
	}
	b, _ := json.Marshal(evs)
	for _, secret := range []string{"p4ss", "t0k", "hunter2", "4111 1111 1111 1111", "eyJhbGciOiJub25lIn0"} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("stored events hold %q", secret)
		}
	}
	if evs[0].Request.RemoteIP != "10.0.0.9" {
		t.Errorf("client %q: garbage in XFF must end the walk at the proxy", evs[0].Request.RemoteIP)
	}
}

var _ = sync.Mutex{}
var _ = context.Background
