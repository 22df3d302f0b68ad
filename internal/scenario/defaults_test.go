package scenario

import (
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/rules"
)

// The scenarios shipped in the binary must compile, and behave as their
// descriptions say for the cases that matter most.
func TestShippedScenariosCompile(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	e := mustCompile(t, set.Scenarios, Options{})
	if e.Len() != len(set.Scenarios) {
		t.Fatalf("compiled %d of %d scenarios", e.Len(), len(set.Scenarios))
	}
	// An administrator mistyping a password twice a few times a day.
	for day := range 7 {
		for h := range 6 {
			at := t0.Add(time.Duration(day)*24*time.Hour + time.Duration(h)*2*time.Hour)
			if a := pourAll(e, sshFail("203.0.113.10", at, "admin"), sshFail("203.0.113.10", at.Add(4*time.Second), "admin")); len(a) != 0 {
				t.Fatalf("day %d: alerts %+v", day, a)
			}
		}
	}
	// A password guesser.
	var got []string
	for i := range 20 {
		ev := sshFail("198.51.100.7", t0.Add(time.Duration(i)*time.Second), "root")
		for _, a := range pourAll(e, ev) {
			got = append(got, a.Scenario)
		}
	}
	if len(got) == 0 || got[0] != "ssh-bruteforce" {
		t.Fatalf("20 failures in 20 s raised %v, want ssh-bruteforce first", got)
	}
}

func BenchmarkPourShippedSSH(b *testing.B) {
	benchShipped(b, sshFail("192.0.2.1", t0, "root"))
}

func BenchmarkPourShippedHTTP(b *testing.B) {
	benchShipped(b, httpReq("192.0.2.1", t0, "GET", "/blog/2024/03/some-article-title?utm_source=feed", 200,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"))
}

func benchShipped(b *testing.B, ev *event.Event) {
	set, err := rules.Defaults()
	if err != nil {
		b.Fatal(err)
	}
	e := mustCompile(b, set.Scenarios, Options{})
	poured := make([]int, 0, 64)
	alerts := make([]event.Alert, 0, 64)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		ev.Time = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		poured, alerts = e.Pour(ev, poured[:0], alerts[:0])
		i++
	}
	b.ReportMetric(float64(e.Len()), "scenarios")
}

// The one-pass literal scan must agree with searching each needle in turn,
// and may only skip a path regular expression that would not have matched.
func FuzzLiteralScan(f *testing.F) {
	for _, p := range []string{"/.env", "/a/.git/config", "/x?id=1%27+OR+1=1", "/..%2f..%2fetc/passwd", "/backup2024.tar.gz",
		"/q?s=<ScRiPt>", "/index.php~", "/wp-config.php.bak", "/?x=UNION/**/SELECT", "/a/b/c", "/%00", "/id_rsa.pub?x",
		"/admin?next=/phpmyadmin", "/x?q=union+select"} {
		f.Add(p)
	}
	set, err := rules.Defaults()
	if err != nil {
		f.Fatal(err)
	}
	engines := []*Engine{mustCompile(f, set.Scenarios, Options{}), mustCompile(f, defaultLike(), Options{})}
	f.Fuzz(func(t *testing.T, target string) {
		for _, e := range engines {
			e.view.reset()
			e.view.prepare([]byte(target))
			found := e.view.scan()
			for i := range e.scen {
				flt := &e.scen[i].filter
				if flt.pathRe != nil && flt.reBit != 0 && flt.pathRe.Match(e.view.buf) && found[anywhere]&flt.reBit == 0 {
					t.Fatalf("%s: prefilter hid a match of %q", e.scen[i].name, e.view.buf)
				}
				if flt.pathBit != 0 && containsAny(e.view.path(), flt.pathContains) != (found[inPath]&flt.pathBit != 0) {
					t.Fatalf("%s: path scan disagrees on %q", e.scen[i].name, e.view.buf)
				}
				if flt.queryBit != 0 && containsAny(e.view.query(), flt.queryContains) != (found[inQuery]&flt.queryBit != 0) {
					t.Fatalf("%s: query scan disagrees on %q", e.scen[i].name, e.view.buf)
				}
			}
		}
	})
}

func TestShippedPathRegexpsHavePrefilters(t *testing.T) {
	set, err := rules.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	e := mustCompile(t, set.Scenarios, Options{})
	for i := range e.scen {
		if f := &e.scen[i].filter; f.pathRe != nil && f.reBit == 0 {
			t.Errorf("%s: no literal prefilter could be derived from its path regexp", e.scen[i].name)
		}
	}
}
