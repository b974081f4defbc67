package jwtaudit_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/jwtaudit"
)

var ann = activitylog.Actor{ID: "u-1", Name: "Ann", Email: "ann@example.com", Type: activitylog.ActorUser}

func newVerifier(t *testing.T, o jwtaudit.Options) *jwtaudit.Verifier {
	t.Helper()
	if o.Now == nil {
		o.Now = fixedNow
	}
	v, err := jwtaudit.NewVerifier(&o)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// Every algorithm family, each with its own key, verifies.
func TestAlgorithms(t *testing.T) {
	t.Parallel()
	k := keys()
	rsaPEM := pemOf(&k.rsa.PublicKey)
	tests := []struct {
		method jwt.SigningMethod
		sign   any
		opts   jwtaudit.Options
	}{
		{jwt.SigningMethodHS256, k.secret, jwtaudit.Options{HMACSecret: k.secret}},
		{jwt.SigningMethodHS384, k.secret, jwtaudit.Options{HMACSecret: k.secret}},
		{jwt.SigningMethodHS512, k.secret, jwtaudit.Options{HMACSecret: k.secret}},
		{jwt.SigningMethodRS256, k.rsa, jwtaudit.Options{PublicKeyPEM: rsaPEM}},
		{jwt.SigningMethodRS384, k.rsa, jwtaudit.Options{PublicKeyPEM: rsaPEM}},
		{jwt.SigningMethodRS512, k.rsa, jwtaudit.Options{PublicKeyPEM: rsaPEM}},
		{jwt.SigningMethodPS256, k.rsa, jwtaudit.Options{PublicKeyPEM: rsaPEM}},
		{jwt.SigningMethodPS384, k.rsa, jwtaudit.Options{PublicKeyPEM: rsaPEM}},
		{jwt.SigningMethodPS512, k.rsa, jwtaudit.Options{PublicKeyPEM: rsaPEM}},
		{jwt.SigningMethodES256, k.p256, jwtaudit.Options{PublicKeyPEM: pemOf(&k.p256.PublicKey)}},
		{jwt.SigningMethodES384, k.p384, jwtaudit.Options{PublicKeyPEM: pemOf(&k.p384.PublicKey)}},
		{jwt.SigningMethodES512, k.p521, jwtaudit.Options{PublicKeyPEM: pemOf(&k.p521.PublicKey)}},
		{jwt.SigningMethodEdDSA, k.ed, jwtaudit.Options{PublicKeyPEM: pemOf(k.ed.Public())}},
	}
	for _, tt := range tests {
		t.Run(tt.method.Alg(), func(t *testing.T) {
			t.Parallel()
			for _, cache := range []int{0, -1} {
				tt.opts.CacheSize = cache
				v := newVerifier(t, tt.opts)
				tok := sign(t, tt.method, tt.sign, claims(nil), nil)
				for range 2 { // the second from the cache, when there is one
					got, err := v.Actor(request("Bearer " + tok))
					if err != nil {
						t.Fatalf("cache %d: Actor: %v", cache, err)
					}
					if !equalActor(got, ann) {
						t.Errorf("cache %d: got %+v, want %+v", cache, got, ann)
					}
				}
			}
		})
	}
}

func equalActor(a, b activitylog.Actor) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Email == b.Email && a.Type == b.Type && len(a.Extra) == len(b.Extra)
}

// b64 is base64url without padding, as in a JWT.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// handMade returns a token with the header and payload given as JSON,
// signed with HS256 under secret, or with sig when secret is nil.
func handMade(header, payload string, secret []byte, sig string) string {
	s := b64(header) + "." + b64(payload)
	if secret != nil {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(s))
		sig = base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	return s + "." + sig
}

