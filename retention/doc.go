// Package retention deletes old events by policy: which events are kept
// for how many days, a Runner that deletes what is older, a dry run that
// counts it, and a Scheduler that runs the policies daily on one
// replica.
//
// It uses the root package and the standard library only: the policies
// are kept by a Repository (sqlite.Store's RetentionPolicies, over the
// control database), events are deleted by a PurgeFunc (a store's Purge,
// or activitylog serve's, which also prunes sealed chains under a signed
// pruning record) and counted by a Counter (any activitylog.Querier).
// Package retentionhttp is the API.
//
// # Policies
//
// A Policy covers the events of one Kind, or of every kind (AllKinds),
// of one tenant (Tenant; "" for the events without a tenant) or of every
// tenant (AllTenants), and keeps them RetainDays whole days: a run at
// any time of day D deletes the events recorded before 00:00 UTC of day
// D - RetainDays (Cut). At most one active policy has a given kind and
// tenants. Inactive policies are kept, and not run by Run.
//
// How policies combine, for an event of kind K and tenant T:
//
//  1. Among the policies of the same tenants (T's own, or those for
//     every tenant), a policy for K wins over one for all kinds: the
//     all-kinds policy leaves K to it.
//  2. A policy for every tenant applies to every tenant's events, and
//     T's own policies apply to T's events as well: an event is deleted
//     once any policy that covers it says so. A tenant's policy can
//     therefore shorten, never lengthen, what a policy for every tenant
//     keeps (activitylog.PurgeRequest cannot leave tenants out).
//  3. RunnerOptions.DefaultRetentionDays, when above 0, acts as a policy
//     for all kinds of every tenant, when there is no active one: it
//     covers the kinds no active policy for every tenant covers, and is
//     run last. 0 keeps those events forever.
//
// Rules gives what a run deletes: one Rule per active policy (and the
// default), with its kinds and its cut.
//
// # Runs
//
// For each rule a run records a system event of category retention
// (operation purge_started, with the policy's id and name, in the shape
// of POST /api/v1/events/purge's) before anything is deleted, and
// nothing is deleted if that event cannot be recorded; then archives
// (for a policy with Archive: through RunnerOptions.Archive, and a
// failed or missing archiver deletes nothing); then purges, in the
// store's bounded batches; then records purge or purge_failed with the
// counts, and the policy's LastRun, RecordsDeleted and LastError.
// Events of category retention, the records of runs and of policy
// changes, are never deleted.
//
// Plan, the dry run, counts what a run would delete, by rule and by
// kind, and deletes nothing.
//
// # Scheduling
//
// A Scheduler runs the Runner daily at a time of day in UTC ("03:00" by
// default), or at an interval. Before each run it takes a lock through
// a Locker, so that of several replicas only the one that gets it runs
// the policies, and skips a run that another replica did since it was
// due. LocalLocker is the lock of one process; a Locker over PostgreSQL
// advisory locks or a NATS key-value bucket serves several replicas.
package retention
