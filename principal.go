package activitylog

import (
	"context"
	"slices"
	"strconv"
)

// A Permission is what a principal may do with the audit trail. The API
// checks them on every route; see docs/api.md for which route needs
// which.
type Permission string

// The permissions. Reading comes in two widths, and nothing that reads
// can change or delete anything.
const (
	// ViewLogs reads the principal's own events only: those whose
	// actor id is the principal's id, in its tenant.
	ViewLogs Permission = "view_logs"
	// ViewAllLogs reads every event of the principal's tenant.
	ViewAllLogs Permission = "view_all_logs"
	// ResolveEvents marks events of the principal's tenant resolved.
	ResolveEvents Permission = "resolve_events"
	// Ingest posts events (POST /api/v1/events) into the principal's
	// tenant; it is the scope an ingest API key carries.
	Ingest Permission = "ingest"
	// ManageRetention changes and runs retention policies.
	ManageRetention Permission = "manage_retention"
	// ManageDatabaseConfig changes the store's configuration.
	ManageDatabaseConfig Permission = "manage_database_config"
	// ViewMetrics reads GET /metrics, the pipeline's counters for
	// Prometheus (volumes by kind, never an event's content): the scope
	// of a scraper's API key, which can read nothing else.
	ViewMetrics Permission = "view_metrics"
	// Superuser may do everything, across tenants.
	Superuser Permission = "superuser"
)

// Permissions lists every permission, for validation and help text.
var Permissions = []Permission{ViewLogs, ViewAllLogs, ResolveEvents, Ingest, ManageRetention, ManageDatabaseConfig, ViewMetrics, Superuser}

// Valid reports whether p is one of Permissions.
func (p Permission) Valid() bool { return slices.Contains(Permissions, p) }

// ParsePermission returns the permission named s, or a *FieldError
// naming field when there is none.
func ParsePermission(field, s string) (Permission, error) {
	p := Permission(s)
	if !p.Valid() {
		return "", invalid(field, s, "is not a permission; known are "+join(permissionNames()))
	}
	return p, nil
}

func permissionNames() []string {
	out := make([]string, len(Permissions))
	for i, p := range Permissions {
		out[i] = string(p)
	}
	return out
}

// A Principal is who is reading or feeding the audit trail through the
// API: a signed-in user, an API key, the subject of a JWT, or whatever
// the host application's own authentication says.
type Principal struct {
	ID          string       `json:"id"`
	Name        string       `json:"name,omitempty"`
	Tenant      string       `json:"tenant,omitempty"` // the tenant whose events it may see; "" for events without one
	Permissions []Permission `json:"permissions"`
	Method      string       `json:"method,omitempty"` // how it signed in: session, api_key, jwt, host
}

// Has reports whether p holds perm. A superuser holds every permission;
// ViewAllLogs implies ViewLogs. A nil Principal holds none.
func (p *Principal) Has(perm Permission) bool {
	if p == nil {
		return false
	}
	for _, q := range p.Permissions {
		if q == perm || q == Superuser || (q == ViewAllLogs && perm == ViewLogs) {
			return true
		}
	}
	return false
}

// ForbiddenError says which field of a request asked for what the
// principal may not have. It wraps ErrForbidden.
type ForbiddenError struct {
	Field  string // the parameter, e.g. "tenant" or "user_id"
	Value  string // the value asked for
	Reason string
}

func (e *ForbiddenError) Error() string {
	return "forbidden " + e.Field + " " + strconv.Quote(e.Value) + ": " + e.Reason
}

// Unwrap returns ErrForbidden.
func (e *ForbiddenError) Unwrap() error { return ErrForbidden }

// Scope narrows f to what p may read, or refuses it.
//
//   - A superuser reads everything; f is returned unchanged.
//   - Otherwise f is held to p's tenant: a filter naming another
//     tenant is refused, and a principal without a tenant reads only
//     events without one (Filter.NoTenant).
//   - With ViewLogs but not ViewAllLogs, f is also held to p's own
//     events (actor id = p.ID): a filter naming another user is
//     refused.
//   - Without either, everything is refused.
//
// A refusal is a *ForbiddenError, naming the query
// parameter (tenant, user_id) and the value.
func (p *Principal) Scope(f Filter) (Filter, error) {
	switch {
	case p.Has(Superuser):
		return f, nil
	case !p.Has(ViewLogs):
		return f, &ForbiddenError{Field: "principal", Value: p.id(), Reason: "may not read events (needs view_logs or view_all_logs)"}
	}
	if f.Tenant != "" && f.Tenant != p.Tenant {
		return f, &ForbiddenError{Field: "tenant", Value: f.Tenant, Reason: "is not the tenant of " + p.id()}
	}
	if p.Tenant == "" {
		if f.NoTenant || f.Tenant == "" {
			f.NoTenant = true
		}
	} else {
		f.Tenant = p.Tenant
	}
	if !p.Has(ViewAllLogs) {
		if f.ActorID != "" && f.ActorID != p.ID {
			return f, &ForbiddenError{Field: "user_id", Value: f.ActorID, Reason: "is not " + p.id() + ", which may read only its own events"}
		}
		f.ActorID = p.ID
		if p.ID == "" {
			// No id, no own events: match nothing rather than every
			// event without an actor.
			f.ActorID = "\x00"
		}
	}
	return f, nil
}

// CanSee reports whether p may read e: the single-event counterpart of
// Scope, for Get, the streams and anything else that holds one event.
func (p *Principal) CanSee(e *Event) bool {
	switch {
	case p.Has(Superuser):
		return true
	case !p.Has(ViewLogs), e.Tenant != p.Tenant:
		return false
	case !p.Has(ViewAllLogs):
		return p.ID != "" && e.Actor.ID == p.ID
	}
	return true
}

func (p *Principal) id() string {
	if p == nil {
		return "nobody"
	}
	if p.Name != "" {
		return p.Name
	}
	return p.ID
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p, as the API's authentication
// does for the handlers behind it.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
