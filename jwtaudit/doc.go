// Package jwtaudit names the actor of an HTTP request from the JSON Web
// Token it carries, for httpaudit.Options.Actor. It uses
// github.com/golang-jwt/jwt/v5 for parsing and signatures.
//
//	v, err := jwtaudit.NewVerifier(&jwtaudit.Options{
//		JWKSURL:  "https://login.example.com/.well-known/jwks.json",
//		Issuer:   "https://login.example.com/",
//		Audience: "shop-api",
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	audit := httpaudit.Middleware(rec, &httpaudit.Options{Actor: v.Actor})
//	http.ListenAndServe(":8080", audit(mux))
//
// [Verifier.Actor] reads "Authorization: Bearer <token>", checks the
// token, and returns an activitylog.Actor of type user: its ID from the
// first of the claims user_id, sub, pk and id that holds a string or a
// number, its Name from name or preferred_username, its Email from
// email. [Options].Claims, NameClaims and EmailClaims change the
// claims read, and [Options].ActorFunc replaces them with code of its
// own. A request without the header, or with another scheme, has no
// actor and no error.
//
// # Keys
//
// A Verifier needs at least one key, and may have several:
//
//   - HMACSecret, a shared secret, for HS256, HS384 and HS512.
//   - PublicKeyPEM or PublicKeyFile, PEM blocks each holding an RSA
//     (2048 bits or more), ECDSA (P-256, P-384, P-521) or Ed25519 public
//     key, as PKIX (RSA-PSS keys included), PKCS #1 or a certificate.
//   - JWKSURL, a JSON Web Key Set served over https (or http on a
//     loopback address). Its RSA, EC and Ed25519 signing keys are
//     fetched when the first token needs them, and again in the
//     background every JWKSRefresh (15 minutes). A token whose kid the
//     set lacks makes the Verifier fetch the set at once, at most once
//     every 10 seconds, while the request waits (at most 10 seconds, or
//     until its context is done). A fetch that fails keeps the keys
//     already fetched; with none, tokens are refused with an error that
//     wraps activitylog.ErrUnavailable too.
//     The set is fetched with net/http and Options.HTTPClient.
//
// A key only verifies the algorithms of its family, and the token's
// algorithm picks the family: an HS256 token is checked against
// HMACSecret alone, never against the bytes of a public key, which
// defeats the algorithm-confusion attack. A token with a kid is checked
// against the JWKS keys with that kid and the static keys; one without,
// against every key of its algorithm.
//
// # Algorithms
//
// The token's alg must be in [Options].Algorithms, by default every
// algorithm the keys can verify: HS256/384/512 for a secret;
// RS256/384/512 and PS256/384/512 for an RSA key (PS only for an
// RSA-PSS one); ES256, ES384 or ES512 for an ECDSA key, by its curve;
// EdDSA for an Ed25519 key; all the asymmetric ones for a JWKS. NewVerifier
// refuses an algorithm that no key can verify.
//
// "none", the unsigned token, is never accepted: not by default, not
// when listed (NewVerifier refuses it), not with Insecure.
//
// # Verification off
//
// [Options].Insecure skips the signature check. It exists for services
// behind a gateway, mesh or middleware that has already verified every
// token, and it is wrong anywhere else: whoever can reach the service
// directly can then put any name in the audit trail. The token is still
// parsed and alg "none" is still refused; exp, nbf, Issuer and
// Audience are still checked. It cannot be combined with a key.
//
// # Caching
//
// Verifying a token means decoding two JSON documents and checking a
// signature: microseconds for HS256, tens of them for RSA and ECDSA.
// A Verifier keeps the actors of up to [Options].CacheSize (1024)
// verified tokens, keyed by the whole token, so a token seen again
// costs a map lookup and no allocation. A cached token is refused once
// its exp (plus Leeway) has passed, and is verified again after 10
// minutes in the cache. Tokens longer than 8 KiB are not cached. The
// cache is split into shards, each under its own lock, and a full shard
// drops an entry at random. Only tokens that passed every check are
// cached. As with any cache of verified tokens, a key removed from the
// JWKS stops verifying tokens already cached only when they leave the
// cache.
//
// # Errors
//
// NewVerifier refuses a bad configuration with an
// *activitylog.FieldError (wrapping activitylog.ErrInvalid) that names
// the field and the value refused: ("algorithms", "none"), ("keys",
// "") when there is none, ("public_key_pem", "PRIVATE KEY"), and so on.
//
// [Verifier.Actor] returns errors that wrap [ErrTokenInvalid], and
// where one applies, the jwt package's own (jwt.ErrTokenExpired,
// jwt.ErrTokenSignatureInvalid, jwt.ErrTokenMalformed, …). Their text
// never holds the token, a secret, or the JWKS address, so they can be
// logged. The httpaudit middleware records a request whose token is
// refused with an anonymous actor. Actor does not panic, whatever the
// request carries.
package jwtaudit
