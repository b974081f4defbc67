package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
)

var _ activitylog.Scanner = (*Store)(nil)

// scanHold is how long Scan keeps one statement, and so one read
// transaction, open before it ends it and starts the next one where it
// stopped; scanCheckEvery is how many rows it reads between looks at
// the clock. Variables for the tests.
var (
	scanHold       = time.Second
	scanCheckEvery = 64
)

// Scan calls fn with each event that matches f, in f's ordering, as
// activitylog.Scanner describes.
//
// It reads with one statement, row by row, rather than in pages: a page
// is a statement that SQLite plans and, for an ordering that no index
// gives, sorts again each time. But a statement is a read transaction,
// which holds a connection of the read pool and keeps checkpoints from
// recycling the write-ahead log, and fn runs while it is open (it may
// be writing to a slow client). So once a statement has been open for
// about a second (scanHold), Scan ends it and starts another after the
// last event it returned, keyset style, as Query's cursors do.
//
// Each row's document is decoded into one Event that Scan reuses, maps
// included; documents in the form Write stores are decoded without
// reflection (docDecoder.decode), which is most of what makes Scan
// faster than paging.
func (s *Store) Scan(ctx context.Context, f activitylog.Filter, fn func(e *activitylog.Event) error) error {
	f.Cursor, f.Page, f.PageSize = "", 0, 0
	f, err := f.Normalize(time.Now())
	if err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("scan events: %w", errClosed)
	}
	col, ok := orderColumns[f.Field()]
	if !ok { // Normalize admits only activitylog.Orderings
		return activitylog.Invalid("ordering", f.Ordering, "is not supported by this store")
	}
	sc := scanner{s: s, f: f, col: col, fn: fn}
	for {
		done, err := sc.statement(ctx)
		if err != nil || done {
			return err
		}
	}
}

// scanner is the state of one Scan.
type scanner struct {
	s   *Store
	f   activitylog.Filter // normalized
	col string             // the ordering's column
	fn  func(*activitylog.Event) error
	e   activitylog.Event // reused for every row
	d   docDecoder

	// Where the last statement stopped: the ordering value and id of the
	// last event returned. started is false before the first statement.
	started bool
	num     int64
	text    string
	id      activitylog.ID
}

