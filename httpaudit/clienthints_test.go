package httpaudit_test

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

// hints builds a header from name/value pairs; a name may repeat.
func hints(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

const (
	chrome131 = `"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"`
	edge131   = `"Microsoft Edge";v="131", "Chromium";v="131", "Not_A Brand";v="24"`
)

func TestClientHints(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		h      http.Header
		want   httpaudit.Client
		wantOK bool
	}{
		{
			name: "chrome macOS, low-entropy hints",
			h: hints("Sec-CH-UA", chrome131, "Sec-CH-UA-Mobile", "?0",
				"Sec-CH-UA-Platform", `"macOS"`),
			want:   httpaudit.Client{Browser: "Chrome 131", Platform: "macOS", OS: "macOS", Device: "desktop"},
			wantOK: true,
		},
		{
			name: "chrome macOS with platform version",
			h: hints("Sec-CH-UA", chrome131, "Sec-CH-UA-Mobile", "?0",
				"Sec-CH-UA-Platform", `"macOS"`, "Sec-CH-UA-Platform-Version", `"14.5.0"`),
			want:   httpaudit.Client{Browser: "Chrome 131", Platform: "macOS", OS: "macOS 14.5", Device: "desktop"},
			wantOK: true,
		},
		{
			name: "edge windows 11",
			h: hints("Sec-CH-UA", edge131, "Sec-CH-UA-Mobile", "?0",
				"Sec-CH-UA-Platform", `"Windows"`, "Sec-CH-UA-Platform-Version", `"15.0.0"`),
			want:   httpaudit.Client{Browser: "Edge 131", Platform: "Windows", OS: "Windows 11", Device: "desktop"},
			wantOK: true,
		},
		{
			name: "edge windows 10",
			h: hints("Sec-CH-UA", edge131, "Sec-CH-UA-Platform", `"Windows"`,
				"Sec-CH-UA-Platform-Version", `"10.0.0"`),
			want:   httpaudit.Client{Browser: "Edge 131", Platform: "Windows", OS: "Windows 10", Device: "desktop"},
			wantOK: true,
		},
		{
			name: "windows 7 to 8.1 give no version",
			h:    hints("Sec-CH-UA-Platform", `"Windows"`, "Sec-CH-UA-Platform-Version", `"0.3.0"`),
			want: httpaudit.Client{Platform: "Windows", OS: "Windows", Device: "desktop"}, wantOK: true,
		},
		{
			name: "android chrome",
			h: hints("Sec-CH-UA", chrome131, "Sec-CH-UA-Mobile", "?1",
				"Sec-CH-UA-Platform", `"Android"`, "Sec-CH-UA-Platform-Version", `"14.0.0"`),
			want:   httpaudit.Client{Browser: "Chrome 131", Platform: "Android", OS: "Android 14", Device: "mobile"},
			wantOK: true,
		},
		{
			name: "full version list wins and gives the major only",
			h: hints("Sec-CH-UA", chrome131,
				"Sec-CH-UA-Full-Version-List", `"Not_A Brand";v="24.0.0.0", "Chromium";v="131.0.6778.86", "Google Chrome";v="131.0.6778.86"`,
				"Sec-CH-UA-Platform", `"Linux"`, "Sec-CH-UA-Platform-Version", `""`),
			want:   httpaudit.Client{Browser: "Chrome 131", Platform: "Linux", OS: "Linux", Device: "desktop"},
			wantOK: true,
		},
		{
			name:   "malformed full version list falls back to sec-ch-ua",
			h:      hints("Sec-CH-UA", edge131, "Sec-CH-UA-Full-Version-List", `"Microsoft Edge";v="131.0`),
			want:   httpaudit.Client{Browser: "Edge 131", Device: "desktop"},
			wantOK: true,
		},
		{
			name:   "older grease with a leading space, chromium first",
			h:      hints("Sec-CH-UA", `" Not A;Brand";v="99", "Chromium";v="90", "Google Chrome";v="90"`),
			want:   httpaudit.Client{Browser: "Chrome 90", Device: "desktop"},
			wantOK: true,
		},
		{
			name:   "grease variants",
			h:      hints("Sec-CH-UA", `"Not.A/Brand";v="8", "Not)A;Brand";v="99", "Not=A?Brand";v="24", "Chromium";v="114", "Opera";v="100"`),
			want:   httpaudit.Client{Browser: "Opera 100", Device: "desktop"},
			wantOK: true,
		},
		{
			name:   "brave",
			h:      hints("Sec-CH-UA", `"Brave";v="131", "Chromium";v="131", "Not_A Brand";v="24"`, "Sec-CH-UA-Mobile", "?0"),
			want:   httpaudit.Client{Browser: "Brave 131", Device: "desktop"},
			wantOK: true,
		},
		{
			name:   "chromium alone",
			h:      hints("Sec-CH-UA", `"Chromium";v="131", "Not_A Brand";v="24"`),
			want:   httpaudit.Client{Browser: "Chromium 131", Device: "desktop"},
			wantOK: true,
		},
		{
			name:   "split over two lines",
			h:      hints("Sec-CH-UA", `"Not_A Brand";v="24"`, "Sec-CH-UA", `"Microsoft Edge";v="131"`),
			want:   httpaudit.Client{Browser: "Edge 131", Device: "desktop"},
			wantOK: true,
		},
		{
			name:   "escapes and other parameters",
			h:      hints("Sec-CH-UA", `"Odd \"Browser\"";x=1;v="7";y=?0;z=tok;w=:AAE=:;d=1.5, "Chromium";v="7"`),
			want:   httpaudit.Client{Browser: `Odd "Browser" 7`, Device: "desktop"},
			wantOK: true,
		},
		{
			name:   "version that is not a version",
			h:      hints("Sec-CH-UA", `"Google Chrome";v="abc", "Chromium";v=131`),
			want:   httpaudit.Client{Browser: "Chrome", Device: "desktop"},
			wantOK: true,
		},
		{
			name:   "mobile alone",
			h:      hints("Sec-CH-UA-Mobile", "?1"),
			want:   httpaudit.Client{Device: "mobile"},
			wantOK: true,
		},
		{name: "no headers", h: http.Header{}},
		{name: "nil header", h: nil},
		{name: "only grease", h: hints("Sec-CH-UA", `"Not_A Brand";v="24"`)},
		{name: "empty list", h: hints("Sec-CH-UA", ``)},
		{name: "unknown platform", h: hints("Sec-CH-UA-Platform", `"Unknown"`)},
		{name: "empty platform", h: hints("Sec-CH-UA-Platform", `""`)},
		{name: "unquoted platform", h: hints("Sec-CH-UA-Platform", `macOS`)},
		{name: "unterminated quote", h: hints("Sec-CH-UA", `"Google Chrome;v="131"`)},
		{name: "unterminated string at end", h: hints("Sec-CH-UA", `"Google Chrome`)},
		{name: "trailing comma", h: hints("Sec-CH-UA", chrome131+",")},
		{name: "missing comma", h: hints("Sec-CH-UA", `"Google Chrome";v="131" "Chromium"`)},
		{name: "control character", h: hints("Sec-CH-UA", "\"Google\x01Chrome\";v=\"131\"")},
		{name: "non-ascii", h: hints("Sec-CH-UA", `"Chrömé";v="131"`)},
		{name: "bad escape", h: hints("Sec-CH-UA", `"Google\nChrome";v="131"`)},
		{name: "bad parameter key", h: hints("Sec-CH-UA", `"Google Chrome";V="131"`)},
		{name: "parameter without value after equals", h: hints("Sec-CH-UA", `"Google Chrome";v=`)},
		{name: "inner list", h: hints("Sec-CH-UA", `("Google Chrome");v="131"`)},
		{name: "bad boolean", h: hints("Sec-CH-UA-Mobile", "?2")},
		{name: "boolean with junk", h: hints("Sec-CH-UA-Mobile", "?1 x")},
		{name: "huge brand", h: hints("Sec-CH-UA", `"`+strings.Repeat("A", 200)+`";v="1"`)},
		{name: "huge header", h: hints("Sec-CH-UA", chrome131+strings.Repeat(`, "B";v="1"`, 1000))},
		{name: "huge platform", h: hints("Sec-CH-UA-Platform", `"`+strings.Repeat("x", 5000)+`"`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := httpaudit.ClientHints(tc.h)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("ClientHints = %+v, %v; want %+v, %v", got, ok, tc.want, tc.wantOK)
			}
			if d := httpaudit.DefaultClient(tc.h); d != tc.want {
				t.Errorf("DefaultClient = %+v, want %+v", d, tc.want)
			}
		})
	}
}

