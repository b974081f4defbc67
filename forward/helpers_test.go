package forward_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixture is the event of the golden files: every mapped field set,
// and values that need escaping in each format.
func fixture() activitylog.Event {
	id, err := activitylog.ParseID("0193602e-4c1d-7a3b-8f00-0123456789ab")
	if err != nil {
		panic(err)
	}
	return activitylog.Event{
		ID:       id,
		Time:     time.Date(2024, 11, 25, 8, 30, 15, 123456789, time.UTC),
		Kind:     activitylog.KindAuth,
		Action:   "login_failed",
		Severity: activitylog.SeverityWarning,
		Message:  `login failed for "bob" | wrong password\retry`,
		Tenant:   "acme=corp",
		Service:  "web",
		Actor:    activitylog.Actor{ID: "u-42", Name: "Bob Müller", Email: "bob@example.com", Type: activitylog.ActorUser},
		Object:   activitylog.Object{Type: "user", ID: "u-42"},
		Request: activitylog.Request{
			RequestID: "req-1", Method: "POST", Host: "app.example.com", Path: "/login", Query: "next=/a|b",
			RemoteIP: "203.0.113.7", UserAgent: "curl/8.0\nx",
		},
		Response: activitylog.Response{Status: 401, Duration: 12 * time.Millisecond},
		Extra:    map[string]any{"attempt": 3},
	}
}

// batch returns n events of the fixture's shape with distinct ids and
// times.
func batch(n int) []activitylog.Event {
	es := make([]activitylog.Event, n)
	base := time.Date(2024, 11, 25, 8, 0, 0, 0, time.UTC)
	for i := range es {
		e := fixture()
		e.Time = base.Add(time.Duration(i) * time.Millisecond)
		e.ID = activitylog.NewID(e.Time)
		e.Extra = map[string]any{"i": i}
		es[i] = e
	}
	return es
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

// parseCEF is a small CEF parser, independent of the encoder: the
// seven header fields, unescaped, and the extension as a map.
func parseCEF(t testing.TB, line string) (header []string, ext map[string]string) {
	t.Helper()
	if !strings.HasPrefix(line, "CEF:") {
		t.Fatalf("not CEF: %q", line)
	}
	s := line[len("CEF:"):]
	var cur strings.Builder
	i := 0
	for ; i < len(s) && len(header) < 7; i++ {
		switch c := s[i]; c {
		case '\\':
			i++
			if i == len(s) {
				t.Fatalf("header ends in a lone backslash: %q", line)
			}
			switch s[i] {
			case '\\', '|':
				cur.WriteByte(s[i])
			case 'n':
				cur.WriteByte('\n')
			case 'r':
				cur.WriteByte('\r')
			default:
				t.Fatalf("bad header escape \\%c in %q", s[i], line)
			}
		case '|':
			header = append(header, cur.String())
			cur.Reset()
		case '\n', '\r':
			t.Fatalf("raw line break in header: %q", line)
		default:
			cur.WriteByte(c)
		}
	}
	if len(header) != 7 {
		t.Fatalf("%d header fields in %q", len(header), line)
	}
	rest := s[i:]
	ext = map[string]string{}
	if rest == "" {
		return header, ext
	}
	if strings.ContainsAny(rest, "\n\r") {
		t.Fatalf("raw line break in extension: %q", rest)
	}
	// Find each unescaped '='; the key is the word before it.
	type kv struct{ key, start, end int }
	var eqs []int
	for j := 0; j < len(rest); j++ {
		if rest[j] == '\\' {
			j++
			continue
		}
		if rest[j] == '=' {
			eqs = append(eqs, j)
		}
	}
	if len(eqs) == 0 {
		t.Fatalf("extension without key=value: %q", rest)
	}
	keyStart := func(eq int) int {
		k := strings.LastIndexByte(rest[:eq], ' ') + 1
		return k
	}
	for n, eq := range eqs {
		ks := keyStart(eq)
		key := rest[ks:eq]
		if key == "" || strings.ContainsFunc(key, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
		}) {
			t.Fatalf("bad extension key %q in %q", key, rest)
		}
		end := len(rest)
		if n+1 < len(eqs) {
			end = keyStart(eqs[n+1]) - 1
		}
		if n == 0 && ks != 0 {
			t.Fatalf("text before the first key: %q", rest)
		}
		raw := rest[eq+1 : end]
		var v strings.Builder
		for j := 0; j < len(raw); j++ {
			if raw[j] != '\\' {
				v.WriteByte(raw[j])
				continue
			}
			j++
			if j == len(raw) {
				t.Fatalf("value ends in a lone backslash: %q", raw)
			}
			switch raw[j] {
			case '\\', '=':
				v.WriteByte(raw[j])
			case 'n':
				v.WriteByte('\n')
			case 'r':
				v.WriteByte('\r')
			default:
				t.Fatalf("bad extension escape \\%c in %q", raw[j], raw)
			}
		}
		if _, dup := ext[key]; dup {
			t.Fatalf("key %s twice in %q", key, rest)
		}
		ext[key] = v.String()
	}
	return header, ext
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
