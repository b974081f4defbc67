package activitylog

import (
	"bytes"
	"database/sql/driver"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// DiffOptions configures Diff. The zero value, or nil, means the
// defaults written beside each field.
//
// Exclude, ListKeys and JSONFields name keys in one of two ways. An
// entry without a dot is a bare name and matches a key of that name at
// any depth ("updated_at"). An entry with dots is a path from the top,
// its segments being raw key names, with list selectors left out:
// "address.geo" matches only that key, and "items.price" matches price
// in every element of the list items. A key that itself contains a dot
// can be named only bare.
type DiffOptions struct {
	// Exclude lists keys that are neither compared nor reported, nor
	// included in the values of a reported change. Fields tagged
	// json:"-" or audit:"-" are always excluded. Default: none.
	Exclude []string
	// ListKeys maps a list (by name or path) to the JSON name of the
	// field that identifies its elements, so that the list is compared
	// element by element ("items[sku=A7].qty") rather than whole; "-"
	// compares the list whole. Default: a list whose elements are all
	// objects with a string or number "id" field, unique within the
	// list, is keyed by it; failing that by "ID"; other lists (and a
	// list whose named key is missing or repeated) are compared whole.
	ListKeys map[string]string
	// JSONFields lists string and []byte fields (by name or path) that
	// hold JSON, to be decoded and compared inside. json.RawMessage
	// values are always decoded, and so is a driver.Valuer whose Value
	// is a []byte holding a JSON object or array. A value that is not
	// valid JSON is compared as it is. Default: none.
	JSONFields []string
	// MaxDepth bounds nesting: a deeper value (a cycle of pointers, say)
	// makes Diff fail. Default: 32.
	MaxDepth int
}

// DiffTruncatedKey is the key under which Diff reports how many changes
// it left out when there were more than MaxMapEntries: the change's Old
// is nil and its New the number left out (a float64).
const DiffTruncatedKey = "[truncated]"

// Diff returns the fields that differ between old and new, each as a
// Change of JSON-safe values, keyed by path: "status", "address.city",
// "items[id=7].qty". It is meant for code that has no ORM to track
// changes (sqlc, pgx, hand-written SQL): load the row, change it, and
// put Diff(before, after, nil) in Event.Changes. It returns nil when
// nothing changed.
//
// Old and new are structs, maps with string (or integer) keys, pointers
// to them, or json.RawMessage objects. Either may be nil, for a create
// or a delete: then every field of the other is reported, from or to
// nil. The rules:
//
//   - Keys are JSON names: the json tag's name, else the Go field name,
//     with embedded structs flattened as encoding/json does. Unexported
//     fields and fields tagged json:"-" or audit:"-" are ignored. A map
//     key that is empty, contains '.', '[', ']' or '"', or is not valid
//     UTF-8 is written quoted in brackets: meta["a.b"].
//   - Nested structs and maps are compared key by key, giving dotted
//     keys. A nil map equals an empty one; a nil pointer differs from a
//     non-nil one, and the change holds the whole value.
//   - Lists of objects with an identifying field are compared element
//     by element (see DiffOptions.ListKeys): "items[id=7].qty" for a
//     changed field, "items[id=8]" from or to nil for an added or a
//     removed element. Order is not compared. Other lists are compared
//     whole; a nil list equals an empty one.
//   - json.RawMessage, DiffOptions.JSONFields and JSON-valued
//     driver.Valuers are decoded and compared inside.
//   - time.Time values are compared with Equal. A driver.Valuer
//     (sql.NullString, pgtype.Text, …) is compared by its Value; a
//     json.Marshaler or encoding.TextMarshaler by its JSON or text form.
//     Values of kinds encoding/json cannot encode (channels, functions,
//     complex numbers) are ignored.
//   - Old and New hold the values in the form the event will be stored
//     in: nil, bool, float64 (json.Number beyond ±2^53), string (times
//     as RFC 3339, []byte as base64, NaN and infinities as "NaN",
//     "+Inf", "-Inf"), []any and map[string]any, with excluded keys left
//     out.
//
// The result is deterministic: the same input gives the same changes.
// When there are more than MaxMapEntries changes, the first
// MaxMapEntries-1 in traversal order (struct fields in declaration
// order, map keys sorted, list elements in old then new order) are kept
// and DiffTruncatedKey counts the rest, so that the event still passes
// Validate.
//
// Diff fails with a *FieldError wrapping ErrInvalid, naming the path,
// when old or new is not an object, when the two differ in diffShape where
// their Go types are fixed (a struct field holds a struct on one side
// and a string on the other, or a struct is compared with a map or
// another struct type that lacks one of its keys), when a value nests
// deeper than MaxDepth, or when a Valuer or Marshaler fails. Values held
// in interfaces (map[string]any, decoded JSON) never differ in shape:
// an object that becomes a string is an ordinary change.
//
// Diff is safe for concurrent use.
func Diff(old, new any, opts *DiffOptions) (map[string]Change, error) {
	d := newDiffer(opts)
	out, _, err := d.run(old, new)
	return out, err
}

// differ holds the state of one Diff call.
type differ struct {
	exclude    diffRules
	listKeys   diffRules
	jsonFields diffRules
	maxDepth   int
	limit      int

	stack []diffPathSeg // the path of the value being compared
	probe int           // >0: only learn whether anything differs
	out   map[string]Change
	n     int    // changes found, including those left out
	last  string // key of the last change kept
}

// diffPathSeg is one segment of a path.
type diffPathSeg struct {
	text string // as written in a key: "address", `["a.b"]`, "[id=7]"; "" for "[idx]"
	name string // the raw key name; "" for list selectors
	sel  bool   // a list selector, left out when matching rules
	idx  int
}

// diffRules are the names and paths of DiffOptions' lists.
type diffRules struct {
	names map[string]string
	paths []diffRule
}

type diffRule struct {
	segs []string
	val  string
}

func (r *diffRules) add(key, val string) {
	if !strings.Contains(key, ".") {
		if r.names == nil {
			r.names = make(map[string]string)
		}
		r.names[key] = val
		return
	}
	r.paths = append(r.paths, diffRule{segs: strings.Split(key, "."), val: val})
}

func (r *diffRules) empty() bool { return len(r.names) == 0 && len(r.paths) == 0 }

// errDiffFound stops a probe at the first difference.
var errDiffFound = errors.New("difference found")

func newDiffer(opts *DiffOptions) *differ {
	d := &differ{maxDepth: 32, limit: MaxMapEntries}
	if opts == nil {
		return d
	}
	if opts.MaxDepth > 0 {
		d.maxDepth = opts.MaxDepth
	}
	for _, k := range opts.Exclude {
		d.exclude.add(k, "")
	}
	for k, v := range opts.ListKeys {
		d.listKeys.add(k, v)
	}
	for _, k := range opts.JSONFields {
		d.jsonFields.add(k, "")
	}
	return d
}

// run diffs old and new; n counts every change found, kept or not.
func (d *differ) run(old, new any) (map[string]Change, int, error) {
	a, b := reflect.ValueOf(old), reflect.ValueOf(new)
	var err error
	if a, _, _, err = d.prepare(a, true, nil); err != nil {
		return nil, 0, err
	}
	if b, _, _, err = d.prepare(b, true, nil); err != nil {
		return nil, 0, err
	}
	for _, s := range [...]struct {
		name string
		v    reflect.Value
	}{{"old", a}, {"new", b}} {
		if s.v.IsValid() && s.v.Kind() != reflect.Struct && s.v.Kind() != reflect.Map {
			return nil, 0, Invalid(s.name, s.v.Type().String(), "must be a struct, a map with string keys, or a pointer to one")
		}
	}
	if !a.IsValid() && !b.IsValid() {
		return nil, 0, nil
	}
	a, b = diffAddressable(a), diffAddressable(b)
	if err := d.objects(a, b, 0); err != nil {
		return nil, 0, err
	}
	if d.n > d.limit {
		d.out[DiffTruncatedKey] = Change{New: float64(d.n - len(d.out))}
	}
	return d.out, d.n, nil
}

// diffAddressable copies a struct that is not diffAddressable, so that its
// fields are: then time.Time fields are read without allocating and
// pointer-receiver methods are found.
func diffAddressable(v reflect.Value) reflect.Value {
	if !v.IsValid() || v.Kind() != reflect.Struct || v.CanAddr() || !diffTypeOf(v.Type()).needAddr {
		return v
	}
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	return c
}

func (d *differ) push(s diffPathSeg) { d.stack = append(d.stack, s) }
func (d *differ) pop()               { d.stack = d.stack[:len(d.stack)-1] }

// key returns the current path as a key.
func (d *differ) key() string {
	var b strings.Builder
	for i, s := range d.stack {
		switch {
		case s.sel && s.text == "":
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.idx))
			b.WriteByte(']')
		case s.sel || i == 0 || strings.HasPrefix(s.text, "["):
			b.WriteString(s.text)
		default:
			b.WriteByte('.')
			b.WriteString(s.text)
		}
	}
	return b.String()
}

