package activitylog_test

import (
	"errors"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

func TestFilterNormalizeDefaults(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	f, err := activitylog.Filter{LastHours: 2}.Normalize(now)
	if err != nil {
		t.Fatal(err)
	}
	if f.Ordering != "-time" || f.Page != 1 || f.PageSize != 50 || !f.From.Equal(now.Add(-2*time.Hour)) || f.LastHours != 0 {
		t.Errorf("normalized %+v", f)
	}
	if !f.Descending() || f.Field() != "time" {
		t.Errorf("Descending %v Field %q", f.Descending(), f.Field())
	}
}

func TestFilterNormalizeRefusesBadValues(t *testing.T) {
	t.Parallel()
	now := time.Now()
	cursor := activitylog.EncodeCursor(activitylog.Cursor{Ordering: "status", ID: activitylog.NewID(now)})
	cases := []struct {
		f     activitylog.Filter
		field string
	}{
		{activitylog.Filter{Kind: "nope"}, "kind"},
		{activitylog.Filter{PageSize: 1001}, "page_size"},
		{activitylog.Filter{PageSize: -1}, "page_size"},
		{activitylog.Filter{Page: -2}, "page"},
		{activitylog.Filter{Ordering: "password"}, "ordering"},
		{activitylog.Filter{Ordering: "-"}, "ordering"},
		{activitylog.Filter{RemoteIP: "not-an-ip"}, "remote_ip"},
		{activitylog.Filter{StatusMin: 99}, "status_gte"},
		{activitylog.Filter{StatusMin: 500, StatusMax: 400}, "status_lte"},
		{activitylog.Filter{LastHours: -1}, "last_hours"},
		{activitylog.Filter{LastHours: 1, From: now}, "last_hours"},
		{activitylog.Filter{From: now, To: now.Add(-time.Hour)}, "date_to"},
		{activitylog.Filter{Cursor: "!!!"}, "cursor"},
		{activitylog.Filter{Cursor: "e30"}, "cursor"},  // "{}"
		{activitylog.Filter{Cursor: cursor}, "cursor"}, // made for another ordering
		{activitylog.Filter{Cursor: cursor, Ordering: "status", Page: 2}, "cursor"},
		{activitylog.Filter{Search: string(make([]byte, 257))}, "search"},
	}
	for _, c := range cases {
		_, err := c.f.Normalize(now)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("%+v: err %v, want a FieldError", c.f, err)
			continue
		}
		if fe.Field != c.field {
			t.Errorf("%+v: field %q, want %q (%v)", c.f, fe.Field, c.field, err)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := activitylog.Cursor{Ordering: "-time", Before: true, Int: 12345, ID: activitylog.NewID(time.Now())}
	got, err := activitylog.DecodeCursor(activitylog.EncodeCursor(c))
	if err != nil || got != c {
		t.Fatalf("got %+v %v, want %+v", got, err, c)
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(activitylog.EncodeCursor(activitylog.Cursor{Ordering: "-time", ID: activitylog.NewID(time.Now())}))
	f.Add("e30")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := activitylog.DecodeCursor(s)
		if err != nil {
			var fe *activitylog.FieldError
			if !errors.As(err, &fe) || fe.Field != "cursor" {
				t.Fatalf("error %v is not a cursor FieldError", err)
			}
			return
		}
		if c.ID.IsZero() {
			t.Fatal("accepted a cursor without id")
		}
	})
}
