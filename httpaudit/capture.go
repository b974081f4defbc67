package httpaudit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// DefaultMaxBody is how many bytes of a body are kept when bodies are
// recorded and no other limit is set: 64 KiB.
const DefaultMaxBody = 64 << 10

// SensitiveHeaders are the headers whose values are never recorded, even
// by a Recorder whose redaction is turned off: each value is replaced by
// activitylog.DefaultMask. Names match case-insensitively. The
// Recorder's Redactor still masks every header its keys match
// (activitylog.DefaultSensitiveKeys covers these and more); this list is
// a second line of defence. Change it, if at all, before the first
// request.
var SensitiveHeaders = []string{"Authorization", "Cookie", "Set-Cookie", "Proxy-Authorization", "X-Api-Key"}

// bodyBuf keeps the first max bytes written to it and counts them all,
// so that a body of any size costs at most max bytes of memory. It
// allocates nothing until the first byte is kept, and never holds more
// than max bytes of capacity. With max 0 it only counts. Write never
// fails.
type bodyBuf struct {
	max   int    // bytes to keep; 0 or less keeps none
	buf   []byte // the first max bytes written
	total int64  // every byte written
}

func (b *bodyBuf) Write(p []byte) (int, error) {
	b.total += int64(len(p))
	room := b.max - len(b.buf)
	if room <= 0 || len(p) == 0 {
		return len(p), nil
	}
	q := p
	if len(q) > room {
		q = q[:room]
	}
	if need := len(b.buf) + len(q); need > cap(b.buf) {
		// Grow by doubling, as append would, but never past max.
		nb := make([]byte, len(b.buf), min(b.max, max(need, 2*cap(b.buf), 512)))
		copy(nb, b.buf)
		b.buf = nb
	}
	b.buf = append(b.buf, q...)
	return len(p), nil
}

// truncated reports whether more bytes were written than kept.
func (b *bodyBuf) truncated() bool { return b.total > int64(len(b.buf)) }

// reset forgets everything written, keeping the buffer for reuse.
func (b *bodyBuf) reset() { b.buf, b.total = b.buf[:0], 0 }

// text is bodyText of what b kept.
func (b *bodyBuf) text(contentType string) string {
	return bodyText(b.buf, contentType, b.total, b.truncated())
}

// maxBodyKept is the most bytes of a body that bodyText shows, leaving
// room in activitylog.MaxBodyField for its markers.
const maxBodyKept = activitylog.MaxBodyField - 1024

// bodyText returns what is recorded as Request.Body or Response.Body
// for a body of total bytes whose first bytes are b (all of it unless
// truncated), sent with that Content-Type. The result is always valid
// UTF-8 and at most activitylog.MaxBodyField bytes, and it keeps the
// shapes the Recorder's Redactor understands, so that secrets in it are
// masked by key:
//
//   - A JSON body (a Content-Type of application/json or */*+json, or an
//     undeclared body that is a JSON object or array) is recorded as
//     compact JSON.
//   - A truncated JSON object or array is cut back to its last complete
//     member (or, within a string value, its last complete character,
//     followed by "…") and closed, so that it is still JSON. The marker
//     is then its last member: "…":"[truncated: N bytes in all, K kept]"
//     in an object, the string "[truncated: …]" in an array.
//   - Other text (text/*, form-urlencoded, XML, JavaScript, YAML, or any
//     valid UTF-8 without control characters but tab, CR and LF) is
//     recorded as it is. When truncated, an incomplete last character is
//     dropped and "…[truncated: N bytes in all, K kept]" appended. A
//     truncated form (k=v&k=v, no spaces) keeps only its complete
//     parameters and ends in "&…=[truncated:+N+bytes+in+all,+K+kept]",
//     so that it still parses as a form.
//   - Anything else (invalid UTF-8, NUL bytes, other control
//     characters in an undeclared body) is binary, and only a marker is
//     recorded: "[binary body: N bytes, image/png]".
//
// N is total, the size of the whole body; K counts the bytes of the
// body that the record shows. An empty body is "".
func bodyText(b []byte, contentType string, total int64, truncated bool) string {
	total = max(total, int64(len(b)))
	if len(b) > maxBodyKept {
		b, truncated = b[:maxBodyKept], true
	}
	if len(b) == 0 {
		if truncated {
			return truncMarker(total, 0)
		}
		return ""
	}
	mt := mediaTypeOf(contentType)
	declJSON := isJSONMedia(mt)
	if container := jsonContainer(b); declJSON || container {
		if !truncated {
			if utf8.Valid(b) && json.Valid(b) {
				var out bytes.Buffer
				out.Grow(len(b))
				if json.Compact(&out, b) == nil {
					return out.String()
				}
			}
		} else if container {
			if s, ok := repairJSON(b, total); ok {
				return s
			}
		}
	}
	if truncated {
		b = trimPartialRune(b)
	}
	if !utf8.Valid(b) || hasBadControls(b, declJSON || isTextMedia(mt)) {
		return binaryMarker(total, contentType)
	}
	if !truncated {
		return string(b)
	}
	if s, ok := truncateForm(b, total); ok {
		return s
	}
	return string(b) + truncMarker(total, len(b))
}

