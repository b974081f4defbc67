package gormaudit

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"

	"github.com/activitylog/activitylog"
	"gorm.io/gorm"
)

// Recorder is what the plugin needs. *activitylog.Recorder satisfies
// it; in its default Async mode Record only queues the event, so the
// host's query is not held up by the store.
//
// Record is called from the goroutine that ran the statement: for a
// statement inside a transaction, from the goroutine that committed
// it, after the commit succeeded. The context carries the values of
// the statement's context (db.WithContext) but is never cancelled. It
// may be called from many goroutines at once. An error it returns goes
// to Options.OnError; the host's query has already succeeded and is
// not changed.
type Recorder interface {
	Record(ctx context.Context, e activitylog.Event) error
}

var _ Recorder = (*activitylog.Recorder)(nil)

// ReadAuditor is implemented by models whose reads are recorded, as an
// alternative to listing them in Options.ReadModels.
type ReadAuditor interface {
	AuditReads() bool
}

// AuditReprer is implemented by models that describe themselves in an
// event's Object.Repr. A model without it that implements fmt.Stringer
// is described by String.
type AuditReprer interface {
	AuditRepr() string
}

// DefaultDeny is Options.Deny's default: tables that are never
// recorded.
var DefaultDeny = []string{"schema_migrations"}

// DefaultChunkSize is Options.ChunkSize's default.
const DefaultChunkSize = 500

// Options configures the plugin. The zero value, or nil, means the
// defaults written beside each field.
//
// Models are named either by a value of the model (&User{}), which the
// plugin resolves to its table with the database's naming strategy, or
// by a string that is matched against the table name ("users") and the
// model's struct name ("User").
type Options struct {
	// Models is the allow list: when it is not empty, only these models
	// are recorded, writes and reads alike. Default: every model.
	Models []any
	// Deny lists models that are never recorded. It wins over Models
	// and ReadModels. Default: DefaultDeny.
	Deny []any
	// ExtraDeny is added to Deny (or to DefaultDeny). Default: none.
	ExtraDeny []any

	// ReadModels lists the models whose reads (First, Find, Take,
	// Scan into the model, Preload) are recorded as crud events of
	// action "read", for access logging. A model can opt in by
	// implementing ReadAuditor instead. Default: none, reads are not
	// recorded.
	ReadModels []any

	// Exclude leaves fields out of Changes, per model: the key names the
	// model ("users", "User", or "*" for every model), the values are
	// field or column names ("UpdatedAt" or "updated_at"). An update
	// that changes only excluded fields is still recorded, with no
	// Changes, unless SkipUnchanged is set. Default: none.
	Exclude map[string][]string
	// Mask names fields whose values are replaced by
	// activitylog.DefaultMask in Changes: a column or field name
	// ("password_hash") for every model, or "table.column" for one.
	// Fields whose name activitylog.DefaultSensitiveKeys matches are
	// always masked. A masked field still shows that it changed. Default:
	// only the fields DefaultSensitiveKeys matches.
	Mask []string

	// SkipUnchanged leaves out of an update event the fields whose new
	// value equals the old one, and records no event at all for a row
	// in which nothing changed. Default: false, every assigned field is
	// recorded.
	SkipUnchanged bool

	// ChunkSize is the most rows one set event accounts for; a bulk
	// operation on more rows is recorded as several set events. At most
	// activitylog.MaxMapEntries. Default: DefaultChunkSize (500).
	ChunkSize int

	// Filter, when set, is called with every event before it is
	// recorded, with the statement's context. It may change the event;
	// an event for which it returns false is not recorded (vetoed). A
	// panic in it is recovered, reported to OnError, and the event is
	// recorded unchanged. Default: nil, every event is recorded.
	Filter func(ctx context.Context, e *activitylog.Event) bool

	// OnError, when set, is called with every error the plugin meets:
	// a failing Record, a failing read of old values, a panic in Filter
	// or in a model's AuditRepr or String method. The host's query is
	// never failed by the plugin. Default: nil, errors are logged with
	// slog.Default().
	OnError func(error)
}

