package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/clickhouse"
	"github.com/activitylog/activitylog/storetest"
)

// purgeCut is the purge tests' cut: inside March 2023, so that a purge
// of every tenant and kind drops January whole (February holds a record
// of a purge) and deletes the start of March by a mutation.
var purgeCut = time.Date(2023, 3, 15, 12, 0, 0, 0, time.UTC)

// purgeTrail returns events from January to April 2023, every 19
// hours, of four kinds and three tenants (one of them none), and
// records of purges (system events of category retention) in February
// and March, before the cut, of every tenant.
func purgeTrail() []activitylog.Event {
	kinds := []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth, activitylog.KindSystem, activitylog.KindRequest}
	tenants := []string{"acme", "globex", ""}
	var es []activitylog.Event
	i := 0
	for at := time.Date(2023, 1, 1, 5, 0, 0, 0, time.UTC); at.Before(time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC)); at = at.Add(19 * time.Hour) {
		e := storetest.NewEvent(i)
		e.Time, e.ID = at, activitylog.NewID(at)
		e.Kind, e.Tenant = kinds[i%len(kinds)], tenants[(i/len(kinds))%len(tenants)]
		if e.Kind == activitylog.KindSystem {
			e.Action, e.Category = "error", "disk"
		}
		es = append(es, e)
		i++
	}
	for j, at := range []time.Time{
		time.Date(2023, 2, 10, 8, 0, 0, 0, time.UTC), time.Date(2023, 2, 11, 8, 0, 0, 0, time.UTC),
		time.Date(2023, 2, 12, 8, 0, 0, 0, time.UTC), time.Date(2023, 3, 5, 8, 0, 0, 0, time.UTC),
	} {
		e := storetest.NewEvent(i + j)
		e.Time, e.ID = at, activitylog.NewID(at)
		e.Kind, e.Action, e.Category, e.Tenant = activitylog.KindSystem, "security", activitylog.CategoryRetention, tenants[j%len(tenants)]
		e.Extra = map[string]any{"operation": activitylog.PurgeDone}
		es = append(es, e)
	}
	return es
}

// purgeSelects reports whether r selects e, as a purge must read it.
func purgeSelects(r activitylog.PurgeRequest, e *activitylog.Event) bool {
	switch {
	case !e.Time.Before(r.Before), e.Kind == activitylog.KindSystem && e.Category == activitylog.CategoryRetention,
		!r.AllTenants && e.Tenant != r.Tenant:
		return false
	}
	return len(r.Kinds) == 0 || slices.Contains(r.Kinds, e.Kind)
}

// openPurge opens a store in a database of its own, writes es to it,
// and returns it, the database's name, and a connection of its own to
// the server.
func openPurge(t *testing.T, es []activitylog.Event) (*clickhouse.Store, string, driver.Conn) {
	t.Helper()
	return openPurgeOn(t, testDSN(t), es)
}

