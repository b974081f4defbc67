package grpcaudit

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/activitylog/activitylog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// UnaryServerInterceptor returns an interceptor that records one
// activitylog.Event of Kind request for every unary call that reaches
// it. See the package documentation for what the event holds. rec must
// not be nil; opts may be.
func UnaryServerInterceptor(rec Recorder, opts *Options) grpc.UnaryServerInterceptor {
	c := newConfig("UnaryServerInterceptor", rec, opts)
	return c.unaryServer
}

// StreamServerInterceptor returns an interceptor that records one
// activitylog.Event of Kind request for every streaming call that
// reaches it, with the messages sent and received. See the package
// documentation. rec must not be nil; opts may be.
func StreamServerInterceptor(rec Recorder, opts *Options) grpc.StreamServerInterceptor {
	c := newConfig("StreamServerInterceptor", rec, opts)
	return c.streamServer
}

// SetActor names the actor of the call being served, for an
// interceptor or handler inside the audit interceptor that learns who
// the caller is (authentication). The request event is attributed to the
// last actor set, which wins over the actor the context carried when
// the call arrived (activitylog.ActorFrom). It is safe to call from any
// goroutine, and a no-op when ctx does not come from a call that a
// grpcaudit server interceptor is serving.
//
// SetActor changes only the request event. Events recorded inside the
// handler take their actor from their own context, so an
// authentication interceptor should also pass activitylog.WithActor
// down:
//
//	grpcaudit.SetActor(ctx, actor)
//	return handler(activitylog.WithActor(ctx, actor), req)
func SetActor(ctx context.Context, a activitylog.Actor) {
	if s, ok := ctx.Value(callKey{}).(*call); ok {
		s.actor.Store(&a)
	}
}

// callKey is the context key of the served call's *call.
type callKey struct{}

// call is everything a server interceptor keeps for one call, in one
// allocation: the Request put into the context, the actor SetActor
// fills, the incoming trace flags and, for streams, the stream wrapper.
type call struct {
	req        activitylog.Request
	actor      atomic.Pointer[activitylog.Actor]
	traceFlags string // of the incoming traceparent, when its ids are req's
	stream     serverStream
	idMD       metadata.MD
	idVal      [1]string // backs idMD's only value
}

