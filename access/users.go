package access

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/strictjson"
)

// maxUserBody bounds the body of POST /api/v1/users and
// PATCH /api/v1/users/{username}.
const maxUserBody = 16 << 10

// UserJSON is a user as the API and `activitylog users list --json`
// show it: never its password hash.
type UserJSON struct {
	ID          string                   `json:"id"`
	Username    string                   `json:"username"`
	Tenant      string                   `json:"tenant"`
	Permissions []activitylog.Permission `json:"permissions"`
	CreatedAt   time.Time                `json:"created_at"`
	Disabled    bool                     `json:"disabled"`
}

// ToUserJSON returns u as the API shows it.
func ToUserJSON(u User) UserJSON {
	ps := u.Permissions
	if ps == nil {
		ps = []activitylog.Permission{}
	}
	return UserJSON{ID: u.ID, Username: u.Username, Tenant: u.Tenant, Permissions: ps, CreatedAt: u.CreatedAt.UTC(), Disabled: u.Disabled}
}

// decodeStrict decodes one JSON object into v strictly
// (internal/strictjson: unknown members, members given twice or in
// another case, and strings that are not UTF-8 are refused), and
// answers 400 naming the member and its value (never a secret's) when
// it cannot. A Content-Type other than JSON's is answered 415. shape
// shows what to send.
func decodeStrict(w http.ResponseWriter, r *http.Request, limit int64, v any, shape string) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "the body must be a JSON object "+shape+": "+jsonProblem(err), "body")
		return false
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := strictjson.ContentType(r.Header.Get("Content-Type")); err != nil {
			me, _ := errors.AsType[*strictjson.MediaTypeError](err)
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", err.Error(), "Content-Type", me.Value)
			return false
		}
	}
	if err := strictjson.Unmarshal(body, v); err != nil {
		writeFieldError(w, err)
		return false
	}
	return true
}

// listUsers handles GET /api/v1/users: every user, disabled ones
// included, oldest first.
func (s *Service) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.store.ListUsers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]UserJSON, len(us))
	for i, u := range us {
		out[i] = ToUserJSON(u)
	}
	writeJSON(w, http.StatusOK, struct {
		Count   int        `json:"count"`
		Results []UserJSON `json:"results"`
	}{len(out), out})
}

// createUser handles POST /api/v1/users:
//
//	{"username": "ana", "password": "…", "tenant": "acme", "permissions": ["view_logs"]}
//
// The answer, 201, is the user. Superuser is refused: only the command
// line grants it (activitylog users create --superuser).
func (s *Service) createUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID          string                   `json:"id"`
		Username    string                   `json:"username"`
		Password    string                   `json:"password"`
		Tenant      string                   `json:"tenant"`
		Permissions []activitylog.Permission `json:"permissions"`
	}
	if !decodeStrict(w, r, maxUserBody, &body, `{"username", "password", "tenant", "permissions", "id"}`) {
		return
	}
	u, err := s.CreateUser(r.Context(), NewUser{ID: body.ID, Username: body.Username, Password: body.Password,
		Tenant: body.Tenant, Permissions: body.Permissions, By: activitylog.PrincipalFrom(r.Context())})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ToUserJSON(u))
}

// updateUser handles PATCH /api/v1/users/{username} with
// {"disabled": true|false} and/or {"permissions": […]}. Disabling ends
// the user's sessions at once; new permissions apply from the user's
// next request. A principal changes neither of its own user (a
// superuser could lock out the last one), superuser is never granted,
// and a superuser's permissions are the command line's. The answer is
// the user as it is now.
func (s *Service) updateUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Disabled    *bool                     `json:"disabled"`
		Permissions *[]activitylog.Permission `json:"permissions"`
	}
	if !decodeStrict(w, r, maxUserBody, &body, `{"disabled": true|false, "permissions": […]}`) {
		return
	}
	if body.Disabled == nil && body.Permissions == nil {
		writeFieldError(w, activitylog.Invalid("disabled", "", "or permissions is required"))
		return
	}
	name := r.PathValue("username")
	if err := checkUsername(name); err != nil {
		writeFieldError(w, err) // no user can have it: a malformed path, not a missing user
		return
	}
	ctx := r.Context()
	u, err := s.store.UserByName(ctx, name)
	if errors.Is(err, activitylog.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no user "+clip(name, 64))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	by := activitylog.PrincipalFrom(ctx)
	if body.Disabled != nil && *body.Disabled && by != nil && by.ID == u.ID {
		writeFieldError(w, activitylog.Invalid("disabled", "true", "you cannot disable your own user; another superuser or the command line can"))
		return
	}
	if body.Permissions != nil {
		if by != nil && by.ID == u.ID {
			writeFieldError(w, activitylog.Invalid("permissions", joinPermissions(*body.Permissions), "cannot be changed on your own user; another superuser or the command line can"))
			return
		}
		if u, err = s.SetUserPermissions(ctx, u.Username, *body.Permissions, by); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if body.Disabled != nil && u.Disabled != *body.Disabled {
		if err := s.SetUserDisabled(ctx, u.Username, *body.Disabled, by); err != nil {
			s.fail(w, r, err)
			return
		}
		u.Disabled = *body.Disabled
	}
	writeJSON(w, http.StatusOK, ToUserJSON(u))
}
