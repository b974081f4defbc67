package forward_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/forward"
)

// esServer is a local _bulk endpoint with Elasticsearch's create
// semantics: a document is stored under its _id once, and a second
// create answers 409. fail, when set, decides a status for an item
// before that.
type esServer struct {
	*httptest.Server
	mu       sync.Mutex
	docs     map[string]map[string]any // index/_id → doc
	creates  int
	requests [][]byte
	auth     []string
	fail     func(id string) (status int, typ string)
}

func newESServer(t *testing.T) *esServer {
	s := &esServer{docs: map[string]map[string]any{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/_bulk" {
			t.Errorf("got %s %s, want POST /_bulk", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("Content-Type %q", ct)
		}
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		body, _ := io.ReadAll(r.Body)
		s.requests = append(s.requests, body)
		if len(body) == 0 || body[len(body)-1] != '\n' {
			t.Errorf("bulk body does not end with a newline")
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		var items []string
		errs := false
		for sc.Scan() {
			var action map[string]struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &action); err != nil {
				t.Errorf("action line %q: %v", sc.Bytes(), err)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			a, ok := action["create"]
			if !ok || len(action) != 1 {
				t.Errorf("action %q, want create", sc.Bytes())
			}
			if !sc.Scan() {
				t.Errorf("action without a document")
				return
			}
			var doc map[string]any
			if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
				t.Errorf("document %q: %v", sc.Bytes(), err)
			}
			status, typ := 201, ""
			if s.fail != nil {
				status, typ = s.fail(a.ID)
			}
			key := a.Index + "/" + a.ID
			if status == 201 {
				if _, dup := s.docs[key]; dup {
					status, typ = 409, "version_conflict_engine_exception"
				} else {
					s.docs[key] = doc
					s.creates++
				}
			}
			item := fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"status":%d`, a.Index, a.ID, status)
			if typ != "" {
				errs = true
				item += fmt.Sprintf(`,"error":{"type":%q,"reason":"[%s]: it failed"}`, typ, a.ID)
			}
			items = append(items, item+"}}")
		}
		fmt.Fprintf(w, `{"took":3,"errors":%t,"items":[%s]}`, errs, strings.Join(items, ","))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestElasticFormat(t *testing.T) {
	t.Parallel()
	srv := newESServer(t)
	w, err := forward.NewElasticBulk(srv.URL, &forward.ElasticOptions{Index: "audit-trail", APIKey: "a2V5OnNlY3JldA=="})
	if err != nil {
		t.Fatal(err)
	}
	e := fixture()
	if err := w.Write(context.Background(), []activitylog.Event{e}); err != nil {
		t.Fatal(err)
	}
	golden(t, "elastic.golden", srv.requests[0])
	if srv.auth[0] != "ApiKey a2V5OnNlY3JldA==" {
		t.Errorf("Authorization %q", srv.auth[0])
	}
	doc := srv.docs["audit-trail/"+e.ID.String()]
	if doc == nil || doc["id"] != e.ID.String() || doc["message"] != e.Message {
		t.Errorf("stored %v", doc)
	}
}

func TestElasticConflictIsSuccess(t *testing.T) {
	t.Parallel()
	srv := newESServer(t)
	w, _ := forward.NewElasticBulk(srv.URL, nil)
	es := batch(5)
	if err := w.Write(context.Background(), es[:3]); err != nil {
		t.Fatal(err)
	}
	// The same events again, and two new: 409 for three items is success.
	if err := w.Write(context.Background(), es); err != nil {
		t.Fatalf("a batch whose items are already stored (409) failed: %v", err)
	}
	if srv.creates != 5 || len(srv.docs) != 5 {
		t.Errorf("%d creates, %d docs; want 5, 5", srv.creates, len(srv.docs))
	}
}

func TestElasticItemErrorNamesItem(t *testing.T) {
	t.Parallel()
	srv := newESServer(t)
	es := batch(4)
	srv.fail = func(id string) (int, string) {
		if id == es[2].ID.String() {
			return 400, "mapper_parsing_exception"
		}
		return 201, ""
	}
	w, _ := forward.NewElasticBulk(srv.URL, nil)
	err := w.Write(context.Background(), es)
	if err == nil {
		t.Fatal("a batch with a refused item succeeded")
	}
	want := "item 2 (id " + es[2].ID.String() + "): status 400: mapper_parsing_exception"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "1 of 4 failed") {
		t.Errorf("error %q does not name %q", err, want)
	}
	if errors.Is(err, activitylog.ErrUnavailable) || errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("a 400 item wraps a category it should not: %v", err)
	}
}

// A bulk request is not atomic; a retry after a partial failure
// converges to every event stored exactly once.
func TestElasticRetryConverges(t *testing.T) {
	t.Parallel()
	srv := newESServer(t)
	es := batch(6)
	var once sync.Map
	srv.fail = func(id string) (int, string) {
		if id == es[1].ID.String() || id == es[4].ID.String() {
			if _, done := once.LoadOrStore(id, true); !done {
				return 429, "es_rejected_execution_exception"
			}
		}
		return 201, ""
	}
	w, _ := forward.NewElasticBulk(srv.URL, nil)
	err := w.Write(context.Background(), es)
	if !errors.Is(err, activitylog.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable for 429 items", err)
	}
	if srv.creates != 4 {
		t.Fatalf("%d creates after the partial failure, want 4", srv.creates)
	}
	if err := w.Write(context.Background(), es); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if srv.creates != 6 || len(srv.docs) != 6 {
		t.Errorf("%d creates, %d docs after the retry; want 6, 6 (exactly once)", srv.creates, len(srv.docs))
	}
}

func TestElasticSplitsLargeBatch(t *testing.T) {
	t.Parallel()
	srv := newESServer(t)
	const max = 3000
	w, _ := forward.NewElasticBulk(srv.URL+"/", &forward.ElasticOptions{MaxBatchBytes: max})
	es := batch(20)
	if err := w.Write(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	if len(srv.requests) < 2 {
		t.Fatalf("%d requests, want a split batch", len(srv.requests))
	}
	for i, b := range srv.requests {
		if len(b) > max {
			t.Errorf("request %d has %d bytes, more than %d", i, len(b), max)
		}
	}
	if len(srv.docs) != 20 {
		t.Errorf("%d docs, want 20", len(srv.docs))
	}
}

func TestElasticHTTPErrors(t *testing.T) {
	t.Parallel()
	var status int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"type":"security_exception","reason":"unable to authenticate with %s"},"status":%d}`, r.Header.Get("Authorization"), status)
	}))
	defer srv.Close()
	w, _ := forward.NewElasticBulk(srv.URL, &forward.ElasticOptions{Username: "elastic", Password: "hunter2-secret"})
	status = 401
	err := w.Write(context.Background(), batch(1))
	if err == nil || errors.Is(err, activitylog.ErrUnavailable) || !strings.Contains(err.Error(), "status 401: security_exception") {
		t.Errorf("401: got %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "ZWxhc3RpYzpodW50ZXIy") {
		t.Errorf("error shows the credentials: %v", err)
	}
	status = 503
	if err := w.Write(context.Background(), batch(1)); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("503: got %v, want ErrUnavailable", err)
	}
}