// A malformed header is ignored on its own: the other hints still count.
func TestClientHintsFieldByField(t *testing.T) {
	t.Parallel()
	h := hints("Sec-CH-UA", `"Google Chrome;v="131"`, "Sec-CH-UA-Mobile", "?1",
		"Sec-CH-UA-Platform", `"Android"`, "Sec-CH-UA-Platform-Version", `"14.0.0`)
	got, ok := httpaudit.ClientHints(h)
	want := httpaudit.Client{Platform: "Android", OS: "Android", Device: "mobile"}
	if got != want || !ok {
		t.Errorf("ClientHints = %+v, %v; want %+v, true", got, ok, want)
	}
}

// The default for Options.Client is DefaultClient.
var _ func(http.Header) httpaudit.Client = httpaudit.DefaultClient

func FuzzClientHints(f *testing.F) {
	f.Add(chrome131, "?0", `"macOS"`, `"14.5.0"`, "")
	f.Add(edge131, "?1", `"Windows"`, `"15.0.0"`, `"Microsoft Edge";v="131.0.2903.86"`)
	f.Add(`"a\"b";v="1";x=?1;y=:AA==:;z=-1.25, t;v=tok`, "?", `"`, `"1..2"`, `"Chromium";v="`)
	f.Add("\x00\xff", "\t?1", "\"\\\"\"", "\"99999999.1\"", "(a b), c")
	f.Fuzz(func(t *testing.T, ua, mobile, platform, platformVersion, full string) {
		h := http.Header{}
		for k, v := range map[string]string{
			"Sec-Ch-Ua": ua, "Sec-Ch-Ua-Mobile": mobile, "Sec-Ch-Ua-Platform": platform,
			"Sec-Ch-Ua-Platform-Version": platformVersion, "Sec-Ch-Ua-Full-Version-List": full,
		} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		c, ok := httpaudit.ClientHints(h)
		if !ok && c != (httpaudit.Client{}) {
			t.Fatalf("not ok but %+v", c)
		}
		if ok && c.Device != "mobile" && c.Device != "desktop" {
			t.Fatalf("device %q", c.Device)
		}
		for _, f := range []string{c.Browser, c.Platform, c.OS, c.Device} {
			if len(f) > activitylog.MaxShortField || !utf8.ValidString(f) {
				t.Fatalf("field %q too long or not UTF-8", f)
			}
			for i := 0; i < len(f); i++ {
				if f[i] < 0x20 || f[i] == 0x7f {
					t.Fatalf("field %q has control byte %#x", f, f[i])
				}
			}
		}
	})
}

func BenchmarkClientHints(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    http.Header
	}{
		{"chrome", hints("Sec-CH-UA", chrome131, "Sec-CH-UA-Mobile", "?0", "Sec-CH-UA-Platform", `"Windows"`)},
		{"full", hints("Sec-CH-UA", chrome131, "Sec-CH-UA-Mobile", "?1", "Sec-CH-UA-Platform", `"Android"`,
			"Sec-CH-UA-Platform-Version", `"14.0.0"`,
			"Sec-CH-UA-Full-Version-List", `"Google Chrome";v="131.0.6778.86", "Chromium";v="131.0.6778.86", "Not_A Brand";v="24.0.0.0"`)},
		{"none", hints("User-Agent", "curl/8.5.0")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				httpaudit.ClientHints(bc.h)
			}
		})
	}
}
