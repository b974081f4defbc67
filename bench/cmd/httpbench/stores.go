package main

// The -stores mode (issue 10, part 2): ingest per backend, each as a
// ratio to a raw baseline measured in the same round; query latency and
// verify throughput on SQLite stores of N events.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/clickhouse"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/internal/eventjson"
	"github.com/activitylog/activitylog/mongo"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/natsq"
	"github.com/activitylog/activitylog/postgres"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
	driver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The environment variables that switch a backend on, as the stores'
// own tests name them.
const (
	envPostgres = "ACTIVITYLOG_TEST_POSTGRES_DSN"
	envMySQL    = "ACTIVITYLOG_TEST_MYSQL_DSN"
	envNATS     = "ACTIVITYLOG_TEST_NATS_URL"
	envCH       = "ACTIVITYLOG_TEST_CLICKHOUSE_DSN"
	envMongo    = "ACTIVITYLOG_TEST_MONGO_URI"
)

// ingestBatch is the number of events a Write is given.
const ingestBatch = 500

// StoresConfig is one run of the stores benchmark.
type StoresConfig struct {
	Duration time.Duration // of each ingest run, per variant per round
	Rounds   int
	// Backends limits the ingest to these (sqlite, postgres, mysql,
	// clickhouse, mongo, nats); empty: SQLite and every backend whose environment
	// variable is set.
	Backends []string
	N        int    // events of the query and verify stores
	StoreDir string // keeps those stores between runs; empty: a temporary directory
	// QueryRuns is how many times each query is timed (after 3 that
	// warm the cache), within QueryBudget per query. Zero: 200 and 10 s.
	QueryRuns   int
	QueryBudget time.Duration
	Log         io.Writer // progress; nil: none
}

// IngestRun is one variant's ingest in one round.
type IngestRun struct {
	Backend  string        `json:"backend"`
	Variant  string        `json:"variant"`            // raw, store, sealed; for nats direct, end-to-end
	To       string        `json:"ratio_to,omitempty"` // the variant its ratio is taken to
	Round    int           `json:"round"`
	Written  int64         `json:"written"` // events given to Write
	Stored   int64         `json:"stored"`  // events the store (or table) gained
	Elapsed  time.Duration `json:"elapsed_ns"`
	EventsPS float64       `json:"events_per_s"`
}

// QueryResult is one query's latency over a store of N events.
type QueryResult struct {
	Name string        `json:"name"`
	Runs int           `json:"runs"`
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	Note string        `json:"note,omitempty"` // what the answer held, as a check
}

