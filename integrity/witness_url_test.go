package integrity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// witnessServer is a URL witness endpoint on 127.0.0.1: POST appends
// the body to its lines, GET returns them.
type witnessServer struct {
	mu       sync.Mutex
	lines    bytes.Buffer
	posts    int
	gets     int
	lastAuth string
	lastType string
	fail     int // answer this status instead, when not 0
	srv      *httptest.Server
}

func newWitnessServer(t *testing.T) *witnessServer {
	ws := &witnessServer{}
	ws.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws.mu.Lock()
		defer ws.mu.Unlock()
		ws.lastAuth = r.Header.Get("Authorization")
		if ws.fail != 0 {
			http.Error(w, "no", ws.fail)
			return
		}
		switch r.Method {
		case http.MethodPost:
			ws.posts++
			ws.lastType = r.Header.Get("Content-Type")
			b, _ := io.ReadAll(r.Body)
			ws.lines.Write(b)
			w.WriteHeader(http.StatusCreated)
		case http.MethodGet:
			ws.gets++
			ws.lastType = r.Header.Get("Accept")
			w.Header().Set("Content-Type", WitnessContentType)
			w.Write(ws.lines.Bytes())
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
	t.Cleanup(ws.srv.Close)
	return ws
}

func TestURLWitnessWriteAndRead(t *testing.T) {
	tr := buildTrail(t, 30, 10, 0, false)
	ws := newWitnessServer(t)
	w, err := NewURLWitness(ws.srv.URL+"/witness?k=v", &URLWitnessOptions{Token: "s3cret-token"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cp := range tr.witness {
		if err := w.Write(ctx, cp); err != nil {
			t.Fatal(err)
		}
	}
	if ws.posts != len(tr.witness) || ws.lastAuth != "Bearer s3cret-token" || ws.lastType != WitnessContentType {
		t.Errorf("%d posts, Authorization %q, Content-Type %q", ws.posts, ws.lastAuth, ws.lastType)
	}
	// The body is the file witness's line, byte for byte.
	var want bytes.Buffer
	for _, cp := range tr.witness {
		b, _ := json.Marshal(cp)
		want.Write(append(b, '\n'))
	}
	if !bytes.Equal(ws.lines.Bytes(), want.Bytes()) {
		t.Errorf("bodies:\n%s\nwant the witness file's lines:\n%s", ws.lines.Bytes(), want.Bytes())
	}

	got, err := ReadWitnessURL(ctx, ws.srv.URL+"/witness?k=v", "s3cret-token")
	if err != nil {
		t.Fatal(err)
	}
	if ws.gets != 1 || ws.lastAuth != "Bearer s3cret-token" || ws.lastType != WitnessContentType {
		t.Errorf("%d gets, Authorization %q, Accept %q", ws.gets, ws.lastAuth, ws.lastType)
	}
	if len(got) != len(tr.witness) {
		t.Fatalf("read back %d checkpoints, want %d", len(got), len(tr.witness))
	}
	for i, cp := range got {
		if !bytes.Equal(cp.Body(), tr.witness[i].Body()) || cp.Verify(testPub) != nil {
			t.Errorf("checkpoint %d read back differs or does not verify", i)
		}
	}
	if s := w.String(); strings.Contains(s, "k=v") || s != ws.srv.URL+"/witness" {
		t.Errorf("String() = %q, want the URL without its query", s)
	}

	// Without a token: no Authorization header at all.
	w2, _ := NewURLWitness(ws.srv.URL, nil)
	if err := w2.Write(ctx, tr.witness[0]); err != nil || ws.lastAuth != "" {
		t.Errorf("Write without a token: %v, Authorization %q", err, ws.lastAuth)
	}
}

func TestURLWitnessFailures(t *testing.T) {
	tr := buildTrail(t, 10, 10, 0, false)
	cp := tr.witness[0]
	ctx := context.Background()

	t.Run("500", func(t *testing.T) {
		ws := newWitnessServer(t)
		ws.fail = http.StatusInternalServerError
		w, _ := NewURLWitness(ws.srv.URL, &URLWitnessOptions{Token: "tok"})
		err := w.Write(ctx, cp)
		if !errors.Is(err, activitylog.ErrUnavailable) || !strings.Contains(err.Error(), "500 Internal Server Error") {
			t.Errorf("Write = %v, want ErrUnavailable naming the status", err)
		}
		if _, err := ReadWitnessURL(ctx, ws.srv.URL, "tok"); !errors.Is(err, activitylog.ErrUnavailable) || !strings.Contains(err.Error(), "500") {
			t.Errorf("ReadWitnessURL = %v", err)
		}
		if strings.Contains(err.Error(), "tok") {
			t.Errorf("the error shows the token: %v", err)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		w, _ := NewURLWitness("http://"+addr+"/w?secret=1", nil)
		err = w.Write(ctx, cp)
		if !errors.Is(err, activitylog.ErrUnavailable) {
			t.Errorf("Write = %v, want ErrUnavailable", err)
		}
		if err != nil && strings.Contains(err.Error(), "secret=1") {
			t.Errorf("the error shows the URL's query: %v", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		defer srv.Close()
		defer close(release)
		w, _ := NewURLWitness(srv.URL, &URLWitnessOptions{Timeout: 50 * time.Millisecond})
		if err := w.Write(ctx, cp); !errors.Is(err, activitylog.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Write = %v, want ErrUnavailable and the deadline", err)
		}
	})

	t.Run("redirect", func(t *testing.T) {
		// The target sits on another host (localhost, not 127.0.0.1):
		// it must never see the token, nor the checkpoint.
		other := newWitnessServer(t)
		otherURL := strings.Replace(other.srv.URL, "127.0.0.1", "localhost", 1)
		var samePosts int
		src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/same":
				http.Redirect(w, r, "/final", http.StatusTemporaryRedirect)
			case "/final":
				samePosts++
				if r.Header.Get("Authorization") != "Bearer tok" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Write(nil)
			default:
				http.Redirect(w, r, otherURL+"/w", http.StatusTemporaryRedirect)
			}
		}))
		defer src.Close()
		w, _ := NewURLWitness(src.URL+"/away", &URLWitnessOptions{Token: "tok"})
		err := w.Write(ctx, cp)
		if !errors.Is(err, activitylog.ErrUnavailable) || !strings.Contains(err.Error(), "307") || !strings.Contains(err.Error(), "not followed") {
			t.Errorf("Write to a redirect = %v, want ErrUnavailable naming 307", err)
		}
		// A POST follows no redirect, even to its own host.
		w, _ = NewURLWitness(src.URL+"/same", &URLWitnessOptions{Token: "tok"})
		if err := w.Write(ctx, cp); err == nil || samePosts != 0 {
			t.Errorf("Write followed a redirect on the same host: %v, %d", err, samePosts)
		}
		if _, err := ReadWitnessURL(ctx, src.URL+"/away", "tok"); err == nil || !strings.Contains(err.Error(), "not followed") {
			t.Errorf("ReadWitnessURL through a redirect to another host = %v", err)
		}
		if other.posts+other.gets != 0 || other.lastAuth != "" {
			t.Errorf("the other host was reached: %d posts, %d gets, Authorization %q", other.posts, other.gets, other.lastAuth)
		}
		// A GET follows a redirect on the same host, token and all.
		if _, err := ReadWitnessURL(ctx, src.URL+"/same", "tok"); err != nil || samePosts != 1 {
			t.Errorf("ReadWitnessURL through a same-host redirect = %v (%d requests at /final)", err, samePosts)
		}
	})

	t.Run("bad line", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := json.Marshal(cp)
			fmt.Fprintf(w, "%s\nnot json\n", b)
		}))
		defer srv.Close()
		if _, err := ReadWitnessURL(ctx, srv.URL, ""); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ReadWitnessURL of a bad body = %v, want line 2 named", err)
		}
	})
}

