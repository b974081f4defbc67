package server

import (
	"net/http"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/retention"
)

// This file holds the part of openapiSpec that documents the routes of
// package retention/retentionhttp (docs/retention.md), which a host adds
// through Options.Routes. That package imports server, so these tests
// cannot build its Handler: openapi_retention_routes_test.go, an
// external test, holds the live handler to what is written here.

const (
	oaRetentionID = "rtp_5be0c1d29a7f4e36"

	oaRetentionExample = `{"id": "` + oaRetentionID + `", "name": "requests 30 days", "kind": "request", "retain_days": 30, "active": true, ` +
		`"tenant": "", "all_tenants": true, "archive": false, "last_run": "2026-11-24T03:00:00Z", "records_deleted": 120345, "last_error": "", ` +
		`"created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-01T09:00:00Z"}`

	oaRetentionRule = `"policy_id": "` + oaRetentionID + `", "name": "requests 30 days", "kinds": ["request"], "tenant": "", "all_tenants": true, ` +
		`"retain_days": 30, "before": "2026-10-25T00:00:00Z", "archive": false`

	oaRetentionReportExample = `{"started_at": "2026-11-24T21:40:00Z", "rules": [{` + oaRetentionRule + `, "deleted": 4210, "by_kind": {"request": 4210}, ` +
		`"kept_sealed": 0, "pruned": 0, "pruned_chains": 0, "archived": false, "purge_started_event": "01a20f3e-9b1c-7d2e-8f00-1234567890ab"}], "deleted": 4210}`

	oaRetentionPlanExample = `{"at": "2026-11-24T21:40:00Z", "rules": [{` + oaRetentionRule + `, "count": 4210, "by_kind": {"request": 4210}}], ` +
		`"count": 4210, "by_kind": {"request": 4210}}`
)

// oaRetentionNeed is what every route of retentionhttp.Handler.Routes
// needs.
const oaRetentionNeed = activitylog.ManageRetention

// oaRetentionScopeText is how the routes are scoped to the principal's
// tenant, as retentionhttp's visible and checkTenant decide.
const oaRetentionScopeText = "A principal without a tenant (as for POST /api/v1/events/purge) sees, changes and runs every policy. A principal with a tenant " +
	"only its own tenant's: another tenant's policy, or one for every tenant, answers 404, and a body naming another tenant, or every tenant, answers 403 " +
	"naming `tenant` or `all_tenants`."

func oaRetentionKinds() []any {
	return append([]any{retention.AllKinds}, oaNames(activitylog.Kinds)...)
}

// oaRetentionFields are the properties of a policy that its answers and
// the bodies that change it share.
func oaRetentionFields() jobj {
	return jobj{
		{"name", jobj{{"type", "string"}, {"minLength", 1}, {"maxLength", retention.MaxNameLen},
			{"description", "Unique, compared without regard to ASCII case; at most 128 bytes of printable text."}}},
		{"kind", jobj{{"enum", oaRetentionKinds()}, {"description", "The kind of event it deletes, or `all`: the kinds of its tenants that no active policy for one kind, of the same tenants, covers."}}},
		{"retain_days", jobj{{"type", "integer"}, {"minimum", 1}, {"maximum", retention.MaxRetainDays},
			{"description", "How many whole days events are kept: a run deletes those recorded before 00:00 UTC of today less this many days."}}},
		{"active", jobj{{"type", "boolean"}, {"description", "Only active policies are run by the scheduler; at most one active policy per kind, tenant and all_tenants."}}},
		{"tenant", jobj{{"type", "string"}, {"maxLength", activitylog.MaxShortField}, {"description", "The tenant whose events it deletes; \"\" the events without a tenant. Must be \"\" when all_tenants."}}},
		{"all_tenants", jobj{{"type", "boolean"}, {"description", "It deletes every tenant's events (and those without a tenant)."}}},
		{"archive", jobj{{"type", "boolean"}, {"description", "Archive the events before they are deleted. Without an archiver on the server, its runs fail and delete nothing."}}},
	}
}

