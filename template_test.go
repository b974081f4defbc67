package activitylog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

type tmItem struct {
	ID    int     `json:"id"`
	Name  string  `json:"name"`
	Price float64 `json:"price"`
	SKU   string  // no tag: found by its Go name
	Owner *tmUser `json:"owner"`
	Hash  string  `json:"-"`
	Key   string  `audit:"-"`
	note  string
}

type tmUser struct {
	Name string `json:"name"`
}

type tmStatus int

func (s tmStatus) String() string { return [...]string{"draft", "sent"}[s] }

func TestRenderMessage(t *testing.T) {
	t.Parallel()
	item := &tmItem{ID: 7, Name: "Lamp", Price: 12.5, SKU: "L-1", Owner: &tmUser{Name: "Ann"}, Hash: "h", Key: "k", note: "n"}
	values := map[string]any{
		"item":   item,
		"actor":  map[string]any{"name": "Bo", "roles": []string{"admin", "dev"}},
		"items":  []tmItem{{Name: "first"}, {Name: "second"}},
		"flat.k": "flat",
		"n":      3,
		"big":    int64(1) << 60,
		"f":      0.25,
		"ok":     true,
		"when":   time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		"status": tmStatus(1),
		"err":    errors.New("boom"),
		"brace":  "{n} and {{n}}",
		"nilptr": (*tmUser)(nil),
		"nil":    nil,
		"obj":    tmUser{Name: "x"},
	}
	cases := []struct{ tmpl, want string }{
		{"Item {item.name} was updated by {actor.name}", "Item Lamp was updated by Bo"},
		{"json name {item.price}, Go name {item.SKU}, also {item.Name}", "json name 12.5, Go name L-1, also Lamp"},
		{"pointer {item.owner.name}", "pointer Ann"},
		{"index {items.1.name} {actor.roles.0}", "index second admin"},
		{"bad index {items.2.name} {items.-1.name} {items.x}", "bad index {items.2.name?} {items.-1.name?} {items.x?}"},
		{"flat key {flat.k}", "flat key flat"},
		{"numbers {n} {big} {f} {ok}", "numbers 3 1152921504606846976 0.25 true"},
		{"time {when}", "time 2026-03-01T12:00:00Z"},
		{"stringer {status}, error {err}", "stringer sent, error boom"},
		{"json {obj}", `json {"name":"x"}`},
		{"missing {nope} {item.nope} {actor.name.x}", "missing {nope?} {item.nope?} {actor.name.x?}"},
		{"nil {nilptr.name} {nil} {item.Hash} {item.Key} {item.note}", "nil {nilptr.name?} {nil?} {item.Hash?} {item.Key?} {item.note?}"},
		{"values are not expanded: {brace}", "values are not expanded: {n} and {{n}}"},
		{"escapes {{n}} }} {{{n}}}", "escapes {n} } {3}"},
		{"stray { brace {} and } and {a{n}", "stray { brace {} and } and {a3"},
		{"odd paths {item.} {.name} {item..name}", "odd paths {item.?} {.name?} {item..name?}"},
		{"unclosed {n", "unclosed {n"},
		{"", ""},
	}
	for _, c := range cases {
		if got := activitylog.RenderMessage(c.tmpl, values); got != c.want {
			t.Errorf("RenderMessage(%q)\n got  %q\n want %q", c.tmpl, got, c.want)
		}
	}
	if got := activitylog.RenderMessage("a {x} b", nil); got != "a {x?} b" {
		t.Errorf("nil values: %q", got)
	}
}

