#!/usr/bin/env bash
# A private PostgreSQL server for tests/bench/pg_bench: the classic "events table" event-store
# design, measured beside evstore on the same machine (tests/bench/README.md).
#
#   tests/bench/pg.sh install   apt-get install postgresql and libpq-dev if they are missing
#   tests/bench/pg.sh start     install, initdb if new, start in the background, wait until
#                               ready, create the role, the database and the bench schema
#   tests/bench/pg.sh stop      fast shutdown (a checkpoint, then exit), wait
#   tests/bench/pg.sh status    exit 0 if the server answers, 1 if not
#   tests/bench/pg.sh dsn       print the libpq connection string pg_bench uses
#   tests/bench/pg.sh reset     drop and recreate the bench schema (every event is gone)
#   tests/bench/pg.sh psql …    psql as the bench role (e.g. psql -c 'TABLE bench.events')
#
# Environment (defaults in brackets):
#   EVSTORE_DATA_DIR     [<repo>/var]   the cluster lives in $EVSTORE_DATA_DIR/postgres
#   EVSTORE_PG_PORT      [15432]        TCP port, on 127.0.0.1 only
#   EVSTORE_PG_USER      [postgres]     the OS user that owns and runs the server when this
#                                       script runs as root (initdb refuses root)
#   EVSTORE_PG_BINDIR    [the newest /usr/lib/postgresql/*/bin]
#   EVSTORE_PG_START_TIMEOUT [60] seconds
#
# The server is durable, as a production one must be: fsync, synchronous_commit and
# full_page_writes are on and set explicitly (pg_bench records them in its JSON lines). Every
# other setting is in write_config below, each with the reason for it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

data_root="${EVSTORE_DATA_DIR:-$repo/var}"
pg_home="$data_root/postgres"
pgdata="$pg_home/data"       # the cluster (PGDATA)
sock_dir="$pg_home/run"      # the unix socket (psql as the superuser goes through it)
log_file="$pg_home/postgres.log"
port="${EVSTORE_PG_PORT:-15432}"
os_user="${EVSTORE_PG_USER:-postgres}"
start_timeout="${EVSTORE_PG_START_TIMEOUT:-60}"

# The bench's database, role and schema (pg_bench's default DSN names the same).
db=evstore
role=evstore
schema=bench

say() { printf 'pg.sh: %s\n' "$*"; }
die() { printf 'pg.sh: error: %s\n' "$*" >&2; exit 1; }

if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
  die "EVSTORE_PG_PORT must be a port number, not '$port'"
fi
[[ "$start_timeout" =~ ^[0-9]+$ ]] || die "EVSTORE_PG_START_TIMEOUT must be whole seconds"

# --- install -----------------------------------------------------------------------

bindir() {
  if [[ -n "${EVSTORE_PG_BINDIR:-}" ]]; then
    echo "$EVSTORE_PG_BINDIR"
    return 0
  fi
  local d
  d="$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n1 || true)"
  [[ -n "$d" ]] || return 1
  dirname "$d"
}

