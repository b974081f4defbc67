package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/strictjson"
)

// resolveRequest is the body of POST /api/v1/events/{id}/resolve.
type resolveRequest struct {
	ResolvedBy string `json:"resolved_by"`
	Note       string `json:"note"`

	// byGiven says resolved_by was in the body: left out, it is the
	// signed-in principal.
	byGiven bool
}

var resolveRequestType = reflect.TypeFor[resolveRequest]()

// resolver returns the Querier as an activitylog.Resolver, or answers
// 501 and returns false when it is not one.
func (s *server) resolver(w http.ResponseWriter) (activitylog.Resolver, bool) {
	res, ok := s.q.(activitylog.Resolver)
	if !ok {
		s.writeError(w, http.StatusNotImplemented, apiError{
			Code:    "not_implemented",
			Message: "this store does not keep resolutions",
		})
	}
	return res, ok
}

// resolve handles POST /api/v1/events/{id}/resolve: it records who
// resolved the event, now, with an optional note, and answers the
// resolution. The event itself is not changed.
func (s *server) resolve(w http.ResponseWriter, r *http.Request) {
	if s.in == nil {
		// New's promise: without an Ingester the API is read-only.
		w.Header().Set("Allow", "")
		s.writeError(w, http.StatusMethodNotAllowed, apiError{
			Code:    "method_not_allowed",
			Message: "the API is read-only: events cannot be resolved through it",
		})
		return
	}
	if err := NoParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, ok := s.resolver(w)
	if !ok {
		return
	}
	body, ok := s.jsonBody(w, r)
	if !ok {
		return
	}
	req, err := decodeResolveRequest(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Who resolved it is who is signed in: a body without resolved_by
	// (the console sends the note alone) is resolved by the principal.
	// A resolved_by in the body may only repeat that (or, for a
	// superuser, name someone else); one given empty, blank or null
	// names no one, and decodeResolveRequest refused it.
	p := activitylog.PrincipalFrom(r.Context())
	if !req.byGiven {
		req.ResolvedBy = principalName(p)
	} else if req.ResolvedBy != p.ID && req.ResolvedBy != p.Name && !p.Has(activitylog.Superuser) {
		s.fail(w, r, &activitylog.ForbiddenError{Field: "resolved_by", Value: clip(req.ResolvedBy), Reason: "is not the signed-in principal " + clip(principalName(p))})
		return
	}
	// Only events the principal can see, and of its own tenant.
	if ok, err := s.mayResolve(r, id); err != nil {
		s.fail(w, r, err)
		return
	} else if !ok {
		s.writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "no event has id " + id.String()})
		return
	}
	rr := activitylog.Resolution{EventID: id, ResolvedBy: req.ResolvedBy, ResolvedAt: time.Now().UTC(), Note: req.Note}
	err = res.Resolve(r.Context(), rr)
	if errors.Is(err, activitylog.ErrNotFound) {
		s.writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "no event has id " + id.String()})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, rr)
}

// jsonBody reads the body of a request that takes one JSON object,
// answering an error itself (415, 413, 400) when it cannot: 415 for a
// Content-Type that is not JSON in UTF-8 or a Content-Encoding but
// identity.
func (s *server) jsonBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ndjson, ok := mediaType(r.Header.Get("Content-Type")); !ok || ndjson {
		ct := clipN(r.Header.Get("Content-Type"), 128)
		s.writeError(w, http.StatusUnsupportedMediaType, apiError{
			Code:    "unsupported_media_type",
			Message: "Content-Type " + strconv.Quote(ct) + " is not supported: send application/json, in UTF-8",
			Field:   "Content-Type",
			Value:   &ct,
		})
		return nil, false
	}
	if !s.identityEncoding(w, r) {
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.writeError(w, http.StatusRequestEntityTooLarge, apiError{
				Code:    "too_large",
				Message: "the request body is larger than " + strconv.FormatInt(s.maxBody, 10) + " bytes",
			})
			return nil, false
		}
		s.log.DebugContext(r.Context(), "activitylog server: read body", "err", err)
		s.writeError(w, http.StatusBadRequest, apiError{Code: "invalid", Message: "the request body could not be read"})
		return nil, false
	}
	return body, true
}

