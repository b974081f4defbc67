package gormaudit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/gormaudit"
	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"
)

// This test binary must not link github.com/activitylog/activitylog/sqlite:
// it uses modernc.org/sqlite, which registers the database/sql driver
// "sqlite" as github.com/glebarez/sqlite's driver does, and the binary
// would panic at init.

type User struct {
	ID           uint
	Name         string
	Age          int
	Email        string
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Roles        []Role `gorm:"many2many:user_roles"`
}

func (u User) AuditRepr() string { return "user " + u.Name }

type Role struct {
	ID   uint
	Name string
}

type Doc struct {
	ID    string `gorm:"primaryKey;size:36"`
	Title string
}

type Membership struct {
	OrgID   int    `gorm:"primaryKey;autoIncrement:false"`
	UserKey string `gorm:"primaryKey;size:64"`
	Level   int
}

type Patient struct {
	ID   uint
	Name string
}

func (Patient) AuditReads() bool { return true }

type Secret struct {
	ID   uint
	Body string
}

var models = []any{&User{}, &Role{}, &Doc{}, &Membership{}, &Patient{}, &Secret{}}

// memWriter keeps what the Recorder writes.
type memWriter struct {
	mu     sync.Mutex
	events []activitylog.Event
}

func (w *memWriter) Write(_ context.Context, events []activitylog.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, events...)
	return nil
}

func (w *memWriter) all() []activitylog.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

func (w *memWriter) reset() {
	w.mu.Lock()
	w.events = nil
	w.mu.Unlock()
}

// crud returns the crud events written so far.
func (w *memWriter) crud() []activitylog.Event {
	var out []activitylog.Event
	for _, e := range w.all() {
		if e.Kind == activitylog.KindCRUD {
			out = append(out, e)
		}
	}
	return out
}

type opener func(t *testing.T, prefix string) *gorm.DB

var runID = fmt.Sprintf("%x", time.Now().UnixNano()%0xffffff)

var seq atomic.Int64

// setup opens a database with fresh tables and the plugin registered
// with a Sync Recorder, so events are written when Record returns.
func setup(t *testing.T, open opener, opts *gormaudit.Options) (*gorm.DB, *memWriter, string) {
	t.Helper()
	prefix := fmt.Sprintf("ga%s_%d_", runID, seq.Add(1))
	db := open(t, prefix)
	if err := db.AutoMigrate(models...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = db.Migrator().DropTable(append([]any{prefix + "user_roles"}, models...)...)
	})
	w := &memWriter{}
	rec := activitylog.NewRecorder(w, &activitylog.Options{Mode: activitylog.Sync})
	t.Cleanup(func() { _ = rec.Shutdown(context.Background()) })
	if opts == nil {
		opts = &gormaudit.Options{}
	}
	if err := db.Use(gormaudit.New(rec, opts)); err != nil {
		t.Fatal(err)
	}
	return db, w, prefix
}

func gormConfig(prefix string) *gorm.Config {
	return &gorm.Config{
		NamingStrategy: schema.NamingStrategy{TablePrefix: prefix},
		Logger:         logger.Discard,
	}
}

func openSQLite(t *testing.T, prefix string) *gorm.DB {
	db, err := gorm.Open(sqliteOpen(prefix), gormConfig(prefix))
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	sqlDB.SetMaxOpenConns(1)
	t.Cleanup(func() { sqlDB.Close() })
	return db
}

func sqliteOpen(name string) gorm.Dialector {
	return sqlite.Open("file:" + name + "?mode=memory&cache=shared")
}

func openPostgres(t *testing.T, prefix string) *gorm.DB {
	dsn := os.Getenv("ACTIVITYLOG_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("set ACTIVITYLOG_TEST_POSTGRES_DSN (e.g. 'host=127.0.0.1 user=postgres dbname=test sslmode=disable') to run the PostgreSQL tests")
	}
	db, err := gorm.Open(postgres.Open(dsn), gormConfig(prefix))
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { sqlDB.Close() })
	return db
}

func TestSQLite(t *testing.T)   { runSuite(t, openSQLite) }
func TestPostgres(t *testing.T) { runSuite(t, openPostgres) }

