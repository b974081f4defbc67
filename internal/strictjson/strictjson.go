// Package strictjson decodes request bodies more strictly than
// encoding/json does. encoding/json, even with DisallowUnknownFields,
// takes without a word three things that make an audited request say
// one thing and do another:
//
//   - a member given twice in one object: the last one wins, so
//     {"scopes":["ingest"],"scopes":["view_logs"]} makes a key that
//     the request body, as captured, seems to restrict;
//   - a member named in another case than its field's: "Confirm" fills
//     confirm, "Scopes" fills scopes;
//   - a string with bytes that are not UTF-8, or an escaped lone
//     surrogate (\ud800): each becomes U+FFFD, so what is stored is not
//     what was sent;
//   - two members of a map keyed by numbers, or by a type that decodes
//     itself, whose names differ but whose keys do not ("1" and "01"):
//     the last one wins, as for a member given twice.
//
// encoding/json also decodes the JSON inside the string of a field
// tagged ",string" ("42" for an int64), taking there what it would
// refuse elsewhere ("01", "-Inf", "0x1p3", a lone surrogate); Check
// refuses it.
//
// Check refuses each, and also unknown members, and a value of a type
// that decodes itself (a time, an id) that does not decode, naming the
// member by its path. Unmarshal is Check followed by encoding/json, with
// every error an *activitylog.FieldError that names the member and the
// value sent.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"mime"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// maxShown is the largest object or array an error shows (redacted,
// then clipped); a larger one is named by its size.
const maxShown = 4096

// maxDepth bounds the nesting Check follows, as encoding/json's own
// limit does (10000); deeper documents are refused.
const maxDepth = 1000

// Unmarshal decodes data, which must hold exactly one JSON value, into
// v, a pointer, strictly: Check's refusals first, then encoding/json
// with unknown members refused. Every error is an
// *activitylog.FieldError: the field is the member's path ("scopes",
// "actor.id", "events[2].kind") or "body" for the document as a whole,
// and the value is what was sent there, clipped.
func Unmarshal(data []byte, v any) error {
	return hide(unmarshal(data, v))
}

func unmarshal(data []byte, v any) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return activitylog.Invalid("body", "", "cannot be decoded into a non-pointer")
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return activitylog.Invalid("body", "", "is empty")
	}
	if err := syntax(data); err != nil {
		return err
	}
	if err := check(data, t.Elem(), Options{}); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(data, err, "")
	}
	return nil
}

// syntax returns nil when data is one valid JSON value, else an error
// naming "body" with where it goes wrong.
func syntax(data []byte) error {
	if json.Valid(data) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return activitylog.Invalid("body", "", "is not valid JSON near byte "+strconv.FormatInt(se.Offset, 10)+": "+se.Error())
		}
		return activitylog.Invalid("body", "", "ends in the middle of a JSON value")
	}
	off := dec.InputOffset()
	rest := bytes.TrimSpace(data[off:])
	return activitylog.Invalid("body", display(rest), "must hold one JSON value; more follows after byte "+strconv.FormatInt(off, 10))
}

// DecodeError turns an error of encoding/json decoding data into an
// *activitylog.FieldError naming the member (under prefix) and the
// value sent there. An error it cannot place names prefix, or "body".
func DecodeError(data []byte, err error, prefix string) error {
	return hide(decodeError(data, err, prefix))
}

func decodeError(data []byte, err error, prefix string) error {
	if fe, ok := errors.AsType[*activitylog.FieldError](err); ok {
		return fe
	}
	whole := prefix
	if whole == "" {
		whole = "body"
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		if te.Struct != "" && strings.HasPrefix(field, te.Struct+".") {
			field = strings.TrimPrefix(field, te.Struct+".")
		}
		value := ""
		raw, path, ok := valueAt(data, field)
		if ok {
			// encoding/json names a map, not its member: find the
			// member of the kind it refused ("number 1e400").
			raw, path = refused(raw, path, te)
			value, field = display(raw), path
		}
		if field == "" {
			field = whole
		} else if prefix != "" {
			field = prefix + "." + field
		}
		return activitylog.Invalid(field, value, "has the wrong type: want "+typeName(te.Type))
	}
	if key, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ := strconv.Unquote(key)
		return activitylog.Invalid(join(prefix, name), "", "is not a known field")
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return activitylog.Invalid(whole, "", "is not valid JSON near byte "+strconv.FormatInt(se.Offset, 10)+": "+se.Error())
	}
	return activitylog.Invalid(whole, "", "cannot be decoded: "+err.Error())
}

