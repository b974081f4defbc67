package activitylog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
)

func TestAuthHelpers(t *testing.T) {
	t.Parallel()
	login := activitylog.Login{Username: "ann", UserID: "42", Method: "password", Reason: "bad_credentials"}
	tests := []struct {
		name      string
		call      func(context.Context, activitylog.Login) error
		action    string
		severity  activitylog.Severity
		actorType activitylog.ActorType
		actorID   string
	}{
		{"LoginSucceeded", activitylog.LoginSucceeded, "login", activitylog.SeverityInfo, activitylog.ActorUser, "42"},
		{"LoginFailed", activitylog.LoginFailed, "login_failed", activitylog.SeverityWarning, activitylog.ActorAnonymous, ""},
		{"Blocked", activitylog.Blocked, "blocked", activitylog.SeverityWarning, activitylog.ActorAnonymous, ""},
		{"Logout", activitylog.Logout, "logout", activitylog.SeverityInfo, activitylog.ActorUser, "42"},
		{"TokenRefreshed", activitylog.TokenRefreshed, "token_refresh", activitylog.SeverityInfo, activitylog.ActorUser, "42"},
		{"PasswordChanged", activitylog.PasswordChanged, "password_change", activitylog.SeverityNotice, activitylog.ActorUser, "42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, _, sink := syncRecorder(t, nil)
			// The context's actor must not be credited with a failure.
			ctx = activitylog.WithActor(ctx, activitylog.Actor{ID: "admin", Type: activitylog.ActorUser})
			ctx = activitylog.WithRequest(ctx, &activitylog.Request{RemoteIP: "192.0.2.1", Path: "/login"})
			if err := tt.call(ctx, login); err != nil {
				t.Fatal(err)
			}
			e := sink.only(t)
			if e.Kind != activitylog.KindAuth || e.Action != tt.action || e.Severity != tt.severity {
				t.Errorf("kind, action, severity = %s, %s, %s; want auth, %s, %s", e.Kind, e.Action, e.Severity, tt.action, tt.severity)
			}
			if e.Actor.Type != tt.actorType || e.Actor.ID != tt.actorID {
				t.Errorf("actor = %+v, want type %s id %q", e.Actor, tt.actorType, tt.actorID)
			}
			if e.Extra["username"] != "ann" || e.Extra["method"] != "password" || e.Extra["reason"] != "bad_credentials" {
				t.Errorf("extra = %v", e.Extra)
			}
			if e.Object != (activitylog.Object{Type: "user", ID: "42"}) {
				t.Errorf("object = %+v", e.Object)
			}
			if e.Request.RemoteIP != "192.0.2.1" || e.Request.Path != "/login" {
				t.Errorf("request = %+v, want the context's", e.Request)
			}
		})
	}
}

func TestLoginWithoutUserTakesContextActor(t *testing.T) {
	t.Parallel()
	ctx, _, sink := syncRecorder(t, nil)
	ctx = activitylog.WithActor(ctx, activitylog.Actor{ID: "9", Name: "Bo"})
	if err := activitylog.Logout(ctx, activitylog.Login{Reason: "expired"}); err != nil {
		t.Fatal(err)
	}
	if a := sink.only(t).Actor; a.ID != "9" || a.Type != activitylog.ActorUser {
		t.Errorf("actor = %+v, want the context's", a)
	}
}

func TestLoginIPOverride(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip, wantRemote string
		wantExtraIP    any
	}{
		{"203.0.113.9", "203.0.113.9", nil},
		{"::ffff:203.0.113.9", "203.0.113.9", nil},
		{"not-an-ip", "192.0.2.1", "not-an-ip"},
		{"", "192.0.2.1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			t.Parallel()
			ctx, _, sink := syncRecorder(t, nil)
			ctx = activitylog.WithRequest(ctx, &activitylog.Request{RemoteIP: "192.0.2.1"})
			if err := activitylog.LoginFailed(ctx, activitylog.Login{Username: "ann", IP: tt.ip}); err != nil {
				t.Fatal(err)
			}
			e := sink.only(t)
			if e.Request.RemoteIP != tt.wantRemote || e.Extra["ip"] != tt.wantExtraIP {
				t.Errorf("remote ip %q, extra ip %v; want %q, %v", e.Request.RemoteIP, e.Extra["ip"], tt.wantRemote, tt.wantExtraIP)
			}
		})
	}
}

func TestLoginNeverRecordsSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, username, reason string }{
		{"form in username", "ann&password=hunter2", "bad_credentials"},
		{"json reason", "ann", `{"user":"ann","password":"hunter2"}`},
		{"free text reason", "ann", "rejected password=hunter2 for ann"},
		{"colon", "ann", "token: hunter2"},
		{"quoted", "ann", `login with "passwd": "hunter2" failed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, _, sink := syncRecorder(t, nil)
			if err := activitylog.LoginFailed(ctx, activitylog.Login{Username: tt.username, Reason: tt.reason}); err != nil {
				t.Fatal(err)
			}
			e := sink.only(t)
			all := e.Message + " " + e.Actor.Name
			for _, v := range e.Extra {
				s, _ := v.(string)
				all += " " + s
			}
			if strings.Contains(all, "hunter2") {
				t.Errorf("secret recorded: %q", all)
			}
		})
	}
}

func TestScrubSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"bad_credentials", "bad_credentials"},
		{"password=hunter2", "password=[REDACTED]"},
		{"user=ann&password=hunter2", "password=[REDACTED]&user=ann"},
		{"new_password: s3cret, user ann", "new_password: [REDACTED], user ann"},
		{"at 10:30 for ann", "at 10:30 for ann"},
		{"api_key = abc123;next", "api_key = [REDACTED];next"},
		{"password=[REDACTED]", "password=[REDACTED]"},
	}
	for _, tt := range tests {
		if got := activitylog.ScrubSecrets(tt.in); got != tt.want {
			t.Errorf("ScrubSecrets(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzScrubSecrets(f *testing.F) {
	for _, s := range []string{"password=x", `{"token":"y"}`, "a: b", "pwd=", "secret:", "x=y&z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := activitylog.ScrubSecrets(s)
		if again := activitylog.ScrubSecrets(out); strings.Count(again, activitylog.DefaultMask) < strings.Count(out, activitylog.DefaultMask) {
			t.Errorf("scrubbing again lost a mask: %q -> %q -> %q", s, out, again)
		}
	})
}
