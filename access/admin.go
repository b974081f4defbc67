package access

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// Bounds of what users and keys are made with.
const (
	maxUsernameLen = 64
	maxNameLen     = 100
	maxTenantLen   = 256
	maxIDLen       = 128
)

// CLI is the principal that the command line acts as: in the auth and
// crud events it records, and in APIKey.CreatedBy.
var CLI = &activitylog.Principal{ID: "cli", Name: "activitylog command line", Permissions: []activitylog.Permission{activitylog.Superuser}, Method: "cli"}

// NewUser is what CreateUser makes a user of.
type NewUser struct {
	// ID is the user's id, the Principal.ID of its sessions: the actor
	// id its own events carry, which matters to a user with view_logs
	// alone. Letters, digits and ._:@+-, at most 128 bytes. Default: u_
	// and 16 random hex digits.
	ID       string
	Username string // letters, digits and ._@+-, at most 64 bytes; unique in any ASCII case
	Password string // MinPasswordLen characters or more; see CheckPassword
	Tenant   string // default "": sees the events without a tenant
	// Permissions of the user. Superuser is refused unless
	// AllowSuperuser.
	Permissions    []activitylog.Permission
	AllowSuperuser bool
	// By is who makes the user, for the event recorded. Default: CLI.
	By *activitylog.Principal
}

// CreateUser checks nu, hashes its password with Options.Argon2, and
// stores the user. A refused field is an *activitylog.FieldError naming
// it (never holding the password).
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	if err := checkUsername(nu.Username); err != nil {
		return User{}, err
	}
	if nu.ID == "" {
		nu.ID = "u_" + randomHex(8)
	} else if err := checkID(nu.ID); err != nil {
		return User{}, err
	}
	if err := checkTenant(nu.Tenant); err != nil {
		return User{}, err
	}
	perms, err := checkPermissions("permissions", nu.Permissions, nu.AllowSuperuser,
		"is granted only with --superuser (activitylog users create --superuser)", true)
	if err != nil {
		return User{}, err
	}
	hash, err := HashPassword(nu.Password, &s.argon)
	if err != nil {
		return User{}, err
	}
	u := User{ID: nu.ID, Username: nu.Username, Tenant: nu.Tenant, Permissions: perms, PasswordHash: hash, CreatedAt: s.now().UTC()}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return User{}, err
	}
	s.recordChange(ctx, nu.By, u.Tenant, "create", "user", u.ID, u.Username, map[string]any{
		"username": u.Username, "tenant": u.Tenant, "permissions": joinPermissions(u.Permissions)})
	return u, nil
}

// SetUserDisabled disables (or enables again) the user with that
// username. Disabling ends its sessions at once.
func (s *Service) SetUserDisabled(ctx context.Context, username string, disabled bool, by *activitylog.Principal) error {
	if err := s.store.SetUserDisabled(ctx, username, disabled); err != nil {
		return err
	}
	u, err := s.store.UserByName(ctx, username)
	if err != nil {
		return err
	}
	s.recordChange(ctx, by, u.Tenant, "update", "user", u.ID, u.Username, map[string]any{"disabled": disabled})
	return nil
}

// SetUserPermissions replaces the permissions of the user with that
// username, who carries them from its next request. Superuser is never
// granted here, nor taken from a superuser: the command line manages
// superusers. A refused permission is an *activitylog.FieldError.
func (s *Service) SetUserPermissions(ctx context.Context, username string, perms []activitylog.Permission, by *activitylog.Principal) (User, error) {
	u, err := s.store.UserByName(ctx, username)
	if err != nil {
		return User{}, err
	}
	if slices.Contains(u.Permissions, activitylog.Superuser) {
		return User{}, activitylog.Invalid("permissions", joinPermissions(perms), "cannot be set on superuser "+u.Username+": superusers are managed on the command line (activitylog users)")
	}
	perms, err = checkPermissions("permissions", perms, false, "is granted only with --superuser (activitylog users create --superuser)", true)
	if err != nil {
		return User{}, err
	}
	if err := s.store.SetUserPermissions(ctx, u.Username, perms); err != nil {
		return User{}, err
	}
	old := joinPermissions(u.Permissions)
	u.Permissions = perms
	s.recordChange(ctx, by, u.Tenant, "update", "user", u.ID, u.Username, map[string]any{
		"permissions": joinPermissions(perms), "previous_permissions": old})
	return u, nil
}

// NewAPIKey is what CreateAPIKey makes a key of.
type NewAPIKey struct {
	Name   string // what the key is for; required, at most 100 bytes
	Tenant string // the tenant it reads and writes; default ""
	// Scopes are the permissions the key carries; at least one.
	// Superuser is refused unless AllowSuperuser, which only the
	// command line sets (activitylog api-keys create --superuser).
	Scopes         []activitylog.Permission
	AllowSuperuser bool
	ExpiresAt      time.Time // default: never; must be in the future
	// By is who makes the key, for APIKey.CreatedBy and the event
	// recorded. Default: CLI.
	By *activitylog.Principal
}

