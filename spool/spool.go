package spool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
)

var _ activitylog.Writer = (*Spool)(nil)

// Options configures a Spool. The zero value, or nil, means the defaults
// written beside each field.
type Options struct {
	// MaxBytes caps the spool's size on disk: the sum of its segment
	// files, replayed records included until their segment is deleted.
	// A Write that would pass it fails with an error wrapping ErrFull
	// and writes nothing. Default: 1 GiB.
	MaxBytes int64
	// SegmentBytes is the size at which Write starts a new segment
	// file. A batch larger than that gets a segment of its own.
	// Default: 64 MiB.
	SegmentBytes int64
	// SyncInterval is the group-commit window: Writes that arrive
	// within it share one fsync. Default: 0, one fsync per Write. In
	// either case Write returns only once its record is fsynced.
	SyncInterval time.Duration
}

const (
	defaultMaxBytes     = 1 << 30
	defaultSegmentBytes = 64 << 20
)

var (
	// ErrFull: a Write would take the spool past Options.MaxBytes. It
	// wraps activitylog.ErrUnavailable, so callers treat a full spool
	// as an outage.
	ErrFull = fmt.Errorf("spool full: %w", activitylog.ErrUnavailable)
	// ErrCorrupt: Replay met a record that fails its length or CRC
	// check before the end of a segment. The error is a *CorruptError.
	ErrCorrupt = errors.New("corrupt spool record")
	errClosed  = fmt.Errorf("spool closed: %w", activitylog.ErrUnavailable)
)

// CorruptError reports a damaged record that Replay could not read: the
// segment file, the record's offset in it, why, where the segment was
// moved to, and how many events the segment held after that offset
// (lost, as far as the record headers tell). It wraps ErrCorrupt.
type CorruptError struct {
	Path       string
	Offset     int64
	Reason     string
	Quarantine string
	Lost       int64
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt spool record in %s at offset %d: %s; segment moved to %s, %d events lost",
		e.Path, e.Offset, e.Reason, e.Quarantine, e.Lost)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// The segment file format: an 8-byte magic, then records. A record is a
