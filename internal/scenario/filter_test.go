package scenario

import (
	"regexp"
	"slices"
	"strings"
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
	a := m.add(anywhere, [][]byte{[]byte("/.env"), []byte("~")})
	b := m.add(anywhere, [][]byte{[]byte("union select"), []byte("sleep(")})
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
		if got := m.scan([]byte(tt.text), len(tt.text))[anywhere]; got != tt.want {
			t.Errorf("scan(%q) = %b, want %b", tt.text, got, tt.want)
		}
	}
	var none *multiLit
	if none.scan([]byte("/.env"), 5) != [numRegions]uint64{} {
		t.Error("nil multiLit found something")
	}
}

func TestMultiLitRegions(t *testing.T) {
	var m multiLit
	p := m.add(inPath, [][]byte{[]byte("/admin"), []byte("~")})
	q := m.add(inQuery, [][]byte{[]byte("<script"), []byte("'")})
	a := m.add(anywhere, [][]byte{[]byte("n?x")})
	tests := []struct {
		text        string
		path, qry   bool
		acrossSplit bool
	}{
		{"/admin", true, false, false},
		{"/x?next=/admin", false, false, false},
		{"/admin?q=<script>", true, true, false},
		{"/<script", false, false, false},
		{"/a'b", false, false, false},
		{"/ab?id='1", false, true, false},
		{"/x~?q", true, false, false},
		{"/x?q~", false, false, false},
		{"/admin?x=1", true, false, true},
	}
	for _, tt := range tests {
		split := len(tt.text)
		if i := strings.IndexByte(tt.text, '?'); i >= 0 {
			split = i
		}
		got := m.scan([]byte(tt.text), split)
		if (got[inPath]&p != 0) != tt.path || (got[inQuery]&q != 0) != tt.qry || (got[anywhere]&a != 0) != tt.acrossSplit {
			t.Errorf("scan(%q) = %b, want path %v query %v across %v", tt.text, got, tt.path, tt.qry, tt.acrossSplit)
		}
	}
}

func TestSuffixSet(t *testing.T) {
	s := newSuffixSet([][]byte{[]byte(".css"), []byte(".js")})
	for text, want := range map[string]bool{"/a.css": true, "/a.js": true, "/a.jss": false, "": false, "/css": false, "/x.html": false} {
		if got := s.any([]byte(text)); got != want {
			t.Errorf("any(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestDecodeLower(t *testing.T) {
	tests := []struct {
		in    string
		query bool
		want  string
	}{
		{"/Index.HTML", false, "/index.html"},
		{"/%2E%65NV", false, "/.env"},
		{"/a%2fB", false, "/a/b"},
		{"%", false, "%"},
		{"/x%4", false, "/x%4"},
		{"/x%zz%41", false, "/x%zza"},
		{"/%2541", false, "/%41"}, // decoded once only
		{"A+B", false, "a+b"},
		{"A+B%2B", true, "a b+"},
		{"", true, ""},
	}
	for _, tt := range tests {
		if got := string(decodeLower([]byte("prefix:"), []byte(tt.in), tt.query)); got != "prefix:"+tt.want {
			t.Errorf("decodeLower(%q, %v) = %q, want %q", tt.in, tt.query, got, "prefix:"+tt.want)
		}
	}
}

// Regexps run on the lowercased target, so they are compiled without
// per-rune case folding; the result must match exactly what the
// case-insensitive expression matches on lowercased text.
func TestCompileLoweredMatchesLikeFoldCase(t *testing.T) {
	exprs := []string{`/PhpMyAdmin/`, `\.ENV(?:$|\?)`, `[A-C]x\S+`, `union\s+SELECT`, `É`, `\bor\s+1=1`}
	texts := []string{"/phpmyadmin/", "/.env", "/.env?x", "bx1", "ax", "union   select", "é", "ÿ", "a or 1=1", "/x"}
	for _, e := range exprs {
		lowered, err := compileLowered(e)
		if err != nil {
			t.Fatal(err)
		}
		folded := regexp.MustCompile("(?i)" + e)
		for _, s := range texts {
			if got, want := lowered.MatchString(s), folded.MatchString(s); got != want {
				t.Errorf("%q on %q: %v, want %v", e, s, got, want)
			}
		}
	}
}

func TestContainsAnyFold(t *testing.T) {
	needles := [][]byte{[]byte("${jndi:"), []byte("class.module.classloader")}
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"${jndi:ldap://x}", true}, {"x${JNDI:y", true}, {"$$${jndi:", true}, {"${jnd", false}, {"$", false}, {"", false},
		{"a=Class.Module.ClassLoader.x", true}, {"class.module.classloade", false}, {"${jndi", false}, {"https://example.org/", false},
	} {
		if got := containsAnyFold([]byte(c.in), needles); got != c.want {
			t.Errorf("containsAnyFold(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
