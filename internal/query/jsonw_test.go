package query

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "nl\nnul\x00del\x7f", "bad\xff\xfeutf8", "é ü 日本", "\u2028"} {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q → %s: %v", s, b, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Errorf("%q round-trips to %q", s, got)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add([]byte("x\"\\\x00\xff"))
	f.Fuzz(func(t *testing.T, s []byte) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q → %s: %v", s, b, err)
		}
		if utf8.Valid(s) && got != string(s) {
			t.Fatalf("%q round-trips to %q", s, got)
		}
	})
}
