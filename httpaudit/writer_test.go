package httpaudit_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/activitylog/activitylog/httpaudit"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    int
	}{
		{"default", func(w http.ResponseWriter, r *http.Request) {}, 200},
		{"write without WriteHeader", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }, 200},
		{"explicit", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }, 202},
		{"first WriteHeader wins", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			w.WriteHeader(http.StatusInternalServerError)
		}, 201},
		{"WriteHeader after Write", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("x"))
			w.WriteHeader(http.StatusInternalServerError)
		}, 200},
		{"informational is not final", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusConflict)
		}, 409},
		{"informational then nothing", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusContinue) }, 200},
		{"101 is final", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusSwitchingProtocols)
			w.WriteHeader(http.StatusOK)
		}, 101},
		{"flush before write", func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			w.WriteHeader(http.StatusTeapot)
		}, 200},
		{"WriteString", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") }, 200},
		{"ReadFrom", func(w http.ResponseWriter, r *http.Request) { w.(io.ReaderFrom).ReadFrom(strings.NewReader("x")) }, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, _ := serve(t, nil, tt.handler, httptest.NewRequest("GET", "/", nil))
			if got.Response.Status != tt.want {
				t.Errorf("status %d, want %d", got.Response.Status, tt.want)
			}
		})
	}
}

// Over a real server, a 103 Early Hints reaches the client as
// informational and the final status is the one recorded.
func TestEarlyHintsOverServer(t *testing.T) {
	t.Parallel()
	c := newCollector()
	srv := httptest.NewServer(httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusAccepted)
	})))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.wait(t)
	if got := c.one(t).Response.Status; got != 202 || resp.StatusCode != 202 {
		t.Errorf("recorded %d, client got %d; want 202", got, resp.StatusCode)
	}
}

// nopWriter is a ResponseWriter with none of the optional interfaces.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

func TestResponseBytes(t *testing.T) {
	t.Parallel()
	// iotest.OneByteReader hides strings.Reader's WriteTo, so io.Copy
	// takes the writer's ReadFrom.
	payload := strings.Repeat("0123456789", 1000)
	handlers := map[string]http.HandlerFunc{
		"Write": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(payload[:5000]))
			w.Write([]byte(payload[5000:]))
		},
		"WriteString": func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, payload) },
		"io.Copy": func(w http.ResponseWriter, r *http.Request) {
			io.Copy(w, iotest.OneByteReader(strings.NewReader(payload)))
		},
		"ReadFrom": func(w http.ResponseWriter, r *http.Request) { w.(io.ReaderFrom).ReadFrom(strings.NewReader(payload)) },
	}
	writers := map[string]func() http.ResponseWriter{
		"ResponseRecorder": func() http.ResponseWriter { return httptest.NewRecorder() }, // no ReadFrom
		"bare writer":      func() http.ResponseWriter { return &nopWriter{} },           // neither ReadFrom nor WriteString
	}
	for hname, h := range handlers {
		for wname, newWriter := range writers {
			t.Run(hname+"/"+wname, func(t *testing.T) {
				t.Parallel()
				c := newCollector()
				w := newWriter()
				httpaudit.Middleware(c, nil)(h).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
				if got := c.one(t).Response.ResponseBytes; got != int64(len(payload)) {
					t.Errorf("ResponseBytes %d, want %d", got, len(payload))
				}
				if rr, ok := w.(*httptest.ResponseRecorder); ok && rr.Body.String() != payload {
					t.Errorf("body of %d bytes, want the %d-byte payload", rr.Body.Len(), len(payload))
				}
			})
		}
	}
}

// A file served with io.Copy goes through net/http's ReadFrom (sendfile
// where the platform has it) and is counted.
func TestReadFromOverServer(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat("x", 100_000)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	srv := httptest.NewServer(httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Length", "100000")
		if _, err := io.Copy(w, f); err != nil {
			t.Error(err)
		}
	})))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.wait(t)
	if got := c.one(t).Response.ResponseBytes; got != int64(len(payload)) || string(body) != payload {
		t.Errorf("ResponseBytes %d, client read %d; want %d", got, len(body), len(payload))
	}
}

func TestWrapperInterfaces(t *testing.T) {
	t.Parallel()
	under := httptest.NewRecorder()
	httpaudit.Middleware(newCollector(), nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			t.Error("wrapper is not an http.Flusher")
		}
		if _, ok := w.(http.Hijacker); !ok {
			t.Error("wrapper is not an http.Hijacker")
		}
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("wrapper is not an io.ReaderFrom")
		}
		if _, ok := w.(io.StringWriter); !ok {
			t.Error("wrapper is not an io.StringWriter")
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok || u.Unwrap() != under {
			t.Error("wrapper's Unwrap does not return the writer it wraps")
		}
	})).ServeHTTP(under, httptest.NewRequest("GET", "/", nil))
}

