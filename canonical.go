package activitylog

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CanonicalVersion is the version of the canonical encoding that
// AppendCanonical writes. The encoded bytes carry it, as the member
// "v", so a hash over them commits to the version too. Any change to
// the bytes that AppendCanonical makes of some event is a new version,
// never a silent change: see docs/integrity.md.
const CanonicalVersion = 1

// Canonical returns the canonical encoding of e; see AppendCanonical.
func Canonical(e *Event) ([]byte, error) {
	return AppendCanonical(make([]byte, 0, 1024), e)
}

// AppendCanonical appends the canonical encoding of e to dst and returns
// the extended buffer. The canonical encoding is the one byte-exact form
// of an event, which the integrity chain hashes; docs/integrity.md
// defines it so that it can be reimplemented elsewhere. In short: the
// event's JSON form (docs/event-schema.md) with the member "v" set to
// CanonicalVersion, serialized by RFC 8785 (JSON Canonicalization
// Scheme); the time in UTC with exactly nine fractional digits; integer
// fields as exact integers; every empty or zero field left out,
// including an object left with no members.
//
// An event and the event decoded from its JSON form, by encoding/json
// or by a store, have the same canonical encoding, whatever the time
// zone of its time and whether its any-typed values were built in Go
// (an int, a struct) or decoded (a float64, a map[string]any): values
// are encoded as what their JSON form decodes to.
//
// AppendCanonical does not validate e (Validate does). It fails only
// for an event whose JSON form cannot be made or read back: a NaN or an
// infinity, a time outside the years 0 to 9999, a value encoding/json
// refuses (a channel, a func) or nesting deeper than 1000 in an
// any-typed field. The error is then a *FieldError that names the
// field, such as "extra.price", and dst is returned unchanged.
//
// It is safe for concurrent use, as long as nothing modifies e.
func AppendCanonical(dst []byte, e *Event) ([]byte, error) {
	n := len(dst)
	b, err := appendCanonical(dst, e)
	if err != nil {
		return dst[:n], err.fieldError()
	}
	return b, nil
}

// appendCanonical writes the members of each object in their canonical
// order, which for these ASCII names is byte order; the test holds it
// to a generic JCS serializer.
func appendCanonical(b []byte, e *Event) ([]byte, *canonError) {
	var err *canonError
	b = append(b, `{"action":`...)
	b = appendCanonString(b, e.Action)
	if !actorEmpty(&e.Actor) {
		b = append(b, `,"actor":`...)
		if b, err = appendCanonActor(b, &e.Actor); err != nil {
			return b, err.in("actor")
		}
	}
	b = appendCanonStr(b, false, "category", e.Category)
	if len(e.Changes) > 0 {
		b = append(b, `,"changes":`...)
		if b, err = appendCanonChanges(b, e.Changes); err != nil {
			return b, err.in("changes")
		}
	}
	if len(e.Extra) > 0 {
		b = append(b, `,"extra":`...)
		if b, err = appendCanonMap(b, e.Extra, 0); err != nil {
			return b, err.in("extra")
		}
	}
	b = append(b, `,"id":"`...)
	var id [36]byte
	e.ID.encode(id[:])
	b = append(b, id[:]...)
	b = append(b, `","kind":`...)
	b = appendCanonString(b, string(e.Kind))
	b = appendCanonStr(b, false, "message", e.Message)
	if o := &e.Object; *o != (Object{}) {
		b = append(b, `,"object":{`...)
		start := len(b)
		b = appendCanonStr(b, true, "id", o.ID)
		b = appendCanonStr(b, len(b) == start, "repr", o.Repr)
		b = appendCanonStr(b, len(b) == start, "type", o.Type)
		b = append(b, '}')
	}
	if !requestEmpty(&e.Request) {
		b = append(b, `,"request":`...)
		if b, err = appendCanonRequest(b, &e.Request); err != nil {
			return b, err.in("request")
		}
	}
	if r := &e.Response; !responseEmpty(r) {
		b = append(b, `,"response":{`...)
		start := len(b)
		b = appendCanonStr(b, true, "body", r.Body)
		b = appendCanonInt(b, len(b) == start, "duration_ns", int64(r.Duration))
		if len(r.Headers) > 0 {
			b = appendCanonName(b, len(b) == start, "headers")
			b = appendCanonStringMap(b, r.Headers)
		}
		b = appendCanonInt(b, len(b) == start, "request_bytes", r.RequestBytes)
		b = appendCanonInt(b, len(b) == start, "response_bytes", r.ResponseBytes)
		b = appendCanonInt(b, len(b) == start, "status", int64(r.Status))
		b = append(b, '}')
	}
	b = appendCanonStr(b, false, "service", e.Service)
	b = append(b, `,"severity":`...)
	b = appendCanonString(b, string(e.Severity))
	b = appendCanonStr(b, false, "tenant", e.Tenant)
	b = append(b, `,"time":`...)
	var ok bool
	if b, ok = appendCanonTime(b, e.Time); !ok {
		return b, &canonError{path: []string{"time"}, value: e.Time.UTC().Format(time.RFC3339Nano), reason: "must be between the years 0 and 9999"}
	}
	b = appendCanonStr(b, false, "tool", e.Tool)
	b = append(b, `,"v":`...)
	b = strconv.AppendInt(b, CanonicalVersion, 10)
	return append(b, '}'), nil
}

