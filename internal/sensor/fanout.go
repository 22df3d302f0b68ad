package sensor

import (
	"hash/maphash"
	"io"
	"sync"

	"github.com/herd-ips/herd/internal/sensor/capture"
	"github.com/herd-ips/herd/internal/sensor/flow"
	"github.com/herd-ips/herd/internal/sensor/packet"
)

// DecodeReason names decode failure reason i (Stats.Decode.Bad's index).
func DecodeReason(i int) string { return packet.Reason(i).String() }

const batchSize = 256

type batch struct {
	pkts []capture.Packet
	data []byte
}

// fanned is one worker's share of a Fanout.
type fanned struct {
	in   chan *batch
	free chan *batch
	cur  *batch
	i    int
	n    uint64
	f    *fan
}

type fan struct {
	mu   sync.Mutex
	err  error // set before the channels close
	stop chan struct{}
	once sync.Once
}

// Fanout spreads one source over n sources by the symmetric flow hash, so
// that both directions of a flow reach the same worker: the software
// counterpart of PACKET_FANOUT for a capture file. A goroutine reads src
// and copies each packet into batches; it stops at src's end or error
// (which the first returned source reports) or when any returned source is
// closed. Closing the returned sources does not close src.
func Fanout(src capture.Source, n int) []capture.Source {
	if n <= 1 {
		return []capture.Source{src}
	}
	f := &fan{stop: make(chan struct{})}
	outs := make([]*fanned, n)
	srcs := make([]capture.Source, n)
	for i := range outs {
		outs[i] = &fanned{in: make(chan *batch, 8), free: make(chan *batch, 10), f: f}
		for range 10 {
			outs[i].free <- &batch{data: make([]byte, 0, batchSize*256)}
		}
		srcs[i] = outs[i]
	}
	go f.run(src, outs)
	return srcs
}

func (f *fan) run(src capture.Source, outs []*fanned) {
	defer func() {
		for _, o := range outs {
			close(o.in)
		}
	}()
	seed := maphash.MakeSeed()
	var dec packet.Decoder
	var p capture.Packet
	var d packet.Packet
	cur := make([]*batch, len(outs))
	flush := func(i int) bool {
		select {
		case outs[i].in <- cur[i]:
			cur[i] = nil
			return true
		case <-f.stop:
			return false
		}
	}
	for {
		err := src.Next(&p)
		if err != nil {
			if err != io.EOF {
				f.mu.Lock()
				f.err = err
				f.mu.Unlock()
			}
			break
		}
		w := 0
		if dec.Decode(p.Link, p.Data, &d) == packet.OK {
			if d.Frag != packet.NotFragment {
				// Later fragments carry no ports: every fragment of a
				// datagram goes by its addresses alone.
				d.SrcPort, d.DstPort = 0, 0
			}
			w = flow.Shard(flow.Hash(seed, &d), len(outs))
		}
		if cur[w] == nil {
			select {
			case cur[w] = <-outs[w].free:
			case <-f.stop:
				return
			}
			cur[w].pkts = cur[w].pkts[:0]
			cur[w].data = cur[w].data[:0]
		}
		b := cur[w]
		off := len(b.data)
		b.data = append(b.data, p.Data...)
		q := p
		q.Data = b.data[off:len(b.data):len(b.data)]
		b.pkts = append(b.pkts, q)
		if len(b.pkts) == batchSize && !flush(w) {
			return
		}
	}
	for i := range cur {
		if cur[i] != nil && !flush(i) {
			return
		}
	}
}

// Next hands out the next packet of this worker's share.
func (s *fanned) Next(p *capture.Packet) error {
	for s.cur == nil || s.i >= len(s.cur.pkts) {
		if s.cur != nil {
			s.free <- s.cur
			s.cur = nil
		}
		b, ok := <-s.in
		if !ok {
			return s.eof()
		}
		s.cur, s.i = b, 0
	}
	*p = s.cur.pkts[s.i]
	s.i++
	s.n++
	return nil
}

func (s *fanned) eof() error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if s.f.err != nil {
		err := s.f.err
		s.f.err = nil // reported once, by the first worker to see it
		return err
	}
	return io.EOF
}

// Stats returns the packets this share handed out.
func (s *fanned) Stats() (received, dropped uint64) { return s.n, 0 }

// Close stops the fan-out's reader.
func (s *fanned) Close() error {
	s.f.once.Do(func() { close(s.f.stop) })
	return nil
}