// rule looks up the rule for the key name at the current path (name is
// not yet on the stack).
func (d *differ) rule(r *diffRules, name string) (string, bool) {
	if v, ok := r.names[name]; ok {
		return v, true
	}
	for _, p := range r.paths {
		if d.matches(p.segs, name) {
			return p.val, true
		}
	}
	return "", false
}

func (d *differ) matches(segs []string, name string) bool {
	if segs[len(segs)-1] != name {
		return false
	}
	i := 0
	for _, s := range d.stack {
		if s.sel {
			continue
		}
		if i >= len(segs)-1 || segs[i] != s.name {
			return false
		}
		i++
	}
	return i == len(segs)-1
}

func (d *differ) excluded(name string) bool {
	if d.exclude.empty() {
		return false
	}
	_, ok := d.rule(&d.exclude, name)
	return ok
}

// isJSONField reports whether the value on top of the stack is one of
// DiffOptions.JSONFields.
func (d *differ) isJSONField() bool {
	if d.jsonFields.empty() || len(d.stack) == 0 {
		return false
	}
	top := d.stack[len(d.stack)-1]
	if top.sel {
		return false
	}
	d.stack = d.stack[:len(d.stack)-1]
	_, ok := d.rule(&d.jsonFields, top.name)
	d.stack = d.stack[:len(d.stack)+1]
	return ok
}

