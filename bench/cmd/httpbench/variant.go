package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the audit table's driver, as sqlite.Store's

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// The variants, in the order of a round. Each runs as its own process
// (httpbench variant NAME ADDR DIR).
const (
	vBare      = "bare"
	vLog       = "log-line"
	vTable     = "audit-table"
	vMetadata  = "activitylog"
	vIntegrity = "activitylog-integrity"
	vBare1K    = "bare-1k"
	vBodies    = "activitylog-bodies-1k"
	// vTableDefault is the audit table with SQLite's default settings
	// (rollback journal, synchronous FULL), as a Django project gets
	// them; not in the default set (-variants).
	vTableDefault = "audit-table-sqlite-defaults"
)

// variantInfo describes a variant for the report.
type variantInfo struct {
	name     string
	baseline string // the variant its ratios are taken against
	audits   bool   // stores one event (row, line) per request
	body     bool   // POST with a 1 KB body, echoed back
	what     string
	extra    bool // run only when named in Config.Variants
}

var variants = []variantInfo{
	{vBare, vBare, false, false, "no auditing", false},
	{vLog, vBare, true, false, "one JSON line per request through slog to a file", false},
	{vTable, vBare, true, false, "synchronous INSERT into an SQLite table in the request (database/sql, modernc, WAL)", false},
	{vMetadata, vBare, true, false, "httpaudit at metadata level, Recorder, sqlite.Store", false},
	{vIntegrity, vBare, true, false, "as activitylog, through integrity.Writer (hash chain, signed checkpoints)", false},
	{vBare1K, vBare1K, false, true, "no auditing; POST 1 KB, 1 KB echoed back (the baseline of the next)", false},
	{vBodies, vBare1K, true, true, "httpaudit at request_response level, 1 KB bodies both ways, sqlite.Store", false},
	{vTableDefault, vBare, true, false, "as audit-table, but with SQLite's defaults: rollback journal, synchronous FULL", true},
}

func variantByName(name string) (variantInfo, bool) {
	for _, v := range variants {
		if v.name == name {
			return v, true
		}
	}
	return variantInfo{}, false
}

// smallBody is the answer of the GET variants.
var smallBody = []byte(`{"id":7,"status":"paid","total":"42.00"}`)

// body1K is the request body of the 1 KB variants, a JSON object of
// exactly 1024 bytes without spaces or newlines (the loadgen target
// syntax ends the body at the end of the string).
var body1K = func() []byte {
	b := []byte(`{"order":7,"note":"`)
	pad := 1024 - len(b) - len(`"}`)
	b = append(b, bytes.Repeat([]byte("x"), pad)...)
	return append(b, `"}`...)
}()

// app is the service every variant wraps: a GET answering a small JSON
// document, a POST echoing its body.
func app(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Write(b)
		return
	}
	w.Header()["Content-Type"] = []string{"application/json"}
	w.Write(smallBody)
}

// statusWriter keeps the status for the log line and the audit table.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// server is one variant's handler and what it stores into.
type server struct {
	handler http.Handler
	// flush drains what is buffered and returns how many events are
	// stored so far; nil for the variants that store nothing.
	flush func(ctx context.Context) (stored int64, lost uint64, err error)
	close func(ctx context.Context) error
}

// newServer builds the variant name, storing under dir.
func newServer(name, dir string) (*server, error) {
	h := http.HandlerFunc(app)
	switch name {
	case vBare, vBare1K:
		return &server{handler: h, close: func(context.Context) error { return nil }}, nil
	case vLog:
		return newLogLine(h, dir)
	case vTable:
		return newAuditTable(h, dir, true)
	case vTableDefault:
		return newAuditTable(h, dir, false)
	case vMetadata:
		return newActivitylog(h, dir, httpaudit.LevelMetadata, false)
	case vIntegrity:
		return newActivitylog(h, dir, httpaudit.LevelMetadata, true)
	case vBodies:
		return newActivitylog(h, dir, httpaudit.LevelRequestResponse, false)
	}
	return nil, fmt.Errorf("variant %q: unknown; want one of %s", name, variantNames())
}

func variantNames() string {
	var s []string
	for _, v := range variants {
		s = append(s, v.name)
	}
	return strings.Join(s, ", ")
}