// Check walks data, one JSON value, as it will be decoded into a value
// of type t (nil: anything), and returns the first of these as an
// *activitylog.FieldError whose field is the member's path under
// prefix:
//
//   - a member named twice in one object;
//   - a member of a struct that is no field of it, or that is one only
//     when case is ignored ("Confirm" for "confirm");
//   - a value of a type that decodes itself (json.Unmarshaler or
//     encoding.TextUnmarshaler, like time.Time), below the top, that
//     does not decode: its error, with the member's name;
//   - a string, or a member's name, holding bytes that are not UTF-8 or
//     an escaped lone surrogate;
//   - a member of a map keyed by integers, or by a type that decodes
//     itself (encoding.TextUnmarshaler), whose name does not decode as
//     such a key, or that decodes to the key of a member before it
//     ("01" after "1");
//   - the value of a field tagged ",string" that is not a string
//     holding, as json.Marshal writes it, one JSON value of the field's
//     kind that fits it: "42" for an int64, "true" for a bool,
//     "\"text\"" for a string; or, for a type that decodes itself,
//     whose inside does not decode;
//   - nesting deeper than 1000.
//
// An unknown member of the top object is "not a field of " what, when
// what is set. Data that is not valid JSON is left to the decoder:
// Check returns nil.
func Check(data []byte, t reflect.Type, o Options) error {
	return hide(check(data, t, o))
}

// Options adjust Check.
type Options struct {
	// Prefix starts every path: "events[3]".
	Prefix string
	// What names the top object in an unknown member's error: "an
	// event" makes it "is not a field of an event".
	What string
	// Known, when set, lists the top object's fields in an unknown
	// member's error instead of every field Check knows: the ones a
	// client should send, say, without those only echoed back.
	Known string
	// NoNull refuses null as the value of a struct's member, which
	// encoding/json takes as leaving the field as it is: for an update,
	// where {"port": null} would change nothing without a word. Members
	// of the top object named in Nullable may still be null.
	NoNull   bool
	Nullable []string
	// Valid says the caller has checked that data is one valid JSON
	// value (a json.Decoder that decoded it into a json.RawMessage
	// has), so Check does not check it again.
	Valid bool
}

func check(data []byte, t reflect.Type, o Options) (err error) {
	if o.Valid {
		// The caller vouches for data; should it be wrong, a read past
		// the end is an error, never a panic.
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(runtime.Error); !ok {
					panic(r)
				}
				// Refused, not waved through: a body Check cannot read
				// is not one it has checked.
				err = activitylog.Invalid(orBody(o.Prefix), "", "is not valid JSON")
			}
		}()
	} else if !json.Valid(data) {
		return nil
	}
	s := scanner{data: data, o: o}
	return s.value(t, 0)
}

type scanner struct {
	data  []byte
	i     int
	o     Options
	stack []step // the path to the value being read, under o.Prefix
}

// step is one step of the path to a value: a member's name, or an
// element's index. The path is spelled out only for an error, so a
// document that passes costs no string per member.
type step struct {
	raw   []byte // the member's name as it stands in the document, without escapes
	name  string // or decoded, when it has one
	index int    // or an element's index, when isIdx
	isIdx bool
}

func (st *step) key() string {
	if st.raw != nil {
		return string(st.raw)
	}
	return st.name
}

func (st *step) same(o *step) bool {
	switch {
	case st.raw != nil && o.raw != nil:
		return bytes.Equal(st.raw, o.raw)
	case st.raw != nil:
		return string(st.raw) == o.name
	case o.raw != nil:
		return st.name == string(o.raw)
	}
	return st.name == o.name
}

// path spells out the path to the value being read:
// "events[2].actor.id".
func (s *scanner) path() string {
	p := s.o.Prefix
	for i := range s.stack {
		if st := &s.stack[i]; st.isIdx {
			p += "[" + strconv.Itoa(st.index) + "]"
		} else {
			p = join(p, st.key())
		}
	}
	return p
}

