package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// objectSeed is seedEvents plus more events on invoice INV-1 and on
// other objects: one with the same id and another type, and one whose
// id holds a slash and a space.
func objectSeed() []activitylog.Event {
	seed := seedEvents()
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	more := []activitylog.Event{
		8:  {Time: at(8), Kind: activitylog.KindCRUD, Action: "update", Object: activitylog.Object{Type: "invoice", ID: "INV-2"}},
		9:  {Time: at(9), Kind: activitylog.KindCRUD, Action: "delete", Object: activitylog.Object{Type: "order", ID: "INV-1"}},
		10: {Time: at(10), Kind: activitylog.KindCustom, Action: "print", Object: activitylog.Object{Type: "invoice", ID: "a/b c"}},
		11: {Time: at(11), Kind: activitylog.KindSystem, Action: "error", Message: "sending INV-1 failed",
			Object: activitylog.Object{Type: "invoice", ID: "INV-1"}},
		12: {Time: at(12), Kind: activitylog.KindCRUD, Action: "update", Object: activitylog.Object{Type: "invoice", ID: "INV-1"}},
	}
	for i := len(seed); i < len(more); i++ {
		more[i].ID = activitylog.NewID(more[i].Time)
		seed = append(seed, more[i])
	}
	return seed
}

func TestObjectEvents(t *testing.T) {
	t.Parallel()
	seed := objectSeed()
	obj := func(path string) string { return "/api/v1/objects/" + path }
	for _, sc := range []scenario{
		{name: "history, newest first", url: obj("invoice/INV-1/events"), wantResults: []int{12, 11, 1, 0},
			wantStatus: 200, wantContent: []string{`"count":4`, `"next":null`, `"previous":null`}},
		{name: "same id, another type", url: obj("order/INV-1/events"), wantStatus: 200, wantResults: []int{9}},
		{name: "unknown object", url: obj("invoice/INV-9/events"), wantStatus: 200,
			wantContent: []string{`{"count":0,"next":null,"previous":null,"results":[]}`}},
		{name: "escaped slash and space in the id", url: obj("invoice/a%2Fb%20c/events"), wantStatus: 200, wantResults: []int{10}},
		{name: "kind filter", url: obj("invoice/INV-1/events?kind=crud"), wantStatus: 200, wantResults: []int{12, 1, 0}, wantContent: []string{`"count":3`}},
		{name: "action filter", url: obj("invoice/INV-1/events?action=update"), wantStatus: 200, wantResults: []int{12, 1}},
		{name: "date filter", url: obj("invoice/INV-1/events?date_from=2025-01-01T02:00:00Z&date_to=2025-01-01T12:00:00Z"),
			wantStatus: 200, wantResults: []int{11, 1}},
		{name: "search", url: obj("invoice/INV-1/events?search=failed"), wantStatus: 200, wantResults: []int{11}},
		{name: "oldest first", url: obj("invoice/INV-1/events?ordering=time"), wantStatus: 200, wantResults: []int{0, 1, 11, 12}},
		{name: "first page", url: obj("invoice/INV-1/events?page_size=3"), wantStatus: 200, wantResults: []int{12, 11, 1},
			wantContent: []string{`"count":4`, `"next":"?cursor=`, `page_size=3`, `"previous":null`},
			notContent:  []string{"object_type", "object_id"},
			check: func(t *testing.T, e *env, body []byte) {
				var p listBody
				if err := json.Unmarshal(body, &p); err != nil {
					t.Fatal(err)
				}
				w := e.do(t, "GET", obj("invoice/INV-1/events")+*p.Next, "", nil)
				var next listBody
				if err := json.Unmarshal(w.Body.Bytes(), &next); err != nil || w.Code != 200 {
					t.Fatalf("GET next: %d %s", w.Code, w.Body)
				}
				if len(next.Results) != 1 || next.Results[0].ID != seed[0].ID || next.Next != nil || next.Previous == nil {
					t.Errorf("next page: %s", w.Body)
				}
			}},
		{name: "offset page", url: obj("invoice/INV-1/events?page=2&page_size=3"), wantStatus: 200, wantResults: []int{0}},
		{name: "the path's own object in the query", url: obj("invoice/INV-1/events?object_type=invoice&object_id=INV-1"),
			wantStatus: 200, wantResults: []int{12, 11, 1, 0}},
		{name: "HEAD", method: "HEAD", url: obj("invoice/INV-1/events"), wantStatus: 200},

		// Refused.
		{name: "conflicting object_type", url: obj("invoice/INV-1/events?object_type=order"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "object_type", value: "order"}, wantContent: []string{"conflicts with the path"}},
		{name: "conflicting object_id", url: obj("invoice/INV-1/events?object_id=INV-2"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "object_id", value: "INV-2"}},
		{name: "unknown parameter", url: obj("invoice/INV-1/events?colour=red"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "colour", value: "red"}},
		{name: "bad kind", url: obj("invoice/INV-1/events?kind=party"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "kind", value: "party"}},
		{name: "bad page_size", url: obj("invoice/INV-1/events?page_size=5000"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "page_size", value: "5000"}},
		{name: "object type too long", url: obj(strings.Repeat("t", activitylog.MaxShortField+1) + "/1/events"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "object_type", value: strings.Repeat("t", 32) + "…"}},
		{name: "object type not UTF-8", url: obj("%ff/INV-1/events"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "object_type", value: `\xff`}, wantContent: []string{"is not UTF-8: byte 0 is 0xff"}},
		{name: "object id not UTF-8", url: obj("invoice/INV-%c3/events"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "object_id", value: `INV-\xc3`}, wantContent: []string{"is not UTF-8: byte 4 is 0xc3"}},
		{name: "object id not UTF-8, repeated in the query", url: obj("invoice/%ff/events?object_id=%ff"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "object_id", value: `\xff`}, wantContent: []string{"is not UTF-8"}},
		{name: "object id in UTF-8", url: obj("invoice/caf%C3%A9/events"), wantStatus: 200, wantResults: []int{}},
		{name: "query value not UTF-8", url: obj("invoice/INV-1/events?action=%ff"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "action", value: `\xff`}, wantContent: []string{"is not UTF-8"}},
		{name: "zero date_to", url: obj("invoice/INV-1/events?date_to=0001-01-01T00:00:00Z"), wantStatus: 400,
			wantError: &wantError{code: "invalid", field: "date_to", value: "0001-01-01T00:00:00Z"}},
		{name: "last_hours before 1970", url: obj("invoice/INV-1/events?last_hours=876600"), wantStatus: 200, wantResults: []int{12, 11, 1, 0}},
		{name: "no object id", url: obj("invoice/events"), wantStatus: 404, wantError: &wantError{code: "not_found"}},
		{name: "post", method: "POST", url: obj("invoice/INV-1/events"), wantStatus: 405, wantError: &wantError{code: "method_not_allowed"}},
	} {
		sc.seed = seed
		t.Run(sc.name, sc.run)
	}
}
