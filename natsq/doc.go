// Package natsq carries activitylog events through NATS JetStream, so
// that the services that record events and the processes that store
// them can run, fail and scale apart.
//
// # Pieces
//
//   - Publisher is an activitylog.Writer for the Recorder: it packs the
//     events of a batch into messages (see Messages), publishes them to
//     the stream and returns nil only when JetStream acknowledged every
//     one, so the batch is durable. When
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
// "ACTIVITYLOG", and the live fan-out uses "activitylog.live". Every
// event of a message has the kind its subject names: events are packed
// per kind.
//
// # Messages
//
// A message carries one event, or packs several. The Publisher groups
// the events of a batch by kind (in the batch's order) and packs each
// group into messages of up to MessageEvents events (default 100) and
// MessageBytes bytes of JSON (default 256 KiB, never above the server's
// max payload less 512 bytes for headers).
//
//   - A single-event message (a group of one, an event larger than
//     MessageBytes, or MessageEvents 1) is the event's JSON, with
//     Nats-Msg-Id = the event id: the only form before packing.
//   - A packed message has the headers "Activitylog-Pack: 1" (the
//     format version) and "Activitylog-Events: <n>", and its body is
//     the n events' compact JSON forms, one per line, joined by "\n".
//     Its Nats-Msg-Id is the hex SHA-256 of the events' 16-byte ids in
//     order, so the same batch retried packs into the same messages.
//
// An event larger than the max payload refuses the batch with an
// *activitylog.FieldError naming it (the Recorder then writes every
// other event and counts that one failed). The Worker reads both forms,
// so messages already in a stream are still read after an upgrade;
// upgrade the Workers before the Publishers, or set MessageEvents to 1
// until they are. Each line is decoded as strictly as a single-event
// message.
//
// # Delivery
//
// Nothing that a Publisher acknowledged is lost, and nothing is stored
// twice: a retried Write within the stream's duplicate window packs
// into the same messages, with the same Nats-Msg-Id, which JetStream
// drops, and every store is idempotent by event id, so a message
// delivered again (after a crash, a lost ack, a publish repeated after
// the window, or the same events packed otherwise, as a spool replay
// may) leaves the store unchanged. A packed message is acknowledged
// only once the store committed all of its events. The stream uses work-queue
// retention: a message is kept until a worker acknowledged it, and when
// MaxBytes is reached new publishes are refused (and spooled), never old
// messages dropped.
//
// An event that is not valid is never dropped silently: the Worker
// counts it, logs its stream sequence (and line, in a packed message),
// and writes a system event (category "ingest_rejected") in its place,
// besides the valid events of the same message; a message that held no
// valid event is then terminated, any other acknowledged.
package natsq
