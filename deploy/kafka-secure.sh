#!/usr/bin/env bash
# A second local Kafka broker for the security tests: SASL_SSL with SCRAM-SHA-512 beside a
# plain listener, on its own ports and data dir, so the shared broker of deploy/kafka.sh is
# never reconfigured (docs/SECURITY.md, "A secure local broker").
#
#   deploy/kafka-secure.sh start    make certificates (deploy/certs.sh), format the storage
#                                   with a SCRAM user, start, wait until SASL_SSL answers
#   deploy/kafka-secure.sh stop     stop it
#   deploy/kafka-secure.sh status   exit 0 if it answers
#   deploy/kafka-secure.sh client-config   print the path of a librdkafka properties file
#                                   (security.protocol, sasl.*, ssl.ca.location) for it
#   deploy/kafka-secure.sh java-config     the same for Kafka's Java tools, SCRAM-SHA-512
#   deploy/kafka-secure.sh run-class CLASS [ARGS...]   a Kafka tool class
#
# Environment (defaults in brackets):
#   EVSTORE_SECURE_KAFKA_DIR    [$EVSTORE_DATA_DIR/kafka-secure, $EVSTORE_DATA_DIR = <repo>/var]
#   EVSTORE_SECURE_KAFKA_PORT   [18192] the plain listener (the broker's own traffic, tools)
#   EVSTORE_SECURE_KAFKA_SASL_PORT [18193] SASL_SSL   EVSTORE_SECURE_KAFKA_CONTROLLER_PORT [18194]
# In the directory: certs/ (deploy/certs.sh), client.properties (the SCRAM user evstore and
# its random password), data/, logs/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
sdir="${EVSTORE_SECURE_KAFKA_DIR:-${EVSTORE_DATA_DIR:-$repo/var}/kafka-secure}"
sasl_port="${EVSTORE_SECURE_KAFKA_SASL_PORT:-18193}"
# kafka.sh's functions (fetch, probes, start, stop) on this broker's ports and directory.
export EVSTORE_KAFKA_DIR="$sdir"
export EVSTORE_KAFKA_PORT="${EVSTORE_SECURE_KAFKA_PORT:-18192}"
export EVSTORE_KAFKA_CONTROLLER_PORT="${EVSTORE_SECURE_KAFKA_CONTROLLER_PORT:-18194}"
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
# shellcheck source=kafka.sh
source "$here/kafka.sh"
say() { printf 'kafka-secure.sh: %s\n' "$*"; }

certs="$sdir/certs"
client_props="$sdir/client.properties"

# The SCRAM user's password, made once and kept in the client file.
user_password() {
  if [[ ! -s "$sdir/scram.password" ]]; then
    mkdir -p "$sdir"
    (umask 077 && openssl rand -hex 16 >"$sdir/scram.password")
  fi
  cat "$sdir/scram.password"
}

# SCRAM-SHA-512 for librdkafka 2.6.1 and later; PLAIN (over TLS) for older ones, whose
# SCRAM Kafka 4 refuses (see the template). EVSTORE_SECURE_KAFKA_MECHANISM overrides.
client_mechanism() {
  if [[ -n "${EVSTORE_SECURE_KAFKA_MECHANISM:-}" ]]; then
    echo "$EVSTORE_SECURE_KAFKA_MECHANISM"
    return
  fi
  local v
  v=$(pkg-config --modversion rdkafka 2>/dev/null || echo 0)
  if [[ "$(printf '%s\n2.6.1\n' "$v" | sort -V | head -n1)" == 2.6.1 ]]; then
    echo SCRAM-SHA-512
  else
    echo PLAIN
  fi
}

# A Java client's properties for the SCRAM-SHA-512 user (Kafka's own tools check that SCRAM
# works whatever the librdkafka): printed by `java-config`.
java_props="$sdir/java-scram.properties"

render_config() { # replaces kafka.sh's: the secure template
  mkdir -p "$log_dir" "$app_logs"
  bash "$here/certs.sh" "$certs" >/dev/null
  sed -e "s|@BROKER_PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" \
    -e "s|@SECURE_PORT@|$sasl_port|g" -e "s|@LOG_DIR@|$log_dir|g" -e "s|@CERT_DIR@|$certs|g" \
    -e "s|@KEYSTORE_PASSWORD@|$(cat "$certs/keystore.password")|g" \
    -e "s|@USER_PASSWORD@|$(user_password)|g" \
    "$kafka_home/server-secure.properties.in" >"$props.tmp"
  chmod 600 "$props.tmp"
  mv "$props.tmp" "$props"
  (umask 077 && cat >"$client_props" <<PROPS
# librdkafka properties for the secure test broker (deploy/kafka-secure.sh); brokers:
# 127.0.0.1:$sasl_port
security.protocol=SASL_SSL
sasl.mechanism=$(client_mechanism)
sasl.username=evstore
sasl.password=$(user_password)
ssl.ca.location=$certs/ca.pem
PROPS
  )
  (umask 077 && cat >"$java_props" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="evstore" password="$(user_password)";
ssl.truststore.type=PEM
ssl.truststore.location=$certs/ca.pem
PROPS
  )
}

format_storage() { # replaces kafka.sh's: adds the SCRAM user with Kafka's own tool
  [[ -f "$log_dir/meta.properties" ]] && return 0
  if [[ ! -s "$kdir/cluster.id" ]]; then
    run_tool kafka.tools.StorageTool random-uuid >"$kdir/cluster.id.tmp"
    mv "$kdir/cluster.id.tmp" "$kdir/cluster.id"
  fi
  say "formatting $log_dir with the SCRAM-SHA-512 user evstore"
  run_tool kafka.tools.StorageTool format --standalone --ignore-formatted \
    --cluster-id "$(cat "$kdir/cluster.id")" --config "$props" \
    --add-scram "SCRAM-SHA-512=[name=evstore,password=$(user_password)]" >>"$outfile" 2>&1 ||
    { log_tail; die "formatting the Kafka storage failed"; }
}

sasl_answers() { port_open "$sasl_port"; }

case "${1:-}" in
start)
  cmd_start
  for _ in $(seq 1 60); do sasl_answers && break; sleep 0.5; done
  sasl_answers || die "the SASL_SSL listener 127.0.0.1:$sasl_port does not answer"
  say "SASL_SSL on 127.0.0.1:$sasl_port (settings: $client_props)"
  ;;
stop) cmd_stop ;;
status) # this directory's broker, answering on both listeners
  our_pid >/dev/null && cmd_status && sasl_answers && [[ -s "$client_props" ]] ;;
client-config) [[ -s "$client_props" ]] || die "not started yet"; echo "$client_props" ;;
java-config) [[ -s "$java_props" ]] || die "not started yet"; echo "$java_props" ;;
run-class) shift; run_tool "$@" ;;
*) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