// openPurgeOn is openPurge on the server dsn names.
func openPurgeOn(t *testing.T, dsn string, es []activitylog.Event) (*clickhouse.Store, string, driver.Conn) {
	t.Helper()
	db := newDatabase(t, dsn)
	s, err := clickhouse.Open(ctx, dsn, &clickhouse.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if len(es) > 0 {
		if err := s.Write(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	return s, db, admin
}

// purgeAndCheck runs r on s and checks its result against the events
// of left that r selects, which it removes from left; then that s holds
// exactly the events of left (of all es), once each.
func purgeAndCheck(t *testing.T, s *clickhouse.Store, r activitylog.PurgeRequest, es []activitylog.Event, left map[activitylog.ID]bool) activitylog.PurgeResult {
	t.Helper()
	want := map[activitylog.Kind]int64{}
	var n int64
	for i := range es {
		if e := &es[i]; left[e.ID] && purgeSelects(r, e) {
			want[e.Kind]++
			n++
			delete(left, e.ID)
		}
	}
	what := fmt.Sprintf("Purge(before %s, kinds %v, tenant %q, all tenants %v)", r.Before.Format(time.RFC3339), r.Kinds, r.Tenant, r.AllTenants)
	res, err := s.Purge(ctx, r)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got := maps.Clone(res.ByKind)
	maps.DeleteFunc(got, func(_ activitylog.Kind, c int64) bool { return c == 0 })
	if res.Deleted != n || !maps.Equal(got, want) || res.KeptSealed != 0 {
		t.Errorf("%s = %+v, want %d deleted: %v", what, res, n, want)
	}
	if c, err := s.Count(ctx, activitylog.Filter{}); err != nil || c != int64(len(left)) {
		t.Errorf("after %s: Count = %d, %v, want %d", what, c, err, len(left))
	}
	for i := range es {
		e := &es[i]
		_, err := s.Get(ctx, e.ID)
		switch {
		case left[e.ID] && err != nil:
			t.Fatalf("after %s: Get(%s %s of %q at %s) = %v, want it kept", what, e.Kind, e.Category, e.Tenant, e.Time, err)
		case !left[e.ID] && !errors.Is(err, activitylog.ErrNotFound):
			t.Fatalf("after %s: Get(%s of %q at %s) = %v, want ErrNotFound", what, e.Kind, e.Tenant, e.Time, err)
		}
	}
	return res
}

// partitionsOf returns the active partitions of db's events table.
func partitionsOf(t *testing.T, admin driver.Conn, db string) []string {
	t.Helper()
	rows, err := admin.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = 'events' AND active ORDER BY partition", db)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// mutationsOf returns how many mutations db's events table had, and
// how many are not done.
func mutationsOf(t *testing.T, admin driver.Conn, db string) (all, undone uint64) {
	t.Helper()
	if err := admin.QueryRow(ctx, "SELECT count(), countIf(is_done = 0) FROM system.mutations WHERE database = ? AND table = 'events'",
		db).Scan(&all, &undone); err != nil {
		t.Fatal(err)
	}
	return all, undone
}

// TestPurgeKindAndTenant: a purge of some kinds of one tenant, and of
// every kind of no tenant, deletes those events before the cut and no
// other, and keeps the records of purges.
func TestPurgeKindAndTenant(t *testing.T) {
	es := purgeTrail()
	s, db, admin := openPurge(t, es)
	left := map[activitylog.ID]bool{}
	for _, e := range es {
		left[e.ID] = true
	}
	purgeAndCheck(t, s, activitylog.PurgeRequest{Before: purgeCut,
		Kinds: []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth}, Tenant: "acme"}, es, left)
	purgeAndCheck(t, s, activitylog.PurgeRequest{Before: purgeCut, Tenant: ""}, es, left)
	// A narrow request drops no partition.
	if got := partitionsOf(t, admin, db); !slices.Equal(got, []string{"202301", "202302", "202303", "202304"}) {
		t.Errorf("partitions %v, want the four months", got)
	}
	if all, undone := mutationsOf(t, admin, db); all != 2 || undone != 0 {
		t.Errorf("%d mutations, %d not done; want 2, done", all, undone)
	}
	// Nothing left to delete: no mutation.
	purgeAndCheck(t, s, activitylog.PurgeRequest{Before: purgeCut, Tenant: ""}, es, left)
	if all, _ := mutationsOf(t, admin, db); all != 2 {
		t.Errorf("%d mutations after a purge with nothing to delete, want still 2", all)
	}
}

// TestPurgeAllTenantsDropsMonths: a purge of every tenant and kind
// drops January whole, keeps February (it holds a record of a purge)
// and deletes its other events and March's before the cut by one
// mutation; it counts an event once even where the table holds copies
// of it (write.go), in a dropped month and in a mutated one.
func TestPurgeAllTenantsDropsMonths(t *testing.T) {
	es := purgeTrail()
	s, db, admin := openPurge(t, es)
	left := map[activitylog.ID]bool{}
	for _, e := range es {
		left[e.ID] = true
	}
	// Identical copies, as two processes writing one new event at once
	// store them, of an event of January and one of March before the
	// cut; until a merge folds them, Count sees them.
	var copied []string
	for _, e := range es {
		if e.Time.Month() == time.January && e.Kind == activitylog.KindCRUD && len(copied) == 0 ||
			e.Time.Month() == time.March && e.Time.Before(purgeCut) && e.Kind == activitylog.KindAuth && len(copied) == 1 {
			copied = append(copied, string(e.ID[:]))
		}
	}
	if err := admin.Exec(ctx, "INSERT INTO `"+db+"`.events SELECT * FROM `"+db+"`.events WHERE id IN (?, ?)", copied[0], copied[1]); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != int64(len(es)+2) {
		// A merge folded them already: the counts are still checked.
		t.Logf("Count with two events copied = %d, %v, want %d", n, err, len(es)+2)
	}
	res := purgeAndCheck(t, s, activitylog.PurgeRequest{Before: purgeCut, AllTenants: true}, es, left)
	if res.Deleted == 0 {
		t.Fatal("nothing deleted")
	}
	if got := partitionsOf(t, admin, db); !slices.Equal(got, []string{"202302", "202303", "202304"}) {
		t.Errorf("partitions %v after the purge, want January dropped", got)
	}
	if all, undone := mutationsOf(t, admin, db); all != 1 || undone != 0 {
		t.Errorf("%d mutations, %d not done; want 1, done", all, undone)
	}
	// Again: nothing to delete, nothing dropped or mutated.
	purgeAndCheck(t, s, activitylog.PurgeRequest{Before: purgeCut, AllTenants: true}, es, left)
	if all, _ := mutationsOf(t, admin, db); all != 1 {
		t.Errorf("%d mutations after a purge with nothing to delete, want still 1", all)
	}
}

// TestPurgeWholeMonths: a purge of every tenant and kind before the
// start of a month (in the server's time zone) drops the months before
// it and rewrites nothing.
func TestPurgeWholeMonths(t *testing.T) {
	var es []activitylog.Event
	for _, e := range purgeTrail() {
		if e.Category != activitylog.CategoryRetention {
			es = append(es, e)
		}
	}
	s, db, admin := openPurge(t, es)
	var sec int64
	if err := admin.QueryRow(ctx, "SELECT toInt64(toDateTime(toDate('2023-03-01')))").Scan(&sec); err != nil {
		t.Fatal(err)
	}
	left := map[activitylog.ID]bool{}
	for _, e := range es {
		left[e.ID] = true
	}
	purgeAndCheck(t, s, activitylog.PurgeRequest{Before: time.Unix(sec, 0), AllTenants: true}, es, left)
	if got := partitionsOf(t, admin, db); !slices.Equal(got, []string{"202303", "202304"}) {
		t.Errorf("partitions %v after the purge, want January and February dropped", got)
	}
	if all, _ := mutationsOf(t, admin, db); all != 0 {
		t.Errorf("%d mutations, want none", all)
	}
}

// TestPurgeRefuses: a bad request is a FieldError naming its field, a
// store opened ReadOnly refuses naming read_only, a closed one is
// unavailable; none deletes anything.
func TestPurgeRefuses(t *testing.T) {
	es := storetest.Fixture(10)
	s, db, _ := openPurge(t, es)
	for _, tc := range []struct {
		r            activitylog.PurgeRequest
		field, value string
	}{
		{activitylog.PurgeRequest{AllTenants: true}, "before", ""},
		{activitylog.PurgeRequest{Before: time.Now(), Kinds: []activitylog.Kind{"weather"}}, "kinds", "weather"},
	} {
		_, err := s.Purge(ctx, tc.r)
		wantFieldError(t, fmt.Sprintf("Purge(%+v)", tc.r), err, tc.field, tc.value)
	}
	r, err := clickhouse.Open(ctx, testDSN(t), &clickhouse.Options{Database: db, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.Purge(ctx, activitylog.PurgeRequest{Before: time.Now(), AllTenants: true})
	wantFieldError(t, "Purge through a read-only store", err, "read_only", "true")
	r.Close()
	if _, err := r.Purge(ctx, activitylog.PurgeRequest{Before: time.Now(), AllTenants: true}); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Purge after Close = %v, want ErrUnavailable", err)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != int64(len(es)) {
		t.Errorf("Count after the refused purges = %d, %v, want %d", n, err, len(es))
	}
}

// TestPurgeWhileWriting: Writes of events before the cut while purges
// run are either counted and deleted or kept: what is deleted is what
// is counted. Writes after the cut are never held back.
func TestPurgeWhileWriting(t *testing.T) {
	s, _, _ := openPurge(t, nil)
	var (
		written atomic.Int64
		stop    = make(chan struct{})
		ended   = make(chan struct{})
		wg      sync.WaitGroup
		werr    error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ended)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Three events a batch: in a month the purge drops whole, in the
			// month of the cut before it, and after it.
			var batch []activitylog.Event
			for j, at := range []time.Time{
				time.Date(2023, 1, 2, 0, 0, 0, 0, time.UTC), purgeCut.Add(-time.Hour), purgeCut.Add(time.Hour),
			} {
				at = at.Add(time.Duration(i) * time.Millisecond)
				e := storetest.NewEvent(3*i + j)
				e.Time, e.ID = at, activitylog.NewID(at)
				batch = append(batch, e)
			}
			if err := s.Write(ctx, batch); err != nil {
				werr = err
				return
			}
			written.Add(2)
		}
	}()
	var deleted int64
	for range 6 {
		for n := written.Load(); written.Load() < n+20; {
			select {
			case <-ended:
				t.Fatalf("Write: %v", werr)
			case <-time.After(5 * time.Millisecond):
			}
		}
		res, err := s.Purge(ctx, activitylog.PurgeRequest{Before: purgeCut, AllTenants: true})
		if err != nil {
			t.Fatal(err)
		}
		deleted += res.Deleted
	}
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	kept, err := s.Count(ctx, activitylog.Filter{To: purgeCut})
	if err != nil {
		t.Fatal(err)
	}
	if w := written.Load(); deleted+kept != w || deleted == 0 {
		t.Fatalf("wrote %d events before the cut; purges deleted %d and %d are left (%d uncounted)", w, deleted, kept, w-deleted-kept)
	}
}

// TestPurgeTwoAtOnce: two purges of one Store at once, of the same
// events, delete each event once and count it once between them: the
// second does not count what the first's mutation is still deleting.
func TestPurgeTwoAtOnce(t *testing.T) {
	es := purgeTrail()
	s, _, _ := openPurge(t, es)
	left := map[activitylog.ID]bool{}
	for _, e := range es {
		left[e.ID] = true
	}
	for _, r := range []activitylog.PurgeRequest{
		{Before: purgeCut, Kinds: []activitylog.Kind{activitylog.KindCRUD}, Tenant: "acme"},
		{Before: purgeCut, Kinds: []activitylog.Kind{activitylog.KindAuth}, AllTenants: true},
		{Before: purgeCut.AddDate(0, 1, 0), AllTenants: true},
	} {
		want := map[activitylog.Kind]int64{}
		var n int64
		for i := range es {
			if e := &es[i]; left[e.ID] && purgeSelects(r, e) {
				want[e.Kind]++
				n++
				delete(left, e.ID)
			}
		}
		var (
			wg  sync.WaitGroup
			got [2]activitylog.PurgeResult
			err [2]error
		)
		for i := range got {
			wg.Go(func() { got[i], err[i] = s.Purge(ctx, r) })
		}
		wg.Wait()
		var sum activitylog.PurgeResult
		for i := range got {
			if err[i] != nil {
				t.Fatalf("Purge %d: %v", i, err[i])
			}
			sum.Add(got[i])
		}
		maps.DeleteFunc(sum.ByKind, func(_ activitylog.Kind, c int64) bool { return c == 0 })
		if sum.Deleted != n || !maps.Equal(sum.ByKind, want) {
			t.Errorf("two Purge(before %s, kinds %v, tenant %q, all tenants %v) at once = %+v and %+v, want %d deleted between them: %v",
				r.Before.Format(time.RFC3339), r.Kinds, r.Tenant, r.AllTenants, got[0], got[1], n, want)
		}
		if c, err := s.Count(ctx, activitylog.Filter{}); err != nil || c != int64(len(left)) {
			t.Errorf("Count = %d, %v, want %d", c, err, len(left))
		}
	}
}

// TestPurgeFarTimes: purges of every tenant and kind whose cuts lie
// before 1970, at a month's start in the server's time zone, at 2100
// (where the partitions end: every later time shares the partition of
// the last month before it, which is December 2099 in a time zone west
// of UTC), and between 2100 and 2262, delete exactly the events before
// the cut and count them, whichever partitions those share.
//
// It runs on the test server, and on a server of its own in New York's
// time zone (serverInZone), where that partition is December 2099's.
func TestPurgeFarTimes(t *testing.T) {
	dsn := testDSN(t)
	t.Run("test server", func(t *testing.T) { testPurgeFarTimes(t, dsn) })
	t.Run("America/New_York", func(t *testing.T) { testPurgeFarTimes(t, serverInZone(t, "America/New_York")) })
}

func testPurgeFarTimes(t *testing.T, dsn string) {
	s, _, admin := openPurgeOn(t, dsn, nil)
	var march int64
	if err := admin.QueryRow(ctx, "SELECT toInt64(toDateTime(toDate('2023-03-01')))").Scan(&march); err != nil {
		t.Fatal(err)
	}
	var es []activitylog.Event
	for i, at := range []time.Time{
		time.Date(1680, 5, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC),
		time.Unix(0, 0),
		time.Unix(march, 0).Add(-time.Hour), time.Unix(march, 0), time.Unix(march, 0).Add(time.Hour),
		time.Date(2023, 3, 1, 2, 0, 0, 0, time.UTC), time.Date(2023, 2, 28, 23, 0, 0, 0, time.UTC),
		time.Date(2099, 12, 15, 0, 0, 0, 0, time.UTC), time.Date(2099, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(2100, 1, 1, 3, 0, 0, 0, time.UTC), time.Date(2100, 2, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2150, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2250, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, math.MaxInt64-1),
	} {
		e := storetest.NewEvent(i)
		e.Time, e.ID = at, activitylog.NewID(at)
		es = append(es, e)
	}
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	left := map[activitylog.ID]bool{}
	for _, e := range es {
		left[e.ID] = true
	}
	for _, before := range []time.Time{
		time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(march, 0),
		time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		purgeAndCheck(t, s, activitylog.PurgeRequest{Before: before, AllTenants: true}, es, left)
	}
	if len(left) != 0 {
		t.Errorf("%d events left, want none", len(left))
	}
}

// serverInZone starts a ClickHouse server of its own whose time zone
// is zone, on loopback ports free now, with its files in a temporary
// directory, stops it when t ends, and returns its DSN. The server is
// the binary ACTIVITYLOG_TEST_CLICKHOUSE_SERVER names (.ci/run sets it
// to Debian's /usr/sbin/clickhouse-server); t skips, naming the
// variable, only when it is unset, and fails when it names no program.
func serverInZone(t *testing.T, zone string) string {
	t.Helper()
	const env = "ACTIVITYLOG_TEST_CLICKHOUSE_SERVER"
	name := os.Getenv(env)
	if name == "" {
		t.Skip("set " + env + "=/usr/sbin/clickhouse-server to start a second ClickHouse server in another time zone")
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s=%s: %v", env, name, err)
	}
	freePort := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	tcp, http := freePort(), freePort()
	dir := t.TempDir()
	config := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>%[1]s/server.log</log><errorlog>%[1]s/server.err.log</errorlog></logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>%[2]d</http_port>
    <tcp_port>%[3]d</tcp_port>
    <mark_cache_size>67108864</mark_cache_size>
    <path>%[1]s/data/</path>
    <tmp_path>%[1]s/tmp/</tmp_path>
    <user_files_path>%[1]s/user_files/</user_files_path>
    <format_schema_path>%[1]s/format_schemas/</format_schema_path>
    <users_config>%[1]s/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>%[4]s</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
`, dir, http, tcp, zone)
	users := `<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users><default><password></password><networks replace="replace"><ip>127.0.0.1</ip></networks>
        <profile>default</profile><quota>default</quota></default></users>
    <quotas><default></default></quotas>
</yandex>
`
	for name, text := range map[string]string{"config.xml": config, "users.xml": users} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "--config-file="+filepath.Join(dir, "config.xml"))
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatalf("start clickhouse-server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	dsn := fmt.Sprintf("clickhouse://127.0.0.1:%d/default", tcp)
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for deadline := time.Now().Add(60 * time.Second); ; {
		var got string
		err := conn.QueryRow(ctx, "SELECT timezone()").Scan(&got)
		if err == nil {
			if got != zone {
				t.Fatalf("the server's time zone is %q, want %q", got, zone)
			}
			return dsn
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "server.err.log"))
			t.Fatalf("clickhouse-server in %s exited: %v\n%s", zone, err, log)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("clickhouse-server in %s did not answer within 60 s: %v", zone, err)
		}
	}
}

// TestPurgeCancelledWhileDropping: a purge whose context ends while the
// server has yet to drop a month (DROP PARTITION waits for the queries
// reading the table) counts that month when the server drops it all
// the same: what it reports deleted is what is gone.
func TestPurgeCancelledWhileDropping(t *testing.T) {
	es := purgeTrail()
	s, db, admin := openPurge(t, es)
	running := func(like string) bool {
		t.Helper()
		var n uint64
		if err := admin.QueryRow(ctx, "SELECT count() FROM system.processes WHERE query LIKE ?", like).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	reading := make(chan error, 1)
	go func() {
		// A query that reads the table for a second or two (the server
		// evaluates sleep more than once).
		var v uint8
		reading <- admin.QueryRow(ctx, "SELECT sleep(0.5) FROM `"+db+"`.events LIMIT 1").Scan(&v)
	}()
	for !running("SELECT sleep(0.5)%") {
		time.Sleep(5 * time.Millisecond)
	}
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		res activitylog.PurgeResult
		err error
	}
	purged := make(chan result, 1)
	go func() {
		res, err := s.Purge(c, activitylog.PurgeRequest{Before: purgeCut, AllTenants: true})
		purged <- result{res, err}
	}()
	// The context ends while the drop waits for the query.
	for !running("ALTER TABLE%DROP PARTITION%") {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	got := <-purged
	if !errors.Is(got.err, context.Canceled) {
		t.Errorf("Purge with a context that ends = %+v, %v, want the context's error", got.res, got.err)
	}
	if err := <-reading; err != nil {
		t.Fatal(err)
	}
	// The server drops the month once the query ends.
	for deadline := time.Now().Add(5 * time.Second); ; {
		left, err := s.Count(ctx, activitylog.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if left+got.res.Deleted == int64(len(es)) && (got.res.Deleted > 0 || left == int64(len(es))) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Purge cut off by its context reported %+v deleted; %d of %d events are left", got.res, left, len(es))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPurgeTenantQuoting: a tenant with quotes, backslashes, a question
// mark or a NUL is the value the purge selects by, never part of the
// statement: a purge of it deletes its events and no other tenant's.
func TestPurgeTenantQuoting(t *testing.T) {
	tenants := []string{`o'brien`, `back\slash`, `a\'b' OR 1=1 --`, "nul\x00x", "?", "nul", "a"}
	var es []activitylog.Event
	for i := range 4 * len(tenants) {
		e := storetest.NewEvent(i)
		e.Time = purgeCut.Add(-time.Duration(i+1) * time.Hour)
		e.ID, e.Tenant = activitylog.NewID(e.Time), tenants[i%len(tenants)]
		es = append(es, e)
	}
	s, _, _ := openPurge(t, es)
	left := map[activitylog.ID]bool{}
	for _, e := range es {
		left[e.ID] = true
	}
	for _, tenant := range tenants[:5] {
		purgeAndCheck(t, s, activitylog.PurgeRequest{Before: purgeCut, Tenant: tenant}, es, left)
	}
}

// A mutation that fails forever (18.16 retries it and reports nothing)
// does not hold a purge past Options.MutationTimeout: the purge fails,
// naming the mutation, with ErrUnavailable, and deletes nothing.
func TestPurgeStuckMutation(t *testing.T) {
	t.Parallel()
	old := time.Now().UTC().AddDate(0, -2, 0)
	var es []activitylog.Event
	for i := range 6 {
		at := old.Add(time.Duration(i) * time.Minute)
		es = append(es, activitylog.Event{ID: activitylog.NewID(at), Time: at, Kind: activitylog.KindCRUD, Action: "update",
			Severity: activitylog.SeverityInfo, Tenant: "acme"})
	}
	_, db, admin := openPurge(t, es)
	// A mutation whose condition throws on every part: never done.
	if err := admin.Exec(ctx, "ALTER TABLE `"+db+"`.events DELETE WHERE throwIf(time > 0) = 1"); err != nil {
		t.Fatal(err)
	}
	s, err := clickhouse.Open(ctx, testDSN(t), &clickhouse.Options{Database: db, MutationTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := s.Purge(cctx, activitylog.PurgeRequest{Before: time.Now(), Tenant: "acme"})
	if !errors.Is(err, activitylog.ErrUnavailable) || !strings.Contains(err.Error(), "mutation_timeout") || !strings.Contains(err.Error(), "mutation_") {
		t.Fatalf("Purge with a stuck mutation = %+v, %v; want ErrUnavailable naming the mutation and mutation_timeout", res, err)
	}
	if res.Deleted != 0 {
		t.Errorf("deleted %d", res.Deleted)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != int64(len(es)) {
		t.Errorf("Count = %d, %v, want %d", n, err, len(es))
	}
	if _, err := clickhouse.Open(ctx, testDSN(t), &clickhouse.Options{Database: db, MutationTimeout: -time.Second}); !errors.Is(err, activitylog.ErrInvalid) ||
		!strings.Contains(err.Error(), "mutation_timeout") {
		t.Errorf("a negative MutationTimeout: %v, want a FieldError naming mutation_timeout", err)
	}
}
