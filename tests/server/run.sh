#!/usr/bin/env bash
# End-to-end tests of rwkvrt serve, on loopback only: curl and the official OpenAI client (Node), bad
# input, continuous batching with 32 concurrent clients, a conversation that survives a restart, and a
# cluster of three workers behind nginx sharing Redis, one of them killed between turns.
# Usage: tests/server/run.sh BUILD_DIR     (scripts/test.sh runs it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
bin=$build/tools/rwkvrt
tok=$root/../shared/testdata/tokenizers/rwkv_vocab_v20230424.txt
[ -f "$tok" ] || { echo "FAIL: the World tokenizer is missing: $tok"; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  # SIGTERM first: nginx's master then stops its workers; whatever is left after 5 s gets SIGKILL.
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do echo "== $f"; tail -n 20 "$f"; done
  exit 1
}
client() { node "$here/client.mjs" "$@"; }
jget() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(eval("j" + process.argv[2]))' "$@"; }

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
model=$work/world.safetensors
"$bin" random-model --arch rwkv7 --layers 2 --embd 128 --head-size 64 --vocab 65536 -o "$model" >/dev/null

# start NAME ARGS...: a server of serve_model on a free port; sets URL_NAME and PID_NAME.
serve_model=(-m "$model" -t "$tok")
start() {
  local name=$1
  shift
  : >"$work/$name.log" # before the server opens it: the loop below reads it at once
  "$bin" serve "${serve_model[@]}" --port 0 "$@" >/dev/null 2>"$work/$name.log" &
  local pid=$! url=""
  pids+=("$pid")
  for _ in $(seq 300); do
    url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/$name.log")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || fail "server $name did not start"
    sleep 0.1
  done
  [ -n "$url" ] || fail "server $name did not start in time"
  printf -v "URL_$name" '%s' "$url"
  printf -v "PID_$name" '%s' "$pid"
}
# stop PID: SIGTERM, and the server must be gone within 20 s.
stop() {
  kill "$1"
  for _ in $(seq 200); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$1" 2>/dev/null; then
    kill -9 "$1"
    fail "server $1 did not stop on SIGTERM"
  fi
  wait "$1" 2>/dev/null || true
}

# expect STATUS CURL_ARGS...: the answer has that status and an OpenAI error object.
expect() {
  local want=$1 code
  shift
  code=$(curl -s -o "$work/body" -w '%{http_code}' "$@")
  [ "$code" = "$want" ] || fail "curl $*: HTTP $code, expected $want: $(head -c 300 "$work/body")"
  grep -q '"error":{.*"message":"' "$work/body" || fail "curl $*: no error object: $(head -c 300 "$work/body")"
}
health() { grep -q '"ok"' <<<"$(curl -sf "$1/health")" || fail "$1/health does not answer"; }

start main --threads 2 --parallel 32 --queue 32
M=$URL_main
C=$M/v1/chat/completions
hi='{"messages":[{"role":"user","content":"hi"}]'

echo "== curl: endpoints and streaming"
health "$M"
grep -q '"id":"world.safetensors"' <<<"$(curl -sf "$M/v1/models")" || fail "/v1/models"
grep -q '"object":"chat.completion"' <<<"$(curl -sf "$C" -d "$hi,\"max_tokens\":5,\"seed\":1}")" || fail "chat"
curl -sfN "$C" -d "$hi,\"max_tokens\":5,\"seed\":1,\"stream\":true}" >"$work/sse"
grep -q '^data: {.*"chat.completion.chunk"' "$work/sse" && [ "$(tail -n 2 "$work/sse" | head -n 1)" = "data: [DONE]" ] || fail "SSE stream: $(cat "$work/sse")"
grep -q '"object":"text_completion"' <<<"$(curl -sf "$M/v1/completions" -d '{"prompt":"The sky","max_tokens":4}')" || fail "completions"
grep -q '^rwkvrt_completion_tokens_total ' <<<"$(curl -sf "$M/metrics")" || fail "/metrics"
grep -q '^rwkvrt serve: 127.0.0.1 POST /v1/completions 200 [0-9]* ms tokens=[0-9]*+[1-4]$' "$work/main.log" || fail "no request log line: $(tail -n 3 "$work/main.log")"
# The streamed chat's line has its tokens too, as the whole one's: the log is written on the thread
# that streamed it, after its end.
[ "$(grep -c '^rwkvrt serve: 127.0.0.1 POST /v1/chat/completions 200 [0-9]* ms tokens=[0-9]*+[1-5]$' "$work/main.log")" = 2 ] ||
  fail "the two chats' request log lines lack their tokens: $(grep chat/completions "$work/main.log")"
