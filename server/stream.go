package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/activitylog/activitylog"
)

// StreamOptions configures the live streams GET /api/v1/stream (SSE)
// and GET /api/v1/ws (WebSocket). The zero value of each field but
// Broadcaster means the default written beside it.
type StreamOptions struct {
	// Broadcaster publishes the events the streams carry. Required;
	// without it the stream routes answer 501.
	Broadcaster *Broadcaster
	// Heartbeat is how often an idle stream is kept alive: an SSE
	// comment line, or a WebSocket ping. Default: 15s.
	Heartbeat time.Duration
	// Allow, when set, further narrows what the stream of request r may
	// carry, beyond the principal's own scope (Options.Authenticate),
	// which always applies; activitylog.PrincipalFrom(r.Context())
	// returns the principal. It must not modify e. Default: nil.
	Allow func(r *http.Request, e *activitylog.Event) bool
	// OriginPatterns are the other origins from which a browser may
	// open the WebSocket (websocket.AcceptOptions.OriginPatterns).
	// Default: none, same origin only.
	OriginPatterns []string
}

// DefaultHeartbeat is the default StreamOptions.Heartbeat.
const DefaultHeartbeat = 15 * time.Second

// WebSocket close codes for refused connections.
const (
	CloseUnauthenticated websocket.StatusCode = 4001
	CloseForbidden       websocket.StatusCode = 4003
)

// streamOnlyRefused lists the list parameters a stream refuses: a
// stream is in publication order and is not paged.
var streamOnlyRefused = []string{"cursor", "ordering", "page", "page_size"}

// streamRequest is what a stream request asked for.
type streamRequest struct {
	p      *activitylog.Principal
	f      activitylog.Filter
	resume bool
	after  uint64
}

// parseStream reads the filter and the resume point of a stream
// request. The Last-Event-ID header wins over the last_event_id query
// parameter.
func parseStream(r *http.Request) (streamRequest, error) {
	var sr streamRequest
	v := url.Values{}
	for name, vs := range r.URL.Query() {
		v[name] = vs
	}
	for _, name := range streamOnlyRefused {
		if vs, ok := v[name]; ok {
			first := ""
			if len(vs) > 0 {
				first = vs[0]
			}
			return sr, activitylog.Invalid(name, showValue(first), "is not supported on a stream, which is in write order and not paged")
		}
	}
	id, field := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if vs := v["last_event_id"]; len(vs) > 0 {
		if len(vs) > 1 {
			return sr, activitylog.Invalid("last_event_id", showValue(vs[1]), "is given more than once")
		}
		if id == "" {
			id, field = vs[0], "last_event_id"
		}
	}
	delete(v, "last_event_id")
	if id = strings.TrimSpace(id); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return sr, activitylog.Invalid(field, showValue(id), "is not an event sequence number")
		}
		sr.resume, sr.after = true, n
	}
	f, err := ParseFilter(v)
	if err != nil {
		return sr, err
	}
	if sr.f, err = f.Normalize(time.Now()); err != nil {
		return sr, err
	}
	return sr, nil
}

func (o *StreamOptions) heartbeat() time.Duration {
	if o.Heartbeat > 0 {
		return o.Heartbeat
	}
	return DefaultHeartbeat
}

// wants reports whether the stream of r carries m.
func (o *StreamOptions) wants(r *http.Request, sr *streamRequest, m *Message) bool {
	return sr.f.Match(&m.Event) && sr.p.CanSee(&m.Event) && (o.Allow == nil || o.Allow(r, &m.Event))
}

// streamPrincipal authenticates a stream request and checks that its
// principal may read events. It returns the request carrying the
// principal, or the status (401 or 403) to refuse it with and why.
func (s *server) streamPrincipal(r *http.Request) (*http.Request, *activitylog.Principal, int, error) {
	p, status, err := s.authenticate(r)
	if err != nil {
		return r, nil, status, err
	}
	if !p.Has(activitylog.ViewLogs) {
		return r, nil, http.StatusForbidden, errors.New("principal " + clip(principalName(p)) + " lacks the permission view_logs")
	}
	return r.WithContext(withPrincipal(r.Context(), p)), p, 0, nil
}

// parseScoped parses a stream request and holds its filter to what the
// principal may read.
func parseScoped(r *http.Request, p *activitylog.Principal) (streamRequest, error) {
	sr, err := parseStream(r)
	if err != nil {
		return sr, err
	}
	sr.p = p
	sr.f, err = p.Scope(sr.f)
	return sr, err
}

func (s *server) streamNotConfigured(w http.ResponseWriter) {
	s.writeError(w, http.StatusNotImplemented, apiError{Code: "not_implemented",
		Message: "live streams are not enabled on this server (server.Options.Stream is unset)"})
}

func subscribe(b *Broadcaster, sr *streamRequest) *Subscription {
	if sr.resume {
		return b.SubscribeAfter(sr.after)
	}
	return b.Subscribe()
}

