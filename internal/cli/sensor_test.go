package cli

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/sensor/capture"
	"github.com/herd-ips/herd/internal/sensor/packet"
)

// marker is written into every payload's content: it must come out of
// herd sensor nowhere.
const marker = "HERD-CONTENT-MARKER-4f1c"

type pcapBuilder struct {
	t  *testing.T
	w  *capture.Writer
	b  bytes.Buffer
	at time.Time
}

func (p *pcapBuilder) frame(src, dst string, sp, dp uint16, proto uint8, flags uint8, payload []byte) {
	p.at = p.at.Add(time.Millisecond)
	f := packet.Frame{Packet: packet.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sp, DstPort: dp, Proto: proto, Flags: flags, Payload: payload}}
	if err := p.w.Write(p.at, packet.Build(f)); err != nil {
		p.t.Fatal(err)
	}
}

// conversation writes a TCP handshake, then each payload alternately from
// client and server (a nil payload skips that turn).
func (p *pcapBuilder) conversation(cli, srv string, cport, sport uint16, turns ...[]byte) {
	p.frame(cli, srv, cport, sport, packet.ProtoTCP, packet.SYN, nil)
	p.frame(srv, cli, sport, cport, packet.ProtoTCP, packet.SYN|packet.ACK, nil)
	p.frame(cli, srv, cport, sport, packet.ProtoTCP, packet.ACK, nil)
	for i, t := range turns {
		if t == nil {
			continue
		}
		if i%2 == 0 {
			p.frame(cli, srv, cport, sport, packet.ProtoTCP, packet.ACK|packet.PSH, t)
		} else {
			p.frame(srv, cli, sport, cport, packet.ProtoTCP, packet.ACK|packet.PSH, t)
		}
	}
	p.frame(cli, srv, cport, sport, packet.ProtoTCP, packet.FIN|packet.ACK, nil)
	p.frame(srv, cli, sport, cport, packet.ProtoTCP, packet.FIN|packet.ACK, nil)
}

func markedCapture(t *testing.T) string {
	p := &pcapBuilder{t: t, at: time.Unix(1_760_000_000, 0)}
	w, err := capture.NewWriter(&p.b, capture.LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	p.w = w
	m := marker
	c, s := "192.0.2.10", "198.51.100.1"
	p.conversation(c, s, 40001, 80,
		[]byte("POST /upload?token="+m+" HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5\r\nCookie: session="+m+"\r\nAuthorization: Basic "+m+"\r\n\r\nbody "+m),
		[]byte("HTTP/1.1 200 OK\r\nSet-Cookie: "+m+"\r\n\r\n"+m))
	ch := tlsHello(t)
	appData := append([]byte{0x17, 3, 3, 0, byte(len(m))}, m...)
	p.conversation(c, s, 40002, 443, ch, append([]byte{0x16, 3, 3, 0, 4, 2, 0, 0, 0}, appData...), appData, appData)
	p.conversation(c, s, 40003, 22, []byte("SSH-2.0-OpenSSH_9.6\r\n"), []byte("SSH-2.0-OpenSSH_9.2\r\n"), []byte("\x00\x00\x00\x20\x0a"+m), []byte(m))
	p.conversation(c, s, 40004, 25, nil, []byte("220 mx.example.com ESMTP "+m+"\r\n"), []byte("EHLO client\r\n"), []byte("250 ok "+m+"\r\n"),
		[]byte("AUTH PLAIN "+m+"\r\n"), []byte("235 ok\r\n"), []byte("MAIL FROM:<"+m+"@example.com>\r\nDATA\r\nSubject: "+m+"\r\n\r\n"+m+"\r\n.\r\n"))
	p.conversation(c, s, 40005, 21, nil, []byte("220 FTP server "+m+"\r\n"), []byte("USER "+m+"\r\n"), []byte("331 "+m+"\r\n"), []byte("PASS "+m+"\r\n"))
	p.conversation(c, s, 40006, 6379, []byte("*3\r\n$3\r\nSET\r\n$4\r\nkey1\r\n$24\r\n"+m+"\r\n"), []byte("+OK\r\n"))
	p.conversation(c, s, 40007, 23, nil, []byte{0xff, 0xfd, 0x18, 0xff, 0xfb, 0x01}, []byte("login: "+m+"\r\n"))
	p.conversation(c, s, 40008, 9999, []byte("unknown protocol "+m), []byte(m))
	dnsQ := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 16, 0, 1}
	p.frame(c, s, 53000, 53, packet.ProtoUDP, 0, dnsQ)
	ans := append(append([]byte{}, dnsQ...), 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, byte(len(m)+1), byte(len(m)))
	ans[7] = 1
	ans[2] = 0x81
	p.frame(s, c, 53, 53000, packet.ProtoUDP, 0, append(ans, m...))
	p.frame(c, s, 5060, 5060, packet.ProtoUDP, 0, []byte("INVITE sip:"+m+"@example.com SIP/2.0\r\nFrom: "+m+"\r\n\r\n"))
	p.frame(c, s, 40009, 7777, packet.ProtoUDP, 0, []byte(m))
	// A port scan, so that alerts come out too.
	for i := range 20 {
		p.frame("203.0.113.66", s, 60000, uint16(1000+i), packet.ProtoTCP, packet.SYN, nil)
	}
	path := filepath.Join(t.TempDir(), "marked.pcap")
	if err := os.WriteFile(path, p.b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func tlsHello(t *testing.T) []byte {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: "www.example.org", InsecureSkipVerify: true}).Handshake()
	buf := make([]byte, 16384)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestSensorKeepsMetadataOnly feeds a capture whose payloads all carry a
// marker in their content (request paths, cookies, bodies, mail, logins,
// DNS answers, encrypted records, unknown protocols) through herd sensor,
// with and without --json: the marker must appear in no output, while the
// flows' metadata does.
func TestSensorKeepsMetadataOnly(t *testing.T) {
	path := markedCapture(t)
	for _, args := range [][]string{
		{"sensor", "--read", path, "--json", "--all-flows"},
		{"sensor", "--read", path},
		{"sensor", "--read", path, "--json", "--workers", "3"},
	} {
		code, stdout, stderr := run(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		if strings.Contains(stdout, marker) || strings.Contains(stderr, marker) {
			t.Fatalf("%v: the marker leaked:\n%s\n%s", args, stdout, stderr)
		}
		if args[len(args)-1] == "--all-flows" {
			protos := map[string]bool{}
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
				var v map[string]any
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Fatalf("not JSON: %q", line)
				}
				if p, ok := v["proto"].(string); ok {
					protos[p] = true
				}
			}
			for _, p := range []string{"HTTP", "TLS", "SSH", "SMTP", "FTP", "Redis", "Telnet", "DNS", "SIP", "Unknown"} {
				if !protos[p] {
					t.Errorf("no %s flow in %v", p, protos)
				}
			}
			for _, want := range []string{`"host":"www.example.com"`, `"sni":"www.example.org"`, `"query":"www.example.com"`, `"scenario":"sensor-portscan"`, `"auth":true`} {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %s", want)
				}
			}
		}
	}
}

