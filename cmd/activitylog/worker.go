package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

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
		"so that every serve's live streams show it (docs/nats.md). With the integrity settings it seals every batch it stores, " +
		"into a chain of its own (worker-HOST, worker-HOST.2, …, claimed under a lock); with database_config_keys it routes each tenant's events " +
		"to its database configuration in db, as serve does. On SIGINT or SIGTERM it finishes the batch in hand, stores a last checkpoint and stops.",
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
	var logOut io.Writer = stderr
	if cfg.LogFile != "" {
		// log_file, reopened on SIGHUP (after logrotate moved it).
		lf, err := openLogFile(cfg.LogFile)
		if err != nil {
			return err
		}
		defer lf.Close()
		logOut = lf
		hup, stopHup := catchHangup()
		defer stopHup()
		hctx, hdone := context.WithCancel(context.Background())
		defer hdone()
		onHangup(hctx, hup, func() {
			if err := lf.Reopen(); err != nil {
				fmt.Fprintf(stderr, "activitylog worker: SIGHUP: %v\n", err)
			}
		})
	}
	log := newLogger(cfg, logOut)
	store, err := openEvents(ctx, cfg)
	if err != nil {
		return err
	}
	// What to close at the end, last first.
	closing := []func() error{store.Close}
	defer func() {
		for i := len(closing) - 1; i >= 0; i-- {
			err = errors.Join(err, closing[i]())
		}
	}()
	host, _ := os.Hostname()
	nc, err := natsq.Connect(cfg.NATSURL, "activitylog worker "+host)
	if err != nil {
		return err
	}
	closing = append(closing, func() error { nc.Close(); return nil })
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open jetstream: %w", err)
	}
	locker := newLocker(store, js, cfg.NATSPrefix)
	// runCtx ends with ctx, or when the lock of the chain is lost.
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	// With integrity on, every batch is sealed as it is stored, into a
	// chain this worker claims (worker_seal.go), by the sealer serve
	// uses (serve_integrity.go).
	if err := refuseUnsealed(ctx, cfg, store, "worker"); err != nil {
		return err
	}
	var w activitylog.Writer = store
	var seal *sealer
	if cfg.Sealing() {
		sealed, ok := store.(sealStore)
		if !ok {
			return fmt.Errorf("integrity: the store %s cannot seal events", config.RedactStore(cfg.Store))
		}
		chain, claim, err := claimChain(ctx, locker, workerChainBase(cfg))
		if err != nil {
			return err
		}
		closing = append(closing, func() error {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := claim.Release(rctx); err != nil && !errors.Is(err, errLockLost) {
				return fmt.Errorf("release the lock of chain %s: %w", chain, err)
			}
			return nil
		})
		go func() {
			select {
			case <-claim.Lost():
				stop(errChainLost)
			case <-runCtx.Done():
			}
		}()
		scfg := cfg
		scfg.IntegrityChain = chain
		if seal, err = newSealer(ctx, scfg, sealed, log); err != nil {
			return err
		}
		closing = append(closing, func() error {
			if errors.Is(context.Cause(runCtx), errChainLost) {
				// Another worker may have the chain now: no last
				// checkpoint; the next holder anchors what is left.
				if seal.closeW != nil {
					return seal.closeW()
				}
				return nil
			}
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			return seal.Close(sctx) // the last checkpoint, before the lock goes
		})
		w = seal
		log.Info("integrity: this worker seals into a chain of its own", "chain", seal.chain(), "lock", locker.String())
	}
	// With database configurations on, each tenant's events go to its
	// own database through the router serve uses (serve_dbconfig.go);
	// the configurations and the pending queue are in the SQLite
	// database db, which the worker then shares with serve.
	if cfg.DatabaseConfigKeys != "" {
		control, ok := store.(*sqlite.Store)
		if cfg.Store != "" && !(cfg.StoreScheme() == "sqlite" && sqlitePath(cfg.Store) == cfg.DB) {
			if control, err = sqlite.Open(cfg.DB, nil); err != nil {
				return err
			}
			closing = append(closing, control.Close)
		} else if !ok {
			return fmt.Errorf("database_config_keys: the store of db %s is not SQLite", cfg.DB)
		}
		var def activitylog.Store = store
		if seal != nil {
			def = sealedDefault{Writer: seal, Store: store}
		}
		tenants, err := newTenantStores(cfg, control, def, log)
		if err != nil {
			return err
		}
		closing = append(closing, tenants.Close) // before the sealer's last checkpoint
		tenants.startReplay(locker, log)
		w = tenants.router
		log.Info("tenant routing on: each tenant's events go to its database configuration", "configs", cfg.DB)
	}
	relay, err := natsq.NewRelay(nc, &natsq.RelayOptions{Prefix: cfg.NATSPrefix, Logger: log})
	if err != nil {
		return err
	}
	closing = append(closing, relay.Close)
	wk, err := natsq.NewWorker(js, relay.Wrap(w), &natsq.WorkerOptions{
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
	if seal != nil {
		// Checkpoints of an idle chain, and the witness's catch-up,
		// until the worker stops or loses its chain.
		var flushing sync.WaitGroup
		flushing.Go(func() { seal.runFlusher(runCtx, cfg.IntegrityCheckpointInterval, cfg.WriteTimeout) })
		defer func() { stop(nil); flushing.Wait() }() // before closing
	}
	err = wk.Run(runCtx)
	st := wk.Stats()
	log.Info("worker stopped", "stats", fmt.Sprintf("%+v", st))
	if cause := context.Cause(runCtx); errors.Is(cause, errChainLost) {
		err = errors.Join(err, cause)
	}
	return err
}
