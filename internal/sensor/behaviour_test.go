package sensor_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/detect"
	"github.com/herd-ips/herd/internal/profile"
	"github.com/herd-ips/herd/internal/sensor"
	"github.com/herd-ips/herd/internal/sensor/capture"
	"github.com/herd-ips/herd/internal/sensor/packet"
	"github.com/herd-ips/herd/internal/sensor/protoid"
)

// trace builds a capture file of synthetic traffic.
type trace struct {
	t   testing.TB
	buf bytes.Buffer
	w   *capture.Writer
	at  time.Time
}

func newTrace(t testing.TB) *trace {
	tr := &trace{t: t, at: time.Unix(1_750_000_000, 0).UTC()}
	w, err := capture.NewWriter(&tr.buf, capture.LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	tr.w = w
	return tr
}

// add writes one frame, dt after the previous one.
func (tr *trace) add(dt time.Duration, f packet.Frame) {
	tr.at = tr.at.Add(dt)
	if err := tr.w.Write(tr.at, packet.Build(f)); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *trace) tcp(dt time.Duration, src, dst string, sp, dp uint16, flags uint8, payload string) {
	tr.add(dt, packet.Frame{Packet: packet.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sp, DstPort: dp, Proto: packet.ProtoTCP, Flags: flags, Payload: []byte(payload)}})
}

func (tr *trace) udp(dt time.Duration, src, dst string, sp, dp uint16, payload []byte) {
	tr.add(dt, packet.Frame{Packet: packet.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sp, DstPort: dp, Proto: packet.ProtoUDP, Payload: payload}})
}

// file writes the trace to a pcap file and returns its path.
func (tr *trace) file() string {
	p := filepath.Join(tr.t.TempDir(), "trace.pcap")
	if err := os.WriteFile(p, tr.buf.Bytes(), 0o600); err != nil {
		tr.t.Fatal(err)
	}
	return p
}

type result struct {
	flows  []sensor.Flow
	alerts []detect.Outcome
	stats  sensor.Stats
}

