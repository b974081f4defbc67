package retention

import (
	"context"
	"time"
)

// Repository keeps policies. sqlite.Store's RetentionPolicies method
// returns one, over the control database.
//
// Every method may be called from several goroutines at once. A policy
// that does not exist is an error wrapping activitylog.ErrNotFound; a
// policy refused by Validate an *activitylog.FieldError; a name another
// policy has (in any ASCII case), or a second active policy of the same
// Kind, Tenant and AllTenants, a *ConflictError naming "name" or "kind";
// an id taken a *activitylog.FieldError naming "id". A store that cannot
// be reached is activitylog.ErrUnavailable. Times are returned in UTC.
type Repository interface {
	// List returns every policy: those for every tenant first, then by
	// tenant, kind and name.
	List(ctx context.Context) ([]Policy, error)
	// Get returns the policy with that id.
	Get(ctx context.Context, id string) (Policy, error)
	// Create stores p, which has its ID set; zero CreatedAt and
	// UpdatedAt are set to now. The run fields start empty.
	Create(ctx context.Context, p Policy) error
	// Update replaces the definition of the policy with p's ID (name,
	// kind, retain_days, active, tenant, all_tenants, archive,
	// updated_at) by p's; CreatedAt and the run fields are kept.
	Update(ctx context.Context, p Policy) error
	// Delete deletes the policy with that id.
	Delete(ctx context.Context, id string) error
	// RecordRun records a run of the policy that started at at:
	// LastRun becomes at, deleted is added to RecordsDeleted, and
	// LastError becomes runErr's text ("" when nil).
	RecordRun(ctx context.Context, id string, at time.Time, deleted int64, runErr error) error
}
