#!/usr/bin/env bash
# Local three-node Apache Kafka cluster (KRaft) for the failover tests: three JVMs on
# 127.0.0.1, each a combined broker + controller (three voters), replication 3, min ISR 2.
#
#   deploy/cluster.sh start [NODE]    format storage if new, start every node (or one) in the
#                                     background, wait until it answers (idempotent)
#   deploy/cluster.sh stop [NODE]     SIGTERM every node (or one), wait, SIGKILL last resort
#   deploy/cluster.sh status          one line per node; exit 0 if all three answer
#   deploy/cluster.sh kill NODE       SIGKILL one node (a crash)
#   deploy/cluster.sh restart NODE    stop NODE if it runs, then start it and wait for it
#   deploy/cluster.sh pause NODE      SIGSTOP one node (a hung machine); resume NODE: SIGCONT
#   deploy/cluster.sh leader TOPIC [PARTITION]   prints the node id leading the partition
#                                     (default 0); exit 1 if it has no leader
#   deploy/cluster.sh isr TOPIC [PARTITION]      prints the in-sync replicas, e.g. 1,2,3
#   deploy/cluster.sh brokers         prints the bootstrap list for clients
#   deploy/cluster.sh topics ARGS     org.apache.kafka.tools.TopicCommand against the cluster
#
# NODE is 1, 2 or 3. Node N listens on 127.0.0.1:N9092 (clients) and 127.0.0.1:N9093
# (controller), keeps its data in $EVSTORE_CLUSTER_DIR/nodeN.
#
# Environment (defaults in brackets):
#   EVSTORE_DATA_DIR               [<repo>/var]   EVSTORE_CLUSTER_DIR [$EVSTORE_DATA_DIR/cluster]
#   EVSTORE_CLUSTER_HEAP_OPTS      [-Xms256m -Xmx512m] per node
#   EVSTORE_CLUSTER_START_TIMEOUT  [120] seconds
#   JAVA                           [java]
set -euo pipefail

cluster_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cluster_repo="$(cd "$cluster_here/.." && pwd)"

# kafka.sh gives the jar fetch, the broker probe (broker_answers), our_pid, log_tail,
# wait_ready, cmd_stop and run_tool; they work on the globals port, kdir, props, pidfile,
# outfile, app_logs and start_timeout, which node_vars points at one node. The tools
# (TopicCommand, StorageTool) get a small heap.
KAFKA_HEAP_OPTS="${EVSTORE_CLUSTER_TOOLS_HEAP_OPTS:--Xms32m -Xmx256m}"
# shellcheck source=deploy/kafka.sh
source "$cluster_here/kafka.sh"

cdir="${EVSTORE_CLUSTER_DIR:-${EVSTORE_DATA_DIR:-$cluster_repo/var}/cluster}"
start_timeout="${EVSTORE_CLUSTER_START_TIMEOUT:-120}"
read -r -a node_heap <<<"${EVSTORE_CLUSTER_HEAP_OPTS:--Xms256m -Xmx512m}"
template="$cluster_here/cluster/server.properties.in"
NODES=(1 2 3)
BOOTSTRAP="127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092"
CONTROLLER_BOOTSTRAP="127.0.0.1:19093,127.0.0.1:29093,127.0.0.1:39093"

node_label=""
say() { printf 'cluster.sh: %s%s\n' "$node_label" "$*"; }
die() { printf 'cluster.sh: error: %s%s\n' "$node_label" "$*" >&2; exit 1; }

# node_vars N: points kafka.sh's per-broker globals at node N.
node_vars() {
  [[ "$1" =~ ^[123]$ ]] || { node_label=""; die "no node '$1' (nodes are 1, 2, 3)"; }
  node=$1
  port="${node}9092"
  cport="${node}9093"
  kdir="$cdir/node$node"
  log_dir="$kdir/data"
  app_logs="$kdir/logs"
  props="$kdir/server.properties"
  pidfile="$kdir/kafka.pid"
  outfile="$kdir/kafka.out"
  node_label="node $node: "
}

# JVM flags of a node: a small heap, and few GC and JIT threads (three JVMs, two cores).
node_jvm_opts() {
  node_jvm=("${node_heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
    -XX:ParallelGCThreads=1 -XX:ConcGCThreads=1 -XX:CICompilerCount=2
    -Djava.awt.headless=true -cp "$lib/*")
}

# A Kafka Uuid in its text form: 16 random bytes, URL-safe base64 without padding, not
# starting with '-' (as org.apache.kafka.common.Uuid.randomUuid makes them).
kafka_uuid() {
  python3 -c 'import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break'
}

