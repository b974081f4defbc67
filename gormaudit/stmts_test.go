package gormaudit

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"
)

type keep struct {
	mu     sync.Mutex
	events []activitylog.Event
}

func (k *keep) Record(_ context.Context, e activitylog.Event) error {
	k.mu.Lock()
	k.events = append(k.events, e)
	k.mu.Unlock()
	return nil
}

func (k *keep) last(t *testing.T) activitylog.Event {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.events) == 0 {
		t.Fatal("no event recorded")
	}
	return k.events[len(k.events)-1]
}

type Account struct {
	ID      uint
	Owner   string
	Balance int
}

func (p *Plugin) cached() int {
	p.stmts.mu.Lock()
	defer p.stmts.mu.Unlock()
	return len(p.stmts.stmts)
}

// TestPreReadPrepared shows the pre-read of old values moving onto a
// prepared statement after its first use, inside transactions holding
// the pool's only connection, and falling back to an unprepared query
// when the prepared one fails.
func TestPreReadPrepared(t *testing.T) {
	prefix := fmt.Sprintf("st%d_", time.Now().UnixNano()%1e9)
	dialects := map[string]gorm.Dialector{
		"sqlite": sqlite.Open("file:" + prefix + "?mode=memory&cache=shared"),
	}
	if dsn := os.Getenv("ACTIVITYLOG_TEST_POSTGRES_DSN"); dsn != "" {
		dialects["postgres"] = postgres.Open(dsn)
	} else {
		t.Log("set ACTIVITYLOG_TEST_POSTGRES_DSN to run this against PostgreSQL too")
	}
	for name, d := range dialects {
		t.Run(name, func(t *testing.T) {
			db, err := gorm.Open(d, &gorm.Config{NamingStrategy: schema.NamingStrategy{TablePrefix: prefix}, Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			sqlDB, _ := db.DB()
			sqlDB.SetMaxOpenConns(1)
			t.Cleanup(func() {
				_ = db.Migrator().DropTable(&Account{})
				sqlDB.Close()
			})
			if err := db.AutoMigrate(&Account{}); err != nil {
				t.Fatal(err)
			}
			rec := &keep{}
			p := New(rec, nil)
			if err := db.Use(p); err != nil {
				t.Fatal(err)
			}
			a := Account{Owner: "ann", Balance: 10}
			if err := db.Create(&a).Error; err != nil {
				t.Fatal(err)
			}
			update := func(balance int) activitylog.Event {
				t.Helper()
				if err := db.Model(&a).Update("balance", balance).Error; err != nil {
					t.Fatal(err)
				}
				return rec.last(t)
			}
			check := func(e activitylog.Event, old, new int) {
				t.Helper()
				c, ok := e.Changes["balance"]
				if !ok || fmt.Sprint(c.Old) != fmt.Sprint(old) || fmt.Sprint(c.New) != fmt.Sprint(new) {
					t.Fatalf("changes = %+v, want balance %d → %d", e.Changes, old, new)
				}
			}

			// First use: unprepared, and the statement is prepared once
			// the transaction has given the connection back.
			check(update(20), 10, 20)
			deadline := time.Now().Add(10 * time.Second)
			for p.cached() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the pre-read was never prepared")
				}
				time.Sleep(time.Millisecond)
			}
			check(update(30), 20, 30)
			check(update(40), 30, 40)
			if n := p.cached(); n != 1 {
				t.Fatalf("%d statements cached, want 1 (one shape)", n)
			}

			// A schema change under a prepared statement: SQLite prepares
			// it again by itself; PostgreSQL refuses the old plan ("cached
			// plan must not change result type"), which must not fail the
			// application's update.
			if err := db.Migrator().AlterColumn(&Account{}, "Owner"); err != nil {
				t.Fatal(err)
			}
			if err := db.Exec("ALTER TABLE " + prefix + "accounts ADD COLUMN note TEXT").Error; err != nil {
				t.Fatal(err)
			}
			if name == "postgres" {
				if err := db.Exec("ALTER TABLE " + prefix + "accounts ALTER COLUMN balance TYPE bigint").Error; err != nil {
					t.Fatal(err)
				}
			}
			check(update(50), 40, 50)
			check(update(60), 50, 60)

			// A prepared statement that fails is dropped and the read is
			// done unprepared. Outside a transaction (SkipDefaultTransaction)
			// a closed statement is an error; in one, database/sql would
			// prepare it again on the transaction's connection.
			bare := db.Session(&gorm.Session{SkipDefaultTransaction: true})
			if err := bare.Model(&a).Update("balance", 60).Error; err != nil {
				t.Fatal(err)
			}
			want := 1 // PostgreSQL's pre-read in a transaction locks (FOR UPDATE): a second shape
			if name == "postgres" {
				want = 2
			}
			for p.cached() < want {
				if time.Now().After(deadline) {
					t.Fatal("the pre-read outside a transaction was never prepared")
				}
				time.Sleep(time.Millisecond)
			}
			closed := map[*sql.Stmt]bool{}
			p.stmts.mu.Lock()
			for _, s := range p.stmts.stmts {
				closed[s] = true
				s.Close()
			}
			p.stmts.mu.Unlock()
			if err := bare.Model(&a).Update("balance", 70).Error; err != nil {
				t.Fatal(err)
			}
			check(rec.last(t), 60, 70)
			p.stmts.mu.Lock()
			left := 0
			for _, s := range p.stmts.stmts {
				if closed[s] {
					left++
				}
			}
			p.stmts.mu.Unlock()
			if left != want-1 {
				t.Errorf("%d closed statements still cached, want %d: the failed one must be dropped", left, want-1)
			}
		})
	}
}

// TestStmtCacheBounded shows that shapes past maxStmts run unprepared
// instead of growing the cache.
func TestStmtCacheBounded(t *testing.T) {
	db, err := gorm.Open(sqlite.Open("file:bounded?mode=memory&cache=shared"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { sqlDB.Close() })
	var c stmtCache
	for i := range maxStmts + 50 {
		c.get(stmtKey{sqlDB, fmt.Sprintf("SELECT %d", i)})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		n, inflight := len(c.stmts), len(c.inflight)
		c.mu.Unlock()
		if inflight == 0 {
			if n != maxStmts {
				t.Fatalf("%d statements cached, want the bound %d", n, maxStmts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d preparations still running", inflight)
		}
		time.Sleep(time.Millisecond)
	}
}