func TestRefused(t *testing.T) {
	t.Parallel()
	k := keys()
	rsaPEM := pemOf(&k.rsa.PublicKey)
	hmacOnly := jwtaudit.Options{HMACSecret: k.secret}
	rsaOnly := jwtaudit.Options{PublicKeyPEM: rsaPEM}
	ecOnly := jwtaudit.Options{PublicKeyPEM: pemOf(&k.p256.PublicKey)}
	payload := `{"sub":"u-1","exp":` + jsonInt(t0.Add(time.Hour).Unix()) + `}`
	tests := []struct {
		name   string
		opts   jwtaudit.Options
		token  string
		wantIs error // besides ErrTokenInvalid; nil for none
	}{
		{"wrong HMAC secret", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret2, claims(nil), nil), jwt.ErrTokenSignatureInvalid},
		{"wrong RSA key", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa2, claims(nil), nil), jwt.ErrTokenSignatureInvalid},
		{"wrong RSA-PSS key", rsaOnly, sign(t, jwt.SigningMethodPS256, k.rsa2, claims(nil), nil), jwt.ErrTokenSignatureInvalid},
		{"wrong EC key", ecOnly, sign(t, jwt.SigningMethodES256, k.p256b, claims(nil), nil), jwt.ErrTokenSignatureInvalid},
		{"EC key, other curve", ecOnly, sign(t, jwt.SigningMethodES384, k.p384, claims(nil), nil), jwt.ErrTokenSignatureInvalid},
		{"alg not in allow-list", jwtaudit.Options{HMACSecret: k.secret, Algorithms: []string{"HS512"}},
			sign(t, jwt.SigningMethodHS256, k.secret, claims(nil), nil), jwt.ErrTokenSignatureInvalid},
		{"RS256 to an HMAC verifier", hmacOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), nil), jwt.ErrTokenSignatureInvalid},
		{"alg none, no signature", hmacOnly, handMade(`{"alg":"none","typ":"JWT"}`, payload, nil, ""), jwt.ErrTokenSignatureInvalid},
		{"alg none, a signature", hmacOnly, handMade(`{"alg":"none"}`, payload, nil, "c2ln"), jwt.ErrTokenSignatureInvalid},
		{"alg none, insecure library key", rsaOnly, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil), nil), jwt.ErrTokenSignatureInvalid},
		{"alg NONE", hmacOnly, handMade(`{"alg":"NONE"}`, payload, nil, ""), jwt.ErrTokenUnverifiable},
		{"no alg", hmacOnly, handMade(`{"typ":"JWT"}`, payload, k.secret, ""), jwt.ErrTokenUnverifiable},
		// The public key's PEM bytes, which are public, as the HMAC
		// secret: refused because HS256 is not an RSA algorithm.
		{"alg confusion", rsaOnly, sign(t, jwt.SigningMethodHS256, rsaPEM, claims(nil), nil), jwt.ErrTokenSignatureInvalid},
		{"alg confusion with a secret too", jwtaudit.Options{HMACSecret: k.secret, PublicKeyPEM: rsaPEM},
			sign(t, jwt.SigningMethodHS256, rsaPEM, claims(nil), nil), jwt.ErrTokenSignatureInvalid},
		{"expired", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"exp": t0.Add(-time.Hour).Unix()}), nil), jwt.ErrTokenExpired},
		{"expired beyond leeway", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"exp": t0.Add(-31 * time.Second).Unix()}), nil), jwt.ErrTokenExpired},
		{"not yet valid", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"nbf": t0.Add(time.Hour).Unix()}), nil), jwt.ErrTokenNotValidYet},
		{"exp not a number", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"exp": "tomorrow"}), nil), jwt.ErrInvalidType},
		{"wrong issuer", jwtaudit.Options{HMACSecret: k.secret, Issuer: "https://login.example"},
			sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"iss": "https://evil.example"}), nil), jwt.ErrTokenInvalidIssuer},
		{"no issuer", jwtaudit.Options{HMACSecret: k.secret, Issuer: "https://login.example"},
			sign(t, jwt.SigningMethodHS256, k.secret, claims(nil), nil), jwt.ErrTokenRequiredClaimMissing},
		{"wrong audience", jwtaudit.Options{HMACSecret: k.secret, Audience: "shop"},
			sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"aud": []string{"billing"}}), nil), jwt.ErrTokenInvalidAudience},
		{"critical header", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(nil), map[string]any{"crit": []string{"b64"}, "b64": false}), jwt.ErrTokenUnverifiable},
		{"no user id", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"sub": nil}), nil), jwt.ErrTokenRequiredClaimMissing},
		{"empty user id", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"sub": ""}), nil), jwt.ErrTokenRequiredClaimMissing},
		{"object user id", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"sub": nil, "user_id": map[string]any{"id": 1}}), nil), jwt.ErrTokenRequiredClaimMissing},
		{"array user id", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"sub": nil, "id": []int{1}}), nil), jwt.ErrTokenRequiredClaimMissing},
		{"bool user id", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"sub": nil, "pk": true}), nil), jwt.ErrTokenRequiredClaimMissing},
		{"null payload", hmacOnly, handMade(`{"alg":"HS256"}`, `null`, k.secret, ""), jwt.ErrTokenRequiredClaimMissing},
		{"empty token", hmacOnly, "", jwt.ErrTokenMalformed},
		{"one segment", hmacOnly, "abcdefghijklmnopqrstuvwxyz0123456789", jwt.ErrTokenMalformed},
		{"two segments", hmacOnly, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1LTEifQ", jwt.ErrTokenMalformed},
		{"four segments", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(nil), nil) + ".x", jwt.ErrTokenMalformed},
		{"not base64", hmacOnly, "!!!!.????.####", jwt.ErrTokenMalformed},
		{"header not JSON", hmacOnly, handMade(`alg=HS256`, payload, k.secret, ""), jwt.ErrTokenMalformed},
		{"payload not JSON", hmacOnly, handMade(`{"alg":"HS256"}`, `sub=u-1`, k.secret, ""), jwt.ErrTokenMalformed},
		{"payload an array", hmacOnly, handMade(`{"alg":"HS256"}`, `["u-1"]`, k.secret, ""), jwt.ErrTokenMalformed},
		{"signature not base64", hmacOnly, handMade(`{"alg":"HS256"}`, payload, nil, "***"), jwt.ErrTokenMalformed},
		{"padded base64", hmacOnly, sign(t, jwt.SigningMethodHS256, k.secret, claims(nil), nil) + "==", jwt.ErrTokenMalformed},
		{"too long", hmacOnly, handMade(`{"alg":"HS256"}`, `{"sub":"`+strings.Repeat("x", 70<<10)+`"}`, k.secret, ""), jwt.ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, tt.opts)
			for range 2 { // a refused token is not cached
				got, err := v.Actor(request("Bearer " + tt.token))
				if err == nil {
					t.Fatalf("got %+v, nil error; want an error", got)
				}
				if !errors.Is(err, jwtaudit.ErrTokenInvalid) {
					t.Errorf("error %q does not wrap ErrTokenInvalid", err)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("error %q does not wrap %q", err, tt.wantIs)
				}
				if !isZero(got) {
					t.Errorf("got actor %+v with the error, want the zero Actor", got)
				}
				checkSecretFree(t, err.Error(), tt.token)
			}
		})
	}
}

