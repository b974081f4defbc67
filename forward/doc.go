// Package forward sends an audit trail on to a SIEM: Splunk (HEC),
// Elasticsearch or OpenSearch (_bulk) and any syslog collector (RFC
// 5424 with the event in CEF). Each is an activitylog.Writer, and a
// documented example of writing one. It uses the standard library
// only.
//
// A forwarder sits beside the store, not in place of it: put both
// under multi.New with Policy Any, so that the store's commit is what
// Record waits for and the SIEM gets every batch from its own queue,
// retried with backoff; give the forwarder a spool.Spool as its Spill
// writer so that a long SIEM outage fills the disk, not the memory.
//
//	hec, err := forward.NewHEC("https://splunk.example.com:8088", token, nil)
//	if err != nil {
//		return err
//	}
//	sp, err := spool.Open("/var/lib/myapp/siem-spool", nil)
//	if err != nil {
//		return err
//	}
//	w, err := multi.New([]multi.Target{
//		{Name: "store", Writer: store},
//		{Name: "splunk", Writer: hec, Spill: sp},
//	}, &multi.Options{Policy: multi.Any})
//
// Replay the spool into the forwarder (sp.Replay(ctx, hec)) when the SIEM
// is back, or use spool.NewFallback(hec, sp, nil) as the target's Writer.
//
// Events that reach a Writer from the Recorder are already redacted:
// what the store holds is what the SIEM gets.
//
// # Delivery
//
// None of these targets has a transaction, so none can be
// all-or-nothing as the Writer contract asks; what holds instead:
//
//   - ElasticBulk is idempotent: each event is a "create" with the event
//     id as _id, and an item that answers 409 (already there) counts as
//     stored. A failed Write may have indexed some items; the retry
//     indexes the rest, so retries converge to exactly once.
//   - HEC is at-least-once: Splunk does not dedup, so a retried batch (or
//     the requests of a split batch sent before one that failed) is
//     indexed again. Every event carries its id in event.id; search with
//     "| dedup id". Options.Ack waits for indexer acknowledgement, so a
//     nil error means indexed, not only received.
//   - Syslog over TCP is at-least-once at best: RFC 6587 has no
//     acknowledgement, so messages the collector had not read when it
//     failed are lost without an error; a batch that failed to write is
//     sent again whole. Over UDP it is at-most-once. The event id is in
//     the structured data and in CEF externalId.
//
// Errors that mean "try later" (a network failure, a timeout, HTTP 408,
// 429 or 5xx, a bulk item refused with 429 or 5xx) wrap
// activitylog.ErrUnavailable. Other refusals (a bad token, a missing
// index, a mapping conflict) are plain errors, retried like the others:
// they are configurations to fix, and no error wraps
// activitylog.ErrInvalid, so no event is dropped for them. Tokens,
// API keys and passwords never appear in an error.
//
// # Formats
//
// HEC: one JSON object per event, newline-separated, posted to
// /services/collector/event with "Authorization: Splunk <token>":
//
//	{"time":1732492800.123456,"host":"web-1","source":"activitylog","sourcetype":"activitylog:auth","event":{…the event…}}
//
// Elastic: NDJSON, an action line and the event per event, to /_bulk:
//
//	{"create":{"_index":"activitylog","_id":"<event id>"}}
//	{…the event…}
//
// Syslog: RFC 5424, framed by octet counting over TCP, one per
// datagram over UDP, with facility 13 (log audit) by default:
//
//	<110>1 2024-11-25T00:00:00.123456Z web-1 activitylog - auth [activitylog@32473 id="…"] CEF:0|activitylog|activitylog|1.0|auth.login|…|3|rt=… externalId=…
//
// See AppendCEF for the CEF mapping.
package forward
