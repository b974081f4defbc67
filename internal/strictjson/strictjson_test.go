package strictjson_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/strictjson"
)

type inner struct {
	ID   string `json:"id"`
	Type string `json:"type,omitempty"`
}

type base struct {
	Tenant string `json:"tenant"`
	Shadow string `json:"shadow"`
}

type request struct {
	base
	Name    string            `json:"name"`
	Scopes  []string          `json:"scopes"`
	Port    int               `json:"port"`
	Actor   inner             `json:"actor"`
	Actors  []inner           `json:"actors"`
	Extra   map[string]any    `json:"extra"`
	Labels  map[string]string `json:"labels"`
	Expires *time.Time        `json:"expires_at"`
	ID      activitylog.ID    `json:"event_id"`
	Shadow  *string           `json:"shadow"` // shadows base.Shadow
	Skipped string            `json:"-"`
	Secret  struct {
		Password string `json:"password"`
	} `json:"secret"`
	Password string `json:"password"`
	Token    struct {
		Until time.Time `json:"until"`
	} `json:"token"`
	NoTag string
}

func TestUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		name, body     string
		field, value   string // "" field: accepted
		reasonContains string
	}{
		{"plain", `{"name":"k","scopes":["ingest"],"port":5432,"actor":{"id":"u1"}}`, "", "", ""},
		{"embedded field", `{"tenant":"acme"}`, "", "", ""},
		{"shadowing field", `{"shadow":"x"}`, "", "", ""},
		{"untagged field by its Go name", `{"NoTag":"x"}`, "", "", ""},
		{"a valid surrogate pair", `{"name":"\ud83d\ude00"}`, "", "", ""},
		{"raw UTF-8", `{"name":"café ✓"}`, "", "", ""},
		{"map keys are free", `{"extra":{"Name":1,"name":2}}`, "", "", ""},
		{"null time", `{"expires_at":null}`, "", "", ""},

		{"duplicate member", `{"scopes":["ingest"],"scopes":["view_logs"]}`, "scopes", "", "twice"},
		{"duplicate in a map", `{"labels":{"a":"1","a":"2"}}`, "labels.a", "", "twice"},
		{"duplicate in an any", `{"extra":{"x":{"y":1,"y":2}}}`, "extra.x.y", "", "twice"},
		{"duplicate through an escape", `{"name":"a","n\u0061me":"b"}`, "name", "", "twice"},
		{"case variant", `{"Scopes":["view_logs"]}`, "Scopes", `["view_logs"]`, `did you mean "scopes"`},
		{"case variant beside the field", `{"confirm":"x","Name":"y"}`, "confirm", "", "known are"},
		{"case variant, nested", `{"actor":{"ID":"u1"}}`, "actor.ID", "u1", `did you mean "id"`},
		{"case variant in an array", `{"actors":[{"id":"a"},{"Type":"t"}]}`, "actors[1].Type", "t", `did you mean "type"`},
		{"unknown member", `{"nope":1}`, "nope", "", "known are tenant, shadow, name, scopes"},
		{"the - field is unknown", `{"Skipped":"x"}`, "Skipped", "", "is not a field"},
		// A review's findings.
		{"a bad name is the object's, not its sibling's", `{"extra":{"ok":1,"k\udc00":2}}`, "extra", "", "lone surrogate"},
		{"a bad name at the top", "{\"name\":\"a\",\"b\xff\":1}", "body", "", "is not UTF-8"},
		{"a secret under a key with brackets", `{"extra":{"user[password]":"hunter2\ud800"}}`, "extra.user[password]", "", "lone surrogate"},
		{"a secret in trailing data", `{"name":"a"} {"password":"hunter2"}`, "body", `{"password":"[REDACTED]"}`, "more follows"},
		{"a misspelt secret's value", `{"pasword":"hunter2"}`, "pasword", "", "is not a field"},
		{"a large object is named by its size", `{"name":{"a":"` + strings.Repeat("x", 5000) + `"}}`, "name", "(an object of 5008 bytes)", "want a string"},
		{"invalid UTF-8", "{\"name\":\"a\xffb\"}", "name", `a\xffb`, "is not UTF-8"},
		{"invalid UTF-8 in a name", "{\"n\xffme\":1}", "body", "", "is not UTF-8"},
		{"invalid UTF-8 deep in an any", "{\"extra\":{\"a\":[\"\xc3\"]}}", "extra.a[0]", "", "is not UTF-8"},
		{"lone high surrogate", `{"name":"\ud800"}`, "name", `\ud800`, "lone surrogate"},
		{"high then high", `{"name":"\ud800\ud800"}`, "name", "", "lone surrogate"},
		{"lone low surrogate", `{"actor":{"id":"x\udc00"}}`, "actor.id", "", "lone surrogate"},
		{"bad time names its member", `{"expires_at":"yesterday"}`, "expires_at", "yesterday", "cannot be decoded"},
		{"bad id names its member", `{"event_id":"nope"}`, "event_id", "", ""},
		{"wrong type names member and value", `{"port":"5432"}`, "port", "5432", "want an integer"},
		{"wrong type, nested", `{"actor":{"id":7}}`, "actor.id", "7", "want a string"},
		{"wrong type of the whole", `[1]`, "body", "", "want an object"},
		{"empty", ` `, "body", "", "is empty"},
		{"a secret's decoding error does not quote it", `{"token":{"until":"hunter2"}}`, "token.until", "", "cannot be decoded"},
		{"a password's value is not shown", `{"password":42}`, "password", "", "want a string"},
		{"nor one below it", `{"password":"x\ud800y"}`, "password", "", "lone surrogate"},
		{"nor a case variant's", `{"Password":"hunter2"}`, "Password", "", "did you mean"},
		{"nor a duplicate's", `{"name":"n","password":"a","password":"b"}`, "password", "", "twice"},
		{"a card number is masked", `{"name":"4111111111111111"}`, "", "", ""},
		{"in an error too", `{"port":"4111 1111 1111 1111"}`, "port", "", "want an integer"},
		{"a secret inside an object shown", `{"name":{"password":"hunter2"}}`, "name", `{"password":"[REDACTED]"}`, "want a string"},
		{"trailing data", `{"name":"a"} {"name":"b"}`, "body", `{"name":"b"}`, "more follows"},
		{"truncated", `{"name":`, "body", "", "JSON"},
		{"too deep", `{"extra":{"a":` + strings.Repeat("[", 1100) + strings.Repeat("]", 1100) + `}}`, "", "", "deeper than 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v request
			err := strictjson.Unmarshal([]byte(tc.body), &v)
			if tc.field == "" && tc.reasonContains == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			fe, ok := errors.AsType[*activitylog.FieldError](err)
			if !ok {
				t.Fatalf("error %v (%T), want a *FieldError", err, err)
			}
			if !errors.Is(err, activitylog.ErrInvalid) {
				t.Errorf("%v does not wrap ErrInvalid", err)
			}
			if tc.field != "" && fe.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, tc.field, err)
			}
			if strings.Contains(fe.Value, "hunter2") || strings.Contains(fe.Reason, "hunter2") || strings.Contains(fe.Value, "1111 1111") ||
				strings.Contains(strings.ToLower(fe.Field), "password") && fe.Value != "" {
				t.Errorf("the error shows a secret: %v", err)
			}
			if tc.value != "" && fe.Value != tc.value {
				t.Errorf("value %q, want %q (%v)", fe.Value, tc.value, err)
			}
			if !strings.Contains(fe.Reason, tc.reasonContains) {
				t.Errorf("reason %q, want it to hold %q", fe.Reason, tc.reasonContains)
			}
		})
	}
}

