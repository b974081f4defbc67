package activitylog

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// SystemInfo adds detail to a system event recorded by Error, Critical,
// Warning, Security or Performance. Every field is optional.
type SystemInfo struct {
	// Title is the event's message. Default: the error's text, or the
	// message passed to Warning, Security or Performance.
	Title string
	// Description is a longer explanation, in Extra["description"].
	Description string
	// Category groups system events: "server", "security", "database",
	// "performance", "custom", or one of your own. Default: "server",
	// or "security" and "performance" for those helpers.
	Category string
	// Code is an error code, in Extra["code"]. Default: the Code() of
	// the first error in the chain that has a Code() string method.
	Code string
	// Severity overrides the helper's: error for Error, critical for
	// Critical, warning for Warning and Security, and warning for
	// Performance.
	Severity Severity
	// Extra is copied into the event's Extra; the keys the helpers set
	// (module, function, file, line, code, error, error_chain, stack,
	// description) win.
	Extra map[string]any
	// NoStack leaves out the stack trace. Default: false, the stack of
	// the calling goroutine is recorded, clipped to 16 KiB.
	NoStack bool
}

// maxSystemStack bounds the stack trace kept in a system event.
const maxSystemStack = 16 << 10

// maxErrorChain bounds the errors of a chain that are recorded.
const maxErrorChain = 32

// Error records err as a system event of action "error", severity
// error, category "server". Besides the error's text it records where
// it was reported (the caller's module, function, file and line in
// Extra), the error code, the messages of the error chain
// (Extra["error_chain"], outermost first) and the stack. Later infos'
// non-zero fields override earlier ones'. The actor is the one of ctx,
// else the system. A nil err is refused (ErrInvalid) unless a Title is
// given.
func Error(ctx context.Context, err error, info ...SystemInfo) error {
	return recordSystem(ctx, "error", SeverityError, "server", err, "", info)
}

// Critical is Error with severity critical: something that needs a
// person now.
func Critical(ctx context.Context, err error, info ...SystemInfo) error {
	return recordSystem(ctx, "error", SeverityCritical, "server", err, "", info)
}

// Warning records msg as a system event of action "warning", severity
// warning, category "server", with the caller's location like Error.
func Warning(ctx context.Context, msg string, info ...SystemInfo) error {
	return recordSystem(ctx, "warning", SeverityWarning, "server", nil, msg, info)
}

// Security records msg as a system event of action "security",
// severity warning, category "security": a suspected attack, a
// permission probe, a tampered token.
func Security(ctx context.Context, msg string, info ...SystemInfo) error {
	return recordSystem(ctx, "security", SeverityWarning, "security", nil, msg, info)
}

// Performance records msg as a system event of action "performance",
// severity warning, category "performance": a slow query, a job past
// its deadline.
func Performance(ctx context.Context, msg string, info ...SystemInfo) error {
	return recordSystem(ctx, "performance", SeverityWarning, "performance", nil, msg, info)
}

// recordSystem must be called directly by the exported helper: it
// reports the helper's caller.
func recordSystem(ctx context.Context, action string, sev Severity, category string, err error, msg string, infos []SystemInfo) error {
	var in SystemInfo
	for _, x := range infos {
		in = mergeSystemInfo(in, x)
	}
	e := Event{Kind: KindSystem, Action: action, Severity: sev, Category: category}
	if in.Severity != "" {
		e.Severity = in.Severity
	}
	if in.Category != "" {
		e.Category = clipText(in.Category, MaxShortField)
	}
	e.Extra = copyExtra(in.Extra, 10)
	switch {
	case in.Title != "":
		e.Message = in.Title
	case err != nil:
		e.Message = err.Error()
	case msg != "":
		e.Message = msg
	case action == "error":
		return invalid("err", "<nil>", "is nil and SystemInfo.Title is empty: nothing to record")
	default:
		return invalid("msg", "", "is empty and SystemInfo.Title is empty: nothing to record")
	}
	e.Message = clipText(e.Message, MaxTextField)
	if in.Description != "" {
		e.Extra["description"] = clipText(in.Description, MaxTextField)
	}
	if pc, file, line, ok := runtime.Caller(2); ok {
		fn := ""
		if f := runtime.FuncForPC(pc); f != nil {
			fn = f.Name()
		}
		e.Extra["module"] = packageOf(fn)
		e.Extra["function"] = fn
		e.Extra["file"] = file
		e.Extra["line"] = line
	}
	code := in.Code
	if err != nil {
		if code == "" {
			var c interface{ Code() string }
			if errors.As(err, &c) {
				code = safeCode(c)
			}
		}
		e.Extra["error"] = clipText(err.Error(), MaxTextField)
		e.Extra["error_type"] = fmt.Sprintf("%T", err)
		if chain := errorChain(err); len(chain) > 1 {
			e.Extra["error_chain"] = chain
		}
	}
	if code != "" {
		e.Extra["code"] = clipText(code, MaxShortField)
	}
	if !in.NoStack {
		e.Extra["stack"] = clipText(string(debug.Stack()), maxSystemStack)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if a := ActorFrom(ctx); a.ID == "" && a.Name == "" && a.Email == "" && a.Type == "" {
		e.Actor = Actor{Type: ActorSystem}
	}
	return recordApp(ctx, e)
}

func mergeSystemInfo(a, b SystemInfo) SystemInfo {
	set := func(dst *string, src string) {
		if src != "" {
			*dst = src
		}
	}
	set(&a.Title, b.Title)
	set(&a.Description, b.Description)
	set(&a.Category, b.Category)
	set(&a.Code, b.Code)
	if b.Severity != "" {
		a.Severity = b.Severity
	}
	if len(b.Extra) > 0 {
		m := copyExtra(a.Extra, len(b.Extra))
		for k, v := range b.Extra {
			m[k] = v
		}
		a.Extra = m
	}
	a.NoStack = a.NoStack || b.NoStack
	return a
}

// safeCode calls Code, which an error type may implement carelessly.
func safeCode(c interface{ Code() string }) (code string) {
	defer func() {
		if recover() != nil {
			code = ""
		}
	}()
	return c.Code()
}

// packageOf returns the import path of a function's package from its
// full name: "github.com/x/y/z.(*T).M" gives "github.com/x/y/z".
func packageOf(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	if dot := strings.IndexByte(fn[slash+1:], '.'); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}

// errorChain returns the messages of err and of the errors it wraps,
// depth first (errors.Join and multi-%w included), at most
// maxErrorChain of them, each clipped to 1 KiB.
func errorChain(err error) []any {
	var out []any
	var walk func(error)
	walk = func(err error) {
		if err == nil || len(out) >= maxErrorChain {
			return
		}
		out = append(out, clipText(err.Error(), 1<<10))
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}
