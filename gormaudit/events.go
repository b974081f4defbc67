package gormaudit

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// changeRow is one row's part in an event.
type changeRow struct {
	id      string
	repr    string
	changes map[string]activitylog.Change
}

// events turns the rows of one statement into events: one row event
// for a single row, set events for several (see the package doc).
func (p *Plugin) events(db *gorm.DB, m *model, action string, rows []changeRow, st *state) []activitylog.Event {
	if len(rows) == 0 {
		return nil
	}
	table := tableOf(db.Statement)
	if len(rows) == 1 {
		r := rows[0]
		e := activitylog.Event{
			Kind:   activitylog.KindCRUD,
			Action: action,
			Object: activitylog.Object{Type: table, ID: r.id, Repr: r.repr},
		}
		if len(r.changes) > 0 {
			e.Changes = r.changes
		}
		if st != nil && st.soft {
			e.Extra = map[string]any{"soft_delete": true}
		}
		return []activitylog.Event{e}
	}
	n := len(rows)
	chunks := (n + p.chunk - 1) / p.chunk
	cond := ""
	if st != nil {
		cond = condition(db) // the WHERE clause outlives the statement's execution
	}
	events := make([]activitylog.Event, 0, chunks)
	for c := 0; c < chunks; c++ {
		part := rows[c*p.chunk : min((c+1)*p.chunk, n)]
		ids := make([]string, len(part))
		var detail map[string]any
		for i, r := range part {
			ids[i] = r.id
			if len(r.changes) == 0 {
				continue
			}
			if detail == nil {
				detail = make(map[string]any, len(part))
			}
			key := r.id
			if key == "" {
				key = "#" + strconv.Itoa(c*p.chunk+i)
			}
			cols := make(map[string]any, len(r.changes))
			for col, ch := range r.changes {
				cols[col] = map[string]any{"old": ch.Old, "new": ch.New}
			}
			detail[key] = cols
		}
		extra := map[string]any{
			"set":    true,
			"count":  n,
			"chunk":  c + 1,
			"chunks": chunks,
			"ids":    ids,
		}
		if detail != nil {
			extra["rows"] = detail
		}
		if cond != "" {
			extra["condition"] = cond
		}
		if st != nil && st.soft {
			extra["soft_delete"] = true
		}
		events = append(events, activitylog.Event{
			Kind:    activitylog.KindCRUD,
			Action:  action,
			Object:  activitylog.Object{Type: table},
			Message: setMessage(action, table, n, c+1, chunks),
			Extra:   extra,
		})
	}
	return events
}

// countEvents accounts for rows that could not be told apart (a table
// without a primary key, a failed read): one set event with the
// condition and the count.
func (p *Plugin) countEvents(db *gorm.DB, st *state, action string, n int64) []activitylog.Event {
	table := tableOf(db.Statement)
	extra := map[string]any{"set": true, "count": n, "ids_unknown": true}
	if cond := condition(db); cond != "" {
		extra["condition"] = cond
	}
	if st.soft {
		extra["soft_delete"] = true
	}
	return []activitylog.Event{{
		Kind:    activitylog.KindCRUD,
		Action:  action,
		Object:  activitylog.Object{Type: table},
		Message: setMessage(action, table, int(n), 1, 1),
		Extra:   extra,
	}}
}

func setMessage(action, table string, n, chunk, chunks int) string {
	s := action + " of " + strconv.Itoa(n) + " " + table + " rows"
	if chunks > 1 {
		s += ", part " + strconv.Itoa(chunk) + " of " + strconv.Itoa(chunks)
	}
	return s
}

func tableOf(stmt *gorm.Statement) string {
	if stmt.Table != "" {
		return stmt.Table
	}
	if stmt.Schema != nil {
		return stmt.Schema.Table
	}
	return ""
}

// change returns the Change of column col, masked when col is.
func (m *model) change(col string, old, new any) activitylog.Change {
	if m.isMasked(col) {
		if old != nil {
			old = activitylog.DefaultMask
		}
		if new != nil {
			new = activitylog.DefaultMask
		}
	}
	return activitylog.Change{Old: old, New: new}
}

