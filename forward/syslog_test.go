package forward_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/forward"
)

// rfc5424 matches the messages the writer sends: PRI, VERSION,
// TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID, one SD element, MSG.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) \[([^ \]]+) id="([^"\\\]]*)"\] (.*)$`)

type syslogMsg struct {
	pri                                 int
	time                                time.Time
	host, app, procID, msgID, sdID, eid string
	cefHeader                           []string
	cef                                 map[string]string
	raw                                 string
}

func parseSyslog(t testing.TB, m string) syslogMsg {
	t.Helper()
	g := rfc5424.FindStringSubmatch(m)
	if g == nil {
		t.Fatalf("not an RFC 5424 message as sent: %q", m)
	}
	pri, _ := strconv.Atoi(g[1])
	ts, err := time.Parse(time.RFC3339Nano, g[2])
	if err != nil {
		t.Fatalf("timestamp %q: %v", g[2], err)
	}
	if frac := g[2][strings.IndexByte(g[2], '.')+1 : len(g[2])-1]; len(frac) > 6 {
		t.Errorf("TIME-SECFRAC %q has more than 6 digits", frac)
	}
	h, ext := parseCEF(t, g[9])
	return syslogMsg{pri: pri, time: ts, host: g[3], app: g[4], procID: g[5], msgID: g[6], sdID: g[7], eid: g[8], cefHeader: h, cef: ext, raw: m}
}

// tcpCollector is a local syslog collector over TCP that reads
// octet-counted frames (RFC 6587). With closeAfter > 0 it closes each
// connection after that many messages.
type tcpCollector struct {
	ln         net.Listener
	msgs       chan string
	conns      chan net.Conn
	closeAfter int
	closed     chan struct{}
}

func newTCPCollector(t *testing.T, closeAfter int) *tcpCollector {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveCollector(t, ln, closeAfter)
}

func serveCollector(t *testing.T, ln net.Listener, closeAfter int) *tcpCollector {
	c := &tcpCollector{ln: ln, msgs: make(chan string, 1000), conns: make(chan net.Conn, 10), closeAfter: closeAfter, closed: make(chan struct{}, 10)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.conns <- conn
			go c.read(t, conn)
		}
	}()
	return c
}

func (c *tcpCollector) read(t *testing.T, conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for n := 1; ; n++ {
		l, err := r.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(l, " "))
		if err != nil || size <= 0 || strings.HasPrefix(l, "0") {
			t.Errorf("bad octet count %q", l)
			return
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Errorf("short frame: %v", err)
			return
		}
		c.msgs <- string(buf)
		if n == c.closeAfter {
			conn.Close()
			c.closed <- struct{}{}
			return
		}
	}
}