// Plugin records GORM's creates, updates, deletes, association changes
// and, for the models that opt in, reads. Register it with db.Use. A
// Plugin is safe for concurrent use; register one Plugin with one
// *gorm.DB.
type Plugin struct {
	rec           Recorder
	opts          Options
	chunk         int
	redactor      *activitylog.Redactor
	mask          map[string]bool
	allow, deny   names
	reads         names
	exclude       map[string]map[string]bool
	skipUnchanged bool

	models sync.Map // modelKey → *model
	stmts  stmtCache
}

var _ gorm.Plugin = (*Plugin)(nil)

// New returns the plugin that records to rec. rec must not be nil;
// opts may be.
func New(rec Recorder, opts *Options) *Plugin {
	if rec == nil {
		panic("gormaudit: New called with a nil Recorder")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	p := &Plugin{rec: rec, opts: o, chunk: o.ChunkSize, skipUnchanged: o.SkipUnchanged}
	if p.chunk <= 0 {
		p.chunk = DefaultChunkSize
	}
	if p.chunk > activitylog.MaxMapEntries {
		p.chunk = activitylog.MaxMapEntries
	}
	p.redactor = activitylog.NewRedactor(nil)
	p.mask = make(map[string]bool, len(o.Mask))
	for _, m := range o.Mask {
		p.mask[strings.ToLower(m)] = true
	}
	p.exclude = make(map[string]map[string]bool, len(o.Exclude))
	for k, fields := range o.Exclude {
		set := make(map[string]bool, len(fields))
		for _, f := range fields {
			set[strings.ToLower(f)] = true
		}
		p.exclude[k] = set
	}
	return p
}

// Name returns "gormaudit", the plugin's name in GORM.
func (p *Plugin) Name() string { return "gormaudit" }

// Initialize registers the callbacks and wraps db's connection pool so
// that events of a transaction are recorded when it commits. GORM calls
// it from db.Use.
func (p *Plugin) Initialize(db *gorm.DB) error {
	deny := p.opts.Deny
	if deny == nil {
		deny = anys(DefaultDeny)
	}
	var err error
	if p.allow, err = resolve(db, p.opts.Models); err != nil {
		return fmt.Errorf("resolve Models: %w", err)
	}
	if p.deny, err = resolve(db, append(append([]any(nil), deny...), p.opts.ExtraDeny...)); err != nil {
		return fmt.Errorf("resolve Deny: %w", err)
	}
	if p.reads, err = resolve(db, p.opts.ReadModels); err != nil {
		return fmt.Errorf("resolve ReadModels: %w", err)
	}
	wrapPool(db, p)

	const commit = "gorm:commit_or_rollback_transaction"
	cb := db.Callback()
	for _, err := range []error{
		cb.Create().After("gorm:after_create").Before(commit).Register("gormaudit:after_create", p.afterCreate),
		cb.Update().Before("gorm:update").Register("gormaudit:before_update", p.beforeUpdate),
		cb.Update().After("gorm:after_update").Before(commit).Register("gormaudit:after_update", p.afterUpdate),
		cb.Delete().Before("gorm:delete").Register("gormaudit:before_delete", p.beforeDelete),
		cb.Delete().After("gorm:after_delete").Before(commit).Register("gormaudit:after_delete", p.afterDelete),
		cb.Query().After("gorm:after_query").Register("gormaudit:after_query", p.afterQuery),
	} {
		if err != nil {
			return fmt.Errorf("register gormaudit callbacks: %w", err)
		}
	}
	return nil
}

// names is a set of table and struct names.
type names map[string]bool

func (n names) has(table, model string) bool {
	return n[table] || (model != "" && n[model])
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// resolve turns model values and names into a set of names.
func resolve(db *gorm.DB, list []any) (names, error) {
	n := names{}
	for _, m := range list {
		switch v := m.(type) {
		case string:
			n[v] = true
		default:
			stmt := &gorm.Statement{DB: db}
			if err := stmt.Parse(v); err != nil {
				return nil, fmt.Errorf("parse model %T: %w", v, err)
			}
			n[stmt.Schema.Table] = true
			n[stmt.Schema.Name] = true
		}
	}
	return n, nil
}

type modelKey struct {
	table string
	typ   reflect.Type
}

// model is what the plugin decided about one table (and model type).
type model struct {
	p           *Plugin
	table       string
	write, read bool
	exclude     map[string]bool // lower-cased field and column names
	masked      map[string]bool // lower-cased column names of the model's fields
}

// modelFor returns the decisions for the statement's table and model,
// computing them once.
func (p *Plugin) modelFor(stmt *gorm.Statement) *model {
	k := modelKey{table: stmt.Table}
	if stmt.Schema != nil {
		k.typ = stmt.Schema.ModelType
		if k.table == "" {
			k.table = stmt.Schema.Table
		}
	}
	if m, ok := p.models.Load(k); ok {
		return m.(*model)
	}
	m := p.decide(stmt, k.table)
	p.models.Store(k, m)
	return m
}

func (p *Plugin) decide(stmt *gorm.Statement, table string) *model {
	name := ""
	if stmt.Schema != nil {
		name = stmt.Schema.Name
	}
	m := &model{exclude: map[string]bool{}, masked: map[string]bool{}}
	if table == "" || p.deny.has(table, name) || (len(p.allow) > 0 && !p.allow.has(table, name)) {
		return m
	}
	m.write = true
	m.read = p.reads.has(table, name)
	if !m.read && stmt.Schema != nil {
		if ra, ok := reflect.New(stmt.Schema.ModelType).Interface().(ReadAuditor); ok {
			m.read = safeBool(ra.AuditReads)
		}
	}
	for _, key := range []string{"*", table, name} {
		for f := range p.exclude[key] {
			m.exclude[f] = true
		}
	}
	m.p, m.table = p, table
	if stmt.Schema != nil {
		for _, f := range stmt.Schema.Fields {
			if f.DBName == "" {
				continue
			}
			if m.exclude[strings.ToLower(f.Name)] {
				m.exclude[strings.ToLower(f.DBName)] = true
			}
			m.masked[strings.ToLower(f.DBName)] = p.maskedName(table, f.DBName, f.Name)
		}
	}
	return m
}

// maskedName reports whether column col (of field, which may be "") of
// table is masked.
func (p *Plugin) maskedName(table, col, field string) bool {
	lc, lf := strings.ToLower(col), strings.ToLower(field)
	return p.mask[lc] || (lf != "" && p.mask[lf]) || p.mask[strings.ToLower(table)+"."+lc] ||
		p.redactor.Sensitive(col) || (field != "" && p.redactor.Sensitive(field))
}

// isMasked reports whether the values of column col are masked.
func (m *model) isMasked(col string) bool {
	if v, ok := m.masked[strings.ToLower(col)]; ok {
		return v
	}
	return m.p.maskedName(m.table, col, "")
}

// isExcluded reports whether column col is left out of Changes.
func (m *model) isExcluded(col string) bool { return m.exclude[strings.ToLower(col)] }

func safeBool(f func() bool) (b bool) {
	defer func() {
		if recover() != nil {
			b = false
		}
	}()
	return f()
}

// report hands an error to OnError, or logs it.
func (p *Plugin) report(err error) {
	if p.opts.OnError != nil {
		func() {
			defer func() { _ = recover() }()
			p.opts.OnError(err)
		}()
		return
	}
	slog.Default().Error("gormaudit: "+err.Error(), "err", err)
}

// record filters and records one event now.
func (p *Plugin) record(ctx context.Context, e *activitylog.Event) {
	if p.opts.Filter != nil && !p.filter(ctx, e) {
		return
	}
	if err := p.rec.Record(ctx, *e); err != nil {
		p.report(fmt.Errorf("record %s %s event: %w", e.Object.Type, e.Action, err))
	}
}

func (p *Plugin) filter(ctx context.Context, e *activitylog.Event) (keep bool) {
	c := *e
	defer func() {
		if r := recover(); r != nil {
			p.report(fmt.Errorf("filter panicked: %v", r))
			keep = true
		}
	}()
	if !p.opts.Filter(ctx, &c) {
		return false
	}
	*e = c
	return true
}
