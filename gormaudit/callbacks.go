package gormaudit

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/activitylog/activitylog"
	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// stateKey keys the state a before-callback leaves for its
// after-callback in Statement.Settings.
type stateKey struct{}

// state is what the plugin learnt before an update or delete ran.
type state struct {
	m      *model
	cols   []string        // columns read (update: the assigned ones)
	fields []*schema.Field // their fields, nil for a column without one
	assign []any           // update: the assigned value of each column
	expr   []bool          // update: whether that value is an SQL expression
	rows   []row           // the rows the statement will touch, as read before it
	pk     bool            // rows carry primary keys
	read   bool            // the rows were read (else only the count is known)
	soft   bool            // delete: soft delete
	ownSet bool            // update: the SET clause was added by the plugin
}

// row is one row as read before the statement.
type row struct {
	id   string
	pk   []any
	vals []any
}

// ---- create ----

func (p *Plugin) afterCreate(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || db.DryRun || db.RowsAffected == 0 {
		return
	}
	m := p.modelFor(stmt)
	if !m.write {
		return
	}
	rows := p.valueRows(db, m)
	events := p.events(db, m, "create", rows, nil)
	if len(events) > 0 && db.RowsAffected >= 0 && int(db.RowsAffected) < len(rows) {
		for i := range events {
			events[i].Extra = setExtra(events[i].Extra, "rows_affected", db.RowsAffected)
		}
	}
	p.emit(db, events)
}

// valueRows turns the values a create wrote (a struct, a slice of
// them, a map or a slice of maps) into rows of changes.
func (p *Plugin) valueRows(db *gorm.DB, m *model) []changeRow {
	stmt := db.Statement
	rv := reflect.Indirect(stmt.ReflectValue)
	var out []changeRow
	add := func(v reflect.Value) {
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return
			}
			v = v.Elem()
		}
		switch v.Kind() {
		case reflect.Struct:
			if stmt.Schema == nil {
				return
			}
			cr := changeRow{id: idOf(db, stmt.Schema, v), repr: p.repr(v), changes: map[string]activitylog.Change{}}
			for _, f := range stmt.Schema.Fields {
				if f.DBName == "" || !f.Readable || m.isExcluded(f.DBName) {
					continue
				}
				val, _ := f.ValueOf(stmt.Context, v)
				cr.changes[f.DBName] = m.change(f.DBName, nil, plain(val))
			}
			out = append(out, cr)
		case reflect.Map:
			cr := changeRow{changes: map[string]activitylog.Change{}}
			var pks []any
			iter := v.MapRange()
			for iter.Next() {
				k, ok := iter.Key().Interface().(string)
				if !ok {
					continue
				}
				col := k
				if stmt.Schema != nil {
					if f := stmt.Schema.LookUpField(k); f != nil && f.DBName != "" {
						col = f.DBName
					}
				}
				if col == clause.PrimaryKey || m.isExcluded(col) {
					continue
				}
				cr.changes[col] = m.change(col, nil, plain(iter.Value().Interface()))
			}
			if stmt.Schema != nil {
				for _, f := range stmt.Schema.PrimaryFields {
					if c, ok := cr.changes[f.DBName]; ok {
						pks = append(pks, c.New)
					}
				}
				if len(pks) == len(stmt.Schema.PrimaryFields) && len(pks) > 0 {
					cr.id = formatID(pks)
				}
			}
			out = append(out, cr)
		}
	}
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out = make([]changeRow, 0, rv.Len())
		for i := 0; i < rv.Len(); i++ {
			add(rv.Index(i))
		}
	default:
		add(rv)
	}
	return out
}

// ---- update ----

