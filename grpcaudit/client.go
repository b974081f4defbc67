package grpcaudit

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// UnaryClientInterceptor returns an interceptor that records one
// activitylog.Event of Kind external for every unary call made through
// it, and sends the request id and trace context on with the call. See
// the package documentation. rec must not be nil; opts may be.
func UnaryClientInterceptor(rec Recorder, opts *Options) grpc.UnaryClientInterceptor {
	c := newConfig("UnaryClientInterceptor", rec, opts)
	return c.unaryClient
}

// StreamClientInterceptor returns an interceptor that records one
// activitylog.Event of Kind external for every streaming call made
// through it, with the messages sent and received, and sends the
// request id and trace context on with the call. The event is recorded
// when the stream ends: when RecvMsg returns an error (io.EOF
// included), when SendMsg or Header returns an error other than io.EOF,
// or when the call's context is done, whichever comes first. A stream
// that is abandoned without any of these is never recorded (and leaks
// in gRPC too). See the package documentation. rec must not be nil;
// opts may be.
func StreamClientInterceptor(rec Recorder, opts *Options) grpc.StreamClientInterceptor {
	c := newConfig("StreamClientInterceptor", rec, opts)
	return c.streamClient
}

func (c *config) unaryClient(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if c.skip != nil && c.skip(method) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	var o outCall
	ctx = c.beginClient(ctx, &o, method, cc)
	err := invoker(ctx, method, req, reply, cc, opts...)
	c.finishClient(ctx, &o, err, -1, -1)
	return err
}

func (c *config) streamClient(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c.skip != nil && c.skip(method) {
		return streamer(ctx, desc, cc, method, opts...)
	}
	s := &clientStream{c: c, serverStreams: desc.ServerStreams}
	ctx = c.beginClient(ctx, &s.call, method, cc)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		c.finishClient(ctx, &s.call, err, 0, 0)
		return nil, err
	}
	s.ClientStream, s.ctx = cs, ctx
	s.stop = context.AfterFunc(ctx, func() {
		s.finish(status.FromContextError(ctx.Err()).Err())
	})
	return s, nil
}

// outCall is what the client interceptors keep for one call.
type outCall struct {
	start           time.Time
	method          string
	target          string // the ClientConn's target, "dns:///orders:443"
	service         string // its endpoint, "orders:443"
	id              string // the request id sent, "" when the caller sent an insane one
	traceID, spanID string // those of the traceparent sent, if any
}

// beginClient fills o and returns ctx with the request id and
// traceparent metadata the call is to carry. Metadata the caller (or an
// outer interceptor, an OpenTelemetry propagator say) already set is
// kept as it is, and recorded.
func (c *config) beginClient(ctx context.Context, o *outCall, method string, cc *grpc.ClientConn) context.Context {
	o.start = c.now()
	o.method = method
	if cc != nil {
		o.target = cc.Target()
		o.service = endpoint(o.target)
	}

	var kv [4]string
	n := 0
	o.id = first(metadata.ValueFromOutgoingContext(ctx, requestIDKey))
	if o.id == "" {
		o.id = activitylog.RequestIDFrom(ctx)
		if !saneRequestID(o.id) {
			o.id = activitylog.NewID(o.start).String()
		}
		kv[0], kv[1] = requestIDKey, o.id
		n = 2
	} else if !saneRequestID(o.id) {
		o.id = "" // sent as the caller set it, but not recorded
	}

	if v := metadata.ValueFromOutgoingContext(ctx, traceparentKey); len(v) > 0 {
		if tp, ok := parseTraceparent(v[0]); ok {
			o.traceID, o.spanID = tp.traceID, tp.spanID
		}
	} else if tp, ok := c.outgoingTrace(ctx); ok {
		o.traceID, o.spanID = tp.traceID, tp.spanID
		kv[n], kv[n+1] = traceparentKey, tp.format()
		n += 2
	}
	if n > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, kv[:n]...)
	}
	return ctx
}

