#!/usr/bin/env bash
# Embedded, project-local PostgreSQL cluster for syncgate (make demo/test/bench).
#
#   pg_cluster.sh ensure-installed      find (or apt-install) the server binaries
#   pg_cluster.sh start DATA_DIR PORT   initdb if needed, start, wait; prints URL
#   pg_cluster.sh stop DATA_DIR         fast shutdown; no-op if not running
#   pg_cluster.sh restart-immediate DATA_DIR  crash (immediate stop) and start again
#   pg_cluster.sh status DATA_DIR       exit 0 if running, 3 if not
#   pg_cluster.sh destroy DATA_DIR      stop and delete the cluster's data
#   pg_cluster.sh url PORT              print the connection URL
#
# Connections: TCP on 127.0.0.1:PORT only, role "syncgate" (superuser), trust
# auth for loopback/local socket only. PG_BINDIR=... overrides binary lookup.
#
# initdb/pg_ctl refuse to run as root, so as root the cluster runs as the
# "postgres" OS user. If postgres cannot traverse DATA_DIR's parents (e.g.
# under /root, mode 700) the data lives in /var/tmp/syncgate-pg-<hash>/data
# and DATA_DIR becomes a symlink to it, so stop/status/destroy find it.
set -euo pipefail

readonly DB_ROLE=syncgate
readonly ROOT_RUN_AS=postgres
readonly FALLBACK_PREFIX=/var/tmp/syncgate-pg-

die() { echo "pg_cluster: $*" >&2; exit 1; }
is_root() { [[ $(id -u) -eq 0 ]]; }
url() { echo "postgresql://${DB_ROLE}@127.0.0.1:$1/postgres"; }

usage() {
  { echo 'usage:'; sed -n '4,10s/^#  //p' "$0"; } >&2
  exit 2
}

# Sets BINDIR to a directory holding initdb, pg_ctl and postgres: $PG_BINDIR,
# then PATH, then /usr/lib/postgresql/*/bin newest major first. A wanted major
# version (from an existing cluster's PG_VERSION) wins if it is installed.
find_bindir() {
  local want=${1:-} cand d
  local -a cands=()
  [[ -n ${PG_BINDIR:-} ]] && cands+=("$PG_BINDIR")
  [[ -n $want ]] && cands+=("/usr/lib/postgresql/$want/bin")
  if cand=$(command -v initdb 2>/dev/null); then
    cands+=("$(dirname -- "$(readlink -f -- "$cand")")")
  fi
  while IFS= read -r d; do cands+=("$d"); done \
    < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV)
  for d in "${cands[@]}"; do
    if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then
      BINDIR=$d
      return 0
    fi
  done
  return 1
}

bin_major() { "$BINDIR/postgres" --version | sed -E 's/.* ([0-9]+)[.0-9]*.*/\1/'; }

require_bindir() {
  find_bindir "${1:-}" || die "PostgreSQL server binaries not found; run: $0 ensure-installed"
  if [[ -n ${1:-} && $(bin_major) != "$1" ]]; then
    die "cluster was created by PostgreSQL $1 but only $(bin_major) is installed ($BINDIR)"
  fi
}

cmd_ensure_installed() {
  if ! find_bindir; then
    if ! is_root || ! command -v apt-get >/dev/null; then
      echo "pg_cluster: PostgreSQL server binaries not found. Install them with:" >&2
      echo "  sudo apt-get install -y postgresql" >&2
      exit 1
    fi
    echo "pg_cluster: installing PostgreSQL server (apt-get)..." >&2
    local log apt_ok=1
    log=$(mktemp)
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends postgresql; } </dev/null >"$log" 2>&1 || apt_ok=0
    # Debian's postinst creates and starts a system cluster on 5432; we never
    # use it, so stop it to free the port and memory.
    if command -v pg_lsclusters >/dev/null; then
      local ver name _port status _rest
      while read -r ver name _port status _rest; do
        if [[ $status == online ]]; then pg_ctlcluster "$ver" "$name" stop || true; fi
      done < <(pg_lsclusters --no-header 2>/dev/null || true)
    fi
    # A postinst can fail just because that system cluster would not start
    # (e.g. 5432 taken); the binaries are all we need.
    if ! find_bindir; then
      tail -n 30 "$log" >&2
      die "apt-get did not provide PostgreSQL server binaries (log: $log)"
    fi
    if (( ! apt_ok )); then
      echo "pg_cluster: warning: apt-get reported an error (log: $log); binaries are present" >&2
    else
      rm -f -- "$log"
    fi
  fi
  # Root runs the cluster as $ROOT_RUN_AS; a source build may lack that user.
  if is_root && ! id -u "$ROOT_RUN_AS" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
      --shell /bin/sh "$ROOT_RUN_AS"
  fi
  echo "PostgreSQL $(bin_major) server binaries: $BINDIR"
}