// checkSecretFree fails when msg holds the token or a secret or key.
func checkSecretFree(t *testing.T, msg, token string) {
	t.Helper()
	k := keys()
	if len(token) >= 8 && strings.Contains(msg, token) {
		t.Errorf("error %q holds the token", msg)
	}
	// A signature or payload segment is no better than the token.
	for seg := range strings.SplitSeq(token, ".") {
		if len(seg) >= 16 && strings.Contains(msg, seg) {
			t.Errorf("error %q holds a segment of the token", msg)
		}
	}
	for _, s := range []string{
		string(k.secret), base64.StdEncoding.EncodeToString(k.secret), base64.RawURLEncoding.EncodeToString(k.secret),
		strings.Split(string(pemOf(&k.rsa.PublicKey)), "\n")[1],
	} {
		if strings.Contains(msg, s) {
			t.Errorf("error %q holds a secret or key", msg)
		}
	}
}

func jsonInt(n int64) string { return string(must(json.Marshal(n))) }

// Requests that carry no token of the scheme have no actor and no
// error.
func TestNoToken(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, jwtaudit.Options{HMACSecret: keys().secret})
	tok := sign(t, jwt.SigningMethodHS256, keys().secret, claims(nil), nil)
	for _, auth := range []string{
		"",
		"Basic dXNlcjpwYXNz",
		"Bearer" + tok, // no space: another scheme
		"Bear " + tok,
		"Token " + tok,
		tok,
		"DPoP " + tok,
	} {
		got, err := v.Actor(request(auth))
		if err != nil || !isZero(got) {
			t.Errorf("Authorization %.20q: got %+v, %v; want the zero Actor, nil", auth, got, err)
		}
	}
	if got, err := v.Actor(nil); err != nil || !isZero(got) {
		t.Errorf("nil request: got %+v, %v", got, err)
	}
	// Another header holds the token: not read.
	r := request("")
	r.Header.Set("X-Token", "Bearer "+tok)
	if got, err := v.Actor(r); err != nil || !isZero(got) {
		t.Errorf("X-Token: got %+v, %v", got, err)
	}
}

