package archive_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/archive"
	"github.com/activitylog/activitylog/sqlite"
)

// Archive a store's events of before March 3 into a directory, one file
// per kind and day, then restore one file into another store.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "archive-example")
	defer os.RemoveAll(dir)
	store, _ := sqlite.Open(filepath.Join(dir, "events.db"), nil)
	defer store.Close()
	var events []activitylog.Event
	for i := range 6 {
		at := time.Date(2026, 3, 1+i/2, 9, i, 0, 0, time.UTC)
		kind, action := activitylog.KindCRUD, "update"
		if i%2 == 1 {
			kind, action = activitylog.KindAuth, "login"
		}
		events = append(events, activitylog.Event{ID: activitylog.NewID(at), Time: at, Kind: kind, Action: action,
			Severity: activitylog.SeverityInfo, Actor: activitylog.Actor{ID: "u1"}, Message: fmt.Sprint("event ", i)})
	}
	if err := store.Write(ctx, events); err != nil {
		fmt.Println(err)
		return
	}

	ar, _ := archive.New(archive.Dir{Root: filepath.Join(dir, "archive")}, store, nil)
	req := activitylog.PurgeRequest{Before: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC), AllTenants: true}
	res, err := ar.Archive(ctx, req)
	if err != nil {
		fmt.Println(err) // and do not purge
		return
	}
	for _, f := range res.Files {
		fmt.Println(f.Name, f.Events)
	}
	// Only now: store.Purge(ctx, req)

	fresh, _ := sqlite.Open(filepath.Join(dir, "fresh.db"), nil)
	defer fresh.Close()
	r, err := archive.RestoreFile(ctx, filepath.Join(dir, "archive", res.Files[0].Name), fresh, nil)
	fmt.Println(r.Events, err)
	// Output:
	// crud/2026/03/01/crud-2026-03-01.ndjson.gz 1
	// crud/2026/03/02/crud-2026-03-02.ndjson.gz 1
	// auth/2026/03/01/auth-2026-03-01.ndjson.gz 1
	// auth/2026/03/02/auth-2026-03-02.ndjson.gz 1
	// 1 <nil>
}
