package activitylog

import "context"

// Context keys are unexported types, so no other package can collide
// with them. Each getter returns the zero value when nothing is set.
type (
	actorKey     struct{}
	tenantKey    struct{}
	requestIDKey struct{}
	requestKey   struct{}
	traceKey     struct{}
)

// WithActor returns a context that carries the acting principal. The
// Recorder attributes every event recorded with that context to it,
// unless the event names an actor of its own.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor set by WithActor, or the zero Actor.
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// WithTenant returns a context that carries the tenant.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// TenantFrom returns the tenant set by WithTenant, or "".
func TenantFrom(ctx context.Context) string {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}

// WithRequestID returns a context that carries a request id. It wins
// over the request id of a Request set by WithRequest.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id set by WithRequestID, else the
// one of the Request set by WithRequest, else "".
func RequestIDFrom(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		return id
	}
	if r := RequestFrom(ctx); r != nil {
		return r.RequestID
	}
	return ""
}

// WithRequest returns a context that carries the request being served.
// The HTTP middleware sets it, so that every event recorded while
// serving the request (a data change, a login) says from where it came.
// The Request must not be changed after the call.
func WithRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the Request set by WithRequest, or nil.
func RequestFrom(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

type trace struct{ traceID, spanID string }

// WithTrace returns a context that carries trace and span ids, for
// callers that do not use OpenTelemetry. With OpenTelemetry, set
// Options.Trace to otelaudit.Trace instead.
func WithTrace(ctx context.Context, traceID, spanID string) context.Context {
	return context.WithValue(ctx, traceKey{}, trace{traceID, spanID})
}

// TraceFrom returns the ids set by WithTrace, or "", "".
func TraceFrom(ctx context.Context) (traceID, spanID string) {
	t, _ := ctx.Value(traceKey{}).(trace)
	return t.traceID, t.spanID
}
