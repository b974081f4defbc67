package integrity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/activitylog/activitylog/internal/urlsecret"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
)

var _ Witness = (*URLWitness)(nil)

// WitnessContentType is the media type of a URL witness's bodies: the
// lines of a witness file, one checkpoint per line in its JSON form,
// each ended by "\n".
const WitnessContentType = "application/x-ndjson"

// DefaultWitnessTimeout bounds one POST of a URLWitness when
// URLWitnessOptions.Timeout is zero.
const DefaultWitnessTimeout = 10 * time.Second

// URLWitnessOptions configures a URLWitness and ReadWitnessURL. The
// zero value, or a nil pointer, means: no token, DefaultWitnessTimeout,
// a client of its own.
type URLWitnessOptions struct {
	// Token, when set, is sent as "Authorization: Bearer Token". It may
	// hold only printable ASCII without spaces, and goes to https URLs,
	// or to http URLs on loopback only. It is never printed.
	Token string
	// Timeout bounds one Write (the POST and its answer). Zero:
	// DefaultWitnessTimeout. ReadWitnessURL ignores it: its ctx bounds
	// it.
	Timeout time.Duration
	// Client sends the requests. Zero: a client with
	// http.DefaultTransport. Its CheckRedirect is replaced: see
	// URLWitness.
	Client *http.Client
}

// URLWitness is a Witness that POSTs each checkpoint to an HTTP(S)
// endpoint that keeps it, so that the copies live on another machine,
// under other hands, than the store.
//
// Write sends
//
//	POST <url>
//	Content-Type: application/x-ndjson
//	Authorization: Bearer <token>          (when a token is set)
//
//	<the checkpoint's JSON form (Checkpoint.MarshalJSON)>\n
//
// that is, exactly one line of a witness file (FileWitness). Any 2xx
// answer means the endpoint has stored the line durably; anything else,
// a redirect included (redirects are never followed, so that neither
// the token nor the checkpoint goes to an address that was not
// configured), and any network error or timeout, is an error wrapping
// activitylog.ErrUnavailable, and the Writer hands the checkpoint over
// again later. The endpoint must therefore accept the same checkpoint
// twice; keeping both lines is fine, as in the file.
//
// ReadWitnessURL reads the witness back with a GET of the same URL.
type URLWitness struct {
	u       *url.URL
	token   string
	timeout time.Duration
	client  *http.Client
}

// NewURLWitness returns the witness at rawURL. rawURL must be an
// http:// or https:// URL with a host and without a user or password;
// the error, wrapping activitylog.ErrInvalid, names what is wrong
// (field "witness url" or "witness token"; the token itself is never
// shown).
func NewURLWitness(rawURL string, opts *URLWitnessOptions) (*URLWitness, error) {
	var o URLWitnessOptions
	if opts != nil {
		o = *opts
	}
	u, err := parseWitnessURL(rawURL, o.Token)
	if err != nil {
		return nil, err
	}
	if o.Timeout < 0 {
		return nil, activitylog.Invalid("witness timeout", o.Timeout.String(), "must not be negative")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultWitnessTimeout
	}
	c := witnessClient(o.Client)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &URLWitness{u: u, token: o.Token, timeout: o.Timeout, client: c}, nil
}

// witnessClient returns a copy of c (a new client when nil), whose
// CheckRedirect the caller sets.
func witnessClient(c *http.Client) *http.Client {
	if c == nil {
		return &http.Client{}
	}
	cc := *c
	return &cc
}

// parseWitnessURL checks rawURL and token as NewURLWitness says.
func parseWitnessURL(rawURL, token string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Not its query or fragment, which may hold a credential, nor
		// any of it when it holds an '@' (a password may be anywhere),
		// nor the piece url.Parse quotes, which may be a slice of one.
		shown, _, _ := strings.Cut(rawURL, "?")
		shown, _, _ = strings.Cut(shown, "#")
		if strings.Contains(rawURL, "@") {
			shown = "REDACTED"
		}
		return nil, activitylog.Invalid("witness url", truncate(shown, 200), "is not a URL: "+urlsecret.ParseReason(err))
	}
	if urlsecret.StrayAt(u) {
		// A password written with a '/', '?' or '#' in it ends the
		// authority early, and url.Parse puts the rest of it in the port,
		// the path, the query or the fragment: nothing of it is shown.
		return nil, activitylog.Invalid("witness url", "REDACTED",
			"holds an '@' outside a user and password: a witness URL takes no user or password (give a bearer token instead), "+
				"and an '@' in its path or query is written %40")
	}
	shown := displayURL(u) // no user, password, query or fragment
	if len(shown) > 200 {
		shown = shown[:200]
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, activitylog.Invalid("witness url", shown, "must be an http:// or https:// URL")
	}
	if u.User != nil {
		u.User = nil
		return nil, activitylog.Invalid("witness url", u.Redacted(), "must not hold a user or password: give a bearer token instead")
	}
	if u.Hostname() == "" {
		return nil, activitylog.Invalid("witness url", shown, "has no host")
	}
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] >= 0x7f {
			return nil, activitylog.Invalid("witness token", activitylog.DefaultMask, "may hold only printable ASCII characters, without spaces")
		}
	}
	if token != "" && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, activitylog.Invalid("witness token", activitylog.DefaultMask,
			"would cross the network in the clear to "+u.Host+": use an https:// URL (http:// only on loopback)")
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// String returns the URL without its query, fragment, user or password,
// as logs may show it.
func (w *URLWitness) String() string { return displayURL(w.u) }

