package geoip

import (
	"encoding/binary"
	"net/netip"
	"sort"
)

// mmdbWriter writes the few MaxMind DB files the tests need: an IPv6 tree
// (IPv4 at ::/96, as MaxMind's own writer puts it) with 32-bit records,
// whose data are maps of strings and unsigned integers. It follows the
// published MaxMind DB format specification, version 2.0.
type mmdbWriter struct {
	dbType string
	nodes  [][2]rec
	data   []byte
}

// rec is a search tree record: another node, no data, or a data offset.
type rec struct {
	kind uint8 // 0 empty, 1 node, 2 data
	v    uint32
}

func newMMDB(dbType string) *mmdbWriter {
	return &mmdbWriter{dbType: dbType, nodes: [][2]rec{{}}}
}

// insert maps p to the map m (string or uint32 values). Prefixes must not
// nest.
func (w *mmdbWriter) insert(p netip.Prefix, m map[string]any) {
	a := p.Addr().As16()
	bits := p.Bits()
	if p.Addr().Is4() {
		a = [16]byte{}
		copy(a[12:], p.Addr().AsSlice())
		bits += 96
	}
	off := uint32(len(w.data))
	w.data = encode(w.data, m)
	n := 0
	for i := range bits {
		bit := a[i/8] >> (7 - i%8) & 1
		if i == bits-1 {
			w.nodes[n][bit] = rec{kind: 2, v: off}
			return
		}
		r := w.nodes[n][bit]
		if r.kind != 1 {
			w.nodes = append(w.nodes, [2]rec{})
			r = rec{kind: 1, v: uint32(len(w.nodes) - 1)}
			w.nodes[n][bit] = r
		}
		n = int(r.v)
	}
}

func (w *mmdbWriter) bytes() []byte {
	count := uint32(len(w.nodes))
	var out []byte
	for _, nd := range w.nodes {
		for _, r := range nd {
			v := count // empty
			switch r.kind {
			case 1:
				v = r.v
			case 2:
				v = count + 16 + r.v
			}
			out = binary.BigEndian.AppendUint32(out, v)
		}
	}
	out = append(out, make([]byte, 16)...)
	out = append(out, w.data...)
	out = append(out, "\xab\xcd\xefMaxMind.com"...)
	out = encode(out, map[string]any{
		"node_count":                  count,
		"record_size":                 uint16(32),
		"ip_version":                  uint16(6),
		"database_type":               w.dbType,
		"languages":                   []string{"en"},
		"binary_format_major_version": uint16(2),
		"binary_format_minor_version": uint16(0),
		"build_epoch":                 uint64(1_700_000_000),
		"description":                 map[string]any{"en": "herd test database"},
	})
	return out
}

func ctrl(b []byte, typ byte, size int) []byte {
	if size >= 29 {
		panic("test encoder: field too long")
	}
	if typ <= 7 {
		return append(b, typ<<5|byte(size))
	}
	return append(b, byte(size), typ-7)
}

func encode(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		b = ctrl(b, 2, len(v))
		return append(b, v...)
	case uint16:
		return uintField(b, 5, uint64(v))
	case uint32:
		return uintField(b, 6, uint64(v))
	case uint64:
		return uintField(b, 9, v)
	case []string:
		b = ctrl(b, 11, len(v))
		for _, s := range v {
			b = encode(b, s)
		}
		return b
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = ctrl(b, 7, len(keys))
		for _, k := range keys {
			b = encode(b, k)
			b = encode(b, v[k])
		}
		return b
	}
	panic("test encoder: unsupported type")
}

func uintField(b []byte, typ byte, v uint64) []byte {
	var buf []byte
	for v > 0 {
		buf = append([]byte{byte(v)}, buf...)
		v >>= 8
	}
	b = ctrl(b, typ, len(buf))
	return append(b, buf...)
}
