package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/activitylog/activitylog"
)

// Authenticator turns a request into the principal making it.
//
// It returns (nil, nil) when the request carries no credentials, which
// the API answers with 401. An error means credentials that were given
// and refused: 401, with the error's text, unless it wraps
// activitylog.ErrForbidden (say, a session cookie without its CSRF
// token), which is 403. It must not panic on any input.
type Authenticator func(r *http.Request) (*activitylog.Principal, error)

// Route access levels beside the permissions: Public routes need no
// principal, SignedIn ones any principal (the handler checks the
// rest), and selfAuth ones authenticate on their own (the streams,
// which must refuse a WebSocket with a close code).
const (
	Public   activitylog.Permission = "-public"
	SignedIn activitylog.Permission = "-signed-in"
	selfAuth activitylog.Permission = "-self"

	public   = Public
	signedIn = SignedIn
)

// A Route is one more endpoint served behind the API's authentication,
// as the access package adds its sign-in and key routes. Need is a
// permission, Public or SignedIn. The handler finds the principal with
// activitylog.PrincipalFrom(r.Context()) (nil on a Public route).
type Route struct {
	Pattern string // a ServeMux pattern: "POST /api/v1/auth/login"
	Need    activitylog.Permission
	Handler http.HandlerFunc
}

// route is one entry of the API's route table, which the OpenAPI test
// and the permission tests read.
type route struct {
	pattern string // as given to ServeMux: "GET /api/v1/events/{id}"
	need    activitylog.Permission
}

// handle registers h for pattern behind authentication and the
// permission need.
func (s *server) handle(pattern string, need activitylog.Permission, h http.HandlerFunc) {
	s.routes = append(s.routes, route{pattern, need})
	if need == public || need == selfAuth {
		s.mux.HandleFunc(pattern, h)
		return
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, status, err := s.authenticate(r)
		if err != nil {
			s.refuse(w, status, err)
			return
		}
		if need != signedIn && !p.Has(need) {
			s.refuse(w, http.StatusForbidden, errors.New("principal "+clip(principalName(p))+" lacks the permission "+string(need)))
			return
		}
		h(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}

// withPrincipal returns ctx carrying p, and p as the actor and tenant of
// anything recorded while the request is served (an export event, an
// access change), unless the host's middleware has set them already.
func withPrincipal(ctx context.Context, p *activitylog.Principal) context.Context {
	ctx = activitylog.WithPrincipal(ctx, p)
	if a := activitylog.ActorFrom(ctx); a.ID == "" && a.Name == "" {
		typ := activitylog.ActorUser
		if p.Method == "api_key" {
			typ = activitylog.ActorService
		}
		ctx = activitylog.WithActor(ctx, activitylog.Actor{ID: p.ID, Name: p.Name, Type: typ})
	}
	if activitylog.TenantFrom(ctx) == "" && p.Tenant != "" {
		ctx = activitylog.WithTenant(ctx, p.Tenant)
	}
	return ctx
}

// authenticate returns r's principal, or the status (401 or 403) and
// the reason to refuse it with.
func (s *server) authenticate(r *http.Request) (*activitylog.Principal, int, error) {
	if s.auth == nil {
		return nil, http.StatusUnauthorized, errors.New("authentication required, and this server has no way to authenticate (server.Options.Authenticate is unset)")
	}
	p, err := s.auth(r)
	switch {
	case err != nil && errors.Is(err, activitylog.ErrForbidden):
		return nil, http.StatusForbidden, err
	case err != nil:
		return nil, http.StatusUnauthorized, err
	case p == nil:
		return nil, http.StatusUnauthorized, errors.New("authentication required: send a bearer token (JWT or API key) or sign in")
	}
	if p.Method == "session" && unsafeMethod(r.Method) {
		// A cookie rides along on requests other sites make; refuse
		// those (Sec-Fetch-Site, Origin). The Authenticator checks the
		// session's CSRF token.
		if err := s.cop.Check(r); err != nil {
			return nil, http.StatusForbidden, errors.New("cross-origin request refused: " + err.Error())
		}
	}
	return p, 0, nil
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

func (s *server) refuse(w http.ResponseWriter, status int, err error) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="activitylog"`)
		s.writeError(w, status, apiError{Code: "unauthorized", Message: err.Error()})
		return
	}
	s.writeError(w, http.StatusForbidden, apiError{Code: "forbidden", Message: err.Error()})
}

func principalName(p *activitylog.Principal) string {
	if p.Name != "" {
		return p.Name
	}
	return p.ID
}

// scope narrows f to what the request's principal may read; see
// activitylog.Principal.Scope. Every handler that queries the store
// calls it after parsing the filter and before using it.
func scope(r *http.Request, f activitylog.Filter) (activitylog.Filter, error) {
	return activitylog.PrincipalFrom(r.Context()).Scope(f)
}

// canSee reports whether the request's principal may read e.
func canSee(r *http.Request, e *activitylog.Event) bool {
	return activitylog.PrincipalFrom(r.Context()).CanSee(e)
}

// forbiddenError answers a *activitylog.ForbiddenError.
func forbiddenError(fe *activitylog.ForbiddenError) apiError {
	v := fe.Value
	return apiError{Code: "forbidden", Message: fe.Error(), Field: fe.Field, Value: &v}
}

// BearerToken returns the token of an "Authorization: Bearer …" header,
// or "".
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
