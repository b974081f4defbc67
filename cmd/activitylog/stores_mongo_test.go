package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/mongo"
)

// serve --store mongodb://… when ACTIVITYLOG_TEST_MONGO_URI names a
// server (FerretDB in CI: tools/ferretdb/start.sh).
func init() {
	storeCases = append(storeCases, storeCase{
		name: "mongodb",
		url: func(t *testing.T) string {
			uri := os.Getenv("ACTIVITYLOG_TEST_MONGO_URI")
			if uri == "" {
				t.Skip("set ACTIVITYLOG_TEST_MONGO_URI=mongodb://127.0.0.1:27017/ to run serve against MongoDB (or FerretDB)")
			}
			db := "alserve_" + strings.ToLower(strings.ReplaceAll(activitylog.NewID(time.Now()).String()[24:], "-", ""))
			u := strings.TrimSuffix(uri, "/") + "/" + db
			t.Cleanup(func() {
				if s, err := mongo.Open(context.Background(), u, nil); err == nil {
					s.Drop(context.Background())
					s.Close()
				}
			})
			return u
		},
		open: func(t *testing.T, u string) activitylog.Store {
			s, err := mongo.Open(context.Background(), u, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