func (d *differ) tooDeep(depth int) error {
	if depth <= d.maxDepth {
		return nil
	}
	k := d.key()
	return Invalid(truncate(k, 256), "", "is nested deeper than "+strconv.Itoa(d.maxDepth)+" levels (a cycle?)")
}

// emit records a change at the current path.
func (d *differ) emit(old, new any) {
	d.n++
	if d.n > d.limit {
		if d.n == d.limit+1 {
			delete(d.out, d.last) // make room for DiffTruncatedKey
		}
		return
	}
	if d.out == nil {
		d.out = make(map[string]Change)
	}
	k := d.key()
	d.out[k] = Change{Old: old, New: new}
	d.last = k
}

// whole reports a and b, exported whole, as a change unless both are
// nil.
func (d *differ) whole(a, b reflect.Value, depth int) error {
	x, err := d.export(a, depth)
	if err != nil {
		return err
	}
	y, err := d.export(b, depth)
	if err != nil {
		return err
	}
	if x == nil && y == nil {
		return nil
	}
	if d.probe > 0 {
		return errDiffFound
	}
	d.emit(x, y)
	return nil
}

// value compares a and b at the current path. dynA and dynB say that
// the value was held in an interface, where a change of diffShape is a
// change, not an error.
//
// ha and hb, when not nil, are the type information of a and b's
// static types, saving a lookup.
func (d *differ) value(a, b reflect.Value, dynA, dynB bool, ha, hb *diffType, depth int) error {
	if err := d.tooDeep(depth); err != nil {
		return err
	}
	if diffSameRef(a, b) {
		return nil
	}
	var (
		ta, tb *diffType
		err    error
	)
	if a, ta, dynA, err = d.prepare(a, dynA, ha); err != nil {
		return err
	}
	if b, tb, dynB, err = d.prepare(b, dynB, hb); err != nil {
		return err
	}
	if !a.IsValid() || !b.IsValid() {
		if !a.IsValid() && !b.IsValid() {
			return nil
		}
		return d.whole(a, b, depth)
	}
	if diffSameRef(a, b) {
		return nil
	}
	ca, cb := diffShape(ta), diffShape(tb)
	switch {
	case ca == diffShapeObject && cb == diffShapeObject:
		return d.objects(a, b, depth)
	case ca == diffShapeList && cb == diffShapeList:
		return d.lists(a, b, depth)
	case ca == diffShapeLeaf && cb == diffShapeLeaf:
		if eq, x, y := diffLeafEqual(a, b, ta, tb); !eq {
			if d.probe > 0 {
				return errDiffFound
			}
			if x == nil && y == nil {
				x, y = diffCanon(a, ta), diffCanon(b, tb)
			}
			d.emit(x, y)
		}
		return nil
	case dynA || dynB:
		return d.whole(a, b, depth)
	}
	return Invalid(truncate(d.key(), 256), "old "+a.Type().String()+", new "+b.Type().String(), "has a different diffShape in old and new")
}

func diffSameRef(a, b reflect.Value) bool {
	if !a.IsValid() || !b.IsValid() || a.Kind() != b.Kind() || a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Map:
		return !a.IsNil() && a.Pointer() == b.Pointer()
	case reflect.Slice:
		return a.Len() == b.Len() && a.Len() > 0 && a.Pointer() == b.Pointer()
	}
	return false
}

const (
	diffShapeLeaf = iota
	diffShapeObject
	diffShapeList
)

// diffShape classifies a prepared value.
func diffShape(ti *diffType) int {
	switch ti.cls {
	case dcStruct, dcMap:
		return diffShapeObject
	case dcList:
		return diffShapeList
	}
	return diffShapeLeaf
}