// 12-byte header, then the batch as its encoding/json array:
//
//	payload length uint32 | event count uint32 | CRC32C of the 8 bytes before and the payload
//
// all little-endian.
const (
	segMagic      = "ALSPOOL\x01"
	segHeaderLen  = int64(len(segMagic))
	recHeaderLen  = 12
	segExt        = ".seg"
	corruptExt    = ".corrupt"
	maxPayloadLen = 1<<32 - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type segment struct {
	seq        uint64
	path       string
	f          *os.File // open for writing: the active segment only
	size       int64    // bytes written
	durable    int64    // bytes fsynced: Replay reads no further
	events     int64    // events in the records up to size (as far as readable)
	doneOff    int64    // records before this offset were replayed
	doneEvents int64    // events in them
	gone       error    // set when the active segment was quarantined under pending Writes
}

// Spool is a durable queue of batches on local disk. Write appends a
// batch as one record and fsyncs it; Replay writes the records, oldest
// first, to another Writer and deletes each segment file once all of
// its records are written. All its methods are safe for concurrent use;
// Replay calls run one at a time.
type Spool struct {
	dir  string
	opts Options
	lock *os.File

	replayMu sync.Mutex // one Replay at a time; guards cp and cpFile
	cpFile   *os.File
	cp       checkpoint

	mu      sync.Mutex
	cond    *sync.Cond // signalled when syncing ends or durable grows
	segs    []*segment // oldest first; the last is active when active != nil
	active  *segment
	nextSeq uint64
	bytes   int64 // sum of the segments' sizes
	events  int64 // events not yet replayed
	syncing bool  // a group-commit leader owns the next fsync
	err     error // sticky: set when a fsync or a rollback failed
	closed  bool

	bufs sync.Pool

	verify verifyStats // Open's work on the last segment; for tests
}

// Open opens the spool in dir, creating dir when it is missing. It
// takes a lock on the directory (dir/LOCK), so another process cannot
// open it at the same time. It reads every segment's record headers to
// count the events, and checks the last segment record by record: a
// record torn by a crash (short, or failing its CRC) and everything
// after it is cut off. Such a record was never acknowledged, because a
// Write returns only after its fsync.
func Open(dir string, opts *Options) (*Spool, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.MaxBytes < 0:
		return nil, activitylog.Invalid("MaxBytes", strconv.FormatInt(o.MaxBytes, 10), "must not be negative")
	case o.SegmentBytes < 0:
		return nil, activitylog.Invalid("SegmentBytes", strconv.FormatInt(o.SegmentBytes, 10), "must not be negative")
	case o.SyncInterval < 0:
		return nil, activitylog.Invalid("SyncInterval", o.SyncInterval.String(), "must not be negative")
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = defaultMaxBytes
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = defaultSegmentBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, err
	}
	s := &Spool{dir: dir, opts: o, lock: lock}
	s.cond = sync.NewCond(&s.mu)
	s.bufs.New = func() any { return new(bytes.Buffer) }
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

func (s *Spool) load() error {
	var err error
	s.cpFile, err = os.OpenFile(filepath.Join(s.dir, checkpointName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open spool checkpoint: %w", err)
	}
	if s.cp, err = readCheckpoint(s.cpFile); err != nil {
		return err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("read spool directory: %w", err)
	}
	// A clean Close leaves no torn tail: then a bad record anywhere is
	// damage for Replay to report, never a tail to cut off.
	clean := false
	cleanPath := filepath.Join(s.dir, cleanName)
	if _, err := os.Stat(cleanPath); err == nil {
		clean = true
		if err := os.Remove(cleanPath); err != nil {
			return fmt.Errorf("remove spool clean marker: %w", err)
		}
		if err := syncDir(s.dir); err != nil {
			return fmt.Errorf("sync spool directory: %w", err)
		}
	}
	maxSeq := s.cp.seq
	var segs []*segment
	for _, e := range entries {
		name := e.Name()
		base, _, _ := strings.Cut(name, ".")
		seq, err := strconv.ParseUint(base, 10, 64)
		if err != nil || !strings.HasPrefix(name[len(base):], segExt) {
			continue
		}
		maxSeq = max(maxSeq, seq)
		if name[len(base):] != segExt {
			continue // quarantined: *.seg.corrupt
		}
		path := filepath.Join(s.dir, name)
		if seq < s.cp.seq {
			// Replayed; the crash came before its removal.
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("remove replayed spool segment: %w", err)
			}
			continue
		}
		segs = append(segs, &segment{seq: seq, path: path})
	}
	slices.SortFunc(segs, func(a, b *segment) int { return cmpUint(a.seq, b.seq) })
	s.nextSeq = maxSeq + 1
	for i, seg := range segs {
		last := i == len(segs)-1 && !clean
		if err := s.scan(seg, last); err != nil {
			return err
		}
		if seg.size == 0 {
			continue // a torn segment creation, removed by scan
		}
		if seg.doneOff >= seg.size {
			if err := os.Remove(seg.path); err != nil {
				return fmt.Errorf("remove replayed spool segment: %w", err)
			}
			continue
		}
		s.segs = append(s.segs, seg)
		s.bytes += seg.size
		s.events += seg.events - seg.doneEvents
	}
	return nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scan reads seg's record headers to count its events. In the last
// segment it also checks every CRC and cuts off a torn tail.
func (s *Spool) scan(seg *segment, last bool) error {
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(seg.path, flag, 0)
	if err != nil {
		return fmt.Errorf("open spool segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat spool segment: %w", err)
	}
	size := fi.Size()
	var magic [segHeaderLen]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || string(magic[:]) != segMagic {
		if last && size <= segHeaderLen {
			// A new segment is fsynced with its magic before any record
			// goes in: this one was torn while being created.
			if err := os.Remove(seg.path); err != nil {
				return fmt.Errorf("remove torn spool segment: %w", err)
			}
			seg.size = 0
			return nil
		}
		// Replay reports it.
		seg.size, seg.durable, seg.doneOff = size, size, 0
		return nil
	}
	seg.doneOff = segHeaderLen
	if seg.seq == s.cp.seq && s.cp.off > segHeaderLen {
		seg.doneOff = s.cp.off
	}
	off := segHeaderLen
	verify := last
	var partial int64 // events named by a header whose record runs past the end
	var hdr [recHeaderLen]byte
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<20)
	if _, err := r.Discard(int(segHeaderLen)); err != nil {
		return fmt.Errorf("read spool segment: %w", err)
	}
	for off < size {
		if off == seg.doneOff {
			seg.doneEvents = seg.events
		}
		if size-off < recHeaderLen {
			break
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fmt.Errorf("read spool segment: %w", err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
		count := int64(binary.LittleEndian.Uint32(hdr[4:8]))
		if off+recHeaderLen+n > size {
			partial = count
			if last {
				damaged, err := validAfter(f, off+1, size, &s.verify)
				if err != nil {
					return fmt.Errorf("read spool segment %s: %w", seg.path, err)
				}
				if damaged {
					last = false // damage, not a tear: Replay reports it
				}
			}
			break
		}
		if verify {
			crc, err := crcFrom(crc32.Checksum(hdr[:8], castagnoli), r, n)
			if err != nil {
				return fmt.Errorf("read spool segment: %w", err)
			}
			s.verify.hashed += n
			if crc != binary.LittleEndian.Uint32(hdr[8:12]) {
				damaged, err := validAfter(f, off+1, size, &s.verify)
				if err != nil {
					return fmt.Errorf("read spool segment %s: %w", seg.path, err)
				}
				if !damaged {
					break
				}
				// A good record follows: this one was damaged, not
				// torn. Count on; Replay reports it.
				verify, last = false, false
			}
		} else if _, err := r.Discard(int(n)); err != nil {
			return fmt.Errorf("read spool segment: %w", err)
		}
		off += recHeaderLen + n
		seg.events += count
	}
	if off == seg.doneOff {
		seg.doneEvents = seg.events
	}
	if off < size && last {
		// A torn tail: the record at off was never acknowledged.
		if err := f.Truncate(off); err != nil {
			return fmt.Errorf("cut torn tail of spool segment %s at offset %d: %w", seg.path, off, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync spool segment: %w", err)
		}
		size = off
	}
	// A sealed segment whose headers stop making sense before its end
	// keeps its full size: Replay reports the record at off, and counts
	// the events its header named as lost.
	if off < size {
		seg.events += partial
	}
	seg.size, seg.durable = size, size
	seg.doneOff = min(seg.doneOff, size)
	return nil
}

// Bounds on validAfter's search, so that Open does work linear in the
// size of the segment however its tail was damaged.
const (
	// minEventJSON is the length of the shortest JSON an event that
	// passes Validate encodes to: the five fields never omitted, with
	// empty values. A record of count events has a payload of at least
	// count*(minEventJSON+1)+2 bytes: "[", the events and the commas
	// between them, "]\n".
	minEventJSON = int64(len(`{"id":"","time":"","kind":"","action":"","severity":""}`))
	// verifyWindow is the size of the windows validAfter reads.
	verifyWindow = 1 << 20
	// maxTailReads caps the candidates whose last bytes validAfter
	// reads from outside its window.
	maxTailReads = 1 << 12
)

// payloadStart and payloadEnd open and close every payload Write
// produces: json.Encoder's encoding of a non-empty []activitylog.Event.
const (
	payloadStart = "[{"
	payloadEnd   = "}]\n"
)

// plausible reports whether a record header's payload length n and
// event count could have been written by Write.
func plausible(n, count int64) bool {
	return count >= 1 && count*(minEventJSON+1)+2 <= n
}

// verifyStats counts the work Open did checking the last segment: the
// bytes it ran through CRC32C, and in validAfter the bytes read, the
// offsets that passed the cheap checks, the reads of a candidate's last
// bytes, and whether a budget ran out. Tests bound them.
type verifyStats struct {
	hashed     int64
	read       int64
	candidates int64
	tailReads  int64
	exhausted  bool
}

// validAfter reports whether a whole record with a good CRC starts
// anywhere in [from, size). A crash tears only the tail, so a good
// record after a bad one means the bad one was damaged, not torn.
//
// Only offsets whose header could have been written by Write are
// checked: the record fits before size, its count is plausible
// (plausible), and its payload starts with "[{" and ends with "}]\n".
// The segment is read in windows of verifyWindow bytes and searched
// for "[{", so that junk costs one pass. The payloads whose CRC it
// checks add up to at most twice the bytes searched plus one window,
// and at most maxTailReads candidates have their last bytes read from
// outside the window. When a budget runs out, which takes a file crafted to defeat
// the checks above, the question stays open and validAfter reports
// true: Open keeps the tail and Replay reports it, rather than cut off
// records that may have been acknowledged.
func validAfter(f io.ReaderAt, from, size int64, st *verifyStats) (bool, error) {
	const overlap = recHeaderLen + int64(len(payloadStart)) - 1
	budget := st.hashed + 2*(size-from) + verifyWindow
	var win, chunk []byte
	for pos := from; size-pos >= recHeaderLen+minEventJSON+3; {
		end := min(size, pos+verifyWindow)
		if win == nil {
			win = make([]byte, end-pos)
		}
		b := win[:end-pos]
		if _, err := f.ReadAt(b, pos); err != nil {
			return false, err
		}
		st.read += int64(len(b))
		for i := 0; int64(i)+overlap < int64(len(b)); {
			j := bytes.Index(b[i+recHeaderLen:], []byte(payloadStart))
			if j < 0 {
				break
			}
			p := i + j // the candidate header, recHeaderLen before "[{"
			i = p + 1
			at := pos + int64(p)
			n := int64(binary.LittleEndian.Uint32(b[p:]))
			if n > size-at-recHeaderLen || !plausible(n, int64(binary.LittleEndian.Uint32(b[p+4:]))) {
				continue
			}
			st.candidates++
			start, stop := at+recHeaderLen, at+recHeaderLen+n // the payload
			var tail [len(payloadEnd)]byte
			if t := stop - int64(len(tail)); stop <= end {
				copy(tail[:], b[t-pos:])
			} else {
				if st.tailReads >= maxTailReads {
					st.exhausted = true
					return true, nil
				}
				st.tailReads++
				if _, err := f.ReadAt(tail[:], t); err != nil {
					return false, err
				}
				st.read += int64(len(tail))
			}
			if string(tail[:]) != payloadEnd {
				continue
			}
			if st.hashed+n > budget {
				st.exhausted = true
				return true, nil
			}
			st.hashed += n
			crc := crc32.Checksum(b[p:p+8], castagnoli)
			inWin := min(stop, end)
			crc = crc32.Update(crc, castagnoli, b[start-pos:inWin-pos])
			for o := inWin; o < stop; {
				if chunk == nil {
					chunk = make([]byte, 64<<10)
				}
				c := chunk[:min(int64(len(chunk)), stop-o)]
				if _, err := f.ReadAt(c, o); err != nil {
					return false, err
				}
				st.read += int64(len(c))
				crc = crc32.Update(crc, castagnoli, c)
				o += int64(len(c))
			}
			if crc == binary.LittleEndian.Uint32(b[p+8:]) {
				return true, nil
			}
		}
		if end == size {
			break
		}
		pos = end - overlap
	}
	return false, nil
}

// crcFrom updates crc with the next n bytes of r.
func crcFrom(crc uint32, r *bufio.Reader, n int64) (uint32, error) {
	for n > 0 {
		b, err := r.Peek(int(min(n, int64(r.Size()))))
		crc = crc32.Update(crc, castagnoli, b)
		r.Discard(len(b))
		n -= int64(len(b))
		if err != nil && n > 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return crc, err
		}
	}
	return crc, nil
}

func recordCRC(hdr8, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(hdr8, castagnoli), castagnoli, payload)
}

// Write appends events as one record and returns once it is fsynced.
// The record is all or nothing: a crash mid-write leaves a torn record
// that Open cuts off. Each event must pass Event.Validate (an error
// wrapping activitylog.ErrInvalid names the first that does not), so
// that Replay never meets a batch its writer must refuse. An empty batch
// is a no-op. ctx is checked once, before the write.
//
// Write fails with an error wrapping ErrFull when the record would take
// the spool past MaxBytes. After a failed fsync the Spool refuses every
// Write, since the kernel may have dropped the unsynced pages; Close it
// and Open it again, which checks the tail.
func (s *Spool) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write spool: %w", err)
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			var fe *activitylog.FieldError
			if errors.As(err, &fe) {
				return activitylog.Invalid("events["+strconv.Itoa(i)+"]."+fe.Field, fe.Value, fe.Reason)
			}
			return err
		}
	}
	buf := s.bufs.Get().(*bytes.Buffer)
	defer s.bufs.Put(buf)
	buf.Reset()
	var zero [recHeaderLen]byte
	buf.Write(zero[:])
	if err := json.NewEncoder(buf).Encode(events); err != nil {
		return fmt.Errorf("encode spool record: %w", err)
	}
	rec := buf.Bytes()
	n := len(rec) - recHeaderLen
	if n > maxPayloadLen {
		return activitylog.Invalid("events", strconv.Itoa(len(events))+" events", "encode to more than 4 GiB")
	}
	binary.LittleEndian.PutUint32(rec[0:4], uint32(n))
	binary.LittleEndian.PutUint32(rec[4:8], uint32(len(events)))
	binary.LittleEndian.PutUint32(rec[8:12], recordCRC(rec[0:8], rec[recHeaderLen:]))

	s.mu.Lock()
	defer s.mu.Unlock()
	seg, end, err := s.appendLocked(rec, int64(len(events)))
	if err != nil {
		return err
	}
	if s.opts.SyncInterval <= 0 {
		if err := seg.f.Sync(); err != nil {
			return s.failLocked(seg, err)
		}
		seg.durable = seg.size
		return nil
	}
	return s.groupCommitLocked(seg, end)
}

