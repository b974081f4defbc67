package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// tagger is an Annotator that adds its member to every event but those
// whose action is "bare", and counts its calls.
type tagger struct {
	member string
	calls  int
	err    error
}

func (a *tagger) Member() string { return a.member }

func (a *tagger) Annotate(ctx context.Context, events []activitylog.Event) ([]json.RawMessage, error) {
	a.calls++
	if a.err != nil {
		return nil, a.err
	}
	out := make([]json.RawMessage, len(events))
	for i, e := range events {
		if e.Action != "bare" {
			out[i] = json.RawMessage(fmt.Sprintf(`{"n":%d,"action":%q}`, i, e.Action))
		}
	}
	return out, nil
}

func annotateEnv(t *testing.T, as ...server.Annotator) (http.Handler, []activitylog.Event) {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now().UTC()
	var es []activitylog.Event
	for i, action := range []string{"create", "bare", "update", "delete"} {
		es = append(es, activitylog.Event{ID: activitylog.NewID(now), Time: now.Add(time.Duration(-i) * time.Minute),
			Kind: activitylog.KindCRUD, Action: action, Severity: activitylog.SeverityInfo, Message: "<b>&</b>"})
	}
	if err := store.Write(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	return server.New(store, nil, &server.Options{Authenticate: testAuth, Logger: slog.New(slog.DiscardHandler), Annotators: as}), es
}

// Each Annotator's member is added to every event of the lists and the
// details, in the Annotators' order, and left out where it gives nil;
// the rest of the event is as without it.
func TestAnnotators(t *testing.T) {
	a, b := &tagger{member: "alpha"}, &tagger{member: "beta"}
	h, es := annotateEnv(t, a, b)
	plain, _ := annotateEnv(t)
	get := func(h http.Handler, url string) string {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", url, nil))
		if w.Code != 200 {
			t.Fatalf("GET %s: %d %s", url, w.Code, w.Body)
		}
		return w.Body.String()
	}
	for _, url := range []string{"/api/v1/events?ordering=time", "/api/v1/crud-events?ordering=time", "/api/v1/events/" + es[0].ID.String(), "/api/v1/crud-events/" + es[1].ID.String()} {
		body := get(h, url)
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("GET %s: not JSON: %v: %s", url, err, body)
		}
		var events []map[string]json.RawMessage
		var page struct {
			Results []map[string]json.RawMessage `json:"results"`
		}
		if json.Unmarshal([]byte(body), &page) == nil && page.Results != nil {
			events = page.Results
		} else {
			var one map[string]json.RawMessage
			json.Unmarshal([]byte(body), &one)
			events = append(events, one)
		}
		for _, e := range events {
			var action string
			json.Unmarshal(e["action"], &action)
			_, hasA := e["alpha"]
			_, hasB := e["beta"]
			if hasA != (action != "bare") || hasB != hasA {
				t.Errorf("GET %s: event %s: alpha %v beta %v", url, action, hasA, hasB)
			}
		}
		if !strings.Contains(body, `\u003cb\u003e\u0026\u003c/b\u003e`) {
			t.Errorf("GET %s: the event is not escaped as encoding/json escapes it: %s", url, body)
		}
		// Without the members, the answer is the plain one.
		if strings.Contains(url, "?") {
			stripped := stripMembers(t, body, "alpha", "beta")
			if want := stripMembers(t, get(plain, url), "alpha", "beta"); stripped != want {
				t.Errorf("GET %s: without its members the answer differs:\n%s\n%s", url, stripped, want)
			}
		}
	}
	if !strings.Contains(get(h, "/api/v1/events/"+es[0].ID.String()), `"alpha":{"n":0,"action":"create"},"beta":{"n":0,"action":"create"}}`) {
		t.Error("the members are not at the end, in order")
	}
	if a.calls != 5 || b.calls != 5 {
		t.Errorf("calls %d, %d; want one per answer, 5", a.calls, b.calls)
	}
}

// stripMembers re-encodes a list answer without the members and
// without the ids and times that differ between two stores.
func stripMembers(t *testing.T, body string, members ...string) string {
	t.Helper()
	var page struct {
		Count   int              `json:"count"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Results {
		for _, m := range append(members, "id", "time") {
			delete(e, m)
		}
	}
	b, _ := json.Marshal(page)
	return string(b)
}

// An Annotator's error fails the answer with its category; nothing is
// answered without the member.
func TestAnnotatorError(t *testing.T) {
	a := &tagger{member: "alpha", err: fmt.Errorf("read seals: %w", activitylog.ErrUnavailable)}
	h, es := annotateEnv(t, a)
	for _, url := range []string{"/api/v1/events", "/api/v1/events/" + es[0].ID.String(), "/api/v1/objects/x/y/events"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", url, nil))
		if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "seals") {
			t.Errorf("GET %s: %d %s, want 503 without detail", url, w.Code, w.Body)
		}
	}
}

// New refuses an Annotator it cannot serve.
func TestAnnotatorRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		as   []server.Annotator
	}{
		{"nil", []server.Annotator{nil}},
		{"empty member", []server.Annotator{&tagger{member: ""}}},
		{"member of the event", []server.Annotator{&tagger{member: "actor"}}},
		{"member to escape", []server.Annotator{&tagger{member: `a"b`}}},
		{"twice", []server.Annotator{&tagger{member: "x"}, &tagger{member: "x"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("New did not refuse it")
				}
			}()
			annotateEnv(t, c.as...)
		})
	}
}
