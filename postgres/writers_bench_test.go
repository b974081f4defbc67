package postgres

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// BenchmarkIngestWriters writes batches of 500 trail events from 1, 2
// and 3 goroutines at once into one store, plain (Store.Write) and
// sealed (an integrity.Writer each, so a chain each, as each worker of
// a queue group has): whether more writers close the gap to the issue's
// ingest target on a 2-core machine. events/s is the sum over the
// writers. Compare with BenchmarkIngest/rawcopy in the same run:
//
//	go test -run '^$' -bench 'BenchmarkIngestWriters|BenchmarkIngest/rawcopy' -benchtime 200x ./postgres/
func BenchmarkIngestWriters(b *testing.B) {
	tmpl := benchTemplates(20 * benchBatch)
	_, priv, _ := integrity.GenerateKey()
	for _, n := range []int{1, 2, 3} {
		for _, sealed := range []bool{false, true} {
			name := "plain-" + strconv.Itoa(n)
			if sealed {
				name = "sealed-" + strconv.Itoa(n)
			}
			b.Run(name, func(b *testing.B) {
				s := openTest(b, nil)
				ctx := context.Background()
				ws := make([]activitylog.Writer, n)
				for k := range ws {
					ws[k] = s
					if sealed {
						w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv, Chain: "bench-" + strconv.Itoa(k)})
						if err != nil {
							b.Fatal(err)
						}
						ws[k] = w
					}
				}
				per := max(1, b.N/n)
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for k := range n {
					wg.Go(func() {
						batch := make([]activitylog.Event, benchBatch)
						t := time.Now().UTC().Add(-time.Hour).Add(time.Duration(k) * time.Nanosecond)
						for i := range per {
							t = nextBatch(batch, tmpl, i, t)
							if err := ws[k].Write(ctx, batch); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(per*n*benchBatch)/time.Since(start).Seconds(), "events/s")
			})
		}
	}
}