func (s *scanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value(t reflect.Type, depth int) error {
	if depth > maxDepth {
		return activitylog.Invalid(orBody(s.path()), "", "nests deeper than "+strconv.Itoa(maxDepth))
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s.ws()
	start := s.i
	if t != nil && (t.Kind() == reflect.Interface || decodesItself(t)) {
		if t.Kind() != reflect.Interface && depth > 0 {
			if err := s.value(nil, depth); err != nil {
				return err
			}
			raw := s.data[start:s.i]
			if !bytes.Equal(raw, []byte("null")) {
				return s.decodeSelf(raw, t)
			}
			return nil
		}
		t = nil // anything goes below here, but still checked
	}
	switch s.data[s.i] {
	case '{':
		return s.object(t, depth)
	case '[':
		s.i++
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		s.ws()
		if s.data[s.i] == ']' {
			s.i++
			return nil
		}
		s.stack = append(s.stack, step{isIdx: true})
		top := len(s.stack) - 1
		for n := 0; ; n++ {
			s.stack[top].index = n
			if err := s.value(elem, depth+1); err != nil {
				return err
			}
			s.ws()
			if s.data[s.i] == ']' {
				s.i++
				s.stack = s.stack[:top]
				return nil
			}
			s.i++ // ','
		}
	case '"':
		_, _, err := s.str()
		return err
	default: // a number, true, false or null
		for s.i < len(s.data) {
			switch s.data[s.i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return nil
			}
			s.i++
		}
		return nil
	}
}

// decodeSelf decodes raw, a valid JSON value, into a new value of t,
// which decodes itself, and returns its error as the member's.
func (s *scanner) decodeSelf(raw []byte, t reflect.Type) error {
	return s.selfError(raw, json.Unmarshal(raw, reflect.New(t).Interface()))
}

// selfError is err, of a type decoding raw itself, as the member's.
func (s *scanner) selfError(raw []byte, err error) error {
	if err == nil {
		return nil
	}
	if fe, ok := errors.AsType[*activitylog.FieldError](err); ok {
		return activitylog.Invalid(s.path(), fe.Value, fe.Reason)
	}
	return activitylog.Invalid(s.path(), display(raw), "cannot be decoded: "+err.Error())
}

func (s *scanner) object(t reflect.Type, depth int) error {
	s.i++ // '{'
	var fs *fields
	var elem, kt reflect.Type
	km := stringKeys
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fs = fieldsOf(t)
		case reflect.Map:
			elem, kt = t.Elem(), t.Key()
			km = keyModeOf(kt)
		}
	}
	var seenBuf [16]step
	seen := seenBuf[:0]
	var seenMap map[string]struct{}
	var keys map[any]string // decoded key → the name that gave it, for km != stringKeys
	s.ws()
	if s.data[s.i] == '}' {
		s.i++
		return nil
	}
	top := len(s.stack)
	for {
		s.ws()
		s.stack = s.stack[:top] // a bad name is the object's error
		raw, escaped, err := s.str()
		if err != nil {
			return err
		}
		var at step
		if escaped {
			at.name = unquote(raw)
		} else {
			at.raw = raw[1 : len(raw)-1]
		}
		s.stack = append(s.stack[:top], at)
		switch {
		case seenMap != nil:
			k := at.key()
			if _, dup := seenMap[k]; dup {
				return activitylog.Invalid(s.path(), "", "is given twice in one object")
			}
			seenMap[k] = struct{}{}
		default:
			for i := range seen {
				if seen[i].same(&at) {
					return activitylog.Invalid(s.path(), "", "is given twice in one object")
				}
			}
			if len(seen) < 32 {
				seen = append(seen, at)
				break
			}
			seenMap = make(map[string]struct{}, 64)
			for i := range seen {
				seenMap[seen[i].key()] = struct{}{}
			}
			seenMap[at.key()] = struct{}{}
		}
		if km == intKeys || km == uintKeys || km == textKeys {
			if keys == nil {
				keys = map[any]string{}
			}
			if err := s.mapKey(kt, km, raw, &at, keys); err != nil {
				return err
			}
		}
		s.ws()
		s.i++ // ':'
		vt := elem
		quoted, noNull := false, false
		if fs != nil {
			var f member
			var ok bool
			if at.raw != nil {
				f, ok = fs.byName[string(at.raw)] // no allocation
			} else {
				f, ok = fs.byName[at.name]
			}
			if !ok {
				vstart := s.i
				if err := s.value(nil, depth+1); err != nil {
					return err
				}
				value := display(s.data[vstart:s.i])
				if name, ok := fs.folded[strings.ToLower(at.key())]; ok {
					// "Password" for password: hide sees the name.
					return activitylog.Invalid(s.path(), value, "is not a field: names are case-sensitive; did you mean "+strconv.Quote(name)+"?")
				}
				// An unknown member's value is not shown: its name may be
				// a secret's misspelt ("pasword"), which hide would not
				// know.
				value = ""
				known := fs.known
				if depth == 0 && s.o.Known != "" {
					known = s.o.Known
				}
				if depth == 0 && s.o.What != "" {
					return activitylog.Invalid(s.path(), value, "is not a field of "+s.o.What+"; known are "+known)
				}
				return activitylog.Invalid(s.path(), value, "is not a field; known are "+known)
			}
			vt, quoted = f.t, f.quoted
			noNull = s.o.NoNull && !(depth == 0 && slices.Contains(s.o.Nullable, at.key()))
			if noNull {
				s.ws()
				if bytes.HasPrefix(s.data[s.i:], []byte("null")) {
					return errNull(s.path())
				}
			}
		}
		if quoted {
			err = s.quoted(vt, depth+1, noNull)
		} else {
			err = s.value(vt, depth+1)
		}
		if err != nil {
			return err
		}
		s.ws()
		if s.data[s.i] == '}' {
			s.i++
			s.stack = s.stack[:top]
			return nil
		}
		s.i++ // ','
	}
}

