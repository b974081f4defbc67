package httpaudit

import (
	"net/http"
	"time"

	"github.com/activitylog/activitylog"
)

// maxRequestIDLen is the longest incoming request id that is used.
const maxRequestIDLen = 128

// requestID picks the request's id: ctxID, the one an outer layer put
// into the context (activitylog.RequestIDFrom), else the incoming
// header, else a new UUIDv7 for now. The first two are used only when
// sane.
func (h *handler) requestID(ctxID string, r *http.Request, now time.Time) string {
	if saneRequestID(ctxID) {
		return ctxID
	}
	if v := r.Header[h.idHeader]; len(v) > 0 && saneRequestID(v[0]) {
		return v[0]
	}
	return activitylog.NewID(now).String()
}

// saneRequestID reports whether s may be used as a request id: 1 to
// maxRequestIDLen visible ASCII characters. That keeps control
// characters, spaces and non-ASCII out of logs and response headers,
// and keeps a client from filling the store through its ids.
func saneRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
