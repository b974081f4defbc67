package grpcaudit_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/grpcaudit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// callSeen makes the "request" call and returns what the server saw.
func callSeen(t *testing.T, s *setup, ctx context.Context) seen {
	t.Helper()
	out, err := s.call(ctx, "request")
	if err != nil {
		t.Fatal(err)
	}
	var got seen
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// sentTraceparent checks the one traceparent the server saw: version
// 00, trace id tid, a span id of the call's own (not the caller's) and
// flags; it returns the span id.
func sentTraceparent(t *testing.T, got []string, tid, flags string) string {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("server saw traceparent %q, want one", got)
	}
	v := got[0]
	parts := strings.Split(v, "-")
	if len(parts) != 4 || parts[0] != "00" || parts[1] != tid || len(parts[2]) != 16 || parts[2] == spanID || parts[2] == strings.Repeat("0", 16) || parts[3] != flags {
		t.Fatalf("server saw traceparent %q, want 00-%s-<a new span id>-%s", v, tid, flags)
	}
	return parts[2]
}

// extra returns what Extra holds for every call on s's connection, and
// kv.
func (s *setup) extra(kv ...any) map[string]any {
	m := map[string]any{"service": strings.TrimPrefix(s.conn.Target(), "passthrough:///"), "target": s.conn.Target()}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func TestUnaryClient(t *testing.T) {
	t.Parallel()
	s := start(t, nil, &grpcaudit.Options{Service: "front"})
	ctx := activitylog.WithTrace(activitylog.WithRequestID(context.Background(), "req-9"), traceID, spanID)
	got := callSeen(t, s, ctx)

	if strings.Join(got.RequestID, ",") != "req-9" {
		t.Errorf("server saw x-request-id %q, want [req-9]", got.RequestID)
	}
	sent := sentTraceparent(t, got.Traceparent, traceID, "01")
	se := s.server.one(t)
	if se.Request.RequestID != "req-9" || se.Request.TraceID != traceID || se.Request.SpanID != sent {
		t.Errorf("server event request = %+v, want the client's request id, trace and span", se.Request)
	}

	e := s.client.one(t)
	for _, c := range []struct{ name, got, want string }{
		{"kind", string(e.Kind), "external"},
		{"action", e.Action, echoMethod},
		{"tool", e.Tool, "grpc"},
		{"service", e.Service, "front"},
		{"message", e.Message, "/test.Echo/Echo → OK"},
		{"severity", string(e.Severity), "info"},
		{"request.request_id", e.Request.RequestID, "req-9"},
		{"request.trace_id", e.Request.TraceID, traceID},
		{"request.span_id", e.Request.SpanID, sent},
		{"request.method", e.Request.Method, "gRPC"},
		{"request.host", e.Request.Host, strings.TrimPrefix(s.conn.Target(), "passthrough:///")},
		{"request.path", e.Request.Path, echoMethod},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if e.Response.Status != 200 || e.Response.Duration <= 0 {
		t.Errorf("response = %+v, want status 200 and a duration", e.Response)
	}
	if want := s.extra("grpc_code", "OK"); !equalExtra(e.Extra, want) {
		t.Errorf("extra = %v, want %v", e.Extra, want)
	}
}

func TestUnaryClientError(t *testing.T) {
	t.Parallel()
	s := start(t, nil, &grpcaudit.Options{})
	_, err := s.call(context.Background(), "code:7")
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("call error = %v, want PERMISSION_DENIED", err)
	}
	e := s.client.one(t)
	if e.Response.Status != 403 || e.Severity != "warning" || e.Message != "/test.Echo/Echo → PERMISSION_DENIED" {
		t.Errorf("event = %+v, want status 403, severity warning", e)
	}
	if want := s.extra("grpc_code", "PERMISSION_DENIED", "error", "failed with PermissionDenied"); !equalExtra(e.Extra, want) {
		t.Errorf("extra = %v, want %v", e.Extra, want)
	}

	// A deadline that passes before the answer.
	s.client.reset()
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := s.call(ctx, "x"); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call error = %v, want DEADLINE_EXCEEDED", err)
	}
	if e := s.client.one(t); e.Response.Status != 504 || e.Extra["grpc_code"] != "DEADLINE_EXCEEDED" {
		t.Errorf("event = %+v, want status 504", e)
	}
}

