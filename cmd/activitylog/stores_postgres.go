package main

import (
	"context"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/postgres"
)

func init() {
	open := func(ctx context.Context, url string) (activitylog.Store, error) { return postgres.Open(ctx, url, nil) }
	openers["postgres"] = open
	openers["postgresql"] = open
	read := func(ctx context.Context, url string) (activitylog.Store, error) {
		return postgres.Open(ctx, url, &postgres.Options{ReadOnly: true})
	}
	readOpeners["postgres"] = read
	readOpeners["postgresql"] = read
}
