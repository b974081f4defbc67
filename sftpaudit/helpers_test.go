package sftpaudit_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sftpaudit"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// TestMain fails the run when goroutines started by the tests (servers,
// sessions, clients) outlive them.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if f := flag.Lookup("test.fuzz"); code == 0 && (f == nil || f.Value.String() == "") {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "%d goroutines leaked:\n%s\n", n-before, buf)
			code = 1
		}
	}
	os.Exit(code)
}

const (
	testUser     = "alice"
	testPassword = "secret"
)

// sshServer is an SSH server on 127.0.0.1 that serves the sftp
// subsystem over a temporary directory. It stops, and waits for every
// goroutine it started, when the test ends.
type sshServer struct {
	addr    string
	hostKey ssh.PublicKey
	root    string // the directory relative paths are served from
}

func startSSH(t *testing.T) *sshServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == testUser && string(pw) == testPassword {
				return nil, nil
			}
			return nil, errors.New("password rejected")
		},
	}
	cfg.AddHostKey(signer)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshServer{addr: lis.Addr().String(), hostKey: signer.PublicKey(), root: t.TempDir()}

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serveConn(c, cfg, &wg)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *sshServer) serveConn(c net.Conn, cfg *ssh.ServerConfig, wg *sync.WaitGroup) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return // a client that refused the host key, or a wrong password
	}
	defer sc.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveSession(ch, creqs, wg)
		}()
	}
}

// serveSession serves the sftp subsystem, and refuses anything else.
func (s *sshServer) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request, wg *sync.WaitGroup) {
	defer ch.Close()
	for req := range reqs {
		// The payload is the subsystem name as an SSH string.
		if req.Type != "subsystem" || len(req.Payload) < 4 || string(req.Payload[4:]) != "sftp" {
			req.Reply(false, nil)
			continue
		}
		srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(s.root))
		if err != nil {
			req.Reply(false, nil)
			continue
		}
		req.Reply(true, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Serve()
			srv.Close() // closes ch, which ends reqs
		}()
	}
}

// config is a client config that logs in and pins the server's key.
func (s *sshServer) config() *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            testUser,
		Auth:            []ssh.AuthMethod{ssh.Password(testPassword)},
		HostKeyCallback: sftpaudit.HostKey(s.hostKey),
	}
}

// dial connects a Client that records into a new collector, and closes
// it when the test ends.
func (s *sshServer) dial(t *testing.T, opts *sftpaudit.Options) (*sftpaudit.Client, *collector) {
	t.Helper()
	rec := &collector{}
	c, err := sftpaudit.Dial(context.Background(), rec, s.addr, s.config(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rec.reset() // the connect event; tests of it dial themselves
	return c, rec
}

// collector is a Recorder that keeps what it is given.
type collector struct {
	err error // returned by every Record

	mu     sync.Mutex
	events []activitylog.Event
	ctxs   []context.Context
}

func (c *collector) Record(ctx context.Context, e activitylog.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	c.ctxs = append(c.ctxs, ctx)
	return c.err
}

func (c *collector) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events, c.ctxs = nil, nil
}

// one returns the only event recorded since the last reset, failing
// unless exactly one was, and resets.
func (c *collector) one(t *testing.T) activitylog.Event {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) != 1 {
		t.Fatalf("recorded %d events, want 1: %+v", len(c.events), c.events)
	}
	e := c.events[0]
	c.events, c.ctxs = nil, nil
	return e
}