// appendLocked writes rec at the end of the active segment, starting a
// new segment first when needed, and returns the segment and the end
// offset of rec in it.
func (s *Spool) appendLocked(rec []byte, events int64) (*segment, int64, error) {
	n := int64(len(rec))
	var roll bool
	for {
		if s.closed {
			return nil, 0, fmt.Errorf("write spool: %w", errClosed)
		}
		if s.err != nil {
			return nil, 0, fmt.Errorf("write spool: %w", s.err)
		}
		a := s.active
		roll = a != nil && a.size > segHeaderLen && a.size+n > s.opts.SegmentBytes
		need := n
		if a == nil || roll {
			need += segHeaderLen
		}
		if s.bytes+need > s.opts.MaxBytes {
			return nil, 0, fmt.Errorf("write spool %s: a %d-byte record would take it from %d bytes past MaxBytes %d: %w",
				s.dir, n, s.bytes, s.opts.MaxBytes, ErrFull)
		}
		if roll && s.syncing {
			s.cond.Wait() // the group-commit leader is using the file
			continue
		}
		break
	}
	if roll {
		if err := s.sealLocked(); err != nil {
			return nil, 0, err
		}
	}
	if s.active == nil {
		if err := s.createLocked(); err != nil {
			return nil, 0, err
		}
	}
	a := s.active
	if _, err := a.f.WriteAt(rec, a.size); err != nil {
		err = fmt.Errorf("write spool segment %s: %w", a.path, err)
		if terr := a.f.Truncate(a.size); terr != nil {
			s.err = fmt.Errorf("%w; roll back: %w: %w", err, terr, activitylog.ErrUnavailable)
			return nil, 0, s.err
		}
		return nil, 0, fmt.Errorf("%w: %w", activitylog.ErrUnavailable, err)
	}
	a.size += n
	a.events += events
	s.bytes += n
	s.events += events
	return a, a.size, nil
}

