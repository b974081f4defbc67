package server

import (
	"net/http"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
)

// This file holds the part of openapiSpec that documents the routes of
// package dbconfig/dbconfighttp (docs/database-configs.md), which a host
// adds through Options.Routes. That package imports server, so these
// tests cannot build its Handler: openapi_dbconfig_routes_test.go, an
// external test, holds the live handler to what is written here.

const (
	oaDBConfigID = "dbc_3f9c0a17d2b4e581"

	oaDBConfigExample = `{"id": "` + oaDBConfigID + `", "name": "acme", "engine": "postgres", "host": "db1.internal", "port": 5432, ` +
		`"database": "audit_acme", "user": "audit", "has_password": true, "options": {"sslmode": "require"}, "route_for": "all", ` +
		`"tenant": "acme", "primary": true, "active": true, "read_only": false, ` +
		`"created_at": "2026-11-24T21:40:00Z", "updated_at": "2026-11-24T21:40:00Z"}`
)

// oaDBConfigNeed is what every route of dbconfighttp.Handler.Routes
// needs.
const oaDBConfigNeed = activitylog.ManageDatabaseConfig

// oaDBConfigScopeText is how the routes are scoped to the principal's
// tenant, as dbconfighttp's visible and checkTenant decide.
const oaDBConfigScopeText = "A superuser sees and changes every config. Any other principal sees and changes only its own tenant's configs " +
	"(those without a tenant when it has none): another tenant's config answers 404, and a body naming another tenant answers 403 naming `tenant`."

// oaDBConfigRouteFor is what route_for takes: all, or a kind.
func oaDBConfigRouteFor() []any {
	return append([]any{dbconfig.RouteAll}, oaNames(activitylog.Kinds)...)
}

// oaDBConfigFields are the properties of a config that its answers and
// the bodies that change it share; writeOnly adds the password.
func oaDBConfigFields(body bool) jobj {
	text := func(desc string, lo, hi int) jobj {
		o := jobj{{"type", "string"}}
		if lo > 0 {
			o = append(o, jkv{"minLength", lo})
		}
		return append(o, jkv{"maxLength", hi}, jkv{"description", desc})
	}
	options := jobj{
		{"type", "object"},
		{"description", "Driver parameters, put in the URL's query (`{\"sslmode\": \"require\"}`). They are not encrypted, so a name that contains " +
			"password, passwd, pwd, secret or token is refused (put the password in `password`). At most 64."},
		{"maxProperties", dbconfig.MaxOptions},
		{"propertyNames", jobj{{"pattern", "^[A-Za-z0-9_.-]{1,64}$"}}},
		{"additionalProperties", jobj{{"type", "string"}, {"maxLength", dbconfig.MaxFieldLen}}},
	}
	if body {
		options.set("description", options.get("description").(string)+" On PUT the object given replaces the stored one whole; leave it out to keep it.")
	}
	props := jobj{
		{"name", text("Unique, compared without regard to ASCII case; at most 128 bytes of printable text.", 1, dbconfig.MaxNameLen)},
		{"engine", jobj{{"enum", oaNames(dbconfig.Engines)}, {"description", "The kind of database."}}},
		{"host", text("A host name or IP address; empty for sqlite, required for the others.", 0, dbconfig.MaxHostLen)},
		{"port", jobj{{"type", "integer"}, {"minimum", 0}, {"maximum", 65535}, {"description", "0: the engine's default (5432, 3306, 9000, 27017); 0 for sqlite."}}},
		{"database", text("The database's name; for sqlite, the file's path.", 1, dbconfig.MaxFieldLen)},
		{"user", text("The user to sign in as; empty for none.", 0, dbconfig.MaxFieldLen)},
	}
	if body {
		props = append(props, jkv{"password", jobj{
			{"type", "string"}, {"maxLength", dbconfig.MaxPassword}, {"writeOnly", true},
			{"description", "Write-only: stored sealed (AES-256-GCM), never answered; answers carry has_password. At most 1024 bytes, without NUL."},
		}})
	} else {
		props = append(props, jkv{"has_password", jobj{{"type", "boolean"}, {"description", "Whether a password is stored; the password itself is never answered."}}})
	}
	return append(props,
		jkv{"options", options},
		jkv{"route_for", jobj{{"enum", oaDBConfigRouteFor()}, {"description", "The kind of event the config takes, or `all`: the events of its tenant that no config for their own kind takes."}}},
		jkv{"tenant", text("The tenant whose events it takes; \"\" the events without a tenant.", 0, dbconfig.MaxFieldLen)},
		jkv{"primary", jobj{{"type", "boolean"}, {"description", "The config the router writes to: at most one per tenant and route_for. A config that is not primary is kept and can be checked, but receives nothing."}}},
		jkv{"active", jobj{{"type", "boolean"}, {"description", "An inactive config is kept, not routed to."}}},
		jkv{"read_only", jobj{{"type", "boolean"}, {"description", "Never written to, so it cannot be primary."}}},
	)
}

