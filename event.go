package activitylog

import (
	"net/netip"
	"strconv"
	"time"
)

// Kind is the broad class of an activity. The set is closed: Validate
// refuses any other value.
type Kind string

// The kinds of activity an Event can describe.
const (
	KindCRUD     Kind = "crud"     // create, read, update or delete of a record
	KindAuth     Kind = "auth"     // login, logout, login_failed, blocked, token_refresh, password_change
	KindRequest  Kind = "request"  // an incoming call
	KindCORS     Kind = "cors"     // a cross-origin request
	KindExternal Kind = "external" // an outgoing call to another service
	KindSystem   Kind = "system"   // error, warning, security, performance
	KindExport   Kind = "export"   // data left the system
	KindCustom   Kind = "custom"   // anything else
)

// Kinds lists every valid Kind in a fixed order.
var Kinds = []Kind{KindCRUD, KindAuth, KindRequest, KindCORS, KindExternal, KindSystem, KindExport, KindCustom}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindCRUD, KindAuth, KindRequest, KindCORS, KindExternal, KindSystem, KindExport, KindCustom:
		return true
	}
	return false
}

// Actions that the closed kinds allow. Other kinds accept any action.
var kindActions = map[Kind][]string{
	KindCRUD:   {"create", "read", "update", "delete"},
	KindAuth:   {"login", "logout", "login_failed", "blocked", "token_refresh", "password_change"},
	KindSystem: {"error", "warning", "security", "performance"},
}

// ActionsFor returns the actions allowed for kind k, or nil when any
// action is allowed.
func ActionsFor(k Kind) []string { return kindActions[k] }

// Severity orders events by importance.
type Severity string

// Severities, from least to most important.
const (
	SeverityDebug    Severity = "debug"
	SeverityInfo     Severity = "info"
	SeverityNotice   Severity = "notice"
	SeverityWarning  Severity = "warning"
	SeverityError    Severity = "error"
	SeverityCritical Severity = "critical"
)

// Severities lists every valid Severity, least important first.
var Severities = []Severity{SeverityDebug, SeverityInfo, SeverityNotice, SeverityWarning, SeverityError, SeverityCritical}

// Valid reports whether s is one of Severities.
func (s Severity) Valid() bool {
	switch s {
	case SeverityDebug, SeverityInfo, SeverityNotice, SeverityWarning, SeverityError, SeverityCritical:
		return true
	}
	return false
}

// ActorType says what kind of principal acted.
type ActorType string

// The actor types.
const (
	ActorUser      ActorType = "user"
	ActorService   ActorType = "service"
	ActorSystem    ActorType = "system"
	ActorAnonymous ActorType = "anonymous"
)

// Valid reports whether t is a known ActorType.
func (t ActorType) Valid() bool {
	switch t {
	case ActorUser, ActorService, ActorSystem, ActorAnonymous:
		return true
	}
	return false
}

// Actor is who did it.
type Actor struct {
	ID    string         `json:"id,omitempty"`
	Name  string         `json:"name,omitempty"`
	Email string         `json:"email,omitempty"`
	Type  ActorType      `json:"type,omitempty"`
	Extra map[string]any `json:"extra,omitempty"`
}

// Object is the record or resource that was acted on.
type Object struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	Repr string `json:"repr,omitempty"`
}

// Change is the old and new value of one field.
type Change struct {
	Old any `json:"old"`
	New any `json:"new"`
}

// Geo is where a client address is located.
type Geo struct {
	Country     string  `json:"country,omitempty"`
	CountryCode string  `json:"country_code,omitempty"`
	City        string  `json:"city,omitempty"`
	Lat         float64 `json:"lat,omitempty"`
	Lon         float64 `json:"lon,omitempty"`
}

