package syslog

import (
	"fmt"
	"net"
	"net/netip"
)

// Listen opens the listeners of the addresses udpAddr and tcpAddr ("" =
// none) where udp and tcp, listeners the caller opened, are nil. An
// address beyond loopback is refused unless allowRemote: anyone reaching
// it could have any address banned. On an error, both are closed.
func Listen(udpAddr, tcpAddr string, allowRemote bool, udp net.PacketConn, tcp net.Listener) (_ net.PacketConn, _ net.Listener, err error) {
	defer func() {
		if err != nil {
			if udp != nil {
				udp.Close()
			}
			if tcp != nil {
				tcp.Close()
			}
		}
	}()
	for _, addr := range []string{udpAddr, tcpAddr} {
		if addr == "" {
			continue
		}
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return nil, nil, fmt.Errorf("syslog: %q: %w", addr, err)
		}
		if !ap.Addr().IsLoopback() && !allowRemote {
			return nil, nil, fmt.Errorf("syslog: %s is not loopback and allow_remote is off: anyone reaching it could have any address banned", addr)
		}
	}
	if udp == nil && udpAddr != "" {
		if udp, err = net.ListenPacket("udp", udpAddr); err != nil {
			return nil, nil, fmt.Errorf("syslog: %w", err)
		}
	}
	if tcp == nil && tcpAddr != "" {
		if tcp, err = net.Listen("tcp", tcpAddr); err != nil {
			return nil, nil, fmt.Errorf("syslog: %w", err)
		}
	}
	return udp, tcp, nil
}