// mayResolve reports whether the request's principal may resolve event
// id: one it can see (its tenant's, and with view_logs only, its own),
// holding resolve_events, which the route checked. Anything else, and a
// store error, is no; the caller answers 404 for an event that is
// missing or not the principal's alike, so that ids cannot be probed,
// and the store's error otherwise.
func (s *server) mayResolve(r *http.Request, id activitylog.ID) (bool, error) {
	e, err := s.q.Get(r.Context(), id)
	if errors.Is(err, activitylog.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return canSee(r, &e), nil
}

// decodeResolveRequest decodes the body of a resolve strictly: one JSON
// object with no field but resolved_by and note, each a string. A
// resolved_by that is given must name someone: empty, blank (white
// space only) or null is refused, where leaving it out means the
// signed-in principal. Every error is a *activitylog.FieldError naming
// "body" or the field.
func decodeResolveRequest(body []byte) (resolveRequest, error) {
	var req resolveRequest
	err := decodeObject(body, &req, resolveRequestType, `{"resolved_by": "…", "note": "…"}`, "a resolution", "resolved_by, note")
	if err != nil {
		return req, err
	}
	// decodeObject took one object, whose members are named exactly and
	// once each.
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return req, syntaxError("body", "", body, err)
	}
	by, given := members["resolved_by"]
	req.byGiven = given
	const leaveOut = "name who resolved the event, or leave resolved_by out for the signed-in principal"
	switch {
	case !given:
	case string(bytes.TrimSpace(by)) == "null":
		return req, activitylog.Invalid("resolved_by", "null", "must be a string: "+leaveOut)
	case strings.TrimSpace(req.ResolvedBy) == "":
		return req, activitylog.Invalid("resolved_by", req.ResolvedBy, "is blank: "+leaveOut)
	}
	return req, nil
}

// decodeObject decodes body strictly into v, a pointer to a struct of
// type t: one JSON object with none but t's fields. Every error is a
// *activitylog.FieldError naming "body" or the field; example shows an
// empty body what to send, what and known name the object and its
// fields in the error for an unknown field.
func decodeObject(body []byte, v any, t reflect.Type, example, what, known string) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return activitylog.Invalid("body", "", "is empty: send "+example)
	}
	if trimmed[0] != '{' {
		return activitylog.Invalid("body", showValue(string(trimmed)), "must be a JSON object")
	}
	raw, err := oneValue(body)
	if err != nil {
		return syntaxError("body", "", body, err)
	}
	// Members given twice, in another case than the field's, unknown,
	// or with strings that are not UTF-8 are refused, not taken.
	if err := strictjson.Check(raw, t, strictjson.Options{What: what, Known: known, Valid: true}); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" || strings.HasPrefix(err.Error(), "json: unknown field ") {
			return strictjson.DecodeError(raw, err, "")
		}
		return syntaxError("body", "", raw, err)
	}
	return nil
}

// resolution handles GET /api/v1/events/{id}/resolution: the event's
// latest resolution, or 404, with code not_resolved when the event
// exists but has none.
func (s *server) resolution(w http.ResponseWriter, r *http.Request) {
	if err := NoParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, ok := s.resolver(w)
	if !ok {
		return
	}
	var rr activitylog.Resolution
	if e, gerr := s.q.Get(r.Context(), id); gerr == nil && !canSee(r, &e) {
		err = activitylog.ErrNotFound
	} else {
		rr, err = res.Resolution(r.Context(), id)
	}
	switch {
	case errors.Is(err, activitylog.ErrNotResolved):
		s.writeError(w, http.StatusNotFound, apiError{Code: "not_resolved", Message: "event " + id.String() + " is not resolved"})
	case errors.Is(err, activitylog.ErrNotFound):
		s.writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "no event has id " + id.String()})
	case err != nil:
		s.fail(w, r, err)
	default:
		s.writeJSON(w, http.StatusOK, rr)
	}
}
