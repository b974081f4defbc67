package gormaudit_test

import (
	"context"
	"fmt"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/gormaudit"
	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// printer is a Recorder that prints what it is given. A service passes
// an *activitylog.Recorder instead.
type printer struct{}

func (printer) Record(ctx context.Context, e activitylog.Event) error {
	fmt.Printf("%s %s %s by %s: name %v → %v\n", e.Action, e.Object.Type, e.Object.ID,
		activitylog.ActorFrom(ctx).Name, e.Changes["name"].Old, e.Changes["name"].New)
	return nil
}

func Example() {
	type Customer struct {
		ID   uint
		Name string
	}
	db, _ := gorm.Open(sqlite.Open("file:example?mode=memory&cache=shared"), &gorm.Config{Logger: logger.Discard})
	db.AutoMigrate(&Customer{}) // migrations are not recorded
	db.Use(gormaudit.New(printer{}, &gormaudit.Options{SkipUnchanged: true}))

	ctx := activitylog.WithActor(context.Background(), activitylog.Actor{ID: "7", Name: "Ann"})
	tx := db.WithContext(ctx)
	c := Customer{Name: "Acme"}
	tx.Create(&c)
	tx.Model(&c).Update("name", "Acme Ltd")
	tx.Model(&c).Update("name", "Acme Ltd") // nothing changed: no event
	tx.Delete(&c)
	// Output:
	// create customers 1 by Ann: name <nil> → Acme
	// update customers 1 by Ann: name Acme → Acme Ltd
	// delete customers 1 by Ann: name Acme Ltd → <nil>
}
