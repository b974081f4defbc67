package sqlite

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/storetest"
)

// checkEncoding holds appendEvent to encoding/json: the same bytes, or
// an error from both.
func checkEncoding(t *testing.T, e *activitylog.Event) {
	t.Helper()
	want, wantErr := json.Marshal(e)
	got, err := appendEvent([]byte("prefix"), e)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("appendEvent error %v, encoding/json error %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("appendEvent lost the prefix: %s", got)
	}
	if got = got[len("prefix"):]; !bytes.Equal(got, want) {
		t.Fatalf("appendEvent differs from encoding/json\n got %s\nwant %s", got, want)
	}
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2026, 5, 17, 10, 11, 12, 123456789, time.UTC)
	minimal := activitylog.Event{ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindCustom, Action: "x", Severity: activitylog.SeverityInfo}
	type point struct{ X, Y int }
	cases := map[string]func(e *activitylog.Event){
		"minimal":      func(e *activitylog.Event) {},
		"zone":         func(e *activitylog.Event) { e.Time = now.In(time.FixedZone("X", -(3*3600 + 30*60))) },
		"whole second": func(e *activitylog.Event) { e.Time = now.Truncate(time.Second) },
		"zero time":    func(e *activitylog.Event) { e.Time = time.Time{} },
		"year 10000":   func(e *activitylog.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"escapes": func(e *activitylog.Event) {
			e.Message = "<a href=\"x\">&amp;</a>\\ \b\f\n\r\t\x00\x1f\x7f é 日本 \u2028\u2029 \xff\xfe end"
		},
		"actor extra":   func(e *activitylog.Event) { e.Actor.Extra = map[string]any{} },
		"actor only id": func(e *activitylog.Event) { e.Actor = activitylog.Actor{Type: activitylog.ActorService} },
		"object":        func(e *activitylog.Event) { e.Object = activitylog.Object{Repr: "only repr"} },
		"object id":     func(e *activitylog.Event) { e.Object = activitylog.Object{ID: "7", Repr: "r"} },
		"empty changes": func(e *activitylog.Event) { e.Changes = map[string]activitylog.Change{} },
		"changes": func(e *activitylog.Event) {
			e.Changes = map[string]activitylog.Change{"b": {}, "a": {Old: 1, New: int64(-2)}, "<k>": {Old: []any{nil, true, 1.5}, New: map[string]any{"z": nil}}}
		},
		"floats": func(e *activitylog.Event) {
			e.Extra = map[string]any{"a": 0.1, "b": 1e21, "c": 1e20, "d": 1e-6, "e": 1e-7, "f": -1.5e-10, "g": math.Copysign(0, -1),
				"h": 123456789.0, "i": math.MaxFloat64, "j": math.SmallestNonzeroFloat64, "k": 3.0}
		},
		"nan": func(e *activitylog.Event) { e.Extra = map[string]any{"x": math.NaN()} },
		"inf": func(e *activitylog.Event) { e.Changes = map[string]activitylog.Change{"x": {New: math.Inf(-1)}} },
		"other values": func(e *activitylog.Event) {
			e.Extra = map[string]any{"p": point{1, 2}, "t": now, "n": json.Number("12"), "u": uint8(3), "s": []string{"a", "<"}, "ns": []string(nil), "na": []any(nil), "nm": map[string]any(nil), "r": json.RawMessage(`{ "a" : 1 }`), "f32": float32(0.1)}
		},
		"unsupported": func(e *activitylog.Event) { e.Extra = map[string]any{"ch": make(chan int)} },
		"request":     func(e *activitylog.Event) { e.Request = activitylog.Request{Referer: "r"} },
		"request headers": func(e *activitylog.Event) {
			e.Request = activitylog.Request{Headers: map[string]string{}}
		},
		"geo":          func(e *activitylog.Event) { e.Request.Geo = activitylog.Geo{Lat: 1e-7, Lon: -180} },
		"geo city":     func(e *activitylog.Event) { e.Request.Geo = activitylog.Geo{City: "X"} },
		"geo minus 0":  func(e *activitylog.Event) { e.Request.Geo = activitylog.Geo{Lat: math.Copysign(0, -1)} },
		"response":     func(e *activitylog.Event) { e.Response = activitylog.Response{Body: "b"} },
		"response hdr": func(e *activitylog.Event) { e.Response = activitylog.Response{Headers: map[string]string{}} },
		"response all": func(e *activitylog.Event) {
			e.Response = activitylog.Response{Status: 200, Duration: -1, RequestBytes: 1, ResponseBytes: 2, Headers: map[string]string{"b": "1", "a": "<"}, Body: "x"}
		},
		"tool": func(e *activitylog.Event) { e.Tool, e.Category = "t", "c" },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			e := minimal
			change(&e)
			checkEncoding(t, &e)
		})
	}
	for i := range 20 {
		e := storetest.NewEvent(i)
		checkEncoding(t, &e)
	}
	cycle := map[string]any{}
	cycle["self"] = cycle
	e := minimal
	e.Extra = cycle
	if _, err := appendEvent(nil, &e); err == nil {
		t.Error("appendEvent of a map that contains itself succeeded")
	}
}

func TestAppendEventNamesTheField(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		field, value string
		change       func(e *activitylog.Event)
	}{
		{"extra.price", "NaN", func(e *activitylog.Event) { e.Extra = map[string]any{"ok": 1.0, "price": math.NaN()} }},
		{"extra.list.1.x", "+Inf", func(e *activitylog.Event) {
			e.Extra = map[string]any{"list": []any{1.0, map[string]any{"x": math.Inf(1)}}}
		}},
		{"actor.extra.ch", "chan int", func(e *activitylog.Event) { e.Actor.Extra = map[string]any{"ch": make(chan int)} }},
		{"changes.total.new", "-Inf", func(e *activitylog.Event) {
			e.Changes = map[string]activitylog.Change{"total": {Old: 1.0, New: math.Inf(-1)}}
		}},
		{"request.geo.lat", "NaN", func(e *activitylog.Event) { e.Request.Geo.Lat = math.NaN() }},
		{"time", "", func(e *activitylog.Event) { e.Time = time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		e := activitylog.Event{ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindCustom, Action: "x", Severity: activitylog.SeverityInfo}
		c.change(&e)
		_, err := appendEvent(nil, &e)
		var fe *activitylog.FieldError
		if !errors.As(refused(err), &fe) || fe.Field != c.field || (c.value != "" && fe.Value != c.value) {
			t.Errorf("%s: refused(%v) = %v, want a FieldError for %s %q", c.field, err, refused(err), c.field, c.value)
		}
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("GET /", "a<b>&c", "\xff\u2028", 1.5, int64(0))
	f.Add("", "", "", 1e21, int64(-1))
	f.Fuzz(func(t *testing.T, msg, key, val string, num float64, ns int64) {
		e := storetest.NewEvent(int(ns & 0xff))
		e.Message = msg
		e.Time = time.Unix(0, ns).In(time.FixedZone("", int(ns%50000)))
		e.Actor.Name = val
		e.Extra = map[string]any{key: val, val: num, "n": []any{num, key}}
		e.Changes = map[string]activitylog.Change{key: {Old: num, New: val}}
		e.Request.Headers = map[string]string{key: val}
		e.Request.Geo.Lat = num
		checkEncoding(t, &e)
	})
}

func BenchmarkAppendEvent(b *testing.B) {
	e := storetest.NewEvent(7)
	b.Run("appendEvent", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = appendEvent(buf[:0], &e)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(&e)
		}
	})
}