// prepare follows pointers and interfaces, turns Valuers, Marshalers
// and JSON text into plain values, and turns nil maps and lists and
// values that cannot be encoded into the invalid Value (nil). What it
// returns is invalid, a leaf (dcBasic, dcNumber, dcBytes, dcTime),
// an object (dcStruct, dcMap) or a list.
func (d *differ) prepare(v reflect.Value, dyn bool, hint *diffType) (reflect.Value, *diffType, bool, error) {
	for range 4 { // a Valuer's Value is a plain value; bound the loop anyway
		v, dyn = diffDeref(v, dyn)
		if !v.IsValid() {
			return v, nil, dyn, nil
		}
		ti := hint
		if ti == nil || ti.t != v.Type() {
			ti = diffTypeOf(v.Type())
		}
		hint = nil
		cls := ti.cls
		if v.CanAddr() {
			cls = ti.addrCls
		}
		if (cls == dcTime || cls >= dcValuer && cls <= dcMarshalWhole) && !v.CanInterface() {
			return reflect.Value{}, nil, dyn, nil
		}
		switch cls {
		case dcSkip:
			return reflect.Value{}, nil, dyn, nil
		case dcMap, dcList:
			if v.Kind() != reflect.Array && v.IsNil() {
				return reflect.Value{}, nil, dyn, nil
			}
			return v, ti, dyn, nil
		case dcRaw:
			if x, ok := diffDecodeJSON(v.Bytes()); ok {
				v, dyn = reflect.ValueOf(x), true
				continue
			}
			v = reflect.ValueOf(strings.ToValidUTF8(string(v.Bytes()), "\uFFFD"))
			return v, diffTypeOf(v.Type()), dyn, nil
		case dcBasic, dcBytes:
			if (v.Kind() == reflect.String || cls == dcBytes) && d.isJSONField() {
				var raw []byte
				if cls == dcBytes {
					raw = v.Bytes()
				} else {
					raw = []byte(v.String())
				}
				if len(bytes.TrimSpace(raw)) == 0 {
					return reflect.Value{}, nil, dyn, nil
				}
				if x, ok := diffDecodeJSON(raw); ok {
					v, dyn = reflect.ValueOf(x), true
					continue
				}
			}
			return v, ti, dyn, nil
		case dcValuer:
			x, err := diffValuer(v)
			if err != nil {
				return v, nil, dyn, Invalid(truncate(d.key(), 256), v.Type().String(), "Value failed: "+err.Error())
			}
			if b, ok := x.([]byte); ok {
				if t := bytes.TrimSpace(b); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
					if y, ok := diffDecodeJSON(t); ok {
						x = y
					}
				}
			}
			v, dyn = reflect.ValueOf(x), true
			continue
		case dcMarshalJSON, dcMarshalText, dcMarshalWhole:
			x, err := diffMarshal(v, cls)
			if err != nil {
				return v, nil, dyn, Invalid(truncate(d.key(), 256), v.Type().String(), "cannot be encoded: "+err.Error())
			}
			v, dyn = reflect.ValueOf(x), true
			continue
		}
		return v, ti, dyn, nil
	}
	return reflect.Value{}, nil, dyn, nil
}

// diffDeref follows pointers and interfaces; a nil one gives the invalid
// Value.
func diffDeref(v reflect.Value, dyn bool) (reflect.Value, bool) {
	for v.IsValid() {
		switch v.Kind() {
		case reflect.Interface:
			if v.IsNil() {
				return reflect.Value{}, true
			}
			v, dyn = v.Elem(), true
		case reflect.Pointer:
			if v.IsNil() {
				return reflect.Value{}, dyn
			}
			v = v.Elem()
		default:
			return v, dyn
		}
	}
	return v, dyn
}

func diffValuer(v reflect.Value) (driver.Value, error) {
	var vr driver.Valuer
	if x, ok := v.Interface().(driver.Valuer); ok {
		vr = x
	} else {
		vr = v.Addr().Interface().(driver.Valuer)
	}
	return vr.Value()
}

func diffMarshal(v reflect.Value, cls diffClass) (any, error) {
	var (
		b   []byte
		err error
	)
	switch cls {
	case dcMarshalJSON:
		m, ok := v.Interface().(json.Marshaler)
		if !ok {
			m = v.Addr().Interface().(json.Marshaler)
		}
		b, err = m.MarshalJSON()
	case dcMarshalText:
		m, ok := v.Interface().(encoding.TextMarshaler)
		if !ok {
			m = v.Addr().Interface().(encoding.TextMarshaler)
		}
		if b, err = m.MarshalText(); err == nil {
			return string(b), nil
		}
	default:
		b, err = json.Marshal(v.Interface())
	}
	if err != nil {
		return nil, err
	}
	x, ok := diffDecodeJSON(b)
	if !ok {
		return nil, errors.New("not valid JSON")
	}
	return x, nil
}

// diffDecodeJSON decodes one JSON value, keeping numbers as json.Number.
func diffDecodeJSON(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return x, true
}

