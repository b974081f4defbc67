package jwtaudit_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/jwtaudit"
)

func TestNewVerifierRefuses(t *testing.T) {
	t.Parallel()
	k := keys()
	rsaPEM := pemOf(&k.rsa.PublicKey)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(k.rsa))})
	small := must(rsa.GenerateKey(rand.Reader, 1024))
	p224 := must(ecdsa.GenerateKey(elliptic.P224(), rand.Reader))
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name      string
		opts      *jwtaudit.Options
		wantField string
		wantValue string
	}{
		{"nil", nil, "keys", ""},
		{"no key", &jwtaudit.Options{Algorithms: []string{"HS256"}}, "keys", ""},
		{"none", &jwtaudit.Options{HMACSecret: k.secret, Algorithms: []string{"none"}}, "algorithms", "none"},
		{"none among others", &jwtaudit.Options{HMACSecret: k.secret, Algorithms: []string{"HS256", "NONE"}}, "algorithms", "NONE"},
		{"none, insecure", &jwtaudit.Options{Insecure: true, Algorithms: []string{"none"}}, "algorithms", "none"},
		{"unknown algorithm", &jwtaudit.Options{HMACSecret: k.secret, Algorithms: []string{"HS1024"}}, "algorithms", "HS1024"},
		{"lower-case algorithm", &jwtaudit.Options{HMACSecret: k.secret, Algorithms: []string{"hs256"}}, "algorithms", "hs256"},
		{"ES256 with a secret", &jwtaudit.Options{HMACSecret: k.secret, Algorithms: []string{"ES256"}}, "algorithms", "ES256"},
		{"HS256 with an RSA key", &jwtaudit.Options{PublicKeyPEM: rsaPEM, Algorithms: []string{"HS256"}}, "algorithms", "HS256"},
		{"ES384 with a P-256 key", &jwtaudit.Options{PublicKeyPEM: pemOf(&k.p256.PublicKey), Algorithms: []string{"ES384"}}, "algorithms", "ES384"},
		{"RS256 with an RSA-PSS key", &jwtaudit.Options{PublicKeyPEM: pssPEM(&k.rsa.PublicKey), Algorithms: []string{"RS256"}}, "algorithms", "RS256"},
		{"HS256 with a JWKS", &jwtaudit.Options{JWKSURL: "https://login.example/jwks", Algorithms: []string{"HS256"}}, "algorithms", "HS256"},
		{"not PEM", &jwtaudit.Options{PublicKeyPEM: []byte("ssh-rsa AAAAB3NzaC1yc2E")}, "public_key_pem", ""},
		{"private key", &jwtaudit.Options{PublicKeyPEM: privPEM}, "public_key_pem", "PRIVATE KEY"},
		{"bad DER", &jwtaudit.Options{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("junk")})}, "public_key_pem", "PUBLIC KEY"},
		{"bad certificate", &jwtaudit.Options{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})}, "public_key_pem", "CERTIFICATE"},
		{"other block", &jwtaudit.Options{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "OPENSSH KEY", Bytes: []byte("x")})}, "public_key_pem", "OPENSSH KEY"},
		{"1024-bit RSA", &jwtaudit.Options{PublicKeyPEM: pemOf(&small.PublicKey)}, "public_key_pem", "PUBLIC KEY"},
		{"P-224", &jwtaudit.Options{PublicKeyPEM: pemOf(&p224.PublicKey)}, "public_key_pem", "PUBLIC KEY"},
		{"good and bad", &jwtaudit.Options{PublicKeyPEM: append(append([]byte{}, rsaPEM...), privPEM...)}, "public_key_pem", "PRIVATE KEY"},
		{"missing file", &jwtaudit.Options{PublicKeyFile: missing}, "public_key_file", missing},
		{"JWKS over http", &jwtaudit.Options{JWKSURL: "http://login.example/jwks"}, "jwks_url", "http://login.example/jwks"},
		{"JWKS over ftp", &jwtaudit.Options{JWKSURL: "ftp://login.example/jwks?key=s3cret"}, "jwks_url", "ftp://login.example/jwks"},
		{"JWKS relative", &jwtaudit.Options{JWKSURL: "/jwks.json"}, "jwks_url", "/jwks.json"},
		{"JWKS with credentials", &jwtaudit.Options{JWKSURL: "http://user:s3cret@login.example/jwks"}, "jwks_url", "http://login.example/jwks"},
		{"insecure with a key", &jwtaudit.Options{Insecure: true, HMACSecret: k.secret}, "insecure", "true"},
		{"insecure with a JWKS", &jwtaudit.Options{Insecure: true, JWKSURL: "https://login.example/jwks"}, "insecure", "true"},
		{"prefix with a space", &jwtaudit.Options{HMACSecret: k.secret, Prefix: "Bearer "}, "prefix", "Bearer "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := jwtaudit.NewVerifier(tt.opts)
			if err == nil {
				t.Fatalf("got %v, nil error", v)
			}
			if !errors.Is(err, activitylog.ErrInvalid) {
				t.Errorf("error %q does not wrap activitylog.ErrInvalid", err)
			}
			var fe *activitylog.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is not a *activitylog.FieldError", err)
			}
			if fe.Field != tt.wantField || fe.Value != tt.wantValue {
				t.Errorf("got field %q value %q, want %q %q (%v)", fe.Field, fe.Value, tt.wantField, tt.wantValue, err)
			}
			msg := err.Error()
			if strings.Contains(msg, "s3cret") || strings.Contains(msg, string(k.secret)) || strings.Contains(msg, "MII") {
				t.Errorf("error %q holds a secret or key material", msg)
			}
		})
	}
}

