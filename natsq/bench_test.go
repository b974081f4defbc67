package natsq

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type nopWriter struct{}

func (nopWriter) Write(context.Context, []activitylog.Event) error { return nil }

// BenchmarkJetStream measures the transport on the shared server:
// end_to_end (Publisher.Write in 500-event batches while one Worker
// writes into a no-op store, until every event is acknowledged;
// end_to_end_4pub with four goroutines writing batches at once, as
// four Recorders would; end_to_end_unpacked with MessageEvents 1, one
// message per event as before packing), publish (Publisher.Write
// alone, packed), worker_drain (one Worker emptying a pre-filled
// stream), and in the same run its baselines: raw_publish (PublishMsgAsync of the same
// pre-encoded bytes, 500 at a time, waiting for every ack) and
// raw_fetch_ack (Fetch 500 + Ack each, on a pre-filled stream).
func BenchmarkJetStream(b *testing.B) {
	nc := sharedNATS(b)
	const batch = 500
	sample := events(batch)
	payloads := make([][]byte, batch)
	for i := range sample {
		payloads[i], _ = json.Marshal(&sample[i])
	}
	ctx := context.Background()

	for _, c := range []struct {
		name         string
		pubs, perMsg int
	}{{"end_to_end", 1, 0}, {"end_to_end_4pub", 4, 0}, {"end_to_end_unpacked", 1, 1}} {
		pubs := c.pubs
		b.Run(c.name, func(b *testing.B) {
			stream, prefix := names(b, nc)
			p := newPublisher(b, nc, &PublisherOptions{Stream: stream, Prefix: prefix, MessageEvents: c.perMsg})
			w := newWorker(b, connect(b, nc.ConnectedUrl()), nopWriter{}, &WorkerOptions{Stream: stream, Prefix: prefix})
			evs := events(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			stop := runWorker(b, w)
			start := time.Now()
			var wg sync.WaitGroup
			for g := range pubs {
				wg.Go(func() {
					// Publisher g writes every pubs-th batch.
					for i := g * batch; i < len(evs); i += pubs * batch {
						if err := p.Write(ctx, evs[i:min(i+batch, len(evs))]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			for w.Stats().Written < uint64(b.N) && !b.Failed() {
				time.Sleep(200 * time.Microsecond)
			}
			el := time.Since(start)
			b.StopTimer()
			stop()
			b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
		})
	}

	b.Run("publish", func(b *testing.B) {
		stream, prefix := names(b, nc)
		p := newPublisher(b, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
		evs := events(b.N)
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < len(evs); i += batch {
			if err := p.Write(ctx, evs[i:min(i+batch, len(evs))]); err != nil {
				b.Fatal(err)
			}
		}
		el := time.Since(start)
		b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	})

	b.Run("raw_publish", func(b *testing.B) {
		stream, prefix := names(b, nc)
		newPublisher(b, nc, &PublisherOptions{Stream: stream, Prefix: prefix}) // the same stream
		js, _ := jetstream.New(nc)
		ids := make([]string, b.N)
		for i := range ids {
			ids[i] = activitylog.NewID(time.Now()).String()
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		rawPublish(b, js, prefix+".events.crud", payloads, ids)
		el := time.Since(start)
		b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	})

	b.Run("worker_drain", func(b *testing.B) {
		stream, prefix := names(b, nc)
		p := newPublisher(b, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
		evs := events(b.N)
		for i := 0; i < len(evs); i += batch {
			if err := p.Write(ctx, evs[i:min(i+batch, len(evs))]); err != nil {
				b.Fatal(err)
			}
		}
		w := newWorker(b, connect(b, nc.ConnectedUrl()), nopWriter{}, &WorkerOptions{Stream: stream, Prefix: prefix})
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		stop := runWorker(b, w)
		for w.Stats().Written < uint64(b.N) {
			time.Sleep(200 * time.Microsecond)
		}
		el := time.Since(start)
		b.StopTimer()
		stop()
		b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	})

	b.Run("raw_fetch_ack", func(b *testing.B) {
		stream, prefix := names(b, nc)
		newPublisher(b, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
		js, _ := jetstream.New(nc)
		ids := make([]string, b.N)
		for i := range ids {
			ids[i] = activitylog.NewID(time.Now()).String()
		}
		rawPublish(b, js, prefix+".events.crud", payloads, ids)
		cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10_000,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for got := 0; got < b.N; {
			mb, err := cons.Fetch(batch, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				b.Fatal(err)
			}
			for m := range mb.Messages() {
				if err := m.Ack(); err != nil {
					b.Fatal(err)
				}
				got++
			}
		}
		el := time.Since(start)
		b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	})
}

// rawPublish publishes one message per id, the payloads in turn, 500
// at a time, and waits for every acknowledgement of each 500.
func rawPublish(b *testing.B, js jetstream.JetStream, subject string, payloads [][]byte, ids []string) {
	futures := make([]jetstream.PubAckFuture, 0, len(payloads))
	for i := 0; i < len(ids); {
		futures = futures[:0]
		for j := 0; j < len(payloads) && i < len(ids); j, i = j+1, i+1 {
			m := &nats.Msg{Subject: subject, Data: payloads[j], Header: nats.Header{jetstream.MsgIDHeader: []string{ids[i]}}}
			f, err := js.PublishMsgAsync(m)
			if err != nil {
				b.Fatal(err)
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				b.Fatal(err)
			}
		}
	}
}
