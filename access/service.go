package access

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access/credential"
	"github.com/activitylog/activitylog/jwtaudit"
	"github.com/activitylog/activitylog/server"
)

// The records and the storage, named here as in package credential.
type (
	User    = credential.User
	APIKey  = credential.APIKey
	Session = credential.Session
	// Store keeps users, API keys and sessions; sqlite.Store's
	// Credentials method returns one. See package credential for its
	// contract.
	Store = credential.Store
)

// The values of Principal.Method for the three ways in.
const (
	MethodSession = "session"
	MethodAPIKey  = "api_key"
	MethodJWT     = "jwt"
)

// Recorder records the auth events of sign-ins and the changes made to
// users and keys. *activitylog.Recorder fits it. Record must be safe for
// concurrent use.
type Recorder interface {
	Record(ctx context.Context, e activitylog.Event) error
}

var _ Recorder = (*activitylog.Recorder)(nil)

// Options configures a Service. The zero value, or nil, means the
// defaults written beside each field.
type Options struct {
	// Recorder, when set, records every sign-in (auth login,
	// login_failed with the reason, blocked when rate-limited), every
	// sign-out, and every user and API key made, disabled or revoked
	// (crud events on objects of type user and api_key). A failure to
	// record is logged; it does not refuse the sign-in. Default: nil,
	// nothing is recorded.
	Recorder Recorder
	// JWT, when set, makes bearer JWTs a way in. Default: nil, a bearer
	// token that is not an API key is refused.
	JWT *JWTOptions
	// SessionTTL is how long a session lasts at most, however active.
	// Default: 12 hours.
	SessionTTL time.Duration
	// SessionIdle ends a session not used for that long. Default: 1
	// hour.
	SessionIdle time.Duration
	// CookieName names the session cookie. Default:
	// "activitylog_session".
	CookieName string
	// CookiePath is the session cookie's Path: set it to the prefix the
	// API is mounted under. Default: "/".
	CookiePath string
	// CookieSecure marks the session cookie Secure even on a request
	// that did not arrive over TLS, for a server behind a proxy that
	// terminates TLS. Default: false, Secure exactly when r.TLS != nil.
	CookieSecure bool
	// SameSite is the session cookie's SameSite: http.SameSiteLaxMode
	// or http.SameSiteStrictMode. Default: Lax.
	SameSite http.SameSite
	// MaxLoginFailures is how many failed sign-ins a username may have
	// within LoginWindow before further attempts are answered 429.
	// Default: 5.
	MaxLoginFailures int
	// MaxLoginFailuresPerIP is the same for a client address, which
	// many people may share (an office, a NAT). Default: 20.
	MaxLoginFailuresPerIP int
	// LoginWindow is the window of the two limits above. Default: 15
	// minutes.
	LoginWindow time.Duration
	// ClientIP returns the client address of a sign-in, for its rate
	// limit and its auth event. Default: the host of r.RemoteAddr,
	// which behind a proxy is the proxy's: set this to read the
	// proxy's header then.
	ClientIP func(r *http.Request) string
	// Argon2 is the cost of new password hashes. Default:
	// DefaultArgon2.
	Argon2 *Argon2Params
	// Now is the clock of expiries and rate limits. Default: time.Now.
	Now func() time.Time
	// Logger receives what clients are not told: store failures, events
	// that could not be recorded. Default: slog.Default().
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultSessionTTL            = 12 * time.Hour
	DefaultSessionIdle           = time.Hour
	DefaultCookieName            = "activitylog_session"
	DefaultMaxLoginFailures      = 5
	DefaultMaxLoginFailuresPerIP = 20
	DefaultLoginWindow           = 15 * time.Minute

	// touchEvery is how stale a key's last_used_at and a session's
	// last_seen_at may get before a request writes them again.
	touchEvery = time.Minute
	// pruneEvery is how often a sign-in deletes the sessions that ended.
	pruneEvery = time.Hour
	// maxConcurrentHashes bounds the password checks running at once:
	// each takes Argon2.Memory.
	maxConcurrentHashes = 4
)