func TestUnaryClientPropagation(t *testing.T) {
	t.Parallel()
	other := strings.Repeat("1", 32)
	for _, tc := range []struct {
		name string
		ctx  func(context.Context) context.Context
		id   string // "" for a new one
		tid  string // "" when no traceparent is sent
	}{
		{"request in context", func(ctx context.Context) context.Context {
			return activitylog.WithRequest(ctx, &activitylog.Request{RequestID: "req-r", TraceID: traceID, SpanID: spanID})
		}, "req-r", traceID},
		{"WithTrace wins over the request", func(ctx context.Context) context.Context {
			ctx = activitylog.WithRequest(ctx, &activitylog.Request{RequestID: "req-r", TraceID: other, SpanID: spanID})
			return activitylog.WithTrace(ctx, traceID, spanID)
		}, "req-r", traceID},
		{"trace without a span", func(ctx context.Context) context.Context {
			return activitylog.WithTrace(ctx, traceID, "")
		}, "", traceID},
		{"nothing", func(ctx context.Context) context.Context { return ctx }, "", ""},
		{"invalid trace", func(ctx context.Context) context.Context {
			return activitylog.WithTrace(ctx, "not-hex", spanID)
		}, "", ""},
		{"zero trace", func(ctx context.Context) context.Context {
			return activitylog.WithTrace(ctx, strings.Repeat("0", 32), spanID)
		}, "", ""},
		{"insane id replaced", func(ctx context.Context) context.Context {
			return activitylog.WithRequestID(ctx, "bad id")
		}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, nil, &grpcaudit.Options{})
			got := callSeen(t, s, tc.ctx(context.Background()))
			if len(got.RequestID) != 1 {
				t.Fatalf("server saw x-request-id %q, want one", got.RequestID)
			}
			if tc.id != "" && got.RequestID[0] != tc.id {
				t.Errorf("server saw x-request-id %q, want %q", got.RequestID[0], tc.id)
			} else if _, err := activitylog.ParseID(got.RequestID[0]); tc.id == "" && err != nil {
				t.Errorf("server saw x-request-id %q, want a new UUID", got.RequestID[0])
			}
			var sent string
			if tc.tid == "" {
				if len(got.Traceparent) != 0 {
					t.Errorf("server saw traceparent %q, want none", got.Traceparent)
				}
			} else {
				sent = sentTraceparent(t, got.Traceparent, tc.tid, "01")
			}
			ce, se := s.client.one(t), s.server.one(t)
			if ce.Request.RequestID != got.RequestID[0] || se.Request.RequestID != got.RequestID[0] {
				t.Errorf("request ids: client event %q, server event %q; want the one sent, %q",
					ce.Request.RequestID, se.Request.RequestID, got.RequestID[0])
			}
			if ce.Request.TraceID != tc.tid || ce.Request.SpanID != sent || se.Request.SpanID != sent {
				t.Errorf("client event trace, span = %q, %q, server event span %q; want %q, %q, %q",
					ce.Request.TraceID, ce.Request.SpanID, se.Request.SpanID, tc.tid, sent, sent)
			}
		})
	}
}

// Metadata the caller already set is sent unchanged, and recorded.
func TestUnaryClientCallerMetadata(t *testing.T) {
	t.Parallel()
	s := start(t, nil, &grpcaudit.Options{})
	tp := "00-" + strings.Repeat("a", 32) + "-" + strings.Repeat("b", 16) + "-00"
	ctx := activitylog.WithTrace(activitylog.WithRequestID(context.Background(), "req-ctx"), traceID, spanID)
	ctx = metadata.AppendToOutgoingContext(ctx, "X-Request-Id", "req-md", "traceparent", tp)
	got := callSeen(t, s, ctx)
	if strings.Join(got.RequestID, ",") != "req-md" || strings.Join(got.Traceparent, ",") != tp {
		t.Errorf("server saw x-request-id %q, traceparent %q; want the caller's", got.RequestID, got.Traceparent)
	}
	if e := s.client.one(t); e.Request.RequestID != "req-md" || e.Request.TraceID != strings.Repeat("a", 32) || e.Request.SpanID != strings.Repeat("b", 16) {
		t.Errorf("client event request = %+v, want the caller's ids", e.Request)
	}
}

