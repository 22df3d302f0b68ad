package group

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

func ident(t testing.TB) Identity {
	t.Helper()
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// trio builds a group made by admin with b joined through an invitation.
func pair(t *testing.T) (admin, b Identity, sa, sb *State) {
	t.Helper()
	admin, b = ident(t), ident(t)
	sa, err := Create(admin, "friends", "http://127.0.0.1:1", true)
	if err != nil {
		t.Fatal(err)
	}
	sb = join(t, admin, sa, b, "b")
	return admin, b, sa, sb
}

// join makes j join the group of admin's state sa, through the relay of
// the blobs as the hub would, and returns j's state.
func join(t *testing.T, admin Identity, sa *State, j Identity, label string) *State {
	t.Helper()
	code, err := sa.Invite(admin, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCode(code)
	if err != nil {
		t.Fatal(err)
	}
	sj, req, err := Join(j, c, label, t0)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := sa.Open(admin, req, t0)
	if err != nil || ev.Joined == nil {
		t.Fatalf("admin opens join: %v %+v", err, ev)
	}
	if ev.Joined.ID != j.ID() || ev.Joined.Label != label {
		t.Fatalf("joined %+v", ev.Joined)
	}
	commit, err := sa.Add(admin, *ev.Joined, t0)
	if err != nil {
		t.Fatal(err)
	}
	ev, err = sj.Open(j, commit, t0)
	if err != nil || !ev.Accepted {
		t.Fatalf("joiner opens commit: %v", err)
	}
	if sj.Epoch != sa.Epoch || !bytes.Equal(sj.Keys[sj.Epoch], sa.Keys[sa.Epoch]) || sj.Name() != "friends" {
		t.Fatalf("joiner state %+v", sj)
	}
	return sj
}

func body(addr string) Body {
	return Body{Decisions: []Decision{{Scope: netip.MustParsePrefix(addr), Scenario: "ssh-bf MARKER-scenario", Duration: time.Hour, Origin: "herd",
		Evidence: []string{"sshd[1]: Failed password for MARKER-user from " + addr}}}}
}

func TestMessageRoundTrip(t *testing.T) {
	admin, b, sa, sb := pair(t)
	blob, err := sb.Seal(b, body("198.51.100.7/32"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte("MARKER")) || bytes.Contains(blob, []byte("198.51.100.7")) {
		t.Fatal("plaintext in the blob")
	}
	ev, err := sa.Open(admin, blob, t0)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Sender.ID != b.ID() || len(ev.Body.Decisions) != 1 || ev.Body.Decisions[0].Scope.String() != "198.51.100.7/32" || ev.Body.Decisions[0].Evidence[0] == "" {
		t.Fatalf("event %+v", ev)
	}
	// Its own blob, back from the hub, is not opened.
	if ev, err := sb.Open(b, blob, t0); err != nil || !ev.Own {
		t.Fatalf("own blob: %v %+v", err, ev)
	}
}

func TestReplayRefused(t *testing.T) {
	admin, b, sa, sb := pair(t)
	blob, _ := sb.Seal(b, body("198.51.100.7/32"), t0)
	if _, err := sa.Open(admin, blob, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Open(admin, blob, t0); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	// An older message delivered after a newer one is refused too.
	old, _ := sb.Seal(b, body("198.51.100.8/32"), t0)
	newer, _ := sb.Seal(b, body("198.51.100.9/32"), t0)
	if _, err := sa.Open(admin, newer, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Open(admin, old, t0); !errors.Is(err, ErrReplay) {
		t.Fatalf("reordered: %v", err)
	}
}

// TestTamperRefused flips every bit of a message, one at a time: each
// changed blob is refused and leaves the state as it was.
func TestTamperRefused(t *testing.T) {
	admin, b, sa, sb := pair(t)
	blob, _ := sb.Seal(b, body("198.51.100.7/32"), t0)
	for i := range blob {
		for bit := range 8 {
			c := bytes.Clone(blob)
			c[i] ^= 1 << bit
			ev, err := sa.Open(admin, c, t0)
			if err == nil && !ev.Own {
				t.Fatalf("byte %d bit %d: tampered blob accepted", i, bit)
			}
		}
	}
	if _, err := sa.Open(admin, blob, t0); err != nil {
		t.Fatalf("the genuine blob after the tampered ones: %v", err)
	}
	// Cut short, or longer.
	for _, c := range [][]byte{blob[:len(blob)-1], append(bytes.Clone(blob), 0)} {
		if _, err := sa.Open(admin, c, t0); err == nil {
			t.Fatal("resized blob accepted")
		}
	}
}

// TestRemovedCannotRead: after Remove, the next epoch's messages do not
// open for the removed member, and its own messages are refused.
func TestRemovedCannotRead(t *testing.T) {
	admin, b, sa, sb := pair(t)
	c := ident(t)
	sc := join(t, admin, sa, c, "c")
	// b learns of c.
	commitC, err := sa.Add(admin, Member{}, t0)
	if err == nil {
		t.Fatal("adding an empty member twice")
	}
	_ = commitC
	rm, err := sa.Remove(admin, c.ID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := sb.Open(b, rm, t0); err != nil || !ev.Accepted {
		// b missed the commit adding c: it accepts the removal anyway,
		// being wrapped the new key.
		t.Fatalf("b opens the removal: %v", err)
	}
	if _, err := sc.Open(c, rm, t0); !errors.Is(err, ErrNoKey) {
		t.Fatalf("removed opens the removal: %v", err)
	}
	if sb.Epoch != 2 || sa.Epoch != 2 {
		t.Fatalf("epochs %d %d", sa.Epoch, sb.Epoch)
	}
	msg, err := sa.Seal(admin, body("198.51.100.10/32"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Open(c, msg, t0); !errors.Is(err, ErrNoKey) {
		t.Fatalf("removed member opened epoch 2: %v", err)
	}
	// Even given the header's epoch rewritten to its own, the removed
	// member cannot open it.
	forged := bytes.Clone(msg)
	forged[21] = 1
	if _, err := sc.Open(c, forged, t0); !errors.Is(err, ErrForged) {
		t.Fatalf("removed member with epoch rewritten: %v", err)
	}
	if _, err := sb.Open(b, msg, t0); err != nil {
		t.Fatalf("remaining member: %v", err)
	}
	// The removed member's messages are refused.
	fromC, err := sc.Seal(c, body("198.51.100.11/32"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Open(b, fromC, t0); !errors.Is(err, ErrStranger) {
		t.Fatalf("message from the removed: %v", err)
	}
}

func TestOnlyAdminsCommit(t *testing.T) {
	admin, b, sa, sb := pair(t)
	// b, not an admin, may not remove or add.
	if _, err := sb.Remove(b, admin.ID(), t0); err == nil {
		t.Fatal("non-admin removed")
	}
	// A commit b forges by flipping its own state's admin bit is refused
	// by the others.
	sb.Roster.Members[1].Admin = true
	forged, err := sb.Remove(b, admin.ID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Open(admin, forged, t0); !errors.Is(err, ErrStranger) {
		t.Fatalf("forged commit: %v", err)
	}
}

func TestInviteOnceAndExpiry(t *testing.T) {
	admin := ident(t)
	sa, _ := Create(admin, "g", "http://h:1", false)
	code, _ := sa.Invite(admin, t0, time.Hour)
	c, err := ParseCode(code)
	if err != nil {
		t.Fatal(err)
	}
	_, req1, _ := Join(ident(t), c, "x", t0)
	_, req2, _ := Join(ident(t), c, "y", t0)
	if ev, err := sa.Open(admin, req1, t0); err != nil || ev.Joined == nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := sa.Open(admin, req2, t0); err == nil {
		t.Fatal("second use of an invitation accepted")
	}
	code, _ = sa.Invite(admin, t0, time.Minute)
	c, _ = ParseCode(code)
	_, req3, _ := Join(ident(t), c, "z", t0)
	if _, err := sa.Open(admin, req3, t0.Add(2*time.Minute)); err == nil {
		t.Fatal("expired invitation accepted")
	}
	// A guessed secret is refused.
	code, _ = sa.Invite(admin, t0, time.Hour)
	c, _ = ParseCode(code)
	c.Secret[0] ^= 1
	_, req4, _ := Join(ident(t), c, "w", t0)
	if _, err := sa.Open(admin, req4, t0); !errors.Is(err, ErrForged) {
		t.Fatalf("wrong secret: %v", err)
	}
}

// TestStateJSON: the state survives the groups file.
func TestStateJSON(t *testing.T) {
	admin, b, sa, sb := pair(t)
	j, err := json.Marshal(sb)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	blob, _ := sa.Seal(admin, body("198.51.100.7/32"), t0)
	if _, err := back.Open(b, blob, t0); err != nil {
		t.Fatal(err)
	}
}

func TestBlobSizes(t *testing.T) {
	admin, b, sa, sb := pair(t)
	one, _ := sb.Seal(b, Body{Decisions: []Decision{{Scope: netip.MustParsePrefix("198.51.100.7/32"), Scenario: "sshd-bruteforce", Duration: 4 * time.Hour, Origin: "herd"}}}, t0)
	rm, _ := sa.Remove(admin, b.ID(), t0)
	t.Logf("message with one decision, no evidence: %d bytes; commit of 2 members: %d bytes", len(one), len(rm))
	if len(one) > 300 {
		t.Errorf("one decision: %d bytes", len(one))
	}
}

func TestFile(t *testing.T) {
	path := t.TempDir() + "/groups.json"
	admin := ident(t)
	err := Update(path, func(f *File) error {
		s, err := Create(admin, "g", "http://h:1", false)
		f.Groups = append(f.Groups, s)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil || f.Find("g") == nil || f.Find("g").Keys[1] == nil {
		t.Fatalf("Read = %+v, %v", f, err)
	}
	if err := Update(path, func(f *File) error { f.Groups = nil; return errors.New("no") }); err == nil {
		t.Fatal("failing update")
	}
	if f, _ := Read(path); f.Find("g") == nil {
		t.Fatal("a failed update was written")
	}
}

// TestJoinerReadsItsEpoch: a member added to an epoch reads the messages
// of that epoch sent before it joined (the key is wrapped to it, as a
// shared folder's key), and not those of earlier epochs.
func TestJoinerReadsItsEpoch(t *testing.T) {
	admin, b, sa, sb := pair(t)
	before, _ := sa.Seal(admin, body("198.51.100.20/32"), t0)
	rm, _ := sa.Remove(admin, b.ID(), t0)
	_ = rm
	during, _ := sa.Seal(admin, body("198.51.100.21/32"), t0)
	c := ident(t)
	sc := join(t, admin, sa, c, "c")
	if _, err := sc.Open(c, before, t0); !errors.Is(err, ErrNoKey) {
		t.Fatalf("a message of an earlier epoch: %v", err)
	}
	if ev, err := sc.Open(c, during, t0); err != nil || len(ev.Body.Decisions) != 1 {
		t.Fatalf("a message of the epoch it joined: %v", err)
	}
	_ = sb
}
