package activitylog_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// appSink is a Writer that keeps what it is given.
type appSink struct {
	mu     sync.Mutex
	events []activitylog.Event
}

func (s *appSink) Write(_ context.Context, es []activitylog.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, es...)
	return nil
}

func (s *appSink) all() []activitylog.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]activitylog.Event(nil), s.events...)
}

// only returns the one event written, failing unless exactly one was.
func (s *appSink) only(t *testing.T) activitylog.Event {
	t.Helper()
	es := s.all()
	if len(es) != 1 {
		t.Fatalf("wrote %d events, want 1: %+v", len(es), es)
	}
	return es[0]
}

// syncRecorder returns a Sync Recorder, so an event is written when
// Record returns, and a context that carries it.
func syncRecorder(t *testing.T, opts *activitylog.Options) (context.Context, *activitylog.Recorder, *appSink) {
	t.Helper()
	s := &appSink{}
	var o activitylog.Options
	if opts != nil {
		o = *opts
	}
	o.Mode = activitylog.Sync
	r := activitylog.NewRecorder(s, &o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return activitylog.WithRecorder(context.Background(), r), r, s
}

// Not parallel: it changes the process default.
func TestRecorderFromContextThenDefault(t *testing.T) {
	prev := activitylog.Default()
	t.Cleanup(func() { activitylog.SetDefault(prev) })
	activitylog.SetDefault(nil)

	ctx := context.Background()
	if got := activitylog.RecorderFrom(ctx); got != nil {
		t.Fatalf("RecorderFrom with nothing set = %p, want nil", got)
	}
	var nilCtx context.Context // a nil context must not panic
	if got := activitylog.RecorderFrom(nilCtx); got != nil {
		t.Fatalf("RecorderFrom(nil) = %p, want nil", got)
	}
	for name, call := range map[string]func() error{
		"LoginFailed": func() error { return activitylog.LoginFailed(ctx, activitylog.Login{Username: "ann"}) },
		"Error":       func() error { return activitylog.Error(ctx, errors.New("boom")) },
		"Export":      func() error { return activitylog.Export(ctx, activitylog.ExportInfo{Type: "orders"}) },
	} {
		if err := call(); !errors.Is(err, activitylog.ErrUnavailable) {
			t.Errorf("%s without a recorder = %v, want ErrUnavailable", name, err)
		}
	}

	_, def, defSink := syncRecorder(t, nil)
	activitylog.SetDefault(def)
	if activitylog.Default() != def || activitylog.RecorderFrom(ctx) != def {
		t.Fatal("SetDefault did not make the recorder the default")
	}
	if err := activitylog.Logout(ctx, activitylog.Login{UserID: "7"}); err != nil {
		t.Fatal(err)
	}
	if n := len(defSink.all()); n != 1 {
		t.Fatalf("default recorder got %d events, want 1", n)
	}

	own, r, ownSink := syncRecorder(t, nil)
	if activitylog.RecorderFrom(own) != r {
		t.Fatal("RecorderFrom does not prefer the context's recorder")
	}
	if err := activitylog.Logout(own, activitylog.Login{UserID: "7"}); err != nil {
		t.Fatal(err)
	}
	if len(ownSink.all()) != 1 || len(defSink.all()) != 1 {
		t.Fatalf("context recorder got %d, default %d; want 1 and 1", len(ownSink.all()), len(defSink.all()))
	}
}
