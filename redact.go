package activitylog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/url"
	"sort"
	"strings"
)

// DefaultSensitiveKeys are the key fragments whose values are masked.
// A key matches when, lower-cased and stripped of "-", "_", "." and
// spaces, it contains a fragment (so "new_password", "X-Api-Key" and
// "clientSecret" all match).
var DefaultSensitiveKeys = []string{
	"password", "passwd", "passphrase", "secret", "token", "authorization",
	"cookie", "apikey", "accesskey", "privatekey", "credential", "session",
	"cardnumber", "creditcard", "cvv", "cvc", "pan", "iban", "accountnumber",
	"routingnumber", "ssn", "signature",
}

// DefaultMask replaces a sensitive value.
const DefaultMask = "[REDACTED]"

// RedactOptions configures redaction. The zero value (or nil) masks
// DefaultSensitiveKeys with DefaultMask and masks card and IBAN numbers
// found in any string.
type RedactOptions struct {
	// Keys replaces DefaultSensitiveKeys when non-nil.
	Keys []string
	// ExtraKeys are added to Keys (or to the defaults).
	ExtraKeys []string
	// Mask replaces a sensitive value. Default: "[REDACTED]". Ignored
	// when HMACKey is set.
	Mask string
	// HMACKey, when set, replaces each sensitive value by
	// "hmac-sha256:<hex>" of its canonical JSON form instead of the
	// mask, so equal secrets can be correlated without being revealed
	// (as Vault's audit devices do). Keep the key secret.
	HMACKey []byte
	// KeepNumbers turns off masking of card and IBAN numbers in free
	// text. Default: false (they are masked).
	KeepNumbers bool
}

// Redactor masks secrets in events. It is safe for concurrent use.
type Redactor struct {
	keys        []string
	mask        string
	hmacKey     []byte
	keepNumbers bool
}

// NewRedactor returns a Redactor for opts (nil allowed).
func NewRedactor(opts *RedactOptions) *Redactor {
	if opts == nil {
		opts = &RedactOptions{}
	}
	keys := opts.Keys
	if keys == nil {
		keys = DefaultSensitiveKeys
	}
	r := &Redactor{mask: opts.Mask, hmacKey: opts.HMACKey, keepNumbers: opts.KeepNumbers}
	for _, k := range append(append([]string(nil), keys...), opts.ExtraKeys...) {
		if k = normalizeKey(k); k != "" {
			r.keys = append(r.keys, k)
		}
	}
	if r.mask == "" {
		r.mask = DefaultMask
	}
	return r
}

func normalizeKey(k string) string {
	var b strings.Builder
	b.Grow(len(k))
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '-' || c == '_' || c == '.' || c == ' ':
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Sensitive reports whether values under key must be masked.
func (r *Redactor) Sensitive(key string) bool {
	n := normalizeKey(key)
	for _, k := range r.keys {
		if strings.Contains(n, k) {
			return true
		}
	}
	return false
}

// masked returns what replaces the sensitive value v.
func (r *Redactor) masked(v any) any {
	if r.hmacKey == nil {
		return r.mask
	}
	var canon []byte
	if s, ok := v.(string); ok {
		canon = []byte(s)
	} else {
		canon, _ = json.Marshal(v) // v is already JSON-safe here
	}
	m := hmac.New(sha256.New, r.hmacKey)
	m.Write(canon)
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// Event redacts e in place. Maps are replaced by redacted copies, so a
// map the caller still holds is not changed. It also makes every value
// in changes and extra JSON-safe: values of other types are converted
// through their JSON form, and a value that cannot be encoded becomes a
// string saying so, so one bad value can never stop a batch from being
// stored.
func (r *Redactor) Event(e *Event) {
	e.Message = r.String(e.Message)
	e.Object.Repr = r.String(e.Object.Repr)
	e.Actor.Extra = r.Map(e.Actor.Extra)
	e.Extra = r.Map(e.Extra)
	if e.Changes != nil {
		c := make(map[string]Change, len(e.Changes))
		for k, ch := range e.Changes {
			if r.Sensitive(k) {
				c[k] = Change{Old: r.maskedOrNil(jsonSafe(ch.Old)), New: r.maskedOrNil(jsonSafe(ch.New))}
			} else {
				c[k] = Change{Old: r.Value(k, ch.Old), New: r.Value(k, ch.New)}
			}
		}
		e.Changes = c
	}
	e.Request.Query = r.Query(e.Request.Query)
	e.Request.Referer = r.URL(e.Request.Referer)
	e.Request.Headers = r.Headers(e.Request.Headers)
	e.Response.Headers = r.Headers(e.Response.Headers)
	e.Request.Body = r.Body(e.Request.Body)
	e.Response.Body = r.Body(e.Response.Body)
}

// maskedOrNil keeps a nil (an absent old or new value) visible as nil.
func (r *Redactor) maskedOrNil(v any) any {
	if v == nil {
		return nil
	}
	return r.masked(v)
}

// Map returns a redacted, JSON-safe copy of m.
func (r *Redactor) Map(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = r.Value(k, v)
	}
	return out
}

// Value returns v, found under key, redacted and JSON-safe.
func (r *Redactor) Value(key string, v any) any {
	v = jsonSafe(v)
	if key != "" && r.Sensitive(key) {
		if v == nil {
			return nil
		}
		return r.masked(v)
	}
	switch t := v.(type) {
	case string:
		return r.String(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = r.Value(k, x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = r.Value("", x)
		}
		return out
	}
	return v
}

// jsonSafe converts v to a value made only of nil, bool, float64,
// json.Number, string, []any and map[string]any.
func jsonSafe(v any) any {
	switch t := v.(type) {
	case nil, bool, string, json.Number:
		return v
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return jsonFloatString(t)
		}
		return v
	case float32:
		f := float64(t)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return jsonFloatString(f)
		}
		return f
	case int:
		return float64OrNumber(int64(t))
	case int64:
		return float64OrNumber(t)
	case int32:
		return float64(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = jsonSafe(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = jsonSafe(x)
		}
		return out
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "[unencodable value: " + err.Error() + "]"
	}
	var out any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return "[unencodable value: " + err.Error() + "]"
	}
	return jsonSafe(out)
}