func actorEmpty(a *Actor) bool {
	return a.ID == "" && a.Name == "" && a.Email == "" && a.Type == "" && len(a.Extra) == 0
}

func geoEmpty(g *Geo) bool {
	return g.Country == "" && g.CountryCode == "" && g.City == "" && g.Lat == 0 && g.Lon == 0
}

func requestEmpty(r *Request) bool {
	return r.RequestID == "" && r.TraceID == "" && r.SpanID == "" && r.Method == "" && r.Host == "" &&
		r.Path == "" && r.Route == "" && r.Query == "" && r.RemoteIP == "" && r.UserAgent == "" &&
		r.Browser == "" && r.Platform == "" && r.OS == "" && r.Device == "" && r.Origin == "" &&
		r.Referer == "" && geoEmpty(&r.Geo) && len(r.Headers) == 0 && r.Body == ""
}

func responseEmpty(r *Response) bool {
	return r.Status == 0 && r.Duration == 0 && r.RequestBytes == 0 && r.ResponseBytes == 0 &&
		len(r.Headers) == 0 && r.Body == ""
}

func appendCanonActor(b []byte, a *Actor) ([]byte, *canonError) {
	b = append(b, '{')
	start := len(b)
	b = appendCanonStr(b, true, "email", a.Email)
	if len(a.Extra) > 0 {
		b = appendCanonName(b, len(b) == start, "extra")
		var err *canonError
		if b, err = appendCanonMap(b, a.Extra, 0); err != nil {
			return b, err.in("extra")
		}
	}
	b = appendCanonStr(b, len(b) == start, "id", a.ID)
	b = appendCanonStr(b, len(b) == start, "name", a.Name)
	b = appendCanonStr(b, len(b) == start, "type", string(a.Type))
	return append(b, '}'), nil
}

func appendCanonRequest(b []byte, r *Request) ([]byte, *canonError) {
	b = append(b, '{')
	start := len(b)
	b = appendCanonStr(b, true, "body", r.Body)
	b = appendCanonStr(b, len(b) == start, "browser", r.Browser)
	b = appendCanonStr(b, len(b) == start, "device", r.Device)
	if g := &r.Geo; !geoEmpty(g) {
		b = appendCanonName(b, len(b) == start, "geo")
		b = append(b, '{')
		gstart := len(b)
		b = appendCanonStr(b, true, "city", g.City)
		b = appendCanonStr(b, len(b) == gstart, "country", g.Country)
		b = appendCanonStr(b, len(b) == gstart, "country_code", g.CountryCode)
		for _, f := range [...]struct {
			name string
			v    float64
		}{{"lat", g.Lat}, {"lon", g.Lon}} {
			if f.v == 0 {
				continue
			}
			b = appendCanonName(b, len(b) == gstart, f.name)
			var ok bool
			if b, ok = appendCanonFloat(b, f.v); !ok {
				return b, (&canonError{value: nonFinite(f.v), reason: errNotFinite}).in(f.name).in("geo")
			}
		}
		b = append(b, '}')
	}
	if len(r.Headers) > 0 {
		b = appendCanonName(b, len(b) == start, "headers")
		b = appendCanonStringMap(b, r.Headers)
	}
	for _, f := range [...]struct{ name, v string }{
		{"host", r.Host}, {"method", r.Method}, {"origin", r.Origin}, {"os", r.OS},
		{"path", r.Path}, {"platform", r.Platform}, {"query", r.Query}, {"referer", r.Referer},
		{"remote_ip", r.RemoteIP}, {"request_id", r.RequestID}, {"route", r.Route},
		{"span_id", r.SpanID}, {"trace_id", r.TraceID}, {"user_agent", r.UserAgent},
	} {
		b = appendCanonStr(b, len(b) == start, f.name, f.v)
	}
	return append(b, '}'), nil
}

