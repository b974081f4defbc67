package integrityhttp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// apiError is the body of every error answer, inside {"error": …}, in
// the shape of the server package's answers.
type apiError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Field   string  `json:"field,omitempty"`
	Value   *string `json:"value,omitempty"`
}

// conflict is a request that is well formed but that the trail's state
// cannot answer (409): an unsealed event, one no checkpoint covers yet,
// a checkpoint that does not verify, hashes that do not lead to it.
type conflict struct {
	code, msg string
}

func (c *conflict) Error() string { return c.msg }

// busy is a request refused because the work it asks for is already
// under way (429, with Retry-After seconds).
type busy struct {
	msg   string
	after int
}

func (b *busy) Error() string { return b.msg }

// fail answers err with its category's status, and logs what the client
// must not see. It writes nothing when the client has gone away.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	var fe *activitylog.FieldError
	var c *conflict
	var b *busy
	var nf *notFoundError
	switch {
	case errors.As(err, &fe):
		v := fe.Value
		writeError(w, http.StatusBadRequest, apiError{Code: "invalid", Message: fe.Error(), Field: fe.Field, Value: &v})
	case errors.As(err, &c):
		writeError(w, http.StatusConflict, apiError{Code: c.code, Message: c.msg})
	case errors.As(err, &b):
		w.Header().Set("Retry-After", strconv.Itoa(max(b.after, 1)))
		writeError(w, http.StatusTooManyRequests, apiError{Code: "busy", Message: b.msg})
	case errors.As(err, &nf):
		writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: nf.msg})
	case errors.Is(err, activitylog.ErrNotFound):
		writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "not found"})
	case errors.Is(err, activitylog.ErrUnavailable), errors.Is(err, activitylog.ErrClosed):
		s.log.ErrorContext(ctx, "activitylog integrity: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusServiceUnavailable, apiError{Code: "unavailable", Message: "the store is unavailable; retry later"})
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		s.log.DebugContext(ctx, "activitylog integrity: request ended", "method", r.Method, "path", r.URL.Path, "err", err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			writeError(w, http.StatusServiceUnavailable, apiError{Code: "unavailable", Message: "the request timed out"})
		}
	default:
		s.log.ErrorContext(ctx, "activitylog integrity: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, apiError{Code: "internal", Message: "internal error"})
	}
}

func writeError(w http.ResponseWriter, status int, e apiError) {
	writeJSON(w, status, struct {
		Error apiError `json:"error"`
	}{e})
}

// writeJSON answers v as JSON, encoded before anything is written.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
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

// onlyParams refuses, naming it, the first query parameter of r (in
// name order) that is not one of known or that is given twice.
func onlyParams(r *http.Request, path string, known ...string) error {
	v := r.URL.Query()
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		vs := v[name]
		switch {
		case !slices.Contains(known, name):
			why := "is not a parameter of " + path + ", which takes none"
			if len(known) > 0 {
				why = "is not a parameter of " + path + "; known are " + strings.Join(known, ", ")
			}
			return activitylog.Invalid(clip(name), clip(strings.Join(vs, ",")), why)
		case len(vs) > 1:
			return activitylog.Invalid(name, clip(strings.Join(vs, ",")), "is given more than once")
		}
	}
	return nil
}

// clip shortens s for an error message, at a rune boundary. Bytes that
// are not UTF-8 (a query's %ff) are shown as Go escapes (a\xffb), as the
// server package shows them: JSON holds text only, and would carry them
// as U+FFFD.
func clip(s string) string {
	const n = 32
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	if utf8.ValidString(s) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// parseID parses the id of a path, as activitylog.ParseID does, with
// the value of its error clipped: a segment that is not UTF-8
// (/api/v1/events/%ff/proof) shows the bytes sent.
func parseID(s string) (activitylog.ID, error) {
	id, err := activitylog.ParseID(s)
	if fe, ok := errors.AsType[*activitylog.FieldError](err); ok && !utf8.ValidString(s) {
		return id, activitylog.Invalid(fe.Field, clip(s), fe.Reason)
	}
	return id, err
}