// objects compares two objects, either of which may be invalid (nil,
// at the top).
func (d *differ) objects(a, b reflect.Value, depth int) error {
	if a.IsValid() && b.IsValid() && a.Type() == b.Type() && a.Kind() == reflect.Struct {
		ti := diffTypeOf(a.Type())
		for i := range ti.fields {
			f := &ti.fields[i]
			if d.excluded(f.name) {
				continue
			}
			d.push(diffPathSeg{text: f.seg, name: f.name})
			err := d.value(f.get(a), f.get(b), f.dyn, f.dyn, f.ti, f.ti, depth+1)
			d.pop()
			if err != nil {
				return err
			}
		}
		return nil
	}
	va, vb := diffView(a), diffView(b)
	strict := a.IsValid() && b.IsValid() && a.Type() != b.Type() && (a.Kind() == reflect.Struct || b.Kind() == reflect.Struct)
	keys := va.keys
	if len(vb.keys) > 0 {
		keys = make([]string, 0, len(va.keys)+len(vb.keys))
		keys = append(keys, va.keys...)
		for _, k := range vb.keys {
			if !va.has(k) {
				keys = append(keys, k)
			}
		}
		if a.Kind() != reflect.Struct && b.Kind() != reflect.Struct {
			slices.Sort(keys)
		}
	}
	for _, k := range keys {
		if d.excluded(k) {
			continue
		}
		x, dx, okA := va.get(k)
		y, dy, okB := vb.get(k)
		d.push(diffPathSeg{text: diffSeg(k), name: k})
		var err error
		if strict && okA != okB {
			side, other, t, u := "old", "new", a.Type(), b.Type()
			if !okA {
				side, other, t, u = "new", "old", b.Type(), a.Type()
			}
			err = Invalid(truncate(d.key(), 256), t.String()+" vs "+u.String(), "is in "+side+" but not in "+other)
		} else {
			err = d.value(x, y, dx, dy, nil, nil, depth+1)
		}
		d.pop()
		if err != nil {
			return err
		}
	}
	return nil
}

// diffObjView lists the keys of a struct or a map.
type diffObjView struct {
	v    reflect.Value
	ti   *diffType
	keys []string
	vals map[string]reflect.Value
}

func diffView(v reflect.Value) diffObjView {
	o := diffObjView{v: v}
	if !v.IsValid() {
		return o
	}
	if v.Kind() == reflect.Struct {
		o.ti = diffTypeOf(v.Type())
		o.keys = o.ti.names
		return o
	}
	o.vals = make(map[string]reflect.Value, v.Len())
	o.keys = make([]string, 0, v.Len())
	it := v.MapRange()
	for it.Next() {
		k := diffMapKey(it.Key())
		o.keys = append(o.keys, k)
		o.vals[k] = it.Value()
	}
	slices.Sort(o.keys)
	return o
}

func diffMapKey(k reflect.Value) string {
	switch k.Kind() {
	case reflect.String:
		return k.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10)
	default:
		return strconv.FormatUint(k.Uint(), 10)
	}
}

func (o *diffObjView) has(k string) bool {
	if o.ti != nil {
		_, ok := o.ti.byName[k]
		return ok
	}
	_, ok := o.vals[k]
	return ok
}

// get returns the value under k, whether it was held in an interface,
// and whether k is a key of the object.
func (o *diffObjView) get(k string) (reflect.Value, bool, bool) {
	if o.ti != nil {
		i, ok := o.ti.byName[k]
		if !ok {
			return reflect.Value{}, false, false
		}
		f := &o.ti.fields[i]
		return f.get(o.v), f.dyn, true
	}
	if o.vals == nil {
		return reflect.Value{}, false, false
	}
	v, ok := o.vals[k]
	return v, o.v.Type().Elem().Kind() == reflect.Interface, ok
}

// lists compares two lists: element by element when they are keyed,
// else whole.
func (d *differ) lists(a, b reflect.Value, depth int) error {
	dynA, dynB := a.Type().Elem().Kind() == reflect.Interface, b.Type().Elem().Kind() == reflect.Interface
	if key, ia, ib, ok := d.listIDs(a, b); ok {
		sel := func(id string) diffPathSeg { return diffPathSeg{text: "[" + key + "=" + id + "]", sel: true} }
		for _, id := range ia.order {
			i := ia.at[id]
			d.push(sel(id))
			var err error
			if j, ok := ib.at[id]; ok {
				err = d.value(a.Index(i), b.Index(j), dynA, dynB, nil, nil, depth+1)
			} else {
				err = d.whole(a.Index(i), reflect.Value{}, depth+1)
			}
			d.pop()
			if err != nil {
				return err
			}
		}
		for _, id := range ib.order {
			if _, ok := ia.at[id]; ok {
				continue
			}
			d.push(sel(id))
			err := d.whole(reflect.Value{}, b.Index(ib.at[id]), depth+1)
			d.pop()
			if err != nil {
				return err
			}
		}
		return nil
	}
	differ := a.Len() != b.Len()
	if !differ {
		d.probe++
		for i := 0; i < a.Len(); i++ {
			d.push(diffPathSeg{sel: true, idx: i})
			err := d.value(a.Index(i), b.Index(i), dynA, dynB, nil, nil, depth+1)
			d.pop()
			if err == errDiffFound {
				differ = true
				break
			}
			if err != nil {
				d.probe--
				return err
			}
		}
		d.probe--
	}
	if !differ {
		return nil
	}
	if d.probe > 0 {
		return errDiffFound
	}
	return d.whole(a, b, depth)
}