! grep -q 'The sky' "$work/main.log" || fail "the request log shows a prompt"
grep -q '"object":"model"' <<<"$(curl -sf "$M/v1/models/world.safetensors")" || fail "/v1/models/ID"
expect 404 "$M/v1/models/gpt-4"
# A body past 8 KiB sent as curl -d sends it (a form's Content-Type), which httplib alone refused with 413.
printf '{"messages":[{"role":"user","content":"%s"}],"max_tokens":2}' "$(head -c 20000 /dev/zero | tr '\0' 'a')" >"$work/long.json"
grep -q '"object":"chat.completion"' <<<"$(curl -sf "$C" --data-binary @"$work/long.json")" || fail "a 20 KB form-typed body"

echo "== curl: bad input gets a 4xx with an error object"
expect 400 "$C" -d '{"messages": [' 
expect 400 "$C" -d '[1, 2]'
expect 400 "$C" -d "$hi,\"max_tokens\":\"ten\"}"
expect 400 "$C" -d '{"messages":"hi"}'
expect 400 "$C" -d '{"messages":[{"role":"user","content":5}]}'
expect 400 "$C" -d "$hi,\"temperature\":9}"
expect 400 "$C" -d "$hi,\"stream\":\"yes\"}"
expect 404 "$C" -d "$hi,\"model\":\"gpt-4\"}"
expect 400 "$C" -d "$hi,\"max_tokens\":0}"
expect 400 "$C" -d "$hi,\"max_tokens\":1000000000}"
expect 400 "$C" -d "$hi,\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}"
expect 400 "$C" -d "$hi,\"n\":3}"
printf '{"messages":[{"role":"user","content":"\xc3\x28 \xff"}]}' >"$work/bad-utf8.json"
expect 400 "$C" --data-binary @"$work/bad-utf8.json"
expect 400 "$C" -d '{"messages":[{"role":"user","content":"\ud800"}]}'
head -c 1100000 /dev/zero | tr '\0' 'x' >"$work/big"
expect 413 "$C" --data-binary @"$work/big"
expect 413 "$C" -H 'Transfer-Encoding: chunked' --data-binary @"$work/big" # chunked: httplib alone had no limit
expect 405 -X PUT "$C" -d "$hi}"
# Framing that would have waited for the 30 s read timeout is refused at once.
expect 413 --max-time 5 -X POST -H 'Expect: 100-continue' -H 'Content-Length: 5000000' "$C"
expect 400 --max-time 5 -X POST -H 'Content-Length: -1' "$C"
expect 501 --max-time 5 -X POST -H 'Transfer-Encoding: gzip' "$C"
expect 404 "$C" -H 'X-Session-Id: sess_0123456789abcdef0123456789abcdef' -d "$hi}"
expect 400 "$C" -H 'X-Session-Id: ../../etc/passwd' -d "$hi}"
expect 400 "$M/v1/completions" -d '{"prompt":["a","b"]}'
expect 400 "$M/v1/completions" -H 'X-Session-Id: new' -d '{"prompt":"a"}'
expect 404 "$M/v1/no-such-endpoint"
expect 405 "$C"                          # a GET
expect 411 --max-time 5 -X POST "$C"     # no Content-Length: answered at once, not after the 30 s read timeout
health "$M"

echo "== a second server on a port in use fails to start (no SO_REUSEPORT sharing the connections)"
rc=0
timeout 60 "$bin" serve "${serve_model[@]}" --port "${M##*:}" >/dev/null 2>"$work/twice.log" || rc=$?
[ "$rc" = 1 ] && grep -q "cannot listen" "$work/twice.log" || fail "a second server on ${M##*:}: exit $rc: $(cat "$work/twice.log")"

echo "== bad settings are refused before the server starts"
for bad in "--port 70000" "--max-tokens 0" "--max-tokens -5" "--queue -1" "--max-stop -1" "--max-body 0"; do
  # shellcheck disable=SC2086
  if timeout 60 "$bin" serve "${serve_model[@]}" $bad >/dev/null 2>"$work/bad.log"; then fail "serve $bad started"; fi
  grep -q -- "${bad%% *}" "$work/bad.log" || fail "serve $bad: no message naming the option: $(cat "$work/bad.log")"
