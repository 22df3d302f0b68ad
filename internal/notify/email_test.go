package notify

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCert returns a self-signed certificate for 127.0.0.1 and its PEM.
func testCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herd test smtp"},
		NotBefore: t0.Add(-24 * time.Hour), NotAfter: t0.Add(100 * 365 * 24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// smtpServer is a minimal SMTP server on loopback: EHLO, STARTTLS (unless
// noTLS), AUTH PLAIN (only after STARTTLS), MAIL, RCPT, DATA, QUIT.
type smtpServer struct {
	ln    net.Listener
	cert  tls.Certificate
	noTLS bool

	mu       sync.Mutex
	sessions []smtpSession
	done     chan struct{}
}

type smtpSession struct {
	tls      bool
	auth     string // the decoded AUTH PLAIN credentials, "" if none
	authTLS  bool   // whether AUTH came over TLS
	from, to []string
	data     string
	commands []string
}

func newSMTPServer(t *testing.T, noTLS bool) (*smtpServer, []byte) {
	t.Helper()
	cert, pemBytes := testCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, cert: cert, noTLS: noTLS, done: make(chan struct{}, 10)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s, pemBytes
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	var sess smtpSession
	defer func() {
		s.mu.Lock()
		s.sessions = append(s.sessions, sess)
		s.mu.Unlock()
		s.done <- struct{}{}
	}()
	r, w := bufio.NewReader(c), c
	say := func(l string) { io.WriteString(w, l+"\r\n") }
	say("220 herd-test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		sess.commands = append(sess.commands, verb)
		switch verb {
		case "EHLO":
			if !sess.tls && !s.noTLS {
				say("250-herd-test\r\n250-8BITMIME\r\n250 STARTTLS")
			} else {
				say("250-herd-test\r\n250-8BITMIME\r\n250 AUTH PLAIN")
			}
		case "STARTTLS":
			say("220 go ahead")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{s.cert}})
			if err := tc.Handshake(); err != nil {
				return
			}
			c, r, w, sess.tls = tc, bufio.NewReader(tc), tc, true
		case "AUTH":
			f := strings.Fields(line)
			b, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
			sess.auth, sess.authTLS = string(b), sess.tls
			say("235 ok")
		case "MAIL":
			sess.from = append(sess.from, line)
			say("250 ok")
		case "RCPT":
			sess.to = append(sess.to, line)
			say("250 ok")
		case "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			sess.data = b.String()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown")
		}
	}
}

func (s *smtpServer) wait(t *testing.T) smtpSession {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("no SMTP session ended")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[len(s.sessions)-1]
}

func TestEmailOverSTARTTLS(t *testing.T) {
	srv, ca := newSMTPServer(t, false)
	n := start(t, []Spec{{Name: "mail", Type: TypeEmail, Title: `herd: {{index .Lines 3}} é`, Email: Email{
		Addr: srv.ln.Addr().String(), From: "herd@example.org", To: []string{"ops@example.org", "Admin <admin@example.org>"},
		Username: "herd", Password: "s3cret", RootCAs: ca,
	}}}, Options{})
	n.Notify(note("192.0.2.7", true))
	sess := srv.wait(t)
	waitStats(t, n, "mail", func(s Stats) bool { return s.Sent == 1 })
	if !sess.tls || !sess.authTLS || sess.auth != "\x00herd\x00s3cret" {
		t.Errorf("tls %v, auth %q over tls %v", sess.tls, sess.auth, sess.authTLS)
	}
	if len(sess.to) != 2 || sess.from[0] != "MAIL FROM:<herd@example.org> BODY=8BITMIME" && sess.from[0] != "MAIL FROM:<herd@example.org>" {
		t.Errorf("from %q to %q", sess.from, sess.to)
	}
	msg, err := mail.ReadMessage(strings.NewReader(sess.data))
	if err != nil {
		t.Fatalf("message: %v\n%s", err, sess.data)
	}
	if len(msg.Header["Bcc"]) != 0 {
		t.Errorf("a Bcc header was injected:\n%s", sess.data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || !strings.HasPrefix(subject, "herd: user root") || !strings.HasSuffix(subject, "é") || strings.ContainsAny(subject, "\r\n") {
		t.Errorf("subject %q (%v)", subject, err)
	}
	if ct := msg.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ssh-bruteforce from 192.0.2.7 in FR (AS64500 Example <Net>)", `user root\x0d\x0aBcc: victim@example.com\x0d\x0a\x0d\x0aforged body`, `<script>alert(1)</script>`, `\x1b[2Jclear screen`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(string(body), "\x1b") {
		t.Error("body holds a raw escape")
	}
}

func TestEmailRefusesCredentialsWithoutTLS(t *testing.T) {
	srv, _ := newSMTPServer(t, true)
	n := start(t, []Spec{{Name: "mail", Type: TypeEmail, Email: Email{
		Addr: srv.ln.Addr().String(), From: "herd@example.org", To: []string{"ops@example.org"}, Username: "herd", Password: "s3cret",
	}}}, Options{})
	n.Notify(note("192.0.2.7", true))
	sess := srv.wait(t)
	s := waitStats(t, n, "mail", func(s Stats) bool { return s.Failed == 1 })
	if sess.auth != "" || sess.data != "" || s.Retried != 0 {
		t.Errorf("sent without TLS: auth %q data %q; stats %+v", sess.auth, sess.data, s)
	}
	for _, c := range sess.commands {
		if c == "AUTH" || c == "MAIL" {
			t.Errorf("the client went on with %s", c)
		}
	}
}

func TestEmailPlainTextRelay(t *testing.T) {
	srv, _ := newSMTPServer(t, true)
	n := start(t, []Spec{{Name: "mail", Type: TypeEmail, Email: Email{
		Addr: srv.ln.Addr().String(), From: "herd@example.org", To: []string{"ops@example.org"}, PlainText: true,
	}}}, Options{})
	n.Notify(note("192.0.2.7", true))
	sess := srv.wait(t)
	waitStats(t, n, "mail", func(s Stats) bool { return s.Sent == 1 })
	if sess.tls || sess.data == "" {
		t.Errorf("tls %v data %q", sess.tls, sess.data)
	}
}
