package main

import (
	"context"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/clickhouse"
)

func init() {
	openers["clickhouse"] = func(ctx context.Context, url string) (activitylog.Store, error) {
		return clickhouse.Open(ctx, url, nil)
	}
	readOpeners["clickhouse"] = func(ctx context.Context, url string) (activitylog.Store, error) {
		return clickhouse.Open(ctx, url, &clickhouse.Options{ReadOnly: true})
	}
}
