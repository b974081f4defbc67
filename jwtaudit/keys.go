package jwtaudit

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// algSet is a set of signing algorithms, one bit each, in the order of
// algNames.
type algSet uint16

// algNames are the algorithms a Verifier can accept. "none" is not one.
var algNames = [...]string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

const numAlgs = len(algNames)

// Families of algorithms, by the key that verifies them.
const (
	hmacAlgs       algSet = 0b111
	rsaPKCS1Algs   algSet = 0b111 << 3
	pssAlgs        algSet = 0b111 << 6
	rsaAlgs               = rsaPKCS1Algs | pssAlgs
	es256          algSet = 1 << 9
	es384          algSet = 1 << 10
	es512          algSet = 1 << 11
	eddsa          algSet = 1 << 12
	asymmetricAlgs        = rsaAlgs | es256 | es384 | es512 | eddsa
	allAlgs               = hmacAlgs | asymmetricAlgs
)

// algBit returns the set holding only the algorithm named, or 0 when
// it is not one of algNames.
func algBit(name string) algSet {
	for i, n := range algNames {
		if n == name {
			return 1 << i
		}
	}
	return 0
}

// index returns the position in algNames of a set of one algorithm.
func (s algSet) index() int { return bits.TrailingZeros16(uint16(s)) }

// names returns the names of the algorithms in s.
func (s algSet) names() []string {
	var out []string
	for i, n := range algNames {
		if s&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func (s algSet) String() string { return strings.Join(s.names(), ", ") }

// key is a verification key and the algorithms it may verify.
type key struct {
	kid  string // from a JWKS; empty for the others
	algs algSet
	pub  any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// minRSABits is the smallest RSA key accepted (NIST SP 800-131A).
const minRSABits = 2048

// pemError says why a PEM key was refused: value for the FieldError
// (a block type, never key material) and the reason.
type pemError struct{ value, reason string }

// parsePEM returns the public keys in the PEM blocks of data. Text
// around the blocks is ignored.
func parsePEM(data []byte) ([]key, *pemError) {
	var keys []key
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var (
			pub any
			pss bool
			err error
		)
		switch b.Type {
		case "PUBLIC KEY":
			pub, pss, err = parsePKIX(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = c.PublicKey
			}
		default:
			if strings.Contains(b.Type, "PRIVATE KEY") {
				return nil, &pemError{b.Type, "is a private key; give the public key, which is all a verifier needs"}
			}
			return nil, &pemError{b.Type, `is not a "PUBLIC KEY", "RSA PUBLIC KEY" or "CERTIFICATE" PEM block`}
		}
		if err != nil {
			return nil, &pemError{b.Type, "does not parse: " + err.Error()}
		}
		algs, reason := keyAlgs(pub)
		if reason != "" {
			return nil, &pemError{b.Type, reason}
		}
		if pss {
			algs = pssAlgs
		}
		keys = append(keys, key{algs: algs, pub: pub})
	}
	if len(keys) == 0 {
		return nil, &pemError{"", "holds no PEM block"}
	}
	return keys, nil
}

// oidRSAPSS is id-RSASSA-PSS (RFC 4055), the algorithm of an RSA key
// meant for PSS signatures only. crypto/x509 does not parse such keys.
var oidRSAPSS = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}

// parsePKIX parses a SubjectPublicKeyInfo, and reports whether it is an
// RSA-PSS key. The PSS parameters, when present, are not enforced
// beyond limiting the key to PS256, PS384 and PS512.
func parsePKIX(der []byte) (pub any, pss bool, err error) {
	pub, err = x509.ParsePKIXPublicKey(der)
	if err == nil {
		return pub, false, nil
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, aerr := asn1.Unmarshal(der, &spki); aerr != nil || len(rest) != 0 || !spki.Algorithm.Algorithm.Equal(oidRSAPSS) {
		return nil, false, err
	}
	k, perr := x509.ParsePKCS1PublicKey(spki.PublicKey.RightAlign())
	if perr != nil {
		return nil, false, perr
	}
	return k, true, nil
}

// keyAlgs returns the algorithms pub can verify, or why it is refused.
func keyAlgs(pub any) (algSet, string) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits {
			return 0, "is a " + strconv.Itoa(n) + "-bit RSA key; at least " + strconv.Itoa(minRSABits) + " bits are required"
		}
		return rsaAlgs, ""
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return es256, ""
		case elliptic.P384():
			return es384, ""
		case elliptic.P521():
			return es512, ""
		}
		return 0, "is an ECDSA key on curve " + k.Curve.Params().Name + "; only P-256, P-384 and P-521 are supported"
	case ed25519.PublicKey:
		return eddsa, ""
	}
	return 0, fmt.Sprintf("is a %T key; only RSA, ECDSA and Ed25519 keys are supported", pub)
}
