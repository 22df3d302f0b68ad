package herdtest

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestVethCarriesTCP(t *testing.T) {
	a, fdA := NewNetns(t)
	b, fdB := NewNetns(t)
	Veth(t, a, b, netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("192.0.2.2/24"))
	Veth(t, a, b, netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::2/64"))
	port := Listen(t, fdA, "[::]:0").Port()
	for _, to := range []string{"192.0.2.1", "2001:db8::1"} {
		if err := Dial(fdB, netip.AddrPortFrom(netip.MustParseAddr(to), port), 2*time.Second); err != nil {
			t.Errorf("dial %s from %s: %v", to, b, err)
		}
	}
	// The listener lives in a, not in this process's namespace.
	if err := Dial(fdB, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), time.Second); err == nil {
		t.Error("dialled a's listener on b's loopback")
	}
	if out := Exec(t, a, "ip", "-br", "addr"); !strings.Contains(out, "192.0.2.1/24") {
		t.Errorf("ip addr in %s lacks 192.0.2.1/24:\n%s", a, out)
	}
}

func TestNamespaceRemovedAtCleanup(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) { name, _ = NewNetns(t) })
	if name == "" {
		t.Skip("no namespace was created")
	}
	if _, err := os.Stat("/run/netns/" + name); !os.IsNotExist(err) {
		t.Fatalf("namespace %s still exists after its test: %v", name, err)
	}
}
