// Package dbconfighttp is the HTTP face of package dbconfig: the routes
// that list, make, change, delete and check database configuration
// records. It plugs into package server as package access does:
//
//	h, err := dbconfighttp.New(store.DatabaseConfigs(), keyring, &dbconfighttp.Options{
//		Audit:  rec,    // every change and test is recorded (required)
//		Router: router, // reloaded after each change
//		Check:  check,  // test-connection and health-check; default dbconfig.DialCheck
//	})
//	api := server.New(q, rec, &server.Options{Routes: append(accessRoutes, h.Routes()...)})
//
// # Routes
//
// Every route needs manage_database_config (a superuser holds it). A
// principal with a tenant sees and changes only its tenant's configs
// (others answer 404, and naming another tenant 403); a superuser, every
// config. SQLite configs, whose database is a path on the server's disk,
// are a superuser's only: for anyone else, making, changing or testing
// one answers 403 naming engine.
//
//	GET    /api/v1/database-configs                      the configs: {"count", "results"}
//	POST   /api/v1/database-configs                      make one: 201 and the config
//	GET    /api/v1/database-configs/{id}                 one config
//	PUT    /api/v1/database-configs/{id}                 change it: fields left out keep their value
//	DELETE /api/v1/database-configs/{id}                 delete it: 204
//	POST   /api/v1/database-configs/{id}/test-connection connect with it (a body may override fields, unsaved)
//	POST   /api/v1/database-configs/{id}/health-check    connect with it as stored, and the router's view
//
// # Passwords
//
// A password is write-only: it is sealed with the Keyring before it is
// stored, and no answer holds it (has_password says whether there is
// one); neither do the audit events, nor a failed check's error, from
// which every form of it is cut out.
//
// A stored password goes only to the server it was given for: a PUT or
// a test-connection that changes engine, host, port, user or database
// of a config that has one must give the password too (400 naming
// password), so that whoever may edit a config cannot have the server
// sign in with it elsewhere.
//
// # Check errors
//
// A failed check's error is shown in detail (redacted) to a superuser
// only; others are told "could not connect", and the detail is logged,
// as it would map the server's network for them.
//
// # Audit
//
// Every create, update, delete and test-connection is recorded through
// Options.Audit as a system event of category database_config (action
// security; a failed test: warning), with the config's fields (never
// its password) and, for an update, what changed. A health-check is a
// read, and is not recorded.
package dbconfighttp
