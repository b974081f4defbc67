package httpaudit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

func TestBodyBufBounded(t *testing.T) {
	t.Parallel()
	const size = 10 << 20
	b := bodyBuf{max: DefaultMaxBody}
	chunk := bytes.Repeat([]byte("a"), 32<<10)
	for written := 0; written < size; written += len(chunk) {
		if n, err := b.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(chunk))
		}
		if cap(b.buf) > DefaultMaxBody {
			t.Fatalf("after %d bytes the buffer holds %d bytes of capacity, more than %d", written, cap(b.buf), DefaultMaxBody)
		}
	}
	if b.total != size || len(b.buf) != DefaultMaxBody || !b.truncated() {
		t.Fatalf("total %d, kept %d, truncated %v; want %d, %d, true", b.total, len(b.buf), b.truncated(), size, DefaultMaxBody)
	}
	got := b.text("text/plain")
	want := strings.Repeat("a", DefaultMaxBody) + "…[truncated: 10485760 bytes in all, 65536 kept]"
	if got != want {
		t.Errorf("text = …%q, want …%q", got[len(got)-60:], want[len(want)-60:])
	}
}

func TestBodyBufGrowsInSteps(t *testing.T) {
	t.Parallel()
	b := bodyBuf{max: 1000}
	for range 300 {
		b.Write([]byte("abcd"))
		if cap(b.buf) > 1000 {
			t.Fatalf("capacity %d > max 1000", cap(b.buf))
		}
	}
	if string(b.buf) != strings.Repeat("abcd", 250) || b.total != 1200 {
		t.Fatalf("kept %d bytes of %d", len(b.buf), b.total)
	}
	b.reset()
	if len(b.buf) != 0 || b.total != 0 || b.truncated() {
		t.Fatal("reset left something")
	}
}

