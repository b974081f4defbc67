package grpcaudit_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/grpcaudit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const (
	traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanID  = "00f067aa0ba902b7"
)

func TestUnaryServerOK(t *testing.T) {
	t.Parallel()
	s := start(t, &grpcaudit.Options{Service: "orders"}, nil)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "req-1")
	var header metadata.MD
	var out string
	in := "hello"
	if err := s.conn.Invoke(ctx, echoMethod, &in, &out, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if out != "hello" {
		t.Errorf("reply = %q, want hello", out)
	}
	if got := header.Get("x-request-id"); len(got) != 1 || got[0] != "req-1" {
		t.Errorf("x-request-id response header = %q, want [req-1]", got)
	}

	e := s.server.one(t)
	for _, c := range []struct{ name, got, want string }{
		{"kind", string(e.Kind), "request"},
		{"action", e.Action, echoMethod},
		{"message", e.Message, "/test.Echo/Echo → OK"},
		{"severity", string(e.Severity), "info"},
		{"service", e.Service, "orders"},
		{"request.method", e.Request.Method, "gRPC"},
		{"request.path", e.Request.Path, echoMethod},
		{"request.route", e.Request.Route, echoMethod},
		{"request.host", e.Request.Host, strings.TrimPrefix(s.conn.Target(), "passthrough:///")},
		{"request.remote_ip", e.Request.RemoteIP, "127.0.0.1"},
		{"request.request_id", e.Request.RequestID, "req-1"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !strings.HasPrefix(e.Request.UserAgent, "audit-test/1.0") {
		t.Errorf("request.user_agent = %q, want it to start with audit-test/1.0", e.Request.UserAgent)
	}
	if e.Response.Status != 200 || e.Response.Duration <= 0 {
		t.Errorf("response = %+v, want status 200 and a duration", e.Response)
	}
	if e.Time.IsZero() {
		t.Error("time is zero")
	}
	if got, want := e.Extra, map[string]any{"grpc_code": "OK"}; !equalExtra(got, want) {
		t.Errorf("extra = %v, want %v", got, want)
	}
	if err := e.Validate(); err != nil && !isOnlyMissingID(err) {
		t.Errorf("event does not validate: %v", err)
	}
}

// isOnlyMissingID reports whether err is Validate's complaint about the
// id, which the Recorder fills in.
func isOnlyMissingID(err error) bool {
	var fe *activitylog.FieldError
	return errors.As(err, &fe) && fe.Field == "id"
}

func equalExtra(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestUnaryServerCodes(t *testing.T) {
	t.Parallel()
	s := start(t, nil, nil)
	for _, tc := range []struct {
		in       string
		code     codes.Code
		name     string
		status   int
		severity activitylog.Severity
		err      string
	}{
		{"code:3", codes.InvalidArgument, "INVALID_ARGUMENT", 400, "warning", "failed with InvalidArgument"},
		{"code:16", codes.Unauthenticated, "UNAUTHENTICATED", 401, "warning", "failed with Unauthenticated"},
		{"code:7", codes.PermissionDenied, "PERMISSION_DENIED", 403, "warning", "failed with PermissionDenied"},
		{"code:5", codes.NotFound, "NOT_FOUND", 404, "warning", "failed with NotFound"},
		{"code:6", codes.AlreadyExists, "ALREADY_EXISTS", 409, "warning", "failed with AlreadyExists"},
		{"code:8", codes.ResourceExhausted, "RESOURCE_EXHAUSTED", 429, "warning", "failed with ResourceExhausted"},
		{"code:12", codes.Unimplemented, "UNIMPLEMENTED", 501, "error", "failed with Unimplemented"},
		{"code:13", codes.Internal, "INTERNAL", 500, "error", "failed with Internal"},
		{"code:2", codes.Unknown, "UNKNOWN", 500, "error", "failed with Unknown"},
		{"code:14", codes.Unavailable, "UNAVAILABLE", 503, "error", "failed with Unavailable"},
		{"code:4", codes.DeadlineExceeded, "DEADLINE_EXCEEDED", 504, "error", "failed with DeadlineExceeded"},
		{"code:99", codes.Code(99), "CODE_99", 500, "error", "failed with Code(99)"},
		// A plain context error is reported as grpc-go's server reports it.
		{"ctxerr", codes.Canceled, "CANCELLED", 499, "warning", "context canceled"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s.server.reset()

			_, err := s.call(context.Background(), tc.in)
			if got := status.Code(err); got != tc.code {
				t.Errorf("client got code %v, want %v", got, tc.code)
			}
			e := s.server.one(t)
			if e.Response.Status != tc.status || e.Severity != tc.severity {
				t.Errorf("status, severity = %d, %s; want %d, %s", e.Response.Status, e.Severity, tc.status, tc.severity)
			}
			if got, want := e.Extra, map[string]any{"grpc_code": tc.name, "error": tc.err}; !equalExtra(got, want) {
				t.Errorf("extra = %v, want %v", got, want)
			}
			if want := echoMethod + " → " + tc.name; e.Message != want {
				t.Errorf("message = %q, want %q", e.Message, want)
			}
		})
	}
}

func TestUnaryServerPanic(t *testing.T) {
	t.Parallel()
	s := start(t, nil, nil)
	_, err := s.call(context.Background(), "panic")
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Errorf("client got %v, want INTERNAL with the message \"internal error\"", err)
	}
	e := s.server.one(t)
	if e.Response.Status != 500 || e.Severity != activitylog.SeverityCritical {
		t.Errorf("status, severity = %d, %s; want 500, critical", e.Response.Status, e.Severity)
	}
	if got, want := e.Extra, map[string]any{"grpc_code": "INTERNAL", "panic": "boom"}; !equalExtra(got, want) {
		t.Errorf("extra = %v, want %v", got, want)
	}
}

// With NoRecover the panic goes on after the call is recorded. The
// interceptor is called directly: a panic that reached grpc-go's server
// would end the test binary.
func TestUnaryServerNoRecover(t *testing.T) {
	t.Parallel()
	c := &collector{}
	in := grpcaudit.UnaryServerInterceptor(c, &grpcaudit.Options{NoRecover: true})
	p := func() (p any) {
		defer func() { p = recover() }()
		in(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: echoMethod}, func(context.Context, any) (any, error) {
			panic("boom")
		})
		return nil
	}()
	if p != "boom" {
		t.Errorf("recovered %v, want the handler's panic", p)
	}
	e := c.one(t)
	if e.Response.Status != 500 || e.Severity != activitylog.SeverityCritical || e.Extra["panic"] != "boom" {
		t.Errorf("event = %+v, want status 500, severity critical, panic boom", e)
	}
}

