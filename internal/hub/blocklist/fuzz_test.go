package blocklist

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode, twice: as they are (the
// signature then fails, which exercises the header checks), and re-signed
// with the test key so that the body decoder itself meets hostile bytes.
// It must never panic; whatever it accepts must encode back to a message
// that decodes to the same entries.
func FuzzDecode(f *testing.F) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	for _, m := range []Message{
		{Kind: KindSnapshot, To: 3, Added: mustPrefixes("192.0.2.1/32", "198.51.100.0/24", "2001:db8::/32")},
		{Kind: KindDelta, From: 3, To: 5, Added: mustPrefixes("192.0.2.9/32"), Removed: mustPrefixes("192.0.2.1/32")},
	} {
		b, err := Encode(&m, key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Decode(b, pub)
		if len(b) < headerLen+ed25519.SignatureSize {
			return
		}
		// Re-sign: keep magic and key id right so the body is reached.
		body := append([]byte(nil), b[:len(b)-ed25519.SignatureSize]...)
		copy(body, Magic)
		id := KeyID(pub)
		copy(body[29:], id[:])
		signed := append(body, ed25519.Sign(key, body)...)
		m, err := Decode(signed, pub)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("re-signed message refused for another reason: %v", err)
			}
			return
		}
		again, err := Encode(m, key)
		if err != nil {
			t.Fatalf("accepted message does not encode: %v", err)
		}
		m2, err := Decode(again, pub)
		if err != nil || !samePrefixes(m2.Added, m.Added) || !samePrefixes(m2.Removed, m.Removed) {
			t.Fatalf("round trip of an accepted message differs: %v", err)
		}
	})
}