func TestScheme(t *testing.T) {
	t.Parallel()
	k := keys()
	tok := sign(t, jwt.SigningMethodHS256, k.secret, claims(nil), nil)
	v := newVerifier(t, jwtaudit.Options{HMACSecret: k.secret})
	for _, auth := range []string{"Bearer " + tok, "bearer " + tok, "BEARER " + tok, "Bearer   " + tok, "Bearer\t" + tok, "Bearer " + tok + " "} {
		if got, err := v.Actor(request(auth)); err != nil || got.ID != "u-1" {
			t.Errorf("%.10q: got %+v, %v", auth, got, err)
		}
	}
	// The first value with the scheme counts.
	r := request("")
	r.Header.Add("Authorization", "Basic dXNlcjpwYXNz")
	r.Header.Add("Authorization", "Bearer "+tok)
	if got, err := v.Actor(r); err != nil || got.ID != "u-1" {
		t.Errorf("second value: got %+v, %v", got, err)
	}
	// "Bearer" alone carries an empty token.
	if _, err := v.Actor(request("Bearer")); !errors.Is(err, jwtaudit.ErrTokenInvalid) {
		t.Errorf(`"Bearer": got error %v, want ErrTokenInvalid`, err)
	}

	custom := newVerifier(t, jwtaudit.Options{HMACSecret: k.secret, Header: "x-auth-token", Prefix: "JWT"})
	r = request("Bearer " + tok)
	if got, err := custom.Actor(r); err != nil || !isZero(got) {
		t.Errorf("custom header, Authorization only: got %+v, %v", got, err)
	}
	r.Header.Set("X-Auth-Token", "jwt "+tok)
	if got, err := custom.Actor(r); err != nil || got.ID != "u-1" {
		t.Errorf("custom header: got %+v, %v", got, err)
	}
}