// statement runs one statement from where the last one stopped. It
// returns done when the scan has read every matching event.
func (sc *scanner) statement(ctx context.Context) (done bool, err error) {
	sqlText, args := sc.selectSQL()
	rows, err := sc.s.r.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return false, fmt.Errorf("scan events: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	start := time.Now()
	var (
		doc      string
		id, text sql.RawBytes // valid until Next
		ns, num  int64
		dest     = []any{&doc, &ns, &id}
	)
	switch {
	case sc.col == "time":
	case activitylog.NumericOrdering(sc.f.Field()):
		dest = append(dest, &num)
	default:
		dest = append(dest, &text)
	}
	for n := 1; rows.Next(); n++ {
		if err := rows.Scan(dest...); err != nil {
			return false, fmt.Errorf("scan events: %w", unavailable(ctx, err))
		}
		if err := sc.d.decode(&sc.e, doc, ns); err != nil {
			return false, fmt.Errorf("scan events: decode: %w", err)
		}
		if err := sc.fn(&sc.e); err != nil {
			return false, err
		}
		// database/sql ends the statement when ctx ends, but from
		// another goroutine, some rows later.
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if n%scanCheckEvery == 0 && time.Since(start) >= scanHold {
			// Stop here; the next statement starts after this row.
			if len(id) != len(sc.id) {
				return false, fmt.Errorf("scan events: id of %d bytes", len(id))
			}
			sc.started = true
			copy(sc.id[:], id)
			switch {
			case sc.col == "time":
				sc.num = ns
			case activitylog.NumericOrdering(sc.f.Field()):
				sc.num = num
			default:
				sc.text = string(text)
			}
			return false, nil
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("scan events: %w", unavailable(ctx, err))
	}
	return true, nil
}

// selectSQL returns the SELECT for the rest of the scan: the data, time
// and id of every matching event after where the last statement
// stopped, and the ordering column when it is not time.
func (sc *scanner) selectSQL() (string, []any) {
	var q query
	q.where(sc.f)
	col := sc.col
	desc := sc.f.Descending()
	if sc.started {
		// (col, id) strictly beyond (value, id), written as selectPage
		// does so that the col bound can drive an index range.
		op, opEq := ">", ">="
		if desc {
			op, opEq = "<", "<="
		}
		var v any = sc.num
		if !activitylog.NumericOrdering(sc.f.Field()) {
			v = sc.text
		}
		q.cond(col+" "+opEq+" ? AND ("+col+" "+op+" ? OR id "+op+" ?)", v, v, sc.id[:])
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	// data as TEXT: the driver makes a string of it, which decode keeps
	// pieces of, where a BLOB would be a []byte to copy again.
	cols := "CAST(data AS TEXT), time, id"
	if col != "time" {
		cols += ", " + col
	}
	return "SELECT " + cols + " FROM events" + q.whereSQL() + " ORDER BY " + col + dir + ", id" + dir, q.args
}

// decode decodes a stored document into e, which it resets first,
// with its time from the time column, as eventjson.Decode does. A
// document in the form eventjson.Append writes (every key of a struct
// at most once, in the struct's order, no whitespace, no nulls where a
// struct field is) is decoded by docDecoder, which gives what
// encoding/json gives without its reflection; anything else, and
// anything docDecoder is unsure of, goes to eventjson.Decode.
//
// The strings of e are substrings of doc, except those with escapes.
// The maps of its fields are those e had, emptied, or new ones where e
// had none (maps within any-typed values are always new): Scan's fn
// may not keep them. d may be the zero docDecoder, and may be reused
// for the next document.
func (d *docDecoder) decode(e *activitylog.Event, doc string, ns int64) error {
	d.spare = spareMaps{e.Extra, e.Actor.Extra, e.Changes, e.Request.Headers, e.Response.Headers}
	*e = activitylog.Event{}
	d.s, d.i = doc, 0
	ok := d.event(e)
	d.s, d.spare = "", spareMaps{}
	if ok {
		e.Time = time.Unix(0, ns).UTC()
		return nil
	}
	v, err := eventjson.Decode([]byte(doc), ns)
	*e = v
	return err
}

// docDecoder reads a stored document. Each method reads one value at
// s[i:] and reports whether it could; false sends the whole document to
// encoding/json, which decides whether it is valid and what it means.
type docDecoder struct {
	s     string
	i     int
	buf   []byte    // scratch for unquote
	spare spareMaps // the maps of the event decoded before, to reuse
}

// spareMaps are the maps of an Event's fields.
type spareMaps struct {
	extra, actorExtra               map[string]any
	changes                         map[string]activitylog.Change
	requestHeaders, responseHeaders map[string]string
}

// parseID parses an id in its canonical form, as activitylog.ParseID
// does, and reports whether it could.
func parseID(s string) (activitylog.ID, bool) {
	var id activitylog.ID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, false
	}
	var bad byte
	for i, j := 0, 0; j < len(id); j++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, lo := unhex[s[i]], unhex[s[i+1]]
		bad |= hi | lo
		id[j] = hi<<4 | lo
		i += 2
	}
	if bad&0x80 != 0 || id.IsZero() {
		return activitylog.ID{}, false
	}
	return id, true
}

// unhex maps a hex digit to its value, and any other byte to 0xff.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	for i, c := range "ABCDEF" {
		t[c] = byte(10 + i)
	}
	return t
}()

// maxScanDepth bounds the nesting that docDecoder follows in any-typed
// values; deeper documents go to encoding/json.
const maxScanDepth = 1000

var (
	eventKeys    = []string{"id", "time", "kind", "action", "severity", "message", "tenant", "service", "actor", "object", "changes", "request", "response", "tool", "category", "extra"}
	actorKeys    = []string{"id", "name", "email", "type", "extra"}
	objectKeys   = []string{"type", "id", "repr"}
	changeKeys   = []string{"old", "new"}
	geoKeys      = []string{"country", "country_code", "city", "lat", "lon"}
	responseKeys = []string{"status", "duration_ns", "request_bytes", "response_bytes", "headers", "body"}
	requestKeys  = []string{"request_id", "trace_id", "span_id", "method", "host", "path", "route", "query", "remote_ip", "user_agent",
		"browser", "platform", "os", "device", "origin", "referer", "geo", "headers", "body"}
)