done

echo "== a GGUF file's own vocabulary, without -t"
"$bin" convert "$model" "$work/world.gguf" -t "$tok" >/dev/null
serve_model=(-m "$work/world.gguf")
start gguf --threads 1
serve_model=(-m "$model" -t "$tok")
grep -q '"object":"text_completion"' <<<"$(curl -sf "$URL_gguf/v1/completions" -d '{"prompt":"The sky","max_tokens":2}')" || fail "GGUF without -t"
stop "$PID_gguf"

echo "== a reply cut inside a character, resent with its U+FFFD in the history, continues the conversation"
client cut "$M"

echo "== the OpenAI client: chat, completions, streaming, stop strings, seeds, usage, errors"
client basic "$M"

echo "== continuous batching: 32 concurrent streaming clients, each equal to its request served alone"
client concurrent "$M" 32 32 | tee "$work/concurrent.json"

echo "== prompt tokens of a 10-turn conversation resent whole, with the prefix cache and without"
client history "$M" 10 cached | tee "$work/history-cache.json"
start nocache --threads 2 --cache-mb 0
client history "$URL_nocache" 10 | tee "$work/history-nocache.json"
stop "$PID_nocache"

echo "== limits: past --parallel and --queue a request gets 429; a client that goes away is cancelled"
start small --threads 1 --parallel 1 --queue 0 --api-key secret --alias RWKV/tiny-test
grep -q '"id":"RWKV/tiny-test"' <<<"$(curl -sf -H 'Authorization: Bearer secret' "$URL_small/v1/models/RWKV/tiny-test")" ||
  fail "/v1/models/ID of an alias with a slash"
expect 401 "$URL_small/v1/chat/completions" -d "$hi}"
expect 401 "$URL_small/v1/chat/completions" -H 'Authorization: Bearer wrong' -d "$hi}"
grep -q chat.completion <<<"$(curl -sf "$URL_small/v1/chat/completions" -H 'Authorization: bearer secret' -d "$hi,\"max_tokens\":2}")" ||
  fail "the auth scheme is case-insensitive"
health "$URL_small"
# Greedy text completion with no stop string: it runs until cancelled.
curl -sN "$URL_small/v1/completions" -H 'Authorization: Bearer secret' -d '{"prompt":"hi","max_tokens":4096,"temperature":0,"stream":true}' >"$work/long.sse" &
long=$!
for _ in $(seq 100); do [ -s "$work/long.sse" ] && break; sleep 0.1; done
expect 429 "$URL_small/v1/chat/completions" -H 'Authorization: Bearer secret' -d "$hi}"
kill "$long"
wait "$long" 2>/dev/null || true
for _ in $(seq 100); do
  grep -q '^rwkvrt_requests_cancelled_total 1$' <<<"$(curl -s "$URL_small/metrics")" && break
  sleep 0.1
done
grep -q '^rwkvrt_requests_cancelled_total 1$' <<<"$(curl -s "$URL_small/metrics")" || fail "the disconnected client was not cancelled"
grep -q chat.completion <<<"$(curl -sf "$URL_small/v1/chat/completions" -H 'Authorization: Bearer secret' -d "$hi,\"max_tokens\":3}")" ||
  fail "the place was not freed after the cancel"
stop "$PID_small"

echo "== clients that give up while queued leave their places: a live client is queued, not refused"
start queue --threads 1 --parallel 1 --queue 1
curl -sN "$URL_queue/v1/completions" -d '{"prompt":"hi","max_tokens":4096,"temperature":0,"stream":true}' >"$work/long.sse" &
long=$!
for _ in $(seq 100); do [ -s "$work/long.sse" ] && break; sleep 0.1; done
curl -s -m 0.5 -o /dev/null "$URL_queue/v1/completions" -d '{"prompt":"hi","max_tokens":2}' || true # queued, gives up
sleep 0.5
curl -s -o "$work/live.json" -w '%{http_code}' "$URL_queue/v1/completions" -d '{"prompt":"hi","max_tokens":2}' >"$work/live.code" &
live=$!
sleep 0.5
kill "$long"
wait "$long" 2>/dev/null || true
wait "$live" || true
[ "$(cat "$work/live.code")" = 200 ] || fail "a live client behind one that gave up: HTTP $(cat "$work/live.code"): $(head -c 300 "$work/live.json")"
stop "$PID_queue"