// sseHandler serves GET /api/v1/stream as Server-Sent Events.
func (s *server) sseHandler(o *StreamOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if o == nil || o.Broadcaster == nil {
			s.streamNotConfigured(w)
			return
		}
		r, p, status, err := s.streamPrincipal(r)
		if err != nil {
			s.refuse(w, status, err)
			return
		}
		sr, err := parseScoped(r, p)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		sub := subscribe(o.Broadcaster, &sr)
		defer sub.Close()

		// A stream outlives the server's read and write timeouts.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)

		buf := make([]byte, 0, 1024)
		send := func(b []byte) bool {
			if _, err := w.Write(b); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		if !send([]byte(": stream open\n\n")) {
			return
		}
		if n := sub.Missed(); n != 0 {
			buf = append(buf[:0], ": gap: the backlog does not reach back to the requested event\nevent: gap\ndata: {\"missed\":"...)
			buf = strconv.AppendInt(buf, n, 10)
			if !send(append(buf, "}\n\n"...)) {
				return
			}
		}
		event := func(m *Message) bool {
			if !o.wants(r, &sr, m) {
				return true
			}
			buf = append(buf[:0], "id: "...)
			buf = strconv.AppendUint(buf, m.Seq, 10)
			buf = append(buf, "\nevent: event\ndata: "...)
			buf = append(buf, m.JSON...)
			return send(append(buf, "\n\n"...))
		}
		for _, m := range sub.Replay() {
			if !event(m) {
				return
			}
		}
		tick := time.NewTicker(o.heartbeat())
		defer tick.Stop()
		for {
			select {
			case m, ok := <-sub.C():
				if !ok {
					reason := "server closed the stream"
					if errors.Is(sub.Err(), ErrSlowSubscriber) {
						reason = "subscriber fell behind; reconnect with Last-Event-ID"
					}
					send([]byte(": disconnected: " + reason + "\n\n"))
					return
				}
				if !event(m) {
					return
				}
			case <-tick.C:
				if !send([]byte(": heartbeat\n\n")) {
					return
				}
			case <-r.Context().Done():
				return
			}
		}
	}
}

// wsWriteTimeout bounds one WebSocket write or ping.
const wsWriteTimeout = 10 * time.Second

// wsHandler serves GET /api/v1/ws as a WebSocket.
func (s *server) wsHandler(o *StreamOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if o == nil || o.Broadcaster == nil {
			s.streamNotConfigured(w)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: o.OriginPatterns})
		if err != nil {
			return // Accept has answered
		}
		defer c.CloseNow()
		r, p, status, err := s.streamPrincipal(r)
		if err != nil {
			code := CloseUnauthenticated
			if status == http.StatusForbidden {
				code = CloseForbidden
			}
			c.Close(code, clipN(err.Error(), 120))
			return
		}
		sr, err := parseScoped(r, p)
		if err != nil {
			var fe *activitylog.FieldError
			var forbidden *activitylog.ForbiddenError
			code, msg := websocket.StatusPolicyViolation, "invalid request"
			switch {
			case errors.As(err, &forbidden):
				code, msg = CloseForbidden, clipN(forbidden.Error(), 120)
			case errors.As(err, &fe):
				msg = clipN(fe.Error(), 120)
			}
			c.Close(code, msg)
			return
		}
		sub := subscribe(o.Broadcaster, &sr)
		defer sub.Close()
		ctx := c.CloseRead(r.Context())

		write := func(b []byte) bool {
			wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
			defer cancel()
			return c.Write(wctx, websocket.MessageText, b) == nil
		}
		buf := make([]byte, 0, 1024)
		if n := sub.Missed(); n != 0 {
			buf = append(buf[:0], `{"gap":{"missed":`...)
			buf = strconv.AppendInt(buf, n, 10)
			if !write(append(buf, "}}"...)) {
				return
			}
		}
		event := func(m *Message) bool {
			if !o.wants(r, &sr, m) {
				return true
			}
			buf = append(buf[:0], `{"id":`...)
			buf = strconv.AppendUint(buf, m.Seq, 10)
			buf = append(buf, `,"event":`...)
			buf = append(buf, m.JSON...)
			return write(append(buf, '}'))
		}
		for _, m := range sub.Replay() {
			if !event(m) {
				return
			}
		}
		tick := time.NewTicker(o.heartbeat())
		defer tick.Stop()
		for {
			select {
			case m, ok := <-sub.C():
				if !ok {
					if errors.Is(sub.Err(), ErrSlowSubscriber) {
						c.Close(websocket.StatusTryAgainLater, "subscriber fell behind; reconnect with last_event_id")
					} else {
						c.Close(websocket.StatusGoingAway, "server closed the stream")
					}
					return
				}
				if !event(m) {
					return
				}
			case <-tick.C:
				pctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
				err := c.Ping(pctx)
				cancel()
				if err != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}
}
