package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/benchcpu"
	"github.com/activitylog/activitylog/internal/eventjson"
	"github.com/activitylog/activitylog/storetest"
	"github.com/jackc/pgx/v5"
)

const benchBatch = 500

// benchTemplates returns n realistic trail events (storetest.TrailEvent),
// made once: each batch copies them and gives them new ids and times,
// so that building a batch costs the benchmark next to nothing.
func benchTemplates(n int) []activitylog.Event {
	es := make([]activitylog.Event, n)
	t0 := time.Now().UTC()
	for i := range es {
		es[i] = storetest.TrailEvent(i, t0)
	}
	return es
}

// nextBatch fills batch with the templates from i on, at times from t
// on, 100µs apart, with new ids.
func nextBatch(batch, tmpl []activitylog.Event, i int, t time.Time) time.Time {
	for j := range batch {
		batch[j] = tmpl[(i*len(batch)+j)%len(tmpl)]
		batch[j].Time = t
		batch[j].ID = activitylog.NewID(t)
		t = t.Add(100 * time.Microsecond)
	}
	return t
}

// BenchmarkIngest writes batches of 500 trail events: "store" through
// Write (COPY into the staging table, then INSERT … SELECT into event_ids
// and the partitioned, indexed events table), and "rawcopy", the
// baseline, a plain COPY of the same rows' 12 main columns (the JSON
// document encoded the same way) into a table without partitions,
// indexes or constraints. Compare the two as a ratio, in alternating
// rounds (bench/ratios.sh), not as absolute figures. cpu-ns/op is this
// process's CPU time a batch (encoding and sending), not the server's.
func BenchmarkIngest(b *testing.B) {
	tmpl := benchTemplates(20 * benchBatch)
	b.Run("store", func(b *testing.B) {
		s := openTest(b, nil)
		ctx := context.Background()
		batch := make([]activitylog.Event, benchBatch)
		t := time.Now().UTC().Add(-time.Hour)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := benchcpu.Start()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			t = nextBatch(batch, tmpl, i, t)
			if err := s.Write(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/time.Since(start).Seconds(), "events/s")
		cpu.Report(b)
	})
	b.Run("rawcopy", func(b *testing.B) {
		s := openTest(b, nil)
		ctx := context.Background()
		if _, err := s.pool.Exec(ctx, `CREATE TABLE raw_events (id uuid, time bigint, kind text, action text, severity text,
			tenant text, actor_id text, object_type text, object_id text, status integer, duration bigint, data bytea)`); err != nil {
			b.Fatal(err)
		}
		cols := []string{"id", "time", "kind", "action", "severity", "tenant", "actor_id", "object_type", "object_id", "status", "duration", "data"}
		batch := make([]activitylog.Event, benchBatch)
		rows := make([][]any, benchBatch)
		var data []byte
		var sp eventjson.Spans
		t := time.Now().UTC().Add(-time.Hour)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := benchcpu.Start()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			t = nextBatch(batch, tmpl, i, t)
			data = data[:0]
			ends := make([]int, len(batch))
			for j := range batch {
				var err error
				if data, err = eventjson.Append(data, &batch[j], &sp); err != nil {
					b.Fatal(err)
				}
				ends[j] = len(data)
			}
			for j := range batch {
				e := &batch[j]
				from := 0
				if j > 0 {
					from = ends[j-1]
				}
				rows[j] = []any{[16]byte(e.ID), e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant,
					e.Actor.ID, e.Object.Type, e.Object.ID, int32(e.Response.Status), int64(e.Response.Duration), data[from:ends[j]]}
			}
			err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				_, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_events"}, cols, pgx.CopyFromRows(rows))
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/time.Since(start).Seconds(), "events/s")
		cpu.Report(b)
	})
}