// appendCanonName appends `"name":`, preceded by a comma unless first.
// Names are the event's own ASCII member names, which need no escape.
func appendCanonName(b []byte, first bool, name string) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// appendCanonStr appends a string member, or nothing when v is empty.
func appendCanonStr(b []byte, first bool, name, v string) []byte {
	if v == "" {
		return b
	}
	return appendCanonString(appendCanonName(b, first, name), v)
}

// appendCanonInt appends an integer member, or nothing when v is 0.
// Integer fields are written exactly, even beyond 2^53.
func appendCanonInt(b []byte, first bool, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendInt(appendCanonName(b, first, name), v, 10)
}

// appendCanonTime appends t in UTC as RFC 3339 with nine fractional
// digits, e.g. "2026-01-02T03:04:05.000000000Z". It reports false for a
// year outside 0 to 9999, which RFC 3339 cannot write.
func appendCanonTime(b []byte, t time.Time) ([]byte, bool) {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return b, false
	}
	hour, minute, sec := t.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond(), 9)
	return append(b, 'Z', '"'), true
}

// appendDigits appends v, which is not negative, as exactly n decimal
// digits.
func appendDigits(b []byte, v, n int) []byte {
	var d [9]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}

// appendCanonString appends s as a JCS string (RFC 8785 §3.2.2.2): only
// '"', '\\' and U+0000 to U+001F are escaped, the last as \b, \f, \n,
// \r, \t or \u00xx with lower-case hex; everything else is written as
// UTF-8. A byte that is not part of valid UTF-8 is written as U+FFFD,
// one for each such byte, which is what the JSON form decodes to.
func appendCanonString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while none needs a look.
		for i+8 <= len(s) && canonPlain8(uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
			uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if !canonEscape[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', canonHex[c>>4], canonHex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// canonPlain8 reports whether the eight bytes of w are ASCII that a
// JCS string writes as they are: none has its top bit set, is below
// 0x20, or is '"' or '\\'. With every byte below 0x80, subtracting
// 0x20 (or 1 from the byte XORed with '"' or '\\') from each byte sets
// a top bit, or borrows from the next byte, only if some byte is below
// 0x20 (or equal to '"' or '\\'), so "any top bit set" is exact.
func canonPlain8(w uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	q, bs := w^(lsb*'"'), w^(lsb*'\\')
	return (w|(w-lsb*0x20)|(q-lsb)|(bs-lsb))&msb == 0
}

const canonHex = "0123456789abcdef"

// canonEscape marks the ASCII bytes that a JCS string escapes.
var canonEscape = func() (t [utf8.RuneSelf]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// toValidUTF8 replaces each byte of s that is not part of valid UTF-8
// by U+FFFD, as encoding/json does (strings.ToValidUTF8 would replace a
// run of them by one).
func toValidUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// appendCanonFloat appends f as ECMAScript's Number.prototype.toString
// writes it (RFC 8785 §3.2.2.3): the shortest digits that read back as
// f, in fixed notation from 1e-6 up to 1e21 and in exponent notation
// (1e+21, 1.5e-7) outside; -0 is 0. It reports false for NaN and the
// infinities, which JSON cannot hold.
func appendCanonFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	if f == 0 {
		return append(b, '0'), true
	}
	abs := math.Abs(f)
	if abs <= 1<<53 && f == math.Trunc(f) {
		return strconv.AppendInt(b, int64(f), 10), true
	}
	// strconv's shortest digits are ECMAScript's; only the notation
	// differs: strconv writes at least two exponent digits (1e-07).
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.AppendFloat(b, f, 'f', -1, 64), true
	}
	b = strconv.AppendFloat(b, f, 'e', -1, 64)
	if n := len(b); b[n-4] == 'e' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b, true
}

const errNotFinite = "is not a finite number, which JSON cannot hold"

func nonFinite(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// maxCanonDepth bounds the nesting of any-typed values, as the stores
// do, so that a map that contains itself fails instead of recursing
// forever.
const maxCanonDepth = 1000

// appendCanonValue appends v, a value of an any-typed field, as what
// its JSON form decodes to: numbers as float64 (so an integer beyond
// 2^53 becomes the nearest float64, as decoding makes it), strings with
// invalid UTF-8 replaced, and other types through encoding/json.
func appendCanonValue(b []byte, v any, depth int) ([]byte, *canonError) {
	var f float64
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendCanonString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case float64:
		f = v
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case int32:
		f = float64(v)
	case int16:
		f = float64(v)
	case int8:
		f = float64(v)
	case uint:
		f = float64(v)
	case uint64:
		f = float64(v)
	case uint32:
		f = float64(v)
	case uint16:
		f = float64(v)
	case uint8:
		f = float64(v)
	case float32:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return b, &canonError{value: nonFinite(float64(v)), reason: errNotFinite}
		}
		// encoding/json writes a float32 by its own shortest digits,
		// which decode to this float64.
		var d [32]byte
		f, _ = strconv.ParseFloat(string(strconv.AppendFloat(d[:0], float64(v), 'g', -1, 32)), 64)
	case json.Number:
		var ok bool
		if f, ok = numberValue(v); !ok {
			return b, &canonError{value: truncate(string(v), 32), reason: "is not a JSON number, or not one a float64 can hold"}
		}
	case map[string]any:
		return appendCanonMap(b, v, depth)
	case []any:
		if v == nil {
			return append(b, "null"...), nil
		}
		if depth > maxCanonDepth {
			return b, &canonError{value: "array", reason: errDeep}
		}
		b = append(b, '[')
		var err *canonError
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendCanonValue(b, x, depth+1); err != nil {
				if depth < 16 { // a cycle's path would be long and say nothing
					err.in(strconv.Itoa(i))
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
			b = appendCanonString(b, s)
		}
		return append(b, ']'), nil
	case map[string]string:
		if v == nil {
			return append(b, "null"...), nil
		}
		return appendCanonStringMap(b, v), nil
	default:
		return appendCanonOther(b, v, depth)
	}
	var ok bool
	if b, ok = appendCanonFloat(b, f); !ok {
		return b, &canonError{value: nonFinite(f), reason: errNotFinite}
	}
	return b, nil
}

// appendCanonOther appends a value of any other type as what its
// encoding/json form decodes to, which is what a store gives back.
func appendCanonOther(b []byte, v any, depth int) ([]byte, *canonError) {
	j, err := json.Marshal(v)
	if err != nil {
		return b, &canonError{value: fmt.Sprintf("%T", v), reason: "cannot be encoded as JSON: " + err.Error()}
	}
	var x any
	if err := json.Unmarshal(j, &x); err != nil {
		return b, &canonError{value: fmt.Sprintf("%T", v), reason: "cannot be decoded from its JSON form: " + err.Error()}
	}
	return appendCanonValue(b, x, depth)
}

// numberValue returns the float64 that the JSON form of n decodes to:
// encoding/json writes an empty Number as 0, refuses one that is not a
// JSON number, and fails to decode one beyond the float64 range.
func numberValue(n json.Number) (float64, bool) {
	if n == "" {
		return 0, true
	}
	if !isJSONNumber(string(n)) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}

// isJSONNumber reports whether s is a number in JSON's grammar
// (RFC 8259 §6).
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}

