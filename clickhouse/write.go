package clickhouse

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
)

// How Write keeps its promises on a server without transactions.
//
// Idempotent by id: Write asks the events table which of the batch's
// ids are stored, within the batch's times, and sends only the others.
// Within one Store, Writes that share ids take turns (claims), so two
// concurrent Writes of one new event store it once. An id twice in one
// batch is stored once, the first. An event counts as stored when an
// event with its id is stored at a time within the ranges of the
// batch's times (stored.go: timeRanges), which holds for every retry,
// since a retry carries the same events; an id reused for an event at
// another time is not looked for.
//
// All or nothing: a Write sends its new events as one block of one
// INSERT. ClickHouse writes a block into each partition it touches as
// one part, which appears whole or not at all, so a batch within one
// month (one partition) is stored all or none. A batch across months
// is one part per month: a Write that fails (the server stops, the
// connection breaks, the context ends mid-send) may have stored the
// events of some months and not the others, and returns its error. A
// retry of the same batch, as the Recorder makes, finds those stored
// and sends the rest, so the batch converges to exactly once.
//
// What is not covered: two processes (two Stores) that write the same
// new event at the same moment both store it, and a retry sent while
// the server is still writing the first attempt's block (after a
// client-side timeout) may too. The events table is a
// ReplacingMergeTree ordered by (tenant, kind, time, id), so such
// copies, which are identical, are folded into one when ClickHouse
// merges their parts; until then Query and Count see both.

// claim marks the ids of one Write while it checks and stores them;
// done is closed when it ends.
type claim struct{ done chan struct{} }

