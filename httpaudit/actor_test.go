package httpaudit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

func TestActor(t *testing.T) {
	t.Parallel()
	ann := activitylog.Actor{ID: "42", Name: "Ann", Type: activitylog.ActorUser}
	bob := activitylog.Actor{ID: "7", Name: "Bob", Type: activitylog.ActorService}
	tests := []struct {
		name    string
		atEntry *activitylog.Actor // in the request's context when it arrives
		set     []activitylog.Actor
		want    activitylog.Actor
	}{
		{name: "none"},
		{name: "from context", atEntry: &ann, want: ann},
		{name: "set by inner layer", set: []activitylog.Actor{bob}, want: bob},
		{name: "SetActor wins", atEntry: &ann, set: []activitylog.Actor{bob}, want: bob},
		{name: "last SetActor wins", set: []activitylog.Actor{ann, bob}, want: bob},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			if tt.atEntry != nil {
				r = r.WithContext(activitylog.WithActor(r.Context(), *tt.atEntry))
			}
			got, _ := serve(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, a := range tt.set {
					httpaudit.SetActor(r.Context(), a)
				}
			}), r)
			if got.Actor.ID != tt.want.ID || got.Actor.Name != tt.want.Name || got.Actor.Type != tt.want.Type {
				t.Errorf("actor %+v, want %+v", got.Actor, tt.want)
			}
		})
	}
}

// An authentication layer inside the middleware names the actor; it is
// on the request event even though the request's context at entry had
// none.
func TestSetActorFromAuthLayer(t *testing.T) {
	t.Parallel()
	c := newCollector()
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer good" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			a := activitylog.Actor{ID: "42", Name: "Ann"}
			httpaudit.SetActor(r.Context(), a)
			next.ServeHTTP(w, r.WithContext(activitylog.WithActor(r.Context(), a)))
		})
	}
	h := httpaudit.Middleware(c, nil)(auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer good")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got := c.one(t); got.Actor.ID != "42" || got.Response.Status != 200 {
		t.Errorf("actor %+v status %d, want 42 and 200", got.Actor, got.Response.Status)
	}
}

func TestSetActorOutsideMiddlewareIsNoOp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	httpaudit.SetActor(ctx, activitylog.Actor{ID: "1"})
	if a := activitylog.ActorFrom(ctx); a.ID != "" {
		t.Errorf("SetActor changed a plain context: %+v", a)
	}
}

// SetActor may be called from goroutines the handler starts. Run with
// -race.
func TestSetActorConcurrent(t *testing.T) {
	t.Parallel()
	got, _ := serve(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { httpaudit.SetActor(r.Context(), activitylog.Actor{ID: "same"}) })
		}
		wg.Wait()
	}), httptest.NewRequest("GET", "/", nil))
	if got.Actor.ID != "same" {
		t.Errorf("actor %+v, want same", got.Actor)
	}
}
