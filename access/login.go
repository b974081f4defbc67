package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/strictjson"
)

// maxLoginBody bounds a sign-in's body.
const maxLoginBody = 64 << 10

// errBadLogin is the one answer to a sign-in refused for its
// credentials, whatever was wrong with them.
const errBadLogin = "invalid username or password"

// sessionJSON is the answer of sign-in and GET /api/v1/auth/session.
type sessionJSON struct {
	Principal *activitylog.Principal `json:"principal"`
	// CSRFToken must accompany every request other than GET, HEAD and
	// OPTIONS that the session cookie authenticates.
	CSRFToken     string     `json:"csrf_token,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`      // the absolute end
	IdleExpiresAt *time.Time `json:"idle_expires_at,omitempty"` // the end unless used before
}

// login handles POST /api/v1/auth/login.
func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	// The route is public, so the server's cross-origin check does not
	// run: run it here, against login CSRF (signing a victim into the
	// attacker's account).
	if err := s.cop.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "forbidden", "cross-origin sign-in refused: "+err.Error())
		return
	}
	username, password, next, ferr := readLogin(w, r)
	if ferr != nil {
		writeError(w, ferr.status, ferr.code, ferr.msg, ferr.field)
		return
	}
	ctx := r.Context()
	ip := s.clientIP(r)
	userKey, ipKey := "user:"+strings.ToLower(username), "ip:"+ip
	l := activitylog.Login{Username: username, Method: "password", IP: ip}
	if wait := s.fails.attempt(limit{userKey, s.maxUser, s.window}, limit{ipKey, s.maxIP, s.window}); wait > 0 {
		l.Reason = "rate_limited"
		s.record(ctx, activitylog.AuthEvent(activitylog.ActionBlocked, l))
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, http.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("too many failed sign-ins for this username or from this address; retry in %d seconds", secs))
		return
	}
	u, reason, err := s.checkPassword(ctx, username, password)
	if err != nil {
		s.fails.forgive(userKey)
		s.fails.forgive(ipKey)
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "activitylog access: sign in", "err", err)
		}
		writeError(w, http.StatusServiceUnavailable, "unavailable", "cannot sign in now; retry later")
		return
	}
	if reason != "" {
		l.Reason, l.UserID = reason, u.ID
		e := activitylog.AuthEvent(activitylog.ActionLoginFailed, l)
		e.Tenant = u.Tenant
		s.record(ctx, e)
		writeError(w, http.StatusUnauthorized, "unauthorized", errBadLogin)
		return
	}
	s.fails.reset(userKey)
	s.fails.forgive(ipKey)

	token, hash, err := newSessionToken()
	if err != nil {
		s.log.ErrorContext(ctx, "activitylog access: sign in", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	now := s.now()
	sess := Session{Hash: hash, UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.ttl)}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		s.log.ErrorContext(ctx, "activitylog access: sign in", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "cannot sign in now; retry later")
		return
	}
	// A session the browser had before ends: one cookie, one session.
	if c, err := r.Cookie(s.cookieName); err == nil {
		if old, err := ParseSessionToken(c.Value); err == nil {
			if err := s.store.DeleteSession(ctx, old); err != nil {
				s.log.WarnContext(ctx, "activitylog access: end the previous session", "err", err)
			}
		}
	}
	http.SetCookie(w, s.cookie(r, token, sess.ExpiresAt))
	l.UserID = u.ID
	e := activitylog.AuthEvent(activitylog.ActionLogin, l)
	e.Tenant = u.Tenant
	s.record(ctx, e)
	s.prune(ctx, now)
	if next != "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, s.sessionJSON(userPrincipal(u), token, sess))
}

func (s *Service) sessionJSON(p *activitylog.Principal, token string, sess Session) sessionJSON {
	idle := sess.LastSeenAt.Add(s.idle)
	exp := sess.ExpiresAt.UTC()
	if idle.After(exp) {
		idle = exp
	}
	idle = idle.UTC()
	return sessionJSON{Principal: p, CSRFToken: csrfToken(token), ExpiresAt: &exp, IdleExpiresAt: &idle}
}

// checkPassword returns the user of username when password is its
// password and it is enabled; else the reason it is refused
// ("unknown_user", "bad_credentials", "disabled") and, when there is
// one, the user. An unknown username costs a hash too, so that the time
// taken does not tell it from a wrong password.
func (s *Service) checkPassword(ctx context.Context, username, password string) (User, string, error) {
	u, err := s.store.UserByName(ctx, username)
	known := err == nil
	if err != nil && !errors.Is(err, activitylog.ErrNotFound) {
		return User{}, "", err
	}
	encoded := u.PasswordHash
	if !known {
		encoded = s.dummyHash()
	}
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return User{}, "", ctx.Err()
	}
	ok, err := VerifyPassword(encoded, password)
	<-s.hashSlots
	s.verified.Add(1)
	switch {
	case !known:
		return User{}, "unknown_user", nil
	case err != nil:
		return User{}, "", fmt.Errorf("check password of user %s: %w", u.ID, err)
	case !ok:
		return u, "bad_credentials", nil
	case u.Disabled:
		return u, "disabled", nil
	}
	return u, "", nil
}

// dummyHash returns a hash of a random password made with the
// Service's parameters, which unknown usernames are checked against.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		token, _, err := newSessionToken()
		if err == nil {
			s.dummy, err = hashPassword(token, s.argon)
		}
		if err != nil {
			s.log.Error("activitylog access: make the hash unknown usernames are checked against", "err", err)
		}
	})
	return s.dummy
}

// cookie returns the session cookie carrying token.
func (s *Service) cookie(r *http.Request, token string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name:     s.cookieName,
		Value:    token,
		Path:     s.cookiePath,
		Expires:  expires,
		MaxAge:   max(1, int(expires.Sub(s.now()).Seconds())),
		HttpOnly: true,
		Secure:   s.cookieSecure || r.TLS != nil,
		SameSite: s.sameSite,
	}
}