// Request is the context of the call in which an activity happened.
// Events that are not requests (a data change, a login) carry it too
// when they happened while serving one.
type Request struct {
	RequestID string            `json:"request_id,omitempty"`
	TraceID   string            `json:"trace_id,omitempty"`
	SpanID    string            `json:"span_id,omitempty"`
	Method    string            `json:"method,omitempty"`
	Host      string            `json:"host,omitempty"`
	Path      string            `json:"path,omitempty"`
	Route     string            `json:"route,omitempty"`
	Query     string            `json:"query,omitempty"`
	RemoteIP  string            `json:"remote_ip,omitempty"`
	UserAgent string            `json:"user_agent,omitempty"`
	Browser   string            `json:"browser,omitempty"`
	Platform  string            `json:"platform,omitempty"`
	OS        string            `json:"os,omitempty"`
	Device    string            `json:"device,omitempty"`
	Origin    string            `json:"origin,omitempty"`
	Referer   string            `json:"referer,omitempty"`
	Geo       Geo               `json:"geo,omitzero"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      string            `json:"body,omitempty"`
}

// Response is the outcome of a call.
type Response struct {
	Status        int               `json:"status,omitempty"`
	Duration      time.Duration     `json:"duration_ns,omitempty"`
	RequestBytes  int64             `json:"request_bytes,omitempty"`
	ResponseBytes int64             `json:"response_bytes,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Body          string            `json:"body,omitempty"`
}

// Event is one audited activity. One type serves every Kind; fields
// that do not apply stay at their zero value and are left out of the
// JSON form. See docs/event-schema.md for the JSON form.
//
// An Event handed to Recorder.Record belongs to the Recorder: the
// caller must not change its maps afterwards.
type Event struct {
	ID       ID                `json:"id"`
	Time     time.Time         `json:"time"`
	Kind     Kind              `json:"kind"`
	Action   string            `json:"action"`
	Severity Severity          `json:"severity"`
	Message  string            `json:"message,omitempty"`
	Tenant   string            `json:"tenant,omitempty"`
	Service  string            `json:"service,omitempty"`
	Actor    Actor             `json:"actor,omitzero"`
	Object   Object            `json:"object,omitzero"`
	Changes  map[string]Change `json:"changes,omitempty"`
	Request  Request           `json:"request,omitzero"`
	Response Response          `json:"response,omitzero"`
	Tool     string            `json:"tool,omitempty"`
	Category string            `json:"category,omitempty"`
	Extra    map[string]any    `json:"extra,omitempty"`
}

// Limits on the size of an event's fields. Validate refuses larger
// values, so that one event cannot fill the store.
const (
	MaxShortField = 1 << 10  // kind, action, ids, names, types: 1 KiB
	MaxTextField  = 64 << 10 // message, path, query, user agent, repr: 64 KiB
	MaxBodyField  = 1 << 20  // request and response bodies: 1 MiB
	MaxMapEntries = 1000     // changes, extra, headers
)