func TestClaims(t *testing.T) {
	t.Parallel()
	k := keys()
	long := strings.Repeat("é", activitylog.MaxShortField)
	tests := []struct {
		name   string
		claims jwt.MapClaims // merged into claims(nil)
		opts   jwtaudit.Options
		want   activitylog.Actor
	}{
		{"sub", nil, jwtaudit.Options{}, ann},
		{"user_id beats sub", jwt.MapClaims{"user_id": "u-9"}, jwtaudit.Options{}, withID(ann, "u-9")},
		{"sub beats pk and id", jwt.MapClaims{"pk": "p", "id": "i"}, jwtaudit.Options{}, ann},
		{"pk beats id", jwt.MapClaims{"sub": nil, "pk": "p", "id": "i"}, jwtaudit.Options{}, withID(ann, "p")},
		{"id", jwt.MapClaims{"sub": nil, "id": "i"}, jwtaudit.Options{}, withID(ann, "i")},
		{"number", jwt.MapClaims{"user_id": 42}, jwtaudit.Options{}, withID(ann, "42")},
		{"float number", jwt.MapClaims{"user_id": 42.0}, jwtaudit.Options{}, withID(ann, "42")},
		{"negative number", jwt.MapClaims{"user_id": -7}, jwtaudit.Options{}, withID(ann, "-7")},
		{"zero", jwt.MapClaims{"user_id": 0}, jwtaudit.Options{}, withID(ann, "0")},
		{"fraction", jwt.MapClaims{"user_id": 4.5}, jwtaudit.Options{}, withID(ann, "4.5")},
		{"1e21", jwt.MapClaims{"user_id": 1e21}, jwtaudit.Options{}, withID(ann, "1000000000000000000000")},
		{"1e21 literal", jwt.MapClaims{"user_id": json.Number("1e21")}, jwtaudit.Options{}, withID(ann, "1000000000000000000000")},
		{"beyond 2^53", jwt.MapClaims{"user_id": json.Number("12345678901234567891")}, jwtaudit.Options{}, withID(ann, "12345678901234567891")},
		{"beyond 2^53, negative", jwt.MapClaims{"user_id": json.Number("-9007199254740993")}, jwtaudit.Options{}, withID(ann, "-9007199254740993")},
		{"object skipped", jwt.MapClaims{"user_id": map[string]any{"id": 1}}, jwtaudit.Options{}, ann},
		{"array skipped", jwt.MapClaims{"user_id": []string{"u-9"}}, jwtaudit.Options{}, ann},
		{"bool skipped", jwt.MapClaims{"user_id": true}, jwtaudit.Options{}, ann},
		{"empty string skipped", jwt.MapClaims{"user_id": ""}, jwtaudit.Options{}, ann},
		{"custom claims", jwt.MapClaims{"uid": "x-1", "user_id": "u-9"}, jwtaudit.Options{Claims: []string{"uid", "sub"}}, withID(ann, "x-1")},
		{"custom claims, fallback", nil, jwtaudit.Options{Claims: []string{"uid", "sub"}}, ann},
		{"preferred_username", jwt.MapClaims{"name": nil, "preferred_username": "ann1"}, jwtaudit.Options{}, activitylog.Actor{ID: "u-1", Name: "ann1", Email: "ann@example.com", Type: activitylog.ActorUser}},
		{"name beats preferred_username", jwt.MapClaims{"preferred_username": "ann1"}, jwtaudit.Options{}, ann},
		{"name not a string", jwt.MapClaims{"name": 7}, jwtaudit.Options{}, activitylog.Actor{ID: "u-1", Email: "ann@example.com", Type: activitylog.ActorUser}},
		{"no name nor email", jwt.MapClaims{"name": nil, "email": nil}, jwtaudit.Options{}, activitylog.Actor{ID: "u-1", Type: activitylog.ActorUser}},
		{"custom name and email claims", jwt.MapClaims{"given_name": "Annie", "mail": "a@x.example"},
			jwtaudit.Options{NameClaims: []string{"given_name"}, EmailClaims: []string{"mail"}},
			activitylog.Actor{ID: "u-1", Name: "Annie", Email: "a@x.example", Type: activitylog.ActorUser}},
		{"clipped", jwt.MapClaims{"sub": long, "name": long, "email": long}, jwtaudit.Options{},
			activitylog.Actor{ID: clipped(long), Name: clipped(long), Email: clipped(long), Type: activitylog.ActorUser}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.HMACSecret = k.secret
			v := newVerifier(t, tt.opts)
			got, err := v.Actor(request("Bearer " + sign(t, jwt.SigningMethodHS256, k.secret, claims(tt.claims), nil)))
			if err != nil {
				t.Fatalf("Actor: %v", err)
			}
			if !equalActor(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if len(got.ID) > activitylog.MaxShortField || len(got.Name) > activitylog.MaxShortField || len(got.Email) > activitylog.MaxShortField {
				t.Errorf("not clipped: %d, %d, %d bytes", len(got.ID), len(got.Name), len(got.Email))
			}
		})
	}
}

