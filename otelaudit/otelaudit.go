// Package otelaudit connects OpenTelemetry tracing to activitylog: with
// it, every recorded event carries the trace and span ids of the span
// in its context, so an audit record leads to its trace.
//
//	rec := activitylog.NewRecorder(store, &activitylog.Options{
//		Trace: otelaudit.Trace,
//	})
//
// It depends only on go.opentelemetry.io/otel/trace, the API, not on
// any SDK.
package otelaudit

import (
	"context"

	"go.opentelemetry.io/otel/trace"
)

// Trace returns the hex trace and span ids of the span in ctx, or "", ""
// when ctx holds no valid span context. Its signature fits
// activitylog.Options.Trace.
func Trace(ctx context.Context) (traceID, spanID string) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return "", ""
	}
	return sc.TraceID().String(), sc.SpanID().String()
}
