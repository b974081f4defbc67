package gormaudit

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"gorm.io/gorm"
)

// The plugin's own reads (old values before an update or delete, new
// values after an SQL expression) repeat a handful of statement shapes.
// Parsing and planning such a SELECT costs about as much as running it,
// so the plugin keeps it prepared, the way GORM's PrepareStmt mode does
// for the application's own statements.
//
// Inside a transaction the plugin cannot prepare on the pool: the
// transaction may hold the pool's only connection. So the first time a
// shape is seen it runs unprepared, and a goroutine prepares it on the
// pool once a connection is free. From then on the transaction borrows
// the prepared statement (sql.Tx.StmtContext), which database/sql
// reuses on connections where it is already prepared and prepares once
// on any other.

// maxStmts bounds the prepared statements kept per plugin. Shapes past
// it run unprepared.
const maxStmts = 128

type stmtKey struct {
	db  *sql.DB
	sql string
}

type stmtCache struct {
	mu       sync.Mutex
	stmts    map[stmtKey]*sql.Stmt
	inflight map[stmtKey]bool
}

// get returns the prepared statement for k, or nil after starting its
// preparation when there is room for it.
func (c *stmtCache) get(k stmtKey) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[k]; ok {
		return s
	}
	if c.inflight[k] || len(c.stmts)+len(c.inflight) >= maxStmts {
		return nil
	}
	if c.inflight == nil {
		c.inflight = map[stmtKey]bool{}
		c.stmts = map[stmtKey]*sql.Stmt{}
	}
	c.inflight[k] = true
	go c.prepare(k)
	return nil
}

func (c *stmtCache) prepare(k stmtKey) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := k.db.PrepareContext(ctx, k.sql)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inflight, k)
	if err == nil {
		c.stmts[k] = s
	}
}

// drop forgets k's statement, after it failed (say, the table changed
// under it), so that the next use prepares it again.
func (c *stmtCache) drop(k stmtKey) {
	c.mu.Lock()
	s := c.stmts[k]
	delete(c.stmts, k)
	c.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// queryContext runs q on cp, through a prepared statement when it can.
// A prepared statement that fails is dropped and q is run again
// unprepared, so that the cache never turns a good query into an error.
func (p *Plugin) queryContext(ctx context.Context, cp gorm.ConnPool, q string, args ...any) (*sql.Rows, error) {
	var (
		db *sql.DB
		tx *sql.Tx
	)
	switch c := cp.(type) {
	case *txPool:
		tx, _ = c.Tx.(*sql.Tx)
		if tx != nil {
			db, _ = c.pool.ConnPool.(*sql.DB)
		}
	case *pool:
		db, _ = c.ConnPool.(*sql.DB)
	}
	if db == nil {
		return cp.QueryContext(ctx, q, args...) // GORM's own PrepareStmt pool, or a custom one
	}
	k := stmtKey{db, q}
	s := p.stmts.get(k)
	if s == nil {
		return cp.QueryContext(ctx, q, args...)
	}
	var (
		rows *sql.Rows
		err  error
	)
	if tx != nil {
		ts := tx.StmtContext(ctx, s)
		rows, err = ts.QueryContext(ctx, args...)
		// ts is closed with the transaction; closing it here too would
		// cut rows off.
	} else {
		rows, err = s.QueryContext(ctx, args...)
	}
	if err != nil && ctx.Err() == nil {
		p.stmts.drop(k)
		return cp.QueryContext(ctx, q, args...)
	}
	return rows, err
}
