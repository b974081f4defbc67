package server

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/schema"
	"github.com/activitylog/activitylog/sqlite"
)

// This file writes server/openapi.json and holds it to the API.
//
// openapiSpec below is the specification, in Go; openapi.json is what
// it renders to, committed so that it can be embedded and read without
// Go. TestOpenAPIDocumentIsCurrent fails when the file is stale;
//
//	go test ./server -run TestOpenAPIDocumentIsCurrent -update-openapi
//
// rewrites it. The other TestOpenAPI… tests check the document itself
// (it is OpenAPI 3.1, its schemas compile as JSON Schema 2020-12, its
// examples are valid), that it names exactly the registered routes and
// their permissions, and that what the live handler answers matches it.

var updateOpenAPI = flag.Bool("update-openapi", false, "rewrite server/openapi.json from openapiSpec in openapi_test.go")

// openapiPending are the routes ("GET /api/v1/…") that the document
// describes and that are not registered yet, because the work that adds
// them has not landed. Each must be removed once its route is
// registered: the test fails on a pending route that is registered, and
// on a route in the document that is neither registered nor pending.
// Empty now: every documented route is registered.
var openapiPending = []string{}

// openapiRouteOptions are the Options.Routes of the handler under test:
// stand-ins for the routes of access.Service.Routes, which a host adds
// through Options.Routes. Package access imports server, so this
// internal test cannot import it; keep these patterns and permissions
// equal to what it registers.
//
// The routes of dbconfighttp.Handler.Routes come from the operations of
// openapi_dbconfig_test.go; TestOpenAPIDatabaseConfigRoutes, an external
// test, holds them to the real Handler.
func openapiRouteOptions() []Route {
	stub := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }
	return append([]Route{
		{Pattern: "POST /api/v1/auth/login", Need: Public, Handler: stub},
		{Pattern: "POST /api/v1/auth/logout", Need: Public, Handler: stub},
		{Pattern: "GET /api/v1/auth/session", Need: SignedIn, Handler: stub},
		{Pattern: "POST /api/v1/api-keys", Need: activitylog.Superuser, Handler: stub},
		{Pattern: "GET /api/v1/api-keys", Need: activitylog.Superuser, Handler: stub},
		{Pattern: "DELETE /api/v1/api-keys/{id}", Need: activitylog.Superuser, Handler: stub},
		{Pattern: "GET /api/v1/users", Need: activitylog.Superuser, Handler: stub},
		{Pattern: "POST /api/v1/users", Need: activitylog.Superuser, Handler: stub},
		{Pattern: "PATCH /api/v1/users/{username}", Need: activitylog.Superuser, Handler: stub},
		// integrityhttp.Service.Routes; its own tests probe their
		// parameters and answers against this document
		// (openapiTestedElsewhere).
		{Pattern: "GET /api/v1/integrity/public-key", Need: Public, Handler: stub},
		{Pattern: "GET /api/v1/integrity/verify", Need: activitylog.ViewAllLogs, Handler: stub},
		{Pattern: "GET /api/v1/integrity/consistency", Need: activitylog.ViewLogs, Handler: stub},
		{Pattern: "GET /api/v1/events/{id}/proof", Need: activitylog.ViewLogs, Handler: stub},
		{Pattern: "GET /api/v1/integrity/bundle", Need: activitylog.ViewAllLogs, Handler: stub},
	}, slices.Concat(oaDBConfigStandIns(stub), oaRetentionStandIns(stub))...) // dbconfighttp's and retentionhttp's Handler.Routes
}

// openapiTestedElsewhere are the stand-in routes of
// openapiRouteOptions that take query parameters: their package tests
// that they take exactly the documented ones (integrityhttp's
// TestOpenAPIParameters), since the stand-ins here refuse none.
var openapiTestedElsewhere = []string{
	"/api/v1/integrity/public-key", "/api/v1/integrity/verify", "/api/v1/integrity/consistency", "/api/v1/events/{id}/proof",
	"/api/v1/integrity/bundle",
}

// The session cookie's name, access.DefaultCookieName.
const openapiSessionCookie = "activitylog_session"

// ---------------------------------------------------------------------
// Ordered JSON, so that openapi.json reads top-down.

// jobj is a JSON object that keeps its keys in the order written.
type jobj []jkv

type jkv struct {
	k string
	v any
}

