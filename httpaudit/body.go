package httpaudit

import "io"

// body counts the bytes the handler reads from the request body.
type body struct {
	rc io.ReadCloser
	n  int64
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }
