package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/natsq"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/spool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pipeline is what serve puts between its Recorder and its store: a
// disk spool for outages (spool_dir), and with nats_url the JetStream
// publisher in place of the store, whose events activitylog worker
// stores (docs/nats.md).
type pipeline struct {
	spool *spool.Spool
	fb    *spool.Fallback
	nc    *nats.Conn
	pub   *natsq.Publisher
	relay *natsq.Relay
}

// newPipeline wraps w, the store's writer, as the configuration says.
func newPipeline(ctx context.Context, cfg config.Config, w activitylog.Writer, log *slog.Logger) (*pipeline, activitylog.Writer, error) {
	p := &pipeline{}
	if cfg.SpoolDir != "" {
		sp, err := spool.Open(cfg.SpoolDir, &spool.Options{MaxBytes: cfg.SpoolMaxBytes})
		if err != nil {
			return nil, nil, fmt.Errorf("spool_dir: %w", err)
		}
		p.spool = sp
		if n, b := sp.Len(); n > 0 {
			log.Warn("the spool holds events from before; they are replayed", "dir", cfg.SpoolDir, "events", n, "bytes", b)
		}
	}
	if cfg.NATSURL == "" {
		if p.spool != nil {
			p.fb = spool.NewFallback(w, p.spool, &spool.FallbackOptions{Logger: log})
			w = p.fb
		}
		return p, w, nil
	}
	host, _ := os.Hostname()
	nc, err := natsq.Connect(cfg.NATSURL, "activitylog serve "+host)
	if err != nil {
		return nil, nil, p.closeWith(err)
	}
	p.nc = nc
	po := &natsq.PublisherOptions{Stream: cfg.NATSStream, Prefix: cfg.NATSPrefix, Logger: log}
	if p.spool != nil {
		po.Fallback = p.spool
	}
	if p.pub, err = natsq.NewPublisher(ctx, nc, po); err != nil {
		return nil, nil, p.closeWith(err)
	}
	if p.relay, err = natsq.NewRelay(nc, &natsq.RelayOptions{Prefix: cfg.NATSPrefix, Logger: log}); err != nil {
		return nil, nil, p.closeWith(err)
	}
	return p, p.pub, nil
}

// jetStream returns the JetStream of the NATS connection, nil without
// nats_url.
func (p *pipeline) jetStream() jetstream.JetStream {
	if p.nc == nil {
		return nil
	}
	js, err := jetstream.New(p.nc)
	if err != nil {
		return nil // it fails only on bad options, and there are none
	}
	return js
}

// subscribe shows in bc's live streams what every worker stored.
func (p *pipeline) subscribe(bc *server.Broadcaster) error {
	if p.relay == nil {
		return nil
	}
	return p.relay.Subscribe(bc.Publish)
}

func (p *pipeline) closeWith(err error) error { return errors.Join(err, p.Close()) }

// defaultPipelineClose bounds the last replay of the spool at shutdown.
const defaultPipelineClose = 5 * time.Second

// Close stops the replays, the relay and the publisher, and closes the
// spool and the connection, after the Recorder has drained into them.
// What the spool still holds stays on disk for the next start.
func (p *pipeline) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), defaultPipelineClose)
	defer cancel()
	if p.fb != nil {
		errs = append(errs, p.fb.Close(ctx))
	}
	if p.relay != nil {
		errs = append(errs, p.relay.Close())
	}
	if p.pub != nil {
		errs = append(errs, p.pub.Close())
	}
	if p.spool != nil {
		errs = append(errs, p.spool.Close())
	}
	if p.nc != nil {
		p.nc.Close()
	}
	return errors.Join(errs...)
}

var _ io.Closer = (*pipeline)(nil)
