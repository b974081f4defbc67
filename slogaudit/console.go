package slogaudit

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// ConsoleHandler is a slog.Handler that writes one human-readable line
// per record, for a terminal or a developer's log. An audit event (a
// record with a top-level "kind" attribute, as Writer makes them) reads
//
//	2026-11-24T08:00:00.123Z AUDIT crud update invoice/INV-7 by ann (42) from 203.0.113.7 PUT /invoices/INV-7 status=200 took=12ms tenant=acme request_id=req-1 changes.status.old=draft changes.status.new=sent "invoice sent"
//
// that is: time (UTC, milliseconds), level, kind and action, object
// type/id, "by" actor name (id), "from" client address, method and
// path, then status, duration, tenant, category, request id, changes
// and extra as key=value, and the message quoted last; severity is
// shown when it is not info. The event id,
// headers, bodies, user agent and geo are left out: the JSON form has
// them. Any other record reads
//
//	2026-11-24T08:00:00.123Z INFO cache warmed entries=120 "ready"
//
// with its attributes as key=value, group members named by dotted
// paths. Values with spaces, quotes or "=" are quoted. It is safe for
// concurrent use.
type ConsoleHandler struct {
	out    *output
	opts   slog.HandlerOptions
	attrs  []field // from WithAttrs, flattened
	prefix string  // the open groups, "a.b."
	groups []string
}

type field struct {
	key string
	val slog.Value
}

var _ slog.Handler = (*ConsoleHandler)(nil)

// NewConsoleHandler returns a handler that writes to w. Of opts (nil
// allowed) it uses Level (default slog.LevelInfo) and ReplaceAttr,
// which it applies to attributes but not to time, level and message,
// whose form is fixed.
func NewConsoleHandler(w io.Writer, opts *slog.HandlerOptions) *ConsoleHandler {
	h := &ConsoleHandler{out: &output{w: w}}
	if opts != nil {
		h.opts = *opts
	}
	return h
}

// Enabled reports whether l is at or above the handler's level.
func (h *ConsoleHandler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.opts.Level != nil {
		min = h.opts.Level.Level()
	}
	return l >= min
}

// WithAttrs returns a handler whose records carry attrs.
func (h *ConsoleHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	c := *h
	c.attrs = slices.Clip(h.attrs)
	for _, a := range attrs {
		c.attrs = h.flatten(c.attrs, h.prefix, slices.Clip(h.groups), a)
	}
	return &c
}

// WithGroup returns a handler that names the attributes that follow
// name.key.
func (h *ConsoleHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	c.groups = append(slices.Clip(h.groups), name)
	return &c
}

func (h *ConsoleHandler) flatten(fs []field, prefix string, groups []string, a slog.Attr) []field {
	v := a.Value.Resolve()
	if rep := h.opts.ReplaceAttr; rep != nil && v.Kind() != slog.KindGroup {
		a = rep(groups, slog.Attr{Key: a.Key, Value: v})
		if a.Key == "" {
			return fs
		}
		v = a.Value.Resolve()
	}
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
			groups = append(groups, a.Key)
		}
		for _, g := range v.Group() {
			fs = h.flatten(fs, p, groups, g)
		}
		return fs
	}
	if a.Key == "" && v.Kind() == slog.KindAny && v.Any() == nil {
		return fs
	}
	return append(fs, field{prefix + a.Key, v})
}

// Handle writes r as one line.
func (h *ConsoleHandler) Handle(_ context.Context, r slog.Record) error {
	fs := slices.Clone(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fs = h.flatten(fs, h.prefix, slices.Clip(h.groups), a)
		return true
	})
	bp := getBuf()
	b := (*bp)[:0]
	if !r.Time.IsZero() {
		b = appendMillis(b, r.Time)
		b = append(b, ' ')
	}
	b = append(b, LevelName(r.Level)...)
	if h.prefix == "" && has(fs, "kind") {
		b = appendEvent(b, fs)
	} else {
		for _, f := range fs {
			b = appendPair(b, f.key, f.val)
		}
	}
	if r.Message != "" {
		b = append(b, ' ')
		b = strconv.AppendQuote(b, r.Message)
	}
	b = append(b, '\n')
	err := h.out.write(b)
	*bp = b
	putBuf(bp)
	return err
}

