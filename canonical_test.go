package activitylog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

var updateCanonical = flag.Bool("update-canonical", false,
	"rewrite testdata/canonical/*.canonical and SHA256SUMS from the *.json events; "+
		"a changed vector is a new CanonicalVersion, never a silent change")

// jcs is a generic RFC 8785 serializer of a JSON text, built on the
// encoder's value path; the tests use it to hold the event encoder's
// fixed member order and formats to JCS.
func jcs(t testing.TB, text []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(text, &v); err != nil {
		t.Fatalf("decode %q: %v", text, err)
	}
	b, err := appendCanonValue(nil, v, 0)
	if err != nil {
		t.Fatalf("jcs(%q): %v", text, err.fieldError())
	}
	return b
}

func mustCanonical(t testing.TB, e *Event) []byte {
	t.Helper()
	b, err := Canonical(e)
	if err != nil {
		t.Fatalf("Canonical: %v", err)
	}
	return b
}

// RFC 8785 Appendix B: IEEE-754 bit patterns and their serialization.
func TestCanonicalNumbersRFC8785(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ bits, want string }{
		{"0000000000000000", "0"},
		{"8000000000000000", "0"}, // minus zero
		{"0000000000000001", "5e-324"},
		{"8000000000000001", "-5e-324"},
		{"7fefffffffffffff", "1.7976931348623157e+308"},
		{"ffefffffffffffff", "-1.7976931348623157e+308"},
		{"4340000000000000", "9007199254740992"},
		{"c340000000000000", "-9007199254740992"},
		{"4430000000000000", "295147905179352830000"},
		{"7fffffffffffffff", ""}, // NaN: an error
		{"7ff0000000000000", ""}, // Infinity: an error
		{"44b52d02c7e14af5", "9.999999999999997e+22"},
		{"44b52d02c7e14af6", "1e+23"},
		{"44b52d02c7e14af7", "1.0000000000000001e+23"},
		{"444b1ae4d6e2ef4e", "999999999999999700000"},
		{"444b1ae4d6e2ef4f", "999999999999999900000"},
		{"444b1ae4d6e2ef50", "1e+21"},
		{"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
		{"3eb0c6f7a0b5ed8d", "0.000001"},
		{"41b3de4355555553", "333333333.3333332"},
		{"41b3de4355555554", "333333333.33333325"},
		{"41b3de4355555555", "333333333.3333333"},
		{"41b3de4355555556", "333333333.3333334"},
		{"41b3de4355555557", "333333333.33333343"},
		{"becbf647612f3696", "-0.0000033333333333333333"},
		{"43143ff3c1cb0959", "1424953923781206.2"}, // round to even
		// More edges of the two notations.
		{fmt.Sprintf("%016x", math.Float64bits(1e-7)), "1e-7"},
		{fmt.Sprintf("%016x", math.Float64bits(-1.5e-7)), "-1.5e-7"},
		{fmt.Sprintf("%016x", math.Float64bits(1e20)), "100000000000000000000"},
		{fmt.Sprintf("%016x", math.Float64bits(123e-20)), "1.23e-18"},
		{fmt.Sprintf("%016x", math.Float64bits(0.1)), "0.1"},
		{fmt.Sprintf("%016x", math.Float64bits(1<<53+2)), "9007199254740994"},
		{fmt.Sprintf("%016x", math.Float64bits(-1e300)), "-1e+300"},
	} {
		bits, err := strconv.ParseUint(c.bits, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		f := math.Float64frombits(bits)
		got, ok := appendCanonFloat([]byte("x"), f)
		switch {
		case c.want == "" && ok:
			t.Errorf("%s (%v): got %s, want an error", c.bits, f, got)
		case c.want != "" && (!ok || string(got) != "x"+c.want):
			t.Errorf("%s (%v): got %s (ok %v), want x%s", c.bits, f, got, ok, c.want)
		}
	}
}

// esNumber is ECMAScript's Number::toString (ECMA-262 §6.1.6.1.20),
// written from the specification's steps, to check appendCanonFloat on
// random numbers.
func esNumber(f float64) string {
	if f == 0 {
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// The shortest digits s and the exponent n, with f = 0.s × 10^n.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	s := "+"
	if n-1 < 0 {
		s = "-"
	}
	if k == 1 {
		return sign + digits + "e" + s + strconv.Itoa(abs(n-1))
	}
	return sign + digits[:1] + "." + digits[1:] + "e" + s + strconv.Itoa(abs(n-1))
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

func TestCanonicalNumbersRandom(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		var f float64
		switch i % 4 {
		case 0:
			f = math.Float64frombits(r.Uint64())
		case 1: // integers around 2^53
			f = float64(int64(r.Uint64()>>(r.IntN(64))) * int64(1-2*r.IntN(2)))
		case 2: // short decimals at every scale
			f, _ = strconv.ParseFloat(fmt.Sprintf("%de%d", r.IntN(100000), r.IntN(60)-30), 64)
		default: // the edges of fixed notation
			f = []float64{1e-6, 1e21}[r.IntN(2)] * (1 + (r.Float64()-0.5)*1e-15)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		got, ok := appendCanonFloat(nil, f)
		if want := esNumber(f); !ok || string(got) != want {
			t.Fatalf("%v (%016x): got %s, want %s", f, math.Float64bits(f), got, want)
		}
		if back, err := strconv.ParseFloat(string(got), 64); err != nil || back != f && !(f == 0 && back == 0) {
			t.Fatalf("%s reads back as %v, %v; want %v", got, back, err, f)
		}
	}
}

// The examples of RFC 8785 §3.2.2 and §3.2.3, and the "weird" vector of
// its reference implementation (cyberphone/json-canonicalization),
// given there in hex.
func TestCanonicalRFC8785Examples(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, in, want string }{
		{"3.2.2", `{
			"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
			"string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
			"literals": [null, true, false]
		}`, `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`},
		{"3.2.3", `{
			"\u20ac": "Euro Sign",
			"\r": "Carriage Return",
			"\ufb33": "Hebrew Letter Dalet With Dagesh",
			"1": "One",
			"\ud83d\ude00": "Emoji: Grinning Face",
			"\u0080": "Control",
			"\u00f6": "Latin Small Letter O With Diaeresis"
		}`, "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\"," +
			"\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		{"weird", `{
			"\u20ac": "Euro Sign",
			"\r": "Carriage Return",
			"\u000a": "Newline",
			"1": "One",
			"\u0080": "Control\u007f",
			"\ud83d\ude02": "Smiley",
			"\u00f6": "Latin Small Letter O With Diaeresis",
			"\ufb33": "Hebrew Letter Dalet With Dagesh",
			"</script>": "Browser Challenge"
		}`, string(mustHex(t, "7b225c6e223a224e65776c696e65222c225c72223a2243617272696167652052657475726e222c2231223a224f6e65222c"+
			"223c2f7363726970743e223a2242726f77736572204368616c6c656e6765222c22c280223a22436f6e74726f6c7f222c22c3b6223a224c6174"+
			"696e20536d616c6c204c6574746572204f205769746820446961657265736973222c22e282ac223a224575726f205369676e222c22f09f9882"+
			"223a22536d696c6579222c22efacb3223a22486562726577204c65747465722044616c6574205769746820446167657368227d"))},
		{"arrays", `[56, {"d": true, "10": null, "1": [ ]}]`, `[56,{"1":[],"10":null,"d":true}]`},
		{"controls", `"\u0000\b\f\n\r\t\u001f\u007f\u2028 \"\\ / < > &"`, `"\u0000\b\f\n\r\t\u001f` + "\x7f\u2028" + ` \"\\ / < > &"`},
	} {
		if got := jcs(t, []byte(c.in)); string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCompareUTF16(t *testing.T) {
	t.Parallel()
	alphabet := []rune{0, 'a', 'b', 0x7f, 0x80, 0xff, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfb33, 0xffff, 0x10000, 0x1f600, 0x10ffff}
	r := rand.New(rand.NewPCG(3, 4))
	word := func() string {
		rs := make([]rune, r.IntN(4))
		for i := range rs {
			rs[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(rs)
	}
	for range 100_000 {
		a, b := word(), word()
		want := slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
		if got := compareUTF16(a, b); got != want {
			t.Fatalf("compareUTF16(%+q, %+q) = %d, want %d", a, b, got, want)
		}
	}
}

func TestCanonPlain8(t *testing.T) {
	t.Parallel()
	plain := func(w uint64) bool {
		for range 8 {
			if c := byte(w); c >= 0x80 || canonEscape[c] {
				return false
			}
			w >>= 8
		}
		return true
	}
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 1_000_000 {
		w := r.Uint64()
		if i%2 == 0 { // mostly plain, with at most one byte of any value
			w = w&0x3f3f3f3f3f3f3f3f | 0x2020202020202020
			shift := 8 * r.IntN(8)
			w = w&^(0xff<<shift) | uint64(r.IntN(256))<<shift
		}
		if got, want := canonPlain8(w), plain(w); got != want {
			t.Fatalf("canonPlain8(%016x) = %v, want %v", w, got, want)
		}
	}
}

var canonTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func minimalEvent() Event {
	id, _ := ParseID("019b7c1e-8f00-7000-8000-000000000001")
	return Event{ID: id, Time: canonTime, Kind: KindCustom, Action: "x", Severity: SeverityInfo}
}

func TestCanonicalRules(t *testing.T) {
	t.Parallel()
	const minimal = `{"action":"x","id":"019b7c1e-8f00-7000-8000-000000000001","kind":"custom","severity":"info","time":"2026-01-02T03:04:05.000000000Z","v":1}`
	withExtra := func(v string) string {
		return strings.Replace(minimal, `,"id"`, `,"extra":`+v+`,"id"`, 1)
	}
	type point struct {
		X int    `json:"x"`
		Y string `json:"y,omitempty"`
	}
	cases := []struct {
		name   string
		change func(e *Event)
		want   string
	}{
		{"minimal", func(e *Event) {}, minimal},
		{"zone and nanoseconds", func(e *Event) {
			e.Time = time.Date(2026, 1, 2, 8, 34, 5, 120, time.FixedZone("IST", 5*3600+30*60))
		}, strings.Replace(minimal, ".000000000Z", ".000000120Z", 1)},
		{"zero time", func(e *Event) { e.Time = time.Time{} },
			strings.Replace(minimal, "2026-01-02T03:04:05", "0001-01-01T00:00:00", 1)},
		{"empty objects are left out", func(e *Event) {
			e.Actor.Extra = map[string]any{}
			e.Request.Headers = map[string]string{}
			e.Request.Geo.Lat = math.Copysign(0, -1)
			e.Response.Headers = map[string]string{}
			e.Changes = map[string]Change{}
			e.Extra = map[string]any{}
		}, minimal},
		{"empty values inside extra are kept", func(e *Event) {
			e.Extra = map[string]any{"m": map[string]any{}, "a": []any{}, "n": []any(nil), "s": "", "z": 0.0, "f": false}
		}, withExtra(`{"a":[],"f":false,"m":{},"n":null,"s":"","z":0}`)},
		{"integers in extra are float64", func(e *Event) {
			e.Extra = map[string]any{"a": 1 << 53, "b": int64(1<<53 + 1), "c": uint64(math.MaxUint64), "d": int8(-3), "e": uint16(7)}
		}, withExtra(`{"a":9007199254740992,"b":9007199254740992,"c":18446744073709552000,"d":-3,"e":7}`)},
		{"json.Number and float32", func(e *Event) {
			e.Extra = map[string]any{"a": json.Number("9007199254740993"), "b": json.Number("1.50"), "c": json.Number(""), "d": float32(0.1), "e": json.Number("-0")}
		}, withExtra(`{"a":9007199254740992,"b":1.5,"c":0,"d":0.1,"e":0}`)},
		{"other types as their JSON decodes", func(e *Event) {
			e.Extra = map[string]any{"p": point{X: 1}, "t": canonTime, "k": KindAuth, "l": []int{3, 1}, "r": json.RawMessage(`{ "b" : 1, "a" : [ 2 ] }`),
				"m": map[string]int{"z": 1, "y": 2}, "s": []string{"b", "a"}, "ss": map[string]string{"b": "1", "a": "2"}, "ptr": new(int)}
		}, withExtra(`{"k":"auth","l":[3,1],"m":{"y":2,"z":1},"p":{"x":1},"ptr":0,"r":{"a":[2],"b":1},"s":["b","a"],"ss":{"a":"2","b":"1"},"t":"2026-01-02T03:04:05Z"}`)},
		{"invalid UTF-8", func(e *Event) {
			e.Action = "a\xffb\xe6\x97c\xed\xa0\x80"
		}, strings.Replace(minimal, `"action":"x"`, `"action":"a`+"\uFFFD"+`b`+"\uFFFD\uFFFD"+`c`+"\uFFFD\uFFFD\uFFFD"+`"`, 1)},
		{"invalid UTF-8 keys that collide keep the last by bytes", func(e *Event) {
			e.Extra = map[string]any{"\xfe": 1, "\xff": 2, "\uFFFD": 3, "a\xff": 4}
		}, withExtra(`{"a` + "\uFFFD" + `":4,"` + "\uFFFD" + `":2}`)},
		{"typed integers are exact", func(e *Event) {
			e.Response = Response{Duration: math.MaxInt64, Status: -1, RequestBytes: 1<<53 + 1}
		}, `{"action":"x","id":"019b7c1e-8f00-7000-8000-000000000001","kind":"custom","response":{"duration_ns":9223372036854775807,"request_bytes":9007199254740993,"status":-1},"severity":"info","time":"2026-01-02T03:04:05.000000000Z","v":1}`},
		{"changes keep null old and new", func(e *Event) {
			e.Changes = map[string]Change{"b": {}, "a": {Old: "x", New: []any{1.5, nil}}}
		}, strings.Replace(minimal, `,"id"`, `,"changes":{"a":{"new":[1.5,null],"old":"x"},"b":{"new":null,"old":null}},"id"`, 1)},
		{"geo", func(e *Event) { e.Request.Geo = Geo{Lat: 1e-7, Lon: -180} },
			strings.Replace(minimal, `,"severity"`, `,"request":{"geo":{"lat":1e-7,"lon":-180}},"severity"`, 1)},
	}
	for _, c := range cases {
		e := minimalEvent()
		c.change(&e)
		got, err := AppendCanonical([]byte("prefix"), &e)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !bytes.HasPrefix(got, []byte("prefix")) || string(got[6:]) != c.want {
			t.Errorf("%s:\n got %s\nwant prefix%s", c.name, got, c.want)
		}
	}
}

func TestCanonicalErrors(t *testing.T) {
	t.Parallel()
	cycle := map[string]any{}
	cycle["self"] = cycle
	for _, c := range []struct {
		field, value string
		change       func(e *Event)
	}{
		{"extra.price", "NaN", func(e *Event) { e.Extra = map[string]any{"ok": 1.0, "price": math.NaN()} }},
		{"extra.list.1.x", "+Inf", func(e *Event) { e.Extra = map[string]any{"list": []any{1.0, map[string]any{"x": math.Inf(1)}}} }},
		{"extra.f", "-Inf", func(e *Event) { e.Extra = map[string]any{"f": float32(math.Inf(-1))} }},
		{"extra.n", "0x10", func(e *Event) { e.Extra = map[string]any{"n": json.Number("0x10")} }},
		{"extra.n", "1e400", func(e *Event) { e.Extra = map[string]any{"n": json.Number("1e400")} }},
		{"actor.extra.ch", "chan int", func(e *Event) { e.Actor.Extra = map[string]any{"ch": make(chan int)} }},
		{"changes.total.new", "-Inf", func(e *Event) { e.Changes = map[string]Change{"total": {Old: 1.0, New: math.Inf(-1)}} }},
		{"changes.total.old", "NaN", func(e *Event) { e.Changes = map[string]Change{"total": {Old: math.NaN()}} }},
		{"request.geo.lat", "NaN", func(e *Event) { e.Request.Geo.Lat = math.NaN() }},
		{"request.geo.lon", "+Inf", func(e *Event) { e.Request.Geo.Lon = math.Inf(1) }},
		{"time", "10000-01-01T00:00:00Z", func(e *Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"time", "-0001-12-31T23:59:59Z", func(e *Event) { e.Time = time.Date(0, 1, 1, 0, 0, -1, 0, time.UTC) }},
		{"extra.self.self.self.self.self.self.self.self.self.self.self.self.self.self.self.self", "map", func(e *Event) { e.Extra = cycle }},
	} {
		e := minimalEvent()
		c.change(&e)
		dst := []byte("prefix")
		got, err := AppendCanonical(dst, &e)
		var fe *FieldError
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) || fe.Field != c.field || fe.Value != c.value {
			t.Errorf("%s: got %v, want a FieldError for %s %q", c.field, err, c.field, c.value)
		}
		if string(got) != "prefix" {
			t.Errorf("%s: dst after an error = %q, want it unchanged", c.field, got)
		}
	}
	// The year 0 is the earliest that RFC 3339 can write.
	e := minimalEvent()
	e.Time = time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)).In(time.UTC).Add(time.Hour)
	if got := mustCanonical(t, &e); !bytes.Contains(got, []byte(`"time":"0000-01-01T00:00:00.000000000Z"`)) {
		t.Errorf("year 0: %s", got)
	}
}

// canonicalFields lists every field of Event and of the types nested in
// it, by the path of its JSON member and its Go type, each with a way to
// set it to a value that is not empty. A field missing here fails
// TestCanonicalKnowsEveryField: adding a field to Event means deciding
// how the canonical encoding carries it, which is a new
// CanonicalVersion (see docs/integrity.md).
var canonicalFields = map[string]struct {
	typ string
	set func(e *Event)
}{
	"id":                       {"activitylog.ID", func(e *Event) { e.ID[15]++ }},
	"time":                     {"time.Time", func(e *Event) { e.Time = e.Time.Add(1) }},
	"kind":                     {"activitylog.Kind", func(e *Event) { e.Kind = KindAuth }},
	"action":                   {"string", func(e *Event) { e.Action = "y" }},
	"severity":                 {"activitylog.Severity", func(e *Event) { e.Severity = SeverityError }},
	"message":                  {"string", func(e *Event) { e.Message = "m" }},
	"tenant":                   {"string", func(e *Event) { e.Tenant = "t" }},
	"service":                  {"string", func(e *Event) { e.Service = "s" }},
	"actor.id":                 {"string", func(e *Event) { e.Actor.ID = "1" }},
	"actor.name":               {"string", func(e *Event) { e.Actor.Name = "n" }},
	"actor.email":              {"string", func(e *Event) { e.Actor.Email = "e" }},
	"actor.type":               {"activitylog.ActorType", func(e *Event) { e.Actor.Type = ActorUser }},
	"actor.extra":              {"map[string]interface {}", func(e *Event) { e.Actor.Extra = map[string]any{"k": "v"} }},
	"object.type":              {"string", func(e *Event) { e.Object.Type = "t" }},
	"object.id":                {"string", func(e *Event) { e.Object.ID = "1" }},
	"object.repr":              {"string", func(e *Event) { e.Object.Repr = "r" }},
	"changes":                  {"map[string]activitylog.Change", func(e *Event) { e.Changes = map[string]Change{"k": {}} }},
	"changes.*.old":            {"interface {}", func(e *Event) { e.Changes = map[string]Change{"k": {Old: "o"}} }},
	"changes.*.new":            {"interface {}", func(e *Event) { e.Changes = map[string]Change{"k": {New: "n"}} }},
	"request.request_id":       {"string", func(e *Event) { e.Request.RequestID = "r" }},
	"request.trace_id":         {"string", func(e *Event) { e.Request.TraceID = "t" }},
	"request.span_id":          {"string", func(e *Event) { e.Request.SpanID = "s" }},
	"request.method":           {"string", func(e *Event) { e.Request.Method = "GET" }},
	"request.host":             {"string", func(e *Event) { e.Request.Host = "h" }},
	"request.path":             {"string", func(e *Event) { e.Request.Path = "/" }},
	"request.route":            {"string", func(e *Event) { e.Request.Route = "GET /" }},
	"request.query":            {"string", func(e *Event) { e.Request.Query = "q=1" }},
	"request.remote_ip":        {"string", func(e *Event) { e.Request.RemoteIP = "192.0.2.1" }},
	"request.user_agent":       {"string", func(e *Event) { e.Request.UserAgent = "ua" }},
	"request.browser":          {"string", func(e *Event) { e.Request.Browser = "b" }},
	"request.platform":         {"string", func(e *Event) { e.Request.Platform = "p" }},
	"request.os":               {"string", func(e *Event) { e.Request.OS = "o" }},
	"request.device":           {"string", func(e *Event) { e.Request.Device = "d" }},
	"request.origin":           {"string", func(e *Event) { e.Request.Origin = "o" }},
	"request.referer":          {"string", func(e *Event) { e.Request.Referer = "r" }},
	"request.geo.country":      {"string", func(e *Event) { e.Request.Geo.Country = "c" }},
	"request.geo.country_code": {"string", func(e *Event) { e.Request.Geo.CountryCode = "CC" }},
	"request.geo.city":         {"string", func(e *Event) { e.Request.Geo.City = "c" }},
	"request.geo.lat":          {"float64", func(e *Event) { e.Request.Geo.Lat = 1.5 }},
	"request.geo.lon":          {"float64", func(e *Event) { e.Request.Geo.Lon = -1.5 }},
	"request.headers":          {"map[string]string", func(e *Event) { e.Request.Headers = map[string]string{"k": "v"} }},
	"request.body":             {"string", func(e *Event) { e.Request.Body = "b" }},
	"response.status":          {"int", func(e *Event) { e.Response.Status = 200 }},
	"response.duration_ns":     {"time.Duration", func(e *Event) { e.Response.Duration = 5 }},
	"response.request_bytes":   {"int64", func(e *Event) { e.Response.RequestBytes = 6 }},
	"response.response_bytes":  {"int64", func(e *Event) { e.Response.ResponseBytes = 7 }},
	"response.headers":         {"map[string]string", func(e *Event) { e.Response.Headers = map[string]string{"k": "v"} }},
	"response.body":            {"string", func(e *Event) { e.Response.Body = "b" }},
	"tool":                     {"string", func(e *Event) { e.Tool = "t" }},
	"category":                 {"string", func(e *Event) { e.Category = "c" }},
	"extra":                    {"map[string]interface {}", func(e *Event) { e.Extra = map[string]any{"k": "v"} }},
}

// eventFields walks the Event type: every field by its JSON path and
// Go type, structs descended into, and the Change of the changes map
// as "changes.*".
func eventFields(t reflect.Type, prefix string, out map[string]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			name = f.Name // no tag: the field is in the JSON form by its Go name
		}
		path := prefix + name
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]():
			eventFields(f.Type, path+".", out)
		case f.Type.Kind() == reflect.Map && f.Type.Elem().Kind() == reflect.Struct:
			out[path] = f.Type.String()
			eventFields(f.Type.Elem(), path+".*.", out)
		default:
			out[path] = f.Type.String()
		}
	}
}

func TestCanonicalKnowsEveryField(t *testing.T) {
	t.Parallel()
	fields := map[string]string{}
	eventFields(reflect.TypeFor[Event](), "", fields)
	for path, typ := range fields {
		if f, ok := canonicalFields[path]; !ok {
			t.Errorf("Event has field %s (%s), which the canonical encoding does not know: decide how AppendCanonical "+
				"encodes it (a new CanonicalVersion, docs/integrity.md) and list it in canonicalFields", path, typ)
		} else if f.typ != typ {
			t.Errorf("field %s is now %s, was %s when the canonical encoding was defined: decide how AppendCanonical "+
				"encodes it (a new CanonicalVersion, docs/integrity.md) and update canonicalFields", path, typ, f.typ)
		}
	}
	for path := range canonicalFields {
		if _, ok := fields[path]; !ok {
			t.Errorf("canonicalFields lists %s, which Event no longer has", path)
		}
	}
}

// Every field reaches the canonical bytes, at its JSON path.
func TestCanonicalCoversEveryField(t *testing.T) {
	t.Parallel()
	base := minimalEvent()
	baseBytes := mustCanonical(t, &base)
	for path, f := range canonicalFields {
		e := minimalEvent()
		f.set(&e)
		got := mustCanonical(t, &e)
		if bytes.Equal(got, baseBytes) {
			t.Errorf("setting %s does not change the canonical bytes %s", path, got)
			continue
		}
		var doc any
		if err := json.Unmarshal(got, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, name := range strings.Split(path, ".") {
			m, ok := doc.(map[string]any)
			if name == "*" {
				name = "k"
			}
			if doc, ok = m[name]; !ok {
				t.Errorf("setting %s: no member %q in %s", path, name, got)
				break
			}
		}
	}
}

// randomEvent returns an event whose fields are set at random, with
// the strings, numbers, keys and Go types that the canonical encoding
// treats specially. Its time has a whole-minute offset, which RFC 3339
// (and so its JSON form) can write.
func randomEvent(r *rand.Rand) Event {
	str := func() string {
		parts := []string{"a", "Z", "0", " ", `"`, `\`, "/", "\x00", "\x1f", "\n", "\t", "\x7f", "<", "&", "é", "日本", "\u2028",
			"\ue000", "\ufb33", "\uffff", "😀", "\U0010ffff", "\xff", "\xfe", "\xed\xa0\x80", "\xe6\x97", "\uFFFD"}
		var b strings.Builder
		for range r.IntN(6) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		return b.String()
	}
	maybe := func(s string) string {
		if r.IntN(3) == 0 {
			return ""
		}
		return s
	}
	float := func() float64 {
		switch r.IntN(4) {
		case 0:
			for {
				if f := math.Float64frombits(r.Uint64()); !math.IsNaN(f) && !math.IsInf(f, 0) {
					return f
				}
			}
		case 1:
			return float64(r.IntN(1000)) / 8
		case 2:
			return math.Copysign(0, -1)
		}
		return []float64{1e21, 1e-7, 1e-6, 5e-324, math.MaxFloat64, 1 << 53, 0.1}[r.IntN(7)]
	}
	var value func(depth int) any
	value = func(depth int) any {
		n := 16
		if depth > 3 {
			n = 12
		}
		switch r.IntN(n) {
		case 0:
			return nil
		case 1:
			return r.IntN(2) == 0
		case 2:
			return str()
		case 3:
			return float()
		case 4:
			return int64(r.Uint64())
		case 5:
			return []any{r.IntN(100), uint64(r.Uint64()), int8(r.IntN(256) - 128), uint16(r.IntN(1 << 16))}
		case 6:
			for {
				if f := math.Float32frombits(r.Uint32()); !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) {
					return f
				}
			}
		case 7:
			return json.Number(strconv.FormatFloat(float(), []byte{'e', 'f', 'g'}[r.IntN(3)], -1, 64))
		case 8:
			return []string{str(), str()}
		case 9:
			return map[string]string{str(): str()}
		case 10:
			return struct {
				A int
				B string `json:"b,omitempty"`
			}{r.IntN(10), str()}
		case 11:
			return []any(nil)
		case 12, 13:
			m := map[string]any{}
			for range r.IntN(4) {
				m[str()] = value(depth + 1)
			}
			return m
		default:
			a := []any{}
			for range r.IntN(4) {
				a = append(a, value(depth+1))
			}
			return a
		}
	}
	anyMap := func() map[string]any {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return map[string]any{}
		}
		m := map[string]any{}
		for range 1 + r.IntN(5) {
			m[str()] = value(0)
		}
		return m
	}
	stringMap := func() map[string]string {
		switch r.IntN(3) {
		case 0:
			return nil
		case 1:
			return map[string]string{}
		}
		m := map[string]string{}
		for range 1 + r.IntN(5) {
			m[str()] = str()
		}
		return m
	}
	bigInt := func() int64 {
		if r.IntN(3) == 0 {
			return 0
		}
		return int64(r.Uint64() >> r.IntN(64))
	}
	var id ID
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	id[0] |= 1
	sec := r.Int64N(MaxTime.Unix() - MinTime.Unix())
	e := Event{
		ID:       id,
		Time:     time.Unix(sec, r.Int64N(1e9)).In(time.FixedZone("", (r.IntN(48*60-1)-(24*60-1))*60)),
		Kind:     Kinds[r.IntN(len(Kinds))],
		Action:   str(),
		Severity: Severity(maybe(str())),
		Message:  maybe(str()),
		Tenant:   maybe(str()),
		Service:  maybe(str()),
		Actor:    Actor{ID: maybe(str()), Name: maybe(str()), Email: maybe(str()), Type: ActorType(maybe(str())), Extra: anyMap()},
		Object:   Object{Type: maybe(str()), ID: maybe(str()), Repr: maybe(str())},
		Request: Request{
			RequestID: maybe(str()), TraceID: maybe(str()), SpanID: maybe(str()), Method: maybe(str()), Host: maybe(str()),
			Path: maybe(str()), Route: maybe(str()), Query: maybe(str()), RemoteIP: maybe(str()), UserAgent: maybe(str()),
			Browser: maybe(str()), Platform: maybe(str()), OS: maybe(str()), Device: maybe(str()), Origin: maybe(str()),
			Referer: maybe(str()), Headers: stringMap(), Body: maybe(str()),
			Geo: Geo{Country: maybe(str()), CountryCode: maybe(str()), City: maybe(str())},
		},
		Response: Response{Status: int(bigInt()), Duration: time.Duration(bigInt()), RequestBytes: bigInt(), ResponseBytes: -bigInt(),
			Headers: stringMap(), Body: maybe(str())},
		Tool:     maybe(str()),
		Category: maybe(str()),
		Extra:    anyMap(),
	}
	if r.IntN(2) == 0 {
		e.Request.Geo.Lat, e.Request.Geo.Lon = float(), float()
	}
	if r.IntN(2) == 0 {
		e.Changes = map[string]Change{}
		for range r.IntN(4) {
			e.Changes[str()] = Change{Old: value(1), New: value(1)}
		}
	}
	return e
}

