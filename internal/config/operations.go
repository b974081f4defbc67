package config

import (
	"os"
	"path/filepath"

	"github.com/activitylog/activitylog/retention"
)

// operationSettings are the settings of retention, archives and the
// log, after the integrity ones.
var operationSettings = []*Setting{
	{
		Key: "default_retention_days", Arg: "DAYS", Commands: []string{serve, cleanup},
		Usage: "Events of the kinds and tenants no retention policy covers are deleted once this many days old, by the daily retention run " +
			"(docs/retention.md). 0: kept forever. Retention policies (/api/v1/retention-policies) set it per kind and tenant.",
		field: func(c *Config) any { return &c.DefaultRetentionDays },
		check: func(c *Config) string { return between(c.DefaultRetentionDays, 0, retention.MaxRetainDays) },
	},
	{
		Key: "retention_time", Arg: "HH:MM", Commands: []string{serve},
		Usage: "Time of day (UTC) of the daily retention run. With several replicas it runs on one, under a lock (PostgreSQL advisory lock, else NATS KV lease, else MySQL GET_LOCK).",
		field: func(c *Config) any { return &c.RetentionTime },
		check: func(c *Config) string {
			if _, err := retention.ParseTimeOfDay(c.RetentionTime); err != nil {
				return "must be a time of day as HH:MM, 00:00 to 23:59 (UTC)"
			}
			return ""
		},
	},
	{
		Key: "retention_interval", Arg: "DURATION", Commands: []string{serve},
		Usage: "Run retention this often instead of daily at retention_time (at least 1s; for tests and small deployments). 0: daily.",
		field: func(c *Config) any { return &c.RetentionInterval },
		check: func(c *Config) string {
			if c.RetentionInterval != 0 && c.RetentionInterval < MinRetentionInterval {
				return "must be 0 (daily) or at least 1s"
			}
			return ""
		},
	},
	{
		Key: "retention_scheduler", Commands: []string{serve},
		Usage: "This replica runs the retention scheduler (one replica runs each run, under a lock, whichever have it on). false: only the API's run-now.",
		field: func(c *Config) any { return &c.RetentionScheduler },
	},
	{
		Key: "archive_dir", Arg: "DIR", Commands: []string{serve},
		Usage: "Directory of the archive files written before a retention policy with archive on deletes (docs/archive.md): one checksummed gzip NDJSON file per kind and day. " +
			"Empty: policies that archive fail their runs and delete nothing.",
		field: func(c *Config) any { return &c.ArchiveDir },
		check: func(c *Config) string { return checkDir(c.ArchiveDir) },
	},
	{
		Key: "log_file", Arg: "PATH", Commands: []string{serve, worker},
		Usage: "Write the log to this file, appended, instead of stderr; SIGHUP reopens it (after logrotate moved it). Empty: stderr.",
		field: func(c *Config) any { return &c.LogFile },
		check: func(c *Config) string {
			if c.LogFile == "" {
				return ""
			}
			return checkDir(filepath.Dir(c.LogFile))
		},
	},
}

// MinRetentionInterval is the shortest retention_interval.
const MinRetentionInterval = 1e9 // 1s

// checkDir wants dir to be empty or an existing directory.
func checkDir(dir string) string {
	if dir == "" {
		return ""
	}
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return "must be an existing directory: " + reasonOf(err)
	case !fi.IsDir():
		return "must be a directory, not a file"
	}
	return ""
}
