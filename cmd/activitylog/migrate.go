package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/sqlite"
)

// migrate applies the migrations the database lacks and prints the
// schema version.
func migrate(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) (err error) {
	store, err := sqlite.Open(cfg.DB, &sqlite.Options{SkipMigrate: true, CheckpointInterval: -1})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	applied, err := store.Migrate(ctx)
	if err != nil {
		return err
	}
	v, err := store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	noun := "migrations"
	if applied == 1 {
		noun = "migration"
	}
	_, err = fmt.Fprintf(stdout, "%s: schema version %d (applied %d %s)\n", cfg.DB, v, applied, noun)
	return err
}
