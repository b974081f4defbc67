package eventjson

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

// checkEncoding holds Append to encoding/json: the same bytes, or an
// error from both; and its spans to the JSON of changes and extra.
func checkEncoding(t *testing.T, e *activitylog.Event) {
	t.Helper()
	want, wantErr := json.Marshal(e)
	sp := Spans{Changes: [2]int{1, 2}, Extra: [2]int{3, 4}} // Append resets it
	got, err := Append([]byte("prefix"), e, &sp)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("Append error %v, encoding/json error %v", err, wantErr)
	}
	if err != nil {
		if _, ok := errors.AsType[*Error](err); !ok {
			t.Fatalf("Append error %T %v, want an *Error", err, err)
		}
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("Append lost the prefix: %s", got)
	}
	for _, c := range []struct {
		name string
		sp   [2]int
		v    any
		n    int
	}{{"changes", sp.Changes, e.Changes, len(e.Changes)}, {"extra", sp.Extra, e.Extra, len(e.Extra)}} {
		if c.n == 0 {
			if c.sp != [2]int{} {
				t.Errorf("%s span %v for an empty map", c.name, c.sp)
			}
			continue
		}
		w, _ := json.Marshal(c.v)
		if g := got[c.sp[0]:c.sp[1]]; !bytes.Equal(g, w) {
			t.Errorf("%s span %v holds %s, want %s", c.name, c.sp, g, w)
		}
	}
	if nilSp, _ := Append([]byte("prefix"), e, nil); !bytes.Equal(nilSp, got) {
		t.Fatalf("Append with nil spans differs\n got %s\nwant %s", nilSp, got)
	}
	if got = got[len("prefix"):]; !bytes.Equal(got, want) {
		t.Fatalf("Append differs from encoding/json\n got %s\nwant %s", got, want)
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
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
		"empty extra":   func(e *activitylog.Event) { e.Extra = map[string]any{} },
		"changes": func(e *activitylog.Event) {
			e.Changes = map[string]activitylog.Change{"b": {}, "a": {Old: 1, New: int64(-2)}, "<k>": {Old: []any{nil, true, 1.5}, New: map[string]any{"z": nil}}}
		},
		"changes and extra": func(e *activitylog.Event) {
			e.Changes = map[string]activitylog.Change{"b": {Old: 1.5, New: []any{"x", nil}}, "a\x00": {}}
			e.Extra = map[string]any{"n": map[string]any{"deep": []string{"1"}}, "t": true}
			e.Message, e.Tool = "<&> \"q\" \\ \x00 \xff ü", "t"
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
	var es []activitylog.Event
	es = append(es, storetest.Fixture(24)...)
	es = append(es, storetest.AnalyticsFixture(40)...)
	for i := range 20 {
		es = append(es, storetest.TrailEvent(i*37, now))
	}
	for i := range es {
		checkEncoding(t, &es[i])
	}
	cycle := map[string]any{}
	cycle["self"] = cycle
	e := minimal
	e.Extra = cycle
	if _, err := Append(nil, &e, nil); err == nil {
		t.Error("Append of a map that contains itself succeeded")
	}
}

// TestSpansAcrossDocuments: the spans are offsets into the whole buffer,
// so that a store appending a batch's documents one after another can
// slice each event's changes and extra out of it.
func TestSpansAcrossDocuments(t *testing.T) {
	var b []byte
	var spans []Spans
	es := storetest.Fixture(24)
	for i := range es {
		var sp Spans
		var err error
		if b, err = Append(b, &es[i], &sp); err != nil {
			t.Fatal(err)
		}
		spans = append(spans, sp)
	}
	var n int
	for i, sp := range spans {
		if len(es[i].Changes) == 0 {
			continue
		}
		n++
		w, _ := json.Marshal(es[i].Changes)
		if g := b[sp.Changes[0]:sp.Changes[1]]; !bytes.Equal(g, w) {
			t.Errorf("event %d: changes span %v holds %s, want %s", i, sp.Changes, g, w)
		}
	}
	if n == 0 {
		t.Fatal("no event of the fixture has changes")
	}
}

func TestAppendNamesTheField(t *testing.T) {
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
		_, err := Append(nil, &e, nil)
		ee, ok := errors.AsType[*Error](err)
		if !ok || ee.Field() != c.field || (c.value != "" && ee.Value != c.value) {
			t.Errorf("%s: Append error %v, want an *Error for %s %q", c.field, err, c.field, c.value)
		}
		fe, ok := errors.AsType[*activitylog.FieldError](Refused(err))
		if !ok || fe.Field != c.field || (c.value != "" && fe.Value != c.value) || !errors.Is(fe, activitylog.ErrInvalid) {
			t.Errorf("%s: Refused(%v) = %v, want a FieldError for %s %q", c.field, err, Refused(err), c.field, c.value)
		}
	}
	if fe, ok := errors.AsType[*activitylog.FieldError](Refused(errors.New("x"))); !ok || fe.Field != "event" {
		t.Errorf("Refused of another error = %v, want a FieldError for event", Refused(errors.New("x")))
	}
}