// CreateAPIKey checks nk, makes a key and stores it. It returns the key
// itself, alk_<id>_<secret>, which is never available again: only the
// SHA-256 of its secret is stored. A refused field is an
// *activitylog.FieldError naming it.
func (s *Service) CreateAPIKey(ctx context.Context, nk NewAPIKey) (string, APIKey, error) {
	if err := checkName(nk.Name); err != nil {
		return "", APIKey{}, err
	}
	if err := checkTenant(nk.Tenant); err != nil {
		return "", APIKey{}, err
	}
	scopes, err := checkPermissions("scopes", nk.Scopes, nk.AllowSuperuser,
		"may be granted to a key only by the command line: activitylog api-keys create --superuser", false)
	if err != nil {
		return "", APIKey{}, err
	}
	now := s.now().UTC()
	if !nk.ExpiresAt.IsZero() && !nk.ExpiresAt.After(now) {
		return "", APIKey{}, activitylog.Invalid("expires_at", nk.ExpiresAt.UTC().Format(time.RFC3339), "is not in the future")
	}
	key, id, hash, err := newAPIKey()
	if err != nil {
		return "", APIKey{}, err
	}
	by := cmpPrincipal(nk.By)
	k := APIKey{ID: id, Name: nk.Name, Tenant: nk.Tenant, Scopes: scopes, Hash: hash, CreatedAt: now, CreatedBy: by.ID}
	if !nk.ExpiresAt.IsZero() {
		k.ExpiresAt = nk.ExpiresAt.UTC()
	}
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return "", APIKey{}, err
	}
	s.recordKey(ctx, by, k)
	return key, k, nil
}

func (s *Service) recordKey(ctx context.Context, by *activitylog.Principal, k APIKey) {
	extra := map[string]any{"name": k.Name, "tenant": k.Tenant, "scopes": joinPermissions(k.Scopes)}
	if !k.ExpiresAt.IsZero() {
		extra["expires_at"] = k.ExpiresAt.Format(time.RFC3339)
	}
	s.recordChange(ctx, by, k.Tenant, "create", "api_key", KeyPrefix+k.ID, k.Name, extra)
}

// Bootstrap is the first-run way in: when the store holds no user and
// no API key at all, it makes a superuser key named "bootstrap", stores
// it, and returns it, once; afterwards it returns "". The check and the
// insert are atomic, so two servers starting on one new store make one
// key between them.
func (s *Service) Bootstrap(ctx context.Context) (string, error) {
	key, id, hash, err := newAPIKey()
	if err != nil {
		return "", err
	}
	k := APIKey{ID: id, Name: "bootstrap", Scopes: []activitylog.Permission{activitylog.Superuser}, Hash: hash,
		CreatedAt: s.now().UTC(), CreatedBy: "bootstrap"}
	made, err := s.store.CreateFirstAPIKey(ctx, k)
	if err != nil || !made {
		return "", err
	}
	s.recordKey(ctx, &activitylog.Principal{ID: "bootstrap", Name: "first start"}, k)
	return key, nil
}

// BootstrapUsername is the user BootstrapUser makes.
const BootstrapUsername = "admin"

// BootstrapUser is the first-run way into the web console: when the
// store holds no user at all, it makes the superuser BootstrapUsername
// with a random password (crypto/rand.Text: 26 characters, 128 bits),
// stores only its hash, and returns the password, once; otherwise it
// returns "". Call it only when Bootstrap made a key, so that of two
// servers starting on one new store only one makes the user.
func (s *Service) BootstrapUser(ctx context.Context) (username, password string, err error) {
	us, err := s.store.ListUsers(ctx)
	if err != nil || len(us) > 0 {
		return "", "", err
	}
	password = rand.Text() // 26 base32 characters, 128 bits
	if _, err := s.CreateUser(ctx, NewUser{Username: BootstrapUsername, Password: password,
		Permissions: []activitylog.Permission{activitylog.Superuser}, AllowSuperuser: true,
		By: &activitylog.Principal{ID: "bootstrap", Name: "first start"}}); err != nil {
		return "", "", err
	}
	return BootstrapUsername, password, nil
}

// RevokeAPIKey revokes the key with id (its 16 hex digits, alk_<id>, or
// the whole key). Revoking a revoked key is not an error. An unknown id
// wraps activitylog.ErrNotFound.
func (s *Service) RevokeAPIKey(ctx context.Context, id string, by *activitylog.Principal) error {
	kid := KeyID(id)
	if kid == "" {
		return activitylog.Invalid("id", clip(id, len(KeyPrefix)+keyIDLen), "is not an API key id: "+KeyPrefix+" and 16 hex digits")
	}
	k, err := s.store.APIKey(ctx, kid)
	if err != nil {
		return err
	}
	if !k.RevokedAt.IsZero() {
		return nil
	}
	if err := s.store.RevokeAPIKey(ctx, kid, s.now().UTC()); err != nil {
		return err
	}
	s.recordChange(ctx, by, k.Tenant, "delete", "api_key", KeyPrefix+kid, k.Name, map[string]any{"name": k.Name})
	return nil
}

