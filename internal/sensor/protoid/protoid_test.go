package protoid

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"
)

// clientHello returns the first flight of Go's TLS client for sni.
func clientHelloBytes(t testing.TB, sni string, alpn []string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	go func() {
		cl := tls.Client(c, &tls.Config{ServerName: sni, NextProtos: alpn, InsecureSkipVerify: true})
		cl.SetDeadline(time.Now().Add(2 * time.Second))
		cl.Handshake()
	}()
	buf := make([]byte, 16384)
	s.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := s.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestTLSClientHello(t *testing.T) {
	ch := clientHelloBytes(t, "example.org", []string{"h2", "http/1.1"})
	var s State
	s.Inspect(TCP, 0, 50000, 443, ch)
	if s.Proto != TLS || s.Host != "example.org" || s.ALPN != "h2" {
		t.Fatalf("%+v", s.Result)
	}
	if !strings.HasPrefix(s.JA4, "t13d") || !strings.Contains(s.JA4[:10], "h2") || len(s.JA4) != 36 {
		t.Errorf("JA4 %q", s.JA4)
	}
	if len(s.JA3) != 32 {
		t.Errorf("JA3 %q", s.JA3)
	}
	// Split over two segments: the same result.
	var s2 State
	s2.Inspect(TCP, 0, 50000, 443, ch[:100])
	s2.Inspect(TCP, 0, 50000, 443, ch[100:])
	if s2.Host != "example.org" || s2.JA4 != s.JA4 || s2.JA3 != s.JA3 {
		t.Errorf("reassembled %+v", s2.Result)
	}
}

// TestJA4KnownValue checks the JA4 of a ClientHello written out by hand
// against a value computed by hand from the specification: TLS 1.3 in
// supported_versions, SNI, 2 ciphers (one GREASE left out), 4 extensions
// (one GREASE left out), ALPN "h2".
func TestJA4KnownValue(t *testing.T) {
	got := ja4('t', 0x0303, 0x0304, true, []byte("h2"), []int{0x1302, 0x1301}, []int{0x0000, 0x0010, 0x002b, 0x000d}, []int{0x0403, 0x0804})
	b := sha256.Sum256([]byte("1301,1302"))
	c := sha256.Sum256([]byte("000d,002b_0403,0804"))
	want := "t13d0204h2_" + hex.EncodeToString(b[:6]) + "_" + hex.EncodeToString(c[:6])
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got := ja4('t', 0x0303, 0, false, nil, nil, nil, nil); got != "t12i000000_000000000000_000000000000" {
		t.Errorf("empty hello: %s", got)
	}
}

// TestQUICKeys checks the Initial key derivation against RFC 9001 A.1.
func TestQUICKeys(t *testing.T) {
	dcid := mustHex("8394c8f03e515708")
	initial, _ := hkdfExtract(dcid, saltV1)
	cs := expandLabel(initial, "client in", 32)
	for _, c := range []struct{ label, want string }{
		{"quic key", "1f369613dd76d5467730efcbe3b1a22d"},
		{"quic iv", "fa044b2f42a3fd3b46fb255c"},
		{"quic hp", "9f50449e04a0e810283a1e9933adedd2"},
	} {
		n := len(c.want) / 2
		if got := hex.EncodeToString(expandLabel(cs, c.label, n)); got != c.want {
			t.Errorf("%s: %s, want %s", c.label, got, c.want)
		}
	}
}

func TestHTTP(t *testing.T) {
	var s State
	s.Inspect(TCP, 0, 1234, 80, []byte("GET /secret-path HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.0\r\nCookie: x\r\n\r\nbody"))
	if s.Proto != HTTP || s.Method != "GET" || s.Host != "www.example.com" || s.UserAgent != "curl/8.0" || !s.Done() {
		t.Fatalf("%+v", s.Result)
	}
}

func TestSSH(t *testing.T) {
	kex := func(lists ...string) []byte {
		var body []byte
		body = append(body, 20)
		body = append(body, make([]byte, 16)...)
		for _, l := range lists {
			body = binary.BigEndian.AppendUint32(body, uint32(len(l)))
			body = append(body, l...)
		}
		body = append(body, 0, 0, 0, 0, 0)
		pad := 4
		pkt := binary.BigEndian.AppendUint32(nil, uint32(len(body)+1+pad))
		pkt = append(pkt, byte(pad))
		pkt = append(pkt, body...)
		return append(pkt, make([]byte, pad)...)
	}
	lists := []string{"curve25519-sha256", "ssh-ed25519", "aes128-ctr", "aes256-ctr", "hmac-sha2-256", "hmac-sha2-512", "none", "zlib", "", ""}
	var s State
	s.Inspect(TCP, 1, 40000, 22, []byte("SSH-2.0-OpenSSH_9.6\r\n"))
	s.Inspect(TCP, 0, 40000, 22, append([]byte("SSH-2.0-libssh_0.9\r\n"), kex(lists...)...))
	s.Inspect(TCP, 1, 40000, 22, kex(lists...))
	want := md5hex("curve25519-sha256;aes128-ctr;hmac-sha2-256;none")
	wantS := md5hex("curve25519-sha256;aes256-ctr;hmac-sha2-512;zlib")
	if s.Proto != SSH || s.Banner != [2]string{"SSH-2.0-libssh_0.9", "SSH-2.0-OpenSSH_9.6"} || s.HASSH != want || s.HASSHS != wantS || !s.Done() {
		t.Fatalf("%+v", s.Result)
	}
}

func TestMailAndFTP(t *testing.T) {
	var s State
	s.Inspect(TCP, 1, 40000, 25, []byte("220 mx.example.com ESMTP Postfix\r\n"))
	s.Inspect(TCP, 0, 40000, 25, []byte("EHLO client\r\n"))
	s.Inspect(TCP, 0, 40000, 25, []byte("STARTTLS\r\n"))
	if s.Proto != SMTP || !s.StartTLS || s.Auth {
		t.Errorf("smtp %+v", s.Result)
	}
	var f State
	f.Inspect(TCP, 1, 40000, 21, []byte("220 (vsFTPd 3.0.3)\r\n"))
	f.Inspect(TCP, 0, 40000, 21, []byte("USER anonymous\r\n"))
	if f.Proto != FTP || !f.Auth {
		t.Errorf("ftp %+v", f.Result)
	}
	var i State
	i.Inspect(TCP, 1, 40000, 143, []byte("* OK [CAPABILITY IMAP4rev1] ready\r\n"))
	i.Inspect(TCP, 0, 40000, 143, []byte("a1 LOGIN bob secret\r\n"))
	if i.Proto != IMAP || !i.Auth {
		t.Errorf("imap %+v", i.Result)
	}
	var p State
	p.Inspect(TCP, 1, 40000, 110, []byte("+OK POP3 ready\r\n"))
	p.Inspect(TCP, 0, 40000, 110, []byte("STLS\r\n"))
	if p.Proto != POP3 || !p.StartTLS {
		t.Errorf("pop3 %+v", p.Result)
	}
}

func TestBinaryProtocols(t *testing.T) {
	mysql := []byte{0, 0, 0, 0, 10}
	mysql = append(mysql, "8.0.36\x00"...)
	mysql = append(mysql, make([]byte, 40)...)
	mysql[0] = byte(len(mysql) - 4)
	pg := binary.BigEndian.AppendUint32(nil, 8)
	pg = binary.BigEndian.AppendUint32(pg, 80877103)
	dns := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}
	ntp := append([]byte{0x23}, make([]byte, 47)...)
	snmp := []byte{0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x06, 'p', 'u', 'b', 'l', 'i', 'c'}
	for _, c := range []struct {
		tr          uint8
		dir         int
		cport, port uint16
		b           []byte
		want        Proto
	}{
		{TCP, 1, 40000, 3306, mysql, MySQL},
		{TCP, 0, 40000, 5432, pg, PostgreSQL},
		{TCP, 0, 40000, 6379, []byte("*1\r\n$4\r\nPING\r\n"), Redis},
		{TCP, 0, 40000, 1883, []byte("\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04abcd"), MQTT},
		{TCP, 0, 40000, 445, []byte("\x00\x00\x00\x50\xfeSMB@\x00"), SMB},
		{TCP, 0, 40000, 3389, []byte("\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00"), RDP},
		{TCP, 1, 40000, 23, []byte{0xff, 0xfd, 0x18, 0xff, 0xfd, 0x20}, Telnet},
		{TCP, 0, 40000, 6881, append([]byte{19}, "BitTorrent protocol\x00\x00\x00\x00\x00\x00\x00\x00"...), BitTorrent},
		{UDP, 0, 40000, 53, dns, DNS},
		{UDP, 0, 40000, 123, ntp, NTP},
		{UDP, 0, 40000, 161, snmp, SNMP},
		{UDP, 0, 5060, 5060, []byte("OPTIONS sip:bob@example.com SIP/2.0\r\n"), SIP},
		{UDP, 0, 40000, 6881, []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"), BitTorrent},
	} {
		var s State
		s.Inspect(c.tr, c.dir, c.cport, c.port, c.b)
		if s.Proto != c.want {
			t.Errorf("%v: got %v", c.want, s.Proto)
		}
		if c.want == DNS && s.Query != "www.example.com" {
			t.Errorf("dns query %q", s.Query)
		}
	}
}

func TestUnknownStaysUnknown(t *testing.T) {
	var s State
	s.Inspect(TCP, 0, 40000, 9999, bytes.Repeat([]byte{0x42}, 100))
	s.Inspect(UDP, 0, 40000, 53, []byte("not dns"))
	if s.Proto != Unknown {
		t.Fatalf("%v", s.Proto)
	}
}

func FuzzInspect(f *testing.F) {
	f.Add(uint8(TCP), uint16(443), clientHelloBytes(f, "a.example", []string{"h2"}))
	f.Add(uint8(TCP), uint16(80), []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add(uint8(TCP), uint16(22), []byte("SSH-2.0-x\r\n\x00\x00\x00\x20\x04\x14"))
	f.Add(uint8(TCP), uint16(25), []byte("220 smtp\r\n"))
	f.Add(uint8(UDP), uint16(53), []byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xc0, 12})
	f.Add(uint8(UDP), uint16(443), append([]byte{0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x44, 0xd0}, make([]byte, 1200)...))
	f.Add(uint8(UDP), uint16(443), []byte("\x0d\x01\x02\x03\x04\x05\x06\x07\x08Q043\x01CHLO\x01\x00\x00\x00SNI\x00\x03\x00\x00\x00abc"))
	for _, seed := range []struct {
		tr   uint8
		port uint16
		b    string
	}{
		{TCP, 3306, "\x2c\x00\x00\x00\x0a8.0.36\x00" + strings.Repeat("\x00", 36)},
		{TCP, 5432, "\x00\x00\x00\x08\x04\xd2\x16\x2f"},
		{TCP, 6379, "*1\r\n$4\r\nPING\r\n"},
		{TCP, 1883, "\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04abcd"},
		{TCP, 445, "\x00\x00\x00\x50\xfeSMB@\x00"},
		{TCP, 3389, "\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00"},
		{TCP, 23, "\xff\xfd\x18\xff\xfd\x20"},
		{TCP, 6881, "\x13BitTorrent protocol\x00\x00\x00\x00\x00\x00\x00\x00"},
		{TCP, 143, "a1 LOGIN bob secret\r\n"},
		{TCP, 110, "+OK ready\r\n"},
		{TCP, 53, "\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01"},
		{UDP, 123, "\x23" + strings.Repeat("\x00", 47)},
		{UDP, 161, "\x30\x26\x02\x01\x01\x04\x06public"},
		{UDP, 5060, "OPTIONS sip:bob@example.com SIP/2.0\r\n"},
		{UDP, 6881, "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"},
		{UDP, 138, "\x11\x02\x00\x00\xc0\xa8\x01\x02\x00\x8a\x00\xbb\x00\x00 \xffSMB\x25"},
		{UDP, 443, "\xc0\x0a\x0a\x0a\x0a\x08\x01\x02\x03\x04\x05\x06\x07\x08\x00"},
	} {
		f.Add(seed.tr, seed.port, []byte(seed.b))
	}
	f.Fuzz(func(t *testing.T, tr uint8, port uint16, b []byte) {
		for dir := range 2 {
			var s State
			s.Inspect(tr, dir, 40000, port, b)
			s.Inspect(tr, 1-dir, 40000, port, b)
			s.Inspect(tr, dir, 40000, port, b)
			for _, v := range []string{s.Host, s.UserAgent, s.Method, s.ALPN, s.Banner[0], s.Banner[1], s.Query, s.Version} {
				if len(v) > MaxField {
					t.Fatalf("field of %d bytes", len(v))
				}
			}
		}
	})
}

// TestClientHelloAllocations: naming a TLS flow allocates only the strings
// it keeps (host, ALPN, JA3, JA4); the lists and text the fingerprints are
// computed from stay on the stack.
func TestClientHelloAllocations(t *testing.T) {
	ch := clientHelloBytes(t, "example.org", []string{"h2", "http/1.1"})
	s := new(State)
	n := testing.AllocsPerRun(100, func() {
		*s = State{}
		s.Inspect(TCP, 0, 50000, 443, ch)
	})
	if s.JA4 == "" || n > 4 {
		t.Errorf("%v allocations per ClientHello (JA4 %q), want at most 4", n, s.JA4)
	}
}