// beforeUpdate builds the UPDATE as gorm:update would, so that its
// WHERE clause is final, and reads the old values of the assigned
// columns of the rows it will touch, in the same transaction.
func (p *Plugin) beforeUpdate(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || db.DryRun || stmt.SQL.Len() != 0 {
		return
	}
	m := p.modelFor(stmt)
	if !m.write {
		return
	}
	if stmt.Schema != nil {
		for _, c := range stmt.Schema.UpdateClauses {
			stmt.AddClause(c)
		}
	}
	if stmt.SQL.Len() != 0 {
		return
	}
	st := &state{m: m}
	var set clause.Set
	if c, ok := stmt.Clauses["SET"]; ok {
		set, _ = c.Expression.(clause.Set)
	} else {
		set = callbacks.ConvertToAssignments(stmt)
		if len(set) == 0 || db.Error != nil {
			return // gorm:update does nothing either
		}
		stmt.AddClause(set)
		st.ownSet = true
	}
	stmt.SQL.Grow(180)
	stmt.AddClauseIfNotExists(clause.Update{})
	stmt.Build(stmt.BuildClauses...)
	stmt.Settings.Store(stateKey{}, st)

	for _, a := range set {
		col := a.Column.Name
		var f *schema.Field
		if stmt.Schema != nil {
			f = stmt.Schema.LookUpField(col)
		}
		st.cols = append(st.cols, col)
		st.fields = append(st.fields, f)
		st.assign = append(st.assign, a.Value)
		st.expr = append(st.expr, isExpr(a.Value))
	}
	p.preRead(db, st)
}

func (p *Plugin) afterUpdate(db *gorm.DB) {
	stmt := db.Statement
	v, ok := stmt.Settings.LoadAndDelete(stateKey{})
	if !ok {
		return
	}
	st := v.(*state)
	if st.ownSet {
		delete(stmt.Clauses, "SET")
	}
	if db.Error != nil || db.RowsAffected == 0 {
		return
	}
	// New values: the assigned ones, or, for SQL expressions, read back.
	var after map[string][]any
	if st.read && st.pk && hasTrue(st.expr) {
		after = p.readBack(db, st)
	}
	rows := make([]changeRow, 0, len(st.rows))
	single := len(st.rows) == 1
	for _, r := range st.rows {
		cr := changeRow{id: r.id, changes: make(map[string]activitylog.Change, len(st.cols))}
		if single {
			cr.repr = p.reprOf(db, r)
		}
		for i, col := range st.cols {
			if st.m.isExcluded(col) {
				continue
			}
			var nv any
			switch {
			case !st.expr[i]:
				nv = plain(st.assign[i])
			case after != nil:
				if a, ok := after[r.id]; ok {
					nv = a[i]
				}
			default:
				nv = exprString(db, st.assign[i])
			}
			ov := r.vals[i]
			if p.skipUnchanged && equal(ov, nv) {
				continue
			}
			cr.changes[col] = st.m.change(col, ov, nv)
		}
		if p.skipUnchanged && len(cr.changes) == 0 {
			continue
		}
		rows = append(rows, cr)
	}
	if !st.read {
		// The rows could not be read: account for them by count.
		p.emit(db, p.countEvents(db, st, "update", db.RowsAffected))
		return
	}
	p.emit(db, p.events(db, st.m, "update", rows, st))
}

// ---- delete ----

func (p *Plugin) beforeDelete(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || db.DryRun || stmt.SQL.Len() != 0 {
		return
	}
	m := p.modelFor(stmt)
	if !m.write {
		return
	}
	if stmt.Schema != nil {
		for _, c := range stmt.Schema.DeleteClauses {
			stmt.AddClause(c) // a soft delete builds its UPDATE here
		}
	}
	st := &state{m: m}
	_, st.soft = stmt.Clauses["soft_delete_enabled"]
	if stmt.SQL.Len() == 0 {
		// As gorm:delete builds a hard delete.
		stmt.SQL.Grow(100)
		stmt.AddClauseIfNotExists(clause.Delete{})
		if stmt.Schema != nil {
			_, values := schema.GetIdentityFieldValuesMap(stmt.Context, stmt.ReflectValue, stmt.Schema.PrimaryFields)
			column, vals := schema.ToQueryValues(stmt.Table, stmt.Schema.PrimaryFieldDBNames, values)
			if len(vals) > 0 {
				stmt.AddClause(clause.Where{Exprs: []clause.Expression{clause.IN{Column: column, Values: vals}}})
			}
			if stmt.ReflectValue.CanAddr() && stmt.Dest != stmt.Model && stmt.Model != nil {
				_, values = schema.GetIdentityFieldValuesMap(stmt.Context, reflect.ValueOf(stmt.Model), stmt.Schema.PrimaryFields)
				column, vals = schema.ToQueryValues(stmt.Table, stmt.Schema.PrimaryFieldDBNames, values)
				if len(vals) > 0 {
					stmt.AddClause(clause.Where{Exprs: []clause.Expression{clause.IN{Column: column, Values: vals}}})
				}
			}
		}
		stmt.AddClauseIfNotExists(clause.From{})
		stmt.Build(stmt.BuildClauses...)
	}
	stmt.Settings.Store(stateKey{}, st)
	if stmt.Schema != nil {
		for _, f := range stmt.Schema.Fields {
			if f.DBName != "" && f.Readable && !m.isExcluded(f.DBName) {
				st.cols = append(st.cols, f.DBName)
				st.fields = append(st.fields, f)
			}
		}
	}
	p.preRead(db, st)
}

