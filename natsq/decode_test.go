package natsq

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	gojson "github.com/goccy/go-json"
)

// richEvent fills every field of an event, with values that are hard to
// encode: escapes, unicode, nested any values, large and small numbers.
func richEvent(r *rand.Rand) activitylog.Event {
	str := func() string {
		parts := []string{"a", "é", "日本", `"q"`, `\`, "\n\t", "\u2028", "<>&", "😀", " ", "x" + strconv.Itoa(r.IntN(1e6))}
		var b strings.Builder
		for range r.IntN(6) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		return b.String()
	}
	var value func(depth int) any
	value = func(depth int) any {
		switch k := r.IntN(7); {
		case k == 0:
			return nil
		case k == 1:
			return r.IntN(2) == 0
		case k == 2:
			return []float64{0, -1.5, 1e21, 123456789012345, 5e-324, 0.1}[r.IntN(6)]
		case k == 3 || depth > 2:
			return str()
		case k == 4:
			return []any{value(depth + 1), value(depth + 1)}
		default:
			return map[string]any{str(): value(depth + 1), "k": value(depth + 1)}
		}
	}
	loc := time.FixedZone("x", 5*3600+1800)
	t := time.Date(2020+r.IntN(5), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e9), loc)
	return activitylog.Event{
		ID: activitylog.NewID(t), Time: t, Kind: activitylog.KindCRUD, Action: "update",
		Severity: activitylog.SeverityWarning, Message: str(), Tenant: str(), Service: str(),
		Actor:   activitylog.Actor{ID: str(), Name: str(), Email: str(), Type: activitylog.ActorUser, Extra: map[string]any{"a": value(0)}},
		Object:  activitylog.Object{Type: str(), ID: str(), Repr: str()},
		Changes: map[string]activitylog.Change{"f": {Old: value(0), New: value(0)}, str(): {Old: nil, New: value(0)}},
		Request: activitylog.Request{RequestID: str(), TraceID: str(), Method: "GET", Path: "/" + str(), Query: str(),
			RemoteIP: "2001:db8::1", UserAgent: str(), Geo: activitylog.Geo{Country: str(), Lat: -33.5, Lon: 151.25},
			Headers: map[string]string{"X-A": str()}, Body: str()},
		Response: activitylog.Response{Status: 200 + r.IntN(300), Duration: time.Duration(r.Int64N(1e12)), RequestBytes: r.Int64N(1 << 40),
			ResponseBytes: 7, Headers: map[string]string{"B": str()}, Body: str()},
		Tool: str(), Category: str(), Extra: map[string]any{"x": value(0), "y": value(0), str(): value(0)},
	}
}

// goccy/go-json decodes exactly what encoding/json decodes, for every
// event the Publisher can send.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		e := richEvent(r)
		data, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		var std, fast activitylog.Event
		if err := json.Unmarshal(data, &std); err != nil {
			t.Fatal(err)
		}
		if err := gojson.Unmarshal(data, &fast); err != nil {
			t.Fatalf("event %d: goccy: %v\n%s", i, err, data)
		}
		if !reflect.DeepEqual(std, fast) {
			t.Fatalf("event %d decodes differently:\nstd  %#v\nfast %#v\n%s", i, std, fast, data)
		}
		var got activitylog.Event
		if err := decodeEvent(data, &got); err != nil || !reflect.DeepEqual(got, std) {
			t.Fatalf("decodeEvent: %v", err)
		}
	}
}

// What encoding/json refuses, decodeEvent refuses; what it accepts,
// decodeEvent accepts, as encoding/json decodes it.
func TestDecodeEventFallsBackToEncodingJSON(t *testing.T) {
	t.Parallel()
	valid := `{"id":"01890A5D-AC96-774B-BCCE-B302099A8057","time":"2026-01-02T03:04:05Z","kind":"custom","action":"x","severity":"info"}`
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{valid, true},
		{strings.Replace(valid, `"kind"`, `"KIND"`, 1), true}, // case-insensitive names, as encoding/json
		{strings.Replace(valid, `}`, `,"unknown":[1,{"a":null}]}`, 1), true},
		{"not json", false},
		{strings.Replace(valid, `"custom"`, `"nope"`, 1), false},
		{strings.Replace(valid, `"x"`, `""`, 1), false},
		{`{"id":"00000000-0000-0000-0000-000000000000"}`, false},
		{valid[:len(valid)-1], false},
	} {
		var got activitylog.Event
		err := decodeEvent([]byte(tc.in), &got)
		if (err == nil) != tc.ok {
			t.Errorf("decodeEvent(%s) = %v, want ok %v", tc.in, err, tc.ok)
		}
		if tc.ok {
			var std activitylog.Event
			_ = json.Unmarshal([]byte(tc.in), &std)
			if !reflect.DeepEqual(got, std) {
				t.Errorf("decodeEvent(%s) = %+v, encoding/json %+v", tc.in, got, std)
			}
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		e := richEvent(r)
		data, _ := json.Marshal(&e)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, std activitylog.Event
		err := decodeEvent(data, &got)
		serr := json.Unmarshal(data, &std)
		if serr == nil {
			serr = std.Validate()
		}
		if (err == nil) != (serr == nil) {
			t.Fatalf("decodeEvent err %v, encoding/json %v", err, serr)
		}
		if err == nil {
			a, _ := json.Marshal(&got)
			b, _ := json.Marshal(&std)
			if string(a) != string(b) {
				t.Fatalf("decoded differently:\n%s\n%s", a, b)
			}
		}
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	e := richEvent(r)
	data, _ := json.Marshal(&e)
	for _, d := range []struct {
		name string
		fn   func([]byte, any) error
	}{{"encoding_json", json.Unmarshal}, {"goccy", gojson.Unmarshal}, {"decodeEvent", func(b []byte, v any) error { return decodeEvent(b, v.(*activitylog.Event)) }}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var out activitylog.Event
				if err := d.fn(data, &out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
