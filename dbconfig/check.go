package dbconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/activitylog/activitylog"
)

// A Checker checks that the database of c answers, with c.Password
// opened: the API's test-connection and health-check call it, with a
// deadline. cmd/activitylog registers one that opens the engine's store
// and pings it; DialCheck is the fallback that needs no driver.
type Checker func(ctx context.Context, c Config) error

// DialCheck checks that c's server accepts a TCP connection on its
// host and port (the engine's default port when c.Port is 0), or, for
// SQLite, that its file exists and is a regular file. It does not sign
// in: a wrong password passes.
func DialCheck(ctx context.Context, c Config) error {
	if c.Engine == SQLite {
		st, err := os.Stat(c.Database)
		if err != nil {
			return fmt.Errorf("check sqlite %s: %w: %w", c.Database, activitylog.ErrUnavailable, err)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("check sqlite %s: %w: not a regular file", c.Database, activitylog.ErrUnavailable)
		}
		return nil
	}
	port := c.Port
	if port == 0 {
		port = c.Engine.DefaultPort()
	}
	addr := net.JoinHostPort(strings.Trim(c.Host, "[]"), strconv.Itoa(port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial %s %s: %w: %w", c.Engine, addr, activitylog.ErrUnavailable, err)
	}
	return conn.Close()
}

// RedactError returns err with every form of password in its message
// (as is, and escaped as in a URL's user info, path or query) replaced
// by [REDACTED]. The result still wraps the categories err wraps
// (activitylog.ErrUnavailable, ErrInvalid, ErrNotFound, context
// errors), never err itself, so that unwrapping cannot bring the
// password back. A nil err, or an empty password, is returned as is.
func RedactError(err error, password string) error {
	return redactErr(err, password)
}

func redactErr(err error, password string) error {
	if err == nil || password == "" {
		return err
	}
	msg := RedactString(err.Error(), password)
	var cats []error
	for _, c := range []error{activitylog.ErrUnavailable, activitylog.ErrInvalid, activitylog.ErrNotFound,
		activitylog.ErrForbidden, context.Canceled, context.DeadlineExceeded, ErrUnknownKey, ErrDecrypt} {
		if errors.Is(err, c) {
			cats = append(cats, c)
		}
	}
	return &redacted{msg: msg, cats: cats}
}

// RedactString returns s with every form of password replaced by
// [REDACTED]; see RedactError.
func RedactString(s, password string) string {
	if password == "" {
		return s
	}
	forms := []string{password, url.QueryEscape(password), url.PathEscape(password),
		strings.TrimPrefix(url.UserPassword("", password).String(), ":")}
	for _, f := range forms {
		if f != "" {
			s = strings.ReplaceAll(s, f, redactedValue)
		}
	}
	return s
}

type redacted struct {
	msg  string
	cats []error
}

func (e *redacted) Error() string   { return e.msg }
func (e *redacted) Unwrap() []error { return e.cats }
