package httpaudit

import (
	"bytes"
	"io"
	"math/bits"
	"mime"
	"mime/multipart"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// Signal is one suspicious pattern that Detect found in a request.
type Signal struct {
	// Rule is the rule's stable id, "<family>.<name>": "sqli.union_select",
	// "traversal.dotdot", "probe.dotenv", "scanner.sqlmap".
	// docs/security-signals.md lists them all.
	Rule string
	// Category is one of the Category constants.
	Category string
	// Where is the part of the request the pattern was found in: one of
	// the Where constants.
	Where string
	// Match is an excerpt of the decoded text, starting a little before
	// the match: at most 128 bytes of valid UTF-8, with control
	// characters replaced by spaces.
	Match string
	// Severity is activitylog.SeverityError for a rule that only an
	// attack payload trips, and activitylog.SeverityWarning for
	// reconnaissance (a probe for a file, a scanner's user agent) and for
	// the rules that an odd benign request could trip.
	Severity activitylog.Severity
}

// The categories of Signal.Category.
const (
	CategoryPathTraversal = "path_traversal" // ../ escapes, sensitive files, PHP stream wrappers
	CategorySQLi          = "sqli"           // SQL injection
	CategoryXSS           = "xss"            // cross-site scripting
	CategoryCmdi          = "cmdi"           // OS command or code injection
	CategorySSTI          = "ssti"           // server-side template injection
	CategoryJNDI          = "jndi"           // Log4Shell (CVE-2021-44228) lookups
	CategorySSRF          = "ssrf"           // cloud metadata addresses, file:/gopher: URLs
	CategoryXXE           = "xxe"            // XML external entities
	CategoryProbe         = "probe"          // requests for files and admin pages a Go service does not serve
	CategoryScanner       = "scanner"        // attack tools' user agents, out-of-band callback domains
)

// The parts of a request, for Signal.Where.
const (
	WherePath      = "path"
	WhereQuery     = "query"
	WhereBody      = "body"
	WhereUserAgent = "user_agent"
	WhereMethod    = "method"
)

// MaxDetectBody is how much of a body Detect inspects: the first 64 KiB.
// The path, the query and the user agent are cut to the same length.
const MaxDetectBody = 64 << 10

// DetectInput is the part of a request that Detect inspects.
type DetectInput struct {
	Method string
	// Path is the URL path, escaped (r.URL.EscapedPath()) or not
	// (r.URL.Path): Detect decodes either.
	Path string
	// RawQuery is the query without the '?' (r.URL.RawQuery).
	RawQuery  string
	UserAgent string
	// Body is the request body, or its first MaxDetectBody bytes; the
	// rest is ignored.
	Body []byte
	// ContentType is the Content-Type header. It says how Body is read:
	// form values for application/x-www-form-urlencoded, field values
	// and file names for multipart/form-data, string keys and values for
	// JSON (a type with "json" in it; or none, or text/plain, when the
	// body starts with '{', '[' or '"'), and plain text otherwise.
	ContentType string
}

// Detect looks for attack payloads, probes and scanners in a request and
// returns what it found: at most one Signal per rule, in the order of
// the rule list (docs/security-signals.md), nil when nothing was found.
//
// Every value is decoded before it is matched: percent-encoding up to
// three times (so %252e%252e is seen as ..), '+' as a space in query and
// form values, %uXXXX, overlong UTF-8 (%c0%ae), fullwidth look-alikes
// (．／＜), HTML character references (&#x3c; &lt;), JSON escapes, SQL
// comments (/**/ becomes a space, /*!50000 … */ keeps its content), runs
// of white space, and NUL bytes (dropped). Matching is case-insensitive and treats '\' as '/'. Query and
// form parameters are decoded and checked name and value apart.
//
// Detect is safe for concurrent use. It runs in the request's goroutine:
// a typical benign request costs about half a microsecond and allocates
// nothing, and a value of 64 KiB built to be slow costs a few
// milliseconds at most. docs/security-signals.md has the measurements.
func Detect(in DetectInput) []Signal {
	d := detPool.Get().(*detState)
	if m := in.Method; strings.EqualFold(m, "TRACE") || strings.EqualFold(m, "TRACK") || strings.EqualFold(m, "DEBUG") {
		d.kind, d.where = detMethod, WhereMethod
		detLoad(d, m, false)
		d.fire(rProbeMethod, 0, len(d.low))
	}
	if in.Path != "" {
		d.kind, d.where = detPath, WherePath
		detLoad(d, detCap(in.Path), false)
		d.scan()
		d.probes()
	}
	if in.RawQuery != "" {
		d.kind, d.where = detQuery, WhereQuery
		detForm(d, detCap(in.RawQuery))
	}
	if len(in.Body) > 0 {
		d.kind, d.where = detBody, WhereBody
		d.body(detCap(in.Body), in.ContentType)
	}
	if in.UserAgent != "" {
		d.kind, d.where = detUA, WhereUserAgent
		detLoad(d, detCap(in.UserAgent), false)
		d.scan()
	}
	out := d.result()
	detPool.Put(d)
	return out
}

// The rules, in the order Detect returns their signals.
const (
	rTraversalDotdot = iota
	rTraversalFile
	rTraversalWrapper
	rSQLiUnion
	rSQLiTautology
	rSQLiStacked
	rSQLiTime
	rSQLiSchema
	rSQLiFunction
	rSQLiSubquery
	rSQLiHex
	rSQLiCommentQuote
	rSQLiOrderBy
	rXSSScript
	rXSSHandler
	rXSSScriptURI
	rXSSBreakout
	rXSSEmbed
	rXSSDOMSink
	rCmdiShell
	rCmdiShellshock
	rCmdiPHP
	rSSTIArith
	rSSTIObject
	rJNDI
	rSSRFMetadata
	rSSRFScheme
	rXXE
	rProbeDotenv
	rProbeVCS
	rProbeDotfile
	rProbeConfig
	rProbeBackup
	rProbeWordPress
	rProbeDBAdmin
	rProbeServerStatus
	rProbeActuator
	rProbeCGI
	rProbeExploit
	rProbeScriptExt
	rProbeMethod
	rScannerOAST
	rScannerFirst // then one rule per entry of scannerTools
)

// scannerTools are the attack tools recognised by a word of the user
// agent. A word is a run of [a-z0-9_] in the lower-cased user agent.
var detScanners = [...]struct {
	rule  string
	words []string
}{
	{"scanner.sqlmap", []string{"sqlmap"}},
	{"scanner.nikto", []string{"nikto"}},
	{"scanner.nmap", []string{"nmap"}},
	{"scanner.masscan", []string{"masscan"}},
	{"scanner.zgrab", []string{"zgrab", "zgrab2"}},
	{"scanner.nuclei", []string{"nuclei"}},
	{"scanner.wpscan", []string{"wpscan"}},
	{"scanner.dirbuster", []string{"dirbuster"}},
	{"scanner.gobuster", []string{"gobuster"}},
	{"scanner.feroxbuster", []string{"feroxbuster"}},
	{"scanner.dirsearch", []string{"dirsearch"}},
	{"scanner.ffuf", []string{"ffuf", "fuzz"}}, // "Fuzz Faster U Fool v2.1.0"
	{"scanner.wfuzz", []string{"wfuzz"}},
	{"scanner.acunetix", []string{"acunetix"}},
	{"scanner.netsparker", []string{"netsparker", "invicti"}},
	{"scanner.w3af", []string{"w3af"}},
	{"scanner.arachni", []string{"arachni"}},
	{"scanner.skipfish", []string{"skipfish"}},
	{"scanner.openvas", []string{"openvas"}},
	{"scanner.nessus", []string{"nessus"}},
	{"scanner.whatweb", []string{"whatweb"}},
	{"scanner.wapiti", []string{"wapiti"}},
	{"scanner.zmeu", []string{"zmeu"}},
	{"scanner.havij", []string{"havij"}},
	{"scanner.commix", []string{"commix"}},
	{"scanner.hydra", []string{"hydra"}},
	{"scanner.jorgee", []string{"jorgee"}},
	{"scanner.morfeus", []string{"morfeus"}},
	{"scanner.xsstrike", []string{"xsstrike"}},
	{"scanner.fimap", []string{"fimap"}},
	{"scanner.leakix", []string{"l9explore", "l9tcpid"}},
}

const detNumRules = rScannerFirst + len(detScanners)

type detRule struct {
	id, cat string
	sev     activitylog.Severity
}

var detRules = func() (r [detNumRules]detRule) {
	const (
		warn = activitylog.SeverityWarning
		fail = activitylog.SeverityError
	)
	r[rTraversalDotdot] = detRule{"traversal.dotdot", CategoryPathTraversal, warn}
	r[rTraversalFile] = detRule{"traversal.sensitive_file", CategoryPathTraversal, fail}
	r[rTraversalWrapper] = detRule{"traversal.php_wrapper", CategoryPathTraversal, fail}
	r[rSQLiUnion] = detRule{"sqli.union_select", CategorySQLi, fail}
	r[rSQLiTautology] = detRule{"sqli.tautology", CategorySQLi, fail}
	r[rSQLiStacked] = detRule{"sqli.stacked_query", CategorySQLi, fail}
	r[rSQLiTime] = detRule{"sqli.time_delay", CategorySQLi, fail}
	r[rSQLiSchema] = detRule{"sqli.schema_probe", CategorySQLi, fail}
	r[rSQLiFunction] = detRule{"sqli.function", CategorySQLi, fail}
	r[rSQLiSubquery] = detRule{"sqli.subquery", CategorySQLi, fail}
	r[rSQLiHex] = detRule{"sqli.hex_literal", CategorySQLi, warn}
	r[rSQLiCommentQuote] = detRule{"sqli.comment_quote", CategorySQLi, warn}
	r[rSQLiOrderBy] = detRule{"sqli.order_by", CategorySQLi, warn}
	r[rXSSScript] = detRule{"xss.script_tag", CategoryXSS, fail}
	r[rXSSHandler] = detRule{"xss.event_handler", CategoryXSS, fail}
	r[rXSSScriptURI] = detRule{"xss.script_uri", CategoryXSS, fail}
	r[rXSSBreakout] = detRule{"xss.js_breakout", CategoryXSS, fail}
	r[rXSSEmbed] = detRule{"xss.embed_tag", CategoryXSS, warn}
	r[rXSSDOMSink] = detRule{"xss.dom_sink", CategoryXSS, warn}
	r[rCmdiShell] = detRule{"cmdi.shell_command", CategoryCmdi, fail}
	r[rCmdiShellshock] = detRule{"cmdi.shellshock", CategoryCmdi, fail}
	r[rCmdiPHP] = detRule{"cmdi.php_code", CategoryCmdi, fail}
	r[rSSTIArith] = detRule{"ssti.arithmetic", CategorySSTI, warn}
	r[rSSTIObject] = detRule{"ssti.object_walk", CategorySSTI, fail}
	r[rJNDI] = detRule{"jndi.lookup", CategoryJNDI, fail}
	r[rSSRFMetadata] = detRule{"ssrf.cloud_metadata", CategorySSRF, fail}
	r[rSSRFScheme] = detRule{"ssrf.scheme", CategorySSRF, warn}
	r[rXXE] = detRule{"xxe.external_entity", CategoryXXE, fail}
	r[rProbeDotenv] = detRule{"probe.dotenv", CategoryProbe, warn}
	r[rProbeVCS] = detRule{"probe.vcs", CategoryProbe, warn}
	r[rProbeDotfile] = detRule{"probe.dotfile", CategoryProbe, warn}
	r[rProbeConfig] = detRule{"probe.config_file", CategoryProbe, warn}
	r[rProbeBackup] = detRule{"probe.backup", CategoryProbe, warn}
	r[rProbeWordPress] = detRule{"probe.wordpress", CategoryProbe, warn}
	r[rProbeDBAdmin] = detRule{"probe.db_admin", CategoryProbe, warn}
	r[rProbeServerStatus] = detRule{"probe.server_status", CategoryProbe, warn}
	r[rProbeActuator] = detRule{"probe.actuator", CategoryProbe, warn}
	r[rProbeCGI] = detRule{"probe.cgi", CategoryProbe, warn}
	r[rProbeExploit] = detRule{"probe.exploit_path", CategoryProbe, warn}
	r[rProbeScriptExt] = detRule{"probe.script_ext", CategoryProbe, warn}
	r[rProbeMethod] = detRule{"probe.method", CategoryProbe, warn}
	r[rScannerOAST] = detRule{"scanner.oast", CategoryScanner, warn}
	for i, t := range detScanners {
		r[rScannerFirst+i] = detRule{t.rule, CategoryScanner, warn}
	}
	return r
}()

// Where a value comes from; some rules look at some parts only.
const (
	detPath = iota + 1
	detQuery
	detBody
	detUA
	detMethod
)

// detState is the scratch space of one Detect call. It is pooled, so
// that a benign request allocates nothing.
type detState struct {
	fired [(detNumRules + 63) / 64]uint64
	sigs  [detNumRules]Signal

	kind  int
	where string

	a, b []byte // percent-decoding rounds
	// The value being matched, normalised: dec keeps the case (for
	// excerpts), low is lower-cased with '\' as '/'. Both have the same
	// length, so an offset into one is an offset into the other.
	dec, low []byte
	js       []byte // a JSON string, unescaped
	tmp      []byte // Log4j lookups being resolved

	// Per value.
	hexAt, hexEnd int  // first 0x… literal, or -1
	sqlWord       bool // select, concat, char, … seen
	jndiUntil     int  // ${ before this offset were resolved already
	dotdotDone    bool
	quotes        [2]int // ' and " seen so far
	onNext        int    // " on" before this offset were looked at
	closeBrace    int    // the first '}' at or after the last '{' looked at
}

var detPool = sync.Pool{New: func() any { return new(detState) }}

func (d *detState) has(r int) bool { return d.fired[r>>6]&(1<<(r&63)) != 0 }

// fire records rule r, matched at low[s:e], unless it fired already.
func (d *detState) fire(r, s, e int) {
	if d.has(r) {
		return
	}
	d.fired[r>>6] |= 1 << (r & 63)
	m := &detRules[r]
	d.sigs[r] = Signal{Rule: m.id, Category: m.cat, Where: d.where, Match: detExcerpt(d.dec, s, e), Severity: m.sev}
}

// result returns the signals in rule order and resets d.
func (d *detState) result() []Signal {
	n := 0
	for _, w := range d.fired {
		n += bits.OnesCount64(w)
	}
	if n == 0 {
		return nil
	}
	out := make([]Signal, 0, n)
	for i, w := range d.fired {
		for ; w != 0; w &= w - 1 {
			r := i*64 + bits.TrailingZeros64(w)
			out = append(out, d.sigs[r])
			d.sigs[r] = Signal{}
		}
	}
	d.fired = [len(d.fired)]uint64{}
	return out
}

const detMaxMatch = 128

// detExcerpt returns dec around [s, e): from up to 16 bytes before s, at
// most detMaxMatch bytes, valid UTF-8, control characters as spaces.
func detExcerpt(dec []byte, s, e int) string {
	s = min(max(s, 0), len(dec))
	lo := max(0, s-16)
	hi := min(len(dec), max(e, lo+detMaxMatch))
	for lo < hi && !utf8.RuneStart(dec[lo]) {
		lo++
	}
	if hi-lo <= detMaxMatch {
		ascii := true
		for _, c := range dec[lo:hi] {
			if c < 0x20 || c >= 0x7f {
				ascii = false
				break
			}
		}
		if ascii {
			return string(dec[lo:hi])
		}
	}
	var sb strings.Builder
	sb.Grow(min(hi-lo, detMaxMatch))
	for i := lo; i < hi; {
		r, n := utf8.DecodeRune(dec[i:])
		w := n
		if r == utf8.RuneError && n == 1 {
			w = 3 // written as U+FFFD
		}
		if sb.Len()+w > detMaxMatch {
			break
		}
		switch {
		case r < 0x20 || r == 0x7f:
			sb.WriteByte(' ')
		case r == utf8.RuneError && n == 1:
			sb.WriteRune(utf8.RuneError)
		default:
			sb.Write(dec[i : i+n])
		}
		i += n
	}
	return sb.String()
}

// detText is what the decoders read: the request's strings, and byte
// slices of the body.
type detText interface{ ~string | ~[]byte }

func detCap[T detText](s T) T {
	if len(s) > MaxDetectBody {
		return s[:MaxDetectBody]
	}
	return s
}

// Byte classes.
var (
	detWord  [256]bool // [a-z0-9_]: the bytes of a word in low
	detLower [256]byte // ASCII lower case, '\' as '/'
	detInert [256]bool // [A-Za-z0-9-]: a value made of these alone cannot match any rule
	// The bytes that start something detNormalize decodes: NUL, white
	// space but a lone ' ', '&', '*' (of "/*"), overlong and look-alike
	// UTF-8 leads.
	detSpecial [256]bool
)

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		detLower[c] = b
		switch {
		case b >= 'A' && b <= 'Z':
			detLower[c] = b + 'a' - 'A'
			detInert[c] = true
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9':
			detWord[c] = true
			detInert[c] = true
		case b == '_':
			detWord[c] = true
		case b == '-':
			detInert[c] = true
		case b == '\\':
			detLower[c] = '/'
		}
		switch b {
		case 0, '\t', '\n', '\r', '\v', '\f', '&', '*', 0xc0, 0xc1, 0xe0, 0xe2, 0xef:
			detSpecial[c] = true
		}
	}
}

