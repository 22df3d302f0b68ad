package envelope

import "testing"

// TestJournalFields: the fields journald sets are read apart from the
// client-chosen identifier; the first occurrence wins, escapes are decoded,
// and an entry without them leaves them nil.
func TestJournalFields(t *testing.T) {
	p := NewParser(Options{})
	var env Envelope
	line := `{"__REALTIME_TIMESTAMP":"1700000000123456","SYSLOG_IDENTIFIER":"sshd","_UID":"1000","_COMM":"logger","_EXE":"\/usr\/bin\/logger","_SYSTEMD_UNIT":"session-3.scope","_COMM":"sshd","_UID":"0","MESSAGE":"m"}`
	if !p.Parse([]byte(line), &env) {
		t.Fatal("not an envelope")
	}
	j := env.Journal
	for _, c := range []struct{ name, got, want string }{
		{"Ident", string(j.Ident), "sshd"},
		{"Comm", string(j.Comm), "logger"},
		{"Exe", string(j.Exe), "/usr/bin/logger"},
		{"Unit", string(j.Unit), "session-3.scope"},
		{"UID", string(j.UID), "1000"},
		{"Program", string(env.Program), "sshd"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !p.Parse([]byte(`{"__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"sshd","MESSAGE":"m"}`), &env) {
		t.Fatal("not an envelope")
	}
	if env.Journal.Comm != nil || env.Journal.UID != nil || env.Journal.Unit != nil || env.Journal.Exe != nil {
		t.Errorf("fields of an entry without them: %+v", env.Journal)
	}
	b := []byte(line)
	if n := testing.AllocsPerRun(100, func() { p.Parse(b, &env) }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

func TestTimePrefix(t *testing.T) {
	for _, c := range []struct {
		l    Layout
		in   string
		want int
	}{
		{LayoutNginx, "2026/11/23 08:01:05 [error] x", 19},
		{LayoutNginx, "2026/02/30 08:01:05 [error] x", 0},
		{LayoutNginx, "2026/11/23 25:01:05 [error]", 0},
		{LayoutApache, "Mon Nov 23 08:05:10.453232 2026] [x]", 31},
		{LayoutApache, "Mon Nov 23 08:05:10 2026 [pid 1]", 24},
		{LayoutRFC3164, "Nov 23 08:05:04 auth: x", 15},
		{LayoutRFC3164, "Feb 30 08:05:04 auth: x", 0},
		{LayoutISO8601, "2026-11-23 08:05:00 imap-login: x", 19},
		{LayoutMySQL, "261123  8:00:02 [Warning] x", 15},
		{LayoutCLF, "sshd[1]: x", 0},
		{LayoutUnix, "1700000000 x", 0}, // no fixed shape: not supported
		{LayoutNginx, "", 0},
	} {
		if got := TimePrefix(c.l, []byte(c.in)); got != c.want {
			t.Errorf("TimePrefix(%v, %q) = %d, want %d", c.l, c.in, got, c.want)
		}
	}
}
