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
	// Sent quoted: encoding/json decodes the JSON inside the string.
	Count *int64   `json:"count,string"`
	Small int8     `json:"small,string"`
	Ratio *float64 `json:"ratio,string"`
	On    bool     `json:"on,string"`
	Label string   `json:"label,string"`
	// Keys that are not the member's name as it is.
	ByNum   map[int]string `json:"by_num"`
	ByLevel map[level]int  `json:"by_level"`
}

// level decodes itself, in any case: "INFO" is info.
type level string

func (l *level) UnmarshalText(b []byte) error {
	switch s := strings.ToLower(string(b)); s {
	case "info", "warn":
		*l = level(s)
		return nil
	}
	return errors.New("not a level: want info or warn")
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
		{"quoted fields", `{"count":"-42","small":"-128","ratio":"1.5e3","on":"false","label":"\"x\""}`, "", "", ""},
		{"a quoted field null", `{"count":null,"small":null}`, "", "", ""},
		{"a quoted field holding null", `{"count":"null","label":"null"}`, "", "", ""},
		{"integer keys", `{"by_num":{"1":"a","-1":"b","10":"c"}}`, "", "", ""},
		{"keys that decode themselves", `{"by_level":{"info":1,"WARN":2}}`, "", "", ""},

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
		// ",string": the JSON inside the string, as json.Marshal writes
		// it; encoding/json takes more there, and would store 1 for
		// "01", -Inf, 8 for "0x1p3", U+FFFD for a lone surrogate.
		{"a quoted field not a string", `{"count":42}`, "count", "42", `must be a string holding an integer in JSON: this field is sent quoted, as "42"`},
		{"a quoted field holding an object", `{"count":{"a":1}}`, "count", `{"a":1}`, "must be a string holding an integer"},
		{"a leading zero", `{"count":"01"}`, "count", "01", "must be a string holding an integer"},
		{"a plus", `{"count":"+1"}`, "count", "+1", "must be a string holding an integer"},
		{"space around it", `{"count":" 1"}`, "count", " 1", "must be a string holding an integer"},
		{"empty", `{"count":""}`, "count", "", "must be a string holding an integer"},
		{"a fraction for an integer", `{"count":"1.5"}`, "count", "1.5", "must be a string holding an integer"},
		{"too large for int64", `{"count":"9223372036854775808"}`, "count", "9223372036854775808", "out of the range of int64"},
		{"too large for int8", `{"small":"128"}`, "small", "128", "out of the range of int8"},
		{"-Inf", `{"ratio":"-Inf"}`, "ratio", "-Inf", "must be a string holding a number"},
		{"a hex float", `{"ratio":"0x1p3"}`, "ratio", "0x1p3", "must be a string holding a number"},
		{"too large for float64", `{"ratio":"1e400"}`, "ratio", "1e400", "out of the range of float64"},
		{"a bool spelt otherwise", `{"on":"True"}`, "on", "True", `must be a string holding true or false in JSON: this field is sent quoted, as "true"`},
		{"a string not quoted inside", `{"label":"x"}`, "label", "x", `must be a string holding a string in JSON`},
		{"a lone surrogate inside", `{"label":"\"a\\ud800\""}`, "label", `a\ud800`, "lone surrogate"},
		{"a quoted duplicate", `{"count":"1","count":"2"}`, "count", "", "twice"},
		{"an object inside", `{"count":"{\"a\":1,\"a\":2}"}`, "count", "", "must be a string holding an integer"},
		{"a card number quoted is masked", `{"count":"4111 1111 1111 1111"}`, "count", "", "must be a string"},
		// Map keys: the names differ, the keys do not.
		{"1 and 01", `{"by_num":{"1":"a","01":"b"}}`, "by_num.01", "", `is the same key as "1", given before in this object`},
		{"1 and +1", `{"by_num":{"1":"a","+1":"b"}}`, "by_num.+1", "", `same key as "1"`},
		{"0 and -0", `{"by_num":{"0":"a","-0":"b"}}`, "by_num.-0", "", `same key as "0"`},
		{"a key escaped", `{"by_num":{"1":"a","\u0031":"b"}}`, "by_num.1", "", "twice"},
		{"a key that is no integer", `{"by_num":{"x":"a"}}`, "by_num.x", "x", "is not a key of this object: the keys are integers that fit int"},
		{"a key that decodes itself to another's", `{"by_level":{"info":1,"INFO":2}}`, "by_level.INFO", "", `same key as "info"`},
		{"a key that does not decode", `{"by_level":{"debug":1}}`, "by_level.debug", "debug", "not a level"},
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
		"event_id":"01900000-0000-7000-8000-000000000000","shadow":"s","NoTag":"n","name2":null,
		"count":"7","small":"-3","ratio":"2.5","on":"true","label":"\"l\"","by_num":{"1":"a","-2":"b"},"by_level":{"INFO":3}}`
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
		`{"count":"12","small":"-1","ratio":"1e3","on":"true","label":"\"a\""}`, `{"count":"01"}`, `{"ratio":"-Inf"}`, `{"count":"null"}`,
		`{"by_num":{"1":"a","01":"b"}}`, `{"by_level":{"INFO":1,"info":2}}`, `{"label":"\"\\ud800\""}`,
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
	for _, s := range []string{`{"name":"k"}`, `{"a":1,"a":2}`, `{"Name":1}`, `{"name":"\ud800"}`, `[{"x":[1,{"y":2}]}]`, `{"name":"a`,
		`{"count":"1"}`, `{"label":"\"\\ud800\""}`, `{"by_num":{"1":"a","+1":"b"}}`} {
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

// Under NoNull, a field sent quoted may not hold null either: encoding/json
// takes "null" there as null, leaving the field as it is.
func TestQuotedNoNull(t *testing.T) {
	typ := reflect.TypeFor[request]()
	for _, body := range []string{`{"count":"null"}`, `{"small":"null"}`, `{"count":null}`} {
		err := strictjson.Check([]byte(body), typ, strictjson.Options{NoNull: true})
		fe, ok := errors.AsType[*activitylog.FieldError](err)
		if !ok || fe.Value != "null" || !strings.Contains(fe.Reason, "cannot be null") {
			t.Errorf("%s: %v, want a null refused", body, err)
		}
	}
	if err := strictjson.Check([]byte(`{"count":"null"}`), typ, strictjson.Options{NoNull: true, Nullable: []string{"count"}}); err != nil {
		t.Errorf("a nullable field: %v", err)
	}
}