// exampleCapture is the capture docs/sensor.md reads: made here, by
// TestSensorExampleCapture with HERD_UPDATE_DOCS=1, from traffic this test
// writes (a Go TLS client's ClientHello, an HTTP request, an SSH banner
// exchange, a DNS query, a SYN scan), and committed.
const exampleCapture = "../../examples/sensor.pcap"

func TestSensorExampleCapture(t *testing.T) {
	if os.Getenv("HERD_UPDATE_DOCS") == "" {
		if _, err := os.Stat(exampleCapture); err != nil {
			t.Fatalf("%v: run HERD_UPDATE_DOCS=1 go test -run TestSensorExampleCapture ./internal/cli/", err)
		}
		return
	}
	p := &pcapBuilder{t: t, at: time.Unix(1_767_225_600, 0)}
	w, err := capture.NewWriter(&p.b, capture.LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	p.w = w
	c, s6 := "192.0.2.10", "2001:db8::443"
	p.conversation(c, "198.51.100.80", 40001, 80,
		[]byte("GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\n\r\n"),
		[]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	p.conversation("2001:db8::10", s6, 40002, 443, tlsHello(t), []byte{0x16, 3, 3, 0, 4, 2, 0, 0, 0})
	p.conversation(c, "198.51.100.22", 40003, 22, []byte("SSH-2.0-OpenSSH_9.6\r\n"), []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"))
	q := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}
	p.frame(c, "198.51.100.53", 53000, 53, packet.ProtoUDP, 0, q)
	a := append([]byte{}, q...)
	a[2], a[7] = 0x81, 1
	a = append(a, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 80)
	p.frame("198.51.100.53", c, 53, 53000, packet.ProtoUDP, 0, a)
	for i := range 20 {
		p.frame("203.0.113.66", "198.51.100.80", 61000, uint16(20+i*3), packet.ProtoTCP, packet.SYN, nil)
		p.frame("198.51.100.80", "203.0.113.66", uint16(20+i*3), 61000, packet.ProtoTCP, packet.RST|packet.ACK, nil)
	}
	if err := os.WriteFile(exampleCapture, p.b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
