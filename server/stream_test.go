package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/activitylog/activitylog"
)

func TestMatches(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	e := &activitylog.Event{
		Time:     at,
		Kind:     activitylog.KindCRUD,
		Action:   "update",
		Message:  "Changed the Price",
		Tenant:   "acme",
		Actor:    activitylog.Actor{ID: "u1", Name: "Ada Lovelace"},
		Object:   activitylog.Object{Type: "product", ID: "42", Repr: "Widget Ünicode"},
		Request:  activitylog.Request{Path: "/api/Products/42", RemoteIP: "10.0.0.1"},
		Response: activitylog.Response{Status: 404},
	}
	tests := []struct {
		name string
		f    activitylog.Filter
		want bool
	}{
		{"zero filter", activitylog.Filter{}, true},
		{"kind", activitylog.Filter{Kind: activitylog.KindCRUD}, true},
		{"other kind", activitylog.Filter{Kind: activitylog.KindAuth}, false},
		{"action", activitylog.Filter{Action: "update"}, true},
		{"other action", activitylog.Filter{Action: "create"}, false},
		{"actor", activitylog.Filter{ActorID: "u1"}, true},
		{"other actor", activitylog.Filter{ActorID: "u2"}, false},
		{"tenant", activitylog.Filter{Tenant: "acme"}, true},
		{"tenant is exact", activitylog.Filter{Tenant: "ACME"}, false},
		{"remote ip", activitylog.Filter{RemoteIP: "10.0.0.1"}, true},
		{"other remote ip", activitylog.Filter{RemoteIP: "10.0.0.2"}, false},
		{"object", activitylog.Filter{ObjectType: "product", ObjectID: "42"}, true},
		{"other object type", activitylog.Filter{ObjectType: "order"}, false},
		{"other object id", activitylog.Filter{ObjectID: "43"}, false},
		{"from is inclusive", activitylog.Filter{From: at}, true},
		{"from after", activitylog.Filter{From: at.Add(time.Nanosecond)}, false},
		{"to is exclusive", activitylog.Filter{To: at}, false},
		{"to after", activitylog.Filter{To: at.Add(time.Nanosecond)}, true},
		{"status_gte equal", activitylog.Filter{StatusMin: 404}, true},
		{"status_gte above", activitylog.Filter{StatusMin: 500}, false},
		{"status_lte equal", activitylog.Filter{StatusMax: 404}, true},
		{"status_lte below", activitylog.Filter{StatusMax: 399}, false},
		{"status range", activitylog.Filter{StatusMin: 400, StatusMax: 499}, true},
		{"search message, any case", activitylog.Filter{Search: "the price"}, true},
		{"search path", activitylog.Filter{Search: "products/4"}, true},
		{"search repr", activitylog.Filter{Search: "WIDGET"}, true},
		{"search actor name", activitylog.Filter{Search: "lovelace"}, true},
		{"search folds ASCII only", activitylog.Filter{Search: "ünicode"}, false},
		{"search non-ASCII exact", activitylog.Filter{Search: "Ünicode"}, true},
		{"search % is literal", activitylog.Filter{Search: "%"}, false},
		{"search miss", activitylog.Filter{Search: "nothing"}, false},
		{"search not in tenant", activitylog.Filter{Search: "acme"}, false},
		{"all at once", activitylog.Filter{Kind: activitylog.KindCRUD, Tenant: "acme", StatusMin: 400, Search: "price"}, true},
		{"all but one", activitylog.Filter{Kind: activitylog.KindCRUD, Tenant: "acme", StatusMin: 400, Search: "cost"}, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(e); got != tt.want {
			t.Errorf("%s: Match(%+v): got %v, want %v", tt.name, tt.f, got, tt.want)
		}
	}
	// Status bounds apply to events without a status as to status 0,
	// as in the stores.
	if (activitylog.Filter{StatusMin: 100}).Match(&activitylog.Event{}) {
		t.Error("status_gte matched an event without status")
	}
	if !(activitylog.Filter{StatusMax: 500}).Match(&activitylog.Event{}) {
		t.Error("status_lte did not match an event without status")
	}
}

// nopQuerier answers every query with nothing.
type nopQuerier struct{}

func (nopQuerier) Query(context.Context, activitylog.Filter) (activitylog.Page, error) {
	return activitylog.Page{}, nil
}
func (nopQuerier) Get(context.Context, activitylog.ID) (activitylog.Event, error) {
	return activitylog.Event{}, activitylog.ErrNotFound
}
func (nopQuerier) Count(context.Context, activitylog.Filter) (int64, error) { return 0, nil }

// streamEnv is a real HTTP server with streams on 127.0.0.1.
type streamEnv struct {
	b   *Broadcaster
	srv *httptest.Server
}

func newStreamEnv(t *testing.T, bo *BroadcastOptions, so *StreamOptions) *streamEnv {
	t.Helper()
	b := NewBroadcaster(&memWriter{}, bo)
	if so == nil {
		so = &StreamOptions{}
	}
	so.Broadcaster = b
	srv := httptest.NewServer(New(nopQuerier{}, nil, &Options{Stream: so, Authenticate: streamAuth}))
	t.Cleanup(srv.Close)
	t.Cleanup(b.Close) // runs first: it ends the streams
	return &streamEnv{b: b, srv: srv}
}

// waitSubscribers waits until n subscriptions are open, so that a test
// writes only once its clients listen.
func (e *streamEnv) waitSubscribers(t *testing.T, n int) {
	t.Helper()
	for e.b.subscribers() < n {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// sseBlock is one blank-line-terminated block of an event stream.
type sseBlock struct {
	id, event, data string
	comments        []string
}

type sseClient struct {
	resp *http.Response
	r    *bufio.Reader
}

func getSSE(t *testing.T, url string, hdr http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// openSSE opens a stream and reads its opening comment, after which
// the server has subscribed.
func openSSE(t *testing.T, url string, hdr http.Header) *sseClient {
	t.Helper()
	resp := getSSE(t, url, hdr)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, b)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type: got %q, want text/event-stream", ct)
	}
	c := &sseClient{resp: resp, r: bufio.NewReader(resp.Body)}
	b, err := c.next()
	if err != nil || len(b.comments) != 1 || b.comments[0] != "stream open" {
		t.Fatalf("opening block: got %+v, %v", b, err)
	}
	return c
}

func (c *sseClient) next() (sseBlock, error) {
	var b sseBlock
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return b, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return b, nil
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "":
			b.comments = append(b.comments, value)
		case "id":
			b.id = value
		case "event":
			b.event = value
		case "data":
			b.data = value
		}
	}
}

