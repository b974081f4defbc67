// Package natsq carries activitylog events through NATS JetStream, so
// that the services that record events and the processes that store
// them can run, fail and scale apart.
//
// # Pieces
//
//   - Publisher is an activitylog.Writer for the Recorder: it publishes
//     each event of a batch to the stream and returns nil only when
//     JetStream acknowledged every one, so the batch is durable. When
//     NATS cannot be reached it hands the batch to a local Spool and
//     replays the spool into the stream once NATS is back.
//   - Worker takes events off the stream through one durable pull
//     consumer that every worker shares (the queue group), writes each
//     batch to a store, and acknowledges the messages only after the
//     store committed them.
//   - Relay fans committed events out to every serve replica over a core
//     NATS subject, for the live streams (SSE, WebSocket).
//   - Lease is a lock with a time to live in a JetStream key-value
//     bucket, for jobs that must run on one replica at a time.
//
// # Subjects
//
// With the default prefix "activitylog", events are published to
// "activitylog.events.<kind>" (activitylog.events.crud, …) in the stream
// "ACTIVITYLOG", and the live fan-out uses "activitylog.live".
//
// # Delivery
//
// Nothing that a Publisher acknowledged is lost, and nothing is stored
// twice: every message carries the event id as Nats-Msg-Id, so a
// retried publish within the stream's duplicate window is dropped by
// JetStream, and every store is idempotent by event id, so a message
// delivered again (after a crash, a lost ack, or a publish repeated after
// the window) leaves the store unchanged. The stream uses work-queue
// retention: a message is kept until a worker acknowledged it, and when
// MaxBytes is reached new publishes are refused (and spooled), never old
// messages dropped.
//
// A message that is not a valid event is never dropped silently: the
// Worker terminates it, counts it, logs its stream sequence, and writes
// a system event (category "ingest_rejected") in its place.
package natsq
