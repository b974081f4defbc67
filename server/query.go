package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// FilterParams lists the query parameters that ParseFilter knows.
var FilterParams = []string{
	"kind", "action", "date_from", "date_to", "last_hours", "user_id", "tenant", "remote_ip",
	"object_type", "object_id", "status_gte", "status_lte", "status", "method", "origin",
	"severity", "category", "tool", "search", "ordering", "cursor", "page", "page_size",
}

// ParseFilter turns query parameters into a Filter:
//
//	kind, action                 exact match
//	date_from, date_to           RFC 3339 times; from inclusive, to exclusive
//	last_hours                   events of the last N hours (integer)
//	user_id                      the actor's id
//	tenant, remote_ip            exact match
//	object_type, object_id       exact match
//	status_gte, status_lte       response status bounds (integers)
//	status                       exact response status (integer)
//	method                       request method; upper-cased, so get finds GET
//	origin                       request Origin header, exact match
//	severity                     one of activitylog.Severities
//	category, tool               exact match
//	search                       substring of message, path, object repr, actor name
//	ordering                     one of activitylog.Orderings, "-" for descending
//	cursor                       a "next" or "previous" cursor from an earlier answer
//	page, page_size              offset paging (integers)
//
// The per-kind resources (GET /api/v1/request-events, …) take the
// parameters that suit their kind; see kindResources.
//
// It checks syntax: an unknown parameter, a repeated one, a value that
// is not UTF-8 (shown with Go's escapes, like a\xffb, rather than
// U+FFFD), a value that is not an integer or a time; and what a Filter
// cannot tell from "unset": an explicit 0 for an integer, and a time
// out of activitylog.MinTime..MaxTime (0001-01-01T00:00:00Z is the
// zero time.Time). An empty value means the parameter is unset. Other
// ranges and combinations are checked by Filter.Normalize, which every
// Querier calls. Every error is a *activitylog.FieldError naming the
// parameter and the value.
func ParseFilter(v url.Values) (activitylog.Filter, error) {
	var f activitylog.Filter
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names) // the same query always gets the same error
	for _, name := range names {
		vs := v[name]
		if !slices.Contains(FilterParams, name) {
			first := ""
			if len(vs) > 0 {
				first = vs[0]
			}
			return activitylog.Filter{}, activitylog.Invalid(paramField(name), showValue(first),
				"is not a known parameter; known are "+strings.Join(FilterParams, ", "))
		}
		if len(vs) > 1 {
			return activitylog.Filter{}, activitylog.Invalid(name, showValue(vs[1]), "is given more than once")
		}
		if len(vs) == 0 || vs[0] == "" {
			continue
		}
		if err := checkUTF8(name, vs[0]); err != nil {
			return activitylog.Filter{}, err
		}
		if err := setParam(&f, name, vs[0]); err != nil {
			return activitylog.Filter{}, err
		}
	}
	return f, nil
}

// setParam sets the field of f that the parameter name stands for.
func setParam(f *activitylog.Filter, name, v string) (err error) {
	switch name {
	case "kind":
		f.Kind = activitylog.Kind(v)
	case "action":
		f.Action = v
	case "date_from":
		f.From, err = parseTime(name, v)
	case "date_to":
		f.To, err = parseTime(name, v)
	case "last_hours":
		f.LastHours, err = parseCount(name, v, 1, 876600)
	case "user_id":
		f.ActorID = v
	case "tenant":
		f.Tenant = v
	case "remote_ip":
		f.RemoteIP = v
	case "object_type":
		f.ObjectType = v
	case "object_id":
		f.ObjectID = v
	case "status_gte":
		f.StatusMin, err = parseCount(name, v, 100, 599)
	case "status_lte":
		f.StatusMax, err = parseCount(name, v, 100, 599)
	case "status":
		f.Status, err = parseCount(name, v, 100, 599)
	case "method":
		f.Method = v
	case "origin":
		f.Origin = v
	case "severity":
		f.Severity = activitylog.Severity(v)
	case "category":
		f.Category = v
	case "tool":
		f.Tool = v
	case "search":
		f.Search = v
	case "ordering":
		f.Ordering = v
	case "cursor":
		f.Cursor = v
	case "page":
		f.Page, err = parseCount(name, v, 1, 1_000_000)
	case "page_size":
		f.PageSize, err = parseCount(name, v, 1, activitylog.MaxPageSize)
	}
	return err
}

// parseCount parses an integer parameter whose zero means "unset" in a
// Filter, so that an explicit 0 must be refused here, with the range
// that Filter.Normalize states for other values out of [lo, hi]. The
// range itself is Normalize's to check.
func parseCount(name, v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, activitylog.Invalid(name, clip(v), "is not an integer")
	}
	if n == 0 {
		return 0, activitylog.Invalid(name, v, "must be between "+strconv.Itoa(lo)+" and "+strconv.Itoa(hi))
	}
	return n, nil
}

func parseTime(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil && strings.Contains(v, " ") {
		// A "+" in an unescaped query string arrives as a space:
		// 2025-01-02T15:04:05+01:00 becomes …05 01:00.
		t, err = time.Parse(time.RFC3339, strings.ReplaceAll(v, " ", "+"))
	}
	if err != nil {
		return time.Time{}, activitylog.Invalid(name, clip(v), "is not an RFC 3339 time, like 2025-01-02T15:04:05Z")
	}
	// Checked here, as Filter.Normalize checks a time it is given, for
	// the zero time.Time: a Filter takes it for "no bound".
	if t.Before(activitylog.MinTime) || t.After(activitylog.MaxTime) {
		return time.Time{}, activitylog.Invalid(name, clip(v), "must be between 1970 and 2200")
	}
	return t, nil
}

