#!/usr/bin/env bash
# bench.sh — measure herd replay beside fail2ban-regex on the same generated logs, on one core.
#
# Usage: scripts/bench.sh            (from anywhere inside the repository)
#
# Environment (defaults in brackets):
#   AUTH_LINES [1000000]   lines of generated sshd auth.log
#   NGINX_LINES [1000000]  lines of generated nginx access log
#   F2B_LINES [100000]     prefix of each log given to fail2ban-regex (it is slow); herd also reads it
#   SEED [1]               loggen seed; the same seed gives byte-identical logs
#   CPU [0]                the core every measured process is pinned to (taskset -c)
#   HERD_REPEATS [3]       herd runs per file; the fastest (by CPU time) is reported
#   F2B_REPEATS [1]        fail2ban-regex runs per file
#   F2B_CHECK_ALL [0]      1: let fail2ban-regex try every failregex on every line (its default,
#                          for statistics); 0: stop at the first match, as fail2ban-server does
#   F2B_AUTH_FILTER [sshd]             fail2ban filter for the auth log
#   F2B_NGINX_FILTER [nginx-botsearch] fail2ban filter for the nginx log
#   SKIP_F2B [0]           1: measure herd only
#   SKIP_GOBENCH [0]       1: skip the Go benchmarks
#   GOBENCH_PKGS [./internal/...]  packages whose benchmarks are run (go test -run '^$' -bench . -benchmem)
#   GOBENCH_TIMEOUT [10m]  go test -timeout for each package's benchmarks
#   OUT [bench-results]    results directory
#
# Writes OUT/<UTC stamp>.md (machine, commands, table, raw tool output) and OUT/latest.md.
# Installs fail2ban and GNU time with apt-get when missing (needs root or sudo).
set -euo pipefail

AUTH_LINES=${AUTH_LINES:-1000000}
NGINX_LINES=${NGINX_LINES:-1000000}
F2B_LINES=${F2B_LINES:-100000}
SEED=${SEED:-1}
CPU=${CPU:-0}
HERD_REPEATS=${HERD_REPEATS:-3}
F2B_REPEATS=${F2B_REPEATS:-1}
F2B_CHECK_ALL=${F2B_CHECK_ALL:-0}
F2B_AUTH_FILTER=${F2B_AUTH_FILTER:-sshd}
F2B_NGINX_FILTER=${F2B_NGINX_FILTER:-nginx-botsearch}
SKIP_F2B=${SKIP_F2B:-0}
SKIP_GOBENCH=${SKIP_GOBENCH:-0}
GOBENCH_PKGS=${GOBENCH_PKGS:-./internal/...}
GOBENCH_TIMEOUT=${GOBENCH_TIMEOUT:-10m}
OUT=${OUT:-bench-results}

cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
report="$OUT/$stamp.md"

log() { printf 'bench: %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		log "need root to run: $*"; return 1
	fi
}