// nextEvent skips heartbeats and returns the next event's seq and event.
func (c *sseClient) nextEvent() (uint64, activitylog.Event, error) {
	for {
		b, err := c.next()
		if err != nil {
			return 0, activitylog.Event{}, err
		}
		if b.event != "event" {
			continue
		}
		seq, err := strconv.ParseUint(b.id, 10, 64)
		if err != nil {
			return 0, activitylog.Event{}, fmt.Errorf("id %q: %w", b.id, err)
		}
		var e activitylog.Event
		if err := json.Unmarshal([]byte(b.data), &e); err != nil {
			return 0, e, fmt.Errorf("data %q: %w", b.data, err)
		}
		return seq, e, nil
	}
}

type wsMessage struct {
	ID    uint64             `json:"id"`
	Event *activitylog.Event `json:"event"`
	Gap   *struct {
		Missed int64 `json:"missed"`
	} `json:"gap"`
}

// streamAuth is the streams' test Authenticator: no Authorization
// header is a superuser, so that the other tests need none; the bearer
// tokens "nobody" (not signed in), "mallory" (no view permission) and
// "ada" (view_logs, her own events) are the principals of
// TestStreamAuthentication.
func streamAuth(r *http.Request) (*activitylog.Principal, error) {
	switch tok := BearerToken(r); tok {
	case "":
		return &activitylog.Principal{ID: "root", Permissions: []activitylog.Permission{activitylog.Superuser}}, nil
	case "nobody":
		return nil, nil
	case "mallory":
		return &activitylog.Principal{ID: "mallory", Permissions: []activitylog.Permission{activitylog.ManageRetention}}, nil
	case "ada":
		return &activitylog.Principal{ID: "ada", Permissions: []activitylog.Permission{activitylog.ViewLogs}}, nil
	default:
		return nil, errors.New("unknown token " + tok)
	}
}

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	return dialWSAs(t, url, "")
}

func dialWSAs(t *testing.T, url, token string) *websocket.Conn {
	t.Helper()
	var o *websocket.DialOptions
	if token != "" {
		o = &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}}
	}
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(url, "http"), o)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readWS(c *websocket.Conn) (wsMessage, error) {
	var m wsMessage
	typ, data, err := c.Read(context.Background())
	if err != nil {
		return m, err
	}
	if typ != websocket.MessageText {
		return m, fmt.Errorf("message type %v, want text", typ)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("message %s: %w", data, err)
	}
	return m, nil
}