func detIsLetter(c byte) bool { return c >= 'a' && c <= 'z' }
func detIsDigit(c byte) bool  { return c >= '0' && c <= '9' }

func detIsHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func detUnhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func detHasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

// detForm checks each name and value of a query string or form body,
// decoded apart.
func detForm[T detText](d *detState, s T) {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '&' {
			i++
		}
		pair := s[:i]
		if i < len(s) {
			i++
		}
		s = s[i:]
		eq := 0
		for eq < len(pair) && pair[eq] != '=' {
			eq++
		}
		detCheck(d, pair[:eq], true)
		if eq < len(pair) {
			detCheck(d, pair[eq+1:], true)
		}
	}
}

// detCheck decodes and matches one value, unless it is made of bytes
// that no rule looks at.
func detCheck[T detText](d *detState, s T, plus bool) {
	inert := true
	for i := 0; i < len(s); i++ {
		if !detInert[s[i]] {
			inert = false
			break
		}
	}
	if inert {
		return
	}
	detLoad(d, s, plus)
	d.scan()
}

// detLoad decodes s into d.dec and d.low.
func detLoad[T detText](d *detState, s T, plus bool) {
	pct, plain := false, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' || c == '+' && plus {
			pct = true
			break
		}
		if detSpecial[c] || c == ' ' && i > 0 && s[i-1] == ' ' {
			plain = false
		}
	}
	if !pct {
		detNormalizeAs(d, s, plain)
		return
	}
	d.a = detPctDecode(d.a[:0], s, plus)
	for round := 1; round < 3 && detHasEscape(d.a); round++ {
		d.b = detPctDecode(d.b[:0], d.a, false)
		d.a, d.b = d.b, d.a
	}
	detNormalize(d, d.a)
}

