package storetest

import (
	"fmt"
	"time"

	"github.com/activitylog/activitylog"
)

// Base is the time of NewEvent(0): three hours before the package was
// loaded, so that the events of a fixture lie in the recent past and
// filters by LastHours select some of them but not all.
var Base = time.Now().UTC().Add(-3 * time.Hour)

// EventInterval is the time between NewEvent(i) and NewEvent(i+1).
const EventInterval = 7 * time.Minute

var (
	kinds   = []activitylog.Kind{activitylog.KindRequest, activitylog.KindCRUD, activitylog.KindAuth}
	actions = map[activitylog.Kind][]string{
		activitylog.KindRequest: {"GET", "POST", "DELETE"},
		activitylog.KindCRUD:    {"create", "update", "delete"},
		activitylog.KindAuth:    {"login", "logout"},
	}
	statuses   = []int{200, 201, 204, 302, 404, 500}
	methods    = []string{"GET", "POST", "PUT", "DELETE"}
	origins    = []string{"https://shop.test", "https://partner.example", "null"}
	tools      = []string{"web", "cli", "job"}
	categories = []string{"orders", "billing & tax"}
)

// NewEvent returns event number i: valid (it passes Event.Validate),
// with every field set, distinct for each i, and its time
// Base + i*EventInterval plus some nanoseconds. Its fields cycle with
// different periods (kind every 3, tenant 4, actor 5, status 6, remote
// IP 7; tool every 2 events, method 3, origin 4, category 5 change to
// the next value), so that every filter selects some events and not
// others, and every ordering has ties; every fifth event has no actor
// and every fourth no tenant.
//
// Values in its any-typed fields are already what encoding/json decodes
// them to (float64 for numbers, []any, map[string]any), so a stored and
// read back event compares equal with reflect.DeepEqual.
func NewEvent(i int) activitylog.Event {
	t := Base.Add(time.Duration(i)*EventInterval + time.Duration(i)*1_234_567 + 89)
	k := kinds[i%len(kinds)]
	action := actions[k][(i/len(kinds))%len(actions[k])]
	objType := []string{"order", "invoice"}[i%2]
	objID := fmt.Sprint((i / 2) % 4)
	e := activitylog.Event{
		ID:       activitylog.NewID(t),
		Time:     t,
		Kind:     k,
		Action:   action,
		Severity: []activitylog.Severity{activitylog.SeverityInfo, activitylog.SeverityNotice, activitylog.SeverityWarning}[i%3],
		Message:  fmt.Sprintf("event %d: %s %s %s", i, action, objType, objID),
		Tenant:   []string{"acme", "globex", "initech", ""}[i%4],
		Service:  "shop",
		Actor: activitylog.Actor{
			ID:    fmt.Sprintf("u%d", i%5),
			Name:  fmt.Sprintf("User %d", i%5),
			Email: fmt.Sprintf("u%d@example.test", i%5),
			Type:  activitylog.ActorUser,
			Extra: map[string]any{
				"roles": []any{"admin", "ops"},
				"level": float64(i),
				"prefs": map[string]any{"theme": "dark", "beta": i%2 == 0, "limit": nil},
			},
		},
		Object: activitylog.Object{Type: objType, ID: objID, Repr: fmt.Sprintf("%s #%s", objType, objID)},
		Changes: map[string]activitylog.Change{
			"status": {Old: "new", New: "paid"},
			"total":  {Old: float64(10), New: 12.5 + float64(i)},
			"flag":   {Old: false, New: true},
			"note":   {Old: nil, New: map[string]any{"a": []any{float64(1), "x", nil, map[string]any{}}}},
			"big":    {Old: 1e21, New: -0.000001},
		},
		Request: activitylog.Request{
			RequestID: fmt.Sprintf("req-%d", i),
			TraceID:   "4bf92f3577b34da6a3ce929d0e0e4736",
			SpanID:    "00f067aa0ba902b7",
			Method:    methods[(i/3)%len(methods)],
			Host:      "shop.test",
			Path:      fmt.Sprintf("/%ss/%s", objType, objID),
			Route:     methods[(i/3)%len(methods)] + " /" + objType + "s/{id}",
			Query:     "a=1&b=<2>",
			RemoteIP:  []string{"203.0.113.1", "203.0.113.2", "2001:db8::1", "198.51.100.7", "203.0.113.10", "192.0.2.1", "10.0.0.1"}[i%7],
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
			Browser:   "Firefox",
			Platform:  "Linux",
			OS:        "Linux",
			Device:    "desktop",
			Origin:    origins[(i/4)%len(origins)],
			Referer:   "https://shop.test/cart",
			Geo:       activitylog.Geo{Country: "Germany", CountryCode: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405},
			Headers:   map[string]string{"Accept": "application/json", "X-Unicode": "日本 \u2028 é"},
			Body:      `{"qty":2}`,
		},
		Response: activitylog.Response{
			Status:        statuses[i%len(statuses)],
			Duration:      time.Duration(1000 + (i*7919)%13),
			RequestBytes:  int64(i),
			ResponseBytes: int64(2 * i),
			Headers:       map[string]string{"Content-Type": "application/json"},
			Body:          `{"ok":true}`,
		},
		Tool:     tools[(i/2)%len(tools)],
		Category: categories[(i/5)%len(categories)],
		Extra:    map[string]any{"i": float64(i), "nested": map[string]any{"k": "v", "list": []any{true, 1.5}}},
	}
	if i%5 == 4 {
		e.Actor = activitylog.Actor{}
	}
	return e
}

// Fixture returns the events NewEvent(0) to NewEvent(n-1), with some
// times made equal so that the time ordering has ties: events 10 and 11
// take event 9's time, event 16 takes event 15's. Where ids decide the
// order of events with equal times, insertion order must not: the
// events come in an order that differs from both id and time order.
func Fixture(n int) []activitylog.Event {
	es := make([]activitylog.Event, n)
	for i := range es {
		es[i] = NewEvent(i)
	}
	for _, tie := range [][2]int{{10, 9}, {11, 9}, {16, 15}} {
		if tie[0] < n {
			es[tie[0]].Time = es[tie[1]].Time
		}
	}
	// A fixed shuffle: odd positions reversed, then the even ones.
	out := make([]activitylog.Event, 0, n)
	for i := n - 1; i >= 0; i-- {
		if i%2 == 1 {
			out = append(out, es[i])
		}
	}
	for i := 0; i < n; i += 2 {
		out = append(out, es[i])
	}
	return out
}
