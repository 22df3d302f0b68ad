package envelope

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// sharedData is the third-party test data kept beside the repository; tests
// that read it skip when it is absent.
const sharedData = "../../../shared/data"

// TestFail2banTimes parses the lines of fail2ban's annotated sample logs
// and, for each line Parse finds an envelope in, compares the envelope's
// time with fail2ban's expected time (local time in Europe/Zurich, year-less
// stamps resolved against 2005-08-14 12:00 CEST, to the second).
func TestFail2banTimes(t *testing.T) {
	f, err := os.Open(filepath.Join(sharedData, "fail2ban", "expected-lines.jsonl"))
	if err != nil {
		t.Skip("fail2ban test data absent:", err)
	}
	defer f.Close()
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	p := NewParser(Options{Location: zurich, Reference: time.Unix(1124013600, 0)})
	var env Envelope
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	checked := 0
	for sc.Scan() {
		var rec struct {
			File   string
			Lineno int
			Line   string
			Checks []struct{ Time string }
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		want := ""
		for _, c := range rec.Checks {
			if c.Time != "" {
				want = c.Time
			}
		}
		if want == "" || !p.Parse([]byte(rec.Line), &env) {
			continue
		}
		wt, err := time.ParseInLocation("2006-1-2T15:04:05.999999", want, zurich)
		if err != nil {
			t.Fatalf("%s:%d: expected time %q: %v", rec.File, rec.Lineno, want, err)
		}
		if env.Format == FormatTAI64N {
			// fail2ban reads a TAI64N label as Unix time plus 2^62; daemontools
			// (libtai's tai_unix) and s6 write 2^62 + 10 + Unix time, which
			// is what Parse undoes, so fail2ban's times are 10 s later.
			wt = wt.Add(-10 * time.Second)
		}
		checked++
		if d := env.Time.Sub(wt); d <= -time.Second || d >= time.Second {
			t.Errorf("%s:%d: %q: time %v, fail2ban expects %v", rec.File, rec.Lineno, rec.Line, env.Time.In(zurich), wt)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if checked < 400 {
		t.Errorf("checked only %d lines", checked)
	}
	t.Logf("checked %d envelope times", checked)
}
