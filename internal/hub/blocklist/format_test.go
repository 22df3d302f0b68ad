package blocklist

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// testKey returns a deterministic signing key, so failures reproduce.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func mustPrefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, x := range s {
		out[i] = netip.MustParsePrefix(x)
	}
	return out
}

// randomV4 returns n distinct random IPv4 /32s.
func randomV4(r *rand.Rand, n int) []netip.Prefix {
	seen := make(map[uint32]bool, n)
	out := make([]netip.Prefix, 0, n)
	for len(out) < n {
		v := r.Uint32()
		if seen[v] {
			continue
		}
		seen[v] = true
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], v)
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(a), 32))
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	issued := time.UnixMilli(1_790_000_000_123)
	cases := []Message{
		{Kind: KindSnapshot, To: 0, Issued: issued},
		{Kind: KindSnapshot, To: 42, Issued: issued, Added: mustPrefixes(
			"203.0.113.9/32", "0.0.0.0/32", "255.255.255.255/32", "198.51.100.0/24", "2001:db8::1/128",
			"2001:db8:1::/48", "10.0.0.0/8", "203.0.113.10/32")},
		{Kind: KindDelta, From: 42, To: 45, Issued: issued,
			Added: mustPrefixes("192.0.2.1/32"), Removed: mustPrefixes("203.0.113.9/32", "2001:db8:1::/48")},
		{Kind: KindDelta, From: 7, To: 7},
	}
	for _, m := range cases {
		b, err := Encode(&m, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b, pub)
		if err != nil {
			t.Fatalf("%s %d→%d: %v", m.Kind, m.From, m.To, err)
		}
		if got.Kind != m.Kind || got.From != m.From || got.To != m.To || !got.Issued.Equal(m.Issued) {
			t.Errorf("header: got %+v, want %+v", got, m)
		}
		if !samePrefixes(got.Added, m.Added) || !samePrefixes(got.Removed, m.Removed) {
			t.Errorf("entries: got %v / %v, want %v / %v", got.Added, got.Removed, m.Added, m.Removed)
		}
		// The encoding is canonical: encoding the decoded message again
		// gives the same bytes (ed25519 signatures are deterministic).
		again, err := Encode(got, key)
		if err != nil || !bytes.Equal(again, b) {
			t.Errorf("%s %d→%d: re-encoding differs (%v)", m.Kind, m.From, m.To, err)
		}
	}
}

