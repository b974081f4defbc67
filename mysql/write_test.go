package mysql

import "testing"

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
