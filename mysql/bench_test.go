package mysql_test

import (
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/storetest"
	driver "github.com/go-sql-driver/mysql"
)

const benchBatch = 500

// benchPool is a pool of trail events (storetest.TrailEvent) that each
// iteration reuses with new ids and times, so that making events with
// fmt is not what is measured.
func benchPool(n int) []activitylog.Event {
	es := make([]activitylog.Event, n)
	t0 := time.Now().Add(-time.Hour)
	for i := range es {
		es[i] = storetest.TrailEvent(i, t0.Add(time.Duration(i)*time.Millisecond))
	}
	return es
}

// nextBatch fills batch with the pool's events from start, with fresh
// ids and times: every batch is new to the store.
func nextBatch(batch, pool []activitylog.Event, start int, t time.Time) {
	for j := range batch {
		e := pool[(start+j)%len(pool)]
		e.Time = t.Add(time.Duration(j) * time.Microsecond)
		e.ID = activitylog.NewID(e.Time)
		batch[j] = e
	}
}

// serverCPU measures the CPU time the database server spends, when it
// runs on this machine as mariadbd or mysqld and /proc can tell: a
// figure that the other processes of a shared, busy machine disturb far
// less than the wall time (events/s), which also counts waiting for the
// CPU.
type serverCPU struct {
	pid   string
	start float64
}

func startServerCPU() serverCPU {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil {
			continue
		}
		if c := strings.TrimSpace(string(comm)); c == "mariadbd" || c == "mysqld" {
			c := serverCPU{pid: d.Name()}
			c.start, _ = c.seconds()
			return c
		}
	}
	return serverCPU{}
}

