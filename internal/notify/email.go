package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/herd-ips/herd/internal/clock"
)

// emailSender delivers over SMTP: STARTTLS (required unless PlainText),
// AUTH PLAIN only over TLS, one text/plain UTF-8 message.
type emailSender struct {
	e     Email
	host  string
	from  string
	to    []string
	roots *x509.CertPool
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	clk   clock.Clock
}

func newEmail(s Spec, o Options, clk clock.Clock) (sender, medium, error) {
	e := s.Email
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return nil, medium{}, fmt.Errorf("email: addr %q is not host:port", e.Addr)
	}
	from, err := mail.ParseAddress(e.From)
	if err != nil {
		return nil, medium{}, fmt.Errorf("email: from %q: %w", e.From, err)
	}
	if len(e.To) == 0 {
		return nil, medium{}, errors.New("email: no recipient (to)")
	}
	es := &emailSender{e: e, host: host, from: from.Address, dial: o.Dial, clk: clk}
	for _, t := range e.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, medium{}, fmt.Errorf("email: to %q: %w", t, err)
		}
		es.to = append(es.to, a.Address)
	}
	if e.PlainText && e.Username != "" {
		return nil, medium{}, errors.New("email: credentials are only sent over TLS: plain_text and username exclude each other")
	}
	if len(e.RootCAs) > 0 {
		es.roots = x509.NewCertPool()
		if !es.roots.AppendCertsFromPEM(e.RootCAs) {
			return nil, medium{}, errors.New("email: no certificate in the CA file")
		}
	}
	if es.dial == nil {
		var d net.Dialer
		es.dial = d.DialContext
	}
	return es, medium{text: plain, title: headerLine}, nil
}

// smtpTimeout bounds one delivery.
const smtpTimeout = time.Minute

func (es *emailSender) send(ctx context.Context, m *message) error {
	ctx, cancel := context.WithTimeout(ctx, smtpTimeout)
	defer cancel()
	conn, err := es.dial(ctx, "tcp", es.e.Addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", es.e.Addr, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, es.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", es.e.Addr, err)
	}
	defer c.Close()
	if err := es.deliver(c, m); err != nil {
		return fmt.Errorf("smtp %s: %w", es.e.Addr, err)
	}
	return nil
}

func (es *emailSender) deliver(c *smtp.Client, m *message) error {
	helo := es.e.Helo
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: es.host, RootCAs: es.roots, MinVersion: tls.VersionTLS12}); err != nil {
			return permanentError{fmt.Errorf("starttls: %w", err)}
		}
	} else if !es.e.PlainText {
		return permanentError{errors.New("the server offers no STARTTLS; refusing to send in clear (set plain_text for a relay on loopback)")}
	}
	if es.e.Username != "" {
		if _, isTLS := c.TLSConnectionState(); !isTLS {
			return permanentError{errors.New("refusing to send credentials without TLS")}
		}
		if err := c.Auth(smtp.PlainAuth("", es.e.Username, es.e.Password, es.host)); err != nil {
			return permanentError{fmt.Errorf("auth: %w", err)}
		}
	}
	if err := c.Mail(es.from); err != nil {
		return err
	}
	for _, t := range es.to {
		if err := c.Rcpt(t); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(es.compose(m)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// compose writes the message: headers made only of values herd checked
// (addresses parsed at start) or encoded (the subject, RFC 2047, after
// headerLine removed every control character), and a text/plain UTF-8
// body in quoted-printable, so that no attacker-written byte can start a
// header or end the message.
func (es *emailSender) compose(m *message) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\n", es.from)
	fmt.Fprintf(&b, "To: %s\r\n", "<"+strings.Join(es.to, ">, <")+">")
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", headerLine(m.Title)))
	fmt.Fprintf(&b, "Date: %s\r\n", es.clk.Now().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\nAuto-Submitted: auto-generated\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ToValidUTF8(m.Text, "\uFFFD")))
	qp.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}