func runSuite(t *testing.T, open opener) {
	t.Run("create", func(t *testing.T) { testCreate(t, open) })
	t.Run("update", func(t *testing.T) { testUpdate(t, open) })
	t.Run("skip_unchanged", func(t *testing.T) { testSkipUnchanged(t, open) })
	t.Run("update_expression", func(t *testing.T) { testUpdateExpr(t, open) })
	t.Run("delete", func(t *testing.T) { testDelete(t, open) })
	t.Run("bulk", func(t *testing.T) { testBulk(t, open) })
	t.Run("transactions", func(t *testing.T) { testTransactions(t, open) })
	t.Run("associations", func(t *testing.T) { testAssociations(t, open) })
	t.Run("ids", func(t *testing.T) { testIDs(t, open) })
	t.Run("reads", func(t *testing.T) { testReads(t, open) })
	t.Run("selection", func(t *testing.T) { testSelection(t, open) })
	t.Run("errors", func(t *testing.T) { testErrors(t, open) })
}

func one(t *testing.T, events []activitylog.Event) activitylog.Event {
	t.Helper()
	if len(events) != 1 {
		t.Fatalf("got %d events, want 1: %+v", len(events), events)
	}
	return events[0]
}

func testCreate(t *testing.T, open opener) {
	db, w, prefix := setup(t, open, nil)
	if w.crud() != nil {
		t.Fatalf("AutoMigrate was recorded: %+v", w.crud())
	}
	ctx := activitylog.WithActor(context.Background(), activitylog.Actor{ID: "42", Name: "Ann"})
	u := User{Name: "ann", Age: 30, PasswordHash: "$2a$hash"}
	if err := db.WithContext(ctx).Create(&u).Error; err != nil {
		t.Fatal(err)
	}
	e := one(t, w.crud())
	if e.Action != "create" || e.Object.Type != prefix+"users" || e.Object.ID != fmt.Sprint(u.ID) || e.Object.Repr != "user ann" {
		t.Errorf("got %s %+v", e.Action, e.Object)
	}
	if e.Actor.ID != "42" {
		t.Errorf("actor = %+v, want id 42 from the context", e.Actor)
	}
	if got := e.Changes["name"]; got.Old != nil || got.New != "ann" {
		t.Errorf("changes[name] = %+v", got)
	}
	if got := e.Changes["password_hash"].New; got != activitylog.DefaultMask {
		t.Errorf("password_hash = %v, want masked", got)
	}
}

func testUpdate(t *testing.T, open opener) {
	db, w, _ := setup(t, open, &gormaudit.Options{Exclude: map[string][]string{"*": {"UpdatedAt"}}})
	u := User{Name: "ann", Age: 30}
	db.Create(&u)
	w.reset()
	if err := db.Model(&u).Updates(map[string]any{"name": "bob", "age": 31}).Error; err != nil {
		t.Fatal(err)
	}
	e := one(t, w.crud())
	want := map[string]activitylog.Change{"name": {Old: "ann", New: "bob"}, "age": {Old: float64(30), New: float64(31)}}
	if e.Action != "update" || e.Object.ID != fmt.Sprint(u.ID) || e.Object.Repr != "user bob" {
		t.Errorf("got %s %+v", e.Action, e.Object)
	}
	if fmt.Sprint(e.Changes) != fmt.Sprint(want) {
		t.Errorf("changes = %v, want %v", e.Changes, want)
	}
	// Save writes every column; only what changed differs.
	w.reset()
	u.Email = "b@example.com"
	if err := db.Save(&u).Error; err != nil {
		t.Fatal(err)
	}
	e = one(t, w.crud())
	if c := e.Changes["email"]; c.Old != "" || c.New != "b@example.com" {
		t.Errorf("changes[email] = %+v", c)
	}
	if _, ok := e.Changes["updated_at"]; ok {
		t.Errorf("updated_at is excluded but recorded")
	}
}

func testSkipUnchanged(t *testing.T, open opener) {
	db, w, _ := setup(t, open, &gormaudit.Options{SkipUnchanged: true, Exclude: map[string][]string{"User": {"updated_at"}}})
	u := User{Name: "ann", Age: 30}
	db.Create(&u)
	w.reset()
	db.Model(&u).Updates(map[string]any{"name": "ann", "age": 30})
	if got := w.crud(); len(got) != 0 {
		t.Fatalf("unchanged update recorded: %+v", got)
	}
	db.Model(&u).Updates(map[string]any{"name": "ann", "age": 31})
	e := one(t, w.crud())
	if _, ok := e.Changes["name"]; ok || len(e.Changes) != 1 {
		t.Errorf("changes = %v, want age only", e.Changes)
	}
}

