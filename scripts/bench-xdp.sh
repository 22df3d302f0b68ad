#!/usr/bin/env bash
# bench-xdp.sh — packets dropped per second per core by herd's XDP filter beside its nftables table,
# on the same flood of a veth pair in throwaway network namespaces (needs root and ip(8)).
#
# Usage: scripts/bench-xdp.sh        (from anywhere inside the repository)
#
# Environment (defaults in brackets):
#   PACKETS [1000000]   packets per run, from 256 listed sources (10,000 bans loaded in each enforcer)
#   COUNT [3]           runs per enforcer
#
# Each line gives, per enforcer, ns/op (wall time per packet), cpu-ns/pkt (CPU time per packet:
# the sending thread plus CPU 0's softirq time) and drops/s. The sender's cost (building and
# transmitting the frame) is inside every figure; compare cpu-ns/pkt between lines.
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
if [ "$(id -u)" != 0 ]; then
  echo "bench-xdp.sh: needs root (network namespaces, XDP, nftables)" >&2
  exit 1
fi
go test -run '^$' -bench 'FloodDrop' -benchtime "${PACKETS:-1000000}x" -count "${COUNT:-3}" -timeout 30m \
  ./internal/enforce/xdp/ | tee /dev/stderr | awk '
  /^BenchmarkFloodDrop\// {
    split($1, n, "/"); sub(/-[0-9]+$/, "", n[2])
    for (i = 3; i < NF; i++) if ($(i+1) == "cpu-ns/pkt") { sum[n[2]] += $i; cnt[n[2]]++ }
  }
  END {
    print ""
    print "mean CPU per packet (sender included):"
    for (k in sum) printf "  %-24s %7.0f ns\n", k, sum[k] / cnt[k]
    if (cnt["nftables"] && cnt["xdp-generic"])
      printf "nftables / xdp-generic CPU per packet: %.2f\n", (sum["nftables"]/cnt["nftables"]) / (sum["xdp-generic"]/cnt["xdp-generic"])
    if (cnt["nftables-conntrack"] && cnt["xdp-generic-conntrack"])
      printf "with conntrack on: %.2f\n", (sum["nftables-conntrack"]/cnt["nftables-conntrack"]) / (sum["xdp-generic-conntrack"]/cnt["xdp-generic-conntrack"])
  }'
