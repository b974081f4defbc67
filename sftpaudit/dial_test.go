package sftpaudit_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sftpaudit"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestDial(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	rec := &collector{}
	ctx := activitylog.WithActor(context.Background(), activitylog.Actor{ID: "42"})
	c, err := sftpaudit.Dial(ctx, rec, s.addr, s.config(), &sftpaudit.Options{Service: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	e := rec.one(t)
	for _, f := range []struct{ name, got, want string }{
		{"kind", string(e.Kind), "external"},
		{"action", e.Action, "connect"},
		{"tool", e.Tool, "sftp"},
		{"service", e.Service, "billing"},
		{"severity", string(e.Severity), "info"},
		{"category", e.Category, ""},
		{"object.type", e.Object.Type, "host"},
		{"object.id", e.Object.ID, s.addr},
		{"message", e.Message, "connect " + s.addr},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	want := map[string]any{"host": s.addr, "user": testUser, "host_key": ssh.FingerprintSHA256(s.hostKey)}
	if !equalExtra(e.Extra, want) {
		t.Errorf("extra = %v, want %v", e.Extra, want)
	}
	if e.Response.Duration <= 0 || e.Time.IsZero() {
		t.Errorf("duration, time = %v, %v; want both set", e.Response.Duration, e.Time)
	}
	if err := e.Validate(); err != nil && !isOnlyMissingID(err) {
		t.Errorf("event does not validate: %v", err)
	}
	if c.Raw() == nil {
		t.Error("Raw() = nil")
	}
}

func equalExtra(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// isOnlyMissingID reports whether err is Validate's complaint about the
// id, which the Recorder fills in.
func isOnlyMissingID(err error) bool {
	var fe *activitylog.FieldError
	return errors.As(err, &fe) && fe.Field == "id"
}

func otherKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A server whose key is not the pinned one is refused, and the refusal
// is recorded as a security matter with the key it presented.
func TestDialWrongHostKey(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	rec := &collector{}
	cfg := s.config()
	cfg.HostKeyCallback = sftpaudit.HostKey(otherKey(t))
	c, err := sftpaudit.Dial(context.Background(), rec, s.addr, cfg, nil)
	if err == nil {
		c.Close()
		t.Fatal("Dial accepted a server whose host key is not pinned")
	}
	if !errors.Is(err, sftpaudit.ErrHostKey) || !strings.Contains(err.Error(), ssh.FingerprintSHA256(s.hostKey)) {
		t.Errorf("error = %v, want one that wraps ErrHostKey and names the key", err)
	}
	e := rec.one(t)
	if e.Severity != activitylog.SeverityError || e.Category != "security" || e.Action != "connect" {
		t.Errorf("event = %+v, want a connect with severity error, category security", e)
	}
	if e.Extra["host_key"] != ssh.FingerprintSHA256(s.hostKey) || e.Extra["error"] != err.Error() {
		t.Errorf("extra = %v, want the presented key and the error", e.Extra)
	}
	if !strings.HasPrefix(e.Message, "connect "+s.addr+" failed: ") {
		t.Errorf("message = %q", e.Message)
	}
}

func TestDialKnownHosts(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	write := func(lines ...string) string {
		f := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	host := knownhosts.Normalize(s.addr)
	for _, tc := range []struct {
		name    string
		file    string
		ok      bool
		keyErr  bool // a *knownhosts.KeyError
		unknown bool // ...for an unknown host
	}{
		{"known", write(knownhosts.Line([]string{host}, s.hostKey)), true, false, false},
		{"other key", write(knownhosts.Line([]string{host}, otherKey(t))), false, true, false},
		{"unknown host", write("# nothing"), false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb, err := sftpaudit.KnownHosts(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			cfg := s.config()
			cfg.HostKeyCallback = cb
			rec := &collector{}
			c, err := sftpaudit.Dial(context.Background(), rec, s.addr, cfg, nil)
			e := rec.one(t)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				if e.Severity != "info" {
					t.Errorf("event = %+v", e)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			var ke *knownhosts.KeyError
			if !errors.Is(err, sftpaudit.ErrHostKey) || !errors.As(err, &ke) || (len(ke.Want) == 0) != tc.unknown {
				t.Errorf("error = %v, want ErrHostKey and a *knownhosts.KeyError", err)
			}
			if e.Category != "security" || e.Severity != "error" {
				t.Errorf("event = %+v, want category security, severity error", e)
			}
		})
	}
}

func TestKnownHostsErrors(t *testing.T) {
	t.Parallel()
	if _, err := sftpaudit.KnownHosts(); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("KnownHosts() error = %v, want ErrInvalid", err)
	}
	if _, err := sftpaudit.KnownHosts(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("KnownHosts(missing) error = %v, want ErrNotExist", err)
	}
}

func TestHostKey(t *testing.T) {
	t.Parallel()
	a, b := otherKey(t), otherKey(t)
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	cb := sftpaudit.HostKey(nil, a, b)
	if err := cb("h:22", addr, a); err != nil {
		t.Errorf("first pinned key refused: %v", err)
	}
	if err := cb("h:22", addr, b); err != nil {
		t.Errorf("second pinned key refused: %v", err)
	}
	if err := cb("h:22", addr, otherKey(t)); !errors.Is(err, sftpaudit.ErrHostKey) {
		t.Errorf("other key: %v, want ErrHostKey", err)
	}
	if err := sftpaudit.HostKey()("h:22", addr, a); err == nil {
		t.Error("HostKey() with no keys accepted a key")
	}
}

// Dial refuses a configuration that would not verify the host key,
// before it connects, and says how to fix it.
func TestDialRefusesUnverifiedHostKey(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	withCallback := func(cb ssh.HostKeyCallback) *ssh.ClientConfig {
		cfg := s.config()
		cfg.HostKeyCallback = cb
		return cfg
	}
	var mu sync.Mutex
	var tofu = map[string]ssh.PublicKey{}
	for _, tc := range []struct {
		name     string
		cfg      *ssh.ClientConfig
		field    string
		security bool
	}{
		{"nil config", nil, "cfg", false},
		{"nil callback", withCallback(nil), "cfg.HostKeyCallback", true},
		{"InsecureIgnoreHostKey", withCallback(ssh.InsecureIgnoreHostKey()), "cfg.HostKeyCallback", true},
		{"accepts all", withCallback(func(string, net.Addr, ssh.PublicKey) error { return nil }), "cfg.HostKeyCallback", true},
		{"trust on first use", withCallback(func(h string, _ net.Addr, k ssh.PublicKey) error {
			mu.Lock()
			defer mu.Unlock()
			if old, ok := tofu[h]; ok && string(old.Marshal()) != string(k.Marshal()) {
				return errors.New("changed")
			}
			tofu[h] = k
			return nil
		}), "cfg.HostKeyCallback", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &collector{}
			c, err := sftpaudit.Dial(context.Background(), rec, s.addr, tc.cfg, nil)
			if err == nil {
				c.Close()
				t.Fatal("Dial accepted the config")
			}
			var fe *activitylog.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, activitylog.ErrInvalid) {
				t.Fatalf("error = %v, want a *FieldError for %s", err, tc.field)
			}
			if tc.security && !strings.Contains(err.Error(), "sftpaudit.HostKey") {
				t.Errorf("error = %q, want it to name the remedy", err)
			}
			e := rec.one(t)
			if e.Severity != "error" || (e.Category == "security") != tc.security || e.Extra["host_key"] != nil {
				t.Errorf("event = %+v, want severity error, security %v, no host key", e, tc.security)
			}
		})
	}
}

func TestDialWrongPassword(t *testing.T) {
	t.Parallel()
	s := startSSH(t)
	rec := &collector{}
	cfg := s.config()
	cfg.Auth = []ssh.AuthMethod{ssh.Password("wrong")}
	c, err := sftpaudit.Dial(context.Background(), rec, s.addr, cfg, nil)
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded with a wrong password")
	}
	if errors.Is(err, sftpaudit.ErrHostKey) {
		t.Errorf("error = %v wraps ErrHostKey", err)
	}
	e := rec.one(t)
	if e.Severity != "error" || e.Category != "" || e.Extra["host_key"] != ssh.FingerprintSHA256(s.hostKey) {
		t.Errorf("event = %+v, want severity error, no category, the verified host key", e)
	}
}

// ctx bounds the handshake: a server that accepts the connection and
// says nothing does not hold Dial beyond ctx's deadline.
func TestDialContext(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	defer wg.Wait()
	defer lis.Close()

	cfg := &ssh.ClientConfig{User: testUser, HostKeyCallback: sftpaudit.HostKey(otherKey(t))}
	rec := &collector{}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	c, err := sftpaudit.Dial(ctx, rec, lis.Addr().String(), cfg, nil)
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded against a silent server")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("Dial took %v", d)
	}
	if e := rec.one(t); e.Severity != "error" || e.Category != "" {
		t.Errorf("event = %+v", e)
	}

	// A context that is done already.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := sftpaudit.Dial(done, rec, lis.Addr().String(), cfg, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want Canceled", err)
	}
	rec.one(t)
}

func TestDialUnreachable(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	rec := &collector{}
	cfg := &ssh.ClientConfig{User: testUser, HostKeyCallback: sftpaudit.HostKey(otherKey(t))}
	if _, err := sftpaudit.Dial(context.Background(), rec, addr, cfg, nil); err == nil || !strings.HasPrefix(err.Error(), "dial sftp "+addr+": ") {
		t.Errorf("error = %v, want a dial error naming the address", err)
	}
	if e := rec.one(t); e.Severity != "error" || e.Object.ID != addr {
		t.Errorf("event = %+v", e)
	}
}

func TestNilRecorderPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if p := recover(); p == nil {
			t.Error("Dial(nil Recorder) did not panic")
		}
	}()
	sftpaudit.Dial(context.Background(), nil, "127.0.0.1:1", nil, nil)
}
