package gormaudit

import (
	"context"
	"database/sql"
	"strings"
	"sync"

	"github.com/activitylog/activitylog"
	"gorm.io/gorm"
)

// The plugin holds back the events of a transaction until it commits.
// To learn of the commit it wraps the connection pool: a transaction
// begun through the wrapped pool (GORM's default transaction around
// each write, db.Begin, db.Transaction) is a *txPool, whose Commit
// records the buffered events once the database has committed, and
// whose Rollback drops them. Savepoints (GORM's nested transactions)
// are followed by watching the SAVEPOINT, ROLLBACK TO SAVEPOINT and
// RELEASE SAVEPOINT statements that pass through the transaction.

// pool wraps the gorm.ConnPool that db was opened with.
type pool struct {
	gorm.ConnPool
	p *Plugin
}

// wrapPool puts a pool around db's connection pool. With PrepareStmt,
// the pool goes inside GORM's *gorm.PreparedStmtDB, so that GORM still
// recognises its prepared-statement pool and transaction.
func wrapPool(db *gorm.DB, p *Plugin) {
	switch cp := db.ConnPool.(type) {
	case *pool:
		return
	case *gorm.PreparedStmtDB:
		if _, ok := cp.ConnPool.(*pool); !ok {
			cp.ConnPool = &pool{ConnPool: cp.ConnPool, p: p}
		}
		return
	}
	db.ConnPool = &pool{ConnPool: db.ConnPool, p: p}
	if db.Statement != nil {
		db.Statement.ConnPool = db.ConnPool
	}
}

var (
	_ gorm.ConnPoolBeginner = (*pool)(nil)
	_ gorm.GetDBConnector   = (*pool)(nil)
	_ gorm.Tx               = (*txPool)(nil)
	_ gorm.GetDBConnector   = (*txPool)(nil)
)

// BeginTx begins a transaction on the wrapped pool and wraps it.
func (c *pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	var (
		inner gorm.ConnPool
		err   error
	)
	switch b := c.ConnPool.(type) {
	case gorm.TxBeginner:
		var tx *sql.Tx
		tx, err = b.BeginTx(ctx, opts)
		if tx != nil {
			inner = tx
		}
	case gorm.ConnPoolBeginner:
		inner, err = b.BeginTx(ctx, opts)
	default:
		return nil, gorm.ErrInvalidTransaction
	}
	if err != nil {
		return nil, err
	}
	tx, ok := inner.(gorm.Tx)
	if !ok {
		return inner, nil // not a transaction we can follow: events are recorded at once
	}
	return &txPool{Tx: tx, pool: c}, nil
}

// GetDBConn returns the *sql.DB under the pool, for db.DB().
func (c *pool) GetDBConn() (*sql.DB, error) {
	switch v := c.ConnPool.(type) {
	case *sql.DB:
		return v, nil
	case gorm.GetDBConnector:
		return v.GetDBConn()
	}
	return nil, gorm.ErrInvalidDB
}

// Ping pings the wrapped pool when it can.
func (c *pool) Ping() error {
	if p, ok := c.ConnPool.(interface{ Ping() error }); ok {
		return p.Ping()
	}
	return nil
}

type pending struct {
	ctx context.Context
	e   activitylog.Event
}

type savepoint struct {
	name string
	n    int // events buffered when it was set
}

// txPool is a transaction begun through the plugin's pool.
type txPool struct {
	gorm.Tx
	pool *pool

	mu         sync.Mutex
	events     []pending
	savepoints []savepoint
}

// Commit commits the transaction and, when that succeeded, records the
// events buffered in it.
func (t *txPool) Commit() error {
	if err := t.Tx.Commit(); err != nil {
		t.drop()
		return err
	}
	t.mu.Lock()
	events := t.events
	t.events, t.savepoints = nil, nil
	t.mu.Unlock()
	for i := range events {
		t.pool.p.record(events[i].ctx, &events[i].e)
	}
	return nil
}

// Rollback rolls the transaction back and drops its events.
func (t *txPool) Rollback() error {
	t.drop()
	return t.Tx.Rollback()
}

func (t *txPool) drop() {
	t.mu.Lock()
	t.events, t.savepoints = nil, nil
	t.mu.Unlock()
}

func (t *txPool) add(ctx context.Context, events []activitylog.Event) {
	t.mu.Lock()
	for _, e := range events {
		t.events = append(t.events, pending{ctx: ctx, e: e})
	}
	t.mu.Unlock()
}

// ExecContext runs a statement in the transaction, following savepoints.
func (t *txPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := t.Tx.ExecContext(ctx, query, args...)
	if err == nil && len(query) < 200 && len(args) == 0 {
		t.savepointStmt(query)
	}
	return res, err
}

// savepointStmt updates the savepoint stack for a SAVEPOINT, ROLLBACK
// TO [SAVEPOINT] or RELEASE [SAVEPOINT] statement.
func (t *txPool) savepointStmt(query string) {
	f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(query), ";"))
	if len(f) < 2 {
		return
	}
	kw := strings.ToUpper(f[0])
	if kw != "SAVEPOINT" && kw != "ROLLBACK" && kw != "RELEASE" {
		return
	}
	name := strings.Trim(f[len(f)-1], "`\"")
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case kw == "SAVEPOINT" && len(f) == 2:
		t.savepoints = append(t.savepoints, savepoint{name: name, n: len(t.events)})
	case kw == "ROLLBACK" && strings.EqualFold(f[1], "TO"):
		if i := t.findSavepoint(name); i >= 0 {
			// Rolled back to, the savepoint itself stays.
			clear(t.events[t.savepoints[i].n:])
			t.events = t.events[:t.savepoints[i].n]
			t.savepoints = t.savepoints[:i+1]
		}
	case kw == "RELEASE":
		if i := t.findSavepoint(name); i >= 0 {
			t.savepoints = t.savepoints[:i]
		}
	}
}

func (t *txPool) findSavepoint(name string) int {
	for i := len(t.savepoints) - 1; i >= 0; i-- {
		if t.savepoints[i].name == name {
			return i
		}
	}
	return -1
}

// GetDBConn returns the *sql.DB the transaction belongs to.
func (t *txPool) GetDBConn() (*sql.DB, error) { return t.pool.GetDBConn() }

// txOf returns the plugin transaction a statement runs in, or nil.
func txOf(cp gorm.ConnPool) *txPool {
	switch c := cp.(type) {
	case *txPool:
		return c
	case *gorm.PreparedStmtTX:
		t, _ := c.Tx.(*txPool)
		return t
	}
	return nil
}

// emit records events now, or, inside a transaction, when it commits.
// The context loses its cancellation: a request that ends does not take
// its audit records with it.
func (p *Plugin) emit(db *gorm.DB, events []activitylog.Event) {
	if len(events) == 0 {
		return
	}
	ctx := context.WithoutCancel(db.Statement.Context)
	if t := txOf(db.Statement.ConnPool); t != nil {
		t.add(ctx, events)
		return
	}
	for i := range events {
		p.record(ctx, &events[i])
	}
}
