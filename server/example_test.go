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

	// The host's own authentication says who is asking. (Here, one
	// fixed token; the access package offers sessions, API keys and
	// JWTs.)
	auth := func(r *http.Request) (*activitylog.Principal, error) {
		if server.BearerToken(r) != "s3cret" {
			return nil, nil // 401
		}
		return &activitylog.Principal{ID: "ops", Permissions: []activitylog.Permission{activitylog.ViewAllLogs, activitylog.Ingest}}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/audit/", http.StripPrefix("/audit", server.New(store, rec, &server.Options{Authenticate: auth})))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		return resp
	}

	// Another process posts an event...
	resp := do("POST", "/audit/api/v1/events", `{"kind":"auth","action":"login","actor":{"id":"42","name":"Ann"}}`)
	resp.Body.Close()
	fmt.Println(resp.Status)

	// ...and whoever may read it reads it back.
	resp = do("GET", "/audit/api/v1/events?user_id=42", "")
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
	h := server.New(store, rec, &server.Options{
		Authenticate: func(*http.Request) (*activitylog.Principal, error) {
			return &activitylog.Principal{ID: "ingest-key", Permissions: []activitylog.Permission{activitylog.Ingest}}, nil
		},
	})

	body := `[{"kind":"custom","action":"a"},{"kind":"custom","action":"b","actor":{"nick":"x"}}]`
	r := httptest.NewRequest("POST", "/api/v1/events", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Print(w.Code, " ", w.Body)
	// Output:
	// 400 {"error":{"code":"invalid","message":"invalid events[1].actor.nick \"\": is not a field; known are id, name, email, type, extra","field":"events[1].actor.nick","value":""}}
}