// What the wrapped writer cannot do is reported as http.ErrNotSupported,
// and Flush by type assertion does nothing.
func TestNotSupported(t *testing.T) {
	t.Parallel()
	c := newCollector()
	httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := w.(http.Hijacker).Hijack(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("Hijack: %v, want ErrNotSupported", err)
		}
		rc := http.NewResponseController(w)
		if _, _, err := rc.Hijack(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("ResponseController.Hijack: %v, want ErrNotSupported", err)
		}
		if err := rc.Flush(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("ResponseController.Flush: %v, want ErrNotSupported", err)
		}
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("ResponseController.SetWriteDeadline: %v, want ErrNotSupported", err)
		}
		w.(http.Flusher).Flush()
		w.WriteHeader(http.StatusTeapot) // a failed flush did not fix the status
	})).ServeHTTP(&nopWriter{}, httptest.NewRequest("GET", "/", nil))
	if got := c.one(t).Response.Status; got != http.StatusTeapot {
		t.Errorf("status %d, want 418", got)
	}
}

// Flushing through the wrapper reaches the client before the handler
// returns: the handler waits for the client to read the first chunk.
func TestFlushStreaming(t *testing.T) {
	t.Parallel()
	flushes := map[string]func(t *testing.T, w http.ResponseWriter){
		"type assertion": func(t *testing.T, w http.ResponseWriter) {
			f, ok := w.(http.Flusher)
			if !ok {
				t.Fatal("not a Flusher")
			}
			f.Flush()
		},
		"ResponseController": func(t *testing.T, w http.ResponseWriter) {
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Error(err)
			}
		},
	}
	for name, flush := range flushes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCollector()
			clientGotFirst := make(chan struct{})
			srv := httptest.NewServer(httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "first\n")
				flush(t, w)
				select {
				case <-clientGotFirst:
				case <-time.After(10 * time.Second):
					t.Error("client did not get the first chunk: flush did not reach it")
					return
				}
				io.WriteString(w, "second\n")
			})))
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			if line, err := br.ReadString('\n'); line != "first\n" {
				t.Fatalf("first line %q, %v", line, err)
			}
			close(clientGotFirst)
			if line, err := br.ReadString('\n'); line != "second\n" {
				t.Fatalf("second line %q, %v", line, err)
			}
			c.wait(t)
			if got := c.one(t).Response; got.Status != 200 || got.ResponseBytes != 13 {
				t.Errorf("status %d bytes %d, want 200 and 13", got.Status, got.ResponseBytes)
			}
		})
	}
}

// A handler hijacks the connection and speaks a protocol of its own, as
// a WebSocket upgrade does. The request is recorded with status 101;
// the raw bytes written to the connection are not counted.
func TestHijackOverServer(t *testing.T) {
	t.Parallel()
	c := newCollector()
	srv := httptest.NewServer(httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("not a Hijacker")
			return
		}
		conn, brw, err := hj.Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		conn.Write([]byte("echo: " + line))
	})))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("client got %d, want 101", resp.StatusCode)
	}
	io.WriteString(conn, "hello\n")
	if line, _ := br.ReadString('\n'); line != "echo: hello\n" {
		t.Errorf("client read %q after the upgrade", line)
	}
	c.wait(t)
	got := c.one(t)
	if got.Response.Status != 101 || got.Response.ResponseBytes != 0 || got.Request.Path != "/ws" {
		t.Errorf("status %d bytes %d path %q, want 101, 0, /ws", got.Response.Status, got.Response.ResponseBytes, got.Request.Path)
	}
}

// http.ResponseController reaches the connection through the wrapper's
// Unwrap: deadlines and full duplex work, and a write deadline in the
// past makes the next flush fail.
func TestResponseControllerThroughWrapper(t *testing.T) {
	t.Parallel()
	c := newCollector()
	srv := httptest.NewServer(httpaudit.Middleware(c, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetReadDeadline: %v", err)
		}
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex: %v", err)
		}
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		io.WriteString(w, "ok\n")
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		if r.URL.Query().Has("expire") {
			if err := rc.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
			}
			w.Write(make([]byte, 64<<10))
			if err := rc.Flush(); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Flush after the write deadline: %v, want os.ErrDeadlineExceeded", err)
			}
		}
	})))
	defer srv.Close()
	for _, target := range []string{"/", "/?expire"} {
		resp, err := srv.Client().Get(srv.URL + target)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.wait(t)
	}
}