// What Unmarshal takes, it decodes as encoding/json does.
func TestUnmarshalAgreesWithEncodingJSON(t *testing.T) {
	body := `{"tenant":"t","name":"k","scopes":["a","b"],"port":1,"actor":{"id":"u","type":"user"},"actors":[{"id":"x"}],
		"extra":{"n":1.5,"o":{"p":[true,null]}},"labels":{"a":"b"},"expires_at":"2026-01-02T03:04:05Z",
		"event_id":"01900000-0000-7000-8000-000000000000","shadow":"s","NoTag":"n","name2":null}`
	body = strings.Replace(body, `,"name2":null`, "", 1)
	var a, b request
	if err := strictjson.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("strict %+v\njson   %+v", a, b)
	}
}

// Whatever the input, Unmarshal does not panic, answers with a
// *FieldError or nil, and what it takes encoding/json takes the same
// way.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{"name":"k","scopes":["ingest"]}`, `{"Scopes":[]}`, `{"a":1,"a":2}`, `{"name":"\ud800"}`, "{\"name\":\"\xff\"}",
		`{"extra":{"x":[1,{"y":"\ud83d\ude00"}]}}`, `{"expires_at":"2026-01-02T03:04:05Z"}`, `[]`, `null`, `"s"`, `{"actor":{"id":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a request
		err := strictjson.Unmarshal(data, &a)
		if err != nil {
			if _, ok := errors.AsType[*activitylog.FieldError](err); !ok {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			return
		}
		var b request
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatalf("strict took %q, encoding/json refused it: %v", data, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: strict %+v, json %+v", data, a, b)
		}
	})
}

func TestContentType(t *testing.T) {
	for ct, ok := range map[string]bool{
		"application/json": true, "application/json; charset=utf-8": true, "Application/JSON; charset=UTF-8": true,
		"application/json;charset=utf8": true,
		"":                              false, "text/plain": false, "application/x-www-form-urlencoded": false, "application/json; charset=latin1": false,
		"application/json-seq": false, "application/json; charset=\"": false,
	} {
		err := strictjson.ContentType(ct)
		if (err == nil) != ok {
			t.Errorf("%q: %v, want accepted %v", ct, err, ok)
		}
		if me, isMe := errors.AsType[*strictjson.MediaTypeError](err); err != nil && (!isMe || me.Value != ct) {
			t.Errorf("%q: %v, want a *MediaTypeError naming it", ct, err)
		}
	}
}

// With Options.Valid, data that is not valid JSON after all is left to
// the decoder, never a panic.
func TestCheckValidVouchedWrongly(t *testing.T) {
	for _, s := range []string{`{"name":"a`, `{"name":`, `{`, `[1,`, `"\u12`, `{"a":1,"a"`, `{"name":"\ud800`} {
		var v request
		err := strictjson.Check([]byte(s), reflect.TypeOf(v), strictjson.Options{Valid: true})
		if err != nil {
			if _, ok := errors.AsType[*activitylog.FieldError](err); !ok {
				t.Errorf("%q: %v", s, err)
			}
		}
	}
}

// Check with Options.Valid answers as Check without it, for any data:
// the same error for valid JSON, and never a panic for invalid.
func FuzzCheckValid(f *testing.F) {
	for _, s := range []string{`{"name":"k"}`, `{"a":1,"a":2}`, `{"Name":1}`, `{"name":"\ud800"}`, `[{"x":[1,{"y":2}]}]`, `{"name":"a`} {
		f.Add([]byte(s))
	}
	typ := reflect.TypeFor[request]()
	f.Fuzz(func(t *testing.T, data []byte) {
		vouched := strictjson.Check(data, typ, strictjson.Options{Valid: true})
		if !json.Valid(data) {
			return
		}
		checked := strictjson.Check(data, typ, strictjson.Options{})
		if (vouched == nil) != (checked == nil) || vouched != nil && vouched.Error() != checked.Error() {
			t.Fatalf("%q: vouched %v, checked %v", data, vouched, checked)
		}
	})
}

// Field names are resolved as encoding/json resolves them: a review
// found these shapes resolved otherwise.
func TestFieldResolutionAsEncodingJSON(t *testing.T) {
	type A1 struct{ Name string }
	type B1 struct {
		Name string `json:",omitempty"`
	}
	type omit struct {
		A1
		B1
		N string `json:"name"`
	}
	type A2 struct {
		X string `json:"X"`
	}
	type B2 struct{ X string }
	type tieTagged struct {
		A2
		B2
	}
	type badTag struct {
		F string `json:"it's"`
	}
	for _, tc := range []struct {
		name    string
		v       any
		body    string
		refused bool // strict must refuse it
	}{
		// encoding/json drops the two Names of one depth and puts
		// "Name" into N by case: the body says two things.
		{"a tag with options only is no name", &omit{}, `{"name":"a","Name":"b"}`, true},
		{"at one depth the tagged field wins", &tieTagged{}, `{"X":"v"}`, false},
		{"a tag encoding/json rejects is ignored", &badTag{}, `{"F":"v"}`, false},
		{"and its text is no name", &badTag{}, `{"it's":"v"}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			strict := strictjson.Unmarshal([]byte(tc.body), tc.v)
			if (strict != nil) != tc.refused {
				t.Fatalf("strict: %v, want refused %v", strict, tc.refused)
			}
			dec := json.NewDecoder(strings.NewReader(tc.body))
			dec.DisallowUnknownFields()
			plain := dec.Decode(reflect.New(reflect.TypeOf(tc.v).Elem()).Interface())
			// Strict may refuse more (a case variant), never less, and
			// never refuse as unknown what encoding/json takes exactly.
			if strict == nil && plain != nil {
				t.Fatalf("strict took it, encoding/json refused: %v", plain)
			}
			if strict != nil && plain == nil && strings.Contains(strict.Error(), "known are") && !strings.Contains(strict.Error(), "did you mean") {
				t.Fatalf("refused as unknown what encoding/json takes: %v", strict)
			}
		})
	}
}
