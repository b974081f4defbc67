package activitylog

import (
	"context"
	"fmt"
	"sync/atomic"
)

// The application-event helpers (LoginSucceeded, Error, Export, …)
// record through the Recorder that RecorderFrom finds: the one a
// context carries (WithRecorder), else the process default
// (SetDefault). With neither they return an error wrapping
// ErrUnavailable; they never panic.

var defaultRecorder atomic.Pointer[Recorder]

// SetDefault makes r the Recorder that the application-event helpers
// use when their context carries none. SetDefault(nil) removes it. It
// is safe to call from any goroutine, typically once at start-up:
//
//	rec := activitylog.NewRecorder(store, nil)
//	activitylog.SetDefault(rec)
//	defer rec.Shutdown(context.Background())
func SetDefault(r *Recorder) { defaultRecorder.Store(r) }

// Default returns the Recorder set by SetDefault, or nil.
func Default() *Recorder { return defaultRecorder.Load() }

type appRecorderKey struct{}

// WithRecorder returns a context that carries r. The application-event
// helpers called with it (or a context derived from it) record through
// r rather than the default: a test, or one tenant's own trail.
func WithRecorder(ctx context.Context, r *Recorder) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithValue(ctx, appRecorderKey{}, r)
}

// RecorderFrom returns the Recorder set by WithRecorder on ctx, else
// Default(), else nil. A nil ctx is allowed.
func RecorderFrom(ctx context.Context) *Recorder {
	if ctx != nil {
		if r, _ := ctx.Value(appRecorderKey{}).(*Recorder); r != nil {
			return r
		}
	}
	return Default()
}

// recordApp records e through RecorderFrom(ctx).
func recordApp(ctx context.Context, e Event) error {
	if ctx == nil {
		ctx = context.Background()
	}
	r := RecorderFrom(ctx)
	if r == nil {
		return fmt.Errorf("record %s %s event: no recorder in context and no default (SetDefault): %w", e.Kind, e.Action, ErrUnavailable)
	}
	return r.Record(ctx, e)
}

// clipText cuts s to at most n bytes without splitting a UTF-8
// sequence.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i > n-4 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i]
}

// copyExtra returns a copy of m with room for n more entries, so that
// a caller's map is never changed.
func copyExtra(m map[string]any, n int) map[string]any {
	out := make(map[string]any, len(m)+n)
	for k, v := range m {
		out[k] = v
	}
	return out
}
