#!/usr/bin/env bash
# herd's main job: build herd and run the agent, which follows this machine's logs (files and the
# systemd journal), bans attackers in nftables and serves the local API on 127.0.0.1:8080.
# As root with nftables it enforces (nftables is installed if missing); otherwise it runs in a
# clearly announced dry-run, printing the bans it would make. Stop it with Ctrl-C.
#
#   bash scripts/run.sh                    # the agent (config: /etc/herd/herd.yaml if it exists)
#   bash scripts/run.sh --replay [FILE...] # replay logs instead (default: the samples in examples/)
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
mkdir -p bin
go build -o bin/herd ./cmd/herd

if [ "${1:-}" = "--replay" ]; then
  shift
  [ $# -gt 0 ] || set -- examples/auth.log examples/access.log
  echo "== herd replay $*" >&2
  exec bin/herd replay "$@"
fi

args=("$@")
if [ "$(id -u)" = 0 ]; then
  if ! command -v nft >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "== installing nftables" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null || true
  fi
else
  # Without root herd cannot program nftables nor write /var/lib/herd: keep its state under the
  # user's state directory and run dry.
  state="${XDG_STATE_HOME:-$HOME/.local/state}/herd"
  mkdir -p "$state"
  if [ ! -f "$state/herd.yaml" ]; then
    printf 'database:\n  driver: sqlite\n  dsn: %s/herd.db\ngeoip:\n  dir: %s/geoip\n' "$state" "$state" >"$state/herd.yaml"
  fi
  case " ${args[*]:-} " in *" --config "*) ;; *) args+=(--config "$state/herd.yaml") ;; esac
fi
# GeoIP databases (docs/geoip.md) are fetched here, once, never by the agent; offline or on
# failure the agent runs without enrichment and says so in one log line.
geodir=/var/lib/herd/geoip
[ "$(id -u)" = 0 ] || geodir="$state/geoip"
if [ ! -f "$geodir/country.mmdb" ] && [ "${HERD_NO_GEOIP:-}" != 1 ]; then
  echo "== herd geoip update --dir $geodir" >&2
  timeout 600 bin/herd geoip update --dir "$geodir" >/dev/null ||
    echo "== geoip databases not fetched; enrichment stays off (retry: bin/herd geoip update --dir $geodir)" >&2
fi
echo "== herd agent ${args[*]:-}" >&2
exec bin/herd agent "${args[@]}"
