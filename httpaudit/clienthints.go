package httpaudit

import (
	"net/http"
	"strings"
)

// ClientHints describes the client from its User-Agent Client Hints,
// the Sec-CH-UA-* request headers that Chromium-based browsers send.
// It reports false, with the zero Client, when the headers carry no
// usable hint. The User-Agent header is not read.
//
//   - Browser: the most specific brand of Sec-CH-UA-Full-Version-List,
//     else of Sec-CH-UA, with its major version: "Chrome 131". GREASE
//     brands ("Not_A Brand") are skipped, and "Chromium" is taken only
//     when no other brand is given. "Google Chrome" and "Microsoft Edge"
//     are given as "Chrome" and "Edge", the names the User-Agent uses,
//     so that the two sources group together.
//   - Platform: Sec-CH-UA-Platform as sent: "macOS", "Windows",
//     "Android". "Unknown" and "" count as absent.
//   - OS: the platform with the major and minor version of
//     Sec-CH-UA-Platform-Version when that was sent: "macOS 14.5",
//     "Android 14". Windows versions map to releases: 13 and above is
//     "Windows 11", 1 to 10 is "Windows 10"; 0 (7, 8 or 8.1) gives no
//     version.
//   - Device: "mobile" when Sec-CH-UA-Mobile is ?1, else "desktop"
//     whenever any hint is usable. A tablet sends ?0.
//
// The headers are parsed as RFC 8941 structured fields. A header that
// does not parse, or that is longer than 4 KiB, is ignored on its own;
// the others are still used. Every field of the result is printable
// ASCII and at most activitylog.MaxShortField bytes long.
func ClientHints(h http.Header) (Client, bool) {
	var c Client
	brand, major := bestBrand(h, "Sec-Ch-Ua-Full-Version-List")
	if brand == "" {
		brand, major = bestBrand(h, "Sec-Ch-Ua")
	}
	if brand != "" {
		c.Browser = brand
		if major != "" {
			c.Browser = brand + " " + major
		}
	}
	if p, ok := sfStringField(h, "Sec-Ch-Ua-Platform"); ok && p != "Unknown" {
		c.Platform = p
		c.OS = p
		if v, ok := sfStringField(h, "Sec-Ch-Ua-Platform-Version"); ok {
			c.OS = osName(p, v)
		}
	}
	mobile, mobileOK := sfBooleanField(h, "Sec-Ch-Ua-Mobile")
	switch {
	case mobileOK && mobile:
		c.Device = "mobile"
	case mobileOK || c.Browser != "" || c.Platform != "":
		c.Device = "desktop"
	default:
		return Client{}, false
	}
	return c, true
}

// DefaultClient is what Options.Client defaults to: ClientHints, or the
// zero Client when the request carries no usable hint.
func DefaultClient(h http.Header) Client {
	c, _ := ClientHints(h)
	return c
}

// Limits on what ClientHints accepts. Real hints are far shorter.
const (
	maxHintField = 4 << 10 // a whole header, all its lines joined
	maxHintValue = 128     // one brand, platform or version
	maxMajor     = 6       // digits of a major version
)

// hintField returns the header's lines joined as RFC 8941 asks, or false
// when there is none or it is too long. A single line, the usual case,
// is returned without copying.
func hintField(h http.Header, key string) (string, bool) {
	v := h[key]
	switch len(v) {
	case 0:
		return "", false
	case 1:
		return v[0], len(v[0]) <= maxHintField
	}
	n := 0
	for _, s := range v {
		n += len(s) + 2
	}
	if n > maxHintField+2 {
		return "", false
	}
	return strings.Join(v, ", "), true
}