echo "== shutdown: a slow client holds it at most until a second signal"
start slow --threads 1
exec 7<>/dev/tcp/127.0.0.1/"${URL_slow##*:}"
printf 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{' >&7 # and never the rest
sleep 0.3
kill -TERM "$PID_slow"
sleep 1
kill -0 "$PID_slow" 2>/dev/null || fail "the server did not wait for the connection still open"
kill -TERM "$PID_slow"
for _ in $(seq 30); do kill -0 "$PID_slow" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID_slow" 2>/dev/null && fail "a second SIGTERM did not end the server"
exec 7>&-
grep -q "a second signal" "$work/slow.log" || fail "the log does not say why the server exited: $(cat "$work/slow.log")"

echo "== a conversation: each turn feeds only its new message, and survives a restart"
mkdir "$work/sessions"
start conv --threads 2 --state-store "$work/sessions"
messages=("Hello, who are you?" "Tell me a story about a fox." "And what happened next?" "Thank you, goodbye." "One more thing.")
for t in 0 1 2 3 4; do client turn "$URL_conv" "$work/ref.json" "${messages[$t]}" $((11 + t)) >/dev/null; done
echo "== a turn asked again under its Idempotency-Key is answered from the store, never generated twice"
client retry "$URL_conv" "$work/ref.json"
expect 400 "$URL_conv/v1/chat/completions" -H 'X-Session-Id: new' -H 'Idempotency-Key: two words' -d "$hi}"
expect 400 "$URL_conv/v1/chat/completions" -H "Idempotency-Key: $(head -c 256 /dev/zero | tr '\0' k)" -H 'X-Session-Id: new' -d "$hi}"
# Without a conversation nothing is kept and a retry changes nothing: the key (which gateways may add to
# every POST) is ignored, whatever its form.
for request in "chat/completions $hi,\"max_tokens\":2}" 'completions {"prompt":"a","max_tokens":2}'; do
  code=$(curl -s -o "$work/body" -w '%{http_code}' -H 'Idempotency-Key: two words' "$URL_conv/v1/${request%% *}" -d "${request#* }")
  [ "$code" = 200 ] || fail "an Idempotency-Key on /v1/${request%% *} without a conversation: HTTP $code: $(cat "$work/body")"
done
turn_tokens() { printf 'User: %s\n\nAssistant:' "$1" | "$bin" tokenize -t "$tok" -f - | wc -w; }
client turn "$URL_conv" "$work/persist.json" "${messages[0]}" 11
client turn "$URL_conv" "$work/persist.json" "${messages[1]}" 12 stream
want=$(turn_tokens "${messages[1]}")
[ "$(jget "$work/persist.json" '.turns[1].fed')" = "$want" ] && [ "$(jget "$work/persist.json" '.turns[1].prompt_tokens')" = "$want" ] ||
  fail "the second turn fed more than its $want new tokens: $(cat "$work/persist.json")"
stop "$PID_conv"
start conv --threads 2 --state-store "$work/sessions"
client turn "$URL_conv" "$work/persist.json" "${messages[2]}" 13
[ "$(jget "$work/persist.json" '.turns[2].fed')" = "$(turn_tokens "${messages[2]}")" ] || fail "after the restart the turn fed its history again"
[ "$(jget "$work/persist.json" '.transcript.join("\u0001")')" = "$(jget "$work/ref.json" '.transcript.slice(0, 6).join("\u0001")')" ] ||
  fail "the conversation did not continue exactly after the restart"
echo "== two workers on one folder: each sees the other's turns (a worker's RAM copy is checked against the file)"
start convB --threads 2 --state-store "$work/sessions"
client turn "$URL_convB" "$work/persist.json" "${messages[3]}" 14 >/dev/null
client turn "$URL_conv" "$work/persist.json" "${messages[4]}" 15 >/dev/null
[ "$(jget "$work/persist.json" '.transcript.join("\u0001")')" = "$(jget "$work/ref.json" '.transcript.join("\u0001")')" ] ||
  fail "a turn on the other worker was lost: $(jget "$work/persist.json" '.transcript.length') messages"
stop "$PID_convB"
stop "$PID_conv"
"$bin" random-model --arch rwkv7 --layers 2 --embd 128 --head-size 64 --vocab 65536 --seed 2 -o "$work/other.safetensors" >/dev/null
serve_model=(-m "$work/other.safetensors" -t "$tok")
start other --threads 1 --state-store "$work/sessions"
serve_model=(-m "$model" -t "$tok")
expect 409 "$URL_other/v1/chat/completions" -H "X-Session-Id: $(jget "$work/persist.json" .session)" -d "$hi}"
grep -q session_model_mismatch "$work/body" || fail "a conversation of another model was not refused as such"
stop "$PID_other"

echo "== a damaged conversation file: 500 session_corrupt; put back, it continues without a restart"
sid=$(jget "$work/persist.json" .session)
cp "$work/sessions/$sid.state" "$work/good.state"
head -c 200 "$work/good.state" >"$work/sessions/$sid.state"
start mended --threads 1 --state-store "$work/sessions"
expect 500 "$URL_mended/v1/chat/completions" -H "X-Session-Id: $sid" -d "$hi,\"max_tokens\":2}"
grep -q session_corrupt "$work/body" || fail "a truncated conversation file: $(cat "$work/body")"
cp "$work/good.state" "$work/sessions/$sid.state"
grep -q chat.completion <<<"$(curl -sf "$URL_mended/v1/chat/completions" -H "X-Session-Id: $sid" -d "$hi,\"max_tokens\":2}")" ||
  fail "the conversation file put back was not read again (the damaged one stayed in RAM)"