apt_install() {
	log "installing $*"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null ||
		{ as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

# --- tools -----------------------------------------------------------------------------------
[ -x /usr/bin/time ] || apt_install time
command -v taskset >/dev/null || apt_install util-linux
if [ "$SKIP_F2B" != 1 ] && ! command -v fail2ban-regex >/dev/null; then
	apt_install fail2ban
fi

log "building herd and loggen"
herd_ok=1
if ! CGO_ENABLED=0 go build -o "$tmp/herd" ./cmd/herd 2>"$tmp/herd-build.err"; then
	herd_ok=0
	log "herd does not build; its rows will be empty:"
	sed 's/^/    /' "$tmp/herd-build.err" >&2
fi
CGO_ENABLED=0 go build -o "$tmp/loggen" ./tools/loggen

log "generating logs (seed $SEED)"
"$tmp/loggen" -kind auth -lines "$AUTH_LINES" -seed "$SEED" -out "$tmp/auth.log"
"$tmp/loggen" -kind nginx -lines "$NGINX_LINES" -seed "$SEED" -out "$tmp/nginx.log"
head -n "$F2B_LINES" "$tmp/auth.log" >"$tmp/auth-prefix.log"
head -n "$F2B_LINES" "$tmp/nginx.log" >"$tmp/nginx-prefix.log"

# --- measuring -------------------------------------------------------------------------------
# Each run leaves "wall cpu rss_kb" in $tmp/<name>.m and the tool's stderr in $tmp/<name>.err.
# CPU time (user+system) is the figure the ratios use: the machine may be shared, and a process
# waiting for its core accrues wall time but not CPU time.
gnutime_fields() { # file -> "wall cpu rss_kb"
	awk -F': ' '
		/Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
		/User time/   { u = $2 }
		/System time/ { s = $2 }
		/Maximum resident set size/ { r = $2 }
		END { printf "%.2f %.2f %d\n", w, u + s, r }' "$1"
}

# measure NAME REPEATS CMD... : runs CMD pinned to $CPU, keeps the run with the least CPU time.
measure() {
	local name=$1 repeats=$2 i best=""
	shift 2
	for ((i = 1; i <= repeats; i++)); do
		/usr/bin/time -v -o "$tmp/$name.time.$i" taskset -c "$CPU" "$@" >"$tmp/$name.out.$i" 2>"$tmp/$name.err.$i" ||
			{ log "$name: run failed:"; tail -5 "$tmp/$name.err.$i" >&2; return 1; }
		gnutime_fields "$tmp/$name.time.$i" >"$tmp/$name.m.$i"
		if [ -z "$best" ] || awk -v a="$(cut -d' ' -f2 "$tmp/$name.m.$i")" -v b="$(cut -d' ' -f2 "$tmp/$name.m.$best")" 'BEGIN { exit !(a < b) }'; then
			best=$i
		fi
	done
	cp "$tmp/$name.m.$best" "$tmp/$name.m"
	cp "$tmp/$name.err.$best" "$tmp/$name.err"
	cp "$tmp/$name.out.$best" "$tmp/$name.out"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=() # "tool file lines name"
if [ "$herd_ok" = 1 ]; then
	for f in auth nginx; do
		for variant in "$f" "$f-prefix"; do
			log "herd replay $variant.log"
			if measure "herd-$variant" "$HERD_REPEATS" "$tmp/herd" replay --json "$tmp/$variant.log"; then
				rows+=("herd $variant.log $(wc -l <"$tmp/$variant.log") herd-$variant")
			fi
		done
	done
fi
f2b_args=(--print-no-missed --print-no-ignored)
[ "$F2B_CHECK_ALL" = 1 ] || f2b_args+=(--no-check-all)
if [ "$SKIP_F2B" != 1 ]; then
	for f in auth nginx; do
		filter=$F2B_AUTH_FILTER
		[ "$f" = nginx ] && filter=$F2B_NGINX_FILTER
		log "fail2ban-regex $filter on $f-prefix.log (slow)"
		if measure "f2b-$f" "$F2B_REPEATS" fail2ban-regex "${f2b_args[@]}" "$tmp/$f-prefix.log" "$filter"; then
			rows+=("fail2ban-regex($filter) $f-prefix.log $F2B_LINES f2b-$f")
		fi
	done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ----------------------------------------------------------------------------------
# lines/s by CPU time of the fail2ban row for the same log, for the ratio column.
f2b_rate() {
	[ -f "$tmp/f2b-$1.m" ] || return 0
	awk -v n="$F2B_LINES" '{ if ($2 > 0) printf "%.1f", n / $2 }' "$tmp/f2b-$1.m"
}

table() {
	echo "| tool | file | lines | wall s | CPU s | lines/s (CPU) | lines/s (wall) | max RSS MiB | herd/fail2ban (CPU) |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	local row tool file lines name ref
	for row in "${rows[@]}"; do
		read -r tool file lines name <<<"$row"
		ref=""
		[ "$tool" = herd ] && ref=$(f2b_rate "${file%%[-.]*}")
		awk -v tool="$tool" -v file="$file" -v lines="$lines" -v ref="$ref" '{
			wall = $1; cpu = $2; rss = $3 / 1024
			rc = cpu > 0 ? lines / cpu : 0; rw = wall > 0 ? lines / wall : 0
			ratio = (ref != "" && ref > 0) ? sprintf("%.0fx", rc / ref) : "—"
			printf "| %s | %s | %d | %.2f | %.2f | %.0f | %.0f | %.1f | %s |\n", tool, file, lines, wall, cpu, rc, rw, rss, ratio
		}' "$tmp/$name.m"
	done
}

gobench=""
if [ "$SKIP_GOBENCH" != 1 ]; then
	log "go test -run '^\$' -bench . -benchmem -timeout $GOBENCH_TIMEOUT $GOBENCH_PKGS"
	# shellcheck disable=SC2086 # GOBENCH_PKGS is a list of package patterns
	gobench=$(go test -run '^$' -bench . -benchmem -timeout "$GOBENCH_TIMEOUT" $GOBENCH_PKGS 2>&1) ||
		log "go test -bench failed; its output is in the report"
fi

mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
{
	echo "# herd benchmark run $stamp"
	echo
	echo "## Machine"
	echo "- CPUs: $(nproc) ($model); memory: $mem; kernel: $(uname -r)"
	echo "- $(go version)"
	if command -v fail2ban-regex >/dev/null; then
		echo "- fail2ban-regex $(fail2ban-regex -V 2>/dev/null); $(python3 --version 2>&1)"
	fi
	echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- cmd internal 2>/dev/null || echo ' (with uncommitted changes in cmd/ or internal/)')"
	echo "- load average before: $load_before; after: $load_after"
	echo
	echo "## Settings"
	echo "AUTH_LINES=$AUTH_LINES NGINX_LINES=$NGINX_LINES F2B_LINES=$F2B_LINES SEED=$SEED CPU=$CPU HERD_REPEATS=$HERD_REPEATS F2B_REPEATS=$F2B_REPEATS F2B_CHECK_ALL=$F2B_CHECK_ALL"
	echo
	echo "## Commands (each under \`/usr/bin/time -v taskset -c $CPU\`)"
	echo '```'
	echo "go run ./tools/loggen -kind auth -lines $AUTH_LINES -seed $SEED -out auth.log"
	echo "go run ./tools/loggen -kind nginx -lines $NGINX_LINES -seed $SEED -out nginx.log"
	echo "head -n $F2B_LINES auth.log >auth-prefix.log; head -n $F2B_LINES nginx.log >nginx-prefix.log"
	echo "herd replay --json FILE >/dev/null"
	echo "fail2ban-regex ${f2b_args[*]} auth-prefix.log $F2B_AUTH_FILTER"
	echo "fail2ban-regex ${f2b_args[*]} nginx-prefix.log $F2B_NGINX_FILTER"
	echo '```'
	echo
	echo "## Results"
	if [ "$herd_ok" != 1 ]; then
		echo "herd did not build at this commit; only fail2ban was measured."
		echo
	fi
	table
	echo
	echo "The ratio compares lines per CPU-second against fail2ban-regex on the prefix of the same log."
	echo
	for name in herd-auth herd-auth-prefix herd-nginx herd-nginx-prefix; do
		[ -f "$tmp/$name.err" ] || continue
		echo "- $name, herd's summary: \`$(grep 'lines/s' "$tmp/$name.err" | tail -1 || true)\`"
		echo "  - JSON lines on stdout: $(wc -l <"$tmp/$name.out")"
	done
	for f in auth nginx; do
		[ -f "$tmp/f2b-$f.out" ] || continue
		echo "- fail2ban-regex on $f-prefix.log: \`$(grep -E '^Lines:' "$tmp/f2b-$f.out" | tail -1)\` \`$(grep -E 'processed in' "$tmp/f2b-$f.out" | tail -1)\`"
	done
	if [ -n "$gobench" ]; then
		echo
		echo "## go test -run '^\$' -bench . -benchmem -timeout $GOBENCH_TIMEOUT $GOBENCH_PKGS"
		echo '```'
		echo "$gobench"
		echo '```'
	fi
} >"$report"
cp "$report" "$OUT/latest.md"
echo
table
echo
log "report: $report"
