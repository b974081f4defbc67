package config

import (
	"github.com/activitylog/activitylog/internal/urlsecret"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
)

// StoreSchemes are the schemes the store setting accepts.
var StoreSchemes = []string{"sqlite", "postgres", "postgresql", "mysql", "clickhouse", "mongodb", "mongodb+srv"}

// SealingStoreSchemes are the schemes of the stores that integrity
// sealing can write to.
var SealingStoreSchemes = []string{"sqlite", "postgres", "postgresql", "mysql"}

// StoreScheme returns the scheme of the store setting, "" when it is
// empty (events go to the SQLite database db).
func (c *Config) StoreScheme() string {
	if c.Store == "" {
		return ""
	}
	scheme, _, _ := strings.Cut(c.Store, ":")
	return strings.ToLower(scheme)
}

// storageSettings are the settings of where events go, after the
// general ones.
var storageSettings = []*Setting{
	{
		Key: "store", Arg: "URL", Commands: []string{serve, worker, verify, export, cleanup, purge},
		Usage: "Where events are stored, as a URL: sqlite://PATH, postgres://…, mysql://…, clickhouse://…, mongodb://… (docs/storage.md). " +
			"Empty: the SQLite database db. Users, API keys and database configurations always stay in db. " +
			"Its password is never printed: give it here or in the URL's query as the driver allows.",
		field: func(c *Config) any { return &c.Store },
		// worker too: where it writes what it pulls from NATS.
		check:  checkStore,
		redact: redactStoreURL,
	},
	{
		Key: "spool_dir", Arg: "DIR", Commands: []string{serve},
		Usage: "A local disk spool (docs/spool.md) that takes each batch the store, or NATS with nats_url, did not take within write_timeout: " +
			"fsynced before the write counts as done, replayed every 10s until the store takes it. Nothing that reached it is lost to a crash. " +
			"Empty: no spool; a failing store is retried, and what cannot be written is counted as failed.",
		field: func(c *Config) any { return &c.SpoolDir },
	},
	{
		Key: "spool_max_bytes", Arg: "BYTES", Commands: []string{serve},
		Usage: "Cap on the spool's size on disk; a batch that would pass it is refused (and retried, then counted as failed).",
		field: func(c *Config) any { return &c.SpoolMaxBytes },
		check: func(c *Config) string { return between(c.SpoolMaxBytes, 1<<20, 1<<40) },
	},
	{
		Key: "nats_url", Arg: "URL", Commands: []string{serve, worker},
		Usage: "NATS server with JetStream (docs/nats.md). serve: what it records and what POST /api/v1/events receives is published to the stream, " +
			"for activitylog worker to store (and seal and route, with the integrity_ settings and database_config_keys), and its live streams show what every worker stored. " +
			"worker: where it pulls from. Empty: serve writes to its store itself.",
		field:  func(c *Config) any { return &c.NATSURL },
		check:  checkNATS,
		redact: redactStoreURL,
	},
	{
		Key: "nats_stream", Arg: "NAME", Commands: []string{serve, worker},
		Usage: "The JetStream stream's name; every serve and worker of one trail names the same.",
		field: func(c *Config) any { return &c.NATSStream },
	},
	{
		Key: "nats_prefix", Arg: "PREFIX", Commands: []string{serve, worker},
		Usage: "Subject prefix: events are published to PREFIX.events.KIND, live streams on PREFIX.live.",
		field: func(c *Config) any { return &c.NATSPrefix },
	},
	{
		Key: "database_config_keys", Arg: "ID:BASE64,…", Commands: []string{serve, worker, databaseConfigs, cleanup, purge}, Secret: true,
		Usage: "Turns on database configurations (/api/v1/database-configs) and the per-tenant router (in serve, or with nats_url in each worker, " +
			"which reads the configurations from its db; cleanup and purge then delete in the tenants' databases too): the AES-256-GCM keys " +
			"that encrypt their passwords, as id:base64 of 32 bytes, comma-separated, the current key first; older keys still decrypt, " +
			"and database-configs rotate-keys re-encrypts with the current one (docs/database-configs.md). A secret: never printed.",
		field: func(c *Config) any { return &c.DatabaseConfigKeys },
		check: func(c *Config) string {
			if c.DatabaseConfigKeys == "" {
				return ""
			}
			if _, err := dbconfig.ParseKeys(c.DatabaseConfigKeys); err != nil {
				return strings.TrimSuffix(err.Error(), ": "+activitylog.ErrInvalid.Error()) // names the entry and its id, never a key
			}
			return ""
		},
	},
	{
		Key: "database_config_refresh", Arg: "DURATION", Commands: []string{serve, worker},
		Usage: "How often serve (or a worker) reads the database configurations again, beside the reload after each change through serve's own API " +
			"(changes made by another replica or the CLI). Negative: never.",
		field: func(c *Config) any { return &c.DatabaseConfigRefresh },
		check: func(c *Config) string {
			if c.DatabaseConfigRefresh > 24*time.Hour {
				return "must be at most 24h"
			}
			return ""
		},
	},
}

