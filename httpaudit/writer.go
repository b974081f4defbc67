package httpaudit

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// responseWriter records the status and counts the bytes of a response.
// It always offers http.Flusher, http.Hijacker, io.ReaderFrom and
// io.StringWriter, delegating to the writer it wraps (directly or
// through that writer's own Unwrap chain), and its Unwrap lets
// http.ResponseController reach the rest (deadlines, full duplex).
type responseWriter struct {
	w           http.ResponseWriter
	status      int    // the first final status written
	bytes       int64  // body bytes written through this writer
	wroteHeader bool   // a final status was written, explicitly or not
	keep        int    // body bytes to keep (LevelRequestResponse); 0 keeps none
	kept        []byte // the first keep body bytes written
	cut         bool   // more than keep bytes were written
}

var (
	_ http.Flusher    = (*responseWriter)(nil)
	_ http.Hijacker   = (*responseWriter)(nil)
	_ io.ReaderFrom   = (*responseWriter)(nil)
	_ io.StringWriter = (*responseWriter)(nil)
)

func (rw *responseWriter) Header() http.Header { return rw.w.Header() }

// WriteHeader keeps the first final status. Informational statuses
// (1xx) other than 101 Switching Protocols are passed on without being
// taken as final, as net/http does. Later calls are passed on too, so
// the wrapped writer still reports them as superfluous.
func (rw *responseWriter) WriteHeader(code int) {
	if !rw.wroteHeader && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		rw.status = code
		rw.wroteHeader = true
	}
	rw.w.WriteHeader(code)
}

// implicitOK notes the 200 that the wrapped writer sends when the body
// starts without a WriteHeader.
func (rw *responseWriter) implicitOK() {
	if !rw.wroteHeader {
		rw.status = http.StatusOK
		rw.wroteHeader = true
	}
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	rw.implicitOK()
	n, err := rw.w.Write(p)
	rw.bytes += int64(n)
	if rw.keep > 0 && n > 0 {
		rw.kept, rw.cut = keepBytes(rw.kept, p[:n], rw.keep, rw.cut)
	}
	return n, err
}

// WriteString keeps io.WriteString from copying s when the wrapped
// writer (like net/http's) takes strings.
func (rw *responseWriter) WriteString(s string) (int, error) {
	rw.implicitOK()
	if rw.keep > 0 {
		return rw.Write([]byte(s))
	}
	var n int
	var err error
	if sw, ok := rw.w.(io.StringWriter); ok {
		n, err = sw.WriteString(s)
	} else {
		n, err = rw.w.Write([]byte(s))
	}
	rw.bytes += int64(n)
	return n, err
}

// ReadFrom passes io.Copy on to the wrapped writer's ReadFrom, so that
// net/http can still use sendfile or splice.
func (rw *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	rw.implicitOK()
	if rw.keep > 0 {
		// Keeping the body means seeing it: copy through Write, which
		// gives up sendfile at this level only.
		return io.Copy(writerOnly{rw}, src)
	}
	var n int64
	var err error
	if rf, ok := rw.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{rw.w}, src)
	}
	rw.bytes += n
	return n, err
}

// writerOnly hides every method but Write, so io.Copy cannot loop back.
type writerOnly struct{ io.Writer }

// Flush implements http.Flusher. It does nothing when the wrapped
// writer cannot flush.
func (rw *responseWriter) Flush() { _ = rw.FlushError() }

// FlushError is what http.ResponseController.Flush calls. It returns an
// error wrapping http.ErrNotSupported when the wrapped writer cannot
// flush.
func (rw *responseWriter) FlushError() error {
	err := http.NewResponseController(rw.w).Flush()
	if err == nil {
		rw.implicitOK()
	}
	return err
}

// Hijack implements http.Hijacker. It returns an error wrapping
// http.ErrNotSupported when the wrapped writer cannot hijack (HTTP/2,
// httptest.ResponseRecorder). After a successful hijack the status is
// 101 Switching Protocols, unless a final status was written before;
// what the handler writes to the connection itself is not counted.
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(rw.w).Hijack()
	if err == nil && !rw.wroteHeader {
		rw.status = http.StatusSwitchingProtocols
		rw.wroteHeader = true
	}
	return c, brw, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.w }