// VerifyRun is one Verify of the sealed store.
type VerifyRun struct {
	Events   int           `json:"events"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	CPU      time.Duration `json:"cpu_ns"` // the process's user+system time (getrusage)
	EventsPS float64       `json:"events_per_s"`
	OK       bool          `json:"ok"`
}

// StoresResult is what RunStores measured.
type StoresResult struct {
	Ingest      []IngestRun   `json:"ingest"`
	Skipped     []string      `json:"skipped"`   // backends not run, and why
	Baselines   [][2]string   `json:"baselines"` // backend, what its raw variant is
	N           int           `json:"n"`
	Build       time.Duration `json:"build_ns"` // building the query store; 0: reused
	Queries     []QueryResult `json:"queries"`
	SealedBuild time.Duration `json:"sealed_build_ns"`
	Verify      []VerifyRun   `json:"verify"`
}

// backend is one store under ingest: its variants in the order a round
// runs them, the first the baseline.
type backend struct {
	name     string
	baseline string // what the raw variant is, for the report
	variants []ingestVariant
	close    func() error
}

type ingestVariant struct {
	name  string
	to    string // the variant its ratio is taken to; empty: none (a baseline)
	write func(ctx context.Context, batch []activitylog.Event) error
	// count returns the events stored so far; the run's count is the
	// difference.
	count func(ctx context.Context) (int64, error)
	// settle waits until what was written is stored (the NATS worker);
	// nil: Write returns once it is.
	settle func(ctx context.Context, want int64) error
}

// setDefaults fills in QueryRuns, QueryBudget and Log.
func (c *StoresConfig) setDefaults() {
	if c.QueryRuns <= 0 {
		c.QueryRuns = 200
	}
	if c.QueryBudget <= 0 {
		c.QueryBudget = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// RunStores measures cfg's ingest, then the queries and the verify.
func RunStores(ctx context.Context, cfg StoresConfig) (*StoresResult, error) {
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("store duration %s: must be positive", cfg.Duration)
	}
	if cfg.Rounds < 1 {
		return nil, fmt.Errorf("rounds %d: must be at least 1", cfg.Rounds)
	}
	if cfg.N < 1 {
		return nil, fmt.Errorf("events %d: must be at least 1", cfg.N)
	}
	cfg.setDefaults()
	res := &StoresResult{N: cfg.N}
	tmp, err := os.MkdirTemp("", "storebench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := runIngest(ctx, cfg, tmp, res); err != nil {
		return res, err
	}
	dir := cfg.StoreDir
	if dir == "" {
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("store dir %q: %w", dir, err)
	}
	if err := runQueries(ctx, cfg, dir, res); err != nil {
		return res, fmt.Errorf("queries: %w", err)
	}
	if err := runVerify(ctx, cfg, dir, res); err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}
	return res, nil
}

// runIngest opens every backend, then runs the rounds, each backend's
// variants in turn, alternating (raw store sealed raw store sealed …).
func runIngest(ctx context.Context, cfg StoresConfig, tmp string, res *StoresResult) error {
	want := cfg.Backends
	explicit := len(want) > 0
	if !explicit {
		want = []string{"sqlite", "postgres", "mysql", "clickhouse", "mongo", "nats"}
	}
	var bs []*backend
	defer func() {
		for _, b := range bs {
			if err := b.close(); err != nil {
				fmt.Fprintf(cfg.Log, "close %s: %v\n", b.name, err)
			}
		}
	}()
	for _, name := range want {
		var b *backend
		var err error
		switch name {
		case "sqlite":
			b, err = openSQLiteBackend(tmp)
		case "postgres":
			b, err = withEnv(envPostgres, explicit, func(v string) (*backend, error) { return openPostgresBackend(ctx, v) })
		case "mysql":
			b, err = withEnv(envMySQL, explicit, func(v string) (*backend, error) { return openMySQLBackend(ctx, v) })
		case "clickhouse":
			b, err = withEnv(envCH, explicit, func(v string) (*backend, error) { return openClickHouseBackend(ctx, v) })
		case "mongo":
			b, err = withEnv(envMongo, explicit, func(v string) (*backend, error) { return openMongoBackend(ctx, v) })
		case "nats":
			b, err = withEnv(envNATS, explicit, func(v string) (*backend, error) { return openNATSBackend(ctx, v, tmp) })
		default:
			return fmt.Errorf("backend %q: unknown; want sqlite, postgres, mysql, clickhouse, mongo or nats", name)
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		if b == nil {
			env := map[string]string{"postgres": envPostgres, "mysql": envMySQL, "clickhouse": envCH, "mongo": envMongo, "nats": envNATS}[name]
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s (%s not set)", name, env))
			continue
		}
		bs = append(bs, b)
		res.Baselines = append(res.Baselines, [2]string{b.name, b.baseline})
	}
	tmpl := make([]activitylog.Event, 20*ingestBatch)
	t0 := time.Now().UTC()
	for i := range tmpl {
		tmpl[i] = storetest.TrailEvent(i, t0)
	}
	// Every batch is new: fresh ids, times 100 µs apart from an hour ago.
	clock := time.Now().UTC().Add(-time.Hour)
	for round := 1; round <= cfg.Rounds; round++ {
		for _, b := range bs {
			for _, v := range b.variants {
				r, err := ingestOnce(ctx, cfg.Duration, v, tmpl, &clock)
				if err != nil {
					return fmt.Errorf("round %d, %s %s: %w", round, b.name, v.name, err)
				}
				r.Backend, r.Variant, r.To, r.Round = b.name, v.name, v.to, round
				fmt.Fprintf(cfg.Log, "round %d %-10s %-10s %9.0f events/s  stored %d of %d\n", round, b.name, v.name, r.EventsPS, r.Stored, r.Written)
				res.Ingest = append(res.Ingest, r)
			}
		}
	}
	return nil
}

// withEnv opens a backend when the variable env is set; nil when not,
// unless the backend was asked for by name.
func withEnv(env string, explicit bool, open func(string) (*backend, error)) (*backend, error) {
	v := os.Getenv(env)
	if v == "" {
		if explicit {
			return nil, fmt.Errorf("%s is not set", env)
		}
		return nil, nil
	}
	return open(v)
}

// ingestOnce writes batches for d and returns the events/s.
func ingestOnce(ctx context.Context, d time.Duration, v ingestVariant, tmpl []activitylog.Event, clock *time.Time) (IngestRun, error) {
	before, err := v.count(ctx)
	if err != nil {
		return IngestRun{}, fmt.Errorf("count before: %w", err)
	}
	batch := make([]activitylog.Event, ingestBatch)
	var written int64
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		for j := range batch {
			batch[j] = tmpl[(i*ingestBatch+j)%len(tmpl)]
			batch[j].Time = *clock
			batch[j].ID = activitylog.NewID(*clock)
			*clock = clock.Add(100 * time.Microsecond)
		}
		if err := v.write(ctx, batch); err != nil {
			return IngestRun{}, err
		}
		written += int64(len(batch))
	}
	if v.settle != nil {
		if err := v.settle(ctx, written); err != nil {
			return IngestRun{}, err
		}
	}
	el := time.Since(start)
	after, err := v.count(ctx)
	if err != nil {
		return IngestRun{}, fmt.Errorf("count after: %w", err)
	}
	return IngestRun{Written: written, Stored: after - before, Elapsed: el, EventsPS: float64(written) / el.Seconds()}, nil
}

// storeVariant is a store's Write and Count, its ratio taken to the
// variant to.
func storeVariant(name, to string, w activitylog.Writer, q activitylog.Querier) ingestVariant {
	return ingestVariant{name: name, to: to, write: w.Write, count: func(ctx context.Context) (int64, error) {
		return q.Count(ctx, activitylog.Filter{})
	}}
}

// sealedStore is what integrity.NewWriter writes to and the verifier
// reads; each SQL store is one.
type sealedStore interface {
	integrity.SealStore
	activitylog.Querier
}

// sealedVariant writes through an integrity.Writer with a signing key
// and a checkpoint every 10 s, as activitylog serve does.
func sealedVariant(s sealedStore) (ingestVariant, error) {
	_, priv, err := integrity.GenerateKey()
	if err != nil {
		return ingestVariant{}, err
	}
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv, CheckpointInterval: 10 * time.Second})
	if err != nil {
		return ingestVariant{}, err
	}
	return storeVariant("sealed", "store", w, s), nil
}

// encodeDocs appends the batch's JSON documents (the stores' encoding)
// to buf and returns each one's end.
func encodeDocs(buf []byte, batch []activitylog.Event, ends []int) ([]byte, []int, error) {
	var sp eventjson.Spans
	buf, ends = buf[:0], ends[:0]
	for j := range batch {
		var err error
		if buf, err = eventjson.Append(buf, &batch[j], &sp); err != nil {
			return buf, ends, err
		}
		ends = append(ends, len(buf))
	}
	return buf, ends, nil
}

func docOf(buf []byte, ends []int, j int) []byte {
	from := 0
	if j > 0 {
		from = ends[j-1]
	}
	return buf[from:ends[j]]
}

func sqlCount(db *sql.DB, table string) func(ctx context.Context) (int64, error) {
	return func(ctx context.Context) (int64, error) {
		var n int64
		err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n)
		return n, err
	}
}

// openSQLiteBackend: the raw baseline is a plain multi-row INSERT of 6
// columns (id, time, kind, actor, tenant, the JSON document) into a
// table without index, in a database with sqlite.Store's settings (WAL,
// synchronous NORMAL); store and sealed are sqlite.Stores of their own.
func openSQLiteBackend(dir string) (*backend, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "raw.db")+"?_pragma=busy_timeout(5000)&_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE raw (id BLOB, time INTEGER, kind TEXT, actor_id TEXT, tenant TEXT, data BLOB)`); err != nil {
		db.Close()
		return nil, err
	}
	plain, err := sqlite.Open(filepath.Join(dir, "store.db"), nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	sealed, err := sqlite.Open(filepath.Join(dir, "sealed.db"), nil)
	if err != nil {
		db.Close()
		plain.Close()
		return nil, err
	}
	sv, err := sealedVariant(sealed)
	if err != nil {
		return nil, err
	}
	query := "INSERT INTO raw VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?),", ingestBatch), ",")
	var buf []byte
	var ends []int
	args := make([]any, 0, 6*ingestBatch)
	raw := ingestVariant{name: "raw", count: sqlCount(db, "raw"), write: func(ctx context.Context, batch []activitylog.Event) error {
		var err error
		if buf, ends, err = encodeDocs(buf, batch, ends); err != nil {
			return err
		}
		args = args[:0]
		for j := range batch {
			e := &batch[j]
			args = append(args, e.ID[:], e.Time.UnixNano(), string(e.Kind), e.Actor.ID, e.Tenant, docOf(buf, ends, j))
		}
		if len(batch) != ingestBatch {
			return fmt.Errorf("batch of %d: the raw INSERT takes %d", len(batch), ingestBatch)
		}
		_, err = db.ExecContext(ctx, query, args...)
		return err
	}}
	return &backend{
		name: "sqlite", baseline: "multi-row INSERT of 6 columns into an SQLite table without index (WAL, synchronous NORMAL)",
		variants: []ingestVariant{raw, storeVariant("store", "raw", plain, plain), sv},
		close:    func() error { return errors.Join(db.Close(), plain.Close(), sealed.Close()) },
	}, nil
}

