package httpaudit

import (
	"errors"
	"testing"

	"github.com/activitylog/activitylog"
)

func TestPolicyLevel(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy(&PolicyOptions{
		Rules: []Rule{
			{Path: `^/api/v1/payments/`, Level: LevelRequestResponse},
			{Route: "POST /orders", Methods: []string{"post"}, Level: LevelRequest},
			{Users: []string{"bot-7"}, Level: LevelNone},
			{Path: `^/api/`, Methods: []string{"GET"}, Level: LevelMetadata},
			{Path: `^/internal/`}, // LevelDefault: the policy's level
		},
		Level:     LevelRequest,
		ExtraDeny: []string{`^/debug/`},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path, route, user string
		want                      Level
	}{
		{"GET", "/api/v1/payments/9", "", "", LevelRequestResponse},
		{"POST", "/orders", "POST /orders", "", LevelRequest},
		{"PUT", "/orders", "POST /orders", "", LevelRequest}, // route differs from method rule? route matches, method not: next rules
		{"GET", "/anything", "", "bot-7", LevelNone},
		{"GET", "/api/users", "", "", LevelMetadata},
		{"DELETE", "/api/users", "", "", LevelRequest}, // no rule: policy level
		{"GET", "/internal/x", "", "", LevelRequest},
		{"GET", "/static/app.js", "", "", LevelNone}, // default deny
		{"GET", "/favicon.ico", "", "", LevelNone},
		{"GET", "/healthz", "", "", LevelNone},
		{"GET", "/readyz", "", "", LevelNone},
		{"GET", "/metrics", "", "", LevelNone},
		{"GET", "/debug/pprof", "", "", LevelNone}, // extra deny
		{"GET", "/api/static/x", "", "", LevelMetadata},
	}
	for _, tt := range tests {
		if got := p.Level(tt.method, tt.path, tt.route, tt.user); got != tt.want {
			t.Errorf("Level(%s %s route %q user %q) = %v, want %v", tt.method, tt.path, tt.route, tt.user, got, tt.want)
		}
	}
}

func TestPolicyAllowAndDeny(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy(&PolicyOptions{Allow: []string{`^/api/`}, Deny: []string{`^/api/health$`}})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]Level{
		"/api/orders": LevelMetadata, "/api/health": LevelNone, "/web/page": LevelNone,
		"/static/x": LevelNone, // not in Allow
	} {
		if got := p.Level("GET", path, "", ""); got != want {
			t.Errorf("Level(%s) = %v, want %v", path, got, want)
		}
	}
	// An empty, non-nil Deny denies nothing.
	p, _ = NewPolicy(&PolicyOptions{Deny: []string{}})
	if got := p.Level("GET", "/healthz", "", ""); got != LevelMetadata {
		t.Errorf("empty Deny: /healthz at %v", got)
	}
}

func TestNewPolicyRefusesBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opts  PolicyOptions
		field string
	}{
		{PolicyOptions{Deny: []string{"(", "x"}}, "deny[0]"},
		{PolicyOptions{ExtraDeny: []string{"ok", "[a-"}}, "extra_deny[1]"},
		{PolicyOptions{Allow: []string{"*x"}}, "allow[0]"},
		{PolicyOptions{Rules: []Rule{{Path: "^/a"}, {Path: "(?P<"}}}, "rules[1].path"},
		{PolicyOptions{Rules: []Rule{{Level: Level(9)}}}, "rules[0].level"},
		{PolicyOptions{Level: Level(-1)}, "level"},
	}
	for _, tt := range tests {
		_, err := NewPolicy(&tt.opts)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("NewPolicy(%+v) = %v, want a FieldError on %s", tt.opts, err, tt.field)
		}
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]Level{"none": LevelNone, "Metadata": LevelMetadata, "request": LevelRequest, "REQUEST_RESPONSE": LevelRequestResponse} {
		got, err := ParseLevel(s)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", s, got, err)
		}
		if got.String() != levelNames[want] {
			t.Errorf("String() = %q", got.String())
		}
	}
	if _, err := ParseLevel("everything"); err == nil || err.Error() != `invalid level "everything": must be one of none, metadata, request, request_response` {
		t.Errorf("ParseLevel(everything) = %v", err)
	}
}

func TestCrossOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		origin, scheme, host string
		want                 bool
	}{
		{"", "http", "shop.example", false},
		{"http://shop.example", "http", "shop.example", false},
		{"https://shop.example", "https", "shop.example:443", false},
		{"http://shop.example:80", "http", "shop.example", false},
		{"HTTPS://Shop.Example", "https", "shop.example", false},
		{"https://shop.example", "http", "shop.example", true}, // scheme differs
		{"https://evil.example", "https", "shop.example", true},
		{"https://shop.example:8443", "https", "shop.example", true},
		{"null", "https", "shop.example", true},
		{"garbage", "https", "shop.example", true},
	}
	for _, tt := range tests {
		if got := crossOrigin(tt.origin, tt.scheme, tt.host); got != tt.want {
			t.Errorf("crossOrigin(%q, %q, %q) = %v, want %v", tt.origin, tt.scheme, tt.host, got, tt.want)
		}
	}
}
