package activitylog

import (
	"context"
	"net/netip"
	"strings"
)

// Login describes one authentication event: a login that succeeded or
// failed, a logout, a refreshed token, a changed password, a blocked
// attempt. It has no password field on purpose, and the Username and
// Reason it is given are scrubbed of anything that looks like a secret
// ("password=…", "token: …", a JSON or form body) before they are
// recorded; the Recorder's Redactor then runs on the event as on every
// other.
type Login struct {
	// Username is the name the user typed (or the SSO subject). For a
	// failed or blocked attempt it is recorded in Extra["username"],
	// never as the actor: whoever types a name is not that user.
	Username string
	// UserID is the account's id, when known. It becomes the actor's id
	// for a successful login, and the object (type "user") of every
	// auth event.
	UserID string
	// Reason says why a login failed or was blocked, or why a session
	// ended: "bad_credentials", "unknown_user", "locked", "mfa_failed",
	// "rate_limited", "expired". Recorded in Extra["reason"].
	Reason string
	// Method is how the user authenticated: "password", "sso", "token",
	// "mfa", "api_key", "passkey". Recorded in Extra["method"].
	Method string
	// IP, when set, is the client address, overriding the one of the
	// request in the context (WithRequest, set by the HTTP middleware).
	// A value that is not an IP address is kept in Extra["ip"] instead.
	IP string
	// Extra is copied into the event's Extra; the keys above win.
	Extra map[string]any
}

// Auth actions, as Validate allows them for KindAuth.
const (
	ActionLogin          = "login"
	ActionLoginFailed    = "login_failed"
	ActionLogout         = "logout"
	ActionTokenRefresh   = "token_refresh"
	ActionPasswordChange = "password_change"
	ActionBlocked        = "blocked"
)

// LoginSucceeded records an auth "login" event. The actor is the user
// (UserID, Username); when Login names neither, the actor of ctx.
func LoginSucceeded(ctx context.Context, l Login) error {
	return recordApp(ctx, AuthEvent(ActionLogin, l))
}

// LoginFailed records an auth "login_failed" event (severity warning).
// The actor is anonymous, with the username typed in
// Extra["username"], whatever actor ctx carries: a failed attempt
// proves nothing about who made it. BruteForce counts these events by
// client IP and by username.
func LoginFailed(ctx context.Context, l Login) error {
	return recordApp(ctx, AuthEvent(ActionLoginFailed, l))
}

// Logout records an auth "logout" event, attributed like
// LoginSucceeded.
func Logout(ctx context.Context, l Login) error {
	return recordApp(ctx, AuthEvent(ActionLogout, l))
}

// TokenRefreshed records an auth "token_refresh" event, attributed like
// LoginSucceeded.
func TokenRefreshed(ctx context.Context, l Login) error {
	return recordApp(ctx, AuthEvent(ActionTokenRefresh, l))
}

// PasswordChanged records an auth "password_change" event (severity
// notice), attributed like LoginSucceeded. Neither password is ever
// part of it.
func PasswordChanged(ctx context.Context, l Login) error {
	return recordApp(ctx, AuthEvent(ActionPasswordChange, l))
}

// Blocked records an auth "blocked" event (severity warning): an
// attempt refused before credentials were checked (a locked account, a
// rate limit, a banned address). It is attributed like LoginFailed.
func Blocked(ctx context.Context, l Login) error {
	return recordApp(ctx, AuthEvent(ActionBlocked, l))
}

