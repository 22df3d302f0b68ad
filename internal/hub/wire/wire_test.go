package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestBatchBytes(t *testing.T) {
	sigs := []Signal{
		{Source: netip.MustParseAddr("203.0.113.7"), Class: SSHBruteforce, Minute: 0x01020304},
		{Source: netip.MustParseAddr("2001:db8::1"), Class: Portscan, Minute: 29_000_000},
	}
	got := AppendBatch(nil, sigs)
	want := []byte{0x01,
		0x04, 203, 0, 113, 7, 0x01, 0x01, 0x02, 0x03, 0x04,
		0x06, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x07, 0x01, 0xba, 0x81, 0x40,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendBatch = % x\nwant         % x", got, want)
	}
	back, err := DecodeBatch(nil, got)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0] != sigs[0] || back[1] != sigs[1] {
		t.Fatalf("DecodeBatch = %v", back)
	}
	// A mapped address is written as IPv4.
	m := AppendBatch(nil, []Signal{{Source: netip.MustParseAddr("::ffff:203.0.113.7"), Class: 1, Minute: 0x01020304}})
	if !bytes.Equal(m, want[:11]) {
		t.Fatalf("mapped: % x", m)
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	ok := AppendBatch(nil, []Signal{{Source: netip.MustParseAddr("203.0.113.7"), Class: 1, Minute: 5}})
	mapped := append([]byte{1, 6}, netip.MustParseAddr("::ffff:1.2.3.4").AsSlice()...)
	mapped = append(mapped, 1, 0, 0, 0, 1)
	many := AppendBatch(nil, make([]Signal, MaxBatch+1))
	for i := range MaxBatch + 1 { // make the classes valid
		many[1+i*22+17] = 1
	}
	cases := []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"version", []byte{2, 4, 1, 2, 3, 4, 1, 0, 0, 0, 0}, ErrBadVersion},
		{"no records", []byte{1}, ErrEmpty},
		{"tag", []byte{1, 5, 1, 2, 3, 4, 1, 0, 0, 0, 0}, ErrBadTag},
		{"short", ok[:len(ok)-1], ErrTruncated},
		{"class 0", []byte{1, 4, 1, 2, 3, 4, 0, 0, 0, 0, 0}, ErrBadClass},
		{"class 200", []byte{1, 4, 1, 2, 3, 4, 200, 0, 0, 0, 0}, ErrBadClass},
		{"mapped", mapped, ErrMapped},
		{"too many", many, ErrTooMany},
	}
	for _, c := range cases {
		dst := []Signal{{Class: 1}}
		got, err := DecodeBatch(dst, c.body)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if len(got) != 1 {
			t.Errorf("%s: dst grew to %d", c.name, len(got))
		}
	}
}

func TestAppendBatchDoesNotAllocate(t *testing.T) {
	sigs := make([]Signal, 100)
	for i := range sigs {
		sigs[i] = Signal{Source: netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), Class: HTTPProbing, Minute: uint32(i)}
	}
	buf := make([]byte, 0, MaxBatchBytes)
	out := make([]Signal, 0, 100)
	if n := testing.AllocsPerRun(100, func() {
		b := AppendBatch(buf[:0], sigs)
		out, _ = DecodeBatch(out[:0], b)
	}); n != 0 {
		t.Fatalf("AppendBatch+DecodeBatch allocate %v times", n)
	}
}

func TestClasses(t *testing.T) {
	for _, c := range Classes() {
		back, err := ParseClass(c.String())
		if err != nil || back != c {
			t.Errorf("%v: ParseClass = %v, %v", c, back, err)
		}
	}
	if _, err := ParseClass("nope"); err == nil {
		t.Error("ParseClass(nope) succeeded")
	}
	if Class(0).Valid() || Class(maxClass+1).Valid() {
		t.Error("out-of-range class valid")
	}
}

func TestAuthRoundTrip(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	nonce := [16]byte{1, 2, 3}
	now := time.Unix(1_790_000_000, 0)
	body := []byte("body")
	a := Sign(key, "POST", "/v1/signals", now, nonce, body)
	s := a.String()
	if !strings.HasPrefix(s, "v1 key="+IDOf(pub).String()+" ts=1790000000 nonce=01020300000000000000000000000000 sig=") {
		t.Fatalf("header = %q", s)
	}
	back, err := ParseAuth(s)
	if err != nil {
		t.Fatal(err)
	}
	if back != a {
		t.Fatalf("ParseAuth(String) = %+v, want %+v", back, a)
	}
	if !back.Verify(pub, "POST", "/v1/signals", body) {
		t.Fatal("valid signature refused")
	}
	for name, f := range map[string]func() bool{
		"body":   func() bool { return back.Verify(pub, "POST", "/v1/signals", []byte("bodz")) },
		"path":   func() bool { return back.Verify(pub, "POST", "/v1/enroll", body) },
		"method": func() bool { return back.Verify(pub, "PUT", "/v1/signals", body) },
		"key": func() bool {
			other, _, _ := ed25519.GenerateKey(nil)
			return back.Verify(other, "POST", "/v1/signals", body)
		},
	} {
		if f() {
			t.Errorf("signature accepted with another %s", name)
		}
	}
}

func TestParseAuthErrors(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	good := Sign(key, "POST", "/", time.Unix(5, 0), [16]byte{}, nil).String()
	bad := []string{
		"",
		"v2" + good[2:],
		strings.Replace(good, " ts=5", " ts=05", 1),
		strings.Replace(good, " ts=5", " ts=-5", 1),
		strings.Replace(good, " ts=5", " ts=", 1),
		strings.Replace(good, " nonce=", " nonce=0", 1),
		strings.Replace(good, "key=", "key=x", 1),
		good + " extra=1",
		good[:len(good)-1],
		good[:len(good)-1] + "=",
		strings.Replace(good, " ", "  ", 1),
		strings.Repeat("v1 ", 200),
	}
	for _, s := range bad {
		if _, err := ParseAuth(s); err == nil {
			t.Errorf("ParseAuth(%q) succeeded", s)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(AppendBatch(nil, []Signal{{Source: netip.MustParseAddr("203.0.113.7"), Class: 1, Minute: 5}}))
	f.Add(AppendBatch(nil, []Signal{{Source: netip.MustParseAddr("2001:db8::7"), Class: 9, Minute: 5}}))
	f.Add([]byte{1, 4})
	f.Fuzz(func(t *testing.T, body []byte) {
		sigs, err := DecodeBatch(nil, body)
		if err != nil {
			if len(sigs) != 0 {
				t.Fatal("signals returned with an error")
			}
			return
		}
		// A valid batch re-encodes to the same bytes.
		if again := AppendBatch(nil, sigs); !bytes.Equal(again, body) {
			t.Fatalf("re-encoding differs:\n% x\n% x", again, body)
		}
	})
}

func FuzzParseAuth(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(nil)
	f.Add(Sign(key, "POST", "/v1/signals", time.Unix(1_790_000_000, 0), [16]byte{9}, nil).String())
	f.Add("v1 key= ts= nonce= sig=")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAuth(s)
		if err != nil {
			return
		}
		// A header that parses formats back to itself.
		if a.String() != s {
			t.Fatalf("String() = %q, input %q", a.String(), s)
		}
	})
}
