package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// POST /api/v1/events/purge, as each role meets it.
func TestPurgeRoute(t *testing.T) {
	env := newRBACEnv(t)
	do := func(token, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/api/v1/events/purge", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		env.h.ServeHTTP(w, r)
		return w
	}
	count := func(f activitylog.Filter) int64 {
		n, err := env.store.Count(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	acmeCRUD := count(activitylog.Filter{Tenant: "acme", Kind: activitylog.KindCRUD})
	acmeAuth := count(activitylog.Filter{Tenant: "acme", Kind: activitylog.KindAuth})
	globex := count(activitylog.Filter{Tenant: "globex"})
	if acmeCRUD == 0 || globex == 0 {
		t.Fatal("no events to purge")
	}

	for _, tc := range []struct {
		name, token, body string
		status            int
		contains          []string
	}{
		{"no permission", "acme-admin", `{"confirm":"purge all"}`, 403, nil},
		{"no confirmation", "acme-retain", `{}`, 400, []string{`"field":"confirm"`, `"value":""`, `purge all`}},
		{"a wrong confirmation", "acme-retain", `{"kinds":["crud"],"confirm":"purge all"}`, 400, []string{`"field":"confirm"`, `\"purge crud\"`}},
		{"an unknown kind", "acme-retain", `{"kinds":["crud","weather"],"confirm":"purge crud,weather"}`, 400, []string{`"field":"kinds[1]"`, `"value":"weather"`}},
		{"kinds of the wrong type", "acme-retain", `{"kinds":"crud","confirm":"purge crud"}`, 400, []string{`"field":"kinds"`}},
		{"an unknown field", "acme-retain", `{"confirm":"purge all","everything":true}`, 400, []string{`"field":"everything"`}},
		{"not JSON", "acme-retain", `purge all`, 400, []string{`"field":"body"`}},
		// encoding/json would take the last of two, and "Confirm" for
		// confirm: the purge would run on a body that reads otherwise.
		{"the confirmation twice", "acme-retain", `{"kinds":["crud"],"confirm":"x","confirm":"purge crud"}`, 400, []string{`"field":"confirm"`, `twice`}},
		{"the confirmation in another case", "acme-retain", `{"kinds":["crud"],"confirm":"x","Confirm":"purge crud"}`, 400, []string{`"field":"Confirm"`, `did you mean`}},
		{"another tenant", "acme-retain", `{"tenant":"globex","confirm":"purge all"}`, 403, []string{`"field":"tenant"`, `globex`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(tc.token, tc.body)
			if w.Code != tc.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.status)
			}
			for _, s := range tc.contains {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("answer %s lacks %s", w.Body, s)
				}
			}
		})
	}
	if n := count(activitylog.Filter{Tenant: "acme", Kind: activitylog.KindCRUD}); n != acmeCRUD {
		t.Fatalf("a refused purge deleted events: %d acme crud left of %d", n, acmeCRUD)
	}

	// acme's retention manager purges acme's crud and auth events.
	w := do("acme-retain", `{"kinds":["crud","auth","crud"],"confirm":"purge crud,auth"}`)
	if w.Code != 200 {
		t.Fatalf("purge: %d %s", w.Code, w.Body)
	}
	var ans struct {
		Deleted    int64            `json:"deleted"`
		ByKind     map[string]int64 `json:"by_kind"`
		Tenant     *string          `json:"tenant"`
		StartEvent string           `json:"purge_started_event"`
	}
	json.Unmarshal(w.Body.Bytes(), &ans)
	if ans.Deleted != acmeCRUD+acmeAuth || ans.ByKind["crud"] != acmeCRUD || ans.Tenant == nil || *ans.Tenant != "acme" || ans.StartEvent == "" {
		t.Errorf("answer %s; want %d crud and %d auth deleted in acme", w.Body, acmeCRUD, acmeAuth)
	}
	if n := count(activitylog.Filter{Tenant: "acme", Kind: activitylog.KindCRUD}); n != 0 {
		t.Errorf("%d acme crud events left", n)
	}
	if n := count(activitylog.Filter{Tenant: "globex"}); n != globex {
		t.Errorf("globex has %d events, had %d: a tenant's purge crossed tenants", n, globex)
	}
	// Recorded before and after, by whom, in acme.
	page, err := env.store.Query(context.Background(), activitylog.Filter{Kind: activitylog.KindSystem, Category: activitylog.CategoryRetention, Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[any]activitylog.Event{}
	for _, e := range page.Events {
		ops[e.Extra["operation"]] = e
	}
	started, done := ops[activitylog.PurgeStarted], ops[activitylog.PurgeDone]
	if started.ID.String() != ans.StartEvent || started.Actor.ID != "rita" || done.Actor.ID != "rita" || done.Extra["deleted"] == nil {
		t.Errorf("purge events: started %+v, done %+v", started, done)
	}

	// A superuser purges everything before now, in every tenant: the
	// records of purges stay.
	time.Sleep(time.Millisecond)
	w = do("root", `{"confirm":"purge all"}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"tenant":null`) {
		t.Fatalf("purge all: %d %s", w.Code, w.Body)
	}
	left, err := env.store.Query(context.Background(), activitylog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left.Events {
		if e.Category != activitylog.CategoryRetention {
			t.Errorf("purge all left %s %s %q", e.Kind, e.Action, e.Message)
		}
	}
	if len(left.Events) != 4 { // two purges, each started and done
		t.Errorf("%d events left, want the 4 records of the 2 purges", len(left.Events))
	}
}
