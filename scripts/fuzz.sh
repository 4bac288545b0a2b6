#!/usr/bin/env bash
# Runs a libFuzzer campaign on one parser, in the ASan + UBSan build (build-asan/, shared with
# scripts/test.sh --sanitize).
#
#   scripts/fuzz.sh TARGET [SECONDS] [libFuzzer flags...]     (default: 60 seconds)
#   scripts/fuzz.sh list                                        (the targets)
#
# TARGET is a name of tests/fuzz/CMakeLists.txt (state, pth, tokenizer_bpe, ...). The campaign starts
# from the checked-in corpus (tests/fuzz/corpus/TARGET) plus seeds made from the shared test data, and
# grows build-asan/fuzz/TARGET/corpus across runs. Inputs that crash land in
# build-asan/fuzz/TARGET/artifacts/: fix the bug, then copy the input into tests/fuzz/corpus/TARGET/
# as regression-<what> so that every CI run replays it. New coverage is merged back into the
# checked-in corpus with: scripts/fuzz.sh TARGET merge
# The last line is a summary: target, seconds, executions, corpus size, findings. Exits non-zero on a
# finding (a crash, a leak, undefined behaviour, a timeout or an out-of-memory).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/clang.sh"
build=$root/build-asan
targets=$(sed -n '/^set(RWKVRT_FUZZ_TARGETS/,/)/p' "$root/tests/fuzz/CMakeLists.txt" | tr -d '()' | sed 's/setRWKVRT_FUZZ_TARGETS//' | tr -s ' \n' '  ')

target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS] [libFuzzer flags...] (targets: $(echo $targets))}
if [ "$target" = list ]; then echo $targets; exit 0; fi
echo " $targets " | grep -q " $target " || { echo "fuzz.sh: unknown target '$target' (targets: $(echo $targets))" >&2; exit 2; }
seconds=${2:-60}
shift $(( $# > 1 ? 2 : 1 ))

echo "fuzz.sh: building fuzz_$target (clang, ASan, UBSan, libFuzzer) in $build"
clang_configure_asan
seed_writer=$(grep -q "fuzz_${target}_seeds" "$root/tests/fuzz/CMakeLists.txt" && echo "fuzz_${target}_seeds" || true)
run_quietly cmake --build "$build" --target "fuzz_$target" $seed_writer -j"$(nproc)"

work=$build/fuzz/$target
checked_in=$root/tests/fuzz/corpus/$target
mkdir -p "$work/corpus" "$work/artifacts" "$checked_in"
if [ "$seconds" = merge ]; then
  "$build/tests/fuzz/fuzz_$target" -merge=1 -max_len=65536 "$checked_in" "$work/corpus"
  exit 0
fi

# Seeds beyond the checked-in corpus, from the target's seed writer if it has one (tests/fuzz).
seeds=$build/tests/fuzz/fuzz_${target}_seeds
if [ -x "$seeds" ]; then
  "$seeds" "$work/corpus" >/dev/null
fi

echo "fuzz.sh: fuzzing $target for $seconds s"
touch "$work/started"
set +e
"$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
  -timeout=10 -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$checked_in" 2>"$work/log"
status=$?
set -e
tail -n 30 "$work/log"
executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
findings=$(find "$work/artifacts" -type f -newer "$work/started" | wc -l)
echo "fuzz summary: target=$target seconds=$seconds executions=${executions:-?} corpus=$(ls "$work/corpus" | wc -l) findings=$findings exit=$status"
exit $status