func (o jobj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := oaMarshal(f.k)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := oaMarshal(f.v)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", f.k, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalPlain is json.Marshal without the escaping of <, > and &,
// which would make the descriptions hard to read.
func oaMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (o jobj) get(k string) any {
	for _, f := range o {
		if f.k == k {
			return f.v
		}
	}
	return nil
}

// set replaces k's value, or adds k at the end.
func (o *jobj) set(k string, v any) {
	for i := range *o {
		if (*o)[i].k == k {
			(*o)[i].v = v
			return
		}
	}
	*o = append(*o, jkv{k, v})
}

func (o jobj) without(keys ...string) jobj {
	var out jobj
	for _, f := range o {
		if !slices.Contains(keys, f.k) {
			out = append(out, f)
		}
	}
	return out
}

// decodeOrdered decodes one JSON value, objects as jobj.
func oaDecode(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '{':
		o := jobj{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := oaDecode(dec)
			if err != nil {
				return nil, err
			}
			o = append(o, jkv{kt.(string), v})
		}
		_, err = dec.Token()
		return o, err
	case '[':
		a := []any{}
		for dec.More() {
			v, err := oaDecode(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err = dec.Token()
		return a, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// ordered decodes the JSON text s, objects as jobj, numbers as written.
func oaParse(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	v, err := oaDecode(dec)
	if err != nil {
		panic(fmt.Sprintf("ordered %.40q: %v", s, err))
	}
	return v
}

// cloneJSON copies v deeply, calling f on every object value, which may
// replace it.
func oaClone(v any, f func(k string, v any) any) any {
	switch v := v.(type) {
	case jobj:
		out := make(jobj, len(v))
		for i, e := range v {
			out[i] = jkv{e.k, f(e.k, oaClone(e.v, f))}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = oaClone(e, f)
		}
		return out
	}
	return v
}

// ---------------------------------------------------------------------
// The specification.

func oaRef(to string) jobj         { return jobj{{"$ref", to}} }
func oaSchemaRef(name string) jobj { return oaRef("#/components/schemas/" + name) }
func oaParamRef(name string) jobj  { return oaRef("#/components/parameters/" + name) }
func oaRespRef(name string) jobj   { return oaRef("#/components/responses/" + name) }

// jsonBody is a JSON content map with a schema and, if not nil, an
// example.
func oaJSON(schema, example any) jobj {
	m := jobj{{"schema", schema}}
	if example != nil {
		m = append(m, jkv{"example", example})
	}
	return jobj{{"application/json", m}}
}

func oaResp(desc string, content jobj) jobj {
	r := jobj{{"description", desc}}
	if content != nil {
		r = append(r, jkv{"content", content})
	}
	return r
}

// errorResponse is an error answer with its own description and
// example.
func oaErrResp(desc, example string) jobj {
	return oaResp(desc, oaJSON(oaSchemaRef("Error"), oaParse(example)))
}

func oaStr(desc string) jobj { return jobj{{"type", "string"}, {"description", desc}} }

func oaInt(desc string, lo, hi int) jobj {
	o := jobj{{"type", "integer"}, {"description", desc}, {"minimum", lo}}
	if hi > 0 {
		o = append(o, jkv{"maximum", hi})
	}
	return o
}

func oaQuery(name, desc string, schema jobj) jobj {
	return jobj{{"name", name}, {"in", "query"}, {"description", desc}, {"schema", schema}}
}

func oaNames[T ~string](list []T) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = string(s)
	}
	return out
}

// oaOp is one operation of the document.
type oaOp struct {
	method, path string
	id, tag      string
	summary      string
	desc         string
	need         activitylog.Permission // a permission, Public or SignedIn
	scoped       bool                   // reads events, held to the principal's scope
	params       []any
	body         jobj
	responses    jobj // by status; 401, 403 and default are added
	// afterUpgrade: the operation authenticates after a WebSocket
	// upgrade, so it never answers 401 or 403 for credentials.
	afterUpgrade bool
}

// permissionName is how the document's x-permission names need.
func oaPermission(need activitylog.Permission) string {
	switch need {
	case Public:
		return "public"
	case SignedIn:
		return "signed_in"
	case selfAuth:
		return "view_logs" // the streams check it themselves
	}
	return string(need)
}

const oaScopeText = " Results are scoped to the principal: a superuser reads every tenant; anyone else reads its own tenant only " +
	"(events without a tenant when it has none), and with `view_logs` alone only the events whose actor it is. " +
	"A `tenant` or `user_id` outside that scope is refused with 403 naming the parameter."

func (o oaOp) accessText() string {
	switch o.need {
	case Public:
		return "**Access:** public, no authentication."
	case SignedIn:
		return "**Access:** any signed-in principal."
	case activitylog.ViewLogs, selfAuth:
		t := "**Permission:** `view_logs` (held by `view_all_logs` and `superuser` too)."
		if o.scoped {
			t += oaScopeText
		}
		return t
	case activitylog.Superuser:
		return "**Permission:** `superuser`."
	}
	return "**Permission:** `" + string(o.need) + "` (held by `superuser` too)."
}

func (o oaOp) render() jobj {
	op := jobj{
		{"operationId", o.id},
		{"tags", []any{o.tag}},
		{"summary", o.summary},
		{"description", strings.TrimSpace(o.desc) + "\n\n" + o.accessText()},
		{"x-permission", oaPermission(o.need)},
	}
	if o.need == Public {
		op = append(op, jkv{"security", []any{}})
	}
	if len(o.params) > 0 {
		op = append(op, jkv{"parameters", o.params})
	}
	if o.body != nil {
		op = append(op, jkv{"requestBody", o.body})
	}
	resp := slices.Clone(o.responses)
	add := func(code string, r jobj) {
		if resp.get(code) == nil {
			resp = append(resp, jkv{code, r})
		}
	}
	if o.need != Public && !o.afterUpgrade {
		add("401", oaRespRef("Unauthorized"))
		add("403", oaRespRef("Forbidden"))
	}
	add("default", oaRespRef("Error"))
	slices.SortStableFunc(resp, func(a, b jkv) int { return strings.Compare(a.k, b.k) }) // "default" sorts after the digits
	op = append(op, jkv{"responses", resp})
	return op
}

// oaFieldParams are the filters on fields that only some kinds fill: a
// per-kind resource takes those its kind has, GET /api/v1/events all.
var oaFieldParams = []string{"method", "status", "status_gte", "status_lte", "origin", "object_type", "object_id", "severity", "category"}

// oaParams returns the names of FilterParams, in their order, that keep
// says to keep.
func oaParams(keep func(name string) bool) []string {
	var out []string
	for _, p := range FilterParams {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// oaKindParams are the query parameters of a per-kind list: those of
// GET /api/v1/events but kind and the field filters, and then fields.
func oaKindParams(fields []string) []string {
	return oaParams(func(p string) bool {
		return p != "kind" && (!slices.Contains(oaFieldParams, p) || slices.Contains(fields, p))
	})
}

func oaParamRefs(list ...[]string) []any {
	var out []any
	for _, l := range list {
		for _, name := range l {
			out = append(out, oaParamRef(name))
		}
	}
	return out
}

func oaParameters() jobj {
	orderings := []any{}
	for _, o := range activitylog.Orderings {
		orderings = append(orderings, o, "-"+o)
	}
	uuid := oaSchemaRef("UUID")
	q := func(name, desc string, schema jobj, example any) jobj {
		return append(oaQuery(name, desc, schema), jkv{"example", example})
	}
	count := func(lo, hi int) jobj { return jobj{{"type", "integer"}, {"minimum", lo}, {"maximum", hi}} }
	text := jobj{{"type", "string"}}
	dateTime := jobj{{"type", "string"}, {"format", "date-time"}}
	path := func(name, desc string, schema jobj, example any) jobj {
		return jobj{{"name", name}, {"in", "path"}, {"required", true}, {"description", desc}, {"schema", schema}, {"example", example}}
	}
	return jobj{
		{"kind", q("kind", "Only events of this kind.", jobj{{"enum", oaNames(activitylog.Kinds)}}, "crud")},
		{"action", q("action", "Only events with exactly this action, e.g. `update`, `login_failed`, `GET`.", text, "update")},
		{"date_from", q("date_from", "Only events at or after this time (RFC 3339).", dateTime, "2026-11-01T00:00:00Z")},
		{"date_to", q("date_to", "Only events before this time (RFC 3339).", dateTime, "2026-12-01T00:00:00Z")},
		{"last_hours", q("last_hours", "Only events of the last N hours, counted from the time of the request.", count(1, 876600), 24)},
		{"user_id", q("user_id", "Only events whose actor has this id.", text, "42")},
		{"tenant", q("tenant", "Only events of this tenant.", text, "acme")},
		{"remote_ip", q("remote_ip", "Only events whose client address (`request.remote_ip`) is exactly this.", text, "203.0.113.7")},
		{"object_type", q("object_type", "Only events about objects of this type (`object.type`).", text, "invoice")},
		{"object_id", q("object_id", "Only events about the object with this id (`object.id`).", text, "INV-1")},
		{"status_gte", q("status_gte", "Only events whose response status is at least this.", count(100, 599), 500)},
		{"status_lte", q("status_lte", "Only events whose response status is at most this.", count(100, 599), 599)},
		{"status", q("status", "Only events whose response status is exactly this.", count(100, 599), 404)},
		{"method", q("method", "Only events whose request method (`request.method`) is this; upper-cased, so `get` finds `GET`.", text, "POST")},
		{"origin", q("origin", "Only events whose request Origin (`request.origin`) is exactly this.", text, "https://app.example.com")},
		{"severity", q("severity", "Only events of this severity.", jobj{{"enum", oaNames(activitylog.Severities)}}, "error")},
		{"category", q("category", "Only events of this category, e.g. `slow_request`, `sqli`.", text, "slow_request")},
		{"tool", q("tool", "Only events recorded by this tool or client (`tool`).", text, "cli")},
		{"search", q("search", "Only events whose message, path, object repr or actor name contain this, ignoring the case of ASCII letters.", text, "password")},
		{"ordering", q("ordering", "The sort order; `-` for descending. Ties are broken by event id.", jobj{{"enum", orderings}, {"default", activitylog.DefaultOrdering}}, "time")},
		{"cursor", q("cursor", "The cursor of a `next` or `previous` link (keyset paging; not with `page`). Follow the links rather than building one.", text, "eyJ0IjoxNzY0MDAwMDAwfQ")},
		{"page", q("page", "The page number, for offset paging (not with `cursor`).", count(1, 1000000), 2)},
		{"page_size", q("page_size", "Events per page.", jobj{{"type", "integer"}, {"minimum", 1}, {"maximum", activitylog.MaxPageSize}, {"default", 50}}, 100)},
		{"format", q("format", "The file format. `xlsx` holds at most 1,048,575 events.", jobj{{"enum", oaNames(ExportFormats)}, {"default", "csv"}}, "ndjson")},
		{"EventID", path("id", "The event's id, a UUID.", uuid, oaID1)},
		{"ObjectType", path("type", "The object's type (`object.type`).", jobj{{"type", "string"}, {"minLength", 1}}, "invoice")},
		{"ObjectID", path("id", "The object's id (`object.id`); escape a `/` in it as `%2F`.", jobj{{"type", "string"}, {"minLength", 1}}, "INV-1")},
		{"APIKeyID", path("id", "The key's id, `alk_` and 16 hex digits.", jobj{{"type", "string"}, {"minLength", 1}}, "alk_0123456789abcdef")},
		{"Username", path("username", "The user's username, in any ASCII case.", jobj{{"type", "string"}, {"minLength", 1}, {"maxLength", 64}}, "ana")},
		{"last_event_id", q("last_event_id", "Resume after the event with this sequence number; the `Last-Event-ID` header wins when both are given.", jobj{{"type", "string"}, {"pattern", "^[0-9]+$"}}, "17")},
		{"LastEventID", jobj{{"name", "Last-Event-ID"}, {"in", "header"}, {"description", "Resume after the event with this sequence number, as `EventSource` sends it on reconnecting."}, {"schema", jobj{{"type", "string"}, {"pattern", "^[0-9]+$"}}}, {"example", "17"}}},
		{"CSRFToken", jobj{{"name", "X-CSRF-Token"}, {"in", "header"}, {"description", "The session's CSRF token (from sign-in or GET /api/v1/auth/session). Required when the session cookie authenticates the request; not used with a bearer token."}, {"schema", text}}},
		{"threshold", q("threshold", "The fewest failed logins within the window that make a suspect.", jobj{{"type", "integer"}, {"minimum", 1}, {"maximum", 10000}, {"default", 5}}, 10)},
		{"window_hours", q("window_hours", "The window: the last N hours.", jobj{{"type", "integer"}, {"minimum", 1}, {"maximum", 8784}, {"default", 1}}, 24)},
		{"threshold_ms", q("threshold_ms", "The shortest duration, in milliseconds, of a slow request.", jobj{{"type", "integer"}, {"minimum", 1}, {"maximum", 3600000}, {"default", 1000}}, 500)},
		{"hours", q("hours", "The window: the current hour and the hours-1 before it, so that it starts on the hour.", jobj{{"type", "integer"}, {"minimum", 1}, {"maximum", 8784}, {"default", 24}}, 168)},
		{"days", q("days", "The window: the last N days.", jobj{{"type", "integer"}, {"minimum", 1}, {"maximum", 3660}, {"default", 30}}, 7)},
		{"top", q("top", "How many top users and routes to list.", jobj{{"type", "integer"}, {"minimum", 1}, {"maximum", 100}, {"default", activitylog.DefaultTop}}, 5)},
		{"limit", q("limit", "How many routes to list, those with the most errors.", jobj{{"type", "integer"}, {"minimum", 1}, {"maximum", activitylog.MaxErrorRoutes}, {"default", activitylog.DefaultErrorRoutes}}, 20)},
	}
}

const (
	oaID1 = "019a6b2e-5f10-7c3a-9d2e-6b1f0a4c8e21"
	oaID2 = "019a6b2e-6a00-7d11-8e2f-3c4d5e6f7a8b"

	oaEventExample = `{
  "id": "` + oaID1 + `",
  "time": "2026-11-22T10:15:04.123456789Z",
  "kind": "crud",
  "action": "update",
  "severity": "info",
  "message": "order 7 paid",
  "tenant": "acme",
  "service": "shop",
  "actor": {"id": "42", "name": "Ann", "email": "ann@acme.test", "type": "user"},
  "object": {"type": "order", "id": "7", "repr": "Order #7"},
  "changes": {"status": {"old": "new", "new": "paid"}},
  "request": {"request_id": "c0ffee", "method": "PATCH", "host": "shop.acme.test", "path": "/orders/7",
    "route": "PATCH /orders/{id}", "remote_ip": "203.0.113.7", "user_agent": "Mozilla/5.0"},
  "response": {"status": 200, "duration_ns": 1834000, "request_bytes": 17, "response_bytes": 312}
}`
	oaPrincipalExample  = `{"id": "ann", "name": "Ann", "tenant": "acme", "permissions": ["view_logs", "resolve_events"], "method": "session"}`
	oaSessionExample    = `{"principal": ` + oaPrincipalExample + `, "csrf_token": "Jm3vQ0p1x9", "expires_at": "2026-11-23T10:15:04Z", "idle_expires_at": "2026-11-22T12:15:04Z"}`
	oaResolutionExample = `{"event_id": "` + oaID1 + `", "resolved_by": "ops@example.com", "resolved_at": "2026-06-02T09:14:03.123456789Z", "note": "freed 20 GiB on /var"}`
)

// oaEventSchemas returns the Event schema, which is
// schema/event.schema.json with its references into the document, and
// EventInput, the form POST /api/v1/events takes.
func oaEventSchemas() (event, input jobj) {
	dec := json.NewDecoder(bytes.NewReader(schema.EventJSON))
	dec.UseNumber()
	v, err := oaDecode(dec)
	if err != nil {
		panic("decode schema/event.schema.json: " + err.Error())
	}
	rewrite := func(k string, v any) any {
		if s, ok := v.(string); ok && k == "$ref" {
			if def, ok := strings.CutPrefix(s, "#/$defs/"); ok {
				return "#/components/schemas/Event/$defs/" + def
			}
		}
		return v
	}
	event = oaClone(v, rewrite).(jobj).without("$schema", "$id")
	event.set("description", event.get("description").(string)+
		" The same schema as schema/event.schema.json in the repository.")
	event.set("examples", []any{oaParse(oaEventExample)})

	input = oaClone(event, func(k string, v any) any { return v }).(jobj).without("examples")
	input.set("title", "activitylog event, as posted")
	input.set("description", "One event as POST /api/v1/events takes it: the Event schema, except that only kind and action are required. "+
		"id and time may be left out, empty or null (the nil UUID and the zero time too), and are then assigned: a UUIDv7 and the time of arrival. "+
		"time may have any offset, and must lie between 1970 and 2200. severity and actor.type are filled in when absent. "+
		"An unknown field is refused. tenant is set to the principal's unless it is a superuser, and extra.received_at to the server's time of arrival.")
	input.set("required", []any{"kind", "action"})
	props := input.get("properties").(jobj)
	props.set("id", jobj{{"description", "UUID; assigned when absent"}, {"anyOf", []any{oaRef("#/components/schemas/Event/$defs/uuid"), jobj{{"enum", []any{"", nil}}}}}})
	props.set("time", jobj{{"description", "RFC 3339, any offset; the time of arrival when absent"}, {"anyOf", []any{jobj{{"type", "string"}, {"format", "date-time"}}, jobj{{"enum", []any{"", nil}}}}}})
	return event, input
}

func oaSchemas() jobj {
	event, input := oaEventSchemas()
	return slices.Concat(oaSchemaList(event, input), oaIntegritySchemas(), oaDBConfigSchemas(), oaRetentionSchemas())
}

func oaSchemaList(event, input jobj) jobj {
	link := func(desc string) jobj {
		return jobj{{"type", []any{"string", "null"}}, {"pattern", "^\\?"}, {"description", desc}}
	}
	count := func(desc string) jobj { return oaInt(desc, 0, 0) }
	dateTime := func(desc string) jobj {
		return jobj{{"type", "string"}, {"format", "date-time"}, {"description", desc}}
	}
	principal := jobj{
		{"type", "object"},
		{"description", "Who is making the request: a signed-in user, an API key, the subject of a JWT, or the host application's own principal."},
		{"additionalProperties", false},
		{"required", []any{"id", "permissions"}},
		{"properties", jobj{
			{"id", oaStr("The principal's id; events it acted in have it as actor.id.")},
			{"name", oaStr("A name for people.")},
			{"tenant", oaStr("The tenant whose events it may see; absent for events without one.")},
			{"permissions", jobj{{"type", "array"}, {"items", jobj{{"enum", oaNames(activitylog.Permissions)}}}}},
			{"method", jobj{{"type", "string"}, {"description", "How it signed in."}, {"examples", []any{"session", "api_key", "jwt", "host"}}}},
		}},
	}
	permissions := jobj{{"type", "array"}, {"items", jobj{{"enum", oaNames(activitylog.Permissions)}}}}
	apiKey := jobj{
		{"type", "object"},
		{"description", "An API key: never its hash, and the key itself only in the answer to the POST that made it."},
		{"additionalProperties", false},
		{"required", []any{"id", "name", "tenant", "scopes", "created_at", "created_by"}},
		{"properties", jobj{
			{"id", jobj{{"type", "string"}, {"pattern", "^alk_"}, {"description", "`alk_` and 16 hex digits: what DELETE takes."}}},
			{"key", oaStr("The whole key, `alk_<id>_<secret>`, to send as `Authorization: Bearer <key>`; in the POST's answer only.")},
			{"name", oaStr("What the key is for.")},
			{"tenant", oaStr("The tenant the key acts in; empty for none.")},
			{"scopes", permissions.set2("description", "The permissions the key carries.")},
			{"created_at", dateTime("When it was made.")},
			{"created_by", oaStr("The principal that made it; `cli` or `bootstrap` when the command line did.")},
			{"expires_at", dateTime("When it stops working; absent for never.")},
			{"revoked_at", dateTime("When it was revoked; absent when it was not.")},
			{"last_used_at", dateTime("When it last authenticated a request, to the minute; absent for never.")},
		}},
	}
	nanos := func(desc string) jobj { return oaInt(desc, 0, 0) }
	perBucket := func(desc string) jobj {
		return jobj{{"type", "array"}, {"description", desc}, {"items", jobj{{"type", "integer"}, {"minimum", 0}}}}
	}
	rate := func(desc string) jobj {
		return jobj{{"type", "number"}, {"minimum", 0}, {"maximum", 1}, {"description", desc}}
	}
	byKind := func(desc string, v jobj) jobj {
		props := jobj{}
		for _, k := range activitylog.Kinds {
			props = append(props, jkv{string(k), v})
		}
		return jobj{{"type", "object"}, {"description", desc}, {"properties", props}, {"additionalProperties", v}}
	}
	routeErrors := jobj{
		{"type", "object"},
		{"additionalProperties", false},
		{"required", []any{"route", "requests", "errors_4xx", "errors_5xx", "rate_4xx", "rate_5xx", "error_rate", "statuses"}},
		{"properties", jobj{
			{"route", oaStr("`request.route`, or the path when the event has none.")},
			{"requests", count("Request events.")},
			{"errors_4xx", count("Of which answered 400 to 499.")},
			{"errors_5xx", count("Of which answered 500 to 599.")},
			{"rate_4xx", rate("errors_4xx / requests.")},
			{"rate_5xx", rate("errors_5xx / requests.")},
			{"error_rate", rate("(errors_4xx + errors_5xx) / requests; 0 without requests.")},
			{"statuses", jobj{{"type", "array"}, {"description", "The 4xx and 5xx statuses, in order."}, {"items", jobj{
				{"type", "object"}, {"additionalProperties", false}, {"required", []any{"status", "count"}},
				{"properties", jobj{{"status", oaInt("", 400, 599).without("description")}, {"count", count("Requests that answered it.")}}},
			}}}},
		}},
	}
	return jobj{
		{"Event", event},
		{"EventInput", input},
		{"UUID", jobj{{"type", "string"}, {"pattern", "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"}, {"examples", []any{oaID1}}}},
		{"Page", jobj{
			{"type", "object"},
			{"description", "One page of events. `next` and `previous` are relative links (`?…`) that keep the other parameters, so that they work under any mount prefix; they are null at either end."},
			{"additionalProperties", false},
			{"required", []any{"count", "next", "previous", "results"}},
			{"properties", jobj{
				{"count", count("How many events match, whatever the page; counted up to a bound (see count_exact).")},
				{"count_exact", jobj{{"const", false}, {"description", "Present, and false, when more events match than count says: counting stops at a bound, to keep a broad filter's first page fast."}}},
				{"next", link("The next page.")},
				{"previous", link("The previous page.")},
				{"results", jobj{{"type", "array"}, {"items", oaSchemaRef("EventAnswer")}}},
			}},
		}},
		{"Error", jobj{
			{"type", "object"},
			{"description", "Every error answer. Internal detail is never shown."},
			{"additionalProperties", false},
			{"required", []any{"error"}},
			{"properties", jobj{{"error", jobj{
				{"type", "object"},
				{"additionalProperties", false},
				{"required", []any{"code", "message"}},
				{"properties", jobj{
					{"code", jobj{{"type", "string"}, {"description", "invalid (400), unauthorized (401), forbidden (403), not_found and not_resolved (404), method_not_allowed (405), conflict, no_archiver, undecryptable, unsealed, not_checkpointed, untrusted_checkpoint and proof_failed (409), too_large (413), unsupported_media_type (415), rate_limited and busy (429), internal (500), not_implemented (501), queue_full and unavailable (503)."},
						{"examples", []any{"invalid", "not_found"}}}},
					{"message", oaStr("What went wrong, for people.")},
					{"field", oaStr("The parameter, header or body field that was refused, as in `page_size` or `events[3].kind`.")},
					{"value", oaStr("The value that was refused, shortened; present, even when empty, whenever a value was refused.")},
				}},
				{"dependentRequired", jobj{{"value", []any{"field"}}}},
			}}}},
		}},
		{"IngestResult", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"accepted", "ids"}},
			{"properties", jobj{
				{"accepted", oaInt("How many events were stored.", 1, 0)},
				{"ids", jobj{{"type", "array"}, {"description", "Their ids, in the order sent."}, {"items", oaSchemaRef("UUID")}}},
			}},
		}},
		{"ResolveRequest", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"properties", jobj{
				{"resolved_by", jobj{{"type", "string"}, {"minLength", 1}, {"maxLength", activitylog.MaxShortField}, {"description", "Who resolved it. Left out: the principal's name (or id), as the console sends it. Given, it must name someone: empty, blank (white space only) or null is a 400. Anyone but a superuser may only name itself."}}},
				{"note", jobj{{"type", "string"}, {"maxLength", activitylog.MaxTextField}, {"description", "What was done."}}},
			}},
		}},
		{"Resolution", jobj{
			{"type", "object"},
			{"description", "That someone dealt with an event. It is kept beside the event, which never changes."},
			{"additionalProperties", false},
			{"required", []any{"event_id", "resolved_by", "resolved_at"}},
			{"properties", jobj{
				{"event_id", oaSchemaRef("UUID")},
				{"resolved_by", jobj{{"type", "string"}, {"minLength", 1}, {"maxLength", activitylog.MaxShortField}}},
				{"resolved_at", dateTime("The server's time of the request.")},
				{"note", jobj{{"type", "string"}, {"maxLength", activitylog.MaxTextField}, {"description", "Left out when empty."}}},
			}},
		}},
		{"PurgeRequest", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"confirm"}},
			{"properties", jobj{
				{"kinds", jobj{{"type", "array"}, {"items", jobj{{"enum", oaNames(activitylog.Kinds)}}}, {"description", "The kinds to purge. Default: every kind."}}},
				{"tenant", oaStr("The tenant to purge, for a principal without a tenant (whose default is every tenant). A principal with a tenant may only name its own.")},
				{"confirm", oaStr("Exactly `purge all` without kinds, or `purge ` and the kinds joined by commas, in their order: what a person typed to confirm.")},
			}},
		}},
		{"PurgeResult", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"before", "kinds", "tenant", "started_by", "purge_started_event", "deleted", "by_kind", "kept_sealed", "pruned", "pruned_chains"}},
			{"properties", jobj{
				{"before", dateTime("The cut: events recorded before it were purged.")},
				{"kinds", jobj{{"type", "array"}, {"items", jobj{{"enum", oaNames(activitylog.Kinds)}}}, {"description", "The kinds purged; empty for every kind."}}},
				{"tenant", jobj{{"type", []any{"string", "null"}}, {"description", "The tenant purged; null for every tenant."}}},
				{"started_by", oaStr("The principal's name, or id.")},
				{"purge_started_event", oaSchemaRef("UUID")},
				{"deleted", oaInt("Events deleted (unsealed).", 0, 0)},
				{"by_kind", jobj{{"type", "object"}, {"additionalProperties", jobj{{"type", "integer"}, {"minimum", 0}}}, {"description", "deleted, by kind."}}},
				{"kept_sealed", oaInt("Sealed events the purge selected but kept: they leave their chain only under a signed pruning record.", 0, 0)},
				{"pruned", oaInt("Sealed events deleted under signed pruning records (activitylog serve with a signing key, purging every kind of every tenant).", 0, 0)},
				{"pruned_chains", oaInt("Chains cut by those records.", 0, 0)},
			}},
		}},
		{"Principal", principal},
		{"Status", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"status"}},
			{"properties", jobj{{"status", jobj{{"enum", []any{"ok", "unavailable"}}}}}},
		}},
		{"WebSocketMessage", jobj{
			{"description", "One text message of GET /api/v1/ws: an event with its sequence number, or a gap (`missed` is -1 when unknown)."},
			{"oneOf", []any{
				jobj{{"type", "object"}, {"additionalProperties", false}, {"required", []any{"id", "event"}},
					{"properties", jobj{{"id", oaInt("The sequence number.", 1, 0)}, {"event", oaSchemaRef("Event")}}}},
				jobj{{"type", "object"}, {"additionalProperties", false}, {"required", []any{"gap"}},
					{"properties", jobj{{"gap", jobj{{"type", "object"}, {"required", []any{"missed"}}, {"properties", jobj{{"missed", jobj{{"type", "integer"}, {"minimum", -1}}}}}}}}}},
			}},
		}},
		{"Offender", jobj{
			{"type", "object"},
			{"description", "A client address or a username with many failed logins."},
			{"additionalProperties", false},
			{"required", []any{"type", "key", "failures", "first", "last"}},
			{"properties", jobj{
				{"type", jobj{{"enum", []any{activitylog.OffenderIP, activitylog.OffenderUsername}}}},
				{"key", oaStr("The address, or the username in lower case.")},
				{"failures", oaInt("Failed logins within the window.", 1, 0)},
				{"first", dateTime("The earliest of them.")},
				{"last", dateTime("The latest of them.")},
			}},
		}},
		{"BruteForceSuspects", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"threshold", "window_hours", "from", "to", "suspects"}},
			{"properties", jobj{
				{"threshold", oaInt("The threshold applied.", 1, 0)},
				{"window_hours", oaInt("The window applied, in hours.", 1, 0)},
				{"from", dateTime("The window's start.")},
				{"to", dateTime("The window's end: the time of the request.")},
				{"suspects", jobj{{"type", "array"}, {"description", "Most failures first."}, {"items", oaSchemaRef("Offender")}}},
			}},
		}},
		{"ErrorRates", jobj{
			{"type", "object"},
			{"description", "Request events of the window by route: how many answered 4xx and 5xx, and at which rate."},
			{"additionalProperties", false},
			{"required", []any{"from", "to", "requests", "errors_4xx", "errors_5xx", "rate_4xx", "rate_5xx", "error_rate", "routes", "truncated"}},
			{"properties", jobj{
				{"from", dateTime("The window's start, inclusive.")},
				{"to", dateTime("The window's end, exclusive.")},
				{"requests", count("Request events.")},
				{"errors_4xx", count("Of which answered 400 to 499.")},
				{"errors_5xx", count("Of which answered 500 to 599.")},
				{"rate_4xx", rate("errors_4xx / requests.")},
				{"rate_5xx", rate("errors_5xx / requests.")},
				{"error_rate", rate("(errors_4xx + errors_5xx) / requests; 0 without requests.")},
				{"routes", jobj{{"type", "array"}, {"description", "The routes with at least one error, most errors first, then by route."}, {"items", routeErrors}}},
				{"truncated", jobj{{"type", "boolean"}, {"description", "More routes had errors than are listed."}}},
			}},
		}},
		{"Dashboard", jobj{
			{"type", "object"},
			{"description", "Counts of a window, for charts. Durations are in nanoseconds, as in the event."},
			{"additionalProperties", false},
			{"required", []any{"from", "to", "bucket_ns", "total", "kinds", "failed_logins", "unique_ips", "top_users", "top_routes",
				"requests", "errors_4xx", "errors_5xx", "error_rate", "latency_p50_ns", "latency_p95_ns", "series", "top_countries", "no_country"}},
			{"properties", jobj{
				{"from", dateTime("The window's start, inclusive.")},
				{"to", dateTime("The window's end, exclusive.")},
				{"bucket_ns", oaInt("The width of the series' buckets.", 1, 0)},
				{"total", count("Events in the window.")},
				{"kinds", byKind("Events per kind; every kind, zeros included.", jobj{{"type", "integer"}, {"minimum", 0}})},
				{"failed_logins", count("Auth events of action login_failed.")},
				{"unique_ips", count("Distinct client addresses of all events.")},
				{"top_users", jobj{{"type", "array"}, {"description", "The actors with the most events, most first."}, {"items", jobj{
					{"type", "object"}, {"additionalProperties", false}, {"required", []any{"id", "count"}},
					{"properties", jobj{{"id", oaStr("The actor's id.")}, {"name", oaStr("The actor's name in its latest event.")}, {"count", count("Its events.")}}},
				}}}},
				{"top_routes", jobj{{"type", "array"}, {"description", "The routes with the most request events, most first."}, {"items", jobj{
					{"type", "object"}, {"additionalProperties", false}, {"required", []any{"route", "requests", "errors"}},
					{"properties", jobj{{"route", oaStr("`request.route`, or the path.")}, {"requests", count("Request events.")}, {"errors", count("Of which answered 4xx or 5xx.")}}},
				}}}},
				{"requests", count("Request events.")},
				{"errors_4xx", count("Of which answered 400 to 499.")},
				{"errors_5xx", count("Of which answered 500 to 599.")},
				{"error_rate", rate("(errors_4xx + errors_5xx) / requests; 0 without requests.")},
				{"latency_p50_ns", nanos("The median duration of the requests.")},
				{"latency_p95_ns", nanos("Their 95th percentile.")},
				{"series", jobj{
					{"type", "object"},
					{"description", "The window over time: counts[k][i] events of kind k in the bucket that starts at start[i], and so on for the other members, " +
						"one value per bucket each. The first and last buckets may reach outside the window; only the window's events are counted."},
					{"additionalProperties", false},
					{"required", []any{"start", "counts", "requests", "errors_4xx", "errors_5xx", "failed_logins", "latency_p95_ns"}},
					{"properties", jobj{
						{"start", jobj{{"type", "array"}, {"items", jobj{{"type", "string"}, {"format", "date-time"}}}}},
						{"counts", byKind("Per kind, one count per bucket.", jobj{{"type", "array"}, {"items", jobj{{"type", "integer"}, {"minimum", 0}}}})},
						{"requests", perBucket("Request events per bucket.")},
						{"errors_4xx", perBucket("Of which answered 400 to 499.")},
						{"errors_5xx", perBucket("Of which answered 500 to 599.")},
						{"failed_logins", perBucket("Auth events of action login_failed per bucket.")},
						{"latency_p95_ns", perBucket("The 95th percentile of the durations of the bucket's request events, read from the same histogram as latency_p95_ns " +
							"(at most 1/16 above the true value); 0 for a bucket without a request event that has a duration.")},
					}},
				}},
				{"top_countries", jobj{{"type", "array"}, {"description", "The countries (`request.geo`) of the window's events, of every kind, with the most events, " +
					"most first, then by code; at most `top`. A country is counted by its code, or by its name when its events have no code. " +
					"Events without a country are left out and counted in no_country."}, {"items", jobj{
					{"type", "object"}, {"additionalProperties", false}, {"required", []any{"code", "name", "count"}},
					{"properties", jobj{
						{"code", oaStr("`request.geo.country_code` as recorded; empty for events with a country name and no code.")},
						{"name", oaStr("`request.geo.country`: the name most of its events carry (the first in byte order among equals); empty when none has one.")},
						{"count", count("Its events.")},
					}},
				}}}},
				{"no_country", count("Events of the window without a country (neither `request.geo.country_code` nor `request.geo.country`).")},
			}},
		}},
		{"Summary", jobj{
			{"type", "object"},
			{"description", "What one user did in a window."},
			{"additionalProperties", false},
			{"required", []any{"user_id", "from", "to", "total_actions", "creates", "updates", "deletes", "reads", "logins", "failed_logins", "system_errors", "unresolved"}},
			{"properties", jobj{
				{"user_id", oaStr("The user.")},
				{"from", dateTime("The window's start, inclusive.")},
				{"to", dateTime("The window's end, exclusive.")},
				{"total_actions", count("The user's events, of every kind.")},
				{"creates", count("crud create.")},
				{"updates", count("crud update.")},
				{"deletes", count("crud delete.")},
				{"reads", count("crud read.")},
				{"logins", count("auth login.")},
				{"failed_logins", count("auth login_failed whose object is the user.")},
				{"system_errors", count("system events of action error.")},
				{"unresolved", count("The user's events of severity warning or above without a resolution.")},
			}},
		}},
		{"LoginRequest", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"username", "password"}},
			{"properties", jobj{
				{"username", jobj{{"type", "string"}, {"minLength", 1}}},
				{"password", jobj{{"type", "string"}, {"minLength", 1}}},
			}},
		}},
		{"LoginForm", jobj{
			{"type", "object"},
			{"required", []any{"username", "password"}},
			{"properties", jobj{
				{"username", jobj{{"type", "string"}, {"minLength", 1}}},
				{"password", jobj{{"type", "string"}, {"minLength", 1}}},
				{"next", jobj{{"type", "string"}, {"pattern", "^/"}, {"description", "A path on this site to be sent to after signing in (303)."}}},
				{"csrf_token", oaStr("Not used by sign-in.")},
			}},
		}},
		{"Session", jobj{
			{"type", "object"},
			{"description", "Who is signed in; for a session cookie, its CSRF token and when it ends."},
			{"additionalProperties", false},
			{"required", []any{"principal"}},
			{"properties", jobj{
				{"principal", oaSchemaRef("Principal")},
				{"csrf_token", oaStr("Send it as X-CSRF-Token with every request other than GET, HEAD and OPTIONS made with the session cookie.")},
				{"expires_at", dateTime("The session's absolute end.")},
				{"idle_expires_at", dateTime("Its end unless it is used before.")},
			}},
		}},
		{"APIKey", apiKey},
		{"APIKeyCreate", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"name", "scopes"}},
			{"properties", jobj{
				{"name", jobj{{"type", "string"}, {"minLength", 1}, {"description", "What the key is for."}}},
				{"scopes", jobj{{"type", "array"}, {"minItems", 1}, {"items", jobj{{"enum", oaNames(activitylog.Permissions)}}}, {"description", "The permissions it carries; not superuser."}}},
				{"tenant", oaStr("The tenant it acts in. Default: none.")},
				{"expires_in", oaStr("A positive Go duration, like `720h`, after which it stops working. Not with expires_at.")},
				{"expires_at", dateTime("When it stops working. Not with expires_in.")},
			}},
		}},
		{"APIKeyList", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"count", "results"}},
			{"properties", jobj{{"count", count("How many keys.")}, {"results", jobj{{"type", "array"}, {"description", "Oldest first."}, {"items", oaSchemaRef("APIKey")}}}}},
		}},
		{"User", jobj{
			{"type", "object"},
			{"description", "A user who signs in with a password; never the password or its hash."},
			{"additionalProperties", false},
			{"required", []any{"id", "username", "tenant", "permissions", "created_at", "disabled"}},
			{"properties", jobj{
				{"id", oaStr("The user's id: the actor id of what it does.")},
				{"username", oaStr("Unique in any ASCII case.")},
				{"tenant", oaStr("The tenant whose events the user sees; \"\" for the events without one.")},
				{"permissions", jobj{{"type", "array"}, {"items", jobj{{"enum", oaNames(activitylog.Permissions)}}}}},
				{"created_at", dateTime("When it was made.")},
				{"disabled", jobj{{"type", "boolean"}, {"description", "A disabled user cannot sign in."}}},
			}},
		}},
		{"UserCreate", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"username", "password"}},
			{"properties", jobj{
				{"username", jobj{{"type", "string"}, {"minLength", 1}, {"maxLength", 64}, {"description", "Letters, digits and ._@+-; unique in any ASCII case."}}},
				{"password", jobj{{"type", "string"}, {"minLength", 8}, {"writeOnly", true}, {"description", "Stored only as its argon2id hash."}}},
				{"tenant", oaStr("The tenant whose events the user sees. Default: none.")},
				{"permissions", jobj{{"type", "array"}, {"items", jobj{{"enum", oaNames(activitylog.Permissions)}}}, {"description", "Not superuser: only the command line grants it."}}},
				{"id", oaStr("The user's id. Default: u_ and 16 random hex digits.")},
			}},
		}},
		{"UserList", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"count", "results"}},
			{"properties", jobj{{"count", count("How many users.")}, {"results", jobj{{"type", "array"}, {"description", "Oldest first."}, {"items", oaSchemaRef("User")}}}}},
		}},
		{"UserPatch", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"minProperties", 1},
			{"properties", jobj{
				{"disabled", jobj{{"type", "boolean"}, {"description", "true disables the user and ends its sessions; false enables it again."}}},
				{"permissions", jobj{{"type", "array"}, {"items", jobj{{"enum", oaNames(activitylog.Permissions)}}}, {"description", "The user's permissions from its next request on; not superuser, and not on a superuser."}}},
			}},
		}},
		{"EventAnswer", oaEventAnswer(event)},
	}
}

