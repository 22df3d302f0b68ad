package export

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go4.org/netipx"

	"github.com/herd-ips/herd/internal/herdtest"
)

// These tests load the exports into the programs that consume them, each
// in a network namespace the test creates (ipset and nftables state is per
// namespace), and read back what the program holds.

func needTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not found; install the Debian package %s to include this test", name, pkg)
	}
}

// bigList is the sample plus n random IPv4 addresses and IPv6 /64s.
func bigList(n int) []netip.Prefix {
	rng := rand.New(rand.NewPCG(7, 8))
	list := slices.Clone(sample)
	for range n {
		if rng.IntN(5) == 0 {
			var a [16]byte
			a[0], a[1], a[2], a[3], a[6], a[7] = 0x20, 0x01, 0x0d, 0xb8, byte(rng.IntN(256)), byte(rng.IntN(256))
			list = append(list, netip.PrefixFrom(netip.AddrFrom16(a), 64))
			continue
		}
		list = append(list, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(rng.IntN(64)), byte(rng.IntN(256)), byte(rng.IntN(256))}), 32))
	}
	return list
}

func writeFile(t *testing.T, f Format, list []netip.Prefix, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(out, f, list, sampleOptions()); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// inNetns runs cmd in namespace ns and returns its output and error.
func inNetns(ns string, cmd ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, cmd...)...).CombinedOutput()
	return string(out), err
}

