package spool_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/spool"
)

// A store that is down: its batches wait in the spool, and Replay
// delivers them once it is back.
func Example() {
	dir, _ := os.MkdirTemp("", "spool-example")
	defer os.RemoveAll(dir)
	sp, err := spool.Open(dir, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sp.Close()

	ctx := context.Background()
	now := time.Now().UTC()
	batch := []activitylog.Event{
		{ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindAuth, Action: "login", Severity: activitylog.SeverityInfo},
		{ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindAuth, Action: "logout", Severity: activitylog.SeverityInfo},
	}
	if err := sp.Write(ctx, batch); err != nil { // fsynced when it returns
		fmt.Println(err)
		return
	}
	events, _ := sp.Len()
	fmt.Println("waiting:", events)

	store := writerFunc(func(ctx context.Context, es []activitylog.Event) error {
		for _, e := range es {
			fmt.Println("stored", e.Kind, e.Action)
		}
		return nil
	})
	n, err := sp.Replay(ctx, store)
	fmt.Println("replayed:", n, err)
	// Output:
	// waiting: 2
	// stored auth login
	// stored auth logout
	// replayed: 2 <nil>
}
