#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL server for herd's tests, listening on
# 127.0.0.1 only, on a free port, with its data in a new temporary directory.
#
#   eval "$(bash scripts/pg-test-server.sh start)"   # sets HERD_TEST_POSTGRES and HERD_TEST_PG_DIR
#   go test ./internal/store/
#   bash scripts/pg-test-server.sh stop              # stops it and removes its directory
#
# start prints only shell assignments on stdout (progress goes to stderr), so
# its output can be eval'ed. It installs PostgreSQL with apt-get when initdb is
# missing and it runs as root. Run as root, the cluster belongs to the
# postgres user (initdb refuses root); otherwise to the calling user.
# stop takes the directory as an argument, or reads HERD_TEST_PG_DIR.
set -euo pipefail

log() { echo "pg-test-server: $*" >&2; }
die() { log "$*"; exit 1; }

# bindir prints the directory of the newest installed initdb and pg_ctl.
bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  return 1
}

install_postgres() {
  [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed and installing it needs root"
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and there is no apt-get"
  log "installing postgresql"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

# port_free succeeds when nothing accepts connections on 127.0.0.1:$1.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local bin
  bin=$(bindir) || { install_postgres; bin=$(bindir) || die "no initdb after installing postgresql"; }

  local dir owner=() user
  dir=$(mktemp -d "${TMPDIR:-/tmp}/herd-pg.XXXXXX")
  chmod 700 "$dir"
  user=$(id -un)
  if [ "$(id -u)" = 0 ]; then
    user=postgres
    chown postgres: "$dir"
    owner=(runuser -u postgres --)
  fi

  local password
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$password" >"$dir/pwfile"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"

  log "initdb in $dir"
  "${owner[@]}" "$bin/initdb" -D "$dir/data" -U herd --pwfile="$dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  rm -f "$dir/pwfile"

  local port tries=0
  while :; do
    tries=$((tries + 1))
    [ "$tries" -le 20 ] || die "no free port found"
    port=$((20000 + RANDOM % 40000))
    port_free "$port" || continue
    if "${owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null 2>&1; then
      break
    fi
    log "start on port $port failed; trying another"
    tail -n 5 "$dir/server.log" >&2 || true
  done

  "${owner[@]}" "$bin/createdb" -h "$dir" -p "$port" -U herd herd_test ||
    die "createdb failed"
  log "PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir (owner $user)"
  echo "export HERD_TEST_POSTGRES='postgres://herd:$password@127.0.0.1:$port/herd_test?sslmode=disable'"
  echo "export HERD_TEST_PG_DIR='$dir'"
}

stop() {
  local dir=${1:-${HERD_TEST_PG_DIR:-}}
  [ -n "$dir" ] || die "stop: give the directory start printed, or set HERD_TEST_PG_DIR"
  [ -f "$dir/data/PG_VERSION" ] || die "stop: $dir holds no cluster started by this script"
  local bin owner=()
  bin=$(bindir) || die "stop: no pg_ctl"
  [ "$(id -u)" = 0 ] && owner=(runuser -u postgres --)
  "${owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || log "stop: server was not running"
  rm -rf "$dir"
  log "stopped and removed $dir"
}

case "${1:-start}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) die "usage: $0 [start|stop [dir]]" ;;
esac