func randomName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// openPostgresBackend: three schemas of their own (dropped at close);
// the raw baseline is a plain COPY of 12 columns into a table without
// partitions, indexes or constraints (postgres BenchmarkIngest/rawcopy).
func openPostgresBackend(ctx context.Context, dsn string) (*backend, error) {
	var schemas []string
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envPostgres, err)
	}
	var closers []func() error
	cleanup := func() error {
		var errs []error
		for _, c := range slices.Backward(closers) {
			errs = append(errs, c())
		}
		for _, s := range schemas {
			if _, err := admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
				errs = append(errs, fmt.Errorf("drop schema %s: %w", s, err))
			}
		}
		return errors.Join(append(errs, admin.Close(context.Background()))...)
	}
	open := func() (*postgres.Store, error) {
		s := randomName("bench_")
		schemas = append(schemas, s)
		st, err := postgres.Open(ctx, dsn, &postgres.Options{Schema: s})
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() error { st.Close(); return nil })
		return st, nil
	}
	fail := func(err error) (*backend, error) { return nil, errors.Join(err, cleanup()) }
	plain, err := open()
	if err != nil {
		return fail(err)
	}
	sealed, err := open()
	if err != nil {
		return fail(err)
	}
	sv, err := sealedVariant(sealed)
	if err != nil {
		return fail(err)
	}
	rawSchema := randomName("bench_raw_")
	schemas = append(schemas, rawSchema)
	table := pgx.Identifier{rawSchema, "raw_events"}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{rawSchema}.Sanitize()); err != nil {
		return fail(err)
	}
	if _, err := admin.Exec(ctx, `CREATE TABLE `+table.Sanitize()+` (id uuid, time bigint, kind text, action text, severity text,
		tenant text, actor_id text, object_type text, object_id text, status integer, duration bigint, data bytea)`); err != nil {
		return fail(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() error { return conn.Close(context.Background()) })
	cols := []string{"id", "time", "kind", "action", "severity", "tenant", "actor_id", "object_type", "object_id", "status", "duration", "data"}
	var buf []byte
	var ends []int
	rows := make([][]any, 0, ingestBatch)
	raw := ingestVariant{name: "raw",
		count: func(ctx context.Context) (int64, error) {
			var n int64
			err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table.Sanitize()).Scan(&n)
			return n, err
		},
		write: func(ctx context.Context, batch []activitylog.Event) error {
			var err error
			if buf, ends, err = encodeDocs(buf, batch, ends); err != nil {
				return err
			}
			rows = rows[:0]
			for j := range batch {
				e := &batch[j]
				rows = append(rows, []any{[16]byte(e.ID), e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant,
					e.Actor.ID, e.Object.Type, e.Object.ID, int32(e.Response.Status), int64(e.Response.Duration), docOf(buf, ends, j)})
			}
			return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				_, err := tx.CopyFrom(ctx, table, cols, pgx.CopyFromRows(rows))
				return err
			})
		}}
	return &backend{
		name: "postgres", baseline: "COPY of 12 columns into a table without partitions, indexes or constraints",
		variants: []ingestVariant{raw, storeVariant("store", "raw", plain, plain), sv},
		close:    cleanup,
	}, nil
}