// sealLocked fsyncs and closes the active segment; it stays in segs for
// Replay.
func (s *Spool) sealLocked() error {
	a := s.active
	if a.durable < a.size {
		if err := a.f.Sync(); err != nil {
			return s.failLocked(a, err)
		}
		a.durable = a.size
		s.cond.Broadcast()
	}
	if err := a.f.Close(); err != nil {
		return s.failLocked(a, err)
	}
	a.f = nil
	s.active = nil
	return nil
}

// createLocked starts a new segment: its magic is fsynced, and so is the
// directory entry, before any record goes in.
func (s *Spool) createLocked() error {
	seq := s.nextSeq
	path := filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segExt))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create spool segment: %w: %w", activitylog.ErrUnavailable, err)
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("create spool segment %s: %w: %w", path, activitylog.ErrUnavailable, err)
	}
	if _, err := f.WriteAt([]byte(segMagic), 0); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := syncDir(s.dir); err != nil {
		return fail(err)
	}
	s.nextSeq++
	seg := &segment{seq: seq, path: path, f: f, size: segHeaderLen, durable: segHeaderLen, doneOff: segHeaderLen}
	s.segs = append(s.segs, seg)
	s.active = seg
	s.bytes += segHeaderLen
	return nil
}

const cleanName = "CLEAN"

