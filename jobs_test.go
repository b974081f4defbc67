package activitylog_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

func TestInjectExtractRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ctx = activitylog.WithActor(ctx, activitylog.Actor{ID: "42", Name: "Ann", Email: "ann@example.com", Type: activitylog.ActorUser, Extra: map[string]any{"role": "admin"}})
	ctx = activitylog.WithTenant(ctx, "acme")
	ctx = activitylog.WithRequestID(ctx, "req-1")
	ctx = activitylog.WithTrace(ctx, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")

	h := activitylog.Inject(ctx)
	want := map[string]string{
		"activitylog-actor":  `{"id":"42","name":"Ann","email":"ann@example.com","type":"user"}`,
		"activitylog-tenant": "acme",
		"x-request-id":       "req-1",
		"traceparent":        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Fatalf("Inject =\n%v\nwant\n%v", h, want)
	}

	got := activitylog.Extract(context.Background(), h)
	if a := activitylog.ActorFrom(got); a.ID != "42" || a.Name != "Ann" || a.Email != "ann@example.com" || a.Type != activitylog.ActorUser || a.Extra != nil {
		t.Errorf("actor = %+v", a)
	}
	if activitylog.TenantFrom(got) != "acme" || activitylog.RequestIDFrom(got) != "req-1" {
		t.Errorf("tenant, request id = %q, %q", activitylog.TenantFrom(got), activitylog.RequestIDFrom(got))
	}
	if tr, sp := activitylog.TraceFrom(got); tr != "4bf92f3577b34da6a3ce929d0e0e4736" || sp != "00f067aa0ba902b7" {
		t.Errorf("trace = %q %q", tr, sp)
	}
	if len(activitylog.Inject(context.Background())) != 0 {
		t.Error("Inject of an empty context is not empty")
	}
}

