package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herd-ips/herd/internal/metrics"
)

// TestHubServeCapsConnections runs `herd hub serve` with a cap of two
// connections per client: a third one from the same address is closed at
// once, while another client is still served.
func TestHubServeCapsConnections(t *testing.T) {
	dir := t.TempDir()
	var out, errb syncWriter
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	root := e.rootCmd()
	root.SetArgs([]string{"hub", "serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "hub.db"),
		"--key", filepath.Join(dir, "sign.key"), "--max-connections-per-address", "2", "--metrics-listen", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close() // before the hub stops: it waits for requests in flight
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub serve: %v", err)
		}
	}()
	var addr, metricsURL string
	re := regexp.MustCompile(`listening on (\S+) \(plain HTTP\)(?s:.*)hub metrics on (\S+)\n`)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr, metricsURL = m[1], m[2]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line: %q %q", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	dial := func(src string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial from %s: %v", src, err)
		}
		conns = append(conns, c)
		return c
	}
	// closed reports whether the server closed c within 300 ms.
	closed := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
	held := []net.Conn{dial("127.0.0.2"), dial("127.0.0.2")}
	for _, c := range held {
		fmt.Fprint(c, "GET /v1/blocklist/snapshot HTTP/1.1\r\nHost: hub\r\n") // never finished
	}
	time.Sleep(50 * time.Millisecond) // the hub accepts them
	if third := dial("127.0.0.2"); !closed(third) {
		t.Fatal("a third connection from 127.0.0.2 was held beyond --max-connections-per-address 2")
	}
	for _, c := range held {
		if closed(c) {
			t.Fatal("a connection within the cap was closed")
		}
	}
	other := dial("127.0.0.3")
	fmt.Fprint(other, "GET /v1/blocklist/snapshot HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
	_ = other.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(other).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 ") {
		t.Fatalf("another client is not served: %q %v", line, err)
	}
	sc, err := metrics.Fetch(ctx, http.DefaultClient, metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.Sum(metrics.ConnectionsRefused, "listener", "hub", "reason", metrics.RefusedPerAddr); got != 1 {
		t.Errorf("%s{listener=hub,reason=per_address} = %v, want 1", metrics.ConnectionsRefused, got)
	}
	if got := sc.Sum(metrics.ConnectionsOpen, "listener", "hub"); got < 2 {
		t.Errorf("%s{listener=hub} = %v, want the 2 held at least", metrics.ConnectionsOpen, got)
	}
}