func testUpdateExpr(t *testing.T, open opener) {
	db, w, _ := setup(t, open, &gormaudit.Options{Exclude: map[string][]string{"*": {"updated_at"}}})
	u := User{Name: "ann", Age: 30}
	db.Create(&u)
	w.reset()
	db.Model(&u).Update("age", gorm.Expr("age + ?", 5))
	e := one(t, w.crud())
	if c := e.Changes["age"]; c.Old != float64(30) || c.New != float64(35) {
		t.Errorf("changes[age] = %+v, want 30 → 35", c)
	}
}

func testDelete(t *testing.T, open opener) {
	db, w, _ := setup(t, open, nil)
	u := User{Name: "ann", Age: 30}
	db.Create(&u)
	w.reset()
	if err := db.Delete(&u).Error; err != nil {
		t.Fatal(err)
	}
	e := one(t, w.crud())
	if e.Action != "delete" || e.Object.ID != fmt.Sprint(u.ID) || e.Changes["name"].Old != "ann" || e.Changes["name"].New != nil {
		t.Errorf("got %s %+v %v", e.Action, e.Object, e.Changes)
	}
}

// setIDs collects the ids of set events and checks their accounting.
func setIDs(t *testing.T, events []activitylog.Event, action string, count int) []string {
	t.Helper()
	var ids []string
	for _, e := range events {
		if e.Action != action || e.Extra["set"] != true {
			t.Fatalf("event %s %v is not a %s set event", e.Action, e.Extra["set"], action)
		}
		if got := e.Extra["count"]; got != float64(count) {
			t.Fatalf("count = %v, want %d", got, count)
		}
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, id := range e.Extra["ids"].([]any) {
			ids = append(ids, id.(string))
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func testBulk(t *testing.T, open opener) {
	db, w, _ := setup(t, open, &gormaudit.Options{Exclude: map[string][]string{"*": {"updated_at"}}})
	const n = 10000
	users := make([]User, n)
	for i := range users {
		users[i] = User{Name: fmt.Sprint("u", i), Age: i % 10}
	}
	if err := db.CreateInBatches(users, 1000).Error; err != nil {
		t.Fatal(err)
	}
	var created []string
	for _, e := range w.crud() {
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, id := range e.Extra["ids"].([]any) {
			created = append(created, id.(string))
		}
	}
	if len(created) != n {
		t.Fatalf("CreateInBatches: %d ids recorded, want %d", len(created), n)
	}

	w.reset()
	res := db.Model(&User{}).Where("age >= ?", 0).Updates(map[string]any{"name": "x"})
	if res.Error != nil || res.RowsAffected != n {
		t.Fatalf("update: %v, %d rows", res.Error, res.RowsAffected)
	}
	events := w.crud()
	if len(events) != n/gormaudit.DefaultChunkSize {
		t.Errorf("%d set events, want %d", len(events), n/gormaudit.DefaultChunkSize)
	}
	if ids := setIDs(t, events, "update", n); len(ids) != n {
		t.Fatalf("bulk update accounts for %d rows, want %d", len(ids), n)
	}
	e := events[0]
	if !strings.Contains(e.Extra["condition"].(string), "age >= 0") {
		t.Errorf("condition = %v", e.Extra["condition"])
	}
	first := e.Extra["ids"].([]any)[0].(string)
	row := e.Extra["rows"].(map[string]any)[first].(map[string]any)["name"].(map[string]any)
	if row["old"] == nil || row["new"] != "x" {
		t.Errorf("rows[%s][name] = %v", first, row)
	}

	w.reset()
	res = db.Where("age > ?", 6).Delete(&User{})
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	if ids := setIDs(t, w.crud(), "delete", int(res.RowsAffected)); len(ids) != int(res.RowsAffected) || res.RowsAffected != 3000 {
		t.Fatalf("bulk delete accounts for %d rows, deleted %d", len(ids), res.RowsAffected)
	}
}

func testTransactions(t *testing.T, open opener) {
	db, w, _ := setup(t, open, nil)
	boom := errors.New("boom")
	err := db.Transaction(func(tx *gorm.DB) error {
		tx.Create(&User{Name: "rolled back"})
		if got := w.crud(); len(got) != 0 {
			t.Errorf("event recorded before commit: %+v", got)
		}
		return boom
	})
	if !errors.Is(err, boom) || len(w.crud()) != 0 {
		t.Fatalf("rollback: err %v, events %+v", err, w.crud())
	}

	tx := db.Begin()
	tx.Create(&User{Name: "a"})
	tx.Create(&User{Name: "b"})
	tx.Rollback()
	if len(w.crud()) != 0 {
		t.Fatalf("Begin/Rollback recorded %d events", len(w.crud()))
	}

	err = db.Transaction(func(tx *gorm.DB) error {
		tx.Create(&User{Name: "outer"})
		_ = tx.Transaction(func(tx2 *gorm.DB) error {
			tx2.Create(&User{Name: "inner"})
			return boom // rolled back to the savepoint
		})
		return tx.Transaction(func(tx2 *gorm.DB) error {
			return tx2.Create(&User{Name: "inner kept"}).Error
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range w.crud() {
		got = append(got, e.Changes["name"].New.(string))
	}
	if want := []string{"outer", "inner kept"}; !slices.Equal(got, want) {
		t.Fatalf("nested: recorded %v, want %v", got, want)
	}
	var count int64
	db.Model(&User{}).Count(&count)
	if count != 2 {
		t.Errorf("%d users in the table, want 2", count)
	}
}

func testAssociations(t *testing.T, open opener) {
	db, w, prefix := setup(t, open, nil)
	u := User{Name: "ann"}
	db.Create(&u)
	admin, dev, ops := Role{Name: "admin"}, Role{Name: "dev"}, Role{Name: "ops"}
	db.Create(&admin)
	db.Create(&dev)
	db.Create(&ops)
	join := prefix + "user_roles"
	count := func(action string) int {
		n := 0
		for _, e := range w.crud() {
			if e.Object.Type == join && e.Action == action {
				if e.Extra["set"] == true {
					n += len(e.Extra["ids"].([]any))
				} else {
					n++
				}
			}
		}
		return n
	}
	w.reset()
	if err := db.Model(&u).Association("Roles").Append(&admin, &dev); err != nil {
		t.Fatal(err)
	}
	if got := count("create"); got != 2 {
		t.Errorf("Append: %d join rows created, want 2: %+v", got, w.crud())
	}
	for _, e := range w.crud() {
		if e.Object.Type == prefix+"roles" && e.Action == "create" {
			t.Errorf("Append of existing roles recorded as a create: %+v", e)
		}
	}
	w.reset()
	if err := db.Model(&u).Association("Roles").Replace(&ops); err != nil {
		t.Fatal(err)
	}
	if c, d := count("create"), count("delete"); c != 1 || d != 2 {
		t.Errorf("Replace: %d created, %d deleted, want 1 and 2: %+v", c, d, w.crud())
	}
	w.reset()
	db.Model(&u).Association("Roles").Append(&admin)
	if err := db.Model(&u).Association("Roles").Delete(&admin); err != nil {
		t.Fatal(err)
	}
	if d := count("delete"); d != 1 {
		t.Errorf("Delete: %d deleted, want 1", d)
	}
	w.reset()
	if err := db.Model(&u).Association("Roles").Clear(); err != nil {
		t.Fatal(err)
	}
	if d := count("delete"); d != 1 {
		t.Errorf("Clear: %d deleted, want 1: %+v", d, w.crud())
	}
}

func testIDs(t *testing.T, open opener) {
	db, w, _ := setup(t, open, nil)
	db.Create(&Doc{ID: "0190a6f6-3c1e-7cc2-9a3e-2b1d7f4a5c6d", Title: "t"})
	if got := one(t, w.crud()).Object.ID; got != "0190a6f6-3c1e-7cc2-9a3e-2b1d7f4a5c6d" {
		t.Errorf("uuid id = %q", got)
	}
	w.reset()
	m := Membership{OrgID: 7, UserKey: "admin", Level: 1}
	db.Create(&m)
	db.Model(&m).Update("level", 2)
	events := w.crud()
	if len(events) != 2 || events[0].Object.ID != `["7","admin"]` || events[1].Object.ID != `["7","admin"]` {
		t.Fatalf("composite ids: %+v", events)
	}
	if c := events[1].Changes["level"]; c.Old != float64(1) || c.New != float64(2) {
		t.Errorf("level = %+v", c)
	}
}

func testReads(t *testing.T, open opener) {
	db, w, _ := setup(t, open, &gormaudit.Options{ReadModels: []any{"Doc"}})
	db.Create(&Patient{Name: "p1"})
	db.Create(&Patient{Name: "p2"})
	db.Create(&User{Name: "u"})
	db.Create(&Doc{ID: "d1", Title: "t"})
	w.reset()
	var p Patient
	db.First(&p)
	e := one(t, w.crud())
	if e.Action != "read" || e.Object.ID != fmt.Sprint(p.ID) {
		t.Errorf("read event %+v", e)
	}
	w.reset()
	var ps []Patient
	db.Find(&ps)
	if ids := setIDs(t, w.crud(), "read", 2); len(ids) != 2 {
		t.Errorf("Find: ids %v", ids)
	}
	w.reset()
	var us []User
	db.Find(&us)
	var n int64
	db.Model(&Patient{}).Count(&n)
	if got := w.crud(); len(got) != 0 {
		t.Errorf("reads of users or a count recorded: %+v", got)
	}
	var d Doc
	db.First(&d, "id = ?", "d1")
	if e := one(t, w.crud()); e.Object.ID != "d1" {
		t.Errorf("ReadModels: %+v", e)
	}
}

func testSelection(t *testing.T, open opener) {
	t.Run("deny", func(t *testing.T) {
		db, w, _ := setup(t, open, &gormaudit.Options{ExtraDeny: []any{&Secret{}}})
		db.Create(&Secret{Body: "x"})
		db.Create(&Role{Name: "r"})
		if e := one(t, w.crud()); !strings.HasSuffix(e.Object.Type, "roles") {
			t.Errorf("recorded %+v", e)
		}
	})
	t.Run("allow", func(t *testing.T) {
		db, w, _ := setup(t, open, &gormaudit.Options{Models: []any{"Role"}})
		db.Create(&User{Name: "u"})
		db.Create(&Role{Name: "r"})
		if e := one(t, w.crud()); !strings.HasSuffix(e.Object.Type, "roles") {
			t.Errorf("recorded %+v", e)
		}
	})
	t.Run("mask_and_veto", func(t *testing.T) {
		db, w, _ := setup(t, open, &gormaudit.Options{
			Mask: []string{"email"},
			Filter: func(ctx context.Context, e *activitylog.Event) bool {
				e.Category = "orm"
				return !strings.HasSuffix(e.Object.Type, "roles")
			},
		})
		db.Create(&Role{Name: "vetoed"})
		db.Create(&User{Name: "u", Email: "u@example.com"})
		e := one(t, w.crud())
		if e.Changes["email"].New != activitylog.DefaultMask || e.Category != "orm" {
			t.Errorf("got %+v", e)
		}
	})
}

type failing struct{}

func (failing) Record(context.Context, activitylog.Event) error {
	return fmt.Errorf("store down: %w", activitylog.ErrUnavailable)
}

func testErrors(t *testing.T, open opener) {
	db := open(t, fmt.Sprintf("ga%s_%d_", runID, seq.Add(1)))
	if err := db.AutoMigrate(&Role{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Migrator().DropTable(&Role{}) })
	var mu sync.Mutex
	var errs []error
	onError := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	db.Use(gormaudit.New(failing{}, &gormaudit.Options{
		OnError: onError,
		Filter:  func(context.Context, *activitylog.Event) bool { panic("bug in filter") },
	}))
	r := Role{Name: "r"}
	if err := db.Create(&r).Error; err != nil {
		t.Fatalf("the host's query failed: %v", err)
	}
	if err := db.Model(&r).Update("name", "s").Error; err != nil {
		t.Fatalf("the host's query failed: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 4 || !errors.Is(errs[1], activitylog.ErrUnavailable) || !strings.Contains(errs[0].Error(), "panicked") {
		t.Errorf("OnError got %v", errs)
	}
}
