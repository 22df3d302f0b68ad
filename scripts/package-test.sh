#!/usr/bin/env bash
# Builds the .deb with scripts/package.sh, installs it into a clean root
# with dpkg --root (maintainer scripts run chrootless, with DPKG_ROOT set,
# as an SSH session would: SSH_CONNECTION), checks the files, the
# configuration postinst made and that the installed `herd version` runs,
# then removes and purges it and checks that nothing is left behind.
# Skips with a message where dpkg is absent. Called by scripts/test.sh.
#   bash scripts/package-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dpkg >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  echo "SKIP package test: dpkg is not installed (a Debian host is needed)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PACKAGERS=deb bash scripts/package.sh "$work/out" >/dev/null
deb=$(ls "$work"/out/herd_*.deb)
echo "== built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

fail() { echo "FAIL package test: $*" >&2; exit 1; }

root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
# The directories every Debian system has, which the scripts write into.
mkdir -p "$root/etc/default"
before=$(cd "$root" && find . -path ./var/lib/dpkg -prune -o -print | sort)
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
dpkg_root() {
  # chrootless: the clean root has no shell of its own; the scripts honour
  # DPKG_ROOT.
  SSH_CONNECTION="198.51.100.23 50022 192.0.2.1 22" \
    dpkg --root="$root" --force-script-chrootless --force-not-root --log=/dev/null "$@"
}

for script in dist/package/postinst dist/package/prerm dist/package/postrm; do
  sh -n "$script" || fail "$script does not parse"
done
dpkg_root -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i"; }

for f in usr/bin/herd lib/systemd/system/herd.service usr/share/herd/herd.yaml \
         usr/share/man/man1/herd.1.gz usr/share/man/man1/herd-agent.1.gz usr/share/man/man1/herd-version.1.gz \
         usr/share/bash-completion/completions/herd usr/share/zsh/vendor-completions/_herd \
         usr/share/fish/vendor_completions.d/herd.fish usr/share/doc/herd/packaging.md \
         etc/herd/herd.yaml etc/default/herd; do
  [ -e "$root/$f" ] || fail "/$f is not installed"
done
grep -q '^ExecStart=/usr/bin/herd agent --config /etc/herd/herd.yaml \$HERD_ARGS$' "$root/lib/systemd/system/herd.service" || fail "the unit does not run /usr/bin/herd with HERD_ARGS"
grep -q '^EnvironmentFile=-/etc/default/herd$' "$root/lib/systemd/system/herd.service" || fail "the unit does not read /etc/default/herd"
grep -q '^allow: \[198.51.100.23\]  # herd-install' "$root/etc/herd/herd.yaml" || fail "postinst did not allowlist the SSH client: $(grep '^allow' "$root/etc/herd/herd.yaml")"
grep -q '^HERD_ARGS=--dry-run$' "$root/etc/default/herd" || fail "the agent is not left in dry-run before its first start"
file "$root/usr/bin/herd" 2>/dev/null | grep -q 'statically linked' || { command -v file >/dev/null && fail "/usr/bin/herd is not static"; }

# The installed binary runs, and loads the configuration postinst made.
"$root/usr/bin/herd" version >"$work/version" || fail "herd version does not run"
head -1 "$work/version" | grep -q '^herd 0\.1\.0~git' || fail "herd version: $(head -1 "$work/version")"
"$root/usr/bin/herd" rules list --rules /nonexistent >/dev/null 2>&1 && fail "rules list with a missing directory passed"
"$root/usr/bin/herd" status --config "$root/etc/herd/herd.yaml" --json >"$work/status.json" || fail "herd status on the installed configuration"
grep -q '"config":"'"$root"'/etc/herd/herd.yaml"' "$work/status.json" || fail "status does not name the configuration"
echo "== installed: files, unit, allowlisted SSH client, dry-run until the first start, herd version: $(head -1 "$work/version")"

# Installing again (an upgrade in place) keeps the configuration and does
# not add the address twice.
dpkg_root -i "$deb" >"$work/reinstall.log" 2>&1 || { cat "$work/reinstall.log"; fail "dpkg -i again"; }
[ "$(grep -c '198.51.100.23' "$root/etc/herd/herd.yaml")" = 1 ] || fail "the SSH client is allowlisted twice after a reinstall"

dpkg_root -r herd >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg -r"; }
[ ! -e "$root/usr/bin/herd" ] || fail "remove left /usr/bin/herd"
[ -e "$root/etc/herd/herd.yaml" ] || fail "remove (not purge) deleted the configuration"
dpkg_root -P herd >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg -P"; }
after=$(cd "$root" && find . -path ./var/lib/dpkg -prune -o -print | sort)
left=$(comm -13 <(echo "$before") <(echo "$after"))
[ -z "$left" ] || fail "purge left behind: $left"
echo "== removed and purged: nothing left outside dpkg's database"

# Without an SSH session (a console, or sudo without a terminal) there is
# no one to allowlist: the install still succeeds and the list stays empty.
root2="$work/root2"
mkdir -p "$root2/var/lib/dpkg/info" "$root2/var/lib/dpkg/updates" "$root2/var/lib/dpkg/triggers" "$root2/etc/default"
: >"$root2/var/lib/dpkg/status"
: >"$root2/var/lib/dpkg/available"
env -u SSH_CONNECTION -u SSH_CLIENT dpkg --root="$root2" --force-script-chrootless --force-not-root --log=/dev/null -i "$deb" </dev/null >"$work/install2.log" 2>&1 \
  || { cat "$work/install2.log"; fail "dpkg -i without SSH"; }
admin=$(LC_ALL=C who am i 2>/dev/null | sed -n 's/.*(\([0-9A-Fa-f.:]*\)).*/\1/p' | head -n 1)
if [ -z "$admin" ]; then
  grep -q '^allow: \[\]  # herd-install' "$root2/etc/herd/herd.yaml" || fail "without SSH, allow: is $(grep '^allow' "$root2/etc/herd/herd.yaml")"
else
  grep -q "^allow: \[$admin\]  # herd-install" "$root2/etc/herd/herd.yaml" || fail "who am i shows $admin, allow: is $(grep '^allow' "$root2/etc/herd/herd.yaml")"
fi
echo "== installed without SSH variables: allow: $(grep '^allow' "$root2/etc/herd/herd.yaml" | cut -d'#' -f1)"
echo "PASS package test"
