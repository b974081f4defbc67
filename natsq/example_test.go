package natsq_test

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/natsq"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/nats-io/nats.go/jetstream"
)

// A service records through NATS: its Recorder's Writer is a Publisher.
func ExampleNewPublisher() {
	ctx := context.Background()
	nc, err := natsq.Connect("nats://127.0.0.1:4222", "billing-api")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Drain()
	pub, err := natsq.NewPublisher(ctx, nc, nil) // set Fallback to a spool to ride out NATS outages
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	rec := activitylog.NewRecorder(pub, &activitylog.Options{Service: "billing-api"})
	defer rec.Shutdown(ctx)

	_ = rec.Record(ctx, activitylog.Event{Kind: activitylog.KindCRUD, Action: "update", Object: activitylog.Object{Type: "invoice", ID: "42"}})
}

// A worker process drains the stream into the store and relays what it
// committed to the serve replicas' live streams.
func ExampleNewWorker() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, err := natsq.Connect("nats://127.0.0.1:4222", "activitylog-worker")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Drain()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	db, err := sqlite.Open("activitylog.db", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	relay, err := natsq.NewRelay(nc, nil)
	if err != nil {
		log.Fatal(err)
	}
	w, err := natsq.NewWorker(js, relay.Wrap(db), nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Run(ctx); err != nil { // returns at SIGTERM, after the batch in hand
		log.Fatal(err)
	}
}