// markClean records that the spool was closed with every record whole.
func markClean(dir string) error {
	f, err := os.Create(filepath.Join(dir, cleanName))
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// failLocked makes a failed fsync sticky.
func (s *Spool) failLocked(seg *segment, err error) error {
	s.err = fmt.Errorf("sync spool segment %s: %w: %w", seg.path, activitylog.ErrUnavailable, err)
	s.cond.Broadcast()
	return s.err
}

// groupCommitLocked waits until seg is durable up to end. The first
// waiter becomes the leader: it waits SyncInterval for others to append,
// then fsyncs once for all of them.
func (s *Spool) groupCommitLocked(seg *segment, end int64) error {
	for seg.durable < end {
		if s.err != nil {
			return s.err
		}
		if seg.gone != nil {
			return fmt.Errorf("write spool: %w", seg.gone)
		}
		if s.syncing {
			s.cond.Wait()
			continue
		}
		s.syncing = true
		s.mu.Unlock()
		time.Sleep(s.opts.SyncInterval)
		s.mu.Lock()
		// seg may have been sealed (and so synced) meanwhile; the active
		// segment cannot be sealed or closed while syncing is set.
		a := s.active
		var err error
		var target int64
		if a != nil && a.durable < a.size {
			target = a.size
			s.mu.Unlock()
			err = a.f.Sync()
			s.mu.Lock()
		}
		s.syncing = false
		if err != nil {
			s.failLocked(a, err)
		} else if a != nil && a.durable < target {
			a.durable = target
		}
		s.cond.Broadcast()
	}
	return nil
}

// Len returns the events not yet replayed and the spool's size on disk,
// which MaxBytes caps.
func (s *Spool) Len() (events int64, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events, s.bytes
}

// Replay writes every spooled batch to w, oldest first, one Write per
// batch as it was spooled, and returns the number of events written. It
// stops at the first batch w refuses and returns that error; the next
// Replay starts again with that batch.
//
// After each batch that w wrote, Replay records a checkpoint (fsynced),
// so a crash mid-replay sends again at most the one batch whose
// checkpoint was not yet written; w is idempotent by event id. A
// segment file is deleted once all of its batches are written. Replay
// reads only fsynced records, and may run while Writes go on: it
// replays what was acknowledged when it reached each segment, up to the
// end of the active segment.
//
// A record that fails its length, CRC or JSON check (bit rot, not a
// crash: Open cuts off torn tails) cannot be read, nor can those after
// it. Replay moves that segment aside to *.seg.corrupt, counts the
// events it still held as lost, goes on with the next segments, and
// returns a *CorruptError (wrapping ErrCorrupt) naming the file and
// offset, joined with any other error. The quarantined file is kept for
// inspection and no longer counts towards MaxBytes.
func (s *Spool) Replay(ctx context.Context, w activitylog.Writer) (int, error) {
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	total := 0
	var errs []error
	var skip uint64 // segments below this were handled in this call
	for {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("replay spool: %w", err))
			break
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			errs = append(errs, fmt.Errorf("replay spool: %w", errClosed))
			break
		}
		var seg *segment
		for _, g := range s.segs {
			if g.seq >= skip {
				seg = g
				break
			}
		}
		s.mu.Unlock()
		if seg == nil {
			break
		}
		n, done, err := s.replaySegment(ctx, seg, w)
		total += n
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				errs = append(errs, err)
				break
			}
			errs = append(errs, err)
		}
		if !done {
			break
		}
		skip = seg.seq + 1
	}
	return total, errors.Join(errs...)
}

