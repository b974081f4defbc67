package access

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/jwtaudit"
)

// JWTOptions lets the API accept bearer JWTs, verified as the capture
// middleware verifies them (package jwtaudit), and maps their claims to
// a principal:
//
//	sub                       → Principal.ID (required)
//	name, preferred_username  → Principal.Name
//	TenantClaim               → Principal.Tenant (a string)
//	PermissionsClaim          → Principal.Permissions
//
// The id, name and tenant end up in events and resolutions, so a token
// whose claim for one of them is longer than activitylog.MaxShortField
// bytes, is not UTF-8 or holds a control character is refused, naming
// the claim; so is a permissions claim (or one of its names) longer
// than that.
//
// The permissions claim is an array of permission names, or one string
// of names separated by spaces (as OAuth's scope). A name that is not
// one of activitylog.Permissions refuses the token, naming it; so does
// superuser unless AllowSuperuser. A token without the claim is a
// principal with no permission: it may call GET /api/v1/me and nothing
// else.
type JWTOptions struct {
	// Verifier holds the keys (HMACSecret, PublicKeyPEM,
	// PublicKeyFile, JWKSURL), the allowed Algorithms, Issuer,
	// Audience, Leeway and cache, exactly as for the capture
	// middleware; see jwtaudit.Options. Header and Prefix must be left
	// empty (the token is read from "Authorization: Bearer"), and
	// ActorFunc, Claims, NameClaims and EmailClaims are replaced by the
	// mapping above. Its Now defaults to Options.Now.
	Verifier jwtaudit.Options
	// TenantClaim names the claim holding the tenant. Default:
	// "tenant".
	TenantClaim string
	// PermissionsClaim names the claim holding the permissions.
	// Default: "permissions".
	PermissionsClaim string
	// AllowSuperuser lets a token carry the superuser permission.
	// Default: false, such a token is refused: a superuser crosses
	// tenants, and an identity provider's groups are rarely kept as
	// carefully as the CLI's --superuser.
	AllowSuperuser bool
}

// Extra keys of the jwtaudit actor that carry what the principal needs.
const (
	extraTenant      = "activitylog_tenant"
	extraPermissions = "activitylog_permissions"
)

// newJWT returns the verifier of o.
func newJWT(o *JWTOptions, now func() time.Time) (*jwtaudit.Verifier, error) {
	vo := o.Verifier
	if vo.Header != "" && !strings.EqualFold(vo.Header, "Authorization") || vo.Prefix != "" && !strings.EqualFold(vo.Prefix, "Bearer") {
		return nil, activitylog.Invalid("jwt.header", vo.Header+" "+vo.Prefix, "must be left empty: the API reads the token from Authorization: Bearer")
	}
	if vo.Insecure {
		return nil, activitylog.Invalid("jwt.insecure", "true", "is refused: a token the API trusts without its signature would let anyone claim any principal")
	}
	if vo.Now == nil {
		vo.Now = now
	}
	tenantClaim := cmp.Or(o.TenantClaim, "tenant")
	permsClaim := cmp.Or(o.PermissionsClaim, "permissions")
	allowSuper := o.AllowSuperuser
	vo.Claims, vo.NameClaims, vo.EmailClaims = nil, nil, nil
	vo.ActorFunc = func(claims jwt.MapClaims) (activitylog.Actor, error) {
		return actorFromClaims(claims, tenantClaim, permsClaim, allowSuper)
	}
	v, err := jwtaudit.NewVerifier(&vo)
	if err != nil {
		return nil, fmt.Errorf("configure jwt: %w", err)
	}
	return v, nil
}

