package protoid

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
)

// ssh keeps each side's banner and fingerprints each side's KEXINIT
// (HASSH and HASSHServer: MD5 of the algorithm lists the side offers).
func (s *State) ssh(dir int, b []byte) {
	if bytes.HasPrefix(b, []byte("SSH-")) {
		line := firstLine(b)
		s.Banner[dir] = field(line)
		b = b[min(len(b), len(line)+1):]
		if len(b) > 0 && b[0] == '\n' {
			b = b[1:]
		}
	}
	if len(b) >= 6+17 && b[5] == 20 {
		n := int(binary.BigEndian.Uint32(b))
		if n >= 17 && n <= 35000 {
			body := b[6:min(len(b), 4+n)]
			if h, ok := hassh(body[min(16, len(body)):], dir == 0); ok {
				if dir == 0 {
					s.HASSH = h
				} else {
					s.HASSHS = h
				}
			}
		}
	}
	s.want[0] = s.HASSH == "" && s.seen[0] < 4
	s.want[1] = s.HASSHS == "" && s.seen[1] < 4
}

func hassh(b []byte, client bool) (string, bool) {
	var lists [10][]byte
	for i := range lists {
		if len(b) < 4 {
			return "", false
		}
		n := int(binary.BigEndian.Uint32(b))
		if n > len(b)-4 {
			return "", false
		}
		lists[i] = b[4 : 4+n]
		b = b[4+n:]
	}
	// kex, host key, enc c2s, enc s2c, mac c2s, mac s2c, comp c2s, comp s2c
	enc, mac, comp := lists[2], lists[4], lists[6]
	if !client {
		enc, mac, comp = lists[3], lists[5], lists[7]
	}
	j := append([]byte(nil), lists[0]...)
	j = append(j, ';')
	j = append(j, enc...)
	j = append(j, ';')
	j = append(j, mac...)
	j = append(j, ';')
	j = append(j, comp...)
	sum := md5.Sum(j)
	return hex.EncodeToString(sum[:]), true
}
