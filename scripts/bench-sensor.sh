#!/usr/bin/env bash
# bench-sensor.sh — measure herd sensor beside nDPI's ndpiReader on the same captures, one core each.
#
# Usage: scripts/bench-sensor.sh     (from anywhere inside the repository)
#
# The captures are nDPI's own regression captures (../shared/data/ndpi/pcap, see its README): every
# classic-pcap Ethernet capture is merged, in file order, into one file, shifted in time so that no
# two files' flows meet, and the set is repeated REPEAT times (each repetition on other addresses'
# time, so flows start afresh), so that per-run setup is a small share of the time measured.
#
# Environment (defaults in brackets):
#   REPEAT [20]   repetitions of the merged set
#   CPU [0]       the core both tools are pinned to (taskset -c), one after the other
#   RUNS [3]      runs of each tool; the fastest (by CPU time) is reported
#   OUT [bench-results]
#
# Prints, for each tool, packets per second of wall time and per CPU-second (user+system, from GNU
# time), and the ratio herd/ndpiReader. Installs libndpi-bin and time with apt-get when missing.
set -euo pipefail

cd "$(git rev-parse --show-toplevel)"
REPEAT=${REPEAT:-20}
CPU=${CPU:-0}
RUNS=${RUNS:-3}
OUT=${OUT:-bench-results}
DATA=${HERD_SHARED_DATA:-../shared/data}/ndpi/pcap
mkdir -p "$OUT"
[ -d "$DATA" ] || { echo "bench-sensor: $DATA not found" >&2; exit 1; }

need=()
command -v ndpiReader >/dev/null || need+=(libndpi-bin)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
merged="$work/merged.pcap"
python3 - "$DATA" "$merged" "$REPEAT" <<'PY'
import os, struct, sys
src, dst, rep = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = []
for name in sorted(os.listdir(src)):
    p = os.path.join(src, name)
    if not name.endswith('.pcap'):
        continue
    d = open(p, 'rb').read()
    if len(d) < 24:
        continue
    magic = d[:4]
    if magic == b'\xd4\xc3\xb2\xa1': e, ns = '<', False
    elif magic == b'\xa1\xb2\xc3\xd4': e, ns = '>', False
    elif magic == b'\x4d\x3c\xb2\xa1': e, ns = '<', True
    elif magic == b'\xa1\xb2\x3c\x4d': e, ns = '>', True
    else: continue
    if struct.unpack(e + 'I', d[20:24])[0] & 0xffff != 1:
        continue  # Ethernet only: one link type for the merged file
    recs, off = [], 24
    while off + 16 <= len(d):
        s, f, incl, orig = struct.unpack(e + 'IIII', d[off:off+16])
        if off + 16 + incl > len(d):
            break
        us = f // 1000 if ns else f
        recs.append((s * 1000000 + us, d[off+16:off+16+incl], orig))
        off += 16 + incl
    if recs:
        files.append(recs)
out = open(dst, 'wb')
out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
t = 1_600_000_000 * 1000000
n = 0
for r in range(rep):
    for recs in files:
        prev, at = recs[0][0], t
        for ts, data, orig in recs:
            at += min(max(0, ts - prev), 60 * 1000000)  # gaps over a minute shortened to one
            prev = ts
            out.write(struct.pack('<IIII', at // 1000000, at % 1000000, len(data), orig))
            out.write(data)
            n += 1
        t = at + 3600 * 1000000
print(f"merged {len(files)} captures x {rep} = {n} packets", file=sys.stderr)
PY

go build -o "$work/herd" ./cmd/herd
packets=$(python3 -c "
import struct,sys
d=open('$merged','rb').read();o=24;n=0
while o+16<=len(d):
  n+=1;o+=16+struct.unpack('<I',d[o+8:o+12])[0]
print(n)")

# cputime CMD... — runs CMD pinned to $CPU, prints "wall_seconds cpu_seconds" of its best run.
best() {
  local bw=0 bc=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %U %S' -o "$work/t" taskset -c "$CPU" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    read -r w u s <"$work/t"
    c=$(echo "$u + $s" | bc -l)
    if [ "$bc" = 0 ] || [ "$(echo "$c < $bc" | bc -l)" = 1 ]; then bw=$w; bc=$c; fi
  done
  echo "$bw $bc"
}

# A one-packet capture measures each tool's start-up (rules, tables, libraries), which the
# "net" columns take off.
python3 -c "
d=open('$merged','rb').read(); import struct
n=struct.unpack('<I',d[32:36])[0]
open('$work/one.pcap','wb').write(d[:24+16+n])"
read -r _ hs < <(best "$work/herd" sensor --read "$work/one.pcap")
read -r _ ns < <(best ndpiReader -i "$work/one.pcap" -q)
read -r hw hc < <(best "$work/herd" sensor --read "$merged")
herd_summary=$(head -3 "$work/out")
read -r nw nc < <(best ndpiReader -i "$merged" -q)
ndpi_version=$(dpkg-query -W -f '${Version}' libndpi-bin 2>/dev/null || true)
# ndpiReader's own throughput figure (its processing loop, setup excluded).
ndpiReader -i "$merged" >"$work/ndpi.txt" 2>&1 || true
ndpi_tp=$(grep -m1 'nDPI throughput' "$work/ndpi.txt" | sed 's/^[[:space:]]*//')

rate() { echo "scale=0; $packets / $1" | bc -l; }
report="$OUT/sensor-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "# herd sensor beside ndpiReader ($(date -u +%F))"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "ndpiReader: libndpi-bin $ndpi_version"
  echo "Captures: nDPI pcap/*.pcap (Ethernet), merged and repeated $REPEAT times: $packets packets; core $CPU; best of $RUNS"
  echo
  hn=$(echo "$hc - $hs" | bc -l); nn=$(echo "$nc - $ns" | bc -l)
  echo "| tool | wall s | CPU s | start-up CPU s | packets/s (wall) | packets/CPU-s | packets/CPU-s net of start-up |"
  echo "|---|---|---|---|---|---|---|"
  echo "| herd sensor --read | $hw | $hc | $hs | $(rate "$hw") | $(rate "$hc") | $(rate "$hn") |"
  echo "| ndpiReader -i -q | $nw | $nc | $ns | $(rate "$nw") | $(rate "$nc") | $(rate "$nn") |"
  echo
  echo "Ratio herd/ndpiReader, packets per CPU-second: $(echo "scale=2; $nc / $hc" | bc -l)x; net of start-up: $(echo "scale=2; $nn / $hn" | bc -l)x; per wall second: $(echo "scale=2; $nw / $hw" | bc -l)x"
  echo
  echo "ndpiReader's own figure: $ndpi_tp"
  echo
  echo '```'
  echo "$herd_summary"
  echo '```'
} | tee "$report"
cp "$report" "$OUT/sensor-latest.md"