// seconds returns the process's user and system time (fields 14 and 15
// of /proc/PID/stat, in clock ticks of 1/100 s on Linux).
func (c serverCPU) seconds() (float64, bool) {
	b, err := os.ReadFile("/proc/" + c.pid + "/stat")
	if err != nil || c.pid == "" {
		return 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // after the command, which may hold spaces
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100, err1 == nil && err2 == nil
}

// report adds the server's CPU time per event since start, in ns.
func (c serverCPU) report(b *testing.B, events int) {
	if end, ok := c.seconds(); ok && events > 0 {
		b.ReportMetric((end-c.start)*1e9/float64(events), "server-cpu-ns/event")
	}
}

// BenchmarkIngest writes batches of 500 trail events, one Write each,
// and reports events/s: store as Open chooses (LOAD DATA LOCAL INFILE
// here), store-inserts with Options.Inserts (multi-row INSERTs). Its baseline, rawinsert, sends the same
// number of rows as plain multi-row INSERTs of 12 columns (the values
// interpolated by the driver, the JSON document made before the
// timer) into a table without any index or key, over the same server
// in the same run: the ratio of the two is what the store's encoding,
// its 27 columns, its primary key and its six indexes cost.
//
// It also reports the server's CPU time per event (serverCPU), when the
// server runs on this machine.
//
//	ACTIVITYLOG_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/test' bench/ratios.sh 8 ./mysql BenchmarkIngest BenchmarkIngest/rawinsert 3s events/s
//	ACTIVITYLOG_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/test' bench/ratios.sh 8 ./mysql BenchmarkIngest BenchmarkIngest/rawinsert 3s server-cpu-ns/event
func BenchmarkIngest(b *testing.B) {
	pool := benchPool(20 * benchBatch)
	rawDSN := newDatabase(b)

	for _, store := range []struct {
		name string
		opts *mysql.Options
	}{{"store", nil}, {"store-inserts", &mysql.Options{Inserts: true}}} {
		dsn := newDatabase(b)
		b.Run(store.name, func(b *testing.B) {
			s, err := mysql.Open(ctx, dsn, store.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			batch := make([]activitylog.Event, benchBatch)
			t := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startServerCPU()
			for i := 0; b.Loop(); i++ {
				t = t.Add(time.Second)
				nextBatch(batch, pool, i*benchBatch, t)
				if err := s.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
			cpu.report(b, b.N*benchBatch)
		})
	}

	b.Run("rawinsert", func(b *testing.B) {
		s, err := mysql.Open(ctx, rawDSN, &mysql.Options{SkipMigrate: true})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		db := s.DB()
		if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS raw (
			id BINARY(16), time BIGINT, kind VARBINARY(64), action VARBINARY(64), severity VARBINARY(64),
			tenant VARBINARY(64), actor_id VARBINARY(64), remote_ip VARBINARY(64), status BIGINT,
			duration BIGINT, message BLOB, data LONGBLOB) ENGINE=InnoDB`); err != nil {
			b.Fatal(err)
		}
		docs := make([][]byte, len(pool))
		for i := range pool {
			docs[i], _ = json.Marshal(pool[i])
		}
		query := "INSERT INTO raw VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?),", benchBatch), ",")
		batch := make([]activitylog.Event, benchBatch)
		args := make([]any, 0, 12*benchBatch)
		t := time.Now()
		b.ReportAllocs()
		b.ResetTimer()
		cpu := startServerCPU()
		for i := 0; b.Loop(); i++ {
			t = t.Add(time.Second)
			nextBatch(batch, pool, i*benchBatch, t)
			args = args[:0]
			for j := range batch {
				e := &batch[j]
				args = append(args, e.ID[:], e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant,
					e.Actor.ID, e.Request.RemoteIP, e.Response.Status, int64(e.Response.Duration), e.Message,
					docs[(i*benchBatch+j)%len(docs)])
			}
			if _, err := db.ExecContext(ctx, query, args...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
		cpu.report(b, b.N*benchBatch)
	})
}

// BenchmarkIngestSealed writes batches of 500 trail events, as
// BenchmarkIngest/store does: "plain" through Store.Write, the
// baseline; "sealed" through an integrity.Writer (SHA-256 chain, a
// signed checkpoint with every batch); "sealed-hmac" the same with an
// HMAC key; "sealed-checkpoint-1s" with a checkpoint at most every
// second. Compare them as ratios to plain, in alternating rounds:
//
//	ACTIVITYLOG_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/test' bench/ratios.sh 5 ./mysql BenchmarkIngestSealed BenchmarkIngestSealed/plain 3s events/s
//
// ns/op is per batch; server-cpu-ns/event is the server's CPU time (see
// serverCPU).
func BenchmarkIngestSealed(b *testing.B) {
	pool := benchPool(20 * benchBatch)
	_, priv, _ := integrity.GenerateKey()
	hk, _ := integrity.GenerateHMACKey()
	for _, bc := range []struct {
		name string
		opts *integrity.WriterOptions // nil: Store.Write
	}{
		{"plain", nil},
		{"sealed", &integrity.WriterOptions{SigningKey: priv}},
		{"sealed-hmac", &integrity.WriterOptions{SigningKey: priv, HMACKey: hk}},
		{"sealed-checkpoint-1s", &integrity.WriterOptions{SigningKey: priv, CheckpointInterval: time.Second}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b, nil)
			var w activitylog.Writer = s
			if bc.opts != nil {
				var err error
				if w, err = integrity.NewWriter(s, bc.opts); err != nil {
					b.Fatal(err)
				}
			}
			batch := make([]activitylog.Event, benchBatch)
			t := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startServerCPU()
			for i := 0; b.Loop(); i++ {
				t = t.Add(time.Second)
				nextBatch(batch, pool, i*benchBatch, t)
				if err := w.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
			cpu.report(b, b.N*benchBatch)
		})
	}
}

// BenchmarkVerifyStore verifies a sealed trail of 10,000 trail events
// (batches of 500, a checkpoint each) read back from the store: every
// row's canonical bytes recomputed from its document and its columns
// compared with it, every hash, link and checkpoint checked.
func BenchmarkVerifyStore(b *testing.B) {
	const n = 10_000
	s := open(b, nil)
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		b.Fatal(err)
	}
	pool := benchPool(20 * benchBatch)
	batch := make([]activitylog.Event, benchBatch)
	t := time.Now().Add(-time.Hour)
	for i := 0; i < n/benchBatch; i++ {
		t = t.Add(time.Second)
		nextBatch(batch, pool, i*benchBatch, t)
		if err := w.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	v := integrity.NewVerifier(s, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
	b.ReportAllocs()
	for b.Loop() {
		rep, err := v.Verify(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() || rep.Verified != n {
			b.Fatalf("verified %d of %d: %v", rep.Verified, n, rep.Findings)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkGet reads one event by id through the store, whose
// connections interpolate arguments into the statement text (one round
// trip), and, as the baseline, the same statement through a pool that
// lets the server prepare it (prepare, execute and close: three).
//
//	ACTIVITYLOG_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/test' bench/ratios.sh 6 ./mysql BenchmarkGet BenchmarkGet/prepare 2s
func BenchmarkGet(b *testing.B) {
	dsn := newDatabase(b)
	s, err := mysql.Open(ctx, dsn, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pool := benchPool(2 * benchBatch)
	for i := 0; i < len(pool); i += benchBatch {
		if err := s.Write(ctx, pool[i:i+benchBatch]); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("interpolate", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Get(ctx, pool[i%len(pool)].ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("prepare", func(b *testing.B) {
		cfg, err := driver.ParseDSN(dsn)
		if err != nil {
			b.Fatal(err)
		}
		cfg.InterpolateParams = false
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var (
				data []byte
				ns   int64
			)
			id := pool[i%len(pool)].ID
			if err := db.QueryRowContext(ctx, "SELECT data, time FROM events WHERE id = ?", id[:]).Scan(&data, &ns); err != nil {
				b.Fatal(err)
			}
			var e activitylog.Event
			if err := json.Unmarshal(data, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
