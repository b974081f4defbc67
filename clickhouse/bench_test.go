package clickhouse_test

import (
	"encoding/json"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/clickhouse"
	"github.com/activitylog/activitylog/storetest"
)

const ingestBatch = 5000

// BenchmarkIngest writes batches of 5000 storetest.TrailEvent events:
// "store" through Store.Write (its id check, the keys, every field in
// its column, the maps as JSON), and "rawbatch", the baseline, the same
// rows as a plain 12-column batch (PrepareBatch, Append per row, Send)
// into a MergeTree table of the same order, as an application would
// insert them by hand; "rawbatch-doc" is that batch with the event's
// JSON document as a 13th column, the bytes a store of whole events
// sends (4.4 MB a batch where rawbatch sends 0.9). Each iteration is one
// batch of new events (ids, times and documents made with the timer
// stopped). Compare them with
//
//	bench/ratios.sh 6 ./clickhouse/ BenchmarkIngest BenchmarkIngest/rawbatch 20x events/s
func BenchmarkIngest(b *testing.B) {
	dsn := testDSN(b)
	db := newDatabase(b, dsn)
	s, err := clickhouse.Open(ctx, dsn, &clickhouse.Options{Database: db})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		b.Fatal(err)
	}
	opts.Auth.Database = db
	raw, err := ch.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	err = raw.Exec(ctx, `CREATE TABLE raw (id FixedString(16), time Int64, kind String, action String,
		severity String, tenant String, actor_id String, path String, remote_ip String, status Int32,
		duration Int64, message String) ENGINE = MergeTree
		PARTITION BY toYYYYMM(toDateTime(intDiv(time, 1000000000))) ORDER BY (tenant, kind, time, id)`)
	if err != nil {
		b.Fatal(err)
	}
	err = raw.Exec(ctx, `CREATE TABLE raw_doc (id FixedString(16), time Int64, kind String, action String,
		severity String, tenant String, actor_id String, path String, remote_ip String, status Int32,
		duration Int64, message String, data String) ENGINE = MergeTree
		PARTITION BY toYYYYMM(toDateTime(intDiv(time, 1000000000))) ORDER BY (tenant, kind, time, id)`)
	if err != nil {
		b.Fatal(err)
	}

	es := make([]activitylog.Event, ingestBatch)
	docs := make([]string, ingestBatch)
	t0 := time.Now().Add(-time.Hour)
	n := 0
	// next fills es with the next batch of the trail: new ids, later times.
	next := func() {
		for i := range es {
			t := t0.Add(time.Duration(n) * time.Millisecond / 4)
			es[i] = storetest.TrailEvent(n, t)
			doc, err := json.Marshal(&es[i])
			if err != nil {
				b.Fatal(err)
			}
			docs[i] = string(doc)
			n++
		}
	}
	run := func(b *testing.B, write func() error) {
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			next()
			b.StartTimer()
			if err := write(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*ingestBatch)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("store", func(b *testing.B) {
		run(b, func() error { return s.Write(ctx, es) })
	})
	b.Run("rawbatch", func(b *testing.B) {
		run(b, func() error {
			ins, err := raw.PrepareBatch(ctx, "INSERT INTO raw (id, time, kind, action, severity, tenant, actor_id, path, remote_ip, status, duration, message)")
			if err != nil {
				return err
			}
			defer ins.Close()
			for i := range es {
				e := &es[i]
				err := ins.Append(e.ID[:], e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant,
					e.Actor.ID, e.Request.Path, e.Request.RemoteIP, int32(e.Response.Status), int64(e.Response.Duration), e.Message)
				if err != nil {
					return err
				}
			}
			return ins.Send()
		})
	})
	// The same 12 columns and the event's JSON document (made with the
	// timer stopped): the bytes a store that keeps whole events sends.
	b.Run("rawbatch-doc", func(b *testing.B) {
		run(b, func() error {
			ins, err := raw.PrepareBatch(ctx, "INSERT INTO raw_doc (id, time, kind, action, severity, tenant, actor_id, path, remote_ip, status, duration, message, data)")
			if err != nil {
				return err
			}
			defer ins.Close()
			for i := range es {
				e := &es[i]
				err := ins.Append(e.ID[:], e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant,
					e.Actor.ID, e.Request.Path, e.Request.RemoteIP, int32(e.Response.Status), int64(e.Response.Duration), e.Message, docs[i])
				if err != nil {
					return err
				}
			}
			return ins.Send()
		})
	})
}