func errNull(path string) error {
	return activitylog.Invalid(path, "null", "cannot be null: leave it out to keep it as it is")
}

// keyMode is how encoding/json turns a member's name into a map's key.
type keyMode uint8

const (
	stringKeys keyMode = iota // the name is the key
	intKeys                   // strconv.ParseInt of the name
	uintKeys                  // strconv.ParseUint of the name
	textKeys                  // the key type's UnmarshalText (or UnmarshalJSON)
	otherKeys                 // none: encoding/json refuses the map
)

var keyModeCache sync.Map // reflect.Type → keyMode

// keyModeOf is keyMode for a map keyed by kt, chosen in encoding/json's
// order: a TextUnmarshaler first, even of kind string.
func keyModeOf(kt reflect.Type) keyMode {
	if m, ok := keyModeCache.Load(kt); ok {
		return m.(keyMode)
	}
	m := otherKeys
	switch {
	case reflect.PointerTo(kt).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()):
		m = textKeys
	case kt.Kind() == reflect.String:
		m = stringKeys
	case kt.Kind() >= reflect.Int && kt.Kind() <= reflect.Int64:
		m = intKeys
	case kt.Kind() >= reflect.Uint && kt.Kind() <= reflect.Uintptr:
		m = uintKeys
	}
	keyModeCache.Store(kt, m)
	return m
}

// mapKey decodes the name of the member at, raw as it stands in the
// document, as encoding/json does into a key of type kt, and refuses a
// name that does not decode, or that decodes to the key of a member
// before it: encoding/json would put both under one key, the last
// winning, as for a member given twice.
func (s *scanner) mapKey(kt reflect.Type, km keyMode, raw []byte, at *step, keys map[any]string) error {
	name := at.key()
	var k any
	switch km {
	case intKeys:
		n, err := strconv.ParseInt(name, 10, 64)
		if err != nil || n != n<<(64-kt.Bits())>>(64-kt.Bits()) {
			return activitylog.Invalid(s.path(), display(raw), "is not a key of this object: the keys are integers that fit "+kt.Kind().String())
		}
		k = n
	case uintKeys:
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil || n != n<<(64-kt.Bits())>>(64-kt.Bits()) {
			return activitylog.Invalid(s.path(), display(raw), "is not a key of this object: the keys are integers from 0 that fit "+kt.Kind().String())
		}
		k = n
	case textKeys:
		p := reflect.New(kt)
		if err := s.selfError(raw, json.Unmarshal(raw, p.Interface())); err != nil {
			return err
		}
		if !p.Elem().Comparable() {
			return nil // no key to compare: a NaN in it, say
		}
		k = p.Elem().Interface()
	}
	if first, dup := keys[k]; dup {
		return activitylog.Invalid(s.path(), "", "is the same key as "+strconv.Quote(first)+", given before in this object: the last would win")
	}
	keys[k] = name
	return nil
}

