package forward_test

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

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/forward"
)

const testToken = "11111111-2222-3333-4444-555555555555"

// hecServer is a local HEC endpoint that checks the request and
// decodes the concatenated event objects.
type hecServer struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   [][]byte
	events   []map[string]any
	status   int    // answer with this status when not 0
	answer   string // and this body
	channels []string
}

func newHECServer(t *testing.T) *hecServer {
	s := &hecServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/services/collector/event" {
			t.Errorf("got %s %s, want POST /services/collector/event", r.Method, r.URL.Path)
		}
		if s.status != 0 {
			w.WriteHeader(s.status)
			io.WriteString(w, s.answer)
			return
		}
		if got := r.Header.Get("Authorization"); got != "Splunk "+testToken {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"text":"Invalid token","code":4}`)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		s.channels = append(s.channels, r.Header.Get("X-Splunk-Request-Channel"))
		body, _ := io.ReadAll(r.Body)
		s.bodies = append(s.bodies, body)
		dec := json.NewDecoder(bytes.NewReader(body))
		for dec.More() {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"text":"Invalid data format","code":6}`)
				t.Errorf("decode HEC body: %v", err)
				return
			}
			s.events = append(s.events, m)
		}
		io.WriteString(w, `{"text":"Success","code":0}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestHECFormat(t *testing.T) {
	t.Parallel()
	srv := newHECServer(t)
	h, err := forward.NewHEC(srv.URL, testToken, &forward.HECOptions{Index: "audit", Host: "web-1", Channel: "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"})
	if err != nil {
		t.Fatal(err)
	}
	e := fixture()
	if err := h.Write(context.Background(), []activitylog.Event{e, e}); err != nil {
		t.Fatal(err)
	}
	if len(srv.bodies) != 1 || len(srv.events) != 2 {
		t.Fatalf("got %d requests, %d events; want 1, 2", len(srv.bodies), len(srv.events))
	}
	golden(t, "hec.golden", srv.bodies[0][:len(srv.bodies[0])/2])
	if srv.channels[0] != "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba" {
		t.Errorf("channel header %q", srv.channels[0])
	}
	m := srv.events[0]
	for k, want := range map[string]any{"time": 1732523415.123456, "host": "web-1", "source": "activitylog", "sourcetype": "activitylog:auth", "index": "audit"} {
		if m[k] != want {
			t.Errorf("%s: got %v, want %v", k, m[k], want)
		}
	}
	ev, _ := json.Marshal(m["event"])
	var back activitylog.Event
	if err := json.Unmarshal(ev, &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != e.ID || !back.Time.Equal(e.Time) || back.Message != e.Message {
		t.Errorf("event round trip: got %+v", back)
	}
}

func TestHECServerErrorIsUnavailable(t *testing.T) {
	t.Parallel()
	srv := newHECServer(t)
	srv.status, srv.answer = http.StatusServiceUnavailable, `{"text":"Server is busy","code":9}`
	h, _ := forward.NewHEC(srv.URL, testToken, nil)
	err := h.Write(context.Background(), batch(2))
	if !errors.Is(err, activitylog.ErrUnavailable) {
		t.Fatalf("got %v, want an error wrapping ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "status 503: Server is busy (code 9)") {
		t.Errorf("error %q does not give the status and HEC's text", err)
	}
}

func TestHECBadTokenIsNotShown(t *testing.T) {
	t.Parallel()
	srv := newHECServer(t)
	bad := "deadbeef-secret-token"
	h, _ := forward.NewHEC(srv.URL, bad, nil)
	err := h.Write(context.Background(), batch(1))
	if err == nil || !strings.Contains(err.Error(), "status 403: Invalid token (code 4)") {
		t.Fatalf("got %v, want the 403 and HEC's text", err)
	}
	if errors.Is(err, activitylog.ErrUnavailable) || errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("a bad token is neither unavailable nor invalid input: %v", err)
	}
	if strings.Contains(err.Error(), bad) {
		t.Errorf("error shows the token: %v", err)
	}
	// A server that echoes the token back does not get it shown either.
	srv.status, srv.answer = http.StatusUnauthorized, `{"text":"token `+bad+` is disabled","code":1}`
	err = h.Write(context.Background(), batch(1))
	if err == nil || strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("got %v, want the token replaced", err)
	}
}

func TestHECDown(t *testing.T) {
	t.Parallel()
	srv := newHECServer(t)
	srv.Close()
	h, _ := forward.NewHEC(srv.URL, testToken, nil)
	if err := h.Write(context.Background(), batch(1)); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestHECSplitsLargeBatch(t *testing.T) {
	t.Parallel()
	srv := newHECServer(t)
	const max = 4000
	h, _ := forward.NewHEC(srv.URL+"/services/collector/event", testToken, &forward.HECOptions{MaxBatchBytes: max})
	es := batch(25)
	if err := h.Write(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	if len(srv.bodies) < 2 {
		t.Fatalf("%d requests, want a split batch", len(srv.bodies))
	}
	for i, b := range srv.bodies {
		if len(b) > max {
			t.Errorf("request %d has %d bytes, more than %d", i, len(b), max)
		}
	}
	if len(srv.events) != len(es) {
		t.Fatalf("got %d events, want %d", len(srv.events), len(es))
	}
	for i, m := range srv.events {
		if id := m["event"].(map[string]any)["id"]; id != es[i].ID.String() {
			t.Errorf("event %d: id %v, want %s (in order)", i, id, es[i].ID)
		}
	}
}

func TestHECAck(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("X-Splunk-Request-Channel") != "chan-1" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"text":"Data channel is missing","code":10}`)
			return
		}
		switch r.URL.Path {
		case "/services/collector/event":
			io.WriteString(w, `{"text":"Success","code":0,"ackId":7}`)
		case "/services/collector/ack":
			body, _ := io.ReadAll(r.Body)
			if string(body) != `{"acks":[7]}` {
				t.Errorf("ack body %s", body)
			}
			polls++
			if polls < 3 {
				io.WriteString(w, `{"acks":{"7":false}}`)
			} else {
				io.WriteString(w, `{"acks":{"7":true}}`)
			}
		}
	}))
	defer srv.Close()
	h, err := forward.NewHEC(srv.URL, testToken, &forward.HECOptions{Channel: "chan-1", Ack: true, AckInterval: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Write(context.Background(), batch(3)); err != nil {
		t.Fatal(err)
	}
	if polls != 3 {
		t.Errorf("%d ack polls, want 3 (until acknowledged)", polls)
	}
}

func TestNewHECRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, token string
		opts       *forward.HECOptions
		field      string
	}{
		{"ftp://x", "t", nil, "url"},
		{"http://x", "", nil, "token"},
		{"http://x", "t", &forward.HECOptions{Ack: true}, "channel"},
		{"http://x", "t", &forward.HECOptions{MaxBatchBytes: -1}, "max_batch_bytes"},
	} {
		_, err := forward.NewHEC(tc.url, tc.token, tc.opts)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("NewHEC(%q, %q, %+v): got %v, want a FieldError for %s", tc.url, tc.token, tc.opts, err, tc.field)
		}
	}
}