type diffListIndex struct {
	order []string
	at    map[string]int
}

// listIDs finds the field that identifies the elements of a and b.
func (d *differ) listIDs(a, b reflect.Value) (string, diffListIndex, diffListIndex, bool) {
	if a.Len()+b.Len() == 0 || len(d.stack) == 0 {
		return "", diffListIndex{}, diffListIndex{}, false
	}
	candidates := []string{"id", "ID"}
	top := d.stack[len(d.stack)-1]
	if !top.sel {
		d.stack = d.stack[:len(d.stack)-1]
		k, ok := d.rule(&d.listKeys, top.name)
		d.stack = d.stack[:len(d.stack)+1]
		if ok {
			if k == "-" || k == "" {
				return "", diffListIndex{}, diffListIndex{}, false
			}
			candidates = []string{k}
		}
	}
	for _, key := range candidates {
		ia, okA := diffIndexList(a, key)
		if !okA {
			continue
		}
		if ib, okB := diffIndexList(b, key); okB {
			return diffSeg(key), ia, ib, true
		}
	}
	return "", diffListIndex{}, diffListIndex{}, false
}

func diffIndexList(l reflect.Value, key string) (diffListIndex, bool) {
	ix := diffListIndex{order: make([]string, 0, l.Len()), at: make(map[string]int, l.Len())}
	for i := 0; i < l.Len(); i++ {
		e, _ := diffDeref(l.Index(i), false)
		if !e.IsValid() {
			return ix, false
		}
		var id reflect.Value
		switch e.Kind() {
		case reflect.Struct:
			ti := diffTypeOf(e.Type())
			if ti.cls != dcStruct {
				return ix, false
			}
			j, ok := ti.byName[key]
			if !ok {
				return ix, false
			}
			id = ti.fields[j].get(e)
		case reflect.Map:
			if e.Type().Key().Kind() != reflect.String {
				return ix, false
			}
			id = e.MapIndex(reflect.ValueOf(key).Convert(e.Type().Key()))
		default:
			return ix, false
		}
		id, _ = diffDeref(id, false)
		s, ok := diffFormatID(id)
		if !ok {
			return ix, false
		}
		if _, dup := ix.at[s]; dup {
			return ix, false
		}
		ix.at[s] = i
		ix.order = append(ix.order, s)
	}
	return ix, true
}