// float64OrNumber keeps integers beyond 2^53 exact.
func float64OrNumber(i int64) any {
	if i > 1<<53 || i < -(1<<53) {
		return json.Number(formatInt(i))
	}
	return float64(i)
}

func formatInt(i int64) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func jsonFloatString(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case f > 0:
		return "+Inf"
	}
	return "-Inf"
}

// Headers returns a redacted copy of h.
func (r *Redactor) Headers(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		if r.Sensitive(k) {
			out[k] = r.masked(v).(string)
		} else {
			out[k] = r.String(v)
		}
	}
	return out
}

// Query redacts the values of sensitive parameters in a raw URL query.
func (r *Redactor) Query(q string) string {
	if q == "" {
		return q
	}
	vals, err := url.ParseQuery(q)
	if err != nil {
		return r.String(q)
	}
	changed := false
	for k, vs := range vals {
		for i, v := range vs {
			var nv string
			if r.Sensitive(k) {
				nv = r.masked(v).(string)
			} else {
				nv = r.String(v)
			}
			if nv != v {
				vs[i], changed = nv, true
			}
		}
	}
	if !changed {
		return q
	}
	return encodeQuery(vals)
}

// encodeQuery is url.Values.Encode without escaping the mask's brackets.
func encodeQuery(vals url.Values) string {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range vals[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(strings.NewReplacer("%5B", "[", "%5D", "]").Replace(url.QueryEscape(v)))
		}
	}
	return b.String()
}

// URL redacts the query of a URL string.
func (r *Redactor) URL(s string) string {
	i := strings.IndexByte(s, '?')
	if i < 0 {
		return r.String(s)
	}
	frag := ""
	q := s[i+1:]
	if j := strings.IndexByte(q, '#'); j >= 0 {
		q, frag = q[:j], q[j:]
	}
	return s[:i+1] + r.Query(q) + frag
}

// Body redacts a request or response body: a JSON body by key, a form
// body by parameter, and any other text for card and IBAN numbers.
func (r *Redactor) Body(body string) string {
	t := strings.TrimSpace(body)
	if t == "" {
		return body
	}
	if t[0] == '{' || t[0] == '[' {
		dec := json.NewDecoder(strings.NewReader(t))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err == nil && !dec.More() {
			b, err := json.Marshal(r.Value("", v))
			if err == nil {
				return string(b)
			}
		}
	}
	if !strings.ContainsAny(t, " \n\r\t{}\"<>") && strings.Contains(t, "=") {
		if _, err := url.ParseQuery(t); err == nil {
			return r.Query(t)
		}
	}
	return r.String(body)
}