func jsonRoundTrip(t testing.TB, e *Event) Event {
	t.Helper()
	j, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	var back Event
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatalf("json.Unmarshal(%s): %v", j, err)
	}
	return back
}

// The canonical bytes of an event are those of the event decoded from
// its JSON form, and a generic JCS serializer gives the same bytes
// (integer fields beyond 2^53 apart, which JCS would round).
func TestCanonicalRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 3000 {
		e := randomEvent(r)
		c := mustCanonical(t, &e)
		if again := mustCanonical(t, &e); !bytes.Equal(c, again) {
			t.Fatalf("event %d: two encodings differ:\n%s\n%s", i, c, again)
		}
		back := jsonRoundTrip(t, &e)
		if got := mustCanonical(t, &back); !bytes.Equal(got, c) {
			t.Fatalf("event %d: canonical bytes change in a JSON round trip:\n got %s\nwant %s", i, got, c)
		}
		var fromCanonical Event
		if err := json.Unmarshal(c, &fromCanonical); err != nil {
			t.Fatalf("event %d: the canonical bytes do not decode as an event: %v\n%s", i, err, c)
		}
		if got := mustCanonical(t, &fromCanonical); !bytes.Equal(got, c) {
			t.Fatalf("event %d: canonical bytes change when decoded from themselves:\n got %s\nwant %s", i, got, c)
		}
		if exactIntegers(&e) {
			if got := jcs(t, c); !bytes.Equal(got, c) {
				t.Fatalf("event %d: not JCS:\n got %s\nwant %s", i, c, got)
			}
		}
	}
}

