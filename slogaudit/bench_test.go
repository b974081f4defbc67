package slogaudit_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/activitylog/activitylog/slogaudit"
)

// benchRecord is a typical audit-sized record: a handful of strings, a
// number, a duration and a group, on a handler with one WithAttrs.
func benchRecord() slog.Record {
	r := slog.NewRecord(time.Date(2026, 11, 24, 8, 0, 0, 123456789, time.UTC), slogaudit.LevelAudit, "invoice sent", 0)
	r.AddAttrs(
		slog.String("id", "019ab50c-2f5b-7000-8000-000000000001"),
		slog.String("kind", "crud"),
		slog.String("action", "update"),
		slog.Group("actor", slog.String("id", "42"), slog.String("name", "ann")),
		slog.Group("object", slog.String("type", "invoice"), slog.String("id", "INV-7")),
		slog.Int("status", 200),
		slog.Duration("duration", 12*time.Millisecond),
	)
	return r
}

// BenchmarkHandler compares JSONHandler with slog's own, measured first
// in the same run as the baseline.
func BenchmarkHandler(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    slog.Handler
	}{
		{"slog.JSONHandler", slog.NewJSONHandler(io.Discard, nil)},
		{"slogaudit.JSONHandler", slogaudit.NewJSONHandler(io.Discard, nil)},
		{"slogaudit.ConsoleHandler", slogaudit.NewConsoleHandler(io.Discard, nil)},
	} {
		h := bc.h.WithAttrs([]slog.Attr{slog.String("service", "billing")})
		r := benchRecord()
		ctx := context.Background()
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Handle(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := h.Handle(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkWriter is one event through Writer into a JSON handler:
// building the attributes plus encoding.
func BenchmarkWriter(b *testing.B) {
	events := sampleEvents()[:1]
	for _, bc := range []struct {
		name string
		h    slog.Handler
	}{
		{"slog.JSONHandler", slog.NewJSONHandler(io.Discard, nil)},
		{"slogaudit.JSONHandler", slogaudit.NewJSONHandler(io.Discard, nil)},
	} {
		w := slogaudit.NewWriter(bc.h)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Write(context.Background(), events); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
