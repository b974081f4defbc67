package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/activitylog/activitylog"
)

var _ activitylog.Purger = (*Store)(nil)

// How a purge deletes on ClickHouse 18.16, which has no DELETE
// statement, no TTL and no transactions.
//
// Whole months: when the request is every tenant and every kind, each
// partition (month) that lies wholly before the cut and holds no record
// of a purge is counted by kind and dropped (ALTER TABLE … DROP
// PARTITION), which costs nothing however large it is. "Wholly before"
// is the month's end in the server's time zone, which the partition
// key uses, at or before the cut; and the partition is checked to hold
// no event at or after the cut. The partitions of December 2099
// and later, one of which holds every time after 2099 (openPartition),
// are never dropped whole: a Write of events after the cut, which does
// not wait for the purge, could add to them. A
// partition larger than the server's max_partition_size_to_drop
// (50 GB by default), which the server refuses to drop, is left to the
// mutation.
//
// The rest, and every narrower request, goes by one mutation (ALTER
// TABLE … DELETE WHERE …), which the server applies in the background
// to the parts that existed when it was made, and Purge waits for it.
// The server rewrites, whole, each part that holds a selected event;
// the others it keeps as they are (hard links), after reading the
// condition's columns to learn that they hold none (18.16, measured).
// Parts are merged up to a month, so a purge whose cut lies inside a
// month rewrites that month's parts. No mutation is made when nothing
// is left to delete, so a purge of every tenant and kind at the start
// of a month, after months without records of purges, rewrites
// nothing.
//
// Counting: the table may hold identical copies of one event until a
// merge folds them (write.go), so a purge counts distinct ids,
// uniqExact(id) by kind; one query per partition (copies share their
// time, so their partition), so that the set of ids the server holds is
// bounded by a month's events rather than the whole trail's.
//
// Writes: the count and the delete are two statements. Writes of this
// Store whose batch has an event before the cut wait while a purge
// counts and deletes (purgeGate), so that what is counted is what is
// deleted; other Writes go on. Another process that writes events
// before the cut while a purge runs may have them deleted uncounted.
//
// Purges: a mutation's rows stay visible until the server has applied
// it, so a purge that counted while an earlier one's mutation was
// still undone would count those rows again. The purges of a Store take
// turns (purgeGate.take) from before their count until their mutation
// is made, and each waits, before it counts, for the mutations that
// are undone then (an earlier purge's, also one that gave up waiting
// when its context ended, or another process's).

// purgeGate keeps a Store's Writes of events before a purge's cut from
// interleaving with the purge's count and delete, and a Store's purges
// from counting while another counts and deletes. Write enters it with
// its batch's earliest time; Purge takes its turn, then begins and
// ends the count and delete. The zero value is ready.
type purgeGate struct {
	mu      sync.Mutex
	turn    chan struct{}        // closed when the purge whose turn it is lets the next go, nil when none has it
	running *purgeRun            // the purge counting and deleting, nil when none
	writes  map[*gateWrite]int64 // Writes in progress, by their earliest time
}

type purgeRun struct {
	before int64
	done   chan struct{}
}

type gateWrite struct{ done chan struct{} }

