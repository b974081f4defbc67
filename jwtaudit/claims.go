package jwtaudit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// idFrom returns the first id found under names in claims, or "". A
// non-empty string is an id; so is a number, in decimal and without an
// exponent. tok is the token the claims came from, read again only
// for an integer too large for a float64 to hold exactly.
func idFrom(claims jwt.MapClaims, names []string, tok string) string {
	for _, name := range names {
		switch x := claims[name].(type) {
		case string:
			if x != "" {
				return x
			}
		case float64:
			return numberID(x, func() string { return rawNumber(tok, name) })
		}
	}
	return ""
}

// stringFrom returns the first non-empty string under names in claims,
// or "".
func stringFrom(claims jwt.MapClaims, names []string) string {
	for _, name := range names {
		if s, ok := claims[name].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// maxExact is the magnitude beyond which not every integer fits a
// float64 exactly (2^53).
const maxExact = 1 << 53

// numberID returns f as a decimal id: "42", "-7", "4.5",
// "1000000000000000000000" for 1e21. An integer too large for f to
// hold exactly is taken from raw, the literal as the token wrote it,
// when that is a plain integer, so that the id 12345678901234567891
// does not become 12345678901234567000.
func numberID(f float64, raw func() string) string {
	if math.Abs(f) >= maxExact && f == math.Trunc(f) {
		if lit := raw(); isInteger(lit) {
			return lit
		}
	}
	if f == 0 {
		return "0" // not "-0"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// isInteger reports whether s is an optional minus and decimal digits,
// without leading zeros.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// rawNumber returns the literal of the number under claim name in the
// payload of tok, or "". The token has been verified by then, so its
// payload decodes.
func rawNumber(tok, name string) string {
	_, rest, _ := strings.Cut(tok, ".")
	payload, _, _ := strings.Cut(rest, ".")
	b, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return ""
	}
	n, _ := m[name].(json.Number)
	return string(n)
}

// clip returns s cut to at most max bytes, on a rune boundary, with an
// ellipsis at the end when it was cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	i := max - len(ellipsis)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + ellipsis
}
