#!/usr/bin/env bash
# fastavro_offline_test.sh - interop.fastavro_offline: records written by evs_record_encode()
# (a fixed set of edge cases, see interop_write.c) decode with Python's fastavro using only
# the schema files in schemas/. No Kafka needed.
#
# Usage: fastavro_offline_test.sh BIN_DIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN_DIR=${1:?usage: fastavro_offline_test.sh BIN_DIR}
python3 -c 'import fastavro' 2>/dev/null || {
  echo "FAIL: python3 cannot import fastavro (deploy/setup.sh installs it: pip install fastavro)" >&2
  exit 1
}
dir="$(mktemp -d "${TMPDIR:-/tmp}/evstore-interop.XXXXXX")"
trap 'rm -rf "$dir"' EXIT
"$BIN_DIR/evs_interop_write" "$dir"
python3 "$HERE/decode_fastavro.py" --schemas "$HERE/../../schemas" --records "$dir"