const errDeep = "is nested more than 1000 deep, or contains itself"

func appendCanonMap(b []byte, m map[string]any, depth int) ([]byte, *canonError) {
	if m == nil {
		return append(b, "null"...), nil
	}
	if depth > maxCanonDepth {
		return b, &canonError{value: "map", reason: errDeep}
	}
	var buf [16]canonPair[any]
	pairs := sortedPairs(m, buf[:0])
	b = append(b, '{')
	var err *canonError
	for i := range pairs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCanonString(b, pairs[i].k)
		b = append(b, ':')
		if b, err = appendCanonValue(b, pairs[i].v, depth+1); err != nil {
			if depth < 16 {
				err.in(pairs[i].k)
			}
			return b, err
		}
	}
	return append(b, '}'), nil
}

func appendCanonStringMap(b []byte, m map[string]string) []byte {
	var buf [16]canonPair[string]
	pairs := sortedPairs(m, buf[:0])
	b = append(b, '{')
	for i := range pairs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCanonString(b, pairs[i].k)
		b = append(b, ':')
		b = appendCanonString(b, pairs[i].v)
	}
	return append(b, '}')
}

func appendCanonChanges(b []byte, m map[string]Change) ([]byte, *canonError) {
	var buf [16]canonPair[Change]
	pairs := sortedPairs(m, buf[:0])
	b = append(b, '{')
	var err *canonError
	for i := range pairs {
		if i > 0 {
			b = append(b, ',')
		}
		p := &pairs[i]
		b = appendCanonString(b, p.k)
		b = append(b, `:{"new":`...)
		if b, err = appendCanonValue(b, p.v.New, 1); err != nil {
			return b, err.in("new").in(p.k)
		}
		b = append(b, `,"old":`...)
		if b, err = appendCanonValue(b, p.v.Old, 1); err != nil {
			return b, err.in("old").in(p.k)
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

type canonPair[V any] struct {
	k string
	v V
}

// sortedPairs appends the entries of m to buf in JCS order: by the
// UTF-16 code units of their keys. A key that is not valid UTF-8 is
// first made valid as appendCanonString writes it; when that makes two
// keys equal, the entry kept is the one whose key sorts last by bytes,
// which is the one that decoding the JSON form keeps (encoding/json
// writes map keys in byte order, and the last duplicate wins).
func sortedPairs[V any](m map[string]V, buf []canonPair[V]) []canonPair[V] {
	valid := true
	for k, v := range m {
		buf = append(buf, canonPair[V]{k, v})
		if valid && !utf8.ValidString(k) {
			valid = false
		}
	}
	if valid {
		slices.SortFunc(buf, func(a, b canonPair[V]) int { return compareUTF16(a.k, b.k) })
		return buf
	}
	slices.SortFunc(buf, func(a, b canonPair[V]) int { return strings.Compare(a.k, b.k) })
	for i := range buf {
		buf[i].k = toValidUTF8(buf[i].k)
	}
	slices.SortStableFunc(buf, func(a, b canonPair[V]) int { return compareUTF16(a.k, b.k) })
	out := buf[:0]
	for i := range buf {
		if i+1 < len(buf) && buf[i+1].k == buf[i].k {
			continue
		}
		out = append(out, buf[i])
	}
	return out
}

// compareUTF16 compares two valid UTF-8 strings by their UTF-16 code
// units, as JCS sorts member names (RFC 8785 §3.2.3). That is byte
// order except between a character from U+E000 to U+FFFF (UTF-8 lead
// byte 0xEE or 0xEF) and one above U+FFFF (lead byte 0xF0 to 0xF4),
// which UTF-16 writes with a surrogate from 0xD800 to 0xDBFF and so
// sorts first.
func compareUTF16(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		// Bytes from 0xEE up are lead bytes, so both characters start
		// here.
		if x >= 0xEE && y >= 0xEE && (x >= 0xF0) != (y >= 0xF0) {
			if x >= 0xF0 {
				return -1
			}
			return 1
		}
		return cmp.Compare(x, y)
	}
	return cmp.Compare(len(a), len(b))
}

// A canonError says where in an event a value could not be encoded. Its
// path grows as the error returns, so it is innermost first.
type canonError struct {
	path   []string
	value  string
	reason string
}

func (e *canonError) in(name string) *canonError {
	e.path = append(e.path, name)
	return e
}

func (e *canonError) fieldError() error {
	p := slices.Clone(e.path)
	slices.Reverse(p)
	return &FieldError{Field: strings.Join(p, "."), Value: e.value, Reason: e.reason}
}
