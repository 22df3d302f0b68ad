package group

import (
	"net/netip"
	"testing"
	"time"
)

func oneDecision() Body {
	return Body{Decisions: []Decision{{Scope: netip.MustParsePrefix("198.51.100.7/32"), Scenario: "sshd-bruteforce", Duration: 4 * time.Hour, Origin: "herd"}}}
}

// BenchmarkSeal: sealing one decision (JSON, HKDF, AES-128-GCM, ed25519).
func BenchmarkSeal(b *testing.B) {
	admin := ident(b)
	s, _ := Create(admin, "g", "http://h:1", false)
	body := oneDecision()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(admin, body, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen: opening one decision (the same, and the verification).
func BenchmarkOpen(b *testing.B) {
	admin, m := ident(b), ident(b)
	sa, _ := Create(admin, "g", "http://h:1", false)
	code, _ := sa.Invite(admin, t0, time.Hour)
	c, _ := ParseCode(code)
	sm, req, _ := Join(m, c, "m", t0)
	ev, _ := sa.Open(admin, req, t0)
	commit, _ := sa.Add(admin, *ev.Joined, t0)
	if _, err := sm.Open(m, commit, t0); err != nil {
		b.Fatal(err)
	}
	blobs := make([][]byte, 0, 1<<16)
	for range cap(blobs) {
		bl, _ := sa.Seal(admin, oneDecision(), t0)
		blobs = append(blobs, bl)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := sm.Open(m, blobs[i%len(blobs)], t0); err != nil && i < len(blobs) {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRemove: the commit that removes one member of 16: a new epoch
// key wrapped with HPKE to the 14 others.
func BenchmarkRemove(b *testing.B) {
	admin := ident(b)
	for b.Loop() {
		b.StopTimer()
		s, _ := Create(admin, "g", "http://h:1", false)
		var ids []ID
		for range 15 {
			m := ident(b)
			if _, err := s.Add(admin, m.Public(), t0); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, m.ID())
		}
		b.StartTimer()
		blob, err := s.Remove(admin, ids[0], t0)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(blob)), "bytes/commit")
	}
}