func oaDBConfigSchemas() jobj {
	id := jobj{{"type", "string"}, {"pattern", "^[A-Za-z0-9_-]{1,64}$"}, {"description", "`dbc_` and 16 hex digits, made by the server; immutable."}}
	dateTime := func(desc string) jobj {
		return jobj{{"type", "string"}, {"format", "date-time"}, {"description", desc}}
	}
	ignored := func(p jobj) jobj {
		return append(p,
			jkv{"has_password", jobj{{"type", "boolean"}, {"description", "Accepted, so that an answer can be sent back as it is, and ignored."}}},
			jkv{"created_at", dateTime("Accepted and ignored.")},
			jkv{"updated_at", dateTime("Accepted and ignored.")},
		)
	}

	answer := append(jobj{{"id", id}}, oaDBConfigFields(false)...)
	answer = append(answer, jkv{"created_at", dateTime("When it was made, UTC.")}, jkv{"updated_at", dateTime("When it was last changed, UTC.")})
	required := make([]any, len(answer))
	for i, f := range answer {
		required[i] = f.k
	}

	create := ignored(oaDBConfigFields(true))
	update := ignored(append(jobj{{"id", jobj{{"type", "string"}, {"description", "If given, the config's own id: another is refused."}}}}, oaDBConfigFields(true)...))

	return jobj{
		{"DatabaseConfig", jobj{
			{"type", "object"},
			{"description", "A database configuration record: where a database is, how to sign in to it, and which events the router sends it. Never its password."},
			{"additionalProperties", false},
			{"required", required},
			{"properties", answer},
			{"examples", []any{oaParse(oaDBConfigExample)}},
		}},
		{"DatabaseConfigList", jobj{
			{"type", "object"},
			{"additionalProperties", false},
			{"required", []any{"count", "results"}},
			{"properties", jobj{
				{"count", oaInt("How many configs.", 0, 0)},
				{"results", jobj{{"type", "array"}, {"description", "By tenant, route_for and name."}, {"items", oaSchemaRef("DatabaseConfig")}}},
			}},
		}},
		{"DatabaseConfigCreate", jobj{
			{"type", "object"},
			{"description", "A new config. Defaults: `route_for` all, `tenant` the principal's, `active` true, `primary` true unless `read_only`. " +
				"`id` is refused: the server makes it. An unknown field is refused, naming it."},
			{"additionalProperties", false},
			{"required", []any{"name", "engine", "database"}},
			{"properties", create},
		}},
		{"DatabaseConfigUpdate", jobj{
			{"type", "object"},
			{"description", "Every field is optional: the fields given replace the stored ones, the others keep their values. " +
				"`password`: left out, the stored one is kept; a new one replaces it; `\"\"` removes it. An unknown field is refused, naming it."},
			{"additionalProperties", false},
			{"properties", update},
		}},
		{"RouteHealth", jobj{
			{"type", "object"},
			{"description", "The router's view of a config."},
			{"additionalProperties", false},
			{"required", []any{"routed", "open", "down", "written"}},
			{"properties", jobj{
				{"routed", jobj{{"type", "boolean"}, {"description", "Active and primary: the router writes to it."}}},
				{"open", jobj{{"type", "boolean"}, {"description", "Its store is open."}}},
				{"down", jobj{{"type", "boolean"}, {"description", "A write failed: its events fall back to the default store until a replay succeeds."}}},
				{"error", oaStr("Why its store could not be opened.")},
				{"written", oaInt("Events committed in it since the server started.", 0, 0)},
			}},
		}},
		{"ConnectionCheck", jobj{
			{"type", "object"},
			{"description", "The result of one connection check. A failure is a 200 with `ok` false: `error` says why, with every form of the password removed."},
			{"additionalProperties", false},
			{"required", []any{"ok", "latency_ms", "checked_at"}},
			{"properties", jobj{
				{"ok", jobj{{"type", "boolean"}, {"description", "The check succeeded."}}},
				{"latency_ms", jobj{{"type", "number"}, {"minimum", 0}, {"description", "How long the check took, in milliseconds (to the microsecond)."}}},
				{"error", jobj{{"type", "string"}, {"maxLength", 513}, {"description", "Why it failed (at most 512 bytes); absent when ok. Never the password."}}},
				{"checked_at", dateTime("When it was checked, UTC.")},
				{"route", oaSchemaRef("RouteHealth").set2("description", "health-check only, when the server routes events: the router's view of the config.")},
			}},
		}},
	}
}