// outgoingTrace returns the trace context to send: the trace id of
// Options.Trace, else the one set by activitylog.WithTrace, else the
// one of the Request in ctx; a new random span id, the call's own; and
// the flags of the traceparent the call being served came with, when it
// is the same trace, else 01 (sampled).
func (c *config) outgoingTrace(ctx context.Context) (traceparent, bool) {
	var tp traceparent
	if c.trace != nil {
		tp.traceID, _ = c.trace(ctx)
	} else {
		tp.traceID, _ = activitylog.TraceFrom(ctx)
	}
	if tp.traceID == "" {
		if r := activitylog.RequestFrom(ctx); r != nil {
			tp.traceID = r.TraceID
		}
	}
	if !validTraceID(tp.traceID) {
		return traceparent{}, false
	}
	tp.spanID = newSpanID()
	tp.flags = "01"
	if s, ok := ctx.Value(callKey{}).(*call); ok && s.traceFlags != "" && s.req.TraceID == tp.traceID {
		tp.flags = s.traceFlags
	}
	return tp, true
}

// newSpanID returns 16 random lowercase hex digits, not all zero.
func newSpanID() string {
	u := rand.Uint64()
	for u == 0 {
		u = rand.Uint64()
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], u)
	return hex.EncodeToString(b[:])
}

// endpoint returns the endpoint of a gRPC target, what names the
// server: "orders:443" for "dns:///orders:443" or "orders:443",
// "127.0.0.1:50051" for "passthrough:///127.0.0.1:50051". A Unix socket
// target is returned whole.
func endpoint(target string) string {
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/:") || strings.HasPrefix(scheme, "unix") {
		return target
	}
	if _, ep, ok := strings.Cut(rest, "/"); ok {
		return ep // after the authority, often empty
	}
	return rest
}

// finishClient records the external event. sent is -1 for a unary
// call.
func (c *config) finishClient(ctx context.Context, o *outCall, err error, sent, recv int64) {
	code := codeOf(err)
	name := codeName(code)
	st := httpStatus(code)
	e := activitylog.Event{
		Time:     o.start,
		Kind:     activitylog.KindExternal,
		Action:   clip(o.method, activitylog.MaxShortField),
		Severity: severity(st),
		Message:  message(o.method, name),
		Service:  c.service,
		Tool:     "grpc",
		Request: activitylog.Request{
			RequestID: o.id,
			TraceID:   o.traceID,
			SpanID:    o.spanID,
			Method:    "gRPC",
			Host:      clip(o.service, activitylog.MaxShortField),
			Path:      clip(o.method, activitylog.MaxTextField),
		},
		Response: activitylog.Response{Status: st, Duration: c.now().Sub(o.start)},
	}
	n := 3
	if err != nil {
		n++
	}
	if sent >= 0 {
		n += 2
	}
	e.Extra = make(map[string]any, n)
	e.Extra["service"] = e.Request.Host
	e.Extra["target"] = clip(o.target, activitylog.MaxShortField)
	e.Extra["grpc_code"] = codeValue(code)
	if err != nil {
		e.Extra["error"] = errorText(err)
	}
	if sent >= 0 {
		e.Extra["messages_sent"] = sent
		e.Extra["messages_received"] = recv
	}
	c.record(ctx, e)
}

// clientStream records the call when the stream ends. SendMsg and
// RecvMsg may run in two goroutines at once, and the context's end in
// a third.
type clientStream struct {
	grpc.ClientStream
	c             *config
	ctx           context.Context
	call          outCall
	serverStreams bool
	stop          func() bool // unregisters the context.AfterFunc; set before the stream is returned

	sent, recv atomic.Int64
	once       sync.Once
}

// finish records the call once, whichever of its ends comes first.
// The context.AfterFunc calls it directly; every other caller goes
// through end, which also unregisters that AfterFunc (it may not read
// s.stop, which is set after the AfterFunc is registered).
func (s *clientStream) finish(err error) {
	s.once.Do(func() {
		s.c.finishClient(s.ctx, &s.call, err, s.sent.Load(), s.recv.Load())
	})
}

func (s *clientStream) end(err error) {
	s.finish(err)
	s.stop()
}

func (s *clientStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	switch {
	case err == nil:
		s.sent.Add(1)
	case !errors.Is(err, io.EOF):
		// io.EOF means the server ended the stream; RecvMsg tells how.
		s.end(err)
	}
	return err
}

func (s *clientStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	switch {
	case err == nil:
		s.recv.Add(1)
		if !s.serverStreams {
			// gRPC has already read the status of a call whose server
			// sends one message, and it was OK.
			s.end(nil)
		}
	case errors.Is(err, io.EOF):
		s.end(nil)
	default:
		s.end(err)
	}
	return err
}

func (s *clientStream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	if err != nil {
		s.end(err)
	}
	return md, err
}