// preRead reads, in the statement's transaction, the primary keys and
// st.cols of the rows the statement's WHERE selects.
func (p *Plugin) preRead(db *gorm.DB, st *state) {
	stmt := db.Statement
	where, hasWhere := stmt.Clauses["WHERE"]
	if !hasWhere && !db.AllowGlobalUpdate {
		return // GORM refuses the statement (ErrMissingWhereClause)
	}
	if stmt.Schema == nil || len(stmt.Schema.PrimaryFields) == 0 || tableOf(stmt) == "" {
		return // no primary key: accounted for by count
	}
	pks := stmt.Schema.PrimaryFields
	cols := make([]clause.Column, 0, len(pks)+len(st.cols))
	for _, f := range pks {
		cols = append(cols, clause.Column{Table: clause.CurrentTable, Name: f.DBName})
	}
	for _, c := range st.cols {
		cols = append(cols, clause.Column{Table: clause.CurrentTable, Name: c})
	}
	s := newStmt(db)
	s.AddClause(clause.Select{Columns: cols})
	s.AddClause(clause.From{})
	build := []string{"SELECT", "FROM"}
	if hasWhere {
		s.Clauses["WHERE"] = where
		build = append(build, "WHERE")
	}
	for _, name := range []string{"ORDER BY", "LIMIT"} {
		if c, ok := stmt.Clauses[name]; ok {
			s.Clauses[name] = c
			build = append(build, name)
		}
	}
	if d := db.Dialector.Name(); (d == "postgres" || d == "mysql") && isTx(stmt.ConnPool) {
		// Lock the rows the UPDATE or DELETE will lock anyway, so that
		// no other transaction changes them between the two.
		s.AddClause(clause.Locking{Strength: "UPDATE"})
		build = append(build, "FOR")
	}
	s.Build(build...)
	rows, err := p.query(db, s, pks, st.fields)
	if err != nil {
		p.report(fmt.Errorf("read old values of %s: %w", tableOf(stmt), err))
		return
	}
	st.rows, st.read, st.pk = rows, true, true
}

// readBack reads the values SQL expressions assigned, after an update.
func (p *Plugin) readBack(db *gorm.DB, st *state) map[string][]any {
	stmt := db.Statement
	pks := stmt.Schema.PrimaryFields
	out := make(map[string][]any, len(st.rows))
	var cols []clause.Column
	var fields []*schema.Field
	var idx []int
	for _, f := range pks {
		cols = append(cols, clause.Column{Table: clause.CurrentTable, Name: f.DBName})
	}
	for i, e := range st.expr {
		if e {
			cols = append(cols, clause.Column{Table: clause.CurrentTable, Name: st.cols[i]})
			fields = append(fields, st.fields[i])
			idx = append(idx, i)
		}
	}
	const batch = 500
	for start := 0; start < len(st.rows); start += batch {
		part := st.rows[start:min(start+batch, len(st.rows))]
		values := make([][]any, len(part))
		for i, r := range part {
			values[i] = r.pk
		}
		column, vals := schema.ToQueryValues(clause.CurrentTable, stmt.Schema.PrimaryFieldDBNames, values)
		s := newStmt(db)
		s.AddClause(clause.Select{Columns: cols})
		s.AddClause(clause.From{})
		s.AddClause(clause.Where{Exprs: []clause.Expression{clause.IN{Column: column, Values: vals}}})
		s.Build("SELECT", "FROM", "WHERE")
		got, err := p.query(db, s, pks, fields)
		if err != nil {
			p.report(fmt.Errorf("read new values of %s: %w", tableOf(stmt), err))
			return nil
		}
		for _, r := range got {
			full := make([]any, len(st.cols))
			for j, i := range idx {
				full[i] = r.vals[j]
			}
			out[r.id] = full
		}
	}
	return out
}

func newStmt(db *gorm.DB) *gorm.Statement {
	stmt := db.Statement
	return &gorm.Statement{
		DB:        db,
		ConnPool:  stmt.ConnPool,
		Context:   stmt.Context,
		Table:     stmt.Table,
		TableExpr: stmt.TableExpr,
		Schema:    stmt.Schema,
		Clauses:   map[string]clause.Clause{},
	}
}

