package lapi

import (
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many X-Forwarded-For entries are examined,
// from the right.
const maxForwardedHops = 32

// forwardAuth answers /v1/forward-auth for nginx auth_request, Traefik
// ForwardAuth and Caddy forward_auth: 403 when the client is under a live ban
// (of its address or of a range covering it), 200 otherwise, both with an
// empty body; 503 until the decisions are loaded.
//
// The client is the connection's peer, unless the peer is a trusted proxy:
// then it is the right-most X-Forwarded-For address that is not a trusted
// proxy, or else X-Real-IP. The request needs an X-Api-Key, unless
// Options.OpenForwardAuth is set and the peer is a trusted proxy.
//
// Two X-Api-Key headers, or two X-Real-IP headers from a trusted proxy,
// get 400: herd never picks one of them.
//
// It reads only the in-memory mirror and, once the key is cached, does not
// allocate (TestForwardAuthAllocs).
func (s *Server) forwardAuth(w http.ResponseWriter, r *http.Request) {
	peer := remoteAddr(r)
	fromProxy := s.isTrusted(peer)
	if len(r.Header["X-Api-Key"]) > 1 || (fromProxy && len(r.Header["X-Real-Ip"]) > 1) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if !s.openFA || !fromProxy {
		if _, ok := s.authenticate(w, r, true); !ok {
			return
		}
	}
	client := peer
	if fromProxy {
		if a, ok := forwardedClient(r.Header, s.trusted); ok {
			client = a
		}
	}
	now := s.now().UnixNano()
	m := s.m
	m.mu.RLock()
	loaded := m.loaded
	banned := loaded && client.IsValid() && m.banned(client, now)
	m.mu.RUnlock()
	switch {
	case !loaded:
		w.WriteHeader(http.StatusServiceUnavailable)
	case banned:
		w.WriteHeader(http.StatusForbidden)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

func (s *Server) isTrusted(a netip.Addr) bool {
	return trustedBy(s.trusted, a)
}

func trustedBy(trusted []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedClient returns the client a trusted proxy reports in h: walking
// X-Forwarded-For from the right (the entry the nearest proxy appended),
// the first address that is not itself a trusted proxy; if every entry is
// trusted, the left-most one. Without a usable X-Forwarded-For it takes
// X-Real-IP. Entries left of the first untrusted one were written by the
// client and are never believed. It reports false when the headers give no
// address, or when the walk meets an entry that is not an address (a
// proxy that writes garbage is not believed either). Addresses are
// unmapped; a port ("192.0.2.7:4711", "[2001:db8::7]:443") is accepted and
// dropped. It does not allocate.
func forwardedClient(h http.Header, trusted []netip.Prefix) (netip.Addr, bool) {
	xff := h["X-Forwarded-For"]
	var last netip.Addr
	hops := 0
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			j := strings.LastIndexByte(v, ',')
			item := strings.TrimSpace(v[j+1:])
			v = v[:max(j, 0)]
			if item == "" {
				continue
			}
			hops++
			a, ok := parseForwarded(item)
			if !ok {
				return netip.Addr{}, false
			}
			if !trustedBy(trusted, a) {
				return a, true
			}
			last = a
			if hops >= maxForwardedHops {
				return last, true
			}
		}
	}
	if last.IsValid() {
		return last, true
	}
	if v := strings.TrimSpace(h.Get("X-Real-Ip")); v != "" {
		return parseForwarded(v)
	}
	return netip.Addr{}, false
}

// parseForwarded parses one forwarded address, with or without a port.
func parseForwarded(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
