#!/usr/bin/env bash
# Set up everything evstore needs on Debian 12, then build it. Idempotent and
# non-interactive: a second run installs nothing and only rebuilds what changed.
#
#   deploy/setup.sh              install missing dependencies, fetch Kafka, build into build/
#   deploy/setup.sh --deps-only  everything but the build (the Makefile builds separately)
#
# Steps: Debian packages (apt-get, only when some are missing), the Python test
# dependencies fastavro, openapi-core, PyYAML, selenium and schemathesis (pip, for the
# `python3` on PATH), the
# Kafka broker jars (deploy/kafka.sh fetch), then cmake configure + build. Uses sudo only
# when not root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
build_dir="${EVSTORE_BUILD_DIR:-$repo/build}"
build_type="${CMAKE_BUILD_TYPE:-RelWithDebInfo}"
jobs="${EVSTORE_BUILD_JOBS:-2}"

deps_only=0
case "${1:-}" in
  "") ;;
  --deps-only) deps_only=1 ;;
  *) echo "usage: $0 [--deps-only]" >&2; exit 2 ;;
esac

say() { printf 'setup.sh: %s\n' "$*"; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }

sudo=""
if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null || die "not root and no sudo: cannot install packages"
  sudo="sudo"
fi

# --- Debian packages ---------------------------------------------------------------

packages=(
  build-essential cmake pkg-config
  librdkafka-dev libavro-dev librocksdb-dev libcmocka-dev libmicrohttpd-dev
  libcurl4-openssl-dev libjansson-dev uuid-dev libssl-dev openssl
  libsodium-dev  # crypto-shredding: data keys and sealed payloads (schemas/sealing.h)
  clang libclang-rt-dev  # fuzzing (libFuzzer) and sanitizers; the runtimes are only a
                         # Recommends of clang, and recommends are not installed here
  kcat   # command-line Kafka client, handy for poking at the broker
  curl   # projector health checks in deploy/projector.sh
  rocksdb-tools  # ldb: integration.state edits a store the way an older version left it
  prometheus     # integration.prometheus scrapes the projector with a real Prometheus
  libpq-dev postgresql  # evstore import --from-pg (libpq), and its test's private server
  chromium chromium-driver  # integration.console drives the web console in headless Chromium
)

# Java 17+ runs the broker: only install a JRE when no suitable java is on PATH.
java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' | head -n1
}
major="$(java_major || true)"
if [[ -z "$major" || "$major" -lt 17 ]]; then
  packages+=(default-jre-headless)
fi
command -v mvn >/dev/null || packages+=(maven)
# python3 and pip: the one on PATH (possibly pyenv's) is used when it works.
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3 python3-pip)

installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done

if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # Wait for a dpkg lock held by another apt run rather than failing at once.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${missing[@]}"
else
  say "Debian packages: all present"
fi

major="$(java_major || true)"
[[ -n "$major" && "$major" -ge 17 ]] || die "Java 17 or newer is needed for Kafka (found: ${major:-none})"

# --- Python test dependencies --------------------------------------------------------
# fastavro (tests/interop: another Avro implementation), openapi-core and PyYAML
# (tests/integration/openapi_test.sh: the server's answers against docs/openapi.yaml),
# selenium (tests/integration/console_test.py drives Debian's chromium-driver),
# schemathesis (tests/integration/contract_test.sh runs it as `python3 -m schemathesis.cli`:
# generated requests against the document).

python_modules_present() {
  python3 -c 'import fastavro, openapi_core, openapi_spec_validator, yaml, selenium, schemathesis' \
    2>/dev/null
}
if python_modules_present; then
  say "python: fastavro, openapi-core, PyYAML, selenium and schemathesis present"
else
  pip_packages=(fastavro openapi-core==0.23.1 PyYAML selenium schemathesis==4.32.5)
  say "python: installing ${pip_packages[*]} for $(command -v python3)"
  pip_install=(python3 -m pip install -q --disable-pip-version-check "${pip_packages[@]}")
  # Debian's own python refuses pip installs (PEP 668) unless told otherwise; a pyenv
  # or venv python takes them as is.
  pip_err="$(mktemp)"
  if ! "${pip_install[@]}" 2>"$pip_err"; then
    if grep -q externally-managed "$pip_err"; then
      "${pip_install[@]}" --break-system-packages
    else
      cat "$pip_err" >&2
      rm -f "$pip_err"
      die "pip could not install ${pip_packages[*]}"
    fi
  fi
  rm -f "$pip_err"
  python_modules_present ||
    die "${pip_packages[*]}: not all importable by $(command -v python3) after pip install"
fi

# --- Kafka jars ----------------------------------------------------------------------

bash "$here/kafka.sh" fetch

((deps_only)) && { say "dependencies ready"; exit 0; }

# --- Build ---------------------------------------------------------------------------

say "building into $build_dir ($build_type)"
cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" ||
  die "cmake configure failed (see the messages above)"
cmake --build "$build_dir" -j"$jobs" || die "the build failed (see the compiler messages above)"
say "built: $build_dir/bin"
