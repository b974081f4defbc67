package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sqlite"
)

// openers open an event store from the store setting's URL, by scheme.
// Each backend registers itself in a stores_*.go file of its own.
var openers = map[string]func(ctx context.Context, url string) (activitylog.Store, error){
	"sqlite": func(_ context.Context, url string) (activitylog.Store, error) {
		return sqlite.Open(sqlitePath(url), nil)
	},
}

// readOpeners open a server's event store for reading only (verify and
// export), by scheme, where the store has such
// a mode: a role with no right but SELECT can then read the trail.
var readOpeners = map[string]func(ctx context.Context, url string) (activitylog.Store, error){}

// sqlitePath is the file of a sqlite:// URL: what follows the scheme,
// so that sqlite://./audit.db is ./audit.db and sqlite:///var/a.db is
// /var/a.db.
func sqlitePath(url string) string {
	_, p, _ := strings.Cut(url, "://")
	return p
}

// openStore opens the event store that url names. Its error never shows
// the URL's password.
func openStore(ctx context.Context, url string) (activitylog.Store, error) {
	scheme, _, _ := strings.Cut(url, ":")
	open, ok := openers[strings.ToLower(scheme)]
	if !ok {
		return nil, activitylog.Invalid("store", scheme+"://…", "has no store compiled into this binary")
	}
	s, err := open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", scheme, err)
	}
	return s, nil
}