// actorFromClaims maps verified claims to an actor whose Extra carries
// the tenant and the permissions.
func actorFromClaims(claims jwt.MapClaims, tenantClaim, permsClaim string, allowSuper bool) (activitylog.Actor, error) {
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return activitylog.Actor{}, fmt.Errorf("no sub claim naming the principal")
	}
	if err := checkClaim("sub", sub); err != nil {
		return activitylog.Actor{}, err
	}
	var tenant string
	switch t := claims[tenantClaim].(type) {
	case nil:
	case string:
		if err := checkClaim(tenantClaim, t); err != nil {
			return activitylog.Actor{}, err
		}
		tenant = t
	default:
		return activitylog.Actor{}, fmt.Errorf("claim %s must be a string", strconv.Quote(tenantClaim))
	}
	var names []string
	switch p := claims[permsClaim].(type) {
	case nil:
	case string:
		if err := checkClaimLen(permsClaim, p); err != nil {
			return activitylog.Actor{}, err
		}
		names = strings.Fields(p)
	case []any:
		for _, x := range p {
			s, ok := x.(string)
			if !ok {
				return activitylog.Actor{}, fmt.Errorf("claim %s must be an array of strings or a string", strconv.Quote(permsClaim))
			}
			if err := checkClaimLen(permsClaim, s); err != nil {
				return activitylog.Actor{}, err
			}
			names = append(names, s)
		}
	default:
		return activitylog.Actor{}, fmt.Errorf("claim %s must be an array of strings or a string", strconv.Quote(permsClaim))
	}
	perms := make([]activitylog.Permission, 0, len(names))
	for _, n := range names {
		p := activitylog.Permission(n)
		if !p.Valid() {
			return activitylog.Actor{}, fmt.Errorf("claim %s: %s is not a permission; known are %s",
				strconv.Quote(permsClaim), strconv.Quote(clip(n, 64)), permissionList())
		}
		if p == activitylog.Superuser && !allowSuper {
			return activitylog.Actor{}, fmt.Errorf("claim %s: superuser is not accepted from a JWT on this server", strconv.Quote(permsClaim))
		}
		if !slices.Contains(perms, p) {
			perms = append(perms, p)
		}
	}
	nameClaim := "name"
	name, _ := claims[nameClaim].(string)
	if name == "" {
		nameClaim = "preferred_username"
		name, _ = claims[nameClaim].(string)
	}
	if err := checkClaim(nameClaim, name); err != nil {
		return activitylog.Actor{}, err
	}
	return activitylog.Actor{
		ID:    sub,
		Name:  name,
		Type:  activitylog.ActorUser,
		Extra: map[string]any{extraTenant: tenant, extraPermissions: perms},
	}, nil
}

// checkClaim refuses the value v of claim when it could not be stored
// as an actor's id, name or tenant: longer than MaxShortField bytes,
// not UTF-8, or holding a control character. The error names the claim
// and a clipped, quoted value.
func checkClaim(claim, v string) error {
	if err := checkClaimLen(claim, v); err != nil {
		return err
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return fmt.Errorf("claim %s: %s must be UTF-8 without control characters",
			strconv.Quote(claim), strconv.Quote(clip(strings.ToValidUTF8(v, "\uFFFD"), 64)))
	}
	return nil
}

// checkClaimLen refuses the value v of claim when it is longer than
// MaxShortField bytes.
func checkClaimLen(claim, v string) error {
	if len(v) > activitylog.MaxShortField {
		return fmt.Errorf("claim %s: %s is longer than %d bytes",
			strconv.Quote(claim), strconv.Quote(clip(v, 64)), activitylog.MaxShortField)
	}
	return nil
}

func permissionList() string {
	s := make([]string, len(activitylog.Permissions))
	for i, p := range activitylog.Permissions {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

// jwtPrincipal verifies the request's bearer JWT.
func (s *Service) jwtPrincipal(r *http.Request) (*activitylog.Principal, error) {
	a, err := s.jwt.Actor(r)
	if err != nil {
		return nil, fmt.Errorf("bearer JWT refused: %w", err)
	}
	tenant, _ := a.Extra[extraTenant].(string)
	perms, _ := a.Extra[extraPermissions].([]activitylog.Permission)
	return &activitylog.Principal{
		ID:          a.ID,
		Name:        a.Name,
		Tenant:      tenant,
		Permissions: slices.Clone(perms), // the verifier's cache shares the slice
		Method:      MethodJWT,
	}, nil
}