# The cluster id and the --initial-controllers list (id@host:port:metadata-dir-id for the
# three voters) are made once and used to format every node.
cluster_ids() {
  mkdir -p "$cdir"
  if [[ ! -s "$cdir/cluster.id" ]]; then
    kafka_uuid >"$cdir/cluster.id.tmp"
    mv "$cdir/cluster.id.tmp" "$cdir/cluster.id"
  fi
  if [[ ! -s "$cdir/initial-controllers" ]]; then
    local n list=""
    for n in "${NODES[@]}"; do
      list+="${list:+,}$n@127.0.0.1:${n}9093:$(kafka_uuid)"
    done
    echo "$list" >"$cdir/initial-controllers.tmp"
    mv "$cdir/initial-controllers.tmp" "$cdir/initial-controllers"
  fi
}

render_node_config() {
  mkdir -p "$log_dir" "$app_logs"
  sed -e "s|@NODE_ID@|$node|g" -e "s|@BROKER_PORT@|$port|g" \
    -e "s|@CONTROLLER_PORT@|$cport|g" -e "s|@LOG_DIR@|$log_dir|g" \
    -e "s|@CONTROLLER_BOOTSTRAP@|$CONTROLLER_BOOTSTRAP|g" "$template" >"$props.tmp"
  mv "$props.tmp" "$props"
}

# format_node: formats node $node's storage once (every node with the same cluster id and
# the same three initial controllers).
format_node() {
  [[ -f "$log_dir/meta.properties" ]] && return 0
  say "formatting $log_dir (cluster id $(cat "$cdir/cluster.id"))"
  run_tool kafka.tools.StorageTool format --ignore-formatted \
    --cluster-id "$(cat "$cdir/cluster.id")" \
    --initial-controllers "$(cat "$cdir/initial-controllers")" \
    --config "$props" >>"$outfile" 2>&1 ||
    { log_tail; die "formatting the Kafka storage failed (output in $outfile)"; }
}

launch_node() {
  : >"$outfile"
  touch "$kdir/.started"
  node_jvm_opts
  nohup setsid "$java" "${node_jvm[@]}" -Dkafka.logs.dir="$app_logs" \
    -Dlog4j2.configurationFile="$kafka_home/log4j2.properties" \
    kafka.Kafka "$props" >>"$outfile" 2>&1 </dev/null 9>&- &
  echo "$!" >"$pidfile"
  say "started pid $! (data $log_dir, logs $app_logs)"
}

# kcat's view of the cluster as JSON (metadata of TOPIC, or of every topic).
metadata_json() {
  command -v kcat >/dev/null || die "kcat not found (deploy/setup.sh installs it)"
  timeout 20 kcat -b "$BOOTSTRAP" -m 5 -L -J ${1:+-t "$1"} 2>/dev/null
}

# registered_brokers: how many brokers the cluster's metadata lists.
registered_brokers() {
  metadata_json | python3 -c 'import json, sys
try:
    print(len(json.load(sys.stdin).get("brokers", [])))
except Exception:
    print(0)'
}

