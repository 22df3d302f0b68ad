#!/usr/bin/env bash
# Builds the documentation site: README.md and docs/*.md as static HTML in
# OUTDIR (default: a new temporary directory), with every internal link
# checked (tools/docsite; a broken link fails the build).
#   bash scripts/docs-site.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d -t herd-docs.XXXXXX)}
go run ./tools/docsite -repo . -out "$out"
echo "open $out/index.html"