// openMySQLBackend: three databases of their own (dropped at close);
// the raw baseline is a multi-row INSERT of 12 columns into a table
// without any index or key (mysql BenchmarkIngest/rawinsert).
func openMySQLBackend(ctx context.Context, dsn string) (*backend, error) {
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", envMySQL, dsn, err)
	}
	adminCfg := cfg.Clone()
	adminCfg.DBName = ""
	admin, err := sql.Open("mysql", adminCfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	var dbs []string
	var closers []func() error
	cleanup := func() error {
		var errs []error
		for _, c := range slices.Backward(closers) {
			errs = append(errs, c())
		}
		for _, d := range dbs {
			if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+d); err != nil {
				errs = append(errs, fmt.Errorf("drop database %s: %w", d, err))
			}
		}
		return errors.Join(append(errs, admin.Close())...)
	}
	fail := func(err error) (*backend, error) { return nil, errors.Join(err, cleanup()) }
	newDB := func() (string, error) {
		name := randomName("bench_")
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
		dbs = append(dbs, name)
		c := cfg.Clone()
		c.DBName = name
		return c.FormatDSN(), nil
	}
	open := func() (*mysql.Store, error) {
		d, err := newDB()
		if err != nil {
			return nil, err
		}
		s, err := mysql.Open(ctx, d, nil)
		if err != nil {
			return nil, err
		}
		closers = append(closers, s.Close)
		return s, nil
	}
	plain, err := open()
	if err != nil {
		return fail(err)
	}
	sealed, err := open()
	if err != nil {
		return fail(err)
	}
	sv, err := sealedVariant(sealed)
	if err != nil {
		return fail(err)
	}
	rawDSN, err := newDB()
	if err != nil {
		return fail(err)
	}
	db, err := sql.Open("mysql", rawDSN)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, db.Close)
	if _, err := db.ExecContext(ctx, `CREATE TABLE raw (
		id BINARY(16), time BIGINT, kind VARBINARY(64), action VARBINARY(64), severity VARBINARY(64),
		tenant VARBINARY(64), actor_id VARBINARY(64), remote_ip VARBINARY(64), status BIGINT,
		duration BIGINT, message BLOB, data LONGBLOB) ENGINE=InnoDB`); err != nil {
		return fail(err)
	}
	query := "INSERT INTO raw VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?),", ingestBatch), ",")
	var buf []byte
	var ends []int
	args := make([]any, 0, 12*ingestBatch)
	raw := ingestVariant{name: "raw", count: sqlCount(db, "raw"), write: func(ctx context.Context, batch []activitylog.Event) error {
		var err error
		if buf, ends, err = encodeDocs(buf, batch, ends); err != nil {
			return err
		}
		args = args[:0]
		for j := range batch {
			e := &batch[j]
			args = append(args, e.ID[:], e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant,
				e.Actor.ID, e.Request.RemoteIP, e.Response.Status, int64(e.Response.Duration), e.Message, docOf(buf, ends, j))
		}
		if len(batch) != ingestBatch {
			return fmt.Errorf("batch of %d: the raw INSERT takes %d", len(batch), ingestBatch)
		}
		_, err = db.ExecContext(ctx, query, args...)
		return err
	}}
	return &backend{
		name: "mysql", baseline: "multi-row INSERT of 12 columns into an InnoDB table without index or key",
		variants: []ingestVariant{raw, storeVariant("store", "raw", plain, plain), sv},
		close:    cleanup,
	}, nil
}

