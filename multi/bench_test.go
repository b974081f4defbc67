package multi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/multi"
)

const benchBatch = 500

// idem is an in-memory idempotent target: a map lookup per event, an
// insert for ids it lacks.
type idem struct {
	mu   sync.Mutex
	seen map[activitylog.ID]struct{}
}

func (m *idem) Write(ctx context.Context, es []activitylog.Event) error {
	m.mu.Lock()
	for i := range es {
		if _, ok := m.seen[es[i].ID]; !ok {
			m.seen[es[i].ID] = struct{}{}
		}
	}
	m.mu.Unlock()
	return nil
}

func benchBatchEvents() []activitylog.Event {
	t := time.Now().UTC()
	es := make([]activitylog.Event, benchBatch)
	for i := range es {
		es[i] = activitylog.Event{ID: activitylog.NewID(t), Time: t, Kind: activitylog.KindRequest, Action: "GET", Severity: activitylog.SeverityInfo}
	}
	return es
}

// BenchmarkMultiWrite writes batches of 500 events to 2 and 3 in-memory
// idempotent targets under each policy; single is the baseline, one
// target written directly. Under Any the timer includes Close, which
// waits for every target to take every batch. ns/op is per batch.
func BenchmarkMultiWrite(b *testing.B) {
	es := benchBatchEvents()
	ctx := context.Background()
	newTarget := func() *idem { return &idem{seen: make(map[activitylog.ID]struct{}, benchBatch)} }
	b.Run("single", func(b *testing.B) {
		t := newTarget()
		b.ReportAllocs()
		for b.Loop() {
			if err := t.Write(ctx, es); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	})
	for _, p := range []multi.Policy{multi.All, multi.Any} {
		for _, n := range []int{2, 3} {
			b.Run(p.String()+"-"+string(rune('0'+n)), func(b *testing.B) {
				var targets []multi.Target
				for i := 0; i < n; i++ {
					targets = append(targets, multi.Target{Name: string(rune('a' + i)), Writer: newTarget()})
				}
				w, err := multi.New(targets, &multi.Options{Policy: p, QueueSize: 1 << 16, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if err := w.Write(ctx, es); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(ctx); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
				for name, s := range w.Stats() {
					if s.Dropped != 0 || s.Batches != uint64(b.N) {
						b.Fatalf("%s: %+v, want %d batches, none dropped", name, s, b.N)
					}
				}
			})
		}
	}
}
