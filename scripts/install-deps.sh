#!/usr/bin/env bash
# Installs the build dependencies mixc needs and the machine lacks (Debian/Ubuntu).
# Called by the Makefile before the first build; safe to run again (it does nothing when all is there).
set -euo pipefail

need=()
command -v flex  >/dev/null 2>&1 || need+=(flex)
command -v bison >/dev/null 2>&1 || need+=(bison)
[ -f /usr/include/jansson.h ] || need+=(libjansson-dev)
[ -f /usr/include/pcre2.h ] || need+=(libpcre2-dev)
[ -f /usr/include/utf8proc.h ] || need+=(libutf8proc-dev)
[ -f /usr/include/microhttpd.h ] || need+=(libmicrohttpd-dev)
command -v clang >/dev/null 2>&1 || need+=(clang)
# the test suites' tools: jq reads mixrun's and mixc's JSON, curl is the HTTP client of tests/http and
# tests/build, python3 writes test fixtures (make test needs no Python package)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# make test-python's venv (scripts/python-venv.sh): Debian's python3 makes one only with python3-venv
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)

if [ ${#need[@]} -eq 0 ]; then exit 0; fi

echo "mixc: installing missing build dependencies: ${need[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "mixc: apt-get not found; please install: ${need[*]}" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