// detHasEscape reports whether b holds a %XX or %uXXXX escape.
func detHasEscape(b []byte) bool {
	for i := bytes.IndexByte(b, '%'); i >= 0 && i+2 < len(b); {
		if detIsHex(b[i+1]) && detIsHex(b[i+2]) || b[i+1]|0x20 == 'u' {
			return true
		}
		j := bytes.IndexByte(b[i+1:], '%')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// detPctDecode appends s to dst with %XX and %uXXXX decoded, and, when plus
// is set, '+' as a space. A '%' that starts no escape is kept.
func detPctDecode[T detText](dst []byte, s T, plus bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && detIsHex(s[i+1]) && detIsHex(s[i+2]):
			dst = append(dst, detUnhex(s[i+1])<<4|detUnhex(s[i+2]))
			i += 2
		case c == '%' && i+5 < len(s) && s[i+1]|0x20 == 'u' && detIsHex(s[i+2]) && detIsHex(s[i+3]) && detIsHex(s[i+4]) && detIsHex(s[i+5]):
			r := rune(detUnhex(s[i+2]))<<12 | rune(detUnhex(s[i+3]))<<8 | rune(detUnhex(s[i+4]))<<4 | rune(detUnhex(s[i+5]))
			dst = utf8.AppendRune(dst, r)
			i += 5
		case c == '+' && plus:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// detNormalize writes s to d.dec and d.low: HTML character references and
// overlong UTF-8 decoded, SQL comments and runs of white space as one
// space (a newline when the run held one), NUL bytes dropped.
func detNormalize[T detText](d *detState, s T) {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; detSpecial[c] || c == ' ' && i > 0 && s[i-1] == ' ' {
			plain = false
			break
		}
	}
	detNormalizeAs(d, s, plain)
}

// detNormalizeAs is detNormalize for s known to hold nothing to decode
// (plain) or not.
func detNormalizeAs[T detText](d *detState, s T, plain bool) {
	d.hexAt, d.sqlWord, d.jndiUntil, d.dotdotDone, d.quotes, d.onNext, d.closeBrace = -1, false, 0, false, [2]int{}, 0, -1
	if plain {
		// Nothing to decode, the common case: copy, and lower-case.
		d.dec = append(d.dec[:0], s...)
		d.low = append(d.low[:0], s...)
		for i, c := range d.low {
			d.low[i] = detLower[c]
		}
		return
	}
	dec, low := d.dec[:0], d.low[:0]
	versioned := false // inside /*! … */, whose content MySQL runs
	closeAt := -1      // where the next "*/" is, once looked for
	n := len(s)
	for i := 0; i < n; i++ {
		c := s[i]
		switch {
		case c == 0:
			continue
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			dec, low = detAppendSpace(dec, low, c == '\n' || c == '\r')
			continue
		case c == '&':
			if r, k := detEntity(s, i); k > 0 {
				dec, low = detAppendRune(dec, low, r)
				i += k - 1
				continue
			}
		case c == '/' && i+1 < n && s[i+1] == '*':
			if closeAt < i+2 {
				closeAt = detIndexClose(s, i+2)
			}
			if closeAt < n {
				if i+2 < n && s[i+2] == '!' {
					versioned = true
					j := i + 3
					for j < n && detIsDigit(s[j]) {
						j++
					}
					i = j - 1
				} else {
					i = closeAt + 1
				}
				dec, low = detAppendSpace(dec, low, false)
				continue
			}
		case c == '*' && versioned && i+1 < n && s[i+1] == '/':
			versioned = false
			dec, low = detAppendSpace(dec, low, false)
			i++
			continue
		case (c == 0xc0 || c == 0xc1) && i+1 < n && s[i+1]&0xc0 == 0x80:
			dec, low = detAppendRune(dec, low, rune(c&0x1f)<<6|rune(s[i+1]&0x3f))
			i++
			continue
		case (c == 0xe2 || c == 0xef) && i+2 < n && s[i+1]&0xc0 == 0x80 && s[i+2]&0xc0 == 0x80:
			// Look-alikes that a filter misses and a normalising back
			// end reads as ASCII: fullwidth ．／＜ and the division slash.
			r := rune(c&0x0f)<<12 | rune(s[i+1]&0x3f)<<6 | rune(s[i+2]&0x3f)
			if a := detFold(r); a != r {
				dec, low = detAppendRune(dec, low, a)
				i += 2
				continue
			}
		case c == 0xe0 && i+2 < n && s[i+1]&0xe0 == 0x80 && s[i+2]&0xc0 == 0x80:
			// A three-byte overlong form of an ASCII character.
			if r := rune(s[i+1]&0x3f)<<6 | rune(s[i+2]&0x3f); r < 0x80 {
				dec, low = detAppendRune(dec, low, r)
				i += 2
				continue
			}
		}
		dec = append(dec, c)
		low = append(low, detLower[c])
	}
	d.dec, d.low = dec, low
}

// detIndexClose returns the offset of the first "*/" at or after i, or
// len(s).
func detIndexClose[T detText](s T, i int) int {
	for ; i+1 < len(s); i++ {
		if s[i] == '*' && s[i+1] == '/' {
			return i
		}
	}
	return len(s)
}

// detAppendSpace appends one space, or a newline, to dec and low, unless
// they end in white space already; a newline replaces a space.
func detAppendSpace(dec, low []byte, newline bool) ([]byte, []byte) {
	if n := len(low); n > 0 && (low[n-1] == ' ' || low[n-1] == '\n') {
		if newline {
			dec[n-1], low[n-1] = '\n', '\n'
		}
		return dec, low
	}
	if newline {
		return append(dec, '\n'), append(low, '\n')
	}
	return append(dec, ' '), append(low, ' ')
}

// detAppendRune appends a decoded character to dec and low.
func detAppendRune(dec, low []byte, r rune) ([]byte, []byte) {
	r = detFold(r)
	switch {
	case r == 0:
		return dec, low
	case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == 0xa0:
		return detAppendSpace(dec, low, r == '\n' || r == '\r')
	case r < utf8.RuneSelf:
		return append(dec, byte(r)), append(low, detLower[r])
	}
	return utf8.AppendRune(dec, r), utf8.AppendRune(low, r)
}

// detFold returns the ASCII character that r looks like and that some
// back ends (IIS's best-fit mapping, NFKC) turn it into: the fullwidth
// forms U+FF01–U+FF5E, the division and fraction slashes, the one dot
// leader. Any other rune is returned as it is.
func detFold(r rune) rune {
	switch {
	case r >= 0xff01 && r <= 0xff5e:
		return r - 0xff01 + '!'
	case r == 0x2215 || r == 0x2044:
		return '/'
	case r == 0x2024:
		return '.'
	}
	return r
}

// detEntity decodes the HTML character reference at s[i] ('&'), returning
// the character and the reference's length, or 0, 0. Like a browser it
// accepts a numeric reference without its ';', and any number of
// leading zeros.
func detEntity[T detText](s T, i int) (rune, int) {
	j := i + 1
	if j < len(s) && s[j] == '#' {
		j++
		base := rune(10)
		if j < len(s) && s[j]|0x20 == 'x' {
			base = 16
			j++
		}
		start := j
		var r rune
		for ; j < len(s) && j-start < 12; j++ {
			c := s[j]
			if base == 10 && !detIsDigit(c) || base == 16 && !detIsHex(c) {
				break
			}
			r = r*base + rune(detUnhex(c))
			if r > utf8.MaxRune {
				r = utf8.RuneError
			}
		}
		if j == start {
			return 0, 0
		}
		if j < len(s) && s[j] == ';' {
			j++
		}
		if r > utf8.MaxRune || r >= 0xd800 && r < 0xe000 {
			r = utf8.RuneError
		}
		return r, j - i
	}
	var name [8]byte
	k := 0
	for ; j < len(s) && k < len(name); j++ {
		c := detLower[s[j]]
		if !detIsLetter(c) {
			break
		}
		name[k] = c
		k++
	}
	semi := j < len(s) && s[j] == ';'
	var r rune
	switch string(name[:k]) {
	case "lt":
		r = '<'
	case "gt":
		r = '>'
	case "quot":
		r = '"'
	case "amp":
		r = '&'
	case "apos":
		r = '\''
	case "colon":
		r = ':'
	case "lpar":
		r = '('
	case "rpar":
		r = ')'
	case "sol":
		r = '/'
	case "bsol":
		r = '\\'
	case "semi":
		r = ';'
	case "grave":
		r = '`'
	case "equals":
		r = '='
	case "period":
		r = '.'
	case "excl":
		r = '!'
	case "lsqb":
		r = '['
	case "rsqb":
		r = ']'
	case "lcub", "lbrace":
		r = '{'
	case "rcub", "rbrace":
		r = '}'
	case "comma":
		r = ','
	case "dollar":
		r = '$'
	case "verbar", "vert":
		r = '|'
	case "num":
		r = '#'
	case "tab":
		r = '\t'
	case "newline":
		r = '\n'
	case "nbsp":
		r = ' '
	default:
		return 0, 0
	}
	if semi {
		return r, j + 1 - i
	}
	switch r {
	case '<', '>', '"', '&': // the legacy references browsers read without ';'
		return r, j - i
	}
	return 0, 0
}

// at returns low[k], or 0 past either end (NUL bytes are never in low).
func (d *detState) at(k int) byte {
	if k >= 0 && k < len(d.low) {
		return d.low[k]
	}
	return 0
}

// skipSp skips white space.
func (d *detState) skipSp(k int) int {
	for c := d.at(k); c == ' ' || c == '\n'; c = d.at(k) {
		k++
	}
	return k
}

func (d *detState) wordEnd(k int) int {
	for k < len(d.low) && detWord[d.low[k]] {
		k++
	}
	return k
}

// wordAt reports whether the word w starts at k.
func (d *detState) wordAt(k int, w string) bool {
	return k >= 0 && k <= len(d.low) && detHasPrefix(d.low[k:], w) && !detWord[d.at(k+len(w))]
}

// wordWithin reports whether the word w starts between k and k+n.
func (d *detState) wordWithin(k, n int, w string) bool {
	end := min(len(d.low), k+n)
	for ; k+len(w) <= end; k++ {
		if d.low[k] == w[0] && detHasPrefix(d.low[k:], w) && !detWord[d.at(k-1)] && !detWord[d.at(k+len(w))] {
			return true
		}
	}
	return false
}

// scan runs the rules over d.low: a word rule at each word, a
// punctuation rule at each of the few bytes that start one.
func (d *detState) scan() {
	l := d.low
	for i := 0; i < len(l); {
		c := l[i]
		if detWord[c] {
			j := d.wordEnd(i + 1)
			if j-i > 1 {
				d.word(i, j)
			}
			i = j
			continue
		}
		switch c {
		case '.':
			if !d.dotdotDone && d.at(i+1) == '.' && (i == 0 || l[i-1] == '/') {
				d.dotdot(i)
			}
		case '\'':
			d.quote(i, 0)
			d.quotes[0]++
		case '"':
			d.quote(i, 1)
			d.quotes[1]++
		case '`':
			d.backtick(i)
		case ';':
			d.stacked(i)
			d.cmdSep(i)
		case '|', '&':
			if d.at(i+1) == c {
				d.tautology(i, i+2)
			}
			if d.at(i-1) != '|' && d.at(i-1) != '&' {
				d.cmdSep(i)
			}
		case '\n':
			if d.kind != detBody {
				d.cmdAt(i, i+1)
			}
		case '<':
			d.lt(i)
		case '{':
			d.brace(i)
		case '$':
			switch d.at(i + 1) {
			case '{':
				d.jndi(i)
			case '(':
				d.cmdAt(i, i+2)
			}
		case '(':
			if d.at(i+1) == ')' {
				d.shellshock(i)
			}
		case '@':
			switch d.at(i + 1) {
			case '@':
				d.atat(i)
			case '(':
				d.razor(i)
			}
		}
		i++
	}
	if d.hexAt >= 0 && d.sqlWord {
		d.fire(rSQLiHex, d.hexAt, d.hexEnd)
	}
}

// word runs the rules that start at the word low[i:j].
func (d *detState) word(i, j int) {
	l := d.low
	w := l[i:j]
	if d.hexAt < 0 && len(w) >= 4 && w[0] == '0' && w[1] == 'x' && detAllHex(w[2:]) {
		d.hexAt, d.hexEnd = i, j
	}
	switch string(w) {
	case "union":
		d.sqlWord = true
		d.union(i, j)
	case "select":
		// SELECT 0x61646d696e, not "select wallet 0x742d…".
		if detHasPrefix(l[d.skipSp(j):], "0x") {
			d.sqlWord = true
		}
		d.subquery(i, j)
	case "concat", "concat_ws", "char", "chr", "unhex", "cast", "convert":
		if d.at(j) == '(' {
			d.sqlWord = true
		}
	case "or", "and", "xor", "when", "where", "having":
		d.tautology(i, j)
	case "if":
		if d.at(j) == '(' {
			d.tautology(i, j)
		}
	case "sleep", "pg_sleep", "benchmark", "waitfor", "randomblob", "dbms_pipe", "dbms_lock":
		d.timeDelay(i, j)
	case "information_schema", "sqlite_master", "sqlite_schema", "sysobjects", "syscolumns",
		"pg_catalog", "pg_shadow", "msysobjects", "all_tab_columns", "all_tables":
		d.fire(rSQLiSchema, i, j)
	case "mysql":
		if detHasPrefix(l[j:], ".user") && !detWord[d.at(j+5)] {
			d.fire(rSQLiSchema, i, j+5)
		}
	case "load_file", "extractvalue", "updatexml", "sys_eval", "sys_exec", "group_concat",
		"xp_cmdshell", "utl_inaddr", "utl_http", "into":
		d.sqlWord = true
		d.sqlFunc(i, j)
	case "order", "group":
		d.orderBy(i, j)
	case "alert", "prompt", "confirm", "eval":
		d.breakout(i, j)
	case "javascript", "vbscript", "livescript":
		d.scriptURI(i, j)
	case "java":
		// "java\tscript:": a browser drops tabs and newlines in a URL.
		if k := d.skipSp(j); k > j && d.wordAt(k, "script") {
			d.scriptURI(i, k+6)
		}
	case "data":
		d.dataURI(i, j)
	case "document", "fromcharcode":
		d.domSink(i, j)
	case "constructor", "getruntime", "runtime", "processbuilder", "freemarker", "popen", "import",
		"__class__", "__mro__", "__subclasses__", "__globals__", "__builtins__", "__import__":
		d.objectWalk(i, j)
	case "oastify", "burpcollaborator", "interactsh", "interact", "oast", "dnslog", "ceye",
		"bxss", "xss", "canarytokens":
		d.oast(i, j)
	case "169", "100", "fd00", "metadata", "computemetadata", "latest", "2852039166", "0xa9fea9fe", "0251":
		d.metadata(i, j)
	case "file", "gopher", "dict", "tftp", "netdoc", "jar":
		d.scheme(i, j)
	case "php", "phar", "zip", "expect", "compress", "glob":
		d.wrapper(i, j)
	case "etc", "proc", "win", "system", "boot", "windows", "web", "ssh", "htpasswd":
		d.sensitive(i, j)
	case "xi":
		if detHasPrefix(l[j:], ":include") {
			d.fire(rXXE, i, j+8)
		}
	case "sqlmap", "nikto", "nmap", "masscan", "zgrab", "zgrab2", "nuclei", "wpscan", "dirbuster",
		"gobuster", "feroxbuster", "dirsearch", "ffuf", "fuzz", "wfuzz", "acunetix", "netsparker",
		"invicti", "w3af", "arachni", "skipfish", "openvas", "nessus", "whatweb", "wapiti", "zmeu",
		"havij", "commix", "hydra", "jorgee", "morfeus", "xsstrike", "fimap", "l9explore", "l9tcpid":
		if d.kind == detUA {
			d.scanner(i, j)
		}
	default:
		// MySQL reads "1union" as 1 followed by UNION.
		if n := len(w); n > 5 && string(w[n-5:]) == "union" && detAllDigits(w[:n-5]) {
			d.union(j-5, j)
		}
	}
}

func detAllHex(b []byte) bool {
	for _, c := range b {
		if !detIsHex(c) {
			return false
		}
	}
	return true
}

func detAllDigits(b []byte) bool {
	for _, c := range b {
		if !detIsDigit(c) {
			return false
		}
	}
	return true
}

// --- Path traversal ---

// dotdot fires when a path in the value climbs above where it starts:
// "../../x", "/a/../../../etc", and in the URL path "/../x". It looks at
// the path-like token that holds the ".." at i.
func (d *detState) dotdot(i int) {
	d.dotdotDone = true
	l := d.low
	s, e := d.token(i), i
	for e < len(l) && !detPathStop(l[e]) {
		e++
	}
	// A URL path may not climb above its root at all; elsewhere a value
	// may be a relative reference one level up ("../images/a.png").
	floor := -2
	if d.kind == detPath {
		floor = -1
	}
	depth := 0
	for p := s; p <= e; {
		q := p
		for q < e && l[q] != '/' {
			q++
		}
		seg := l[p:q]
		if k := bytes.IndexByte(seg, ';'); k >= 0 {
			seg = seg[:k] // Tomcat's "..;/"
		}
		switch {
		case len(seg) == 0 || len(seg) == 1 && seg[0] == '.':
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.',
			len(seg) > 2 && q < e && detAllDots(seg): // "....//" outwits a filter that strips "../"
			depth--
			if depth <= floor {
				d.fire(rTraversalDotdot, p, e)
				return
			}
		default:
			depth++
		}
		p = q + 1
	}
}

func detAllDots(b []byte) bool {
	for _, c := range b {
		if c != '.' {
			return false
		}
	}
	return true
}

// detPathStop reports whether c ends a path-like token.
func detPathStop(c byte) bool {
	switch c {
	case ' ', '\n', '"', '\'', '=', '(', ')', '<', '>', ',', '|', '&', '`', '?', '#':
		return true
	}
	return false
}

// token returns where the path-like token that holds i starts, looking
// back at most 256 bytes.
func (d *detState) token(i int) int {
	s := i
	for s > 0 && i-s < 256 && !detPathStop(d.low[s-1]) {
		s--
	}
	return s
}

// sensitive fires for a well-known sensitive file (/etc/passwd,
// win.ini, …) named where a file name is expected: the value is the
// path, or the path climbs with "../", or it is in the URL path.
func (d *detState) sensitive(i, j int) {
	if d.has(rTraversalFile) {
		return
	}
	l := d.low
	r := l[j:]
	var e int
	switch string(l[i:j]) {
	case "etc":
		for _, f := range [...]string{"/passwd", "/shadow", "/group", "/hosts", "/issue", "/master.passwd", "/sudoers", "/crontab"} {
			if detHasPrefix(r, f) {
				e = j + len(f)
				break
			}
		}
	case "proc":
		if detHasPrefix(r, "/self/") || detHasPrefix(r, "/version") {
			e = j + 6
		}
	case "win", "system", "boot":
		if detHasPrefix(r, ".ini") {
			e = j + 4
		}
	case "windows":
		if detHasPrefix(r, "/system32") || detHasPrefix(r, "/win.ini") || detHasPrefix(r, "/system.ini") {
			e = j + 9
		}
	case "web":
		if detHasPrefix(r, "-inf/") {
			e = j + 5
		}
	case "ssh":
		if d.at(i-1) == '.' && (detHasPrefix(r, "/id_") || detHasPrefix(r, "/authorized_keys")) {
			e = j + 4
		}
	case "htpasswd":
		if d.at(i-1) == '.' {
			e = j
		}
	}
	if e == 0 {
		return
	}
	s := d.token(i)
	ok := d.kind == detPath || bytes.Contains(l[s:i], []byte("../"))
	if !ok && s == d.skipSp(0) {
		// The value is the path: "/etc/passwd", not "/etc/hosts explained".
		te := e
		for te < len(l) && !detPathStop(l[te]) {
			te++
		}
		ok = d.skipSp(te) == len(l)
	}
	if !ok && s > 0 {
		// A quoted or assigned part of the value is the path.
		ok = strings.IndexByte(`="'(,;|&<>`+"`", l[s-1]) >= 0
	}
	if ok {
		d.fire(rTraversalFile, s, e)
	}
}

// wrapper fires for PHP stream wrappers that read files or run code:
// php://filter, phar://, expect://, …
func (d *detState) wrapper(i, j int) {
	l := d.low
	r := l[j:]
	switch string(l[i:j]) {
	case "php":
		if !detHasPrefix(r, "://") {
			return
		}
		k := j + 3
		e := d.wordEnd(k)
		switch string(l[k:e]) {
		case "filter", "input", "fd", "memory", "temp", "stdin":
		default:
			return
		}
	case "compress":
		if !detHasPrefix(r, ".zlib://") && !detHasPrefix(r, ".bzip2://") {
			return
		}
	default:
		if !detHasPrefix(r, "://") {
			return
		}
	}
	d.fire(rTraversalWrapper, i, j+32)
}

// --- SQL injection ---

// skipSQLSp skips what SQL reads as white space between two keywords:
// spaces, parentheses, and # and -- comments up to the newline.
func (d *detState) skipSQLSp(k int) int {
	for {
		switch c := d.at(k); {
		case c == ' ' || c == '\n' || c == '(':
			k++
		case c == '#' || c == '-' && d.at(k+1) == '-':
			for k < len(d.low) && d.low[k] != '\n' {
				k++
			}
		default:
			return k
		}
	}
}

// union fires for UNION [ALL|DISTINCT] SELECT followed by something
// that reads as a select list, not as English ("union select committee").
func (d *detState) union(i, j int) {
	if d.has(rSQLiUnion) {
		return
	}
	k := d.skipSQLSp(j)
	if d.wordAt(k, "all") {
		k = d.skipSQLSp(k + 3)
	} else if d.wordAt(k, "distinct") {
		k = d.skipSQLSp(k + 8)
	}
	if !d.wordAt(k, "select") {
		return
	}
	if d.sqlTail(k + 6) {
		d.fire(rSQLiUnion, i, k+64)
	}
}

// sqlTail reports whether a select list starts at k: a number, NULL, *,
// @@variable, a quoted string, a function call, "a,b" or anything
// followed by FROM.
func (d *detState) sqlTail(k int) bool {
	k = d.skipSQLSp(k)
	if d.wordAt(k, "all") {
		k = d.skipSQLSp(k + 3)
	} else if d.wordAt(k, "distinct") {
		k = d.skipSQLSp(k + 8)
	}
	switch c := d.at(k); {
	case detIsDigit(c) || c == '*' || c == '@' || c == '\'' || c == '"' || c == '-':
		return true
	case !detWord[c]:
		return false
	}
	e := d.wordEnd(k)
	if d.wordAt(k, "null") {
		return true
	}
	switch d.at(e) {
	case '(':
		return true
	case ',':
		if detWord[d.at(e+1)] {
			return true
		}
	}
	return d.wordWithin(e, 64, "from")
}

// detOperand is a SQL literal or identifier in low[lo:hi].
type detOperand struct {
	lo, hi  int
	literal bool // a number or a quoted string
	number  bool
}

// readOperand reads the operand at k and returns it and where it ends. A
// quoted string with no closing quote (the application adds it: the
// payload is ' or '1'='1) runs to the end of its word.
func (d *detState) readOperand(k int) (detOperand, int, bool) {
	l := d.low
	switch c := d.at(k); {
	case c == '\'' || c == '"' || c == '`':
		end := min(len(l), k+65)
		if q := bytes.IndexByte(l[k+1:end], c); q >= 0 {
			return detOperand{k + 1, k + 1 + q, c != '`', false}, k + 2 + q, true
		}
		e := d.wordEnd(k + 1)
		return detOperand{k + 1, e, c != '`', false}, e, true
	case detIsDigit(c) || c == '-' && detIsDigit(d.at(k+1)):
		e := k + 1
		for detIsDigit(d.at(e)) || d.at(e) == '.' {
			e++
		}
		if detWord[d.at(e)] {
			return detOperand{}, 0, false
		}
		return detOperand{k, e, true, true}, e, true
	case detIsLetter(c) || c == '_':
		e := d.wordEnd(k)
		return detOperand{k, e, false, false}, e, true
	}
	return detOperand{}, 0, false
}

// tautology fires for OR/AND/XOR/||/&& (or WHEN, WHERE, HAVING, IF()
// followed by a comparison of two literals (1=1, '1'='1', 'a'<>'b'), of
// an identifier with itself, or by a lone true literal that a comment
// then ends (' or true--).
func (d *detState) tautology(i, j int) {
	if d.has(rSQLiTautology) {
		return
	}
	if i == d.skipSp(0) {
		return // "or 1=1" on its own continues no query
	}
	k := j
	for {
		k = d.skipSp(k)
		if d.at(k) != '(' {
			break
		}
		k++
	}
	a, k, ok := d.readOperand(k)
	if !ok {
		return
	}
	k = d.skipSp(k)
	op, k2 := d.operator(k)
	if op == "" {
		if d.truthy(a) && d.commentAt(k) {
			d.fire(rSQLiTautology, i, k+2)
		}
		return
	}
	k2 = d.skipSp(k2)
	for d.at(k2) == '(' {
		k2++
	}
	b, k3, ok := d.readOperand(k2)
	if !ok {
		return
	}
	l := d.low
	same := string(l[a.lo:a.hi]) == string(l[b.lo:b.hi])
	switch {
	case a.literal && b.literal:
		// A comparison of two constants has no business in a value,
		// whether it holds (1=1) or not (1=2, the other half of a
		// boolean-blind probe).
	case !a.literal && !b.literal && same && (op == "=" || op == "==" || op == "like" || op == "is"):
	case a.number && !b.literal && string(l[b.lo:b.hi]) == "true":
	default:
		return
	}
	d.fire(rSQLiTautology, i, k3)
}

// truthy reports whether a is a literal that SQL reads as true.
func (d *detState) truthy(a detOperand) bool {
	v := string(d.low[a.lo:a.hi])
	return v == "true" || a.number && v != "0" && v != ""
}

// operator reads a comparison operator at k.
func (d *detState) operator(k int) (string, int) {
	switch d.at(k) {
	case '=':
		if d.at(k+1) == '=' {
			return "==", k + 2
		}
		return "=", k + 1
	case '!':
		if d.at(k+1) == '=' {
			return "!=", k + 2
		}
	case '<':
		switch d.at(k + 1) {
		case '>':
			return "<>", k + 2
		case '=':
			if d.at(k+2) == '>' {
				return "<=>", k + 3
			}
			return "<=", k + 2
		}
		return "<", k + 1
	case '>':
		if d.at(k+1) == '=' {
			return ">=", k + 2
		}
		return ">", k + 1
	}
	for _, w := range [...]string{"like", "rlike", "regexp", "is"} {
		if d.wordAt(k, w) {
			return w, k + len(w)
		}
	}
	return "", k
}

// commentAt reports whether a SQL comment starts at k: "#" at the end
// or before a space, "-- ", or "/*".
func (d *detState) commentAt(k int) bool {
	switch d.at(k) {
	case '#':
		c := d.at(k + 1)
		return c == 0 || c == ' ' || c == '\n'
	case '-':
		c := d.at(k + 2)
		return d.at(k+1) == '-' && (c == 0 || c == ' ' || c == '\n' || c == '-' || c == '+')
	case '/':
		return d.at(k+1) == '*'
	}
	return false
}

// stacked fires for "; <statement>": DROP TABLE, INSERT INTO, UPDATE … SET,
// DELETE FROM, SELECT …, EXEC xp_…, DECLARE @, WAITFOR DELAY, SHUTDOWN.
func (d *detState) stacked(i int) {
	if d.has(rSQLiStacked) {
		return
	}
	k := d.skipSp(i + 1)
	e := d.wordEnd(k)
	if e == k {
		return
	}
	nk := d.skipSp(e)
	ne := d.wordEnd(nk)
	next := string(d.low[nk:ne])
	ok := false
	switch string(d.low[k:e]) {
	case "drop":
		switch next {
		case "table", "database", "schema", "view", "procedure", "function", "index", "trigger", "user":
			ok = true
		}
	case "truncate":
		ok = next == "table"
	case "alter":
		ok = next == "table" || next == "database" || next == "user"
	case "create":
		switch next {
		case "table", "database", "trigger", "function", "procedure":
			ok = true
		}
	case "insert":
		ok = next == "into"
	case "delete":
		ok = next == "from"
	case "update":
		ok = ne > nk && d.wordWithin(ne, 96, "set")
	case "select":
		ok = d.sqlTail(e)
	case "exec", "execute":
		ok = strings.HasPrefix(next, "xp_") || strings.HasPrefix(next, "sp_") || next == "master" ||
			next == "immediate" || d.at(nk) == '(' || d.at(nk) == '@'
	case "declare":
		ok = d.at(nk) == '@'
	case "waitfor":
		ok = next == "delay" || next == "time"
	case "shutdown":
		ok = d.at(nk) == 0 || d.at(nk) == ';' || d.commentAt(nk)
	}
	if ok {
		d.fire(rSQLiStacked, i, ne+32)
	}
}

// timeDelay fires for the functions of time-based blind injection:
// SLEEP(5), PG_SLEEP(, BENCHMARK(n,, WAITFOR DELAY ', RANDOMBLOB(n),
// DBMS_PIPE.RECEIVE_MESSAGE, DBMS_LOCK.SLEEP.
func (d *detState) timeDelay(i, j int) {
	if d.has(rSQLiTime) {
		return
	}
	l := d.low
	ok := false
	switch string(l[i:j]) {
	case "sleep":
		// SLEEP(5) as an operand, not "sleep (8 hours)" nor "sleep(1) in
		// python".
		if k := d.skipSp(j); d.at(k) == '(' {
			k = d.skipSp(k + 1)
			s := k
			for detIsDigit(d.at(k)) || d.at(k) == '.' {
				k++
			}
			if k > s && d.at(d.skipSp(k)) == ')' {
				end := d.skipSp(d.skipSp(k) + 1)
				ok = d.sqlOperand(i) || i == d.skipSp(0) && end == len(l)
			}
		}
	case "pg_sleep":
		ok = d.at(d.skipSp(j)) == '('
	case "benchmark":
		if k := d.skipSp(j); d.at(k) == '(' {
			k = d.skipSp(k + 1)
			s := k
			for detIsDigit(d.at(k)) {
				k++
			}
			ok = k > s && d.at(d.skipSp(k)) == ','
		}
	case "waitfor":
		k := d.skipSp(j)
		if d.wordAt(k, "delay") || d.wordAt(k, "time") {
			k = d.skipSp(d.wordEnd(k))
			ok = d.at(k) == '\'' || d.at(k) == '"'
		}
	case "randomblob":
		if k := d.skipSp(j); d.at(k) == '(' {
			s := k + 1
			for k = s; detIsDigit(d.at(k)); k++ {
			}
			ok = k-s >= 6
		}
	case "dbms_pipe":
		ok = detHasPrefix(l[j:], ".receive_message")
	case "dbms_lock":
		ok = detHasPrefix(l[j:], ".sleep")
	}
	if ok {
		d.fire(rSQLiTime, i, j+24)
	}
}

// subquery fires for a parenthesised SELECT … FROM that is an operand:
// 1'||(select 'a' from dual)||', 1 and (select count(*) from users)>0,
// but not "(select one from the list)".
func (d *detState) subquery(i, j int) {
	if d.has(rSQLiSubquery) {
		return
	}
	p := i - 1
	for d.at(p) == ' ' || d.at(p) == '\n' {
		p--
	}
	if d.at(p) != '(' {
		return
	}
	for d.at(p) == '(' || d.at(p) == ' ' || d.at(p) == '\n' {
		p--
	}
	ok := false
	switch c := d.at(p); {
	case strings.IndexByte(`=|+-*/,<>'"`, c) >= 0 && c != 0:
		ok = true
	case detWord[c] && d.at(p+1) == '(':
		ok = true // an argument: ascii(substring((select …
	case detWord[c]:
		s := p
		for s > 0 && detWord[d.low[s-1]] {
			s--
		}
		switch string(d.low[s : p+1]) {
		case "and", "or", "xor", "not", "in", "exists", "where", "having", "select", "union", "all",
			"like", "rlike", "regexp", "case", "when", "then", "else", "by", "from", "if":
			ok = true
		}
	}
	if ok && d.sqlTail(j) {
		d.fire(rSQLiSubquery, p, j+48)
	}
}

// sqlOperand reports whether what precedes the word at i makes it a SQL
// operand: an operator, a parenthesis, a quote, or a keyword such as
// AND, OR, SELECT, IF, WHEN.
func (d *detState) sqlOperand(i int) bool {
	p := i - 1
	for d.at(p) == ' ' || d.at(p) == '\n' {
		p--
	}
	c := d.at(p)
	if c != 0 && strings.IndexByte(`(,=+-*/|&'"<>`, c) >= 0 {
		return true
	}
	if !detWord[c] {
		return false
	}
	s := p
	for s > 0 && detWord[d.low[s-1]] {
		s--
	}
	switch string(d.low[s : p+1]) {
	case "and", "or", "xor", "not", "select", "if", "then", "else", "when", "where", "union", "by", "having":
		return true
	}
	return false
}

// sqlFunc fires for functions and clauses that read or write files or
// leak data through errors: LOAD_FILE(, INTO OUTFILE, EXTRACTVALUE(, …
func (d *detState) sqlFunc(i, j int) {
	if d.has(rSQLiFunction) {
		return
	}
	ok := false
	switch string(d.low[i:j]) {
	case "xp_cmdshell":
		ok = true
	case "utl_inaddr", "utl_http":
		ok = d.at(j) == '.'
	case "into":
		k := d.skipSp(j)
		ok = d.wordAt(k, "outfile") || d.wordAt(k, "dumpfile")
	default:
		ok = d.at(d.skipSp(j)) == '('
	}
	if ok {
		d.fire(rSQLiFunction, i, j+32)
	}
}

// atat fires for @@version and the like at i.
func (d *detState) atat(i int) {
	k := i + 2
	e := d.wordEnd(k)
	switch string(d.low[k:e]) {
	case "version", "datadir", "hostname", "basedir", "tmpdir", "servername", "version_compile_os":
		d.fire(rSQLiFunction, i, e)
	}
}

// orderBy fires for ORDER BY n / GROUP BY n after a quote, a
// parenthesis or a number, ended by a comment or the value: the column
// count probe of a UNION attack.
func (d *detState) orderBy(i, j int) {
	if d.has(rSQLiOrderBy) {
		return
	}
	k := d.skipSp(j)
	if k == j || !d.wordAt(k, "by") {
		return
	}
	k = d.skipSp(k + 2)
	s := k
	for detIsDigit(d.at(k)) {
		k++
	}
	if k == s {
		return
	}
	end := d.skipSp(k)
	if d.at(end) != 0 && !d.commentAt(end) && d.at(end) != ';' {
		return
	}
	p := i - 1
	if d.at(p) == ' ' {
		p--
	}
	if c := d.at(p); c == '\'' || c == '"' || c == ')' || detIsDigit(c) {
		d.fire(rSQLiOrderBy, i, end+2)
	}
}

// quote runs the rules that start at a quote, the q-th kind (' or "): a
// string closed and the rest of the query commented out (admin'--), and
// an attribute closed to add an event handler (" onmouseover=alert(1)).
func (d *detState) quote(i, q int) {
	// Only a quote that opens a string can close the application's: in
	// 'He said "hi" -- then left' the quote before the dashes closes one.
	if !d.has(rSQLiCommentQuote) && d.quotes[q]%2 == 0 {
		k := i + 1
		for d.at(k) == ')' {
			k++
		}
		if k = d.skipSp(k); d.commentAt(k) {
			d.fire(rSQLiCommentQuote, i, k+3)
		}
	}
	if !d.has(rXSSHandler) {
		// Each " on" is looked at once, by the first quote within 96
		// bytes before it.
		end := min(len(d.low), i+96)
		for w := d.low[max(i+1, d.onNext):max(end, d.onNext)]; ; {
			p := bytes.Index(w, []byte(" on"))
			if p < 0 {
				break
			}
			o := end - len(w) + p + 1
			if e, ok := d.handler(o, true); ok {
				v := d.low[e:min(len(d.low), e+64)]
				if bytes.IndexByte(v, '(') >= 0 || bytes.IndexByte(v, '`') >= 0 {
					d.fire(rXSSHandler, i, e+32)
					break
				}
			}
			w = w[p+3:]
		}
		d.onNext = end
	}
}

// --- Cross-site scripting ---

// handler reports whether an event handler attribute, on…=, starts at
// k, and returns the offset after its '='. With known, the event must
// be one that browsers fire.
func (d *detState) handler(k int, known bool) (int, bool) {
	if d.at(k) != 'o' || d.at(k+1) != 'n' {
		return 0, false
	}
	e := k + 2
	for detIsLetter(d.at(e)) {
		e++
	}
	if e-k-2 < 3 || known && !detDOMEvents[string(d.low[k+2:e])] {
		return 0, false
	}
	e = d.skipSp(e)
	if d.at(e) != '=' {
		return 0, false
	}
	return e + 1, true
}

var detDOMEvents = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range strings.Fields(`abort afterprint animationend animationiteration animationstart
		auxclick beforecopy beforecut beforeinput beforeprint beforetoggle beforeunload begin blur
		canplay canplaythrough change click close contextmenu copy cut dblclick drag dragend
		dragenter dragleave dragover dragstart drop durationchange end ended error focus focusin
		focusout hashchange input invalid keydown keypress keyup load loadeddata loadedmetadata
		loadstart message mousedown mouseenter mouseleave mousemove mouseout mouseover mouseup
		mousewheel offline online pagehide pageshow paste pause play playing pointerdown
		pointerenter pointerleave pointermove pointerout pointerover pointerup popstate progress
		ratechange readystatechange repeat reset resize scroll scrollend search seeked seeking
		select selectionchange selectstart show storage submit suspend timeupdate toggle
		touchend touchmove touchstart transitionend transitionrun transitionstart unload
		volumechange waiting wheel`) {
		m[e] = true
	}
	return m
}()

// lt runs the rules that start at '<': script and embedding tags, event
// handlers inside a tag, XML entity declarations, template and PHP tags.
func (d *detState) lt(i int) {
	l := d.low
	k := i + 1
	switch d.at(k) {
	case '!':
		if detHasPrefix(l[k:], "!entity") && !detWord[d.at(k+7)] {
			d.fire(rXXE, i, k+64)
		}
		return
	case '%':
		d.erb(i)
		return
	case '?':
		if d.wordAt(k+1, "php") || d.at(k+1) == '=' {
			d.fire(rCmdiPHP, i, k+48)
		}
		return
	case '/':
		if d.wordAt(k+1, "script") {
			d.fire(rXSSScript, i, k+7)
		}
		return
	}
	if !detIsLetter(d.at(k)) {
		return
	}
	e := k
	for detWord[d.at(e)] || d.at(e) == '-' {
		e++
	}
	switch string(l[k:e]) {
	case "script":
		// A body may talk about "the <script> tag"; a payload has a
		// source, or code and a closing tag.
		if d.kind != detBody || d.at(e) != '>' || bytes.Contains(l[e:min(len(l), e+512)], []byte("</script")) {
			d.fire(rXSSScript, i, e+64)
		}
	case "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "isindex", "portal":
		// A CMS takes iframes and embeds in its bodies; a URL has no use for them.
		if d.kind != detBody {
			d.fire(rXSSEmbed, i, e+64)
		}
	}
	if d.has(rXSSHandler) {
		return
	}
	for p := e; p < len(l) && p < i+512; p++ {
		c := l[p]
		if c == '>' || c == '<' {
			break
		}
		if c == ' ' || c == '/' || c == '"' || c == '\'' || c == '\n' {
			if end, ok := d.handler(p+1, false); ok {
				d.fire(rXSSHandler, i, end+32)
				return
			}
		}
	}
}

// scriptURI fires for javascript:, vbscript: and livescript: URLs with
// code after the colon: javascript:alert(1), javascript://%0a…, but not
// "javascript: the good parts". j is after the scheme's name.
func (d *detState) scriptURI(i, j int) {
	if d.has(rXSSScriptURI) {
		return
	}
	k := d.skipSp(j)
	if d.at(k) != ':' {
		return
	}
	k = d.skipSp(k + 1)
	switch c := d.at(k); {
	case c == 0 || detIsDigit(c):
		return
	case detIsLetter(c) || c == '_' || c == '$':
		e := k
		for detWord[d.at(e)] || d.at(e) == '$' {
			e++
		}
		switch d.at(e) {
		case '(', '.', '`', '=', '[':
		default:
			return
		}
	}
	d.fire(rXSSScriptURI, i, k+48)
}

// dataURI fires for data: URLs of HTML or script, and PHP's data://.
func (d *detState) dataURI(i, j int) {
	r := d.low[j:]
	switch {
	case detHasPrefix(r, "://"):
		d.fire(rTraversalWrapper, i, j+32)
	case detHasPrefix(r, ":text/html"), detHasPrefix(r, ":text/javascript"), detHasPrefix(r, ":application/javascript"),
		detHasPrefix(r, ":application/x-javascript"), detHasPrefix(r, ":text/xml"), detHasPrefix(r, ":application/xhtml"):
		d.fire(rXSSScriptURI, i, j+48)
	}
}

// breakout fires for alert(, prompt(, confirm( or eval( right after a
// character that ends a string or a statement in a script (';alert(1)//,
// "-alert(1)-") or after window., top., self., …
func (d *detState) breakout(i, j int) {
	if d.has(rXSSBreakout) {
		return
	}
	if c := d.at(j); c != '(' && c != '`' {
		return
	}
	ok := false
	if i == 0 {
		// A reflected JSONP callback, alert(document.domain)//, not
		// "alert(1) meaning".
		if q := bytes.IndexByte(d.low[j:min(len(d.low), j+64)], ')'); q >= 0 {
			switch r := j + q + 1; d.at(r) {
			case 0, ';', '/', '<', '-', '+', '`':
				ok = true
			}
		}
	}
	switch c := d.at(i - 1); c {
	case '\'', '"', '`', ';', '>', '+', '-', '*', '/', '=', '(', '|', '&', '{', '}', '[', ',', ':', '!', '~', '^', '?':
		ok = true
	case '.':
		s := i - 1
		for s > 0 && detWord[d.low[s-1]] {
			s--
		}
		switch string(d.low[s : i-1]) {
		case "window", "top", "self", "parent", "frames", "this", "globalthis", "content":
			ok = true
		}
	}
	if ok {
		d.fire(rXSSBreakout, i, j+32)
	}
}

// domSink fires for document.cookie, document.domain, document.write(,
// String.fromCharCode(.
func (d *detState) domSink(i, j int) {
	if d.has(rXSSDOMSink) {
		return
	}
	if string(d.low[i:j]) == "fromcharcode" {
		if d.at(j) == '(' {
			d.fire(rXSSDOMSink, i, j+32)
		}
		return
	}
	if d.at(j) != '.' {
		return
	}
	k := j + 1
	switch e := d.wordEnd(k); string(d.low[k:e]) {
	case "cookie", "domain", "location":
		d.fire(rXSSDOMSink, i, e+32)
	case "write", "writeln":
		if d.at(e) == '(' {
			d.fire(rXSSDOMSink, i, e+32)
		}
	}
}

// --- Command and code injection ---

// Argument rules of the commands cmdAt knows.
const (
	detArgBare   = 1 << iota // may stand alone: "; id"
	detArgQuote              // may take a quoted argument: "; echo 'x'"
	detArgDigit              // may take a number: "; sleep 5"
	detArgHost               // may take a host: "; curl evil.example"
	detArgDrive              // may take a Windows drive: "& type c:/…"
	detArgNetUse             // net user, net localgroup
	detArgKnown              // a command
)

// detCmdFlags returns the argument rules of the command name, or 0 for
// a word that is not a command cmdAt knows.
func detCmdFlags(name []byte) int {
	switch string(name) {
	case "id", "whoami", "uname", "pwd", "ifconfig", "ipconfig", "hostname", "ps", "env", "printenv",
		"netstat", "systeminfo", "ls":
		return detArgKnown | detArgBare | detArgQuote
	case "sh", "bash", "zsh", "dash", "ksh", "csh", "tcsh":
		return detArgKnown | detArgBare | detArgQuote
	case "cat", "tac", "head", "tail", "more", "less", "nl", "rm", "cp", "mv", "touch",
		"find", "grep", "base64", "xxd", "od", "strings", "wc", "awk", "sed", "mkfifo", "crontab":
		return detArgKnown
	case "chmod", "chown":
		return detArgKnown | detArgDigit
	case "echo", "printf":
		return detArgKnown | detArgQuote
	case "type", "dir":
		return detArgKnown | detArgDrive
	case "sleep", "timeout", "kill":
		return detArgKnown | detArgDigit
	case "ping":
		return detArgKnown | detArgDigit | detArgHost
	case "wget", "curl", "nc", "ncat", "netcat", "telnet", "socat", "nslookup", "dig", "ftp", "tftp", "ssh", "scp":
		return detArgKnown | detArgHost
	case "python", "python2", "python3", "perl", "ruby", "php", "node", "lua", "powershell", "pwsh",
		"cmd", "cmd.exe", "powershell.exe":
		return detArgKnown | detArgQuote
	case "net", "net.exe":
		return detArgKnown | detArgNetUse
	}
	return 0
}

// cmdSep runs cmdAt after a ;, |, ||, & or && at i.
func (d *detState) cmdSep(i int) {
	k := i + 1
	for c := d.at(k); c == '|' || c == '&'; c = d.at(k) {
		k++
	}
	d.cmdAt(i, k)
}

// backtick runs cmdAt after a backtick. In a body a backtick after a
// space is a Markdown code span, not a command substitution.
func (d *detState) backtick(i int) {
	if d.kind == detBody {
		if c := d.at(i - 1); i == 0 || c == ' ' || c == '\n' {
			return
		}
	}
	d.cmdAt(i, i+1)
}

// cmdAt fires when a shell command that attackers run (id, cat, wget,
// nc, bash, …) starts at k, right after a shell separator at s, and is
// followed by what such a command takes: an option, a path, $IFS, a
// host, a separator or the end. "Tom & Jerry" and "x; id card" do not.
func (d *detState) cmdAt(s, k int) {
	if d.has(rCmdiShell) {
		return
	}
	k = d.skipSp(k)
	brace := d.at(k) == '{' // {cat,/etc/passwd}
	if brace {
		k++
	}
	name, e := d.command(k)
	for n := 0; n < 3; n++ {
		switch string(name) {
		case "busybox", "sudo", "nohup", "doas": // the command it runs
			if d.at(e) != ' ' {
				return
			}
			name, e = d.command(e + 1)
			continue
		}
		break
	}
	f := detCmdFlags(name)
	if f == 0 {
		return
	}
	if d.cmdArgs(f, e, brace) {
		d.fire(rCmdiShell, s, e+32)
	}
}

// command returns the name of the command at k and where it ends. A
// command run by its path, /bin/sh, is named by its last element when
// the directory is a bin directory; any other path names nothing.
func (d *detState) command(k int) ([]byte, int) {
	e := k
	for c := d.at(e); detWord[c] || c == '.' || c == '-' || c == '/'; c = d.at(e) {
		e++
	}
	name := d.low[k:e]
	if slash := bytes.LastIndexByte(name, '/'); slash >= 0 {
		switch string(name[:slash+1]) {
		case "/bin/", "/usr/bin/", "/usr/local/bin/", "/sbin/", "/usr/sbin/":
			name = name[slash+1:]
		default:
			name = nil
		}
	}
	return name, e
}

// cmdArgs reports whether what follows a command ending at e is what a
// command with the argument rules f takes. brace is set inside {cmd,arg}.
func (d *detState) cmdArgs(f, e int, brace bool) bool {
	switch c := d.at(e); c {
	case 0:
		return f&detArgBare != 0
	case ';', '|', '&', '`', ')', '>', '<', '$', '\n':
		return true
	case '\'', '"':
		return f&detArgBare != 0
	case ',':
		return brace
	case ' ':
	default:
		return false
	}
	k := e + 1
	switch a := d.at(k); {
	case a == 0:
		return f&detArgBare != 0
	case a == '-', a == '/', a == '~', a == '*', a == '{', a == '$', a == '`', a == '<', a == '>', a == '|', a == ';', a == '&':
		return true
	case a == '.':
		return d.at(k+1) == '/' || d.at(k+1) == '.'
	case a == '\'' || a == '"':
		return f&detArgQuote != 0
	case detIsDigit(a):
		if f&detArgHost != 0 && d.hostAt(k) {
			return true
		}
		if f&detArgDigit != 0 {
			for detIsDigit(d.at(k)) {
				k++
			}
			// "; sleep 5", "; chmod 777 /tmp/x", not "; sleep 8 hours".
			c := d.at(k)
			return c == 0 || c == ';' || c == '|' || c == '&' || c == '`' || c == ')' || c == '\n' ||
				c == ' ' && (d.at(k+1) == 0 || strings.IndexByte(";|&#`/-$.", d.at(k+1)) >= 0)
		}
	case detIsLetter(a):
		switch {
		case f&detArgHost != 0:
			return d.hostAt(k)
		case f&detArgNetUse != 0:
			return d.wordAt(k, "user") || d.wordAt(k, "localgroup") || d.wordAt(k, "share")
		case f&detArgDrive != 0:
			return detIsLetter(a) && d.at(k+1) == ':' && d.at(k+2) == '/'
		}
	}
	return false
}

// hostAt reports whether a host name, an address or a URL starts at k:
// a run of host characters holding a '.' or a ':'.
func (d *detState) hostAt(k int) bool {
	dot := false
	for c := d.at(k); detWord[c] || c == '.' || c == '-' || c == ':' || c == '/'; c = d.at(k) {
		dot = dot || c == '.' || c == ':'
		k++
	}
	return dot
}

// shellshock fires for "() {" followed by ':' or '_': the function
// definition that Shellshock (CVE-2014-6271) rides on.
func (d *detState) shellshock(i int) {
	k := d.skipSp(i + 2)
	if d.at(k) != '{' {
		return
	}
	if c := d.at(d.skipSp(k + 1)); c == ':' || c == '_' {
		d.fire(rCmdiShellshock, i, k+48)
	}
}

// --- Template injection, Log4Shell ---

// brace runs the template rules at '{': {{7*7}}, ${7*7}, #{7*7},
// {{config}}, {{self.__dict__}}.
func (d *detState) brace(i int) {
	if d.has(rSSTIArith) && d.has(rSSTIObject) {
		return
	}
	l := d.low
	k := i + 1
	double := d.at(k) == '{'
	for c := d.at(k); (c == '{' || c == '=') && k < i+4; c = d.at(k) {
		k++
	}
	k = d.skipSp(k)
	if d.closeBrace < k {
		if q := bytes.IndexByte(l[k:], '}'); q >= 0 {
			d.closeBrace = k + q
		} else {
			d.closeBrace = len(l)
		}
	}
	e := d.closeBrace
	if e >= len(l) || e-k > 64 {
		return
	}
	if detArith(l[k:e]) {
		d.fire(rSSTIArith, i, e+2)
	}
	if !double && d.at(i-1) != '$' && d.at(i-1) != '#' {
		return
	}
	we := d.wordEnd(k)
	switch string(l[k:we]) {
	case "config", "self", "_self", "request", "settings", "lipsum", "cycler", "joiner", "namespace",
		"url_for", "get_flashed_messages", "applicationscope", "session":
		switch c := d.at(d.skipSp(we)); c {
		case '}', '.', '|', '[', '(':
			d.fire(rSSTIObject, i, e+2)
		}
	}
}

// erb runs the template rules at "<%": <%= 7*7 %>.
func (d *detState) erb(i int) {
	k := i + 2
	if c := d.at(k); c == '=' || c == '-' {
		k++
	}
	end := min(len(d.low), k+64)
	if q := bytes.Index(d.low[k:end], []byte("%>")); q >= 0 && detArith(d.low[k:k+q]) {
		d.fire(rSSTIArith, i, k+q+2)
	}
}

// razor runs the template rules at "@(": @(7*7).
func (d *detState) razor(i int) {
	k := i + 2
	end := min(len(d.low), k+64)
	if q := bytes.IndexByte(d.low[k:end], ')'); q >= 0 && detArith(d.low[k:k+q]) {
		d.fire(rSSTIArith, i, k+q+1)
	}
}

// detArith reports whether b is a product of two numbers, spaces and
// quotes aside: the 7*7 that template injection probes evaluate.
func detArith(b []byte) bool {
	state := 0 // 0: first number, 1: digits of it, 2: after '*', 3: digits of the second
	for _, c := range b {
		switch {
		case c == ' ' || c == '\'' || c == '"':
		case detIsDigit(c):
			switch state {
			case 0:
				state = 1
			case 2:
				state = 3
			}
		case c == '*' && state == 1:
			state = 2
		default:
			return false
		}
	}
	return state == 3
}

// objectWalk fires for the object graph walks of template and
// expression-language injection: ”.__class__.__mro__,
// constructor.constructor(, Runtime.getRuntime(, freemarker's Execute.
func (d *detState) objectWalk(i, j int) {
	if d.has(rSSTIObject) {
		return
	}
	l := d.low
	ok := false
	switch string(l[i:j]) {
	case "constructor":
		ok = detHasPrefix(l[j:], ".constructor")
	case "getruntime":
		ok = d.at(j) == '('
	case "runtime":
		ok = i >= 10 && string(l[i-10:i]) == "java.lang."
	case "processbuilder":
		ok = d.at(j) == '(' || i >= 10 && string(l[i-10:i]) == "java.lang."
	case "freemarker":
		ok = detHasPrefix(l[j:], ".template.utility.execute")
	case "popen":
		ok = d.at(i-1) == '.' && d.at(j) == '('
	case "import":
		p := i - 1
		for d.at(p) == ' ' {
			p--
		}
		ok = d.at(p) == '%' && d.at(p-1) == '{' // {% import os %}
	default: // the Python dunders
		c := d.at(j)
		ok = d.at(i-1) == '.' || c == '.' || c == '(' || c == '['
	}
	if ok {
		d.fire(rSSTIObject, i, j+48)
	}
}

// jndi fires for a Log4j JNDI lookup at i ("${"), also when it is
// spelled with nested lookups: ${${lower:j}ndi:…}, ${${::-j}${::-n}di:…}.
// The nested lookups are resolved innermost first, as Log4j does: a
// ":-" default stands for the lookup, lower: and upper: for their
// argument, any other lookup for nothing.
func (d *detState) jndi(i int) {
	if d.has(rJNDI) || i < d.jndiUntil {
		return
	}
	end := min(len(d.low), i+512)
	r := d.low[i:end]
	if detHasPrefix(r, "${jndi:") {
		d.fire(rJNDI, i, end)
		return
	}
	d.jndiUntil = end
	if bytes.Index(r, []byte(":-")) < 0 && bytes.Index(r, []byte("lower:")) < 0 && bytes.Index(r, []byte("upper:")) < 0 {
		return
	}
	d.tmp = append(d.tmp[:0], r...)
	if detResolveJNDI(d.tmp) {
		d.fire(rJNDI, i, end)
	}
}

// detResolveJNDI resolves the lookups in t, innermost first, and reports
// whether a jndi: lookup appears. It overwrites t.
func detResolveJNDI(t []byte) bool {
	for range 64 {
		cl := bytes.IndexByte(t, '}')
		if cl < 0 {
			return false
		}
		op := bytes.LastIndex(t[:cl], []byte("${"))
		if op < 0 {
			t = append(t[:cl], t[cl+1:]...) // a stray '}'
			continue
		}
		in := t[op+2 : cl]
		if detHasPrefix(in, "jndi:") {
			return true
		}
		var repl []byte
		if k := bytes.Index(in, []byte(":-")); k >= 0 {
			repl = in[k+2:]
		} else if detHasPrefix(in, "lower:") || detHasPrefix(in, "upper:") {
			repl = in[6:]
		}
		n := copy(t[op:], repl)
		m := copy(t[op+n:], t[cl+1:])
		t = t[:op+n+m]
	}
	return false
}

// --- Server-side request forgery ---

// metadata fires for the addresses and paths of cloud metadata services.
func (d *detState) metadata(i, j int) {
	if d.has(rSSRFMetadata) {
		return
	}
	l := d.low
	r := l[i:]
	e := 0
	switch string(l[i:j]) {
	case "169":
		for _, a := range [...]string{"169.254.169.254", "169.254.170.2"} {
			if detHasPrefix(r, a) && !detIsDigit(d.at(i+len(a))) {
				e = i + len(a)
			}
		}
	case "100":
		if detHasPrefix(r, "100.100.100.200") && !detIsDigit(d.at(i+15)) {
			e = i + 15
		}
	case "fd00":
		if detHasPrefix(r, "fd00:ec2::254") {
			e = i + 13
		}
	case "metadata":
		if detHasPrefix(l[j:], ".google.internal") {
			e = j + 16
		}
	case "computemetadata":
		if detHasPrefix(l[j:], "/v1") {
			e = j + 3
		}
	case "latest":
		if d.at(i-1) == '/' && (detHasPrefix(l[j:], "/meta-data") || detHasPrefix(l[j:], "/user-data") || detHasPrefix(l[j:], "/api/token")) {
			e = j + 10
		}
	case "0251":
		if detHasPrefix(l[j:], ".0376.0251.0376") {
			e = j + 15
		}
	default: // 169.254.169.254 as one number, in a URL
		if c := d.at(i - 1); c == '/' && d.at(i-2) == '/' || c == '@' {
			e = j
		}
	}
	if e > 0 {
		d.fire(rSSRFMetadata, i, e+32)
	}
}

// scheme fires for URLs of schemes that reach past HTTP: file:, gopher:,
// dict:, tftp:, netdoc:, jar:. file: and jar: count only where the value
// is the URL.
func (d *detState) scheme(i, j int) {
	if d.has(rSSRFScheme) {
		return
	}
	l := d.low
	r := l[j:]
	switch string(l[i:j]) {
	case "file":
		if !detHasPrefix(r, ":/") || !d.urlStart(i) {
			return
		}
	case "jar":
		if !(detHasPrefix(r, ":http") || detHasPrefix(r, ":file")) || !d.urlStart(i) {
			return
		}
	default:
		if !detHasPrefix(r, "://") {
			return
		}
	}
	d.fire(rSSRFScheme, i, j+48)
}

// urlStart reports whether a URL that starts at i is the value, or a
// quoted or assigned part of it.
func (d *detState) urlStart(i int) bool {
	return i == d.skipSp(0) || strings.IndexByte(`="'(`, d.at(i-1)) >= 0
}

// oast fires for the domains of out-of-band testing services (Burp
// Collaborator, interactsh, dnslog.cn, …) that scanners plant in
// payloads to see whether the server calls out.
func (d *detState) oast(i, j int) {
	if d.has(rScannerOAST) {
		return
	}
	r := d.low[j:]
	ok := false
	switch string(d.low[i:j]) {
	case "oastify", "interactsh":
		ok = detHasPrefix(r, ".com")
	case "burpcollaborator":
		ok = detHasPrefix(r, ".net")
	case "interact":
		ok = detHasPrefix(r, ".sh") && !detWord[d.at(j+3)]
	case "oast":
		if d.at(i-1) == '.' && d.at(j) == '.' {
			switch e := d.wordEnd(j + 1); string(d.low[j+1 : e]) {
			case "fun", "pro", "live", "site", "online", "me":
				ok = true
			}
		}
	case "dnslog":
		ok = detHasPrefix(r, ".cn") || detHasPrefix(r, ".link")
	case "ceye":
		ok = detHasPrefix(r, ".io")
	case "bxss":
		ok = detHasPrefix(r, ".me")
	case "xss":
		ok = d.at(i-1) == '.' && detHasPrefix(r, ".ht") && !detWord[d.at(j+3)]
	case "canarytokens":
		ok = detHasPrefix(r, ".com") || detHasPrefix(r, ".org")
	}
	if ok {
		d.fire(rScannerOAST, d.token(i), j+32)
	}
}

// scanner fires the rule of the tool that the user agent word at i
// names.
func (d *detState) scanner(i, j int) {
	w := string(d.low[i:j])
	if w == "fuzz" && !detHasPrefix(d.low[j:], " faster u fool") {
		return
	}
	for t := range detScanners {
		for _, name := range detScanners[t].words {
			if name == w {
				d.fire(rScannerFirst+t, i, j)
				return
			}
		}
	}
}

// --- Probes ---

// probes runs the rules on the segments of the path in d.low: requests
// for files and pages that a Go service does not serve and scanners ask
// every service for. Ordinary names (/admin, /api/admin/users,
// /static/app.env.js, /.well-known/…) are not probes.
func (d *detState) probes() {
	l := d.low
	script := -1
	var prev []byte
	for s := 0; s < len(l); {
		for s < len(l) && l[s] == '/' {
			s++
		}
		e := s
		for e < len(l) && l[e] != '/' {
			e++
		}
		if e == s {
			break
		}
		seg := l[s:e]
		if k := bytes.IndexByte(seg, ';'); k >= 0 {
			seg = seg[:k]
		}
		if r := detProbeRule(prev, seg); r >= 0 {
			d.fire(r, s, e)
		} else if script < 0 && detScriptExt(seg) {
			script = s
		}
		prev, s = seg, e
	}
	if script >= 0 {
		for r := rProbeDotenv; r < rProbeScriptExt; r++ {
			if d.has(r) {
				return // /wp-login.php is a WordPress probe, not also a PHP one
			}
		}
		d.fire(rProbeScriptExt, script, len(l))
	}
}

// detProbeRule returns the probe rule that the path segment seg, after
// the segment prev, matches, or -1.
func detProbeRule(prev, seg []byte) int {
	switch string(seg) {
	case ".env":
		return rProbeDotenv
	case ".git", ".svn", ".hg", ".bzr", "_darcs", ".git-credentials", ".gitconfig":
		return rProbeVCS
	case ".ds_store", ".htaccess", ".htpasswd", ".aws", ".ssh", ".npmrc", ".pypirc", ".dockercfg",
		".docker", ".kube", ".bash_history", ".zsh_history", ".sh_history", ".mysql_history",
		".psql_history", ".idea", ".vscode", ".gitlab-ci.yml", ".travis.yml", ".circleci", ".terraform",
		".netrc", ".pgpass", ".s3cfg", ".boto", ".bashrc", ".profile", ".user.ini", ".config",
		".composer", ".ftpconfig", ".remote-sync.json", ".sftp-config.json", ".vscode-server":
		return rProbeDotfile
	case "web.config", "applicationhost.config", "appsettings.json", "appsettings.development.json",
		"appsettings.production.json", "docker-compose.yml", "docker-compose.yaml", "id_rsa", "id_dsa",
		"id_ecdsa", "id_ed25519", "secrets.yml", "secrets.yaml", "database.yml", "settings.py",
		"local_settings.py", "sftp-config.json", "parameters.yml", "config.inc.php", "configuration.php",
		"localsettings.php", "credentials.xml", "wallet.dat":
		return rProbeConfig
	case "wp-admin", "wp-login.php", "xmlrpc.php", "wp-content", "wp-includes", "wp-json",
		"wp-cron.php", "wp-signup.php", "wp-trackback.php", "wp-links-opml.php", "wordpress":
		return rProbeWordPress
	case "phpmyadmin", "pma", "myadmin", "mysqladmin", "phppgadmin", "adminer", "adminer.php", "sqladmin", "dbadmin",
		"mysql-admin", "sqlitemanager", "sqlite-manager":
		return rProbeDBAdmin
	case "server-status", "server-info":
		return rProbeServerStatus
	case "jolokia", "heapdump":
		return rProbeActuator
	case "cgi-bin", "cgi-sys", "cgi-mod", "fcgi-bin":
		return rProbeCGI
	case "hnap1", "boaform", "+cscoe+", "dana-na", "global-protect", "_ignition", "jmx-console",
		"web-console", "wls-wsat", "tmui", "goform", "fgt_lang", "phpunit", "jmxinvokerservlet",
		"struts2-showcase", "autodiscover.xml", "mifs", "owa_util", "sslvpn_logon.shtml",
		"eval-stdin.php", "setup.cgi":
		return rProbeExploit
	}
	switch string(prev) {
	case "actuator":
		switch string(seg) {
		case "env", "heapdump", "threaddump", "configprops", "mappings", "beans", "jolokia", "gateway",
			"logfile", "loggers", "trace", "httptrace", "shutdown", "restart", "refresh", "conditions",
			"scheduledtasks", "sessions", "auditevents", "flyway", "liquibase", "caches":
			return rProbeActuator
		}
	case "manager":
		if string(seg) == "html" || string(seg) == "text" {
			return rProbeExploit // Tomcat's manager
		}
	case "mgmt":
		if string(seg) == "tm" {
			return rProbeExploit // F5 BIG-IP iControl REST
		}
	}
	switch {
	case detHasPrefix(seg, ".env") && len(seg) > 4 && strings.IndexByte("._~-", seg[4]) >= 0:
		return rProbeDotenv // .env.local, .env.bak, .env~
	case detHasPrefix(seg, ".git") && len(seg) > 4 && seg[4] == '.':
		return rProbeVCS
	case detHasPrefix(seg, "phpmyadmin") && detVersion(seg[10:]):
		return rProbeDBAdmin // phpMyAdmin-5.2.1, phpmyadmin2
	case detHasPrefix(seg, "wp-config"):
		return rProbeWordPress
	case detBackupName(seg):
		return rProbeBackup
	}
	return -1
}

// detVersion reports whether b is a version suffix: "2", "-5.2.1",
// "_4".
func detVersion(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '_' || b[0] == '.') {
		b = b[1:]
	}
	return len(b) > 0 && detIsDigit(b[0])
}

