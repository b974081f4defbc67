package retentionhttp_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// PUT takes the read-only fields a GET answers (id, the run fields,
// the times) only as GET answers them, so that a GET-modify-PUT round
// trip works; any other value is a 400 naming the field and the value,
// and changes nothing, where it used to be taken and ignored.
func TestReadOnlyFields(t *testing.T) {
	e := newEnv(t, nil)
	fresh := e.create("root", `{"name": "never run", "kind": "crud", "retain_days": 30}`)
	ran := e.create("root", `{"name": "run once", "kind": "request", "retain_days": 30}`)
	e.event("request", "", 40)
	if w := e.do("POST", "/api/v1/retention-policies/"+ran+"/run-now", "root", ""); w.Code != 200 {
		t.Fatalf("run-now: %d %s", w.Code, w.Body)
	}
	type fields = map[string]any
	for _, tc := range []struct {
		name   string
		policy string
		whole  bool   // send GET's answer with set applied, else set alone
		set    fields // the fields changed
		status int
		field  string // of a 400
		value  string
	}{
		{name: "GET's answer as is", policy: fresh, whole: true, status: 200},
		{name: "GET's answer as is, after a run", policy: ran, whole: true, status: 200},
		{name: "GET's answer with a change", policy: ran, whole: true, set: fields{"retain_days": 60}, status: 200},
		{name: "the times in another zone, the same instants", policy: ran, whole: true, set: fields{"in +02:00": true}, status: 200},
		{name: "the run fields alone, as stored", policy: ran, set: fields{"records_deleted": 1, "last_error": ""}, status: 200},
		{name: "last_run null, never run", policy: fresh, set: fields{"last_run": nil}, status: 200},

		{name: "another id", policy: ran, whole: true, set: fields{"id": "rtp_0000000000000000"}, status: 400, field: "id", value: "rtp_0000000000000000"},
		{name: "records_deleted reset", policy: ran, whole: true, set: fields{"records_deleted": 0}, status: 400, field: "records_deleted", value: "0"},
		{name: "records_deleted made up", policy: fresh, set: fields{"records_deleted": 5}, status: 400, field: "records_deleted", value: "5"},
		{name: "last_error set", policy: ran, set: fields{"last_error": "boom"}, status: 400, field: "last_error", value: "boom"},
		{name: "last_run null, after a run", policy: ran, whole: true, set: fields{"last_run": nil}, status: 400, field: "last_run", value: "null"},
		{name: "last_run a time, never run", policy: fresh, set: fields{"last_run": "2026-01-02T03:04:05Z"}, status: 400, field: "last_run", value: "2026-01-02T03:04:05Z"},
		{name: "last_run another time", policy: ran, set: fields{"last_run": "2026-01-02T03:04:05.123456789-07:00"}, status: 400, field: "last_run", value: "2026-01-02T03:04:05.123456789-07:00"},
		{name: "last_error long", policy: ran, set: fields{"last_error": strings.Repeat("x", 40)}, status: 400, field: "last_error", value: strings.Repeat("x", 32) + "…"},
		{name: "last_run a number", policy: ran, set: fields{"last_run": 42}, status: 400, field: "last_run", value: "42"},
		{name: "last_run not a time", policy: ran, set: fields{"last_run": "yesterday"}, status: 400, field: "last_run", value: "yesterday"},
		{name: "last_run an object", policy: fresh, set: fields{"last_run": fields{"a": 1}}, status: 400, field: "last_run", value: `{"a":1}`},
		{name: "created_at moved", policy: fresh, whole: true, set: fields{"created_at": "2000-01-01T00:00:00Z"}, status: 400, field: "created_at", value: "2000-01-01T00:00:00Z"},
		{name: "updated_at stale", policy: ran, whole: true, set: fields{"updated_at": "2000-01-01T00:00:00.123456789+02:00", "retain_days": 7}, status: 400, field: "updated_at", value: "2000-01-01T00:00:00.123456789+02:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := "/api/v1/retention-policies/" + tc.policy
			w := e.do("GET", url, "root", "")
			var got fields
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
				t.Fatalf("GET: %d %s", w.Code, w.Body)
			}
			before := w.Body.String()
			body := fields{}
			if tc.whole {
				body = got
			}
			for k, v := range tc.set {
				body[k] = v
			}
			if _, ok := body["in +02:00"]; ok {
				delete(body, "in +02:00")
				for _, k := range []string{"last_run", "created_at", "updated_at"} {
					body[k] = inZone(t, got[k].(string))
				}
			}
			b, _ := json.Marshal(body)
			w = e.do("PUT", url, "root", string(b))
			if w.Code != tc.status {
				t.Fatalf("PUT %s: %d %s, want %d", b, w.Code, w.Body, tc.status)
			}
			if tc.status != 400 {
				return
			}
			var answer struct {
				Error struct {
					Code  string  `json:"code"`
					Field string  `json:"field"`
					Value *string `json:"value"`
				} `json:"error"`
			}
			json.Unmarshal(w.Body.Bytes(), &answer)
			if answer.Error.Code != "invalid" || answer.Error.Field != tc.field || answer.Error.Value == nil || *answer.Error.Value != tc.value {
				t.Fatalf("PUT %s: %s, want field %s value %q", b, w.Body, tc.field, tc.value)
			}
			if after := e.do("GET", url, "root", "").Body.String(); after != before {
				t.Fatalf("a refused PUT changed the policy:\n%s\n%s", before, after)
			}
		})
	}
}

// inZone writes the time s (RFC 3339) as the same instant at +02:00.
func inZone(t *testing.T, s string) string {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.In(time.FixedZone("", 2*60*60)).Format(time.RFC3339Nano)
}
