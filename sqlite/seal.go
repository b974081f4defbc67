package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

var (
	_ integrity.SealStore = (*Store)(nil)
	_ integrity.Source    = (*Store)(nil)
)

// sealColumns are the seal's columns, after insertColumns.
const sealColumns = ", chain, chain_seq, prev, hash, canon_version"

// sealArgsPerRow is what a sealed row binds: its event columns and the
// five of its seal. (Deriving a row's seq and prev in the statement from
// shared numbered parameters, ?NNN, binds fewer, but modernc.org/sqlite
// looks up every parameter's name as it binds, in a list as long as the
// statement's parameters: 16 times slower for a batch of 500.)
const sealArgsPerRow = argsPerRow + 5

// sealStmt returns the prepared INSERT of chunkSizes[i] sealed rows.
// Its conflict clause has no target: any unique index (id, or chain and
// chain_seq) skips the padding rows, and WriteSealed checks that no
// other row was skipped.
func (s *Store) sealStmt(ctx context.Context, i int) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.seals[i]; st != nil {
		return st, nil
	}
	if s.closed.Load() {
		return nil, errClosed
	}
	var b strings.Builder
	b.WriteString("INSERT INTO events (" + insertColumns + sealColumns + ") VALUES ")
	row := "(?" + strings.Repeat(",?", sealArgsPerRow-1) + ")"
	for j := range chunkSizes[i] {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(" ON CONFLICT DO NOTHING")
	st, err := s.w.PrepareContext(ctx, b.String())
	if err != nil {
		return nil, err
	}
	s.seals[i] = st
	return st, nil
}