# Stored metadata that passes the state's checksum but not the server's reading of it (written with the
# Python module built beside the server): 500 session_corrupt, whether or not a turn asks by its key.
py=$work/py
mkdir -p "$py"
cp -r "$root/bindings/python/rwkvrt" "$py/"
so=$(ls "$build"/bindings/python/_rwkvrt*.so 2>/dev/null | head -n 1)
[ -n "$so" ] || fail "the Python module is not built in $build (configure with -DRWKVRT_BUILD_PYTHON=ON)"
ln -s "$so" "$py/rwkvrt/"
damage() { # damage FIELD JSON: sets the field of the conversation's metadata
  PYTHONPATH=$py python3 - "$model" "$work/sessions/$sid.state" "$1" "$2" <<'PY'
import json, sys, rwkvrt
model, path, field, value = sys.argv[1:]
state = rwkvrt.State.from_bytes(rwkvrt.Model(model), open(path, "rb").read())
meta = json.loads(state.metadata)
meta[field] = json.loads(value)
state.metadata = json.dumps(meta)
open(path, "wb").write(bytes(state))
PY
}
for bad in 'messages 5' 'last_turn {"key":5,"request":"r"}' 'last_turn {"key":"k1"}'; do
  cp "$work/good.state" "$work/sessions/$sid.state"
  damage ${bad%% *} "${bad#* }" || fail "could not write the metadata $bad"
  expect 500 "$URL_mended/v1/chat/completions" -H "X-Session-Id: $sid" -H 'Idempotency-Key: k1' -d "$hi,\"max_tokens\":2}"
  grep -q session_corrupt "$work/body" || fail "stored metadata $bad: $(cat "$work/body")"
done
cp "$work/good.state" "$work/sessions/$sid.state"
stop "$PID_mended"

echo "== a store that fails: 503 without the new id or the server's paths; the log has them"
mkdir "$work/gone"
start gone --threads 1 --state-store "$work/gone"
rm -rf "$work/gone"
expect 503 -D "$work/gone.headers" "$URL_gone/v1/chat/completions" -H 'X-Session-Id: new' -d "$hi,\"max_tokens\":2}"
! grep -qi '^x-session-id' "$work/gone.headers" || fail "a conversation that was not stored was given an id"
! grep -q "$work" "$work/body" || fail "the error shows the server's paths: $(cat "$work/body")"
grep -q "$work/gone" "$work/gone.log" || fail "the log does not say why the store failed"
code=$(curl -s -o "$work/body" -w '%{http_code}' "$URL_gone/health")
[ "$code" = 503 ] && grep -q store_unavailable "$work/body" || fail "/health with a broken store: HTTP $code: $(cat "$work/body")"
stop "$PID_gone"