// String masks card numbers (13 to 19 digits with a known issuer prefix
// that pass the Luhn check, spaces or dashes allowed between digits) and
// IBANs (that pass the ISO 7064 mod-97 check) found in s, keeping the
// last four digits.
func (r *Redactor) String(s string) string {
	if r.keepNumbers || len(s) < 13 {
		return s
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			digits++
		}
	}
	if digits < 13 {
		return s
	}
	b := []byte(s)
	// IBANs first: masking one can leave its last four characters
	// starting a digit run that is a card number of its own, and the
	// card pass must see that run now, not on a second call, so that
	// String(String(s)) == String(s).
	changed := maskIBANs(b)
	if maskCards(b) {
		changed = true
	}
	if !changed {
		return s
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// maskCards finds runs of digits joined by single spaces or dashes and
// masks those that look like payment card numbers.
func maskCards(b []byte) bool {
	changed := false
	for i := 0; i < len(b); {
		if !isDigit(b[i]) || (i > 0 && (isDigit(b[i-1]) || isAlpha(b[i-1]))) {
			i++
			continue
		}
		// Collect the run starting at i.
		var pos [19]int
		n, j, end := 0, i, i
		for j < len(b) {
			if isDigit(b[j]) {
				if n == len(pos) {
					n++ // too long to be a card
					break
				}
				pos[n] = j
				n++
				end = j + 1
				j++
			} else if (b[j] == ' ' || b[j] == '-') && j+1 < len(b) && isDigit(b[j+1]) && j > i && isDigit(b[j-1]) {
				j++
			} else {
				break
			}
		}
		if n >= 13 && n <= 19 && (end >= len(b) || !isAlpha(b[end])) {
			ds := make([]byte, n)
			for k := 0; k < n; k++ {
				ds[k] = b[pos[k]]
			}
			if cardPrefix(ds) && luhn(ds) {
				for k := 0; k < n-4; k++ {
					b[pos[k]] = '*'
				}
				changed = true
			}
		}
		if j <= i {
			j = i + 1
		}
		i = j
	}
	return changed
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// cardPrefix reports whether ds starts like a payment card number:
// Visa 4, Mastercard 51–55 and 2221–2720, Amex 34 and 37, Discover 6011,
// 644–649 and 65, JCB 35, Diners 30, 36 and 38, UnionPay 62, Maestro 50
// and 56–69.
func cardPrefix(ds []byte) bool {
	p2 := int(ds[0]-'0')*10 + int(ds[1]-'0')
	p4 := p2*100 + int(ds[2]-'0')*10 + int(ds[3]-'0')
	switch {
	case ds[0] == '4':
		return true
	case p2 >= 50 && p2 <= 69:
		return true
	case p4 >= 2221 && p4 <= 2720:
		return true
	case p2 == 34 || p2 == 37 || p2 == 35 || p2 == 30 || p2 == 36 || p2 == 38:
		return true
	}
	return false
}

func luhn(ds []byte) bool {
	sum := 0
	double := false
	for i := len(ds) - 1; i >= 0; i-- {
		d := int(ds[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// maskIBANs finds IBANs (two capital letters, two check digits, then 11
// to 30 capital letters and digits, in groups separated by single
// spaces or not) and masks all but their last four characters.
func maskIBANs(b []byte) bool {
	changed := false
	for i := 0; i+15 <= len(b); i++ {
		if !(isUpper(b[i]) && isUpper(b[i+1]) && isDigit(b[i+2]) && isDigit(b[i+3])) || (i > 0 && isAlnum(b[i-1])) {
			continue
		}
		// Collect positions of alphanumerics, allowing single spaces.
		var pos []int
		ends := []int{} // candidate lengths at group boundaries
		j := i
		for j < len(b) && len(pos) < 34 {
			c := b[j]
			if isUpper(c) || isDigit(c) {
				pos = append(pos, j)
				j++
				if j >= len(b) || !(isUpper(b[j]) || isDigit(b[j])) {
					ends = append(ends, len(pos))
				}
			} else if c == ' ' && len(pos) > 0 && j+1 < len(b) && (isUpper(b[j+1]) || isDigit(b[j+1])) {
				j++
			} else {
				break
			}
		}
		for k := len(ends) - 1; k >= 0; k-- {
			n := ends[k]
			if n < 15 || n > 34 {
				continue
			}
			last := pos[n-1]
			if last+1 < len(b) && isLower(b[last+1]) {
				continue
			}
			if ibanValid(b, pos[:n]) {
				for _, p := range pos[:n-4] {
					b[p] = '*'
				}
				changed = true
				i = last
				break
			}
		}
	}
	return changed
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }

// ibanValid checks ISO 13616's mod-97 rule over the characters at pos.
func ibanValid(b []byte, pos []int) bool {
	rem := 0
	add := func(c byte) {
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		}
	}
	for _, p := range pos[4:] {
		add(b[p])
	}
	for _, p := range pos[:4] {
		add(b[p])
	}
	return rem == 1
}