// enter admits a Write whose earliest event is at minTime: at once,
// unless a purge whose cut is after minTime is counting and deleting,
// which it waits for. It returns the function that the Write calls when
// it is done.
func (g *purgeGate) enter(ctx context.Context, minTime int64) (func(), error) {
	for {
		g.mu.Lock()
		if r := g.running; r != nil && minTime < r.before {
			g.mu.Unlock()
			select {
			case <-r.done:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		w := &gateWrite{done: make(chan struct{})}
		if g.writes == nil {
			g.writes = map[*gateWrite]int64{}
		}
		g.writes[w] = minTime
		g.mu.Unlock()
		return func() {
			g.mu.Lock()
			delete(g.writes, w)
			g.mu.Unlock()
			close(w.done)
		}, nil
	}
}

// take waits until no other purge of the Store has its turn, and gives
// the turn to the caller. It returns the function that gives it up,
// which must be called once.
func (g *purgeGate) take(ctx context.Context) (func(), error) {
	for {
		g.mu.Lock()
		if t := g.turn; t != nil {
			g.mu.Unlock()
			select {
			case <-t:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		t := make(chan struct{})
		g.turn = t
		g.mu.Unlock()
		return func() {
			g.mu.Lock()
			g.turn = nil
			g.mu.Unlock()
			close(t)
		}, nil
	}
}

// begin starts a purge's count and delete: it waits for another purge
// of the Store to end, then for the Writes in progress that have an
// event before before. It returns the function that ends it, which must
// be called once.
func (g *purgeGate) begin(ctx context.Context, before int64) (func(), error) {
	for {
		g.mu.Lock()
		if r := g.running; r != nil {
			g.mu.Unlock()
			select {
			case <-r.done:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		r := &purgeRun{before: before, done: make(chan struct{})}
		g.running = r
		var wait []*gateWrite
		for w, minTime := range g.writes {
			if minTime < before {
				wait = append(wait, w)
			}
		}
		g.mu.Unlock()
		end := func() {
			g.mu.Lock()
			g.running = nil
			g.mu.Unlock()
			close(r.done)
		}
		for _, w := range wait {
			select {
			case <-w.done:
			case <-ctx.Done():
				end()
				return nil, ctx.Err()
			}
		}
		return end, nil
	}
}

// Purge deletes the events that r selects: those before r.Before, of
// r.Kinds (every kind when empty), of r.Tenant unless r.AllTenants.
// System events of category retention, the records of purges, are
// never deleted. ClickHouse does not seal events, so KeptSealed is
// always 0. Resolutions are kept, as the other stores keep them: a
// purged event's resolutions stay in the resolutions table, unread.
//
// When r selects every tenant and every kind, the months wholly before
// r.Before that hold no record of a purge are dropped whole (their
// events counted by kind first); the rest goes by one ALTER TABLE …
// DELETE mutation, counted first, which Purge waits for (polling
// system.mutations) before it returns. The notes above purgeGate say
// why and what it costs. Writes of this Store with events before
// r.Before wait while a purge counts and deletes; another process that
// writes events before r.Before meanwhile may have them deleted
// uncounted.
//
// A bad request is an *activitylog.FieldError, and so is a purge of a
// store opened with Options.ReadOnly (naming read_only). Otherwise an
// error wraps activitylog.ErrUnavailable, or is the context's error.
// The result counts what was deleted before the error; when ctx ends
// while Purge waits for its mutation, the mutation's events are
// counted, since the server goes on deleting them. A drop or a
// mutation sent when ctx ends is let end (execToEnd), and counted when
// it was done.
//
// Purges of one Store take turns, and each waits, before it counts, for
// the mutations undone when its turn comes (an earlier purge's among
// them): rows a mutation is still deleting would be counted twice.
func (s *Store) Purge(ctx context.Context, r activitylog.PurgeRequest) (activitylog.PurgeResult, error) {
	res := activitylog.PurgeResult{ByKind: map[activitylog.Kind]int64{}}
	if err := r.Validate(); err != nil {
		return res, err
	}
	if s.closed.Load() {
		return res, fmt.Errorf("purge: %w", errClosed)
	}
	if s.readOnly {
		return res, fmt.Errorf("purge: %w", errReadOnly)
	}
	before, ok := r.BeforeUnixNano()
	if !ok {
		return res, nil
	}
	next, err := s.purge.take(ctx)
	if err != nil {
		return res, fmt.Errorf("purge: %w", err)
	}
	mutations, err := s.purgeTurn(ctx, r, before, &res)
	next()
	if err != nil {
		return res, fmt.Errorf("purge: %w", err)
	}
	if err := s.awaitMutations(ctx, mutations); err != nil {
		return res, fmt.Errorf("purge: %w", err)
	}
	return res, nil
}

// purgeTurn is a purge's turn: it waits for the mutations undone
// before it, then drops, counts and deletes (purgeGated) while the
// gate holds back this Store's Writes before the cut. It returns the
// mutations left to wait for.
func (s *Store) purgeTurn(ctx context.Context, r activitylog.PurgeRequest, before int64, res *activitylog.PurgeResult) ([]string, error) {
	earlier, err := s.undoneMutations(ctx, "''", nil)
	if err != nil {
		return nil, fmt.Errorf("list mutations: %w", unavailable(ctx, err))
	}
	ids := make([]string, len(earlier))
	for i, m := range earlier {
		ids[i] = m.id
	}
	if err := s.awaitMutations(ctx, ids); err != nil {
		return nil, fmt.Errorf("before counting: %w", err)
	}
	end, err := s.purge.begin(ctx, before)
	if err != nil {
		return nil, err
	}
	defer end()
	return s.purgeGated(ctx, r, before, res)
}

// purgeGated drops the whole months and counts and deletes the rest,
// while the gate holds back this Store's Writes before the cut. It
// returns the mutations left to wait for.
func (s *Store) purgeGated(ctx context.Context, r activitylog.PurgeRequest, before int64, res *activitylog.PurgeResult) ([]string, error) {
	parts, err := s.partitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", unavailable(ctx, err))
	}
	if r.AllTenants && len(r.Kinds) == 0 {
		kept := parts[:0]
		for _, p := range parts {
			if lo, _ := monthRange(p); p >= openPartition || lo >= before {
				kept = append(kept, p)
				continue
			}
			end, err := s.monthEnd(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("partition %d: %w", p, unavailable(ctx, err))
			}
			if end > before {
				kept = append(kept, p)
				continue
			}
			dropped, err := s.dropPartition(ctx, p, before, res)
			if err != nil {
				return nil, fmt.Errorf("drop partition %d: %w", p, err)
			}
			if !dropped {
				kept = append(kept, p)
			}
		}
		parts = kept
	}

	// The selection, without the partition: sent with the mutation.
	var q query
	q.cond("time < ?", before)
	if len(r.Kinds) > 0 {
		ks := make([]any, len(r.Kinds))
		for i, k := range r.Kinds {
			ks[i] = string(k)
		}
		q.cond("kind IN (?"+strings.Repeat(", ?", len(ks)-1)+")", ks...)
	}
	if !r.AllTenants {
		q.cond("tenant = ?", r.Tenant)
	}
	notRecord := "NOT (kind = 'system' AND " + attr(aCategory) + " = '" + activitylog.CategoryRetention + "')"

	counts := map[activitylog.Kind]int64{}
	var total int64
	for _, p := range parts {
		// The category, in attrs, is read only where the rest matched.
		rows, err := s.conn.Query(ctx, "SELECT kind, uniqExact(id) FROM "+s.t.events+
			" PREWHERE "+inPartition(p)+" AND "+strings.Join(q.conds, " AND ")+
			" WHERE "+notRecord+" GROUP BY kind", q.args...)
		if err != nil {
			return nil, fmt.Errorf("count partition %d: %w", p, unavailable(ctx, err))
		}
		if err := scanCounts(rows, counts, &total); err != nil {
			return nil, fmt.Errorf("count partition %d: %w", p, unavailable(ctx, err))
		}
	}
	if total == 0 {
		return nil, nil
	}
	q.cond(notRecord)
	if err := s.execToEnd(ctx, "ALTER TABLE "+s.t.events+" DELETE"+q.whereSQL(), q.args...); err != nil {
		return nil, fmt.Errorf("delete: %w", unavailable(ctx, err))
	}
	// The mutation is made: the server deletes its rows whatever
	// happens to this call from here on.
	for k, n := range counts {
		res.ByKind[k] += n
	}
	res.Deleted += total
	// Undone mutations: this one, unless already done, and any other
	// of the table's still undone (another process's too).
	mutations, err := s.undoneMutations(ctx, "''", nil)
	if err != nil {
		return nil, fmt.Errorf("list mutations: %w", unavailable(ctx, err))
	}
	ids := make([]string, len(mutations))
	for i, m := range mutations {
		ids[i] = m.id
	}
	return ids, nil
}

// dropPartition drops partition p when it holds no record of a purge
// and no event at or after before, and adds its events to res by kind.
// It reports whether it dropped p.
func (s *Store) dropPartition(ctx context.Context, p uint32, before int64, res *activitylog.PurgeResult) (bool, error) {
	var n uint64
	// kind first, then the category (in attrs) of the system events
	// alone.
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.t.events+" PREWHERE "+inPartition(p)+
		" AND (time >= ? OR kind = 'system') WHERE time >= ? OR "+attr(aCategory)+" = '"+activitylog.CategoryRetention+"'",
		before, before).Scan(&n); err != nil {
		return false, unavailable(ctx, err)
	}
	if n > 0 { // its rows go by the mutation, the records of purges kept
		return false, nil
	}
	rows, err := s.conn.Query(ctx, "SELECT kind, uniqExact(id) FROM "+s.t.events+" PREWHERE "+inPartition(p)+" GROUP BY kind")
	if err != nil {
		return false, unavailable(ctx, err)
	}
	counts := map[activitylog.Kind]int64{}
	var total int64
	if err := scanCounts(rows, counts, &total); err != nil {
		return false, unavailable(ctx, err)
	}
	if err := s.execToEnd(ctx, "ALTER TABLE "+s.t.events+" DROP PARTITION "+strconv.FormatUint(uint64(p), 10)); err != nil {
		if ex, ok := errors.AsType[*ch.Exception](err); ok && ex.Code == 359 { // TABLE_SIZE_EXCEEDS_MAX_DROP_SIZE_LIMIT
			return false, nil
		}
		return false, unavailable(ctx, err)
	}
	for k, c := range counts {
		res.ByKind[k] += c
	}
	res.Deleted += total
	return true, nil
}

// deleteGrace bounds how long a statement that deletes (execToEnd) goes
// on after its context ended.
const deleteGrace = time.Minute

// execToEnd runs a statement that deletes (DROP PARTITION, the
// mutation), unless ctx has ended, and lets it end even when ctx ends
// meanwhile (for at most deleteGrace more), so that Purge knows whether
// it was done and counts its events: a statement cut off by ctx may be
// done by the server all the same. Purge returns the context's error at
// its next step.
func (s *Store) execToEnd(ctx context.Context, query string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteGrace)
	defer cancel()
	return s.conn.Exec(c, query, args...)
}

// scanCounts reads rows of (kind, count) into counts and total, and
// closes them.
func scanCounts(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}, counts map[activitylog.Kind]int64, total *int64) error {
	defer rows.Close()
	for rows.Next() {
		var (
			kind string
			n    uint64
		)
		if err := rows.Scan(&kind, &n); err != nil {
			return err
		}
		counts[activitylog.Kind(kind)] += int64(n)
		*total += int64(n)
	}
	return rows.Err()
}

// partitions returns the events table's partitions, as the YYYYMM
// numbers of their months, in order.
func (s *Store) partitions(ctx context.Context) ([]uint32, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active",
		s.db, s.eventsName())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		p, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("partition %q is not a month (YYYYMM)", v)
		}
		out = append(out, uint32(p))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// monthEnd returns when (Unix nanoseconds) the month of partition p
// ends in the server's time zone, which the partition key uses.
func (s *Store) monthEnd(ctx context.Context, p uint32) (int64, error) {
	var sec int64
	err := s.conn.QueryRow(ctx, "SELECT toInt64(toDateTime(addMonths(toDate(?), 1)))",
		fmt.Sprintf("%04d-%02d-01", p/100, p%100)).Scan(&sec)
	return sec * int64(time.Second), err
}

// openPartition is the first partition that may hold every time after
// 2099: partitionBy caps times at 2100-01-01 00:00 UTC, which is in
// January 2100 in UTC and east of it, but still in December 2099 in a
// time zone west of UTC, so that on such a server the partition of
// December 2099 holds every later time.
const openPartition = 209912

// monthRange returns the times (Unix nanoseconds) between which the
// events of partition p lie, unless their time is before 1970: its UTC
// month widened by a day either side, since the partition key takes
// the month in the server's time zone. The partitions of December 2099
// and later may hold every later time (openPartition).
func monthRange(p uint32) (lo, hi int64) {
	start := time.Date(int(p/100), time.Month(p%100), 1, 0, 0, 0, 0, time.UTC)
	lo = start.AddDate(0, 0, -1).UnixNano()
	if p >= openPartition {
		return lo, math.MaxInt64
	}
	return lo, start.AddDate(0, 1, 1).UnixNano()
}

// inPartition returns the condition that selects the rows of partition
// p exactly: its key, and the times it can hold (monthRange, or before
// 1970, where DateTime wraps around and the key is some month after
// 2038), which narrow the parts read to those of p and those with
// events before 1970.
func inPartition(p uint32) string {
	lo, hi := monthRange(p)
	return "(time < 0 OR time >= " + strconv.FormatInt(lo, 10) + " AND time < " + strconv.FormatInt(hi, 10) +
		") AND " + partitionBy + " = " + strconv.FormatUint(uint64(p), 10)
}

// eventsName returns the events table's bare name, as system tables
// hold it.
func (s *Store) eventsName() string { return strings.TrimSuffix(s.t.migrationsName, "_migrations") }

// mutation is a row of system.mutations.
type mutation struct {
	id     string
	failed string // the server's reason, on servers that report one
}

// failReason returns the expression of a mutation's failure in
// system.mutations: latest_fail_reason on servers that have it (19.x
// and later), else ”.
func (s *Store) failReason(ctx context.Context) (string, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = 'system' AND table = 'mutations'"+
		" AND name = 'latest_fail_reason'").Scan(&n); err != nil {
		return "", err
	}
	if n == 0 {
		return "''", nil
	}
	return "latest_fail_reason", nil
}