func TestUnaryServerRequestInContext(t *testing.T) {
	t.Parallel()
	s := start(t, nil, nil)
	ctx := metadata.AppendToOutgoingContext(context.Background(),
		"x-request-id", "req-2", "traceparent", "00-"+traceID+"-"+spanID+"-01")
	out, err := s.call(ctx, "request")
	if err != nil {
		t.Fatal(err)
	}
	var got seen
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Request == nil {
		t.Fatal("the handler's context carries no activitylog.Request")
	}
	e := s.server.one(t)
	if !reflect.DeepEqual(*got.Request, e.Request) {
		t.Errorf("request in the handler's context = %+v,\nwant the event's %+v", *got.Request, e.Request)
	}
	if e.Request.RequestID != "req-2" || e.Request.TraceID != traceID || e.Request.SpanID != spanID {
		t.Errorf("request id, trace, span = %q, %q, %q; want req-2 and the traceparent's ids",
			e.Request.RequestID, e.Request.TraceID, e.Request.SpanID)
	}
}

func TestUnaryServerRequestID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ctx  func(context.Context) context.Context
		want string // "" for a new id
	}{
		{"none", func(ctx context.Context) context.Context { return ctx }, ""},
		{"insane", func(ctx context.Context) context.Context {
			return metadata.AppendToOutgoingContext(ctx, "x-request-id", "has space")
		}, ""},
		{"too long", func(ctx context.Context) context.Context {
			return metadata.AppendToOutgoingContext(ctx, "x-request-id", strings.Repeat("a", 129))
		}, ""},
		{"sane", func(ctx context.Context) context.Context {
			return metadata.AppendToOutgoingContext(ctx, "x-request-id", "abc-123")
		}, "abc-123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, nil, nil)
			if _, err := s.call(tc.ctx(context.Background()), "x"); err != nil {
				t.Fatal(err)
			}
			id := s.server.one(t).Request.RequestID
			if tc.want != "" {
				if id != tc.want {
					t.Errorf("request id = %q, want %q", id, tc.want)
				}
			} else if _, err := activitylog.ParseID(id); err != nil {
				t.Errorf("request id = %q, want a new UUID: %v", id, err)
			}
		})
	}
}

