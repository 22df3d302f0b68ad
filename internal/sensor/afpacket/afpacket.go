// Package afpacket captures live packets from a network interface through
// an AF_PACKET socket with a TPACKET_V3 ring, in pure Go (no cgo, no
// libpcap): a classic BPF filter runs in the kernel, PACKET_FANOUT spreads
// flows over workers, and PACKET_STATISTICS counts the kernel's drops.
package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/herd-ips/herd/internal/netns"
	"github.com/herd-ips/herd/internal/sensor/capture"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Defaults of Options.
const (
	DefaultSnapLen   = 65535
	DefaultBlockSize = 1 << 20 // bytes per ring block
	DefaultBlocks    = 16      // blocks per ring: 16 MiB per Source
	DefaultTimeout   = 50 * time.Millisecond
)

// Options configures a Source. The zero value but for Interface captures
// every packet whole, without fan-out, in the current network namespace.
type Options struct {
	Interface string // the interface's name; required
	// SnapLen is how many bytes of each packet are kept (DefaultSnapLen
	// when 0). The kernel's filter cuts the packet there.
	SnapLen int
	// Filter is a compiled classic BPF program; when nil, Expr is compiled
	// with Compile; when both are empty every packet is kept. A Filter's
	// accepting returns should return SnapLen, or less.
	Filter []bpf.RawInstruction
	Expr   string
	// BlockSize and Blocks size the ring (DefaultBlockSize,
	// DefaultBlocks when 0). BlockSize must be a multiple of the page size
	// and hold the largest packet.
	BlockSize, Blocks int
	// Timeout is how long the kernel fills a block before handing it over
	// part-full (DefaultTimeout when 0): the latency bound at low rates.
	Timeout time.Duration
	// FanoutGroup, when not 0, joins the Source to that PACKET_FANOUT group
	// of the interface: the sockets of one group share its packets by a
	// symmetric flow hash, so both directions of a flow reach one worker.
	// Every member must use the same group id.
	FanoutGroup uint16
	// Idle, when not 0, makes Next return capture.ErrIdle after waiting
	// that long for a packet (the live sensor's expiry tick); 0 waits
	// for ever.
	Idle    time.Duration
	Promisc bool // put the interface in promiscuous mode while open
	NetNS   int  // fd of the network namespace of the interface (0 = current); tests use it
}

// Source is a live capture on one interface. It is not safe for concurrent
// use, but Close may be called from another goroutine to end a Next that
// waits for packets; Stats may be called from any goroutine.
type Source struct {
	mu      sync.Mutex // held by Next while it reads the ring
	fd      int
	efd     int // eventfd that wakes a waiting Next at Close
	ring    []byte
	bsize   int
	nblocks int
	link    capture.LinkType
	ifindex int
	closed  atomic.Bool
	pfd     [2]unix.PollFd
	idle    int // poll timeout in milliseconds, -1 = none

	// The block being read: its index, whether it is ours (status user),
	// the packets left in it and where the next one starts.
	cur    int
	held   bool
	left   uint32
	off    int
	vlanTx []byte // a frame with its VLAN tag put back, when the kernel took it out

	statsMu   sync.Mutex
	received  uint64
	dropped   uint64
	statsDone bool
}

var _ capture.Source = (*Source)(nil)

// Open opens a capture on o.Interface.
func Open(o Options) (*Source, error) {
	if o.Interface == "" {
		return nil, errors.New("afpacket: no interface")
	}
	if o.SnapLen <= 0 {
		o.SnapLen = DefaultSnapLen
	}
	if o.BlockSize <= 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.Blocks <= 0 {
		o.Blocks = DefaultBlocks
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.BlockSize%unix.Getpagesize() != 0 {
		return nil, fmt.Errorf("afpacket %s: block size %d is not a multiple of the page size", o.Interface, o.BlockSize)
	}
	if o.SnapLen+unix.SizeofTpacket3Hdr+64 > o.BlockSize {
		return nil, fmt.Errorf("afpacket %s: snap length %d does not fit a block of %d bytes", o.Interface, o.SnapLen, o.BlockSize)
	}
	prog := o.Filter
	if prog == nil {
		var err error
		prog, err = Compile(o.Expr, o.SnapLen)
		if err != nil {
			return nil, fmt.Errorf("afpacket %s: %w", o.Interface, err)
		}
	}
	s := &Source{fd: -1, efd: -1, bsize: o.BlockSize, nblocks: o.Blocks, vlanTx: make([]byte, o.SnapLen+4), idle: -1}
	if o.Idle > 0 {
		s.idle = int(max(o.Idle.Milliseconds(), 1))
	}
	err := netns.Do(o.NetNS, func() error { return s.open(o, prog) })
	if err != nil {
		s.release()
		return nil, fmt.Errorf("afpacket %s: %w", o.Interface, err)
	}
	return s, nil
}

func htons(x uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], x)
	return binary.NativeEndian.Uint16(b[:])
}