func (d *docDecoder) event(e *activitylog.Event) bool {
	ok := d.object(eventKeys, func(k int) bool {
		switch k {
		case 0:
			s, ok := d.str()
			if !ok {
				return false
			}
			id, ok := parseID(s)
			e.ID = id
			return ok
		case 1:
			return d.time()
		case 2:
			return d.strTo((*string)(&e.Kind))
		case 3:
			return d.strTo(&e.Action)
		case 4:
			return d.strTo((*string)(&e.Severity))
		case 5:
			return d.strTo(&e.Message)
		case 6:
			return d.strTo(&e.Tenant)
		case 7:
			return d.strTo(&e.Service)
		case 8:
			return d.actor(&e.Actor)
		case 9:
			o := &e.Object
			return d.object(objectKeys, func(k int) bool {
				return d.strTo([...]*string{&o.Type, &o.ID, &o.Repr}[k])
			})
		case 10:
			e.Changes = d.spare.changes
			return d.changes(&e.Changes)
		case 11:
			return d.request(&e.Request)
		case 12:
			return d.response(&e.Response)
		case 13:
			return d.strTo(&e.Tool)
		case 14:
			return d.strTo(&e.Category)
		case 15:
			e.Extra = d.spare.extra
			return d.anyMapTo(&e.Extra)
		}
		return false
	})
	return ok && d.i == len(d.s)
}

// time reads the document's time and drops it: the time column is the
// event's time. But encoding/json refuses a document whose time does not
// parse, so this checks it as time.Time.UnmarshalJSON does: the bytes
// between the quotes as they are, escapes not undone (a time has none).
func (d *docDecoder) time() bool {
	if !d.byte('"') {
		return false
	}
	end := d.i
	for end < len(d.s) && end-d.i <= 64 && d.s[end] != '"' && d.s[end] != '\\' {
		end++
	}
	if end == len(d.s) || d.s[end] != '"' {
		return false
	}
	var b [64]byte
	var t time.Time
	if t.UnmarshalText(append(b[:0], d.s[d.i:end]...)) != nil {
		return false
	}
	d.i = end + 1
	return true
}

func (d *docDecoder) actor(a *activitylog.Actor) bool {
	return d.object(actorKeys, func(k int) bool {
		switch k {
		case 0:
			return d.strTo(&a.ID)
		case 1:
			return d.strTo(&a.Name)
		case 2:
			return d.strTo(&a.Email)
		case 3:
			return d.strTo((*string)(&a.Type))
		}
		a.Extra = d.spare.actorExtra
		return d.anyMapTo(&a.Extra)
	})
}

func (d *docDecoder) request(r *activitylog.Request) bool {
	return d.object(requestKeys, func(k int) bool {
		switch k {
		case 16:
			g := &r.Geo
			return d.object(geoKeys, func(k int) bool {
				switch k {
				case 3:
					return d.float(&g.Lat)
				case 4:
					return d.float(&g.Lon)
				}
				return d.strTo([...]*string{&g.Country, &g.CountryCode, &g.City}[k])
			})
		case 17:
			r.Headers = d.spare.requestHeaders
			return d.stringMap(&r.Headers)
		case 18:
			return d.strTo(&r.Body)
		}
		return d.strTo([...]*string{&r.RequestID, &r.TraceID, &r.SpanID, &r.Method, &r.Host, &r.Path, &r.Route, &r.Query,
			&r.RemoteIP, &r.UserAgent, &r.Browser, &r.Platform, &r.OS, &r.Device, &r.Origin, &r.Referer}[k])
	})
}

func (d *docDecoder) response(r *activitylog.Response) bool {
	return d.object(responseKeys, func(k int) bool {
		switch k {
		case 0:
			n, ok := d.integer(strconv.IntSize)
			r.Status = int(n)
			return ok
		case 1:
			n, ok := d.integer(64)
			r.Duration = time.Duration(n)
			return ok
		case 2:
			return d.intTo(&r.RequestBytes)
		case 3:
			return d.intTo(&r.ResponseBytes)
		case 4:
			r.Headers = d.spare.responseHeaders
			return d.stringMap(&r.Headers)
		}
		return d.strTo(&r.Body)
	})
}

func (d *docDecoder) changes(m *map[string]activitylog.Change) bool {
	if !d.byte('{') {
		return false
	}
	*m = reuse(*m)
	if d.byte('}') {
		return true
	}
	for {
		k, ok := d.str()
		if !ok || !d.byte(':') {
			return false
		}
		var c activitylog.Change
		if !d.object(changeKeys, func(i int) bool {
			v, ok := d.value(1)
			if i == 0 {
				c.Old = v
			} else {
				c.New = v
			}
			return ok
		}) {
			return false
		}
		(*m)[k] = c
		if d.byte(',') {
			continue
		}
		return d.byte('}')
	}
}

