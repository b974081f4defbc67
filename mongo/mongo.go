package mongo

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/activitylog/activitylog"
)

var (
	_ activitylog.Store    = (*Store)(nil)
	_ activitylog.Resolver = (*Store)(nil)
	_ activitylog.Scanner  = (*Store)(nil)
)

// Options configures Open. The zero value, or a nil *Options, means the
// defaults written in each field's comment.
type Options struct {
	// Database is the database that holds the collections. Default: the
	// database the URI's path names, else "activitylog". (The URI's path
	// is also the default authentication database; Database does not
	// change that.)
	Database string
	// Collection holds the events. Default "events".
	Collection string
	// Resolutions holds each event's latest resolution, and
	// Resolutions+"_log" every resolution ever stored. Default
	// "resolutions".
	Resolutions string
	// ServerSelectionTimeout is how long an operation (Open's first
	// ping included) waits for a server it can use before failing with
	// activitylog.ErrUnavailable. Default 10s; the URI's
	// serverSelectionTimeoutMS, when present, wins.
	ServerSelectionTimeout time.Duration
	// SkipIndexes leaves out the indexes Open otherwise creates (when
	// they are missing), for a user who may not create them: an
	// administrator then creates them as Indexes lists them.
	SkipIndexes bool
	// ReadOnly opens the store for reading only, as a user with no
	// role but read (an auditor's) can: Open creates no index and no
	// collection, and refuses a database that has no events collection
	// (Collection) with an *activitylog.FieldError naming the
	// database. MongoDB has no read-only session, so Write, Resolve and
	// Drop refuse in the store, with an *activitylog.FieldError naming
	// read_only. For the CLI's dry runs (cleanup, purge). Default:
	// false.
	ReadOnly bool
}

// Default names.
const (
	DefaultDatabase    = "activitylog"
	DefaultCollection  = "events"
	DefaultResolutions = "resolutions"
)

// Store is an activitylog.Store in a MongoDB database. Its methods may
// be called from several goroutines at once.
type Store struct {
	client   *mongo.Client
	db       *mongo.Database
	events   *mongo.Collection
	res      *mongo.Collection // latest resolution per event, _id = event id
	resLog   *mongo.Collection // every resolution, insert only
	closed   atomic.Bool
	dbName   string
	colName  string
	readOnly bool // Options.ReadOnly
}

// Open connects to the MongoDB deployment at uri (mongodb:// or
// mongodb+srv://, with the driver's options in its query string),
// checks that it answers, and creates the indexes the queries use when
// they are missing (unless opts.SkipIndexes or opts.ReadOnly). A bad uri or option is an
// *activitylog.FieldError naming it ("uri", "database", …); a server
// that does not answer within the server selection timeout is an error
// wrapping activitylog.ErrUnavailable.
func Open(ctx context.Context, uri string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	cs, err := parseURI(uri)
	if err != nil {
		return nil, fmt.Errorf("open mongo: %w", err)
	}
	dbName := o.Database
	if dbName == "" {
		dbName = cs.Database
	}
	if dbName == "" {
		dbName = DefaultDatabase
	}
	if err := checkDatabaseName(dbName); err != nil {
		return nil, fmt.Errorf("open mongo: %w", err)
	}
	if o.Collection == "" {
		o.Collection = DefaultCollection
	}
	if o.Resolutions == "" {
		o.Resolutions = DefaultResolutions
	}
	for _, c := range [...]struct{ field, v string }{{"collection", o.Collection}, {"resolutions", o.Resolutions}} {
		if err := checkCollectionName(c.field, c.v); err != nil {
			return nil, fmt.Errorf("open mongo: %w", err)
		}
	}
	if o.Collection == o.Resolutions || o.Collection == o.Resolutions+"_log" {
		return nil, fmt.Errorf("open mongo: %w", activitylog.Invalid("collection", o.Collection, "must differ from the resolutions collections"))
	}
	if o.ServerSelectionTimeout < 0 {
		return nil, fmt.Errorf("open mongo: %w", activitylog.Invalid("server_selection_timeout", o.ServerSelectionTimeout.String(), "must not be negative"))
	}
	if o.ServerSelectionTimeout == 0 {
		o.ServerSelectionTimeout = 10 * time.Second
	}

	co := options.Client().ApplyURI(uri)
	if !cs.ServerSelectionTimeoutSet {
		co.SetServerSelectionTimeout(o.ServerSelectionTimeout)
	}
	if err := co.Validate(); err != nil {
		return nil, fmt.Errorf("open mongo: %w", activitylog.Invalid("uri", redact(uri), err.Error()))
	}
	client, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("open mongo: %w", activitylog.Invalid("uri", redact(uri), err.Error()))
	}
	db := client.Database(dbName)
	s := &Store{
		client:   client,
		db:       db,
		events:   db.Collection(o.Collection),
		res:      db.Collection(o.Resolutions),
		resLog:   db.Collection(o.Resolutions + "_log"),
		dbName:   dbName,
		colName:  o.Collection,
		readOnly: o.ReadOnly,
	}
	if err := client.Ping(ctx, nil); err != nil {
		client.Disconnect(context.Background())
		return nil, fmt.Errorf("open mongo: ping %s: %w", redact(uri), unavailable(ctx, err))
	}
	if o.ReadOnly {
		if err := s.checkCollection(ctx); err != nil {
			client.Disconnect(context.Background())
			return nil, fmt.Errorf("open mongo: %w", err)
		}
		return s, nil
	}
	if !o.SkipIndexes {
		if err := s.createIndexes(ctx); err != nil {
			client.Disconnect(context.Background())
			return nil, fmt.Errorf("open mongo: %w", err)
		}
	}
	return s, nil
}

