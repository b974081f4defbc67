package mongo_test

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/mongo"
	"github.com/activitylog/activitylog/storetest"
)

const benchBatch = 500

// BenchmarkIngest measures Write of 500-event batches of realistic
// request events (storetest.TrailEvent): one op is one batch. Its
// baseline, rawinsert, inserts 500 plain small documents ({_id, n}) as
// one unordered insertMany with the driver alone, into the same server
// in the same run, so the ratio says what the store's documents,
// encoding and indexes cost over the server's own floor.
// store-noindexes is the store without the indexes Open creates
// (Options.SkipIndexes), to tell the indexes' share.
func BenchmarkIngest(b *testing.B) {
	b.Run("store", func(b *testing.B) { benchWrite(b, nil) })
	b.Run("store-noindexes", func(b *testing.B) { benchWrite(b, &mongo.Options{SkipIndexes: true}) })
	b.Run("rawinsert", func(b *testing.B) {
		uri := serverURI(b)
		client, err := driver.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			b.Fatal(err)
		}
		db := client.Database(randomName())
		b.Cleanup(func() {
			db.Drop(ctx)
			client.Disconnect(ctx)
		})
		coll := db.Collection("raw")
		docs := make([]any, benchBatch)
		n := 0
		unordered := options.InsertMany().SetOrdered(false)
		b.ReportAllocs()
		for b.Loop() {
			for j := range docs {
				docs[j] = bson.D{{Key: "_id", Value: int64(n)}, {Key: "n", Value: int64(n)}}
				n++
			}
			if _, err := coll.InsertMany(ctx, docs, unordered); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	})
}

func benchWrite(b *testing.B, opts *mongo.Options) {
	s := open(b, opts)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	es := make([]activitylog.Event, benchBatch)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for j := range es {
			es[j] = storetest.TrailEvent(n, t0.Add(time.Duration(n)*time.Millisecond))
			n++
		}
		b.StartTimer()
		if err := s.Write(ctx, es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkQuery measures reading a page of 50 from 10,000 trail
// events: the newest page, the page after it through its cursor, one
// actor's newest page, and counting them all. On FerretDB v1 every
// one costs time in proportion to the matching events, since it sorts
// and counts in its own memory rather than through PostgreSQL's
// indexes (see the package doc); on MongoDB the indexes serve them.
func BenchmarkQuery(b *testing.B) {
	const n = 10_000
	s := open(b, nil)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := storetest.WriteTrail(ctx, s, n, 1000, t0, time.Second); err != nil {
		b.Fatal(err)
	}
	first, err := s.Query(ctx, activitylog.Filter{})
	if err != nil || first.Next == "" {
		b.Fatalf("first page: %v", err)
	}
	actor := first.Events[0].Actor.ID
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"newest", func() error { _, err := s.Query(ctx, activitylog.Filter{}); return err }},
		{"next", func() error { _, err := s.Query(ctx, activitylog.Filter{Cursor: first.Next}); return err }},
		{"actor", func() error { _, err := s.Query(ctx, activitylog.Filter{ActorID: actor}); return err }},
		{"count", func() error { _, err := s.Count(ctx, activitylog.Filter{}); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