func cmpPrincipal(p *activitylog.Principal) *activitylog.Principal {
	if p == nil {
		return CLI
	}
	return p
}

// record records e through the Recorder, if any, with a context of its
// own: a client that goes away must not take its audit event with it.
func (s *Service) record(ctx context.Context, e activitylog.Event) {
	if s.rec == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.rec.Record(rctx, e); err != nil {
		s.log.WarnContext(ctx, "activitylog access: record event", "kind", e.Kind, "action", e.Action, "err", err)
	}
}

// recordChange records a crud event about a user or key, by p, in the
// tenant of the user or key, so that a tenant's admins read the changes
// to their tenant's access and no other tenant's (a superuser's or an
// untenanted key's changes stay without a tenant).
func (s *Service) recordChange(ctx context.Context, by *activitylog.Principal, tenant, action, objType, objID, repr string, extra map[string]any) {
	by = cmpPrincipal(by)
	actor := activitylog.Actor{ID: by.ID, Name: by.Name, Type: activitylog.ActorUser}
	switch by.Method {
	case MethodAPIKey:
		actor.Type = activitylog.ActorService
	case "cli", "":
		actor.Type = activitylog.ActorSystem
	}
	s.record(ctx, activitylog.Event{
		Kind:    activitylog.KindCRUD,
		Action:  action,
		Tenant:  tenant,
		Actor:   actor,
		Object:  activitylog.Object{Type: objType, ID: objID, Repr: repr},
		Extra:   extra,
		Message: fmt.Sprintf("%s %s %s", action, strings.ReplaceAll(objType, "_", " "), repr),
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func joinPermissions(ps []activitylog.Permission) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

// ParsePermissions reads a comma-separated list of permission names,
// as the command line's --permissions and --scopes take them. An
// unknown name is an *activitylog.FieldError for field.
func ParsePermissions(field, list string) ([]activitylog.Permission, error) {
	var out []activitylog.Permission
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		p, err := activitylog.ParsePermission(field, name)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// checkPermissions validates and deduplicates ps.
func checkPermissions(field string, ps []activitylog.Permission, allowSuper bool, superReason string, emptyOK bool) ([]activitylog.Permission, error) {
	if len(ps) == 0 && !emptyOK {
		return nil, activitylog.Invalid(field, "", "needs at least one permission; known are "+permissionList())
	}
	out := make([]activitylog.Permission, 0, len(ps))
	for _, p := range ps {
		if !p.Valid() {
			return nil, activitylog.Invalid(field, clip(string(p), 64), "is not a permission; known are "+permissionList())
		}
		if p == activitylog.Superuser && !allowSuper {
			return nil, activitylog.Invalid(field, string(p), superReason)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func checkUsername(u string) error {
	if u == "" || len(u) > maxUsernameLen {
		return activitylog.Invalid("username", clip(u, maxUsernameLen), fmt.Sprintf("must be 1 to %d bytes long", maxUsernameLen))
	}
	for _, c := range u {
		if !(c < utf8.RuneSelf && (unicode.IsLetter(c) || unicode.IsDigit(c)) || strings.ContainsRune("._@+-", c)) {
			return activitylog.Invalid("username", u, "may hold only letters a-z and A-Z, digits and . _ @ + -")
		}
	}
	return nil
}

func checkID(id string) error {
	if len(id) > maxIDLen {
		return activitylog.Invalid("id", clip(id, maxIDLen), fmt.Sprintf("must be at most %d bytes long", maxIDLen))
	}
	for _, c := range id {
		if !(c < utf8.RuneSelf && (unicode.IsLetter(c) || unicode.IsDigit(c)) || strings.ContainsRune("._:@+-", c)) {
			return activitylog.Invalid("id", id, "may hold only letters a-z and A-Z, digits and . _ : @ + -")
		}
	}
	return nil
}

func checkTenant(t string) error {
	if len(t) > maxTenantLen {
		return activitylog.Invalid("tenant", clip(t, maxTenantLen), fmt.Sprintf("must be at most %d bytes long", maxTenantLen))
	}
	if !utf8.ValidString(t) || strings.ContainsFunc(t, unicode.IsControl) {
		return activitylog.Invalid("tenant", strings.ToValidUTF8(t, "\uFFFD"), "must be UTF-8 without control characters")
	}
	return nil
}

func checkName(n string) error {
	if strings.TrimSpace(n) == "" || len(n) > maxNameLen {
		return activitylog.Invalid("name", clip(n, maxNameLen), fmt.Sprintf("must be 1 to %d bytes long, not only spaces", maxNameLen))
	}
	if !utf8.ValidString(n) || strings.ContainsFunc(n, unicode.IsControl) {
		return activitylog.Invalid("name", strings.ToValidUTF8(n, "\uFFFD"), "must be UTF-8 without control characters")
	}
	return nil
}
