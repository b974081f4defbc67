package activitylog_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
)

func TestRedactorString(t *testing.T) {
	t.Parallel()
	r := activitylog.NewRedactor(nil)
	cases := []struct{ in, want string }{
		{"visa 4111111111111111 ok", "visa ************1111 ok"},
		{"spaced 4111 1111 1111 1111.", "spaced **** **** **** 1111."},
		{"dashed 5500-0000-0000-0004", "dashed ****-****-****-0004"},
		{"amex 378282246310005", "amex ***********0005"},
		{"iban DE89 3704 0044 0532 0130 00 paid", "iban **** **** **** **** **30 00 paid"},
		{"iban GB82WEST12345698765432", "iban ******************5432"},
		// Not cards: fails Luhn, unix-ms timestamp, too long, inside a word, order number.
		{"luhn-bad 4111111111111112", "luhn-bad 4111111111111112"},
		{"ts 1763850000000", "ts 1763850000000"},
		{"long 41111111111111111111111", "long 41111111111111111111111"},
		{"id abc4111111111111111", "id abc4111111111111111"},
		{"bad iban DE00370400440532013000", "bad iban DE00370400440532013000"},
		{"short", "short"},
	}
	for _, c := range cases {
		if got := r.String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRedactorKeys(t *testing.T) {
	t.Parallel()
	r := activitylog.NewRedactor(&activitylog.RedactOptions{ExtraKeys: []string{"diagnosis"}})
	for key, want := range map[string]bool{
		"password": true, "new_password": true, "X-Api-Key": true, "clientSecret": true,
		"Authorization": true, "Set-Cookie": true, "refresh_token": true, "Diagnosis": true,
		"name": false, "email": false, "status": false,
	} {
		if got := r.Sensitive(key); got != want {
			t.Errorf("Sensitive(%q) = %v, want %v", key, got, want)
		}
	}
	only := activitylog.NewRedactor(&activitylog.RedactOptions{Keys: []string{"ssn"}})
	if only.Sensitive("password") || !only.Sensitive("user_ssn") {
		t.Error("Keys did not replace the default list")
	}
}

func TestRedactorNestedValuesAndBodies(t *testing.T) {
	t.Parallel()
	r := activitylog.NewRedactor(nil)
	type creds struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	m := r.Map(map[string]any{
		"nested": map[string]any{"token": "t0k", "list": []any{map[string]any{"secret": 1}, "4111111111111111"}},
		"struct": creds{User: "ann", Password: "pw"},
		"n":      42,
	})
	b, _ := json.Marshal(m)
	got := string(b)
	for _, leak := range []string{"t0k", `"secret":1`, "4111111111111111", `"pw"`} {
		if strings.Contains(got, leak) {
			t.Errorf("leaked %s in %s", leak, got)
		}
	}
	if !strings.Contains(got, `"user":"ann"`) || !strings.Contains(got, `"n":42`) {
		t.Errorf("lost plain values: %s", got)
	}

	bodies := []struct{ in, leak, keep string }{
		{`{"username":"ann","password":"hunter2"}`, "hunter2", `"username":"ann"`},
		{`[{"card_number":"x"},{"ok":1}]`, `"x"`, `"ok":1`},
		{`username=ann&password=hunter2`, "hunter2", "username=ann"},
		{`plain text with 4111 1111 1111 1111 inside`, "4111 1111 1111 1111", "plain text"},
	}
	for _, c := range bodies {
		out := r.Body(c.in)
		if strings.Contains(out, c.leak) || !strings.Contains(out, c.keep) {
			t.Errorf("Body(%q) = %q", c.in, out)
		}
	}
	if q := r.Query("a=1&access_token=zzz"); strings.Contains(q, "zzz") || !strings.Contains(q, "a=1") {
		t.Errorf("Query = %q", q)
	}
	if u := r.URL("https://x.test/cb?code=1&token=zzz#frag"); strings.Contains(u, "zzz") || !strings.HasSuffix(u, "#frag") {
		t.Errorf("URL = %q", u)
	}
}

func TestRedactorHMAC(t *testing.T) {
	t.Parallel()
	r := activitylog.NewRedactor(&activitylog.RedactOptions{HMACKey: []byte("k")})
	a := r.Value("password", "hunter2")
	b := r.Value("password", "hunter2")
	c := r.Value("password", "other")
	s, _ := a.(string)
	if !strings.HasPrefix(s, "hmac-sha256:") || len(s) != len("hmac-sha256:")+64 {
		t.Fatalf("got %v", a)
	}
	if a != b || a == c {
		t.Errorf("hmac not stable or not distinct: %v %v %v", a, b, c)
	}
	// The documented form: HMAC-SHA256 over the string's bytes.
	m := hmac.New(sha256.New, []byte("k"))
	m.Write([]byte("hunter2"))
	if want := "hmac-sha256:" + hex.EncodeToString(m.Sum(nil)); s != want {
		t.Errorf("got %s, want %s", s, want)
	}
	// Non-strings are hashed in their canonical JSON form.
	m = hmac.New(sha256.New, []byte("k"))
	m.Write([]byte(`{"a":1,"b":[true,null]}`))
	if got, want := r.Value("secret", map[string]any{"b": []any{true, nil}, "a": 1}), "hmac-sha256:"+hex.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("map hashed to %v, want %s", got, want)
	}
}

func TestRedactEventMakesValuesJSONSafe(t *testing.T) {
	t.Parallel()
	r := activitylog.NewRedactor(nil)
	e := activitylog.Event{Extra: map[string]any{"ch": make(chan int), "big": int64(1) << 60}}
	r.Event(&e)
	if _, err := json.Marshal(e); err != nil {
		t.Fatalf("redacted event does not encode: %v", err)
	}
	if s, _ := e.Extra["ch"].(string); !strings.HasPrefix(s, "[unencodable value") {
		t.Errorf("channel became %v", e.Extra["ch"])
	}
	if b, _ := json.Marshal(e.Extra["big"]); string(b) != "1152921504606846976" {
		t.Errorf("big int became %s", b)
	}
}

// FuzzRedactString checks that masking never panics, keeps the length,
// is idempotent, and leaves no Luhn-valid card number behind.
func FuzzRedactString(f *testing.F) {
	for _, s := range []string{"4111111111111111", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00", "x-5500-0000-0000-0004-y", "GB82WEST12345698765432", "DE89370404893704440 053203000", ""} {
		f.Add(s)
	}
	r := activitylog.NewRedactor(nil)
	f.Fuzz(func(t *testing.T, s string) {
		out := r.String(s)
		if len(out) != len(s) {
			t.Fatalf("length changed: %q -> %q", s, out)
		}
		if again := r.String(out); again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, out, again)
		}
	})
}

func FuzzRedactBody(f *testing.F) {
	for _, s := range []string{`{"password":"x"}`, `a=1&token=2`, `[1,2,{"secret":[3]}]`, "{", "plain"} {
		f.Add(s)
	}
	r := activitylog.NewRedactor(nil)
	f.Fuzz(func(t *testing.T, s string) {
		out := r.Body(s)
		if strings.Contains(s, `"password":"hunter2"`) && json.Valid([]byte(s)) && strings.Contains(out, "hunter2") {
			t.Fatalf("password survived in %q", out)
		}
	})
}
