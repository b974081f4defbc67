// Package access is the access control of the activitylog API: who may
// call it, and how they prove it. A Service authenticates each request
// (Authenticate, for server.Options.Authenticate) and serves the
// sign-in and API key routes (Routes, for server.Options.Routes):
//
//	store, _ := sqlite.Open("audit.db", nil)
//	svc, err := access.New(store.Credentials(), &access.Options{Recorder: rec})
//	if err != nil {
//		log.Fatal(err)
//	}
//	api := server.New(store, rec, &server.Options{
//		Authenticate: svc.Authenticate,
//		Routes:       svc.Routes(),
//	})
//
// # Three ways in
//
//   - An API key, "Authorization: Bearer alk_<id>_<secret>", for
//     programs. Made by `activitylog api-keys create` or POST
//     /api/v1/api-keys, shown once, stored as the SHA-256 of its 32-byte
//     secret; it carries scopes (permissions), a tenant, an optional
//     expiry, and can be revoked. The id makes the lookup one row.
//   - A JWT, "Authorization: Bearer <jwt>", when Options.JWT is set:
//     verified by package jwtaudit, as the capture middleware verifies
//     it; sub, the tenant claim and the permissions claim make the
//     principal (see JWTOptions).
//   - A session, for a browser: POST /api/v1/auth/login with a username
//     and password sets an HttpOnly cookie holding 32 random bytes
//     (stored as their SHA-256), which lasts Options.SessionTTL at most
//     and ends after Options.SessionIdle unused.
//
// They are tried in that order; a request with none of them is not
// authenticated (401), and one whose bearer token is refused is not
// tried against its cookie.
//
// # Passwords
//
// Users' passwords are hashed with argon2id (RFC 9106), parameters and
// salt in a PHC string; see DefaultArgon2 for the cost. A sign-in with
// an unknown username is checked against a hash all the same, and
// answered exactly as a wrong password, so that neither the answer nor
// its time tells which usernames exist. Failed sign-ins are limited per
// username and per client address (Options.MaxLoginFailures,
// MaxLoginFailuresPerIP, LoginWindow); past the limit the answer is 429
// with Retry-After. Every sign-in, failed, blocked or not, is recorded
// as an auth event through Options.Recorder; the password never is.
//
// # CSRF
//
// A cookie rides along on requests that other sites make. The server
// refuses cross-origin unsafe requests authenticated by a session
// (http.CrossOriginProtection), and Authenticate wants the session's
// CSRF token on every request other than GET, HEAD and OPTIONS, in the
// X-CSRF-Token header or a csrf_token form field: without it the answer
// is 403. The token is an HMAC of the session token, returned by
// sign-in and by GET /api/v1/auth/session. Sign-in and sign-out run the
// cross-origin check themselves.
//
// # Storage
//
// Store (package credential) keeps users, keys and sessions;
// sqlite.Store.Credentials implements it. Nothing stored is a usable
// secret.
//
// # Errors
//
// Refused credentials are errors that say what was wrong (malformed,
// unknown, revoked, expired, badly signed, an unknown permission in a
// JWT) and never hold the secret; the server answers them 401. A
// missing or wrong CSRF token wraps activitylog.ErrForbidden: 403.
// Configuration and input refused are *activitylog.FieldError values
// naming the field.
package access
