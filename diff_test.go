package activitylog

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

type dtAddress struct {
	Street string `json:"street"`
	City   string `json:"city"`
}

type dtItem struct {
	ID  int    `json:"id"`
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

// dtNull is a nullable column type, as sql.NullString or pgtype.Text.
type dtNull struct {
	S     string
	Valid bool
}

func (n dtNull) Value() (driver.Value, error) {
	if !n.Valid {
		return nil, nil
	}
	return n.S, nil
}

// dtJSONCol is a JSON column type whose Value is its JSON.
type dtJSONCol struct {
	A int    `json:"a"`
	B string `json:"b"`
}

func (c dtJSONCol) Value() (driver.Value, error) { return json.Marshal(c) }

type dtBase struct {
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type dtUser struct {
	dtBase
	ID       int64           `json:"id"`
	Name     string          `json:"name"`
	Email    string          // no tag: the Go name
	Password string          `json:"-"`
	Token    string          `audit:"-"`
	secret   string          //nolint:unused // unexported: ignored
	Address  dtAddress       `json:"address"`
	Billing  *dtAddress      `json:"billing"`
	Tags     []string        `json:"tags"`
	Items    []dtItem        `json:"items"`
	Meta     map[string]any  `json:"meta"`
	Prefs    json.RawMessage `json:"prefs"`
	Settings string          `json:"settings"`
	Nick     dtNull          `json:"nick"`
	Col      dtJSONCol       `json:"col"`
	Score    float64         `json:"score"`
	Big      int64           `json:"big"`
	Fn       func()          `json:"fn"`
	Any      any             `json:"any"`
}

var dtT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func dtBaseUser() dtUser {
	return dtUser{
		dtBase:  dtBase{CreatedAt: dtT0, UpdatedAt: dtT0},
		ID:      1,
		Name:    "Ann",
		Email:   "ann@example.com",
		Address: dtAddress{Street: "1 Main St", City: "Oslo"},
		Tags:    []string{"a"},
		Items:   []dtItem{{ID: 7, SKU: "A", Qty: 1}, {ID: 9, SKU: "C", Qty: 1}},
		Meta:    map[string]any{"plan": "free", "limits": map[string]any{"seats": 3.0}},
		Prefs:   json.RawMessage(`{"theme":"dark","font":12}`),
		Nick:    dtNull{},
		Col:     dtJSONCol{A: 1, B: "x"},
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	type M = map[string]Change
	cases := []struct {
		name   string
		change func(u *dtUser)
		opts   *DiffOptions
		want   M
	}{
		{"equal", func(u *dtUser) {}, nil, nil},
		{"scalars, go name, float", func(u *dtUser) { u.Name, u.Email, u.Score = "Bo", "bo@example.com", 2.5 }, nil,
			M{"name": {"Ann", "Bo"}, "Email": {"ann@example.com", "bo@example.com"}, "score": {0.0, 2.5}}},
		{"excluded by tag, unexported", func(u *dtUser) { u.Password, u.Token, u.secret = "p", "t", "s" }, nil, nil},
		{"unencodable kinds ignored", func(u *dtUser) { u.Fn = func() {} }, nil, nil},
		{"nested struct", func(u *dtUser) { u.Address.City = "Bergen" }, nil, M{"address.city": {"Oslo", "Bergen"}}},
		{"nil to non-nil pointer", func(u *dtUser) { u.Billing = &dtAddress{City: "Rome"} }, nil,
			M{"billing": {nil, map[string]any{"street": "", "city": "Rome"}}}},
		{"embedded fields, time compared with Equal", func(u *dtUser) {
			u.CreatedAt = dtT0.In(time.FixedZone("CET", 3600))
			u.UpdatedAt = dtT0.Add(time.Second)
		}, nil, M{"updated_at": {"2026-03-01T12:00:00Z", "2026-03-01T12:00:01Z"}}},
		{"keyed list by default id", func(u *dtUser) {
			u.Items = []dtItem{{ID: 8, SKU: "B", Qty: 5}, {ID: 7, SKU: "A", Qty: 2}}
		}, nil, M{
			"items[id=7].qty": {1.0, 2.0},
			"items[id=9]":     {map[string]any{"id": 9.0, "sku": "C", "qty": 1.0}, nil},
			"items[id=8]":     {nil, map[string]any{"id": 8.0, "sku": "B", "qty": 5.0}},
		}},
		{"ListKeys names the key", func(u *dtUser) { u.Items[0].Qty = 4 }, &DiffOptions{ListKeys: map[string]string{"items": "sku"}},
			M{"items[sku=A].qty": {1.0, 4.0}}},
		{"ListKeys - compares whole", func(u *dtUser) { u.Items = u.Items[:1] }, &DiffOptions{ListKeys: map[string]string{"items": "-"}},
			M{"items": {
				[]any{map[string]any{"id": 7.0, "sku": "A", "qty": 1.0}, map[string]any{"id": 9.0, "sku": "C", "qty": 1.0}},
				[]any{map[string]any{"id": 7.0, "sku": "A", "qty": 1.0}},
			}}},
		{"list of scalars whole", func(u *dtUser) { u.Tags = append(u.Tags, "b") }, nil, M{"tags": {[]any{"a"}, []any{"a", "b"}}}},
		{"nil list equals empty", func(u *dtUser) { u.Tags = nil }, nil, M{"tags": {[]any{"a"}, nil}}},
		{"map entries, dotted and odd keys, shape change in any", func(u *dtUser) {
			u.Meta = map[string]any{"plan": "pro", "limits": "none", "a.b": 1, "": true}
		}, nil, M{
			"meta.plan":   {"free", "pro"},
			"meta.limits": {map[string]any{"seats": 3.0}, "none"},
			`meta["a.b"]`: {nil, 1.0},
			`meta[""]`:    {nil, true},
		}},
		{"int and float equal in dynamic values", func(u *dtUser) { u.Meta["limits"] = map[string]int{"seats": 3} }, nil, nil},
		{"raw json diffed inside", func(u *dtUser) { u.Prefs = json.RawMessage(` {"font":12.0, "theme":"light"}`) }, nil,
			M{"prefs.theme": {"dark", "light"}}},
		{"valuer", func(u *dtUser) { u.Nick = dtNull{S: "bo", Valid: true} }, nil, M{"nick": {nil, "bo"}}},
		{"JSON valuer diffed inside", func(u *dtUser) { u.Col.B = "y" }, nil, M{"col.b": {"x", "y"}}},
		{"exclude bare and dotted", func(u *dtUser) {
			u.UpdatedAt = dtT0.Add(time.Hour)
			u.Address = dtAddress{Street: "2 Side St", City: "Bergen"}
			u.Meta["plan"] = "pro"
		}, &DiffOptions{Exclude: []string{"updated_at", "address.street", "plan"}}, M{"address.city": {"Oslo", "Bergen"}}},
		{"exclude inside list elements", func(u *dtUser) { u.Items[0].Qty = 3 }, &DiffOptions{Exclude: []string{"items.qty"}}, nil},
		{"exclusions apply to whole values", func(u *dtUser) { u.Billing = &dtAddress{Street: "x", City: "y"} }, &DiffOptions{Exclude: []string{"street"}},
			M{"billing": {nil, map[string]any{"city": "y"}}}},
		{"NaN equals NaN", func(u *dtUser) {}, nil, nil},
		{"big ints stay exact", func(u *dtUser) { u.Big = 1<<60 + 1 }, nil, M{"big": {0.0, json.Number("1152921504606846977")}}},
		{"interface field", func(u *dtUser) { u.Any = []int{1} }, nil, M{"any": {nil, []any{1.0}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			old, new := dtBaseUser(), dtBaseUser()
			if c.name == "NaN equals NaN" {
				old.Score, new.Score = math.NaN(), math.NaN()
			}
			c.change(&new)
			got, err := Diff(old, &new, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %#v\nwant %#v", got, c.want)
			}
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("not JSON-safe: %v", err)
			}
		})
	}
}

func TestDiffJSONFields(t *testing.T) {
	t.Parallel()
	type row struct {
		Settings string `json:"settings"`
		Blob     []byte `json:"blob"`
		Other    string `json:"other"`
	}
	old := row{Settings: `{"lang":"en","tz":"UTC"}`, Blob: []byte(`{"v":[1,2]}`), Other: `{"a":1}`}
	new := row{Settings: `{"tz":"UTC","lang":"nb"}`, Blob: []byte(`{"v":[1,3]}`), Other: `{"a":2}`}
	got, err := Diff(old, new, &DiffOptions{JSONFields: []string{"settings", "blob"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Change{
		"settings.lang": {"en", "nb"},
		"blob.v":        {[]any{1.0, 2.0}, []any{1.0, 3.0}},
		"other":         {`{"a":1}`, `{"a":2}`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	// Not JSON: compared as it is.
	got, err = Diff(row{Settings: "{bad"}, row{Settings: "{worse"}, &DiffOptions{JSONFields: []string{"settings"}})
	if err != nil || !reflect.DeepEqual(got, map[string]Change{"settings": {"{bad", "{worse"}}) {
		t.Errorf("invalid JSON: got %v, %v", got, err)
	}
}

func TestDiffCreateAndDelete(t *testing.T) {
	t.Parallel()
	a := dtAddress{Street: "1 Main St", City: "Oslo"}
	got, err := Diff(nil, &a, nil)
	want := map[string]Change{"street": {nil, "1 Main St"}, "city": {nil, "Oslo"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("create: got %v, %v", got, err)
	}
	var none *dtAddress
	got, err = Diff(a, none, nil)
	want = map[string]Change{"street": {"1 Main St", nil}, "city": {"Oslo", nil}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("delete: got %v, %v", got, err)
	}
	if got, err := Diff(nil, nil, nil); got != nil || err != nil {
		t.Errorf("nil, nil: got %v, %v", got, err)
	}
}

func TestDiffStructAndMap(t *testing.T) {
	t.Parallel()
	a := dtAddress{Street: "1 Main St", City: "Oslo"}
	got, err := Diff(a, map[string]any{"street": "1 Main St", "city": "Bergen"}, nil)
	if err != nil || !reflect.DeepEqual(got, map[string]Change{"city": {"Oslo", "Bergen"}}) {
		t.Errorf("same shape: got %v, %v", got, err)
	}
	got, err = Diff(map[string]any{"a": 1, "b": 2}, map[string]any{"b": 3, "c": 4}, nil)
	want := map[string]Change{"a": {1.0, nil}, "b": {2.0, 3.0}, "c": {nil, 4.0}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("maps: got %v, %v", got, err)
	}
}

func TestDiffErrors(t *testing.T) {
	t.Parallel()
	type other struct {
		Address string `json:"address"`
	}
	type withAddr struct {
		Address dtAddress `json:"address"`
	}
	type node struct {
		Name string `json:"name"`
		Next *node  `json:"next"`
	}
	x, y := &node{Name: "x"}, &node{Name: "y"}
	x.Next, y.Next = x, y
	cases := []struct {
		name      string
		old, new  any
		wantField string
	}{
		{"not an object", 3, map[string]any{}, "old"},
		{"list", map[string]any{}, []int{1}, "new"},
		{"extra key in map", dtAddress{}, map[string]any{"street": "", "city": "", "zip": "1"}, "zip"},
		{"missing key in map", dtAddress{}, map[string]string{"street": ""}, "city"},
		{"struct vs string", withAddr{}, other{Address: "x"}, "address"},
		{"cycle", x, y, strings.Repeat("next.", 32) + "name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Diff(c.old, c.new, nil)
			var fe *FieldError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) {
				t.Fatalf("got %v, %v; want ErrInvalid", got, err)
			}
			if fe.Field != c.wantField {
				t.Errorf("field %q, want %q (%v)", fe.Field, c.wantField, err)
			}
		})
	}
	// The same value is equal to itself without being walked, however
	// deep or cyclic.
	if got, err := Diff(x, x, nil); got != nil || err != nil {
		t.Errorf("Diff(x, x) of a cycle: %v, %v", got, err)
	}
	var deep any
	if err := json.Unmarshal([]byte(`{"x":`+strings.Repeat("[", 40)+"1"+strings.Repeat("]", 40)+`}`), &deep); err != nil {
		t.Fatal(err)
	}
	if got, err := Diff(deep, deep, nil); got != nil || err != nil {
		t.Errorf("Diff(x, x) of deep lists: %v, %v", got, err)
	}
}

func TestDiffTruncates(t *testing.T) {
	t.Parallel()
	old, new := map[string]int{}, map[string]int{}
	for i := range 1500 {
		k := "k" + strconv.Itoa(10000+i)
		old[k], new[k] = i, i+1
	}
	got, err := Diff(old, new, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxMapEntries {
		t.Errorf("%d changes, want %d", len(got), MaxMapEntries)
	}
	if c := got[DiffTruncatedKey]; c.New != float64(1500-MaxMapEntries+1) {
		t.Errorf("truncated: %v", c)
	}
	if _, ok := got["k10998"]; !ok {
		t.Errorf("first changes in key order not kept")
	}
	if _, ok := got["k10999"]; ok {
		t.Errorf("change %d kept", MaxMapEntries)
	}
	e := Event{Changes: got}
	if len(e.Changes) > MaxMapEntries {
		t.Error("too many changes for Validate")
	}
}

func TestDiffDeterministic(t *testing.T) {
	t.Parallel()
	old, new := dtBaseUser(), dtBaseUser()
	new.Meta = map[string]any{"z": 1, "y": map[string]any{"b": []any{1, 2}, "a": "x"}, "x": 2}
	new.Items = []dtItem{{ID: 3}, {ID: 2}, {ID: 1}}
	first, err := Diff(&old, &new, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(first)
	for range 20 {
		got, _ := Diff(&old, &new, nil)
		if b, _ := json.Marshal(got); string(b) != string(want) {
			t.Fatalf("not deterministic:\n%s\n%s", b, want)
		}
	}
}

// FuzzDiff diffs maps decoded from two JSON documents.
func FuzzDiff(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":{"c":[1,2]}}`), []byte(`{"a":2,"b":{"c":[1,3]},"d":null}`))
	f.Add([]byte(`{"items":[{"id":1,"q":1},{"id":2}]}`), []byte(`{"items":[{"id":2,"q":5},{"id":"1"}]}`))
	f.Add([]byte(`{"a.b":{"":1},"x[1]":"y"}`), []byte(`{"a":{"b":1},"x":["y"]}`))
	f.Add([]byte(`{"n":1e400,"m":-0}`), []byte(`[1]`))
	f.Add([]byte(`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, ja, jb []byte) {
		a, b := fuzzObject(ja), fuzzObject(jb)
		for _, x := range []map[string]any{a, b} {
			got, n, err := newDiffer(nil).run(x, x)
			if len(got) != 0 || n != 0 || err != nil {
				t.Fatalf("Diff(x, x) = %v, %v", got, err)
			}
		}
		got, n, err := newDiffer(nil).run(a, b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if n <= MaxMapEntries && len(got) != n || n > MaxMapEntries && len(got) != MaxMapEntries {
			t.Fatalf("%d changes found, %d kept: a key was reused", n, len(got))
		}
		enc, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("not JSON-safe: %v", err)
		}
		again, _ := Diff(a, b, nil)
		if enc2, _ := json.Marshal(again); string(enc) != string(enc2) {
			t.Fatalf("not deterministic")
		}
		if n > MaxMapEntries {
			return
		}
		back, err := Diff(b, a, nil)
		if err != nil || len(back) != len(got) {
			t.Fatalf("Diff(b, a): %d changes, %v; Diff(a, b): %d", len(back), err, len(got))
		}
		for k, c := range got {
			r, ok := back[k]
			if !ok || !reflect.DeepEqual(r.Old, c.New) || !reflect.DeepEqual(r.New, c.Old) {
				t.Fatalf("%s: Diff(a, b) %v, Diff(b, a) %v", k, c, r)
			}
		}
		// The same documents as JSON columns.
		type row struct {
			Doc json.RawMessage `json:"doc"`
		}
		if got, err := Diff(row{ja}, row{ja}, nil); got != nil || err != nil {
			t.Fatalf("Diff(raw, raw) = %v, %v", got, err)
		}
		if _, err := Diff(row{ja}, row{jb}, nil); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
	})
}

func fuzzObject(b []byte) map[string]any {
	var x any
	if json.Unmarshal(b, &x) != nil {
		return map[string]any{"raw": string(b)}
	}
	if m, ok := x.(map[string]any); ok {
		return m
	}
	return map[string]any{"v": x}
}

// dtRow is a 30-column row, as sqlc generates.
type dtRow struct {
	ID          int64      `json:"id"`
	TenantID    int64      `json:"tenant_id"`
	Number      string     `json:"number"`
	Status      string     `json:"status"`
	Customer    string     `json:"customer"`
	Email       string     `json:"email"`
	Phone       string     `json:"phone"`
	Street      string     `json:"street"`
	City        string     `json:"city"`
	Zip         string     `json:"zip"`
	Country     string     `json:"country"`
	Currency    string     `json:"currency"`
	Subtotal    int64      `json:"subtotal"`
	Tax         int64      `json:"tax"`
	Total       int64      `json:"total"`
	Discount    float64    `json:"discount"`
	Paid        bool       `json:"paid"`
	Shipped     bool       `json:"shipped"`
	Items       int32      `json:"items"`
	Weight      float64    `json:"weight"`
	Notes       string     `json:"notes"`
	Reference   *string    `json:"reference"`
	Carrier     string     `json:"carrier"`
	Tracking    string     `json:"tracking"`
	Priority    int        `json:"priority"`
	Source      string     `json:"source"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	CancelledAt *time.Time `json:"cancelled_at"`
}

func dtBenchRows() (dtRow, dtRow) {
	ref := "PO-1"
	old := dtRow{
		ID: 7, TenantID: 1, Number: "INV-7", Status: "draft", Customer: "Ann", Email: "ann@example.com",
		Phone: "+47 1234", Street: "1 Main St", City: "Oslo", Zip: "0150", Country: "NO", Currency: "NOK",
		Subtotal: 10000, Tax: 2500, Total: 12500, Discount: 0.1, Items: 3, Weight: 1.5, Notes: "leave at door",
		Reference: &ref, Carrier: "posten", Priority: 1, Source: "web", CreatedBy: "42",
		CreatedAt: dtT0, UpdatedAt: dtT0,
	}
	return old, old
}

func BenchmarkDiffStruct30Changed3(b *testing.B) {
	old, new := dtBenchRows()
	new.Status, new.Paid, new.UpdatedAt = "sent", true, dtT0.Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if ch, err := Diff(&old, &new, nil); err != nil || len(ch) != 3 {
			b.Fatal(ch, err)
		}
	}
}

func BenchmarkDiffStruct30Equal(b *testing.B) {
	old, new := dtBenchRows()
	b.ReportAllocs()
	for b.Loop() {
		if ch, err := Diff(&old, &new, nil); err != nil || len(ch) != 0 {
			b.Fatal(ch, err)
		}
	}
}

// BenchmarkDiffJSONMarshal is a reference: encoding both rows to JSON,
// the least a generic diff through JSON would cost.
func BenchmarkDiffJSONMarshal(b *testing.B) {
	old, new := dtBenchRows()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&old); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(&new); err != nil {
			b.Fatal(err)
		}
	}
}
