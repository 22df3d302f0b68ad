package group

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// State is one member's view of a group: the current epoch and the keys it
// holds, the roster it last accepted, the invitations it made (admins) or
// the one it answered (a joiner), the sequence numbers seen per sender, and
// the hub's position it has read up to. The caller keeps it (the agent's
// groups file, with mode 0600: it holds the epoch keys) and serialises
// access to it.
type State struct {
	Group  GroupID
	Hub    string // the hub's URL, from the invitation or the creator's configuration
	Epoch  uint32
	Keys   map[uint32][]byte // epoch → key: the current one and the one before
	Roster Roster
	// Invites are the invitations this admin made and nobody used yet.
	Invites []Invite
	// Joining is the admin a pending join request was sent to, until the
	// commit that adds this member arrives.
	Joining *Member
	// Last is the highest sequence number accepted from each sender.
	Last map[ID]uint64
	// Seq is the last sequence number this member sent.
	Seq uint64
	// Cursor is the hub's position in the group's blobs read so far.
	Cursor int64
}

// Invite is an invitation waiting to be used: the SHA-256 of its secret
// and when it expires.
type Invite struct {
	Hash    [32]byte
	Expires time.Time
}

// Create makes a group named name with self as its only member and admin,
// at epoch 1 with a fresh key. evidence lets members share evidence lines.
func Create(self Identity, name, hub string, evidence bool) (*State, error) {
	if err := checkText("name", name, MaxNameSize); err != nil || name == "" {
		return nil, fmt.Errorf("group: name %q: 1 to %d bytes of printable UTF-8", name, MaxNameSize)
	}
	s := &State{Epoch: 1, Hub: hub, Keys: map[uint32][]byte{}, Last: map[ID]uint64{}}
	if _, err := rand.Read(s.Group[:]); err != nil {
		return nil, err
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s.Keys[1] = key
	me := self.Public()
	me.Admin = true
	s.Roster = Roster{Version: 1, Name: name, Evidence: evidence, Members: []Member{me}}
	return s, nil
}

// Name is the group's name.
func (s *State) Name() string { return s.Roster.Name }

// IsAdmin reports whether id is an admin of the current roster.
func (s *State) IsAdmin(id ID) bool {
	m, ok := s.Roster.Find(id)
	return ok && m.Admin
}

// nextSeq returns a sequence number above every one this member sent: the
// clock's nanoseconds, or the last plus one, so that a state restored from
// an older copy still never repeats one.
func (s *State) nextSeq(now time.Time) uint64 {
	n := max(s.Seq+1, uint64(max(now.UnixNano(), 0)))
	s.Seq = n
	return n
}

const codePrefix = "herdg1."

// Invite makes an invitation valid once until now+ttl and returns its
// code: the group id, the admin's public keys, a 16-byte one-time secret,
// the expiry and the hub's URL. Only an admin may invite.
func (s *State) Invite(self Identity, now time.Time, ttl time.Duration) (string, error) {
	if !s.IsAdmin(self.ID()) {
		return "", errors.New("group: only an admin may invite")
	}
	var secret [16]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", err
	}
	exp := now.Add(ttl)
	s.Invites = append(s.Invites, Invite{Hash: sha256.Sum256(secret[:]), Expires: exp})
	b := make([]byte, 0, 16+32+32+16+8)
	b = append(b, s.Group[:]...)
	b = append(b, self.Sign.Public().(ed25519.PublicKey)...)
	b = append(b, self.KEM.PublicKey().Bytes()...)
	b = append(b, secret[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(exp.Unix()))
	return codePrefix + base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString([]byte(s.Hub)), nil
}

// Code is a parsed invitation.
type Code struct {
	Group   GroupID
	Admin   Member
	Secret  [16]byte
	Expires time.Time
	Hub     string
}

// ParseCode parses an invitation code.
func ParseCode(c string) (Code, error) {
	var out Code
	bad := errors.New("group: invitation code: malformed")
	rest, ok := strings.CutPrefix(strings.TrimSpace(c), codePrefix)
	if !ok {
		return out, bad
	}
	a, h, ok := strings.Cut(rest, ".")
	if !ok {
		return out, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(b) != 16+32+32+16+8 {
		return out, bad
	}
	hub, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return out, bad
	}
	u, err := url.Parse(string(hub))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return out, errors.New("group: invitation code: bad hub URL")
	}
	copy(out.Group[:], b[:16])
	out.Admin = Member{Sign: ed25519.PublicKey(b[16:48]), KEM: b[48:80], Admin: true}
	if _, err := ecdh.X25519().NewPublicKey(out.Admin.KEM); err != nil {
		return out, bad
	}
	out.Admin.ID = IDOf(out.Admin.Sign)
	copy(out.Secret[:], b[80:96])
	out.Expires = time.Unix(int64(binary.BigEndian.Uint64(b[96:])), 0)
	out.Hub = string(hub)
	return out, nil
}

