//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package forward

import (
	"crypto/tls"
	"net"
	"syscall"
)

// alive reports whether c is still open at the other end, without
// waiting or consuming anything: it peeks at the socket, which a
// collector never writes to, so end of stream or an error means that
// the collector closed it. Data (over TLS, a close_notify) counts as
// closing too.
func alive(c net.Conn) bool {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
			open = true
		case err != nil, n == 0, n > 0:
			open = false
		}
		return true
	})
	return err == nil && open
}
