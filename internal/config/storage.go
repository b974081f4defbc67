package config

import (
	"net/url"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
)

// StoreSchemes are the schemes the store setting accepts.
var StoreSchemes = []string{"sqlite", "postgres", "postgresql", "mysql", "clickhouse", "mongodb", "mongodb+srv"}

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
		Key: "store", Arg: "URL", Commands: []string{serve},
		Usage: "Where events are stored, as a URL: sqlite://PATH, postgres://…, mysql://…, clickhouse://…, mongodb://… (docs/storage.md). " +
			"Empty: the SQLite database db. Users, API keys and database configurations always stay in db. " +
			"Its password is never printed: give it here or in the URL's query as the driver allows.",
		field:  func(c *Config) any { return &c.Store },
		check:  checkStore,
		redact: redactStoreURL,
	},
	{
		Key: "database_config_keys", Arg: "ID:BASE64,…", Commands: []string{serve, databaseConfigs}, Secret: true,
		Usage: "Turns on database configurations (/api/v1/database-configs) and the per-tenant router: the AES-256-GCM keys " +
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
		Key: "database_config_refresh", Arg: "DURATION", Commands: []string{serve},
		Usage: "How often serve reads the database configurations again, beside the reload after each change through its own API " +
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
	if _, err := url.Parse(c.Store); err != nil {
		return "is not a URL: " + strings.TrimPrefix(err.Error(), "parse "+c.Store+": ")
	}
	if scheme != "sqlite" && c.Sealing() {
		return "integrity sealing needs the SQLite store for now: leave store empty or turn integrity off (docs/storage.md)"
	}
	return ""
}

// redactStoreURL hides a store URL's password and query (which may
// carry one, as ?password=).
func redactStoreURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		if strings.Contains(s, "@") {
			return "REDACTED"
		}
		return s
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	return u.Redacted()
}

// RedactStore returns a store URL with its password and query hidden,
// for logs.
func RedactStore(s string) string { return redactStoreURL(s) }