func (c *config) unaryServer(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	if c.skip != nil && c.skip(info.FullMethod) {
		return handler(ctx, req)
	}
	start := c.now()
	s := &call{}
	ctx = c.begin(ctx, s, info.FullMethod, start)
	if st := grpc.ServerTransportStreamFromContext(ctx); st != nil {
		_ = st.SetHeader(s.idMD) // fails only once headers were sent, which they were not
	}
	done := false
	defer func() {
		p := recover()
		if !done {
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
		c.finishServer(ctx, s, start, err, !done, p, -1, -1)
		if p != nil && c.noRecover {
			panic(p)
		}
	}()
	resp, err = handler(ctx, req)
	done = true
	return resp, err
}

func (c *config) streamServer(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	if c.skip != nil && c.skip(info.FullMethod) {
		return handler(srv, ss)
	}
	start := c.now()
	s := &call{}
	ctx := c.begin(ss.Context(), s, info.FullMethod, start)
	_ = ss.SetHeader(s.idMD) // fails only once headers were sent, which they were not
	s.stream = serverStream{ServerStream: ss, ctx: ctx}
	done := false
	defer func() {
		p := recover()
		if !done {
			err = status.Error(codes.Internal, "internal error")
		}
		c.finishServer(ctx, s, start, err, !done, p, s.stream.sent.Load(), s.stream.recv.Load())
		if p != nil && c.noRecover {
			panic(p)
		}
	}()
	err = handler(srv, &s.stream)
	done = true
	return err
}

// begin fills s.req from the incoming call and returns the context the
// handler gets: it carries s.req (activitylog.WithRequest) and s
// (for SetActor).
func (c *config) begin(ctx context.Context, s *call, method string, start time.Time) context.Context {
	q := &s.req
	id := activitylog.RequestIDFrom(ctx)
	ctxID := id
	if !saneRequestID(id) {
		id = first(metadata.ValueFromIncomingContext(ctx, requestIDKey))
		if !saneRequestID(id) {
			id = activitylog.NewID(start).String()
		}
	}
	if ctxID != "" && id != ctxID {
		// An outer layer set an id that was refused. Override it, so
		// that events recorded inside the handler agree with this one.
		ctx = activitylog.WithRequestID(ctx, id)
	}
	q.RequestID = id
	s.idVal[0] = id
	s.idMD = metadata.MD{requestIDKey: s.idVal[:]}

	q.Method = "gRPC"
	q.Path = clip(method, activitylog.MaxTextField)
	q.Route = q.Path
	q.Host = clip(first(metadata.ValueFromIncomingContext(ctx, authorityKey)), activitylog.MaxShortField)
	q.UserAgent = clip(first(metadata.ValueFromIncomingContext(ctx, userAgentKey)), activitylog.MaxTextField)
	if p, ok := peer.FromContext(ctx); ok {
		q.RemoteIP = remoteIP(p.Addr)
	}

	if c.trace != nil {
		q.TraceID, q.SpanID = c.trace(ctx)
	} else {
		q.TraceID, q.SpanID = activitylog.TraceFrom(ctx)
	}
	if q.TraceID == "" {
		if tp, ok := parseTraceparent(first(metadata.ValueFromIncomingContext(ctx, traceparentKey))); ok {
			q.TraceID, q.SpanID, s.traceFlags = tp.traceID, tp.spanID, tp.flags
		}
	}

	ctx = activitylog.WithRequest(ctx, q)
	return context.WithValue(ctx, callKey{}, s)
}

// finishServer records the request event. panicked means the handler
// did not return (a panic, whose value is p, or runtime.Goexit).
func (c *config) finishServer(ctx context.Context, s *call, start time.Time, err error, panicked bool, p any, sent, recv int64) {
	code := codeOf(err)
	name := codeName(code)
	st := httpStatus(code)
	e := activitylog.Event{
		Time:     start,
		Kind:     activitylog.KindRequest,
		Action:   clip(s.req.Path, activitylog.MaxShortField),
		Severity: severity(st),
		Message:  message(s.req.Path, name),
		Tenant:   activitylog.TenantFrom(ctx),
		Service:  c.service,
		Request:  s.req,
		Response: activitylog.Response{Status: st, Duration: c.now().Sub(start)},
	}
	if a := s.actor.Load(); a != nil {
		e.Actor = *a
	} else {
		e.Actor = activitylog.ActorFrom(ctx)
	}
	n := 1
	if err != nil {
		n++
	}
	if sent >= 0 {
		n += 2
	}
	if panicked {
		n++
	}
	e.Extra = make(map[string]any, n)
	e.Extra["grpc_code"] = codeValue(code)
	if err != nil && !panicked {
		e.Extra["error"] = errorText(err)
	}
	if sent >= 0 {
		e.Extra["messages_sent"] = sent
		e.Extra["messages_received"] = recv
	}
	if panicked {
		e.Severity = activitylog.SeverityCritical
		if p != nil {
			e.Extra["panic"] = clip(fmt.Sprint(p), maxErrorText)
		} else {
			e.Extra["panic"] = "handler did not return (runtime.Goexit)"
		}
	}
	c.record(ctx, e)
}

// serverStream is the ServerStream the handler gets: its context
// carries the Request, and it counts the messages sent and received.
// SendMsg and RecvMsg may run in two goroutines at once.
type serverStream struct {
	grpc.ServerStream
	ctx        context.Context
	sent, recv atomic.Int64
}

func (s *serverStream) Context() context.Context { return s.ctx }

func (s *serverStream) SendMsg(m any) error {
	err := s.ServerStream.SendMsg(m)
	if err == nil {
		s.sent.Add(1)
	}
	return err
}

func (s *serverStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		s.recv.Add(1)
	}
	return err
}