func has(fs []field, key string) bool {
	for _, f := range fs {
		if f.key == key {
			return true
		}
	}
	return false
}

func get(fs []field, key string) string {
	for _, f := range fs {
		if f.key == key {
			return f.val.String()
		}
	}
	return ""
}

// appendEvent writes the summary of an audit event and the fields a
// reader wants, in a fixed order.
func appendEvent(b []byte, fs []field) []byte {
	word := func(s string) {
		if s != "" {
			b = append(b, ' ')
			b = appendWord(b, s)
		}
	}
	word(get(fs, "kind"))
	word(get(fs, "action"))
	switch typ, id := get(fs, "object.type"), get(fs, "object.id"); {
	case typ != "" && id != "":
		word(typ + "/" + id)
	default:
		word(typ + id)
	}
	name, id := get(fs, "actor.name"), get(fs, "actor.id")
	if name == "" {
		name = get(fs, "actor.email")
	}
	switch {
	case name != "" && id != "":
		b = append(b, " by "...)
		b = appendWord(b, name)
		b = append(b, " ("...)
		b = appendWord(b, id)
		b = append(b, ')')
	case name != "" || id != "":
		b = append(b, " by "...)
		b = appendWord(b, name+id)
	}
	if ip := get(fs, "request.remote_ip"); ip != "" {
		b = append(b, " from "...)
		b = appendWord(b, ip)
	}
	if m, p := get(fs, "request.method"), get(fs, "request.path"); m != "" || p != "" {
		word(m)
		word(p)
	}
	if sev := get(fs, "severity"); sev != "" && sev != "info" {
		b = appendPair(b, "severity", slog.StringValue(sev))
	}
	for _, f := range fs {
		switch {
		case f.key == "response.status":
			b = appendPair(b, "status", f.val)
		case f.key == "response.duration_ns" && f.val.Kind() == slog.KindInt64:
			b = appendPair(b, "took", slog.DurationValue(time.Duration(f.val.Int64())))
		}
	}
	for _, k := range [...]string{"tenant", "category"} {
		if v := get(fs, k); v != "" {
			b = appendPair(b, k, slog.StringValue(v))
		}
	}
	if v := get(fs, "request.request_id"); v != "" {
		b = appendPair(b, "request_id", slog.StringValue(v))
	}
	for _, f := range fs {
		if hasPrefix(f.key, "changes.") || hasPrefix(f.key, "extra.") {
			b = appendPair(b, f.key, f.val)
		}
	}
	return b
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func appendPair(b []byte, key string, v slog.Value) []byte {
	b = append(b, ' ')
	b = appendWord(b, key)
	b = append(b, '=')
	switch v.Kind() {
	case slog.KindTime:
		return appendTime(b, v.Time())
	case slog.KindString:
		return appendWord(b, v.String())
	case slog.KindAny:
		switch x := v.Any().(type) {
		case nil:
			return append(b, "null"...)
		case slog.Level:
			return append(b, LevelName(x)...)
		case error:
			return appendWord(b, x.Error())
		case []any, map[string]any:
			return appendMarshal(b, x)
		}
	}
	return appendWord(b, v.String())
}

// appendWord appends s bare, or quoted when it is empty or holds a
// space, a quote, "=", a control character or invalid UTF-8.
func appendWord(b []byte, s string) []byte {
	if s == "" || !utf8.ValidString(s) {
		return strconv.AppendQuote(b, s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '"' || c == '=' || c == 0x7f {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(b, s...)
}
