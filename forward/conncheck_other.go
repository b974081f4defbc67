//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package forward

import (
	"errors"
	"net"
	"os"
	"time"
)

// alive reports whether c is still open at the other end: a read with
// a 1ms deadline that times out means open; end of stream, data or an
// error means the collector closed it.
func alive(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	var buf [1]byte
	_, err := c.Read(buf[:])
	return errors.Is(err, os.ErrDeadlineExceeded)
}
