package jwtaudit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
)

// ErrTokenInvalid is wrapped by every error Verifier.Actor returns: the
// request carried a token that was not accepted. When the keys could
// not be fetched from Options.JWKSURL, the error wraps
// activitylog.ErrUnavailable too. The jwt package's own errors
// (jwt.ErrTokenExpired, jwt.ErrTokenSignatureInvalid, …) are wrapped
// as well, where one applies.
var ErrTokenInvalid = errors.New("invalid token")

// Options configures a Verifier. The zero value, or nil, means the
// defaults written beside each field, except that a Verifier needs a key
// (HMACSecret, PublicKeyPEM, PublicKeyFile or JWKSURL) or Insecure.
type Options struct {
	// Header names the request header that carries the token.
	// Default: "Authorization".
	Header string

	// Prefix is the authentication scheme in front of the token,
	// matched without regard to case and followed by one or more
	// spaces. A request whose header does not start with it carries no
	// token. Default: "Bearer".
	Prefix string

	// Claims are the claims tried, in order, for the actor's id. The
	// first that holds a non-empty string or a number wins; a number
	// becomes its decimal form ("42"), and an object, array, boolean
	// or null is skipped. A token none of them names an id in is
	// refused. Default: "user_id", "sub", "pk", "id".
	Claims []string

	// NameClaims are the claims tried, in order, for the actor's name;
	// only a non-empty string counts. Default: "name",
	// "preferred_username".
	NameClaims []string

	// EmailClaims are the claims tried, in order, for the actor's
	// email; only a non-empty string counts. Default: "email".
	EmailClaims []string

	// ActorFunc, when set, makes the actor from the verified claims
	// and replaces Claims, NameClaims and EmailClaims. An error it
	// returns, or an Actor with no ID, refuses the token. An empty Type
	// becomes activitylog.ActorUser, and ID, Name and Email are clipped
	// to activitylog.MaxShortField. It is called only for a token that
	// passed every check, from the request's goroutine, possibly from
	// many at once, and only once per token while the token is cached.
	// Numbers in the claims are float64, as encoding/json decodes them.
	// A cached actor's Extra map is copied (shallowly) for each request.
	// Default: nil.
	ActorFunc func(claims jwt.MapClaims) (activitylog.Actor, error)

	// Algorithms lists the signing algorithms accepted, from HS256,
	// HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256,
	// ES384, ES512 and EdDSA. "none" is never accepted, even when
	// listed: NewVerifier refuses it. Every algorithm listed must be
	// one that a configured key can verify. Default: every algorithm
	// the configured keys can verify (see the package documentation);
	// with Insecure and no key, all of the above.
	Algorithms []string

	// HMACSecret is the shared secret for HS256, HS384 and HS512. It
	// verifies those algorithms only, and they are verified with it
	// only: never with the bytes of a public key. RFC 7518 asks for at
	// least as many bytes as the hash output (32 for HS256); shorter
	// secrets are accepted, since the issuer chose them. The Verifier
	// keeps a copy. Default: none.
	HMACSecret []byte

	// PublicKeyPEM holds one or more PEM blocks, each an RSA, ECDSA
	// (P-256, P-384, P-521) or Ed25519 public key, as a PKIX "PUBLIC
	// KEY" (an RSA-PSS one, id-RSASSA-PSS, included), a PKCS #1 "RSA
	// PUBLIC KEY", or a "CERTIFICATE". Private keys are refused. RSA
	// keys must have at least 2048 bits. Default: none.
	PublicKeyPEM []byte

	// PublicKeyFile names a file read by NewVerifier, holding what
	// PublicKeyPEM would. Its keys are added to PublicKeyPEM's.
	// Default: none.
	PublicKeyFile string

	// JWKSURL is the address of a JSON Web Key Set (RFC 7517), such as
	// an identity provider's jwks_uri. Its signing keys (RSA, EC and
	// OKP Ed25519; never symmetric ones) are fetched on first use and
	// cached; see the package documentation. It must be https, or http
	// to a loopback address. Default: none.
	JWKSURL string

	// JWKSRefresh is how long fetched keys are used before they are
	// fetched again, in the background. Default: 15 minutes.
	JWKSRefresh time.Duration

	// HTTPClient fetches JWKSURL. Default: a client with a 10-second
	// timeout.
	HTTPClient *http.Client

	// Insecure turns signature verification OFF.
	//
	// Only set it in a service that sits behind a layer (an API
	// gateway, a service mesh, an authentication middleware) that has
	// already verified every token it lets through. Anyone who can
	// reach the service directly can then name any actor they like in
	// the audit trail.
	//
	// The token is still parsed; alg "none" and algorithms outside
	// Algorithms are still refused, and exp, nbf, Issuer and Audience
	// are still checked. Insecure cannot be combined with a key.
	// Default: false, every signature is verified.
	Insecure bool

	// Leeway is the clock skew allowed when checking exp and nbf.
	// Negative means none. Default: 30 seconds.
	Leeway time.Duration

	// Issuer, when set, must equal the token's iss claim. Default: not
	// checked.
	Issuer string

	// Audience, when set, must be among the token's aud claim.
	// Default: not checked.
	Audience string

	// CacheSize is how many verified tokens are kept, so that a token
	// seen again is not parsed and verified again. Negative disables
	// the cache. Default: 1024.
	CacheSize int

	// Now is the clock that exp and nbf are checked against. Default:
	// time.Now.
	Now func() time.Time
}

