package group

import (
	"bytes"
	"testing"
	"time"
)

// FuzzOpen: whatever the hub relays, Open returns an error or an event,
// never panics, and a blob that fails leaves the state able to open the
// genuine ones.
func FuzzOpen(f *testing.F) {
	admin, b := ident(f), ident(f)
	sa, _ := Create(admin, "g", "http://h:1", true)
	code, _ := sa.Invite(admin, t0, time.Hour)
	c, _ := ParseCode(code)
	sb, req, _ := Join(b, c, "b", t0)
	ev, _ := sa.Open(admin, req, t0)
	commit, _ := sa.Add(admin, *ev.Joined, t0)
	if _, err := sb.Open(b, commit, t0); err != nil {
		f.Fatal(err)
	}
	msg, _ := sb.Seal(b, body("198.51.100.7/32"), t0)
	code2, _ := sa.Invite(admin, t0, time.Hour)
	c2, _ := ParseCode(code2)
	_, req2, _ := Join(ident(f), c2, "c", t0)
	f.Add(msg)
	f.Add(commit)
	f.Add(req2)
	f.Fuzz(func(t *testing.T, blob []byte) {
		s := *sa
		s.Last = map[ID]uint64{}
		s.Invites = append([]Invite(nil), sa.Invites...)
		_, _ = s.Open(admin, bytes.Clone(blob), t0)
		s2 := *sb
		s2.Last = map[ID]uint64{}
		_, _ = s2.Open(b, bytes.Clone(blob), t0)
	})
}

func FuzzDecodeBody(f *testing.F) {
	p, _ := EncodeBody(body("198.51.100.7/32"))
	f.Add(p)
	f.Add([]byte(`{"decisions":[]}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := DecodeBody(p)
		if err != nil {
			return
		}
		q, err := EncodeBody(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeBody(q); err != nil {
			t.Fatalf("re-encoded body refused: %v", err)
		}
	})
}

func FuzzParseCode(f *testing.F) {
	admin := ident(f)
	sa, _ := Create(admin, "g", "http://h:1", true)
	code, _ := sa.Invite(admin, t0, time.Hour)
	f.Add(code)
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseCode(s) })
}