func TestBodyBufNoAllocs(t *testing.T) {
	p := []byte("some body bytes")
	// Unused, or counting only, it allocates nothing.
	if n := testing.AllocsPerRun(100, func() {
		var b bodyBuf
		b.max = DefaultMaxBody
		if b.text("application/json") != "" {
			t.Fatal("empty buffer gave text")
		}
		counter := bodyBuf{}
		counter.Write(p)
		if counter.total != int64(len(p)) {
			t.Fatal("not counted")
		}
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

func TestBodyText(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	tests := []struct {
		name      string
		body      string
		ct        string
		total     int64 // 0: len(body)
		truncated bool
		want      string
	}{
		{"empty", "", "application/json", 0, false, ""},
		{"json compacted", "{\n  \"a\": 1,\n  \"b\": [true, null]\n}\n", "application/json; charset=utf-8", 0, false, `{"a":1,"b":[true,null]}`},
		{"+json", `{ "type": "about:blank" }`, "application/problem+json", 0, false, `{"type":"about:blank"}`},
		{"undeclared object", ` [1, 2] `, "", 0, false, `[1,2]`},
		{"undeclared scalar stays text", `123`, "", 0, false, `123`},
		{"declared scalar", ` "x" `, "application/json", 0, false, `"x"`},
		{"invalid json is text", `{"a":`, "application/json", 0, false, `{"a":`},
		{"plain text", "hello\tworld\r\n", "text/plain", 0, false, "hello\tworld\r\n"},
		{"undeclared text", "héllo wörld", "", 0, false, "héllo wörld"},
		{"form", "a=1&b=two", "application/x-www-form-urlencoded", 0, false, "a=1&b=two"},
		{"xml", `<a x="1"/>`, "application/xml", 0, false, `<a x="1"/>`},
		{"declared text keeps escapes", "\x1b[31mred\x1b[0m", "text/plain", 0, false, "\x1b[31mred\x1b[0m"},
		{"undeclared control is binary", "ab\x01cd", "", 0, false, "[binary body: 5 bytes]"},
		{"NUL is binary even as text", "ab\x00cd", "text/plain", 0, false, "[binary body: 5 bytes, text/plain]"},
		{"png", string(png), "image/png", 0, false, "[binary body: 16 bytes, image/png]"},
		{"invalid UTF-8", "caf\xe9", "text/plain; charset=latin1", 0, false, "[binary body: 4 bytes, text/plain; charset=latin1]"},
		{"binary truncated counts all", string(png), "image/png", 1 << 20, true, "[binary body: 1048576 bytes, image/png]"},
		{"content type sanitised", "\x00", "x/\x01y\xff", 0, false, "[binary body: 1 bytes, x/?y\uFFFD]"},
		{"text truncated", "hello wo", "text/plain", 100, true, "hello wo…[truncated: 100 bytes in all, 8 kept]"},
		{"text cut inside a rune", "ab\xc3", "text/plain", 10, true, "ab…[truncated: 10 bytes in all, 2 kept]"},
		{"nothing kept", "", "text/plain", 10, true, "…[truncated: 10 bytes in all, 0 kept]"},
		{"json truncated between members", `{"a":1,"b":{"c":2},"d"`, "application/json", 500, true, `{"a":1,"b":{"c":2},"…":"[truncated: 500 bytes in all, 18 kept]"}`},
		{"json truncated in a string value", `{"a":{"note":"héllo wor`, "", 500, true, `{"a":{"note":"héllo wor…","…":"[truncated: 500 bytes in all, 24 kept]"}}`},
		{"json truncated in a rune", "{\"a\":\"h\xc3", "", 500, true, `{"a":"h…","…":"[truncated: 500 bytes in all, 7 kept]"}`},
		{"json truncated in an escape", `{"a":"x\u00`, "", 500, true, `{"a":"x…","…":"[truncated: 500 bytes in all, 7 kept]"}`},
		{"json truncated in a key", `{"a":1,"passw`, "", 500, true, `{"a":1,"…":"[truncated: 500 bytes in all, 6 kept]"}`},
		{"json truncated in a number", `{"a":[1,2,34`, "", 500, true, `{"a":[1,2,"[truncated: 500 bytes in all, 9 kept]"]}`},
		{"json array truncated", "[\n \"x\",\n \"y", "", 500, true, `["x","y…","[truncated: 500 bytes in all, 11 kept]"]`},
		{"json truncated after open", `{`, "", 500, true, `{"…":"[truncated: 500 bytes in all, 1 kept]"}`},
		{"truncated after the end is text", `{"a":1} x`, "", 500, true, `{"a":1} x…[truncated: 500 bytes in all, 9 kept]`},
		{"broken truncated json is text", `{"a" 1, "b`, "", 500, true, `{"a" 1, "b…[truncated: 500 bytes in all, 10 kept]`},
		{"form truncated", "user=ann&password=hunter2&note=ab%2", "application/x-www-form-urlencoded", 90, true, "user=ann&password=hunter2&note=ab&…=[truncated:+90+bytes+in+all,+33+kept]"},
		{"form truncated in a name", "user=ann&passw", "", 90, true, "user=ann&…=[truncated:+90+bytes+in+all,+8+kept]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total := tt.total
			if total == 0 {
				total = int64(len(tt.body))
			}
			got := bodyText([]byte(tt.body), tt.ct, total, tt.truncated)
			if got != tt.want {
				t.Errorf("bodyText(%q, %q) =\n%q\nwant\n%q", tt.body, tt.ct, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("result is not valid UTF-8: %q", got)
			}
		})
	}
}

func TestBodyTextDoesNotChangeInput(t *testing.T) {
	t.Parallel()
	b := []byte(`{"a":"xyz`)
	buf := make([]byte, len(b), 64)
	copy(buf, b)
	bodyText(buf, "application/json", 100, true)
	if string(buf[:cap(buf)][:len(b)+4]) != string(b)+"\x00\x00\x00\x00" {
		t.Errorf("bodyText wrote into its input: %q", buf[:cap(buf)])
	}
}

// A JSON body stays JSON, truncated or not, so that the Recorder's
// Redactor masks secrets by key at any depth; a truncated form stays a
// form for the same reason.
func TestBodyTextRedactable(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 200)
	full := `{"user":{"name":"ann","credentials":{"password":"hunter2"}},"items":[{"token":"s3cr3t"}],"note":"` + big + `"}`
	tests := []struct {
		name      string
		b         string
		ct        string
		truncated bool
	}{
		{"json", full, "application/json", false},
		{"json truncated", full[:len(full)-50], "application/json", true},
		{"json truncated in the secret", `{"a":1,"password":"hunt`, "", true},
		{"form truncated", "user=ann&password=hunter2&token=s3cr3t&note=" + big[:50], "application/x-www-form-urlencoded", true},
	}
	red := activitylog.NewRedactor(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored := bodyText([]byte(tt.b), tt.ct, int64(len(full)), tt.truncated)
			got := red.Body(stored)
			for _, secret := range []string{"hunter2", "hunt", "s3cr3t"} {
				if strings.Contains(got, secret) {
					t.Errorf("secret %q survived redaction:\nstored   %s\nredacted %s", secret, stored, got)
				}
			}
			if !strings.Contains(got, activitylog.DefaultMask) {
				t.Errorf("nothing masked: %s", got)
			}
			if tt.ct == "application/json" && !json.Valid([]byte(stored)) {
				t.Errorf("stored body is not JSON: %s", stored)
			}
		})
	}
}

func TestBodyTextLimit(t *testing.T) {
	t.Parallel()
	for _, b := range [][]byte{
		bytes.Repeat([]byte("é"), activitylog.MaxBodyField), // 2 MiB of text
		[]byte(`["` + strings.Repeat("a", 3<<20) + `"]`),
		[]byte(`{"a":` + strings.Repeat("[", 2<<20)), // too deep to close within the limit
		bytes.Repeat([]byte("k=v&"), 1<<20),
	} {
		got := bodyText(b, "", int64(len(b)), false)
		if len(got) > activitylog.MaxBodyField || !utf8.ValidString(got) {
			t.Errorf("%.20q…: %d bytes, valid UTF-8 %v", b, len(got), utf8.ValidString(got))
		}
		if !strings.Contains(got, "truncated") {
			t.Errorf("%.20q…: no truncation marker", b)
		}
	}
}

func TestCaptureHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Accept":              {"text/html", "application/json"},
		"Authorization":       {"Bearer abc"},
		"cookie":              {"sid=1"}, // not canonical: still masked
		"Set-Cookie":          {"a=1", "b=2"},
		"Proxy-Authorization": {"Basic eA=="},
		"X-Api-Key":           {"k"},
		"X-Long":              {strings.Repeat("v", 100)},
		"X-Many":              {strings.Repeat("a", 30), strings.Repeat("b", 30), strings.Repeat("c", 30)},
		"X-Bad":               {"a\xffb"},
		"X-Empty":             {},
	}
	got := captureHeaders(h, 50)
	want := map[string]string{
		"Accept":              "text/html, application/json",
		"Authorization":       activitylog.DefaultMask,
		"cookie":              activitylog.DefaultMask,
		"Set-Cookie":          activitylog.DefaultMask,
		"Proxy-Authorization": activitylog.DefaultMask,
		"X-Api-Key":           activitylog.DefaultMask,
		"X-Long":              strings.Repeat("v", 47) + "…",
		"X-Many":              strings.Repeat("a", 30) + ", " + strings.Repeat("b", 15) + "…",
		"X-Bad":               "a\uFFFDb",
		"X-Empty":             "",
	}
	if len(got) != len(want) {
		t.Errorf("got %d entries, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if captureHeaders(nil, 0) != nil || captureHeaders(http.Header{}, 0) != nil {
		t.Error("no headers should give nil")
	}
}

func TestCaptureHeadersEntryLimit(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	for i := range activitylog.MaxMapEntries + 10 {
		h["X-H"+strconv.Itoa(i)] = []string{"v"}
	}
	got := captureHeaders(h, 0)
	if len(got) != activitylog.MaxMapEntries {
		t.Fatalf("%d entries, want %d", len(got), activitylog.MaxMapEntries)
	}
	if got["…"] != "[11 more headers not recorded]" {
		t.Errorf("note = %q", got["…"])
	}
	e := activitylog.Event{ID: activitylog.NewID(activitylog.MinTime.AddDate(50, 0, 0)), Time: activitylog.MinTime.AddDate(50, 0, 0),
		Kind: activitylog.KindExternal, Action: "GET", Severity: activitylog.SeverityInfo, Request: activitylog.Request{Headers: got}}
	if err := e.Validate(); err != nil {
		t.Error(err)
	}
}

// FuzzBodyText holds that whatever the body, its stored form is valid
// UTF-8 within activitylog.MaxBodyField, that a complete JSON document
// stays the same JSON, and that a truncated one that comes out as JSON
// is valid JSON.
func FuzzBodyText(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"c"}]}`), "application/json", int64(0), false)
	f.Add([]byte(`{"a":[1,{"b":"c\u00`), "", int64(100), true)
	f.Add([]byte("a=1&b=%2"), "application/x-www-form-urlencoded", int64(100), true)
	f.Add([]byte("\x89PNG\r\n"), "image/png", int64(0), false)
	f.Add([]byte("caf\xe9 \xc3"), "text/plain", int64(3), true)
	f.Add([]byte(`[[[[["`), "", int64(1), true)
	f.Fuzz(func(t *testing.T, b []byte, ct string, extra int64, truncated bool) {
		if extra < 0 {
			extra = -extra
		}
		total := int64(len(b)) + extra%(1<<40)
		in := bytes.Clone(b)
		got := bodyText(b, ct, total, truncated)
		if !bytes.Equal(in, b) {
			t.Fatal("bodyText changed its input")
		}
		if !utf8.ValidString(got) {
			t.Fatalf("not valid UTF-8: %q", got)
		}
		if len(got) > activitylog.MaxBodyField {
			t.Fatalf("%d bytes", len(got))
		}
		if len(b) > 0 && got == "" {
			t.Fatal("a body gave nothing")
		}
		if !truncated && jsonContainer(b) && utf8.Valid(b) && json.Valid(b) {
			var want bytes.Buffer
			json.Compact(&want, b)
			if got != want.String() {
				t.Fatalf("JSON %q stored as %q, want %q", b, got, want.String())
			}
		}
		// Truncated, it is a binary marker, text or a form ending in
		// the truncation marker, or else repaired JSON.
		if truncated && !strings.HasPrefix(got, "[binary body: ") &&
			!strings.HasSuffix(got, " kept]") && !strings.HasSuffix(got, "+kept]") && !json.Valid([]byte(got)) {
			t.Fatalf("repaired JSON is not valid: %q", got)
		}
	})
}