func oaRetentionRuleFields() jobj {
	kinds := jobj{{"type", "array"}, {"items", jobj{{"enum", oaNames(activitylog.Kinds)}}},
		{"description", "The kinds it deletes: its policy's, less those another policy takes. Empty: every kind is another's, and it deletes nothing."}}
	return jobj{
		{"policy_id", jobj{{"type", "string"}, {"description", "The policy's id; \"\" for the server's default retention (default_retention_days)."}}},
		{"name", oaStr("The policy's name, or `default`.")},
		{"kinds", kinds},
		{"tenant", oaStr("The tenant; \"\" the events without a tenant, unless all_tenants.")},
		{"all_tenants", jobj{{"type", "boolean"}, {"description", "Every tenant's events."}}},
		{"retain_days", oaInt("Days kept.", 1, retention.MaxRetainDays)},
		{"before", jobj{{"type", "string"}, {"format", "date-time"}, {"description", "The cut: events recorded before it are deleted."}}},
		{"archive", jobj{{"type", "boolean"}, {"description", "Archived before they are deleted."}}},
	}
}

func oaRetentionByKind(desc string) jobj {
	return jobj{{"type", "object"}, {"description", desc}, {"propertyNames", jobj{{"enum", oaNames(activitylog.Kinds)}}},
		{"additionalProperties", jobj{{"type", "integer"}, {"minimum", 0}}}}
}