// detBackupName reports whether seg names a backup, an editor's leftover
// or a database dump: config.php.bak, index.php~, .index.php.swp,
// dump.sql, backup.zip.
func detBackupName(seg []byte) bool {
	dot := bytes.IndexByte(seg, '.')
	if dot < 0 {
		return false
	}
	if seg[len(seg)-1] == '~' {
		return true
	}
	ext := seg[bytes.LastIndexByte(seg, '.')+1:]
	switch string(ext) {
	case "bak", "old", "orig", "save", "swp", "swo", "backup", "bkp", "sql", "mdb", "sqlite3":
		return true
	case "gz", "zip", "bz2", "tgz", "tar", "rar", "7z":
		if bytes.HasSuffix(seg[:len(seg)-len(ext)], []byte(".sql.")) {
			return true
		}
		base := seg[:dot]
		if dot == 0 {
			base = seg[1:]
		}
		switch string(base) {
		case "backup", "backups", "www", "site", "website", "wwwroot", "htdocs", "web", "db",
			"database", "dump", "public_html", "html", "sql":
			return true
		}
	}
	return false
}

// detScriptExt reports whether seg is a file of a server-side scripting
// language: .php, .asp, .jsp, .cgi, …
func detScriptExt(seg []byte) bool {
	i := bytes.LastIndexByte(seg, '.')
	if i < 0 {
		return false
	}
	switch string(seg[i+1:]) {
	case "php", "php3", "php4", "php5", "php7", "pht", "phtml", "asp", "aspx", "ashx", "asmx", "axd",
		"jsp", "jspx", "cgi", "cfm", "action":
		return true
	}
	return false
}

