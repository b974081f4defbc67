// Package urlsecret keeps the credentials a URL may carry out of the
// messages that show it: the store, NATS, JWKS and witness URLs of
// internal/config, integrity's URL witness and the mysql store share it.
package urlsecret

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// StrayAt reports whether u has an '@' outside its userinfo. A password
// written with an unescaped '/', '?' or '#' ends the authority early
// ("postgres://app:2024/Winter@host/db" parses as host app, port 2024,
// path "/Winter@host/db"), so the rest of it is in the port, the path,
// the query or the fragment: a caller shows none of such a URL. An '@'
// written %40 is not one: the parts are read as they were written.
func StrayAt(u *url.URL) bool {
	for _, part := range [...]string{u.Host, u.EscapedPath(), u.Opaque, u.RawQuery, u.EscapedFragment()} {
		if strings.Contains(part, "@") {
			return true
		}
	}
	return false
}

// ParseReason is why url.Parse refused a URL, without the URL (its
// *url.Error names it whole) and without the piece the parser quotes (a
// port or an escape), which may be a slice of a password.
func ParseReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return strings.Join(strings.Fields(quoted.ReplaceAllString(err.Error(), "")), " ")
}

var quoted = regexp.MustCompile(`"[^"]*"`)