func oaResponses() jobj {
	retryAfter := jobj{{"description", "Seconds to wait before retrying."}, {"schema", jobj{{"type", "integer"}, {"minimum", 0}}}}
	return jobj{
		{"BadRequest", oaErrResp("A refused input: `field` and `value` name the parameter, header or body field and the value.",
			`{"error": {"code": "invalid", "message": "invalid page_size \"5000\": must be between 1 and 1000", "field": "page_size", "value": "5000"}}`)},
		{"Unauthorized", oaWithHeaders(oaErrResp("No credentials, or credentials that were refused.",
			`{"error": {"code": "unauthorized", "message": "authentication required: send a bearer token (JWT or API key) or sign in"}}`),
			jobj{{"WWW-Authenticate", jobj{{"description", "`Bearer realm=\"activitylog\"`"}, {"required", true}, {"schema", jobj{{"type", "string"}}}}}})},
		{"Forbidden", oaErrResp("The principal lacks the permission, asked for a tenant or user outside its scope (`field` and `value` then name it), or sent a session cookie without its CSRF token or from another origin.",
			`{"error": {"code": "forbidden", "message": "forbidden tenant \"globex\": is not the tenant of ann", "field": "tenant", "value": "globex"}}`)},
		{"NotFound", oaErrResp("No such event, or one outside the principal's scope: the two are not told apart.",
			`{"error": {"code": "not_found", "message": "no event has id `+oaID2+`"}}`)},
		{"MethodNotAllowed", oaWithHeaders(oaErrResp("The API is read-only: the server was built without an ingester.",
			`{"error": {"code": "method_not_allowed", "message": "the API is read-only: events cannot be resolved through it"}}`),
			jobj{{"Allow", jobj{{"description", "The methods allowed."}, {"schema", jobj{{"type", "string"}}}}}})},
		{"TooLarge", oaErrResp("The body is larger than the server's limit (10 MiB by default).",
			`{"error": {"code": "too_large", "message": "the request body is larger than 10485760 bytes"}}`)},
		{"UnsupportedMediaType", oaErrResp("The Content-Type is not one the operation takes, in UTF-8 (`field` is `Content-Type`), or the body has a Content-Encoding other than identity: it must be sent uncompressed (`field` is `Content-Encoding`, and the answer has `Accept-Encoding: identity`).",
			`{"error": {"code": "unsupported_media_type", "message": "Content-Type \"text/plain\" is not supported: send application/json, in UTF-8", "field": "Content-Type", "value": "text/plain"}}`)},
		{"RateLimited", oaWithHeaders(oaErrResp("The principal is over its ingest rate.",
			`{"error": {"code": "rate_limited", "message": "principal key-acme is over its ingest rate; retry after 250ms"}}`),
			jobj{{"Retry-After", retryAfter}})},
		{"NotImplemented", oaErrResp("This server does not offer it.",
			`{"error": {"code": "not_implemented", "message": "this store does not keep resolutions"}}`)},
		{"Unavailable", oaWithHeaders(oaErrResp("The audit queue is full (`queue_full`, with Retry-After), the store cannot be reached, or the server is shutting down (`unavailable`).",
			`{"error": {"code": "queue_full", "message": "the audit queue is full; retry later"}}`),
			jobj{{"Retry-After", retryAfter}})},
		{"Error", oaErrResp("Any other error, in the same shape: 405 method_not_allowed (with Allow), 500 internal, 503 unavailable, …",
			`{"error": {"code": "unavailable", "message": "the store is unavailable; retry later"}}`)},
	}
}

// oaKinds are the per-kind resources.
var oaKinds = []struct {
	slug, name string
	kind       activitylog.Kind
	what       string
	action     string   // of the example
	fields     []string // the field filters it takes, of oaFieldParams
}{
	{"crud-events", "CrudEvents", activitylog.KindCRUD, "data changes: create, read, update and delete of records", "update", []string{"object_type", "object_id"}},
	{"login-events", "LoginEvents", activitylog.KindAuth, "authentication: logins, logouts, failed logins, blocks, token refreshes and password changes", "login_failed", nil},
	{"request-events", "RequestEvents", activitylog.KindRequest, "incoming HTTP requests", "GET", oaHTTPFields},
	{"cors-events", "CorsEvents", activitylog.KindCORS, "cross-origin requests", "OPTIONS", oaHTTPFields},
	{"system-events", "SystemEvents", activitylog.KindSystem, "what the application reports about itself: errors, warnings, security signals, performance", "error", []string{"severity", "category"}},
	{"export-events", "ExportEvents", activitylog.KindExport, "exports: data that left the system", "export", nil},
	{"external-events", "ExternalEvents", activitylog.KindExternal, "outgoing calls to other services", "POST", oaHTTPFields},
}

// oaHTTPFields are the field filters of the kinds that are HTTP calls.
var oaHTTPFields = []string{"method", "status", "status_gte", "status_lte", "origin"}

// oaKindListParams are the query parameters of the list of kind k.
func oaKindListParams(k activitylog.Kind) []any {
	for _, r := range oaKinds {
		if r.kind == k {
			return oaParamRefs(oaKindParams(r.fields))
		}
	}
	panic("no resource for kind " + string(k))
}

// oaFixed replaces the parameter name of params by one that takes
// only value.
func oaFixed(params []any, name, value, desc string) []any {
	out := slices.Clone(params)
	for i, p := range out {
		if p.(jobj).get("$ref") == "#/components/parameters/"+name {
			out[i] = oaQuery(name, desc, jobj{{"const", value}}).set2("example", value)
			return out
		}
	}
	panic("no parameter " + name)
}

// oaKindPage is a page whose events are all of kind k.
func oaKindPage(k activitylog.Kind) jobj {
	return jobj{{"allOf", []any{oaSchemaRef("Page"), jobj{{"properties", jobj{{"results", jobj{{"items", jobj{{"properties", jobj{{"kind", jobj{{"const", string(k)}}}}}}}}}}}}}}}
}

func oaKindEventExample(k activitylog.Kind, action string) string {
	return `{"id": "` + oaID1 + `", "time": "2026-11-22T10:15:04Z", "kind": "` + string(k) + `", "action": "` + action + `", "severity": "info", "tenant": "acme"}`
}

func oaPageExample(event string) any {
	return oaParse(`{"count": 1234, "next": "?cursor=eyJ0IjoxNzY0MDAwMDAwfQ&page_size=1", "previous": null, "results": [` + event + `]}`)
}

