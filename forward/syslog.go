package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// Syslog facilities (RFC 5424 section 6.2.1) that suit an audit trail.
const (
	FacilityAuth     = 4  // security/authorization messages
	FacilityAuthPriv = 10 // security/authorization messages (private)
	FacilityLogAudit = 13 // log audit
)

// SyslogOptions configures a Syslog writer. The zero value, or nil,
// means the defaults written beside each field.
type SyslogOptions struct {
	// Network is "tcp" (RFC 6587 octet-counting framing) or "udp" (one
	// message per datagram). Default: "tcp".
	Network string
	// TLS, when set with "tcp", wraps the connection in TLS (RFC 5425
	// uses the same framing). Default: none.
	TLS *tls.Config
	// Facility is the syslog facility, 1 to 23. Default:
	// FacilityLogAudit (13, "log audit"). Use FacilityAuthPriv (10)
	// for collectors that route by the BSD names. 0 (kernel) means
	// the default.
	Facility int
	// AppName is the APP-NAME field. Default: "activitylog".
	AppName string
	// Hostname is the HOSTNAME field. Default: os.Hostname().
	Hostname string
	// ProductVersion is the CEF Device Version. Default: the version
	// of the activitylog module in the build info, else "0".
	ProductVersion string
	// SDID is the structured data element that carries the event id.
	// Default: "activitylog@32473" (32473 is the enterprise number
	// RFC 5612 reserves for examples; use your own).
	SDID string
	// Timeout bounds one Write: dialing, writing, and the one retry on
	// a new connection. Default: 10s.
	Timeout time.Duration
	// MaxUDPBytes bounds one UDP datagram. A longer message first has
	// the event's message (the CEF Name) shortened, ending in "…", and
	// failing that is cut at the end, at a character boundary. Default:
	// 8192. TCP messages are never shortened.
	MaxUDPBytes int
}

// Syslog is a Writer that sends each event as one RFC 5424 syslog
// message whose MSG is the event in CEF (see AppendCEF). It keeps one
// connection, dialed at the first Write and again after it breaks. It
// is safe for concurrent use; batches are written one at a time.
type Syslog struct {
	network, address string
	opts             SyslogOptions
	facility         int
	header           string // " <hostname> <app> - "

	mu   sync.Mutex
	conn net.Conn
	buf  []byte
}

var _ activitylog.Writer = (*Syslog)(nil)

// NewSyslog returns a Writer that sends to the collector at address
// (host:port). It does not dial: the first Write does. opts may be nil.
func NewSyslog(address string, opts *SyslogOptions) (*Syslog, error) {
	var o SyslogOptions
	if opts != nil {
		o = *opts
	}
	if o.Network == "" {
		o.Network = "tcp"
	}
	if o.Network != "tcp" && o.Network != "udp" {
		return nil, activitylog.Invalid("network", o.Network, "must be tcp or udp")
	}
	if o.TLS != nil && o.Network != "tcp" {
		return nil, activitylog.Invalid("network", o.Network, "must be tcp with tls")
	}
	if _, _, err := net.SplitHostPort(address); err != nil {
		return nil, activitylog.Invalid("address", address, "must be host:port")
	}
	if o.Facility < 0 || o.Facility > 23 {
		return nil, activitylog.Invalid("facility", strconv.Itoa(o.Facility), "must be between 0 and 23")
	}
	if opts == nil || opts.Facility == 0 {
		// 0 (kernel) is no facility for an application: it means the default.
		o.Facility = FacilityLogAudit
	}
	if o.Timeout < 0 {
		return nil, activitylog.Invalid("timeout", o.Timeout.String(), "must not be negative")
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxUDPBytes <= 0 {
		o.MaxUDPBytes = 8192
	}
	if o.AppName == "" {
		o.AppName = "activitylog"
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	if o.ProductVersion == "" {
		o.ProductVersion = moduleVersion()
	}
	if o.SDID == "" {
		o.SDID = "activitylog@32473"
	}
	if !sdName(o.SDID) {
		return nil, activitylog.Invalid("sdid", o.SDID, "must be 1 to 32 printable ASCII characters without space, =, ] or \"")
	}
	s := &Syslog{network: o.Network, address: address, opts: o, facility: o.Facility}
	s.header = " " + headerField(o.Hostname, 255) + " " + headerField(o.AppName, 48) + " - "
	return s, nil
}

// moduleVersion is the version of the activitylog module in this
// binary, or "0".
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "0"
	}
	const path = "github.com/activitylog/activitylog"
	if bi.Main.Path == path && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == path && d.Version != "" {
			return d.Version
		}
	}
	return "0"
}

// headerField makes s a valid RFC 5424 header field: printable ASCII,
// at most max bytes, "-" when empty.
func headerField(s string, max int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < max; i++ {
		if c := s[i]; c > 32 && c < 127 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// sdName reports whether s is a valid SD-NAME.
func sdName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 32 || c >= 127 || c == '=' || c == ']' || c == '"' {
			return false
		}
	}
	return true
}

// syslogSeverity maps an event severity to a syslog severity.
func syslogSeverity(s activitylog.Severity) int {
	switch s {
	case activitylog.SeverityDebug:
		return 7
	case activitylog.SeverityInfo:
		return 6
	case activitylog.SeverityNotice:
		return 5
	case activitylog.SeverityWarning:
		return 4
	case activitylog.SeverityError:
		return 3
	case activitylog.SeverityCritical:
		return 2
	}
	return 6
}

