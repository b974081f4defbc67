package httpaudit

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/activitylog/activitylog"
)

// Level says how much of a request is recorded, as the levels of a
// Kubernetes audit policy do.
type Level int

const (
	// LevelDefault stands for "not set" in a Rule or PolicyOptions: the
	// policy's default level, which is LevelMetadata unless set.
	LevelDefault Level = iota
	// LevelNone records nothing.
	LevelNone
	// LevelMetadata records the request event without bodies or
	// headers: who, what, where from, when, status, sizes, duration.
	LevelMetadata
	// LevelRequest adds the request headers and the request body, as
	// far as the handler read it, up to Options.MaxBody.
	LevelRequest
	// LevelRequestResponse adds the response headers and body too.
	LevelRequestResponse
)

var levelNames = [...]string{"", "none", "metadata", "request", "request_response"}

// String returns the level's name: none, metadata, request or
// request_response ("" for LevelDefault).
func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return "level(" + itoa(int(l)) + ")"
	}
	return levelNames[l]
}

// ParseLevel parses a level name: none, metadata, request or
// request_response. Anything else is an *activitylog.FieldError naming
// "level".
func ParseLevel(s string) (Level, error) {
	for i, n := range levelNames {
		if n != "" && strings.EqualFold(s, n) {
			return Level(i), nil
		}
	}
	return LevelDefault, activitylog.Invalid("level", clip(s, 64), "must be one of none, metadata, request, request_response")
}

// DefaultDeny are the paths that are not recorded unless
// PolicyOptions.Deny replaces them: static files and the probes that
// monitoring sends every few seconds.
var DefaultDeny = []string{`^/static/`, `^/favicon\.ico$`, `^/healthz`, `^/readyz`, `^/metrics`}

// Rule sets the level of the requests it matches. Every condition that
// is set must hold; an empty rule matches every request. Rules are
// tried in order and the first that matches wins, as in a Kubernetes
// audit policy.
type Rule struct {
	// Path is a regular expression (RE2 syntax) matched against the URL
	// path, e.g. `^/api/v1/payments/`. Unanchored unless you anchor it.
	Path string
	// Route is a route pattern, matched exactly against the request's
	// route as known when it arrives (Options.Route, or the Pattern a
	// ServeMux outside the middleware set), e.g. "POST /orders/{id}".
	Route string
	// Methods are HTTP methods, e.g. {"POST", "PUT"}; case-insensitive.
	Methods []string
	// Users are actor ids. They match the actor known when the request
	// arrives: one in the context, or the one Options.Actor reads from
	// its credentials. "" in the list matches a request without one.
	Users []string
	// Level is what a matching request records.
	Level Level
}

// PolicyOptions configures a Policy. The zero value, or nil, records
// every request at LevelMetadata except the paths of DefaultDeny.
type PolicyOptions struct {
	// Rules are tried in order; the first that matches sets the level.
	// Default: none.
	Rules []Rule
	// Level is the level of requests no rule matches. Default:
	// LevelMetadata.
	Level Level
	// Deny are path regular expressions of requests that are never
	// recorded, tried before the rules. Default (nil): DefaultDeny. An
	// empty non-nil slice denies nothing.
	Deny []string
	// ExtraDeny are added to Deny (or to the defaults).
	ExtraDeny []string
	// Allow, when set, are the only path regular expressions recorded:
	// every other request is at LevelNone. Deny still applies.
	Allow []string
}

// Policy decides how much of each request is recorded. Make one with
// NewPolicy; it is safe for concurrent use.
type Policy struct {
	deny, allow []*regexp.Regexp
	rules       []rule
	level       Level
}

type rule struct {
	path    *regexp.Regexp
	route   string
	methods []string
	users   []string
	hasUser bool
	level   Level
}

// NewPolicy compiles opts (nil allowed). A bad regular expression or
// level is refused with an *activitylog.FieldError that names it, as in
// "rules[2].path" or "deny[0]".
func NewPolicy(opts *PolicyOptions) (*Policy, error) {
	var o PolicyOptions
	if opts != nil {
		o = *opts
	}
	p := &Policy{level: o.Level}
	if p.level == LevelDefault {
		p.level = LevelMetadata
	}
	if p.level < LevelNone || p.level > LevelRequestResponse {
		return nil, activitylog.Invalid("level", p.level.String(), "must be one of none, metadata, request, request_response")
	}
	deny := o.Deny
	if deny == nil {
		deny = DefaultDeny
	}
	var err error
	if p.deny, err = compileAll("deny", deny); err != nil {
		return nil, err
	}
	extra, err := compileAll("extra_deny", o.ExtraDeny)
	if err != nil {
		return nil, err
	}
	p.deny = append(p.deny, extra...)
	if p.allow, err = compileAll("allow", o.Allow); err != nil {
		return nil, err
	}
	for i, r := range o.Rules {
		field := "rules[" + itoa(i) + "]"
		c := rule{route: r.Route, users: r.Users, hasUser: len(r.Users) > 0, level: r.Level}
		if c.level == LevelDefault {
			c.level = p.level
		}
		if c.level < LevelNone || c.level > LevelRequestResponse {
			return nil, activitylog.Invalid(field+".level", c.level.String(), "must be one of none, metadata, request, request_response")
		}
		if r.Path != "" {
			re, err := regexp.Compile(r.Path)
			if err != nil {
				return nil, activitylog.Invalid(field+".path", clip(r.Path, 128), "is not a regular expression: "+err.Error())
			}
			c.path = re
		}
		for _, m := range r.Methods {
			c.methods = append(c.methods, strings.ToUpper(m))
		}
		p.rules = append(p.rules, c)
	}
	return p, nil
}

func compileAll(field string, exprs []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(exprs))
	for i, e := range exprs {
		re, err := regexp.Compile(e)
		if err != nil {
			return nil, activitylog.Invalid(field+"["+itoa(i)+"]", clip(e, 128), "is not a regular expression: "+err.Error())
		}
		out = append(out, re)
	}
	return out, nil
}

// Level returns the level for a request with that method, path, route
// and actor id (as known on arrival).
func (p *Policy) Level(method, path, route, actorID string) Level {
	for _, re := range p.deny {
		if re.MatchString(path) {
			return LevelNone
		}
	}
	if len(p.allow) > 0 {
		allowed := false
		for _, re := range p.allow {
			if re.MatchString(path) {
				allowed = true
				break
			}
		}
		if !allowed {
			return LevelNone
		}
	}
	for i := range p.rules {
		r := &p.rules[i]
		if r.path != nil && !r.path.MatchString(path) {
			continue
		}
		if r.route != "" && r.route != route {
			continue
		}
		if len(r.methods) > 0 && !contains(r.methods, method) {
			continue
		}
		if r.hasUser && !contains(r.users, actorID) {
			continue
		}
		return r.level
	}
	return p.level
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// defaultPolicy is NewPolicy(nil), which cannot fail.
var defaultPolicy = func() *Policy {
	p, err := NewPolicy(nil)
	if err != nil {
		panic(err)
	}
	return p
}()

// levelOf is the policy's level for r as it arrives.
func (p *Policy) levelOf(r *http.Request, route, actorID string) Level {
	path := ""
	if r.URL != nil {
		path = r.URL.Path
	}
	return p.Level(r.Method, path, route, actorID)
}
