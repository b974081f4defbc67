package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/natsq"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/nats-io/nats.go/jetstream"
)

var workerCommand = &command{
	name:    "worker",
	summary: "store the events that serve and your services publish to NATS JetStream",
	about: "Pulls the events from the JetStream stream (nats_url, nats_stream) in batches, writes each batch to the store " +
		"(store, a URL; else the SQLite database db) and acknowledges the messages only once the store committed them, " +
		"so that a worker that dies mid-batch loses nothing: another worker gets its messages again, and the store, idempotent by event id, " +
		"keeps each event once. Run as many as you like: they share one durable consumer. Each batch stored is also sent on the live subject, " +
		"so that every serve's live streams show it (docs/nats.md). On SIGINT or SIGTERM it finishes the batch in hand and stops.",
	flags: true,
	run:   runWorker,
}

// openEvents opens the store the events go to: store when it is set,
// else the SQLite database db.
func openEvents(ctx context.Context, cfg config.Config) (activitylog.Store, error) {
	if cfg.Store != "" {
		return openStore(ctx, cfg.Store)
	}
	return sqlite.Open(cfg.DB, nil)
}

func runWorker(ctx context.Context, cfg config.Config, _, stderr io.Writer) (err error) {
	if cfg.NATSURL == "" {
		return usageError("nats_url is required: the NATS server to pull from (--nats-url nats://127.0.0.1:4222)")
	}
	log := newLogger(cfg, stderr)
	store, err := openEvents(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	host, _ := os.Hostname()
	nc, err := natsq.Connect(cfg.NATSURL, "activitylog worker "+host)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open jetstream: %w", err)
	}
	relay, err := natsq.NewRelay(nc, &natsq.RelayOptions{Prefix: cfg.NATSPrefix, Logger: log})
	if err != nil {
		return err
	}
	defer relay.Close()
	w, err := natsq.NewWorker(js, relay.Wrap(store), &natsq.WorkerOptions{
		Stream:       cfg.NATSStream,
		Prefix:       cfg.NATSPrefix,
		WriteTimeout: cfg.WriteTimeout,
		Logger:       log,
	})
	if err != nil {
		return err
	}
	where := cfg.DB
	if cfg.Store != "" {
		where = config.RedactStore(cfg.Store)
	}
	fmt.Fprintf(stderr, "activitylog worker: storing stream %s from %s into %s\n", cfg.NATSStream, config.RedactStore(cfg.NATSURL), where)
	err = w.Run(ctx)
	st := w.Stats()
	log.Info("worker stopped", "stats", fmt.Sprintf("%+v", st))
	return err
}
