package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/activitylog/activitylog"
	"github.com/jackc/pgx/v5/pgconn"
)

// Write sends its rows in COPY's binary format, encoded here rather than
// through pgx's CopyFrom, which takes each value as an any (an
// allocation for each string) and looks up its encoder: this writes
// each row's 26 fields straight into the stream, with no allocation for
// a row whose text needs no repair. TestColumns reads every column back.

// The COPY statements of Write.
var (
	copyIDs    = "COPY event_ids (id, time) FROM STDIN (FORMAT binary)"
	copyEvents = "COPY events (" + strings.Join(stageColumns, ", ") + ") FROM STDIN (FORMAT binary)"
	copyStage  = "COPY pg_temp.events_stage (" + strings.Join(stageColumns, ", ") + ") FROM STDIN (FORMAT binary)"
)

// copyHeader starts a binary COPY stream: the signature, no flags, no
// header extension.
const copyHeader = "PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// copyTrailer ends it: a field count of -1.
const copyTrailer = "\xff\xff"

// copyFrom runs a COPY … FROM STDIN of what r reads. pgconn reads r in
// a goroutine of its own, which, when the connection fails, may still
// call Read after CopyFrom returned: r is guarded so that no Read
// touches the batch's buffers once copyFrom has returned, since Write
// hands them to the next batch.
func copyFrom(ctx context.Context, pc *pgconn.PgConn, r io.Reader, sql string) error {
	g := &guardedReader{r: r}
	_, err := pc.CopyFrom(ctx, g, sql)
	g.mu.Lock() // waits for a Read in progress
	g.closed = true
	g.mu.Unlock()
	return err
}

// guardedReader is an io.Reader that fails once closed.
type guardedReader struct {
	mu     sync.Mutex
	r      io.Reader
	closed bool
}

var errCopyEnded = errors.New("the COPY ended")

func (g *guardedReader) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, errCopyEnded
	}
	return g.r.Read(p)
}

// testHookCopyRow, when set (by tests), is called before each row of
// events the COPY encodes, with its index.
var testHookCopyRow func(ctx context.Context, i int)

// appendIDs returns the COPY stream of the batch's ids and times, for
// event_ids.
func (b *writeBuf) appendIDs() []byte {
	out := append(b.ids[:0], copyHeader...)
	for i, e := range b.events {
		out = binary.BigEndian.AppendUint16(out, 2)
		out = appendField(out, e.ID[:])
		out = appendInt8(out, b.times[i])
	}
	b.ids = append(out, copyTrailer...)
	return b.ids
}

// copyReader is the COPY stream of a batch's events, encoded a chunk at
// a time as the connection reads it.
type copyReader struct {
	ctx  context.Context
	b    *writeBuf
	i    int    // the next event to encode
	buf  []byte // encoded and not yet read
	off  int
	done bool // the trailer is in buf
}

func (r *copyReader) Read(p []byte) (int, error) {
	for r.off == len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		r.buf, r.off = r.b.stream[:0], 0
		if r.i == 0 {
			r.buf = append(r.buf, copyHeader...)
		}
		for len(r.buf) < 32<<10 && r.i < len(r.b.events) {
			if testHookCopyRow != nil {
				testHookCopyRow(r.ctx, r.i)
			}
			r.buf = r.b.appendRow(r.buf, r.i)
			r.i++
		}
		if r.i == len(r.b.events) {
			r.buf = append(r.buf, copyTrailer...)
			r.done = true
		}
		r.b.stream = r.buf
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// appendRow appends event i as a row of stageColumns.
func (b *writeBuf) appendRow(out []byte, i int) []byte {
	e := b.events[i]
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	sp := b.spans[i]
	out = binary.BigEndian.AppendUint16(out, uint16(len(stageColumns)))
	out = appendField(out, e.ID[:])
	out = appendInt8(out, b.times[i])
	for _, v := range [...]string{
		string(e.Kind), e.Action, string(e.Severity), e.Tenant, e.Actor.ID, e.Actor.Name,
		e.Object.Type, e.Object.ID, e.Object.Repr, e.Message, e.Request.Path, activitylog.RouteOf(e), e.Request.RemoteIP,
	} {
		out = appendText(out, v)
	}
	out = binary.BigEndian.AppendUint32(out, 4)
	out = binary.BigEndian.AppendUint32(out, uint32(int32(e.Response.Status)))
	out = appendInt8(out, int64(e.Response.Duration))
	for _, v := range [...]string{
		e.Request.Method, e.Request.Origin, e.Category, e.Tool, e.Request.Geo.CountryCode, e.Request.Geo.Country,
	} {
		out = appendText(out, v)
	}
	out = b.appendJSONB(out, sp.Changes)
	out = b.appendJSONB(out, sp.Extra)
	return appendField(out, b.data[start:b.ends[i]])
}

// appendField appends a field of len(v) bytes.
func appendField(out, v []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
	return append(out, v...)
}

// appendText appends s as a text field, as text repairs it.
func appendText(out []byte, s string) []byte {
	s = text(s)
	out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
	return append(out, s...)
}

func appendInt8(out []byte, v int64) []byte {
	out = binary.BigEndian.AppendUint32(out, 8)
	return binary.BigEndian.AppendUint64(out, uint64(v))
}

// appendJSONB appends the JSON at span of b.data as a jsonb field (a
// version byte, then the text), without \u0000, which jsonb refuses;
// NULL for an empty span.
func (b *writeBuf) appendJSONB(out []byte, span [2]int) []byte {
	if span[1] == 0 {
		return binary.BigEndian.AppendUint32(out, 0xffffffff)
	}
	j := b.data[span[0]:span[1]]
	if f, ok := withoutNUL(j); ok {
		j = f
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(j)+1))
	out = append(out, 1)
	return append(out, j...)
}
