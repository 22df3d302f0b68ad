package nft

import (
	"errors"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/event"
	"github.com/herd-ips/herd/internal/herdtest"
)

// TestReadStats reads a namespace without herd's table (nothing is
// created), then after bans of addresses and ranges.
func TestReadStats(t *testing.T) {
	_, fd := herdtest.NewNetns(t)
	st, err := ReadStats(Options{NetNS: fd})
	if errors.Is(err, ErrNotSupported) {
		t.Skipf("nftables not available here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if st.Exists || st.Total() != 0 {
		t.Fatalf("stats of an empty namespace: %+v", st)
	}
	if st, err := ReadStats(Options{NetNS: fd}); err != nil || st.Exists {
		t.Fatalf("ReadStats created the table: %+v, %v", st, err)
	}

	f := newFirewall(t, fd, Options{})
	until := time.Now().Add(time.Hour)
	if err := f.Apply(event.Change{Add: []event.Decision{
		ban("192.0.2.1/32", until), ban("192.0.2.2/32", until), ban("2001:db8::1/128", until),
		ban("198.51.100.0/24", until), ban("2001:db8:1::/48", until), ban("2001:db8:2::/48", until),
	}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	st, err = ReadStats(Options{NetNS: fd})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{setBan4: 2, setBan6: 1, setRanges4: 1, setRanges6: 2}
	if !st.Exists || st.Total() != 6 {
		t.Errorf("stats %+v, want the table with %v", st, want)
	}
	for k, v := range want {
		if st.Elements[k] != v {
			t.Errorf("set %s: %d elements, want %d", k, st.Elements[k], v)
		}
	}
	if st, err := ReadStats(Options{NetNS: fd, Table: "other"}); err != nil || st.Exists {
		t.Errorf("a table of another name: %+v, %v", st, err)
	}
}
