package main

import (
	"context"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/mysql"
)

func init() {
	openers["mysql"] = func(ctx context.Context, url string) (activitylog.Store, error) { return mysql.Open(ctx, url, nil) }
	readOpeners["mysql"] = func(ctx context.Context, url string) (activitylog.Store, error) {
		return mysql.Open(ctx, url, &mysql.Options{ReadOnly: true})
	}
}
