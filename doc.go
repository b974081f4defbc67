// Package activitylog gives a Go service a complete, tamper-evident
// audit trail: who did what, to which record, from where, when, and
// with what result.
//
// This package holds the domain and uses the standard library only.
// Capture (httpaudit), storage (sqlite, …) and the API (server) live in
// packages of their own, so a service imports only what it uses.
//
// # The event
//
// One [Event] type serves every [Kind] of activity: data changes
// (crud), logins (auth), incoming calls (request), cross-origin calls
// (cors), outgoing calls (external), errors (system), exports (export)
// and anything else (custom). Its JSON form is stable and snake_case;
// docs/event-schema.md describes it and schema/event.schema.json
// validates it.
//
// # Recording
//
// A [Recorder] is the one way in. [Recorder.Record] fills in what the
// event leaves empty from the context (the actor set by [WithActor],
// the tenant, the request set by the HTTP middleware, the trace),
// applies the kind switches and the filter, validates, and queues the
// event. A background batcher redacts each event ([Redactor]) and hands
// batches to a [Writer], retrying with capped backoff:
//
//	store, _ := sqlite.Open("audit.db", nil)
//	rec := activitylog.NewRecorder(store, nil)
//	defer rec.Shutdown(context.Background())
//
//	ctx = activitylog.WithActor(ctx, activitylog.Actor{ID: "42", Name: "Ann"})
//	rec.Record(ctx, activitylog.Event{
//		Kind: activitylog.KindCRUD, Action: "update",
//		Object:  activitylog.Object{Type: "invoice", ID: "INV-7"},
//		Changes: map[string]activitylog.Change{"status": {Old: "draft", New: "sent"}},
//	})
//
// # Nothing lost silently
//
// The queue is bounded. When it is full, [Options].OnFull decides:
// [Block] waits up to a deadline, [Drop] drops and counts, [Fail]
// refuses (fail-closed; [Recorder.Reserve] lets a caller learn before it
// acts). Every drop, refusal and write failure is counted ([Stats]) and
// then recorded as a system event of category "audit_loss", so a gap in
// the trail is visible in the trail itself. [Recorder.Shutdown] writes
// everything that was accepted.
//
// # Reading back
//
// A [Querier] answers [Filter]s with keyset-paged [Page]s. Every store
// passes the same conformance suite, storetest.Run.
package activitylog