// Defaults.
const (
	defaultLeeway      = 30 * time.Second
	defaultCacheSize   = 1024
	defaultJWKSRefresh = 15 * time.Minute
	defaultHTTPTimeout = 10 * time.Second
)

// Defaults of the claim lists. They are copied into each Verifier.
var (
	defaultClaims      = []string{"user_id", "sub", "pk", "id"}
	defaultNameClaims  = []string{"name", "preferred_username"}
	defaultEmailClaims = []string{"email"}
)

// maxTokenLen is the longest token read. A longer one is refused
// before it is decoded.
const maxTokenLen = 64 << 10

// Verifier reads the actor of an HTTP request from the JWT it carries.
// It is safe for concurrent use.
type Verifier struct {
	header   string // canonical form, so the header map is indexed directly
	prefix   string
	claims   []string
	names    []string
	emails   []string
	actorFn  func(jwt.MapClaims) (activitylog.Actor, error)
	insecure bool
	algs     algSet
	static   [numAlgs][]any // static keys by the algorithm they verify
	jwks     *jwks          // nil without Options.JWKSURL
	parser   *jwt.Parser
	valid    *jwt.Validator // checks the claims when Insecure
	leeway   time.Duration
	cache    *cache // nil when disabled
	now      func() time.Time
}

// NewVerifier returns a Verifier configured by opts. opts may be nil,
// but a Verifier needs a key or Insecure, so NewVerifier(nil) returns
// an error. A configuration that is refused gives an
// *activitylog.FieldError, which wraps activitylog.ErrInvalid and names
// the field (for instance "algorithms") and the value refused (for
// instance "none"). Secrets and key material never appear in it.
func NewVerifier(opts *Options) (*Verifier, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	v := &Verifier{
		header:   textproto.CanonicalMIMEHeaderKey(cmp.Or(o.Header, "Authorization")),
		prefix:   cmp.Or(o.Prefix, "Bearer"),
		claims:   nonEmpty(o.Claims, defaultClaims),
		names:    nonEmpty(o.NameClaims, defaultNameClaims),
		emails:   nonEmpty(o.EmailClaims, defaultEmailClaims),
		actorFn:  o.ActorFunc,
		insecure: o.Insecure,
		now:      o.Now,
		leeway:   o.Leeway,
	}
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case v.leeway == 0:
		v.leeway = defaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if strings.TrimSpace(v.prefix) != v.prefix {
		return nil, activitylog.Invalid("prefix", v.prefix, "must not start or end with a space")
	}

	// The keys, and the algorithms they can verify.
	var keys []key
	if len(o.HMACSecret) > 0 {
		keys = append(keys, key{algs: hmacAlgs, pub: bytes.Clone(o.HMACSecret)})
	}
	if len(o.PublicKeyPEM) > 0 {
		ks, err := parsePEM(o.PublicKeyPEM)
		if err != nil {
			return nil, activitylog.Invalid("public_key_pem", err.value, err.reason)
		}
		keys = append(keys, ks...)
	}
	if o.PublicKeyFile != "" {
		data, err := os.ReadFile(o.PublicKeyFile)
		if err != nil {
			return nil, activitylog.Invalid("public_key_file", o.PublicKeyFile, "cannot be read: "+unwrapPath(err).Error())
		}
		ks, perr := parsePEM(data)
		if perr != nil {
			return nil, activitylog.Invalid("public_key_file", o.PublicKeyFile, perr.reason)
		}
		keys = append(keys, ks...)
	}
	var can algSet
	for _, k := range keys {
		can |= k.algs
		for i := range numAlgs {
			if k.algs&(1<<i) != 0 {
				v.static[i] = append(v.static[i], k.pub)
			}
		}
	}
	if o.JWKSURL != "" {
		if err := checkJWKSURL(o.JWKSURL); err != nil {
			return nil, err
		}
		refresh := o.JWKSRefresh
		if refresh <= 0 {
			refresh = defaultJWKSRefresh
		}
		client := o.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: defaultHTTPTimeout}
		}
		v.jwks = &jwks{url: o.JWKSURL, client: client, refresh: refresh, now: v.now}
		can |= asymmetricAlgs
	}
	switch {
	case o.Insecure && can != 0:
		return nil, activitylog.Invalid("insecure", "true", "cannot be combined with a key: with a key, signatures are verified; drop Insecure")
	case o.Insecure:
		can = allAlgs
	case can == 0:
		return nil, activitylog.Invalid("keys", "", "none configured: set HMACSecret, PublicKeyPEM, PublicKeyFile or JWKSURL (or Insecure, when a layer in front verifies tokens)")
	}

	// The allow-list.
	if len(o.Algorithms) == 0 {
		v.algs = can
	}
	for _, name := range o.Algorithms {
		if strings.EqualFold(name, "none") {
			return nil, activitylog.Invalid("algorithms", name, "is never accepted: such a token carries no signature")
		}
		a := algBit(name)
		if a == 0 {
			return nil, activitylog.Invalid("algorithms", name, "is not supported; use "+allAlgs.String())
		}
		if can&a == 0 {
			return nil, activitylog.Invalid("algorithms", name, "cannot be verified by any configured key (they verify "+can.String()+")")
		}
		v.algs |= a
	}

	popts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs.names()),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	}
	if o.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(o.Issuer))
	}
	if o.Audience != "" {
		popts = append(popts, jwt.WithAudience(o.Audience))
	}
	v.parser = jwt.NewParser(popts...)
	v.valid = jwt.NewValidator(popts...)

	size := o.CacheSize
	if size == 0 {
		size = defaultCacheSize
	}
	if size > 0 {
		v.cache = newCache(size)
	}
	return v, nil
}