func tenantEvents(tenants ...string) []activitylog.Event {
	events := newEvents(len(tenants))
	for i := range events {
		events[i].Tenant = tenants[i]
	}
	return events
}

func TestStreamNotConfigured(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(New(nopQuerier{}, nil, nil))
	defer srv.Close()
	for _, path := range []string{"/api/v1/stream", "/api/v1/ws"} {
		resp := getSSE(t, srv.URL+path, nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(body), `"not_implemented"`) {
			t.Errorf("GET %s: got %d %s, want 501 not_implemented", path, resp.StatusCode, body)
		}
	}
}

func TestStreamRefusesBadParameters(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil, nil)
	tests := []struct {
		query string
		hdr   string
		field string
	}{
		{"ordering=-time", "", "ordering"},
		{"cursor=abc", "", "cursor"},
		{"page=2", "", "page"},
		{"page_size=10", "", "page_size"},
		{"kind=nonsense", "", "kind"},
		{"status_gte=abc", "", "status_gte"},
		{"colour=red", "", "colour"},
		{"last_event_id=x", "", "last_event_id"},
		{"", "x", "Last-Event-ID"},
	}
	for _, tt := range tests {
		hdr := http.Header{}
		if tt.hdr != "" {
			hdr.Set("Last-Event-ID", tt.hdr)
		}
		resp := getSSE(t, e.srv.URL+"/api/v1/stream?"+tt.query, hdr)
		var body struct {
			Error apiError `json:"error"`
		}
		err := json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || err != nil || body.Error.Field != tt.field {
			t.Errorf("?%s: got %d field %q (%v), want 400 naming %q", tt.query, resp.StatusCode, body.Error.Field, err, tt.field)
		}
	}
	// The WebSocket refuses them with a policy-violation close.
	c := dialWS(t, e.srv.URL+"/api/v1/ws?ordering=time")
	_, err := readWS(c)
	if got := websocket.CloseStatus(err); got != websocket.StatusPolicyViolation {
		t.Errorf("ws ?ordering: close status %v (%v), want %v", got, err, websocket.StatusPolicyViolation)
	}
}

func TestStreamAuthentication(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil, nil)
	for _, tt := range []struct {
		token  string
		query  string
		status int
		close  websocket.StatusCode
	}{
		{"nobody", "", http.StatusUnauthorized, CloseUnauthenticated},
		{"forged", "", http.StatusUnauthorized, CloseUnauthenticated},
		{"mallory", "", http.StatusForbidden, CloseForbidden},
		{"ada", "?user_id=bob", http.StatusForbidden, CloseForbidden}, // another user's events
		{"ada", "?tenant=acme", http.StatusForbidden, CloseForbidden}, // another tenant
	} {
		resp := getSSE(t, e.srv.URL+"/api/v1/stream"+tt.query, http.Header{"Authorization": {"Bearer " + tt.token}})
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("sse %s %q: got %d %s, want %d JSON", tt.token, tt.query, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status)
		}
		c := dialWSAs(t, e.srv.URL+"/api/v1/ws"+tt.query, tt.token)
		_, err := readWS(c)
		if got := websocket.CloseStatus(err); got != tt.close {
			t.Errorf("ws %s %q: close status %v (%v), want %v", tt.token, tt.query, got, err, tt.close)
		}
	}

	// ada sees her own events only, live and from the backlog.
	sse := openSSE(t, e.srv.URL+"/api/v1/stream", http.Header{"Authorization": {"Bearer ada"}})
	ws := dialWSAs(t, e.srv.URL+"/api/v1/ws", "ada")
	e.waitSubscribers(t, 2)
	batch := newEvents(4)
	for i, who := range []string{"bob", "ada", "bob", "ada"} {
		batch[i].Actor.ID = who
		batch[i].Message = who
	}
	if err := e.b.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		_, ev, err := sse.nextEvent()
		if err != nil || ev.Actor.ID != "ada" {
			t.Errorf("sse event %d: %+v %v, want only ada's", i, ev.Actor, err)
		}
		m, err := readWS(ws)
		if err != nil || m.Event.Actor.ID != "ada" {
			t.Errorf("ws event %d: %+v %v, want only ada's", i, m.Event.Actor, err)
		}
	}
}

