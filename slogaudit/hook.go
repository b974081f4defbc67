package slogaudit

import (
	"context"
	"log/slog"
	"runtime"
	"strings"

	"github.com/activitylog/activitylog"
)

// Recorder is what a Hook records with. *activitylog.Recorder fits it.
type Recorder interface {
	Record(ctx context.Context, e activitylog.Event) error
}

var _ Recorder = (*activitylog.Recorder)(nil)

// HookOptions configures a Hook. The zero value, or nil, means the
// defaults written beside each field.
type HookOptions struct {
	// Level is the least level recorded as a system event: WARN or
	// above. Default (and for anything below WARN): slog.LevelError.
	Level slog.Level
	// Category is the system event's category. Default: "server".
	Category string
	// OnError receives the errors Record returns. Default: nil, ignored
	// (the Recorder counts and reports its own losses).
	OnError func(error)
}

// Hook is a slog.Handler that passes every record on to the handler it
// wraps and also records each record at Level or above (ERROR by
// default) as a system event: the audit trail then holds the errors
// the service logged, with the logging code's function, file and line,
// and the record's attributes in Extra. It is opt-in:
//
//	logger := slog.New(slogaudit.NewHook(slog.NewJSONHandler(os.Stderr, nil), rec, nil))
//	slog.SetDefault(logger)
//
// Records logged by activitylog's own packages (a Recorder reporting a
// failing store, say) are passed on but never recorded, so that a store
// outage cannot feed events back into the queue that cannot drain.
// The event is recorded with the record's context, uncancelled, so the
// actor, tenant and request in it are kept.
type Hook struct {
	next  slog.Handler
	rec   Recorder
	opts  HookOptions
	attrs []slog.Attr // from WithAttrs, in group-qualified form
	group string      // the open group prefix, "a.b."
}

// NewHook wraps next. rec and next must not be nil; opts may be.
func NewHook(next slog.Handler, rec Recorder, opts *HookOptions) *Hook {
	if next == nil || rec == nil {
		panic("slogaudit: NewHook needs a handler and a Recorder")
	}
	h := &Hook{next: next, rec: rec}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.Level < slog.LevelWarn {
		h.opts.Level = slog.LevelError
	}
	if h.opts.Category == "" {
		h.opts.Category = "server"
	}
	return h
}

// Enabled reports whether the wrapped handler, or the hook, wants
// records at level.
func (h *Hook) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= h.opts.Level || h.next.Enabled(ctx, level)
}

// Handle passes r on (when the wrapped handler is enabled for it) and
// records it when it is at the hook's level or above.
func (h *Hook) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if r.Level >= h.opts.Level {
		h.record(ctx, r)
	}
	return err
}

// WithAttrs returns a Hook whose records carry attrs too.
func (h *Hook) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range attrs {
		a.Key = h.group + a.Key
		c.attrs = append(c.attrs, a)
	}
	return &c
}

// WithGroup returns a Hook whose later attributes are in group name.
func (h *Hook) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.group = h.group + name + "."
	return &c
}

func (h *Hook) record(ctx context.Context, r slog.Record) {
	var fn, file string
	var line int
	if r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		fn, file, line = f.Function, f.File, f.Line
		if ownPackage(fn) {
			return // activitylog's own log: never fed back into the queue
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	extra := make(map[string]any, len(h.attrs)+r.NumAttrs()+5)
	for _, a := range h.attrs {
		addAttr(extra, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(extra, h.group, a)
		return len(extra) < activitylog.MaxMapEntries-8
	})
	extra["log_level"] = LevelName(r.Level)
	if fn != "" {
		extra["function"], extra["file"], extra["line"] = fn, file, line
		if i := strings.LastIndexByte(fn, '/'); i >= 0 {
			if j := strings.IndexByte(fn[i:], '.'); j >= 0 {
				extra["module"] = fn[:i+j]
			}
		} else if j := strings.IndexByte(fn, '.'); j >= 0 {
			extra["module"] = fn[:j]
		}
	}
	sev, action := activitylog.SeverityError, "error"
	switch {
	case r.Level >= slog.LevelError+4:
		sev = activitylog.SeverityCritical
	case r.Level < slog.LevelError:
		sev, action = activitylog.SeverityWarning, "warning"
	}
	msg := r.Message
	if len(msg) > activitylog.MaxTextField {
		msg = msg[:activitylog.MaxTextField-3] + "…"
	}
	e := activitylog.Event{
		Kind:     activitylog.KindSystem,
		Action:   action,
		Severity: sev,
		Category: h.opts.Category,
		Message:  msg,
		Tool:     "slog",
		Extra:    extra,
	}
	if !r.Time.IsZero() {
		e.Time = r.Time
	}
	if err := h.rec.Record(context.WithoutCancel(ctx), e); err != nil && h.opts.OnError != nil {
		h.opts.OnError(err)
	}
}

// addAttr flattens a into m under prefix, groups as dotted keys.
func addAttr(m map[string]any, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			addAttr(m, p, g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	switch v.Kind() {
	case slog.KindString:
		m[prefix+a.Key] = v.String()
	case slog.KindInt64:
		m[prefix+a.Key] = v.Int64()
	case slog.KindUint64:
		m[prefix+a.Key] = v.Uint64()
	case slog.KindFloat64:
		m[prefix+a.Key] = v.Float64()
	case slog.KindBool:
		m[prefix+a.Key] = v.Bool()
	case slog.KindDuration:
		m[prefix+a.Key] = v.Duration().String()
	case slog.KindTime:
		m[prefix+a.Key] = v.Time().UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
	default:
		if err, ok := v.Any().(error); ok {
			m[prefix+a.Key] = err.Error()
		} else {
			m[prefix+a.Key] = v.Any()
		}
	}
}

// ownPackage reports whether the function fn ("path/pkg.Func") is in
// one of activitylog's packages (their tests aside).
func ownPackage(fn string) bool {
	pkg := fn
	if i := strings.LastIndexByte(fn, '/'); i >= 0 {
		if j := strings.IndexByte(fn[i:], '.'); j >= 0 {
			pkg = fn[:i+j]
		}
	}
	const mod = "github.com/activitylog/activitylog"
	return (pkg == mod || strings.HasPrefix(pkg, mod+"/")) && !strings.HasSuffix(pkg, "_test")
}
