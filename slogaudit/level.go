package slogaudit

import (
	"log/slog"
	"strings"
)

// The audit levels. They sit between slog.LevelInfo (0) and
// slog.LevelWarn (4), so a handler at the default level INFO keeps
// them and one at WARN drops them.
const (
	LevelAudit slog.Level = 1 // data changes, exports, custom events: "AUDIT"
	LevelAPI   slog.Level = 2 // incoming, cross-origin and outgoing calls: "API"
	LevelLogin slog.Level = 3 // logins, logouts, failed logins: "LOGIN"
)

// LevelName returns the name a level prints as: "AUDIT", "API" and
// "LOGIN" for the audit levels, and slog.Level.String's name ("INFO",
// "WARN+1", …) for every other level.
func LevelName(l slog.Level) string {
	switch l {
	case LevelAudit:
		return "AUDIT"
	case LevelAPI:
		return "API"
	case LevelLogin:
		return "LOGIN"
	}
	return l.String()
}

// ParseLevel is the inverse of LevelName: it accepts "AUDIT", "API",
// "LOGIN" and whatever slog.Level.UnmarshalText accepts ("info",
// "WARN-2", …), in any case.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(s) {
	case "AUDIT":
		return LevelAudit, nil
	case "API":
		return LevelAPI, nil
	case "LOGIN":
		return LevelLogin, nil
	}
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// ReplaceAttr prints the audit levels by name in slog's own handlers.
// Put it into slog.HandlerOptions:
//
//	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: slogaudit.ReplaceAttr})
//
// It changes only the top-level level attribute and returns every other
// attribute unchanged. To combine it with a ReplaceAttr of your own,
// call it first and pass its result on.
func ReplaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.LevelKey {
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String(slog.LevelKey, LevelName(l))
		}
	}
	return a
}
