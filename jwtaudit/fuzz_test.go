package jwtaudit_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/jwtaudit"
)

// fuzzSecret is fixed, so that the corpus holds tokens it signed.
var fuzzSecret = []byte("fuzz-secret-0123456789abcdefghij")

// FuzzActor holds that whatever the Authorization header says, and
// whatever JSON a correctly signed token carries, Actor does not panic,
// returns either an actor with a sane id or the zero Actor with an
// error wrapping ErrTokenInvalid, and never puts the token or the
// secret in the error.
func FuzzActor(f *testing.F) {
	// keys() would make RSA keys in every fuzz worker, which takes
	// seconds under coverage instrumentation; one EC key is enough.
	ec := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	good := sign(f, jwt.SigningMethodHS256, fuzzSecret, claims(nil), nil)
	f.Add("Bearer "+good, []byte(`{"sub":"u-1"}`))
	f.Add("bearer "+good+"x", []byte(`{"user_id":1e21,"name":7}`))
	f.Add("Bearer "+sign(f, jwt.SigningMethodES256, ec, claims(nil), nil), []byte(`{"user_id":12345678901234567891}`))
	f.Add("Bearer "+handMade(`{"alg":"RS256"}`, `{"sub":"x"}`, nil, "c2ln"), []byte(`{"user_id":12345678901234567891}`))
	f.Add("Bearer "+handMade(`{"alg":"none"}`, `{"sub":"x"}`, nil, ""), []byte(`{"sub":{"a":[1,2]}}`))
	f.Add("Bearer a.b.c", []byte(`{"exp":"x","nbf":1e400}`))
	f.Add("Bearer ..", []byte(`null`))
	f.Add("Bearer", []byte(`[]`))
	f.Add("Basic dXNlcjpwYXNz", []byte(`{"sub":"`+strings.Repeat("é", 600)+`"}`))
	f.Add("Bearer eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiYiJdfQ.e30.", []byte(`{"user_id":-0,"sub":"s"}`))
	f.Add("Bearer \x00\xff.\xfe.", []byte("\xff"))

	hmacV := must(jwtaudit.NewVerifier(&jwtaudit.Options{
		HMACSecret:   fuzzSecret,
		PublicKeyPEM: pemOf(&ec.PublicKey),
		Now:          fixedNow,
	}))
	insecure := must(jwtaudit.NewVerifier(&jwtaudit.Options{Insecure: true, Now: fixedNow, CacheSize: -1}))

	f.Fuzz(func(t *testing.T, auth string, payload []byte) {
		// The header as sent, and a token over payload that HS256 under
		// the verifier's secret signed.
		seg := b64(`{"alg":"HS256","typ":"JWT"}`) + "." + base64.RawURLEncoding.EncodeToString(payload)
		m := hmac.New(sha256.New, fuzzSecret)
		m.Write([]byte(seg))
		signed := seg + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		for i, h := range []string{auth, "Bearer " + signed} {
			r := request("")
			r.Header["Authorization"] = []string{h}
			for _, v := range []*jwtaudit.Verifier{hmacV, insecure} {
				got, err := v.Actor(r)
				check(t, h, got, err, i == 1 && numericID(payload))
			}
		}
	})
}

// numericID reports whether the id the default claims give for payload
// is a JSON number.
func numericID(payload []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return false
	}
	for _, name := range []string{"user_id", "sub", "pk", "id"} {
		switch x := m[name].(type) {
		case string:
			if x != "" {
				return false
			}
		case json.Number:
			return true
		}
	}
	return false
}

// decimal is a number without an exponent, possibly clipped.
var decimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?(…)?$`)

func check(t *testing.T, auth string, got activitylog.Actor, err error, numeric bool) {
	t.Helper()
	if err != nil {
		if !isZero(got) {
			t.Fatalf("error %v with actor %+v", err, got)
		}
		if !errors.Is(err, jwtaudit.ErrTokenInvalid) {
			t.Fatalf("error %q does not wrap ErrTokenInvalid", err)
		}
		msg := err.Error()
		if tok := strings.TrimSpace(auth[min(len(auth), 7):]); len(tok) > 64 && strings.Contains(msg, tok) {
			t.Fatalf("error %q holds the token", msg)
		}
		if strings.Contains(msg, string(fuzzSecret)) {
			t.Fatalf("error %q holds the secret", msg)
		}
		return
	}
	if isZero(got) {
		return // no token
	}
	if got.ID == "" || got.Type != activitylog.ActorUser {
		t.Fatalf("accepted with actor %+v", got)
	}
	for _, s := range []string{got.ID, got.Name, got.Email} {
		if len(s) > activitylog.MaxShortField || !utf8.ValidString(s) {
			t.Fatalf("field of %d bytes, valid UTF-8 %v: %q", len(s), utf8.ValidString(s), s)
		}
	}
	if numeric && !decimal.MatchString(got.ID) {
		t.Fatalf("numeric id %q is not a plain decimal", got.ID)
	}
}
