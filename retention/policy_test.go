package retention_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/retention"
)

func TestPolicyValidate(t *testing.T) {
	ok := retention.Policy{Name: "n", Kind: "crud", RetainDays: 30, Active: true, AllTenants: true}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name         string
		change       func(*retention.Policy)
		field, value string
	}{
		{"no name", func(p *retention.Policy) { p.Name = "" }, "name", ""},
		{"control in name", func(p *retention.Policy) { p.Name = "a\nb" }, "name", "a\nb"},
		{"long name", func(p *retention.Policy) { p.Name = strings.Repeat("x", 129) }, "name", strings.Repeat("x", 64) + "…"},
		{"bad kind", func(p *retention.Policy) { p.Kind = "everything" }, "kind", "everything"},
		{"no kind", func(p *retention.Policy) { p.Kind = "" }, "kind", ""},
		{"zero days", func(p *retention.Policy) { p.RetainDays = 0 }, "retain_days", "0"},
		{"negative days", func(p *retention.Policy) { p.RetainDays = -5 }, "retain_days", "-5"},
		{"too many days", func(p *retention.Policy) { p.RetainDays = 36501 }, "retain_days", "36501"},
		{"tenant and all tenants", func(p *retention.Policy) { p.Tenant = "acme" }, "tenant", "acme"},
		{"bad id", func(p *retention.Policy) { p.ID = "a b" }, "id", "a b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := ok
			c.change(&p)
			var fe *activitylog.FieldError
			if err := p.Validate(); !errors.As(err, &fe) || fe.Field != c.field || fe.Value != c.value {
				t.Fatalf("Validate: %v; want a FieldError naming %s %q", err, c.field, c.value)
			}
		})
	}
}

func TestPolicyJSON(t *testing.T) {
	p := retention.Policy{ID: "rtp_1", Name: "n", Kind: "all", RetainDays: 30, Active: true, Tenant: "acme",
		CreatedAt: now, UpdatedAt: now}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"last_run":null`) || !strings.Contains(string(b), `"retain_days":30`) {
		t.Fatalf("marshalled: %s", b)
	}
	var back retention.Policy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	p.LastRun = now.Add(time.Hour)
	b, _ = json.Marshal(p)
	if err := json.Unmarshal(b, &back); err != nil || !back.LastRun.Equal(p.LastRun) || back.Name != "n" || back.Tenant != "acme" {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	var fe *activitylog.FieldError
	if err := json.Unmarshal([]byte(`{"name": "n", "retain": 3}`), &back); !errors.As(err, &fe) || fe.Field != "retain" {
		t.Fatalf("an unknown key: %v, want a FieldError naming it", err)
	}
	if err := json.Unmarshal([]byte(`{"retain_days": "3"}`), &back); !errors.As(err, &fe) || fe.Field != "retain_days" {
		t.Fatalf("a string for a number: %v, want a FieldError naming retain_days", err)
	}
}
