package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
)

// FuzzParseFilter: no panic, and every error is a *FieldError; a filter
// that parses either normalizes or fails with a *FieldError too.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"",
		"kind=crud&action=update&page_size=10",
		"date_from=2025-01-02T15:04:05Z&date_to=2025-01-03T00:00:00+01:00",
		"last_hours=24&user_id=42&tenant=acme&remote_ip=::1",
		"status_gte=400&status_lte=499&search=boom&ordering=-status",
		"object_type=invoice&object_id=INV-7&page=3",
		"cursor=eyJvIjoiLXRpbWUiLCJpZCI6IjAxOTBjMmExLTAwMDAtNzAwMC04MDAwLTAwMDAwMDAwMDAwMSJ9",
		"kind=crud&kind=auth",
		"page_size=0",
		"page=99999999999999999999999",
		"colour=red",
		"%zz=1&;=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw) // keeps what parses
		flt, err := server.ParseFilter(v)
		if err != nil {
			var fe *activitylog.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseFilter(%q): %T %v, not a *FieldError", raw, err, err)
			}
			if !errors.Is(err, activitylog.ErrInvalid) {
				t.Fatalf("ParseFilter(%q): %v does not wrap ErrInvalid", raw, err)
			}
			return
		}
		if _, err := flt.Normalize(time.Now()); err != nil {
			var fe *activitylog.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Normalize after ParseFilter(%q): %T %v, not a *FieldError", raw, err, err)
			}
		}
	})
}

// FuzzIngest feeds arbitrary bodies to the POST handler over a real
// store: never a panic or a 5xx, always a JSON answer, and nothing
// stored unless the answer is 201.
func FuzzIngest(f *testing.F) {
	for _, s := range []struct {
		body   string
		ndjson bool
	}{
		{`{"kind":"custom","action":"x"}`, false},
		{`[{"kind":"auth","action":"login","actor":{"id":"1"}},{"kind":"crud","action":"update","changes":{"a":{"old":1,"new":2}}}]`, false},
		{"{\"kind\":\"export\",\"action\":\"csv\"}\n\n{\"kind\":\"system\",\"action\":\"error\"}\n", true},
		{`{"id":"0190c2a1-0000-7000-8000-0000000000aa","time":"2024-06-01T12:00:00Z","kind":"request","action":"GET","response":{"status":200,"duration_ns":5}}`, false},
		{`{"kind":"custom","action":"x","bogus":1}`, false},
		{`{"kind":"custom","action":"x","actor":{"nick":1}}`, false},
		{`[{"kind":5}]`, false},
		{`{"id":"nope"}`, false},
		{`{"time":"9999-01-01T00:00:00Z","kind":"custom","action":"x"}`, false},
		{`[]`, false},
		{`[{},]`, false},
		{`{"kind":"custom","action":"x"} {}`, false},
		{"\n{\"kind\":1}\n", true},
		{`{"kind":"custom","action":"x","extra":{"n":1e400}}`, false},
		{`{"kind":"request","action":"GET","request":{"remote_ip":"x","geo":{"lat":91}}}`, false},
		{"", false},
	} {
		f.Add([]byte(s.body), s.ndjson)
	}
	e := newEnv(f, &server.Options{MaxBatch: 50})
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		ct := "application/json"
		if ndjson {
			ct = "application/x-ndjson"
		}
		before := e.count(t)
		w := e.do(t, "POST", "/api/v1/events", ct, bytes.NewReader(body))
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.Body)
		}
		after := e.count(t)
		if w.Code != 201 {
			if after != before {
				t.Fatalf("status %d but %d events stored, for %q: %s", w.Code, after-before, body, w.Body)
			}
			var eb errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("status %d without an error object: %s", w.Code, w.Body)
			}
			return
		}
		var ib ingestBody
		if err := json.Unmarshal(w.Body.Bytes(), &ib); err != nil {
			t.Fatal(err)
		}
		// Ids already stored are left alone, so at most this many are new.
		if n := after - before; n > int64(ib.Accepted) || ib.Accepted != len(ib.IDs) || ib.Accepted == 0 {
			t.Fatalf("accepted %d with %d ids, but %d stored: %q", ib.Accepted, len(ib.IDs), n, body)
		}
	})
}