func oaExportContent(eventSchema jobj) jobj {
	return jobj{
		{"text/csv", jobj{{"schema", jobj{{"type", "string"}, {"description", "A header row (the columns of server.ExportColumns), then one row per event."}}},
			{"example", strings.Join(ExportColumns, ",") + "\n"}}},
		{"application/json", jobj{{"schema", jobj{{"type", "array"}, {"items", eventSchema}}}}},
		{"application/x-ndjson", jobj{{"schema", jobj{{"type", "string"}, {"description", "One event per line."}}}}},
		{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", jobj{}},
	}
}

func oaExportHeaders() jobj {
	return jobj{
		{"Content-Disposition", jobj{{"description", "attachment, with a file name such as `activitylog-events-20261124T093000Z.csv`."}, {"required", true}, {"schema", jobj{{"type", "string"}}}}},
		{"Trailer", jobj{{"description", "`X-Export-Status`: the trailer is `complete`, or `truncated` when the download broke off after it started (the status cannot change then)."}, {"schema", jobj{{"type", "string"}}}}},
	}
}

func oaOperations() []oaOp {
	events := oaSchemaRef("Event")
	answer := oaSchemaRef("EventAnswer") // an event with its integrity status
	csrf := oaParamRef("CSRFToken")
	bad, notFound := oaRespRef("BadRequest"), oaRespRef("NotFound")
	notIn := func(list []string) func(string) bool {
		return func(p string) bool { return !slices.Contains(list, p) }
	}
	all := func(string) bool { return true }

	ops := []oaOp{
		{
			method: "POST", path: "/api/v1/events", id: "ingestEvents", tag: "events",
			summary: "Ingest events",
			desc: "Stores one event, an array of events, or NDJSON (one event per line), all or none: status 201 means every event is committed. " +
				"The batch is validated whole before anything is stored, and the first bad field is refused with a 400 naming it (`events[3].kind`), as are unknown fields, " +
				"a wrong type, an id repeated within the batch, a truncated body and trailing data; so are the category `audit_loss`, which only the server's own Recorder " +
				"writes (its reports of lost events), and a `request.method` that is not an HTTP token. Writes are idempotent by id: an event whose id is stored already is left as it was, " +
				"so a client may retry a batch whose answer it did not get. Events are redacted like every other event, and are not enriched from this request. " +
				"The body is sent uncompressed: a Content-Encoding other than identity is a 415. It takes no query parameter: one is a 400 naming it. " +
				"At most 1000 events and 10 MiB per request by default.",
			need:   activitylog.Ingest,
			params: []any{csrf},
			body: jobj{
				{"required", true},
				{"content", jobj{
					{"application/json", jobj{
						{"schema", jobj{{"oneOf", []any{oaSchemaRef("EventInput"), jobj{{"type", "array"}, {"minItems", 1}, {"items", oaSchemaRef("EventInput")}}}}}},
						{"examples", jobj{
							{"one", jobj{{"summary", "One event"}, {"value", oaParse(`{"kind": "auth", "action": "login", "actor": {"id": "42", "name": "Ann"}, "request": {"remote_ip": "203.0.113.7"}}`)}}},
							{"batch", jobj{{"summary", "A batch"}, {"value", oaParse(`[{"kind": "crud", "action": "create", "object": {"type": "invoice", "id": "INV-1"}}, {"id": "` + oaID2 + `", "time": "2026-11-22T11:15:04+01:00", "kind": "custom", "action": "report_sent"}]`)}}},
						}},
					}},
					{"application/x-ndjson", jobj{
						{"schema", jobj{{"type", "string"}, {"description", "One EventInput object per line; blank lines are skipped."}}},
						{"example", "{\"kind\":\"auth\",\"action\":\"logout\",\"actor\":{\"id\":\"42\"}}\n{\"kind\":\"custom\",\"action\":\"report_sent\"}\n"},
					}},
				}},
			},
			responses: jobj{
				{"201", oaResp("Every event is stored.", oaJSON(oaSchemaRef("IngestResult"), oaParse(`{"accepted": 1, "ids": ["`+oaID1+`"]}`)))},
				{"400", oaErrResp("A refused event, body or query parameter (it takes none); nothing is stored. `field` names the event's field, `events[N]`, `events`, `body` or the parameter.",
					`{"error": {"code": "invalid", "message": "invalid events[3].kind \"crudd\": must be one of crud, auth, request, cors, external, system, export, custom", "field": "events[3].kind", "value": "crudd"}}`)},
				{"405", oaRespRef("MethodNotAllowed")},
				{"413", oaRespRef("TooLarge")},
				{"415", oaRespRef("UnsupportedMediaType")},
				{"429", oaRespRef("RateLimited")},
				{"503", oaRespRef("Unavailable")},
			},
		},
		{
			method: "GET", path: "/api/v1/events", id: "listEvents", tag: "events",
			summary: "List events",
			desc: "Events that match every filter given, one page at a time, newest first by default. Every parameter is checked: an unknown or repeated parameter, " +
				"a value that is not an integer or a time, a value out of range, a cursor not made by this API or made for another ordering, and `cursor` with `page` " +
				"are each refused with a 400 naming the parameter. Cursor paging stays fast however deep it goes; `page` costs more the deeper it reaches.",
			need: activitylog.ViewLogs, scoped: true,
			params: oaParamRefs(oaParams(all)),
			responses: jobj{
				{"200", oaResp("One page of events.", oaJSON(oaSchemaRef("Page"), oaPageExample(oaEventExample)))},
				{"400", bad},
			},
		},
		{
			method: "GET", path: "/api/v1/events/export", id: "exportEvents", tag: "events",
			summary: "Export events as a file",
			desc: "Every event that the filters select, as one file in CSV, JSON, NDJSON or XLSX, streamed page by page. It takes the filters of the list; " +
				"`cursor`, `page` and `page_size` are refused, since an export returns every matching event. CSV and XLSX cells that a spreadsheet would run as a formula " +
				"are written with a leading `'`. Each export is recorded as an event of kind export when the server is so configured. See docs/exports.md.",
			need: activitylog.ViewLogs, scoped: true,
			params: append([]any{oaParamRef("format")}, oaParamRefs(oaParams(notIn(exportRefused)))...),
			responses: jobj{
				{"200", oaResp("The file. Its size is not known in advance: there is no Content-Length.", oaExportContent(events)).set2("headers", oaExportHeaders())},
				{"400", bad},
			},
		},
		{
			method: "GET", path: "/api/v1/events/{id}", id: "getEvent", tag: "events",
			summary: "Get one event",
			desc:    "The event with this id. An id that is not a UUID is a 400 naming `id`. It takes no query parameter: one is a 400 naming it.",
			need:    activitylog.ViewLogs, scoped: true,
			params: []any{oaParamRef("EventID")},
			responses: jobj{
				{"200", oaResp("The event.", oaJSON(answer, oaParse(oaEventExample)))},
				{"400", bad},
				{"404", notFound},
			},
		},
		{
			method: "POST", path: "/api/v1/events/{id}/resolve", id: "resolveEvent", tag: "events",
			summary: "Resolve an event",
			desc: "Records that someone dealt with the event, typically a system event, with an optional note, and answers the resolution as stored. " +
				"The event itself never changes. Resolving again is allowed and replaces the event's resolution; every resolution is kept. " +
				"Only events of the principal's own tenant can be resolved (a superuser's: any); others are answered 404. " +
				"The body is one JSON object with no other field than `resolved_by` and `note`; without `resolved_by` the event is resolved by the principal. " +
				"It takes no query parameter: one is a 400 naming it, and nothing is stored.",
			need:   activitylog.ResolveEvents,
			params: []any{oaParamRef("EventID"), csrf},
			body: jobj{
				{"required", true},
				{"content", oaJSON(oaSchemaRef("ResolveRequest"), oaParse(`{"resolved_by": "ops@example.com", "note": "freed 20 GiB on /var"}`))},
			},
			responses: jobj{
				{"200", oaResp("The resolution as stored.", oaJSON(oaSchemaRef("Resolution"), oaParse(oaResolutionExample)))},
				{"400", oaErrResp("A refused id, query parameter or body field: `field` names `id`, the parameter, `resolved_by`, `note`, another field, or `body`.",
					`{"error": {"code": "invalid", "message": "invalid resolved_at \"2025-01-01T00:00:00Z\": is not a field of a resolution; known are resolved_by, note", "field": "resolved_at", "value": "2025-01-01T00:00:00Z"}}`)},
				{"404", notFound},
				{"405", oaRespRef("MethodNotAllowed")},
				{"413", oaRespRef("TooLarge")},
				{"415", oaRespRef("UnsupportedMediaType")},
				{"501", oaRespRef("NotImplemented")},
			},
		},
		{
			method: "POST", path: "/api/v1/events/purge", id: "purgeEvents", tag: "events",
			summary: "Purge events",
			desc: "Deletes every event of the kinds given (or of every kind) recorded before the request, in bounded transactions: in the principal's tenant, " +
				"or, for a principal without a tenant, in every tenant or the one `tenant` names. `confirm` must repeat what is purged, as a person typed it. " +
				"The purge is recorded before (a system event, category `retention`, `extra.operation` `purge_started`) and after (`purge` with the counts, " +
				"or `purge_failed`), and those records are never purged; without an audit recorder the route is 501. Sealed events leave only under signed " +
				"pruning records: `activitylog serve` with a signing key cuts the chains when every kind of every tenant is purged, and otherwise keeps them " +
				"(`kept_sealed`). It takes no query parameter: one (such as `?dry_run=1`) is a 400 naming it, and nothing is deleted.",
			need:   activitylog.ManageRetention,
			params: []any{csrf},
			body: jobj{
				{"required", true},
				{"content", oaJSON(oaSchemaRef("PurgeRequest"), oaParse(`{"kinds": ["crud"], "confirm": "purge crud"}`))},
			},
			responses: jobj{
				{"200", oaResp("What was purged.", oaJSON(oaSchemaRef("PurgeResult"), oaParse(
					`{"before": "2026-11-24T19:50:08Z", "kinds": ["crud"], "tenant": "acme", "started_by": "rita", "purge_started_event": "`+oaID1+`", `+
						`"deleted": 700, "by_kind": {"crud": 700}, "kept_sealed": 0, "pruned": 0, "pruned_chains": 0}`)))},
				{"400", oaErrResp("A refused body or query parameter: `field` names `confirm`, `kinds[i]`, another field, `body`, or the parameter.",
					`{"error": {"code": "invalid", "message": "invalid confirm \"purge all\": must be \"purge crud\": type it to confirm that every such event recorded before now is deleted", "field": "confirm", "value": "purge all"}}`)},
				{"403", oaErrResp("The principal lacks manage_retention, or names a tenant not its own (`field` is then `tenant`).",
					`{"error": {"code": "forbidden", "message": "forbidden tenant \"globex\": is not the principal's tenant \"acme\"", "field": "tenant", "value": "globex"}}`)},
				{"413", oaRespRef("TooLarge")},
				{"415", oaRespRef("UnsupportedMediaType")},
				{"501", oaRespRef("NotImplemented")},
			},
		},
		{
			method: "GET", path: "/api/v1/events/{id}/resolution", id: "getEventResolution", tag: "events",
			summary: "Get an event's resolution",
			desc:    "The event's latest resolution. An event that exists but was never resolved is a 404 with code `not_resolved`, so that it can be told from an unknown event (`not_found`). It takes no query parameter: one is a 400 naming it.",
			need:    activitylog.ViewLogs, scoped: true,
			params: []any{oaParamRef("EventID")},
			responses: jobj{
				{"200", oaResp("The latest resolution.", oaJSON(oaSchemaRef("Resolution"), oaParse(oaResolutionExample)))},
				{"400", bad},
				{"404", oaResp("No such event (`not_found`), or the event is not resolved (`not_resolved`).", jobj{{"application/json", jobj{
					{"schema", oaSchemaRef("Error")},
					{"examples", jobj{
						{"not_found", jobj{{"value", oaParse(`{"error": {"code": "not_found", "message": "no event has id ` + oaID2 + `"}}`)}}},
						{"not_resolved", jobj{{"value", oaParse(`{"error": {"code": "not_resolved", "message": "event ` + oaID1 + ` is not resolved"}}`)}}},
					}},
				}}})},
				{"501", oaRespRef("NotImplemented")},
			},
		},
		{
			method: "GET", path: "/api/v1/objects/{type}/{id}/events", id: "listObjectEvents", tag: "events",
			summary: "One object's history",
			desc: "Everything that happened to one object (the events whose `object.type` and `object.id` are those of the path), newest first by default, " +
				"with the list's parameters and answer. `object_type` or `object_id` in the query may repeat the path's value; any other value is a 400. " +
				"An object without events is not an error: the page is empty.",
			need: activitylog.ViewLogs, scoped: true,
			params: append([]any{oaParamRef("ObjectType"), oaParamRef("ObjectID")}, oaParamRefs(oaParams(all))...),
			responses: jobj{
				{"200", oaResp("One page of the object's events.", oaJSON(oaSchemaRef("Page"), oaPageExample(oaEventExample)))},
				{"400", bad},
			},
		},
		{
			method: "GET", path: "/api/v1/stream", id: "streamEvents", tag: "streams",
			summary: "Live events (Server-Sent Events)",
			desc: "Events as they are committed, as Server-Sent Events: each is a message `id: <sequence>`, `event: event`, `data: <the event as JSON>`. " +
				"A client that reconnects sends the last sequence number it saw (`Last-Event-ID`, as EventSource does, or `last_event_id`), and first gets the events after it " +
				"that are still in the backlog; when the backlog does not reach back that far, an `event: gap` message with `data: {\"missed\":N}` comes first. " +
				"A comment `: heartbeat` is sent when idle. Takes the list's filters; `ordering`, `cursor`, `page` and `page_size` are refused. " +
				"A subscriber that falls behind is disconnected. See docs/streams.md.",
			need: selfAuth, scoped: true,
			params: append(oaParamRefs(oaParams(notIn(streamOnlyRefused))), oaParamRef("last_event_id"), oaParamRef("LastEventID")),
			responses: jobj{
				{"200", oaResp("The stream, until either side ends it.", jobj{{"text/event-stream", jobj{
					{"schema", jobj{{"type", "string"}}},
					{"example", ": stream open\n\nid: 17\nevent: event\ndata: {\"id\":\"" + oaID1 + "\",\"time\":\"2026-11-22T10:15:04Z\",\"kind\":\"auth\",\"action\":\"login_failed\",\"severity\":\"warning\"}\n\n: heartbeat\n\n"},
				}}})},
				{"400", bad},
				{"501", oaErrResp("Live streams are not enabled on this server.", `{"error": {"code": "not_implemented", "message": "live streams are not enabled on this server (server.Options.Stream is unset)"}}`)},
			},
		},
		{
			method: "GET", path: "/api/v1/ws", id: "streamEventsWebSocket", tag: "streams",
			summary: "Live events (WebSocket)",
			desc: "The stream of GET /api/v1/stream over a WebSocket. Each text message is a WebSocketMessage: `{\"id\": N, \"event\": {…}}`, or `{\"gap\": {\"missed\": N}}`. " +
				"The connection is accepted first and then authenticated, since browsers do not show a refused handshake to scripts: it is closed with 4001 " +
				"when unauthenticated, 4003 when forbidden, and 1008 (policy violation) for a refused filter or a message from the client. " +
				"A subscriber that falls behind is closed with 1013, and 1001 at shutdown. Only same-origin browser connections are accepted unless the server names other origins.",
			need: selfAuth, scoped: true, afterUpgrade: true,
			params: append(oaParamRefs(oaParams(notIn(streamOnlyRefused))), oaParamRef("last_event_id")),
			responses: jobj{
				{"101", oaResp("Switching to the WebSocket protocol.", nil)},
				{"400", oaResp("Not a valid WebSocket handshake (plain text from the WebSocket library).", jobj{{"text/plain", jobj{{"schema", jobj{{"type", "string"}}}}}})},
				{"403", oaResp("A browser connection from an origin that is not allowed (plain text).", jobj{{"text/plain", jobj{{"schema", jobj{{"type", "string"}}}}}})},
				{"426", oaResp("Not a WebSocket upgrade request (plain text).", jobj{{"text/plain", jobj{{"schema", jobj{{"type", "string"}}}}}})},
				{"501", oaErrResp("Live streams are not enabled on this server.", `{"error": {"code": "not_implemented", "message": "live streams are not enabled on this server (server.Options.Stream is unset)"}}`)},
			},
		},
	}

	for _, k := range oaKinds {
		base := "/api/v1/" + k.slug
		example := oaKindEventExample(k.kind, k.action)
		listParams := oaParamRefs(oaKindParams(k.fields))
		exportParams := append([]any{oaParamRef("format")}, oaParamRefs(slices.DeleteFunc(oaKindParams(k.fields), func(p string) bool { return slices.Contains(exportRefused, p) }))...)
		fields := "It takes no field filter."
		if len(k.fields) > 0 {
			fields = "Of the field filters it takes " + strings.Join(k.fields, ", ") + "."
		}
		event := jobj{{"allOf", []any{events, jobj{{"properties", jobj{{"kind", jobj{{"const", string(k.kind)}}}}}}}}}
		answerOfKind := jobj{{"allOf", []any{answer, jobj{{"properties", jobj{{"kind", jobj{{"const", string(k.kind)}}}}}}}}}
		ops = append(ops,
			oaOp{
				method: "GET", path: base, id: "list" + k.name, tag: "events by kind",
				summary: "List " + string(k.kind) + " events",
				desc: "Events of kind `" + string(k.kind) + "` (" + k.what + "), filtered and paged as GET /api/v1/events is; the kind is the path's. " +
					fields + " `kind`, a field filter of another kind, an unknown or repeated parameter, and a bad value are each refused with a 400 naming the parameter.",
				need: activitylog.ViewLogs, scoped: true,
				params: listParams,
				responses: jobj{
					{"200", oaResp("One page of events.", oaJSON(oaKindPage(k.kind), oaPageExample(example)))},
					{"400", bad},
				},
			},
			oaOp{
				method: "GET", path: base + "/export", id: "export" + k.name, tag: "events by kind",
				summary: "Export " + string(k.kind) + " events as a file",
				desc: "Every event of kind `" + string(k.kind) + "` that the filters select, as one file, as GET /api/v1/events/export does. " +
					"`cursor`, `page` and `page_size` are refused.",
				need: activitylog.ViewLogs, scoped: true,
				params: exportParams,
				responses: jobj{
					{"200", oaResp("The file.", oaExportContent(event)).set2("headers", oaExportHeaders())},
					{"400", bad},
				},
			},
			oaOp{
				method: "GET", path: base + "/{id}", id: "get" + strings.TrimSuffix(k.name, "s"), tag: "events by kind",
				summary: "Get one " + string(k.kind) + " event",
				desc:    "The event with this id, if it is of kind `" + string(k.kind) + "`; an event of another kind is a 404. It takes no query parameter: one is a 400 naming it.",
				need:    activitylog.ViewLogs, scoped: true,
				params: []any{oaParamRef("EventID")},
				responses: jobj{
					{"200", oaResp("The event.", oaJSON(answerOfKind, oaParse(example)))},
					{"400", bad},
					{"404", notFound},
				},
			},
		)
	}

	ops = append(ops,
		oaOp{
			method: "GET", path: "/api/v1/login-events/failed", id: "listFailedLogins", tag: "analytics",
			summary: "Failed logins",
			desc:    "Auth events of action `login_failed`, with the parameters and the answer of GET /api/v1/login-events; `action` may only repeat login_failed.",
			need:    activitylog.ViewLogs, scoped: true,
			params: oaFixed(oaKindListParams(activitylog.KindAuth), "action", activitylog.ActionLoginFailed, "Only login_failed, which the path fixes; leave it out."),
			responses: jobj{
				{"200", oaResp("One page of failed logins.", oaJSON(oaKindPage(activitylog.KindAuth), oaPageExample(oaKindEventExample(activitylog.KindAuth, "login_failed"))))},
				{"400", bad},
			},
		},
		oaOp{
			method: "GET", path: "/api/v1/login-events/brute-force-suspects", id: "listBruteForceSuspects", tag: "analytics",
			summary: "Brute-force suspects",
			desc: "Client addresses and usernames (in lower case) with at least `threshold` failed logins in the last `window_hours` hours, most failures first, " +
				"counted from the store, so across processes and restarts.",
			need: activitylog.ViewLogs, scoped: true,
			params: oaParamRefs([]string{"threshold", "window_hours", "tenant"}),
			responses: jobj{
				{"200", oaResp("The suspects.", oaJSON(oaSchemaRef("BruteForceSuspects"), oaParse(
					`{"threshold": 5, "window_hours": 1, "from": "2026-11-22T09:15:04Z", "to": "2026-11-22T10:15:04Z", "suspects": [{"type": "ip", "key": "203.0.113.7", "failures": 12, "first": "2026-11-22T09:31:00Z", "last": "2026-11-22T10:14:59Z"}]}`)))},
				{"400", bad},
			},
		},
		oaOp{
			method: "GET", path: "/api/v1/request-events/slow", id: "listSlowRequests", tag: "analytics",
			summary: "Slow requests",
			desc:    "Request events that took at least `threshold_ms` milliseconds, with the other parameters and the answer of GET /api/v1/request-events.",
			need:    activitylog.ViewLogs, scoped: true,
			params: append([]any{oaParamRef("threshold_ms")}, oaKindListParams(activitylog.KindRequest)...),
			responses: jobj{
				{"200", oaResp("One page of slow requests.", oaJSON(oaKindPage(activitylog.KindRequest), oaPageExample(oaKindEventExample(activitylog.KindRequest, "GET"))))},
				{"400", bad},
			},
		},
		oaOp{
			method: "GET", path: "/api/v1/request-events/error-rates", id: "getRequestErrorRates", tag: "analytics",
			summary: "Error rates by route",
			desc:    "The request events of the last `hours`: how many answered 4xx and 5xx, and at which rate, in all and for the `limit` routes with the most errors, by status.",
			need:    activitylog.ViewLogs, scoped: true,
			params: oaParamRefs([]string{"hours", "limit", "tenant"}),
			responses: jobj{
				{"200", oaResp("The rates.", oaJSON(oaSchemaRef("ErrorRates"), oaParse(
					`{"from": "2026-11-21T11:00:00Z", "to": "2026-11-22T11:00:00Z", "requests": 1200, "errors_4xx": 30, "errors_5xx": 6, "rate_4xx": 0.025, "rate_5xx": 0.005, "error_rate": 0.03, `+
						`"routes": [{"route": "GET /orders/{id}", "requests": 800, "errors_4xx": 30, "errors_5xx": 6, "rate_4xx": 0.0375, "rate_5xx": 0.0075, "error_rate": 0.045, "statuses": [{"status": 404, "count": 30}, {"status": 502, "count": 6}]}], "truncated": false}`)))},
				{"400", bad},
			},
		},
		oaOp{
			method: "GET", path: "/api/v1/system-events/critical", id: "listCriticalSystemEvents", tag: "analytics",
			summary: "Critical system events",
			desc:    "System events of severity `critical`, with the parameters and the answer of GET /api/v1/system-events; `severity` may only repeat critical.",
			need:    activitylog.ViewLogs, scoped: true,
			params: oaFixed(oaKindListParams(activitylog.KindSystem), "severity", string(activitylog.SeverityCritical), "Only critical, which the path fixes; leave it out."),
			responses: jobj{
				{"200", oaResp("One page of critical events.", oaJSON(oaKindPage(activitylog.KindSystem), oaPageExample(oaKindEventExample(activitylog.KindSystem, "error"))))},
				{"400", bad},
			},
		},
		oaOp{
			method: "GET", path: "/api/v1/dashboard", id: "getDashboard", tag: "analytics",
			summary: "Dashboard",
			desc: "The last `hours`, for charts: events per kind in total and per bucket (1 h up to 72 hours, 6 h up to 18 days, else 24 h), failed logins, " +
				"distinct client addresses, the `top` users, routes and countries, the requests' error rate and latency; requests, 4xx and 5xx errors, " +
				"failed logins and the p95 latency per bucket too.",
			need: activitylog.ViewLogs, scoped: true,
			params: oaParamRefs([]string{"hours", "top", "tenant"}),
			responses: jobj{
				{"200", oaResp("The dashboard.", oaJSON(oaSchemaRef("Dashboard"), oaParse(
					`{"from": "2026-11-22T09:00:00Z", "to": "2026-11-22T11:00:00Z", "bucket_ns": 3600000000000, "total": 5210, `+
						`"kinds": {"crud": 350, "auth": 60, "request": 4800, "cors": 0, "external": 0, "system": 0, "export": 0, "custom": 0}, "failed_logins": 14, "unique_ips": 230, `+
						`"top_users": [{"id": "42", "name": "Ann", "count": 120}], "top_routes": [{"route": "GET /orders/{id}", "requests": 800, "errors": 36}], `+
						`"requests": 4800, "errors_4xx": 30, "errors_5xx": 6, "error_rate": 0.0075, "latency_p50_ns": 2000000, "latency_p95_ns": 16000000, `+
						`"series": {"start": ["2026-11-22T09:00:00Z", "2026-11-22T10:00:00Z"], "counts": {"crud": [150, 200], "auth": [30, 30], "request": [2300, 2500], "cors": [0, 0], "external": [0, 0], "system": [0, 0], "export": [0, 0], "custom": [0, 0]}, `+
						`"requests": [2300, 2500], "errors_4xx": [12, 18], "errors_5xx": [6, 0], "failed_logins": [9, 5], "latency_p95_ns": [15360000, 17408000]}, `+
						`"top_countries": [{"code": "DE", "name": "Germany", "count": 3100}, {"code": "FR", "name": "France", "count": 1400}], "no_country": 710}`)))},
				{"400", bad},
			},
		},
		oaOp{
			method: "GET", path: "/api/v1/summary", id: "getSummary", tag: "analytics",
			summary: "One user's activity",
			desc: "What one user did in the last `days`: its events, creates, updates, deletes, reads and logins, the failed logins against it, system errors, " +
				"and its unresolved events of severity warning or above. A principal with `view_logs` alone may ask for itself only, and its counts leave out the failed logins, " +
				"which are recorded with an anonymous actor.",
			need: activitylog.ViewLogs, scoped: true,
			params: []any{
				oaQuery("user_id", "The user. Default: the principal's own id.", jobj{{"type", "string"}}).set2("example", "42"),
				oaParamRef("days"), oaParamRef("tenant"),
			},
			responses: jobj{
				{"200", oaResp("The summary.", oaJSON(oaSchemaRef("Summary"), oaParse(
					`{"user_id": "42", "from": "2026-11-15T10:15:04Z", "to": "2026-11-22T10:15:04Z", "total_actions": 120, "creates": 20, "updates": 80, "deletes": 0, "reads": 0, "logins": 20, "failed_logins": 2, "system_errors": 0, "unresolved": 1}`)))},
				{"400", bad},
			},
		},

		oaOp{
			method: "GET", path: "/api/v1/me", id: "getMe", tag: "access",
			summary: "The principal making the request",
			desc:    "Who the request authenticated as, with its tenant and permissions. It takes no query parameter: one is a 400 naming it.",
			need:    SignedIn,
			responses: jobj{
				{"200", oaResp("The principal.", oaJSON(oaSchemaRef("Principal"), oaParse(oaPrincipalExample)))},
				{"400", bad},
			},
		},
		oaOp{
			method: "POST", path: "/api/v1/auth/login", id: "login", tag: "access",
			summary: "Sign in",
			desc: "Checks a username and password and starts a session. The answer sets the session cookie (`" + openapiSessionCookie + "` by default; HttpOnly, SameSite) " +
				"and carries the CSRF token that every request other than GET, HEAD and OPTIONS made with the cookie must send as X-CSRF-Token. " +
				"An HTML form may post the same fields, and `next`, a path on this site to be sent to afterwards (303). " +
				"An unknown username is answered exactly as a wrong password. Failed sign-ins are limited per username and per client address (429 past the limit). " +
				"Every sign-in, failed, blocked or not, is recorded as an auth event. A cross-origin sign-in is refused (403).",
			need: Public,
			body: jobj{{"required", true}, {"content", jobj{
				{"application/json", jobj{{"schema", oaSchemaRef("LoginRequest")}, {"example", oaParse(`{"username": "ann", "password": "correct horse battery staple"}`)}}},
				{"application/x-www-form-urlencoded", jobj{{"schema", oaSchemaRef("LoginForm")}}},
			}}},
			responses: jobj{
				{"200", oaResp("Signed in.", oaJSON(oaSchemaRef("Session"), oaParse(oaSessionExample))).set2("headers", jobj{
					{"Set-Cookie", jobj{{"description", "The session cookie."}, {"required", true}, {"schema", jobj{{"type", "string"}}}}},
				})},
				{"303", oaResp("Signed in from a form with `next`: go there.", nil).set2("headers", jobj{
					{"Location", jobj{{"description", "`next`."}, {"required", true}, {"schema", jobj{{"type", "string"}}}}},
					{"Set-Cookie", jobj{{"description", "The session cookie."}, {"required", true}, {"schema", jobj{{"type", "string"}}}}},
				})},
				{"400", oaErrResp("A body that is not one JSON object of username and password, a missing field, or a `next` that is not a path on this site.",
					`{"error": {"code": "invalid", "message": "username is required", "field": "username"}}`)},
				{"401", oaErrResp("Wrong username or password.", `{"error": {"code": "unauthorized", "message": "invalid username or password"}}`)},
				{"403", oaErrResp("A cross-origin sign-in.", `{"error": {"code": "forbidden", "message": "cross-origin sign-in refused: cross-origin request detected from Sec-Fetch-Site header"}}`)},
				{"415", oaRespRef("UnsupportedMediaType")},
				{"429", oaWithHeaders(oaErrResp("Too many failed sign-ins for this username or from this address.",
					`{"error": {"code": "rate_limited", "message": "too many failed sign-ins for this username or from this address; retry in 60 seconds"}}`),
					jobj{{"Retry-After", jobj{{"description", "Seconds to wait."}, {"required", true}, {"schema", jobj{{"type", "integer"}, {"minimum", 0}}}}}})},
				{"503", oaRespRef("Unavailable")},
			},
		},
		oaOp{
			method: "POST", path: "/api/v1/auth/logout", id: "logout", tag: "access",
			summary: "Sign out",
			desc: "Ends the session of the cookie, when it is live and the request carries its CSRF token, and clears the cookie in any case. " +
				"A cross-origin request, or a live session's cookie without its CSRF token, is refused (403).",
			need:   Public,
			params: []any{csrf},
			responses: jobj{
				{"204", oaResp("Signed out; the cookie is cleared.", nil).set2("headers", jobj{
					{"Set-Cookie", jobj{{"description", "The session cookie, expired."}, {"required", true}, {"schema", jobj{{"type", "string"}}}}},
				})},
				{"403", oaRespRef("Forbidden")},
				{"503", oaRespRef("Unavailable")},
				{"400", bad},
			},
		},
		oaOp{
			method: "GET", path: "/api/v1/auth/session", id: "getSession", tag: "access",
			summary: "The current session",
			desc:    "The principal; and, when a session cookie authenticated the request, its CSRF token and when it ends.",
			need:    SignedIn,
			responses: jobj{
				{"200", oaResp("The session.", oaJSON(oaSchemaRef("Session"), oaParse(oaSessionExample)))},
				{"400", bad},
			},
		},
		oaOp{
			method: "POST", path: "/api/v1/api-keys", id: "createAPIKey", tag: "access",
			summary: "Create an API key",
			desc: "Makes a key with the scopes (permissions) given, in a tenant, expiring after `expires_in` or at `expires_at` (neither: never). " +
				"The answer is the only time the key itself is shown; only its hash is kept. A superuser key can only be made by the command line. " +
				"Keys are credentials that outlive their maker's session, hence the permission.",
			need:   activitylog.Superuser,
			params: []any{csrf},
			body:   jobj{{"required", true}, {"content", oaJSON(oaSchemaRef("APIKeyCreate"), oaParse(`{"name": "billing ingest", "scopes": ["ingest"], "tenant": "acme", "expires_in": "720h"}`))}},
			responses: jobj{
				{"201", oaResp("The key, with its secret, shown this once.", oaJSON(oaSchemaRef("APIKey"), oaParse(
					`{"id": "alk_0123456789abcdef", "key": "alk_0123456789abcdef_c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IHg", "name": "billing ingest", "tenant": "acme", "scopes": ["ingest"], "created_at": "2026-11-01T09:00:00Z", "created_by": "root", "expires_at": "2026-12-01T09:00:00Z"}`)))},
				{"400", bad},
				{"415", oaRespRef("UnsupportedMediaType")},
			},
		},
		oaOp{
			method: "GET", path: "/api/v1/api-keys", id: "listAPIKeys", tag: "access",
			summary: "List API keys",
			desc:    "Every API key, revoked and expired ones included, oldest first; never a secret.",
			need:    activitylog.Superuser,
			responses: jobj{
				{"200", oaResp("The keys.", oaJSON(oaSchemaRef("APIKeyList"), oaParse(
					`{"count": 1, "results": [{"id": "alk_0123456789abcdef", "name": "billing ingest", "tenant": "acme", "scopes": ["ingest"], "created_at": "2026-11-01T09:00:00Z", "created_by": "root", "last_used_at": "2026-11-22T10:15:00Z"}]}`)))},
				{"400", bad},
			},
		},
		oaOp{
			method: "DELETE", path: "/api/v1/api-keys/{id}", id: "revokeAPIKey", tag: "access",
			summary: "Revoke an API key",
			desc:    "Revokes the key at once; revoking a revoked key again is not an error.",
			need:    activitylog.Superuser,
			params:  []any{oaParamRef("APIKeyID"), csrf},
			responses: jobj{
				{"204", oaResp("Revoked.", nil)},
				{"400", bad},
				{"404", oaErrResp("No such key.", `{"error": {"code": "not_found", "message": "no API key alk_0123456789abcdef"}}`)},
			},
		},
		oaOp{
			method: "GET", path: "/api/v1/users", id: "listUsers", tag: "access",
			summary: "List users",
			desc:    "Every user that signs in with a password, disabled ones included, oldest first; never a password or its hash.",
			need:    activitylog.Superuser,
			responses: jobj{
				{"200", oaResp("The users.", oaJSON(oaSchemaRef("UserList"), oaParse(
					`{"count": 1, "results": [{"id": "u_0123456789abcdef", "username": "ana", "tenant": "acme", "permissions": ["view_logs"], "created_at": "2026-11-01T09:00:00Z", "disabled": false}]}`)))},
				{"400", bad},
			},
		},
		oaOp{
			method: "POST", path: "/api/v1/users", id: "createUser", tag: "access",
			summary: "Create a user",
			desc: "Makes a user who signs in with the password given (kept only as its argon2id hash), in a tenant, with permissions. " +
				"Superuser is refused here: only the command line grants it (`activitylog users create --superuser`). The creation is recorded as a crud event.",
			need:   activitylog.Superuser,
			params: []any{csrf},
			body:   jobj{{"required", true}, {"content", oaJSON(oaSchemaRef("UserCreate"), oaParse(`{"username": "ana", "password": "a long passphrase", "tenant": "acme", "permissions": ["view_logs"]}`))}},
			responses: jobj{
				{"201", oaResp("The user.", oaJSON(oaSchemaRef("User"), oaParse(
					`{"id": "u_0123456789abcdef", "username": "ana", "tenant": "acme", "permissions": ["view_logs"], "created_at": "2026-11-01T09:00:00Z", "disabled": false}`)))},
				{"400", bad},
				{"415", oaRespRef("UnsupportedMediaType")},
			},
		},
		oaOp{
			method: "PATCH", path: "/api/v1/users/{username}", id: "updateUser", tag: "access",
			summary: "Disable or enable a user, or set its permissions",
			desc: "`{\"disabled\": true}` disables the user: it can no longer sign in, and its sessions end at once; `{\"disabled\": false}` enables it again. " +
				"`{\"permissions\": [...]}` replaces its permissions, which its sessions carry from their next request; superuser is never granted here, " +
				"and a superuser's permissions are the command line's. A principal changes neither of its own user. Each change is recorded as a crud event.",
			need:   activitylog.Superuser,
			params: []any{oaParamRef("Username"), csrf},
			body:   jobj{{"required", true}, {"content", oaJSON(oaSchemaRef("UserPatch"), oaParse(`{"disabled": true}`))}},
			responses: jobj{
				{"200", oaResp("The user as it is now.", oaJSON(oaSchemaRef("User"), oaParse(
					`{"id": "u_0123456789abcdef", "username": "ana", "tenant": "acme", "permissions": ["view_logs"], "created_at": "2026-11-01T09:00:00Z", "disabled": true}`)))},
				{"400", bad},
				{"404", oaErrResp("No such user.", `{"error": {"code": "not_found", "message": "no user ana"}}`)},
				{"415", oaRespRef("UnsupportedMediaType")},
			},
		},
	)
	ops = append(ops, oaIntegrityOps(bad)...)
	ops = append(ops, oaDBConfigOps(bad)...)
	ops = append(ops, oaRetentionOps(bad)...)
	ops = append(ops,
		oaOp{
			method: "GET", path: "/api/v1/openapi.json", id: "getOpenAPI", tag: "meta",
			summary: "This document",
			desc:    "The OpenAPI 3.1 document of the API, as JSON.",
			need:    Public,
			responses: jobj{
				{"200", oaResp("The document.", oaJSON(jobj{{"type", "object"}, {"required", []any{"openapi", "info", "paths"}}, {"properties", jobj{
					{"openapi", jobj{{"type", "string"}, {"pattern", "^3\\.1\\."}}},
					{"info", jobj{{"type", "object"}}},
					{"paths", jobj{{"type", "object"}}},
				}}}, nil))},
			},
		},
		oaOp{
			method: "GET", path: "/healthz", id: "healthz", tag: "meta",
			summary: "Liveness",
			desc:    "The process is up.",
			need:    Public,
			responses: jobj{
				{"200", oaResp("Up.", oaJSON(oaSchemaRef("Status"), oaParse(`{"status": "ok"}`)))},
			},
		},
		oaOp{
			method: "GET", path: "/readyz", id: "readyz", tag: "meta",
			summary: "Readiness",
			desc:    "The store answers.",
			need:    Public,
			responses: jobj{
				{"200", oaResp("Ready.", oaJSON(oaSchemaRef("Status"), oaParse(`{"status": "ok"}`)))},
				{"503", oaResp("Not ready; the reason is logged, never shown.", oaJSON(oaSchemaRef("Status"), oaParse(`{"status": "unavailable"}`)))},
			},
		},
	)
	return ops
}

// withHeaders adds headers to the response r.
func oaWithHeaders(r jobj, headers jobj) jobj { return append(r, jkv{"headers", headers}) }

// set2 is set for a response built inline: it returns the object.
func (o jobj) set2(k string, v any) jobj {
	o.set(k, v)
	return o
}

const oaDescription = `The HTTP API of activitylog, an audit trail: services post events to it, and people and tools read the trail back.

The handler can be mounted under any prefix. The server URL below is relative to this document, so it follows the mount.

## Authentication and permissions

Every route but /healthz, /readyz, /api/v1/openapi.json, POST /api/v1/auth/login and POST /api/v1/auth/logout needs a principal: a bearer token (a JWT or an API key), or the session cookie that POST /api/v1/auth/login sets. With the cookie, every request other than GET, HEAD and OPTIONS must also send the session's CSRF token as X-CSRF-Token, and come from the same origin. No credentials, or refused ones, are a 401; a principal without the permission an operation needs is a 403.

Each operation's ` + "`x-permission`" + ` names what it needs: a permission (view_logs, view_all_logs, resolve_events, ingest, manage_retention, manage_database_config, superuser), ` + "`signed_in`" + ` for any principal, or ` + "`public`" + ` for none. A superuser holds every permission, and view_all_logs implies view_logs.

Reads are scoped: a superuser reads every tenant; any other principal reads its own tenant only (events without a tenant when it has none), and with view_logs alone only the events whose actor it is. An event outside the scope is answered as if it did not exist.

## Errors

Every error has the shape {"error": {"code", "message", "field", "value"}}; field and value name a refused input and the value refused. Internal detail is logged, never sent.

## Paging

Lists answer {"count", "next", "previous", "results"}. count is the number of matching events, whatever the page, counted up to a bound: "count_exact": false says that more match. next and previous are relative links (?cursor=…) that keep the other parameters. Follow them rather than computing pages.`

// openapiSpec is the document.
func openapiSpec() jobj {
	paths := jobj{}
	for _, op := range oaOperations() {
		item, _ := paths.get(op.path).(jobj)
		item = append(item, jkv{strings.ToLower(op.method), op.render()})
		paths.set(op.path, item)
	}
	return jobj{
		{"openapi", "3.1.1"},
		{"info", jobj{
			{"title", "activitylog API"},
			{"version", "1"},
			{"summary", "Record and read an audit trail."},
			{"description", oaDescription},
		}},
		{"servers", []any{jobj{{"url", "../.."}, {"description", "Where this document is served from, less /api/v1/openapi.json."}}}},
		{"security", []any{jobj{{"bearer", []any{}}}, jobj{{"session", []any{}}}}},
		{"tags", []any{
			jobj{{"name", "events"}, {"description", "Ingest, list, export, read and resolve events."}},
			jobj{{"name", "events by kind"}, {"description", "The events of one kind, with the filters that fit it."}},
			jobj{{"name", "analytics"}, {"description", "Security and operations views over the events."}},
			jobj{{"name", "streams"}, {"description", "Events as they are committed. See docs/streams.md."}},
			jobj{{"name", "access"}, {"description", "Who is signed in, sessions and API keys."}},
			jobj{{"name", "integrity"}, {"description", "Tamper evidence: the checkpoint keys, verification of the stored trail, inclusion and consistency proofs. See docs/integrity.md."}},
			oaDBConfigTag(),
			oaRetentionTag(),
			jobj{{"name", "meta"}, {"description", "Health and this document."}},
		}},
		{"paths", paths},
		{"components", jobj{
			{"securitySchemes", jobj{
				{"bearer", jobj{{"type", "http"}, {"scheme", "bearer"}, {"bearerFormat", "JWT or API key"},
					{"description", "`Authorization: Bearer <token>`, where the token is an API key (`alk_<id>_<secret>`, from POST /api/v1/api-keys or `activitylog api-keys create`) or a JWT, when the server verifies them."}}},
				{"session", jobj{{"type", "apiKey"}, {"in", "cookie"}, {"name", openapiSessionCookie},
					{"description", "The session cookie that POST /api/v1/auth/login sets (`" + openapiSessionCookie + "` unless the server names it otherwise). Every request made with it other than GET, HEAD and OPTIONS must also send the session's CSRF token as the X-CSRF-Token header (or a csrf_token form field), and come from the same origin (Sec-Fetch-Site, Origin); otherwise it is refused with 403."}}},
			}},
			{"parameters", oaParameters()},
			{"responses", oaResponses()},
			{"schemas", oaSchemas()},
		}},
	}
}

// renderOpenAPI is openapi.json as it should be.
func renderOpenAPI() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(openapiSpec()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ---------------------------------------------------------------------
// The tests.

func TestOpenAPIDocumentIsCurrent(t *testing.T) {
	want, err := renderOpenAPI()
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	if *updateOpenAPI {
		if err := os.WriteFile("openapi.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("wrote openapi.json; run the tests again, so that they see it embedded")
		return
	}
	got, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || !bytes.Equal(openapiJSON, want) {
		t.Fatal("server/openapi.json is stale: run go test ./server -run TestOpenAPIDocumentIsCurrent -update-openapi")
	}
}

// oaDoc is the OpenAPI document as far as this API uses it, decoded
// strictly, so that a misspelt key fails.
type oaDoc struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title       string `json:"title"`
		Version     string `json:"version"`
		Summary     string `json:"summary"`
		Description string `json:"description"`
	} `json:"info"`
	Servers []struct {
		URL         string `json:"url"`
		Description string `json:"description"`
	} `json:"servers"`
	Security []map[string][]string `json:"security"`
	Tags     []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"tags"`
	Paths      map[string]map[string]*oaOperation `json:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type         string `json:"type"`
			Scheme       string `json:"scheme"`
			BearerFormat string `json:"bearerFormat"`
			In           string `json:"in"`
			Name         string `json:"name"`
			Description  string `json:"description"`
		} `json:"securitySchemes"`
		Parameters map[string]*oaParameter    `json:"parameters"`
		Responses  map[string]*oaResponse     `json:"responses"`
		Schemas    map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

type oaOperation struct {
	OperationID string                 `json:"operationId"`
	Tags        []string               `json:"tags"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description"`
	XPermission string                 `json:"x-permission"`
	Security    *[]map[string][]string `json:"security"`
	Parameters  []*oaParameter         `json:"parameters"`
	RequestBody *oaRequestBody         `json:"requestBody"`
	Responses   map[string]*oaResponse `json:"responses"`
}

type oaParameter struct {
	Ref         string          `json:"$ref"`
	Name        string          `json:"name"`
	In          string          `json:"in"`
	Description string          `json:"description"`
	Required    bool            `json:"required"`
	Schema      json.RawMessage `json:"schema"`
	Example     json.RawMessage `json:"example"`
}

type oaRequestBody struct {
	Required bool                `json:"required"`
	Content  map[string]*oaMedia `json:"content"`
}

type oaResponse struct {
	Ref         string `json:"$ref"`
	Description string `json:"description"`
	Headers     map[string]*struct {
		Description string          `json:"description"`
		Required    bool            `json:"required"`
		Schema      json.RawMessage `json:"schema"`
	} `json:"headers"`
	Content map[string]*oaMedia `json:"content"`
}

type oaMedia struct {
	Schema   json.RawMessage `json:"schema"`
	Example  json.RawMessage `json:"example"`
	Examples map[string]*struct {
		Summary string          `json:"summary"`
		Value   json.RawMessage `json:"value"`
	} `json:"examples"`
}

// decodeOpenAPI decodes the embedded document strictly.
func decodeOpenAPI(t *testing.T) *oaDoc {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(openapiJSON))
	dec.DisallowUnknownFields()
	var d oaDoc
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("openapi.json does not parse as an OpenAPI document of this API: %v", err)
	}
	if dec.More() {
		t.Fatal("openapi.json: data after the document")
	}
	return &d
}