// Earliest and latest event times that Validate accepts. The stores keep
// time as nanoseconds in an int64, which spans 1678 to 2262.
var (
	MinTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Validate reports the first field of e that is not acceptable, as a
// *FieldError wrapping ErrInvalid. It does not fill in defaults; the
// Recorder does that before it validates.
func (e *Event) Validate() error {
	if e.ID.IsZero() {
		return invalid("id", "", "is required")
	}
	if e.Time.IsZero() {
		return invalid("time", "", "is required")
	}
	if e.Time.Before(MinTime) || !e.Time.Before(MaxTime) {
		return invalid("time", e.Time.Format(time.RFC3339Nano), "must be between 1970 and 2200")
	}
	if !e.Kind.Valid() {
		return invalid("kind", string(e.Kind), "must be one of crud, auth, request, cors, external, system, export, custom")
	}
	if e.Action == "" {
		return invalid("action", "", "is required")
	}
	if allowed := kindActions[e.Kind]; allowed != nil && !contains(allowed, e.Action) {
		return invalid("action", e.Action, "must be one of "+join(allowed)+" for kind "+string(e.Kind))
	}
	if !e.Severity.Valid() {
		return invalid("severity", string(e.Severity), "must be one of debug, info, notice, warning, error, critical")
	}
	if e.Actor.Type != "" && !e.Actor.Type.Valid() {
		return invalid("actor.type", string(e.Actor.Type), "must be one of user, service, system, anonymous")
	}
	if ip := e.Request.RemoteIP; ip != "" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return invalid("request.remote_ip", ip, "is not an IP address")
		}
	}
	if s := e.Response.Status; s != 0 && (s < 100 || s > 599) {
		return invalid("response.status", strconv.Itoa(s), "must be between 100 and 599")
	}
	if e.Response.Duration < 0 {
		return invalid("response.duration_ns", strconv.FormatInt(int64(e.Response.Duration), 10), "must not be negative")
	}
	if e.Response.RequestBytes < 0 {
		return invalid("response.request_bytes", strconv.FormatInt(e.Response.RequestBytes, 10), "must not be negative")
	}
	if e.Response.ResponseBytes < 0 {
		return invalid("response.response_bytes", strconv.FormatInt(e.Response.ResponseBytes, 10), "must not be negative")
	}
	if g := e.Request.Geo; g.Lat < -90 || g.Lat > 90 {
		return invalid("request.geo.lat", strconv.FormatFloat(g.Lat, 'g', -1, 64), "must be between -90 and 90")
	} else if g.Lon < -180 || g.Lon > 180 {
		return invalid("request.geo.lon", strconv.FormatFloat(g.Lon, 'g', -1, 64), "must be between -180 and 180")
	}
	for _, f := range [...]struct {
		name, v string
		max     int
	}{
		{"action", e.Action, MaxShortField},
		{"message", e.Message, MaxTextField},
		{"tenant", e.Tenant, MaxShortField},
		{"service", e.Service, MaxShortField},
		{"actor.id", e.Actor.ID, MaxShortField},
		{"actor.name", e.Actor.Name, MaxShortField},
		{"actor.email", e.Actor.Email, MaxShortField},
		{"object.type", e.Object.Type, MaxShortField},
		{"object.id", e.Object.ID, MaxShortField},
		{"object.repr", e.Object.Repr, MaxTextField},
		{"request.request_id", e.Request.RequestID, MaxShortField},
		{"request.trace_id", e.Request.TraceID, MaxShortField},
		{"request.span_id", e.Request.SpanID, MaxShortField},
		{"request.method", e.Request.Method, MaxShortField},
		{"request.host", e.Request.Host, MaxShortField},
		{"request.path", e.Request.Path, MaxTextField},
		{"request.route", e.Request.Route, MaxTextField},
		{"request.query", e.Request.Query, MaxTextField},
		{"request.user_agent", e.Request.UserAgent, MaxTextField},
		{"request.origin", e.Request.Origin, MaxTextField},
		{"request.referer", e.Request.Referer, MaxTextField},
		{"request.body", e.Request.Body, MaxBodyField},
		{"response.body", e.Response.Body, MaxBodyField},
		{"tool", e.Tool, MaxShortField},
		{"category", e.Category, MaxShortField},
	} {
		if len(f.v) > f.max {
			return invalid(f.name, truncate(f.v, 32), "is longer than "+strconv.Itoa(f.max)+" bytes")
		}
	}
	for _, m := range [...]struct {
		name string
		n    int
	}{
		{"changes", len(e.Changes)}, {"extra", len(e.Extra)}, {"actor.extra", len(e.Actor.Extra)},
		{"request.headers", len(e.Request.Headers)}, {"response.headers", len(e.Response.Headers)},
	} {
		if m.n > MaxMapEntries {
			return invalid(m.name, strconv.Itoa(m.n)+" entries", "has more than "+strconv.Itoa(MaxMapEntries)+" entries")
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func join(list []string) string {
	s := ""
	for i, v := range list {
		if i > 0 {
			s += ", "
		}
		s += v
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
