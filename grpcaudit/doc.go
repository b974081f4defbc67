// Package grpcaudit is a set of gRPC interceptors that record every call
// a service serves, and every call it makes, as activitylog events, and
// give the events recorded while serving a call (data changes, logins)
// the call they came from.
//
//	rec := activitylog.NewRecorder(store, &activitylog.Options{Service: "orders"})
//	defer rec.Shutdown(context.Background())
//
//	opts := &grpcaudit.Options{
//		Skip: func(method string) bool { return strings.HasPrefix(method, "/grpc.health.v1.Health/") },
//	}
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(grpcaudit.UnaryServerInterceptor(rec, opts), auth),
//		grpc.ChainStreamInterceptor(grpcaudit.StreamServerInterceptor(rec, opts)),
//	)
//
//	conn, err := grpc.NewClient(target,
//		grpc.WithTransportCredentials(creds),
//		grpc.WithChainUnaryInterceptor(grpcaudit.UnaryClientInterceptor(rec, nil)),
//		grpc.WithChainStreamInterceptor(grpcaudit.StreamClientInterceptor(rec, nil)),
//	)
//
// Put the server interceptors first in the chain, so that they see the
// calls that later interceptors (authentication, rate limits) refuse.
//
// # The request event
//
// Each call that reaches a server interceptor, and is not skipped, is
// recorded once, when the handler returns, as an activitylog.Event with
// Kind "request" and:
//
//   - Action: the full method, "/shop.Orders/Get"; Message:
//     "/shop.Orders/Get → NOT_FOUND", with the canonical name of the
//     status code.
//   - Request: Method "gRPC"; Path and Route the full method; Host the
//     :authority; the remote IP of the peer (empty when the peer address
//     is not an IP address, as over a Unix socket); the user-agent
//     metadata; the request id; the trace and span ids.
//   - Response: Status, the HTTP status that means what the gRPC code
//     means (OK 200, INVALID_ARGUMENT 400, UNAUTHENTICATED 401,
//     PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS 409,
//     RESOURCE_EXHAUSTED 429, CANCELLED 499, UNIMPLEMENTED 501,
//     UNAVAILABLE 503, DEADLINE_EXCEEDED 504, INTERNAL and UNKNOWN 500,
//     and so on, as google.rpc.Code maps them); the duration.
//   - Severity: info below 400, warning for 4xx, error for 5xx, and
//     critical when the handler panicked.
//   - Extra: "grpc_code", the canonical code name; "error", the status
//     message of a failed call (at most 1 KiB); for streams,
//     "messages_sent" and "messages_received"; after a panic, "panic",
//     the panic value as text.
//   - Actor: the one set with [SetActor] while the call was served, else
//     the one in the call's context ([activitylog.WithActor]). Tenant:
//     from the call's context.
//   - Time: when the call arrived. The ID is left to the Recorder.
//
// The status code is the one the handler's error carries, as grpc-go
// reports it: a status error's code, CANCELLED or DEADLINE_EXCEEDED for
// a context error, UNKNOWN for any other error.
//
// A panic in a handler is recovered, recorded with status 500 and
// severity critical, and answered with INTERNAL and the message
// "internal error", which shows the client nothing of the panic. With
// [Options].NoRecover the panic goes on after it is recorded.
//
// The event is recorded with [context.WithoutCancel] of the call's
// context: it carries the call's values, but a client that goes away
// cannot cancel its own audit record. An error from Record goes to
// [Options].OnError and never changes the call's result.
//
// # Request ids and trace context
//
// Every recorded call gets a request id: one an outer layer set with
// [activitylog.WithRequestID], else the incoming x-request-id metadata,
// else a new UUIDv7. An incoming id is used only when it is 1 to 128
// visible ASCII characters. The server sends it back in the
// x-request-id response header.
//
// The trace and span ids are those of [Options].Trace, else those set
// by [activitylog.WithTrace], else those of the incoming W3C traceparent
// metadata.
//
// # Events recorded by the handler
//
// The handler's context carries an *[activitylog.Request] with the
// request id and the fields above ([activitylog.WithRequest]), so that
// an event the handler records with that context says from which call,
// address and client it came. For streams, the context of the
// ServerStream the handler gets carries it.
//
// # The external event
//
// Each call made through a client interceptor, and not skipped, is
// recorded once, when it ends, as an activitylog.Event with Kind
// "external", Tool "grpc", Action the full method, the same Message,
// Status and Severity mapping as above, and the duration. Its Request
// describes the call made: Method "gRPC", Host the endpoint of the
// ClientConn's target ("orders:443" for "dns:///orders:443"), Path the
// full method, and the request id, trace id and span id sent. Extra
// holds "service", the same endpoint (as httpaudit.NewTransport's events
// name the service called), "target", the whole target, "grpc_code",
// "error" and, for streams, "messages_sent" and "messages_received". The
// actor, the tenant and the rest of the incoming request the call was
// made for (remote IP, user agent) come from the context, as the
// Recorder fills them in.
//
// The call carries x-request-id metadata: the id in the context
// ([activitylog.RequestIDFrom]), else a new one. When the context has a
// trace id ([Options].Trace, else [activitylog.WithTrace], else the
// Request in the context), the call carries a W3C traceparent
// "00-<trace id>-<new span id>-<flags>": the span id is new, the call's
// own, so that the called server's request event (whose span id is the
// traceparent's) joins this one; the flags are those the call being
// served came with, for the same trace, else 01. Metadata the caller
// already set under either key is sent as it is, and recorded, so an
// OpenTelemetry propagator wins.
//
// A streaming call is recorded when the stream ends; see
// [StreamClientInterceptor] for what counts as the end.
package grpcaudit
