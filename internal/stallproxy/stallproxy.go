// Package stallproxy is a TCP proxy for tests that, once told to stall,
// holds every byte back in both directions without closing anything: a
// server that stopped answering (a host gone, a network partition)
// rather than one that refused. The lock tests of the mysql and
// postgres stores use it.
package stallproxy

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards the TCP connections made to Addr to an upstream
// address until Stall.
type Proxy struct {
	addr    string
	stalled chan struct{}
	once    sync.Once
	close   func()
}

// New starts a Proxy on 127.0.0.1 in front of upstream; t's cleanup
// closes it.
func New(t testing.TB, upstream string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{addr: ln.Addr().String(), stalled: make(chan struct{})}
	var mu sync.Mutex
	var conns []net.Conn
	p.close = sync.OnceFunc(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	t.Cleanup(p.close)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			select {
			case <-p.stalled:
				return // hold it back; the connections stay open until Close
			default:
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				if err != io.EOF {
					return
				}
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			go pipe(u, c)
			go pipe(c, u)
		}
	}()
	return p
}

// Addr is the proxy's address, host:port.
func (p *Proxy) Addr() string { return p.addr }

// Stall stops forwarding: from now on nothing passes, and nothing is
// closed.
func (p *Proxy) Stall() { p.once.Do(func() { close(p.stalled) }) }

// Close closes the listener and every connection (t's cleanup does it
// too).
func (p *Proxy) Close() { p.close() }
