#!/usr/bin/env bash
# Builds rwkvrt and runs every test.
#
#   scripts/test.sh              Release build in ./build: the C++ tests (doctest, through ctest, with
#                                the fuzz corpora replayed; on AVX-512 CPUs a second time with the
#                                kernels capped at AVX2, core/cpu.h), the server end to end (tests/server/run.sh:
#                                curl, the openai npm package, redis-server and nginx, on loopback),
#                                then the Python tests (pytest, in the virtual environment ./.venv) on
#                                a module built from the same build.
#   scripts/test.sh --sanitize   clang builds: ASan + UBSan (./build-asan) running the whole ctest
#                                suite, libFuzzer replaying the corpora; ThreadSanitizer
#                                (./build-tsan) running it again (every feed uses the thread pool).
#
# Installs the Debian packages it needs (scripts/deps.sh). Runs from anywhere.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/deps.sh
jobs=$(nproc)

step() { echo "== $* ($(date +%H:%M:%S))"; }

if [ "${1:-}" = --sanitize ]; then
  . scripts/clang.sh
  step "ASan + UBSan: building in build-asan (clang, -O1; several minutes)"
  clang_configure_asan
  run_quietly cmake --build build-asan -j"$jobs"
  step "ASan + UBSan: every test"
  ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 900
  step "TSan: building in build-tsan (several minutes)"
  clang_configure_tsan
  run_quietly cmake --build build-tsan -j"$jobs"
  step "TSan: every test"
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" --timeout 900
  step "sanitizers done"
  exit 0
fi

ensure_deps
step "building in build (Release)"
. scripts/python_env.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DRWKVRT_BUILD_PYTHON=ON -DPYTHON_EXECUTABLE="$RWKVRT_PYTHON" >/dev/null
run_quietly cmake --build build -j"$jobs"
step "C++ tests"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600
if grep -qw avx512f /proc/cpuinfo; then
  step "C++ tests again with the kernels capped at AVX2, as an AVX2-only machine runs them"
  RWKVRT_MAX_CPU_ISA=avx2 ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600
fi

step "server end to end"
command -v npm >/dev/null || ensure_deps npm # Debian's, unless Node came with its own
bash tests/server/run.sh build

if [ -f pyproject.toml ] && [ -d bindings/python ] && [ -d tests/python ]; then
  step "Python module: installing the one built in build into .venv"
  python_env_install build
  step "Python tests"
  (cd tests/python && "$RWKVRT_VENV/bin/python" -m pytest -q -p no:cacheprovider .)
fi
