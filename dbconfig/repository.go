package dbconfig

import (
	"context"
	"time"

	"github.com/activitylog/activitylog"
)

// Repository keeps configs. sqlite.Store's DatabaseConfigs method
// returns one, over the control database.
//
// Every method may be called from several goroutines at once. A config
// that does not exist is an error wrapping activitylog.ErrNotFound; a
// config refused an *activitylog.FieldError naming the field: "name"
// when another config has the name (in any ASCII case), "primary" when
// another config is the primary of the same tenant and route_for, "id"
// when the id is taken, "password" when Password is set (a Repository
// stores Secret only: seal it with Keyring.Conceal first). A store that
// cannot be reached is activitylog.ErrUnavailable. Times are returned
// in UTC.
type Repository interface {
	// List returns every config, ordered by tenant, route_for, name.
	List(ctx context.Context) ([]Config, error)
	// Get returns the config with that id.
	Get(ctx context.Context, id string) (Config, error)
	// Create stores c, which has its ID, CreatedAt and UpdatedAt set.
	Create(ctx context.Context, c Config) error
	// Update replaces the config with c's ID by c; CreatedAt is kept.
	Update(ctx context.Context, c Config) error
	// Delete deletes the config with that id.
	Delete(ctx context.Context, id string) error
	// SetSecret replaces the Secret of the config with that id by next
	// if it is still old (Keyring.Rotate), and is otherwise an error
	// wrapping activitylog.ErrNotFound.
	SetSecret(ctx context.Context, id, old, next string) error
}

// A PendingBatch is one batch of events that the Router wrote to the
// default store because their own store failed, kept until they are
// replayed there.
type PendingBatch struct {
	Seq      int64  // its place in the queue, oldest first
	ConfigID string // the config whose store the events belong in
	Events   []activitylog.Event
	Created  time.Time
}

// Pending keeps the batches that wait to be replayed, durably: what
// Add stored survives a restart, so that nothing the Router wrote to
// the default store in place of a tenant's is left there unreplayed.
// sqlite.Store's PendingEvents method returns one.
//
// Every method may be called from several goroutines at once.
type Pending interface {
	// Add stores events for configID's store, all or none, as one
	// batch.
	Add(ctx context.Context, configID string, events []activitylog.Event) error
	// Take returns up to limit of configID's batches, oldest first,
	// without removing them.
	Take(ctx context.Context, configID string, limit int) ([]PendingBatch, error)
	// Done removes the batch seq, once its events are committed in
	// their store. A batch gone already is not an error.
	Done(ctx context.Context, seq int64) error
	// Counts returns the number of pending events by config id, for
	// the configs that have any.
	Counts(ctx context.Context) (map[string]int64, error)
}