func run(t testing.TB, path string, o sensor.Options) result {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var res result
	if o.Detector == nil {
		o.Detector = newDetector(t)
	}
	o.OnFlow = func(f *sensor.Flow) { res.flows = append(res.flows, *f) }
	o.OnAlert = func(a *detect.Outcome) { res.alerts = append(res.alerts, *a) }
	res.stats, err = sensor.Run(context.Background(), []capture.Source{r}, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func ip4(i int) string {
	return netip.AddrFrom4([4]byte{byte(11 + i>>24&0x7f), byte(i >> 16), byte(i >> 8), byte(i)}).String()
}

func alertsOf(res result, scenario string) []detect.Outcome {
	var out []detect.Outcome
	for _, a := range res.alerts {
		if a.Alert.Scenario == scenario {
			out = append(out, a)
		}
	}
	return out
}

// TestSpoofedSYNFloodAlertsOnTheVictim: 5,000 SYNs from forged sources,
// each answered by the victim's SYN-ACK and never completed, alert on the
// victim without a decision, and never on a forged source.
func TestSpoofedSYNFloodAlertsOnTheVictim(t *testing.T) {
	tr := newTrace(t)
	for i := range 5000 {
		src := ip4(1000 + i*7)
		tr.tcp(100*time.Microsecond, src, "192.0.2.80", uint16(1024+i), 80, packet.SYN, "")
		tr.tcp(10*time.Microsecond, "192.0.2.80", src, 80, uint16(1024+i), packet.SYN|packet.ACK, "")
	}
	res := run(t, tr.file(), sensor.Options{FlowCapacity: 1000})
	fl := alertsOf(res, "sensor-syn-flood")
	if len(fl) == 0 {
		t.Fatalf("no SYN flood alert; alerts %v", res.alerts)
	}
	for _, a := range res.alerts {
		if a.Alert.Source != netip.MustParseAddr("192.0.2.80") {
			t.Errorf("alert %s on %v: a forged source", a.Alert.Scenario, a.Alert.Source)
		}
		if a.Verdict == profile.Decided {
			t.Errorf("alert %s decided %v", a.Alert.Scenario, a.Decision)
		}
	}
	if res.stats.Evicted == 0 {
		t.Errorf("5,000 half-open flows in a table of 1,000 evicted none")
	}
}

// TestReflectionNamesTheProtocol: unsolicited large answers from many
// reflectors' service ports alert on their destination, naming the
// reflector protocol; a normal DNS exchange does not.
func TestReflectionNamesTheProtocol(t *testing.T) {
	for port, name := range map[uint16]string{53: "dns", 123: "ntp", 161: "snmp", 11211: "memcached", 1900: "ssdp", 389: "cldap", 500: "ike", 47808: "bacnet"} {
		tr := newTrace(t)
		for i := range 400 {
			tr.udp(time.Millisecond, ip4(5000+i%40), "192.0.2.99", port, uint16(20000+i%40), make([]byte, 1200))
		}
		res := run(t, tr.file(), sensor.Options{})
		got := alertsOf(res, "sensor-reflection-"+name)
		if len(got) != 1 || got[0].Alert.Source != netip.MustParseAddr("192.0.2.99") || got[0].Verdict == profile.Decided {
			t.Errorf("%s: alerts %+v", name, res.alerts)
		}
	}
	tr := newTrace(t)
	for i := range 400 {
		q := []byte{byte(i), 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1}
		tr.udp(time.Millisecond, "192.0.2.10", "192.0.2.53", uint16(30000+i), 53, q)
		tr.udp(time.Millisecond, "192.0.2.53", "192.0.2.10", 53, uint16(30000+i), append(q, make([]byte, 400)...))
	}
	if res := run(t, tr.file(), sensor.Options{}); len(res.alerts) != 0 {
		t.Errorf("answered DNS queries alerted: %+v", res.alerts)
	}
}

func TestSYNACKReflection(t *testing.T) {
	tr := newTrace(t)
	for i := range 1000 {
		tr.tcp(200*time.Microsecond, ip4(9000+i), "192.0.2.7", 443, uint16(30000+i), packet.SYN|packet.ACK, "")
	}
	res := run(t, tr.file(), sensor.Options{})
	got := alertsOf(res, "sensor-synack-reflection")
	if len(got) != 1 || got[0].Alert.Source != netip.MustParseAddr("192.0.2.7") || got[0].Verdict == profile.Decided {
		t.Fatalf("alerts %+v", res.alerts)
	}
}

func TestScansAndConnectionRate(t *testing.T) {
	tr := newTrace(t)
	// A horizontal SYN scan of port 445 over 30 hosts, unanswered.
	for i := range 30 {
		tr.tcp(10*time.Millisecond, "203.0.113.5", ip4(100+i), 40000, 445, packet.SYN, "")
	}
	// FIN, NULL and Xmas probes to 10 ports of one host, answered by RST.
	for i := range 10 {
		fl := []uint8{packet.FIN, 0, packet.FIN | packet.PSH | packet.URG}[i%3]
		tr.tcp(10*time.Millisecond, "203.0.113.6", "192.0.2.1", 50000, uint16(100+i), fl, "")
		tr.tcp(time.Millisecond, "192.0.2.1", "203.0.113.6", uint16(100+i), 50000, packet.RST|packet.ACK, "")
	}
	// 30 complete SSH connections from one source in 15 seconds.
	for i := range 30 {
		sp := uint16(41000 + i)
		tr.tcp(500*time.Millisecond, "203.0.113.7", "192.0.2.22", sp, 22, packet.SYN, "")
		tr.tcp(time.Millisecond, "192.0.2.22", "203.0.113.7", 22, sp, packet.SYN|packet.ACK, "")
		tr.tcp(time.Millisecond, "203.0.113.7", "192.0.2.22", sp, 22, packet.ACK, "")
		tr.tcp(time.Millisecond, "192.0.2.22", "203.0.113.7", 22, sp, packet.ACK|packet.PSH, "SSH-2.0-OpenSSH_9.6\r\n")
	}
	res := run(t, tr.file(), sensor.Options{})
	want := map[string]string{
		"sensor-hostscan":            "203.0.113.5",
		"sensor-stealth-scan":        "203.0.113.6",
		"sensor-ssh-connection-rate": "203.0.113.7",
	}
	for sc, src := range want {
		got := alertsOf(res, sc)
		if len(got) != 1 || got[0].Alert.Source.String() != src || got[0].Verdict != profile.Decided {
			t.Errorf("%s: %+v", sc, got)
		}
	}
	for _, a := range res.alerts {
		if _, ok := want[a.Alert.Scenario]; !ok {
			t.Errorf("unexpected alert %s on %v", a.Alert.Scenario, a.Alert.Source)
		}
	}
}

func TestBadFingerprint(t *testing.T) {
	ch := goClientHello(t)
	var st protoid.State
	st.Inspect(protoid.TCP, 0, 40000, 443, ch)
	fps, err := sensor.ParseFingerprints("test", strings.NewReader("# test list\nja4 "+st.JA4+" test-tool\n"))
	if err != nil {
		t.Fatal(err)
	}
	tr := newTrace(t)
	tr.tcp(time.Millisecond, "203.0.113.9", "192.0.2.43", 40000, 443, packet.SYN, "")
	tr.tcp(time.Millisecond, "192.0.2.43", "203.0.113.9", 443, 40000, packet.SYN|packet.ACK, "")
	tr.tcp(time.Millisecond, "203.0.113.9", "192.0.2.43", 40000, 443, packet.ACK, "")
	tr.tcp(time.Millisecond, "203.0.113.9", "192.0.2.43", 40000, 443, packet.ACK|packet.PSH, string(ch))
	res := run(t, tr.file(), sensor.Options{Fingerprints: fps})
	got := alertsOf(res, "sensor-bad-fingerprint")
	if len(got) != 1 || got[0].Alert.Source.String() != "203.0.113.9" {
		t.Fatalf("alerts %+v", res.alerts)
	}
	if _, err := sensor.ParseFingerprints("bad", strings.NewReader("ja3 nothex\n")); err == nil || !strings.Contains(err.Error(), "bad:1:") {
		t.Errorf("bad list: %v", err)
	}
}

// goClientHello returns the first flight of Go's TLS client.
func goClientHello(t testing.TB) []byte {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	go tls.Client(c, &tls.Config{ServerName: "tool.example", NextProtos: []string{"h2"}, InsecureSkipVerify: true}).Handshake()
	buf := make([]byte, 16384)
	n, err := s.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// FuzzSensor runs arbitrary frames, each twice and reversed, through the
// whole sensor: decode, flows, protocol identity and behaviour.
func FuzzSensor(f *testing.F) {
	f.Add(packet.Build(packet.Frame{Packet: packet.Packet{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), SrcPort: 1, DstPort: 80, Proto: packet.ProtoTCP, Flags: packet.SYN, Payload: []byte("GET / HTTP/1.1\r\n\r\n")}}))
	f.Add(packet.Build(packet.Frame{Packet: packet.Packet{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), SrcPort: 53, DstPort: 5000, Proto: packet.ProtoUDP, Payload: make([]byte, 1200)}}))
	d := newDetector(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		at := time.Unix(1_700_000_000, 0)
		pk := []capture.Packet{
			{Data: frame, Time: at, Length: len(frame), Link: capture.LinkEthernet},
			{Data: frame, Time: at.Add(time.Second), Length: len(frame), Link: capture.LinkEthernet},
			{Data: frame, Time: at.Add(2 * time.Second), Length: len(frame), Link: capture.LinkRaw},
		}
		_, err := sensor.Run(context.Background(), []capture.Source{&memSource{pkts: pk}}, sensor.Options{Detector: d, FlowCapacity: 16, OnFlow: func(f *sensor.Flow) { f.AppendJSON(nil) }})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestForgedSYNsAreNoBruteForce: 100 SYNs to port 22 forged from one
// address, never completed, do not count as SSH connections.
func TestForgedSYNsAreNoBruteForce(t *testing.T) {
	tr := newTrace(t)
	for i := range 100 {
		tr.tcp(10*time.Millisecond, "203.0.113.50", "192.0.2.22", uint16(20000+i), 22, packet.SYN, "")
		tr.tcp(time.Millisecond, "192.0.2.22", "203.0.113.50", 22, uint16(20000+i), packet.SYN|packet.ACK, "")
	}
	res := run(t, tr.file(), sensor.Options{})
	if got := alertsOf(res, "sensor-ssh-connection-rate"); len(got) != 0 {
		t.Fatalf("forged SYNs gave %+v", got)
	}
}
