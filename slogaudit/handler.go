package slogaudit

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
)

// output is the destination that a handler and its clones share.
type output struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *output) write(b []byte) error {
	o.mu.Lock()
	_, err := o.w.Write(b)
	o.mu.Unlock()
	return err
}

// JSONHandler is a slog.Handler that writes each record as one JSON
// object per line:
//
//	{"time":"2026-11-24T08:00:00.123000000Z","level":"AUDIT","msg":"invoice sent","id":"…","kind":"crud",…}
//
// The time is UTC, RFC 3339 with nine fractional digits and "Z", so
// lines sort as text and every shipper parses it; it is left out when
// the record's time is zero. The level prints by name (LevelName).
// Attribute values follow encoding/json, except that NaN and the
// infinities become strings and a value that cannot be encoded becomes
// a string saying so, so that a record is never refused.
//
// It follows the slog.Handler contract (testing/slogtest passes) and is
// safe for concurrent use: each line is built apart and written with
// one Write call, under a lock shared with the handlers derived by
// WithAttrs and WithGroup.
type JSONHandler struct {
	out    *output
	opts   slog.HandlerOptions
	pre    []byte   // members from WithAttrs, encoded, with the groups they opened
	groups []string // every group from WithGroup
	opened int      // how many of groups pre has opened
}

var _ slog.Handler = (*JSONHandler)(nil)

// NewJSONHandler returns a handler that writes to w. Of opts (nil
// allowed) it uses Level (default slog.LevelInfo, which keeps the audit
// levels), AddSource and ReplaceAttr, as slog.JSONHandler does. A
// ReplaceAttr that returns a slog.Level value for the level key still
// prints it by name.
func NewJSONHandler(w io.Writer, opts *slog.HandlerOptions) *JSONHandler {
	h := &JSONHandler{out: &output{w: w}}
	if opts != nil {
		h.opts = *opts
	}
	return h
}

// Enabled reports whether l is at or above the handler's level.
func (h *JSONHandler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.opts.Level != nil {
		min = h.opts.Level.Level()
	}
	return l >= min
}

// WithAttrs returns a handler whose records carry attrs, in the groups
// opened so far.
func (h *JSONHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	e := encoder{buf: slices.Clone(h.pre), rep: h.opts.ReplaceAttr, groups: slices.Clip(h.groups)}
	for _, g := range h.groups[h.opened:] {
		e.buf = sep(e.buf)
		e.buf = appendString(e.buf, g)
		e.buf = append(e.buf, ':', '{')
	}
	n := len(e.buf)
	for _, a := range attrs {
		e.attr(a)
	}
	if len(e.buf) == n {
		return h // every attr was empty
	}
	c := *h
	c.pre = e.buf
	c.opened = len(h.groups)
	return &c
}

// WithGroup returns a handler that puts the attributes that follow
// under name. An empty name returns h.
func (h *JSONHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.groups = append(slices.Clip(h.groups), name)
	return &c
}

// Handle writes r as one line.
func (h *JSONHandler) Handle(_ context.Context, r slog.Record) error {
	bp := getBuf()
	b := h.appendRecord((*bp)[:0], r)
	err := h.out.write(b)
	*bp = b
	putBuf(bp)
	return err
}

func (h *JSONHandler) appendRecord(b []byte, r slog.Record) []byte {
	b = append(b, '{')
	if rep := h.opts.ReplaceAttr; rep != nil {
		b = h.appendBuiltinsReplaced(b, r, rep)
	} else {
		if !r.Time.IsZero() {
			b = append(b, `"time":"`...)
			b = appendTime(b, r.Time)
			b = append(b, `",`...)
		}
		b = append(b, `"level":`...)
		b = appendString(b, LevelName(r.Level))
		if h.opts.AddSource {
			if src := r.Source(); src != nil {
				b = append(b, `,"source":`...)
				b = appendSource(b, src)
			}
		}
		b = append(b, `,"msg":`...)
		b = appendString(b, r.Message)
	}
	if len(h.pre) > 0 {
		if b[len(b)-1] == '{' {
			b = append(b, h.pre[1:]...) // pre starts with a comma
		} else {
			b = append(b, h.pre...)
		}
	}
	if r.NumAttrs() > 0 {
		mark := len(b)
		unopened := h.groups[h.opened:]
		for _, g := range unopened {
			b = sep(b)
			b = appendString(b, g)
			b = append(b, ':', '{')
		}
		e := encoder{buf: b, rep: h.opts.ReplaceAttr, groups: slices.Clip(h.groups)}
		n := len(b)
		r.Attrs(func(a slog.Attr) bool {
			e.attr(a)
			return true
		})
		b = e.buf
		if len(b) == n {
			b = b[:mark] // no member: leave the groups out
		} else {
			for range unopened {
				b = append(b, '}')
			}
		}
	}
	for range h.opened {
		b = append(b, '}')
	}
	return append(b, '}', '\n')
}

// appendBuiltinsReplaced writes time, level, source and msg through
// ReplaceAttr, as slog's handlers do.
func (h *JSONHandler) appendBuiltinsReplaced(b []byte, r slog.Record, rep func([]string, slog.Attr) slog.Attr) []byte {
	e := encoder{buf: b}
	builtin := func(a slog.Attr) {
		a = rep(nil, a)
		if a.Key == "" {
			return
		}
		v := a.Value.Resolve()
		if src, ok := v.Any().(*slog.Source); ok && v.Kind() == slog.KindAny {
			e.buf = sep(e.buf)
			e.buf = appendString(e.buf, a.Key)
			e.buf = append(e.buf, ':')
			e.buf = appendSource(e.buf, src)
			return
		}
		e.attr(slog.Attr{Key: a.Key, Value: v})
	}
	if !r.Time.IsZero() {
		builtin(slog.Time(slog.TimeKey, r.Time))
	}
	builtin(slog.Any(slog.LevelKey, r.Level))
	if h.opts.AddSource {
		if src := r.Source(); src != nil {
			builtin(slog.Any(slog.SourceKey, src))
		}
	}
	builtin(slog.String(slog.MessageKey, r.Message))
	return e.buf
}

func appendSource(b []byte, s *slog.Source) []byte {
	b = append(b, `{"function":`...)
	b = appendString(b, s.Function)
	b = append(b, `,"file":`...)
	b = appendString(b, s.File)
	b = append(b, `,"line":`...)
	b = appendInt(b, s.Line, 1)
	return append(b, '}')
}
