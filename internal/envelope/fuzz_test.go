package envelope

import (
	"bytes"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.line))
	}
	for _, bl := range benchLines {
		f.Add(bl.line)
	}
	f.Add([]byte("<0>1 - - - - - [a b=\"\\\"\\]\"][c] \xef\xbb\xbfm"))
	f.Add([]byte(`{"__REALTIME_TIMESTAMP":"1","MESSAGE":"\u0000\ud83d","SYSLOG_IDENTIFIER":"a\tb"}`))
	f.Add([]byte("Feb 29 23:59:59.999999999999 h p[4294967296]: \x00"))
	f.Add([]byte("2024-11-03 01:30:00 h p: ambiguous in New York"))
	f.Add([]byte("2024-03-10 02:30:00 h p: missing in New York"))
	f.Add([]byte("Nov  3 01:59:59 h p: m"))
	p := NewParser(Options{Location: time.UTC, Reference: ref})
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		loc = time.FixedZone("X", -5*3600)
	}
	pl := NewParser(Options{Location: loc, Reference: ref})
	f.Fuzz(func(t *testing.T, line []byte) {
		var env Envelope
		ok := p.Parse(line, &env)
		checkEnvelope(t, line, ok, &env)
		checkReference(t, line, ok, &env)
		ok = pl.Parse(line, &env)
		checkEnvelope(t, line, ok, &env)
		// The zone cache must not make a result depend on earlier lines.
		var fresh Envelope
		fok := NewParser(Options{Location: loc, Reference: ref}).Parse(line, &fresh)
		if fok != ok || !fresh.Time.Equal(env.Time) || fresh.Time.Location() != env.Time.Location() && fresh.Time.Location().String() != env.Time.Location().String() {
			t.Fatalf("Parse(%q) = %v %v; a fresh parser says %v %v", line, ok, env.Time, fok, fresh.Time)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, tc := range timeCases {
		f.Add(uint8(tc.layout), []byte(tc.in))
	}
	f.Add(uint8(LayoutISO8601), []byte("9999-12-31T23:59:59-23:59"))
	f.Add(uint8(LayoutISO8601), []byte("0001-01-01T00:00:00+23:59"))
	f.Add(uint8(LayoutRFC3164), []byte("Dec 31 23:59:59.9"))
	f.Add(uint8(LayoutASSP), []byte("Feb-29-16 23:59:59"))
	f.Add(uint8(LayoutCompact), []byte("2014:07:02-00:17:45"))
	f.Add(uint8(LayoutZoned3164), []byte("NZDT Feb 29 23:59:59"))
	p := NewParser(Options{Location: time.UTC, Reference: ref})
	f.Fuzz(func(t *testing.T, l uint8, b []byte) {
		got, err := p.ParseTime(Layout(l), b)
		if err != nil {
			if !got.IsZero() {
				t.Fatalf("ParseTime(%d, %q) = %v with error %v", l, b, got, err)
			}
		}
		// Differential checks against the standard library for the
		// fixed-width layouts it can express.
		var ref string
		switch Layout(l) {
		case LayoutNginx:
			ref = "2006/01/02 15:04:05"
		case LayoutCLF:
			ref = "02/Jan/2006:15:04:05 -0700"
		default:
			return
		}
		if len(b) != len(ref) {
			return
		}
		want, werr := time.ParseInLocation(ref, string(b), time.UTC)
		if werr != nil || want.Year() < 1 {
			return // the standard library is stricter about zone signs; year 0 is refused here
		}
		if want.Format(ref) != string(b) {
			// The standard library is laxer elsewhere: a run of spaces
			// matches one, an hour may have one digit ("1000/10/01  0:00:00").
			// Only the fixed-width form the layout writes is compared.
			return
		}
		if err != nil || !got.Equal(want) {
			t.Fatalf("ParseTime(%v, %q) = %v, %v; time.Parse = %v", Layout(l), b, got, err, want)
		}
	})
}

// checkReference compares a Parse result for a line that may be RFC 3164
// with the slow reference parser (Parser in UTC with Reference ref).
func checkReference(t *testing.T, line []byte, ok bool, env *Envelope) {
	t.Helper()
	trimmed := bytes.TrimRight(line, "\r\n")
	i := 0
	if len(trimmed) > 0 && trimmed[0] == '<' {
		i = bytes.IndexByte(trimmed, '>') + 1
	}
	if len(trimmed) < 4 || i >= len(trimmed) || !(trimmed[i]|0x20 >= 'a' && trimmed[i]|0x20 <= 'z') {
		return
	}
	want, wok, skip := refParse3164(string(trimmed), ref)
	if skip || ok && env.Format == FormatBare && !wok {
		return // the reference covers stamped lines only
	}
	if ok != wok || ok && (!env.Time.Equal(want.Time) || string(env.Host) != string(want.Host) ||
		string(env.Program) != string(want.Program) || string(env.PID) != string(want.PID) || string(env.Message) != string(want.Message)) {
		t.Fatalf("Parse(%q) = %v %v %q %q %q %q; reference %v %v %q %q %q %q", line,
			ok, env.Time, env.Host, env.Program, env.PID, env.Message,
			wok, want.Time, want.Host, want.Program, want.PID, want.Message)
	}
}