func TestDecode(t *testing.T) {
	e := storetest.NewEvent(3)
	e.Time = time.Date(2026, 5, 17, 10, 11, 12, 123456789, time.FixedZone("X", 3600))
	doc, err := Append(nil, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(doc, e.Time.UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(e.Time) || got.Time.Location() != time.UTC {
		t.Errorf("time = %v, want %v in UTC", got.Time, e.Time)
	}
	if got.ID != e.ID || got.Action != e.Action || got.Message != e.Message {
		t.Errorf("Decode = %+v, want %+v", got, e)
	}
	if _, err := Decode([]byte(`{"id":`), 0); err == nil {
		t.Error("Decode of a truncated document succeeded")
	}
}

func FuzzAppend(f *testing.F) {
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

func BenchmarkAppend(b *testing.B) {
	e := storetest.NewEvent(7)
	b.Run("Append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = Append(buf[:0], &e, nil)
		}
	})
	b.Run("Append spans", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		var sp Spans
		for b.Loop() {
			buf, _ = Append(buf[:0], &e, &sp)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(&e)
		}
	})
}

// checkOptional holds AppendOptional to encoding/json: the bytes it
// writes of e's document with the five fields Append always writes left
// out, or an error naming the same field as Append's.
func checkOptional(t *testing.T, e *activitylog.Event) {
	t.Helper()
	got, err := AppendOptional([]byte("prefix"), e)
	a := *e
	a.Time = time.Time{} // AppendOptional does not write it
	_, appendErr := Append(nil, &a, nil)
	if err != nil || appendErr != nil {
		ge, ok1 := errors.AsType[*Error](err)
		ae, ok2 := errors.AsType[*Error](appendErr)
		if !ok1 || !ok2 || ge.Field() != ae.Field() || ge.Value != ae.Value {
			t.Fatalf("AppendOptional error %v, Append error %v", err, appendErr)
		}
		return
	}
	// The fields Append always writes, of the zero event: strip them
	// from the document of e without them.
	head, _ := json.Marshal(activitylog.Event{})
	head = head[:len(head)-1]
	r := *e
	r.ID, r.Time, r.Kind, r.Action, r.Severity = activitylog.ID{}, time.Time{}, "", "", ""
	doc, err := json.Marshal(&r)
	if err != nil || !bytes.HasPrefix(doc, head) {
		t.Fatalf("encoding/json wrote %s, %v; want it to start %s", doc, err, head)
	}
	want := append([]byte("prefix{"), bytes.TrimPrefix(doc[len(head):], []byte(","))...)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendOptional differs from encoding/json\n got %s\nwant %s", got, want)
	}
	if !json.Valid(got[len("prefix"):]) {
		t.Fatalf("AppendOptional wrote invalid JSON: %s", got)
	}
}

