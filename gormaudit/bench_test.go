package gormaudit_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/gormaudit"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// discard is a Recorder that validates nothing and keeps nothing, so
// the benchmarks measure the plugin, not a store.
type discard struct{}

func (discard) Record(context.Context, activitylog.Event) error { return nil }

func benchDB(b *testing.B, audited bool) *gorm.DB {
	prefix := fmt.Sprintf("gb%s_%d_", runID, seq.Add(1))
	return benchOpen(b, sqliteOpen(prefix), prefix, audited)
}

func benchOpen(b *testing.B, d gorm.Dialector, prefix string, audited bool) *gorm.DB {
	db, err := gorm.Open(d, gormConfig(prefix))
	if err != nil {
		b.Fatal(err)
	}
	sqlDB, _ := db.DB()
	sqlDB.SetMaxOpenConns(1)
	b.Cleanup(func() {
		_ = db.Migrator().DropTable(&User{})
		sqlDB.Close()
	})
	if err := db.AutoMigrate(&User{}); err != nil {
		b.Fatal(err)
	}
	if audited {
		if err := db.Use(gormaudit.New(discard{}, nil)); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// BenchmarkCreate measures a single-row Create on in-memory SQLite,
// without the plugin (baseline) and with it.
func BenchmarkCreate(b *testing.B) {
	for _, audited := range []bool{false, true} {
		b.Run(map[bool]string{false: "baseline", true: "gormaudit"}[audited], func(b *testing.B) {
			db := benchDB(b, audited)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := db.Create(&User{Name: "ann", Age: i}).Error; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUpdate measures a single-row Updates on in-memory SQLite,
// without the plugin (baseline) and with it, which includes reading the
// old values. "floor" is the baseline plus the least a pre-read can
// cost: the same point SELECT of the changed columns, hand-written and
// scanned into plain variables, in the update's transaction.
func BenchmarkUpdate(b *testing.B) {
	b.Run("baseline", func(b *testing.B) { benchUpdate(b, benchDB(b, false), false) })
	b.Run("floor", func(b *testing.B) { benchUpdate(b, benchDB(b, false), true) })
	b.Run("gormaudit", func(b *testing.B) { benchUpdate(b, benchDB(b, true), false) })
}

// BenchmarkUpdatePostgres is BenchmarkUpdate on PostgreSQL (pgx), over
// loopback, when ACTIVITYLOG_TEST_POSTGRES_DSN is set.
func BenchmarkUpdatePostgres(b *testing.B) {
	dsn := os.Getenv("ACTIVITYLOG_TEST_POSTGRES_DSN")
	if dsn == "" {
		b.Skip("set ACTIVITYLOG_TEST_POSTGRES_DSN to benchmark against PostgreSQL")
	}
	open := func(b *testing.B, audited bool) *gorm.DB {
		prefix := fmt.Sprintf("gb%s_%d_", runID, seq.Add(1))
		return benchOpen(b, postgres.Open(dsn), prefix, audited)
	}
	b.Run("baseline", func(b *testing.B) { benchUpdate(b, open(b, false), false) })
	b.Run("floor", func(b *testing.B) { benchUpdate(b, open(b, false), true) })
	b.Run("gormaudit", func(b *testing.B) { benchUpdate(b, open(b, true), false) })
}

func benchUpdate(b *testing.B, db *gorm.DB, preRead bool) {
	u := User{Name: "ann"}
	db.Create(&u)
	table := db.Model(&User{}).Statement
	_ = table.Parse(&User{})
	q := "SELECT id, name, age FROM " + table.Schema.Table + " WHERE id = ?"
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var err error
		if preRead {
			err = db.Transaction(func(tx *gorm.DB) error {
				var (
					id   uint
					name string
					age  int
				)
				if err := tx.Raw(q, u.ID).Row().Scan(&id, &name, &age); err != nil {
					return err
				}
				return tx.Model(&u).Updates(map[string]any{"name": "bob", "age": i}).Error
			})
		} else {
			err = db.Model(&u).Updates(map[string]any{"name": "bob", "age": i}).Error
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
