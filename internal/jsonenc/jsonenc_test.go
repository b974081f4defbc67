package jsonenc

import (
	"encoding/json"
	"math"
	"testing"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "<a href='x'>&amp;</a>", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"ünïcödé 日本", "bad \xff utf8 \xc3", "line\u2028para\u2029", "😀"} {
		checkString(t, s)
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1.5, 1e-6, 9.99e-7, 1e20, 1e21, 1.5e-7, 123456789.125,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 5e-324, 1e-9, 0.1, 100} {
		checkFloat(t, f)
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if b, ok := AppendFloat([]byte("x"), f); ok || string(b) != "x" {
			t.Errorf("AppendFloat(%v) = %q, %v; want refused, nothing appended", f, b, ok)
		}
	}
}

func checkString(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
		t.Errorf("AppendString(%q) = %s, want x%s", s, got, want)
	}
}

func checkFloat(t *testing.T, f float64) {
	t.Helper()
	want, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := AppendFloat(nil, f); !ok || string(got) != string(want) {
		t.Errorf("AppendFloat(%v) = %s, %v; want %s", f, got, ok, want)
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("a<b>&c\u2028\xff", 1.5e-7)
	f.Fuzz(func(t *testing.T, s string, x float64) {
		checkString(t, s)
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			checkFloat(t, x)
		}
	})
}