// replaySegment replays seg's records from its checkpoint. done reports
// that seg is finished with (deleted or quarantined), or that it is the
// active segment and fully replayed.
func (s *Spool) replaySegment(ctx context.Context, seg *segment, w activitylog.Writer) (n int, done bool, err error) {
	f, err := os.Open(seg.path)
	if err != nil {
		return 0, false, fmt.Errorf("replay spool: %w", err)
	}
	defer f.Close()
	s.mu.Lock()
	off := seg.doneOff
	s.mu.Unlock()
	if off < segHeaderLen {
		var magic [segHeaderLen]byte
		if _, err := f.ReadAt(magic[:], 0); err != nil || string(magic[:]) != segMagic {
			return 0, true, s.quarantine(seg, 0, "bad segment magic")
		}
		s.mu.Lock()
		seg.doneOff = segHeaderLen
		s.mu.Unlock()
	}
	var hdr [recHeaderLen]byte
	var payload []byte
	for {
		if err := ctx.Err(); err != nil {
			return n, false, fmt.Errorf("replay spool: %w", err)
		}
		s.mu.Lock()
		off, end := seg.doneOff, seg.durable
		if off >= end {
			done = s.finishLocked(seg)
			s.mu.Unlock()
			if done {
				if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
					return n, false, fmt.Errorf("remove replayed spool segment: %w", err)
				}
			}
			return n, done, nil
		}
		s.mu.Unlock()
		if end-off < recHeaderLen {
			return n, true, s.quarantine(seg, off, fmt.Sprintf("%d bytes left, too short for a record header", end-off))
		}
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return n, false, fmt.Errorf("replay spool: read %s: %w", seg.path, err)
		}
		ln := int64(binary.LittleEndian.Uint32(hdr[0:4]))
		count := int(binary.LittleEndian.Uint32(hdr[4:8]))
		if off+recHeaderLen+ln > end {
			return n, true, s.quarantine(seg, off, fmt.Sprintf("record length %d runs past the end at %d", ln, end))
		}
		if !plausible(ln, int64(count)) {
			return n, true, s.quarantine(seg, off, fmt.Sprintf("header says %d events in %d bytes", count, ln))
		}
		if int64(cap(payload)) < ln {
			payload = make([]byte, ln)
		}
		payload = payload[:ln]
		if _, err := f.ReadAt(payload, off+recHeaderLen); err != nil {
			return n, false, fmt.Errorf("replay spool: read %s: %w", seg.path, err)
		}
		if recordCRC(hdr[:8], payload) != binary.LittleEndian.Uint32(hdr[8:12]) {
			return n, true, s.quarantine(seg, off, "CRC mismatch")
		}
		events, err := decodeBatch(payload, count)
		if err != nil {
			return n, true, s.quarantine(seg, off, err.Error())
		}
		if err := w.Write(ctx, events); err != nil {
			return n, false, fmt.Errorf("replay spool: write batch of %d events from %s at offset %d: %w", count, seg.path, off, err)
		}
		next := off + recHeaderLen + ln
		if err := writeCheckpoint(s.cpFile, &s.cp, seg.seq, next); err != nil {
			return n, false, fmt.Errorf("replay spool: %w", err)
		}
		n += count
		s.mu.Lock()
		seg.doneOff = next
		seg.doneEvents += int64(count)
		s.events -= int64(count)
		s.mu.Unlock()
	}
}