// checkCollection refuses, for Options.ReadOnly, a database without the
// events collection, naming the database: a mistyped name would
// otherwise read as an empty trail. It creates nothing.
func (s *Store) checkCollection(ctx context.Context) error {
	names, err := s.db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: s.colName}})
	if err != nil {
		return fmt.Errorf("list collections: %w", unavailable(ctx, err))
	}
	if !slices.Contains(names, s.colName) {
		return activitylog.Invalid("database", s.dbName, "holds no collection "+s.colName+" (or this account may not list it)")
	}
	return nil
}

// Index is one index that Open creates on the events collection.
type Index struct {
	Name string
	Keys bson.D
}

// Indexes lists the indexes of the events collection, for an
// administrator who creates them by hand (Options.SkipIndexes). Every
// ordering's query is served by an index on (field, _id) or on time;
// the compound ones serve the common filters, newest first.
var Indexes = []Index{
	{"time_id", bson.D{{Key: "time", Value: -1}, {Key: "_id", Value: -1}}},
	{"tenant_kind_time", bson.D{{Key: "tenant", Value: 1}, {Key: "kind", Value: 1}, {Key: "time", Value: -1}}},
	{"actor_time", bson.D{{Key: "actor_id", Value: 1}, {Key: "time", Value: -1}}},
	{"object_time", bson.D{{Key: "object_type", Value: 1}, {Key: "object_id", Value: 1}, {Key: "time", Value: -1}}},
	{"remote_ip_time", bson.D{{Key: "remote_ip", Value: 1}, {Key: "time", Value: -1}}},
}

// createIndexes creates those of Indexes (and the resolution log's
// event_id index) that the collection lacks, one createIndexes command
// per index. Listing first makes a reopen cost one round trip and no
// write; creating one at a time matters on FerretDB v1 (up to at least
// v1.24.2), whose createIndexes panics, dropping the connection, when
// two or more of the indexes one command lists already exist (its
// validateIndexesForCreation deletes from a shrinking slice by the
// original position). A command with one index never meets that bug,
// also when two Opens race to create the same indexes.
func (s *Store) createIndexes(ctx context.Context) error {
	for _, c := range [...]struct {
		col *mongo.Collection
		ixs []Index
	}{
		{s.events, Indexes},
		{s.resLog, []Index{{"event_id", bson.D{{Key: "event_id", Value: 1}}}}},
	} {
		specs, err := c.col.Indexes().ListSpecifications(ctx)
		if err != nil {
			return fmt.Errorf("list indexes: %w", unavailable(ctx, err))
		}
		for _, ix := range c.ixs {
			if hasIndex(specs, ix) {
				continue
			}
			if _, err := c.col.Indexes().CreateOne(ctx, mongo.IndexModel{
				Keys: ix.Keys, Options: options.Index().SetName(ix.Name),
			}); err != nil {
				return fmt.Errorf("create index %s.%s: %w", c.col.Name(), ix.Name, unavailable(ctx, err))
			}
		}
	}
	return nil
}

// hasIndex reports whether specs holds ix: same name and same keys in
// the same order. An index of the same name with other keys is left to
// the server's createIndexes to refuse.
func hasIndex(specs []mongo.IndexSpecification, ix Index) bool {
	want, err := bson.Marshal(ix.Keys)
	if err != nil {
		return false
	}
	for _, sp := range specs {
		if sp.Name == ix.Name {
			return keysEqual(sp.KeysDocument, want)
		}
	}
	return false
}

