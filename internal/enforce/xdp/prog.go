package xdp

import (
	"encoding/binary"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// Map names inside the collection.
const (
	mapBan4  = "herd_ban4"
	mapBan6  = "herd_ban6"
	mapDrops = "herd_drops"
)

// The XDP verdicts the program returns.
const (
	xdpDrop = 1
	xdpPass = 2
)

// The slots of the per-CPU drop counter.
const (
	slot4 = 0
	slot6 = 1
)

// be16 is the number x as the kernel reads a big-endian 16-bit field from
// the packet into a register on this host.
func be16(x uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], x)
	return int32(binary.NativeEndian.Uint16(b[:]))
}

// key4 and key6 are the LPM trie keys (struct bpf_lpm_trie_key): the
// prefix length in host order, then the address in network order.
type key4 struct {
	Bits uint32
	Addr [4]byte
}

type key6 struct {
	Bits uint32
	Addr [16]byte
}

// spec returns the program and its maps. The program, in eBPF assembly so
// that building herd needs no C compiler:
//
//	eth = data; if eth+14 > end: pass
//	type = eth.type; if type is 802.1Q or 802.1ad: skip one tag (4 bytes)
//	IPv4: if ip+20 > end: pass; key = {32, ip.saddr}; hit in herd_ban4 → count slot 0, drop
//	IPv6: if ip+40 > end: pass; key = {128, ip6.saddr}; hit in herd_ban6 → count slot 1, drop
//	anything else: pass
//
// Registers: R2 data, R3 data_end, R7 the frame start shifted by the VLAN
// tag (so the network header is at R7+14), R8 the counter slot.
func spec(max uint32) *ebpf.CollectionSpec {
	const (
		eth    = 14
		ip4Src = eth + 12
		ip6Src = eth + 8
	)
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // ctx->data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // ctx->data_end
		asm.Mov.Reg(asm.R7, asm.R2),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, eth),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JEq.Imm(asm.R5, be16(0x8100), "vlan"),
		asm.JEq.Imm(asm.R5, be16(0x88a8), "vlan"),
		asm.Ja.Label("l3"),

		asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("vlan"),
		asm.Add.Imm(asm.R4, eth+4),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 16, asm.Half),
		asm.Add.Imm(asm.R7, 4),

		asm.JEq.Imm(asm.R5, be16(unix.ETH_P_IP), "v4").WithSymbol("l3"),
		asm.JEq.Imm(asm.R5, be16(unix.ETH_P_IPV6), "v6"),
		asm.Ja.Label("pass"),

		// IPv4: key {32, saddr} at fp-8.
		asm.Mov.Reg(asm.R4, asm.R7).WithSymbol("v4"),
		asm.Add.Imm(asm.R4, eth+20),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R7, ip4Src, asm.Word),
		asm.StoreMem(asm.RFP, -4, asm.R5, asm.Word),
		asm.StoreImm(asm.RFP, -8, 32, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapBan4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Imm(asm.R8, slot4),
		asm.Ja.Label("drop"),

		// IPv6: key {128, saddr} at fp-20.
		asm.Mov.Reg(asm.R4, asm.R7).WithSymbol("v6"),
		asm.Add.Imm(asm.R4, eth+40),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R7, ip6Src, asm.Word),
		asm.StoreMem(asm.RFP, -16, asm.R5, asm.Word),
		asm.LoadMem(asm.R5, asm.R7, ip6Src+4, asm.Word),
		asm.StoreMem(asm.RFP, -12, asm.R5, asm.Word),
		asm.LoadMem(asm.R5, asm.R7, ip6Src+8, asm.Word),
		asm.StoreMem(asm.RFP, -8, asm.R5, asm.Word),
		asm.LoadMem(asm.R5, asm.R7, ip6Src+12, asm.Word),
		asm.StoreMem(asm.RFP, -4, asm.R5, asm.Word),
		asm.StoreImm(asm.RFP, -20, 128, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -20),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapBan6),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Imm(asm.R8, slot6),

		// Count in this CPU's slot, then drop.
		asm.StoreMem(asm.RFP, -24, asm.R8, asm.Word).WithSymbol("drop"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -24),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapDrops),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "ret"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, xdpDrop).WithSymbol("ret"),
		asm.Return(),

		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	}
	lpm := func(name string, keySize uint32) *ebpf.MapSpec {
		return &ebpf.MapSpec{
			Name:       name,
			Type:       ebpf.LPMTrie,
			KeySize:    keySize,
			ValueSize:  4,
			MaxEntries: max,
			Flags:      unix.BPF_F_NO_PREALLOC,
		}
	}
	return &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			mapBan4: lpm(mapBan4, 8),
			mapBan6: lpm(mapBan6, 20),
			mapDrops: {
				Name:       mapDrops,
				Type:       ebpf.PerCPUArray,
				KeySize:    4,
				ValueSize:  8,
				MaxEntries: 2,
			},
		},
		Programs: map[string]*ebpf.ProgramSpec{
			progName: {
				Name:         progName,
				Type:         ebpf.XDP,
				License:      "GPL",
				Instructions: insns,
			},
		},
	}
}

const progName = "herd_xdp_drop"
