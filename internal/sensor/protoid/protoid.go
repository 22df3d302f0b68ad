// Package protoid names the application protocol of a flow from the first
// payload bytes of each direction, and keeps a few metadata fields of it:
// HTTP method, host and user agent; TLS and QUIC server name, ALPN, JA3 and
// JA4; SSH banners and HASSH; the DNS query name; whether a mail or FTP
// session asked for STARTTLS or tried to authenticate. Nothing else of a
// payload is kept: fields are cut to MaxField bytes and stripped of
// non-printable bytes, and a flow stops being inspected once it is named or
// after MaxInspect payload packets per direction.
package protoid

import (
	"bytes"
	"strings"
)

// Proto is an application protocol.
type Proto uint8

// The protocols recognised.
const (
	Unknown Proto = iota
	HTTP
	TLS
	QUIC
	SSH
	DNS
	SMTP
	IMAP
	POP3
	FTP
	Telnet
	RDP
	SMB
	MySQL
	PostgreSQL
	Redis
	MQTT
	SIP
	NTP
	SNMP
	BitTorrent
	NumProtos
)

var protoNames = [NumProtos]string{"Unknown", "HTTP", "TLS", "QUIC", "SSH", "DNS", "SMTP", "IMAP", "POP3", "FTP", "Telnet", "RDP", "SMB", "MySQL", "PostgreSQL", "Redis", "MQTT", "SIP", "NTP", "SNMP", "BitTorrent"}

// String returns the protocol's name as the sensor's JSON spells it.
func (p Proto) String() string {
	if p < NumProtos {
		return protoNames[p]
	}
	return "invalid"
}

// Limits.
const (
	MaxField   = 255 // bytes of one metadata field
	MaxInspect = 8   // payload packets inspected per direction
	maxBuffer  = 16 << 10
)

// Transports (IP protocol numbers).
const (
	TCP = 6
	UDP = 17
)

// Result is what is known of a flow's application.
type Result struct {
	Proto     Proto
	Host      string // HTTP Host, TLS/QUIC SNI
	Method    string // HTTP method
	UserAgent string
	ALPN      string // first ALPN value offered
	JA3       string // MD5 hex of the JA3 string
	JA4       string
	Banner    [2]string // SSH banners of client and server; greetings are not kept
	HASSH     string    // client KEXINIT fingerprint
	HASSHS    string    // server KEXINIT fingerprint
	Query     string    // DNS question name
	Version   string    // protocol version where it names one (SMB "1"/"2", MySQL server version)
	StartTLS  bool      // the client asked to switch to TLS
	Auth      bool      // the client tried to authenticate (USER/PASS/AUTH/LOGIN)
}

// State follows one flow. The zero value is ready; Inspect feeds it.
type State struct {
	Result
	seen [2]uint8
	done bool
	want [2]bool // a decoder wants more of this direction
	buf  []byte  // client bytes of a ClientHello or QUIC CRYPTO stream in reassembly
	qbuf []byte  // QUIC CRYPTO reassembly: bytes at their offsets
	qhas []bool
}

// Done reports whether the flow needs no more inspection.
func (s *State) Done() bool { return s.done }

// Inspect looks at payload, sent in direction dir (0 client to server) of
// a flow of the given transport between cport (client) and sport (server).
// It keeps only metadata fields; payload is not retained.
func (s *State) Inspect(transport uint8, dir int, cport, sport uint16, payload []byte) {
	if s.done || len(payload) == 0 {
		return
	}
	s.seen[dir]++
	if s.Proto == Unknown {
		s.identify(transport, dir, cport, sport, payload)
	} else {
		s.more(dir, payload)
	}
	if s.Proto != Unknown && !s.want[0] && !s.want[1] {
		s.done = true
	}
	if s.seen[0] >= MaxInspect && s.seen[1] >= MaxInspect || s.seen[0]+s.seen[1] >= 3*MaxInspect {
		s.done = true
	}
	if s.done {
		s.buf, s.qbuf, s.qhas = nil, nil, nil
	}
}

func port(cport, sport uint16, ps ...uint16) bool {
	for _, p := range ps {
		if cport == p || sport == p {
			return true
		}
	}
	return false
}