// WriteSealed stores events with their seals in chain, in one
// transaction, as integrity.SealStore says: it reads the chain's state
// and checks it against the chain's last stored event, leaves out the
// events already stored, calls seal for the others and stores them with
// their seals, the chain's new state and the checkpoint. Events are
// refused as Write refuses them; errors are classified as Write's.
func (s *Store) WriteSealed(ctx context.Context, chain integrity.ChainInfo, events []activitylog.Event, seal integrity.SealFunc) error {
	if s.closed.Load() {
		return fmt.Errorf("write sealed events: %w", errClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write sealed events: %w", err)
	}
	buf := writeBufs.Get().(*writeBuf)
	defer func() {
		clear(buf.args)
		buf.args = buf.args[:0]
		if cap(buf.data) <= 4<<20 {
			writeBufs.Put(buf)
		}
	}()
	if err := buf.encode(events); err != nil {
		return fmt.Errorf("write sealed events: %w", err)
	}
	// A batch of n events needs at most the statements of plan(n).
	var stmts [len(chunkSizes)]*sql.Stmt
	for _, c := range plan(len(events)) {
		if stmts[c.size] == nil {
			st, err := s.sealStmt(ctx, c.size)
			if err != nil {
				return fmt.Errorf("write sealed events: prepare insert: %w", unavailable(ctx, err))
			}
			stmts[c.size] = st
		}
	}

	// Most batches are new: the first try takes every event as fresh
	// and, should an insert skip one (an id already stored), starts
	// again and looks the ids up first.
	err := s.writeSealed(ctx, chain, events, seal, buf, &stmts, false)
	if errors.Is(err, errStoredBefore) {
		err = s.writeSealed(ctx, chain, events, seal, buf, &stmts, true)
	}
	if err != nil {
		return fmt.Errorf("write sealed events: %w", err)
	}
	if s.ckpt != nil {
		s.ckpt.poke()
	}
	return nil
}

// errStoredBefore ends a first try of writeSealed in which an event was
// already stored.
var errStoredBefore = errors.New("an event is stored already")

// writeSealed is one transaction of WriteSealed. lookup says to look
// up the stored ids first; without it, an insert that skips an event
// fails with errStoredBefore.
func (s *Store) writeSealed(ctx context.Context, chain integrity.ChainInfo, events []activitylog.Event, seal integrity.SealFunc,
	buf *writeBuf, stmts *[len(chunkSizes)]*sql.Stmt, lookup bool) error {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return fmt.Errorf("begin: %w", unavailable(ctx, err))
	}
	defer tx.Rollback()
	tail, err := readTail(ctx, tx, chain)
	if err != nil {
		return err
	}
	fresh, err := freshEvents(ctx, tx, events, lookup)
	if err != nil {
		return err
	}
	b, err := seal(tail, fresh)
	if err != nil {
		return err
	}
	if len(b.Seals) != len(fresh) {
		return fmt.Errorf("seal returned %d seals for %d events", len(b.Seals), len(fresh))
	}
	if len(b.Seals) == 0 && b.Checkpoint == nil {
		return nil // nothing to store; the deferred Rollback ends the transaction
	}
	var chainArg any = chain.ID // boxed once, not once per row
	// The fresh events fill the statements of the batch's plan, in order;
	// fewer events than planned leave more padding.
	for _, c := range plan(len(events)) {
		if c.start >= len(fresh) {
			break
		}
		end := min(c.end, len(fresh))
		buf.args = buf.args[:0]
		for k := c.start; k < end; k++ {
			j, sl := fresh[k], &b.Seals[k]
			if sl.Chain != chain.ID {
				return fmt.Errorf("seal of event %s names chain %s, not %s", events[j].ID, sl.Chain, chain.ID)
			}
			buf.args = appendArgs(buf.args, &events[j], buf.data[docStart(buf.ends, j):buf.ends[j]])
			buf.args = append(buf.args, chainArg, int64(sl.Seq), sl.Prev[:], sl.Hash[:], activitylog.CanonicalVersion)
		}
		for range chunkSizes[c.size] - (end - c.start) {
			buf.args = append(buf.args, buf.args[len(buf.args)-sealArgsPerRow:]...)
		}
		res, err := tx.StmtContext(ctx, (*stmts)[c.size]).ExecContext(ctx, buf.args...)
		if err != nil {
			return fmt.Errorf("insert: %w", unavailable(ctx, err))
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(end-c.start) {
			if !lookup {
				return errStoredBefore
			}
			return fmt.Errorf("insert: stored %d of %d events: %w", n, end-c.start, integrity.ErrTornChain)
		}
	}
	state, err := json.Marshal(b.State)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO chains (chain, key_id, state, seq, updated) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (chain) DO UPDATE SET state = excluded.state, seq = excluded.seq, updated = excluded.updated`,
		chain.ID, chain.KeyID, state, int64(b.State.Seq), time.Now().UnixNano()); err != nil {
		return fmt.Errorf("store chain state: %w", unavailable(ctx, err))
	}
	if cp := b.Checkpoint; cp != nil {
		body, err := json.Marshal(cp)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (chain, to_seq, from_seq, body) VALUES (?, ?, ?, ?)`,
			cp.Chain, int64(cp.ToSeq), int64(cp.FromSeq), body); err != nil {
			return fmt.Errorf("store checkpoint: %w", unavailable(ctx, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", unavailable(ctx, err))
	}
	return nil
}

// readTail reads chain's stored state, nil when it has none, and checks
// it against the chain's last stored event.
func readTail(ctx context.Context, tx *sql.Tx, chain integrity.ChainInfo) (*integrity.State, error) {
	// One statement reads both (each statement is parsed anew): a row
	// always, with NULLs for a chain without state (key_id is NOT NULL)
	// or without events.
	var keyID sql.NullString
	var raw []byte
	var hasEvents, seq sql.NullInt64
	var lastHash []byte
	err := tx.QueryRowContext(ctx, `SELECT c.key_id, c.state, e.present, e.chain_seq, e.hash FROM (SELECT 1)
		LEFT JOIN chains c ON c.chain = ?1
		LEFT JOIN (SELECT 1 AS present, chain_seq, hash FROM events WHERE chain = ?1 AND chain <> '' ORDER BY chain_seq DESC LIMIT 1) e`,
		chain.ID).Scan(&keyID, &raw, &hasEvents, &seq, &lastHash)
	if err != nil {
		return nil, fmt.Errorf("read chain %s: %w", chain.ID, unavailable(ctx, err))
	}
	noState, noEvents := !keyID.Valid, !hasEvents.Valid
	lastSeq := seq.Int64 // a NULL someone wrote is 0: no state matches it
	if noState {
		if !noEvents {
			return nil, fmt.Errorf("chain %s: events stored up to seq %d, no state: %w", chain.ID, lastSeq, integrity.ErrTornChain)
		}
		return nil, nil
	}
	if keyID.String != chain.KeyID {
		return nil, fmt.Errorf("chain %s: %w", chain.ID, activitylog.Invalid("hmac key", chain.KeyID, "is not the chain's key "+keyID.String))
	}
	var st integrity.State
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("chain %s: decode state: %v: %w", chain.ID, err, integrity.ErrTornChain)
	}
	if st.Chain != chain.ID || st.KeyID != keyID.String {
		return nil, fmt.Errorf("chain %s: state names chain %s key %q: %w", chain.ID, st.Chain, st.KeyID, integrity.ErrTornChain)
	}
	if noEvents {
		lastSeq, lastHash = 0, nil
	}
	if uint64(lastSeq) != st.Seq || st.Seq > 0 && !bytes.Equal(lastHash, st.Hash[:]) {
		return nil, fmt.Errorf("chain %s: state at seq %d, last stored event at seq %d: %w", chain.ID, st.Seq, lastSeq, integrity.ErrTornChain)
	}
	return &st, nil
}

// freshEvents returns the indexes of the events whose id is not stored
// (with lookup; without, of all), the first of each id only.
func freshEvents(ctx context.Context, tx *sql.Tx, events []activitylog.Event, lookup bool) ([]int, error) {
	stored := make(map[activitylog.ID]bool, len(events))
	per := 500
	if !lookup {
		per = len(events) + 1
	}
	args := make([]any, 0, per)
	for start := 0; lookup && start < len(events); start += per {
		end := min(len(events), start+per)
		args = args[:0]
		for i := start; i < end; i++ {
			args = append(args, events[i].ID[:])
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM events WHERE id IN (?`+strings.Repeat(",?", end-start-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read stored ids: %w", unavailable(ctx, err))
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read stored ids: %w", unavailable(ctx, err))
			}
			var id activitylog.ID
			copy(id[:], b)
			stored[id] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read stored ids: %w", unavailable(ctx, err))
		}
		rows.Close()
	}
	fresh := make([]int, 0, len(events))
	for i := range events {
		if !stored[events[i].ID] {
			stored[events[i].ID] = true
			fresh = append(fresh, i)
		}
	}
	return fresh, nil
}

// Chains lists the chains of the store: those with a stored state, and
// any other that sealed events name (its key id then unknown, ”).
func (s *Store) Chains(ctx context.Context) ([]integrity.ChainInfo, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("list chains: %w", errClosed)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT chain, key_id FROM chains
		UNION SELECT DISTINCT chain, '' FROM events WHERE chain <> '' AND chain NOT IN (SELECT chain FROM chains)
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	var cs []integrity.ChainInfo
	for rows.Next() {
		var c integrity.ChainInfo
		if err := rows.Scan(&c.ID, &c.KeyID); err != nil {
			return nil, fmt.Errorf("list chains: %w", unavailable(ctx, err))
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list chains: %w", unavailable(ctx, err))
	}
	return cs, nil
}

// entryColumns are what an Entry is made of: the event as Get returns
// it (data, with the time column), the columns that filters read, and
// the seal. The 16 text columns that filters read and the seal's chain,
// prev and hash come packed into one value, each as its length in bytes,
// a comma and its bytes (see packedColumns), since the driver's cost is
// per column: each column read takes SQLite's mutex three times and
// makes a Go value, and reading the 19 separately took over half of the
// reader's time.
const entryColumns = `id, time, data, status, duration, chain_seq, canon_version, ` + packedColumns

// packedColumns is one expression: for each packed column, its length
// (octet_length: bytes, whatever its type; none for NULL) and a comma,
// then the column as text (concat: NULL as nothing, a number as its
// text, a blob as its bytes), so that each is read back exactly as a
// column of its own would be read into sql.RawBytes.
const packedColumns = `concat(` +
	`octet_length(kind), ',', kind, ` +
	`octet_length(action), ',', action, ` +
	`octet_length(severity), ',', severity, ` +
	`octet_length(tenant), ',', tenant, ` +
	`octet_length(actor_id), ',', actor_id, ` +
	`octet_length(actor_name), ',', actor_name, ` +
	`octet_length(object_type), ',', object_type, ` +
	`octet_length(object_id), ',', object_id, ` +
	`octet_length(object_repr), ',', object_repr, ` +
	`octet_length(message), ',', message, ` +
	`octet_length(path), ',', path, ` +
	`octet_length(remote_ip), ',', remote_ip, ` +
	`octet_length(method), ',', method, ` +
	`octet_length(origin), ',', origin, ` +
	`octet_length(category), ',', category, ` +
	`octet_length(tool), ',', tool, ` +
	`octet_length(chain), ',', chain, ` +
	`octet_length(prev), ',', prev, ` +
	`octet_length(hash), ',', hash)`

// entryReader turns rows of entryColumns into Entries, reusing its
// buffers from one row to the next.
type entryReader struct {
	dec   docDecoder
	ev    activitylog.Event
	canon []byte
	seal  integrity.Seal
	chain string
	cols  [16][]byte
}

// mismatch returns the name of the first column that differs from the
// field of the decoded event it copies, "" when all agree.
func (r *entryReader) mismatch(id activitylog.ID, status, duration int64) string {
	ev, c := &r.ev, &r.cols
	if ev.ID != id {
		return "id"
	}
	if string(ev.Kind) != string(c[0]) && (utf8.Valid(c[0]) || string(ev.Kind) != asJSON(c[0])) {
		return "kind"
	}
	if string(ev.Severity) != string(c[2]) && (utf8.Valid(c[2]) || string(ev.Severity) != asJSON(c[2])) {
		return "severity"
	}
	if int64(ev.Response.Status) != status {
		return "status"
	}
	if int64(ev.Response.Duration) != duration {
		return "duration"
	}
	for _, f := range [...]struct {
		col  int
		name string
		v    string
	}{
		{1, "action", ev.Action}, {3, "tenant", ev.Tenant}, {4, "actor_id", ev.Actor.ID}, {5, "actor_name", ev.Actor.Name},
		{6, "object_type", ev.Object.Type}, {7, "object_id", ev.Object.ID}, {8, "object_repr", ev.Object.Repr},
		{9, "message", ev.Message}, {10, "path", ev.Request.Path}, {11, "remote_ip", ev.Request.RemoteIP},
		{12, "method", ev.Request.Method}, {13, "origin", ev.Request.Origin}, {14, "category", ev.Category}, {15, "tool", ev.Tool},
	} {
		if f.v != string(c[f.col]) && (utf8.Valid(c[f.col]) || f.v != asJSON(c[f.col])) {
			return f.name
		}
	}
	return ""
}

// asJSON returns b as a string that has been through the JSON form: each
// byte that is not part of a valid UTF-8 sequence becomes U+FFFD, as
// data holds it while the column holds the bytes Write was given.
func asJSON(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

// rawRow is one row of entryColumns as the reader goroutine copied it:
// its integers, and each byte column as a range of rawBatch.buf.
type rawRow struct {
	ns, status, duration, seq, version int64
	f                                  [rawFields][2]int
}

// The byte columns of a rawRow, in the order of rawRow.f: id, data, then
// the packed ones in packedColumns' order.
const (
	rawID     = 0
	rawData   = 1
	rawCols   = 2 // 16 columns: kind … tool, as entryReader.cols
	rawChain  = 18
	rawPrev   = 19
	rawHash   = 20
	rawFields = 21
)

// rawBatch is a run of rows, passed from the reader goroutine to the
// one that builds the Entries.
type rawBatch struct {
	rows []rawRow
	buf  []byte
}

const rawBatchRows = 256

// scanRow scans the current row into b. raw is not used (it was the
// scratch space of an earlier form). A reader of many rows uses a
// rowScanner instead, which allocates nothing per row.
func scanRow(rows *sql.Rows, b *rawBatch, _ *[rawFields]sql.RawBytes) error {
	return newRowScanner().scan(rows, b)
}

// rowScanner holds the destinations of one row's Scan, made once and
// reused: passed to Scan as pointers in an []any, fresh locals would
// escape to the heap, ten allocations per row.
type rowScanner struct {
	r rawRow
	// Integers as NullInt64: a NULL that someone wrote into the file is
	// a finding (as 0, unlike what was sealed), not a failure to read.
	ns, status, duration, seq, version sql.NullInt64
	packed                             [2]int
	id, data, pk                       bufScanner
	args                               []any
}

func newRowScanner() *rowScanner {
	s := &rowScanner{}
	s.id.f, s.data.f, s.pk.f = &s.r.f[rawID], &s.r.f[rawData], &s.packed
	s.args = []any{&s.id, &s.ns, &s.data, &s.status, &s.duration, &s.seq, &s.version, &s.pk}
	return s
}

// scan scans the current row into b.
func (s *rowScanner) scan(rows *sql.Rows, b *rawBatch) error {
	s.r = rawRow{}
	s.id.b, s.data.b, s.pk.b = b, b, b
	mark := len(b.buf)
	if err := rows.Scan(s.args...); err != nil {
		b.buf = b.buf[:mark]
		return err
	}
	r := &s.r
	r.ns, r.status, r.duration, r.seq, r.version = s.ns.Int64, s.status.Int64, s.duration.Int64, s.seq.Int64, s.version.Int64
	if err := unpack(b.buf, s.packed, r.f[rawCols:]); err != nil {
		b.buf = b.buf[:mark]
		return err
	}
	b.rows = append(b.rows, *r)
	return nil
}

// bufScanner scans a column into the batch's buffer, as it would be
// read into a sql.RawBytes, and sets *f to its range there: one copy of
// the driver's value instead of the two or three of scanning into a
// RawBytes and copying that.
type bufScanner struct {
	b *rawBatch
	f *[2]int
}

func (s bufScanner) Scan(src any) error {
	start := len(s.b.buf)
	switch v := src.(type) {
	case []byte:
		s.b.buf = append(s.b.buf, v...)
	case string:
		s.b.buf = append(s.b.buf, v...)
	case int64:
		s.b.buf = strconv.AppendInt(s.b.buf, v, 10)
	case float64:
		s.b.buf = strconv.AppendFloat(s.b.buf, v, 'g', -1, 64)
	case nil:
	default:
		return fmt.Errorf("unexpected column value of type %T", src)
	}
	*s.f = [2]int{start, len(s.b.buf)}
	return nil
}

// unpack finds the packed columns (packedColumns) in buf[p[0]:p[1]]
// and sets f[k] to the range of column k in buf.
func unpack(buf []byte, p [2]int, f [][2]int) error {
	start, i := p[0], p[0]
	buf = buf[:p[1]]
	for k := range f {
		n := 0
		for ; i < len(buf) && buf[i] != ','; i++ {
			c := buf[i]
			if c < '0' || c > '9' || n > len(buf) {
				return fmt.Errorf("packed columns: bad length at byte %d", i-start)
			}
			n = n*10 + int(c-'0')
		}
		if i >= len(buf) || n > len(buf)-i-1 {
			return fmt.Errorf("packed columns: column %d of %d is cut short", k+1, len(f))
		}
		i++ // the comma
		f[k] = [2]int{i, i + n}
		i += n
	}
	if i != len(buf) {
		return fmt.Errorf("packed columns: %d bytes left over", len(buf)-i)
	}
	return nil
}

// build makes the Entry of row i of b. The canonical bytes are those of
// the event as Get returns it: decoded from data, its time from the time
// column. A column that a filter reads and that disagrees with data
// adds a note to the bytes, so that an edit of data or of a column
// shows as modified. The seal is nil when the row has none, or only
// part of one.
func (r *entryReader) build(b *rawBatch, i int) integrity.Entry {
	row := &b.rows[i]
	field := func(k int) []byte { return b.buf[row.f[k][0]:row.f[k][1]] }
	for k := range 16 {
		r.cols[k] = field(rawCols + k)
	}
	var e integrity.Entry
	copy(e.EventID[:], field(rawID))
	e.Kind = activitylog.Kind(r.cols[0])
	e.Time = time.Unix(0, row.ns).UTC()
	data := field(rawData)
	// The decoder reads data without a copy: the strings it leaves in
	// r.ev point into b.buf, and are overwritten by the next build before
	// the buffer is reused; nothing built from them keeps them (the
	// canonical bytes are copied, Kind comes from cols).
	if err := r.dec.decode(&r.ev, unsafe.String(unsafe.SliceData(data), len(data)), row.ns); err != nil {
		// Not an event any more: its bytes are what is stored.
		r.canon = append(r.canon[:0], data...)
	} else {
		var err error
		if r.canon, err = activitylog.AppendCanonical(r.canon[:0], &r.ev); err != nil {
			r.canon = append(r.canon[:0], data...)
		}
		if col := r.mismatch(e.EventID, row.status, row.duration); col != "" {
			r.canon = append(r.canon, "\x00column "+col+" differs from data"...)
		}
	}
	e.Canonical = r.canon
	chain, prev, hash := field(rawChain), field(rawPrev), field(rawHash)
	if len(chain) > 0 && row.seq > 0 && len(prev) == 32 && len(hash) == 32 && row.version == activitylog.CanonicalVersion {
		if string(chain) != r.chain {
			r.chain = string(chain)
		}
		r.seal = integrity.Seal{Chain: r.chain, Seq: uint64(row.seq)}
		copy(r.seal.Prev[:], prev)
		copy(r.seal.Hash[:], hash)
		e.Seal = &r.seal
	}
	return e
}

// Entries calls fn for each event of chain, by seq, with its canonical
// bytes recomputed from what is stored (see entryReader.read). It reads
// through the (chain, chain_seq) index: every row of the chain, whatever
// its place in the table. (Reading in table order while the rows were the
// next seqs saved an index lookup per row but nothing measurable beyond
// the memory map, and a forged row placed outside the chain's rowid range
// was never read: the review's finding, held by TestEntriesReadsEveryRow.)
func (s *Store) Entries(ctx context.Context, chain string, fn func(integrity.Entry) error) error {
	return s.entries(ctx, `SELECT `+entryColumns+` FROM events WHERE chain = ? AND chain <> '' ORDER BY chain_seq`, []any{chain}, fn)
}

// Unsealed calls fn for each event without a seal.
func (s *Store) Unsealed(ctx context.Context, fn func(integrity.Entry) error) error {
	if s.closed.Load() {
		return fmt.Errorf("read unsealed events: %w", errClosed)
	}
	// Both counts read an index only; when they agree, every event is
	// sealed and the table is not read.
	var all, sealed int64
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&all); err != nil {
		return fmt.Errorf("read unsealed events: %w", unavailable(ctx, err))
	}
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE chain <> ''`).Scan(&sealed); err != nil {
		return fmt.Errorf("read unsealed events: %w", unavailable(ctx, err))
	}
	if all == sealed {
		return nil
	}
	return s.entries(ctx, `SELECT `+entryColumns+` FROM events WHERE coalesce(chain, '') = ''`, nil, fn)
}

// entries reads the rows of query, on a connection of its own that maps
// the file, in one read transaction, and calls fn for each.
func (s *Store) entries(ctx context.Context, query string, args []any, fn func(integrity.Entry) error) error {
	if s.closed.Load() {
		return fmt.Errorf("read events: %w", errClosed)
	}
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return fmt.Errorf("read events: %w", unavailable(ctx, err))
	}
	faulted := false
	defer func() {
		if faulted {
			// SQLite stopped in the middle of a step: this connection's
			// state is torn, and closing it would touch that state.
			// It is left checked out, unused and unclosed, for good
			// (with its read snapshot: the WAL cannot be checkpointed
			// past it until the process restarts; the file was cut
			// underneath it, so the store needs an operator anyway).
			return
		}
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA mmap_size=0"); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}()
	// The verifier reads every row of a chain once: through
	// a memory map, SQLite copies no page into its cache and makes no
	// read call per page (BenchmarkVerifyStore/100000: 0.85x wall time,
	// 0.91x CPU, the map made anew for each read as here). Only this
	// connection maps the file, and only while it reads here; see
	// readFault for a file that shrinks meanwhile.
	if _, err := conn.ExecContext(ctx, "PRAGMA mmap_size="+strconv.FormatInt(verifyMmapBytes, 10)); err != nil {
		return fmt.Errorf("read events: %w", unavailable(ctx, err))
	}
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read events: %w", unavailable(ctx, err))
	}
	// One goroutine reads the rows (SQLite's share of the work), this one
	// decodes them, encodes them and calls fn (the verifier's share), a
	// batch of rows at a time.
	full := make(chan *rawBatch, 2)
	free := make(chan *rawBatch, 4)
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(full)
		// A mapped file that another process truncates faults on the
		// next read of a page past its end: an error, not a crash.
		debug.SetPanicOnFault(true)
		defer func() {
			if v := recover(); v != nil {
				faulted = true
				readErr <- readFault(v)
				return // not rows.Close: see faulted
			}
			rows.Close()
		}()
		rs := newRowScanner()
		for {
			var b *rawBatch
			select {
			case b = <-free:
				b.rows, b.buf = b.rows[:0], b.buf[:0]
			default:
				b = &rawBatch{rows: make([]rawRow, 0, rawBatchRows)}
			}
			more := true
			for len(b.rows) < rawBatchRows {
				if more = rows.Next(); !more {
					break
				}
				if err := rs.scan(rows, b); err != nil {
					readErr <- err
					return
				}
			}
			if len(b.rows) > 0 {
				select {
				case full <- b:
				case <-stop:
					readErr <- nil
					return
				}
			}
			if !more {
				readErr <- rows.Err()
				return
			}
		}
	}()
	defer func() {
		close(stop)
		for range full {
		}
	}()
	var r entryReader
	for b := range full {
		for i := range b.rows {
			if err := fn(r.build(b, i)); err != nil {
				return err
			}
		}
		select {
		case free <- b:
		default:
		}
	}
	if err := <-readErr; err != nil {
		return fmt.Errorf("read events: %w", unavailable(ctx, err))
	}
	return nil
}

// verifyMmapBytes is the memory map that entries asks SQLite for: the
// whole file, as far as SQLite's build allows (modernc.org/sqlite caps
// it at its SQLITE_MAX_MMAP_SIZE, 2 GiB on 64-bit Linux; past that,
// pages are read as without a map).
const verifyMmapBytes = 1 << 40

// readFault turns what a fault in the memory-mapped database file
// panicked with into an error. Any other panic is not ours to hide.
func readFault(v any) error {
	// With SetPanicOnFault, a fault panics with a runtime.Error that
	// has the faulting address.
	if err, ok := v.(interface {
		runtime.Error
		Addr() uintptr
	}); ok {
		return fmt.Errorf("the database file could not be read through its memory map (was it truncated?): %w", err)
	}
	panic(v)
}

// Checkpoints returns chain's stored checkpoints by to_seq. One whose
// JSON is no longer valid is returned with the fields that could be
// read and no signature, so that the verifier reports it as
// bad_signature.
func (s *Store) Checkpoints(ctx context.Context, chain string) ([]integrity.Checkpoint, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read checkpoints: %w", errClosed)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT to_seq, from_seq, body FROM checkpoints WHERE chain = ? ORDER BY to_seq`, chain)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	var cps []integrity.Checkpoint
	for rows.Next() {
		var to, from int64
		var body []byte
		if err := rows.Scan(&to, &from, &body); err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
		}
		var cp integrity.Checkpoint
		if err := json.Unmarshal(body, &cp); err != nil {
			cp = integrity.Checkpoint{Version: integrity.CheckpointVersion, Chain: chain, FromSeq: uint64(from), ToSeq: uint64(to)}
		}
		cps = append(cps, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	return cps, nil
}