func familySet(t *testing.T, list []netip.Prefix, v4 bool) *netipx.IPSet {
	var b netipx.IPSetBuilder
	b.AddSet(setOf(t, list, false))
	if v4 {
		b.RemovePrefix(netip.MustParsePrefix("::/0"))
	} else {
		b.RemovePrefix(netip.MustParsePrefix("0.0.0.0/0"))
	}
	s, err := b.IPSet()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIpsetRestoreLoadsTheList(t *testing.T) {
	herdtest.Skip(t)
	needTool(t, "ipset", "ipset")
	ns, _ := herdtest.NewNetns(t)

	// Enough entries that the kernel grows the hash tables, which must not
	// stop the next restore's `create -exist` from matching the live set.
	first := bigList(5000)
	herdtest.Exec(t, ns, "ipset", "restore", "-file", writeFile(t, Ipset, first, "first.ipset"))
	checkIpset(t, ns, first)

	for _, c := range []struct {
		set, addr string
		in        bool
	}{
		{DefaultIpsetV4, "192.0.2.7", true},
		{DefaultIpsetV4, "198.51.100.200", true},
		{DefaultIpsetV4, "10.0.0.1", true},
		{DefaultIpsetV4, "192.0.2.9", false},
		{DefaultIpsetV4, "10.0.0.2", false},
		{DefaultIpsetV6, "2001:db8:0:ffff::1", true},
		{DefaultIpsetV6, "2001:db8:1::1", false},
	} {
		out, err := inNetns(ns, "ipset", "test", c.set, c.addr)
		if (err == nil) != c.in {
			t.Errorf("ipset test %s %s: %v %s, want listed=%v", c.set, c.addr, err, out, c.in)
		}
	}

	// A firewall rule holds a reference to the live set; the swap and the
	// destroy of the old content must work all the same.
	if _, err := exec.LookPath("iptables"); err == nil {
		herdtest.Exec(t, ns, "iptables", "-I", "INPUT", "-m", "set", "--match-set", DefaultIpsetV4, "src", "-j", "DROP")
	} else {
		t.Log("iptables not found: reloading a set no rule refers to")
	}

	// A reload replaces the content whole and leaves no temporary set.
	second := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/25"), netip.MustParsePrefix("2001:db8:42::/48")}
	herdtest.Exec(t, ns, "ipset", "restore", "-file", writeFile(t, Ipset, second, "second.ipset"))
	checkIpset(t, ns, second)
	names := strings.Fields(herdtest.Exec(t, ns, "ipset", "list", "-n"))
	slices.Sort(names)
	if !slices.Equal(names, []string{DefaultIpsetV4, DefaultIpsetV6}) {
		t.Errorf("sets after reload = %v, want only the two live ones", names)
	}
}

// checkIpset compares each live set, entry by entry, with the aggregated list.
func checkIpset(t *testing.T, ns string, list []netip.Prefix) {
	t.Helper()
	want, err := Aggregate(list)
	if err != nil {
		t.Fatal(err)
	}
	var got []netip.Prefix
	for _, set := range []string{DefaultIpsetV4, DefaultIpsetV6} {
		for line := range strings.Lines(herdtest.Exec(t, ns, "ipset", "save", set)) {
			entry, ok := strings.CutPrefix(strings.TrimSpace(line), "add "+set+" ")
			if !ok {
				continue
			}
			p, err := Read(strings.NewReader(entry), CIDR, "ipset save")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p...)
		}
	}
	slices.SortFunc(got, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	if !slices.Equal(got, want) {
		t.Fatalf("ipset holds %d entries, want the %d aggregated ones (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []netip.Prefix) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestNftLoadsTheList(t *testing.T) {
	herdtest.Skip(t)
	needTool(t, "nft", "nftables")
	ns, _ := herdtest.NewNetns(t)

	first := bigList(3000)
	herdtest.Exec(t, ns, "nft", "-f", writeFile(t, Nft, first, "first.nft"))
	checkNft(t, ns, first)
	for _, c := range []struct {
		set, addr string
		in        bool
	}{
		{DefaultNftSetV4, "192.0.2.8", true},
		{DefaultNftSetV4, "198.51.100.1", true},
		{DefaultNftSetV4, "192.0.2.5", false},
		{DefaultNftSetV6, "2001:db8:0:1::9", true},
		{DefaultNftSetV6, "2001:db8:fffe::1", false},
	} {
		out, err := inNetns(ns, "nft", "get", "element", "inet", DefaultNftTable, c.set, "{ "+c.addr+" }")
		if (err == nil) != c.in {
			t.Errorf("nft get element %s { %s }: %v %s, want listed=%v", c.set, c.addr, err, out, c.in)
		}
	}

	// A chain that uses the sets, added once by the administrator, must
	// survive the reloads.
	herdtest.Exec(t, ns, "nft", "add chain inet "+DefaultNftTable+" input { type filter hook input priority -10; policy accept; }")
	herdtest.Exec(t, ns, "nft", "add rule inet "+DefaultNftTable+" input ip saddr @"+DefaultNftSetV4+" drop")
	herdtest.Exec(t, ns, "nft", "add rule inet "+DefaultNftTable+" input ip6 saddr @"+DefaultNftSetV6+" drop")

	// Loading the next version replaces the content.
	second := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/25"), netip.MustParsePrefix("2001:db8:42::/48")}
	herdtest.Exec(t, ns, "nft", "-f", writeFile(t, Nft, second, "second.nft"))
	checkNft(t, ns, second)
	if rules := herdtest.Exec(t, ns, "nft", "list", "chain", "inet", DefaultNftTable, "input"); strings.Count(rules, " drop") != 2 {
		t.Errorf("the chain lost its rules on reload:\n%s", rules)
	}
}

// checkNft reads both sets back as JSON and compares the addresses they
// cover with the list's.
func checkNft(t *testing.T, ns string, list []netip.Prefix) {
	t.Helper()
	for _, c := range []struct {
		set string
		v4  bool
	}{{DefaultNftSetV4, true}, {DefaultNftSetV6, false}} {
		out := herdtest.Exec(t, ns, "nft", "-j", "list", "set", "inet", DefaultNftTable, c.set)
		var doc struct {
			Nftables []struct {
				Set *struct {
					Flags []string          `json:"flags"`
					Elem  []json.RawMessage `json:"elem"`
				} `json:"set"`
			} `json:"nftables"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("nft -j: %v\n%s", err, out)
		}
		var b netipx.IPSetBuilder
		found := false
		for _, o := range doc.Nftables {
			if o.Set == nil {
				continue
			}
			found = true
			if !slices.Contains(o.Set.Flags, "interval") {
				t.Errorf("set %s flags %v, want interval", c.set, o.Set.Flags)
			}
			for _, e := range o.Set.Elem {
				r, err := nftElem(e)
				if err != nil {
					t.Fatalf("set %s: %v", c.set, err)
				}
				b.AddRange(r)
			}
		}
		if !found {
			t.Fatalf("nft -j list set %s: no set in %s", c.set, out)
		}
		got, err := b.IPSet()
		if err != nil {
			t.Fatal(err)
		}
		if want := familySet(t, list, c.v4); !got.Equal(want) {
			t.Fatalf("set %s covers %d ranges, want %d", c.set, len(got.Ranges()), len(want.Ranges()))
		}
	}
}

// nftElem decodes one element of nft's JSON: "addr", {"prefix":{"addr","len"}}
// or {"range":[first,last]}.
func nftElem(raw json.RawMessage) (netipx.IPRange, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		a, err := netip.ParseAddr(s)
		return netipx.IPRangeFrom(a, a), err
	}
	var o struct {
		Prefix *struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
		Range []string `json:"range"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return netipx.IPRange{}, err
	}
	switch {
	case o.Prefix != nil:
		p, err := netip.ParsePrefix(o.Prefix.Addr + "/" + strconv.Itoa(o.Prefix.Len))
		return netipx.RangeOfPrefix(p), err
	case len(o.Range) == 2:
		r, err := netipx.ParseIPRange(o.Range[0] + "-" + o.Range[1])
		return r, err
	}
	return netipx.IPRange{}, fmt.Errorf("unknown element %s", raw)
}

// TestTransmissionLoadsP2PAndDat gives both files to transmission-daemon,
// which converts every block list it finds into a binary table of IPv4
// ranges (pairs of host-order uint32, first and last) and logs how many it
// holds. The tables must hold exactly our merged IPv4 ranges.
func TestTransmissionLoadsP2PAndDat(t *testing.T) {
	herdtest.Skip(t)
	needTool(t, "transmission-daemon", "transmission-daemon")
	ns, _ := herdtest.NewNetns(t) // its own ports, and no network to reach

	list := bigList(2000)
	want := setOf(t, list, true).Ranges()
	dir := t.TempDir()
	lists := filepath.Join(dir, "blocklists")
	if err := os.Mkdir(lists, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Format{P2P, Dat} {
		data, err := os.ReadFile(writeFile(t, f, list, f.Filename()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(lists, f.Filename()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	settings := `{"blocklist-enabled": true, "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false,
"port-forwarding-enabled": false, "utp-enabled": false, "rpc-enabled": false}`
	if err := os.WriteFile(filepath.Join(dir, "settings.json"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "transmission-daemon", "-f", "-g", dir, "--log-info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	// Blocklist "herd.p2p.bin" contains 1234 entries
	contains := regexp.MustCompile(`Blocklist "([^"]+)\.bin" contains (\d+) entries`)
	counts := map[string]int{}
	var log []string
	sc := bufio.NewScanner(stderr)
	for len(counts) < 2 && sc.Scan() {
		line := sc.Text()
		log = append(log, line)
		if strings.Contains(line, "skipped") {
			t.Errorf("transmission skipped a line: %s", line)
		}
		if m := contains.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[2])
			counts[m[1]] = n
		}
	}
	if len(counts) < 2 {
		t.Fatalf("transmission-daemon did not report both lists (%v); its log:\n%s", ctx.Err(), strings.Join(log, "\n"))
	}
	for _, f := range []Format{P2P, Dat} {
		if counts[f.Filename()] != len(want) {
			t.Errorf("%s: transmission counts %d entries, want %d", f, counts[f.Filename()], len(want))
		}
		got, err := readTransmissionTable(filepath.Join(lists, f.Filename()+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: transmission's table differs from our ranges (%d against %d, first difference at %d)", f, len(got), len(want), firstRangeDiff(got, want))
		}
	}
}

func readTransmissionTable(path string) ([]netipx.IPRange, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data)%8 != 0 {
		return nil, errors.New("transmission table: size not a multiple of 8")
	}
	var out []netipx.IPRange
	for i := 0; i < len(data); i += 8 {
		a, b := binary.NativeEndian.Uint32(data[i:]), binary.NativeEndian.Uint32(data[i+4:])
		out = append(out, netipx.IPRangeFrom(addr4(a), addr4(b)))
	}
	return out, nil
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func firstRangeDiff(a, b []netipx.IPRange) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