// pssPEM returns pub as a PKIX key whose algorithm is id-RSASSA-PSS.
func pssPEM(pub *rsa.PublicKey) []byte {
	pkcs1 := x509.MarshalPKCS1PublicKey(pub)
	der := must(asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{
		pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}},
		asn1.BitString{Bytes: pkcs1, BitLength: 8 * len(pkcs1)},
	}))
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// certPEM returns a self-signed certificate for key.
func certPEM(key *ecdsa.PrivateKey) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "login.example"},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(time.Hour),
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// The PEM forms a public key comes in.
func TestPEMForms(t *testing.T) {
	t.Parallel()
	k := keys()
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	both := []byte("rotation: old key first\n" + string(pemOf(&k.rsa2.PublicKey)) + "then the new one\n" + string(pemOf(&k.p256.PublicKey)) + string(pkcs1))
	rs256 := sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), nil)
	rs256old := sign(t, jwt.SigningMethodRS256, k.rsa2, claims(nil), nil)
	ps256 := sign(t, jwt.SigningMethodPS256, k.rsa, claims(nil), nil)
	es256 := sign(t, jwt.SigningMethodES256, k.p256, claims(nil), nil)
	tests := []struct {
		name   string
		pem    []byte
		token  string
		wantOK bool
	}{
		{"PKIX", pemOf(&k.rsa.PublicKey), rs256, true},
		{"PKCS1", pkcs1, rs256, true},
		{"certificate", certPEM(k.p256), es256, true},
		{"RSA-PSS, PS256", pssPEM(&k.rsa.PublicKey), ps256, true},
		{"RSA-PSS, RS256", pssPEM(&k.rsa.PublicKey), rs256, false},
		{"several blocks, first", both, rs256old, true},
		{"several blocks, second", both, es256, true},
		{"several blocks, third", both, rs256, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, jwtaudit.Options{PublicKeyPEM: tt.pem})
			got, err := v.Actor(request("Bearer " + tt.token))
			if tt.wantOK && (err != nil || got.ID != "u-1") {
				t.Errorf("got %+v, %v; want u-1", got, err)
			}
			if !tt.wantOK && !errors.Is(err, jwtaudit.ErrTokenInvalid) {
				t.Errorf("got %+v, %v; want ErrTokenInvalid", got, err)
			}
		})
	}
}

func TestPublicKeyFile(t *testing.T) {
	t.Parallel()
	k := keys()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pemOf(&k.p384.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file's keys add to PublicKeyPEM's.
	v := newVerifier(t, jwtaudit.Options{PublicKeyFile: path, PublicKeyPEM: pemOf(&k.rsa.PublicKey)})
	for _, tok := range []string{
		sign(t, jwt.SigningMethodES384, k.p384, claims(nil), nil),
		sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil), nil),
	} {
		if got, err := v.Actor(request("Bearer " + tok)); err != nil || got.ID != "u-1" {
			t.Errorf("got %+v, %v; want u-1", got, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	_, err := jwtaudit.NewVerifier(&jwtaudit.Options{PublicKeyFile: bad})
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Field != "public_key_file" || fe.Value != bad {
		t.Errorf("bad file: got %v, want a FieldError for public_key_file %s", err, bad)
	}
}

// A Verifier with several kinds of key picks the key by the token's
// algorithm.
func TestMixedKeys(t *testing.T) {
	t.Parallel()
	k := keys()
	v := newVerifier(t, jwtaudit.Options{
		HMACSecret:   k.secret,
		PublicKeyPEM: append(pemOf(&k.rsa.PublicKey), pemOf(&k.p256.PublicKey)...),
	})
	for _, tok := range []string{
		sign(t, jwt.SigningMethodHS256, k.secret, claims(nil), nil),
		sign(t, jwt.SigningMethodRS512, k.rsa, claims(nil), nil),
		sign(t, jwt.SigningMethodES256, k.p256, claims(nil), map[string]any{"kid": "any"}),
	} {
		if got, err := v.Actor(request("Bearer " + tok)); err != nil || got.ID != "u-1" {
			t.Errorf("got %+v, %v; want u-1", got, err)
		}
	}
	// Restricted to some algorithms.
	v = newVerifier(t, jwtaudit.Options{
		HMACSecret:   k.secret,
		PublicKeyPEM: pemOf(&k.rsa.PublicKey),
		Algorithms:   []string{"RS256"},
	})
	if _, err := v.Actor(request("Bearer " + sign(t, jwt.SigningMethodHS256, k.secret, claims(nil), nil))); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("HS256 outside the allow-list: error %v", err)
	}
}
