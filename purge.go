package activitylog

import (
	"context"
	"math"
	"strings"
	"time"
)

// CategoryRetention is the category of the system events (action
// security) that record a purge, and later retention runs: their
// Extra["operation"] is PurgeStarted before it, PurgeDone or
// PurgeFailed after.
const CategoryRetention = "retention"

// Operations of the purge events (Extra["operation"]).
const (
	PurgeStarted = "purge_started"
	PurgeDone    = "purge"
	PurgeFailed  = "purge_failed"
)

// PurgeRequest asks a store to delete events at once, in bounded
// batches: those whose time is before Before, of the Kinds (every kind
// when empty), of Tenant unless AllTenants, but never the records of
// purges (system events of CategoryRetention). A store deletes only events
// without a seal: a sealed event leaves its chain only through a signed
// pruning record (integrity), which the caller adds when it holds the
// signing key (activitylog serve does).
type PurgeRequest struct {
	Before     time.Time
	Kinds      []Kind
	Tenant     string
	AllTenants bool
}

// Validate reports the first field of r that a store cannot act on.
func (r *PurgeRequest) Validate() error {
	if r.Before.IsZero() {
		return Invalid("before", "", "is required: the purge deletes events before it")
	}
	for _, k := range r.Kinds {
		if !k.Valid() {
			names := make([]string, len(Kinds))
			for i, k := range Kinds {
				names[i] = string(k)
			}
			return Invalid("kinds", string(k), "is not a kind; known are "+strings.Join(names, ", "))
		}
	}
	return nil
}

// BeforeUnixNano returns Before as Unix nanoseconds, for a store that
// keeps times so: math.MaxInt64 when Before is after every time an int64
// of nanoseconds holds (the year 2262), and ok false when Before is at or
// before the first such time (the year 1677), so that the request
// selects nothing. (time.Time.UnixNano is undefined outside that range:
// it wraps, and a purge before the year 1000 would delete everything.)
func (r *PurgeRequest) BeforeUnixNano() (ns int64, ok bool) {
	if !r.Before.After(minNano) {
		return 0, false
	}
	if r.Before.After(maxNano) {
		return math.MaxInt64, true
	}
	return r.Before.UnixNano(), true
}

var (
	minNano = time.Unix(0, math.MinInt64)
	maxNano = time.Unix(0, math.MaxInt64)
)

// PurgeResult is what a purge did.
type PurgeResult struct {
	// Deleted counts the events deleted, ByKind by kind.
	Deleted int64          `json:"deleted"`
	ByKind  map[Kind]int64 `json:"by_kind"`
	// KeptSealed counts the events the request selected that were kept
	// because they are sealed and no pruning record could cut them (a
	// chain's events after its newest checkpoint, its last event, or
	// sealed events of some kinds only).
	KeptSealed int64 `json:"kept_sealed"`
	// Pruned counts the sealed events deleted under signed pruning
	// records, when the caller pruned the chains too; PrunedChains the
	// chains cut.
	Pruned       int64 `json:"pruned"`
	PrunedChains int   `json:"pruned_chains"`
}

// Add adds o's counts to r's: the result of one purge over several
// stores. A nil ByKind is made.
func (r *PurgeResult) Add(o PurgeResult) {
	r.Deleted += o.Deleted
	r.KeptSealed += o.KeptSealed
	r.Pruned += o.Pruned
	r.PrunedChains += o.PrunedChains
	if r.ByKind == nil && len(o.ByKind) > 0 {
		r.ByKind = map[Kind]int64{}
	}
	for k, n := range o.ByKind {
		r.ByKind[k] += n
	}
}

// A Purger deletes events at once (PurgeRequest). sqlite.Store is one.
type Purger interface {
	Purge(ctx context.Context, r PurgeRequest) (PurgeResult, error)
}
