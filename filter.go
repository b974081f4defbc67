package activitylog

import (
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Paging limits.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// Orderings lists the fields a query can be ordered by. Prefix one with
// "-" for descending order. Ties are broken by event id in the same
// direction, so every ordering is total and pages never overlap.
var Orderings = []string{"time", "kind", "action", "status", "duration", "actor_id", "tenant", "object_type"}

// DefaultOrdering is newest first.
const DefaultOrdering = "-time"

// maxLastHours bounds Filter.LastHours: 100 years of 365.25 days.
const maxLastHours = 876600

// Filter selects events. The zero Filter matches every event, newest
// first, 50 to a page. String fields match exactly; Search matches a
// substring, case-insensitively, of the message, path, object repr and
// actor name. Normalize upper-cases Method (HTTP methods are upper case
// by convention, and "get" in a URL means GET).
type Filter struct {
	Kind       Kind      // one kind, or all when empty
	Action     string    // exact action
	From       time.Time // inclusive; zero means no lower bound
	To         time.Time // exclusive; zero means no upper bound
	LastHours  int       // events of the last N hours, 1 to 876600; sets From at query time, not before MinTime; 0 means unset
	ActorID    string    // exact actor id
	Tenant     string    // exact tenant
	NoTenant   bool      // only events without a tenant; excludes Tenant
	RemoteIP   string    // exact client IP
	ObjectType string    // exact object type
	ObjectID   string    // exact object id
	StatusMin  int       // response status >= StatusMin; 0 means unset
	StatusMax  int       // response status <= StatusMax; 0 means unset
	Status     int       // exact response status, 100 to 599; 0 means unset
	Method     string    // exact request method, e.g. GET; Normalize upper-cases it
	Origin     string    // exact request Origin header, e.g. https://shop.example
	Severity   Severity  // one of Severities, or all when empty
	Category   string    // exact category
	Tool       string    // exact tool
	Search     string    // free text, at most 256 bytes
	Ordering   string    // one of Orderings, "-" for descending; default "-time"
	Cursor     string    // an opaque Page.Next or Page.Prev; excludes Page > 1
	Page       int       // 1-based page number for offset paging; default 1
	PageSize   int       // 1 to 1000; default 50
}

// Page is one page of a query's results.
type Page struct {
	Events []Event
	// Next is a cursor for the page after this one, or "" when this is
	// the last page.
	Next string
	// Prev is a cursor for the page before this one, or "" when this is
	// the first page.
	Prev string
}

// Normalize checks f and fills in its defaults: Ordering, Page,
// PageSize, and From from LastHours (relative to now, and MinTime when
// the hours reach back further); it upper-cases Method. Every Querier
// calls it first, so that every store refuses the same bad filters with
// the same *FieldError, naming the query parameter (date_from,
// page_size, method, …) and the value.
func (f Filter) Normalize(now time.Time) (Filter, error) {
	if f.Kind != "" && !f.Kind.Valid() {
		return f, invalid("kind", string(f.Kind), "must be one of crud, auth, request, cors, external, system, export, custom")
	}
	if f.LastHours < 0 || f.LastHours > maxLastHours {
		return f, invalid("last_hours", strconv.Itoa(f.LastHours), "must be between 1 and "+strconv.Itoa(maxLastHours))
	}
	start := "date_from " // what From is, in the date_to error below
	if f.LastHours > 0 {
		hours := strconv.Itoa(f.LastHours)
		if !f.From.IsZero() {
			return f, invalid("last_hours", hours, "cannot be combined with date_from")
		}
		// No event is older than MinTime (Event.Validate), so the last
		// N hours that reach back further begin there, with the same
		// events: the bound stays 876600 whatever the date.
		from := now.Add(-time.Duration(f.LastHours) * time.Hour)
		if from.Before(MinTime) {
			from = MinTime
		}
		if from.After(MaxTime) { // a now after 2200: no client sends that
			return f, invalid("last_hours", hours, "starts at "+from.Format(time.RFC3339Nano)+", after 2200")
		}
		f.From, f.LastHours = from, 0
		start = "the start of last_hours=" + hours + ", "
	} else if !f.From.IsZero() && (f.From.Before(MinTime) || f.From.After(MaxTime)) {
		return f, invalid("date_from", f.From.Format(time.RFC3339Nano), "must be between 1970 and 2200")
	}
	if !f.To.IsZero() && (f.To.Before(MinTime) || f.To.After(MaxTime)) {
		return f, invalid("date_to", f.To.Format(time.RFC3339Nano), "must be between 1970 and 2200")
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, invalid("date_to", f.To.Format(time.RFC3339Nano), "must be after "+start+f.From.Format(time.RFC3339Nano))
	}
	if f.NoTenant && f.Tenant != "" {
		return f, invalid("tenant", f.Tenant, "cannot be combined with events without a tenant")
	}
	if f.RemoteIP != "" {
		if _, err := netip.ParseAddr(f.RemoteIP); err != nil {
			return f, invalid("remote_ip", f.RemoteIP, "is not an IP address")
		}
	}
	if f.StatusMin != 0 && (f.StatusMin < 100 || f.StatusMin > 599) {
		return f, invalid("status_gte", strconv.Itoa(f.StatusMin), "must be between 100 and 599")
	}
	if f.StatusMax != 0 && (f.StatusMax < 100 || f.StatusMax > 599) {
		return f, invalid("status_lte", strconv.Itoa(f.StatusMax), "must be between 100 and 599")
	}
	if f.StatusMin != 0 && f.StatusMax != 0 && f.StatusMin > f.StatusMax {
		return f, invalid("status_lte", strconv.Itoa(f.StatusMax), "must not be below status_gte "+strconv.Itoa(f.StatusMin))
	}
	if f.Status != 0 && (f.Status < 100 || f.Status > 599) {
		return f, invalid("status", strconv.Itoa(f.Status), "must be between 100 and 599")
	}
	if f.Severity != "" && !f.Severity.Valid() {
		return f, invalid("severity", truncate(string(f.Severity), 32), "must be one of debug, info, notice, warning, error, critical")
	}
	if f.Method != "" {
		if len(f.Method) > MaxShortField {
			return f, invalid("method", truncate(f.Method, 32), "is longer than "+strconv.Itoa(MaxShortField)+" bytes")
		}
		if !ValidMethod(f.Method) {
			return f, invalid("method", truncate(f.Method, 32), "is not an HTTP method, like GET or POST")
		}
		f.Method = asciiUpper(f.Method)
	}
	if len(f.Search) > 256 {
		return f, invalid("search", truncate(f.Search, 32), "is longer than 256 bytes")
	}
	for _, s := range [...]struct{ name, v string }{
		{"action", f.Action}, {"user_id", f.ActorID}, {"tenant", f.Tenant},
		{"object_type", f.ObjectType}, {"object_id", f.ObjectID},
		{"origin", f.Origin}, {"category", f.Category}, {"tool", f.Tool},
	} {
		if len(s.v) > MaxShortField {
			return f, invalid(s.name, truncate(s.v, 32), "is longer than "+strconv.Itoa(MaxShortField)+" bytes")
		}
	}
	if f.Ordering == "" {
		f.Ordering = DefaultOrdering
	}
	if !contains(Orderings, strings.TrimPrefix(f.Ordering, "-")) {
		return f, invalid("ordering", f.Ordering, "must be one of "+join(Orderings)+", with - for descending")
	}
	if f.PageSize == 0 {
		f.PageSize = DefaultPageSize
	}
	if f.PageSize < 1 || f.PageSize > MaxPageSize {
		return f, invalid("page_size", strconv.Itoa(f.PageSize), "must be between 1 and 1000")
	}
	if f.Page == 0 {
		f.Page = 1
	}
	if f.Page < 1 || f.Page > 1_000_000 {
		return f, invalid("page", strconv.Itoa(f.Page), "must be between 1 and 1000000")
	}
	if f.Cursor != "" {
		if f.Page > 1 {
			return f, invalid("cursor", truncate(f.Cursor, 32), "cannot be combined with page")
		}
		c, err := DecodeCursor(f.Cursor)
		if err != nil {
			return f, err
		}
		if c.Ordering != f.Ordering {
			return f, invalid("cursor", truncate(f.Cursor, 32), "was made for ordering "+c.Ordering+", not "+f.Ordering)
		}
	}
	return f, nil
}

// Descending reports whether the normalized ordering is descending, and
// Field returns its field name without the "-".
func (f Filter) Descending() bool { return strings.HasPrefix(f.Ordering, "-") }

// Field returns the ordering's field name, without "-".
func (f Filter) Field() string { return strings.TrimPrefix(f.Ordering, "-") }

// Cursor is the position a keyset page starts after (or before). Stores
// encode it into Page.Next and Page.Prev with EncodeCursor and read it
// back with DecodeCursor; callers treat it as opaque.
type Cursor struct {
	Ordering string `json:"o"`           // the normalized ordering it was made for
	Before   bool   `json:"b,omitempty"` // true: the page before Key; false: the page after
	Int      int64  `json:"i,omitempty"` // the ordering field's value, for numeric fields (time in ns)
	Str      string `json:"s,omitempty"` // the ordering field's value, for text fields
	ID       ID     `json:"id"`          // the id of the boundary event, the tiebreak
}

// EncodeCursor returns c as an opaque URL-safe string.
func EncodeCursor(c Cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a string made by EncodeCursor. Its error is a
// *FieldError naming "cursor".
func DecodeCursor(s string) (Cursor, error) {
	var c Cursor
	if len(s) > 2048 {
		return c, invalid("cursor", truncate(s, 32), "is too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, invalid("cursor", truncate(s, 32), "is not a cursor returned by this API")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.ID.IsZero() || !contains(Orderings, strings.TrimPrefix(c.Ordering, "-")) {
		return Cursor{}, invalid("cursor", truncate(s, 32), "is not a cursor returned by this API")
	}
	return c, nil
}

// NumericOrdering reports whether the ordering field is numeric (its
// cursor value is in Cursor.Int) rather than text (Cursor.Str).
func NumericOrdering(field string) bool {
	switch field {
	case "time", "status", "duration":
		return true
	}
	return false
}

// OrderingValue returns e's value for the ordering field, as the cursor
// carries it: time and duration in nanoseconds, status as a number,
// text fields as strings.
func OrderingValue(e *Event, field string) (int64, string) {
	switch field {
	case "time":
		return e.Time.UnixNano(), ""
	case "status":
		return int64(e.Response.Status), ""
	case "duration":
		return int64(e.Response.Duration), ""
	case "kind":
		return 0, string(e.Kind)
	case "action":
		return 0, e.Action
	case "actor_id":
		return 0, e.Actor.ID
	case "tenant":
		return 0, e.Tenant
	case "object_type":
		return 0, e.Object.Type
	}
	return 0, ""
}

// PageOf builds the Page for events, which a store fetched for the
// normalized filter f in display order, so that every store makes its
// cursors the same way. cursorUsed says f had a cursor, before that it
// was a "before" cursor, and more that the store found at least one more
// matching event beyond the page in the direction it scanned (it asks
// for PageSize+1 rows).
func PageOf(f Filter, events []Event, cursorUsed, before, more bool) Page {
	p := Page{Events: events}
	if len(events) == 0 {
		return p
	}
	field := f.Field()
	mk := func(e *Event, before bool) string {
		i, s := OrderingValue(e, field)
		return EncodeCursor(Cursor{Ordering: f.Ordering, Before: before, Int: i, Str: s, ID: e.ID})
	}
	first, last := &events[0], &events[len(events)-1]
	if before {
		if more {
			p.Prev = mk(first, true)
		}
		p.Next = mk(last, false)
		return p
	}
	if more {
		p.Next = mk(last, false)
	}
	if cursorUsed || f.Page > 1 {
		p.Prev = mk(first, true)
	}
	return p
}

// Match reports whether e is one of the events the normalized filter f
// selects: exact matches on the fields set, From inclusive and To
// exclusive, the status bounds, and Search as a substring of the
// message, request path, object repr and actor name, folding ASCII
// letters only (as the stores' LIKE does). Method matches exactly too,
// after Normalize upper-cased it: an event recorded with the method
// "get" is not found by method=get. Paging and ordering fields
// are ignored. Every store holds to it (storetest), and the live
// streams filter with it.
func (f Filter) Match(e *Event) bool {
	switch {
	case f.Kind != "" && e.Kind != f.Kind,
		f.Action != "" && e.Action != f.Action,
		f.ActorID != "" && e.Actor.ID != f.ActorID,
		f.Tenant != "" && e.Tenant != f.Tenant,
		f.NoTenant && e.Tenant != "",
		f.RemoteIP != "" && e.Request.RemoteIP != f.RemoteIP,
		f.ObjectType != "" && e.Object.Type != f.ObjectType,
		f.ObjectID != "" && e.Object.ID != f.ObjectID,
		!f.From.IsZero() && e.Time.Before(f.From),
		!f.To.IsZero() && !e.Time.Before(f.To),
		f.StatusMin != 0 && e.Response.Status < f.StatusMin,
		f.StatusMax != 0 && e.Response.Status > f.StatusMax,
		f.Status != 0 && e.Response.Status != f.Status,
		f.Method != "" && e.Request.Method != f.Method,
		f.Origin != "" && e.Request.Origin != f.Origin,
		f.Severity != "" && e.Severity != f.Severity,
		f.Category != "" && e.Category != f.Category,
		f.Tool != "" && e.Tool != f.Tool:
		return false
	}
	if f.Search == "" {
		return true
	}
	q := asciiLower(f.Search)
	for _, s := range [...]string{e.Message, e.Request.Path, e.Object.Repr, e.Actor.Name} {
		if strings.Contains(asciiLower(s), q) {
			return true
		}
	}
	return false
}

// ValidMethod reports whether s can be an HTTP method: a token (RFC
// 9110, section 5.6.2), like GET or PROPFIND.
func ValidMethod(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// asciiUpper raises ASCII letters only, allocating only when there is
// one to raise.
func asciiUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'a' <= c && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// asciiLower lowers ASCII letters only, allocating only when there is
// one to lower.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