// quoted checks the value of a field tagged ",string", of type t: a
// string holding one JSON value of t's kind as json.Marshal writes it,
// which encoding/json decodes (or null, as for any field). encoding/json
// takes more inside the string than it does outside ("01", "-Inf" and
// "0x1p3" for numbers, " true", lone surrogates turned into U+FFFD),
// which would store what was not sent; Check refuses it.
func (s *scanner) quoted(t reflect.Type, depth int, noNull bool) error {
	ptr := false
	for t.Kind() == reflect.Pointer {
		t, ptr = t.Elem(), true
	}
	s.ws()
	start := s.i
	if s.data[s.i] != '"' {
		if err := s.value(nil, depth); err != nil {
			return err
		}
		raw := s.data[start:s.i]
		if bytes.Equal(raw, []byte("null")) {
			return nil // as for any field; NoNull has seen it
		}
		return activitylog.Invalid(s.path(), display(raw), wantQuoted(t))
	}
	raw, escaped, err := s.str()
	if err != nil {
		return err
	}
	in := raw[1 : len(raw)-1]
	if escaped {
		in = []byte(unquote(raw))
	}
	bad := func(reason string) error { return activitylog.Invalid(s.path(), display(raw), reason) }
	if string(in) == "null" {
		if noNull {
			return errNull(s.path())
		}
		if ptr || !decodesItself(t) {
			return nil // a pointer set to nil, or nothing done: as for null
		}
		return s.decodeSelf(in, t) // encoding/json hands it over
	}
	if len(in) == 0 || !json.Valid(in) || isSpace(in[0]) || isSpace(in[len(in)-1]) {
		return bad(wantQuoted(t))
	}
	// Read from the inside, at this member's path.
	sub := scanner{data: in, o: s.o, stack: s.stack}
	if decodesItself(t) {
		return sub.value(t, depth) // depth > 0: decoded, as a member
	}
	number := in[0] == '-' || in[0] >= '0' && in[0] <= '9'
	switch k := t.Kind(); {
	case k == reflect.Bool:
		if in[0] != 't' && in[0] != 'f' {
			return bad(wantQuoted(t))
		}
	case t == reflect.TypeFor[json.Number]():
		if !number {
			return bad(wantQuoted(t))
		}
	case k == reflect.String:
		if in[0] != '"' {
			return bad(wantQuoted(t))
		}
		_, _, err := sub.str()
		return err
	case k >= reflect.Int && k <= reflect.Int64:
		n, err := strconv.ParseInt(string(in), 10, 64)
		switch {
		case !number || err != nil && !errors.Is(err, strconv.ErrRange):
			return bad(wantQuoted(t))
		case err != nil || n != n<<(64-t.Bits())>>(64-t.Bits()):
			return bad("is out of the range of " + k.String())
		}
	case k >= reflect.Uint && k <= reflect.Uintptr:
		n, err := strconv.ParseUint(string(in), 10, 64)
		switch {
		case !number || in[0] == '-' || err != nil && !errors.Is(err, strconv.ErrRange):
			return bad(wantQuoted(t))
		case err != nil || n != n<<(64-t.Bits())>>(64-t.Bits()):
			return bad("is out of the range of " + k.String())
		}
	case k == reflect.Float32 || k == reflect.Float64:
		if !number {
			return bad(wantQuoted(t))
		}
		if _, err := strconv.ParseFloat(string(in), t.Bits()); err != nil {
			return bad("is out of the range of " + k.String())
		}
	}
	return nil
}

