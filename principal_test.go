package activitylog_test

import (
	"errors"
	"testing"

	"github.com/activitylog/activitylog"
)

func perms(p ...activitylog.Permission) []activitylog.Permission { return p }

func TestPrincipalHas(t *testing.T) {
	var nobody *activitylog.Principal
	if nobody.Has(activitylog.ViewLogs) {
		t.Error("a nil principal holds view_logs")
	}
	root := &activitylog.Principal{ID: "root", Permissions: perms(activitylog.Superuser)}
	for _, p := range activitylog.Permissions {
		if !root.Has(p) {
			t.Errorf("superuser lacks %s", p)
		}
	}
	all := &activitylog.Principal{ID: "a", Permissions: perms(activitylog.ViewAllLogs)}
	if !all.Has(activitylog.ViewLogs) || all.Has(activitylog.ManageRetention) || all.Has(activitylog.ResolveEvents) {
		t.Errorf("view_all_logs: view_logs %v, manage_retention %v, resolve %v; want true, false, false",
			all.Has(activitylog.ViewLogs), all.Has(activitylog.ManageRetention), all.Has(activitylog.ResolveEvents))
	}
	retain := &activitylog.Principal{ID: "r", Permissions: perms(activitylog.ManageRetention)}
	if retain.Has(activitylog.ViewLogs) {
		t.Error("manage_retention implies view_logs")
	}
	if _, err := activitylog.ParsePermission("scopes[1]", "admin"); err == nil {
		t.Error("ParsePermission accepted admin")
	} else if fe, ok := errors.AsType[*activitylog.FieldError](err); !ok || fe.Field != "scopes[1]" || fe.Value != "admin" {
		t.Errorf("ParsePermission error %v does not name the field and value", err)
	}
}

func TestPrincipalScope(t *testing.T) {
	root := &activitylog.Principal{ID: "root", Permissions: perms(activitylog.Superuser)}
	admin := &activitylog.Principal{ID: "amy", Tenant: "acme", Permissions: perms(activitylog.ViewAllLogs)}
	viewer := &activitylog.Principal{ID: "ann", Tenant: "acme", Permissions: perms(activitylog.ViewLogs)}
	single := &activitylog.Principal{ID: "sam", Permissions: perms(activitylog.ViewAllLogs)}
	retain := &activitylog.Principal{ID: "rita", Tenant: "acme", Permissions: perms(activitylog.ManageRetention, activitylog.Ingest)}
	anon := &activitylog.Principal{Tenant: "acme", Permissions: perms(activitylog.ViewLogs)}

	for _, tt := range []struct {
		name      string
		p         *activitylog.Principal
		in, want  activitylog.Filter
		forbidden string // the field of the refusal, if refused
	}{
		{"superuser reads all", root, activitylog.Filter{}, activitylog.Filter{}, ""},
		{"superuser names a tenant", root, activitylog.Filter{Tenant: "globex"}, activitylog.Filter{Tenant: "globex"}, ""},
		{"admin held to tenant", admin, activitylog.Filter{Kind: "crud"}, activitylog.Filter{Kind: "crud", Tenant: "acme"}, ""},
		{"admin names own tenant", admin, activitylog.Filter{Tenant: "acme"}, activitylog.Filter{Tenant: "acme"}, ""},
		{"admin names another tenant", admin, activitylog.Filter{Tenant: "globex"}, activitylog.Filter{}, "tenant"},
		{"admin reads another user", admin, activitylog.Filter{ActorID: "bob"}, activitylog.Filter{ActorID: "bob", Tenant: "acme"}, ""},
		{"viewer held to self", viewer, activitylog.Filter{}, activitylog.Filter{Tenant: "acme", ActorID: "ann"}, ""},
		{"viewer names self", viewer, activitylog.Filter{ActorID: "ann"}, activitylog.Filter{Tenant: "acme", ActorID: "ann"}, ""},
		{"viewer names another user", viewer, activitylog.Filter{ActorID: "bob"}, activitylog.Filter{}, "user_id"},
		{"no tenant reads only untenanted", single, activitylog.Filter{}, activitylog.Filter{NoTenant: true}, ""},
		{"no tenant names a tenant", single, activitylog.Filter{Tenant: "acme"}, activitylog.Filter{}, "tenant"},
		{"no view permission", retain, activitylog.Filter{}, activitylog.Filter{}, "principal"},
		{"nil principal", nil, activitylog.Filter{}, activitylog.Filter{}, "principal"},
		{"viewer without id matches nothing", anon, activitylog.Filter{}, activitylog.Filter{Tenant: "acme", ActorID: "\x00"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Scope(tt.in)
			if tt.forbidden != "" {
				fe, ok := errors.AsType[*activitylog.ForbiddenError](err)
				if !ok || fe.Field != tt.forbidden || !errors.Is(err, activitylog.ErrForbidden) {
					t.Fatalf("Scope(%+v) = %v, want a ForbiddenError naming %s", tt.in, err, tt.forbidden)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Scope(%+v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestPrincipalCanSeeAgreesWithScope checks, over a grid of events,
// that CanSee says yes exactly where the scoped filter matches: the
// list endpoints (Scope) and the single-event ones (CanSee) never
// disagree about what a principal may read.
func TestPrincipalCanSeeAgreesWithScope(t *testing.T) {
	principals := []*activitylog.Principal{
		{ID: "root", Permissions: perms(activitylog.Superuser)},
		{ID: "amy", Tenant: "acme", Permissions: perms(activitylog.ViewAllLogs)},
		{ID: "ann", Tenant: "acme", Permissions: perms(activitylog.ViewLogs)},
		{ID: "sam", Permissions: perms(activitylog.ViewAllLogs)},
		{ID: "sue", Permissions: perms(activitylog.ViewLogs)},
		{Tenant: "acme", Permissions: perms(activitylog.ViewLogs)},
		{ID: "rita", Tenant: "acme", Permissions: perms(activitylog.ManageRetention)},
		nil,
	}
	var events []activitylog.Event
	for _, tenant := range []string{"", "acme", "globex"} {
		for _, actor := range []string{"", "ann", "amy", "sue", "bob"} {
			events = append(events, activitylog.Event{Tenant: tenant, Actor: activitylog.Actor{ID: actor}})
		}
	}
	for _, p := range principals {
		f, err := p.Scope(activitylog.Filter{})
		for i := range events {
			e := &events[i]
			want := err == nil && f.Match(e)
			if got := p.CanSee(e); got != want {
				t.Errorf("principal %+v, event tenant %q actor %q: CanSee %v, scoped filter matches %v", p, e.Tenant, e.Actor.ID, got, want)
			}
		}
	}
}