// Actor returns the actor named by the token the request carries, with
// Type activitylog.ActorUser (or what Options.ActorFunc says). It fits
// httpaudit.Options.Actor.
//
// When the request has no Options.Header starting with Options.Prefix,
// it returns the zero Actor and a nil error. When it has one but the
// token is not accepted (malformed, badly signed, signed with an
// algorithm not allowed or with alg "none", expired, not yet valid,
// for another issuer or audience, naming no user), it returns the zero
// Actor and an error that wraps ErrTokenInvalid. The error never holds
// the token or a secret.
//
// A token that was accepted is cached (Options.CacheSize), so a token
// seen again costs a map lookup; it is still refused once it expires.
// Only when keys must be fetched from Options.JWKSURL does Actor wait,
// for at most the fetch's timeout or until the request's context is
// done.
func (v *Verifier) Actor(r *http.Request) (activitylog.Actor, error) {
	if r == nil {
		return activitylog.Actor{}, nil
	}
	tok, ok := v.token(r.Header)
	if !ok {
		return activitylog.Actor{}, nil
	}
	if v.cache != nil && tok != "" {
		now := v.now()
		if e, hit := v.cache.get(tok); hit {
			switch {
			case !e.exp.IsZero() && !now.Before(e.exp):
				v.cache.remove(tok)
				return activitylog.Actor{}, fmt.Errorf("%w: %w: %w", ErrTokenInvalid, jwt.ErrTokenInvalidClaims, jwt.ErrTokenExpired)
			case now.Before(e.stale):
				a := e.actor
				if a.Extra != nil {
					a.Extra = maps.Clone(a.Extra)
				}
				return a, nil
			}
			// Cached too long ago: verify it again.
		}
	}
	return v.verify(r.Context(), tok)
}

// token returns the token in the first value of h[v.header] that starts
// with the prefix, and whether there was one.
func (v *Verifier) token(h http.Header) (string, bool) {
	for _, s := range h[v.header] {
		if len(s) < len(v.prefix) || !strings.EqualFold(s[:len(v.prefix)], v.prefix) {
			continue
		}
		rest := s[len(v.prefix):]
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			continue // "Bearerish": another scheme
		}
		return strings.Trim(rest, " \t"), true
	}
	return "", false
}

