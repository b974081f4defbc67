package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// apiError is the body of every error answer, inside {"error": …}.
// Field and Value are set for refused input only; Value is then always
// present, even when empty.
type apiError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Field   string  `json:"field,omitempty"`
	Value   *string `json:"value,omitempty"`
}

func fieldError(fe *activitylog.FieldError) apiError {
	v := fe.Value
	return apiError{Code: "invalid", Message: fe.Error(), Field: fe.Field, Value: &v}
}

// fail answers err with its category's status, and logs what the client
// must not see. It writes nothing when the client has gone away.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	var fe *activitylog.FieldError
	var forbidden *activitylog.ForbiddenError
	switch {
	case errors.As(err, &forbidden):
		s.writeError(w, http.StatusForbidden, forbiddenError(forbidden))
	case errors.Is(err, activitylog.ErrForbidden):
		s.writeError(w, http.StatusForbidden, apiError{Code: "forbidden", Message: "forbidden"})
	case errors.As(err, &fe):
		s.writeError(w, http.StatusBadRequest, fieldError(fe))
	case errors.Is(err, activitylog.ErrInvalid):
		s.writeError(w, http.StatusBadRequest, apiError{Code: "invalid", Message: "invalid input"})
	case errors.Is(err, activitylog.ErrNotFound):
		s.writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "not found"})
	case errors.Is(err, activitylog.ErrQueueFull):
		s.log.WarnContext(ctx, "activitylog server: audit queue full", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		s.writeError(w, http.StatusServiceUnavailable, apiError{Code: "queue_full", Message: "the audit queue is full; retry later"})
	case errors.Is(err, activitylog.ErrClosed):
		s.log.WarnContext(ctx, "activitylog server: recorder closed", "method", r.Method, "path", r.URL.Path, "err", err)
		s.writeError(w, http.StatusServiceUnavailable, apiError{Code: "unavailable", Message: "the server is shutting down"})
	case errors.Is(err, activitylog.ErrUnavailable):
		s.log.ErrorContext(ctx, "activitylog server: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		s.writeError(w, http.StatusServiceUnavailable, apiError{Code: "unavailable", Message: "the store is unavailable; retry later"})
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// The request's context ended: the client went away, and there
		// is no one to answer; or the host's deadline passed. A Commit
		// that was under way still completes.
		s.log.DebugContext(ctx, "activitylog server: request ended", "method", r.Method, "path", r.URL.Path, "err", err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.writeError(w, http.StatusServiceUnavailable, apiError{Code: "unavailable", Message: "the request timed out"})
		}
	default:
		s.log.ErrorContext(ctx, "activitylog server: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		s.writeError(w, http.StatusInternalServerError, apiError{Code: "internal", Message: "internal error"})
	}
}

func (s *server) writeError(w http.ResponseWriter, status int, e apiError) {
	s.writeJSON(w, status, struct {
		Error apiError `json:"error"`
	}{e})
}

// writeJSON answers v as JSON. v is encoded before anything is written,
// so that an encoding failure can still become a 500.
func (s *server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("activitylog server: encode response", "err", err)
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	writeJSONBytes(w, status, append(b, '\n'))
}

// writeJSONBytes answers b, a JSON document with its final newline.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// clip shortens s for an error message, at a rune boundary, as the
// root package shortens the values it refuses.
func clip(s string) string { return clipN(s, 32) }

func clipN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