func (s *Source) open(o Options, prog []bpf.RawInstruction) error {
	ifc, err := net.InterfaceByName(o.Interface)
	if err != nil {
		return err
	}
	s.ifindex = ifc.Index
	s.link = capture.LinkEthernet
	if len(ifc.HardwareAddr) == 0 && ifc.Flags&net.FlagLoopback == 0 {
		s.link = capture.LinkRaw // tun and other interfaces without a link header
	}
	// Protocol 0: the socket receives nothing until the bind at the end,
	// when the filter and the ring are in place.
	s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	s.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	if err := attach(s.fd, prog); err != nil {
		return err
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("PACKET_VERSION TPACKET_V3: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(o.BlockSize),
		Block_nr:       uint32(o.Blocks),
		Frame_size:     uint32(unix.Getpagesize()), // advisory with V3
		Frame_nr:       uint32(o.BlockSize / unix.Getpagesize() * o.Blocks),
		Retire_blk_tov: uint32(max(1, o.Timeout.Milliseconds())),
	}
	if err := unix.SetsockoptTpacketReq3(s.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("PACKET_RX_RING: %w", err)
	}
	s.ring, err = unix.Mmap(s.fd, 0, o.BlockSize*o.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_LOCKED)
	if err != nil {
		// MAP_LOCKED needs RLIMIT_MEMLOCK room; the ring works without.
		s.ring, err = unix.Mmap(s.fd, 0, o.BlockSize*o.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("mmap ring: %w", err)
		}
	}
	if o.Promisc {
		mr := unix.PacketMreq{Ifindex: int32(s.ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(s.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
			return fmt.Errorf("promiscuous mode: %w", err)
		}
	}
	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: s.ifindex}
	if err := unix.Bind(s.fd, &sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if o.FanoutGroup != 0 {
		arg := int(o.FanoutGroup) | (unix.PACKET_FANOUT_HASH|unix.PACKET_FANOUT_FLAG_DEFRAG)<<16
		if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, arg); err != nil {
			return fmt.Errorf("PACKET_FANOUT group %d: %w", o.FanoutGroup, err)
		}
	}
	s.pfd = [2]unix.PollFd{
		{Fd: int32(s.fd), Events: unix.POLLIN | unix.POLLERR},
		{Fd: int32(s.efd), Events: unix.POLLIN},
	}
	return nil
}

// attach sets prog as the socket's filter (SO_ATTACH_FILTER).
func attach(fd int, prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > 4096 {
		return fmt.Errorf("filter of %d instructions", len(prog))
	}
	fs := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		fs[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fp := unix.SockFprog{Len: uint16(len(fs)), Filter: &fs[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return fmt.Errorf("SO_ATTACH_FILTER: %w", err)
	}
	runtime.KeepAlive(fs)
	return nil
}

// Offsets in a block descriptor (struct tpacket_block_desc, whose
// tpacket_hdr_v1 starts at 8).
const (
	bdStatus   = 8
	bdNumPkts  = 12
	bdFirstPkt = 16
)

func (s *Source) u32(off int) uint32 {
	return *(*uint32)(unsafe.Pointer(&s.ring[off]))
}

// Next waits for the next packet and fills p with it; p.Data points into
// the ring (or a buffer of the Source) and stays valid until the next call
// to Next. It returns io.EOF once the Source is closed. It does not
// allocate.
func (s *Source) Next(p *capture.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed.Load() {
			return io.EOF
		}
		if s.left > 0 {
			if s.packet(p) {
				return nil
			}
			continue
		}
		blk := s.cur * s.bsize
		if s.held {
			// Hand the block read to the end back to the kernel.
			atomic.StoreUint32((*uint32)(unsafe.Pointer(&s.ring[blk+bdStatus])), unix.TP_STATUS_KERNEL)
			s.held = false
			s.cur = (s.cur + 1) % s.nblocks
			blk = s.cur * s.bsize
		}
		if atomic.LoadUint32((*uint32)(unsafe.Pointer(&s.ring[blk+bdStatus])))&unix.TP_STATUS_USER != 0 {
			s.held = true
			s.left = s.u32(blk + bdNumPkts)
			s.off = blk + int(s.u32(blk+bdFirstPkt))
			continue
		}
		s.pfd[0].Revents, s.pfd[1].Revents = 0, 0
		n, err := unix.Poll(s.pfd[:], s.idle)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("afpacket: poll: %w", err)
		}
		if n == 0 && err == nil {
			return capture.ErrIdle
		}
		if s.pfd[0].Revents&unix.POLLERR != 0 {
			// An error queued on the socket; reading it clears it. The
			// interface going down is not the end: it may come back.
			v, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err != nil {
				return fmt.Errorf("afpacket: socket: %w", err)
			}
			if v != 0 && unix.Errno(v) != unix.ENETDOWN {
				return fmt.Errorf("afpacket: socket: %w", unix.Errno(v))
			}
		}
	}
}

// packet reads the packet at s.off into p and moves to the next. It
// reports false for a malformed entry, which ends the block: the header
// is the kernel's, but a bound is checked before every use of it.
func (s *Source) packet(p *capture.Packet) bool {
	blk := s.cur * s.bsize
	end := blk + s.bsize
	if s.off < blk || s.off+unix.SizeofTpacket3Hdr > end {
		s.left = 0
		return false
	}
	h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&s.ring[s.off]))
	data := s.off + int(h.Mac)
	n := int(h.Snaplen)
	if data+n > end || n < 0 {
		s.left = 0
		return false
	}
	p.Data = s.ring[data : data+n : data+n]
	p.Length = int(h.Len)
	p.Time = time.Unix(int64(h.Sec), int64(h.Nsec))
	p.Link = s.link
	p.Ifindex = s.ifindex
	if h.Status&unix.TP_STATUS_VLAN_VALID != 0 && s.link == capture.LinkEthernet && n >= 12 && n+4 <= len(s.vlanTx) {
		// The driver took the 802.1Q tag out into the header: put it back,
		// so that the frame is as it was on the wire.
		tpid := uint16(unix.ETH_P_8021Q)
		if h.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && h.Hv1.Vlan_tpid != 0 {
			tpid = h.Hv1.Vlan_tpid
		}
		b := s.vlanTx[:n+4]
		copy(b, p.Data[:12])
		binary.BigEndian.PutUint16(b[12:], tpid)
		binary.BigEndian.PutUint16(b[14:], uint16(h.Hv1.Vlan_tci))
		copy(b[16:], p.Data[12:])
		p.Data = b
		p.Length += 4
	}
	s.left--
	if s.left > 0 {
		if h.Next_offset == 0 {
			s.left = 0
		}
		s.off += int(h.Next_offset)
	}
	return true
}

