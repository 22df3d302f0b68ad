package syslog

import (
	"net"
	"strings"
	"testing"
)

// TestListenRefusesRemoteAddresses: an address beyond loopback is refused
// unless allowRemote, and the listeners the caller passed are closed on
// that error; loopback addresses open.
func TestListenRefusesRemoteAddresses(t *testing.T) {
	pre, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, addrs := range [][2]string{{"192.0.2.1:514", ""}, {"", "[2001:db8::1]:514"}, {"0.0.0.0:514", ""}} {
		_, _, err := Listen(addrs[0], addrs[1], false, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "allow_remote") {
			t.Errorf("%v: err %v, want a refusal naming allow_remote", addrs, err)
		}
	}
	if _, _, err := Listen("10.0.0.1:514", "", false, nil, pre); err == nil {
		t.Fatal("remote address accepted")
	}
	if _, err := pre.Accept(); err == nil {
		t.Error("the caller's listener was left open on the error")
	}
	udp, tcp, err := Listen("127.0.0.1:0", "127.0.0.1:0", false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	defer tcp.Close()
	if udp.LocalAddr().(*net.UDPAddr).Port == 0 || tcp.Addr().(*net.TCPAddr).Port == 0 {
		t.Errorf("listeners not bound: %v %v", udp.LocalAddr(), tcp.Addr())
	}
}
