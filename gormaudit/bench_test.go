package gormaudit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/gormaudit"
	"gorm.io/gorm"
)

// discard is a Recorder that validates nothing and keeps nothing, so
// the benchmarks measure the plugin, not a store.
type discard struct{}

func (discard) Record(context.Context, activitylog.Event) error { return nil }

func benchDB(b *testing.B, audited bool) *gorm.DB {
	prefix := fmt.Sprintf("gb%s_%d_", runID, seq.Add(1))
	db, err := gorm.Open(sqliteOpen(prefix), gormConfig(prefix))
	if err != nil {
		b.Fatal(err)
	}
	sqlDB, _ := db.DB()
	sqlDB.SetMaxOpenConns(1)
	b.Cleanup(func() { sqlDB.Close() })
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
// old values.
func BenchmarkUpdate(b *testing.B) {
	for _, audited := range []bool{false, true} {
		b.Run(map[bool]string{false: "baseline", true: "gormaudit"}[audited], func(b *testing.B) {
			db := benchDB(b, audited)
			u := User{Name: "ann"}
			db.Create(&u)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := db.Model(&u).Updates(map[string]any{"name": "bob", "age": i}).Error; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
