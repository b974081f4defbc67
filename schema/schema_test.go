package schema_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.EventJSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("event.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, b []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

type collect struct {
	mu sync.Mutex
	es []activitylog.Event
}

func (c *collect) Write(_ context.Context, es []activitylog.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.es = append(c.es, es...)
	return nil
}

// Every event the Recorder produces, of every kind and with every field
// set, is valid against the schema.
func TestRecordedEventsMatchSchema(t *testing.T) {
	s := compile(t)
	w := &collect{}
	rec := activitylog.NewRecorder(w, &activitylog.Options{Service: "shop"})
	full := activitylog.Event{
		Kind: activitylog.KindCRUD, Action: "update", Message: "changed", Tenant: "acme",
		Actor:   activitylog.Actor{ID: "1", Name: "Ann", Email: "ann@example.test", Extra: map[string]any{"role": "admin"}},
		Object:  activitylog.Object{Type: "order", ID: "7", Repr: "Order #7"},
		Changes: map[string]activitylog.Change{"status": {Old: "new", New: "paid"}, "total": {Old: 1.5, New: nil}},
		Request: activitylog.Request{RequestID: "r", TraceID: "t", SpanID: "s", Method: "PATCH", Host: "h", Path: "/orders/7",
			Route: "PATCH /orders/{id}", Query: "a=1", RemoteIP: "2001:db8::1", UserAgent: "ua", Browser: "Firefox", Platform: "Linux",
			OS: "Linux", Device: "desktop", Origin: "https://a.test", Referer: "https://a.test/x",
			Geo:     activitylog.Geo{Country: "Germany", CountryCode: "DE", City: "Berlin", Lat: 52.5, Lon: 13.4},
			Headers: map[string]string{"Accept": "*/*"}, Body: `{"a":1}`},
		Response: activitylog.Response{Status: 200, Duration: 1234567, RequestBytes: 7, ResponseBytes: 9,
			Headers: map[string]string{"Content-Type": "application/json"}, Body: "{}"},
		Tool: "cli", Category: "billing", Extra: map[string]any{"k": []any{1, "x"}},
	}
	for _, k := range activitylog.Kinds {
		e := full
		e.Kind = k
		if a := activitylog.ActionsFor(k); a != nil {
			e.Action = a[len(a)-1]
		} else {
			e.Action = "anything"
		}
		if err := rec.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Record(context.Background(), activitylog.Event{Kind: activitylog.KindCustom, Action: "minimal"}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(w.es) != len(activitylog.Kinds)+1 {
		t.Fatalf("%d events", len(w.es))
	}
	for _, e := range w.es {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, s, b); err != nil {
			t.Errorf("%s event does not match the schema: %v\n%s", e.Kind, err, b)
		}
	}
}

// The schema refuses what Event.Validate refuses, so the two agree.
func TestSchemaRefusesBadEvents(t *testing.T) {
	s := compile(t)
	id := activitylog.NewID(time.Now()).String()
	base := `"id":"` + id + `","time":"2026-01-02T03:04:05.123456789Z","severity":"info"`
	for _, bad := range []string{
		`{` + base + `,"kind":"nope","action":"x"}`,
		`{` + base + `,"kind":"crud","action":"upsert"}`,
		`{` + base + `,"kind":"custom","action":"x","unknown":1}`,
		`{` + base + `,"kind":"custom","action":"x","actor":{"type":"robot"}}`,
		`{` + base + `,"kind":"custom","action":"x","request":{"remote_ip":"999.0.0.1"}}`,
		`{` + base + `,"kind":"custom","action":"x","response":{"status":42}}`,
		`{` + strings.Replace(base, "Z", "+01:00", 1) + `,"kind":"custom","action":"x"}`,
		`{"kind":"custom","action":"x"}`,
	} {
		if err := validate(t, s, []byte(bad)); err == nil {
			t.Errorf("schema accepted %s", bad)
		}
	}
}
