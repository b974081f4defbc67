// Package dbconfig keeps the configurations of the databases that
// events are stored in, seals their passwords, and routes each
// tenant's events to its own database.
//
// It uses the root package and the standard library only: the stores
// are opened by an Opener that the program supplies (cmd/activitylog
// registers one per engine), and the records are kept by a Repository
// (sqlite.Store's DatabaseConfigs, over the control database).
//
// # Configs
//
// A Config names a database (engine, host, port, database, user,
// options) and says which events it takes: those of its Tenant ("" for
// events without one) and its RouteFor, a kind or "all". Only an
// active, primary config is written to; there is at most one primary
// per (tenant, route_for). An event goes to
//
//  1. the primary of its tenant and its kind, else
//  2. the primary of its tenant for all kinds, else
//  3. the default store.
//
// Config.URL gives the engine's URL (postgres://user:pass@host:5432/db?…).
//
// # Passwords
//
// A Keyring seals passwords with AES-256-GCM under keys from the
// configuration, "id:base64key,id2:base64key2", the current one first.
// A sealed password, "v1:<key id>:<base64(nonce|ciphertext|tag)>", names
// its key and is bound to its config's id (the additional data), so that
// it cannot be moved onto another config. Repositories store only the
// sealed form; the API never returns a password, only has_password.
// To rotate, put a new key first, run Keyring.Rotate (the CLI's
// database-configs rotate-keys), then remove the old key.
//
// # Routing
//
// Router is an activitylog.Store over a default store: it caches the
// routing table, reloads it when configs change (Reload, and every
// RouterOptions.Refresh), and opens and closes stores without a restart.
// When a tenant's store fails, its events are written to the default
// store and recorded in Pending (durable: sqlite.Store's PendingEvents),
// and Replay writes them to the tenant's store once it answers again,
// removing each batch only after that store committed it.
package dbconfig
