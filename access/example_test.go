package access_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// The API behind the access Service: a key for a program, and what a
// request without one gets.
func Example() {
	dir, _ := os.MkdirTemp("", "access-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	rec := activitylog.NewRecorder(store, nil)
	defer rec.Shutdown(context.Background())

	svc, err := access.New(store.Credentials(), &access.Options{Recorder: rec})
	if err != nil {
		log.Fatal(err)
	}
	api := server.New(store, rec, &server.Options{Authenticate: svc.Authenticate, Routes: svc.Routes()})

	key, _, err := svc.CreateAPIKey(context.Background(), access.NewAPIKey{
		Name: "dashboard", Tenant: "acme", Scopes: []activitylog.Permission{activitylog.ViewAllLogs},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, bearer := range []string{"", key} {
		r := httptest.NewRequest("GET", "/api/v1/events", nil)
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		fmt.Println(w.Code, http.StatusText(w.Code))
	}
	// Output:
	// 401 Unauthorized
	// 200 OK
}