func displayURL(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = nil, "", false, "", ""
	return v.String()
}

// Write POSTs cp as one line; see URLWitness.
func (w *URLWitness) Write(ctx context.Context, cp Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("write witness: %w", err)
	}
	b = append(b, '\n')
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.u.String(), bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("write witness %s: %w", w, err)
	}
	req.Header.Set("Content-Type", WitnessContentType)
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("write witness %s: %w: %w", w, activitylog.ErrUnavailable, unwrapURLError(err))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so that the connection can be reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	msg := "answered " + resp.Status
	if resp.StatusCode/100 == 3 {
		msg += "; a witness's redirects are not followed"
	}
	return fmt.Errorf("write witness %s: %w: %s", w, activitylog.ErrUnavailable, msg)
}

// unwrapURLError returns the cause of a *url.Error, whose message would
// show the whole URL, query included.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// MaxWitnessBody bounds the body ReadWitnessURL reads: 256 MiB, some
// 400,000 checkpoints. A longer answer is an error, not a partial read.
const MaxWitnessBody = 256 << 20

// witnessBodyLimit is MaxWitnessBody; tests lower it.
var witnessBodyLimit int64 = MaxWitnessBody

// ReadWitnessURL reads back the checkpoints of a URL witness:
//
//	GET <url>
//	Accept: application/x-ndjson
//	Authorization: Bearer <token>          (when token is not "")
//
// The answer must be 200 with a body in the form of a witness file
// (ReadWitness): every checkpoint the endpoint has received, of every
// chain, one per line, each line ended by "\n", in the order received.
// A redirect is followed only to the same scheme and host (the token
// is never sent elsewhere), at most 10 times. Any other status, or a
// network error, is an error wrapping activitylog.ErrUnavailable; a
// line that is not a checkpoint is ReadWitness's error. Unlike a file,
// whose unfinished last line is a write that never returned, an answer
// whose last line has no "\n" was cut short: an error. So is a body
// longer than MaxWitnessBody, or a line longer than MaxWitnessLine.
// ctx bounds the whole read; give it a deadline.
func ReadWitnessURL(ctx context.Context, rawURL, token string) ([]Checkpoint, error) {
	return readWitnessURL(ctx, rawURL, &URLWitnessOptions{Token: token})
}

// readWitnessURL is ReadWitnessURL with a client of the caller's.
func readWitnessURL(ctx context.Context, rawURL string, opts *URLWitnessOptions) ([]Checkpoint, error) {
	var o URLWitnessOptions
	if opts != nil {
		o = *opts
	}
	u, err := parseWitnessURL(rawURL, o.Token)
	if err != nil {
		return nil, err
	}
	shown := displayURL(u)
	c := witnessClient(o.Client)
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != u.Scheme || req.URL.Host != u.Host {
			return fmt.Errorf("redirected to %s, another host or scheme: not followed, so that the token stays with %s", displayURL(req.URL), u.Host)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("read witness %s: %w", shown, err)
	}
	req.Header.Set("Accept", WitnessContentType)
	if o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read witness %s: %w: %w", shown, activitylog.ErrUnavailable, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("read witness %s: %w", shown, &WitnessStatusError{Code: resp.StatusCode, Status: resp.Status})
	}
	body := &io.LimitedReader{R: resp.Body, N: witnessBodyLimit + 1}
	cps, err := readWitness(body, true)
	if body.N == 0 {
		return nil, fmt.Errorf("read witness %s: the answer is longer than %d bytes", shown, witnessBodyLimit)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shown, err)
	}
	return cps, nil
}

// WitnessStatusError is a witness URL's answer other than 200 OK to a
// read. It wraps activitylog.ErrUnavailable; a caller can tell a refused
// token (401, 403: the caller's setting to fix) from a witness that is
// down.
type WitnessStatusError struct {
	Code   int
	Status string // as the server sent it, "401 Unauthorized"
}

func (e *WitnessStatusError) Error() string {
	return activitylog.ErrUnavailable.Error() + ": answered " + e.Status + ", want 200 OK"
}

// Unwrap returns activitylog.ErrUnavailable.
func (e *WitnessStatusError) Unwrap() error { return activitylog.ErrUnavailable }

// Refused reports whether the witness refused the credentials sent (or
// their absence): 401 or 403.
func (e *WitnessStatusError) Refused() bool {
	return e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden
}
