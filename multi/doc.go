// Package multi writes every batch to several targets, each with its
// own queue, goroutine, retries and counters, so that a slow or dead
// target does not hold up the others. It uses the standard library
// only.
//
//	w, err := multi.New([]multi.Target{
//		{Name: "sqlite", Writer: store},
//		{Name: "archive", Writer: archive},
//	}, &multi.Options{Policy: multi.Any})
//	if err != nil {
//		return err
//	}
//	rec := activitylog.NewRecorder(w, nil)
//	defer w.Close(ctx) // after rec.Shutdown
//
// # Policies
//
// All (the default) is fail-closed: Write writes to every target
// concurrently, one attempt each bounded by Options.Timeout and the
// caller's context, and succeeds only when every target committed. Its
// error names each target that failed. It does not retry: the caller
// (the Recorder, with its backoff) retries the whole batch, and the
// targets that already hold it ignore the copies, since every Writer is
// idempotent by event id. The Recorder's own MultiWriter does the same
// one target after another; multi.Writer does it concurrently, so a
// batch costs the slowest target's time, not the sum.
//
// Any succeeds once one target committed the batch: Write puts the
// batch on every target's queue (Options.QueueSize batches) and returns
// at the first commit. The other targets keep it and retry, with
// backoff doubling from RetryMin to RetryMax with jitter, until they
// commit it. A target whose queue is full hands the batch to its Spill
// writer (Target.Spill, else Options.Spill), which counts as committed
// for that target's part; with no Spill writer the batch is dropped for
// that target, counted in TargetStats.Dropped and logged. When no target
// commits before the caller's context ends (or every one refused), the
// batch is withdrawn from every queue, since nobody holds it, and Write
// returns an error naming each target; the caller retries it.
//
// A target that refuses a batch with activitylog.ErrInvalid is not
// retried. Under All, the error wraps ErrInvalid when every failure
// did, so the Recorder stops retrying; otherwise it wraps
// ErrUnavailable.
//
// # Exactly once per target
//
// Under Any, each healthy target gets each batch that Write accepted
// exactly once, unless the caller retried a batch that Write reported
// failed (then possibly twice, harmlessly). Under All, a target may get
// a batch once per caller retry; idempotency by id makes the stored
// result exact.
//
// # Close
//
// Close refuses new batches and waits, until its context ends, for the
// queues to drain. Then it cancels the attempts in flight; whatever a
// target still holds goes to its Spill writer or is counted in
// TargetStats.Lost, and Close's error gives the counts per target.
package multi
