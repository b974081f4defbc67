package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// Mount the API inside a service's own mux, under /audit/.
func Example() {
	dir, err := os.MkdirTemp("", "activitylog-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	rec := activitylog.NewRecorder(store, nil)
	defer rec.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/audit/", http.StripPrefix("/audit", server.New(store, rec, nil)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// Another process posts an event...
	resp, err := http.Post(srv.URL+"/audit/api/v1/events", "application/json",
		strings.NewReader(`{"kind":"auth","action":"login","actor":{"id":"42","name":"Ann"}}`))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)

	// ...and anyone can read it back.
	resp, err = http.Get(srv.URL + "/audit/api/v1/events?user_id=42")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Count   int
		Results []activitylog.Event
	}
	json.NewDecoder(resp.Body).Decode(&page)
	fmt.Println(page.Count, page.Results[0].Kind, page.Results[0].Action, page.Results[0].Actor.Name)
	// Output:
	// 201 Created
	// 1 auth login Ann
}

// A refused batch names the event and the field, and stores nothing.
func ExampleNew_errors() {
	dir, err := os.MkdirTemp("", "activitylog-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	rec := activitylog.NewRecorder(store, nil)
	defer rec.Shutdown(context.Background())
	h := server.New(store, rec, nil)

	body := `[{"kind":"custom","action":"a"},{"kind":"custom","action":"b","actor":{"nick":"x"}}]`
	r := httptest.NewRequest("POST", "/api/v1/events", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Print(w.Code, " ", w.Body)
	// Output:
	// 400 {"error":{"code":"invalid","message":"invalid events[1].actor.nick \"x\": is not a field of an event","field":"events[1].actor.nick","value":"x"}}
}
