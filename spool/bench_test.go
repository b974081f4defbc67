package spool_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/spool"
)

const benchBatch = 500

func benchEvents() []activitylog.Event {
	t0 := time.Now().UTC().Add(-time.Hour)
	es := make([]activitylog.Event, benchBatch)
	for i := range es {
		t := t0.Add(time.Duration(i) * time.Millisecond)
		es[i] = activitylog.Event{
			ID: activitylog.NewID(t), Time: t, Kind: activitylog.KindRequest, Action: "GET",
			Severity: activitylog.SeverityInfo, Service: "shop", Tenant: "acme",
			Actor:    activitylog.Actor{ID: "u1", Name: "User 1", Type: activitylog.ActorUser},
			Request:  activitylog.Request{RequestID: "req-1", Method: "GET", Host: "shop.test", Path: "/orders/42", Route: "GET /orders/{id}", RemoteIP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
			Response: activitylog.Response{Status: 200, Duration: 1234567, ResponseBytes: 512},
		}
	}
	return es
}

// BenchmarkSpoolWrite appends batches of 500 request events (about
// 170 KiB of JSON), fsynced before each Write returns. raw is the
// baseline: os.File.Write of the same encoded bytes and an fsync, with
// no encoding; raw-encode adds json.Marshal of the batch. ns/op is per
// batch.
func BenchmarkSpoolWrite(b *testing.B) {
	es := benchEvents()
	payload, _ := json.Marshal(es)
	b.Run("raw", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.Write(payload); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	})
	// raw-encode adds the JSON encoding of the batch to raw: the least
	// work a spool that keeps events as JSON must do.
	b.Run("raw-encode", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := json.Marshal(es)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(p); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	})
	run := func(name string, o spool.Options, parallel bool) {
		b.Run(name, func(b *testing.B) {
			o.MaxBytes = 1 << 40
			s, err := spool.Open(b.TempDir(), &o)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			if parallel {
				b.SetParallelism(4) // 8 writers on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.Write(ctx, es); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if err := s.Write(ctx, es); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
		})
	}
	run("fsync-each", spool.Options{}, false)
	run("fsync-each-parallel", spool.Options{}, true)
	run("group-1ms-parallel", spool.Options{SyncInterval: time.Millisecond}, true)
}