func withID(a activitylog.Actor, id string) activitylog.Actor { a.ID = id; return a }

// clipped is s cut as the package cuts it: to MaxShortField bytes on a
// rune boundary, ending in "…".
func clipped(s string) string {
	const e = "…"
	i := activitylog.MaxShortField - len(e)
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + e
}

func TestActorFunc(t *testing.T) {
	t.Parallel()
	k := keys()
	errNoTenant := errors.New("no tenant claim")
	v := newVerifier(t, jwtaudit.Options{
		HMACSecret: k.secret,
		ActorFunc: func(c jwt.MapClaims) (activitylog.Actor, error) {
			tenant, ok := c["tenant"].(string)
			if !ok {
				return activitylog.Actor{}, errNoTenant
			}
			id, _ := c["client_id"].(string)
			a := activitylog.Actor{ID: id, Name: strings.Repeat("n", 2000), Extra: map[string]any{"tenant": tenant}}
			if c["svc"] == true {
				a.Type = activitylog.ActorService
			}
			return a, nil
		},
	})
	tests := []struct {
		name    string
		claims  jwt.MapClaims
		want    activitylog.Actor
		wantErr error
	}{
		{"user", jwt.MapClaims{"tenant": "acme", "client_id": "c-1"}, activitylog.Actor{ID: "c-1", Type: activitylog.ActorUser}, nil},
		{"service", jwt.MapClaims{"tenant": "acme", "client_id": "c-2", "svc": true}, activitylog.Actor{ID: "c-2", Type: activitylog.ActorService}, nil},
		{"error", jwt.MapClaims{"client_id": "c-1"}, activitylog.Actor{}, errNoTenant},
		{"no id", jwt.MapClaims{"tenant": "acme"}, activitylog.Actor{}, jwt.ErrTokenRequiredClaimMissing},
	}
	for _, tt := range tests {
		got, err := v.Actor(request("Bearer " + sign(t, jwt.SigningMethodHS256, k.secret, claims(tt.claims), nil)))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, jwtaudit.ErrTokenInvalid) {
				t.Errorf("%s: got error %v, want one wrapping %v and ErrTokenInvalid", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got.ID != tt.want.ID || got.Type != tt.want.Type || got.Extra["tenant"] != "acme" {
			t.Errorf("%s: got %+v, want %+v with tenant acme", tt.name, got, tt.want)
		}
		if len(got.Name) > activitylog.MaxShortField {
			t.Errorf("%s: name of %d bytes not clipped", tt.name, len(got.Name))
		}
	}
}

func TestLeeway(t *testing.T) {
	t.Parallel()
	k := keys()
	tests := []struct {
		leeway time.Duration
		exp    time.Duration // relative to t0
		ok     bool
	}{
		{0, -29 * time.Second, true}, // default 30s
		{0, -31 * time.Second, false},
		{-1, -time.Second, false}, // no leeway
		{-1, time.Second, true},
		{2 * time.Minute, -90 * time.Second, true},
		{2 * time.Minute, -121 * time.Second, false},
	}
	for _, tt := range tests {
		v := newVerifier(t, jwtaudit.Options{HMACSecret: k.secret, Leeway: tt.leeway})
		_, err := v.Actor(request("Bearer " + sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"exp": t0.Add(tt.exp).Unix()}), nil)))
		if ok := err == nil; ok != tt.ok {
			t.Errorf("leeway %v, exp %v: error %v, want ok=%v", tt.leeway, tt.exp, err, tt.ok)
		}
	}
	// nbf gets the same leeway.
	v := newVerifier(t, jwtaudit.Options{HMACSecret: k.secret})
	if _, err := v.Actor(request("Bearer " + sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"nbf": t0.Add(20 * time.Second).Unix()}), nil))); err != nil {
		t.Errorf("nbf 20s ahead: %v", err)
	}
}

