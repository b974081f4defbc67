package eventjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/jsonenc"
)

// Spans says where the changes and extra objects lie in the buffer
// Append returned: b[Changes[0]:Changes[1]] is the JSON object of the
// event's changes, offsets into the whole buffer, prefix included; both
// 0 when the event has none (Append leaves out an empty map).
type Spans struct{ Changes, Extra [2]int }

// Append appends the JSON document of e to b, the bytes encoding/json
// would write. When sp is not nil it records where changes and extra
// lie. An error is an *Error, and what was appended before it is left
// in b.
func Append(b []byte, e *activitylog.Event, sp *Spans) ([]byte, error) {
	if sp != nil {
		*sp = Spans{}
	}
	b = append(b, `{"id":"`...)
	b, _ = e.ID.AppendText(b)
	b = append(b, `","time":`...)
	var err error
	if b, err = appendTime(b, e.Time); err != nil {
		return b, &Error{path: []string{"time"}, Value: e.Time.String(), Err: err}
	}
	b = appendKey(b, "kind", true)
	b = appendString(b, string(e.Kind))
	b = appendKey(b, "action", true)
	b = appendString(b, e.Action)
	b = appendKey(b, "severity", true)
	b = appendString(b, string(e.Severity))
	if b, err = appendOptional(b, e, sp); err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

// AppendOptional appends e's optional fields as one JSON object: the
// document Append writes, without the five fields Append always writes
// (id, time, kind, action and severity). It is for a store that keeps
// those five, and any others it empties in a copy of e, in columns of
// their own, and the rest of the event as a document. An error is an
// *Error, as Append's.
func AppendOptional(b []byte, e *activitylog.Event) ([]byte, error) {
	n := len(b)
	b = append(b, '{')
	b, err := appendOptional(b, e, nil)
	if err != nil {
		return b, err
	}
	if len(b) > n+1 { // every field came with a comma before it: drop the first
		copy(b[n+1:], b[n+2:])
		b = b[:len(b)-1]
	}
	return append(b, '}'), nil
}

// appendOptional appends the fields of e's document that follow
// severity, each with a comma before it, recording spans in sp when
// it is not nil.
func appendOptional(b []byte, e *activitylog.Event, sp *Spans) ([]byte, error) {
	var err error
	b = appendStr(b, "message", e.Message, false)
	b = appendStr(b, "tenant", e.Tenant, false)
	b = appendStr(b, "service", e.Service, false)
	if a := &e.Actor; a.ID != "" || a.Name != "" || a.Email != "" || a.Type != "" || a.Extra != nil {
		b = append(b, `,"actor":{`...)
		n := len(b)
		b = appendStr(b, "id", a.ID, true)
		b = appendStr(b, "name", a.Name, len(b) == n)
		b = appendStr(b, "email", a.Email, len(b) == n)
		b = appendStr(b, "type", string(a.Type), len(b) == n)
		if len(a.Extra) > 0 {
			b = appendKey(b, "extra", len(b) != n)
			if b, err = appendMap(b, a.Extra, 0); err != nil {
				return b, inField(inField(err, "extra"), "actor")
			}
		}
		b = append(b, '}')
	}
	if o := &e.Object; *o != (activitylog.Object{}) {
		b = append(b, `,"object":{`...)
		b = appendStr(b, "type", o.Type, true)
		b = appendStr(b, "id", o.ID, o.Type == "")
		b = appendStr(b, "repr", o.Repr, o.Type == "" && o.ID == "")
		b = append(b, '}')
	}
	if len(e.Changes) > 0 {
		b = append(b, `,"changes":`...)
		if sp != nil {
			sp.Changes[0] = len(b)
		}
		b = append(b, '{')
		for i, k := range sortedKeys(e.Changes) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			c := e.Changes[k]
			b = append(b, `:{"old":`...)
			if b, err = appendValue(b, c.Old, 1); err != nil {
				return b, inField(inField(inField(err, "old"), k), "changes")
			}
			b = append(b, `,"new":`...)
			if b, err = appendValue(b, c.New, 1); err != nil {
				return b, inField(inField(inField(err, "new"), k), "changes")
			}
			b = append(b, '}')
		}
		b = append(b, '}')
		if sp != nil {
			sp.Changes[1] = len(b)
		}
	}
	if !requestIsZero(&e.Request) {
		if b, err = appendRequest(b, &e.Request); err != nil {
			return b, inField(err, "request")
		}
	}
	if r := &e.Response; r.Status != 0 || r.Duration != 0 || r.RequestBytes != 0 || r.ResponseBytes != 0 ||
		r.Headers != nil || r.Body != "" {
		b = append(b, `,"response":{`...)
		n := len(b)
		b = appendInt(b, "status", int64(r.Status), len(b) == n)
		b = appendInt(b, "duration_ns", int64(r.Duration), len(b) == n)
		b = appendInt(b, "request_bytes", r.RequestBytes, len(b) == n)
		b = appendInt(b, "response_bytes", r.ResponseBytes, len(b) == n)
		if len(r.Headers) > 0 {
			b = appendKey(b, "headers", len(b) != n)
			b = appendStringMap(b, r.Headers)
		}
		b = appendStr(b, "body", r.Body, len(b) == n)
		b = append(b, '}')
	}
	b = appendStr(b, "tool", e.Tool, false)
	b = appendStr(b, "category", e.Category, false)
	if len(e.Extra) > 0 {
		b = append(b, `,"extra":`...)
		start := len(b)
		if b, err = appendMap(b, e.Extra, 0); err != nil {
			return b, inField(err, "extra")
		}
		if sp != nil {
			sp.Extra = [2]int{start, len(b)}
		}
	}
	return b, nil
}