// diffFormatID writes a string or number id as it appears in a selector.
func diffFormatID(v reflect.Value) (string, bool) {
	if !v.IsValid() {
		return "", false
	}
	ti := diffTypeOf(v.Type())
	if ti.cls != dcBasic && ti.cls != dcNumber {
		return "", false
	}
	switch v.Kind() {
	case reflect.String:
		if ti.cls == dcNumber {
			x := diffNumber(v.String())
			if f, ok := x.(float64); ok {
				return strconv.FormatFloat(f, 'f', -1, 64), true
			}
			return diffIDText(v.String()), true
		}
		return diffIDText(v.String()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(v.Uint(), 10), true
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", false
		}
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	return "", false
}

func diffIDText(s string) string {
	if s == "" || !utf8.ValidString(s) || strings.ContainsAny(s, `[]"`) {
		return strconv.Quote(s)
	}
	return s
}

// diffSeg writes a key name as a path segment, quoted in brackets when
// it would be ambiguous.
func diffSeg(k string) string {
	if k == "" || !utf8.ValidString(k) || strings.ContainsAny(k, `.[]"`) {
		return "[" + strconv.Quote(k) + "]"
	}
	return k
}

// diffLeafEqual compares two leaves. When they differ and the comparison
// produced their canonical forms, it returns them.
func diffLeafEqual(a, b reflect.Value, ta, tb *diffType) (bool, any, any) {
	if ta == tb || ta.t == tb.t {
		switch ta.cls {
		case dcTime:
			return diffTimeOf(a).Equal(diffTimeOf(b)), nil, nil
		case dcBytes:
			return bytes.Equal(a.Bytes(), b.Bytes()), nil, nil
		case dcBasic:
			switch a.Kind() {
			case reflect.Bool:
				return a.Bool() == b.Bool(), nil, nil
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				return a.Int() == b.Int(), nil, nil
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
				return a.Uint() == b.Uint(), nil, nil
			case reflect.Float32, reflect.Float64:
				x, y := a.Float(), b.Float()
				return x == y || math.IsNaN(x) && math.IsNaN(y), nil, nil
			case reflect.String:
				return a.String() == b.String(), nil, nil
			}
		}
	}
	x, y := diffCanon(a, ta), diffCanon(b, tb)
	return x == y, x, y
}

func diffTimeOf(v reflect.Value) time.Time {
	if v.CanAddr() {
		return *v.Addr().Interface().(*time.Time)
	}
	return v.Interface().(time.Time)
}

// diffCanon returns a leaf in its JSON-safe form.
func diffCanon(v reflect.Value, ti *diffType) any {
	switch ti.cls {
	case dcTime:
		return diffTimeOf(v).Format(time.RFC3339Nano)
	case dcBytes:
		return base64.StdEncoding.EncodeToString(v.Bytes())
	case dcNumber:
		return diffNumber(v.String())
	}
	switch v.Kind() {
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64OrNumber(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := v.Uint()
		if u > 1<<53 {
			return json.Number(strconv.FormatUint(u, 10))
		}
		return float64(u)
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return jsonFloatString(f)
		}
		return f
	case reflect.String:
		return v.String()
	}
	return nil
}

// diffNumber returns a JSON number as a float64, or as a json.Number
// when a float64 would not hold it exactly; text that is not a JSON
// number stays a string.
func diffNumber(s string) any {
	if s == "" || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9') || !json.Valid([]byte(s)) {
		return s
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return float64OrNumber(i)
	} else if errors.Is(err, strconv.ErrRange) {
		return json.Number(s)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return json.Number(s)
}

// export returns v, with excluded keys left out, in JSON-safe form.
func (d *differ) export(v reflect.Value, depth int) (any, error) {
	if err := d.tooDeep(depth); err != nil {
		return nil, err
	}
	v, ti, _, err := d.prepare(v, false, nil)
	if err != nil || !v.IsValid() {
		return nil, err
	}
	switch ti.cls {
	case dcStruct:
		m := make(map[string]any, len(ti.fields))
		for i := range ti.fields {
			f := &ti.fields[i]
			if d.excluded(f.name) {
				continue
			}
			d.push(diffPathSeg{text: f.seg, name: f.name})
			x, err := d.export(f.get(v), depth+1)
			d.pop()
			if err != nil {
				return nil, err
			}
			m[f.name] = x
		}
		return m, nil
	case dcMap:
		m := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			k := diffMapKey(it.Key())
			if d.excluded(k) {
				continue
			}
			d.push(diffPathSeg{text: diffSeg(k), name: k})
			x, err := d.export(it.Value(), depth+1)
			d.pop()
			if err != nil {
				return nil, err
			}
			m[k] = x
		}
		return m, nil
	case dcList:
		l := make([]any, v.Len())
		for i := range l {
			d.push(diffPathSeg{sel: true, idx: i})
			x, err := d.export(v.Index(i), depth+1)
			d.pop()
			if err != nil {
				return nil, err
			}
			l[i] = x
		}
		return l, nil
	}
	return diffCanon(v, ti), nil
}

// diffClass says how Diff treats values of a type.
type diffClass uint8

const (
	dcSkip   diffClass = iota // chan, func, complex, unsafe pointer: ignored
	dcBasic                   // bool, integers, floats, strings
	dcNumber                  // json.Number
	dcBytes                   // []byte
	dcTime                    // time.Time
	dcRaw                     // json.RawMessage
	dcValuer                  // driver.Valuer
	dcMarshalJSON
	dcMarshalText
	dcMarshalWhole // a map whose keys are neither strings nor integers: through encoding/json
	dcStruct
	dcMap
	dcList
	dcIndirect // pointer or interface
)

// diffType is what Diff and RenderMessage know of a type.
type diffType struct {
	t        reflect.Type
	cls      diffClass // for a value that is not diffAddressable
	addrCls  diffClass // for an diffAddressable value (pointer-receiver methods)
	needAddr bool      // a struct with fields that are cheaper to read when diffAddressable
	fields   []diffField
	names    []string       // JSON names of fields, in order
	byName   map[string]int // JSON name → index in fields
	byGoName map[string]int // Go name → index in fields
}

type diffField struct {
	name   string // JSON name
	goName string
	seg    string // name as a path segment
	index  []int
	dyn    bool      // the field's type is an interface
	ti     *diffType // the field's type
}

func (f *diffField) get(v reflect.Value) reflect.Value {
	if len(f.index) == 1 {
		return v.Field(f.index[0])
	}
	for i, x := range f.index {
		if i > 0 {
			if v.Kind() == reflect.Pointer {
				if v.IsNil() {
					return reflect.Value{}
				}
				v = v.Elem()
			}
		}
		v = v.Field(x)
	}
	return v
}

var diffTypes sync.Map // reflect.Type → *diffType

var (
	diffTypeTime        = reflect.TypeFor[time.Time]()
	diffTypeRaw         = reflect.TypeFor[json.RawMessage]()
	diffTypeNumber      = reflect.TypeFor[json.Number]()
	diffTypeValuer      = reflect.TypeFor[driver.Valuer]()
	diffTypeMarshaler   = reflect.TypeFor[json.Marshaler]()
	diffTypeTextMarshal = reflect.TypeFor[encoding.TextMarshaler]()
)