// newLogLine writes one JSON line per request through slog to a file,
// as the log-based audit packages do.
func newLogLine(next http.Handler, dir string) (*server, error) {
	path := filepath.Join(dir, "audit.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(f, nil))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Int64("duration_us", time.Since(start).Microseconds()),
			slog.String("remote_addr", r.RemoteAddr),
			slog.String("user_agent", r.UserAgent()),
		)
	})
	return &server{
		handler: h,
		flush: func(context.Context) (int64, uint64, error) {
			// Each line was written by its request: there is nothing
			// buffered, and the file holds one line per request.
			b, err := os.ReadFile(path)
			if err != nil {
				return 0, 0, fmt.Errorf("read log file: %w", err)
			}
			return int64(bytes.Count(b, []byte{'\n'})), 0, nil
		},
		close: func(context.Context) error { return f.Close() },
	}, nil
}

// newAuditTable INSERTs one row per request into an SQLite table,
// synchronously, before the request ends: the table-based packages'
// approach. It is given the pragmas and the single write connection of
// sqlite.Store, and a prepared statement, so that it is not slower than
// it needs to be.
//
// With tuned false it keeps SQLite's defaults instead (rollback journal,
// synchronous FULL: each INSERT commits with fsyncs).
func newAuditTable(next http.Handler, dir string, tuned bool) (*server, error) {
	dsn := "file:" + filepath.Join(dir, "audit.db") + "?_pragma=busy_timeout(5000)&_txlock=immediate"
	if tuned {
		dsn += "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open audit table: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS audit_log (
		id INTEGER PRIMARY KEY,
		time TEXT NOT NULL,
		method TEXT NOT NULL,
		path TEXT NOT NULL,
		status INTEGER NOT NULL,
		duration_us INTEGER NOT NULL,
		remote_addr TEXT NOT NULL,
		user_agent TEXT NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("create audit table: %w", err)
	}
	ins, err := db.Prepare(`INSERT INTO audit_log (time, method, path, status, duration_us, remote_addr, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare audit insert: %w", err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if _, err := ins.ExecContext(context.WithoutCancel(r.Context()), start.UTC().Format(time.RFC3339Nano), r.Method, r.URL.Path,
			sw.status, time.Since(start).Microseconds(), r.RemoteAddr, r.UserAgent()); err != nil {
			fmt.Fprintf(os.Stderr, "httpbench: audit table: insert: %v\n", err)
		}
	})
	return &server{
		handler: h,
		flush: func(ctx context.Context) (int64, uint64, error) {
			var n int64
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_log`).Scan(&n); err != nil {
				return 0, 0, fmt.Errorf("count audit table: %w", err)
			}
			return n, 0, nil
		},
		close: func(context.Context) error { return errors.Join(ins.Close(), db.Close()) },
	}, nil
}

// newActivitylog wires httpaudit.Middleware, a Recorder and an
// sqlite.Store as a service would (see internal/demo and cmd/activitylog
// serve), optionally through an integrity.Writer with a signing key.
// The Recorder blocks when its queue is full, so that nothing is
// dropped and stored can be compared with sent.
func newActivitylog(next http.Handler, dir string, level httpaudit.Level, sealed bool) (*server, error) {
	store, err := sqlite.Open(filepath.Join(dir, "activitylog.db"), nil)
	if err != nil {
		return nil, err
	}
	var w activitylog.Writer = store
	var iw *integrity.Writer
	if sealed {
		_, priv, err := integrity.GenerateKey()
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("generate signing key: %w", err)
		}
		// 10s is activitylog serve's integrity_checkpoint_interval.
		iw, err = integrity.NewWriter(store, &integrity.WriterOptions{SigningKey: priv, CheckpointInterval: 10 * time.Second})
		if err != nil {
			store.Close()
			return nil, err
		}
		w = iw
	}
	rec := activitylog.NewRecorder(w, &activitylog.Options{
		Service:      "httpbench",
		OnFull:       activitylog.Block,
		BlockTimeout: time.Minute,
	})
	policy, err := httpaudit.NewPolicy(&httpaudit.PolicyOptions{Level: level})
	if err != nil {
		store.Close()
		return nil, err
	}
	h := httpaudit.Middleware(rec, &httpaudit.Options{Policy: policy, Service: "httpbench"})(next)
	var mu sync.Mutex // Flush and Shutdown of the sealer, one at a time
	return &server{
		handler: h,
		flush: func(ctx context.Context) (int64, uint64, error) {
			if err := rec.Flush(ctx); err != nil {
				return 0, 0, fmt.Errorf("flush recorder: %w", err)
			}
			if iw != nil {
				mu.Lock()
				err := iw.Flush(ctx)
				mu.Unlock()
				if err != nil {
					return 0, 0, fmt.Errorf("flush integrity writer: %w", err)
				}
			}
			n, err := store.Count(ctx, activitylog.Filter{Kind: activitylog.KindRequest})
			if err != nil {
				return 0, 0, fmt.Errorf("count events: %w", err)
			}
			st := rec.Stats()
			return n, st.Dropped + st.Refused + st.Failed, nil
		},
		close: func(ctx context.Context) error {
			return errors.Join(rec.Shutdown(ctx), store.Close())
		},
	}, nil
}

