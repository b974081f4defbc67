// Package retentionhttp is the HTTP face of package retention: the
// routes that list, make, change and delete retention policies, run
// them now, and count what a run would delete. It plugs into package
// server as package dbconfighttp does:
//
//	h, err := retentionhttp.New(store.RetentionPolicies(), runner, &retentionhttp.Options{
//		Audit: rec, // every change and run is recorded (required)
//	})
//	api := server.New(q, rec, &server.Options{Routes: append(routes, h.Routes()...)})
//
// # Routes
//
// Every route needs manage_retention (a superuser holds it). A principal
// with a tenant sees, changes and runs only its tenant's policies
// (others answer 404; naming another tenant, or every tenant, answers
// 403); a principal without a tenant, as for POST /api/v1/events/purge,
// every policy.
//
//	GET    /api/v1/retention-policies               the policies: {"count", "results"}
//	POST   /api/v1/retention-policies               make one: 201 and the policy
//	POST   /api/v1/retention-policies/dry-run       what a run of every policy would delete, deleting nothing
//	GET    /api/v1/retention-policies/{id}          one policy
//	PUT    /api/v1/retention-policies/{id}          change it: fields left out keep their value
//	DELETE /api/v1/retention-policies/{id}          delete it: 204
//	POST   /api/v1/retention-policies/{id}/run-now  run it now (?dry_run=true: count only)
//
// A name taken (in any ASCII case), or a second active policy for the
// same kind and tenants, answers 409 naming name or kind.
//
// # Audit
//
// Every create, update and delete is recorded through Options.Audit as a
// system event of category retention (action security) with the
// policy's fields and, for an update, what changed; every run as the
// Runner records it (operations purge_started, then purge or
// purge_failed). A dry run deletes nothing and is not recorded. Events
// of category retention are never purged.
package retentionhttp