func samePrefixes(a, b []netip.Prefix) bool {
	a = slices.Clone(a)
	b = slices.Clone(b)
	slices.SortFunc(a, comparePrefix)
	slices.SortFunc(b, comparePrefix)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func TestEncodeDedupesAndMasks(t *testing.T) {
	key := testKey(1)
	b, err := Encode(&Message{Kind: KindSnapshot, To: 1, Added: mustPrefixes("192.0.2.7/32", "192.0.2.7/32", "198.51.100.77/24")}, key)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(b, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	want := mustPrefixes("192.0.2.7/32", "198.51.100.0/24")
	if !slices.Equal(m.Added, want) {
		t.Errorf("got %v, want %v", m.Added, want)
	}
}

func TestEncodeRefuses(t *testing.T) {
	key := testKey(1)
	for name, m := range map[string]Message{
		"mapped":             {Kind: KindSnapshot, Added: []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.1/128")}},
		"invalid":            {Kind: KindSnapshot, Added: []netip.Prefix{{}}},
		"snapshot with from": {Kind: KindSnapshot, From: 1, To: 2},
		"snapshot removes":   {Kind: KindSnapshot, Removed: mustPrefixes("192.0.2.1/32")},
		"delta backwards":    {Kind: KindDelta, From: 3, To: 2},
		"kind":               {Kind: 9},
	} {
		if _, err := Encode(&m, key); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

// TestTamperedRefused flips every byte of a message in turn: each flip is
// refused (signature, key id or format), never accepted, never a panic.
func TestTamperedRefused(t *testing.T) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	b, err := Encode(&Message{Kind: KindDelta, From: 1, To: 2, Added: mustPrefixes("192.0.2.1/32", "2001:db8::/32"),
		Removed: mustPrefixes("198.51.100.1/32")}, key)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		if _, err := Decode(c, pub); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	// A byte appended or removed is refused too.
	if _, err := Decode(append(bytes.Clone(b), 0), pub); err == nil {
		t.Error("appended byte accepted")
	}
	if _, err := Decode(b[:len(b)-1], pub); err == nil {
		t.Error("truncated message accepted")
	}
}

func TestWrongKeyRefused(t *testing.T) {
	b, err := Encode(&Message{Kind: KindSnapshot, To: 1, Added: mustPrefixes("192.0.2.1/32")}, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	other := testKey(2).Public().(ed25519.PublicKey)
	if _, err := Decode(b, other); !errors.Is(err, ErrKey) {
		t.Errorf("other key: got %v, want ErrKey", err)
	}
	// A forger who copies the right key id still fails the signature.
	forged, err := Encode(&Message{Kind: KindSnapshot, To: 1, Added: mustPrefixes("192.0.2.1/32")}, testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	id := KeyID(testKey(1).Public().(ed25519.PublicKey))
	copy(forged[29:], id[:])
	if _, err := Decode(forged, testKey(1).Public().(ed25519.PublicKey)); !errors.Is(err, ErrSignature) {
		t.Errorf("forged key id: got %v, want ErrSignature", err)
	}
}

// TestDecodeStrict builds validly signed messages whose bodies break the
// format's rules: each is refused with ErrFormat.
func TestDecodeStrict(t *testing.T) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	sign := func(kind Kind, from, to uint64, body ...byte) []byte {
		b := make([]byte, headerLen)
		copy(b, Magic)
		b[4] = byte(kind)
		binary.BigEndian.PutUint64(b[5:], from)
		binary.BigEndian.PutUint64(b[13:], to)
		id := KeyID(pub)
		copy(b[29:], id[:])
		b = append(b, body...)
		return append(b, ed25519.Sign(key, b)...)
	}
	for name, b := range map[string][]byte{
		"count beyond bytes":   sign(KindSnapshot, 0, 1, 0xff, 0xff, 0x03, 0),
		"ipv4 beyond 2^32":     sign(KindSnapshot, 0, 1, 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0, 0, 0),
		"non-minimal varint":   sign(KindSnapshot, 0, 1, 1, 0x81, 0x00, 0, 0, 0),
		"host bits":            sign(KindSnapshot, 0, 1, 0, 1, 4, 24, 192, 0, 2, 1, 0, 0),
		"ipv4 /32 as prefix":   sign(KindSnapshot, 0, 1, 0, 1, 4, 32, 192, 0, 2, 1, 0, 0),
		"bits beyond 128":      sign(KindSnapshot, 0, 1, 0, 1, 6, 129, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		"prefixes unsorted":    sign(KindSnapshot, 0, 1, 0, 2, 4, 24, 198, 51, 100, 0, 4, 24, 192, 0, 2, 0, 0, 0),
		"prefix duplicated":    sign(KindSnapshot, 0, 1, 0, 2, 4, 24, 192, 0, 2, 0, 4, 24, 192, 0, 2, 0, 0, 0),
		"family 5":             sign(KindSnapshot, 0, 1, 0, 1, 5, 8, 10, 0, 0, 0, 0, 0),
		"trailing byte":        sign(KindSnapshot, 0, 1, 0, 0, 0, 0, 7),
		"missing removed list": sign(KindDelta, 1, 2, 0, 0),
		"snapshot removes":     sign(KindSnapshot, 0, 1, 0, 0, 1, 5, 0),
		"snapshot from":        sign(KindSnapshot, 3, 4, 0, 0, 0, 0),
		"delta backwards":      sign(KindDelta, 4, 3, 0, 0, 0, 0),
		"kind 3":               sign(3, 0, 1, 0, 0, 0, 0),
	} {
		if _, err := Decode(b, pub); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v, want ErrFormat", name, err)
		}
	}
	// The same builder with a valid body is accepted, so the cases above
	// fail for their own reason.
	if m, err := Decode(sign(KindSnapshot, 0, 1, 2, 1, 0, 1, 4, 24, 192, 0, 2, 0, 0, 0), pub); err != nil {
		t.Errorf("valid body refused: %v", err)
	} else if want := mustPrefixes("0.0.0.1/32", "0.0.0.2/32", "192.0.2.0/24"); !slices.Equal(m.Added, want) {
		t.Errorf("valid body: got %v, want %v", m.Added, want)
	}
}

// TestSnapshot100kSize checks the bound: a snapshot of 100,000
// random IPv4 addresses fits in 400 KB (it takes about 3 bytes per
// address).
func TestSnapshot100kSize(t *testing.T) {
	listed := randomV4(rand.New(rand.NewPCG(1, 2)), 100_000)
	b, err := Encode(&Message{Kind: KindSnapshot, To: 1, Added: listed}, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("100,000 random IPv4 addresses: %d bytes (%.2f per address)", len(b), float64(len(b))/100_000)
	if len(b) > 400_000 {
		t.Errorf("snapshot of 100,000 entries is %d bytes, more than 400,000", len(b))
	}
	m, err := Decode(b, testKey(1).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Added) != 100_000 {
		t.Errorf("decoded %d entries", len(m.Added))
	}
}

func BenchmarkEncodeSnapshot100k(b *testing.B) {
	listed := randomV4(rand.New(rand.NewPCG(1, 2)), 100_000)
	key := testKey(1)
	var size int
	for b.Loop() {
		out, err := Encode(&Message{Kind: KindSnapshot, To: 1, Added: listed}, key)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes")
}

func BenchmarkDecodeSnapshot100k(b *testing.B) {
	listed := randomV4(rand.New(rand.NewPCG(1, 2)), 100_000)
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	enc, err := Encode(&Message{Kind: KindSnapshot, To: 1, Added: listed}, key)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Decode(enc, pub); err != nil {
			b.Fatal(err)
		}
	}
}
