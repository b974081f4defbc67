package slogaudit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
	"gopkg.in/natefinch/lumberjack.v2"
)

// The files that Files writes, one per class of activity.
const (
	FileAudit = "audit.log" // crud, export and custom events, and records at LevelAudit
	FileAPI   = "api.log"   // request, cors and external events, and records at LevelAPI
	FileLogin = "login.log" // auth events, and records at LevelLogin
	FileApp   = "app.log"   // system events (loss reports among them) and every other record
)

// FileFor returns the file that events of kind k go to.
func FileFor(k activitylog.Kind) string { return fileNames[kindFile(k)] }

var fileNames = [...]string{FileAudit, FileAPI, FileLogin, FileApp}

const (
	fileAudit = iota
	fileAPI
	fileLogin
	fileApp
)

func kindFile(k activitylog.Kind) int {
	switch k {
	case activitylog.KindRequest, activitylog.KindCORS, activitylog.KindExternal:
		return fileAPI
	case activitylog.KindAuth:
		return fileLogin
	case activitylog.KindSystem:
		return fileApp
	}
	return fileAudit // crud, export, custom, and any unknown kind
}

// Format is the line format of Files.
type Format int

const (
	// FormatJSON writes JSONHandler lines. The default.
	FormatJSON Format = iota
	// FormatConsole writes ConsoleHandler lines.
	FormatConsole
)

// FileOptions configures Files. The zero value, or nil, means the
// defaults written beside each field.
type FileOptions struct {
	// MaxSizeMB is the size in megabytes past which a file is rotated:
	// renamed to name-<UTC time>.log and started anew. Default: 100.
	MaxSizeMB int
	// RotateEvery also rotates a file once it has been written to for
	// this long, counted from its first write by this process (say
	// 24h for a file a day). Default: 0, by size only.
	RotateEvery time.Duration
	// MaxAgeDays deletes rotated files older than this many days.
	// Default: 0, kept whatever their age.
	MaxAgeDays int
	// MaxBackups is how many rotated files of each log are kept.
	// Default: 0, all of them (MaxAgeDays may still delete them).
	MaxBackups int
	// Compress gzips rotated files. Default: false.
	Compress bool
	// Format is FormatJSON (default) or FormatConsole.
	Format Format
	// Level is the lowest level written. Default: slog.LevelInfo.
	Level slog.Leveler
	// Now is the clock for RotateEvery. Default: time.Now.
	Now func() time.Time
}

// Files is a slog.Handler that writes to one file per class of activity
// in a directory: audit.log, api.log, login.log and app.log (see
// FileFor), each rotated by size and, if asked, by age, with lumberjack.
//
// A record that carries a top-level "kind" attribute, as Writer's
// records do, goes to the file of that kind; any other record goes by
// its level: LevelAudit to audit.log, LevelAPI to api.log, LevelLogin
// to login.log, every other level to app.log. So the application's own
// logs can share the handler and land in app.log.
//
// Every line is written to its file at once, unbuffered: a crash loses
// nothing that Handle returned for. Put an Async in front to take the
// writes off the caller's path. Files is safe for concurrent use.
type Files struct {
	files   *fileSet
	h       [4]slog.Handler
	level   slog.Leveler
	grouped bool // WithGroup was called: "kind" is no longer top-level
}

type fileSet struct {
	rot [4]*rotator
}

var _ slog.Handler = (*Files)(nil)

// NewFiles creates dir if needed and returns Files writing there. opts
// may be nil. It opens each file once to report at once a directory it
// cannot write to. Call Close when done.
func NewFiles(dir string, opts *FileOptions) (*Files, error) {
	var o FileOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxSizeMB < 0 {
		return nil, activitylog.Invalid("max_size_mb", fmt.Sprint(o.MaxSizeMB), "must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	f := &Files{files: &fileSet{}, level: o.Level}
	hopts := &slog.HandlerOptions{Level: o.Level}
	for i, name := range fileNames {
		path := filepath.Join(dir, name)
		fh, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open log file: %w", err)
		}
		fh.Close()
		r := &rotator{
			lj: &lumberjack.Logger{
				Filename:   path,
				MaxSize:    o.MaxSizeMB,
				MaxAge:     o.MaxAgeDays,
				MaxBackups: o.MaxBackups,
				Compress:   o.Compress,
			},
			every: o.RotateEvery,
			now:   o.Now,
		}
		f.files.rot[i] = r
		if o.Format == FormatConsole {
			f.h[i] = NewConsoleHandler(r, hopts)
		} else {
			f.h[i] = NewJSONHandler(r, hopts)
		}
	}
	return f, nil
}

// Enabled reports whether l is at or above FileOptions.Level.
func (f *Files) Enabled(_ context.Context, l slog.Level) bool { return l >= f.level.Level() }

// Handle writes r to the file it belongs in.
func (f *Files) Handle(ctx context.Context, r slog.Record) error {
	return f.h[f.route(r)].Handle(ctx, r)
}

func (f *Files) route(r slog.Record) int {
	if !f.grouped {
		i := -1
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "kind" {
				if a.Value.Kind() == slog.KindString {
					i = kindFile(activitylog.Kind(a.Value.String()))
				}
				return false
			}
			return true
		})
		if i >= 0 {
			return i
		}
	}
	switch r.Level {
	case LevelAudit:
		return fileAudit
	case LevelAPI:
		return fileAPI
	case LevelLogin:
		return fileLogin
	}
	return fileApp
}

// WithAttrs returns Files whose records carry attrs, in every file.
func (f *Files) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return f
	}
	c := *f
	for i, h := range f.h {
		c.h[i] = h.WithAttrs(attrs)
	}
	return &c
}

// WithGroup returns Files that put the attributes that follow under
// name, in every file.
func (f *Files) WithGroup(name string) slog.Handler {
	if name == "" {
		return f
	}
	c := *f
	c.grouped = true
	for i, h := range f.h {
		c.h[i] = h.WithGroup(name)
	}
	return &c
}

// Close closes the files. Every line that Handle returned for is
// already in its file. Handle returns activitylog.ErrClosed afterwards,
// also on the handlers derived by WithAttrs and WithGroup.
func (f *Files) Close() error {
	var errs []error
	for i, r := range f.files.rot {
		if err := r.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", fileNames[i], err))
		}
	}
	return errors.Join(errs...)
}

// rotator adds rotation by age, and a closed state, to lumberjack.
type rotator struct {
	mu     sync.Mutex
	lj     *lumberjack.Logger
	every  time.Duration
	now    func() time.Time
	opened time.Time // first write since the last rotation
	closed bool
}

var _ io.WriteCloser = (*rotator)(nil)

func (r *rotator) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("write %s: %w", filepath.Base(r.lj.Filename), activitylog.ErrClosed)
	}
	if r.every > 0 {
		now := r.now()
		switch {
		case r.opened.IsZero():
			r.opened = now
		case now.Sub(r.opened) >= r.every:
			if err := r.lj.Rotate(); err != nil {
				return 0, fmt.Errorf("rotate %s: %w", filepath.Base(r.lj.Filename), err)
			}
			r.opened = now
		}
	}
	return r.lj.Write(p)
}

func (r *rotator) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return r.lj.Close()
}
