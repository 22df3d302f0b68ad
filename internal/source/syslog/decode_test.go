package syslog

import (
	"errors"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/envelope"
)

var recvTime = time.Date(2026, 11, 23, 11, 30, 27, 123456000, time.UTC)

func TestAppendLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// RFC 3164 as util-linux logger sends it: the PRI goes, the rest is
		// a syslog file's line.
		{"<38>Nov 23 11:31:39 vm sshd: Failed password for root from 203.0.113.7 port 4242 ssh2",
			"Nov 23 11:31:39 vm sshd: Failed password for root from 203.0.113.7 port 4242 ssh2"},
		{"<38>Nov  3 11:31:39 vm sshd[7]: m\n", "Nov  3 11:31:39 vm sshd[7]: m"},
		{"<38>Nov 3 11:31:39 vm sshd[7]: m\r\n\x00", "Nov 3 11:31:39 vm sshd[7]: m"},
		// rsyslog's forwarding format: an ISO stamp after the PRI.
		{"<86>2026-11-23T11:31:39.1+01:00 vm sshd[7]: m", "2026-11-23T11:31:39.1+01:00 vm sshd[7]: m"},
		// RFC 5424 is kept whole; a nil time becomes the receive time.
		{"<38>1 2026-11-23T11:31:39.650495+00:00 vm sshd - - [timeQuality tzKnown=\"1\"] Failed password",
			"<38>1 2026-11-23T11:31:39.650495+00:00 vm sshd - - [timeQuality tzKnown=\"1\"] Failed password"},
		{"<38>1 - - sshd 7111 - - Failed password", "<38>1 2026-11-23T11:30:27.123456Z - sshd 7111 - - Failed password"},
		// No time: the receive time, with its year, in front.
		{"<38>sshd[7]: Failed password", "Nov 23 2026 11:30:27.123456 sshd[7]: Failed password"},
		{"sshd[7]: no PRI at all", "Nov 23 2026 11:30:27.123456 sshd[7]: no PRI at all"},
		{"<0>x", "Nov 23 2026 11:30:27.123456 x"},
		{"<191>Novembre", "Nov 23 2026 11:30:27.123456 Novembre"},
		// A line break inside a message cannot start a line of its own.
		{"<38>Nov 23 11:31:39 vm sshd: user x\nNov 23 11:31:39 vm sshd: Failed password for root from 192.0.2.1\ttab\x7f",
			"Nov 23 11:31:39 vm sshd: user x#012Nov 23 11:31:39 vm sshd: Failed password for root from 192.0.2.1#011tab#177"},
	} {
		got, err := AppendLine(nil, []byte(tc.in), recvTime, time.UTC)
		if err != nil || string(got) != tc.want {
			t.Errorf("AppendLine(%q) = %q, %v\n want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "\n", "\x00\r\n", "<", "<>x", "<192>x", "<1234>x", "<12", "<a>x", "<-1>x"} {
		got, err := AppendLine([]byte("kept"), []byte(in), recvTime, time.UTC)
		if !errors.Is(err, ErrMalformed) || string(got) != "kept" {
			t.Errorf("AppendLine(%q) = %q, %v; want ErrMalformed and dst unchanged", in, got, err)
		}
	}
}

// TestAppendLineEnvelope: the lines read as internal/envelope reads a
// syslog file's, with the program, host, message and time of the message,
// the receive time where it had none, and a year-less stamp in the year of
// the reference the agent gives (its clock), not year 0.
func TestAppendLineEnvelope(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no zoneinfo:", err)
	}
	p := envelope.NewParser(envelope.Options{Location: paris, Reference: recvTime})
	for _, tc := range []struct {
		in                     string
		format                 envelope.Format
		host, program, message string
		at                     time.Time
	}{
		{"<38>Nov 23 11:31:39 vm sshd: Failed password", envelope.FormatRFC3164, "vm", "sshd", "Failed password",
			time.Date(2026, 11, 23, 11, 31, 39, 0, paris)},
		{"<38>1 2026-11-23T11:31:39.5Z vm sshd 42 - - Failed password", envelope.FormatRFC5424, "vm", "sshd", "Failed password",
			time.Date(2026, 11, 23, 11, 31, 39, 5e8, time.UTC)},
		{"<38>1 - - sshd 7111 - - Failed password", envelope.FormatRFC5424, "", "sshd", "Failed password", recvTime},
		{"<38>sshd[7]: Failed password", envelope.FormatRFC3164, "", "sshd", "Failed password", recvTime},
		{"<38>sshd: Failed password", envelope.FormatRFC3164, "", "sshd", "Failed password", recvTime},
	} {
		line, err := AppendLine(nil, []byte(tc.in), recvTime, paris)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		var env envelope.Envelope
		if !p.Parse(line, &env) {
			t.Errorf("%q → %q: no envelope", tc.in, line)
			continue
		}
		if env.Format != tc.format || string(env.Host) != tc.host || string(env.Program) != tc.program ||
			string(env.Message) != tc.message || !env.Time.Equal(tc.at) {
			t.Errorf("%q → %q:\n got %v host=%q program=%q message=%q time=%v\nwant %v host=%q program=%q message=%q time=%v",
				tc.in, line, env.Format, env.Host, env.Program, env.Message, env.Time, tc.format, tc.host, tc.program, tc.message, tc.at)
		}
	}
}

func TestAppendLineDoesNotAllocate(t *testing.T) {
	dst := make([]byte, 0, lineCap(DefaultMaxMessage))
	for _, in := range []string{
		"<38>Nov 23 11:31:39 vm sshd[7]: Failed password for root from 203.0.113.7 port 4242 ssh2",
		"<38>1 - - sshd 7111 - - Failed password",
		"<38>sshd[7]: Failed\npassword",
	} {
		msg := []byte(in)
		if n := testing.AllocsPerRun(1000, func() {
			var err error
			if dst, err = AppendLine(dst[:0], msg, recvTime, time.UTC); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%q: AppendLine allocates %v times", in, n)
		}
	}
}

func BenchmarkAppendLine(b *testing.B) {
	msg := []byte("<38>Nov 23 11:31:39 vm sshd[4242]: Failed password for root from 203.0.113.7 port 4242 ssh2")
	dst := make([]byte, 0, lineCap(DefaultMaxMessage))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = AppendLine(dst[:0], msg, recvTime, time.UTC)
	}
}
