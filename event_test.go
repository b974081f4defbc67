package activitylog_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

func validEvent() activitylog.Event {
	return activitylog.Event{ID: activitylog.NewID(time.Now()), Time: time.Now().UTC(), Kind: activitylog.KindCustom, Action: "x", Severity: activitylog.SeverityInfo}
}

func TestValidateLimits(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("a", activitylog.MaxTextField+1)
	cases := []struct {
		mod   func(*activitylog.Event)
		field string
	}{
		{func(e *activitylog.Event) { e.ID = activitylog.ID{} }, "id"},
		{func(e *activitylog.Event) { e.Time = time.Time{} }, "time"},
		{func(e *activitylog.Event) { e.Message = big }, "message"},
		{func(e *activitylog.Event) { e.Actor.ID = big }, "actor.id"},
		{func(e *activitylog.Event) { e.Request.Body = strings.Repeat("b", activitylog.MaxBodyField+1) }, "request.body"},
		{func(e *activitylog.Event) { e.Response.Duration = -1 }, "response.duration_ns"},
		{func(e *activitylog.Event) { e.Request.Geo.Lat = 91 }, "request.geo.lat"},
		{func(e *activitylog.Event) {
			e.Extra = map[string]any{}
			for i := 0; i <= activitylog.MaxMapEntries; i++ {
				e.Extra[strings.Repeat("k", i+1)] = i
			}
		}, "extra"},
	}
	for _, c := range cases {
		e := validEvent()
		c.mod(&e)
		var fe *activitylog.FieldError
		if err := e.Validate(); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("want field %q, got %v", c.field, err)
		}
		if fe != nil && len(fe.Value) > 40 {
			t.Errorf("error value not truncated: %d bytes", len(fe.Value))
		}
	}
	e := validEvent()
	if err := e.Validate(); err != nil {
		t.Errorf("valid event refused: %v", err)
	}
}

func TestKindActions(t *testing.T) {
	t.Parallel()
	for _, k := range activitylog.Kinds {
		if !k.Valid() {
			t.Errorf("%q not valid", k)
		}
		for _, a := range activitylog.ActionsFor(k) {
			e := validEvent()
			e.Kind, e.Action = k, a
			if err := e.Validate(); err != nil {
				t.Errorf("%s/%s refused: %v", k, a, err)
			}
		}
	}
}
