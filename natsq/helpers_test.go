package natsq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	envURL    = "ACTIVITYLOG_TEST_NATS_URL"
	envServer = "ACTIVITYLOG_TEST_NATS_SERVER"
)

// sharedNATS connects to the shared server, or skips.
func sharedNATS(t testing.TB) *nats.Conn {
	t.Helper()
	url := os.Getenv(envURL)
	if url == "" {
		t.Skip("set " + envURL + "=nats://127.0.0.1:4222 to run against a real NATS server")
	}
	nc, err := nats.Connect(url, nats.Name(t.Name()))
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func suffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// names returns a stream name and subject prefix of its own for a test,
// and deletes the stream at cleanup.
func names(t testing.TB, nc *nats.Conn) (stream, prefix string) {
	s := suffix()
	stream, prefix = "T_"+s, "t"+s
	t.Cleanup(func() {
		if nc.IsClosed() {
			return
		}
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, stream)
	})
	return stream, prefix
}

// server is a private nats-server process that a test may kill and
// restart.
type server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
}

func privateServer(t testing.TB) *server {
	t.Helper()
	bin := os.Getenv(envServer)
	if bin == "" {
		t.Skip("set " + envServer + "=/usr/sbin/nats-server to run the fault tests on a private NATS server")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &server{t: t, bin: bin, port: port, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) url() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

func (s *server) start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-js", "-sd", s.dir)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.bin, err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		nc, err := nats.Connect(s.url())
		if err == nil {
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
			if err == nil {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("nats-server on %s did not start", s.url())
}

// stop ends the server with SIGTERM and waits for it.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// connect returns a connection that reconnects forever and does not
// buffer while disconnected.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := Connect(url, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newJS(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func events(n int) []activitylog.Event {
	out := make([]activitylog.Event, n)
	now := time.Now().UTC()
	for i := range out {
		out[i] = activitylog.Event{
			ID:       activitylog.NewID(now),
			Time:     now,
			Kind:     activitylog.Kinds[i%len(activitylog.Kinds)],
			Action:   "create",
			Severity: activitylog.SeverityInfo,
			Message:  "event " + strconv.Itoa(i),
			Actor:    activitylog.Actor{ID: "u" + strconv.Itoa(i%7), Type: activitylog.ActorUser},
		}
		switch out[i].Kind {
		case activitylog.KindAuth:
			out[i].Action = "login"
		case activitylog.KindSystem:
			out[i].Action = "warning"
		}
	}
	return out
}

// memStore is an idempotent in-memory store that counts how often each
// id was written and can fail or block on demand.
type memStore struct {
	mu      sync.Mutex
	stored  map[activitylog.ID]activitylog.Event
	writes  map[activitylog.ID]int // ids in committed writes, duplicates included
	commits int

	fail  func() error           // when it returns an error, Write fails
	block func(n int) chan error // when it returns a channel, Write waits on it
}

func newMemStore() *memStore {
	return &memStore{stored: map[activitylog.ID]activitylog.Event{}, writes: map[activitylog.ID]int{}}
}

func (s *memStore) Write(ctx context.Context, events []activitylog.Event) error {
	s.mu.Lock()
	fail, block := s.fail, s.block
	s.mu.Unlock()
	if fail != nil {
		if err := fail(); err != nil {
			return err
		}
	}
	if block != nil {
		if ch := block(len(events)); ch != nil {
			select {
			case err := <-ch:
				if err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		s.writes[e.ID]++
		if _, ok := s.stored[e.ID]; !ok {
			s.stored[e.ID] = e
		}
	}
	s.commits++
	return nil
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.stored)
}

func (s *memStore) has(id activitylog.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.stored[id]
	return ok
}

// fakeSpool is an in-memory Spool for these tests only: the real one,
// on disk, is package spool's.
type fakeSpool struct {
	mu      sync.Mutex
	batches [][]activitylog.Event
}

func (s *fakeSpool) Write(ctx context.Context, events []activitylog.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, append([]activitylog.Event(nil), events...))
	return nil
}

func (s *fakeSpool) Replay(ctx context.Context, w activitylog.Writer) (int, error) {
	n := 0
	for {
		s.mu.Lock()
		if len(s.batches) == 0 {
			s.mu.Unlock()
			return n, nil
		}
		b := s.batches[0]
		s.mu.Unlock()
		if err := w.Write(ctx, b); err != nil {
			return n, err
		}
		s.mu.Lock()
		s.batches = s.batches[1:]
		s.mu.Unlock()
		n += len(b)
	}
}

func (s *fakeSpool) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.batches {
		n += len(b)
	}
	return n
}

// eventually polls cond every 20ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runWorker runs w until the test ends and returns a func that stops it
// and waits.
func runWorker(t testing.TB, w *Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// checkExactlyOnce fails unless every one of want is stored, each once,
// and nothing else was written.
func checkExactlyOnce(t testing.TB, s *memStore, want []activitylog.Event) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	missing := 0
	for _, e := range want {
		if _, ok := s.stored[e.ID]; !ok {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events are not stored", missing, len(want))
	}
	if len(s.stored) != len(want) {
		t.Errorf("store holds %d events, want %d", len(s.stored), len(want))
	}
}

var errStoreDown = errors.New("store down")

func fmtStats(v any) string { return fmt.Sprintf("%+v", v) }