// truncMarker is what follows a truncated text body.
func truncMarker(total int64, kept int) string {
	return "…[truncated: " + strconv.FormatInt(total, 10) + " bytes in all, " + strconv.Itoa(kept) + " kept]"
}

// binaryMarker stands for a body that is not text.
func binaryMarker(total int64, contentType string) string {
	s := "[binary body: " + strconv.FormatInt(total, 10) + " bytes"
	if ct := markerText(contentType, 200); ct != "" {
		s += ", " + ct
	}
	return s + "]"
}

// markerText returns s clipped to max bytes, with invalid UTF-8 and
// control characters replaced, for a value shown inside a marker.
func markerText(s string, max int) string {
	s = strings.TrimSpace(clip(strings.ToValidUTF8(s, "\uFFFD"), max))
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// mediaTypeOf returns the media type of a Content-Type, lower-cased and
// without parameters: "application/json" for "Application/JSON;
// charset=utf-8".
func mediaTypeOf(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

func isJSONMedia(mt string) bool {
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// isTextMedia reports whether mt declares text, which may hold control
// characters other than tab, CR and LF (but never NUL).
func isTextMedia(mt string) bool {
	if strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+xml") || strings.HasSuffix(mt, "+json") {
		return true
	}
	switch mt {
	case "application/x-www-form-urlencoded", "application/xml", "application/javascript",
		"application/ecmascript", "application/x-ndjson", "application/yaml", "application/x-yaml",
		"application/graphql", "application/sql":
		return true
	}
	return false
}

// hasBadControls reports whether b holds a NUL byte, or, unless text is
// declared, a control character other than tab, CR and LF.
func hasBadControls(b []byte, declared bool) bool {
	for _, c := range b {
		if c == 0 || (!declared && ((c < ' ' && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)) {
			return true
		}
	}
	return false
}

// jsonContainer reports whether b starts, after white space, like a
// JSON object or array.
func jsonContainer(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b,
// left there by a cut.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		if c := b[len(b)-i]; utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

// repairJSON turns b, the first bytes of a longer JSON object or array,
// into a complete JSON document in compact form, as bodyText describes.
// It reports false when b is not the start of a JSON document, or the
// repaired form would not fit.
func repairJSON(b []byte, total int64) (string, bool) {
	var (
		stack     []byte // the open containers, '{' or '['
		expectKey bool   // in an object, the next string is a key
		// the last point where the document can be closed: b[:cut]
		// holds complete members only, at depth open containers.
		cut, depth int
		comma      bool // a member precedes the cut
		started    bool
	)
	i := 0
	for i < len(b) {
		c := b[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		case '{', '[':
			stack = append(stack, c)
			expectKey = c == '{'
			i++
			cut, depth, comma, started = i, len(stack), false, true
			continue
		}
		if !started || len(stack) == 0 {
			return "", false // not an object or array, or text after its end
		}
		switch c {
		case '}', ']':
			if (c == '}') != (stack[len(stack)-1] == '{') {
				return "", false
			}
			stack = stack[:len(stack)-1]
			expectKey = false
			i++
			if len(stack) == 0 {
				// The document ended before the cut: what follows is
				// not JSON.
				return "", false
			}
			cut, depth, comma = i, len(stack), true
		case ',':
			cut, depth, comma = i, len(stack), true
			expectKey = stack[len(stack)-1] == '{'
			i++
		case ':':
			expectKey = false
			i++
		case '"':
			isKey := expectKey && stack[len(stack)-1] == '{'
			j, closed := i+1, false
			for j < len(b) {
				if b[j] == '\\' {
					n := 2
					if j+1 < len(b) && b[j+1] == 'u' {
						n = 6
					}
					if j+n > len(b) {
						break // an escape cut short
					}
					j += n
					continue
				}
				if b[j] == '"' {
					closed = true
					break
				}
				j++
			}
			if closed {
				i = j + 1
				if !isKey {
					cut, depth, comma = i, len(stack), true
				}
				continue
			}
			if isKey {
				return closeJSON(b[:cut], stack[:depth], comma, cut, total)
			}
			// The cut fell inside a string value: keep what is complete.
			s := trimPartialRune(b[:j])
			kept := len(s)
			s = append(append(s[:len(s):len(s)], "…"...), '"')
			return closeJSON(s, stack, true, kept, total)
		default:
			i++ // part of a number, true, false or null
		}
	}
	// The cut fell between tokens, or inside a number or literal.
	return closeJSON(b[:cut], stack[:depth], comma, cut, total)
}

// closeJSON appends the truncation marker as the last member of the
// innermost container open, closes every container, and compacts the
// result.
func closeJSON(prefix []byte, stack []byte, comma bool, kept int, total int64) (string, bool) {
	marker := `"[truncated: ` + strconv.FormatInt(total, 10) + ` bytes in all, ` + strconv.Itoa(kept) + ` kept]"`
	doc := make([]byte, 0, len(prefix)+len(marker)+len(stack)+8)
	doc = append(doc, prefix...)
	if comma {
		doc = append(doc, ',')
	}
	if stack[len(stack)-1] == '{' {
		doc = append(doc, `"…":`...)
	}
	doc = append(doc, marker...)
	for _, c := range slices.Backward(stack) {
		if c == '{' {
			doc = append(doc, '}')
		} else {
			doc = append(doc, ']')
		}
	}
	if len(doc) > activitylog.MaxBodyField || !utf8.Valid(doc) {
		return "", false
	}
	var out bytes.Buffer
	out.Grow(len(doc))
	if err := json.Compact(&out, doc); err != nil {
		return "", false // b was not JSON after all
	}
	return out.String(), true
}

// truncateForm handles a truncated body that is a URL-encoded form, in
// the sense the Redactor uses (no spaces, quotes, braces or angle
// brackets; an "="; parses as a query): it keeps the complete
// parameters and appends the marker as one more, so that the record
// still parses as a form and the Redactor masks it by parameter name.
func truncateForm(b []byte, total int64) (string, bool) {
	if bytes.ContainsAny(b, " \n\r\t{}\"<>") || !bytes.Contains(b, []byte("=")) {
		return "", false
	}
	// Drop an escape cut short, and a last parameter cut inside its name.
	if i := bytes.LastIndexByte(b, '%'); i >= 0 && i >= len(b)-2 {
		b = b[:i]
	}
	if i := bytes.LastIndexByte(b, '&'); !bytes.Contains(b[i+1:], []byte("=")) {
		b = b[:max(i, 0)]
	}
	s := string(b)
	if _, err := url.ParseQuery(s); err != nil {
		return "", false
	}
	if s != "" {
		s += "&"
	}
	return s + "…=[truncated:+" + strconv.FormatInt(total, 10) + "+bytes+in+all,+" + strconv.Itoa(len(b)) + "+kept]", true
}

// maxHeaderValue is the most bytes of one header's value that
// captureHeaders keeps by default.
const maxHeaderValue = 4 << 10

// captureHeaders returns what is recorded as Request.Headers or
// Response.Headers for h: one entry per header, its values joined with
// ", ", each value clipped to limit bytes (default maxHeaderValue when
// limit is 0 or less) and made valid UTF-8. SensitiveHeaders are recorded as
// activitylog.DefaultMask. At most activitylog.MaxMapEntries entries are
// kept: beyond that, the first names in sorted order, and an entry
// "…" that says how many were left out. An empty h gives nil.
func captureHeaders(h http.Header, limit int) map[string]string {
	if len(h) == 0 {
		return nil
	}
	if limit <= 0 {
		limit = maxHeaderValue
	}
	out := make(map[string]string, min(len(h), activitylog.MaxMapEntries))
	add := func(k string, vs []string) {
		k = clip(strings.ToValidUTF8(k, "\uFFFD"), activitylog.MaxShortField)
		if sensitiveHeader(k) {
			out[k] = activitylog.DefaultMask
			return
		}
		out[k] = joinClip(vs, limit)
	}
	if len(h) <= activitylog.MaxMapEntries {
		for k, vs := range h {
			add(k, vs)
		}
		return out
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	keep := activitylog.MaxMapEntries - 1
	for _, k := range keys[:keep] {
		add(k, h[k])
	}
	out["…"] = "[" + strconv.Itoa(len(keys)-keep) + " more headers not recorded]"
	return out
}

func sensitiveHeader(name string) bool {
	for _, s := range SensitiveHeaders {
		if strings.EqualFold(name, s) {
			return true
		}
	}
	return false
}

// joinClip joins vs with ", " and clips the result to limit bytes,
// without building much more than limit bytes of it first.
func joinClip(vs []string, limit int) string {
	var s string
	if len(vs) == 1 {
		s = vs[0]
	} else {
		var b strings.Builder
		for i, v := range vs {
			if i > 0 {
				b.WriteString(", ")
			}
			if room := max(limit+1-b.Len(), 0); len(v) > room {
				b.WriteString(v[:room])
				break
			}
			b.WriteString(v)
		}
		s = b.String()
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return clip(s, limit)
}
