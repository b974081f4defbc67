package slogaudit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/slogaudit"
)

type hookRec struct {
	mu     sync.Mutex
	events []activitylog.Event
	ctxs   []context.Context
}

func (r *hookRec) Record(ctx context.Context, e activitylog.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	r.ctxs = append(r.ctxs, ctx)
	return nil
}

func TestHookRecordsErrors(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	rec := &hookRec{}
	logger := slog.New(slogaudit.NewHook(slog.NewJSONHandler(&out, nil), rec, nil)).With("service", "shop").WithGroup("req")
	ctx, cancel := context.WithCancel(activitylog.WithActor(context.Background(), activitylog.Actor{ID: "42"}))
	cancel() // a cancelled request still gets its record
	logger.InfoContext(ctx, "all fine", "n", 1)
	logger.WarnContext(ctx, "slowish", "ms", 900)
	logger.ErrorContext(ctx, "charge failed", "order", "o-7", slog.Any("err", errors.New("card declined")), slog.Group("db", "table", "orders"))
	logger.Log(ctx, slog.LevelError+4, "disk full")

	if n := strings.Count(out.String(), "\n"); n != 4 {
		t.Errorf("wrapped handler got %d lines, want all 4:\n%s", n, out.String())
	}
	if len(rec.events) != 2 {
		t.Fatalf("recorded %d events, want 2 (ERROR and above): %+v", len(rec.events), rec.events)
	}
	e := rec.events[0]
	if e.Kind != activitylog.KindSystem || e.Action != "error" || e.Severity != activitylog.SeverityError || e.Category != "server" || e.Message != "charge failed" {
		t.Errorf("event %+v", e)
	}
	want := map[string]any{"service": "shop", "req.order": "o-7", "req.err": "card declined", "req.db.table": "orders", "log_level": "ERROR"}
	for k, v := range want {
		if e.Extra[k] != v {
			t.Errorf("extra[%s] = %v, want %v", k, e.Extra[k], v)
		}
	}
	if fn, _ := e.Extra["function"].(string); !strings.HasSuffix(fn, "TestHookRecordsErrors") {
		t.Errorf("function %q", fn)
	}
	if file, _ := e.Extra["file"].(string); !strings.HasSuffix(file, "hook_test.go") || e.Extra["line"].(int) == 0 {
		t.Errorf("file %v line %v", e.Extra["file"], e.Extra["line"])
	}
	if rec.events[1].Severity != activitylog.SeverityCritical {
		t.Errorf("ERROR+4 severity %s, want critical", rec.events[1].Severity)
	}
	if c := rec.ctxs[0]; c.Err() != nil || activitylog.ActorFrom(c).ID != "42" {
		t.Errorf("record context: err %v, actor %+v", c.Err(), activitylog.ActorFrom(c))
	}
}

func TestHookLevelWarn(t *testing.T) {
	t.Parallel()
	rec := &hookRec{}
	logger := slog.New(slogaudit.NewHook(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelError}), rec, &slogaudit.HookOptions{Level: slog.LevelWarn, Category: "database"}))
	logger.Warn("replica lag")
	if len(rec.events) != 1 || rec.events[0].Action != "warning" || rec.events[0].Category != "database" {
		t.Fatalf("events %+v", rec.events)
	}
}

// failing is a Writer that always fails, so that the Recorder logs its
// own errors through slog.
type failing struct{}

func (failing) Write(context.Context, []activitylog.Event) error { return errors.New("store down") }

// The Recorder's own error logs go through the hook's handler but are
// never recorded: a failing store must not feed its queue.
func TestHookSkipsActivitylogsOwnLogs(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	inner := &hookRec{}
	hookLogger := slog.New(slogaudit.NewHook(slog.NewJSONHandler(&out, nil), inner, nil))
	rec := activitylog.NewRecorder(failing{}, &activitylog.Options{Logger: hookLogger, MaxRetries: 1, RetryMin: time.Millisecond, RetryMax: time.Millisecond})
	if err := rec.Record(context.Background(), activitylog.Event{Kind: activitylog.KindCustom, Action: "x"}); err != nil {
		t.Fatal(err)
	}
	rec.Shutdown(context.Background())
	if !strings.Contains(out.String(), "write batch") {
		t.Fatalf("the Recorder logged nothing through the hook: %q", out.String())
	}
	if len(inner.events) != 0 {
		t.Errorf("the hook recorded activitylog's own logs: %+v", inner.events)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