func TestNewURLWitnessRefuses(t *testing.T) {
	for _, tc := range []struct {
		url, token, want string
	}{
		{"ftp://example.com/w", "", `witness url "ftp://example.com/w": must be an http:// or https:// URL`},
		{"/var/witness", "", "must be an http:// or https:// URL"},
		{"http://", "", "has no host"},
		{"https://ann:pw@example.com/w", "", "must not hold a user or password"},
		{"http://example.com/w", "tk-9Zq", "would cross the network in the clear"},
		{"https://example.com/w", "tk 9Zq", "printable ASCII"},
		{"http://[::1", "", "is not a URL"},
		// A password with a '/', '?' or '#' in it ends the authority
		// early: url.Parse reads the rest as port, path, query or fragment.
		{"https://u:12/s3cr3tpw@h/w", "", `witness url "REDACTED": holds an '@' outside a user and password`},
		{"https://u:12?s3cr3tpw@h/w", "", `witness url "REDACTED": holds an '@'`},
		{"https://u:12#s3cr3tpw@h/w", "", `witness url "REDACTED": holds an '@'`},
		// url.Parse quotes a piece of the password in its error.
		{"https://u:s3cr3tpw/x@h/w", "", `witness url "REDACTED": is not a URL: invalid port after host`},
		{"https://u:pw%zz@h/w", "", `witness url "REDACTED": is not a URL: invalid URL escape`},
		{"https://h:99x/w", "", `witness url "https://h:99x/w": is not a URL: invalid port after host`},
		{"http://[::1/w?token=s3cr3tpw", "", `witness url "http://[::1/w": is not a URL`},
	} {
		_, err := NewURLWitness(tc.url, &URLWitnessOptions{Token: tc.token})
		if !errors.Is(err, activitylog.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewURLWitness(%q, %q) = %v, want %q", tc.url, tc.token, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "cr3t") || tc.token != "" && strings.Contains(err.Error(), tc.token)) {
			t.Errorf("the error shows a secret: %v", err)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:9/w", "http://localhost/w", "http://[::1]:8/w", "https://example.com/w"} {
		if _, err := NewURLWitness(ok, &URLWitnessOptions{Token: "tok"}); err != nil {
			t.Errorf("NewURLWitness(%q) with a token = %v", ok, err)
		}
	}
}