// query runs s and scans primary keys and values, each into its field's
// type (or any, for a column without a field or with a serializer).
func (p *Plugin) query(db *gorm.DB, s *gorm.Statement, pks, fields []*schema.Field) ([]row, error) {
	rs, err := p.queryContext(s.Context, db.Statement.ConnPool, s.SQL.String(), s.Vars...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	all := append(append(make([]*schema.Field, 0, len(pks)+len(fields)), pks...), fields...)
	var out []row
	for rs.Next() {
		dest := make([]any, len(all))
		for i, f := range all {
			if f == nil || f.Serializer != nil || f.FieldType == nil {
				dest[i] = new(any)
			} else {
				dest[i] = reflect.New(f.FieldType).Interface()
			}
		}
		if err := rs.Scan(dest...); err != nil {
			return nil, err
		}
		r := row{pk: make([]any, len(pks)), vals: make([]any, len(fields))}
		for i := range all {
			v := plain(dest[i])
			if i < len(pks) {
				r.pk[i] = v
			} else {
				r.vals[i-len(pks)] = v
			}
		}
		r.id = formatID(r.pk)
		out = append(out, r)
	}
	return out, rs.Err()
}

func isTx(cp gorm.ConnPool) bool {
	_, ok := cp.(gorm.TxCommitter)
	return ok
}

// condition returns the statement's WHERE condition with its values
// inlined, as the dialect would show it in a log.
func condition(db *gorm.DB) string {
	where, ok := db.Statement.Clauses["WHERE"]
	if !ok {
		return ""
	}
	s := newStmt(db)
	s.Clauses["WHERE"] = where
	s.Build("WHERE")
	return strings.TrimPrefix(db.Dialector.Explain(s.SQL.String(), s.Vars...), "WHERE ")
}

// idOf returns the object id of model value v.
func idOf(db *gorm.DB, sch *schema.Schema, v reflect.Value) string {
	if len(sch.PrimaryFields) == 0 {
		return ""
	}
	vals := make([]any, len(sch.PrimaryFields))
	for i, f := range sch.PrimaryFields {
		val, _ := f.ValueOf(db.Statement.Context, v)
		vals[i] = plain(val)
	}
	return formatID(vals)
}

// formatID formats primary key values: one key as itself, a composite
// key as a JSON array of strings, in the order of the model's primary
// key fields: ["7","admin"].
func formatID(vals []any) string {
	switch len(vals) {
	case 0:
		return ""
	case 1:
		return idString(vals[0])
	}
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = idString(v)
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func idString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		if len(x) == 16 && !utf8.Valid(x) {
			return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:])
		}
		return string(x)
	case fmt.Stringer:
		return x.String()
	case int64:
		return strconv.FormatInt(x, 10)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// plain returns v as the plain value a driver would store: pointers
// followed, driver.Valuer called, bytes as a string when they are text,
// times in UTC.
func plain(v any) (out any) {
	defer func() {
		if recover() != nil {
			out = fmt.Sprint(v)
		}
	}()
	for {
		switch x := v.(type) {
		case nil:
			return nil
		case time.Time:
			return x.UTC()
		case []byte:
			if utf8.Valid(x) {
				return string(x)
			}
			return bytes.Clone(x)
		case fmt.Stringer:
			if _, ok := x.(driver.Valuer); !ok && reflect.TypeOf(x).Kind() == reflect.Array {
				return x.String() // a UUID type without a Valuer
			}
		}
		if vl, ok := v.(driver.Valuer); ok {
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
				return nil
			}
			dv, err := vl.Value()
			if err != nil {
				return fmt.Sprint(v)
			}
			if _, again := dv.(driver.Valuer); again {
				return dv
			}
			v = dv
			continue
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
			if rv.IsNil() {
				return nil
			}
			v = rv.Elem().Interface()
			continue
		}
		return v
	}
}

// equal reports whether two plain values are the same value.
func equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			return fa == fb
		}
	}
	if sa, ok := a.(string); ok {
		if bb, ok := b.([]byte); ok {
			return sa == string(bb)
		}
	}
	if reflect.DeepEqual(a, b) {
		return true
	}
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	if ra.Kind() == reflect.String && rb.Kind() == reflect.String {
		return ra.String() == rb.String()
	}
	if ra.Kind() == reflect.Bool && rb.Kind() == reflect.Bool {
		return ra.Bool() == rb.Bool()
	}
	return false
}

func number(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

// repr describes model value v by its AuditRepr or String method.
func (p *Plugin) repr(v reflect.Value) (s string) {
	var x any
	if v.CanAddr() {
		x = v.Addr().Interface()
	} else if v.CanInterface() {
		x = v.Interface()
	} else {
		return ""
	}
	defer func() {
		if r := recover(); r != nil {
			p.report(fmt.Errorf("repr of %T panicked: %v", x, r))
			s = ""
		}
	}()
	switch m := x.(type) {
	case AuditReprer:
		s = m.AuditRepr()
	case fmt.Stringer:
		s = m.String()
	}
	if len(s) > activitylog.MaxTextField {
		s = s[:activitylog.MaxTextField]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// reprOf describes the row r of an update or delete when the statement
// was given the model value of that row.
func (p *Plugin) reprOf(db *gorm.DB, r row) string {
	stmt := db.Statement
	if stmt.Schema == nil {
		return ""
	}
	v := reflect.Indirect(stmt.ReflectValue)
	if v.Kind() != reflect.Struct || v.Type() != stmt.Schema.ModelType || idOf(db, stmt.Schema, v) != r.id {
		return ""
	}
	return p.repr(v)
}
