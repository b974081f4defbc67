package main

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// lockedJob runs a job every interval, each run under a lock of a
// Locker, so that a run never overlaps another process's run of the
// same job: a process that finds the lock held skips that run and
// tries again at its next tick. Each run takes the lock and gives it up
// when done, so that no process keeps the job for itself: the others
// run it between its runs, and one that stops takes nothing with it.
// A run is cancelled when its lock is lost.
type lockedJob struct {
	name     string // the lock's name, and the job's in logs
	interval time.Duration
	locker   Locker
	log      *slog.Logger
	run      func(ctx context.Context) error

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// start runs the job at once, then every interval, until Close.
func (j *lockedJob) start() {
	ctx, cancel := context.WithCancel(context.Background())
	j.stop = cancel
	j.wg.Go(func() {
		t := time.NewTicker(j.interval)
		defer t.Stop()
		for {
			j.once(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// once runs the job if it gets the lock, and reports whether it ran.
func (j *lockedJob) once(ctx context.Context) bool {
	lk, err := j.locker.TryLock(ctx, j.name)
	if err != nil {
		if ctx.Err() == nil {
			j.log.Warn("job: cannot take its lock; tried again later", "job", j.name, "lock", j.locker.String(), "err", err)
		}
		return false
	}
	if lk == nil {
		j.log.Debug("job: another process runs it now", "job", j.name, "lock", j.locker.String())
		return false
	}
	rctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-lk.Lost():
			cancel()
		case <-rctx.Done():
		}
	}()
	if err := j.run(rctx); err != nil && rctx.Err() == nil {
		j.log.Warn("job failed; run again later", "job", j.name, "err", err)
	}
	cancel()
	relCtx, relCancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer relCancel()
	if err := lk.Release(relCtx); err != nil {
		j.log.Warn("job: its lock was lost while it ran; another process may have run it at the same time (harmless: it is idempotent)",
			"job", j.name, "lock", j.locker.String(), "err", err)
	}
	return true
}

// Close stops the job, waiting for a run in progress.
func (j *lockedJob) Close() error {
	if j.stop != nil {
		j.stop()
		j.wg.Wait()
	}
	return nil
}
