package clickhouse

import (
	"context"
	"slices"
	"strings"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"

	"github.com/activitylog/activitylog"
)

// maxRanges bounds the time ranges one check names.
const maxRanges = 32

// timeRanges splits sorted times (Unix nanoseconds) into at most
// maxRanges ranges, cutting at the widest gaps, so that a batch of
// events from a few moments (a backfill and the present, say) is looked
// for in a few narrow ranges instead of one wide one.
func timeRanges(times []int64) [][2]int64 {
	if len(times) == 0 {
		return nil
	}
	type gap struct {
		at   int // the range ends before times[at]
		size int64
	}
	gaps := make([]gap, 0, len(times)-1)
	for i := 1; i < len(times); i++ {
		if d := times[i] - times[i-1]; d > 0 {
			gaps = append(gaps, gap{i, d})
		}
	}
	slices.SortFunc(gaps, func(a, b gap) int {
		switch {
		case a.size > b.size:
			return -1
		case a.size < b.size:
			return 1
		}
		return a.at - b.at
	})
	cuts := make([]int, 0, maxRanges)
	for _, g := range gaps[:min(len(gaps), maxRanges-1)] {
		cuts = append(cuts, g.at)
	}
	slices.Sort(cuts)
	var out [][2]int64
	lo := 0
	for _, c := range append(cuts, len(times)) {
		out = append(out, [2]int64{times[lo], times[c-1]})
		lo = c
	}
	return out
}

// stored returns which of ids (the batch's, sorted) the events table
// holds at one of the batch's times (sorted): the time ranges narrow
// the primary index to the granules of those times (in each tenant and
// kind), and the ids, sent as an external table, are matched there.
func (s *Store) stored(ctx context.Context, ids []activitylog.ID, times []int64) (map[activitylog.ID]bool, error) {
	var cond strings.Builder
	var args []any
	for i, r := range timeRanges(times) {
		if i > 0 {
			cond.WriteString(" OR ")
		}
		cond.WriteString("(time >= ? AND time <= ?)")
		args = append(args, r[0], r[1])
	}
	tbl, err := idTable("_check", ids)
	if err != nil {
		return nil, err
	}
	rows, err := s.conn.Query(ch.Context(ctx, ch.WithExternalTable(tbl)),
		"SELECT DISTINCT id FROM "+s.t.events+" PREWHERE ("+cond.String()+") AND id IN _check", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		stored map[activitylog.ID]bool
		id     []byte
	)
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		var x activitylog.ID
		copy(x[:], id)
		if stored == nil {
			stored = map[activitylog.ID]bool{}
		}
		stored[x] = true
	}
	return stored, rows.Err()
}

// idTable returns ids as an external table of one column, id, for a
// query's IN.
func idTable(name string, ids []activitylog.ID) (*ext.Table, error) {
	tbl, err := ext.NewTable(name, ext.Column("id", "FixedString(16)"))
	if err != nil {
		return nil, err
	}
	col := make([][]byte, len(ids))
	for i := range ids {
		col[i] = ids[i][:]
	}
	if _, err := tbl.Block().Columns[0].Append(col); err != nil {
		return nil, err
	}
	return tbl, nil
}