func requestIsZero(r *activitylog.Request) bool {
	return r.RequestID == "" && r.TraceID == "" && r.SpanID == "" && r.Method == "" && r.Host == "" &&
		r.Path == "" && r.Route == "" && r.Query == "" && r.RemoteIP == "" && r.UserAgent == "" &&
		r.Browser == "" && r.Platform == "" && r.OS == "" && r.Device == "" && r.Origin == "" &&
		r.Referer == "" && geoIsZero(&r.Geo) && r.Headers == nil && r.Body == ""
}

// geoIsZero is reflect.Value.IsZero, which encoding/json's omitzero
// uses; for a comparable struct that is ==, so -0.0 counts as zero.
func geoIsZero(g *activitylog.Geo) bool { return *g == activitylog.Geo{} }

func appendRequest(b []byte, r *activitylog.Request) ([]byte, error) {
	b = append(b, `,"request":{`...)
	n := len(b)
	for _, f := range [...]struct{ k, v string }{
		{"request_id", r.RequestID}, {"trace_id", r.TraceID}, {"span_id", r.SpanID},
		{"method", r.Method}, {"host", r.Host}, {"path", r.Path}, {"route", r.Route},
		{"query", r.Query}, {"remote_ip", r.RemoteIP}, {"user_agent", r.UserAgent},
		{"browser", r.Browser}, {"platform", r.Platform}, {"os", r.OS}, {"device", r.Device},
		{"origin", r.Origin}, {"referer", r.Referer},
	} {
		b = appendStr(b, f.k, f.v, len(b) == n)
	}
	if g := &r.Geo; !geoIsZero(g) {
		b = appendKey(b, "geo", len(b) != n)
		b = append(b, '{')
		m := len(b)
		b = appendStr(b, "country", g.Country, true)
		b = appendStr(b, "country_code", g.CountryCode, len(b) == m)
		b = appendStr(b, "city", g.City, len(b) == m)
		var err error
		for _, f := range [...]struct {
			k string
			v float64
		}{{"lat", g.Lat}, {"lon", g.Lon}} {
			if f.v != 0 {
				b = appendKey(b, f.k, len(b) != m)
				if b, err = appendFloat(b, f.v); err != nil {
					return b, inField(inField(err, f.k), "geo")
				}
			}
		}
		b = append(b, '}')
	}
	if len(r.Headers) > 0 {
		b = appendKey(b, "headers", len(b) != n)
		b = appendStringMap(b, r.Headers)
	}
	b = appendStr(b, "body", r.Body, len(b) == n)
	return append(b, '}'), nil
}

