package sftpaudit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Recorder is what the Client needs. *activitylog.Recorder satisfies
// it.
//
// Record is called once per audited call, from the goroutine that made
// the call, after the operation has ended, with a context that carries
// the call's values but is never cancelled. It may be called from many
// goroutines at once. An error it returns goes to Options.OnError; the
// operation's own result is never changed by it.
type Recorder interface {
	Record(ctx context.Context, e activitylog.Event) error
}

var _ Recorder = (*activitylog.Recorder)(nil)

// Options configures Dial. The zero value, or nil, means the defaults
// written beside each field.
type Options struct {
	// Service is copied into every event. Default: "", which lets
	// *activitylog.Recorder fill in its own Options.Service.
	Service string

	// SFTP is passed to sftp.NewClient: packet size, concurrency.
	// Default: none, the sftp package's defaults.
	SFTP []sftp.ClientOption

	// OnError, when set, is called with the error Record returned, from
	// the goroutine that called Record. Default: nil, the error is
	// ignored, because *activitylog.Recorder counts every event it drops
	// or refuses and records the losses in the trail itself.
	OnError func(error)
}

// Client is an SFTP session whose file operations are recorded. It is
// safe for concurrent use, as *sftp.Client is.
type Client struct {
	rec     Recorder
	service string
	onError func(error)
	addr    string // the address dialled, clipped
	user    string
	now     func() time.Time

	ssh  *ssh.Client
	sftp *sftp.Client
}

// Dial connects to the SSH server at addr ("host:port"), verifies its
// host key, authenticates and starts an SFTP session. It records one
// event with the action "connect", whether it succeeds or not, and
// returns every error to the caller.
//
// The host key is always verified, never accepted blindly. Dial refuses
// a cfg whose HostKeyCallback is nil, with an error wrapping
// activitylog.ErrInvalid. It also refuses one that accepts a key it
// cannot know: before it connects, it offers the callback a key made at
// random for the host "sftpaudit-probe.invalid:22", and a callback that
// accepts it (ssh.InsecureIgnoreHostKey, a hand-written func that
// returns nil, trust on first use) is refused. Use HostKey to pin the
// server's key, or KnownHosts. A callback that remembers the keys it is
// shown learns the probe's key for that host name; it is one that Dial
// refuses anyway.
//
// When the callback rejects the server's key, Dial fails with an error
// that wraps ErrHostKey, and the connect event has severity error and
// category "security".
//
// ctx bounds the connection, the handshake and the start of the
// session, not the Client's life. cfg.Timeout, when set, bounds the TCP
// connection too. rec must not be nil; opts may be.
func Dial(ctx context.Context, rec Recorder, addr string, cfg *ssh.ClientConfig, opts *Options) (*Client, error) {
	if rec == nil {
		panic("sftpaudit: Dial called with a nil Recorder")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &Client{
		rec:     rec,
		service: o.Service,
		onError: o.OnError,
		addr:    clip(addr, activitylog.MaxShortField),
		now:     time.Now,
	}
	if cfg != nil {
		c.user = clip(cfg.User, activitylog.MaxShortField)
	}
	start := c.now()
	fingerprint, security, cause := c.dial(ctx, addr, cfg, o.SFTP)
	var err error
	if cause != nil {
		err = fmt.Errorf("dial sftp %s: %w", addr, cause)
	}

	e := c.event("connect", start, err)
	e.Object = activitylog.Object{Type: "host", ID: c.addr}
	e.Message = "connect " + c.addr
	if cause != nil {
		e.Message += " failed: " + clip(cause.Error(), maxErrorText)
	}
	if security {
		e.Category = "security"
	}
	if c.user != "" {
		e.Extra["user"] = c.user
	}
	if fingerprint != "" {
		e.Extra["host_key"] = fingerprint
	}
	c.record(ctx, e)

	if err != nil {
		return nil, err
	}
	return c, nil
}

// dial does Dial's work. security reports whether the failure was a
// host key that was rejected or a configuration that would not verify
// one.
func (c *Client) dial(ctx context.Context, addr string, cfg *ssh.ClientConfig, opts []sftp.ClientOption) (fingerprint string, security bool, err error) {
	if err := checkConfig(cfg); err != nil {
		// A HostKeyCallback that would not verify is a security matter;
		// a missing config is a plain mistake.
		return "", cfg != nil && errors.Is(err, activitylog.ErrInvalid), err
	}
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	w := &watchedKey{cb: cfg.HostKeyCallback}
	cc := *cfg
	cc.HostKeyCallback = w.check

	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", false, err
	}
	// The handshake and the session start take no context: a deadline
	// in the past, set on the connection once ctx is done, stands in for
	// it. (Setting ctx's own deadline on the connection would race with
	// ctx: the read could time out before ctx reports why.)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })

	sshc, sftpc, err := connect(conn, addr, &cc, opts)
	fingerprint, rejected := w.result()
	stopped := stop()
	switch {
	case err != nil && rejected:
		return fingerprint, true, err
	case err != nil && ctx.Err() != nil:
		// Most likely the deadline set when ctx ended: say so first.
		return fingerprint, false, fmt.Errorf("%w (%w)", context.Cause(ctx), err)
	case err != nil:
		return fingerprint, false, err
	case !stopped:
		// ctx ended as the session started; the deadline set then may
		// break the connection at any time.
		sftpc.Close()
		sshc.Close()
		return fingerprint, false, context.Cause(ctx)
	}
	c.ssh, c.sftp = sshc, sftpc
	return fingerprint, false, nil
}

