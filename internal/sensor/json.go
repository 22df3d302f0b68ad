package sensor

import (
	"strconv"
	"time"

	"github.com/herd-ips/herd/internal/sensor/packet"
	"github.com/herd-ips/herd/internal/sensor/protoid"
)

// TransportName names an IP protocol as the sensor's JSON spells it.
func TransportName(p uint8) string {
	switch p {
	case packet.ProtoTCP:
		return "tcp"
	case packet.ProtoUDP:
		return "udp"
	case packet.ProtoICMP:
		return "icmp"
	case packet.ProtoICMPv6:
		return "icmpv6"
	}
	return strconv.Itoa(int(p))
}

// appendStr appends s as a JSON string. protoid's fields are printable
// ASCII, but every byte is escaped as needed all the same.
func appendStr(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendStr(b, v)
}

// AppendJSON appends f as one JSON object and a newline:
//
//	{"transport":"tcp","proto":"TLS","sni":"example.org","ja4":"t13d…",
//	 "client":"192.0.2.1:50000","server":"[2001:db8::1]:443",
//	 "packets":[a,b],"bytes":[a,b],...}
//
// Index 0 of packets and bytes is client to server. Metadata fields are
// present only when known.
func (f *Flow) AppendJSON(b []byte) []byte {
	b = append(b, `{"transport":`...)
	b = appendStr(b, TransportName(f.Transport))
	b = append(b, `,"proto":`...)
	b = appendStr(b, f.Proto.String())
	switch f.Proto {
	case protoid.TLS, protoid.QUIC:
		b = appendField(b, "sni", f.Host)
	default:
		b = appendField(b, "host", f.Host)
	}
	b = appendField(b, "alpn", f.ALPN)
	b = appendField(b, "ja3", f.JA3)
	b = appendField(b, "ja4", f.JA4)
	b = appendField(b, "method", f.Method)
	b = appendField(b, "user_agent", f.UserAgent)
	b = appendField(b, "ssh_client", f.Banner[0])
	b = appendField(b, "ssh_server", f.Banner[1])
	b = appendField(b, "hassh", f.HASSH)
	b = appendField(b, "hassh_server", f.HASSHS)
	b = appendField(b, "query", f.Query)
	b = appendField(b, "version", f.Version)
	if f.StartTLS {
		b = append(b, `,"starttls":true`...)
	}
	if f.Auth {
		b = append(b, `,"auth":true`...)
	}
	b = append(b, `,"client":"`...)
	b = f.Client.AppendTo(b)
	b = append(b, `","server":"`...)
	b = f.Server.AppendTo(b)
	b = append(b, `","packets":[`...)
	b = strconv.AppendUint(b, f.Packets[0], 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, f.Packets[1], 10)
	b = append(b, `],"bytes":[`...)
	b = strconv.AppendUint(b, f.Bytes[0], 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, f.Bytes[1], 10)
	b = append(b, `],"first":"`...)
	b = f.First.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","last":"`...)
	b = f.Last.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","state":"`...)
	b = append(b, f.State.String()...)
	return append(b, "\"}\n"...)
}