func (s *State) identify(tr uint8, dir int, cport, sport uint16, b []byte) {
	if tr == UDP {
		s.identifyUDP(dir, cport, sport, b)
		return
	}
	switch {
	case isTLSRecord(b):
		// Joined after the handshake: records of a TLS session.
		s.Proto = TLS
	case isTLS(b):
		s.Proto = TLS
		if dir == 0 {
			s.clientHello(b, 't')
		} else {
			s.want[0] = true
		}
	case bytes.HasPrefix(b, []byte("SSH-")):
		s.Proto = SSH
		s.ssh(dir, b)
	case dir == 0 && isHTTPRequest(b):
		if bytes.HasPrefix(b, []byte("GET /announce")) || bytes.HasPrefix(b, []byte("GET /scrape")) {
			s.Proto = BitTorrent
		} else {
			s.Proto = HTTP
		}
		s.http(b)
	case bytes.HasPrefix(b, []byte("HTTP/1.")) && len(b) > 12 && b[8] == ' ':
		// An answer, from the server (or from the side seen first when
		// the capture joined mid-connection).
		s.Proto = HTTP
	case isSIP(b):
		s.Proto = SIP
	case len(b) >= 20 && b[0] == 19 && bytes.HasPrefix(b[1:], []byte("BitTorrent protocol")):
		s.Proto = BitTorrent
	case isSMB(b):
		s.Proto = SMB
		s.Version = "1"
		if b[4] == 0xfe {
			s.Version = "2"
		}
	case isRDP(b, cport, sport):
		s.Proto = RDP
	case isTelnet(b):
		s.Proto = Telnet
	case dir == 1 && isMySQLGreeting(b):
		s.Proto = MySQL
		s.Version = field(cstr(b[5:]))
	case dir == 0 && isPostgresStartup(b):
		s.Proto = PostgreSQL
	case dir == 0 && isRedis(b):
		s.Proto = Redis
	case dir == 0 && isMQTTConnect(b):
		s.Proto = MQTT
	case dir == 0 && isRPCoverDNS(b, cport, sport):
		s.Proto = DNS
		s.dns(b[2:])
	default:
		s.text(dir, cport, sport, b)
	}
}

func (s *State) identifyUDP(dir int, cport, sport uint16, b []byte) {
	switch {
	case isQUIC(b):
		s.Proto = QUIC
		if dir == 0 {
			s.quic(b)
		} else {
			s.want[0] = s.Host == ""
		}
	case port(cport, sport, 53) && isDNS(b):
		s.Proto = DNS
		s.dns(b)
	case port(cport, sport, 123) && isNTP(b):
		s.Proto = NTP
	case port(cport, sport, 161, 162) && isSNMP(b):
		s.Proto = SNMP
	case isSIP(b):
		s.Proto = SIP
	case port(cport, sport, 138) && isSMBDatagram(b):
		s.Proto = SMB
		s.Version = "1"
	case isBTDHT(b) || bytes.HasPrefix(b, []byte("BT-SEARCH * HTTP/1.1\r\n")):
		s.Proto = BitTorrent
	}
}

// more continues a named flow's inspection where its decoder asked.
func (s *State) more(dir int, b []byte) {
	if !s.want[dir] {
		return
	}
	switch s.Proto {
	case TLS:
		if dir == 0 {
			if s.buf != nil {
				s.buf = append(s.buf, b[:min(len(b), maxBuffer-len(s.buf))]...)
				s.clientHello(s.buf, 't')
			} else if isTLS(b) {
				s.clientHello(b, 't')
			} else {
				s.want[0] = false
			}
		}
	case QUIC:
		if dir == 0 {
			s.quic(b)
		}
	case SSH:
		s.ssh(dir, b)
	case SMTP, IMAP, POP3, FTP:
		if dir == 0 {
			s.mailCommand(b)
		}
	}
}