// object reads an object whose keys are among keys, in that order and
// each at most once, and calls field with each key's index to read its
// value. A key out of order, repeated or unknown is left to
// encoding/json; so is null for a struct field, which every reader but
// value refuses.
func (d *docDecoder) object(keys []string, field func(k int) bool) bool {
	if !d.byte('{') {
		return false
	}
	if d.byte('}') {
		return true
	}
	next := 0
	for {
		k, ok := d.str()
		if !ok || !d.byte(':') {
			return false
		}
		i := next
		for i < len(keys) && keys[i] != k {
			i++
		}
		if i == len(keys) || !field(i) {
			return false
		}
		next = i + 1
		if d.byte(',') {
			continue
		}
		return d.byte('}')
	}
}

func (d *docDecoder) stringMap(m *map[string]string) bool {
	if !d.byte('{') {
		return false
	}
	*m = reuse(*m)
	if d.byte('}') {
		return true
	}
	for {
		k, ok := d.str()
		if !ok || !d.byte(':') {
			return false
		}
		v, ok := d.str()
		if !ok {
			return false
		}
		(*m)[k] = v
		if d.byte(',') {
			continue
		}
		return d.byte('}')
	}
}

// reuse returns m emptied, or a new map when m is nil.
func reuse[M ~map[string]V, V any](m M) M {
	if m == nil {
		return make(M)
	}
	clear(m)
	return m
}

// anyMapTo reads an object into *m, emptied, or a new map when *m is
// nil, as encoding/json does into a map field (null is left to it).
func (d *docDecoder) anyMapTo(m *map[string]any) bool {
	if d.peek() != '{' {
		return false
	}
	*m = reuse(*m)
	_, ok := d.anyMap(*m, 1)
	return ok
}

// anyMap reads an object into m, or into a new map when m is nil.
func (d *docDecoder) anyMap(m map[string]any, depth int) (map[string]any, bool) {
	if depth > maxScanDepth || !d.byte('{') {
		return nil, false
	}
	if m == nil {
		m = make(map[string]any)
	}
	if d.byte('}') {
		return m, true
	}
	for {
		k, ok := d.str()
		if !ok || !d.byte(':') {
			return nil, false
		}
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[k] = v
		if d.byte(',') {
			continue
		}
		return m, d.byte('}')
	}
}

// value reads any JSON value as encoding/json does into an any: nil,
// bool, float64, string, []any or map[string]any.
func (d *docDecoder) value(depth int) (any, bool) {
	switch d.peek() {
	case '"':
		s, ok := d.str()
		return s, ok
	case '{':
		m, ok := d.anyMap(nil, depth)
		return m, ok
	case '[':
		if depth > maxScanDepth {
			return nil, false
		}
		d.i++
		a := make([]any, 0)
		if d.byte(']') {
			return a, true
		}
		for {
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			a = append(a, v)
			if d.byte(',') {
				continue
			}
			return a, d.byte(']')
		}
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case 'n':
		return nil, d.literal("null")
	}
	lit, _, ok := d.number()
	if !ok {
		return nil, false
	}
	f, err := strconv.ParseFloat(lit, 64)
	return f, err == nil
}

func (d *docDecoder) peek() byte {
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

// byte consumes c if it is next.
func (d *docDecoder) byte(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *docDecoder) literal(lit string) bool {
	if len(d.s)-d.i >= len(lit) && d.s[d.i:d.i+len(lit)] == lit {
		d.i += len(lit)
		return true
	}
	return false
}

func (d *docDecoder) strTo(p *string) bool {
	s, ok := d.str()
	*p = s
	return ok
}

// str reads a string. One without escapes, in valid UTF-8, is a
// substring of the document; one with escapes is unquoted into a new
// string.
func (d *docDecoder) str() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start, ascii := d.i, true
	j := start
	// Eight bytes at a time while none needs a look.
	for ; j+8 <= len(d.s); j += 8 {
		s := d.s[j : j+8]
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		if !plain8(w) {
			break
		}
	}
	for ; j < len(d.s); j++ {
		c := d.s[j]
		if plain[c] {
			continue
		}
		switch {
		case c == '"':
			if s := d.s[start:j]; ascii || utf8.ValidString(s) {
				d.i = j + 1
				return s, true
			}
			return d.unquoteJSON(start - 1)
		case c == '\\':
			return d.unquote(start - 1)
		case c < 0x20:
			return "", false
		}
		ascii = false
	}
	return "", false
}

