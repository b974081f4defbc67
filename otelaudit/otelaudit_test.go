package otelaudit_test

import (
	"context"
	"sync"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/otelaudit"
	"go.opentelemetry.io/otel/trace"
)

type collect struct {
	mu     sync.Mutex
	events []activitylog.Event
}

func (c *collect) Write(_ context.Context, es []activitylog.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, es...)
	return nil
}

func TestTraceFromSpanContext(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))

	w := &collect{}
	rec := activitylog.NewRecorder(w, &activitylog.Options{Trace: otelaudit.Trace})
	if err := rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCustom, Action: "ping"}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Record(context.Background(), activitylog.Event{Kind: activitylog.KindCustom, Action: "no-span"}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(w.events) != 2 {
		t.Fatalf("got %d events, want 2", len(w.events))
	}
	got := w.events[0].Request
	if got.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || got.SpanID != "00f067aa0ba902b7" {
		t.Errorf("trace/span = %q/%q", got.TraceID, got.SpanID)
	}
	if r := w.events[1].Request; r.TraceID != "" || r.SpanID != "" {
		t.Errorf("event without span got trace %q span %q", r.TraceID, r.SpanID)
	}
}