func (d *oaDoc) param(p *oaParameter) *oaParameter {
	if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
		return d.Components.Parameters[name]
	}
	return p
}

func (d *oaDoc) response(r *oaResponse) *oaResponse {
	if name, ok := strings.CutPrefix(r.Ref, "#/components/responses/"); ok {
		return d.Components.Responses[name]
	}
	return r
}

var (
	oaStatusKey = regexp.MustCompile(`^([1-5][0-9][0-9]|default)$`)
	oaPathParam = regexp.MustCompile(`\{([^}]*)\}`)
	oaMethods   = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
)

// oaSchemaSet is the document decoded for jsonschema, which compiles the
// schemas it holds at JSON pointers.
type oaSchemaSet struct {
	doc      any
	c        *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

func newOASchemas(t *testing.T) *oaSchemaSet {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openapiJSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	return &oaSchemaSet{doc: doc, c: c, compiled: map[string]*jsonschema.Schema{}}
}

// schema compiles the schema at JSON pointer ptr.
func (s *oaSchemaSet) schema(ptr string) (*jsonschema.Schema, error) {
	if sch, ok := s.compiled[ptr]; ok {
		return sch, nil
	}
	sch, err := s.c.Compile("openapi.json#" + ptr)
	if err != nil {
		return nil, err
	}
	s.compiled[ptr] = sch
	return sch, nil
}

func (s *oaSchemaSet) validate(ptr string, v any) error {
	sch, err := s.schema(ptr)
	if err != nil {
		return fmt.Errorf("compile %s: %w", ptr, err)
	}
	return sch.Validate(v)
}

// at returns the value at JSON pointer ptr.
func (s *oaSchemaSet) at(ptr string) any {
	v := s.doc
	if ptr == "" {
		return v
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// follow returns ptr, or where the object at ptr refers to.
func (s *oaSchemaSet) follow(ptr string) string {
	for range 10 {
		m, _ := s.at(ptr).(map[string]any)
		r, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(r, "#/") || len(m) != 1 {
			return ptr
		}
		ptr = r[1:]
	}
	return ptr
}

func oaEsc(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }

// walk calls fn with the JSON pointer of every parameter, header, media
// type and component schema of the document (once each, $refs
// followed), and what it is.
func (s *oaSchemaSet) walk(fn func(ptr, what string)) {
	seen := map[string]bool{}
	visit := func(ptr, what string) {
		ptr = s.follow(ptr)
		if !seen[ptr] {
			seen[ptr] = true
			fn(ptr, what)
		}
	}
	response := func(ptr string) {
		ptr = s.follow(ptr)
		r, _ := s.at(ptr).(map[string]any)
		for name := range oaMap(r["headers"]) {
			visit(ptr+"/headers/"+oaEsc(name), "header")
		}
		for mt := range oaMap(r["content"]) {
			visit(ptr+"/content/"+oaEsc(mt), "media")
		}
	}
	for path, item := range oaMap(s.at("/paths")) {
		for method, op := range oaMap(item) {
			base := "/paths/" + oaEsc(path) + "/" + method
			op := oaMap(op)
			for i := range oaSlice(op["parameters"]) {
				visit(base+"/parameters/"+strconv.Itoa(i), "parameter")
			}
			for mt := range oaMap(oaMap(op["requestBody"])["content"]) {
				visit(base+"/requestBody/content/"+oaEsc(mt), "media")
			}
			for code := range oaMap(op["responses"]) {
				response(base + "/responses/" + code)
			}
		}
	}
	for name := range oaMap(s.at("/components/parameters")) {
		visit("/components/parameters/"+oaEsc(name), "parameter")
	}
	for name := range oaMap(s.at("/components/responses")) {
		response("/components/responses/" + oaEsc(name))
	}
	for name := range oaMap(s.at("/components/schemas")) {
		visit("/components/schemas/"+oaEsc(name), "schema")
	}
}

func oaMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func oaSlice(v any) []any        { a, _ := v.([]any); return a }

// (a) The document parses, declares OpenAPI 3.1, is well formed where
// this API uses it, and every schema in it compiles as JSON Schema
// 2020-12.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	d := decodeOpenAPI(t)
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(d.OpenAPI) {
		t.Errorf("openapi = %q, want 3.1.x", d.OpenAPI)
	}
	if d.Info.Title == "" || d.Info.Version == "" {
		t.Error("info needs a title and a version")
	}
	for name, ss := range d.Components.SecuritySchemes {
		if ss.Type == "" || ss.Description == "" {
			t.Errorf("security scheme %s: needs a type and a description", name)
		}
	}
	checkSecurity := func(where string, reqs []map[string][]string) {
		for _, req := range reqs {
			for name := range req {
				if _, ok := d.Components.SecuritySchemes[name]; !ok {
					t.Errorf("%s: security scheme %q is not defined", where, name)
				}
			}
		}
	}
	checkSecurity("security", d.Security)
	for name, p := range d.Components.Parameters {
		if p.Ref != "" {
			t.Errorf("parameter %s: a component is not a reference", name)
		}
	}
	for name, r := range d.Components.Responses {
		if r.Ref != "" || r.Description == "" {
			t.Errorf("response %s: needs a description and no $ref", name)
		}
	}
	ids := map[string]string{}
	tags := map[string]bool{}
	for _, tag := range d.Tags {
		tags[tag.Name] = true
	}
	for path, item := range d.Paths {
		if !strings.HasPrefix(path, "/") {
			t.Errorf("path %q does not start with /", path)
		}
		for method, op := range item {
			where := strings.ToUpper(method) + " " + path
			if !slices.Contains(oaMethods, method) {
				t.Errorf("%s: %q is not an HTTP method of OpenAPI", where, method)
				continue
			}
			if op.OperationID == "" || op.Summary == "" || op.Description == "" || op.XPermission == "" {
				t.Errorf("%s: needs operationId, summary, description and x-permission", where)
			}
			if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %q is also %s's", where, op.OperationID, other)
			}
			ids[op.OperationID] = where
			for _, tag := range op.Tags {
				if !tags[tag] {
					t.Errorf("%s: tag %q is not declared", where, tag)
				}
			}
			if op.Security != nil {
				checkSecurity(where, *op.Security)
			}
			if !strings.Contains(op.Description, op.XPermission) && !strings.Contains(op.Description, "**Access:**") {
				t.Errorf("%s: the description does not state the permission %s", where, op.XPermission)
			}
			public := op.XPermission == "public"
			if public != (op.Security != nil && len(*op.Security) == 0) {
				t.Errorf("%s: x-permission %s, but security %v", where, op.XPermission, op.Security)
			}

			// Parameters: resolved, well formed, each path template
			// declared, nothing declared twice.
			declared := map[string]bool{}
			hasInput := op.RequestBody != nil
			for i, p := range op.Parameters {
				p := d.param(p)
				if p == nil {
					t.Errorf("%s: parameter %d: unresolved $ref %s", where, i, op.Parameters[i].Ref)
					continue
				}
				if p.Name == "" || !slices.Contains([]string{"query", "header", "path", "cookie"}, p.In) || p.Schema == nil || p.Description == "" {
					t.Errorf("%s: parameter %d (%s): needs name, in, schema and description", where, i, p.Name)
				}
				if p.In == "path" && !p.Required {
					t.Errorf("%s: path parameter %s must be required", where, p.Name)
				}
				key := p.In + " " + p.Name
				if declared[key] {
					t.Errorf("%s: parameter %s declared twice", where, key)
				}
				declared[key] = true
				hasInput = hasInput || p.In != "header" // a refused CSRF token is a 403
			}
			for _, m := range oaPathParam.FindAllStringSubmatch(path, -1) {
				if !declared["path "+m[1]] {
					t.Errorf("%s: path parameter {%s} is not declared", where, m[1])
				}
				delete(declared, "path "+m[1])
			}
			for key := range declared {
				if strings.HasPrefix(key, "path ") {
					t.Errorf("%s: %s is not in the path", where, key)
				}
			}
			if op.RequestBody != nil && len(op.RequestBody.Content) == 0 {
				t.Errorf("%s: request body without content", where)
			}

			// Responses: resolved, described; errors in the error shape.
			if len(op.Responses) == 0 {
				t.Errorf("%s: no responses", where)
			}
			for code, r := range op.Responses {
				if !oaStatusKey.MatchString(code) {
					t.Errorf("%s: response key %q is not a status", where, code)
				}
				r := d.response(r)
				if r == nil {
					t.Errorf("%s: response %s: unresolved $ref", where, code)
					continue
				}
				if r.Description == "" {
					t.Errorf("%s: response %s needs a description", where, code)
				}
				if code >= "400" && path != "/readyz" { // which answers {"status": "unavailable"}
					if m := r.Content["application/json"]; m != nil && !strings.Contains(string(m.Schema), "#/components/schemas/Error") {
						t.Errorf("%s: response %s is JSON but not the Error schema", where, code)
					}
				}
			}
			// The errors every operation states: a principal refused
			// (except where authentication follows a WebSocket
			// upgrade), an input refused, and any other.
			want := []string{"default"}
			if !public && path != "/api/v1/ws" {
				want = append(want, "401", "403")
			}
			if hasInput {
				want = append(want, "400")
			}
			for _, code := range want {
				if op.Responses[code] == nil {
					t.Errorf("%s: no %s response", where, code)
				}
			}
		}
	}

	// Every schema compiles, at every place it is used.
	s := newOASchemas(t)
	n := 0
	s.walk(func(ptr, what string) {
		sp := ptr
		if what != "schema" {
			sp += "/schema"
			if s.at(sp) == nil {
				if what != "media" {
					t.Errorf("%s: %s without a schema", ptr, what)
				}
				return
			}
		}
		if _, err := s.schema(sp); err != nil {
			t.Errorf("%s: does not compile as JSON Schema 2020-12: %v", sp, err)
		}
		n++
	})
	if n < 50 {
		t.Errorf("compiled %d schemas; the walk missed some", n)
	}
}

// The Event schema is schema/event.schema.json's.
func TestOpenAPIEventSchema(t *testing.T) {
	t.Parallel()
	s := newOASchemas(t)
	var want, got any
	if err := json.Unmarshal(schema.EventJSON, &want); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(s.at("/components/schemas/Event"))
	json.Unmarshal(b, &got)
	for _, m := range []any{want, got} {
		m := m.(map[string]any)
		delete(m, "$schema")
		delete(m, "$id")
		delete(m, "description")
		delete(m, "examples")
	}
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	if string(gb) != strings.ReplaceAll(string(wb), `"#/$defs/`, `"#/components/schemas/Event/$defs/`) {
		t.Error("components.schemas.Event is not schema/event.schema.json")
	}
}

// Every registered GET route takes exactly the query parameters the
// document gives it: each documented one, with its example as the
// value, is not refused, and any other is refused with a 400 naming it.
func TestOpenAPIParameters(t *testing.T) {
	t.Parallel()
	srv, _ := newOpenAPIServer(t, nil)
	d := decodeOpenAPI(t)
	registered := map[string]bool{}
	for _, rt := range srv.routes {
		registered[rt.pattern] = true
	}
	examples := map[string]string{}
	for _, p := range d.Components.Parameters {
		if p.In == "query" && p.Example != nil {
			var v any
			json.Unmarshal(p.Example, &v)
			examples[p.Name] = fmt.Sprint(v)
		}
	}
	candidates := slices.Concat(FilterParams, slices.Sorted(maps.Keys(examples)), []string{"colour"})
	candidates = slices.Compact(slices.Sorted(slices.Values(candidates)))

	n := 0
	for path, item := range d.Paths {
		op := item["get"]
		if op == nil || path == "/api/v1/ws" || !registered["GET "+path] || slices.Contains(openapiTestedElsewhere, path) {
			continue // the WebSocket reads its parameters after the upgrade
		}
		documented := map[string]bool{}
		own := map[string]string{} // the operation's own examples, which win
		url := path
		for _, p := range op.Parameters {
			p := d.param(p)
			if p == nil {
				t.Fatalf("GET %s: a parameter's $ref does not resolve", path)
			}
			switch p.In {
			case "query":
				documented[p.Name] = true
				if p.Example != nil {
					var v any
					json.Unmarshal(p.Example, &v)
					own[p.Name] = fmt.Sprint(v)
				}
			case "path":
				var v any
				json.Unmarshal(p.Example, &v)
				url = strings.Replace(url, "{"+p.Name+"}", fmt.Sprint(v), 1)
			}
		}
		if len(documented) == 0 {
			continue
		}
		for _, name := range candidates {
			if name == "cursor" && documented[name] {
				continue // opaque: only the API makes one
			}
			value := cmp.Or(own[name], examples[name], "x")
			r := httptest.NewRequest("GET", url+"?"+name+"="+neturl.QueryEscape(value), nil)
			r.Header.Set("Authorization", "Bearer root")
			if path == "/api/v1/stream" {
				ctx, cancel := context.WithCancel(r.Context())
				cancel() // the stream ends at once
				r = r.WithContext(ctx)
			}
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			var e struct{ Error apiError }
			json.Unmarshal(w.Body.Bytes(), &e)
			refused := w.Code == http.StatusBadRequest && e.Error.Field == name
			switch {
			case documented[name] && refused:
				t.Errorf("GET %s: the documented parameter %s=%s is refused: %s", path, name, value, w.Body)
			case !documented[name] && !refused:
				t.Errorf("GET %s: %s=%s is not documented, yet answered %d (field %q), not a 400 naming it", path, name, value, w.Code, e.Error.Field)
			}
			n++
		}
	}
	if n < 100 {
		t.Errorf("probed %d parameters; want more", n)
	}
}

// openapiRoutePath splits a ServeMux pattern into the method and the
// path as OpenAPI writes it ({id...} as {id}).
func oaRoutePath(pattern string) (method, path string, ok bool) {
	method, path, ok = strings.Cut(pattern, " ")
	if !ok || !strings.HasPrefix(path, "/") {
		return "", "", false
	}
	return method, strings.ReplaceAll(path, "...}", "}"), true
}

// (b) Every registered route is in the document, with the permission it
// is registered with, and every path of the document is a registered
// route, or a pending one.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	s, _ := newOpenAPIServer(t, nil)
	d := decodeOpenAPI(t)

	documented := map[string]*oaOperation{}
	for path, item := range d.Paths {
		for method, op := range item {
			documented[strings.ToUpper(method)+" "+path] = op
		}
	}
	registered := map[string]bool{}
	for _, rt := range s.routes {
		method, path, ok := oaRoutePath(rt.pattern)
		if !ok {
			t.Errorf("route %q: a pattern without a method or with a host cannot be documented", rt.pattern)
			continue
		}
		key := method + " " + path
		registered[key] = true
		op := documented[key]
		if op == nil {
			t.Errorf("route %s is registered but not in openapi.json", key)
			continue
		}
		if want := oaPermission(rt.need); op.XPermission != want {
			t.Errorf("%s: openapi.json says x-permission %q, the route needs %q", key, op.XPermission, want)
		}
		if slices.Contains(openapiPending, key) {
			t.Errorf("%s is registered now: remove it from openapiPending", key)
		}
	}
	for key := range documented {
		if !registered[key] && !slices.Contains(openapiPending, key) {
			t.Errorf("%s is in openapi.json but is neither a registered route nor pending", key)
		}
	}
	for _, key := range openapiPending {
		if documented[key] == nil {
			t.Errorf("pending route %s is not in openapi.json", key)
		}
	}
}

