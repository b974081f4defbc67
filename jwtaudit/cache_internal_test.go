package jwtaudit

import (
	"strconv"
	"testing"
)

func TestCacheBounded(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, 3, 16, 100, 1024, 1500} {
		c := newCache(size)
		for i := range 10 * size {
			c.put("tok-"+strconv.Itoa(i), entry{})
			if n := c.len(); n > size {
				t.Fatalf("size %d: %d entries after %d puts", size, n, i+1)
			}
		}
		if n := c.len(); n < size/2 {
			t.Errorf("size %d: only %d entries kept", size, n)
		}
		c.put("again", entry{})
		c.put("again", entry{})
		if _, ok := c.get("again"); !ok {
			t.Errorf("size %d: the last entry put is not there", size)
		}
		c.remove("again")
		if _, ok := c.get("again"); ok {
			t.Errorf("size %d: removed entry still there", size)
		}
	}
}

func TestNumberID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f    float64
		raw  string
		want string
	}{
		{42, "", "42"},
		{-7, "", "-7"},
		{0, "", "0"},
		{4.5, "", "4.5"},
		{1e21, "1e21", "1000000000000000000000"},
		{1e21, "1000000000000000000000", "1000000000000000000000"},
		{12345678901234567891, "12345678901234567891", "12345678901234567891"},
		// Without a plain literal, the shortest decimal that is the float.
		{12345678901234567891, "", "12345678901234567000"},
		{12345678901234567891, "1.2345678901234567891e19", "12345678901234567000"},
		{9007199254740993, "9007199254740993", "9007199254740993"},
		{9007199254740992, "0009007199254740992", "9007199254740992"},
		{1e300, "1e300", "1" + zeros(300)},
	}
	for _, tt := range tests {
		if got := numberID(tt.f, func() string { return tt.raw }); got != tt.want {
			t.Errorf("numberID(%v, %q) = %q, want %q", tt.f, tt.raw, got, tt.want)
		}
	}
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}
