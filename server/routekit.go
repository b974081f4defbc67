package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/activitylog/activitylog"
)

// The plumbing of handlers that plug into Options.Routes (database
// configurations, retention policies), so that their answers and errors
// have the API's shape and status codes.

// APIError is the body of every error answer, inside {"error": …}:
// Field and Value name a refused input and the value refused.
type APIError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Field   string  `json:"field,omitempty"`
	Value   *string `json:"value,omitempty"`
}

// WriteJSON answers v as JSON, encoded before anything is written, with
// the API's headers (no-store, nosniff).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	writeJSONBytes(w, status, append(b, '\n'))
}

// WriteError answers {"error": e} with status.
func WriteError(w http.ResponseWriter, status int, e APIError) {
	WriteJSON(w, status, struct {
		Error APIError `json:"error"`
	}{e})
}

// NoParams refuses any query parameter, naming it, for routes that take
// none: the first in name order (so the same query always gets the same
// error), with the values sent, in the shape of ParseFilter's unknown
// parameter (bytes that are not UTF-8 shown as Go escapes).
func NoParams(r *http.Request) error {
	v := r.URL.Query()
	if len(v) == 0 {
		return nil
	}
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names)
	name := names[0]
	return activitylog.Invalid(paramField(name), showValue(strings.Join(v[name], ",")), "is not a parameter of "+r.URL.Path+", which takes none")
}

// Clip shortens s for an error message (32 bytes), at a rune boundary.
func Clip(s string) string { return clip(s) }

// Failer answers a route's errors as the API does: a
// *activitylog.ForbiddenError 403 naming the field, a
// *activitylog.FieldError 400 naming it, ErrNotFound 404,
// ErrUnavailable 503; a request whose context ended gets nothing (or 503
// on its deadline); anything else is logged and answered 500. Map, when
// set, is asked first, for the errors of its own package.
type Failer struct {
	Log      *slog.Logger
	What     string // names the subsystem in the log: "dbconfig", "retention"
	NotFound string // the 404's message: "no database config has that id"
	Internal string // the 500's message; default "internal error"
	Map      func(w http.ResponseWriter, r *http.Request, err error) bool
}

// Fail answers err.
func (f *Failer) Fail(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	var fe *activitylog.FieldError
	var fb *activitylog.ForbiddenError
	if f.Map != nil && f.Map(w, r, err) {
		return
	}
	prefix := "activitylog " + f.What + ": "
	switch {
	case errors.As(err, &fb):
		WriteError(w, http.StatusForbidden, APIError(forbiddenError(fb)))
	case errors.As(err, &fe):
		WriteError(w, http.StatusBadRequest, APIError(fieldError(fe)))
	case errors.Is(err, activitylog.ErrNotFound):
		WriteError(w, http.StatusNotFound, APIError{Code: "not_found", Message: f.NotFound})
	case errors.Is(err, activitylog.ErrUnavailable):
		f.Log.ErrorContext(ctx, prefix+"store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		WriteError(w, http.StatusServiceUnavailable, APIError{Code: "unavailable", Message: "the store is unavailable; retry later"})
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			WriteError(w, http.StatusServiceUnavailable, APIError{Code: "unavailable", Message: "the request timed out"})
		}
	default:
		f.Log.ErrorContext(ctx, prefix+"internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		msg := f.Internal
		if msg == "" {
			msg = "internal error"
		}
		WriteError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: msg})
	}
}

// PrincipalName names p in messages: its name, else its id, else
// "nobody".
func PrincipalName(p *activitylog.Principal) string {
	switch {
	case p == nil:
		return "nobody"
	case p.Name != "":
		return p.Name
	}
	return p.ID
}

// paramField names a query parameter in an error: its name, clipped
// (bytes that are not UTF-8 shown as Go escapes, as showValue does), or
// "(empty name)" for a parameter without one ("?=0").
func paramField(name string) string {
	if name == "" {
		return "(empty name)"
	}
	return showValue(name)
}