// Service is the access control of the API: it authenticates requests
// (Authenticate, for server.Options.Authenticate) and serves the
// sign-in and API key routes (Routes, for server.Options.Routes). It
// is safe for concurrent use.
type Service struct {
	store        Store
	rec          Recorder
	jwt          *jwtaudit.Verifier
	ttl, idle    time.Duration
	cookieName   string
	cookiePath   string
	cookieSecure bool
	sameSite     http.SameSite
	maxUser      int
	maxIP        int
	window       time.Duration
	argon        Argon2Params
	clientIP     func(*http.Request) string
	now          func() time.Time
	log          *slog.Logger
	cop          *http.CrossOriginProtection
	fails        *failures
	hashSlots    chan struct{}
	lastPrune    atomic.Int64

	verified  atomic.Int64 // passwords checked against a hash, for the tests
	dummyOnce sync.Once
	dummy     string // a hash to check unknown usernames against
}

// New returns the Service over store. opts may be nil. A bad option is
// an *activitylog.FieldError naming it.
func New(store Store, opts *Options) (*Service, error) {
	if store == nil {
		return nil, activitylog.Invalid("store", "nil", "is required")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Service{
		store:        store,
		rec:          o.Recorder,
		ttl:          cmp.Or(o.SessionTTL, DefaultSessionTTL),
		idle:         cmp.Or(o.SessionIdle, DefaultSessionIdle),
		cookieName:   cmp.Or(o.CookieName, DefaultCookieName),
		cookiePath:   cmp.Or(o.CookiePath, "/"),
		cookieSecure: o.CookieSecure,
		sameSite:     cmp.Or(o.SameSite, http.SameSiteLaxMode),
		maxUser:      cmp.Or(o.MaxLoginFailures, DefaultMaxLoginFailures),
		maxIP:        cmp.Or(o.MaxLoginFailuresPerIP, DefaultMaxLoginFailuresPerIP),
		window:       cmp.Or(o.LoginWindow, DefaultLoginWindow),
		argon:        o.Argon2.withDefaults(),
		clientIP:     o.ClientIP,
		now:          o.Now,
		log:          o.Logger,
		cop:          http.NewCrossOriginProtection(),
		hashSlots:    make(chan struct{}, maxConcurrentHashes),
	}
	switch {
	case s.ttl < 0:
		return nil, activitylog.Invalid("session_ttl", s.ttl.String(), "must be positive")
	case s.idle < 0:
		return nil, activitylog.Invalid("session_idle", s.idle.String(), "must be positive")
	case s.sameSite != http.SameSiteLaxMode && s.sameSite != http.SameSiteStrictMode:
		return nil, activitylog.Invalid("same_site", fmt.Sprint(s.sameSite), "must be http.SameSiteLaxMode or http.SameSiteStrictMode: a session cookie sent cross-site is what CSRF abuses")
	case !validCookieName(s.cookieName):
		return nil, activitylog.Invalid("cookie_name", s.cookieName, "is not a cookie name (letters, digits and !#$%&'*+-.^_`|~)")
	case !strings.HasPrefix(s.cookiePath, "/") || strings.ContainsAny(s.cookiePath, ";\x00\r\n"):
		return nil, activitylog.Invalid("cookie_path", s.cookiePath, "must be a path starting with /")
	case s.maxUser < 0 || s.maxIP < 0 || s.window < 0:
		return nil, activitylog.Invalid("max_login_failures", fmt.Sprint(s.maxUser, s.maxIP, s.window), "must not be negative")
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.clientIP == nil {
		s.clientIP = remoteHost
	}
	s.fails = newFailures(s.now)
	if o.JWT != nil {
		v, err := newJWT(o.JWT, s.now)
		if err != nil {
			return nil, err
		}
		s.jwt = v
	}
	return s, nil
}

func validCookieName(n string) bool {
	if n == "" {
		return false
	}
	for _, c := range n {
		if c > unicode.MaxASCII || c <= ' ' || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	return true
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Authenticate returns the principal of r, for
// server.Options.Authenticate. It tries, in order:
//
//  1. "Authorization: Bearer alk_…": an API key;
//  2. any other bearer token: a JWT, when Options.JWT is set;
//  3. the session cookie, which on a request other than GET, HEAD and
//     OPTIONS must come with the session's CSRF token, in the
//     X-CSRF-Token header or a csrf_token form field.
//
// A request with none of them is (nil, nil): 401. Credentials that are
// given and refused are an error saying what was wrong (malformed,
// unknown, revoked, expired, badly signed), never holding the secret:
// 401. A missing or wrong CSRF token wraps activitylog.ErrForbidden:
// 403. A bearer token that is refused is not followed by a try of the
// cookie.
func (s *Service) Authenticate(r *http.Request) (*activitylog.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok := server.BearerToken(r)
		switch {
		case tok == "" && len(h) >= 6 && strings.EqualFold(h[:6], "bearer"):
			return nil, errors.New("empty bearer token: send Authorization: Bearer <API key or JWT>")
		case tok == "":
			return nil, errors.New("unsupported Authorization scheme: send Authorization: Bearer <API key or JWT>")
		case strings.HasPrefix(tok, KeyPrefix):
			return s.keyPrincipal(r.Context(), tok)
		case s.jwt != nil:
			return s.jwtPrincipal(r)
		default:
			return nil, errors.New("bearer token refused: it is not an API key (those start with " + KeyPrefix + "), and this server accepts no JWT (none is configured)")
		}
	}
	c, err := r.Cookie(s.cookieName)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	return s.sessionPrincipal(r, c.Value)
}

// errStore is what a client is told when the store fails while checking
// its credentials; the cause is logged.
var errStore = errors.New("credentials cannot be checked now: the store is unavailable; retry later")

func (s *Service) storeError(ctx context.Context, op string, err error) error {
	s.log.ErrorContext(ctx, "activitylog access: "+op, "err", err)
	return errStore
}

// keyPrincipal checks an API key.
func (s *Service) keyPrincipal(ctx context.Context, tok string) (*activitylog.Principal, error) {
	id, hash, err := ParseAPIKey(tok)
	if err != nil {
		return nil, fmt.Errorf("bearer API key refused: %w", err)
	}
	k, err := s.store.APIKey(ctx, id)
	if errors.Is(err, activitylog.ErrNotFound) {
		return nil, fmt.Errorf("bearer API key refused: %s%s is not a key of this server, or its secret is wrong", KeyPrefix, id)
	}
	if err != nil {
		return nil, s.storeError(ctx, "read api key", err)
	}
	if subtle.ConstantTimeCompare(hash, k.Hash) != 1 {
		return nil, fmt.Errorf("bearer API key refused: %s%s is not a key of this server, or its secret is wrong", KeyPrefix, id)
	}
	now := s.now()
	if !k.RevokedAt.IsZero() {
		return nil, fmt.Errorf("bearer API key refused: %s%s was revoked at %s", KeyPrefix, id, k.RevokedAt.UTC().Format(time.RFC3339))
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return nil, fmt.Errorf("bearer API key refused: %s%s expired at %s", KeyPrefix, id, k.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if now.Sub(k.LastUsedAt) >= touchEvery {
		if err := s.store.TouchAPIKey(ctx, id, now); err != nil {
			s.log.WarnContext(ctx, "activitylog access: record api key use", "key", KeyPrefix+id, "err", err)
		}
	}
	return keyPrincipal(k), nil
}

func keyPrincipal(k APIKey) *activitylog.Principal {
	return &activitylog.Principal{
		ID:          KeyPrefix + k.ID,
		Name:        k.Name,
		Tenant:      k.Tenant,
		Permissions: slices.Clone(k.Scopes),
		Method:      MethodAPIKey,
	}
}

// sessionPrincipal checks a session cookie, and the CSRF token of an
// unsafe request.
func (s *Service) sessionPrincipal(r *http.Request, token string) (*activitylog.Principal, error) {
	ctx := r.Context()
	sess, u, err := s.session(ctx, token)
	if err != nil {
		return nil, err
	}
	if unsafeMethod(r.Method) {
		sent := r.Header.Get("X-CSRF-Token")
		if sent == "" && isForm(r) {
			if r.ParseForm() == nil {
				sent = r.PostForm.Get("csrf_token")
			}
		}
		switch {
		case sent == "":
			return nil, fmt.Errorf("%w: a %s signed in by session cookie must send the session's CSRF token (from sign-in, or GET /api/v1/auth/session) in the X-CSRF-Token header or a csrf_token form field",
				activitylog.ErrForbidden, r.Method)
		case !csrfMatches(token, sent):
			return nil, fmt.Errorf("%w: the CSRF token is not this session's", activitylog.ErrForbidden)
		}
	}
	if now := s.now(); now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.store.TouchSession(ctx, sess.Hash, now); err != nil {
			s.log.WarnContext(ctx, "activitylog access: record session use", "user", u.Username, "err", err)
		}
	}
	return userPrincipal(u), nil
}

func userPrincipal(u User) *activitylog.Principal {
	return &activitylog.Principal{
		ID:          u.ID,
		Name:        u.Username,
		Tenant:      u.Tenant,
		Permissions: slices.Clone(u.Permissions),
		Method:      MethodSession,
	}
}

// session returns the live session of token and its user. A session
// that ended is deleted.
func (s *Service) session(ctx context.Context, token string) (Session, User, error) {
	hash, err := ParseSessionToken(token)
	if err != nil {
		return Session{}, User{}, fmt.Errorf("session cookie refused: %w; sign in again", err)
	}
	sess, err := s.store.Session(ctx, hash)
	if errors.Is(err, activitylog.ErrNotFound) {
		return Session{}, User{}, errors.New("session cookie refused: the session has ended (signed out or expired); sign in again")
	}
	if err != nil {
		return Session{}, User{}, s.storeError(ctx, "read session", err)
	}
	now := s.now()
	var ended string
	switch {
	case !now.Before(sess.ExpiresAt):
		ended = "it reached its end at " + sess.ExpiresAt.UTC().Format(time.RFC3339)
	case now.Sub(sess.LastSeenAt) >= s.idle:
		ended = "it was idle for more than " + s.idle.String()
	}
	if ended != "" {
		if err := s.store.DeleteSession(ctx, hash); err != nil {
			s.log.WarnContext(ctx, "activitylog access: delete ended session", "err", err)
		}
		return Session{}, User{}, errors.New("session cookie refused: the session expired (" + ended + "); sign in again")
	}
	u, err := s.store.UserByID(ctx, sess.UserID)
	switch {
	case errors.Is(err, activitylog.ErrNotFound) || err == nil && u.Disabled:
		return Session{}, User{}, errors.New("session cookie refused: its user is disabled or gone")
	case err != nil:
		return Session{}, User{}, s.storeError(ctx, "read user", err)
	}
	return sess, u, nil
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

func isForm(r *http.Request) bool {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded")
}

// Routes returns the routes of the Service, for server.Options.Routes:
//
//	POST   /api/v1/auth/login       Public: sign in; sets the session cookie
//	POST   /api/v1/auth/logout      Public: sign out; clears it
//	GET    /api/v1/auth/session     SignedIn: who, and the CSRF token
//	POST   /api/v1/api-keys         superuser: make a key, shown once
//	GET    /api/v1/api-keys         superuser: list keys, without secrets
//	DELETE /api/v1/api-keys/{id}    superuser: revoke a key
//	GET    /api/v1/users            superuser: list users, without password hashes
//	POST   /api/v1/users            superuser: make a user (not a superuser)
//	PATCH  /api/v1/users/{username} superuser: {"disabled": bool}
//
// The key routes need superuser because a key is a credential that
// outlives its maker's session: only a principal that may do
// everything already may mint one, and even it may not mint a
// superuser key (only the command line may).
//
// None of them takes a query parameter: one is refused, 400 naming it,
// before anything is done (a DELETE with ?dry_run=1 must not revoke).
func (s *Service) Routes() []server.Route {
	return []server.Route{
		{Pattern: "POST /api/v1/auth/login", Need: server.Public, Handler: noParams(s.login)},
		{Pattern: "POST /api/v1/auth/logout", Need: server.Public, Handler: noParams(s.logout)},
		{Pattern: "GET /api/v1/auth/session", Need: server.SignedIn, Handler: noParams(s.sessionInfo)},
		{Pattern: "POST /api/v1/api-keys", Need: activitylog.Superuser, Handler: noParams(s.createKey)},
		{Pattern: "GET /api/v1/api-keys", Need: activitylog.Superuser, Handler: noParams(s.listKeys)},
		{Pattern: "DELETE /api/v1/api-keys/{id}", Need: activitylog.Superuser, Handler: noParams(s.revokeKey)},
		{Pattern: "GET /api/v1/users", Need: activitylog.Superuser, Handler: noParams(s.listUsers)},
		{Pattern: "POST /api/v1/users", Need: activitylog.Superuser, Handler: noParams(s.createUser)},
		{Pattern: "PATCH /api/v1/users/{username}", Need: activitylog.Superuser, Handler: noParams(s.updateUser)},
	}
}

// noParams refuses a request with any query parameter, naming it.
func noParams(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := server.NoParams(r); err != nil {
			writeFieldError(w, err)
			return
		}
		h(w, r)
	}
}