func oaRetentionSchemas() jobj {
	dateTime := func(desc string) jobj {
		return jobj{{"type", "string"}, {"format", "date-time"}, {"description", desc}}
	}
	runFields := jobj{
		{"last_run", jobj{{"anyOf", []any{jobj{{"type", "string"}, {"format", "date-time"}}, jobj{{"type", "null"}}}},
			{"description", "When its newest run started, UTC; null: never."}}},
		{"records_deleted", oaInt("Events deleted by all its runs.", 0, 0)},
		{"last_error", oaStr("Why its newest run failed; \"\" when it succeeded.")},
	}
	id := jobj{{"type", "string"}, {"pattern", "^[A-Za-z0-9_-]{1,64}$"}, {"description", "`rtp_` and 16 hex digits, made by the server; immutable."}}
	answer := oaJoin(jobj{{"id", id}}, oaRetentionFields(), runFields,
		jobj{{"created_at", dateTime("When it was made, UTC.")}, {"updated_at", dateTime("When it was last changed, UTC.")}})
	required := make([]any, len(answer))
	for i, f := range answer {
		required[i] = f.k
	}
	// readOnly adds the fields an answer has and a body may echo: on a
	// create they are ignored; on an update each must be the policy's
	// value as it is now, so that a GET's answer can be sent back.
	readOnly := func(p jobj, update bool) jobj {
		run, at := "Accepted, so that an answer can be sent back as it is, and ignored.", "Accepted and ignored."
		if update {
			run = "Read only: accepted only with the policy's value as it is now (a GET's answer sent back); another value is a 400 naming the field."
			at = "Read only: accepted only as the same instant as the policy's (any time zone); another is a 400 naming the field."
		}
		for _, f := range runFields {
			p = append(p, jkv{f.k, jobj{{"description", run}}})
		}
		return append(p, jkv{"created_at", dateTime(at)}, jkv{"updated_at", dateTime(at)})
	}
	rule := oaRetentionRuleFields()
	ruleNames := make([]any, len(rule))
	for i, f := range rule {
		ruleNames[i] = f.k
	}
	run := oaJoin(rule, jobj{
		{"deleted", oaInt("Events deleted.", 0, 0)},
		{"by_kind", oaRetentionByKind("Events deleted, by kind.")},
		{"kept_sealed", oaInt("Events it selected and kept because they are sealed and no pruning record could cut them.", 0, 0)},
		{"pruned", oaInt("Sealed events deleted under signed pruning records.", 0, 0)},
		{"pruned_chains", oaInt("Chains cut.", 0, 0)},
		{"archived", jobj{{"type", "boolean"}, {"description", "The events were archived before they were deleted."}}},
		{"purge_started_event", oaStr("The id of the event that recorded the start; absent when nothing was started.")},
		{"error", oaStr("Why the rule failed; absent when it succeeded.")},
	})
	planRule := oaJoin(rule, jobj{
		{"count", oaInt("Events the rule selects now: what a run would delete (less sealed events it cannot prune).", 0, 0)},
		{"by_kind", oaRetentionByKind("The same, by kind.")},
	})
	return jobj{
		{"RetentionPolicy", jobj{
			{"type", "object"},
			{"description", "A retention policy: which events are deleted after how many days, and what its runs did."},
			{"additionalProperties", false},
			{"required", required},
			{"properties", answer},
			{"examples", []any{oaParse(oaRetentionExample)}},
		}},
		{"RetentionPolicyList", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"count", "results"}},
			{"properties", jobj{
				{"count", oaInt("How many policies.", 0, 0)},
				{"results", jobj{{"type", "array"}, {"description", "Policies for every tenant first, then by tenant, kind and name."}, {"items", oaSchemaRef("RetentionPolicy")}}},
			}},
		}},
		{"RetentionPolicyCreate", jobj{
			{"type", "object"},
			{"description", "A new policy. Defaults: `kind` all, `active` true, `tenant` the principal's; `all_tenants` true for a principal without a tenant " +
				"that names no tenant. `id` is refused: the server makes it. An unknown field is refused, naming it."},
			{"additionalProperties", false},
			{"required", []any{"name", "retain_days"}},
			{"properties", readOnly(oaRetentionFields(), false)},
		}},
		{"RetentionPolicyUpdate", jobj{
			{"type", "object"},
			{"description", "Every field is optional: the fields given replace the stored ones, the others keep their values; naming a tenant without " +
				"all_tenants narrows a policy for every tenant to it. An unknown field is refused, naming it."},
			{"additionalProperties", false},
			{"properties", readOnly(oaJoin(jobj{{"id", jobj{{"type", "string"}, {"description", "If given, the policy's own id: another is refused."}}}}, oaRetentionFields()), true)},
		}},
		{"RetentionReport", jobj{
			{"type", "object"},
			{"description", "What a run did, rule by rule."},
			{"additionalProperties", false},
			{"required", []any{"started_at", "rules", "deleted"}},
			{"properties", jobj{
				{"started_at", dateTime("When the run started, UTC.")},
				{"rules", jobj{{"type", "array"}, {"items", jobj{{"type", "object"}, {"additionalProperties", false},
					{"required", append(append([]any{}, ruleNames...), "deleted", "by_kind", "kept_sealed", "pruned", "pruned_chains", "archived")},
					{"properties", run}}}}},
				{"deleted", oaInt("Events deleted by every rule, pruned ones included.", 0, 0)},
			}},
		}},
		{"RetentionPlan", jobj{
			{"type", "object"},
			{"description", "A dry run: what a run would delete now, rule by rule and by kind. Nothing was deleted."},
			{"additionalProperties", false},
			{"required", []any{"at", "rules", "count", "by_kind"}},
			{"properties", jobj{
				{"at", dateTime("When it was counted, UTC.")},
				{"rules", jobj{{"type", "array"}, {"items", jobj{{"type", "object"}, {"additionalProperties", false},
					{"required", append(append([]any{}, ruleNames...), "count", "by_kind")}, {"properties", planRule}}}}},
				{"count", oaInt("Events every rule would delete; an event two rules select is counted once, under the rule that runs first.", 0, 0)},
				{"by_kind", oaRetentionByKind("The same, by kind.")},
			}},
		}},
	}
}

