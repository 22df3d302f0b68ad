#!/usr/bin/env bash
# Builds herd's packages from the repository: a .deb and a .rpm holding the
# static binary, the systemd unit, the default configuration, the man pages
# and the shell completions, with the maintainer scripts of dist/package/
# (docs/packaging.md says what they do: they never lock the installing
# administrator out).
#   bash scripts/package.sh [OUTDIR]        # default OUTDIR: ./out
#   HERD_VERSION=1.2.3 PACKAGERS="deb" bash scripts/package.sh /tmp/pkg
# nfpm (pure Go) is run with `go run` at a pinned version; nothing is
# downloaded but Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."

NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
out=$(mkdir -p "${1:-out}" && cd "${1:-out}" && pwd)
packagers=${PACKAGERS:-deb rpm}
arch=$(go env GOARCH)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# Package versions must start with a digit: 0.1.0~git<date>.<commit> sorts
# before a release 0.1.0.
version=${HERD_VERSION:-0.1.0~git$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || echo 0).${commit:0:12}}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

echo "== herd $version ($commit), $arch"
CGO_ENABLED=0 go build -buildvcs=false \
  -ldflags "-s -w -X github.com/herd-ips/herd/internal/cli.Version=$version -X github.com/herd-ips/herd/internal/cli.Commit=$commit" \
  -o "$stage/herd" ./cmd/herd

mkdir -p "$stage/man" "$stage/completions"
"$stage/herd" man "$stage/man" >/dev/null
gzip -9n "$stage"/man/*.1
"$stage/herd" completion bash >"$stage/completions/herd.bash"
"$stage/herd" completion zsh >"$stage/completions/_herd"
"$stage/herd" completion fish >"$stage/completions/herd.fish"

# The unit runs the packaged binary with the arguments of /etc/default/herd
# (HERD_ARGS=--dry-run until the first start succeeded: docs/packaging.md).
sed -e 's|^ExecStart=/usr/local/bin/herd agent --config /etc/herd/herd.yaml$|EnvironmentFile=-/etc/default/herd\nExecStart=/usr/bin/herd agent --config /etc/herd/herd.yaml $HERD_ARGS|' \
    -e 's|^# The binary is expected at /usr/local/bin/herd|# The binary is at /usr/bin/herd|' \
    dist/herd.service >"$stage/herd.service"
grep -q '^ExecStart=/usr/bin/herd agent .* \$HERD_ARGS$' "$stage/herd.service" || { echo "package: dist/herd.service's ExecStart changed; update scripts/package.sh" >&2; exit 1; }

# The default configuration: dist/herd.yaml with an empty allow list that
# postinst fills with the installing SSH client.
awk '
  /^allow:$/ { print "allow: []  # herd-install: postinst adds the SSH client of the install here"; skip = 1; next }
  skip && /^  / { next }
  { skip = 0; print }
' dist/herd.yaml >"$stage/herd.yaml"
grep -q '^allow: \[\]  # herd-install' "$stage/herd.yaml" || { echo "package: no allow: block in dist/herd.yaml" >&2; exit 1; }

cat >"$stage/nfpm.yaml" <<EOT
name: herd
arch: $arch
platform: linux
version: "$version"
version_schema: none
section: net
priority: optional
maintainer: herd maintainers <herd@localhost>
description: |
  Collaborative intrusion prevention: follows logs, recognises attacks and
  bans their sources in nftables within milliseconds. One static binary.
homepage: https://github.com/herd-ips/herd
license: see /usr/share/doc/herd
recommends: [nftables]
contents:
  - {src: $stage/herd, dst: /usr/bin/herd, file_info: {mode: 0755}}
  - {src: $stage/herd.service, dst: /lib/systemd/system/herd.service, file_info: {mode: 0644}}
  - {src: $stage/herd.yaml, dst: /usr/share/herd/herd.yaml, file_info: {mode: 0644}}
  - {src: $stage/man/, dst: /usr/share/man/man1/, file_info: {mode: 0644}}
  - {src: $stage/completions/herd.bash, dst: /usr/share/bash-completion/completions/herd, file_info: {mode: 0644}}
  - {src: $stage/completions/_herd, dst: /usr/share/zsh/vendor-completions/_herd, file_info: {mode: 0644}}
  - {src: $stage/completions/herd.fish, dst: /usr/share/fish/vendor_completions.d/herd.fish, file_info: {mode: 0644}}
  - {src: $PWD/README.md, dst: /usr/share/doc/herd/README.md, file_info: {mode: 0644}}
  - {src: $PWD/docs/packaging.md, dst: /usr/share/doc/herd/packaging.md, file_info: {mode: 0644}}
scripts:
  postinstall: $PWD/dist/package/postinst
  preremove: $PWD/dist/package/prerm
  postremove: $PWD/dist/package/postrm
EOT

run_nfpm() {
  if [ -n "${NFPM_BIN:-}" ]; then "$NFPM_BIN" "$@"; else go run "$NFPM" "$@"; fi
}
for p in $packagers; do
  run_nfpm package --config "$stage/nfpm.yaml" --packager "$p" --target "$out/" >/dev/null
done
ls -1 "$out"/herd*.deb "$out"/herd*.rpm 2>/dev/null || true
