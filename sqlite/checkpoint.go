package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// A checkpointer copies the write-ahead log back into the database file
// in the background, on a connection of its own, so that the Write that
// happens to fill the log does not pay for copying it: a checkpoint
// writes every page the log holds and syncs both files, and a Write that
// ran one took five times as long as one that did not. In the background
// they made BenchmarkWrite -benchtime 200x about 10% faster on 2 cores.
//
// Its checkpoints are passive: they copy what no reader still needs and
// neither wait for nor block writers and readers. Under a steady stream
// of writes the log then never becomes free to start again from its
// beginning, so the writing connection keeps SQLite's own automatic
// checkpoint at Options.CheckpointPages as a backstop; by then the
// background has copied most of the log and the backstop's share is
// small.
type checkpointer struct {
	db       *sql.DB
	interval time.Duration
	wake     chan struct{} // a write committed
	quit     chan struct{}
	done     chan struct{}
}

func startCheckpointer(db *sql.DB, interval time.Duration) *checkpointer {
	c := &checkpointer{db: db, interval: interval,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// poke tells the checkpointer that a write committed. It never blocks.
func (c *checkpointer) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	timer := time.NewTimer(0)
	<-timer.C
	for {
		// Wait for a write, then let writes gather for an interval, so
		// that a page written many times is copied once.
		select {
		case <-c.wake:
		case <-c.quit:
			return
		}
		timer.Reset(c.interval)
		select {
		case <-timer.C:
		case <-c.quit:
			timer.Stop()
			return
		}
		// An error (the database busy or gone) leaves the log to the
		// next checkpoint or to the backstop.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
		cancel()
	}
}

// stop ends the checkpointer and closes its connection.
func (c *checkpointer) stop() error {
	close(c.quit)
	<-c.done
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("close checkpointer: %w", err)
	}
	return nil
}
