package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
)

// maxErrorBody bounds how much of a refusal's body is read and shown.
const maxErrorBody = 4 << 10

// post sends one request body and returns the response body of a 2xx
// answer. A transport failure, a 408, a 429 or a 5xx wraps
// activitylog.ErrUnavailable; any other status is a plain error, which
// the caller retries too (a bad token or a missing index is a
// configuration to fix, not an event to drop). Neither ever contains
// the secrets: each error string is scrubbed of them.
func post(ctx context.Context, c *http.Client, timeout time.Duration, url, contentType string, header http.Header, body []byte, what string, secrets []string, describe func(status int, body []byte) string) ([]byte, error) {
	parent := ctx
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, scrub(fmt.Errorf("post %s: %w", what, err), secrets)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req)
	if err != nil {
		if callerGaveUp(parent) {
			// The caller gave up: say so, not that the target is down.
			return nil, scrub(fmt.Errorf("post %s: %w", what, err), secrets)
		}
		return nil, scrub(fmt.Errorf("post %s: %w: %w", what, activitylog.ErrUnavailable, err), secrets)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, scrub(fmt.Errorf("read %s response: %w: %w", what, activitylog.ErrUnavailable, err), secrets)
		}
		return b, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := fmt.Sprintf("post %s: status %d", what, resp.StatusCode)
	if d := describe(resp.StatusCode, b); d != "" {
		msg += ": " + d
	}
	if retryable(resp.StatusCode) {
		return nil, scrub(fmt.Errorf("%s: %w", msg, activitylog.ErrUnavailable), secrets)
	}
	return nil, scrub(errors.New(msg), secrets)
}

// errTimeout is the cause of a context that ran out of the writer's
// own Timeout, as opposed to the caller's context ending.
var errTimeout = errors.New("timeout")

// callerGaveUp reports whether ctx ended for a reason other than the
// writer's own Timeout.
func callerGaveUp(ctx context.Context) bool {
	return ctx.Err() != nil && context.Cause(ctx) != errTimeout
}

// retryable reports whether an HTTP status says "try again later".
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// scrubbed is an error whose text had secrets removed. It unwraps to
// the categories the original matched, not to the original, so that
// errors.Is still works and no secret is reachable through it.
type scrubbed struct {
	msg  string
	cats []error
}

func (e *scrubbed) Error() string   { return e.msg }
func (e *scrubbed) Unwrap() []error { return e.cats }

// scrub removes every secret from err's text.
func scrub(err error, secrets []string) error {
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "[REDACTED]")
		}
	}
	if clean == msg {
		return err
	}
	e := &scrubbed{msg: clean}
	for _, c := range []error{activitylog.ErrUnavailable, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, c) {
			e.cats = append(e.cats, c)
		}
	}
	return e
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