// verify parses and checks tok, makes the actor, and caches it.
func (v *Verifier) verify(ctx context.Context, tok string) (activitylog.Actor, error) {
	if tok == "" {
		return activitylog.Actor{}, fmt.Errorf("%w: %w: no token after the scheme", ErrTokenInvalid, jwt.ErrTokenMalformed)
	}
	if len(tok) > maxTokenLen {
		return activitylog.Actor{}, fmt.Errorf("%w: %w: longer than %d bytes", ErrTokenInvalid, jwt.ErrTokenMalformed, maxTokenLen)
	}
	claims := jwt.MapClaims{}
	var err error
	if v.insecure {
		err = v.parseUnverified(tok, claims)
	} else {
		_, err = v.parser.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) { return v.keyFor(ctx, t) })
	}
	if err != nil {
		return activitylog.Actor{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	a, err := v.actorFrom(claims, tok)
	if err != nil {
		return activitylog.Actor{}, err
	}
	if v.cache != nil && len(tok) <= maxCachedTokenLen {
		now := v.now()
		e := entry{actor: a, stale: now.Add(maxCacheAge)}
		if a.Extra != nil {
			e.actor.Extra = maps.Clone(a.Extra) // the caller may change a's
		}
		if exp, _ := claims.GetExpirationTime(); exp != nil {
			e.exp = exp.Time.Add(v.leeway)
		}
		v.cache.put(strings.Clone(tok), e)
	}
	return a, nil
}

// parseUnverified is Insecure mode: tok is parsed and its claims are
// checked, but its signature is not.
func (v *Verifier) parseUnverified(tok string, claims jwt.MapClaims) error {
	t, _, err := v.parser.ParseUnverified(tok, claims)
	if err != nil {
		return err
	}
	if err := checkHeader(t); err != nil {
		return fmt.Errorf("%w: %w", jwt.ErrTokenUnverifiable, err)
	}
	if alg := t.Method.Alg(); v.algs&algBit(alg) == 0 {
		return fmt.Errorf("%w: signing method %s is not allowed", jwt.ErrTokenSignatureInvalid, clip(alg, 32))
	}
	if err := v.valid.Validate(claims); err != nil {
		return fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err)
	}
	return nil
}

// keyFor is the jwt.Keyfunc: it returns the keys that may have signed
// t, given its algorithm (already checked against the allow-list by the
// parser) and its kid.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	if err := checkHeader(t); err != nil {
		return nil, err
	}
	a := algBit(t.Method.Alg())
	if a == 0 || v.algs&a == 0 { // the parser's allow-list has already refused it
		return nil, fmt.Errorf("signing method %s is not allowed", clip(t.Method.Alg(), 32))
	}
	static := v.static[a.index()]
	if v.jwks == nil {
		return keySet(static)
	}
	// A token with a kid is taken for one signed with a JWKS key; one
	// without, only when no static key verifies its algorithm. With a
	// static key at hand, a JWKS that fails is not the token's fault.
	kid, _ := t.Header["kid"].(string)
	fetched, err := v.jwks.keys(ctx, kid, a, len(static) == 0 || kid != "")
	if len(static) == 0 {
		if err != nil {
			return nil, err
		}
		return keySet(fetched)
	}
	return keySet(append(static[:len(static):len(static)], fetched...))
}

// keySet returns what a jwt.Keyfunc returns for keys.
func keySet(keys []any) (any, error) {
	switch len(keys) {
	case 0:
		return nil, errors.New("no key can verify this algorithm")
	case 1:
		return keys[0], nil
	}
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
	for i, k := range keys {
		set.Keys[i] = k
	}
	return set, nil
}

// checkHeader refuses what the jwt package would let through: a "crit"
// header (RFC 7515 §4.1.11: an extension the recipient does not
// understand must be refused, and none is understood here).
func checkHeader(t *jwt.Token) error {
	if _, ok := t.Header["crit"]; ok {
		return errors.New("critical header extensions are not supported")
	}
	return nil
}

// actorFrom makes the actor from verified claims.
func (v *Verifier) actorFrom(claims jwt.MapClaims, tok string) (activitylog.Actor, error) {
	if v.actorFn != nil {
		a, err := v.actorFn(claims)
		if err != nil {
			return activitylog.Actor{}, fmt.Errorf("%w: actor from claims: %w", ErrTokenInvalid, err)
		}
		if a.ID == "" {
			return activitylog.Actor{}, fmt.Errorf("%w: %w: ActorFunc named no actor id", ErrTokenInvalid, jwt.ErrTokenRequiredClaimMissing)
		}
		if a.Type == "" {
			a.Type = activitylog.ActorUser
		}
		a.ID = clip(a.ID, activitylog.MaxShortField)
		a.Name = clip(a.Name, activitylog.MaxShortField)
		a.Email = clip(a.Email, activitylog.MaxShortField)
		return a, nil
	}
	id := idFrom(claims, v.claims, tok)
	if id == "" {
		return activitylog.Actor{}, fmt.Errorf("%w: %w: no user id in claims %s", ErrTokenInvalid, jwt.ErrTokenRequiredClaimMissing, strings.Join(v.claims, ", "))
	}
	return activitylog.Actor{
		ID:    clip(id, activitylog.MaxShortField),
		Name:  clip(stringFrom(claims, v.names), activitylog.MaxShortField),
		Email: clip(stringFrom(claims, v.emails), activitylog.MaxShortField),
		Type:  activitylog.ActorUser,
	}, nil
}

// nonEmpty returns a copy of list without empty names, or of def when
// that leaves nothing.
func nonEmpty(list, def []string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = append(out, def...)
	}
	return out
}

// unwrapPath drops the *os.PathError's repetition of the path, which
// the FieldError already carries as its value.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