func TestRenderMessageClips(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", activitylog.MaxTextField)
	got := activitylog.RenderMessage("x{v}", map[string]any{"v": long})
	if len(got) > activitylog.MaxTextField || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("clipped to %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if got := activitylog.RenderMessage(strings.Repeat("{{", activitylog.MaxTextField), nil); len(got) > activitylog.MaxTextField {
		t.Errorf("template not clipped: %d", len(got))
	}
}

func TestSetMessage(t *testing.T) {
	t.Parallel()
	shared := map[string]any{"keep": 1.0}
	item := &tmItem{Name: "Lamp", Price: 12.5, Owner: &tmUser{Name: "Ann"}}
	e := activitylog.Event{Extra: shared}
	tmpl := "Item {item.name} ({item.price}, {when}, {status}) by {item.owner.name}; {gone}"
	e.SetMessage(tmpl, map[string]any{"item": item, "when": time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "status": tmStatus(0)})
	if want := "Item Lamp (12.5, 2026-03-01T00:00:00Z, draft) by Ann; {gone?}"; e.Message != want {
		t.Errorf("message %q, want %q", e.Message, want)
	}
	if len(shared) != 1 {
		t.Errorf("SetMessage changed the caller's map: %v", shared)
	}
	if e.Extra["keep"] != 1.0 || e.Extra[activitylog.ExtraMessageTemplate] != tmpl {
		t.Errorf("extra %v", e.Extra)
	}
	kept := e.Extra[activitylog.ExtraMessageValues].(map[string]any)
	if got, want := slices.Sorted(maps.Keys(kept)), []string{"item.name", "item.owner.name", "item.price", "status", "when"}; !slices.Equal(got, want) {
		t.Errorf("kept values %v, want %v", got, want)
	}
	if kept["item.price"] != 12.5 || kept["item.name"] != "Lamp" {
		t.Errorf("kept %v", kept)
	}
	// The object is renamed, then deleted: the stored event still renders.
	item.Name, item.Owner = "Renamed", nil
	b, err := json.Marshal(e.Extra)
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ Extra map[string]any }
	if err := json.Unmarshal(b, &back.Extra); err != nil {
		t.Fatal(err)
	}
	again := activitylog.RenderMessage(back.Extra["message_template"].(string), back.Extra["message_values"].(map[string]any))
	if again != e.Message {
		t.Errorf("rendered again: %q, want %q", again, e.Message)
	}
}

// FuzzRenderMessage checks that rendering never panics, keeps valid
// UTF-8 valid, inserts values verbatim (their braces never expand), and
// that SetMessage's kept values render the same message.
func FuzzRenderMessage(f *testing.F) {
	f.Add("Item {item.name} by {a}", "Lamp", "{a}")
	f.Add("{{a}} {a} }{ {", "{{x}}", "}")
	f.Add("{item.name}{item.name}{a", "é", "")
	f.Add("{a.b.c}", "x", "y")
	f.Fuzz(func(t *testing.T, tmpl, v1, v2 string) {
		values := map[string]any{"a": v1, "item": map[string]any{"name": v2}, "n": 3}
		got := activitylog.RenderMessage(tmpl, values)
		if utf8.ValidString(tmpl) && utf8.ValidString(v1) && utf8.ValidString(v2) && !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 %q", got)
		}
		if len(got) > activitylog.MaxTextField {
			t.Fatalf("%d bytes", len(got))
		}
		// Values are written verbatim: rendering with markers and then
		// putting the values in place of the markers gives the same.
		const m1, m2 = "\x00", "\x01"
		if len(tmpl)+len(v1)+len(v2) < 4096 && !strings.ContainsAny(tmpl+v1+v2, m1+m2) {
			marked := activitylog.RenderMessage(tmpl, map[string]any{"a": m1, "item": map[string]any{"name": m2}, "n": 3})
			// A placeholder naming a whole object ({item}) renders it as
			// JSON, which escapes the markers (and would escape the
			// values too): the substitution cannot stand in for that.
			jsonMarked := strings.Contains(marked, `\u0000`) || strings.Contains(marked, `\u0001`)
			if want := strings.NewReplacer(m1, v1, m2, v2).Replace(marked); !jsonMarked && got != want {
				t.Fatalf("values expanded:\n got  %q\n want %q", got, want)
			}
		}
		var e activitylog.Event
		e.SetMessage(tmpl, values)
		if e.Message != got {
			t.Fatalf("SetMessage %q, RenderMessage %q", e.Message, got)
		}
		kept := e.Extra[activitylog.ExtraMessageValues].(map[string]any)
		if again := activitylog.RenderMessage(tmpl, kept); again != got {
			t.Fatalf("kept values render %q, want %q", again, got)
		}
	})
}

func ExampleDiff() {
	type Address struct {
		City string `json:"city"`
	}
	type Line struct {
		ID  int `json:"id"`
		Qty int `json:"qty"`
	}
	type Order struct {
		ID        int       `json:"id"`
		Status    string    `json:"status"`
		Address   Address   `json:"address"`
		Lines     []Line    `json:"lines"`
		Secret    string    `audit:"-"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	before := Order{ID: 7, Status: "draft", Address: Address{City: "Oslo"}, Lines: []Line{{1, 1}, {2, 5}}}
	after := before
	after.Status, after.Address.City, after.Secret = "sent", "Bergen", "x"
	after.Lines = []Line{{1, 3}, {3, 1}}
	after.UpdatedAt = time.Now()

	changes, err := activitylog.Diff(&before, &after, &activitylog.DiffOptions{Exclude: []string{"updated_at"}})
	if err != nil {
		panic(err)
	}
	for _, k := range slices.Sorted(maps.Keys(changes)) {
		fmt.Printf("%s: %v → %v\n", k, changes[k].Old, changes[k].New)
	}
	// Output:
	// address.city: Oslo → Bergen
	// lines[id=1].qty: 1 → 3
	// lines[id=2]: map[id:2 qty:5] → <nil>
	// lines[id=3]: <nil> → map[id:3 qty:1]
	// status: draft → sent
}

func ExampleEvent_SetMessage() {
	type Item struct {
		Name string `json:"name"`
	}
	e := activitylog.Event{Kind: activitylog.KindCRUD, Action: "update"}
	e.SetMessage("Item {item.name} was updated by {actor.name} {{v2}}", map[string]any{
		"item":  &Item{Name: "Lamp"},
		"actor": activitylog.Actor{ID: "42", Name: "Ann"},
	})
	fmt.Println(e.Message)
	fmt.Println(e.Extra["message_values"])
	// Output:
	// Item Lamp was updated by Ann {v2}
	// map[actor.name:Ann item.name:Lamp]
}