// AppendMessage appends e as one RFC 5424 message, without framing:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME - KIND [SDID id="<event id>"] CEF:0|…
//
// PRI is Facility×8 plus the syslog severity (debug 7, info 6, notice
// 5, warning 4, error 3, critical 2); TIMESTAMP is UTC with
// microseconds. The MSG has no BOM, since CEF parsers expect "CEF:" at
// its start.
func (s *Syslog) AppendMessage(b []byte, e *activitylog.Event) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.facility*8+syslogSeverity(e.Severity)), 10)
	b = append(b, ">1 "...)
	b = e.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, s.header...)
	b = append(b, headerField(string(e.Kind), 32)...)
	b = append(b, " ["...)
	b = append(b, s.opts.SDID...)
	b = append(b, ` id="`...)
	b, _ = e.ID.AppendText(b)
	b = append(b, `"] `...)
	return AppendCEF(b, e, s.opts.ProductVersion)
}

// Write sends one message per event. Over TCP the batch goes out in one
// write, each message framed by its length (RFC 6587); a connection
// that the collector closed is noticed before the write and dialed
// again, and a write that fails is retried once on a new connection,
// whole. TCP syslog has no acknowledgement, so delivery is
// at-least-once at best: a message the collector had not read when it
// went down is lost without an error, and one written before a failure
// is sent twice. Over UDP delivery is at-most-once: datagrams are lost
// without an error. The message carries the event id (structured data
// and CEF externalId) for the collector to dedup on.
func (s *Syslog) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buf[:0]
	var ends []int // end of each message, for UDP
	for i := range events {
		if s.network == "tcp" {
			n := len(b)
			b = s.AppendMessage(append(b, "0000000000 "...), &events[i])
			b = frame(b, n)
		} else {
			n := len(b)
			b = s.AppendMessage(b, &events[i])
			if len(b)-n > s.opts.MaxUDPBytes {
				b = s.shrink(b, n, &events[i])
			}
			ends = append(ends, len(b))
		}
	}
	if cap(b) <= 1<<20 {
		s.buf = b
	}
	deadline := time.Now().Add(s.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if err = s.send(ctx, deadline, b, ends); err == nil {
			return nil
		}
		s.drop()
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("write syslog batch: %w", err)
	}
	return fmt.Errorf("write syslog batch: %w: %w", activitylog.ErrUnavailable, err)
}

// frame replaces the 11-byte placeholder at b[n:] by the length of the
// message after it and a space.
func frame(b []byte, n int) []byte {
	msg := len(b) - n - 11
	var l [11]byte
	d := strconv.AppendInt(l[:0], int64(msg), 10)
	d = append(d, ' ')
	shift := 11 - len(d)
	copy(b[n:], d)
	copy(b[n+len(d):], b[n+11:])
	return b[:len(b)-shift]
}

func (s *Syslog) send(ctx context.Context, deadline time.Time, b []byte, ends []int) error {
	if s.conn != nil && !alive(s.conn) {
		s.drop()
	}
	if s.conn == nil {
		dctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		var c net.Conn
		var err error
		if s.opts.TLS != nil {
			d := tls.Dialer{Config: s.opts.TLS}
			c, err = d.DialContext(dctx, s.network, s.address)
		} else {
			var d net.Dialer
			c, err = d.DialContext(dctx, s.network, s.address)
		}
		if err != nil {
			return fmt.Errorf("dial %s %s: %w", s.network, s.address, err)
		}
		s.conn = c
	}
	s.conn.SetWriteDeadline(deadline)
	if s.network == "tcp" {
		if _, err := s.conn.Write(b); err != nil {
			return fmt.Errorf("send to %s: %w", s.address, err)
		}
		return nil
	}
	start := 0
	for _, end := range ends {
		msg := b[start:end]
		start = end
		if _, err := s.conn.Write(msg); err != nil {
			return fmt.Errorf("send to %s: %w", s.address, err)
		}
	}
	return nil
}

// shrink appends e's message to b within MaxUDPBytes: first by
// shortening the event's message (the CEF Name), so that the extension
// with the event id survives, and failing that by cutting the end.
func (s *Syslog) shrink(b []byte, n int, e *activitylog.Event) []byte {
	short := *e
	for range 3 {
		excess := len(b) - n - s.opts.MaxUDPBytes
		keep := len(short.Message) - excess - len("…")
		if keep <= 0 {
			short.Message = "…"
		} else {
			short.Message = strings.ToValidUTF8(short.Message[:keep], "") + "…"
		}
		b = s.AppendMessage(b[:n], &short)
		if len(b)-n <= s.opts.MaxUDPBytes {
			return b
		}
		if short.Message == "…" {
			break
		}
	}
	return append(b[:n], cut(b[n:], s.opts.MaxUDPBytes)...)
}

// cut shortens msg to at most n bytes, at a character boundary and not
// inside a CEF backslash escape.
func cut(msg []byte, n int) []byte {
	msg = msg[:n]
	i := len(msg) - 1
	for i > 0 && !utf8.RuneStart(msg[i]) {
		i--
	}
	if i >= 0 && !utf8.FullRune(msg[i:]) {
		msg = msg[:i]
	}
	k := 0
	for k < len(msg) && msg[len(msg)-1-k] == '\\' {
		k++
	}
	if k%2 == 1 {
		msg = msg[:len(msg)-1]
	}
	return msg
}

// drop closes the connection, if any.
func (s *Syslog) drop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Close closes the connection. A later Write dials again.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close syslog connection: %w", err)
	}
	return nil
}
