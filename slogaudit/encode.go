package slogaudit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// bufPool holds line buffers. Buffers that grew past maxPooled are
// dropped, so that one huge record does not pin its memory.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooled = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// appendTime appends t in UTC as RFC 3339 with exactly nine fractional
// digits and "Z": 2026-11-24T08:00:00.123000000Z. The fixed width keeps
// lines sortable as text.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05.000000000Z07:00")
	}
	hh, mm, ss := t.Clock()
	b = appendInt(b, year, 4)
	b = append(b, '-')
	b = appendInt(b, int(month), 2)
	b = append(b, '-')
	b = appendInt(b, day, 2)
	b = append(b, 'T')
	b = appendInt(b, hh, 2)
	b = append(b, ':')
	b = appendInt(b, mm, 2)
	b = append(b, ':')
	b = appendInt(b, ss, 2)
	b = append(b, '.')
	b = appendInt(b, t.Nanosecond(), 9)
	return append(b, 'Z')
}

// appendMillis appends t in UTC as RFC 3339 with milliseconds and "Z",
// the console form.
func appendMillis(b []byte, t time.Time) []byte {
	b = appendTime(b, t)
	if n := len(b); n >= 7 && b[n-1] == 'Z' && b[n-11] == '.' {
		b = append(b[:n-7], 'Z') // drop the last six fractional digits
	}
	return b
}

// appendInt appends a non-negative v zero-padded to width digits.
func appendInt(b []byte, v, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for v >= 10 || width > 1 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	i--
	tmp[i] = byte('0' + v)
	return append(b, tmp[i:]...)
}

// appendFloat appends f as encoding/json does. NaN and the infinities,
// which JSON cannot hold, become the strings "NaN", "+Inf" and "-Inf",
// as activitylog's redaction makes them, so a record is never refused.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Inf"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a quoted JSON string. It escapes what JSON
// requires, replaces invalid UTF-8 by U+FFFD, and escapes U+2028 and
// U+2029; it does not escape <, > and &, as slog's JSONHandler does not.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

var encPool = sync.Pool{New: func() any {
	e := &jsonEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

type jsonEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// appendMarshal appends the JSON form of v. A value that cannot be
// encoded becomes a string saying so: one bad value must not cost the
// record.
func appendMarshal(b []byte, v any) []byte {
	e := encPool.Get().(*jsonEncoder)
	defer func() {
		if e.buf.Cap() <= maxPooled {
			e.buf.Reset()
			encPool.Put(e)
		}
	}()
	if err := e.enc.Encode(v); err != nil {
		return appendString(b, "[unencodable value: "+err.Error()+"]")
	}
	return append(b, bytes.TrimRight(e.buf.Bytes(), "\n")...)
}

// appendValue appends the JSON form of a resolved, non-group value.
func appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		return appendFloat(b, v.Float64())
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return strconv.AppendInt(b, int64(v.Duration()), 10)
	case slog.KindTime:
		b = append(b, '"')
		b = appendTime(b, v.Time())
		return append(b, '"')
	}
	switch x := v.Any().(type) {
	case nil:
		return append(b, "null"...)
	case slog.Level:
		return appendString(b, LevelName(x))
	case json.Marshaler:
		return appendMarshal(b, x)
	case error:
		return appendString(b, x.Error())
	default:
		return appendMarshal(b, x)
	}
}

// sep appends the comma that separates a member from the one before it.
func sep(b []byte) []byte {
	if len(b) == 0 || b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	return b
}

// encoder writes attributes as JSON members, following the slog.Handler
// rules: values are resolved, empty attributes and empty groups are
// left out, a group with an empty key is inlined, and ReplaceAttr sees
// every non-group attribute with the groups it is in.
type encoder struct {
	buf    []byte
	rep    func(groups []string, a slog.Attr) slog.Attr
	groups []string // open groups, for rep; clipped so append copies
}

func (e *encoder) attr(a slog.Attr) {
	v := a.Value.Resolve()
	if e.rep != nil && v.Kind() != slog.KindGroup {
		a = e.rep(e.groups, slog.Attr{Key: a.Key, Value: v})
		if a.Key == "" {
			return
		}
		v = a.Value.Resolve()
	}
	if v.Kind() == slog.KindGroup {
		as := v.Group()
		if len(as) == 0 {
			return
		}
		if a.Key == "" {
			for _, g := range as {
				e.attr(g)
			}
			return
		}
		mark := len(e.buf)
		e.buf = sep(e.buf)
		e.buf = appendString(e.buf, a.Key)
		e.buf = append(e.buf, ':', '{')
		n := len(e.buf)
		if e.rep != nil {
			e.groups = append(e.groups, a.Key)
		}
		for _, g := range as {
			e.attr(g)
		}
		if e.rep != nil {
			e.groups = e.groups[:len(e.groups)-1]
		}
		if len(e.buf) == n {
			e.buf = e.buf[:mark]
		} else {
			e.buf = append(e.buf, '}')
		}
		return
	}
	if a.Key == "" && v.Kind() == slog.KindAny && v.Any() == nil {
		return // the zero Attr
	}
	e.buf = sep(e.buf)
	e.buf = appendString(e.buf, a.Key)
	e.buf = append(e.buf, ':')
	e.buf = appendValue(e.buf, v)
}
