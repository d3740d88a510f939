#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then configures, builds and
# runs a small consumer project with find_package(ews CONFIG REQUIRED).
# usage: consumer_test.sh BUILD_DIR SOURCE_DIR GENERATOR [SANITIZER_FLAGS]
set -euo pipefail
build=$1 src=$2 generator=$3 sanitize=${4:-}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
cmake -S "$src" -B "$scratch/build" -G "$generator" -DCMAKE_PREFIX_PATH="$scratch/prefix" \
  -DCMAKE_CXX_FLAGS="$sanitize" -DCMAKE_EXE_LINKER_FLAGS="$sanitize" >/dev/null
cmake --build "$scratch/build" >/dev/null
"$scratch/build/consumer"