# Absolute path with parents canonicalized but the last component kept as-is,
# so a DATA_DIR symlink (our /var/tmp redirect) is seen as a symlink.
abs_path() {
  local p=$1
  [[ $p == /* ]] || p=$PWD/$p
  p=${p%/}
  local parent
  parent=$(realpath -m -- "$(dirname -- "$p")")
  printf '%s/%s\n' "${parent%/}" "$(basename -- "$p")"
}

path_hash() { printf '%s' "$1" | sha256sum | cut -c1-12; }

# Sets LINK (path as requested), DIR (real data dir) and RUN_AS (OS user that
# must run pg_ctl; empty = ourselves).
resolve() {
  [[ -n $1 ]] || die "empty DATA_DIR"
  LINK=$(abs_path "$1")
  if [[ -L $LINK ]]; then DIR=$(readlink -f -- "$LINK"); else DIR=$LINK; fi
  RUN_AS=
  if is_root; then
    RUN_AS=$ROOT_RUN_AS
    # A cluster made by someone else (e.g. a normal user) must run as its owner.
    if [[ -f $DIR/PG_VERSION ]]; then
      RUN_AS=$(stat -c %U -- "$DIR")
      [[ $RUN_AS != root ]] || die "$DIR is owned by root; PostgreSQL cannot run as root"
    fi
    id -u "$RUN_AS" >/dev/null 2>&1 || die "OS user $RUN_AS missing; run: $0 ensure-installed"
  fi
}

as_owner() {
  if [[ -n $RUN_AS ]]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi
}

# Serialize start/stop on one DATA_DIR (e.g. parallel make targets).
take_lock() {
  command -v flock >/dev/null || return 0
  local f
  f=${TMPDIR:-/tmp}/syncgate-pg-$(id -u)-$(path_hash "$1").lock
  exec {LOCK_FD}>"$f"
  flock -w 120 "$LOCK_FD" || die "timed out waiting for lock $f"
}

is_cluster() { [[ -f $DIR/PG_VERSION ]]; }

is_running() {
  is_cluster || return 1
  require_bindir "$(cat -- "$DIR/PG_VERSION")"
  as_owner "$BINDIR/pg_ctl" -D "$DIR" status >/dev/null 2>&1
}

stop_server() {
  as_owner "$BINDIR/pg_ctl" -D "$DIR" -m fast -w -t 60 stop >/dev/null
}

# Root only: make DIR creatable by $RUN_AS, redirecting to /var/tmp if needed.
prepare_root_dir() {
  local parent
  parent=$(dirname -- "$DIR")
  mkdir -p -- "$parent"
  # access(2) fails if any ancestor is not searchable, so this checks them all.
  if ! runuser -u "$RUN_AS" -- test -x "$parent"; then
    [[ ! -L $LINK ]] || die "$LINK -> $DIR is not reachable by OS user $RUN_AS"
    if [[ -e $LINK ]]; then
      rmdir -- "$LINK" 2>/dev/null ||
        die "$LINK is not empty and not reachable by OS user $RUN_AS"
    fi
    local base
    base=$FALLBACK_PREFIX$(path_hash "$LINK")
    # /var/tmp is world-writable: refuse anything we did not create ourselves.
    if [[ -e $base || -L $base ]]; then
      [[ -d $base && ! -L $base && $(stat -c %u -- "$base") == 0 ]] ||
        die "refusing to use $base: not a root-owned directory"
    fi
    [[ -d $base ]] || mkdir -m 755 -- "$base"
    DIR=$base/data
    # Leftover from a deleted DATA_DIR symlink (rm -rf DATA_DIR = reset).
    if is_cluster; then
      RUN_AS=$(stat -c %U -- "$DIR")
      if is_running; then stop_server; fi
      RUN_AS=$ROOT_RUN_AS
    fi
    rm -rf -- "$DIR"
    ln -s -- "$DIR" "$LINK"
  fi
  mkdir -p -- "$DIR"
  chown "$RUN_AS:" -- "$DIR"
  chmod 700 -- "$DIR"
}

# Settings for a 2-core dev/CI box; durability stays on (fsync etc. default).
# Rewritten on each start so port/paths follow the caller.
write_conf() {
  local port=$1 sockdir=$DIR
  # sun_path is 108 bytes; a deep DATA_DIR would make postgres refuse to
  # start, and nothing here needs the socket (all clients use TCP).
  (( ${#DIR} + ${#port} + 11 < 108 )) || sockdir=
  as_owner tee "$DIR/syncgate.conf" >/dev/null <<EOF
# Managed by scripts/pg_cluster.sh - rewritten on every start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '${sockdir//\'/\'\'}'
max_connections = 100
shared_buffers = 256MB
work_mem = 16MB
maintenance_work_mem = 128MB
effective_cache_size = 1GB
max_wal_size = 2GB
# Log-based change capture (source.capture: wal) decodes from logical replication slots.
wal_level = logical
max_replication_slots = 20
max_wal_senders = 10
max_worker_processes = 4
max_parallel_workers = 2
max_parallel_workers_per_gather = 1
max_parallel_maintenance_workers = 1
random_page_cost = 1.1
timezone = 'UTC'
log_timezone = 'UTC'
EOF
}

init_cluster() {
  # Never chown/initdb over someone's files.
  if [[ -d $DIR && -n $(ls -A -- "$DIR") ]]; then
    die "$DIR exists, is not empty and is not a PostgreSQL cluster"
  fi
  if is_root; then prepare_root_dir; else mkdir -p -- "$DIR"; fi
  local out
  out=$(as_owner "$BINDIR/initdb" -D "$DIR" -U "$DB_ROLE" --auth=trust \
    -E UTF8 --locale=C 2>&1) || { printf '%s\n' "$out" >&2; die "initdb failed for $DIR"; }
  echo "include_if_exists = 'syncgate.conf'" | as_owner tee -a "$DIR/postgresql.conf" >/dev/null
}

running_port() { sed -n 4p "$DIR/postmaster.pid" 2>/dev/null || true; }

# pg_ctl -w only watches postmaster.pid; also prove TCP connections work.
wait_ready() {
  local port=$1 isready=$BINDIR/pg_isready i
  [[ -x $isready ]] || isready=pg_isready
  for (( i = 0; i < 60; i++ )); do
    if "$isready" -q -h 127.0.0.1 -p "$port" -U "$DB_ROLE" -d postgres; then
      url "$port"
      return 0
    fi
    sleep 0.5
  done
  die "PostgreSQL in $DIR did not accept connections on 127.0.0.1:$port (log: $DIR/postgresql.log)"
}

cmd_start() {
  [[ $# -eq 2 ]] || usage
  local port=$2
  if [[ ! $port =~ ^[0-9]+$ ]] || (( port < 1024 || port > 65535 )); then
    die "bad port: $port"
  fi
  resolve "$1"
  take_lock "$LINK"
  cd /  # the postgres user may not be able to read the caller's cwd

  if is_running; then
    local cur
    cur=$(running_port)
    [[ $cur == "$port" ]] || die "$DIR already running on port $cur (asked for $port); stop it first"
    wait_ready "$port"
    return 0
  fi
  if ! is_cluster; then
    require_bindir
    init_cluster
  fi
  require_bindir "$(cat -- "$DIR/PG_VERSION")"
  write_conf "$port"

  local log=$DIR/postgresql.log
  # The postmaster would inherit (and hold forever) our lock fd: close it.
  if ! ( if [[ -n ${LOCK_FD:-} ]]; then exec {LOCK_FD}>&-; fi
         as_owner "$BINDIR/pg_ctl" -D "$DIR" -l "$log" -w -t 60 start >/dev/null 2>&1 ); then
    tail -n 20 "$log" >&2 || true
    die "failed to start PostgreSQL in $DIR on port $port (log: $log)"
  fi
  wait_ready "$port"
}

cmd_stop() {
  [[ $# -eq 1 ]] || usage
  resolve "$1"
  take_lock "$LINK"
  cd /
  if is_running; then stop_server; fi
}

# A crash: the postmaster and every backend quit at once, without a checkpoint; the start
# recovers from the WAL (and empties UNLOGGED tables), as after a power loss. Tests use it.
cmd_restart_immediate() {
  [[ $# -eq 1 ]] || usage
  resolve "$1"
  take_lock "$LINK"
  cd /
  is_running || die "$DIR is not running"
  local port
  port=$(running_port)
  if ! ( if [[ -n ${LOCK_FD:-} ]]; then exec {LOCK_FD}>&-; fi
         as_owner "$BINDIR/pg_ctl" -D "$DIR" -l "$DIR/postgresql.log" -m immediate -w -t 60 restart \
           >/dev/null 2>&1 ); then
    tail -n 20 "$DIR/postgresql.log" >&2 || true
    die "failed to restart PostgreSQL in $DIR"
  fi
  wait_ready "$port"
}

cmd_status() {
  [[ $# -eq 1 ]] || usage
  resolve "$1"
  cd /
  if is_running; then
    echo "running on 127.0.0.1:$(running_port) (data: $DIR)"
  else
    echo "not running (data: $DIR)"
    exit 3
  fi
}

cmd_destroy() {
  [[ $# -eq 1 ]] || usage
  resolve "$1"
  take_lock "$LINK"
  cd /
  # Guards against a wrong/empty make variable wiping a real directory.
  if [[ -e $DIR ]] && ! is_cluster && [[ -n $(ls -A -- "$DIR") ]]; then
    die "$DIR is not a PostgreSQL cluster; refusing to delete it"
  fi
  if is_running; then stop_server; fi
  rm -rf -- "$DIR"
  if [[ -L $LINK ]]; then
    rm -f -- "$LINK"
    # Drop the /var/tmp redirect's parent too, if it was ours.
    case $DIR in "$FALLBACK_PREFIX"*/data) rmdir -- "$(dirname -- "$DIR")" 2>/dev/null || true ;; esac
  fi
}

main() {
  [[ $# -ge 1 ]] || usage
  local cmd=$1
  shift
  case $cmd in
    ensure-installed) [[ $# -eq 0 ]] || usage; cmd_ensure_installed ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    restart-immediate) cmd_restart_immediate "$@" ;;
    status) cmd_status "$@" ;;
    destroy) cmd_destroy "$@" ;;
    url)
      [[ $# -eq 1 && $1 =~ ^[0-9]+$ ]] || usage
      url "$1"
      ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
