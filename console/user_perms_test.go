package console_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/browser"
)

// A superuser changes another user's permissions in a dialog; the
// change applies at once; no one edits their own, nor a superuser's.
func TestAdminUserPermissions(t *testing.T) {
	b := newBrowser(t)
	s := newStack(t, "", false)
	signIn(t, b, s, "admin", "/admin/users", "#users-table")
	if n := b.Count(t, `tr[data-user="admin"] .user-perms`); n != 0 {
		t.Error("the superuser's own row offers to change its permissions")
	}
	b.Click(t, `tr[data-user="viewer"] .user-perms`)
	b.WaitVisible(t, "#perm-dialog")
	if !browserChecked(t, b, "#perm-edit-view_all_logs") || browserChecked(t, b, "#perm-edit-view_logs") {
		t.Fatal("the dialog does not show the viewer's permissions")
	}
	b.AssertAxe(t)
	b.Click(t, "#perm-edit-view_all_logs")
	b.Click(t, "#perm-edit-view_logs")
	b.Click(t, "#perm-edit-resolve_events")
	b.Click(t, "#perm-save")
	b.WaitText(t, `tr[data-user="viewer"]`, "resolve_events")
	if got := b.Text(t, `tr[data-user="viewer"]`); !strings.Contains(got, "view_logs, resolve_events") || strings.Contains(got, "view_all_logs") {
		t.Errorf("viewer's row after the change: %q", got)
	}
	stored := browser.Eval[[]string](t, b, `fetch("/api/v1/users", {credentials: "same-origin"}).then(r => r.json()).then(a => a.results.find(u => u.username === "viewer").permissions)`)
	if !slices.Equal(stored, []string{string(activitylog.ViewLogs), string(activitylog.ResolveEvents)}) {
		t.Errorf("stored permissions %v", stored)
	}
	b.NoErrors(t, expected401...)
}

func browserChecked(t *testing.T, b interface {
	Count(testing.TB, string) int
}, sel string) bool {
	t.Helper()
	return b.Count(t, sel+":checked") == 1
}
