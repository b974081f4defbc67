package forward_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/forward"
)

func TestCEFEscaping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, header, value string
	}{
		{"plain", "hello world", "hello world", "hello world"},
		{"pipe", "a|b", `a\|b`, "a|b"},
		{"backslash", `a\b`, `a\\b`, `a\\b`},
		{"equals", "a=b", "a=b", `a\=b`},
		{"newline", "a\nb\r\nc", `a\nb\r\nc`, `a\nb\r\nc`},
		{"all", "|\\=\n", `\|\\=\n`, `|\\\=\n`},
		{"escape lookalike", `\n`, `\\n`, `\\n`},
		{"non-ASCII", "Zoë → 東京 🙂", "Zoë → 東京 🙂", "Zoë → 東京 🙂"},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb", "a\uFFFDb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := activitylog.Event{Time: time.Unix(1, 0), Kind: activitylog.KindCustom, Action: "x", Severity: activitylog.SeverityInfo,
				Message: tc.in, Tenant: tc.in}
			got := string(forward.AppendCEF(nil, &e, "1"))
			wantHeader := "CEF:0|activitylog|activitylog|1|custom.x|" + tc.header + "|3|"
			if !strings.HasPrefix(got, wantHeader) {
				t.Errorf("header: got %q, want prefix %q", got, wantHeader)
			}
			if want := " cs1Label=tenant cs1=" + tc.value; !strings.HasSuffix(got, want) {
				t.Errorf("extension: got %q, want suffix %q", got, want)
			}
			h, ext := parseCEF(t, got)
			want := strings.ToValidUTF8(tc.in, "\uFFFD")
			if h[5] != want || ext["cs1"] != want {
				t.Errorf("parsed back %q and %q, want %q", h[5], ext["cs1"], want)
			}
		})
	}
}

func TestCEFMapping(t *testing.T) {
	t.Parallel()
	e := fixture()
	h, ext := parseCEF(t, string(forward.AppendCEF(nil, &e, "2.1")))
	wantH := []string{"0", "activitylog", "activitylog", "2.1", "auth.login_failed", e.Message, "6"}
	for i := range wantH {
		if h[i] != wantH[i] {
			t.Errorf("header %d: got %q, want %q", i, h[i], wantH[i])
		}
	}
	for k, want := range map[string]string{
		"rt": "1732523415123", "externalId": e.ID.String(), "cat": "auth", "act": "login_failed",
		"suid": "u-42", "suser": "Bob Müller", "src": "203.0.113.7", "dhost": "app.example.com",
		"requestMethod": "POST", "request": "/login?next=/a|b", "requestClientApplication": "curl/8.0\nx",
		"outcome": "failure", "cn1Label": "httpStatus", "cn1": "401", "cs1Label": "tenant", "cs1": "acme=corp",
		"cs2Label": "objectType", "cs2": "user", "cs3Label": "objectId", "cs3": "u-42", "cs4Label": "service", "cs4": "web",
	} {
		if ext[k] != want {
			t.Errorf("%s: got %q, want %q", k, ext[k], want)
		}
	}
	for sev, want := range map[activitylog.Severity]int{"debug": 1, "info": 3, "notice": 4, "warning": 6, "error": 8, "critical": 10, "bogus": 3} {
		if got := forward.CEFSeverity(sev); got != want {
			t.Errorf("CEFSeverity(%s) = %d, want %d", sev, got, want)
		}
	}
}

// FuzzCEF checks that whatever the text, the CEF line parses back to
// it (invalid UTF-8 replaced), in a header field and in extension
// values, and never carries a raw line break.
func FuzzCEF(f *testing.F) {
	for _, s := range []string{"", "a|b", `a\b`, "a=b", "a\nb", `\`, `\=`, "x y=z", " lead", "trail ", "a\\|=\r\n", "\xff", "東京"} {
		f.Add(s, s+"2")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		e := activitylog.Event{Time: time.Unix(1, 0), Kind: activitylog.KindCustom, Action: "act" + a, Severity: activitylog.SeverityInfo,
			Message: "m" + b, Tenant: "t" + a, Actor: activitylog.Actor{Name: "n" + b}, Request: activitylog.Request{Path: a + "p"}}
		line := string(forward.AppendCEF(nil, &e, a))
		if !utf8.ValidString(line) {
			t.Fatalf("invalid UTF-8 out: %q", line)
		}
		h, ext := parseCEF(t, line)
		v := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
		for _, c := range []struct{ got, want string }{
			{h[3], v(a)}, {h[4], "custom." + v("act"+a)}, {h[5], v("m" + b)},
			{ext["act"], v("act" + a)}, {ext["cs1"], v("t" + a)}, {ext["suser"], v("n" + b)}, {ext["request"], v(a + "p")},
		} {
			if c.got != c.want {
				t.Fatalf("parsed %q, want %q, from %q", c.got, c.want, line)
			}
		}
	})
}