// openNATSBackend measures the pipeline end to end: a natsq.Publisher
// writes to a stream of its own (deleted at close), a natsq.Worker
// writes what it consumes to an sqlite.Store; the publisher waits while
// the worker is more than 10,000 events behind, and the run ends when
// the store holds every event written. Its baseline, "raw" here, is an
// sqlite.Store of its own written directly, in the same round.
func openNATSBackend(ctx context.Context, url, dir string) (*backend, error) {
	nc, err := natsq.Connect(url, "storebench")
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", envNATS, url, err)
	}
	sfx := randomName("")
	stream, prefix := "BENCH_"+sfx, "bench"+sfx
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	var closers []func() error
	cleanup := func() error {
		var errs []error
		for _, c := range slices.Backward(closers) {
			errs = append(errs, c())
		}
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := js.DeleteStream(dctx, stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("delete stream %s: %w", stream, err))
		}
		nc.Close()
		return errors.Join(errs...)
	}
	fail := func(err error) (*backend, error) { return nil, errors.Join(err, cleanup()) }
	direct, err := sqlite.Open(filepath.Join(dir, "nats-direct.db"), nil)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, direct.Close)
	sink, err := sqlite.Open(filepath.Join(dir, "nats-sink.db"), nil)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, sink.Close)
	p, err := natsq.NewPublisher(ctx, nc, &natsq.PublisherOptions{Stream: stream, Prefix: prefix})
	if err != nil {
		return fail(err)
	}
	wnc, err := natsq.Connect(url, "storebench-worker")
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() error { wnc.Close(); return nil })
	wjs, err := jetstream.New(wnc)
	if err != nil {
		return fail(err)
	}
	w, err := natsq.NewWorker(wjs, sink, &natsq.WorkerOptions{Stream: stream, Prefix: prefix})
	if err != nil {
		return fail(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	closers = append(closers, func() error {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("worker: %w", err)
		}
		return nil
	})
	count := func(ctx context.Context) (int64, error) { return sink.Count(ctx, activitylog.Filter{}) }
	// The publisher is held back while the worker is more than
	// maxBacklog events behind, so that the run measures what the
	// pipeline sustains rather than a burst into the stream, and the
	// sink grows as the direct store does.
	const maxBacklog = 20 * ingestBatch
	var base, published int64
	e2e := ingestVariant{name: "end-to-end", to: "direct",
		write: func(ctx context.Context, batch []activitylog.Event) error {
			if err := p.Write(ctx, batch); err != nil {
				return err
			}
			published += int64(len(batch))
			for {
				n, err := count(ctx)
				if err != nil {
					return err
				}
				if published-(n-base) <= maxBacklog {
					return nil
				}
				time.Sleep(time.Millisecond)
			}
		},
		count: func(ctx context.Context) (int64, error) {
			n, err := count(ctx)
			base, published = n, 0
			return n, err
		},
		settle: func(ctx context.Context, want int64) error {
			deadline := time.Now().Add(2 * time.Minute)
			for {
				n, err := count(ctx)
				if err != nil {
					return err
				}
				if n-base >= want {
					return nil
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("the worker stored %d of %d events in 2 minutes", n-base, want)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}}
	d := storeVariant("direct", "", direct, direct)
	return &backend{
		name: "nats", baseline: "direct: sqlite.Store.Write directly (end-to-end: natsq.Publisher → JetStream → natsq.Worker → sqlite.Store, until stored)",
		variants: []ingestVariant{d, e2e},
		close:    cleanup,
	}, nil
}

// queryStore opens (or builds) the SQLite store of n trail events, one
// every 2 s up to about the time it is built.
func queryStore(ctx context.Context, cfg StoresConfig, path string, n int, w func(*sqlite.Store) (activitylog.Writer, error)) (*sqlite.Store, time.Duration, error) {
	s, err := sqlite.Open(path, nil)
	if err != nil {
		return nil, 0, err
	}
	have, err := s.Count(ctx, activitylog.Filter{})
	if err != nil {
		s.Close()
		return nil, 0, err
	}
	if have == int64(n) {
		fmt.Fprintf(cfg.Log, "reusing %s (%d events)\n", path, n)
		return s, 0, nil
	}
	if have != 0 {
		s.Close()
		return nil, 0, fmt.Errorf("%s holds %d events, neither none nor %d; remove it", path, have, n)
	}
	wr, err := w(s)
	if err != nil {
		s.Close()
		return nil, 0, err
	}
	fmt.Fprintf(cfg.Log, "building %s (%d events)\n", path, n)
	start := time.Now()
	const step = 2 * time.Second
	t0 := time.Now().UTC().Add(-time.Duration(n) * step)
	if err := storetest.WriteTrail(ctx, wr, n, 10_000, t0, step); err != nil {
		s.Close()
		return nil, 0, err
	}
	if f, ok := wr.(*integrity.Writer); ok {
		if err := f.Flush(ctx); err != nil {
			s.Close()
			return nil, 0, err
		}
	}
	return s, time.Since(start), nil
}

// runQueries times the API's queries over the store of N events.
func runQueries(ctx context.Context, cfg StoresConfig, dir string, res *StoresResult) error {
	s, took, err := queryStore(ctx, cfg, filepath.Join(dir, fmt.Sprintf("query-%d.db", cfg.N)), cfg.N,
		func(s *sqlite.Store) (activitylog.Writer, error) { return s, nil })
	if err != nil {
		return err
	}
	defer s.Close()
	res.Build = took
	first, err := s.Query(ctx, activitylog.Filter{})
	if err != nil {
		return err
	}
	if len(first.Events) == 0 {
		return errors.New("the store's first page is empty")
	}
	ids := make([]activitylog.ID, len(first.Events))
	for i := range first.Events {
		ids[i] = first.Events[i].ID
	}
	var getI int
	cases := []struct {
		name string
		run  func() (string, error)
	}{
		{"list: first page, default filter", func() (string, error) {
			p, err := s.Query(ctx, activitylog.Filter{})
			return fmt.Sprintf("%d events", len(p.Events)), err
		}},
		{"list: kind=request & actor=user-42", func() (string, error) {
			p, err := s.Query(ctx, activitylog.Filter{Kind: activitylog.KindRequest, ActorID: "user-42"})
			return fmt.Sprintf("%d events", len(p.Events)), err
		}},
		{"count: all events", func() (string, error) {
			n, err := s.Count(ctx, activitylog.Filter{})
			if err == nil && n != int64(cfg.N) {
				err = fmt.Errorf("count %d, want %d", n, cfg.N)
			}
			return fmt.Sprintf("%d", n), err
		}},
		{"get by id", func() (string, error) {
			id := ids[getI%len(ids)]
			getI++
			e, err := s.Get(ctx, id)
			if err == nil && e.ID != id {
				err = fmt.Errorf("get %s returned %s", id, e.ID)
			}
			return "found", err
		}},
		{"dashboard: last 24 h (Analyzer)", func() (string, error) {
			now := time.Now()
			d, err := s.Dashboard(ctx, activitylog.Filter{From: now.Add(-24 * time.Hour), To: now}, nil)
			return fmt.Sprintf("%d events", d.Total), err
		}},
	}
	for _, c := range cases {
		var ds []time.Duration
		var note string
		start := time.Now()
		for i := range cfg.QueryRuns + 3 {
			t0 := time.Now()
			n, err := c.run()
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if i >= 3 { // the first runs warm the cache
				ds = append(ds, time.Since(t0))
			}
			note = n
			if time.Since(start) > cfg.QueryBudget && len(ds) >= 10 {
				break
			}
		}
		q := QueryResult{Name: c.name, Runs: len(ds), P50: quantileOf(ds, 0.5), P99: quantileOf(ds, 0.99), Note: note}
		fmt.Fprintf(cfg.Log, "%-36s p50 %-10s p99 %-10s (%d runs; %s)\n", q.Name, q.P50.Round(time.Microsecond), q.P99.Round(time.Microsecond), q.Runs, q.Note)
		res.Queries = append(res.Queries, q)
	}
	return nil
}

// quantileOf returns the q-quantile of ds (nearest rank).
func quantileOf(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// runVerify builds (or reuses) a sealed store of N events, written
// through an integrity.Writer whose key is kept beside it, and verifies
// it cfg.Rounds times.
func runVerify(ctx context.Context, cfg StoresConfig, dir string, res *StoresResult) error {
	keyPath := filepath.Join(dir, fmt.Sprintf("sealed-%d.key", cfg.N))
	var priv ed25519.PrivateKey
	if b, err := os.ReadFile(keyPath); err == nil {
		if priv, err = integrity.ParsePrivateKey(b); err != nil {
			return fmt.Errorf("key %s: %w", keyPath, err)
		}
	} else {
		if _, priv, err = integrity.GenerateKey(); err != nil {
			return err
		}
		b, err := integrity.MarshalPrivateKey(priv)
		if err != nil {
			return err
		}
		dbPath := filepath.Join(dir, fmt.Sprintf("sealed-%d.db", cfg.N))
		for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
			os.Remove(p) // a store without its key cannot be verified: build it anew
		}
		if err := os.WriteFile(keyPath, b, 0o600); err != nil {
			return err
		}
	}
	s, took, err := queryStore(ctx, cfg, filepath.Join(dir, fmt.Sprintf("sealed-%d.db", cfg.N)), cfg.N,
		func(s *sqlite.Store) (activitylog.Writer, error) {
			return integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv, CheckpointInterval: 10 * time.Second})
		})
	if err != nil {
		return err
	}
	defer s.Close()
	res.SealedBuild = took
	v := integrity.NewVerifier(s, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}})
	for range cfg.Rounds {
		c0, err := processCPU()
		if err != nil {
			return err
		}
		start := time.Now()
		rep, err := v.Verify(ctx)
		if err != nil {
			return err
		}
		el := time.Since(start)
		c1, err := processCPU()
		if err != nil {
			return err
		}
		r := VerifyRun{Events: rep.Total, Elapsed: el, CPU: c1 - c0, EventsPS: float64(rep.Total) / el.Seconds(), OK: rep.OK() && rep.Verified == cfg.N}
		fmt.Fprintf(cfg.Log, "verify %d events: %9.0f events/s, %.2f s CPU, ok %v\n", r.Events, r.EventsPS, r.CPU.Seconds(), r.OK)
		res.Verify = append(res.Verify, r)
	}
	return nil
}

