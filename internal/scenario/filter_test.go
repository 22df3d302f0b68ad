package scenario

import (
	"slices"
	"testing"
)

func TestRegexpPrefilterLiterals(t *testing.T) {
	tests := []struct {
		expr string
		want []string // nil: no prefilter
	}{
		{`/\.env`, []string{"/.env"}},
		{`/\.(?:env|git)/`, []string{"/.env/", "/.git/"}},
		{`/cgi-bin/.*\.sh`, []string{"/cgi-bin/"}},
		{`(?:Sleep|BENCHMARK)\s*\(`, []string{"sleep", "benchmark"}},
		{`id_(?:rsa|dsa)(?:\.pub)?$`, []string{"id_rsa.pub", "id_rsa", "id_dsa.pub", "id_dsa"}},
		{`\.(?:bak|old)(?:$|\?)`, []string{".bak", ".bak?", ".old", ".old?"}},
		{`[a-z]+\d`, nil},
		{`abc|[0-9]`, nil},
		{`x*`, nil},
		{`é/x`, nil}, // non-ASCII literals are not lowercased like the target
	}
	for _, tt := range tests {
		var got []string
		for _, l := range regexpPrefilter(tt.expr) {
			got = append(got, string(l))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("regexpPrefilter(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

func TestMultiLitScan(t *testing.T) {
	var m multiLit
	a := m.add([][]byte{[]byte("/.env"), []byte("~")})
	b := m.add([][]byte{[]byte("union select"), []byte("sleep(")})
	tests := []struct {
		text string
		want uint64
	}{
		{"/index.html", 0},
		{"/.env", a},
		{"/x/.env.bak", a},
		{"/index.php~", a},
		{"/x?id=1 union select 2", b},
		{"/.env?q=sleep(5)", a | b},
		{"/.en", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := m.scan([]byte(tt.text)); got != tt.want {
			t.Errorf("scan(%q) = %b, want %b", tt.text, got, tt.want)
		}
	}
	var none *multiLit
	if none.scan([]byte("/.env")) != 0 {
		t.Error("nil multiLit found something")
	}
}