// oaDBConfigOps are the routes of dbconfighttp.Handler.Routes.
func oaDBConfigOps(bad jobj) []oaOp {
	csrf := oaParamRef("CSRFToken")
	idParam := jobj{{"name", "id"}, {"in", "path"}, {"required", true}, {"description", "The config's id, `dbc_` and 16 hex digits."},
		{"schema", jobj{{"type", "string"}, {"minLength", 1}}}, {"example", oaDBConfigID}}
	config := func(desc string) jobj {
		return oaResp(desc, oaJSON(oaSchemaRef("DatabaseConfig"), oaParse(oaDBConfigExample)))
	}
	notFound := oaErrResp("No config has that id, or it belongs to another tenant than the principal's: the two are not told apart.",
		`{"error": {"code": "not_found", "message": "no database config has that id"}}`)
	forbidden := oaErrResp("The principal lacks manage_database_config, sent a session cookie without its CSRF token, "+
		"or named a tenant other than its own (`field` is then `tenant`).",
		`{"error": {"code": "forbidden", "message": "forbidden tenant \"globex\": is not the tenant of ada", "field": "tenant", "value": "globex"}}`)
	invalid := func(example string) jobj {
		return oaErrResp("A refused input: `field` and `value` name the field and the value (never a password's). An unknown field, "+
			"a wrong type, a body that is not one JSON object (`field` is `body`), a name taken (`name`), a second primary for the tenant and route_for (`primary`).",
			example)
	}
	undecryptable := oaErrResp("The stored password does not decrypt with the configured keys (sealed with a key no longer configured): set it again with PUT. `code` is `undecryptable`.",
		`{"error": {"code": "undecryptable", "message": "the stored password does not decrypt with the configured keys; set it again"}}`)
	unavailable := oaRespRef("Unavailable")
	checkOK := `{"ok": true, "latency_ms": 1.1, "checked_at": "2026-11-24T21:41:00Z"}`
	checkFailed := `{"ok": false, "latency_ms": 3.2, "error": "connect postgres://audit:[REDACTED]@db1.internal:5432/audit_acme?sslmode=require: password authentication failed", "checked_at": "2026-11-24T21:41:00Z"}`
	changeBody := func(schema, example string) jobj {
		return jobj{{"required", true}, {"content", oaJSON(oaSchemaRef(schema), oaParse(example))}}
	}
	desc := func(s string) string { return s + "\n\n" + oaDBConfigScopeText }
	tag := "database-configs"

	return []oaOp{
		{
			method: "GET", path: "/api/v1/database-configs", id: "listDatabaseConfigs", tag: tag,
			summary: "List database configs",
			desc:    desc("Every database configuration the principal may see, by tenant, route_for and name; never a password. It takes no parameter: any is a 400 naming it."),
			need:    oaDBConfigNeed,
			responses: jobj{
				{"200", oaResp("The configs.", oaJSON(oaSchemaRef("DatabaseConfigList"), oaParse(`{"count": 1, "results": [`+oaDBConfigExample+`]}`)))},
				{"400", bad},
				{"503", unavailable},
			},
		},
		{
			method: "POST", path: "/api/v1/database-configs", id: "createDatabaseConfig", tag: tag,
			summary: "Create a database config",
			desc: desc("Stores a new database configuration, its password sealed. The router is reloaded before the answer, so the tenant's next events go to the " +
				"new database when it is active and primary. The creation is recorded as a system event (category database_config), which never holds the password."),
			need:   oaDBConfigNeed,
			params: []any{csrf},
			body: changeBody("DatabaseConfigCreate", `{"name": "acme", "engine": "postgres", "host": "db1.internal", "port": 5432, "database": "audit_acme", `+
				`"user": "audit", "password": "correct horse battery staple", "options": {"sslmode": "require"}, "route_for": "all", "tenant": "acme"}`),
			responses: jobj{
				{"201", config("The config, as stored.")},
				{"400", invalid(`{"error": {"code": "invalid", "message": "invalid name \"acme\": is taken by another config", "field": "name", "value": "acme"}}`)},
				{"403", forbidden},
				{"503", unavailable},
				{"415", oaRespRef("UnsupportedMediaType")},
			},
		},
		{
			method: "GET", path: "/api/v1/database-configs/{id}", id: "getDatabaseConfig", tag: tag,
			summary: "Get a database config",
			desc:    desc("One database configuration; never its password. It takes no query parameter: any is a 400 naming it."),
			need:    oaDBConfigNeed,
			params:  []any{idParam},
			responses: jobj{
				{"200", config("The config.")},
				{"400", bad},
				{"404", notFound},
				{"503", unavailable},
			},
		},
		{
			method: "PUT", path: "/api/v1/database-configs/{id}", id: "updateDatabaseConfig", tag: tag,
			summary: "Change a database config",
			desc: desc("The fields given replace the stored ones; those left out keep their values, the password included (`\"password\": \"\"` removes it). " +
				"A GET's answer can be sent back as it is. The router is reloaded before the answer. The change is recorded as a system event " +
				"with the fields that changed, and `password_changed`, never the password."),
			need:   oaDBConfigNeed,
			params: []any{idParam, csrf},
			body:   changeBody("DatabaseConfigUpdate", `{"host": "db2.internal", "password": "a new password"}`),
			responses: jobj{
				{"200", config("The config as it is now.")},
				{"400", invalid(`{"error": {"code": "invalid", "message": "invalid port \"70000\": must be between 1 and 65535, or 0 for the engine's default", "field": "port", "value": "70000"}}`)},
				{"403", forbidden},
				{"404", notFound},
				{"503", unavailable},
				{"415", oaRespRef("UnsupportedMediaType")},
			},
		},
		{
			method: "DELETE", path: "/api/v1/database-configs/{id}", id: "deleteDatabaseConfig", tag: tag,
			summary: "Delete a database config",
			desc: desc("Deletes the configuration; the router stops writing to it before the answer. Events still waiting for replay to it stay in the " +
				"default store and are no longer replayed. The deletion is recorded as a system event."),
			need:   oaDBConfigNeed,
			params: []any{idParam, csrf},
			responses: jobj{
				{"204", oaResp("Deleted.", nil)},
				{"400", bad},
				{"404", notFound},
				{"503", unavailable},
			},
		},
		{
			method: "POST", path: "/api/v1/database-configs/{id}/test-connection", id: "testDatabaseConfigConnection", tag: tag,
			summary: "Test a database config's connection",
			desc: desc("Connects with the stored config, within the server's check timeout (5 s by default). A body is optional: its fields override the stored " +
				"ones for this test only, and are not saved (to try a new password or host before saving it). A failed connection is a 200 with `ok` false. " +
				"The test is recorded as a system event (action warning when it failed), which never holds the password."),
			need:   oaDBConfigNeed,
			params: []any{idParam, csrf},
			body:   jobj{{"required", false}, {"content", oaJSON(oaSchemaRef("DatabaseConfigUpdate"), oaParse(`{"password": "candidate"}`))}},
			responses: jobj{
				{"200", oaResp("The result, ok or not.", jobj{{"application/json", jobj{
					{"schema", oaSchemaRef("ConnectionCheck")},
					{"examples", jobj{
						{"ok", jobj{{"summary", "Connected"}, {"value", oaParse(checkOK)}}},
						{"failed", jobj{{"summary", "Refused"}, {"value", oaParse(checkFailed)}}},
					}},
				}}})},
				{"400", invalid(`{"error": {"code": "invalid", "message": "invalid colour \"\": is not a field of a database config; known are ` +
					`name, engine, host, port, database, user, password, options, route_for, tenant, primary, active, read_only", "field": "colour", "value": ""}}`)},
				{"403", forbidden},
				{"404", notFound},
				{"409", undecryptable},
				{"503", unavailable},
				{"415", oaRespRef("UnsupportedMediaType")},
			},
		},
		{
			method: "POST", path: "/api/v1/database-configs/{id}/health-check", id: "checkDatabaseConfigHealth", tag: tag,
			summary: "Check a database config's health",
			desc: desc("Checks the config as it is stored, like test-connection without a body, and adds the router's view of it (`route`) when the server routes events. " +
				"The body must be empty (or `{}`): a field of a database config in it is a 400 naming `body`, while a name that is not a field of a database config, or a value of the wrong JSON type, is a 400 naming that field, as for create. A stored password that no configured key opens is not a 409 here: " +
				"the answer has `ok` false and an error naming the missing key id. A health check is a read, and is not recorded."),
			need:   oaDBConfigNeed,
			params: []any{idParam, csrf},
			responses: jobj{
				{"200", oaResp("The result, ok or not.", oaJSON(oaSchemaRef("ConnectionCheck"), oaParse(
					`{"ok": true, "latency_ms": 1.1, "checked_at": "2026-11-24T21:41:00Z", "route": {"routed": true, "open": true, "down": false, "written": 120345}}`)))},
				{"400", bad},
				{"404", notFound},
				{"503", unavailable},
			},
		},
	}
}

// oaDBConfigTag declares the tag of the routes.
func oaDBConfigTag() jobj {
	return jobj{{"name", "database-configs"}, {"description", "Where each tenant's events are stored: the database configurations, their connection and health checks. " +
		"See docs/database-configs.md."}}
}

// oaDBConfigStandIns are the stand-ins, in openapiRouteOptions, of
// dbconfighttp.Handler.Routes: the paths of the operations above, with
// their permission. openapi_dbconfig_routes_test.go checks that the
// Handler registers exactly these.
func oaDBConfigStandIns(stub http.HandlerFunc) []Route {
	var out []Route
	for _, op := range oaDBConfigOps(nil) {
		out = append(out, Route{Pattern: op.method + " " + op.path, Need: op.need, Handler: stub})
	}
	return out
}
