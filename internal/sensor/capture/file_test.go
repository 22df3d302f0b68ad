package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func pcapFile(order binary.ByteOrder, magic uint32, link uint32, recs ...[]byte) []byte {
	var b bytes.Buffer
	h := make([]byte, 24)
	order.PutUint32(h, magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], 65535)
	order.PutUint32(h[20:], link)
	b.Write(h)
	for i, r := range recs {
		rh := make([]byte, 16)
		order.PutUint32(rh, 1000+uint32(i))
		order.PutUint32(rh[4:], 500)
		order.PutUint32(rh[8:], uint32(len(r)))
		order.PutUint32(rh[12:], uint32(len(r))+10)
		b.Write(rh)
		b.Write(r)
	}
	return b.Bytes()
}

func readAll(t *testing.T, data []byte) ([]Packet, error) {
	t.Helper()
	r, err := NewReader("test", bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var out []Packet
	for {
		var p Packet
		err := r.Next(&p)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		p.Data = append([]byte(nil), p.Data...)
		out = append(out, p)
	}
}

func TestPcapByteOrdersAndResolutions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order binary.ByteOrder
		magic uint32
		ns    int
	}{
		{"le-micro", binary.LittleEndian, pcapMicro, 500000},
		{"be-micro", binary.BigEndian, pcapMicro, 500000},
		{"le-nano", binary.LittleEndian, pcapNano, 500},
		{"be-nano", binary.BigEndian, pcapNano, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := readAll(t, pcapFile(tc.order, tc.magic, 113, []byte("abc"), []byte("defgh")))
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 2 || string(ps[1].Data) != "defgh" || ps[1].Length != 15 || ps[0].Link != LinkLinuxSLL {
				t.Fatalf("got %+v", ps)
			}
			if want := time.Unix(1001, int64(tc.ns)).UTC(); !ps[1].Time.Equal(want) {
				t.Errorf("time %v, want %v", ps[1].Time, want)
			}
		})
	}
}

func TestPcapTruncatedNamesTheOffset(t *testing.T) {
	f := pcapFile(binary.LittleEndian, pcapMicro, 1, []byte("abcd"), []byte("efghij"))
	ps, err := readAll(t, f[:len(f)-2])
	if len(ps) != 1 || err == nil {
		t.Fatalf("got %d packets, err %v", len(ps), err)
	}
	if !strings.Contains(err.Error(), "offset 44") || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error %q does not name the record's offset 44", err)
	}
	if _, err := readAll(t, []byte("GIF89a....")); err == nil || !strings.Contains(err.Error(), "not a pcap") {
		t.Errorf("non-pcap: %v", err)
	}
}

type ord interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// ngBlock builds one pcapng block.
func ngBlock(order ord, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	b := make([]byte, 8, 12+len(body))
	order.PutUint32(b, typ)
	order.PutUint32(b[4:], uint32(12+len(body)))
	b = append(b, body...)
	return order.AppendUint32(b, uint32(12+len(body)))
}

func ngFile(order ord) []byte {
	var f []byte
	shb := order.AppendUint32(nil, ngByteOrder)
	shb = order.AppendUint16(shb, 1)
	shb = order.AppendUint16(shb, 0)
	shb = order.AppendUint64(shb, ^uint64(0))
	f = append(f, ngBlock(order, ngSection, shb)...)
	// interface 0: Ethernet, microseconds; interface 1: raw, nanoseconds.
	idb0 := order.AppendUint16(nil, 1)
	idb0 = append(idb0, 0, 0)
	idb0 = order.AppendUint32(idb0, 0)
	f = append(f, ngBlock(order, ngIDB, idb0)...)
	idb1 := order.AppendUint16(nil, 101)
	idb1 = append(idb1, 0, 0)
	idb1 = order.AppendUint32(idb1, 0)
	idb1 = order.AppendUint16(idb1, 9)
	idb1 = order.AppendUint16(idb1, 1)
	idb1 = append(idb1, 9, 0, 0, 0)
	idb1 = append(idb1, 0, 0, 0, 0) // opt_endofopt
	f = append(f, ngBlock(order, ngIDB, idb1)...)
	f = append(f, ngBlock(order, 0x0bad, []byte("skipped block"))...)
	epb := func(id uint32, ts uint64, data string) []byte {
		b := order.AppendUint32(nil, id)
		b = order.AppendUint32(b, uint32(ts>>32))
		b = order.AppendUint32(b, uint32(ts))
		b = order.AppendUint32(b, uint32(len(data)))
		b = order.AppendUint32(b, uint32(len(data)))
		return ngBlock(order, ngEPB, append(b, data...))
	}
	f = append(f, epb(0, 2_000_000_123, "eth")...)
	f = append(f, epb(1, 3_000_000_000_456, "rawpkt")...)
	return f
}