// --- Bodies ---

// body checks a request body according to its content type.
func (d *detState) body(b []byte, contentType string) {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	first := byte(0)
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			first = c
			break
		}
	}
	switch {
	case strings.EqualFold(mt, "application/x-www-form-urlencoded"):
		detForm(d, b)
	case strings.EqualFold(mt, "multipart/form-data"):
		d.multipart(b, contentType)
	case (detContainsFold(mt, "json") || mt == "" || strings.EqualFold(mt, "text/plain")) &&
		(first == '{' || first == '[' || first == '"'):
		d.json(b)
	default:
		detCheck(d, b, false)
	}
}

func detContainsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// json checks every string, key or value, of a JSON text. It reads the
// text flat, without recursion, so nesting depth costs nothing and every
// string at any depth is checked; a text cut short or malformed is read
// as far as it goes.
func (d *detState) json(b []byte) {
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		j := i + 1
		esc := false
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' {
				esc = true
				j++
			}
			j++
		}
		s := b[i+1 : min(j, len(b))]
		if esc {
			d.js = detUnescapeJSON(d.js[:0], s)
			detCheck(d, d.js, false)
		} else {
			detCheck(d, s, false)
		}
		i = j
	}
}

// detUnescapeJSON appends the JSON string body s to dst, unescaped. A bad
// escape is kept as it is.
func detUnescapeJSON(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'n':
			dst = append(dst, '\n')
		case 't':
			dst = append(dst, '\t')
		case 'r':
			dst = append(dst, '\r')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'u':
			r, ok := detHex4(s, i+1)
			if !ok {
				dst = append(dst, '\\', 'u')
				continue
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2, ok = detHex4(s, i+3)
				}
				if r = utf16.DecodeRune(r, r2); ok && r != utf8.RuneError {
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, s[i])
		}
	}
	return dst
}

func detHex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		if !detIsHex(c) {
			return 0, false
		}
		r = r<<4 | rune(detUnhex(c))
	}
	return r, true
}

// multipart checks the names, file names and non-file values of a
// multipart/form-data body. File contents are not checked.
func (d *detState) multipart(b []byte, contentType string) {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		detCheck(d, b, false)
		return
	}
	mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	for range 64 {
		p, err := mr.NextRawPart()
		if err != nil {
			return
		}
		// Part.FileName drops the directories, and with them "../".
		_, cd, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		detCheck(d, cd["name"], false)
		if fn, ok := cd["filename"]; ok {
			detCheck(d, fn, false)
			continue
		}
		v, _ := io.ReadAll(io.LimitReader(p, MaxDetectBody))
		detCheck(d, v, false)
	}
}
