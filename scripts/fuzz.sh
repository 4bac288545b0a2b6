#!/usr/bin/env bash
# Fuzzes the state parser: builds fuzz_state with clang, libFuzzer, ASan and UBSan in build-fuzz/,
# writes a seed corpus of real state files of the tiny models, and runs the fuzzer.
#
#   scripts/fuzz.sh [seconds] [libFuzzer flags...]      (default: 60 seconds, one process)
#
# The corpus grows in build-fuzz/corpus/state across runs; crashing inputs land in
# build-fuzz/artifacts/. Exits non-zero if the fuzzer found a crash, a leak or undefined behaviour.
set -euo pipefail

seconds=${1:-60}
shift $(( $# > 0 ? 1 : 0 ))
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
corpus=$build/corpus/state
artifacts=$build/artifacts

# libFuzzer ships with clang's runtime libraries (Debian: libclang-rt-<ver>-dev).
probe='extern "C" int LLVMFuzzerTestOneInput(const unsigned char *, unsigned long) { return 0; }'
if ! command -v clang++ >/dev/null || ! echo "$probe" | clang++ -x c++ -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
    echo "fuzz.sh: installing clang and libFuzzer" >&2
    sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $sudo apt-get update
    $sudo apt-get install -y clang libclang-rt-14-dev
fi

# Highway's f16 conversions call compiler-rt builtins (__gnu_h2f_ieee) that libgcc lacks on x86.
builtins=$(clang++ -print-libgcc-file-name -rtlib=compiler-rt)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRWKVRT_SANITIZE=address,undefined,fuzzer-no-link \
    -DCMAKE_CXX_STANDARD_LIBRARIES="$builtins" \
    -DRWKVRT_BUILD_FUZZERS=ON -DRWKVRT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target fuzz_state fuzz_state_seeds -j2

mkdir -p "$corpus" "$artifacts"
"$build/tests/fuzz/fuzz_state_seeds" "$corpus"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
"$build/tests/fuzz/fuzz_state" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$@" "$corpus"