func connect(conn net.Conn, addr string, cfg *ssh.ClientConfig, opts []sftp.ClientOption) (*ssh.Client, *sftp.Client, error) {
	sconn, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	sshc := ssh.NewClient(sconn, chans, reqs)
	sftpc, err := sftp.NewClient(sshc, opts...)
	if err != nil {
		sshc.Close()
		return nil, nil, fmt.Errorf("start sftp session: %w", err)
	}
	return sshc, sftpc, nil
}

// Raw returns the *sftp.Client underneath, for the operations this
// package does not wrap (Stat, ReadDir, Chmod, Open for random access,
// …). What is done through it is not recorded.
func (c *Client) Raw() *sftp.Client { return c.sftp }

// Close ends the SFTP session and the SSH connection. It is not
// recorded.
func (c *Client) Close() error {
	return errors.Join(c.sftp.Close(), c.ssh.Close())
}

// Upload writes everything r yields to the remote file at remotePath,
// creating it or truncating it, and returns the bytes sent. It records
// one event with the action "upload". A failed upload may leave a
// partial file behind; Upload does not remove it. ctx is checked before
// every read from r, so cancelling it stops the transfer.
func (c *Client) Upload(ctx context.Context, remotePath string, r io.Reader) (int64, error) {
	start := c.now()
	n, err := c.upload(ctx, remotePath, r)
	if err != nil {
		err = pathError("upload", remotePath, err)
	}
	e := c.fileEvent("upload", "file", start, remotePath, err)
	e.Extra["bytes"] = n
	e.Response.RequestBytes = n
	e.Message = transferMessage("upload", remotePath, n, err)
	c.record(ctx, e)
	return n, err
}