func diffTypeOf(t reflect.Type) *diffType {
	if ti, ok := diffTypes.Load(t); ok {
		return ti.(*diffType)
	}
	ti := diffBuildType(t)
	actual, _ := diffTypes.LoadOrStore(t, ti)
	return actual.(*diffType)
}

func diffClassify(t reflect.Type, addr bool) diffClass {
	implements := func(i reflect.Type) bool {
		return t.Implements(i) || addr && t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && reflect.PointerTo(t).Implements(i)
	}
	switch {
	case t == diffTypeRaw:
		return dcRaw
	case t == diffTypeTime:
		return dcTime
	case t == diffTypeNumber:
		return dcNumber
	case t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface:
		return dcIndirect
	case implements(diffTypeValuer):
		return dcValuer
	case implements(diffTypeMarshaler):
		return dcMarshalJSON
	case implements(diffTypeTextMarshal):
		return dcMarshalText
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return dcBasic
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !reflect.PointerTo(t.Elem()).Implements(diffTypeMarshaler) && !reflect.PointerTo(t.Elem()).Implements(diffTypeTextMarshal) {
			return dcBytes
		}
		return dcList
	case reflect.Array:
		return dcList
	case reflect.Struct:
		return dcStruct
	case reflect.Map:
		switch t.Key().Kind() {
		case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			return dcMap
		}
		return dcMarshalWhole
	}
	return dcSkip
}

func diffBuildType(t reflect.Type) *diffType {
	ti := &diffType{t: t, cls: diffClassify(t, false), addrCls: diffClassify(t, true)}
	if ti.cls != dcStruct && ti.addrCls != dcStruct {
		return ti
	}
	ti.needAddr = diffNeedsAddr(t, 0)
	ti.fields = diffStructFields(t)
	ti.names = make([]string, len(ti.fields))
	ti.byName = make(map[string]int, len(ti.fields))
	ti.byGoName = make(map[string]int, len(ti.fields))
	for i, f := range ti.fields {
		ti.names[i] = f.name
		ti.byName[f.name] = i
		if _, ok := ti.byGoName[f.goName]; !ok {
			ti.byGoName[f.goName] = i
		}
	}
	return ti
}

// diffNeedsAddr reports whether a struct holds, inline, a time.Time or a
// type whose methods have pointer receivers.
func diffNeedsAddr(t reflect.Type, depth int) bool {
	if depth > 8 {
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		ft := t.Field(i).Type
		if ft == diffTypeTime || diffClassify(ft, false) != diffClassify(ft, true) {
			return true
		}
		if ft.Kind() == reflect.Struct && diffNeedsAddr(ft, depth+1) {
			return true
		}
	}
	return false
}

// diffStructFields lists the fields of t as encoding/json names them,
// embedded structs flattened: a shallower field hides a deeper one of
// the same name, and of several at the same depth a tagged one wins, or
// else none.
func diffStructFields(t reflect.Type) []diffField {
	type cand struct {
		f      diffField
		depth  int
		tagged bool
	}
	var cands []cand
	var walk func(t reflect.Type, index []int, depth int)
	walk = func(t reflect.Type, index []int, depth int) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			ft := sf.Type
			if sf.Anonymous {
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !sf.IsExported() && ft.Kind() != reflect.Struct {
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			tag := sf.Tag.Get("json")
			if tag == "-" || sf.Tag.Get("audit") == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), index...), i)
			if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
				if depth < 8 {
					walk(ft, idx, depth+1)
				}
				continue
			}
			if !sf.IsExported() {
				continue
			}
			if k := ft.Kind(); k == reflect.Chan || k == reflect.Func || k == reflect.Complex64 || k == reflect.Complex128 || k == reflect.UnsafePointer {
				continue
			}
			tagged := name != ""
			if !tagged {
				name = sf.Name
			}
			dyn := sf.Type.Kind() == reflect.Interface
			cands = append(cands, cand{f: diffField{name: name, goName: sf.Name, seg: diffSeg(name), index: idx, dyn: dyn, ti: diffTypeOf(sf.Type)}, depth: depth, tagged: tagged})
		}
	}
	walk(t, nil, 0)
	byName := make(map[string][]int)
	for i, c := range cands {
		byName[c.f.name] = append(byName[c.f.name], i)
	}
	var out []diffField
	for i, c := range cands {
		keep := true
		for _, j := range byName[c.f.name] {
			o := cands[j]
			if j == i {
				continue
			}
			if o.depth < c.depth || o.depth == c.depth && (o.tagged && !c.tagged || o.tagged == c.tagged) {
				keep = false
			}
		}
		if keep {
			out = append(out, c.f)
		}
	}
	slices.SortStableFunc(out, func(x, y diffField) int { return slices.Compare(x.index, y.index) })
	return out
}