// acquire claims ids for one Write, waiting while another Write holds
// any of them, and returns the function that releases them.
func (s *Store) acquire(ctx context.Context, ids []activitylog.ID) (func(), error) {
	c := &claim{done: make(chan struct{})}
	for {
		s.mu.Lock()
		var busy *claim
		for _, id := range ids {
			if o := s.inflight[id]; o != nil {
				busy = o
				break
			}
		}
		if busy == nil {
			for _, id := range ids {
				s.inflight[id] = c
			}
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				for _, id := range ids {
					delete(s.inflight, id)
				}
				s.mu.Unlock()
				close(c.done)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-busy.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// batch is one Write's work: its events (the first of each id), their
// JSON documents, and the columns it sends. Pooled: a batch of 5000
// events is some 5 MB of JSON and 100,000 strings.
type batch struct {
	events []*activitylog.Event
	ids    []activitylog.ID // sorted, for the check
	times  []int64          // sorted, for the check
	seen   map[activitylog.ID]struct{}
	data   []byte // the events' JSON, one after another
	ends   []int  // ends[i] is where event i's JSON ends in data
	text   string // data as one string, sliced for the data column

	idCol    [][]byte
	timeCol  []int64
	strCols  [5][]string // kind, tenant, action, actor_id, object_type
	status   []int32
	duration []int64
	attrs    [][]string
	attrBuf  []string // attrs' elements, numAttrs an event
	dataCol  []string
}

var batches = sync.Pool{New: func() any { return &batch{seen: map[activitylog.ID]struct{}{}} }}

func (b *batch) reset() {
	clear(b.events)
	b.events, b.ids, b.times = b.events[:0], b.ids[:0], b.times[:0]
	clear(b.seen)
	b.data, b.ends, b.text = b.data[:0], b.ends[:0], ""
	clear(b.idCol)
	b.idCol, b.timeCol = b.idCol[:0], b.timeCol[:0]
	for i := range b.strCols {
		clear(b.strCols[i])
		b.strCols[i] = b.strCols[i][:0]
	}
	b.status, b.duration = b.status[:0], b.duration[:0]
	clear(b.attrs)
	clear(b.attrBuf)
	clear(b.dataCol)
	b.attrs, b.attrBuf, b.dataCol = b.attrs[:0], b.attrBuf[:0], b.dataCol[:0]
}

// collect takes the first event of each id and checks that its time
// and coordinates can be stored; it sorts the ids and times for the
// check.
func (b *batch) collect(events []activitylog.Event) error {
	for i := range events {
		e := &events[i]
		if _, dup := b.seen[e.ID]; dup {
			continue
		}
		b.seen[e.ID] = struct{}{}
		if t := e.Time; !time.Unix(0, t.UnixNano()).Equal(t) {
			return fmt.Errorf("event %s: %w", e.ID,
				activitylog.Invalid("time", t.Format(time.RFC3339Nano), "must be between the years 1678 and 2261"))
		}
		if err := checkGeo(&e.Request.Geo); err != nil {
			return fmt.Errorf("event %s: %w", e.ID, err)
		}
		b.events = append(b.events, e)
		b.ids = append(b.ids, e.ID)
		b.times = append(b.times, e.Time.UnixNano())
	}
	slices.SortFunc(b.ids, func(x, y activitylog.ID) int { return bytes.Compare(x[:], y[:]) })
	slices.Sort(b.times)
	return nil
}

// encode appends each event's data document (appendRest) to b.data.
func (b *batch) encode() error {
	for _, e := range b.events {
		var err error
		if b.data, err = appendRest(b.data, e); err != nil {
			return fmt.Errorf("event %s: %w", e.ID, eventjson.Refused(err))
		}
		b.ends = append(b.ends, len(b.data))
	}
	b.text = string(b.data)
	return nil
}

// fill appends the columns of the events that are not in stored.
func (b *batch) fill(stored map[activitylog.ID]bool) {
	n := len(b.events) - len(stored)
	if cap(b.attrBuf) < n*numAttrs {
		b.attrBuf = make([]string, 0, n*numAttrs)
	}
	for i, e := range b.events {
		if stored[e.ID] {
			continue
		}
		start := 0
		if i > 0 {
			start = b.ends[i-1]
		}
		b.idCol = append(b.idCol, e.ID[:])
		b.timeCol = append(b.timeCol, e.Time.UnixNano())
		s := &b.strCols
		s[0] = append(s[0], string(e.Kind))
		s[1] = append(s[1], e.Tenant)
		s[2] = append(s[2], e.Action)
		s[3] = append(s[3], e.Actor.ID)
		s[4] = append(s[4], e.Object.Type)
		b.status = append(b.status, int32(e.Response.Status))
		b.duration = append(b.duration, int64(e.Response.Duration))
		username, _ := e.Extra["username"].(string)
		a := len(b.attrBuf)
		b.attrBuf = append(b.attrBuf, string(e.Severity), e.Object.ID, e.Request.RemoteIP, e.Request.Method,
			e.Request.Origin, e.Category, e.Tool, activitylog.RouteOf(e), e.Request.Geo.CountryCode,
			e.Request.Geo.Country, username, e.Actor.Name, e.Message, e.Request.Path, e.Object.Repr)
		b.attrs = append(b.attrs, b.attrBuf[a:len(b.attrBuf):len(b.attrBuf)])
		b.dataCol = append(b.dataCol, b.text[start:b.ends[i]])
	}
}

// columns returns the values of eventColumns, in its order.
func (b *batch) columns() []any {
	s := &b.strCols
	return []any{b.idCol, b.timeCol, s[0], s[1], s[2], s[3], s[4], b.status, b.duration, b.attrs, b.dataCol}
}

// Write stores events, skipping those whose id is already stored and
// leaving the stored event as it was, so that a retried batch never
// duplicates: see the notes at the top of this file for what "all or
// nothing" means on ClickHouse, and what a retry converges to.
//
// Write does not validate events (the Recorder and the API do), but it
// refuses a batch with an event it cannot store faithfully: a time
// outside the years 1678 to 2261 (the column holds Unix nanoseconds),
// coordinates that are not numbers, or a value JSON cannot hold (NaN,
// a func) in a map, with an *activitylog.FieldError that names the
// field. A store opened with Options.ReadOnly refuses every batch with
// one naming read_only. Otherwise an error wraps
// activitylog.ErrUnavailable when the server could not do the write, or
// is the context's error when ctx ended first.
func (s *Store) Write(ctx context.Context, events []activitylog.Event) error {
	if len(events) == 0 {
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("write events: %w", errClosed)
	}
	if s.readOnly {
		return fmt.Errorf("write events: %w", errReadOnly)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	b := batches.Get().(*batch)
	defer func() {
		b.reset()
		if cap(b.data) <= 16<<20 && cap(b.idCol) <= 1<<16 {
			batches.Put(b)
		}
	}()
	if err := b.collect(events); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	leave, err := s.purge.enter(ctx, b.times[0]) // purge.go
	if err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	defer leave()
	release, err := s.acquire(ctx, b.ids)
	if err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	defer release()
	// The check runs on the server while the events are encoded here.
	type checked struct {
		stored map[activitylog.ID]bool
		err    error
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan checked, 1)
	go func() {
		m, err := s.stored(cctx, b.ids, b.times)
		done <- checked{m, err}
	}()
	if err := b.encode(); err != nil {
		cancel()
		<-done
		return fmt.Errorf("write events: %w", err)
	}
	c := <-done
	stored, err := c.stored, c.err
	if err != nil {
		return fmt.Errorf("write events: check ids: %w", unavailable(ctx, err))
	}
	if len(stored) == len(b.ids) {
		return nil
	}
	b.fill(stored)
	if err := s.insert(ctx, b); err != nil {
		return fmt.Errorf("write events: insert: %w", unavailable(ctx, err))
	}
	return nil
}

// insert sends b's columns as one block of one INSERT.
func (s *Store) insert(ctx context.Context, b *batch) error {
	ins, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.t.events+" ("+eventColumns+")")
	if err != nil {
		return err
	}
	defer ins.Close()
	for i, v := range b.columns() {
		if rows, ok := v.([][]string); ok {
			// A row at a time: the driver appends a []string without
			// reflection, a [][]string with it.
			col := ins.Column(i)
			for _, row := range rows {
				if err := col.AppendRow(row); err != nil {
					return err
				}
			}
			continue
		}
		if err := ins.Column(i).Append(v); err != nil {
			return err
		}
	}
	return ins.Send()
}