// Join answers an invitation: it returns the pending state and the join
// request to post, sealed with HPKE to the inviting admin, carrying the
// secret and self's public keys and label, signed by self.
func Join(self Identity, c Code, label string, now time.Time) (*State, []byte, error) {
	if err := checkText("label", label, MaxLabel); err != nil {
		return nil, nil, err
	}
	if now.After(c.Expires) {
		return nil, nil, errors.New("group: invitation expired")
	}
	admin := c.Admin
	s := &State{Group: c.Group, Hub: c.Hub, Keys: map[uint32][]byte{}, Last: map[ID]uint64{}, Joining: &admin}
	h := Header{Kind: KindJoin, Group: c.Group, Sender: self.ID(), Seq: s.nextSeq(now)}
	hdr := h.Append(make([]byte, 0, 512))
	me := self.Public()
	pt := make([]byte, 0, 256)
	pt = append(pt, c.Secret[:]...)
	pt = append(pt, me.Sign...)
	pt = append(pt, me.KEM...)
	pt = append(pt, byte(len(label)))
	pt = append(pt, label...)
	pt = append(pt, ed25519.Sign(self.Sign, sigContext(labelJoin, hdr, nil, pt))...)
	pk, err := ecdh.X25519().NewPublicKey(admin.KEM)
	if err != nil {
		return nil, nil, err
	}
	hp, err := hpke.NewDHKEMPublicKey(pk)
	if err != nil {
		return nil, nil, err
	}
	ct, err := hpke.Seal(hp, kdf, aead, joinInfo(hdr), pt)
	if err != nil {
		return nil, nil, err
	}
	return s, append(hdr, ct...), nil
}

func joinInfo(hdr []byte) []byte { return append([]byte(labelJoin+"\x00"), hdr...) }

// Seal returns a message blob carrying body, sealed under the current
// epoch key and signed by self.
func (s *State) Seal(self Identity, body Body, now time.Time) ([]byte, error) {
	if _, ok := s.Roster.Find(self.ID()); !ok || s.Keys[s.Epoch] == nil {
		return nil, errors.New("group: not a member")
	}
	p, err := EncodeBody(body)
	if err != nil {
		return nil, err
	}
	h := Header{Kind: KindMessage, Group: s.Group, Epoch: s.Epoch, Sender: self.ID(), Seq: s.nextSeq(now)}
	hdr := h.Append(make([]byte, 0, HeaderSize+len(p)+sealOverhead))
	return seal(hdr, s.Keys[s.Epoch], h, hdr[:HeaderSize:HeaderSize], nil, p, labelMessage, self.Sign)
}