func TestAppendOptional(t *testing.T) {
	now := time.Date(2026, 5, 17, 10, 11, 12, 123456789, time.UTC)
	minimal := activitylog.Event{ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindCustom, Action: "x", Severity: activitylog.SeverityInfo}
	for name, change := range map[string]func(e *activitylog.Event){
		"minimal":       func(e *activitylog.Event) {},
		"zero":          func(e *activitylog.Event) { *e = activitylog.Event{} },
		"bad time":      func(e *activitylog.Event) { e.Time = time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"message":       func(e *activitylog.Event) { e.Message = "<&>\x00\xff\u2028" },
		"only category": func(e *activitylog.Event) { e.Category = "c" },
		"only extra":    func(e *activitylog.Event) { e.Extra = map[string]any{"a": []any{1.5, nil}} },
		"empty maps": func(e *activitylog.Event) {
			e.Extra, e.Changes, e.Actor.Extra = map[string]any{}, map[string]activitylog.Change{}, map[string]any{}
		},
		"geo minus 0": func(e *activitylog.Event) { e.Request.Geo = activitylog.Geo{Lat: math.Copysign(0, -1)} },
		"nan":         func(e *activitylog.Event) { e.Extra = map[string]any{"ok": 1.0, "price": math.NaN()} },
		"geo nan":     func(e *activitylog.Event) { e.Request.Geo.Lat = math.NaN() },
		"inf change":  func(e *activitylog.Event) { e.Changes = map[string]activitylog.Change{"x": {New: math.Inf(-1)}} },
	} {
		t.Run(name, func(t *testing.T) {
			e := minimal
			change(&e)
			checkOptional(t, &e)
		})
	}
	var es []activitylog.Event
	es = append(es, storetest.Fixture(24)...)
	es = append(es, storetest.AnalyticsFixture(40)...)
	for i := range 20 {
		es = append(es, storetest.NewEvent(i), storetest.TrailEvent(i*37, now))
	}
	for i := range es {
		checkOptional(t, &es[i])
	}
	if _, err := AppendOptional(nil, &minimal); err != nil {
		t.Fatal(err)
	}
}

// TestAppendOptionalNamesTheField: its errors name the field as
// Append's do, so that Refused turns them into the same FieldError.
func TestAppendOptionalNamesTheField(t *testing.T) {
	e := storetest.NewEvent(1)
	e.Actor.Extra = map[string]any{"ch": make(chan int)}
	_, err := AppendOptional(nil, &e)
	fe, ok := errors.AsType[*activitylog.FieldError](Refused(err))
	if !ok || fe.Field != "actor.extra.ch" || fe.Value != "chan int" || !errors.Is(fe, activitylog.ErrInvalid) {
		t.Errorf("Refused(%v) = %v, want a FieldError for actor.extra.ch", err, Refused(err))
	}
}

// FuzzAppendOptional empties any set of e's optional fields (mask), so
// that any of them can be the first AppendOptional writes.
func FuzzAppendOptional(f *testing.F) {
	f.Add(uint16(0), "a<b>&c\xff", 1.5)
	f.Add(uint16(0xffff), "", 1e21)
	f.Add(uint16(0x7fe), "x", math.Copysign(0, -1))
	f.Fuzz(func(t *testing.T, mask uint16, s string, num float64) {
		e := storetest.NewEvent(int(mask & 0xff))
		e.Changes = map[string]activitylog.Change{s: {Old: num, New: s}}
		e.Extra = map[string]any{s: num}
		e.Request.Geo.Lat = num
		for i, empty := range []func(){
			func() { e.Message = "" }, func() { e.Tenant = "" }, func() { e.Service = "" },
			func() { e.Actor = activitylog.Actor{} }, func() { e.Object = activitylog.Object{} },
			func() { e.Changes = nil }, func() { e.Request = activitylog.Request{} },
			func() { e.Response = activitylog.Response{} }, func() { e.Tool = "" },
			func() { e.Category = "" }, func() { e.Extra = nil },
		} {
			if mask&(1<<i) != 0 {
				empty()
			}
		}
		checkOptional(t, &e)
	})
}
