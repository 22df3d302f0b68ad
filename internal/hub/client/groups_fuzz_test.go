package client

import (
	"encoding/binary"
	"testing"
)

func FuzzDecodeBlobs(f *testing.F) {
	b := binary.BigEndian.AppendUint64(nil, 1)
	b = binary.BigEndian.AppendUint32(b, 3)
	b = append(b, 1, 2, 3)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, err := DecodeBlobs(b)
		if err != nil {
			return
		}
		n := 0
		for i, x := range bs {
			n += 12 + len(x.Data)
			if i > 0 && x.Seq <= bs[i-1].Seq {
				t.Fatal("positions not increasing")
			}
		}
		if n != len(b) {
			t.Fatalf("%d bytes decoded of %d", n, len(b))
		}
	})
}
