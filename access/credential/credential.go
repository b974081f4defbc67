// Package credential holds the records that package access keeps about
// who may use the audit API: users, API keys and sessions; and the
// storage interface they go through.
//
// It depends on the root package alone, so that a store (package
// sqlite) can implement Store without pulling in the HTTP layer, and
// package access can name the same types (access.User is
// credential.User).
//
// # Secrets
//
// No record holds a secret in a form that can be used: a user holds
// the argon2id hash of its password (a PHC string), a key and a session
// the SHA-256 of their random secret. Whoever reads the tables cannot
// sign in with what they find there.
//
// # Contract
//
// Every method may be called from several goroutines at once. A record
// that does not exist is an error wrapping activitylog.ErrNotFound; a
// record refused (a username or key id taken) an
// *activitylog.FieldError naming the field; a store that cannot be
// reached activitylog.ErrUnavailable. Times are stored to the
// nanosecond and returned in UTC; a zero time means "never" (not
// expired, not revoked, not used).
package credential

import (
	"context"
	"time"

	"github.com/activitylog/activitylog"
)

// A User signs in with a username and a password, for a session.
type User struct {
	ID       string // random unless given: "u_" and 16 hex digits
	Username string // unique, compared without regard to ASCII case
	Tenant   string // the tenant whose events the user may see; "" for events without one
	// Permissions are what the user may do; see activitylog.Permission.
	Permissions []activitylog.Permission
	// PasswordHash is the argon2id hash of the password as a PHC
	// string: $argon2id$v=19$m=…,t=…,p=…$salt$hash.
	PasswordHash string
	CreatedAt    time.Time
	Disabled     bool // a disabled user cannot sign in, and its sessions end
}

// An APIKey is a long-lived bearer credential for a program: the key
// alk_<ID>_<secret> is shown once, when it is made, and only Hash is
// kept.
type APIKey struct {
	ID     string // the key's public part, 16 hex digits; unique
	Name   string // what it is for, e.g. "billing ingest"
	Tenant string
	// Scopes are the permissions the key carries.
	Scopes    []activitylog.Permission
	Hash      []byte // SHA-256 of the secret part
	CreatedAt time.Time
	CreatedBy string    // the principal that made it; "cli" or "bootstrap" when the command did
	ExpiresAt time.Time // zero: never
	RevokedAt time.Time // zero: not revoked
	// LastUsedAt is when the key last authenticated a request, to the
	// minute (it is not written more often). Zero: never.
	LastUsedAt time.Time
}

// A Session is a signed-in browser: the token in its cookie is
// random, and only Hash is kept.
type Session struct {
	Hash       []byte // SHA-256 of the token; unique
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time // the last request it authenticated, to the minute
	ExpiresAt  time.Time // the absolute end, however active it is
}

// UserStore keeps users.
type UserStore interface {
	// CreateUser stores u. A username or id taken already is an
	// *activitylog.FieldError for "username" or "id".
	CreateUser(ctx context.Context, u User) error
	// UserByName returns the user with that username, in any ASCII
	// case.
	UserByName(ctx context.Context, username string) (User, error)
	// UserByID returns the user with that id.
	UserByID(ctx context.Context, id string) (User, error)
	// ListUsers returns every user, oldest first.
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserDisabled disables or enables the user with that username.
	// Disabling it also deletes its sessions.
	SetUserDisabled(ctx context.Context, username string, disabled bool) error
	// SetUserPermissions replaces the permissions of the user with that
	// username; the user's sessions carry them from their next request.
	SetUserPermissions(ctx context.Context, username string, perms []activitylog.Permission) error
}

// KeyStore keeps API keys.
type KeyStore interface {
	// CreateAPIKey stores k. An id taken already is an
	// *activitylog.FieldError for "id".
	CreateAPIKey(ctx context.Context, k APIKey) error
	// CreateFirstAPIKey stores k only when the store holds no user and
	// no API key at all (revoked and disabled ones count), atomically,
	// and reports whether it did: the first key of a new installation.
	CreateFirstAPIKey(ctx context.Context, k APIKey) (bool, error)
	// APIKey returns the key with that id, revoked and expired ones
	// included.
	APIKey(ctx context.Context, id string) (APIKey, error)
	// ListAPIKeys returns every key, oldest first.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey marks the key revoked at at. Revoking a revoked key
	// keeps the first time and is not an error.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// TouchAPIKey sets the key's LastUsedAt.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// SessionStore keeps sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session whose token hashes to hash.
	Session(ctx context.Context, hash []byte) (Session, error)
	// TouchSession sets the session's LastSeenAt. A session that is
	// gone is not an error.
	TouchSession(ctx context.Context, hash []byte, at time.Time) error
	// DeleteSession deletes the session; one that is gone already is
	// not an error.
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteSessions deletes the sessions that ended: those whose
	// ExpiresAt is not after now, and those not seen since seenBefore.
	// It returns how many it deleted.
	DeleteSessions(ctx context.Context, now, seenBefore time.Time) (int64, error)
}

// Store is everything package access keeps. sqlite.Store's Credentials
// method returns one.
type Store interface {
	UserStore
	KeyStore
	SessionStore
}