func receive(t *testing.T, ch chan string, n int) []string {
	t.Helper()
	var got []string
	for range n {
		select {
		case m := <-ch:
			got = append(got, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("received %d messages, want %d", len(got), n)
		}
	}
	return got
}

func TestSyslogTCPFormat(t *testing.T) {
	t.Parallel()
	c := newTCPCollector(t, 0)
	w, err := forward.NewSyslog(c.ln.Addr().String(), &forward.SyslogOptions{Hostname: "web-1", ProductVersion: "1.0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	e := fixture()
	golden(t, "syslog.golden", append(w.AppendMessage(nil, &e), '\n'))
	if err := w.Write(context.Background(), []activitylog.Event{e}); err != nil {
		t.Fatal(err)
	}
	m := parseSyslog(t, receive(t, c.msgs, 1)[0])
	if m.pri != 13*8+4 {
		t.Errorf("PRI %d, want %d (log audit, warning)", m.pri, 13*8+4)
	}
	if !m.time.Equal(e.Time.Truncate(time.Microsecond)) || m.host != "web-1" || m.app != "activitylog" || m.procID != "-" || m.msgID != "auth" {
		t.Errorf("header: %+v", m)
	}
	if m.sdID != "activitylog@32473" || m.eid != e.ID.String() || m.cef["externalId"] != e.ID.String() {
		t.Errorf("event id: sd %s %s, cef %s", m.sdID, m.eid, m.cef["externalId"])
	}
	if m.cefHeader[5] != e.Message || m.cef["suser"] != "Bob Müller" || m.cef["cs1"] != "acme=corp" {
		t.Errorf("CEF: %v %v", m.cefHeader, m.cef)
	}
	if got := m.raw + "\n"; got != string(mustRead(t, "testdata/syslog.golden")) {
		t.Errorf("sent message differs from the golden file:\n%s", got)
	}
}

func TestSyslogSeverityAndFacility(t *testing.T) {
	t.Parallel()
	c := newTCPCollector(t, 0)
	w, _ := forward.NewSyslog(c.ln.Addr().String(), &forward.SyslogOptions{Facility: forward.FacilityAuthPriv})
	defer w.Close()
	want := map[activitylog.Severity]int{"debug": 7, "info": 6, "notice": 5, "warning": 4, "error": 3, "critical": 2}
	var es []activitylog.Event
	for _, s := range activitylog.Severities {
		e := batch(1)[0]
		e.Severity = s
		es = append(es, e)
	}
	if err := w.Write(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	for i, raw := range receive(t, c.msgs, len(es)) {
		m := parseSyslog(t, raw)
		if m.pri != 10*8+want[es[i].Severity] {
			t.Errorf("%s: PRI %d, want %d", es[i].Severity, m.pri, 10*8+want[es[i].Severity])
		}
	}
}

// The collector closes the connection; the next Write notices before
// writing, dials again, and nothing is lost.
func TestSyslogTCPReconnects(t *testing.T) {
	t.Parallel()
	c := newTCPCollector(t, 2)
	w, _ := forward.NewSyslog(c.ln.Addr().String(), nil)
	defer w.Close()
	es := batch(6)
	if err := w.Write(context.Background(), es[:2]); err != nil {
		t.Fatal(err)
	}
	receive(t, c.msgs, 2)
	<-c.closed
	time.Sleep(10 * time.Millisecond) // let the FIN arrive
	for i := 2; i < 6; i += 2 {
		if err := w.Write(context.Background(), es[i:i+2]); err != nil {
			t.Fatalf("write after the collector closed: %v", err)
		}
		got := receive(t, c.msgs, 2)
		for j, raw := range got {
			if id := parseSyslog(t, raw).eid; id != es[i+j].ID.String() {
				t.Errorf("message %d: id %s, want %s", i+j, id, es[i+j].ID)
			}
		}
		<-c.closed
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(c.conns); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

func TestSyslogDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w, _ := forward.NewSyslog(addr, &forward.SyslogOptions{Timeout: time.Second})
	err = w.Write(context.Background(), batch(1))
	if !errors.Is(err, activitylog.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestSyslogUDP(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	w, err := forward.NewSyslog(pc.LocalAddr().String(), &forward.SyslogOptions{Network: "udp", Hostname: "web-1", ProductVersion: "1.0", MaxUDPBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	es := batch(3)
	es[1].Message = strings.Repeat("é|\\=\n", 4000) // 24 KB before escaping
	es[2].Request.Path = "/" + strings.Repeat("ü\\", 2000)
	if err := w.Write(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	got := receive(t, msgs, 3)
	if m := parseSyslog(t, got[0]); m.eid != es[0].ID.String() || m.host != "web-1" || m.cefHeader[3] != "1.0" {
		t.Errorf("datagram 0: %q", got[0])
	}
	for i, raw := range got {
		if len(raw) > 1000 {
			t.Errorf("datagram %d has %d bytes, more than MaxUDPBytes", i, len(raw))
		}
	}
	// A long message is shortened and keeps its extension.
	m := parseSyslog(t, got[1])
	if m.cef["externalId"] != es[1].ID.String() || !strings.HasSuffix(m.cefHeader[5], "…") || !strings.HasPrefix(es[1].Message, strings.TrimSuffix(m.cefHeader[5], "…")) {
		t.Errorf("shortened message: %q", got[1])
	}
	// A long path cannot be saved that way: the end is cut, still
	// without a broken escape or character.
	if !strings.HasPrefix(got[2], "<") || strings.Count(got[2], "\uFFFD") != 0 {
		t.Errorf("cut message: %q", got[2])
	}
	if _, ext := parseCEF(t, got[2][strings.Index(got[2], "CEF:"):]); !strings.HasPrefix(es[2].Request.Path, ext["request"]) {
		t.Errorf("cut path %q is not a prefix of the path", ext["request"])
	}
}

func TestNewSyslogRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr  string
		opts  *forward.SyslogOptions
		field string
	}{
		{"nohostport", nil, "address"},
		{"127.0.0.1:514", &forward.SyslogOptions{Network: "unix"}, "network"},
		{"127.0.0.1:514", &forward.SyslogOptions{Facility: 24}, "facility"},
		{"127.0.0.1:514", &forward.SyslogOptions{SDID: "has space"}, "sdid"},
		{"127.0.0.1:514", &forward.SyslogOptions{Timeout: -1}, "timeout"},
	} {
		_, err := forward.NewSyslog(tc.addr, tc.opts)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("NewSyslog(%q, %+v): got %v, want a FieldError for %s", tc.addr, tc.opts, err, tc.field)
		}
	}
}

// Over TLS (RFC 5425 framing is the same), including a reconnect after
// the collector closed the session.
func TestSyslogTLS(t *testing.T) {
	t.Parallel()
	certs := httptest.NewTLSServer(nil) // for its certificate and client pool
	defer certs.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", certs.TLS)
	if err != nil {
		t.Fatal(err)
	}
	c := serveCollector(t, ln, 1)
	roots := certs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	w, err := forward.NewSyslog(ln.Addr().String(), &forward.SyslogOptions{TLS: &tls.Config{RootCAs: roots, ServerName: "example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	es := batch(2)
	for i := range es {
		if err := w.Write(context.Background(), es[i:i+1]); err != nil {
			t.Fatal(err)
		}
		if m := parseSyslog(t, receive(t, c.msgs, 1)[0]); m.eid != es[i].ID.String() {
			t.Errorf("message %d: id %s", i, m.eid)
		}
		<-c.closed
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(c.conns); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestSyslogConcurrentWrites(t *testing.T) {
	t.Parallel()
	c := newTCPCollector(t, 0)
	w, _ := forward.NewSyslog(c.ln.Addr().String(), nil)
	defer w.Close()
	es := batch(80)
	done := make(chan error)
	for g := range 8 {
		go func() { done <- w.Write(context.Background(), es[g*10:g*10+10]) }()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, raw := range receive(t, c.msgs, len(es)) {
		seen[parseSyslog(t, raw).eid] = true
	}
	if len(seen) != len(es) {
		t.Errorf("%d distinct events, want %d", len(seen), len(es))
	}
}