// The actor comes from SetActor when an inner layer calls it, else from
// the context the call arrived with; the tenant from that context.
func TestUnaryServerActor(t *testing.T) {
	t.Parallel()
	s := start(t, nil, nil)
	if _, err := s.call(context.Background(), "actor"); err != nil {
		t.Fatal(err)
	}
	if a := s.server.one(t).Actor; a.ID != "7" || a.Name != "Ann" {
		t.Errorf("actor = %+v, want the one SetActor named", a)
	}

	c := &collector{}
	ctx := activitylog.WithTenant(activitylog.WithActor(context.Background(), activitylog.Actor{ID: "9"}), "acme")
	grpcaudit.UnaryServerInterceptor(c, nil)(ctx, nil, &grpc.UnaryServerInfo{FullMethod: echoMethod},
		func(context.Context, any) (any, error) { return nil, nil })
	e := c.one(t)
	if e.Actor.ID != "9" || e.Tenant != "acme" {
		t.Errorf("actor, tenant = %+v, %q; want the context's", e.Actor, e.Tenant)
	}
	grpcaudit.SetActor(context.Background(), activitylog.Actor{ID: "1"}) // outside a call: a no-op
}

// The event is recorded with a context that carries the call's values
// but is not cancelled when the call is.
func TestUnaryServerRecordContext(t *testing.T) {
	t.Parallel()
	c := &collector{}
	ctx, cancel := context.WithCancel(activitylog.WithTenant(context.Background(), "acme"))
	grpcaudit.UnaryServerInterceptor(c, nil)(ctx, nil, &grpc.UnaryServerInfo{FullMethod: echoMethod},
		func(context.Context, any) (any, error) { cancel(); return nil, ctx.Err() })
	_, rctx := c.oneCtx(t)
	if rctx.Err() != nil {
		t.Errorf("record context is done: %v", rctx.Err())
	}
	if activitylog.TenantFrom(rctx) != "acme" || activitylog.RequestFrom(rctx) == nil {
		t.Error("record context lost the call's values")
	}
}