func TestSSEFilterAllowAndResume(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil, &StreamOptions{
		Allow: func(r *http.Request, ev *activitylog.Event) bool { return ev.Message != "secret" },
	})
	url := e.srv.URL + "/api/v1/stream?tenant=acme"
	c := openSSE(t, url, nil)
	events := tenantEvents("acme", "other", "acme", "acme")
	events[2].Message = "secret"
	write(t, e.b, events) // seqs 1…4
	for _, want := range []uint64{1, 4} {
		seq, ev, err := c.nextEvent()
		if err != nil || seq != want || ev.Tenant != "acme" || ev.ID != events[want-1].ID {
			t.Fatalf("got seq %d tenant %q (%v), want seq %d of acme", seq, ev.Tenant, err, want)
		}
	}
	c.resp.Body.Close()                                  // the client goes away…
	write(t, e.b, tenantEvents("acme", "other", "acme")) // seqs 5…7

	// …and comes back: the header wins over the query parameter.
	c = openSSE(t, url+"&last_event_id=1", http.Header{"Last-Event-ID": {"4"}})
	write(t, e.b, tenantEvents("acme")) // seq 8
	for _, want := range []uint64{5, 7, 8} {
		seq, _, err := c.nextEvent()
		if err != nil || seq != want {
			t.Fatalf("resumed: got seq %d (%v), want %d", seq, err, want)
		}
	}
	// The query parameter alone works too.
	c = openSSE(t, url+"&last_event_id=6", nil)
	if seq, _, err := c.nextEvent(); err != nil || seq != 7 {
		t.Fatalf("last_event_id=6: got seq %d (%v), want 7", seq, err)
	}
}

func TestSSEGap(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, &BroadcastOptions{Backlog: 3}, nil)
	write(t, e.b, newEvents(6)) // the backlog keeps 4…6
	c := openSSE(t, e.srv.URL+"/api/v1/stream", http.Header{"Last-Event-ID": {"1"}})
	b, err := c.next()
	if err != nil || b.event != "gap" || b.data != `{"missed":2}` || b.id != "" {
		t.Fatalf("got %+v (%v), want a gap event of 2 missed", b, err)
	}
	for _, want := range []uint64{4, 5, 6} {
		if seq, _, err := c.nextEvent(); err != nil || seq != want {
			t.Fatalf("got seq %d (%v), want %d", seq, err, want)
		}
	}
}

func TestSSEHeartbeat(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil, &StreamOptions{Heartbeat: time.Millisecond})
	c := openSSE(t, e.srv.URL+"/api/v1/stream", nil)
	b, err := c.next()
	if err != nil || len(b.comments) != 1 || b.comments[0] != "heartbeat" || b.event != "" {
		t.Fatalf("got %+v (%v), want a heartbeat comment", b, err)
	}
}

func TestWebSocketFilterAndResume(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, &BroadcastOptions{Backlog: 4}, &StreamOptions{Heartbeat: time.Millisecond})
	c := dialWS(t, e.srv.URL+"/api/v1/ws?tenant=acme")
	e.waitSubscribers(t, 1)
	events := tenantEvents("acme", "other", "acme")
	write(t, e.b, events)
	for _, want := range []uint64{1, 3} {
		m, err := readWS(c) // heartbeat pings are not messages
		if err != nil || m.ID != want || m.Event == nil || m.Event.ID != events[want-1].ID {
			t.Fatalf("got %+v (%v), want seq %d", m, err, want)
		}
	}
	write(t, e.b, tenantEvents("acme", "acme", "acme")) // 4…6; the backlog keeps 3…6

	c = dialWS(t, e.srv.URL+"/api/v1/ws?tenant=acme&last_event_id=1")
	m, err := readWS(c)
	if err != nil || m.Gap == nil || m.Gap.Missed != 1 {
		t.Fatalf("got %+v (%v), want a gap of 1", m, err)
	}
	for _, want := range []uint64{3, 4, 5, 6} {
		if m, err := readWS(c); err != nil || m.ID != want {
			t.Fatalf("got %+v (%v), want seq %d", m, err, want)
		}
	}
}

