// Package slogaudit writes the audit trail into the logging pipeline,
// with no database: each event becomes one structured log record, for
// Vector, Fluent Bit or Loki to ship to ClickHouse or Elastic.
//
// # Levels
//
// Three levels sit between INFO and WARN: [LevelAudit] (1) for data
// changes, exports and custom events, [LevelAPI] (2) for calls, and
// [LevelLogin] (3) for authentication. They print as "AUDIT", "API" and
// "LOGIN" in this package's handlers; put [ReplaceAttr] into
// slog.HandlerOptions to print them so in slog's own handlers.
//
// # Handlers
//
// [JSONHandler] writes one JSON object per line, time in UTC with
// nanoseconds; it passes testing/slogtest. [ConsoleHandler] writes one
// human-readable line per record. [Files] writes audit.log, api.log,
// login.log and app.log in a directory, rotated by size and age with
// lumberjack. [Async] puts a bounded queue in front of any handler,
// with the Recorder's full-queue policies, counters and loss reports.
//
// # Events as records
//
// [Writer] is an activitylog.Writer: it hands each event to a handler
// as one record at the level [EventLevel] gives, with the event's
// fields as attributes ([EventAttrs]). Audit to logs only:
//
//	files, _ := slogaudit.NewFiles("/var/log/myapp", nil)
//	rec := activitylog.NewRecorder(slogaudit.NewWriter(files), nil)
//	defer files.Close()
//	defer rec.Shutdown(context.Background())
//
// or to a store and the logs at once, with
// activitylog.MultiWriter(store, slogaudit.NewWriter(files)).
//
// The Recorder redacts every event before a Writer sees it; the Writer
// redacts nothing itself. Records logged straight to these handlers,
// not through a Recorder, are not redacted.
package slogaudit