// oaJoin joins objects.
func oaJoin(parts ...jobj) jobj {
	var out jobj
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// oaRetentionOps are the routes of retentionhttp.Handler.Routes.
func oaRetentionOps(bad jobj) []oaOp {
	csrf := oaParamRef("CSRFToken")
	idParam := jobj{{"name", "id"}, {"in", "path"}, {"required", true}, {"description", "The policy's id, `rtp_` and 16 hex digits."},
		{"schema", jobj{{"type", "string"}, {"minLength", 1}}}, {"example", oaRetentionID}}
	policy := func(desc string) jobj {
		return oaResp(desc, oaJSON(oaSchemaRef("RetentionPolicy"), oaParse(oaRetentionExample)))
	}
	notFound := oaErrResp("No policy has that id, or it is outside the principal's tenant: the two are not told apart.",
		`{"error": {"code": "not_found", "message": "no retention policy has that id"}}`)
	forbidden := oaErrResp("The principal lacks manage_retention, sent a session cookie without its CSRF token, "+
		"or named a tenant other than its own (`field` is then `tenant`, or `all_tenants`).",
		`{"error": {"code": "forbidden", "message": "forbidden tenant \"globex\": is not the tenant of ada", "field": "tenant", "value": "globex"}}`)
	invalid := func(example string) jobj {
		return oaErrResp("A refused input: `field` and `value` name the field and the value. An unknown field, a wrong type, "+
			"a body that is not one JSON object (`field` is `body`), a kind that is not one, retain_days out of 1 to 36500, or, on a change, "+
			"a read-only field (last_run, records_deleted, last_error, created_at, updated_at) sent with another value than the policy has now.", example)
	}
	conflict := oaErrResp("The name is taken (in any ASCII case; `field` is `name`), or another active policy has the same kind and tenants (`field` is `kind`).",
		`{"error": {"code": "conflict", "message": "conflicting kind \"request\": policy \"requests\" covers it for every tenant already; at most one active policy per kind and tenant", "field": "kind", "value": "request"}}`)
	unavailable := oaRespRef("Unavailable")
	changeBody := func(schema, example string) jobj {
		return jobj{{"required", true}, {"content", oaJSON(oaSchemaRef(schema), oaParse(example))}}
	}
	desc := func(s string) string { return s + "\n\n" + oaRetentionScopeText }
	tag := "retention"
	dryRun := oaQuery("dry_run", "true: count what the run would delete, per kind, and delete nothing (the answer is a RetentionPlan).",
		jobj{{"type", "boolean"}})
	dryRun = append(dryRun, jkv{"example", true})

	return []oaOp{
		{
			method: "GET", path: "/api/v1/retention-policies", id: "listRetentionPolicies", tag: tag,
			summary: "List retention policies",
			desc:    desc("Every retention policy the principal may see. It takes no parameter: any is a 400 naming it."),
			need:    oaRetentionNeed,
			responses: jobj{
				{"200", oaResp("The policies.", oaJSON(oaSchemaRef("RetentionPolicyList"), oaParse(`{"count": 1, "results": [`+oaRetentionExample+`]}`)))},
				{"400", bad},
				{"503", unavailable},
			},
		},
		{
			method: "POST", path: "/api/v1/retention-policies", id: "createRetentionPolicy", tag: tag,
			summary: "Create a retention policy",
			desc:    desc("Stores a new policy; the scheduler runs it at its next run. The creation is recorded as a system event of category retention, which purges never delete."),
			need:    oaRetentionNeed,
			params:  []any{csrf},
			body:    changeBody("RetentionPolicyCreate", `{"name": "requests 30 days", "kind": "request", "retain_days": 30}`),
			responses: jobj{
				{"201", policy("The policy, as stored.")},
				{"400", invalid(`{"error": {"code": "invalid", "message": "invalid retain_days \"0\": must be between 1 and 36500", "field": "retain_days", "value": "0"}}`)},
				{"403", forbidden},
				{"409", conflict},
				{"503", unavailable},
				{"415", oaRespRef("UnsupportedMediaType")},
			},
		},
		{
			method: "POST", path: "/api/v1/retention-policies/dry-run", id: "planRetention", tag: tag,
			summary: "Count what a retention run would delete",
			desc: desc("A dry run of every active policy and of the server's default retention: the events each would delete now, per kind. " +
				"Nothing is deleted, and nothing is recorded. A principal with a tenant sees its tenant's rules only. It takes no parameter and no body."),
			need:   oaRetentionNeed,
			params: []any{csrf},
			responses: jobj{
				{"200", oaResp("The counts.", oaJSON(oaSchemaRef("RetentionPlan"), oaParse(oaRetentionPlanExample)))},
				{"400", bad},
				{"503", unavailable},
			},
		},
		{
			method: "GET", path: "/api/v1/retention-policies/{id}", id: "getRetentionPolicy", tag: tag,
			summary: "Get a retention policy",
			desc:    desc("One policy, with what its runs did. It takes no query parameter: any is a 400 naming it."),
			need:    oaRetentionNeed,
			params:  []any{idParam},
			responses: jobj{
				{"200", policy("The policy.")},
				{"400", bad},
				{"404", notFound},
				{"503", unavailable},
			},
		},
		{
			method: "PUT", path: "/api/v1/retention-policies/{id}", id: "updateRetentionPolicy", tag: tag,
			summary: "Change a retention policy",
			desc: desc("The fields given replace the stored ones; those left out keep their values. A GET's answer can be sent back as it is. " +
				"The change is recorded as a system event of category retention, with the fields that changed."),
			need:   oaRetentionNeed,
			params: []any{idParam, csrf},
			body:   changeBody("RetentionPolicyUpdate", `{"retain_days": 60}`),
			responses: jobj{
				{"200", policy("The policy as it is now.")},
				{"400", invalid(`{"error": {"code": "invalid", "message": "invalid kind \"everything\": must be all or one of crud, auth, request, cors, external, system, export, custom", "field": "kind", "value": "everything"}}`)},
				{"403", forbidden},
				{"404", notFound},
				{"409", conflict},
				{"503", unavailable},
				{"415", oaRespRef("UnsupportedMediaType")},
			},
		},
		{
			method: "DELETE", path: "/api/v1/retention-policies/{id}", id: "deleteRetentionPolicy", tag: tag,
			summary: "Delete a retention policy",
			desc:    desc("Deletes the policy; the events it would have deleted are then kept, or fall to another policy or the default retention. The deletion is recorded."),
			need:    oaRetentionNeed,
			params:  []any{idParam, csrf},
			responses: jobj{
				{"204", oaResp("Deleted.", nil)},
				{"400", bad},
				{"404", notFound},
				{"503", unavailable},
			},
		},
		{
			method: "POST", path: "/api/v1/retention-policies/{id}/run-now", id: "runRetentionPolicy", tag: tag,
			summary: "Run a retention policy now",
			desc: desc("Runs the policy now, active or not: it deletes the events of its kinds (less those an active policy for one kind takes) recorded " +
				"before the cut, in bounded batches, and answers what it did. The run is recorded before anything is deleted (operation purge_started) " +
				"and after (purge or purge_failed), and sets the policy's last_run, records_deleted and last_error. A policy with archive, on a server " +
				"without an archiver, answers 409 `no_archiver` and deletes nothing. With `?dry_run=true` it only counts. It takes no body."),
			need:   oaRetentionNeed,
			params: []any{idParam, dryRun, csrf},
			responses: jobj{
				{"200", oaResp("The run's report; with dry_run, the counts.", jobj{{"application/json", jobj{
					{"schema", jobj{{"oneOf", []any{oaSchemaRef("RetentionReport"), oaSchemaRef("RetentionPlan")}}}},
					{"examples", jobj{
						{"run", jobj{{"summary", "A run"}, {"value", oaParse(oaRetentionReportExample)}}},
						{"dry_run", jobj{{"summary", "A dry run"}, {"value", oaParse(oaRetentionPlanExample)}}},
					}},
				}}})},
				{"400", bad},
				{"404", notFound},
				{"409", oaErrResp("The policy archives before it deletes, and the server has no archiver: nothing was deleted. `code` is `no_archiver`.",
					`{"error": {"code": "no_archiver", "message": "the policy archives before it deletes, and no archiver is configured: nothing was deleted"}}`)},
				{"503", unavailable},
			},
		},
	}
}

// oaRetentionTag declares the tag of the routes.
func oaRetentionTag() jobj {
	return jobj{{"name", "retention"}, {"description", "How long events are kept: retention policies, their runs and dry runs. See docs/retention.md."}}
}

// oaRetentionStandIns are the stand-ins, in openapiRouteOptions, of
// retentionhttp.Handler.Routes: the paths of the operations above, with
// their permission. openapi_retention_routes_test.go checks that the
// Handler registers exactly these.
func oaRetentionStandIns(stub http.HandlerFunc) []Route {
	var out []Route
	for _, op := range oaRetentionOps(nil) {
		out = append(out, Route{Pattern: op.method + " " + op.path, Need: op.need, Handler: stub})
	}
	return out
}