cmd_install() {
  local want=()
  bindir >/dev/null || want+=(postgresql)
  pkg-config --exists libpq 2>/dev/null || want+=(libpq-dev)
  command -v pkg-config >/dev/null || want+=(pkg-config)
  ((${#want[@]} == 0)) && return 0
  ((EUID == 0)) || die "${want[*]} missing; install them (apt-get install ${want[*]}) or run as root"
  say "installing ${want[*]} (Debian's; PostgreSQL 15 on Debian 12)"
  # Debian's postgresql package may create and start its own cluster on port 5432; this
  # script neither uses nor touches it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >/dev/null ||
    { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >/dev/null; } ||
    die "apt-get could not install ${want[*]}"
  bindir >/dev/null || die "postgresql installed, but no /usr/lib/postgresql/*/bin/initdb"
}

# --- running as the server's user -----------------------------------------------------

# Runs a command as the user that owns the cluster: $os_user when we are root, else us.
as_owner() {
  if ((EUID == 0)); then
    runuser -u "$os_user" -- "$@"
  else
    "$@"
  fi
}

# psql through the unix socket as the superuser (the OS user's name, initdb's default), in
# database postgres.
psql_su() {
  as_owner "$(bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock_dir" -p "$port" -d postgres "$@"
}

# psql through the unix socket as the bench role, in the bench database.
psql_bench() {
  as_owner "$(bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock_dir" -p "$port" -d "$db" \
    -U "$role" "$@"
}

answers() {
  local b
  b="$(bindir)" || return 1
  "$b/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1
}

# True if the server on $port is the one whose data directory is ours.
ours() {
  local b d
  b="$(bindir)" || return 1
  [[ -s "$pgdata/postmaster.pid" ]] || return 1
  as_owner "$b/pg_ctl" -D "$pgdata" status >/dev/null 2>&1 || return 1
  # postmaster.pid line 4 is the port.
  d="$(sed -n 4p "$pgdata/postmaster.pid" 2>/dev/null)"
  [[ "$d" == "$port" ]]
}

running() {
  ours && answers
}

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# --- start ---------------------------------------------------------------------------

prepare_dirs() {
  mkdir -p "$pg_home" "$sock_dir"
  if ((EUID == 0)); then
    id "$os_user" >/dev/null 2>&1 ||
      die "no OS user '$os_user' to run the server (the postgresql package creates 'postgres'; or set EVSTORE_PG_USER)"
    chown "$os_user:" "$pg_home" "$sock_dir"
    # Every directory above the cluster must let that user through.
    runuser -u "$os_user" -- test -w "$pg_home" ||
      die "user '$os_user' cannot reach $pg_home (a parent directory is not searchable by it); set EVSTORE_DATA_DIR elsewhere"
  fi
  # Only the owner (and root) may enter: the socket trusts whoever reaches it.
  chmod 0700 "$pg_home" "$sock_dir"
}

init_cluster() {
  [[ -s "$pgdata/PG_VERSION" ]] && return 0
  say "creating a cluster in $pgdata"
  # --locale=C: stream names are identifiers, compared and sorted byte by byte (as evstore
  # does), which is also the cheapest collation for the (stream_id, version) index.
  # UTF8 so that JSON text holds any character. trust: only local connections are allowed
  # at all (pg_hba.conf below), like evstore's unauthenticated services on 127.0.0.1; the
  # authentication method costs nothing per statement anyway. No data checksums: initdb's
  # default, as on Debian's own clusters.
  as_owner "$(bindir)/initdb" -D "$pgdata" -E UTF8 --locale=C --auth=trust \
    >"$pg_home/initdb.log" 2>&1 || { tail -n 20 "$pg_home/initdb.log" >&2; die "initdb failed"; }
}

# The settings, rewritten on every start so that editing this script takes effect. They go
# in evstore.conf, included at the end of initdb's postgresql.conf, so they win over it.
write_config() {
  local conf="$pgdata/evstore.conf"
  as_owner tee "$conf.tmp" >/dev/null <<EOF
# Written by tests/bench/pg.sh on every start; edit that script, not this file.

# Where: 127.0.0.1 only, and a unix socket inside the cluster's directory (no /var/run).
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock_dir'
ssl = off                      # loopback, like the Kafka broker's plaintext listener
# 64 writers (W3) + the benchmark's own connection + psql + autovacuum's and headroom.
max_connections = 200

# Durability: every acknowledged commit is on disk. These are PostgreSQL's defaults, set
# here so that no configuration elsewhere can weaken them; pg_bench records them.
fsync = on
synchronous_commit = on
full_page_writes = on
# Linux's default. pg_test_fsync on the development VM (2026-11-28): fdatasync, fsync,
# open_datasync and open_sync all about 90 us per 8 kB flush, so no reason to change it.
wal_sync_method = fdatasync
# Group commit still happens without commit_delay: one WAL flush covers every commit
# record written before it. commit_delay trades single-writer latency for that; left 0.
commit_delay = 0

# Memory: the 1,000,000-event table and its indexes (about 0.6 GB) fit in shared buffers,
# as evstore's RocksDB state fits in its cache. The machine is shared with the broker and
# the projector, so not the usual 25 % of RAM.
shared_buffers = 1GB
wal_buffers = 16MB             # what -1 (auto) picks for 1 GB of shared buffers
effective_cache_size = 4GB     # a planner hint only
work_mem = 16MB
maintenance_work_mem = 256MB   # index builds and VACUUM after the prefill

# Checkpoints: write-heavy runs would otherwise checkpoint every 1 GB of WAL (the default
# max_wal_size), each followed by a burst of full-page images. An operator of a write-heavy
# database raises it; spread the writes over 90 % of the interval (the default).
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
wal_level = replica            # the default: a real deployment archives and replicates
wal_compression = off          # the default; costs CPU, of which this box has little

# Storage is an SSD (virtual disk): random reads cost about what sequential ones do.
random_page_cost = 1.1
effective_io_concurrency = 200

# autovacuum stays on (the default): an append-only table needs it for the visibility map
# and statistics, and a production server runs it.
autovacuum = on

# Logs: to stderr, which pg_ctl sends to $log_file; slow statements (> 1 s) are noted.
logging_collector = off
log_min_duration_statement = 1000
log_checkpoints = on
log_line_prefix = '%m [%p] '
timezone = 'UTC'
log_timezone = 'UTC'
EOF
  as_owner mv "$conf.tmp" "$conf"
  grep -qxF "include 'evstore.conf'" "$pgdata/postgresql.conf" ||
    printf "\ninclude 'evstore.conf'\n" | as_owner tee -a "$pgdata/postgresql.conf" >/dev/null
  # Local connections only: the unix socket and 127.0.0.1, trusted (see init_cluster).
  as_owner tee "$pgdata/pg_hba.conf" >/dev/null <<'EOF'
# Written by tests/bench/pg.sh. TYPE DATABASE USER ADDRESS METHOD
local all all trust
host all all 127.0.0.1/32 trust
EOF
}

# The bench role and database, and the schema if it is not there yet (reset recreates it).
create_objects() {
  if [[ -z "$(psql_su -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" ]]; then
    # pg_checkpoint: pg_bench prefill ends with a CHECKPOINT, so that the timed runs do not
    # start with the prefill's dirty pages still to be written.
    psql_su -c "CREATE ROLE $role LOGIN" -c "GRANT pg_checkpoint TO $role"
  fi
  if [[ -z "$(psql_su -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
    psql_su -c "CREATE DATABASE $db OWNER $role"
  fi
  schema_sql "IF NOT EXISTS"
}

# The design measured (pg_bench.c says how an append and a read use it):
#  - global_position: bigserial, the $all order. A sequence is not transactional, so a
#    rolled-back append leaves a gap, and positions are taken at INSERT, not at COMMIT: a
#    reader of $all can see position 12 before 11 commits. That is the classic design's
#    known weakness; evstore's positions are Kafka offsets, assigned in commit order.
#  - stream_id text, version bigint, UNIQUE (stream_id, version): the optimistic
#    concurrency check. Its index also serves "read a stream in order" and "current version
#    of a stream" (max(version), a backward index scan).
#  - event_id uuid UNIQUE: evstore refuses an event id it already stored (idempotent
#    retries), so the comparable table must be able to, with its own index. Ids are fresh
#    random UUIDs made by the client.
#  - event_type text.
#  - data and metadata jsonb: what most PostgreSQL event stores use (Marten, Message DB,
#    Eventuous, SqlStreamStore). The server parses and validates the JSON on insert and
#    prints it again on read; evstore stores the bytes as they are. bytea or text would be
#    cheaper but give up queries on the data, the usual reason for choosing PostgreSQL.
#  - created_at timestamptz DEFAULT now(): the transaction's start time.
# No other index (by type or category), as evstore's benchmarks read neither.
schema_sql() {
  local if_not="$1"
  psql_bench <<EOF
SET client_min_messages = warning;
CREATE SCHEMA $if_not $schema;
CREATE TABLE $if_not $schema.events (
    global_position bigserial PRIMARY KEY,
    stream_id       text        NOT NULL,
    version         bigint      NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_stream_version UNIQUE (stream_id, version),
    CONSTRAINT events_event_id UNIQUE (event_id),
    CONSTRAINT events_version_positive CHECK (version >= 1)
);
EOF
}

cmd_start() {
  local b t0=$SECONDS pid
  cmd_install
  b="$(bindir)"
  prepare_dirs
  # One start at a time per data directory.
  exec 9>"$pg_home/.start.lock"
  flock -w $((start_timeout + 60)) 9 || die "another start holds $pg_home/.start.lock"
  if ours; then
    say "already running on 127.0.0.1:$port (data $pgdata)"
    create_objects
    return 0
  fi
  port_open "$port" && die "127.0.0.1:$port is taken by something else (set EVSTORE_PG_PORT)"
  init_cluster
  write_config
  # pg_ctl forks the server into a session of its own (setsid), so it outlives this shell.
  if ! as_owner "$b/pg_ctl" -D "$pgdata" -l "$log_file" -w -t "$start_timeout" start \
    >"$pg_home/pg_ctl.out" 2>&1 9>&-; then
    cat "$pg_home/pg_ctl.out" >&2
    [[ -f "$log_file" ]] && tail -n 30 "$log_file" >&2
    die "the server did not start (log $log_file)"
  fi
  pid="$(head -n1 "$pgdata/postmaster.pid")"
  create_objects
  say "ready on 127.0.0.1:$port after $((SECONDS - t0))s (pid $pid, data $pgdata, log $log_file)"
}

cmd_stop() {
  local b
  if ! b="$(bindir)" || [[ ! -s "$pgdata/postmaster.pid" ]]; then
    say "not running"
    return 0
  fi
  if ! as_owner "$b/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    say "not running"
    return 0
  fi
  say "stopping the server (data $pgdata)"
  # fast: roll back open transactions, checkpoint, exit. immediate only as a last resort
  # (it leaves crash recovery to the next start, which is safe but slow).
  if ! as_owner "$b/pg_ctl" -D "$pgdata" -m fast -w -t 120 stop >/dev/null 2>&1; then
    say "no clean stop within 120s; stopping immediately"
    as_owner "$b/pg_ctl" -D "$pgdata" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
      die "the server in $pgdata would not stop"
  fi
  say "stopped"
}

cmd_status() {
  if running; then
    say "running: 127.0.0.1:$port, data $pgdata, pid $(head -n1 "$pgdata/postmaster.pid")"
    return 0
  fi
  if answers; then
    say "something answers on 127.0.0.1:$port, but not the server of $pgdata"
    return 1
  fi
  say "not running"
  return 1
}

dsn() {
  echo "host=127.0.0.1 port=$port dbname=$db user=$role"
}

cmd_reset() {
  running || die "not running (bash tests/bench/pg.sh start)"
  say "dropping and recreating schema $schema in database $db"
  psql_bench -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $schema CASCADE"
  schema_sql ""
}

usage() {
  sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  dsn) dsn ;;
  reset) cmd_reset ;;
  psql)
    shift
    running || die "not running (bash tests/bench/pg.sh start)"
    psql_bench "$@"
    ;;
  *) usage ;;
esac