func (p *Plugin) afterDelete(db *gorm.DB) {
	stmt := db.Statement
	v, ok := stmt.Settings.LoadAndDelete(stateKey{})
	if !ok {
		return
	}
	st := v.(*state)
	if db.Error != nil || db.RowsAffected == 0 {
		return
	}
	if !st.read {
		p.emit(db, p.countEvents(db, st, "delete", db.RowsAffected))
		return
	}
	rows := make([]changeRow, 0, len(st.rows))
	for _, r := range st.rows {
		cr := changeRow{id: r.id, changes: make(map[string]activitylog.Change, len(st.cols))}
		if len(st.rows) == 1 {
			cr.repr = p.reprOf(db, r)
		}
		for i, col := range st.cols {
			cr.changes[col] = st.m.change(col, r.vals[i], nil)
		}
		rows = append(rows, cr)
	}
	p.emit(db, p.events(db, st.m, "delete", rows, st))
}

// ---- read ----

func (p *Plugin) afterQuery(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || db.DryRun || db.RowsAffected == 0 || stmt.Schema == nil {
		return
	}
	m := p.modelFor(stmt)
	if !m.read {
		return
	}
	if isCount(stmt.Dest) {
		return
	}
	rv := reflect.Indirect(stmt.ReflectValue)
	var rows []changeRow
	addRow := func(v reflect.Value) bool {
		v = reflect.Indirect(v)
		if v.Kind() != reflect.Struct || v.Type() != stmt.Schema.ModelType {
			return false
		}
		rows = append(rows, changeRow{id: idOf(db, stmt.Schema, v), repr: p.repr(v)})
		return true
	}
	ok := true
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := 0; i < rv.Len() && ok; i++ {
			ok = addRow(rv.Index(i))
		}
	default:
		ok = addRow(rv)
	}
	st := &state{m: m, read: ok, pk: ok}
	if !ok {
		// Scanned into something else than the model (Pluck, a map):
		// account for the rows by count and condition.
		for _, e := range p.countEvents(db, st, "read", db.RowsAffected) {
			p.record(context.WithoutCancel(stmt.Context), &e)
		}
		return
	}
	// Reads are recorded at once, inside a transaction too: the data
	// was disclosed whether or not the transaction commits.
	events := p.events(db, m, "read", rows, st)
	ctx := context.WithoutCancel(stmt.Context)
	for i := range events {
		p.record(ctx, &events[i])
	}
}

func isCount(dest any) bool {
	switch dest.(type) {
	case *int64, *int, *int32, *uint64, *uint:
		return true
	}
	return false
}

func hasTrue(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

func isExpr(v any) bool {
	switch x := v.(type) {
	case clause.Expression, *gorm.DB, gorm.Valuer:
		return true
	case []any:
		for _, e := range x {
			if isExpr(e) {
				return true
			}
		}
	}
	return false
}

// exprString describes an SQL expression assigned to a column whose new
// value could not be read back.
func exprString(db *gorm.DB, v any) string {
	if e, ok := v.(clause.Expr); ok {
		return "sql:" + db.Dialector.Explain(e.SQL, e.Vars...)
	}
	return "sql:" + strings.TrimSpace(fmt.Sprint(v))
}

func setExtra(m map[string]any, k string, v any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	m[k] = v
	return m
}