// processCPU returns this process's user+system time.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// openClickHouseBackend: a database of its own (dropped at close); the
// raw baseline is clickhouse BenchmarkIngest/rawbatch: a batch INSERT of
// 12 columns, no document, into a MergeTree table of the same order.
// ClickHouse's store is not a SealStore: no sealed variant.
func openClickHouseBackend(ctx context.Context, dsn string) (*backend, error) {
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", envCH, dsn, err)
	}
	admin, err := ch.Open(opts)
	if err != nil {
		return nil, err
	}
	name := randomName("bench_")
	if err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	var closers []func() error
	cleanup := func() error {
		var errs []error
		for _, c := range slices.Backward(closers) {
			errs = append(errs, c())
		}
		if err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w", name, err))
		}
		return errors.Join(append(errs, admin.Close())...)
	}
	fail := func(err error) (*backend, error) { return nil, errors.Join(err, cleanup()) }
	s, err := clickhouse.Open(ctx, dsn, &clickhouse.Options{Database: name})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, s.Close)
	ro := *opts
	ro.Auth.Database = name
	raw, err := ch.Open(&ro)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, raw.Close)
	if err := raw.Exec(ctx, `CREATE TABLE raw (id FixedString(16), time Int64, kind String, action String,
		severity String, tenant String, actor_id String, path String, remote_ip String, status Int32,
		duration Int64, message String) ENGINE = MergeTree
		PARTITION BY toYYYYMM(toDateTime(intDiv(time, 1000000000))) ORDER BY (tenant, kind, time, id)`); err != nil {
		return fail(err)
	}
	rv := ingestVariant{name: "raw",
		count: func(ctx context.Context) (int64, error) {
			var n uint64
			err := raw.QueryRow(ctx, "SELECT count() FROM raw").Scan(&n)
			return int64(n), err
		},
		write: func(ctx context.Context, batch []activitylog.Event) error {
			ins, err := raw.PrepareBatch(ctx, "INSERT INTO raw (id, time, kind, action, severity, tenant, actor_id, path, remote_ip, status, duration, message)")
			if err != nil {
				return err
			}
			defer ins.Close()
			for i := range batch {
				e := &batch[i]
				if err := ins.Append(e.ID[:], e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant,
					e.Actor.ID, e.Request.Path, e.Request.RemoteIP, int32(e.Response.Status), int64(e.Response.Duration), e.Message); err != nil {
					return err
				}
			}
			return ins.Send()
		}}
	return &backend{
		name: "clickhouse", baseline: "batch INSERT of 12 columns (no JSON document) into a MergeTree table of the same order (clickhouse BenchmarkIngest/rawbatch)",
		variants: []ingestVariant{rv, storeVariant("store", "raw", s, s)},
		close:    cleanup,
	}, nil
}