func TestStreamSlowSubscriberDisconnected(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}, 100), make(chan struct{})
	e := newStreamEnv(t, &BroadcastOptions{Buffer: 4}, &StreamOptions{
		// The slow client's stream stalls in Allow until released.
		Allow: func(r *http.Request, _ *activitylog.Event) bool {
			if r.Header.Get("X-Slow") != "" {
				entered <- struct{}{}
				<-release
			}
			return true
		},
	})
	slow := openSSE(t, e.srv.URL+"/api/v1/stream", http.Header{"X-Slow": {"1"}})
	fast := openSSE(t, e.srv.URL+"/api/v1/stream", nil)
	ws := dialWS(t, e.srv.URL+"/api/v1/ws")
	e.waitSubscribers(t, 3)

	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the server closes, should the test fail

	// Each event is written once the fast clients have the one before,
	// so that only the slow stream falls behind.
	for want := uint64(1); want <= 10; want++ {
		write(t, e.b, newEvents(1)) // Write does not block on the slow stream
		if want == 1 {
			<-entered // the slow stream holds event 1; 4 more fill its buffer
		}
		if seq, _, err := fast.nextEvent(); err != nil || seq != want {
			t.Fatalf("fast sse: got seq %d (%v), want %d", seq, err, want)
		}
		if m, err := readWS(ws); err != nil || m.ID != want {
			t.Fatalf("ws: got %+v (%v), want seq %d", m, err, want)
		}
	}
	unblock()
	for want := uint64(1); want <= 5; want++ {
		if seq, _, err := slow.nextEvent(); err != nil || seq != want {
			t.Fatalf("slow: got seq %d (%v), want %d", seq, err, want)
		}
	}
	b, err := slow.next()
	if err != nil || len(b.comments) != 1 || !strings.Contains(b.comments[0], "fell behind") {
		t.Fatalf("slow: got %+v (%v), want a disconnect comment", b, err)
	}
	if _, err := slow.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("slow: after the disconnect comment got %v, want EOF", err)
	}
}

// TestStreamAcceptance: 1,000 events written concurrently in batches
// reach 100 subscribers, half SSE and half WebSocket, all of them, in
// one order.
func TestStreamAcceptance(t *testing.T) {
	t.Parallel()
	const (
		subscribers = 100
		writers     = 5
		batches     = 10 // per writer
		batchSize   = 20
		total       = writers * batches * batchSize
	)
	e := newStreamEnv(t, nil, nil)
	url := e.srv.URL + "/api/v1"

	got := make([][]activitylog.ID, subscribers)
	errs := make([]error, subscribers)
	var wg sync.WaitGroup
	for i := range subscribers {
		receive := func(next func() (uint64, activitylog.ID, error)) {
			for n := uint64(1); n <= total; n++ {
				seq, id, err := next()
				if err != nil {
					errs[i] = fmt.Errorf("after %d events: %w", n-1, err)
					return
				}
				if seq != n {
					errs[i] = fmt.Errorf("event %d has seq %d", n, seq)
					return
				}
				got[i] = append(got[i], id)
			}
		}
		if i%2 == 0 {
			c := openSSE(t, url+"/stream", nil)
			wg.Go(func() {
				receive(func() (uint64, activitylog.ID, error) {
					seq, ev, err := c.nextEvent()
					return seq, ev.ID, err
				})
			})
		} else {
			c := dialWS(t, url+"/ws")
			wg.Go(func() {
				receive(func() (uint64, activitylog.ID, error) {
					m, err := readWS(c)
					if err == nil && m.Event == nil {
						err = fmt.Errorf("message without event: %+v", m)
					}
					if err != nil {
						return 0, activitylog.ID{}, err
					}
					return m.ID, m.Event.ID, nil
				})
			})
		}
	}
	e.waitSubscribers(t, subscribers)

	written := make(map[activitylog.ID]bool, total)
	var mu sync.Mutex
	var ww sync.WaitGroup
	for range writers {
		ww.Go(func() {
			for range batches {
				events := newEvents(batchSize)
				mu.Lock()
				for _, ev := range events {
					written[ev.ID] = true
				}
				mu.Unlock()
				if err := e.b.Write(context.Background(), events); err != nil {
					t.Errorf("Write: %v", err)
				}
			}
		})
	}
	ww.Wait()
	wg.Wait()

	for i := range subscribers {
		if errs[i] != nil {
			t.Fatalf("subscriber %d: %v", i, errs[i])
		}
		if len(got[i]) != total {
			t.Fatalf("subscriber %d: got %d events, want %d", i, len(got[i]), total)
		}
		for j, id := range got[i] {
			if id != got[0][j] {
				t.Fatalf("subscriber %d: event %d is %v, subscriber 0 has %v", i, j+1, id, got[0][j])
			}
		}
	}
	seen := make(map[activitylog.ID]bool, total)
	for _, id := range got[0] {
		if !written[id] || seen[id] {
			t.Fatalf("event %v: written %v, seen twice %v", id, written[id], seen[id])
		}
		seen[id] = true
	}
	if len(seen) != len(written) {
		t.Fatalf("got %d distinct events, wrote %d", len(seen), len(written))
	}
}