// wantQuoted says what a field of type t tagged ",string" takes.
func wantQuoted(t reflect.Type) string {
	if decodesItself(t) {
		return "must be a string holding the JSON of its value: this field is sent quoted"
	}
	ex := `"42"`
	switch t.Kind() {
	case reflect.Bool:
		ex = `"true"`
	case reflect.Float32, reflect.Float64:
		ex = `"1.5"`
	case reflect.String:
		if t != reflect.TypeFor[json.Number]() {
			ex = `"\"text\""`
		}
	}
	what := typeName(t)
	if t == reflect.TypeFor[json.Number]() {
		what = "a number"
	}
	return "must be a string holding " + what + " in JSON: this field is sent quoted, as " + ex
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// unquote decodes a JSON string that holds an escape; rare, so it may
// allocate.
func unquote(raw []byte) string {
	var v string
	json.Unmarshal(raw, &v) // valid JSON: checked or vouched for
	return v
}

// str moves past the string at s.i and returns it as it stands in the
// document, quotes included, and whether it holds an escape; it
// refuses bytes that are not UTF-8 and escaped lone surrogates.
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	s.i++ // '"'
	start := s.i
	for {
		c := s.data[s.i]
		switch {
		case c == '"':
			s.i++
			return s.data[start-1 : s.i], escaped, nil
		case c == '\\':
			escaped = true
			if s.data[s.i+1] != 'u' {
				s.i += 2
				continue
			}
			r := hex4(s.data[s.i+2 : s.i+6])
			s.i += 6
			switch {
			case utf16.IsSurrogate(r) && r < 0xdc00:
				if s.i+6 <= len(s.data) && s.data[s.i] == '\\' && s.data[s.i+1] == 'u' {
					if lo := hex4(s.data[s.i+2 : s.i+6]); lo >= 0xdc00 && lo <= 0xdfff {
						s.i += 6
						continue
					}
				}
				return nil, false, activitylog.Invalid(orBody(s.path()), s.whole(start), "holds an escaped lone surrogate (\\ud800 to \\udfff unpaired), which is no character")
			case utf16.IsSurrogate(r):
				return nil, false, activitylog.Invalid(orBody(s.path()), s.whole(start), "holds an escaped lone surrogate (\\ud800 to \\udfff unpaired), which is no character")
			}
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, n := utf8.DecodeRune(s.data[s.i:])
			if r == utf8.RuneError && n == 1 {
				return nil, false, activitylog.Invalid(orBody(s.path()), s.whole(start), "is not UTF-8")
			}
			s.i += n
		}
	}
}

// whole returns, for an error's value, the string whose contents start
// at start, as display shows it.
func (s *scanner) whole(start int) string {
	i := start
	for i < len(s.data) && s.data[i] != '"' {
		if s.data[i] == '\\' {
			i++
		}
		i++
	}
	return display(s.data[start-1 : min(i+1, len(s.data))])
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// refused returns, when raw is an object or array that te did not
// expect as such, its first member (at any depth) of the kind te
// refused, with its path; else raw and path.
func refused(raw []byte, path string, te *json.UnmarshalTypeError) ([]byte, string) {
	want := typeName(te.Type)
	got, _, _ := strings.Cut(te.Value, " ")
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') || want == "an object" || want == "an array" || got == "object" || got == "array" {
		return raw, path
	}
	kind := func(v []byte) string {
		switch v = bytes.TrimSpace(v); {
		case len(v) == 0:
			return ""
		case v[0] == '"':
			return "string"
		case v[0] == 't' || v[0] == 'f':
			return "bool"
		case v[0] == '{':
			return "object"
		case v[0] == '[':
			return "array"
		case v[0] == 'n':
			return "null"
		}
		return "number"
	}
	var find func(v []byte, p string, depth int) ([]byte, string, bool)
	find = func(v []byte, p string, depth int) ([]byte, string, bool) {
		if depth > 20 {
			return nil, "", false
		}
		switch kind(v) {
		case got:
			return v, p, true
		case "object":
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.Token()
			for dec.More() {
				k, _ := dec.Token()
				var m json.RawMessage
				if dec.Decode(&m) != nil {
					return nil, "", false
				}
				if r, rp, ok := find(m, join(p, k.(string)), depth+1); ok {
					return r, rp, true
				}
			}
		case "array":
			var a []json.RawMessage
			json.Unmarshal(v, &a)
			for i, m := range a {
				if r, rp, ok := find(m, p+"["+strconv.Itoa(i)+"]", depth+1); ok {
					return r, rp, true
				}
			}
		}
		return nil, "", false
	}
	if r, rp, ok := find(raw, path, 0); ok && rp != path {
		return r, rp
	}
	return raw, path
}