func checkStore(c *Config) string {
	if c.Store == "" {
		return ""
	}
	scheme := c.StoreScheme()
	if !strings.Contains(c.Store, "://") {
		return "must be a URL such as postgres://user@host:5432/db"
	}
	if oneOf(scheme, StoreSchemes...) != "" {
		return "has scheme " + scheme + "; must be one of " + strings.Join(StoreSchemes, ", ")
	}
	u, err := url.Parse(c.Store)
	if err != nil {
		return "is not a URL: " + urlsecret.ParseReason(err)
	}
	if scheme != "sqlite" && urlsecret.StrayAt(u) { // a file's name may hold an '@'
		return strayAtReason
	}
	if scheme == "sqlite" && sqliteStorePath(c.Store) == "" {
		return "names no database file: write sqlite://PATH, as sqlite://./events.db"
	}
	if p := u.Port(); p != "" {
		// url.Parse checks that a port is digits, not its range: a
		// driver would refuse it only when it connects, or dial it.
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "has port " + clipPort(p) + "; a port is between 1 and 65535"
		}
	}
	if c.Sealing() && oneOf(scheme, SealingStoreSchemes...) != "" {
		return "integrity sealing needs a store that seals (" + strings.Join(SealingStoreSchemes, ", ") + "); " +
			scheme + " does not yet: use one of those or turn integrity off (docs/storage.md)"
	}
	return ""
}

func checkNATS(c *Config) string {
	if c.NATSURL == "" {
		return ""
	}
	u, err := url.Parse(c.NATSURL)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
		return "must be a nats:// or tls:// URL such as nats://127.0.0.1:4222"
	}
	if urlsecret.StrayAt(u) {
		return strayAtReason
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "has port " + clipPort(p) + "; a port is between 1 and 65535"
		}
	}
	// Sealing and tenant routing go with it: serve then publishes, and
	// activitylog worker seals and routes what it stores (docs/nats.md).
	return ""
}

// clipPort shortens a port for a message: it has only digits.
func clipPort(p string) string {
	if len(p) > 12 {
		return p[:12] + "…"
	}
	return p
}

// sqliteStorePath is the file of a sqlite:// URL: what follows the
// scheme, as the opener reads it.
func sqliteStorePath(s string) string {
	_, p, _ := strings.Cut(s, "://")
	return p
}

// redactStoreURL hides a store URL's password and query (which may
// carry one, as ?password=).
func redactStoreURL(s string) string {
	u, err := url.Parse(s)
	// Not a URL with an authority: a DSN such as "host=h password=p",
	// or user:password@tcp(h)/db (which parses, as an opaque URL of
	// scheme "user"), may hold a password anywhere.
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		if strings.ContainsAny(s, "@=") {
			return "REDACTED"
		}
		return s
	}
	if urlsecret.StrayAt(u) {
		return "REDACTED"
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" {
		return s // nothing to hide: as given, not as url.URL rewrites it
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = "REDACTED", ""
	}
	if u.User != nil {
		if _, ok := u.User.Password(); !ok && (u.Scheme == "nats" || u.Scheme == "tls") {
			u.User = url.User("REDACTED") // nats://TOKEN@host: the user is the token
		}
	}
	return u.Redacted()
}

// RedactStore returns a store URL with its password and query hidden,
// for logs.
func RedactStore(s string) string { return redactStoreURL(s) }

// strayAtReason refuses a URL with an '@' outside its userinfo,
// without showing any part of it.
const strayAtReason = "has an '@' outside its user and password: a password's '/', '?', '#' and '@' must be %-escaped (as %2F, %3F, %23, %40)"
