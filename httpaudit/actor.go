package httpaudit

import (
	"context"
	"sync/atomic"

	"github.com/activitylog/activitylog"
)

// holderKey is the context key of the request's *actorHolder.
type holderKey struct{}

// actorHolder is where SetActor leaves the actor for the middleware to
// read when the handler returns. It is safe to fill from any goroutine.
type actorHolder struct {
	p atomic.Pointer[activitylog.Actor]
}

func (h *actorHolder) load() *activitylog.Actor { return h.p.Load() }

// SetActor names the actor of the request being served, for a layer
// inside the middleware that learns who the caller is (an
// authentication middleware, a login handler). The request event is
// attributed to the last actor set, which wins over the actor the
// context carried when the request arrived (activitylog.ActorFrom). It
// is safe to call from any goroutine, and a no-op when ctx does not
// come from a request that Middleware is serving.
//
// SetActor changes only the request event. Events recorded inside the
// handler take their actor from their own context, so an
// authentication layer should also pass activitylog.WithActor down:
//
//	httpaudit.SetActor(r.Context(), actor)
//	next.ServeHTTP(w, r.WithContext(activitylog.WithActor(r.Context(), actor)))
func SetActor(ctx context.Context, a activitylog.Actor) {
	if h, ok := ctx.Value(holderKey{}).(*actorHolder); ok {
		h.p.Store(&a)
	}
}
