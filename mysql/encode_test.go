package mysql

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/storetest"
)

// TestEncodeMatchesEncodingJSON holds the hand-written encoder to
// encoding/json, and its spans to the JSON of changes and extra.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	var es []activitylog.Event
	es = append(es, storetest.Fixture(24)...)
	es = append(es, storetest.AnalyticsFixture(40)...)
	for i := range 20 {
		es = append(es, storetest.TrailEvent(i*37, time.Now()))
	}
	es = append(es, activitylog.Event{ID: activitylog.NewID(time.Now()), Time: time.Now(), Kind: activitylog.KindCRUD,
		Action: "update", Severity: activitylog.SeverityInfo, Message: "<&> \"q\" \\ \x00 \xff ü",
		Changes: map[string]activitylog.Change{"b": {Old: 1.5, New: []any{"x", nil}}, "a\x00": {}},
		Extra:   map[string]any{"n": map[string]any{"deep": []string{"1"}}, "t": true}})
	var sp spans
	for i := range es {
		e := &es[i]
		got, err := appendEvent([]byte("prefix"), e, &sp)
		if err != nil {
			t.Fatal(err)
		}
		got = got[len("prefix"):]
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want)
			continue
		}
		for _, c := range []struct {
			name string
			sp   [2]int
			v    any
			n    int
		}{{"changes", sp.changes, e.Changes, len(e.Changes)}, {"extra", sp.extra, e.Extra, len(e.Extra)}} {
			if c.n == 0 {
				if c.sp != [2]int{} {
					t.Errorf("event %d: %s span %v for an empty map", i, c.name, c.sp)
				}
				continue
			}
			w, _ := json.Marshal(c.v)
			if g := got[c.sp[0]:c.sp[1]]; !bytes.Equal(g, w) {
				t.Errorf("event %d: %s span holds %s, want %s", i, c.name, g, w)
			}
		}
	}
}

// TestAppendEscaped checks the literal escaping, and ASCII lowering.
func TestAppendEscaped(t *testing.T) {
	for _, c := range []struct {
		in    string
		lower bool
		want  string
	}{
		{"plain", false, "plain"},
		{`it's \ "q" ` + "\x00\x1a\n\r", false, `it\'s \\ "q" \0\Z` + "\n\r"},
		{"MiXed ÄÖ Straße", true, "mixed ÄÖ straße"},
		{"", true, ""},
	} {
		if got := string(appendEscaped(nil, c.in, c.lower)); got != c.want {
			t.Errorf("appendEscaped(%q, %v) = %q, want %q", c.in, c.lower, got, c.want)
		}
	}
}