// undoneMutations returns the events table's mutations that are not
// done, of ids when ids is not nil, each with its failure (reason, from
// failReason).
func (s *Store) undoneMutations(ctx context.Context, reason string, ids []string) ([]mutation, error) {
	var q query
	q.cond("database = ? AND table = ? AND is_done = 0", s.db, s.eventsName())
	if ids != nil {
		if len(ids) == 0 {
			return nil, nil
		}
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		q.cond("mutation_id IN (?"+strings.Repeat(", ?", len(ids)-1)+")", args...)
	}
	rows, err := s.conn.Query(ctx, "SELECT mutation_id, "+reason+" FROM system.mutations"+q.whereSQL(), q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mutation
	for rows.Next() {
		var m mutation
		if err := rows.Scan(&m.id, &m.failed); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// awaitMutations polls system.mutations until none of ids is left
// undone, or one reports a failure, or Options.MutationTimeout passes
// (both errors wrapping activitylog.ErrUnavailable), or ctx ends.
// ClickHouse 18.16 reports no failure: it retries a failing mutation,
// and only the timeout ends the wait.
func (s *Store) awaitMutations(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	reason, err := s.failReason(ctx)
	if err != nil {
		return fmt.Errorf("wait for mutations: %w", unavailable(ctx, err))
	}
	wait := 20 * time.Millisecond
	deadline := time.Now().Add(s.mutationTimeout)
	for len(ids) > 0 {
		undone, err := s.undoneMutations(ctx, reason, ids)
		if err != nil {
			return fmt.Errorf("wait for mutations: %w", unavailable(ctx, err))
		}
		ids = ids[:0]
		for _, m := range undone {
			if m.failed != "" {
				return fmt.Errorf("mutation %s: %w: %s", m.id, activitylog.ErrUnavailable, m.failed)
			}
			ids = append(ids, m.id)
		}
		if len(ids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mutations %s of %s not done after %s (mutation_timeout; the server goes on with them, see system.mutations): %w",
				strings.Join(ids, ", "), s.t.events, s.mutationTimeout, activitylog.ErrUnavailable)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("wait for mutations %s (the server goes on with them): %w", strings.Join(ids, ", "), ctx.Err())
		}
		wait = min(2*wait, time.Second)
	}
	return nil
}
