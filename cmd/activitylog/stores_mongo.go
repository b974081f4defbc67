package main

import (
	"context"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/mongo"
)

func init() {
	open := func(ctx context.Context, url string) (activitylog.Store, error) { return mongo.Open(ctx, url, nil) }
	openers["mongodb"] = open
	openers["mongodb+srv"] = open
	read := func(ctx context.Context, url string) (activitylog.Store, error) {
		return mongo.Open(ctx, url, &mongo.Options{ReadOnly: true})
	}
	readOpeners["mongodb"] = read
	readOpeners["mongodb+srv"] = read
}
