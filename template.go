package activitylog

import (
	"encoding"
	"encoding/json"
	"maps"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Keys under which SetMessage keeps a message's template and values in
// Event.Extra.
const (
	ExtraMessageTemplate = "message_template"
	ExtraMessageValues   = "message_values"
)

// RenderMessage renders a message template such as
//
//	"Item {item.name} was updated by {actor.name}"
//
// with values. A placeholder is a path of names separated by dots,
// looked up step by step: in a map by key, in a struct by JSON name
// (the json tag's name, else the Go field name) and then by Go field
// name, in a list by decimal index ("items.0.name"), following pointers
// and interfaces. In a map the whole rest of the path is tried as a key
// first, so values {"item.name": "Lamp"} render {item.name} too. Fields
// tagged json:"-" or audit:"-" and unexported fields are not found.
//
// A value is written as text: strings as they are; numbers in decimal
// ("3", "0.25"); booleans as true or false; times in RFC 3339; values
// with an Error or String method, or an encoding.TextMarshaler, by it;
// anything else as its JSON. It is written once, never read again as a
// template, so braces in a value are safe. A placeholder that is not
// found, or whose value is nil or cannot be written, is rendered
// visibly as "{item.name?}": rendering never fails. "{{" and "}}" write
// literal braces; a brace that opens no placeholder is written as it
// is. The result is clipped to MaxTextField bytes, ending in "…" when
// clipped.
func RenderMessage(template string, values map[string]any) string {
	s, _ := renderMessage(template, values, false)
	return s
}

// SetMessage renders template with values (see RenderMessage) into
// e.Message, and keeps the template and the values it used in e.Extra,
// under ExtraMessageTemplate and ExtraMessageValues, so that the
// message can be rendered again, or translated, after the objects it
// names are renamed or deleted.
//
// Only the values the template refers to are kept, keyed by
// placeholder ("item.name": "Lamp"), not the objects they were found
// in: that keeps the event small and keeps other fields of those
// objects out of the trail. Each is kept JSON-safe, in a form that
// renders to the same text, so that
//
//	RenderMessage(e.Extra["message_template"].(string), e.Extra["message_values"].(map[string]any))
//
// gives e.Message again, also after the event is stored and read back.
// At most MaxMapEntries values are kept. The Redactor masks the kept
// values by key like any other extra, but not the message text: do not
// put secrets in messages.
//
// e.Extra is replaced by a copy with the two keys set, so a map shared
// with another event is not changed.
func (e *Event) SetMessage(template string, values map[string]any) {
	msg, used := renderMessage(template, values, true)
	e.Message = msg
	extra := make(map[string]any, len(e.Extra)+2)
	maps.Copy(extra, e.Extra)
	extra[ExtraMessageTemplate] = clipMessage(template, MaxTextField)
	extra[ExtraMessageValues] = used
	e.Extra = extra
}

// renderMessage renders template; when keep is set it also returns the
// values it used, JSON-safe, keyed by placeholder.
func renderMessage(template string, values map[string]any, keep bool) (string, map[string]any) {
	var used map[string]any
	if keep {
		used = map[string]any{}
	}
	var b strings.Builder
	// write writes s, but never more than one byte past MaxTextField:
	// enough to know that the result must be clipped.
	write := func(s string) {
		if room := MaxTextField + 1 - b.Len(); len(s) > room {
			s = s[:max(room, 0)]
		}
		b.WriteString(s)
	}
	for i := 0; i < len(template) && b.Len() <= MaxTextField; {
		switch template[i] {
		case '{':
			if i+1 < len(template) && template[i+1] == '{' {
				write("{")
				i += 2
				continue
			}
			j := strings.IndexAny(template[i+1:], "{}")
			if j <= 0 || template[i+1+j] == '{' {
				write("{")
				i++
				continue
			}
			name := template[i+1 : i+1+j]
			i += j + 2
			v, found := messageLookup(values, name)
			text, ok := "", false
			if found {
				text, ok = messageText(v)
			}
			if !ok {
				write("{" + name + "?}")
				continue
			}
			write(text)
			if keep {
				if _, seen := used[name]; !seen && len(used) < MaxMapEntries {
					used[name] = messageKept(v, text)
				}
			}
		case '}':
			write("}")
			if i+1 < len(template) && template[i+1] == '}' {
				i++
			}
			i++
		default:
			j := strings.IndexAny(template[i:], "{}")
			if j < 0 {
				j = len(template) - i
			}
			write(template[i : i+j])
			i += j
		}
	}
	return clipMessage(b.String(), MaxTextField), used
}

// messageKept returns v in JSON-safe form if that renders as text, else
// text itself.
func messageKept(v any, text string) (kept any) {
	defer func() {
		if recover() != nil {
			kept = text
		}
	}()
	if _, ok := v.(string); ok {
		return v
	}
	s := jsonSafe(v)
	if t, ok := messageText(s); ok && t == text {
		return s
	}
	return text
}

// clipMessage cuts s to at most n bytes, at a rune boundary, ending in "…".
func clipMessage(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	i := n - len(ellipsis)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + ellipsis
}

// messageLookup finds the value at a dotted path in values.
func messageLookup(values map[string]any, path string) (any, bool) {
	if v, ok := values[path]; ok {
		return v, true
	}
	cur := reflect.ValueOf(values)
	for rest := path; ; {
		cur, _ = diffDeref(cur, false)
		if !cur.IsValid() {
			return nil, false
		}
		seg, after, more := strings.Cut(rest, ".")
		if seg == "" || more && after == "" {
			return nil, false
		}
		var next reflect.Value
		switch cur.Kind() {
		case reflect.Map:
			kt := cur.Type().Key()
			if kt.Kind() != reflect.String {
				return nil, false
			}
			if more {
				if v := cur.MapIndex(reflect.ValueOf(rest).Convert(kt)); v.IsValid() {
					next, more = v, false
					break
				}
			}
			next = cur.MapIndex(reflect.ValueOf(seg).Convert(kt))
		case reflect.Struct:
			ti := diffTypeOf(cur.Type())
			i, ok := ti.byName[seg]
			if !ok {
				if i, ok = ti.byGoName[seg]; !ok {
					return nil, false
				}
			}
			next = ti.fields[i].get(cur)
		case reflect.Slice, reflect.Array:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || n >= cur.Len() || seg[0] == '+' || seg[0] == '-' {
				return nil, false
			}
			next = cur.Index(n)
		default:
			return nil, false
		}
		if !next.IsValid() {
			return nil, false
		}
		if !more {
			if !next.CanInterface() {
				return nil, false
			}
			return next.Interface(), true
		}
		cur, rest = next, after
	}
}

// messageText writes v as it appears in a message; false when v is nil
// or cannot be written.
func messageText(v any) (text string, ok bool) {
	defer func() {
		if recover() != nil {
			text, ok = "", false
		}
	}()
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface || rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice) && rv.IsNil() {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case time.Time:
		return x.Format(time.RFC3339Nano), true
	case *time.Time:
		return x.Format(time.RFC3339Nano), true
	case error:
		return x.Error(), true
	case interface{ String() string }:
		return x.String(), true
	case encoding.TextMarshaler:
		b, err := x.MarshalText()
		return string(b), err == nil
	}
	rv, _ = diffDeref(rv, false)
	if !rv.IsValid() {
		return "", false
	}
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), true
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), true
	case reflect.Float32, reflect.Float64:
		bits := 64
		if rv.Kind() == reflect.Float32 {
			bits = 32
		}
		f := rv.Float()
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			return jsonFloatString(f), true
		case math.Abs(f) < 1e21:
			return strconv.FormatFloat(f, 'f', -1, bits), true
		}
		return strconv.FormatFloat(f, 'g', -1, bits), true
	}
	if !rv.CanInterface() {
		return "", false
	}
	b, err := json.Marshal(rv.Interface())
	if err != nil {
		return "", false
	}
	return string(b), true
}