// appendKey appends `,"key":`, or `"key":` when first.
func appendKey(b []byte, key string, comma bool) []byte {
	if comma {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendStr appends an omitempty string field; first says no field
// precedes it in its object.
func appendStr(b []byte, key, v string, first bool) []byte {
	if v == "" {
		return b
	}
	b = appendKey(b, key, !first)
	return appendString(b, v)
}

// appendInt appends an omitempty integer field.
func appendInt(b []byte, key string, v int64, first bool) []byte {
	if v == 0 {
		return b
	}
	b = appendKey(b, key, !first)
	return strconv.AppendInt(b, v, 10)
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	b, err := t.AppendText(b) // RFC 3339 with nanoseconds, as Time.MarshalJSON
	if err != nil {
		return b, err
	}
	return append(b, '"'), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendStringMap(b []byte, m map[string]string) []byte {
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

// maxDepth bounds the nesting of maps and slices in any-typed values,
// so that a map that contains itself fails instead of recursing
// forever (encoding/json fails on it too).
const maxDepth = 1000

var errDepth = errors.New("is nested too deeply, or contains itself")

// An Error says where in an event a value could not be encoded. It is
// built as the error returns, so the path is innermost first.
type Error struct {
	path  []string // field names and map keys, innermost first
	Value string   // the value, as far as it can be shown
	Err   error    // why it could not be encoded
}

func (e *Error) Error() string { return e.Field() + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Field returns the path, outermost first, e.g. "extra.price".
func (e *Error) Field() string {
	p := slices.Clone(e.path)
	slices.Reverse(p)
	return strings.Join(p, ".")
}

// inField adds a field name or map key to err's path.
func inField(err error, name string) error {
	if e, ok := err.(*Error); ok {
		e.path = append(e.path, name)
		return e
	}
	return &Error{path: []string{name}, Err: err}
}

func appendMap(b []byte, m map[string]any, depth int) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	if depth > maxDepth {
		return b, &Error{Value: "map", Err: errDepth}
	}
	b = append(b, '{')
	var err error
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		if b, err = appendValue(b, m[k], depth+1); err != nil {
			if depth < 16 { // a cycle's path would be long and say nothing
				err = inField(err, k)
			}
			return b, err
		}
	}
	return append(b, '}'), nil
}

// appendValue appends v as encoding/json would.
func appendValue(b []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case float64:
		return appendFloat(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case map[string]any:
		return appendMap(b, v, depth)
	case []any:
		if v == nil {
			return append(b, "null"...), nil
		}
		if depth > maxDepth {
			return b, &Error{Value: "array", Err: errDepth}
		}
		b = append(b, '[')
		var err error
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, x, depth+1); err != nil {
				if depth < 16 {
					err = inField(err, strconv.Itoa(i))
				}
				return b, err
			}
		}
		return append(b, ']'), nil
	case []string:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return b, &Error{Value: fmt.Sprintf("%T", v), Err: err}
	}
	return append(b, j...), nil
}

// appendFloat formats f as encoding/json does for a float64.
func appendFloat(b []byte, f float64) ([]byte, error) {
	b, ok := jsonenc.AppendFloat(b, f)
	if !ok {
		return b, &Error{Value: strconv.FormatFloat(f, 'g', -1, 64), Err: errors.New("is not a JSON number")}
	}
	return b, nil
}

// appendString appends s as a JSON string the way encoding/json does.
func appendString(b []byte, s string) []byte { return jsonenc.AppendString(b, s) }
