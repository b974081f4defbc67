package access

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/activitylog/activitylog"
)

// maxKeyBody bounds the body of POST /api/v1/api-keys.
const maxKeyBody = 64 << 10

// keyJSON is an API key as the API shows it: never its hash, and its
// secret only in the answer to the POST that made it.
type keyJSON struct {
	ID         string                   `json:"id"`            // alk_<16 hex digits>: what DELETE takes
	Key        string                   `json:"key,omitempty"` // the whole key, in the POST's answer only
	Name       string                   `json:"name"`
	Tenant     string                   `json:"tenant"`
	Scopes     []activitylog.Permission `json:"scopes"`
	CreatedAt  time.Time                `json:"created_at"`
	CreatedBy  string                   `json:"created_by"`
	ExpiresAt  *time.Time               `json:"expires_at,omitempty"`
	RevokedAt  *time.Time               `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time               `json:"last_used_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func toKeyJSON(k APIKey) keyJSON {
	return keyJSON{
		ID: KeyPrefix + k.ID, Name: k.Name, Tenant: k.Tenant, Scopes: k.Scopes,
		CreatedAt: k.CreatedAt.UTC(), CreatedBy: k.CreatedBy,
		ExpiresAt: timePtr(k.ExpiresAt), RevokedAt: timePtr(k.RevokedAt), LastUsedAt: timePtr(k.LastUsedAt),
	}
}

// createKey handles POST /api/v1/api-keys:
//
//	{"name": "billing ingest", "scopes": ["ingest"], "tenant": "acme", "expires_in": "720h"}
//
// expires_at (RFC 3339) may stand for expires_in; neither means never.
// The answer, 201, holds the key once.
func (s *Service) createKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name      string                   `json:"name"`
		Scopes    []activitylog.Permission `json:"scopes"`
		Tenant    string                   `json:"tenant"`
		ExpiresIn string                   `json:"expires_in"`
		ExpiresAt *time.Time               `json:"expires_at"`
	}
	if !decodeStrict(w, r, maxKeyBody, &body, `{"name", "scopes", "tenant", "expires_in" or "expires_at"}`) {
		return
	}
	nk := NewAPIKey{Name: body.Name, Scopes: body.Scopes, Tenant: body.Tenant, By: activitylog.PrincipalFrom(r.Context())}
	switch {
	case body.ExpiresIn != "" && body.ExpiresAt != nil:
		writeFieldError(w, activitylog.Invalid("expires_in", body.ExpiresIn, "give expires_in or expires_at, not both"))
		return
	case body.ExpiresIn != "":
		d, err := time.ParseDuration(body.ExpiresIn)
		if err != nil || d <= 0 {
			writeFieldError(w, activitylog.Invalid("expires_in", clip(body.ExpiresIn, 32), "must be a positive duration, like 720h"))
			return
		}
		nk.ExpiresAt = s.now().Add(d)
	case body.ExpiresAt != nil:
		nk.ExpiresAt = *body.ExpiresAt
	}
	key, k, err := s.CreateAPIKey(r.Context(), nk)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := toKeyJSON(k)
	out.Key = key
	writeJSON(w, http.StatusCreated, out)
}

// listKeys handles GET /api/v1/api-keys: every key, revoked and
// expired ones included, oldest first.
func (s *Service) listKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := s.store.ListAPIKeys(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]keyJSON, len(ks))
	for i, k := range ks {
		out[i] = toKeyJSON(k)
	}
	writeJSON(w, http.StatusOK, struct {
		Count   int       `json:"count"`
		Results []keyJSON `json:"results"`
	}{len(out), out})
}

// revokeKey handles DELETE /api/v1/api-keys/{id}: 204, also for a key
// revoked already; 404 for an unknown one.
func (s *Service) revokeKey(w http.ResponseWriter, r *http.Request) {
	if err := s.RevokeAPIKey(r.Context(), r.PathValue("id"), activitylog.PrincipalFrom(r.Context())); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// fail answers err with its category's status; what the client must not
// see is logged.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *activitylog.FieldError
	switch {
	case errors.As(err, &fe):
		writeFieldError(w, fe)
	case errors.Is(err, activitylog.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no API key "+clip(r.PathValue("id"), 64))
	case errors.Is(err, activitylog.ErrUnavailable):
		s.log.ErrorContext(r.Context(), "activitylog access: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the store is unavailable; retry later")
	default:
		s.log.ErrorContext(r.Context(), "activitylog access: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

// apiError is the body of every error answer, inside {"error": …}, as
// package server writes it.
type apiError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Field   string  `json:"field,omitempty"`
	Value   *string `json:"value,omitempty"`
}

func writeFieldError(w http.ResponseWriter, err error) {
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) {
		writeError(w, http.StatusBadRequest, "invalid", "invalid input")
		return
	}
	v := fe.Value
	writeJSON(w, http.StatusBadRequest, struct {
		Error apiError `json:"error"`
	}{apiError{Code: "invalid", Message: fe.Error(), Field: fe.Field, Value: &v}})
}

// writeError answers status with code and msg, and the field to blame
// when there is one.
// writeError answers the API's error shape. fieldValue is the refused
// field and, optionally, its value; as in the server's errors, a field
// always comes with a value, "" when there is none to show.
func writeError(w http.ResponseWriter, status int, code, msg string, fieldValue ...string) {
	e := apiError{Code: code, Message: msg}
	if len(fieldValue) > 0 && fieldValue[0] != "" {
		e.Field = fieldValue[0]
		v := ""
		if len(fieldValue) > 1 {
			v = fieldValue[1]
		}
		e.Value = &v
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="activitylog"`)
	}
	writeJSON(w, status, struct {
		Error apiError `json:"error"`
	}{e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("activitylog access: encode response", "err", err)
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