func TestExtractIsTolerant(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name      string
		h         map[string]string
		actorID   string
		actorType activitylog.ActorType
		tenant    string
		requestID string
		traceID   string
	}{
		{name: "nil map"},
		{name: "bad json actor, rest kept", h: map[string]string{"activitylog-actor": "{", "activitylog-tenant": "acme"}, tenant: "acme"},
		{name: "unknown actor type dropped", h: map[string]string{"activitylog-actor": `{"id":"1","type":"root"}`}, actorID: "1"},
		{name: "actor too large", h: map[string]string{"activitylog-actor": `{"id":"` + long + `"}`}},
		{name: "actor wrong types", h: map[string]string{"activitylog-actor": `{"id":7}`}},
		{name: "actor id clipped", h: map[string]string{"activitylog-actor": `{"id":"` + long[:2000] + `"}`}, actorID: long[:activitylog.MaxShortField]},
		{name: "control chars stripped", h: map[string]string{"activitylog-tenant": "ac\x00me\n"}, tenant: "acme"},
		{name: "invalid utf8 tenant", h: map[string]string{"activitylog-tenant": "\xff\xfe"}},
		{name: "request id with space", h: map[string]string{"x-request-id": "a b"}},
		{name: "request id too long", h: map[string]string{"x-request-id": long[:129]}},
		{name: "canonical header names", h: map[string]string{"X-Request-Id": "r1", "Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, requestID: "r1", traceID: "4bf92f3577b34da6a3ce929d0e0e4736"},
		{name: "trace all zero", h: map[string]string{"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}},
		{name: "trace upper case", h: map[string]string{"traceparent": "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}},
		{name: "trace version ff", h: map[string]string{"traceparent": "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
		{name: "trace future version", h: map[string]string{"traceparent": "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"}, traceID: "4bf92f3577b34da6a3ce929d0e0e4736"},
		{name: "trace short", h: map[string]string{"traceparent": "00-4bf9-00f0-01"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := activitylog.Extract(context.Background(), tt.h)
			a := activitylog.ActorFrom(ctx)
			if a.ID != tt.actorID || a.Type != tt.actorType {
				t.Errorf("actor = %+v, want id %q type %q", a, tt.actorID, tt.actorType)
			}
			if got := activitylog.TenantFrom(ctx); got != tt.tenant {
				t.Errorf("tenant = %q, want %q", got, tt.tenant)
			}
			if got := activitylog.RequestIDFrom(ctx); got != tt.requestID {
				t.Errorf("request id = %q, want %q", got, tt.requestID)
			}
			if got, _ := activitylog.TraceFrom(ctx); got != tt.traceID {
				t.Errorf("trace id = %q, want %q", got, tt.traceID)
			}
		})
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(`{"id":"42","name":"Ann","type":"user"}`, "acme", "req-1", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("{", "\x00", " ", "00-")
	f.Add(`{"id":"\u0000","type":"anonymous","extra":{"a":1}}`, "\xff", "x", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-")
	f.Fuzz(func(t *testing.T, actor, tenant, requestID, traceparent string) {
		h := map[string]string{
			"activitylog-actor": actor, "activitylog-tenant": tenant,
			"x-request-id": requestID, "traceparent": traceparent,
		}
		ctx := activitylog.Extract(context.Background(), h)
		a := activitylog.ActorFrom(ctx)
		for _, s := range []string{a.ID, a.Name, a.Email, activitylog.TenantFrom(ctx)} {
			if len(s) > activitylog.MaxShortField || !utf8.ValidString(s) {
				t.Fatalf("unclean value %q", s)
			}
		}
		if a.Type != "" && !a.Type.Valid() {
			t.Fatalf("invalid actor type %q", a.Type)
		}
		if id := activitylog.RequestIDFrom(ctx); len(id) > 128 || strings.ContainsAny(id, " \t\n") {
			t.Fatalf("unclean request id %q", id)
		}
		// What was restored survives another trip unchanged.
		back := activitylog.Extract(context.Background(), activitylog.Inject(ctx))
		if fmt.Sprint(activitylog.ActorFrom(back)) != fmt.Sprint(a) {
			t.Fatalf("actor changed on a second trip: %+v -> %+v", a, activitylog.ActorFrom(back))
		}
		tr, sp := activitylog.TraceFrom(ctx)
		if tr2, sp2 := activitylog.TraceFrom(back); tr != tr2 || sp != sp2 {
			t.Fatalf("trace changed on a second trip: %q %q -> %q %q", tr, sp, tr2, sp2)
		}
	})
}

// WithActor is a context value: a goroutine started with the context
// records as the same actor, with nothing to copy.
func TestWithActorInGoroutine(t *testing.T) {
	t.Parallel()
	ctx, _, sink := syncRecorder(t, nil)
	ctx = activitylog.WithActor(ctx, activitylog.Actor{ID: "42"})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := activitylog.Export(ctx, activitylog.ExportInfo{Type: "orders"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	es := sink.all()
	if len(es) != 4 {
		t.Fatalf("wrote %d events, want 4", len(es))
	}
	for _, e := range es {
		if e.Actor.ID != "42" {
			t.Errorf("actor = %+v, want 42", e.Actor)
		}
	}
}

// A job queue carries the audit context in its message headers: the
// worker's events name the user whose request enqueued the job.
func ExampleInject() {
	type job struct {
		Name    string
		Headers map[string]string
	}
	queue := make(chan job, 1)

	// In the request handler.
	ctx := activitylog.WithActor(context.Background(), activitylog.Actor{ID: "42", Name: "Ann"})
	ctx = activitylog.WithRequestID(ctx, "req-7")
	queue <- job{Name: "export-orders", Headers: activitylog.Inject(ctx)}
	close(queue)

	// In the worker.
	for j := range queue {
		ctx := activitylog.Extract(context.Background(), j.Headers)
		a := activitylog.ActorFrom(ctx)
		fmt.Println(j.Name, "runs for", a.ID, a.Name, "from", activitylog.RequestIDFrom(ctx))
		// activitylog.Export(ctx, …) here is attributed to Ann.
	}
	// Output: export-orders runs for 42 Ann from req-7
}