func TestPcapngInterfacesAndByteOrders(t *testing.T) {
	for _, order := range []ord{binary.LittleEndian, binary.BigEndian} {
		ps, err := readAll(t, ngFile(order))
		if err != nil {
			t.Fatalf("%v: %v", order, err)
		}
		if len(ps) != 2 {
			t.Fatalf("%v: %d packets", order, len(ps))
		}
		if ps[0].Link != LinkEthernet || string(ps[0].Data) != "eth" || !ps[0].Time.Equal(time.Unix(2000, 123000).UTC()) {
			t.Errorf("%v: packet 0 %+v", order, ps[0])
		}
		if ps[1].Link != LinkRaw || string(ps[1].Data) != "rawpkt" || !ps[1].Time.Equal(time.Unix(3000, 456).UTC()) {
			t.Errorf("%v: packet 1 %+v", order, ps[1])
		}
	}
}

func TestPcapngTruncated(t *testing.T) {
	f := ngFile(binary.LittleEndian)
	_, err := readAll(t, f[:len(f)-5])
	if err == nil || !strings.Contains(err.Error(), "truncated block") {
		t.Fatalf("err %v", err)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b, LinkRaw)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 123456789).UTC()
	if err := w.Write(at, []byte{0x45, 1, 2}); err != nil {
		t.Fatal(err)
	}
	ps, err := readAll(t, b.Bytes())
	if err != nil || len(ps) != 1 || !ps[0].Time.Equal(at) || ps[0].Link != LinkRaw {
		t.Fatalf("%+v %v", ps, err)
	}
}

// TestReadsNDPICaptures reads every nDPI capture of ../shared/data: none
// may fail except those nDPI itself ships as broken.
func TestReadsNDPICaptures(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "..", "shared", "data", "ndpi", "pcap")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("no nDPI captures (%v)", err)
	}
	var files, pkts, bad int
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".pcap") && !strings.HasSuffix(e.Name(), ".pcapng") {
			continue
		}
		r, err := Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Logf("%v", err)
			bad++
			continue
		}
		files++
		var p Packet
		for {
			if err = r.Next(&p); err != nil {
				break
			}
			pkts++
		}
		if err != io.EOF {
			t.Logf("%v", err)
			bad++
		}
		r.Close()
	}
	t.Logf("%d files, %d packets, %d with an error", files, pkts, bad)
	if files == 0 || bad > len(ents)/20 {
		t.Errorf("%d of %d captures failed", bad, len(ents))
	}
}

func FuzzReader(f *testing.F) {
	f.Add(pcapFile(binary.LittleEndian, pcapMicro, 1, []byte("abcd")))
	f.Add(pcapFile(binary.BigEndian, pcapNano, 101, []byte("abcd")))
	f.Add(ngFile(binary.LittleEndian))
	f.Add(ngFile(binary.BigEndian))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader("fuzz", bytes.NewReader(data))
		if err != nil {
			return
		}
		var p Packet
		for range 10000 {
			if err := r.Next(&p); err != nil {
				return
			}
			if len(p.Data) > MaxSnap || p.Length < len(p.Data) {
				t.Fatalf("packet of %d bytes, length %d", len(p.Data), p.Length)
			}
		}
	})
}
