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

// TestAppendField checks a load file field's escapes: exactly the
// backslash, tab, newline and NUL, so that a field holding \N stays
// text and not NULL, and quotes stand for themselves.
func TestAppendField(t *testing.T) {
	for _, c := range []struct {
		in    string
		lower bool
		want  string
	}{
		{"plain", false, "plain"},
		{"a\tb\nc\x00d\\e", false, `a\tb\nc\0d\\e`},
		{`\N`, false, `\\N`},
		{"q' d\" z\x1a \r", false, "q' d\" z\x1a \r"},
		{"MiXeD Ü\t", true, "mixed Ü\\t"},
	} {
		if got := string(appendField(nil, c.in, c.lower)); got != c.want {
			t.Errorf("appendField(%q, %v) = %q, want %q", c.in, c.lower, got, c.want)
		}
	}
}