func TestServerSkip(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		skipped []string
	)
	s := start(t, &grpcaudit.Options{Skip: func(m string) bool {
		mu.Lock()
		defer mu.Unlock()
		skipped = append(skipped, m)
		return true
	}}, nil)
	out, err := s.call(context.Background(), "request")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.stream(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if n := len(s.server.all()); n != 0 {
		t.Errorf("recorded %d events for skipped calls", n)
	}
	var got seen
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Request != nil {
		t.Errorf("a skipped call's context carries a Request: %+v", got.Request)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{echoMethod, streamMethod}; strings.Join(skipped, " ") != strings.Join(want, " ") {
		t.Errorf("Skip called with %q, want %q", skipped, want)
	}
}

// A Record error goes to OnError and changes nothing for the call.
func TestServerRecordError(t *testing.T) {
	t.Parallel()
	var e errs
	opts := &grpcaudit.Options{OnError: e.add}
	s := start(t, opts, nil)
	s.server.err = activitylog.ErrQueueFull
	if out, err := s.call(context.Background(), "hi"); err != nil || out != "hi" {
		t.Errorf("call = %q, %v; want hi, nil", out, err)
	}
	if _, err := s.call(context.Background(), "code:5"); status.Code(err) != codes.NotFound {
		t.Errorf("call error = %v, want NOT_FOUND unchanged", err)
	}
	if got := e.get(); len(got) != 2 || !errors.Is(got[0], activitylog.ErrQueueFull) {
		t.Errorf("OnError got %v, want ErrQueueFull twice", got)
	}

	// Without OnError the error is dropped quietly.
	s2 := start(t, nil, nil)
	s2.server.err = activitylog.ErrQueueFull
	if _, err := s2.call(context.Background(), "hi"); err != nil {
		t.Error(err)
	}
}

func TestStreamServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		msgs       []string
		code       codes.Code
		status     int
		severity   activitylog.Severity
		sent, recv int64
		extra      map[string]any
	}{
		{"ok", []string{"a", "b", "c"}, codes.OK, 200, "info", 3, 3, nil},
		{"empty", nil, codes.OK, 200, "info", 0, 0, nil},
		{"error", []string{"a", "code:5"}, codes.NotFound, 404, "warning", 1, 2, map[string]any{"error": "failed with NotFound"}},
		{"panic", []string{"a", "b", "panic"}, codes.Internal, 500, "critical", 2, 3, map[string]any{"panic": "boom"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, nil, nil)
			ctx := metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "req-s")
			got, err := s.stream(ctx, tc.msgs...)
			if status.Code(err) != tc.code {
				t.Fatalf("stream error = %v, want code %v", err, tc.code)
			}
			if tc.code == codes.OK && strings.Join(got, ",") != strings.Join(tc.msgs, ",") {
				t.Errorf("echoed %q, want %q", got, tc.msgs)
			}
			e := s.server.one(t)
			if e.Action != streamMethod || e.Request.Path != streamMethod || e.Request.RequestID != "req-s" || e.Request.RemoteIP != "127.0.0.1" {
				t.Errorf("event = %+v, want the stream's method, request id and address", e)
			}
			if e.Response.Status != tc.status || e.Severity != tc.severity {
				t.Errorf("status, severity = %d, %s; want %d, %s", e.Response.Status, e.Severity, tc.status, tc.severity)
			}
			want := map[string]any{"grpc_code": codeNames[tc.code], "messages_sent": tc.sent, "messages_received": tc.recv}
			for k, v := range tc.extra {
				want[k] = v
			}
			if !equalExtra(e.Extra, want) {
				t.Errorf("extra = %v, want %v", e.Extra, want)
			}
		})
	}
}

var codeNames = map[codes.Code]string{codes.OK: "OK", codes.NotFound: "NOT_FOUND", codes.Internal: "INTERNAL", codes.Canceled: "CANCELLED"}

// The ServerStream the handler gets carries the Request in its context.
func TestStreamServerContext(t *testing.T) {
	t.Parallel()
	s := start(t, nil, nil)
	got, err := s.stream(context.Background(), "request")
	if err != nil || len(got) != 1 {
		t.Fatalf("stream = %q, %v", got, err)
	}
	var sn seen
	if err := json.Unmarshal([]byte(got[0]), &sn); err != nil {
		t.Fatal(err)
	}
	if e := s.server.one(t); sn.Request == nil || !reflect.DeepEqual(*sn.Request, e.Request) {
		t.Errorf("request in the stream's context = %+v, want %+v", sn.Request, e.Request)
	}
}

func TestNilRecorderPanics(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(){
		"UnaryServerInterceptor":  func() { grpcaudit.UnaryServerInterceptor(nil, nil) },
		"StreamServerInterceptor": func() { grpcaudit.StreamServerInterceptor(nil, nil) },
		"UnaryClientInterceptor":  func() { grpcaudit.UnaryClientInterceptor(nil, nil) },
		"StreamClientInterceptor": func() { grpcaudit.StreamClientInterceptor(nil, nil) },
	} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.Contains(p.(string), name) {
					t.Errorf("%s(nil, nil) panicked with %v, want a message naming it", name, p)
				}
			}()
			f()
		}()
	}
}