// plain8 reports whether the eight bytes of w are all plain: the bit
// tricks of "Bit Twiddling Hacks" (haszero, hasless) find a byte that is
// not: one with its top bit set, one below 0x20, or one equal to the
// quote or the backslash. They may also flag a plain byte above one
// that is not, never miss one.
func plain8(w uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	q, bs := w^(lsb*'"'), w^(lsb*'\\')
	return (w|(w-lsb*0x20)&^w|(q-lsb)&^q|(bs-lsb)&^bs)&msb == 0
}

// plain marks the bytes that str passes over: ASCII but for control
// characters, the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// unquote reads the string whose opening quote is at s[q] and that has
// escapes or bytes beyond ASCII, as encoding/json does. It handles the
// escapes that encoding/json writes for a valid string (\", \\, \n, \r,
// \t, \u for other control characters, <, >, &, U+2028 and U+2029) and
// those of JSON's grammar besides; a surrogate escape, or invalid
// UTF-8 for encoding/json to replace with U+FFFD, goes to
// encoding/json.
func (d *docDecoder) unquote(q int) (string, bool) {
	b := d.buf[:0]
	ascii := true
	for j := q + 1; j < len(d.s); {
		c := d.s[j]
		switch {
		case c == '"':
			if !ascii && !utf8.Valid(b) {
				return d.unquoteJSON(q)
			}
			d.buf = b
			d.i = j + 1
			return string(b), true
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
			b = append(b, c)
			j++
			continue
		case c != '\\':
			b = append(b, c)
			j++
			continue
		}
		if j+1 >= len(d.s) {
			return "", false
		}
		switch e := d.s[j+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if j+6 > len(d.s) {
				return "", false
			}
			r, err := strconv.ParseUint(d.s[j+2:j+6], 16, 16)
			if err != nil {
				return "", false
			}
			if utf16.IsSurrogate(rune(r)) {
				return d.unquoteJSON(q)
			}
			b = utf8.AppendRune(b, rune(r))
			j += 6
			continue
		default:
			return "", false
		}
		j += 2
	}
	return "", false
}

// unquoteJSON reads the string whose opening quote is at s[q] with
// encoding/json.
func (d *docDecoder) unquoteJSON(q int) (string, bool) {
	for j := q + 1; j < len(d.s); j++ {
		switch d.s[j] {
		case '\\':
			j++
		case '"':
			var s string
			if json.Unmarshal([]byte(d.s[q:j+1]), &s) != nil {
				return "", false
			}
			d.i = j + 1
			return s, true
		}
	}
	return "", false
}

// number reads a number in JSON's grammar and returns its text, and
// whether it is an integer (no fraction, no exponent).
func (d *docDecoder) number() (lit string, isInt, ok bool) {
	s, j := d.s, d.i
	digits := func() bool {
		k := j
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		return j > k
	}
	if j < len(s) && s[j] == '-' {
		j++
	}
	switch {
	case j < len(s) && s[j] == '0':
		j++
	case !digits():
		return "", false, false
	}
	isInt = true
	if j < len(s) && s[j] == '.' {
		j++
		isInt = false
		if !digits() {
			return "", false, false
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		j++
		isInt = false
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if !digits() {
			return "", false, false
		}
	}
	lit, d.i = s[d.i:j], j
	return lit, isInt, true
}

// integer reads an integer of the given bit size, as encoding/json
// does into a signed integer field: no fraction, no exponent.
func (d *docDecoder) integer(bits int) (int64, bool) {
	lit, isInt, ok := d.number()
	if !ok || !isInt {
		return 0, false
	}
	n, err := strconv.ParseInt(lit, 10, bits)
	return n, err == nil
}

func (d *docDecoder) intTo(p *int64) bool {
	n, ok := d.integer(64)
	*p = n
	return ok
}

func (d *docDecoder) float(p *float64) bool {
	lit, _, ok := d.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(lit, 64)
	*p = f
	return err == nil
}