// bestBrand returns the most specific real brand in the sf-list of
// sf-strings under key, with the major version of its "v" parameter
// (or "" when that is missing or not a version). It returns "" when the
// header is absent, malformed or names no real brand.
func bestBrand(h http.Header, key string) (brand, major string) {
	s, ok := hintField(h, key)
	if !ok {
		return "", ""
	}
	p := sfParser{s: s}
	var chromium, chromiumMajor string
	p.skipSP()
	if p.done() {
		return "", "" // an empty list
	}
	for {
		b, ok := p.item()
		if !ok {
			return "", ""
		}
		if name := strings.TrimSpace(b.s); b.isString && name != "" && len(name) <= maxHintValue && !isGrease(name) {
			switch {
			case name == "Chromium":
				if chromium == "" {
					chromium, chromiumMajor = name, majorVersion(p.version)
				}
			case brand == "":
				brand, major = name, majorVersion(p.version)
			}
		}
		p.skipOWS()
		if p.done() {
			break
		}
		if !p.consume(',') {
			return "", ""
		}
		p.skipOWS()
		if p.done() {
			return "", "" // a trailing comma
		}
	}
	if brand == "" {
		return chromium, chromiumMajor
	}
	switch brand {
	case "Google Chrome":
		brand = "Chrome"
	case "Microsoft Edge":
		brand = "Edge"
	}
	return brand, major
}

// isGrease reports whether brand is one of the made-up brands Chromium
// adds so that servers do not match on the exact list: "Not_A Brand",
// "Not A(Brand", " Not;A Brand" and so on. Their letters always spell
// "NotABrand", whatever the punctuation between them.
func isGrease(brand string) bool {
	const want = "notabrand"
	j := 0
	for i := 0; i < len(brand); i++ {
		c := brand[i] | 0x20 // ASCII lower case for letters
		if c < 'a' || c > 'z' {
			continue
		}
		if j == len(want) || c != want[j] {
			return false
		}
		j++
	}
	return j == len(want)
}

// majorVersion returns the digits of v up to its first dot, or "" when
// v is not a version (digits and dots, starting with a digit).
func majorVersion(v string) string {
	if !isVersion(v) {
		return ""
	}
	i := strings.IndexByte(v, '.')
	if i < 0 {
		i = len(v)
	}
	if i > maxMajor {
		return ""
	}
	return v[:i]
}

func isVersion(v string) bool {
	if v == "" || len(v) > maxHintValue || v[0] < '0' || v[0] > '9' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if (v[i] < '0' || v[i] > '9') && v[i] != '.' {
			return false
		}
	}
	return true
}