// keysEqual compares two key documents field by field, so that 1 as
// an int32 equals 1 as a double or int64 (servers echo the numeric type
// they stored, not always the one sent).
func keysEqual(got bson.Raw, want []byte) bool {
	ge, err := got.Elements()
	if err != nil {
		return false
	}
	we, err := bson.Raw(want).Elements()
	if err != nil || len(ge) != len(we) {
		return false
	}
	for i := range ge {
		if ge[i].Key() != we[i].Key() {
			return false
		}
		gv, gok := ge[i].Value().AsFloat64OK()
		wv, wok := we[i].Value().AsFloat64OK()
		if !gok || !wok || gv != wv {
			return false
		}
	}
	return true
}

// Close disconnects from the server. Calls after the first do nothing
// and return nil; every other method fails after Close with an error
// wrapping activitylog.ErrUnavailable.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("close mongo: %w", err)
	}
	return nil
}

// Drop removes the store's database, with every collection in it: for
// tests and teardown. The Store stays open. A store opened with
// Options.ReadOnly refuses.
func (s *Store) Drop(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("drop database %s: %w", s.dbName, errClosed)
	}
	if s.readOnly {
		return fmt.Errorf("drop database %s: %w", s.dbName, errReadOnly)
	}
	if err := s.db.Drop(ctx); err != nil {
		return fmt.Errorf("drop database %s: %w", s.dbName, unavailable(ctx, err))
	}
	return nil
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("ping mongo: %w", errClosed)
	}
	if err := s.client.Ping(ctx, nil); err != nil {
		return fmt.Errorf("ping mongo: %w", unavailable(ctx, err))
	}
	return nil
}

// parseURI checks uri with the driver's own parser, so that Open
// refuses what the driver would, naming the field.
func parseURI(uri string) (*connstring.ConnString, error) {
	if !strings.HasPrefix(uri, "mongodb://") && !strings.HasPrefix(uri, "mongodb+srv://") {
		return nil, activitylog.Invalid("uri", redact(uri), "must start with mongodb:// or mongodb+srv://")
	}
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, activitylog.Invalid("uri", redact(uri), scrub(err.Error(), uri))
	}
	return cs, nil
}

// redact returns uri with its password replaced by "xxxxx", for error
// messages and logs. What does not parse as a URL is cut to its scheme.
func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		if i := strings.Index(uri, "://"); i >= 0 {
			return uri[:i+3] + "…"
		}
		return "…"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	// Options may carry credentials too (authMechanismProperties=
	// AWS_SESSION_TOKEN:…): keep their names, hide their values.
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// scrub removes the password of uri from a message the driver made of
// it.
func scrub(msg, uri string) string {
	if u, err := url.Parse(uri); err == nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// checkDatabaseName refuses what MongoDB refuses in a database name.
func checkDatabaseName(name string) error {
	if len(name) > 63 {
		return activitylog.Invalid("database", name[:32]+"…", "is longer than 63 bytes")
	}
	if i := strings.IndexAny(name, "/\\. \"$*<>:|?\x00"); i >= 0 {
		return activitylog.Invalid("database", name, fmt.Sprintf("must not contain %q", name[i]))
	}
	return nil
}

// checkCollectionName refuses what MongoDB refuses in a collection
// name.
func checkCollectionName(field, name string) error {
	switch {
	case len(name) > 120:
		return activitylog.Invalid(field, name[:32]+"…", "is longer than 120 bytes")
	case strings.ContainsAny(name, "$\x00"):
		return activitylog.Invalid(field, name, "must not contain $ or NUL")
	case strings.HasPrefix(name, "system."):
		return activitylog.Invalid(field, name, "must not start with system.")
	}
	return nil
}

// errClosed is returned by every method after Close.
var errClosed = fmt.Errorf("store closed: %w", activitylog.ErrUnavailable)

// errReadOnly is what Write, Resolve and Drop return on a store opened
// with Options.ReadOnly.
var errReadOnly = activitylog.Invalid("read_only", "true", "the store was opened for reading only, and writes nothing")

// unavailable classifies a driver error: the context's error when it
// ended, else err wrapped in activitylog.ErrUnavailable, since what
// fails in a command this package built itself is the deployment
// (unreachable, no primary, timed out, out of disk), not the caller's
// input.
func unavailable(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	// A deadline the driver set itself (server selection, socket
	// timeouts) is the deployment's failure, not the caller's.
	return fmt.Errorf("%w: %w", activitylog.ErrUnavailable, err)
}

// IndexNames returns the names of the events collection's indexes.
func (s *Store) IndexNames(ctx context.Context) ([]string, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("list indexes: %w", errClosed)
	}
	names, err := s.events.Indexes().ListSpecifications(ctx)
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", unavailable(ctx, err))
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n.Name
	}
	return out, nil
}