// (c) Every example in the document is valid against its schema.
func TestOpenAPIExamples(t *testing.T) {
	t.Parallel()
	s := newOASchemas(t)
	n := 0
	check := func(schemaPtr, examplePtr string) {
		n++
		if err := s.validate(schemaPtr, s.at(examplePtr)); err != nil {
			t.Errorf("example %s is not valid against %s: %v", examplePtr, schemaPtr, err)
		}
	}
	s.walk(func(ptr, what string) {
		node := oaMap(s.at(ptr))
		switch what {
		case "schema":
			for i := range oaSlice(node["examples"]) {
				check(ptr, ptr+"/examples/"+strconv.Itoa(i))
			}
			return
		}
		if _, ok := node["schema"]; !ok {
			if node["example"] != nil || node["examples"] != nil {
				t.Errorf("%s: an example without a schema", ptr)
			}
			return
		}
		if _, ok := node["example"]; ok {
			check(ptr+"/schema", ptr+"/example")
		}
		for name := range oaMap(node["examples"]) {
			check(ptr+"/schema", ptr+"/examples/"+oaEsc(name)+"/value")
		}
	})
	if n < 40 {
		t.Errorf("checked %d examples; the walk missed some", n)
	}
}

// openapiAuth is the Authenticate of the live tests: "Bearer root" is
// a superuser, no credentials are nobody.
func openapiAuth(r *http.Request) (*activitylog.Principal, error) {
	switch BearerToken(r) {
	case "root":
		return &activitylog.Principal{ID: "root", Name: "Root", Permissions: []activitylog.Permission{activitylog.Superuser}, Method: "host"}, nil
	case "":
		return nil, nil
	}
	return nil, errors.New("unknown bearer token")
}

