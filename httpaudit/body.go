package httpaudit

import "io"

// body counts the bytes the handler reads from the request body, and
// keeps the first keep of them when the level records bodies.
type body struct {
	rc   io.ReadCloser
	n    int64
	keep int    // bytes to keep; 0 keeps none
	kept []byte // the first keep bytes read
	cut  bool   // more than keep bytes were read
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if b.keep > 0 && n > 0 {
		b.kept, b.cut = keepBytes(b.kept, p[:n], b.keep, b.cut)
	}
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }

// keepBytes appends to kept as much of p as fits in max bytes, and
// reports whether anything had to be left out. It allocates the buffer
// only when there is something to keep, and never more than limit.
func keepBytes(kept, p []byte, limit int, cut bool) ([]byte, bool) {
	room := limit - len(kept)
	if room <= 0 {
		return kept, cut || len(p) > 0
	}
	if len(p) > room {
		p, cut = p[:room], true
	}
	if kept == nil {
		kept = make([]byte, 0, min(limit, max(len(p), 512)))
	}
	return append(kept, p...), cut
}