// Add returns the commit that adds m to the group: the roster's next
// version, sealed under the current epoch key, and that key wrapped to m
// alone (the members hold it already). Only an admin may add.
func (s *State) Add(self Identity, m Member, now time.Time) ([]byte, error) {
	if !s.IsAdmin(self.ID()) {
		return nil, errors.New("group: only an admin may add a member")
	}
	if _, ok := s.Roster.Find(m.ID); ok {
		return nil, fmt.Errorf("group: %s is a member already", m.ID)
	}
	if len(s.Roster.Members) >= MaxMembers {
		return nil, errors.New("group: full")
	}
	m.Admin = false
	r := s.Roster
	r.Version++
	r.Members = append(append([]Member(nil), r.Members...), m)
	blob, err := s.commit(self, r, s.Epoch, s.Keys[s.Epoch], []Member{m}, now)
	if err != nil {
		return nil, err
	}
	s.Roster = r
	return blob, nil
}

// Remove returns the commit that removes the member id: a new epoch with
// a fresh key wrapped to every remaining member but self, so that the
// removed member cannot read what follows. Only an admin may remove; an
// admin cannot remove itself.
func (s *State) Remove(self Identity, id ID, now time.Time) ([]byte, error) {
	if !s.IsAdmin(self.ID()) {
		return nil, errors.New("group: only an admin may remove a member")
	}
	if id == self.ID() {
		return nil, errors.New("group: an admin cannot remove itself")
	}
	if _, ok := s.Roster.Find(id); !ok {
		return nil, fmt.Errorf("group: %s is not a member", id)
	}
	r := s.Roster
	r.Version++
	r.Members = nil
	var to []Member
	for _, m := range s.Roster.Members {
		if m.ID == id {
			continue
		}
		r.Members = append(r.Members, m)
		if m.ID != self.ID() {
			to = append(to, m)
		}
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	blob, err := s.commit(self, r, s.Epoch+1, key, to, now)
	if err != nil {
		return nil, err
	}
	s.Roster = r
	s.setKey(s.Epoch+1, key)
	return blob, nil
}

// setKey makes epoch the current one, keeping the key of the one before
// for messages sent before their sender saw the change.
func (s *State) setKey(epoch uint32, key []byte) {
	s.Epoch = epoch
	s.Keys[epoch] = key
	for e := range s.Keys {
		if e+1 < epoch {
			delete(s.Keys, e)
		}
	}
}

// commit builds a commit blob:
//
//	header  wraps-count(2) { recipient(16) length(2) hpke(enc || ct) }  sealed(roster || signature)
//
// The sealing's associated data and the signature bind the header and the
// SHA-256 of the wraps.
func (s *State) commit(self Identity, r Roster, epoch uint32, key []byte, to []Member, now time.Time) ([]byte, error) {
	h := Header{Kind: KindCommit, Group: s.Group, Epoch: epoch, Sender: self.ID(), Seq: s.nextSeq(now)}
	b := h.Append(make([]byte, 0, 1024))
	b = binary.BigEndian.AppendUint16(b, uint16(len(to)))
	for _, m := range to {
		w, err := wrap(m.KEM, s.Group, epoch, m.ID, key)
		if err != nil {
			return nil, err
		}
		b = append(b, m.ID[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(w)))
		b = append(b, w...)
	}
	sum := sha256.Sum256(b[HeaderSize:])
	return seal(b, key, h, b[:HeaderSize:HeaderSize], sum[:], appendRoster(nil, &r), labelCommit, self.Sign)
}

// Event is what Open found in a blob.
type Event struct {
	Header Header
	// Own is set for a blob self sent (it comes back from the hub); it is
	// not opened.
	Own bool
	// Body is a message's content (KindMessage), from Sender.
	Sender Member
	Body   Body
	// Joined is the member a valid join request asks to add (KindJoin, at
	// an admin): the caller commits it with Add.
	Joined *Member
	// Accepted is set when a commit changed the roster (KindCommit).
	Accepted bool
	// Welcome is set when the commit admitted self: the caller reads the
	// group's blobs again from the start (Cursor 0), for what the epoch
	// it joined already holds.
	Welcome bool
}

// Open checks and opens a blob relayed by the hub, and updates s: the
// sequence number seen, and for a commit the roster and keys. A blob that
// does not open (ErrForged), is replayed (ErrReplay), comes from a
// stranger (ErrStranger), belongs to an epoch whose key self does not hold
// (ErrNoKey) or is malformed (ErrMalformed) changes nothing.
func (s *State) Open(self Identity, blob []byte, now time.Time) (Event, error) {
	h, rest, err := ParseHeader(blob)
	if err != nil {
		return Event{}, err
	}
	ev := Event{Header: h}
	if h.Group != s.Group {
		return ev, fmt.Errorf("group: blob of another group: %w", ErrMalformed)
	}
	if h.Sender == self.ID() {
		ev.Own = true
		return ev, nil
	}
	if h.Seq <= s.Last[h.Sender] {
		return ev, fmt.Errorf("group: sender %s sequence %d: %w", h.Sender, h.Seq, ErrReplay)
	}
	hdr := blob[:HeaderSize:HeaderSize]
	switch h.Kind {
	case KindMessage:
		m, ok := s.Roster.Find(h.Sender)
		if !ok {
			return ev, fmt.Errorf("group: sender %s: %w", h.Sender, ErrStranger)
		}
		key := s.Keys[h.Epoch]
		if key == nil {
			return ev, fmt.Errorf("group: epoch %d: %w", h.Epoch, ErrNoKey)
		}
		p, err := open(key, h, hdr, nil, rest, labelMessage, m.Sign)
		if err != nil {
			return ev, fmt.Errorf("group: message from %s: %w", h.Sender, err)
		}
		body, err := DecodeBody(p)
		if err != nil {
			return ev, err
		}
		ev.Sender, ev.Body = m, body
	case KindCommit:
		if err := s.openCommit(self, &ev, h, hdr, rest); err != nil {
			return ev, err
		}
	case KindJoin:
		m, err := s.openJoin(self, h, hdr, rest, now)
		if err != nil {
			return ev, err
		}
		ev.Joined = &m
	}
	if ev.Welcome {
		// Admitted: the blobs refused while joining are read again, in
		// order; the roster's version refuses this commit then.
		clear(s.Last)
		return ev, nil
	}
	s.Last[h.Sender] = h.Seq
	return ev, nil
}

func (s *State) openCommit(self Identity, ev *Event, h Header, hdr, rest []byte) error {
	var signer Member
	if s.Joining != nil {
		signer = *s.Joining
		if h.Sender != signer.ID {
			return fmt.Errorf("group: commit from %s: %w", h.Sender, ErrStranger)
		}
	} else {
		m, ok := s.Roster.Find(h.Sender)
		if !ok || !m.Admin {
			return fmt.Errorf("group: commit from %s, not an admin: %w", h.Sender, ErrStranger)
		}
		signer = m
		if h.Epoch < s.Epoch {
			return fmt.Errorf("group: commit for old epoch %d: %w", h.Epoch, ErrReplay)
		}
	}
	if len(rest) < 2 {
		return fmt.Errorf("group: commit: %w", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(rest))
	p := rest[2:]
	var mine []byte
	for range n {
		if len(p) < 18 {
			return fmt.Errorf("group: commit wraps: %w", ErrMalformed)
		}
		var to ID
		copy(to[:], p[:16])
		ln := int(binary.BigEndian.Uint16(p[16:18]))
		if len(p) < 18+ln {
			return fmt.Errorf("group: commit wraps: %w", ErrMalformed)
		}
		if to == self.ID() {
			mine = p[18 : 18+ln]
		}
		p = p[18+ln:]
	}
	wraps := rest[:len(rest)-len(p)]
	var key []byte
	switch {
	case s.Joining == nil && h.Epoch == s.Epoch:
		key = s.Keys[h.Epoch]
	case mine != nil:
		k, err := unwrap(self.KEM, s.Group, h.Epoch, self.ID(), mine)
		if err != nil {
			return fmt.Errorf("group: commit: epoch key: %w", err)
		}
		key = k
	default:
		// A new epoch with no key for self: self was removed, or the
		// commit is not for it. Nothing can be checked.
		return fmt.Errorf("group: commit for epoch %d: %w", h.Epoch, ErrNoKey)
	}
	sum := sha256.Sum256(wraps)
	pt, err := open(key, h, hdr, sum[:], p, labelCommit, signer.Sign)
	if err != nil {
		return fmt.Errorf("group: commit from %s: %w", h.Sender, err)
	}
	r, err := decodeRoster(pt)
	if err != nil {
		return err
	}
	if r.Version <= s.Roster.Version {
		return fmt.Errorf("group: roster version %d after %d: %w", r.Version, s.Roster.Version, ErrReplay)
	}
	if _, ok := r.Find(self.ID()); !ok {
		return fmt.Errorf("group: a roster without self: %w", ErrMalformed)
	}
	if a, ok := r.Find(signer.ID); !ok || !a.Admin {
		return fmt.Errorf("group: a roster without its signer as admin: %w", ErrMalformed)
	}
	if s.Joining == nil && h.Epoch == s.Epoch {
		// Without a new epoch, nobody may leave the roster: the removed
		// would still hold the key.
		for _, m := range s.Roster.Members {
			if _, ok := r.Find(m.ID); !ok {
				return fmt.Errorf("group: member %s removed without a new epoch: %w", m.ID, ErrMalformed)
			}
		}
	}
	ev.Welcome = s.Joining != nil
	s.Joining = nil
	s.Roster = r
	s.setKey(h.Epoch, key)
	ev.Accepted = true
	ev.Sender = signer
	return nil
}

func (s *State) openJoin(self Identity, h Header, hdr, ct []byte, now time.Time) (Member, error) {
	if !s.IsAdmin(self.ID()) {
		return Member{}, fmt.Errorf("group: join request at a non-admin: %w", ErrNoKey)
	}
	hk, err := hpke.NewDHKEMPrivateKey(self.KEM)
	if err != nil {
		return Member{}, err
	}
	pt, err := hpke.Open(hk, kdf, aead, joinInfo(hdr), ct)
	if err != nil {
		return Member{}, fmt.Errorf("group: join request: %w", ErrForged)
	}
	if len(pt) < 16+32+32+1+ed25519.SignatureSize {
		return Member{}, fmt.Errorf("group: join request: %w", ErrMalformed)
	}
	body, sig := pt[:len(pt)-ed25519.SignatureSize], pt[len(pt)-ed25519.SignatureSize:]
	m := Member{Sign: ed25519.PublicKey(append([]byte(nil), body[16:48]...)), KEM: append([]byte(nil), body[48:80]...)}
	ln := int(body[80])
	if len(body) != 81+ln {
		return Member{}, fmt.Errorf("group: join request: %w", ErrMalformed)
	}
	m.Label = string(body[81:])
	if err := checkText("label", m.Label, MaxLabel); err != nil {
		return Member{}, fmt.Errorf("group: join request: %w", ErrMalformed)
	}
	if _, err := ecdh.X25519().NewPublicKey(m.KEM); err != nil {
		return Member{}, fmt.Errorf("group: join request: %w", ErrMalformed)
	}
	m.ID = IDOf(m.Sign)
	if m.ID != h.Sender || !ed25519.Verify(m.Sign, sigContext(labelJoin, hdr, nil, body), sig) {
		return Member{}, fmt.Errorf("group: join request: %w", ErrForged)
	}
	hash := sha256.Sum256(body[:16])
	for i, inv := range s.Invites {
		if subtle.ConstantTimeCompare(hash[:], inv.Hash[:]) == 1 {
			s.Invites = append(s.Invites[:i], s.Invites[i+1:]...) // valid once, even when expired
			if now.After(inv.Expires) {
				return Member{}, errors.New("group: join request: invitation expired")
			}
			return m, nil
		}
	}
	return Member{}, fmt.Errorf("group: join request: no such invitation: %w", ErrForged)
}

// Expire drops the invitations that expired before now.
func (s *State) Expire(now time.Time) {
	s.Invites = slices.DeleteFunc(s.Invites, func(i Invite) bool { return now.After(i.Expires) })
}