// openMongoBackend: two databases of their own (dropped at close); the
// raw baseline is mongo BenchmarkIngest/rawinsert: an unordered
// insertMany of 500 small documents ({_id, n}) with the driver alone.
// The MongoDB store is not a SealStore: no sealed variant.
func openMongoBackend(ctx context.Context, uri string) (*backend, error) {
	client, err := mongodriver.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", envMongo, uri, err)
	}
	rawDB := client.Database(randomName("bench_raw_"))
	var closers []func() error
	cleanup := func() error {
		var errs []error
		for _, c := range slices.Backward(closers) {
			errs = append(errs, c())
		}
		errs = append(errs, rawDB.Drop(context.Background()))
		return errors.Join(append(errs, client.Disconnect(context.Background()))...)
	}
	fail := func(err error) (*backend, error) { return nil, errors.Join(err, cleanup()) }
	s, err := mongo.Open(ctx, uri, &mongo.Options{Database: randomName("bench_")})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() error { return errors.Join(s.Drop(context.Background()), s.Close()) })
	coll := rawDB.Collection("raw")
	docs := make([]any, ingestBatch)
	var n int64
	unordered := options.InsertMany().SetOrdered(false)
	rv := ingestVariant{name: "raw",
		count: func(ctx context.Context) (int64, error) { return coll.CountDocuments(ctx, bson.D{}) },
		write: func(ctx context.Context, batch []activitylog.Event) error {
			docs = docs[:len(batch)]
			for j := range docs {
				docs[j] = bson.D{{Key: "_id", Value: n}, {Key: "n", Value: n}}
				n++
			}
			_, err := coll.InsertMany(ctx, docs, unordered)
			return err
		}}
	return &backend{
		name: "mongo", baseline: "unordered insertMany of 500 small documents ({_id, n}) with the driver alone (mongo BenchmarkIngest/rawinsert)",
		variants: []ingestVariant{rv, storeVariant("store", "raw", s, s)},
		close:    cleanup,
	}, nil
}
