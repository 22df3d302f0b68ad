package envelope

import (
	"errors"
	"testing"
	"time"
)

type timeCase struct {
	layout Layout
	in     string
	want   string // RFC 3339 in UTC; "" when the input must be refused
}

// timeCases is the specification of ParseTime (Location UTC, Reference
// 2025-03-15T12:00:00Z).
var timeCases = []timeCase{
	{LayoutCLF, "10/Oct/2000:13:55:36 -0700", "2000-10-10T20:55:36Z"},
	{LayoutCLF, "10/Oct/2000:13:55:36 +0000", "2000-10-10T13:55:36Z"},
	{LayoutCLF, "10/Oct/2000:13:55:36", "2000-10-10T13:55:36Z"},
	{LayoutCLF, " 10/Oct/2000:13:55:36 +0130 ", "2000-10-10T12:25:36Z"},
	{LayoutCLF, "31/Apr/2000:13:55:36 -0700", ""},
	{LayoutCLF, "10/Oct/2000:13:55:36 -07", "2000-10-10T20:55:36Z"},
	{LayoutCLF, "10/Oct/2000:13:55:36 -0700x", ""},
	{LayoutCLF, "10/Oct/2000", ""},
	{LayoutCLF, "17/Jun/2011 17:00:45", "2011-06-17T17:00:45Z"},
	{LayoutCLF, "17/Jun/2011-17:00:45", ""},

	{LayoutISO8601, "2000-10-11T14:32:52", "2000-10-11T14:32:52Z"},
	{LayoutISO8601, "2000-10-11 14:32:52", "2000-10-11T14:32:52Z"},
	{LayoutISO8601, "2000-10-11T14:32:52.5Z", "2000-10-11T14:32:52.5Z"},
	{LayoutISO8601, "2000-10-11T14:32:52,25+02:00", "2000-10-11T12:32:52.25Z"},
	{LayoutISO8601, "2000-10-11T14:32:52-0330", "2000-10-11T18:02:52Z"},
	{LayoutISO8601, "2000-10-11T14:32:52.1234567891234Z", "2000-10-11T14:32:52.123456789Z"},
	{LayoutISO8601, "2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"},
	{LayoutISO8601, "2023-02-29T00:00:00Z", ""},
	{LayoutISO8601, "2000-10-11T24:00:00", ""},
	{LayoutISO8601, "2000-10-11T23:60:00", ""},
	{LayoutISO8601, "2000-10-11T23:59:60", ""},
	{LayoutISO8601, "2000-10-11T14:32", ""},
	{LayoutISO8601, "2000-10-11", ""},
	{LayoutISO8601, "0000-10-11T14:32:52", ""},
	{LayoutISO8601, "2000-10-11T14:32:52+", ""},
	{LayoutISO8601, "2000-10-11X14:32:52", ""},

	{LayoutApache, "Wed Oct 11 14:32:52.123456 2000", "2000-10-11T14:32:52.123456Z"},
	{LayoutApache, "Sun Jun 09 07:57:47 2013", "2013-06-09T07:57:47Z"},
	{LayoutApache, "Sun Jun  9 07:57:47 2013", "2013-06-09T07:57:47Z"},
	{LayoutApache, "Sun Jun 09 07:57:47", ""},
	{LayoutApache, "Sun Jun 31 07:57:47 2013", ""},

	{LayoutNginx, "2000/10/11 14:32:52", "2000-10-11T14:32:52Z"},
	{LayoutNginx, "2000/10/11 14:32", ""},
	{LayoutNginx, "2000-10-11 14:32:52", ""},

	{LayoutRFC3164, "Oct 11 14:32:52", "2024-10-11T14:32:52Z"},
	{LayoutRFC3164, "Mar 15 14:32:52", "2025-03-15T14:32:52Z"},
	{LayoutRFC3164, "Oct  1 14:32:52", "2024-10-01T14:32:52Z"},
	{LayoutRFC3164, "Oct 11 2000 14:32:52", "2000-10-11T14:32:52Z"},
	{LayoutRFC3164, "Oct 11 14:32:52.250", "2024-10-11T14:32:52.25Z"},
	{LayoutRFC3164, "Feb 29 14:32:52", "2024-02-29T14:32:52Z"},
	{LayoutRFC3164, "Feb 29 2023 14:32:52", ""},
	{LayoutRFC3164, "Oct 11 14:32:52 2000", ""},
	{LayoutRFC3164, "Oct 11", ""},

	{LayoutUnix, "1700000000", "2023-11-14T22:13:20Z"},
	{LayoutUnix, "1700000000.123", "2023-11-14T22:13:20.123Z"},
	{LayoutUnix, "0", "1970-01-01T00:00:00Z"},
	{LayoutUnix, "99999999999999999999999", ""},
	{LayoutUnix, "1700000000.", ""},
	{LayoutUnix, "-1", ""},
	{LayoutUnix, "", ""},

	{LayoutMySQL, "190501 12:00:00", "2019-05-01T12:00:00Z"},
	{LayoutMySQL, "130324  0:04:00", "2013-03-24T00:04:00Z"},
	{LayoutMySQL, " 2019-05-01 12:00:00", "2019-05-01T12:00:00Z"},
	{LayoutMySQL, "2019-09-06  1:45:18", "2019-09-06T01:45:18Z"},
	{LayoutMySQL, "2019-09-06 01:45:18.5", "2019-09-06T01:45:18.5Z"},
	{LayoutMySQL, "991231 23:59:59", "1999-12-31T23:59:59Z"},
	{LayoutMySQL, "190230 12:00:00", ""},
	{LayoutMySQL, "190501 1200:00", ""},

	{LayoutDMY, "11-06-2013 02:09:40 +0300", "2013-06-10T23:09:40Z"},
	{LayoutDMY, "11-06-2013 02:09:40", "2013-06-11T02:09:40Z"},
	{LayoutDMY, "31-06-2013 02:09:40", ""},
	{LayoutDMY, "11-Aug-2013 03:36:11.372", "2013-08-11T03:36:11.372Z"},
	{LayoutDMY, "11-Foo-2013 03:36:11", ""},

	{LayoutASSP, "Apr-07-13 07:08:36", "2013-04-07T07:08:36Z"},
	{LayoutASSP, "Dec-31-99 23:59:59", "2099-12-31T23:59:59Z"},
	{LayoutASSP, "Feb-30-16 07:08:36", ""},
	{LayoutASSP, "Apr-7-13 07:08:36", ""},
	{LayoutASSP, "Apr-07-2013 07:08:36", ""},
	{LayoutASSP, "Apr-07-13", ""},
	{LayoutISO8601, "2019-11-26 01:04:49.008 +08:00", "2019-11-25T17:04:49.008Z"},
	{LayoutISO8601, "2019-11-26 01:04:49 -01:30", "2019-11-26T02:34:49Z"},
	{LayoutISO8601, "2019-11-26 01:04:49 +0800", ""},
	{LayoutISO8601, "2019-11-26 01:04:49  +08:00", ""},
	{LayoutZoned3164, "PDT Apr 16 21:05:29", "2024-04-17T04:05:29Z"},
	{LayoutZoned3164, "CEST Aug  6 10:14:52", "2024-08-06T08:14:52Z"},
	{LayoutZoned3164, "CST Aug  6 10:14:52", ""},
	{LayoutZoned3164, "pdt Apr 16 21:05:29", ""},
	{LayoutZoned3164, "Apr 16 21:05:29", ""},
	{LayoutZoned3164, "PDT  Apr 16 21:05:29", ""},
	{LayoutCompact, "20220407-12:11:06", "2022-04-07T12:11:06Z"},
	{LayoutCompact, "2014:07:02-00:17:45", "2014-07-02T00:17:45Z"},
	{LayoutCompact, "20220230-12:11:06", ""},
	{LayoutCompact, "2022:04:07 12:11:06", ""},
	{LayoutCompact, "2022:0407-12:11:06", ""},
	{LayoutCompact, "202204:07-12:11:06", ""},
	{LayoutCompact, "20220407-12:11", ""},
	{LayoutCompact, "20220407", ""},

	{LayoutMDY, "10/06/2013 15:50:41", "2013-10-06T15:50:41Z"},
	{LayoutMDY, "01/01/2014 - 01:25:17", "2014-01-01T01:25:17Z"},
	{LayoutMDY, "02/29/2024 00:00:00", "2024-02-29T00:00:00Z"},
	{LayoutMDY, "02/29/2023 00:00:00", ""},
	{LayoutMDY, "13/06/2013 15:50:41", ""},
	{LayoutMDY, "10/06/2013 - 15:50", ""},
	{LayoutMDY, "10/06/2013 -- 15:50:41", ""},
	{LayoutMDY, "10/06/13 15:50:41", ""},
	{LayoutMDY, "10-06-2013 15:50:41", ""},

	{LayoutMonthDay, "08-03 07:56:53.026292", "2024-08-03T07:56:53.026292Z"},
	{LayoutMonthDay, "03-15 07:56:53", "2025-03-15T07:56:53Z"},
	{LayoutMonthDay, "02-29 07:56:53", "2024-02-29T07:56:53Z"},
	{LayoutMonthDay, "13-03 07:56:53", ""},
	{LayoutMonthDay, "08-3 07:56:53", ""},
	{LayoutMonthDay, "08-03-2013 07:56:53", ""},
	{LayoutMonthDay, "08-03 07:56", ""},

	{LayoutClock, "11:57:32.907", "2025-03-15T11:57:32.907Z"},
	{LayoutClock, "12:05:00", "2025-03-15T12:05:00Z"},
	{LayoutClock, "12:57:32", "2025-03-14T12:57:32Z"},
	{LayoutClock, "00:00:00", "2025-03-15T00:00:00Z"},
	{LayoutClock, "23:59:59", "2025-03-14T23:59:59Z"},
	{LayoutClock, "24:00:00", ""},
	{LayoutClock, "12:57", ""},
	{LayoutClock, "2:57:32", ""},

	{LayoutJava, "apr 15, 2013 8:34:08 PM", "2013-04-15T20:34:08Z"},
	{LayoutJava, "Apr 16, 2013 12:32:13 AM", "2013-04-16T00:32:13Z"},
	{LayoutJava, "Apr 16, 2013 12:32:13 PM", "2013-04-16T12:32:13Z"},
	{LayoutJava, "Apr 16, 2013 8:32:13 am", "2013-04-16T08:32:13Z"},
	{LayoutJava, "Apr 16, 2013 13:32:13 PM", ""},
	{LayoutJava, "Apr 16, 2013 0:32:13 AM", ""},
	{LayoutJava, "Apr 16, 2013 8:32:13", ""},
	{LayoutJava, "Apr 16 2013 8:32:13 PM", ""},
	{LayoutJava, "Feb 29, 2013 8:32:13 PM", ""},

	{LayoutDotted, "2011.11.21 14:29:16", "2011-11-21T14:29:16Z"},
	{LayoutDotted, "2011.11.21 14:29:16.5", "2011-11-21T14:29:16.5Z"},
	{LayoutDotted, "2011.11.31 14:29:16", ""},
	{LayoutDotted, "2011/11/21 14:29:16", ""},
	{LayoutDotted, "2011.11/21 14:29:16", ""},

	{LayoutTAI64N, "@400000004c91b044077a9e94", "2010-09-16T05:50:50.1254765Z"},
	{LayoutTAI64N, "@400000004c91b04477359400", ""}, // 2e9 ns
	{LayoutTAI64N, "@400000004c91b044077a9e9", ""},
	{LayoutTAI64N, "@g00000004c91b044077a9e94", ""},
	{LayoutTAI64N, "@0000000000000000077a9e94", ""},

	{LayoutUnixMilli, "1700000000123", "2023-11-14T22:13:20.123Z"},
	{LayoutUnixMilli, "0", "1970-01-01T00:00:00Z"},
	{LayoutUnixMilli, "1700000000.123", ""},
	{LayoutUnixMilli, "9999999999999999", ""},

	{LayoutNone, "2000-10-11T14:32:52", ""},
	{Layout(200), "2000-10-11T14:32:52", ""},
}

