// Package server is the HTTP API of activitylog: other processes post
// events to it, and people and tools read the trail back through it.
// `activitylog serve` runs it; a service can also mount it inside its
// own mux, under any prefix:
//
//	store, _ := sqlite.Open("audit.db", nil)
//	rec := activitylog.NewRecorder(store, nil)
//	defer rec.Shutdown(context.Background())
//
//	mux := http.NewServeMux()
//	mux.Handle("/audit/", http.StripPrefix("/audit", server.New(store, rec, nil)))
//
// The handler answers only paths relative to where it is mounted, and
// the paging links it returns are relative ("?cursor=…"), so it works
// under any prefix.
//
// # Routes
//
//	POST /api/v1/events        ingest one event, an array, or NDJSON; all or none
//	GET  /api/v1/events        list events matching query parameters (see ParseFilter)
//	GET  /api/v1/events/{id}   one event
//	GET  /healthz              liveness: always 200 {"status":"ok"}
//	GET  /readyz               readiness: Options.Ready; 503 {"status":"unavailable"}
//
// Any other path answers a JSON 404, and a known path with the wrong
// method a JSON 405 with an Allow header.
//
// # Ingesting
//
// The body of a POST is one JSON event, a JSON array of events
// (Content-Type application/json), or one event per line
// (application/x-ndjson; blank lines are skipped). It is decoded
// strictly: an unknown field, a value of the wrong type, a malformed id
// or time, data after the last event, an empty body or an empty batch is
// refused with a 400 that names the field, as in "events[3].actor.nick".
// The events then go to the Ingester's Commit, which validates every one
// and stores all or none of them. Events without an id get one, so the
// 201 answer lists the ids of the stored events in order:
//
//	{"accepted": 2, "ids": ["0190…", "0190…"]}
//
// An id of an event that is already stored is not an error and leaves
// that event as it was, so a client that sends its own ids can retry a
// batch whose outcome it did not learn; the same id twice in one batch
// is refused. The zero id and the zero time, as a Go client marshals an
// unset Event, mean "not set", as do "" and null. Events that the
// Recorder's DisabledKinds or Filter leave out are counted as filtered
// there and still reported as accepted.
//
// Ingested events are not enriched from the POST request's context: the
// actor, tenant, request and trace set there by middleware describe the
// call that delivers the events, not the activity they record.
//
// # Reading
//
// GET /api/v1/events takes the filter parameters of ParseFilter and
// answers one page:
//
//	{"count": 123, "next": "?cursor=…&kind=crud&page_size=50", "previous": null, "results": [ … ]}
//
// count is the number of matching events, whatever the page. next and
// previous are relative links that keep the other parameters and carry
// a keyset cursor; they are null at either end. An unknown parameter,
// a repeated one or a bad value is refused with a 400 naming it. A
// last_hours filter is measured from the time of each request, so its
// window moves as the links are followed.
//
// # Errors
//
// Every error has one JSON shape:
//
//	{"error": {"code": "invalid", "message": "invalid page_size \"0\": must be between 1 and 1000",
//	           "field": "page_size", "value": "0"}}
//
// field and value appear for refused input only. The codes and statuses
// are: invalid 400, not_found 404, method_not_allowed 405, too_large 413,
// unsupported_media_type 415, queue_full 503 (with Retry-After: 1),
// unavailable 503, internal 500. Internal detail is logged to
// Options.Logger and never shown to the client.
package server