cmd_cluster_start() {
  local t0=$SECONDS n pending=() fmt_pids=() want=("$@")
  ((${#want[@]})) || want=("${NODES[@]}")
  cmd_fetch
  mkdir -p "$cdir"
  exec 9>"$cdir/.start.lock"
  flock -w $((start_timeout + 120)) 9 || die "another start holds $cdir/.start.lock"
  cluster_ids
  for n in "${want[@]}"; do
    node_vars "$n"
    if broker_answers; then
      say "answers on 127.0.0.1:$port"
      continue
    fi
    pending+=("$n")
    our_pid >/dev/null && continue # starting already: wait for it below
    port_open "$port" && die "127.0.0.1:$port is taken by something that is not this node"
    port_open "$cport" && die "controller port 127.0.0.1:$cport is already in use"
    render_node_config
    if [[ ! -f "$log_dir/meta.properties" ]]; then
      format_node &
      fmt_pids+=($!)
    fi
  done
  for n in "${fmt_pids[@]}"; do wait "$n" || die "formatting failed"; done
  # Launch every missing node before waiting: a fresh quorum needs two voters up.
  for n in "${pending[@]}"; do
    node_vars "$n"
    our_pid >/dev/null || launch_node
  done
  for n in "${pending[@]}"; do
    node_vars "$n"
    wait_ready "$(our_pid || echo 999999999)"
    say "ready on 127.0.0.1:$port"
  done
  node_label=""
  # With the whole cluster up, wait until the metadata lists all three brokers, so that
  # a topic with replication 3 can be created at once.
  if ((${#want[@]} == 3)); then
    local deadline=$((SECONDS + start_timeout))
    until [[ "$(registered_brokers)" == 3 ]]; do
      ((SECONDS < deadline)) || die "the cluster metadata does not list 3 brokers after ${start_timeout}s"
      sleep 0.5
    done
  fi
  say "cluster ready after $((SECONDS - t0))s: $BOOTSTRAP"
}

# stop_all: SIGTERM to every node at once (a node stopping alone after the others could
# wait for a quorum that is gone), then wait; SIGKILL after 60 s.
cmd_cluster_stop_all() {
  local n pid i pids=() left
  for n in "${NODES[@]}"; do
    node_vars "$n"
    if pid="$(our_pid)"; then
      say "stopping pid $pid"
      kill -CONT "$pid" 2>/dev/null || true # a paused node cannot stop
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    else
      rm -f "$pidfile"
      broker_answers && say "something answers on 127.0.0.1:$port but was not started from $kdir; leaving it alone"
    fi
  done
  node_label=""
  for ((i = 0; i < 120; i++)); do
    left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    ((left)) || break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      say "pid $pid still running after 60s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for n in "${NODES[@]}"; do rm -f "$cdir/node$n/kafka.pid"; done
  say "stopped"
}

cmd_node_stop() {
  local pid
  node_vars "$1"
  if pid="$(our_pid)"; then kill -CONT "$pid" 2>/dev/null || true; fi
  cmd_stop
}

cmd_node_kill() {
  local pid i
  node_vars "$1"
  pid="$(our_pid)" || die "not running"
  kill -KILL "$pid"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$pidfile"
  say "killed pid $pid (SIGKILL)"
}

cmd_node_signal() { # NODE SIGNAL WHAT
  local pid
  node_vars "$1"
  pid="$(our_pid)" || die "not running"
  kill "-$2" "$pid"
  say "$3 pid $pid (SIG$2)"
}

cmd_cluster_status() {
  local n pid up=0 state
  for n in "${NODES[@]}"; do
    node_vars "$n"
    pid="$(our_pid)" || pid=""
    if [[ -n "$pid" && "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == T ]]; then
      state="paused (pid $pid)"
    elif broker_answers; then
      state="running${pid:+ (pid $pid)}"
      up=$((up + 1))
    elif [[ -n "$pid" ]]; then
      state="starting (pid $pid), not answering yet"
    else
      state="down"
    fi
    say "$state, 127.0.0.1:$port, data $log_dir"
  done
  node_label=""
  ((up == 3))
}

# partition_field TOPIC PARTITION FIELD: leader or isr of one partition, from kcat's metadata.
partition_field() {
  local json
  json="$(metadata_json "$1")" || die "no answer from the cluster at $BOOTSTRAP"
  python3 -c 'import json, sys
topic, part, field = sys.argv[1], int(sys.argv[2]), sys.argv[3]
md = json.loads(sys.stdin.read())
for t in md.get("topics", []):
    if t.get("topic") != topic:
        continue
    if t.get("error"):
        sys.exit("topic %s: %s" % (topic, t["error"]))
    for p in t.get("partitions", []):
        if p.get("partition") == part:
            if field == "leader":
                if p.get("leader", -1) < 0:
                    sys.exit("partition %d of %s has no leader" % (part, topic))
                print(p["leader"])
            else:
                print(",".join(str(r["id"]) for r in p.get("isrs", [])))
            sys.exit(0)
    sys.exit("topic %s has no partition %d" % (topic, part))
sys.exit("no topic %s" % topic)' "$1" "$2" "$3" <<<"$json"
}

usage() {
  sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
}

need_node() { [[ $# -eq 1 ]] || usage; }

# 39092 and 39093 lie in Linux's ephemeral port range (32768-60999), so an outgoing
# connection of any program can hold one of them for a while and the node fails to bind.
# As root, reserve the cluster's ports (best effort; the reservation only keeps the kernel
# from handing them out as ephemeral ports).
reserve_ports() {
  local file=/proc/sys/net/ipv4/ip_local_reserved_ports current
  [[ -w $file ]] || return 0
  current=$(<"$file")
  [[ ",$current," == *",39092-39093,"* || ",$current," == *",39092,"* ]] && return 0
  printf '%s\n' "${current:+$current,}39092-39093" >"$file" 2>/dev/null || true
}

case "${1:-}" in
  start)
    shift
    reserve_ports
    cmd_cluster_start "$@"
    ;;
  stop)
    shift
    if (($#)); then cmd_node_stop "$1"; else cmd_cluster_stop_all; fi
    ;;
  status) cmd_cluster_status ;;
  kill)
    shift
    need_node "$@"
    cmd_node_kill "$1"
    ;;
  restart)
    shift
    need_node "$@"
    node_vars "$1"
    if our_pid >/dev/null; then cmd_node_stop "$1"; fi
    cmd_cluster_start "$1"
    ;;
  pause)
    shift
    need_node "$@"
    cmd_node_signal "$1" STOP paused
    ;;
  resume)
    shift
    need_node "$@"
    cmd_node_signal "$1" CONT resumed
    ;;
  leader | isr)
    [[ $# -ge 2 && $# -le 3 ]] || usage
    partition_field "$2" "${3:-0}" "$1"
    ;;
  brokers) echo "$BOOTSTRAP" ;;
  topics)
    shift
    cmd_fetch
    run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" "$@"
    ;;
  *) usage ;;
esac
