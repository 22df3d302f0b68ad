package hubstore

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/hub/wire"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, Options{DSN: filepath.Join(t.TempDir(), "hub.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	pub, _, _ := ed25519.GenerateKey(nil)
	id := wire.IDOf(pub)
	first := Reporter{ID: id, Key: pub, Network: netip.MustParsePrefix("81.2.69.0/24"), Enrolled: t0}
	if r, err := st.Enroll(ctx, first); err != nil || !r.Enrolled.Equal(t0) {
		t.Fatalf("Enroll = %+v, %v", r, err)
	}
	again := first
	again.Enrolled, again.Network = t0.Add(time.Hour), netip.MustParsePrefix("81.2.70.0/24")
	if r, err := st.Enroll(ctx, again); err != nil || !r.Enrolled.Equal(t0) || r.Network != first.Network {
		t.Fatalf("re-Enroll = %+v, %v (the first enrollment must stay)", r, err)
	}
	if _, err := st.Reporter(ctx, wire.ReporterID{1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown reporter: %v", err)
	}

	// Signals: ids in order, minute filter.
	sigs := []wire.Signal{
		{Source: netip.MustParseAddr("81.2.69.1"), Class: wire.Portscan, Minute: 100},
		{Source: netip.MustParseAddr("2a00:1450::1"), Class: wire.SSHBruteforce, Minute: 200},
	}
	if err := st.AddSignals(ctx, id, first.Network, t0, sigs); err != nil {
		t.Fatal(err)
	}
	upTo, err := st.SafeSignalID(ctx)
	if err != nil || upTo != 2 {
		t.Fatalf("SafeSignalID = %d, %v", upTo, err)
	}
	var got []StoredSignal
	st.Signals(ctx, 0, upTo, 150, func(s StoredSignal) { got = append(got, s) })
	if len(got) != 1 || got[0].Signal != sigs[1] || got[0].Reporter != id {
		t.Fatalf("Signals = %+v", got)
	}
	if n, err := st.PruneSignals(ctx, 150); err != nil || n != 1 {
		t.Fatalf("PruneSignals = %d, %v", n, err)
	}

	// The listing: removals first, then additions, each sorted.
	set := func(want ...string) uint64 {
		t.Helper()
		v, err := st.UpdateListing(ctx, t0, func([]netip.Addr) ([]netip.Addr, error) { return addrs(want...), nil })
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := set("81.2.69.9", "81.2.69.3"); v != 2 {
		t.Fatalf("version %d", v)
	}
	if v := set("81.2.69.9", "81.2.69.4"); v != 4 {
		t.Fatalf("version %d", v)
	}
	to, added, removed, err := st.Since(ctx, 2)
	if err != nil || to != 4 || len(added) != 1 || added[0].String() != "81.2.69.4/32" || len(removed) != 1 || removed[0].String() != "81.2.69.3/32" {
		t.Fatalf("Since(2) = %d %v %v %v", to, added, removed, err)
	}
	v, listed, err := st.Snapshot(ctx)
	if err != nil || v != 4 || len(listed) != 2 || listed[0].String() != "81.2.69.4/32" {
		t.Fatalf("Snapshot = %d %v %v", v, listed, err)
	}
	// An error from compute changes nothing.
	boom := errors.New("boom")
	if _, err := st.UpdateListing(ctx, t0, func([]netip.Addr) ([]netip.Addr, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if v, _, _ := st.Snapshot(ctx); v != 4 {
		t.Fatalf("version after failed update %d", v)
	}
	if n, err := st.PruneChanges(ctx, t0.Add(time.Second)); err != nil || n != 3 {
		t.Fatalf("PruneChanges = %d, %v", n, err)
	}
	if _, _, _, err := st.Since(ctx, 2); !errors.Is(err, ErrTooOld) {
		t.Fatalf("Since after prune: %v", err)
	}
	if to, _, _, err := st.Since(ctx, 3); err != nil || to != 4 {
		t.Fatalf("Since(3) after prune: %d %v", to, err)
	}
	if l, err := st.ListedSince(ctx, t0); err != nil || len(l) != 1 {
		t.Fatalf("ListedSince = %v, %v", l, err)
	}
}

// TestListingStoresSlash64s: an IPv6 address with a zero interface
// identifier stands for its /64 (wire.ListingPrefix) and is stored and sent
// as the /64; any other IPv6 address as itself; a row is removed as it was
// stored.
func TestListingStoresSlash64s(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, Options{DSN: filepath.Join(t.TempDir(), "hub.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	set := func(want ...string) {
		t.Helper()
		if _, err := st.UpdateListing(ctx, t0, func([]netip.Addr) ([]netip.Addr, error) { return addrs(want...), nil }); err != nil {
			t.Fatal(err)
		}
	}
	set("2001:db8:1:2::", "2001:db8:1:3::99")
	_, listed, err := st.Snapshot(ctx)
	if err != nil || len(listed) != 2 || listed[0].String() != "2001:db8:1:2::/64" || listed[1].String() != "2001:db8:1:3::99/128" {
		t.Fatalf("Snapshot = %v, %v; want the /64 and the /128", listed, err)
	}
	set("2001:db8:1:3::99")
	_, listed, err = st.Snapshot(ctx)
	if err != nil || len(listed) != 1 || listed[0].String() != "2001:db8:1:3::99/128" {
		t.Fatalf("after removing the /64: %v, %v", listed, err)
	}
}