func (c *Client) upload(ctx context.Context, remotePath string, r io.Reader) (n int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f, err := c.sftp.OpenFile(remotePath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return 0, err
	}
	if ctx.Done() != nil {
		r = &ctxReader{ctx: ctx, r: r}
	}
	n, err = f.ReadFrom(r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// Download copies the remote file at remotePath to w and returns the
// bytes written to w. It records one event with the action "download".
// ctx is checked before every write to w.
func (c *Client) Download(ctx context.Context, remotePath string, w io.Writer) (int64, error) {
	start := c.now()
	n, err := c.download(ctx, remotePath, w)
	if err != nil {
		err = pathError("download", remotePath, err)
	}
	e := c.fileEvent("download", "file", start, remotePath, err)
	e.Extra["bytes"] = n
	e.Response.ResponseBytes = n
	e.Message = transferMessage("download", remotePath, n, err)
	c.record(ctx, e)
	return n, err
}

func (c *Client) download(ctx context.Context, remotePath string, w io.Writer) (n int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f, err := c.sftp.Open(remotePath)
	if err != nil {
		return 0, err
	}
	if ctx.Done() != nil {
		w = &ctxWriter{ctx: ctx, w: w}
	}
	n, err = f.WriteTo(w)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// Remove removes the remote file, or empty directory, at path. It
// records one event with the action "remove".
func (c *Client) Remove(ctx context.Context, path string) error {
	return c.simple(ctx, "remove", "file", path, false, c.sftp.Remove)
}

// Mkdir creates the remote directory path; its parent must exist. It
// records one event with the action "mkdir".
func (c *Client) Mkdir(ctx context.Context, path string) error {
	return c.simple(ctx, "mkdir", "directory", path, false, c.sftp.Mkdir)
}

// MkdirAll creates the remote directory path and any parents it needs;
// it succeeds when path is a directory already. It records one event
// with the action "mkdir" and Extra["parents"] true.
func (c *Client) MkdirAll(ctx context.Context, path string) error {
	return c.simple(ctx, "mkdir", "directory", path, true, c.sftp.MkdirAll)
}

func (c *Client) simple(ctx context.Context, action, objType, path string, parents bool, op func(string) error) error {
	start := c.now()
	err := ctx.Err()
	if err == nil {
		err = op(path)
	}
	if err != nil {
		err = pathError(action, path, err)
	}
	e := c.fileEvent(action, objType, start, path, err)
	if parents {
		e.Extra["parents"] = true
	}
	e.Message = action + " " + clip(path, maxMessagePath)
	if err != nil {
		e.Message += " failed: " + e.Extra["error"].(string)
	}
	c.record(ctx, e)
	return err
}

// Rename renames the remote file oldPath to newPath. It fails when
// newPath exists (the SFTP protocol's rename). It records one event
// with the action "rename", whose object is oldPath and whose
// Extra["new_path"] is newPath.
func (c *Client) Rename(ctx context.Context, oldPath, newPath string) error {
	start := c.now()
	err := ctx.Err()
	if err == nil {
		err = c.sftp.Rename(oldPath, newPath)
	}
	if err != nil {
		var le *os.LinkError
		if !errors.As(err, &le) {
			err = &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: err}
		}
	}
	e := c.fileEvent("rename", "file", start, oldPath, err)
	e.Extra["new_path"] = clip(newPath, activitylog.MaxTextField)
	e.Message = "rename " + clip(oldPath, maxMessagePath/2) + " to " + clip(newPath, maxMessagePath/2)
	if err != nil {
		e.Message += " failed: " + e.Extra["error"].(string)
	}
	c.record(ctx, e)
	return err
}

// event returns an external event of tool sftp with the host, the
// duration and, when err is not nil, severity error and the error text.
func (c *Client) event(action string, start time.Time, err error) activitylog.Event {
	e := activitylog.Event{
		Time:     start,
		Kind:     activitylog.KindExternal,
		Action:   action,
		Severity: activitylog.SeverityInfo,
		Service:  c.service,
		Tool:     "sftp",
		Response: activitylog.Response{Duration: c.now().Sub(start)},
		Extra:    make(map[string]any, 6),
	}
	e.Extra["host"] = c.addr
	if err != nil {
		e.Severity = activitylog.SeverityError
		e.Extra["error"] = clip(err.Error(), maxErrorText)
	}
	return e
}

func (c *Client) fileEvent(action, objType string, start time.Time, path string, err error) activitylog.Event {
	e := c.event(action, start, err)
	e.Object = activitylog.Object{Type: objType, ID: clip(path, activitylog.MaxShortField)}
	e.Extra["path"] = clip(path, activitylog.MaxTextField)
	if c.user != "" {
		e.Extra["user"] = c.user
	}
	return e
}

func (c *Client) record(ctx context.Context, e activitylog.Event) {
	if err := c.rec.Record(recordContext(ctx), e); err != nil && c.onError != nil {
		c.onError(err)
	}
}

// recordContext returns the context the event is recorded with: it
// carries ctx's values, but is never cancelled, so that a cancelled
// call cannot drop its own audit record. The value context on top
// spares the Recorder's lookups the allocation that each Value call on
// a context.WithoutCancel costs (as of Go 1.26).
func recordContext(ctx context.Context) context.Context {
	return context.WithValue(context.WithoutCancel(ctx), detachedKey{}, true)
}

type detachedKey struct{}

// pathError names the operation and path in err, unless err does
// already (the sftp package returns some errors as *os.PathError and
// others bare, os.ErrNotExist say). errors.Is(err, fs.ErrNotExist) holds
// either way.
func pathError(op, path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}

func transferMessage(action, path string, n int64, err error) string {
	m := action + " " + clip(path, maxMessagePath) + " (" + strconv.FormatInt(n, 10) + " bytes)"
	if err != nil {
		m += " failed: " + clip(err.Error(), maxErrorText)
	}
	return m
}

// Limits that keep an event within what activitylog.Event.Validate
// accepts, whatever the paths: a message holds at most maxMessagePath
// bytes of path and maxErrorText bytes of error.
const (
	maxErrorText   = activitylog.MaxShortField
	maxMessagePath = activitylog.MaxTextField - maxErrorText - 128
)

// ctxReader stops a transfer when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w *ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

// clip returns s cut to at most max bytes, at a rune boundary and ending
// in "…" when it was cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	i := max - len(ellipsis)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + ellipsis
}