func TestIssuerAudience(t *testing.T) {
	t.Parallel()
	k := keys()
	v := newVerifier(t, jwtaudit.Options{HMACSecret: k.secret, Issuer: "https://login.example", Audience: "shop"})
	for _, aud := range []any{"shop", []string{"billing", "shop"}} {
		tok := sign(t, jwt.SigningMethodHS256, k.secret, claims(jwt.MapClaims{"iss": "https://login.example", "aud": aud}), nil)
		if got, err := v.Actor(request("Bearer " + tok)); err != nil || got.ID != "u-1" {
			t.Errorf("aud %v: got %+v, %v", aud, got, err)
		}
	}
}

// Insecure mode accepts any signature but still checks the claims.
func TestInsecure(t *testing.T) {
	t.Parallel()
	k := keys()
	v := newVerifier(t, jwtaudit.Options{Insecure: true, Issuer: "https://login.example"})
	iss := jwt.MapClaims{"iss": "https://login.example"}
	tests := []struct {
		name   string
		token  string
		wantIs error // nil: accepted
	}{
		{"unknown secret", sign(t, jwt.SigningMethodHS256, k.secret2, claims(iss), nil), nil},
		{"unknown RSA key", sign(t, jwt.SigningMethodRS256, k.rsa2, claims(iss), nil), nil},
		{"garbage signature", handMade(`{"alg":"ES256"}`, `{"sub":"u-1","iss":"https://login.example"}`, nil, "Z2FyYmFnZQ"), nil},
		{"expired", sign(t, jwt.SigningMethodHS256, k.secret2, claims(jwt.MapClaims{"iss": "https://login.example", "exp": t0.Add(-time.Hour).Unix()}), nil), jwt.ErrTokenExpired},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, k.secret2, claims(jwt.MapClaims{"iss": "https://login.example", "nbf": t0.Add(time.Hour).Unix()}), nil), jwt.ErrTokenNotValidYet},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, k.secret2, claims(nil), nil), jwt.ErrTokenRequiredClaimMissing},
		{"alg none", handMade(`{"alg":"none"}`, `{"sub":"u-1","iss":"https://login.example"}`, nil, ""), jwt.ErrTokenSignatureInvalid},
		{"malformed", "a.b", jwt.ErrTokenMalformed},
		{"critical header", sign(t, jwt.SigningMethodHS256, k.secret, claims(iss), map[string]any{"crit": []string{"x"}}), jwt.ErrTokenUnverifiable},
	}
	for _, tt := range tests {
		got, err := v.Actor(request("Bearer " + tt.token))
		if tt.wantIs == nil {
			if err != nil || got.ID != "u-1" {
				t.Errorf("%s: got %+v, %v; want u-1", tt.name, got, err)
			}
			continue
		}
		if !errors.Is(err, jwtaudit.ErrTokenInvalid) || !errors.Is(err, tt.wantIs) {
			t.Errorf("%s: got %+v, error %v; want one wrapping %v", tt.name, got, err, tt.wantIs)
		}
	}

	// The allow-list still holds.
	v = newVerifier(t, jwtaudit.Options{Insecure: true, Algorithms: []string{"RS256"}})
	if _, err := v.Actor(request("Bearer " + sign(t, jwt.SigningMethodHS256, k.secret, claims(nil), nil))); !errors.Is(err, jwtaudit.ErrTokenInvalid) {
		t.Errorf("HS256 with Algorithms RS256: error %v, want ErrTokenInvalid", err)
	}
}
