package postgres_test

import (
	"context"
	"log"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/postgres"
)

// Open a store in its own schema, record through it, and read back. (It
// needs a server, so it is compiled but not run.)
func Example() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, "postgres://audit@127.0.0.1:5432/app?sslmode=disable",
		&postgres.Options{Schema: "audit", PartitionInterval: "month"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	rec := activitylog.NewRecorder(store, nil)
	defer rec.Shutdown(ctx)

	page, err := store.Query(ctx, activitylog.Filter{Kind: activitylog.KindAuth, LastHours: 24})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%d logins today", len(page.Events))

	// Retention: drop the partitions of events older than a year.
	dropped, err := store.DropBefore(ctx, time.Now().AddDate(-1, 0, 0))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("dropped %v", dropped)
}