// valueAt returns the raw JSON value that field (dotted names, as
// encoding/json's UnmarshalTypeError.Field, which also names embedded
// structs by their Go names) leads to in data, and its path in member
// names.
func valueAt(data []byte, field string) (raw []byte, path string, ok bool) {
	var cur json.RawMessage
	if json.Unmarshal(data, &cur) != nil {
		return nil, "", false
	}
	if field == "" {
		return cur, "", true
	}
	var names []string
	for name := range strings.SplitSeq(field, ".") {
		var m map[string]json.RawMessage
		if json.Unmarshal(cur, &m) != nil {
			return nil, "", false
		}
		v, ok := m[name]
		if !ok {
			for k, kv := range m { // encoding/json matched it ignoring case
				if strings.EqualFold(k, name) {
					v, ok, name = kv, true, k
					break
				}
			}
		}
		if !ok {
			continue // an embedded struct's Go name
		}
		names = append(names, name)
		cur = v
	}
	if len(names) == 0 {
		return nil, "", false
	}
	return cur, strings.Join(names, "."), true
}

// fields are the members a struct type decodes, as encoding/json
// chooses them: tag names, promoted fields of embedded structs, the
// shallowest winning.
type fields struct {
	byName map[string]member
	folded map[string]string // lower case → the name
	known  string            // the names, comma-separated, for errors
}

// member is a struct field as encoding/json decodes it.
type member struct {
	t      reflect.Type
	quoted bool // tagged ",string": its value is JSON inside a string
}

var fieldCache sync.Map // reflect.Type → *fields

func fieldsOf(t reflect.Type) *fields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*fields)
	}
	fs := &fields{byName: map[string]member{}, folded: map[string]string{}}
	type cand struct {
		m      member
		tagged bool
		n      int
	}
	depthOf := map[string]int{}
	cands := map[string]*cand{}
	var names []string
	var walk func(t reflect.Type, depth int, visited map[reflect.Type]bool)
	walk = func(t reflect.Type, depth int, visited map[reflect.Type]bool) {
		if visited[t] {
			return
		}
		visited[t] = true
		defer delete(visited, t)
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if tag == "-" {
				continue
			}
			if !validTag(name) {
				name = "" // encoding/json ignores such a name
			}
			tagged := name != ""
			ft := f.Type
			if f.Anonymous && name == "" {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					walk(et, depth+1, visited)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			m := member{t: ft, quoted: quotable(ft) && slices.Contains(strings.Split(opts, ","), "string")}
			if d, ok := depthOf[name]; ok && d < depth {
				continue
			}
			if d, ok := depthOf[name]; ok && d == depth {
				// At one depth a field named by its tag wins over those
				// named by their Go names; two of a kind cancel out.
				switch c := cands[name]; {
				case tagged && !c.tagged:
					c.m, c.tagged, c.n = m, true, 1
				case tagged == c.tagged:
					c.n++
				}
				continue
			}
			if _, ok := depthOf[name]; !ok {
				names = append(names, name)
			}
			depthOf[name] = depth
			cands[name] = &cand{m: m, tagged: tagged, n: 1}
		}
	}
	walk(t, 0, map[reflect.Type]bool{})
	var known []string
	for _, name := range names {
		c := cands[name]
		if c.n > 1 {
			continue // ambiguous: encoding/json drops it
		}
		fs.byName[name] = c.m
		fs.folded[strings.ToLower(name)] = name
		known = append(known, name)
	}
	fs.known = strings.Join(known, ", ")
	f, _ := fieldCache.LoadOrStore(t, fs)
	return f.(*fields)
}