// osName returns platform with version v as a release name: "macOS
// 14.5", "Android 14", "Windows 11". v is a platform version such as
// "14.5.0"; when it is not one, platform is returned alone.
func osName(platform, v string) string {
	major := majorVersion(v)
	if major == "" {
		return platform
	}
	if platform == "Windows" {
		// https://learn.microsoft.com/microsoft-edge/web-platform/how-to-detect-win11
		switch n := atoi(major); {
		case n >= 13:
			return "Windows 11"
		case n >= 1:
			return "Windows 10"
		}
		return platform
	}
	ver := major
	if rest := v[len(major):]; len(rest) > 1 { // ".5.0" → minor "5"
		minor := rest[1:]
		if i := strings.IndexByte(minor, '.'); i >= 0 {
			minor = minor[:i]
		}
		if minor != "" && strings.Trim(minor, "0") != "" && len(minor) <= maxMajor {
			ver = v[:len(major)+1+len(minor)]
		}
	}
	return platform + " " + ver
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// sfStringField returns the sf-string under key, or false when the
// header is absent, malformed, too long, or holds another type.
func sfStringField(h http.Header, key string) (string, bool) {
	s, ok := hintField(h, key)
	if !ok {
		return "", false
	}
	p := sfParser{s: s}
	p.skipSP()
	b, ok := p.item()
	p.skipSP()
	if !ok || !b.isString || !p.done() {
		return "", false
	}
	v := strings.TrimSpace(b.s)
	if v == "" || len(v) > maxHintValue {
		return "", false
	}
	return v, true
}

// sfBooleanField returns the sf-boolean under key; ok is false when the
// header is absent, malformed or holds another type.
func sfBooleanField(h http.Header, key string) (v, ok bool) {
	s, ok := hintField(h, key)
	if !ok {
		return false, false
	}
	p := sfParser{s: s}
	p.skipSP()
	b, ok := p.item()
	p.skipSP()
	if !ok || !b.isBool || !p.done() {
		return false, false
	}
	return b.b, true
}

// sfParser parses the parts of RFC 8941 structured fields that client
// hints use: items with parameters, in lists. Inner lists are refused.
// It never allocates for a string without escapes.
type sfParser struct {
	s       string
	i       int
	version string // the "v" parameter of the last item, if a string
}

// bareItem is a parsed bare item. Only strings and booleans are kept;
// the other types (tokens, numbers, byte sequences) are checked and
// skipped.
type bareItem struct {
	s        string
	b        bool
	isString bool
	isBool   bool
}

func (p *sfParser) done() bool { return p.i >= len(p.s) }

func (p *sfParser) consume(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// item parses a bare item and its parameters, recording the "v"
// parameter in p.version.
func (p *sfParser) item() (bareItem, bool) {
	b, ok := p.bareItem()
	if !ok {
		return bareItem{}, false
	}
	p.version = ""
	for p.consume(';') {
		p.skipSP()
		key, ok := p.key()
		if !ok {
			return bareItem{}, false
		}
		val := bareItem{b: true, isBool: true} // a parameter without a value is true
		if p.consume('=') {
			if val, ok = p.bareItem(); !ok {
				return bareItem{}, false
			}
		}
		if key == "v" {
			p.version = ""
			if val.isString {
				p.version = val.s
			}
		}
	}
	return b, true
}

func (p *sfParser) bareItem() (bareItem, bool) {
	if p.done() {
		return bareItem{}, false
	}
	switch c := p.s[p.i]; {
	case c == '"':
		s, ok := p.string()
		return bareItem{s: s, isString: true}, ok
	case c == '?':
		p.i++
		if p.consume('1') {
			return bareItem{b: true, isBool: true}, true
		}
		if p.consume('0') {
			return bareItem{isBool: true}, true
		}
		return bareItem{}, false
	case c == '-' || isDigit(c):
		return bareItem{}, p.number()
	case c == ':':
		return bareItem{}, p.byteSequence()
	case c == '*' || isAlpha(c):
		p.token()
		return bareItem{}, true
	}
	return bareItem{}, false
}

// string parses an sf-string: printable ASCII in double quotes, with
// only \" and \\ escaped.
func (p *sfParser) string() (string, bool) {
	p.i++ // the opening quote
	start := p.i
	escaped := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\\':
			if p.i+1 >= len(p.s) || (p.s[p.i+1] != '"' && p.s[p.i+1] != '\\') {
				return "", false
			}
			escaped = true
			p.i += 2
		case c == '"':
			s := p.s[start:p.i]
			p.i++
			if escaped {
				s = unescape(s)
			}
			return s, true
		case c < 0x20 || c > 0x7e:
			return "", false
		default:
			p.i++
		}
	}
	return "", false // unterminated
}

func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// number checks an sf-integer or sf-decimal.
func (p *sfParser) number() bool {
	p.consume('-')
	start, dot := p.i, -1
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '.' && dot < 0 {
			dot = p.i
		} else if !isDigit(c) {
			break
		}
		p.i++
	}
	switch {
	case p.i == start || !isDigit(p.s[start]):
		return false
	case dot < 0:
		return p.i-start <= 15
	default:
		return dot-start <= 12 && p.i-dot-1 >= 1 && p.i-dot-1 <= 3
	}
}

// byteSequence checks an sf-binary: base64 between colons.
func (p *sfParser) byteSequence() bool {
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		if c == ':' {
			return true
		}
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '/' && c != '=' {
			return false
		}
	}
	return false
}

func (p *sfParser) token() {
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !isTchar(c) && c != ':' && c != '/' {
			return
		}
		p.i++
	}
}

// key parses a parameter key: lowercase letters, digits, "_", "-", "."
// and "*", starting with a lowercase letter or "*".
func (p *sfParser) key() (string, bool) {
	start := p.i
	if p.done() || (p.s[p.i] != '*' && (p.s[p.i] < 'a' || p.s[p.i] > 'z')) {
		return "", false
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if (c < 'a' || c > 'z') && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.i++
	}
	return p.s[start:p.i], true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// isTchar reports whether c is a tchar of RFC 9110.
func isTchar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