func TestParseTime(t *testing.T) {
	p := newTestParser()
	for _, tc := range timeCases {
		got, err := p.ParseTime(tc.layout, []byte(tc.in))
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseTime(%v, %q) = %v, want an error", tc.layout, tc.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTime(%v, %q): %v", tc.layout, tc.in, err)
			continue
		}
		if s := got.UTC().Format(time.RFC3339Nano); s != tc.want {
			t.Errorf("ParseTime(%v, %q) = %s, want %s", tc.layout, tc.in, s, tc.want)
		}
	}
}

func TestParseTimeErrors(t *testing.T) {
	p := newTestParser()
	_, err := p.ParseTime(LayoutISO8601, []byte("2000-02-30T00:00:00"))
	if !errors.Is(err, ErrRange) || err.Error() != `envelope: time "2000-02-30T00:00:00": field out of range` {
		t.Errorf("err = %v", err)
	}
	_, err = p.ParseTime(LayoutISO8601, []byte("yesterday"))
	if !errors.Is(err, ErrSyntax) {
		t.Errorf("err = %v", err)
	}
	_, err = p.ParseTime(Layout(99), []byte("x"))
	if !errors.Is(err, ErrLayout) {
		t.Errorf("err = %v", err)
	}
}

func TestParseTimeLocation(t *testing.T) {
	loc := time.FixedZone("X", -5*3600)
	p := NewParser(Options{Location: loc, Reference: ref})
	got, err := p.ParseTime(LayoutNginx, []byte("2000/10/11 14:32:52"))
	if err != nil || !got.Equal(time.Date(2000, 10, 11, 14, 32, 52, 0, loc)) {
		t.Errorf("got %v, %v", got, err)
	}
	got, err = p.ParseTime(LayoutUnix, []byte("0"))
	if err != nil || got.Unix() != 0 || got.Location() != loc {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestLayoutByName(t *testing.T) {
	for l := LayoutCLF; l < numLayouts; l++ {
		got, ok := LayoutByName(l.String())
		if !ok || got != l {
			t.Errorf("LayoutByName(%q) = %v, %v", l.String(), got, ok)
		}
	}
	for name, want := range map[string]Layout{"rfc3339": LayoutISO8601, "3proxy": LayoutDMY} {
		if got, ok := LayoutByName(name); !ok || got != want {
			t.Errorf("LayoutByName(%q) = %v, %v", name, got, ok)
		}
	}
	for _, name := range []string{"", "none", "ISO8601", "strftime"} {
		if _, ok := LayoutByName(name); ok {
			t.Errorf("LayoutByName(%q) succeeded", name)
		}
	}
	if Layout(200).String() != "invalid" {
		t.Error("Layout(200).String() != invalid")
	}
}

func TestParseTimeAllocs(t *testing.T) {
	p := NewParser(Options{Location: time.UTC, Reference: ref})
	for _, tc := range timeCases {
		if tc.want == "" {
			continue
		}
		b := []byte(tc.in)
		if n := testing.AllocsPerRun(50, func() { p.ParseTime(tc.layout, b) }); n != 0 {
			t.Errorf("ParseTime(%v, %q) allocates %v times", tc.layout, tc.in, n)
		}
	}
}

func BenchmarkParseTime(b *testing.B) {
	for _, tc := range []timeCase{
		{LayoutCLF, "10/Oct/2000:13:55:36 -0700", ""},
		{LayoutISO8601, "2000-10-11T14:32:52.123456+02:00", ""},
		{LayoutRFC3164, "Oct 11 14:32:52", ""},
		{LayoutApache, "Wed Oct 11 14:32:52.123456 2000", ""},
		{LayoutUnix, "1700000000.123", ""},
	} {
		b.Run(tc.layout.String(), func(b *testing.B) {
			p := NewParser(Options{Location: time.UTC, Reference: ref})
			in := []byte(tc.in)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.ParseTime(tc.layout, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
