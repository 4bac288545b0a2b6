#!/bin/sh
# The chat example saves its state after every turn and resumes from that file: run it twice with
# piped input and check that the second run starts from the token count the first one saved.
# Usage: chat_resume.sh CHAT MODEL
set -eu
chat=$1
model=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

first=$(printf 'Hello there\nHow are you?\n' | "$chat" "$model" "$dir/chat.state" 2>&1)
printf '%s\n' "$first"
saved=$(printf '%s\n' "$first" | sed -n 's/^\[saved: \([0-9]*\) tokens\]$/\1/p' | tail -n 1)
[ -n "$saved" ] || { echo "FAIL: the first run saved nothing"; exit 1; }

second=$(printf 'Tell me more\n' | "$chat" "$model" "$dir/chat.state" 2>&1)
printf '%s\n' "$second"
printf '%s\n' "$second" | grep -q "^\[resumed .*: $saved tokens\]$" ||
  { echo "FAIL: the second run did not resume from $saved tokens"; exit 1; }
echo "PASS: resumed from $saved tokens"
