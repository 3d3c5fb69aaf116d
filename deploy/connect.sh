#!/usr/bin/env bash
# deploy/connect.sh - an Apache Kafka Connect worker for evstore's accepted-events feed.
#
#   deploy/connect.sh fetch                      fetch the worker and the file connector
#                                                (Maven Central, deploy/connect/pom.xml)
#   deploy/connect.sh standalone WORKER SINK...  run a standalone worker in the foreground
#                                                with the given .properties files
#
# Java 17+ and Maven, as for the broker (deploy/setup.sh installs them). The jars go to
# deploy/connect/lib/, fetched again whenever pom.xml changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
home="$here/connect"
lib="$home/lib"
stamp="$home/target/fetched"

say() { printf 'connect.sh: %s\n' "$*" >&2; }
die() { printf 'connect.sh: error: %s\n' "$*" >&2; exit 1; }

pom_sum() { sha256sum "$home/pom.xml" | cut -d' ' -f1; }

cmd_fetch() {
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$(pom_sum)" ]] &&
    compgen -G "$lib/connect-runtime-*.jar" >/dev/null &&
    compgen -G "$lib/connect-file-*.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (deploy/setup.sh installs maven)"
  say "fetching the Kafka Connect jars with Maven into $lib"
  rm -rf "$lib"
  mkdir -p "$home/target"
  local log="$home/target/fetch.log"
  if ! (cd "$home" && mvn -B -ntp dependency:copy-dependencies -DoutputDirectory=lib) \
    >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "maven could not fetch the Kafka Connect jars (full log: $log)"
  fi
  pom_sum >"$stamp"
}

cmd_standalone() {
  [[ $# -ge 2 ]] || die "usage: connect.sh standalone WORKER.properties SINK.properties..."
  cmd_fetch
  exec java -Xmx512m -Dlog4j2.configurationFile="$here/kafka/tools-log4j2.properties" \
    -cp "$lib/*" org.apache.kafka.connect.cli.ConnectStandalone "$@"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  standalone) shift; cmd_standalone "$@" ;;
  *) die "usage: connect.sh fetch | standalone WORKER SINK..." ;;
esac
