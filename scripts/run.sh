#!/usr/bin/env bash
# herd's main job. Until the live agent lands, this builds herd and replays the
# sample logs in examples/ to show what it detects and whom it would ban.
#   bash scripts/run.sh [FILE...]     # replay your own logs instead (e.g. /var/log/auth.log)
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
mkdir -p bin
go build -o bin/herd ./cmd/herd
if [ $# -eq 0 ]; then
  set -- examples/auth.log examples/access.log
fi
echo "== herd replay $*" >&2
exec bin/herd replay "$@"
