package integrityhttp

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// blockingStore holds each verification in its first read of the
// chains until release is closed (or its context ends), and counts the
// verifications.
type blockingStore struct {
	*sqlite.Store
	runs    atomic.Int32
	entered chan struct{} // one send per verification that reached the store
	release chan struct{}
}

func (s *blockingStore) Chains(ctx context.Context) ([]integrity.ChainInfo, error) {
	s.runs.Add(1)
	s.entered <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.Chains(ctx)
}

func newBlocking(t *testing.T) (*Service, *blockingStore, http.Handler) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(st, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), storetest.Fixture(20)); err != nil {
		t.Fatal(err)
	}
	bs := &blockingStore{Store: st, entered: make(chan struct{}, 10), release: make(chan struct{})}
	svc, err := New(bs, &Options{PublicKeys: []ed25519.PublicKey{pub}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	root := &activitylog.Principal{ID: "root", Permissions: []activitylog.Permission{activitylog.Superuser}}
	h := server.New(st, nil, &server.Options{
		Authenticate: func(*http.Request) (*activitylog.Principal, error) { return root, nil },
		Logger:       slog.New(slog.DiscardHandler),
		Routes:       svc.Routes(),
	})
	return svc, bs, h
}

func (s *Service) waiters() int {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	if s.running == nil {
		return 0
	}
	return s.running.waiters
}

// One verification runs at a time: a caller asking for the same one
// shares its report, a caller asking for another gets 429 with
// Retry-After, and the store is read once.
func TestVerifyOneAtATime(t *testing.T) {
	svc, bs, h := newBlocking(t)
	do := func(ctx context.Context, url string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequestWithContext(ctx, "GET", url, nil))
		return w
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	answers := make([]*httptest.ResponseRecorder, 2)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = do(ctx, "/api/v1/integrity/verify?kind=crud,auth")
		}()
		if i == 0 {
			<-bs.entered
		}
	}
	for svc.waiters() != 2 {
		runtime.Gosched()
	}
	// Other parameters (the same kinds, in another order, are the same).
	busy := do(ctx, "/api/v1/integrity/verify?kind=crud")
	if busy.Code != http.StatusTooManyRequests || busy.Header().Get("Retry-After") == "" {
		t.Fatalf("a verification with other parameters: %d, Retry-After %q: %s", busy.Code, busy.Header().Get("Retry-After"), busy.Body)
	}
	if n, err := strconv.Atoi(busy.Header().Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("Retry-After %q", busy.Header().Get("Retry-After"))
	}
	close(bs.release)
	wg.Wait()
	for i, w := range answers {
		if w.Code != 200 {
			t.Fatalf("caller %d: %d %s", i, w.Code, w.Body)
		}
	}
	if answers[0].Body.String() != answers[1].Body.String() {
		t.Fatal("the two callers got different reports")
	}
	if n := bs.runs.Load(); n != 1 {
		t.Fatalf("%d verifications ran, want 1", n)
	}
	// Done: the next caller runs a new one.
	if w := do(ctx, "/api/v1/integrity/verify?kind=crud"); w.Code != 200 || bs.runs.Load() != 2 {
		t.Fatalf("after: %d, %d runs", w.Code, bs.runs.Load())
	}
}

// When every caller has gone, the verification is cancelled, and the
// next caller starts a new one.
func TestVerifyCancelledWhenAllLeave(t *testing.T) {
	svc, bs, h := newBlocking(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, "GET", "/api/v1/integrity/verify", nil))
	}()
	<-bs.entered
	cancel()
	<-done
	// The run ends once its store read sees the cancellation.
	for {
		svc.vmu.Lock()
		r := svc.running
		svc.vmu.Unlock()
		if r == nil {
			break
		}
		<-r.done
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("the abandoned run ended with %v, want context.Canceled", r.err)
		}
	}
	close(bs.release)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/integrity/verify", nil))
	if w.Code != 200 || bs.runs.Load() != 2 {
		t.Fatalf("next caller: %d, %d runs: %s", w.Code, bs.runs.Load(), w.Body)
	}
}

// With MaxProofs proofs under way, one more is refused with 429 and
// Retry-After, and served again once one ends.
func TestProofsBounded(t *testing.T) {
	svc, bs, h := newBlocking(t)
	close(bs.release)
	cps, err := bs.Checkpoints(context.Background(), bs.chainID(t))
	if err != nil || len(cps) == 0 {
		t.Fatal(err, len(cps))
	}
	url := "/api/v1/integrity/consistency?chain=" + cps[0].Chain + "&from=" + strconv.FormatUint(cps[0].ToSeq, 10) + "&to=" + strconv.FormatUint(cps[0].ToSeq, 10)
	var releases []func()
	for range cap(svc.proofs) {
		r, err := svc.acquireProof()
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", url, nil))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the bound: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	releases[0]()
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", url, nil))
	if w.Code != 200 {
		t.Fatalf("after one ended: %d %s", w.Code, w.Body)
	}
}

// chainID is the id of the store's one chain.
func (s *blockingStore) chainID(t *testing.T) string {
	t.Helper()
	cs, err := s.Store.Chains(context.Background())
	if err != nil || len(cs) != 1 {
		t.Fatal(err, cs)
	}
	return cs[0].ID
}
