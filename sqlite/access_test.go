package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access/credential"
	"github.com/activitylog/activitylog/sqlite"
)

func openCredentials(t *testing.T) (*sqlite.Store, *sqlite.Credentials) {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s.Credentials()
}

func hash(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestCredentialsUsers(t *testing.T) {
	t.Parallel()
	c := context.Background()
	_, cs := openCredentials(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	ann := credential.User{ID: "u1", Username: "Ann", Tenant: "acme", PasswordHash: "$argon2id$x",
		Permissions: []activitylog.Permission{activitylog.ViewLogs, activitylog.Ingest}, CreatedAt: at}
	if err := cs.CreateUser(c, ann); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		u     credential.User
		field string
	}{
		{credential.User{ID: "u2", Username: "ANN", PasswordHash: "x", CreatedAt: at}, "username"},
		{credential.User{ID: "u1", Username: "bob", PasswordHash: "x", CreatedAt: at}, "id"},
	} {
		var fe *activitylog.FieldError
		if err := cs.CreateUser(c, tc.u); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("CreateUser(%+v) = %v; want a FieldError for %s", tc.u, err, tc.field)
		}
	}
	got, err := cs.UserByName(c, "aNN")
	if err != nil || got.ID != "u1" || got.Username != "Ann" || !got.CreatedAt.Equal(at) || got.Tenant != "acme" ||
		!slices.Equal(got.Permissions, ann.Permissions) || got.PasswordHash != ann.PasswordHash || got.Disabled {
		t.Errorf("UserByName = %+v, %v", got, err)
	}
	if _, err := cs.UserByName(c, "nobody"); !errors.Is(err, activitylog.ErrNotFound) {
		t.Errorf("UserByName(nobody) = %v", err)
	}
	if err := cs.CreateUser(c, credential.User{ID: "u2", Username: "bob", PasswordHash: "x", CreatedAt: at.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	bob, err := cs.UserByID(c, "u2")
	if err != nil || len(bob.Permissions) != 0 || bob.Permissions == nil {
		t.Errorf("a user without permissions: %+v, %v", bob, err)
	}

	// Disabling ends the user's sessions, and no one else's.
	now := time.Now()
	for i, uid := range []string{"u1", "u1", "u2"} {
		if err := cs.CreateSession(c, credential.Session{Hash: hash(byte(i)), UserID: uid, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.SetUserDisabled(c, "ann", true); err != nil {
		t.Fatal(err)
	}
	if u, _ := cs.UserByID(c, "u1"); !u.Disabled {
		t.Error("not disabled")
	}
	for i, want := range []bool{false, false, true} {
		_, err := cs.Session(c, hash(byte(i)))
		if (err == nil) != want || err != nil && !errors.Is(err, activitylog.ErrNotFound) {
			t.Errorf("session %d after disabling u1: %v", i, err)
		}
	}
	if err := cs.SetUserDisabled(c, "ann", false); err != nil {
		t.Fatal(err)
	}
	if u, _ := cs.UserByID(c, "u1"); u.Disabled {
		t.Error("not enabled again")
	}
	if err := cs.SetUserDisabled(c, "nobody", true); !errors.Is(err, activitylog.ErrNotFound) {
		t.Errorf("disable nobody: %v", err)
	}
	list, err := cs.ListUsers(c)
	if err != nil || len(list) != 2 || list[0].ID != "u1" || list[1].ID != "u2" {
		t.Errorf("ListUsers = %+v, %v", list, err)
	}
}

func TestCredentialsKeys(t *testing.T) {
	t.Parallel()
	c := context.Background()
	_, cs := openCredentials(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	k := credential.APIKey{ID: "0123456789abcdef", Name: "ingest", Tenant: "acme", Scopes: []activitylog.Permission{activitylog.Ingest},
		Hash: hash(1), CreatedAt: at, CreatedBy: "cli", ExpiresAt: at.Add(time.Hour)}
	if made, err := cs.CreateFirstAPIKey(c, k); !made || err != nil {
		t.Fatalf("CreateFirstAPIKey on an empty store = %v, %v", made, err)
	}
	k2 := k
	k2.ID = "fedcba9876543210"
	if made, err := cs.CreateFirstAPIKey(c, k2); made || err != nil {
		t.Errorf("CreateFirstAPIKey with a key stored = %v, %v", made, err)
	}
	var fe *activitylog.FieldError
	if err := cs.CreateAPIKey(c, k); !errors.As(err, &fe) || fe.Field != "id" {
		t.Errorf("CreateAPIKey with a taken id = %v", err)
	}
	if err := cs.CreateAPIKey(c, k2); err != nil {
		t.Fatal(err)
	}
	got, err := cs.APIKey(c, k.ID)
	if err != nil || got.Name != "ingest" || !bytes.Equal(got.Hash, k.Hash) || !got.ExpiresAt.Equal(k.ExpiresAt) ||
		!got.RevokedAt.IsZero() || !got.LastUsedAt.IsZero() || got.CreatedBy != "cli" || !slices.Equal(got.Scopes, k.Scopes) {
		t.Errorf("APIKey = %+v, %v", got, err)
	}
	if _, err := cs.APIKey(c, "0000000000000000"); !errors.Is(err, activitylog.ErrNotFound) {
		t.Errorf("APIKey(unknown) = %v", err)
	}
	if err := cs.TouchAPIKey(c, k.ID, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := cs.RevokeAPIKey(c, k.ID, at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := cs.RevokeAPIKey(c, k.ID, at.Add(3*time.Minute)); err != nil {
		t.Errorf("revoking again: %v", err)
	}
	got, _ = cs.APIKey(c, k.ID)
	if !got.RevokedAt.Equal(at.Add(2*time.Minute)) || !got.LastUsedAt.Equal(at.Add(time.Minute)) {
		t.Errorf("after touch and two revokes: %+v", got)
	}
	if err := cs.RevokeAPIKey(c, "0000000000000000", at); !errors.Is(err, activitylog.ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	list, err := cs.ListAPIKeys(c)
	if err != nil || len(list) != 2 {
		t.Errorf("ListAPIKeys = %+v, %v", list, err)
	}
}

// Two stores opening one new file at once make one first key between
// them.
func TestCredentialsFirstKeyOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.db")
	var made [8]bool
	var wg sync.WaitGroup
	stores := make([]*sqlite.Store, len(made))
	for i := range stores {
		s, err := sqlite.Open(path, &sqlite.Options{CheckpointInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	for i, s := range stores {
		wg.Go(func() {
			k := credential.APIKey{ID: "000000000000000" + string(rune('0'+i)), Name: "bootstrap", Scopes: []activitylog.Permission{activitylog.Superuser}, Hash: hash(byte(i)), CreatedAt: time.Now()}
			ok, err := s.Credentials().CreateFirstAPIKey(context.Background(), k)
			if err != nil {
				t.Error(err)
			}
			made[i] = ok
		})
	}
	wg.Wait()
	n := 0
	for _, m := range made {
		if m {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d first keys made, want 1", n)
	}
}

func TestCredentialsSessions(t *testing.T) {
	t.Parallel()
	c := context.Background()
	_, cs := openCredentials(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sessions := []credential.Session{
		{Hash: hash(1), UserID: "u1", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(12 * time.Hour)},                                    // live
		{Hash: hash(2), UserID: "u1", CreatedAt: now.Add(-13 * time.Hour), LastSeenAt: now, ExpiresAt: now.Add(-time.Hour)},                   // expired
		{Hash: hash(3), UserID: "u2", CreatedAt: now.Add(-2 * time.Hour), LastSeenAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)}, // idle
	}
	for _, s := range sessions {
		if err := cs.CreateSession(c, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := cs.Session(c, hash(1))
	if err != nil || got.UserID != "u1" || !got.ExpiresAt.Equal(sessions[0].ExpiresAt) || !got.LastSeenAt.Equal(now) {
		t.Errorf("Session = %+v, %v", got, err)
	}
	if err := cs.TouchSession(c, hash(1), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := cs.Session(c, hash(1)); !got.LastSeenAt.Equal(now.Add(time.Minute)) {
		t.Errorf("after touch: %+v", got)
	}
	n, err := cs.DeleteSessions(c, now, now.Add(-time.Hour))
	if err != nil || n != 2 {
		t.Errorf("DeleteSessions = %d, %v; want 2", n, err)
	}
	if err := cs.DeleteSession(c, hash(1)); err != nil {
		t.Fatal(err)
	}
	if err := cs.DeleteSession(c, hash(1)); err != nil {
		t.Errorf("deleting again: %v", err)
	}
	for i := byte(1); i <= 3; i++ {
		if _, err := cs.Session(c, hash(i)); !errors.Is(err, activitylog.ErrNotFound) {
			t.Errorf("session %d: %v", i, err)
		}
	}
}

func TestCredentialsClosed(t *testing.T) {
	t.Parallel()
	s, cs := openCredentials(t)
	s.Close()
	c := context.Background()
	for name, err := range map[string]error{
		"CreateUser":      cs.CreateUser(c, credential.User{ID: "u", Username: "u"}),
		"RevokeAPIKey":    cs.RevokeAPIKey(c, "0123456789abcdef", time.Now()),
		"CreateSession":   cs.CreateSession(c, credential.Session{Hash: hash(1)}),
		"SetUserDisabled": cs.SetUserDisabled(c, "u", true),
	} {
		if !errors.Is(err, activitylog.ErrUnavailable) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if _, err := cs.ListAPIKeys(c); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("ListAPIKeys after Close: %v", err)
	}
}
