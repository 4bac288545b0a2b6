#!/usr/bin/env bash
# The main job, end to end: load a model, generate text, save the conversation state, resume it in a
# new process and show that the continuation is exactly what an uninterrupted run produces.
# Usage: scripts/demo.sh [MODEL [TOKENIZER]]
#   MODEL defaults to the tiny trained RWKV-7 from ../shared/testdata (its text is barely English);
#   without that folder a small random-weight RWKV-7 checkpoint is written first (its text is noise). TOKENIZER is needed for
#   models whose vocabulary is not the 256 bytes (e.g. rwkv_vocab_v20230424.txt for World models).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/deps.sh
ensure_deps
echo "Building the rwkvrt tool in build/ (the first time takes a few minutes)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
run_quietly cmake --build build -j"$(nproc)" --target rwkvrt_cli
rwkvrt=build/tools/rwkvrt

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=${1:-}
tokenizer=${2:-}
if [ -z "$model" ]; then
  model=$root/../shared/testdata/pth/tiny-rwkv-7v0-834K-fp32.pth
  if [ -f "$model" ]; then
    echo "NOTE: this demo runs the tiny trained RWKV-7 of the test data (834K parameters): its text is"
    echo "      barely English. Pass a real model (and its tokenizer) for real text:"
    echo "      scripts/demo.sh MODEL.pth rwkv_vocab_v20230424.txt"
  else
    model=$work/random-rwkv7.safetensors
    "$rwkvrt" random-model --arch rwkv7 --layers 4 --embd 128 --head-size 64 --vocab 256 -o "$model"
    echo "NOTE: no test data here, so this demo runs a random-weight model: its text is noise."
  fi
fi
tok_args=()
[ -n "$tokenizer" ] && tok_args=(-t "$tokenizer")
prompt=${RWKVRT_DEMO_PROMPT:-"In the beginning"}
sampling=(--seed 7 --temperature 0.8 --top-p 0.6)

echo "== The model"
"$rwkvrt" info -m "$model"

echo
echo "== One uninterrupted run: 64 tokens after \"$prompt\""
whole=$("$rwkvrt" generate -m "$model" "${tok_args[@]}" -p "$prompt" -n 64 "${sampling[@]}")
printf '%s%s\n' "$prompt" "$whole"

echo
echo "== The same in two processes: 32 tokens, save the session, then 32 more from the saved state"
session=$work/conversation.rwkvstate
first=$("$rwkvrt" generate -m "$model" "${tok_args[@]}" -p "$prompt" -n 32 "${sampling[@]}" --session "$session")
echo "first process:  $prompt$first"
echo "saved:          $(stat -c %s "$session") bytes in $session"
second=$("$rwkvrt" generate -m "$model" "${tok_args[@]}" -n 32 --session "$session")
echo "second process: ...$second"

echo
if [ "$first$second" == "$whole" ]; then
  echo "The resumed continuation is identical to the uninterrupted run."
else
  echo "MISMATCH: the resumed continuation differs from the uninterrupted run." >&2
  exit 1
fi