// AuthEvent returns the event the auth helpers record for action (one
// of the Action… constants) and l, for callers that record through a
// Recorder of their own (httpaudit.Logins does). Username and Reason
// are scrubbed of secrets and clipped. For login_failed and blocked the
// actor is anonymous; for the other actions it is the user, or left
// empty for the Recorder to take from the context when l names no user.
func AuthEvent(action string, l Login) Event {
	user := clipText(ScrubSecrets(l.Username), MaxShortField)
	reason := clipText(ScrubSecrets(l.Reason), 256)
	userID := clipText(l.UserID, MaxShortField)
	e := Event{Kind: KindAuth, Action: action}
	e.Extra = copyExtra(l.Extra, 5)
	anonymous := action == ActionLoginFailed || action == ActionBlocked
	if anonymous {
		e.Actor = Actor{Type: ActorAnonymous}
	} else if userID != "" || user != "" {
		e.Actor = Actor{ID: userID, Name: user, Type: ActorUser}
	}
	if userID != "" {
		e.Object = Object{Type: "user", ID: userID}
	}
	if user != "" {
		e.Extra["username"] = user
	}
	if reason != "" {
		e.Extra["reason"] = reason
	}
	if l.Method != "" {
		e.Extra["method"] = clipText(l.Method, 64)
	}
	if l.IP != "" {
		if a, err := netip.ParseAddr(strings.TrimSpace(l.IP)); err == nil {
			e.Request.RemoteIP = a.Unmap().String()
		} else {
			e.Extra["ip"] = clipText(l.IP, 64)
		}
	}
	if action == ActionPasswordChange {
		e.Severity = SeverityNotice
	}
	e.Message = authMessage(action, user, reason)
	if len(e.Extra) == 0 {
		e.Extra = nil
	}
	return e
}

func authMessage(action, user, reason string) string {
	var b strings.Builder
	switch action {
	case ActionLogin:
		b.WriteString("login succeeded")
	case ActionLoginFailed:
		b.WriteString("login failed")
	case ActionLogout:
		b.WriteString("logout")
	case ActionTokenRefresh:
		b.WriteString("token refreshed")
	case ActionPasswordChange:
		b.WriteString("password changed")
	case ActionBlocked:
		b.WriteString("login blocked")
	default:
		b.WriteString(action)
	}
	if user != "" {
		b.WriteString(" for ")
		b.WriteString(clipText(user, 256))
	}
	if reason != "" {
		b.WriteString(": ")
		b.WriteString(reason)
	}
	return b.String()
}

var scrubRedactor = NewRedactor(nil)

// ScrubSecrets masks what looks like a secret in free text meant for a
// log line: the values of sensitive keys (DefaultSensitiveKeys) in a
// JSON or form body, the value after a sensitive word followed by "="
// or ":" ("password=hunter2", "token: abc"), and card and IBAN numbers.
// A secret without such a marker ("wrong password hunter2") cannot be
// told from other words and is kept: never put one in free text.
func ScrubSecrets(s string) string {
	if s == "" {
		return s
	}
	s = scrubRedactor.Body(s)
	if strings.IndexByte(s, '=') < 0 && strings.IndexByte(s, ':') < 0 {
		return s
	}
	var b strings.Builder
	last := 0 // bytes of s before last are in b
	for i := 0; i < len(s); i++ {
		if s[i] != '=' && s[i] != ':' {
			continue
		}
		// The word before the separator, quotes and spaces skipped.
		j := i
		for j > 0 && (s[j-1] == ' ' || s[j-1] == '"' || s[j-1] == '\'') {
			j--
		}
		k := j
		for k > 0 && isKeyByte(s[k-1]) {
			k--
		}
		if k == j || !scrubRedactor.Sensitive(s[k:j]) {
			continue
		}
		// The value after it, up to a space or a delimiter.
		v := i + 1
		for v < len(s) && (s[v] == ' ' || s[v] == '"' || s[v] == '\'') {
			v++
		}
		if strings.HasPrefix(s[v:], DefaultMask) {
			continue // masked already
		}
		end := v
		for end < len(s) && !isValueEnd(s[end]) {
			end++
		}
		if end == v {
			continue
		}
		b.WriteString(s[last:v])
		b.WriteString(DefaultMask)
		last, i = end, end-1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isKeyByte(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-' || c == '.'
}

func isValueEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ';', '&', '"', '\'', '}', ')', ']':
		return true
	}
	return false
}
