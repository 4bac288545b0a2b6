#!/usr/bin/env bash
# Builds rwkvrt (Release) and runs every test: the C++ tests (doctest, through ctest) and the
# Python tests (pytest, in a virtual environment). Installs the Debian packages it needs.
# Usage: scripts/test.sh            (from anywhere; build in ./build, venv in ./.venv)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/deps.sh
ensure_deps

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600

if [ -f pyproject.toml ] && [ -d bindings/python ] && [ -d tests/python ]; then
  . scripts/python_env.sh
  python_env_install
  (cd tests/python && "$RWKVRT_VENV/bin/python" -m pytest -q -p no:cacheprovider .)
fi