// A call made while serving a call carries that call's request id and
// trace on, with the flags it came with (here 00, not sampled, where 01
// is the default).
func TestClientInsideServer(t *testing.T) {
	t.Parallel()
	down := start(t, nil, &grpcaudit.Options{})
	front := &collector{}
	incoming := metadata.NewIncomingContext(context.Background(), metadata.Pairs(
		"x-request-id", "req-front", "traceparent", "00-"+traceID+"-"+spanID+"-00"))
	var got seen
	_, err := grpcaudit.UnaryServerInterceptor(front, nil)(incoming, nil, &grpc.UnaryServerInfo{FullMethod: "/front.F/Do"},
		func(ctx context.Context, _ any) (any, error) {
			got = callSeen(t, down, ctx)
			return nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.RequestID, ",") != "req-front" {
		t.Errorf("downstream saw x-request-id %q, want [req-front]", got.RequestID)
	}
	sentTraceparent(t, got.Traceparent, traceID, "00")
	if e := front.one(t); e.Request.TraceID != traceID {
		t.Errorf("front event trace = %q, want %q", e.Request.TraceID, traceID)
	}
}

// Options.Trace is where both sides take the trace from.
func TestOptionsTrace(t *testing.T) {
	t.Parallel()
	other := strings.Repeat("c", 32)
	opts := &grpcaudit.Options{Trace: func(context.Context) (string, string) { return other, spanID }}
	s := start(t, opts, opts)
	got := callSeen(t, s, activitylog.WithTrace(context.Background(), traceID, spanID))
	sentTraceparent(t, got.Traceparent, other, "01")
	if e := s.server.one(t); e.Request.TraceID != other {
		t.Errorf("server trace = %q, want Options.Trace's", e.Request.TraceID)
	}
}

func TestStreamClient(t *testing.T) {
	t.Parallel()
	s := start(t, nil, &grpcaudit.Options{})
	ctx := activitylog.WithRequestID(context.Background(), "req-st")
	if _, err := s.stream(ctx, "a", "b", "c"); err != nil {
		t.Fatal(err)
	}
	e := s.client.one(t)
	want := s.extra("grpc_code", "OK", "messages_sent", int64(3), "messages_received", int64(3))
	if !equalExtra(e.Extra, want) {
		t.Errorf("extra = %v, want %v", e.Extra, want)
	}
	if e.Kind != "external" || e.Action != streamMethod || e.Response.Status != 200 || e.Request.RequestID != "req-st" {
		t.Errorf("event = %+v", e)
	}
	if se := s.server.one(t); se.Request.RequestID != "req-st" {
		t.Errorf("server saw request id %q, want req-st", se.Request.RequestID)
	}
}

func TestStreamClientError(t *testing.T) {
	t.Parallel()
	s := start(t, nil, &grpcaudit.Options{})
	if _, err := s.stream(context.Background(), "a", "code:5"); status.Code(err) != codes.NotFound {
		t.Fatalf("stream error = %v, want NOT_FOUND", err)
	}
	e := s.client.one(t)
	want := s.extra("grpc_code", "NOT_FOUND", "error", "failed with NotFound", "messages_sent", int64(2), "messages_received", int64(1))
	if !equalExtra(e.Extra, want) || e.Response.Status != 404 {
		t.Errorf("event = %+v, want extra %v", e, want)
	}
}

// A stream whose context is cancelled before it is read to the end is
// recorded as cancelled, once.
func TestStreamClientCancel(t *testing.T) {
	t.Parallel()
	s := start(t, nil, &grpcaudit.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cs, err := s.conn.NewStream(ctx, streamDesc, streamMethod)
	if err != nil {
		t.Fatal(err)
	}
	m := "a"
	if err := cs.SendMsg(&m); err != nil {
		t.Fatal(err)
	}
	if err := cs.RecvMsg(&m); err != nil {
		t.Fatal(err)
	}
	cancel()
	e := s.client.waitOne(t)
	if e.Extra["grpc_code"] != "CANCELLED" || e.Response.Status != 499 || e.Extra["messages_sent"] != int64(1) || e.Extra["messages_received"] != int64(1) {
		t.Errorf("event = %+v, want CANCELLED after one message each way", e)
	}
	if err := cs.RecvMsg(&m); status.Code(err) != codes.Canceled {
		t.Errorf("RecvMsg after cancel = %v, want CANCELLED", err)
	}
	if n := len(s.client.all()); n != 1 {
		t.Errorf("recorded %d events, want 1", n)
	}
}

// A stream that cannot even be opened is recorded too.
func TestStreamClientOpenError(t *testing.T) {
	t.Parallel()
	s := start(t, nil, &grpcaudit.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.conn.NewStream(ctx, streamDesc, streamMethod); status.Code(err) != codes.Canceled {
		t.Fatalf("NewStream error = %v, want CANCELLED", err)
	}
	if e := s.client.one(t); e.Extra["grpc_code"] != "CANCELLED" || e.Extra["messages_sent"] != int64(0) {
		t.Errorf("event = %+v", e)
	}
}

func TestClientSkip(t *testing.T) {
	t.Parallel()
	s := start(t, nil, &grpcaudit.Options{Skip: func(string) bool { return true }})
	got := callSeen(t, s, activitylog.WithTrace(context.Background(), traceID, spanID))
	if _, err := s.stream(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if n := len(s.client.all()); n != 0 {
		t.Errorf("recorded %d events for skipped calls", n)
	}
	if len(got.Traceparent) != 0 {
		t.Errorf("a skipped call sent traceparent %q", got.Traceparent)
	}
}

func TestClientRecordError(t *testing.T) {
	t.Parallel()
	var e errs
	s := start(t, nil, &grpcaudit.Options{OnError: e.add})
	s.client.err = errors.New("store down")
	if out, err := s.call(context.Background(), "hi"); err != nil || out != "hi" {
		t.Errorf("call = %q, %v; want hi, nil", out, err)
	}
	if _, err := s.stream(context.Background(), "a"); err != nil {
		t.Errorf("stream error = %v", err)
	}
	if got := e.get(); len(got) != 2 {
		t.Errorf("OnError got %v, want the error twice", got)
	}
}