// Stats returns the packets the kernel put in the ring and those it
// dropped (ring full), since Open. Each call reads, and so resets, the
// kernel's counters (PACKET_STATISTICS); the Source keeps the sums.
func (s *Source) Stats() (received, dropped uint64) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.readStats()
	return s.received, s.dropped
}

func (s *Source) readStats() {
	if s.statsDone || s.fd < 0 {
		return
	}
	st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	// tp_packets counts the drops too.
	s.received += uint64(st.Packets - st.Drops)
	s.dropped += uint64(st.Drops)
}

// Close ends the capture: a Next waiting in another goroutine returns
// io.EOF, and the ring and socket are released.
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(s.efd, one[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.readStats()
	s.statsDone = true
	return s.release()
}

func (s *Source) release() error {
	var errs []error
	if s.ring != nil {
		if err := unix.Munmap(s.ring); err != nil {
			errs = append(errs, fmt.Errorf("afpacket: munmap: %w", err))
		}
		s.ring = nil
	}
	for _, fd := range []*int{&s.fd, &s.efd} {
		if *fd >= 0 {
			if err := unix.Close(*fd); err != nil {
				errs = append(errs, fmt.Errorf("afpacket: close: %w", err))
			}
			*fd = -1
		}
	}
	return errors.Join(errs...)
}

// OpenGroup opens n Sources on o.Interface in one fan-out group
// (o.FanoutGroup, which must not be 0): one per worker, each to be read by
// one goroutine. On an error it closes those it opened.
func OpenGroup(o Options, n int) ([]capture.Source, error) {
	if o.FanoutGroup == 0 || n < 1 {
		return nil, fmt.Errorf("afpacket %s: a group needs a FanoutGroup id and at least one worker", o.Interface)
	}
	srcs := make([]capture.Source, 0, n)
	for range n {
		s, err := Open(o)
		if err != nil {
			for _, s := range srcs {
				_ = s.Close()
			}
			return nil, err
		}
		srcs = append(srcs, s)
	}
	return srcs, nil
}
