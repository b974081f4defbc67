// Package spool is a durable queue of event batches on local disk: the
// buffer that keeps a Recorder's batches while its store is down or
// slow, and replays them when it is back. It uses the standard library
// only.
//
//	sp, err := spool.Open("/var/lib/myapp/audit-spool", nil)
//	if err != nil {
//		return err
//	}
//	defer sp.Close()
//	fb := spool.NewFallback(store, sp, nil)
//	defer fb.Close(context.Background()) // after rec.Shutdown
//	rec := activitylog.NewRecorder(fb, nil)
//
// # Guarantees
//
// Spool.Write appends a batch as one record and returns only after the
// record is fsynced (Options.SyncInterval lets concurrent Writes share
// one fsync; each still waits for it). A record is all or nothing: a
// crash mid-write leaves a torn record, which Open detects by its length
// and CRC32C and cuts off; it was never acknowledged. Write refuses
// invalid events (activitylog.ErrInvalid) so that a replay never meets
// a batch its writer must refuse, and fails with ErrFull, writing
// nothing, when the batch would take the spool past Options.MaxBytes.
//
// Replay writes the batches to a Writer, oldest first, each as it was
// spooled. After every batch it fsyncs a checkpoint, so a crash
// mid-replay sends again at most one batch; the Writer contract (idempotent
// by event id) makes that harmless. A segment file is deleted once all
// its batches are written. Replay runs while Writes go on.
//
// # Corruption
//
// A record in the middle of a segment that fails its length, CRC or
// JSON check was damaged after it was written (a crash only tears the
// tail, which Open removes). Its offset cannot be trusted to find the
// next record, so Replay quarantines the whole segment: it renames it
// to *.seg.corrupt, counts the events the segment still held as lost,
// replays the segments after it, and returns a *CorruptError naming the
// file, the offset and the number of events lost. Nothing is skipped
// silently. The quarantined file stays for inspection and no longer
// counts towards MaxBytes.
//
// After a crash, Open tells a torn tail from damage by searching the
// rest of the last segment for a good record: one follows, the bad
// record was damaged; none, it was torn. The search does work linear
// in the segment's size, whatever its bytes: it checks only offsets
// whose header and payload Write could have produced, and caps the
// bytes it runs through CRC32C. A segment crafted to exhaust that cap
// is kept whole, for Replay to report, rather than cut off.
//
// # Format
//
// The directory holds segment files named by a 20-digit sequence number
// (00000000000000000001.seg), a checkpoint file and a LOCK file (an
// advisory flock on Unix, so two processes never share a spool). A
// segment starts with the 8-byte magic "ALSPOOL\x01"; each record is
// the payload length (uint32), the event count (uint32), the CRC32C of
// those 8 bytes and the payload (uint32), all little-endian, then the
// payload: the batch as encoding/json encodes []activitylog.Event. The
// checkpoint file holds two CRC-checked slots written in turn, so a torn
// checkpoint write leaves the previous one in force.
//
// # Fallback
//
// Fallback writes to a primary Writer with a timeout and, when that
// fails, to the spool; a goroutine replays the spool into the primary
// every ReplayInterval. Replayed events reach the store after newer
// ones written directly; stores order by time and id, so queries do not
// notice.
package spool