// decodeBatch decodes a record's payload, which must be a JSON array of
// exactly count events. It decodes no more than count of them, and
// count is plausible for the payload's length, so what it allocates is
// bounded by a multiple of the payload's length even when the payload
// was damaged (or crafted) to hold a different array.
func decodeBatch(payload []byte, count int) ([]activitylog.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, errors.New("undecodable JSON: not an array")
	}
	events := make([]activitylog.Event, 0, count)
	for dec.More() {
		if len(events) == count {
			return nil, fmt.Errorf("header says %d events, payload holds more", count)
		}
		events = append(events, activitylog.Event{})
		if err := dec.Decode(&events[len(events)-1]); err != nil {
			return nil, fmt.Errorf("undecodable JSON: %w", err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("undecodable JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("undecodable JSON: data after the array")
	}
	if len(events) != count {
		return nil, fmt.Errorf("header says %d events, payload holds %d", count, len(events))
	}
	return events, nil
}

// finishLocked drops seg, fully replayed, from the spool and reports
// whether it did: a sealed segment always, the active one only when no
// Write is pending on it (its file is then closed here). The caller
// removes the file.
func (s *Spool) finishLocked(seg *segment) bool {
	if seg == s.active {
		if s.syncing || seg.durable < seg.size {
			return false
		}
		seg.f.Close()
		seg.f = nil
		s.active = nil
	}
	s.dropLocked(seg)
	return true
}

func (s *Spool) dropLocked(seg *segment) {
	if i := slices.Index(s.segs, seg); i >= 0 {
		s.segs = slices.Delete(s.segs, i, i+1)
	}
	s.bytes -= seg.size
	s.events -= seg.events - seg.doneEvents
}

// quarantine moves seg aside as *.corrupt and returns the *CorruptError.
func (s *Spool) quarantine(seg *segment, off int64, reason string) error {
	s.mu.Lock()
	for seg == s.active && s.syncing {
		s.cond.Wait()
	}
	if seg == s.active {
		seg.f.Close()
		seg.f = nil
		s.active = nil
	}
	lost := seg.events - seg.doneEvents
	s.dropLocked(seg)
	q := seg.path + corruptExt
	ce := &CorruptError{Path: seg.path, Offset: off, Reason: reason, Quarantine: q, Lost: lost}
	if err := os.Rename(seg.path, q); err != nil {
		ce.Quarantine = seg.path + " (rename failed: " + err.Error() + ")"
	}
	if seg.durable < seg.size {
		// Writes still waiting for their fsync went into the
		// quarantined file: they fail, and their callers retry.
		seg.gone = ce
		s.cond.Broadcast()
	}
	s.mu.Unlock()
	return fmt.Errorf("replay spool: %w", ce)
}

// Close closes the spool's files. It waits for a running Replay to
// return (cancel its context to hurry it). Writes after Close fail with
// an error wrapping activitylog.ErrUnavailable.
func (s *Spool) Close() error {
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for s.syncing {
		s.cond.Wait()
	}
	var errs []error
	if a := s.active; a != nil {
		if a.durable < a.size {
			if err := a.f.Sync(); err != nil {
				errs = append(errs, s.failLocked(a, err))
			} else {
				a.durable = a.size
				s.cond.Broadcast()
			}
		}
		errs = append(errs, a.f.Close())
		a.f = nil
		s.active = nil
	}
	if s.err == nil && errors.Join(errs...) == nil {
		errs = append(errs, markClean(s.dir))
	}
	errs = append(errs, s.closeFiles())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close spool: %w", err)
	}
	return nil
}

func (s *Spool) closeFiles() error {
	var errs []error
	if s.cpFile != nil {
		errs = append(errs, s.cpFile.Close())
		s.cpFile = nil
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
		s.lock = nil
	}
	return errors.Join(errs...)
}
