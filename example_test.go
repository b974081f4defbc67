package activitylog_test

import (
	"context"
	"fmt"

	"github.com/activitylog/activitylog"
)

// printWriter stands in for a store in this example: it prints what the
// Recorder hands it.
type printWriter struct{}

func (printWriter) Write(_ context.Context, events []activitylog.Event) error {
	for _, e := range events {
		fmt.Printf("%s %s %s/%s by %s (%s) password=%v\n", e.Kind, e.Action, e.Object.Type, e.Object.ID,
			e.Actor.Name, e.Tenant, e.Changes["password"].New)
	}
	return nil
}

func ExampleRecorder() {
	rec := activitylog.NewRecorder(printWriter{}, nil)

	ctx := activitylog.WithActor(context.Background(), activitylog.Actor{ID: "42", Name: "Ann"})
	ctx = activitylog.WithTenant(ctx, "acme")
	_ = rec.Record(ctx, activitylog.Event{
		Kind:   activitylog.KindCRUD,
		Action: "update",
		Object: activitylog.Object{Type: "user", ID: "7"},
		Changes: map[string]activitylog.Change{
			"password": {Old: "s3cret", New: "hunter2"},
		},
	})
	_ = rec.Shutdown(context.Background())
	// Output:
	// crud update user/7 by Ann (acme) password=[REDACTED]
}
