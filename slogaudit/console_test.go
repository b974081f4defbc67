package slogaudit_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/activitylog/activitylog/slogaudit"
)

func TestConsoleGolden(t *testing.T) {
	var buf bytes.Buffer
	h := slogaudit.NewConsoleHandler(&buf, nil)
	if err := slogaudit.NewWriter(h).Write(context.Background(), sampleEvents()); err != nil {
		t.Fatal(err)
	}
	l := slog.New(fixedTime{h})
	l.Info("ready", "entries", 120, "path", "/var/cache x", slog.Group("db", "host", "h1", "ok", true))
	l.With("svc", "api").WithGroup("g").Warn("", "k", "")
	golden(t, "console.txt", buf.String())
}