// checkUTF8 refuses v, the value of the parameter or path segment name,
// when it is not UTF-8, as a *activitylog.FieldError whose value shows
// the bytes sent (showValue): the answers are JSON, which holds text
// only, and in which those bytes would become U+FFFD.
func checkUTF8(name, v string) error {
	for i := 0; i < len(v); {
		r, n := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && n == 1 {
			return activitylog.Invalid(name, showValue(v),
				"is not UTF-8: byte "+strconv.Itoa(i)+" is 0x"+strconv.FormatUint(uint64(v[i]), 16)+"; percent-encode text as UTF-8")
		}
		i += n
	}
	return nil
}

// showValue is clip for a value that may not be UTF-8: such a value is
// shown with Go's escapes (a\xffb), which JSON carries as they are.
func showValue(s string) string {
	if utf8.ValidString(s) {
		return clip(s)
	}
	q := strconv.Quote(clip(s))
	return q[1 : len(q)-1]
}

// parseID parses the id of a path, as activitylog.ParseID does, with the
// value of its error shown by showValue: a segment that is not UTF-8
// once unescaped (/api/v1/events/%ff) shows the bytes sent, not U+FFFD.
func parseID(s string) (activitylog.ID, error) {
	id, err := activitylog.ParseID(s)
	if fe, ok := errors.AsType[*activitylog.FieldError](err); ok && !utf8.ValidString(s) {
		return id, activitylog.Invalid(fe.Field, showValue(s), fe.Reason)
	}
	return id, err
}

// list handles GET /api/v1/events.
func (s *server) list(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	f, err := ParseFilter(v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeList(w, r, v, f)
}

// countLimit is how far a list answer counts. Up to countLimit matching
// events its count is exact; beyond, count is countLimit and count_exact
// is false. Counting every match of a broad filter over a large store
// would cost far more than the page, on every page: over a million
// events, some 40 ms for kind=request through its index, 400 ms for
// kind=request&status_gte=500. Counting up to 500 reads at most the rows
// up to the 501st match, which kept the first page with its count under
// 6 ms at the 95th percentile for every filter measured (sqlite's
// TestMillionEvents); at 1000 the rows a sparse filter reads outgrow
// SQLite's page cache, and the same filters took 20 ms.
const countLimit = 500

// upToCounter is a Querier that can stop counting at a bound, as
// *sqlite.Store does: CountUpTo returns min(Count(f), limit). A Querier
// without it is counted exactly.
type upToCounter interface {
	CountUpTo(ctx context.Context, f activitylog.Filter, limit int64) (int64, error)
}

// count returns how many events f selects, exactly when that is at most
// countLimit, and otherwise countLimit and exact false.
func (s *server) count(ctx context.Context, f activitylog.Filter) (n int64, exact bool, err error) {
	c, ok := s.q.(upToCounter)
	if !ok {
		n, err = s.q.Count(ctx, f)
		return n, true, err
	}
	if n, err = c.CountUpTo(ctx, f, countLimit+1); n > countLimit {
		return countLimit, false, err
	}
	return n, true, err
}

// listAnswer is the body of a list: GET /api/v1/events and the
// per-kind resources.
type listAnswer struct {
	Count      int64   `json:"count"`
	CountExact *bool   `json:"count_exact,omitempty"` // false when more than Count match; left out when Count is exact
	Next       *string `json:"next"`
	Previous   *string `json:"previous"`
	// Results is the page's events: a []activitylog.Event, or, when
	// the server has Annotators, the events with their members (see
	// server.annotate).
	Results any `json:"results"`
}

// writeList answers one page of f, held to the principal (scope), with
// its count bounded by countLimit and links that keep the parameters v.
func (s *server) writeList(w http.ResponseWriter, r *http.Request, v url.Values, f activitylog.Filter) {
	f, err := scope(r, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.q.Query(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a := listAnswer{Next: link(v, page.Next), Previous: link(v, page.Prev)}
	var exact bool
	if a.Count, exact, err = s.count(r.Context(), f); err != nil {
		s.fail(w, r, err)
		return
	}
	if !exact {
		a.CountExact = new(bool)
	}
	if a.Results, err = s.annotate(r.Context(), page.Events); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeListAnswer(w, &a)
}

// link returns the relative URL "?…" of the page at cursor, keeping the
// other parameters of v; or nil when there is no such page. Being
// relative, it works wherever the handler is mounted.
func link(v url.Values, cursor string) *string {
	if cursor == "" {
		return nil
	}
	q := url.Values{}
	for name, vs := range v {
		if name == "cursor" || name == "page" || len(vs) == 0 || vs[0] == "" {
			continue
		}
		q.Set(name, vs[0])
	}
	q.Set("cursor", cursor)
	s := "?" + q.Encode()
	return &s
}

// get handles GET /api/v1/events/{id}.
func (s *server) get(w http.ResponseWriter, r *http.Request) {
	s.getOfKind(w, r, "")
}

// getOfKind answers the event whose id is in the path, when it is of
// kind k (any kind when k is "") and the principal may see it, and 404
// otherwise, so that ids cannot be probed across tenants or kinds. It
// takes no query parameter.
func (s *server) getOfKind(w http.ResponseWriter, r *http.Request, k activitylog.Kind) {
	if err := NoParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	e, err := s.q.Get(r.Context(), id)
	if err == nil && (!canSee(r, &e) || k != "" && e.Kind != k) {
		// Not the principal's to see, or not of this resource's kind:
		// as if it did not exist.
		err = activitylog.ErrNotFound
	}
	if errors.Is(err, activitylog.ErrNotFound) {
		msg := "no event has id " + id.String()
		if k != "" {
			msg = "no " + string(k) + " event has id " + id.String()
		}
		s.writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: msg})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ans, err := s.annotateOne(r.Context(), &e)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, ans)
}
