package natsq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults shared by Publisher, Worker and Relay. A Publisher and the
// Workers that drain its stream must agree on Stream and Prefix.
const (
	DefaultStream   = "ACTIVITYLOG"
	DefaultPrefix   = "activitylog"
	DefaultConsumer = "activitylog-workers"
)

// Spool is a local, durable fallback for a Publisher: it keeps batches
// that could not be published while NATS is unreachable. Write must be
// all or nothing, like any activitylog.Writer. Replay writes what the
// spool holds to w, removes from the spool only what w committed, and
// returns how many events it replayed; it stops at w's first error and
// returns it. package spool provides one.
type Spool interface {
	activitylog.Writer
	Replay(ctx context.Context, w activitylog.Writer) (int, error)
}

// Connect connects to the NATS server at url (nats://host:4222, or a
// comma-separated list) with the options a long-running audit process
// wants: it keeps reconnecting forever, and it does not fail when the
// server is down at start (publishes then go to the Publisher's Spool).
// name identifies the client in the server's monitoring. Use
// nats.Connect directly for credentials or TLS.
func Connect(url, name string) (*nats.Conn, error) {
	if url == "" {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(-1), // fail publishes while disconnected instead of buffering them
	)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w: %w", redactURL(url), activitylog.ErrUnavailable, err)
	}
	return nc, nil
}

// redactURL returns a NATS URL (or comma-separated list) without its
// user information, which is a token, a user and password, or an nkey.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if scheme, rest, ok := strings.Cut(p, "://"); ok {
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				rest = "REDACTED@" + rest[at+1:]
			}
			p = scheme + "://" + rest
		} else if at := strings.LastIndex(p, "@"); at >= 0 {
			p = "REDACTED@" + p[at+1:]
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// subjectPrefix checks a subject prefix: dot-separated tokens without
// wildcards or white space.
func checkPrefix(field, p string) error {
	if p == "" {
		return nil
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return activitylog.Invalid(field, p, "must be dot-separated tokens without wildcards or spaces")
		}
	}
	return nil
}

func checkName(field, n string) error {
	if n == "" {
		return nil
	}
	if strings.ContainsAny(n, ".*> \t\r\n/\\") {
		return activitylog.Invalid(field, n, "must not contain '.', '*', '>', slashes or spaces")
	}
	return nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// unavailable wraps a NATS error in activitylog.ErrUnavailable, except
// a bad configuration that JetStream refused, which no retry can fix.
func unavailable(verb string, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == 400 {
		return fmt.Errorf("%s: %w", verb, err)
	}
	return fmt.Errorf("%s: %w: %w", verb, activitylog.ErrUnavailable, err)
}
