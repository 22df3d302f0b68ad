#!/usr/bin/env bash
# Refreshes the console's third-party assets (internal/console/assets/vendor)
# from the npm registry: the exact versions pinned below, unpacked with
# `npm pack` into a temporary directory, and only the files the console
# serves copied, each package's LICENSE kept beside them.
#   bash scripts/console-assets.sh
# The files are committed: the console needs no network at run time, and
# the build needs none either.
set -euo pipefail
cd "$(dirname "$0")/.."

UPLOT_VERSION=1.6.32       # uPlot: time-series charts (MIT)
WORLD_ATLAS_VERSION=2.0.2  # world-atlas: Natural Earth countries as TopoJSON (ISC; data public domain)

dest=internal/console/assets/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch() { # name version -> unpacked package directory on stdout
  local name=$1 version=$2
  mkdir -p "$tmp/$name"
  (cd "$tmp/$name" && npm pack --silent "$name@$version" >/dev/null && tar -xzf ./*.tgz)
  echo "$tmp/$name/package"
}

rm -rf "$dest"
mkdir -p "$dest/uplot" "$dest/world-atlas"

u=$(fetch uplot "$UPLOT_VERSION")
cp "$u/dist/uPlot.iife.min.js" "$u/dist/uPlot.min.css" "$u/LICENSE" "$dest/uplot/"
echo "uplot $UPLOT_VERSION" >"$dest/uplot/VERSION"

w=$(fetch world-atlas "$WORLD_ATLAS_VERSION")
cp "$w/countries-110m.json" "$w/LICENSE" "$dest/world-atlas/"
echo "world-atlas $WORLD_ATLAS_VERSION" >"$dest/world-atlas/VERSION"

echo "console assets in $dest:"
du -ab "$dest" | sort -k2