// exactIntegers reports whether e's integer fields are within ±2^53,
// where JCS writes them exactly too.
func exactIntegers(e *Event) bool {
	for _, v := range []int64{int64(e.Response.Status), int64(e.Response.Duration), e.Response.RequestBytes, e.Response.ResponseBytes} {
		if v > 1<<53 || v < -(1<<53) {
			return false
		}
	}
	return true
}

// The vectors in testdata/canonical: each NAME.json is an event in its
// JSON form, NAME.canonical its canonical bytes, and SHA256SUMS their
// SHA-256 (`sha256sum -c SHA256SUMS` checks them). Any difference fails;
// -update-canonical rewrites them, which is a new CanonicalVersion.
func TestCanonicalVectors(t *testing.T) {
	dir := filepath.Join("testdata", "canonical")
	inputs, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no vectors in %s: %v", dir, err)
	}
	sums := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS")); err == nil {
		for line := range strings.Lines(string(b)) {
			sum, name, _ := strings.Cut(strings.TrimSpace(line), "  ")
			sums[name] = sum
		}
	} else if !*updateCanonical {
		t.Fatal(err)
	}
	var newSums strings.Builder
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json") + ".canonical"
		src, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		var e Event
		if err := json.Unmarshal(src, &e); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		got := mustCanonical(t, &e)
		sum := sha256.Sum256(got)
		fmt.Fprintf(&newSums, "%x  %s\n", sum, name)
		if *updateCanonical {
			if err := os.WriteFile(filepath.Join(dir, name), got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the canonical bytes differ from %s: a change to the encoding is a new CanonicalVersion\n got %s\nwant %s", in, name, got, want)
		}
		if hex.EncodeToString(sum[:]) != sums[name] {
			t.Errorf("%s: SHA-256 %x, SHA256SUMS says %q", in, sum, sums[name])
		}
		if exactIntegers(&e) && !bytes.Equal(jcs(t, got), got) {
			t.Errorf("%s: the canonical bytes are not JCS", in)
		}
	}
	if *updateCanonical {
		if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(newSums.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "canonical", "*.json"))
	for _, in := range inputs {
		if b, err := os.ReadFile(in); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"id":"019b7c1e-8f00-7000-8000-000000000001","time":"2026-01-02T03:04:05+05:30","extra":{"a":[1e400]}}`))
	f.Add([]byte(`{"time":"9999-12-31T23:59:59-23:59","changes":{"\ud800":{"old":-0}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Event
		if json.Unmarshal(data, &e) != nil {
			return
		}
		c, err := Canonical(&e)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "time" && fe.Reason != errDeep {
				t.Fatalf("Canonical of a decoded event: %v", err)
			}
			return
		}
		if !json.Valid(c) {
			t.Fatalf("not valid JSON: %s", c)
		}
		if again := mustCanonical(t, &e); !bytes.Equal(c, again) {
			t.Fatalf("two encodings differ:\n%s\n%s", c, again)
		}
		if exactIntegers(&e) {
			if got := jcs(t, c); !bytes.Equal(got, c) {
				t.Fatalf("not JCS:\n got %s\nwant %s", c, got)
			}
		}
		if e.ID.IsZero() {
			return // the nil UUID is written, but refused when read
		}
		var fromCanonical Event
		if err := json.Unmarshal(c, &fromCanonical); err != nil {
			t.Fatalf("the canonical bytes do not decode as an event: %v\n%s", err, c)
		}
		if got := mustCanonical(t, &fromCanonical); !bytes.Equal(got, c) {
			t.Fatalf("canonical bytes change when decoded from themselves:\n got %s\nwant %s", got, c)
		}
		back := jsonRoundTrip(t, &e)
		if got := mustCanonical(t, &back); !bytes.Equal(got, c) {
			t.Fatalf("canonical bytes change in a JSON round trip:\n got %s\nwant %s", got, c)
		}
	})
}