// prune deletes the sessions that ended, at most once per pruneEvery.
func (s *Service) prune(ctx context.Context, now time.Time) {
	last := s.lastPrune.Load()
	if now.UnixNano()-last < int64(pruneEvery) || !s.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, err := s.store.DeleteSessions(ctx, now, now.Add(-s.idle)); err != nil {
		s.log.WarnContext(ctx, "activitylog access: delete ended sessions", "err", err)
	}
}

// logout handles POST /api/v1/auth/logout: it ends the session of the
// cookie, if it is live and the request carries its CSRF token, and
// clears the cookie in any case.
func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.cop.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "forbidden", "cross-origin sign-out refused: "+err.Error())
		return
	}
	ctx := r.Context()
	if c, err := r.Cookie(s.cookieName); err == nil && c.Value != "" {
		if p, err := s.sessionPrincipal(r, c.Value); errors.Is(err, activitylog.ErrForbidden) {
			writeError(w, http.StatusForbidden, "forbidden", err.Error())
			return
		} else if p != nil {
			hash, _ := ParseSessionToken(c.Value)
			if err := s.store.DeleteSession(ctx, hash); err != nil {
				s.log.ErrorContext(ctx, "activitylog access: sign out", "err", err)
				writeError(w, http.StatusServiceUnavailable, "unavailable", "cannot sign out now; retry later")
				return
			}
			e := activitylog.AuthEvent(activitylog.ActionLogout, activitylog.Login{UserID: p.ID, Username: p.Name, Method: "password", IP: s.clientIP(r)})
			e.Tenant = p.Tenant
			s.record(ctx, e)
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName, Value: "", Path: s.cookiePath, MaxAge: -1,
		HttpOnly: true, Secure: s.cookieSecure || r.TLS != nil, SameSite: s.sameSite,
	})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// sessionInfo handles GET /api/v1/auth/session: the principal, and for
// a session its CSRF token and ends.
func (s *Service) sessionInfo(w http.ResponseWriter, r *http.Request) {
	p := activitylog.PrincipalFrom(r.Context())
	if p == nil || p.Method != MethodSession {
		writeJSON(w, http.StatusOK, sessionJSON{Principal: p})
		return
	}
	c, err := r.Cookie(s.cookieName)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "unauthorized", "no session cookie")
		return
	}
	sess, _, err := s.session(r.Context(), c.Value)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "unauthorized", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.sessionJSON(p, c.Value, sess))
}

type requestError struct {
	status      int
	code, field string
	msg         string
}

// readLogin reads a sign-in: JSON {"username", "password"}, or an HTML
// form with those fields and, optionally, next: a path on this site to
// be sent to afterwards (303).
func readLogin(w http.ResponseWriter, r *http.Request) (username, password, next string, _ *requestError) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	switch mt {
	case "application/json", "":
		var body struct {
			Username *string `json:"username"`
			Password *string `json:"password"`
		}
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			return "", "", "", &requestError{http.StatusBadRequest, "invalid", "body", "the body must be a JSON object {\"username\": …, \"password\": …}: " + jsonProblem(err)}
		}
		// Strictly (internal/strictjson), without quoting the input: a
		// sign-in's values are credentials.
		if err := strictjson.Unmarshal(raw, &body); err != nil {
			fe, _ := errors.AsType[*activitylog.FieldError](err)
			field, reason := "body", "cannot be decoded"
			if fe != nil {
				field, reason = fe.Field, fe.Reason
			}
			return "", "", "", &requestError{http.StatusBadRequest, "invalid", field, "the body must be a JSON object {\"username\": …, \"password\": …}: " + field + " " + reason}
		}
		if body.Username != nil {
			username = *body.Username
		}
		if body.Password != nil {
			password = *body.Password
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		var err error
		if mt == "multipart/form-data" {
			err = r.ParseMultipartForm(maxLoginBody)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			return "", "", "", &requestError{http.StatusBadRequest, "invalid", "body", "the form cannot be read"}
		}
		username, password = r.PostFormValue("username"), r.PostFormValue("password")
		next = r.PostFormValue("next")
		if next != "" && !localPath(next) {
			return "", "", "", &requestError{http.StatusBadRequest, "invalid", "next", "next must be a path on this site, starting with a single /"}
		}
	default:
		return "", "", "", &requestError{http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type",
			"send application/json or a form (application/x-www-form-urlencoded, multipart/form-data)"}
	}
	switch {
	case username == "":
		return "", "", "", &requestError{http.StatusBadRequest, "invalid", "username", "username is required"}
	case password == "":
		return "", "", "", &requestError{http.StatusBadRequest, "invalid", "password", "password is required"}
	case len(username) > maxUsernameLen:
		// Checked like any other wrong name, so that the answer does
		// not depend on it; but never stored or hashed long.
		username = username[:maxUsernameLen]
	}
	return username, password, next, nil
}

// localPath reports whether next is a path on this site: it starts
// with one / (not // or /\, which browsers take for another host) and
// has no scheme, host or control characters.
func localPath(next string) bool {
	if len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return false
	}
	for i := 0; i < len(next); i++ {
		if next[i] < ' ' || next[i] == 0x7f {
			return false
		}
	}
	u, err := url.Parse(next)
	return err == nil && u.Scheme == "" && u.Host == ""
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return "it is larger than " + strconv.FormatInt(mbe.Limit, 10) + " bytes"
	case errors.As(err, &se):
		return "not valid JSON at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "field " + te.Field + " must be a " + te.Type.String()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "it is empty or cut short"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "it cannot be decoded"
}