echo "== scale-out: redis-server, 3 workers and nginx; a worker killed with -9 between turns"
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }
redis_port=$(free_port)
start_redis() {
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no >>"$work/redis.log" 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 100); do [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
}
start_redis
for w in 1 2 3; do start "w$w" --threads 1 --parallel 4 --state-store "redis://127.0.0.1:$redis_port"; done
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  upstream rwkvrt {
    server ${URL_w1#http://} max_fails=1 fail_timeout=30s;
    server ${URL_w2#http://} max_fails=1 fail_timeout=30s;
    server ${URL_w3#http://} max_fails=1 fail_timeout=30s;
  }
  server {
    listen 127.0.0.1:$nginx_port;
    client_max_body_size 1m;
    location / {
      proxy_pass http://rwkvrt;
      proxy_http_version 1.1;
      proxy_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off; user root;' >"$work/nginx.log" 2>&1 &
pids+=("$!")
N=http://127.0.0.1:$nginx_port
for _ in $(seq 100); do curl -sf "$N/health" >/dev/null && break; sleep 0.1; done
health "$N"
export RWKVRT_BALANCED=1
client turn "$N" "$work/cluster.json" "${messages[0]}" 11
client turn "$N" "$work/cluster.json" "${messages[1]}" 12 stream
victim=$(jget "$work/cluster.json" '.turns[1].worker')
for w in 1 2 3; do
  u=URL_w$w p=PID_w$w
  if [ "${!u#http://}" = "$victim" ]; then
    kill -9 "${!p}"
    wait "${!p}" 2>/dev/null || true
  fi
done
client turn "$N" "$work/cluster.json" "${messages[2]}" 13
client turn "$N" "$work/cluster.json" "${messages[3]}" 14 stream
workers=$(jget "$work/cluster.json" '.turns.map(t => t.worker).join(" ")')
[ "$(printf '%s\n' $workers | sort -u | wc -l)" -ge 2 ] || fail "the turns did not land on different workers: $workers"
[ "$(jget "$work/cluster.json" '.turns.slice(2).every(t => t.worker !== process.argv[2]) ? 1 : 0' "$victim")" = 1 ] || fail "the killed worker served"
[ "$(jget "$work/cluster.json" '.transcript.join("\u0001")')" = "$(jget "$work/ref.json" '.transcript.slice(0, 8).join("\u0001")')" ] ||
  fail "the cluster's transcript differs from the single worker's"
echo "turns served by: $workers (killed: $victim)"

echo "== Redis restarted under the workers: their pooled connections are stale, and no request fails for it"
kill "$redis_pid"
wait "$redis_pid" 2>/dev/null || true
start_redis
for w in 1 2 3; do
  u=URL_w$w
  [ "${!u#http://}" = "$victim" ] && continue
  for _ in 1 2 3; do
    code=$(curl -s -o "$work/body" -w '%{http_code}' -H 'X-Session-Id: new' "${!u}/v1/chat/completions" -d "$hi,\"max_tokens\":2}")
    [ "$code" = 200 ] || fail "after Redis restarted, worker $w answered $code: $(head -c 300 "$work/body")"
  done
done

echo "== a Redis with a password: refused at start without it or with a wrong one; given, conversations work"
auth_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$auth_port" --save '' --appendonly no --requirepass 's3cret' >>"$work/redis.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do [ "$(redis-cli -p "$auth_port" -a s3cret --no-auth-warning ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
for bad in "redis://127.0.0.1:$auth_port" "redis://:wrong@127.0.0.1:$auth_port"; do
  rc=0
  timeout 60 "$bin" serve "${serve_model[@]}" --port 0 --state-store "$bad" >/dev/null 2>"$work/auth.log" || rc=$?
  [ "$rc" = 1 ] && grep -qi "auth\|password" "$work/auth.log" || fail "--state-store $bad: exit $rc: $(cat "$work/auth.log")"
  ! grep -q wrong "$work/auth.log" || fail "the log shows the password"
done
start authed --threads 1 --state-store "redis://:s3cret@127.0.0.1:$auth_port"
code=$(curl -s -o "$work/body" -w '%{http_code}' -H 'X-Session-Id: new' "$URL_authed/v1/chat/completions" -d "$hi,\"max_tokens\":2}")
[ "$code" = 200 ] || fail "a conversation on a Redis with a password: HTTP $code: $(head -c 300 "$work/body")"
stop "$PID_authed"

health "$M"
echo "PASS: rwkvrt serve"
