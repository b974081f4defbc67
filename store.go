package activitylog

import "context"

// Writer stores batches of events.
//
// Write stores all of events or none of them: a batch is never half
// written. It must be idempotent by event ID: writing an event whose ID
// is already stored leaves the stored event unchanged and is not an
// error, so that the Recorder can retry a batch whose outcome it could
// not learn. Write may be called from several goroutines at once. The
// slice and its events must not be retained after Write returns.
type Writer interface {
	Write(ctx context.Context, events []Event) error
}

// Querier reads stored events back. Its methods may be called from
// several goroutines at once.
//
// Query returns one page of the events that match f, in f's ordering.
// Get returns the event with that id, or an error wrapping ErrNotFound.
// Count returns how many events match f, ignoring its paging fields.
// A filter that fails Filter.Normalize gets that error, which wraps
// ErrInvalid.
type Querier interface {
	Query(ctx context.Context, f Filter) (Page, error)
	Get(ctx context.Context, id ID) (Event, error)
	Count(ctx context.Context, f Filter) (int64, error)
}

// Store is a Writer and a Querier with a lifetime: what every backend
// (sqlite, and those that follow) provides.
type Store interface {
	Writer
	Querier
	Close() error
}

// Enricher fills in fields of an event before it is written, such as
// the geo location of its client address. The Recorder calls Enrich
// from its one batcher goroutine, on each event in turn, before
// redaction; an Enricher used by one Recorder is never called
// concurrently by it. Enrich must only add what the event leaves empty,
// must not keep e, and should be fast: it delays the batch.
type Enricher interface {
	Enrich(e *Event)
}