// quotable reports whether encoding/json honours ",string" on a field
// of type t: strings, numbers and booleans, or an unnamed pointer to
// one.
func quotable(t reflect.Type) bool {
	if t.Name() == "" && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch k := t.Kind(); {
	case k == reflect.Bool, k == reflect.String, k == reflect.Float32, k == reflect.Float64,
		k >= reflect.Int && k <= reflect.Int64, k >= reflect.Uint && k <= reflect.Uintptr:
		return true
	}
	return false
}

// validTag reports whether encoding/json takes s as a field's name
// (its isValidTag): letters, digits and some punctuation, no quotes,
// backslash or comma.
func validTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// decodesItself reports whether values of t decode themselves, so that
// their JSON shape is their own.
func decodesItself(t reflect.Type) bool {
	if v, ok := selfCache.Load(t); ok {
		return v.(bool)
	}
	p := reflect.PointerTo(t)
	self := p.Implements(reflect.TypeFor[json.Unmarshaler]()) || p.Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
	selfCache.Store(t, self)
	return self
}

var selfCache sync.Map // reflect.Type → bool

func typeName(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "a JSON value"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

// redactor decides which values an error may show.
var redactor = activitylog.NewRedactor(nil)

// hide keeps secrets out of an error's value: none is shown for a
// member whose name, or whose parents' names, is sensitive (a password,
// a token: activitylog.DefaultSensitiveKeys), and card and IBAN numbers
// are masked in the others. Errors are logged and may be recorded; the
// request's own body is redacted the same way.
func hide(err error) error {
	fe, ok := err.(*activitylog.FieldError)
	if !ok {
		return err
	}
	for name := range strings.SplitSeq(fe.Field, ".") {
		cut := name
		if i := strings.IndexByte(name, '['); i >= 0 {
			cut = name[:i]
		}
		if redactor.Sensitive(name) || redactor.Sensitive(cut) {
			// Nor in the reason: a decoder's error may quote the value
			// ("parsing time \"hunter2\"").
			reason := fe.Reason
			if r, _, ok := strings.Cut(reason, "cannot be decoded: "); ok {
				reason = r + "cannot be decoded"
			}
			if fe.Value == "" && reason == fe.Reason {
				return err
			}
			return activitylog.Invalid(fe.Field, "", reason)
		}
	}
	if fe.Value == "" {
		return err
	}
	if v := redactor.String(fe.Value); v != fe.Value {
		return activitylog.Invalid(fe.Field, v, fe.Reason)
	}
	return err
}

// display shows raw JSON text as an error's value: a string as its
// contents, anything else as its text, with bytes that are not UTF-8 as
// \x escapes, clipped.
func display(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 0 && (s[0] == '{' || s[0] == '[') {
		if len(s) > maxShown {
			// Redacting all of it to show 64 bytes would cost more than
			// the decoding did.
			return "(" + map[byte]string{'{': "an object", '[': "an array"}[s[0]] + " of " + strconv.Itoa(len(s)) + " bytes)"
		}
		s = redactor.Body(s) // {"password": …} inside is masked
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var u string
		if utf8.ValidString(s) && json.Unmarshal([]byte(s), &u) == nil && !strings.ContainsRune(u, utf8.RuneError) {
			s = u
		} else {
			s = s[1 : len(s)-1]
		}
	}
	if !utf8.ValidString(s) {
		q := strconv.Quote(s)
		s = q[1 : len(q)-1]
	}
	return clip(s)
}

func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// MediaTypeError refuses a request body's Content-Type; a handler
// answers it 415 naming the Content-Type header.
type MediaTypeError struct {
	Value string // the Content-Type sent, clipped
}

func (e *MediaTypeError) Error() string {
	return "Content-Type " + strconv.Quote(e.Value) + " is not supported: send application/json, in UTF-8"
}

// ContentType returns nil for application/json, with no charset or
// UTF-8's, and a *MediaTypeError for anything else, none included: a
// body sent as text/plain or a form is not read as JSON by accident.
func ContentType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		if cs, has := params["charset"]; !has || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8") {
			return nil
		}
	}
	v := ct
	if len(v) > 128 {
		v = clip(v[:128])
	}
	if !utf8.ValidString(v) {
		q := strconv.Quote(v)
		v = q[1 : len(q)-1]
	}
	return &MediaTypeError{Value: v}
}
