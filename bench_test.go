package activitylog_test

import (
	"context"
	"testing"

	"github.com/activitylog/activitylog"
)

type discard struct{}

func (discard) Write(context.Context, []activitylog.Event) error { return nil }

// benchEvent is what the HTTP middleware records for a typical request.
func benchEvent() activitylog.Event {
	return activitylog.Event{
		Kind: activitylog.KindRequest, Action: "GET",
		Request:  activitylog.Request{Method: "GET", Path: "/orders/7", Route: "GET /orders/{id}", RemoteIP: "203.0.113.7", UserAgent: "Mozilla/5.0"},
		Response: activitylog.Response{Status: 200, Duration: 1500, ResponseBytes: 512},
	}
}

// BenchmarkRecord measures Record on the hot path: enrichment from a
// context with an actor and a request, validation, and the queue. The
// Drop policy keeps a slow batcher from stalling the loop; the dropped
// count is reported so that a run where the batcher fell behind shows.
// Allocations are counted across all goroutines, so allocs/op is an
// upper bound on those in the calling goroutine.
func BenchmarkRecord(b *testing.B) {
	rec := activitylog.NewRecorder(discard{}, &activitylog.Options{OnFull: activitylog.Drop, QueueSize: 1 << 16})
	ctx := activitylog.WithActor(context.Background(), activitylog.Actor{ID: "42", Name: "Ann"})
	ctx = activitylog.WithRequest(ctx, &activitylog.Request{RequestID: "r1", RemoteIP: "203.0.113.7"})
	e := benchEvent()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := rec.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_ = rec.Shutdown(context.Background())
	b.ReportMetric(float64(rec.Stats().Dropped)/float64(b.N), "dropped/op")
}

func BenchmarkRecordParallel(b *testing.B) {
	rec := activitylog.NewRecorder(discard{}, &activitylog.Options{OnFull: activitylog.Drop, QueueSize: 1 << 16})
	ctx := activitylog.WithActor(context.Background(), activitylog.Actor{ID: "42", Name: "Ann"})
	e := benchEvent()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := rec.Record(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	_ = rec.Shutdown(context.Background())
	b.ReportMetric(float64(rec.Stats().Dropped)/float64(b.N), "dropped/op")
}

// BenchmarkChannelSend is the baseline for BenchmarkRecord: the bare
// cost of handing an event to a goroutine through a buffered channel.
func BenchmarkChannelSend(b *testing.B) {
	q := make(chan activitylog.Event, 1<<16)
	done := make(chan struct{})
	go func() {
		for range q {
		}
		close(done)
	}()
	e := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		q <- e
	}
	close(q)
	<-done
}

// BenchmarkRedactEvent measures the batcher's redaction of an event with
// changes, extra and headers (off the caller's goroutine).
func BenchmarkRedactEvent(b *testing.B) {
	r := activitylog.NewRedactor(nil)
	e := benchEvent()
	e.Changes = map[string]activitylog.Change{"status": {Old: "new", New: "paid"}, "password": {Old: "a", New: "b"}}
	e.Extra = map[string]any{"plan": "pro", "note": "card 4111 1111 1111 1111"}
	e.Request.Headers = map[string]string{"Authorization": "Bearer x", "Accept": "*/*"}
	b.ReportAllocs()
	for b.Loop() {
		c := e
		r.Event(&c)
	}
}