// text names the line-based protocols: server greetings and client
// commands of SMTP, IMAP, POP3 and FTP.
func (s *State) text(dir int, cport, sport uint16, b []byte) {
	if dir == 1 {
		switch {
		case bytes.HasPrefix(b, []byte("220")) && len(b) > 3 && (b[3] == ' ' || b[3] == '-'):
			line := firstLine(b)
			switch {
			case containsFold(line, "ftp") || port(cport, sport, 21):
				s.Proto = FTP
			case containsFold(line, "smtp") || port(cport, sport, 25, 587, 465, 2525):
				s.Proto = SMTP
			default:
				s.Proto = SMTP // decided by the client's first command below if it says otherwise
			}
			s.want[0] = true
		case bytes.HasPrefix(b, []byte("* OK")) || bytes.HasPrefix(b, []byte("* PREAUTH")):
			s.Proto = IMAP
			s.want[0] = true
		case bytes.HasPrefix(b, []byte("+OK")) && (port(cport, sport, 110) || len(b) < 512):
			s.Proto = POP3
			s.want[0] = true
		}
		return
	}
	cmd := upperWord(b)
	switch cmd {
	case "EHLO", "HELO":
		s.Proto = SMTP
	case "CAPA", "STLS", "APOP":
		s.Proto = POP3
	case "USER", "PASS":
		if port(cport, sport, 110) {
			s.Proto = POP3
		} else if port(cport, sport, 21) {
			s.Proto = FTP
		}
	case "FEAT", "SYST", "PASV", "EPSV":
		s.Proto = FTP
	}
	if s.Proto == Unknown && len(b) > 2 && isIMAPTag(b) {
		s.Proto = IMAP
	}
	if s.Proto != Unknown {
		s.want[0] = true
		s.mailCommand(b)
	}
}

// mailCommand notes STARTTLS and authentication in client commands.
func (s *State) mailCommand(b []byte) {
	for len(b) > 0 {
		line := firstLine(b)
		b = b[min(len(line)+1, len(b)):]
		w := upperWord(line)
		if s.Proto == IMAP && isIMAPTag(line) {
			if i := bytes.IndexByte(line, ' '); i > 0 {
				w = upperWord(line[i+1:])
			}
		}
		switch w {
		case "STARTTLS", "STLS":
			s.StartTLS = true
		case "AUTH":
			if s.Proto == FTP && (containsFold(line, "TLS") || containsFold(line, "SSL")) {
				s.StartTLS = true
			} else {
				s.Auth = true
			}
		case "USER", "PASS", "LOGIN", "AUTHENTICATE", "APOP":
			s.Auth = true
		case "EHLO", "HELO":
			if s.Proto == Unknown || s.Proto == FTP {
				s.Proto = SMTP
			}
		}
	}
	if s.StartTLS && s.Auth || s.seen[0] >= MaxInspect {
		s.want[0] = false
	}
}

func isIMAPTag(b []byte) bool {
	i := bytes.IndexByte(b, ' ')
	if i <= 0 || i > 10 {
		return false
	}
	for _, c := range b[:i] {
		if !isAlnum(c) && c != '.' {
			return false
		}
	}
	switch upperWord(b[i+1:]) {
	case "CAPABILITY", "LOGIN", "AUTHENTICATE", "STARTTLS", "SELECT", "NOOP", "ID", "LIST", "LOGOUT":
		return true
	}
	return false
}

func upperWord(b []byte) string {
	var buf [16]byte
	n := 0
	for _, c := range b {
		if c == ' ' || c == '\r' || c == '\n' || n == len(buf) {
			break
		}
		if 'a' <= c && c <= 'z' {
			c -= 32
		}
		buf[n] = c
		n++
	}
	switch string(buf[:n]) { // interned: no allocation for the words compared
	case "EHLO":
		return "EHLO"
	case "HELO":
		return "HELO"
	case "CAPA":
		return "CAPA"
	case "STLS":
		return "STLS"
	case "APOP":
		return "APOP"
	case "USER":
		return "USER"
	case "PASS":
		return "PASS"
	case "FEAT":
		return "FEAT"
	case "SYST":
		return "SYST"
	case "PASV":
		return "PASV"
	case "EPSV":
		return "EPSV"
	case "STARTTLS":
		return "STARTTLS"
	case "AUTH":
		return "AUTH"
	case "LOGIN":
		return "LOGIN"
	case "AUTHENTICATE":
		return "AUTHENTICATE"
	case "CAPABILITY":
		return "CAPABILITY"
	case "SELECT":
		return "SELECT"
	case "NOOP":
		return "NOOP"
	case "ID":
		return "ID"
	case "LIST":
		return "LIST"
	case "LOGOUT":
		return "LOGOUT"
	}
	return ""
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return bytes.TrimSuffix(b, []byte("\r"))
}

func containsFold(b []byte, s string) bool {
	n := len(s)
	for i := 0; i+n <= len(b); i++ {
		ok := true
		for j := 0; j < n; j++ {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 32
			}
			if c != s[j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// field copies b into a string fit for output: at most MaxField bytes,
// printable ASCII only (others become '?').
func field(b []byte) string {
	if len(b) > MaxField {
		b = b[:MaxField]
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
