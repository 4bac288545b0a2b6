# Sourced by scripts/test.sh (--sanitize) and scripts/fuzz.sh: clang builds with sanitizers.
#   build-asan/  ASan + UBSan + libFuzzer coverage, with the fuzz targets: the whole ctest suite and
#                the fuzz campaigns run here.
#   build-tsan/  ThreadSanitizer: every test (every feed runs on the model's thread pool).
# Both are lean: RelWithDebInfo at -O1 (fast to compile, still readable stacks), no Python module.
_rwkvrt_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$_rwkvrt_root/scripts/deps.sh"

# Debian's clang, its runtime libraries (the sanitizers and libFuzzer) and llvm-symbolizer for stacks.
RWKVRT_CLANG_PACKAGES=(clang libclang-rt-14-dev llvm)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

# clang_configure DIR SANITIZERS [cmake args...]
clang_configure() {
  local dir=$1 sanitizers=$2
  shift 2
  ensure_deps "${RWKVRT_CLANG_PACKAGES[@]}"
  # Highway's f16 conversions call compiler-rt builtins (__gnu_h2f_ieee) that libgcc lacks on x86.
  local builtins
  builtins=$(clang++ -print-libgcc-file-name -rtlib=compiler-rt)
  cmake -S "$_rwkvrt_root" -B "$dir" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_CXX_STANDARD_LIBRARIES="$builtins" \
    -DRWKVRT_SANITIZE="$sanitizers" -DRWKVRT_BUILD_PYTHON=OFF "$@" >/dev/null
}

clang_configure_asan() {
  clang_configure "$_rwkvrt_root/build-asan" address,undefined,fuzzer-no-link -DRWKVRT_BUILD_FUZZERS=ON
}

clang_configure_tsan() {
  clang_configure "$_rwkvrt_root/build-tsan" thread -DRWKVRT_BUILD_EXAMPLES=OFF
}