// benchEvent is a request event of about 1 KB in its JSON form, as the
// HTTP middleware records one.
func benchEvent() Event {
	id, _ := ParseID("019b7c1e-8f00-7abc-8def-0123456789ab")
	return Event{
		ID: id, Time: time.Date(2026, 11, 22, 10, 15, 4, 123456789, time.UTC),
		Kind: KindRequest, Action: "PATCH", Severity: SeverityInfo, Message: "PATCH /orders/7 200",
		Tenant: "acme", Service: "shop",
		Actor: Actor{ID: "42", Name: "Ann Example", Email: "ann@acme.test", Type: ActorUser,
			Extra: map[string]any{"roles": []any{"admin"}}},
		Request: Request{
			RequestID: "c0ffee-0001", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
			Method: "PATCH", Host: "shop.acme.test", Path: "/orders/7", Route: "PATCH /orders/{id}", Query: "expand=items&lang=de",
			RemoteIP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
			Browser: "Firefox", OS: "Linux", Device: "desktop",
			Referer: "https://shop.acme.test/orders",
			Geo:     Geo{Country: "Germany", CountryCode: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405},
			Headers: map[string]string{"Accept": "application/json", "Content-Type": "application/json"},
			Body:    `{"status":"paid"}`,
		},
		Response: Response{Status: 200, Duration: 1834000, RequestBytes: 17, ResponseBytes: 312,
			Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"id":7}`},
		Tool: "web", Category: "orders",
		Extra: map[string]any{"attempt": 1.0},
	}
}

func BenchmarkCanonical(b *testing.B) {
	e := benchEvent()
	j, _ := json.Marshal(&e)
	b.Run("canonical", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(j)))
		var buf []byte
		for b.Loop() {
			buf, _ = AppendCanonical(buf[:0], &e)
		}
	})
	b.Run("canonical+sha256", func(b *testing.B) { // what a chain spends per event, the prev hash aside
		b.ReportAllocs()
		b.SetBytes(int64(len(j)))
		var buf []byte
		for b.Loop() {
			buf, _ = AppendCanonical(buf[:0], &e)
			sha256.Sum256(buf)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(j)))
		for b.Loop() {
			json.Marshal(&e)
		}
	})
}

func TestBenchEventSize(t *testing.T) {
	t.Parallel()
	e := benchEvent()
	j, _ := json.Marshal(&e)
	if n := len(j); n < 900 || n > 1200 {
		t.Errorf("benchEvent is %d bytes of JSON, want about 1 KB", n)
	}
}

func ExampleCanonical() {
	id, _ := ParseID("019b7c1e-8f00-7000-8000-000000000001")
	e := Event{
		ID:       id,
		Time:     time.Date(2026, 1, 2, 8, 34, 5, 0, time.FixedZone("IST", 5*3600+30*60)),
		Kind:     KindAuth,
		Action:   "login",
		Severity: SeverityInfo,
		Actor:    Actor{ID: "42", Type: ActorUser},
		Extra:    map[string]any{"attempt": 2, "via": "sso", "mfa": map[string]any{}},
	}
	b, err := Canonical(&e)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n%x\n", b, sha256.Sum256(b))
	// Output:
	// {"action":"login","actor":{"id":"42","type":"user"},"extra":{"attempt":2,"mfa":{},"via":"sso"},"id":"019b7c1e-8f00-7000-8000-000000000001","kind":"auth","severity":"info","time":"2026-01-02T03:04:05.000000000Z","v":1}
	// 44995a8a828dd6127261a67531f9ccbd1a33cefac38f673ed6cebe75a3dd78cc
}