// newOpenAPIServer is the API over a real SQLite store and Recorder,
// with every optional route registered.
func newOpenAPIServer(t *testing.T, auth Authenticator) (*server, *activitylog.Recorder) {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := activitylog.NewRecorder(store, nil)
	bc := NewBroadcaster(store, nil)
	t.Cleanup(func() {
		bc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rec.Shutdown(ctx); err != nil {
			t.Errorf("shut down recorder: %v", err)
		}
		if err := store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	if auth == nil {
		auth = openapiAuth
	}
	h := New(store, rec, &Options{
		Authenticate: auth,
		Logger:       slog.New(slog.DiscardHandler),
		Audit:        rec,
		Stream:       &StreamOptions{Broadcaster: bc},
		Routes:       openapiRouteOptions(),
	})
	return h.(*server), rec
}

// (d) What the live handler answers is what the document says, for a
// representative set of requests.
func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	srv, rec := newOpenAPIServer(t, nil)
	d := decodeOpenAPI(t)
	s := newOASchemas(t)

	now := time.Now()
	id1, id2 := activitylog.NewID(now), activitylog.NewID(now)
	seed := []activitylog.Event{
		{
			ID: id1, Kind: activitylog.KindCRUD, Action: "update", Message: "order 7 paid", Tenant: "acme", Service: "shop",
			Actor:   activitylog.Actor{ID: "42", Name: "Ann", Email: "ann@acme.test", Extra: map[string]any{"role": "admin"}},
			Object:  activitylog.Object{Type: "order", ID: "7", Repr: "Order #7"},
			Changes: map[string]activitylog.Change{"status": {Old: "new", New: "paid"}, "total": {Old: 1.5, New: nil}},
			Request: activitylog.Request{RequestID: "r1", Method: "PATCH", Host: "shop.acme.test", Path: "/orders/7", Route: "PATCH /orders/{id}",
				RemoteIP: "2001:db8::1", UserAgent: "Mozilla/5.0", Geo: activitylog.Geo{Country: "Germany", CountryCode: "DE", City: "Berlin", Lat: 52.5, Lon: 13.4},
				Headers: map[string]string{"Accept": "*/*"}},
			Response: activitylog.Response{Status: 200, Duration: 1834000, RequestBytes: 17, ResponseBytes: 312},
			Tool:     "cli", Category: "billing", Extra: map[string]any{"k": []any{1, "x"}},
		},
		{ID: id2, Kind: activitylog.KindSystem, Action: "error", Message: "disk full"},
		{Kind: activitylog.KindSystem, Action: "error", Severity: activitylog.SeverityCritical, Message: "out of memory"},
		{Kind: activitylog.KindRequest, Action: "GET", Actor: activitylog.Actor{ID: "42", Name: "Ann"},
			Request:  activitylog.Request{Method: "GET", Path: "/orders/7", Route: "GET /orders/{id}", RemoteIP: "203.0.113.7"},
			Response: activitylog.Response{Status: 502, Duration: 3 * time.Second}},
		{Kind: activitylog.KindRequest, Action: "GET",
			Request:  activitylog.Request{Method: "GET", Path: "/orders/8", Route: "GET /orders/{id}"},
			Response: activitylog.Response{Status: 404, Duration: time.Millisecond}},
	}
	for range 2 {
		seed = append(seed, activitylog.Event{Kind: activitylog.KindAuth, Action: activitylog.ActionLoginFailed,
			Request: activitylog.Request{RemoteIP: "198.51.100.9"}, Extra: map[string]any{"username": "Ann"}})
	}
	if err := rec.Commit(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	unknown := activitylog.NewID(now.Add(time.Hour))

	calls := []struct {
		name                     string
		method, url, ctype, body string
		anonymous                bool
		cancelled                bool // the client has gone: a stream ends at once
		want                     int
		field                    string // of a 400's error
	}{
		{name: "list", url: "/api/v1/events", want: 200},
		{name: "list, paged", url: "/api/v1/events?page_size=1&ordering=time", want: 200},
		{name: "list, bad page_size", url: "/api/v1/events?page_size=5000", want: 400, field: "page_size"},
		{name: "list, unknown parameter", url: "/api/v1/events?colour=red", want: 400, field: "colour"},
		{name: "list, anonymous", url: "/api/v1/events", anonymous: true, want: 401},
		{name: "get", url: "/api/v1/events/" + id1.String(), want: 200},
		{name: "get, unknown", url: "/api/v1/events/" + unknown.String(), want: 404},
		{name: "get, not a UUID", url: "/api/v1/events/nope", want: 400, field: "id"},
		{name: "object history", url: "/api/v1/objects/order/7/events", want: 200},
		{name: "object history, conflict", url: "/api/v1/objects/order/7/events?object_type=invoice", want: 400, field: "object_type"},
		{name: "export json", url: "/api/v1/events/export?format=json", want: 200},
		{name: "export csv", url: "/api/v1/events/export", want: 200},
		{name: "export, bad format", url: "/api/v1/events/export?format=pdf", want: 400, field: "format"},
		{name: "ingest", method: "POST", url: "/api/v1/events", ctype: "application/json",
			body: `[{"kind":"auth","action":"login","actor":{"id":"42","name":"Ann"},"request":{"remote_ip":"203.0.113.7"}},{"kind":"custom","action":"x"}]`, want: 201},
		{name: "ingest ndjson", method: "POST", url: "/api/v1/events", ctype: "application/x-ndjson", body: "{\"kind\":\"custom\",\"action\":\"y\"}\n", want: 201},
		{name: "ingest, bad kind", method: "POST", url: "/api/v1/events", ctype: "application/json", body: `{"kind":"crudd","action":"x"}`, want: 400, field: "events[0].kind"},
		{name: "ingest, bad media type", method: "POST", url: "/api/v1/events", ctype: "text/plain", body: `{}`, want: 415},
		{name: "ingest, anonymous", method: "POST", url: "/api/v1/events", ctype: "application/json", body: `{}`, anonymous: true, want: 401},
		{name: "resolution, not resolved", url: "/api/v1/events/" + id2.String() + "/resolution", want: 404},
		{name: "resolve", method: "POST", url: "/api/v1/events/" + id2.String() + "/resolve", ctype: "application/json", body: `{"note":"freed 20 GiB"}`, want: 200},
		{name: "resolve, unknown field", method: "POST", url: "/api/v1/events/" + id2.String() + "/resolve", ctype: "application/json", body: `{"resolved_at":"x"}`, want: 400, field: "resolved_at"},
		{name: "resolve, unknown event", method: "POST", url: "/api/v1/events/" + unknown.String() + "/resolve", ctype: "application/json", body: `{}`, want: 404},
		{name: "resolution", url: "/api/v1/events/" + id2.String() + "/resolution", want: 200},
		{name: "stream", url: "/api/v1/stream?kind=crud", cancelled: true, want: 200},
		{name: "stream, refused parameter", url: "/api/v1/stream?ordering=time", want: 400, field: "ordering"},
		{name: "stream, anonymous", url: "/api/v1/stream", anonymous: true, want: 401},
		{name: "kind list", url: "/api/v1/crud-events?object_type=order", want: 200},
		{name: "kind list, field of another kind", url: "/api/v1/crud-events?severity=error", want: 400, field: "severity"},
		{name: "kind get", url: "/api/v1/crud-events/" + id1.String(), want: 200},
		{name: "kind get, other kind", url: "/api/v1/system-events/" + id1.String(), want: 404},
		{name: "kind export", url: "/api/v1/system-events/export?format=json", want: 200},
		{name: "failed logins", url: "/api/v1/login-events/failed", want: 200},
		{name: "failed logins, other action", url: "/api/v1/login-events/failed?action=login", want: 400, field: "action"},
		{name: "brute-force suspects", url: "/api/v1/login-events/brute-force-suspects?threshold=1&window_hours=24", want: 200},
		{name: "slow requests", url: "/api/v1/request-events/slow?threshold_ms=1", want: 200},
		{name: "error rates", url: "/api/v1/request-events/error-rates?hours=2", want: 200},
		{name: "error rates, bad hours", url: "/api/v1/request-events/error-rates?hours=0", want: 400, field: "hours"},
		{name: "critical", url: "/api/v1/system-events/critical", want: 200},
		{name: "dashboard", url: "/api/v1/dashboard?hours=2", want: 200},
		{name: "summary", url: "/api/v1/summary?user_id=42", want: 200},
		{name: "summary, anonymous", url: "/api/v1/summary", anonymous: true, want: 401},
		{name: "me", url: "/api/v1/me", want: 200},
		{name: "me, anonymous", url: "/api/v1/me", anonymous: true, want: 401},
		{name: "healthz", url: "/healthz", anonymous: true, want: 200},
		{name: "readyz", url: "/readyz", anonymous: true, want: 200},
		{name: "openapi.json", url: "/api/v1/openapi.json", anonymous: true, want: 200},
	}
	for _, c := range calls {
		method := c.method
		if method == "" {
			method = "GET"
		}
		r := httptest.NewRequest(method, c.url, strings.NewReader(c.body))
		if c.ctype != "" {
			r.Header.Set("Content-Type", c.ctype)
		}
		if !c.anonymous {
			r.Header.Set("Authorization", "Bearer root")
		}
		if c.cancelled {
			ctx, cancel := context.WithCancel(r.Context())
			cancel()
			r = r.WithContext(ctx)
		}
		_, pattern := srv.mux.Handler(r)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s: %s %s: status %d, want %d: %s", c.name, method, c.url, w.Code, c.want, w.Body)
			continue
		}
		if err := oaCheckResponse(d, s, pattern, w); err != nil {
			t.Errorf("%s: %s %s: %d: %v", c.name, method, c.url, w.Code, err)
		}
		if c.field != "" {
			var e struct{ Error apiError }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Field != c.field {
				t.Errorf("%s: the error names field %q, want %q", c.name, e.Error.Field, c.field)
			}
		}
	}
}

// checkOpenAPIResponse checks w, the answer of the route pattern,
// against the document: its status (or default) is documented, its
// media type too, the required headers are there, and a JSON body is
// valid against the schema.
func oaCheckResponse(d *oaDoc, s *oaSchemaSet, pattern string, w *httptest.ResponseRecorder) error {
	method, path, ok := oaRoutePath(pattern)
	if !ok {
		return fmt.Errorf("no route matched (pattern %q)", pattern)
	}
	m := strings.ToLower(method)
	op := d.Paths[path][m]
	if op == nil {
		return fmt.Errorf("%s %s is not in the document", method, path)
	}
	code := strconv.Itoa(w.Code)
	if op.Responses[code] == nil {
		code = "default"
	}
	if op.Responses[code] == nil {
		return fmt.Errorf("status %d is not documented", w.Code)
	}
	ptr := s.follow("/paths/" + oaEsc(path) + "/" + m + "/responses/" + code)
	resp := d.response(op.Responses[code])
	for name, h := range resp.Headers {
		if h.Required && w.Header().Get(name) == "" {
			return fmt.Errorf("the required header %s is missing", name)
		}
	}
	mt, _, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("Content-Type %q: %v", w.Header().Get("Content-Type"), err)
	}
	media := resp.Content[mt]
	if media == nil {
		return fmt.Errorf("media type %s is not documented for %s", mt, code)
	}
	if mt != "application/json" || media.Schema == nil {
		return nil
	}
	body, err := jsonschema.UnmarshalJSON(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		return fmt.Errorf("the body is not JSON: %v", err)
	}
	if err := s.validate(ptr+"/content/"+oaEsc(mt)+"/schema", body); err != nil {
		return fmt.Errorf("the body does not match the documented schema: %v\nbody: %.2000s", err, w.Body)
	}
	return nil
}

// (e) The document is served as embedded, to anyone, as JSON.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	srv, _ := newOpenAPIServer(t, nil)
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"with authentication", srv},
		{"without any Authenticate", New(store, nil, &Options{Logger: slog.New(slog.DiscardHandler)})},
	} {
		r := httptest.NewRequest("GET", "/api/v1/openapi.json", nil)
		w := httptest.NewRecorder()
		c.h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d, want 200: %s", c.name, w.Code, w.Body)
		}
		if got := w.Header().Get("Content-Type"); got != "application/json" {
			t.Errorf("%s: Content-Type %q, want application/json", c.name, got)
		}
		if !bytes.Equal(w.Body.Bytes(), openapiJSON) {
			t.Errorf("%s: the body is not the embedded openapi.json", c.name)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Errorf("%s: the body is not JSON", c.name)
		}

		// A client that has the document already revalidates it.
		r = httptest.NewRequest("GET", "/api/v1/openapi.json", nil)
		r.Header.Set("If-None-Match", w.Header().Get("ETag"))
		w = httptest.NewRecorder()
		c.h.ServeHTTP(w, r)
		if w.Code != http.StatusNotModified {
			t.Errorf("%s: If-None-Match with the ETag: status %d, want 304", c.name, w.Code)
		}
	}
	// The other routes still need credentials.
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/events", nil))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/events without credentials: status %d, want 401", w.Code)
	}
}