// stats is what a variant process's /_stats answers: its own CPU time
// (getrusage, microsecond resolution) and allocation count.
type stats struct {
	CPU     time.Duration `json:"cpu_ns"`
	Mallocs uint64        `json:"mallocs"`
	NumGC   uint32        `json:"num_gc"`
}

// flushResult is what /_flush answers.
type flushResult struct {
	Stored int64  `json:"stored"` // -1: the variant stores nothing
	Lost   uint64 `json:"lost"`   // dropped, refused or failed by the Recorder
}

func readStats() (stats, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return stats{}, fmt.Errorf("getrusage: %w", err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return stats{CPU: cpu, Mallocs: ms.Mallocs, NumGC: ms.NumGC}, nil
}

// runVariant is the variant subcommand: it serves the variant on addr,
// a loopback address, prints "listening http://HOST:PORT" once ready,
// and serves the control endpoints /_stats, /_flush, /_profile/start,
// /_profile/stop and /_quit beside the variant's own routes.
func runVariant(args []string, stdout, stderr io.Writer) int {
	if len(args) != 3 {
		fmt.Fprintln(stderr, "usage: httpbench variant NAME ADDR DIR")
		return 2
	}
	name, addr, dir := args[0], args[1], args[2]
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintf(stderr, "httpbench variant: addr %q: %v\n", addr, err)
		return 2
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(stderr, "httpbench variant: addr %q: host %q is not a loopback IP address\n", addr, host)
		return 2
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(stderr, "httpbench variant: dir %q: not a directory\n", dir)
		return 2
	}
	srv, err := newServer(name, dir)
	if err != nil {
		fmt.Fprintf(stderr, "httpbench variant: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "httpbench variant: listen %s: %v\n", addr, err)
		return 1
	}
	quit := make(chan struct{})
	var quitOnce sync.Once
	var profile *os.File
	control := http.NewServeMux()
	control.HandleFunc("GET /_stats", func(w http.ResponseWriter, r *http.Request) {
		s, err := readStats()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(s)
	})
	control.HandleFunc("POST /_flush", func(w http.ResponseWriter, r *http.Request) {
		fr := flushResult{Stored: -1}
		if srv.flush != nil {
			ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
			defer cancel()
			n, lost, err := srv.flush(ctx)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fr = flushResult{Stored: n, Lost: lost}
		}
		json.NewEncoder(w).Encode(fr)
	})
	control.HandleFunc("POST /_profile/start", func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Query().Get("file")
		if path == "" || profile != nil {
			http.Error(w, fmt.Sprintf("profile file %q: required, and no profile may be running", path), http.StatusBadRequest)
			return
		}
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			http.Error(w, fmt.Sprintf("start cpu profile %s: %v", path, err), http.StatusInternalServerError)
			return
		}
		profile = f
	})
	control.HandleFunc("POST /_profile/stop", func(w http.ResponseWriter, r *http.Request) {
		if profile == nil {
			http.Error(w, "no profile is running", http.StatusBadRequest)
			return
		}
		pprof.StopCPUProfile()
		err := profile.Close()
		profile = nil
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	control.HandleFunc("POST /_quit", func(w http.ResponseWriter, r *http.Request) {
		quitOnce.Do(func() { close(quit) })
	})
	top := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_") {
			control.ServeHTTP(w, r)
			return
		}
		srv.handler.ServeHTTP(w, r)
	})
	hs := &http.Server{Handler: top, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintf(stdout, "listening http://%s\n", ln.Addr())
	code := 0
	select {
	case <-quit:
	case err := <-served:
		fmt.Fprintf(stderr, "httpbench variant: serve: %v\n", err)
		code = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		fmt.Fprintf(stderr, "httpbench variant: shutdown: %v\n", err)
		code = 1
	}
	if err := srv.close(ctx); err != nil {
		fmt.Fprintf(stderr, "httpbench variant: close: %v\n", err)
		code = 1
	}
	return code
}
