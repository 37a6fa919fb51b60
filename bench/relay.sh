#!/usr/bin/env bash
# Relay benchmark: the mock upstream directly, through the floor (bench/floor: a bare hyper
# pass-through) and through crossbar, side by side in one run.
#
#   bench/relay.sh [seconds-per-step]     (default 5; the whole run takes about 2 minutes)
#   CROSSBAR_BIN=… FLOOR_BIN=… bench/relay.sh   measures those binaries (no build)
#
# Builds crossbar and the floor in release mode, installs the `oha` load generator (pinned,
# into ~/.cache/crossbar-tools), starts `crossbar mock-upstream`, the floor and two gateways
# (provider kind openai-chat pointing at the mock: the same-protocol byte relay): one with keys
# off, one with `[auth]` and a key with every limit set (rpm, tpm, parallel, budget) and usage
# records on SQLite. For each it measures non-streamed Chat requests at fixed rates (p50/p99
# and what each adds over direct), saturation throughput and the CPU time per request of each
# process at saturation (utime + stime from /proc/<pid>/stat over the run ÷ requests served;
# the mock's own share is reported apart), then the time to first byte of short streams opened
# at a fixed rate, stream chunk timing, idle RSS and the RSS of 1,000 concurrent idle streams.
# Prints a markdown report on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-5}"
STREAM_RATE="${STREAM_RATE:-500}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crossbar-target}"
TOOLS="${CROSSBAR_TOOLS:-$HOME/.cache/crossbar-tools}"
OHA="$TOOLS/bin/oha"
[ -x "$OHA" ] || cargo install oha --version 1.16.0 --locked --root "$TOOLS" >&2
if [ -n "${CROSSBAR_BIN:-}" ] && [ -n "${FLOOR_BIN:-}" ]; then # binaries given: no build
  BIN=$CROSSBAR_BIN FLOOR=$FLOOR_BIN
else
  cargo build --release --locked -p crossbar -p crossbar-floor >&2
  BIN="$CARGO_TARGET_DIR/release/crossbar"
  FLOOR="$CARGO_TARGET_DIR/release/crossbar-floor"
fi
ulimit -n 65536 2>/dev/null || true

OUT=$(mktemp -d)
# free ports, so another benchmark or gateway on this machine cannot answer in our place
read -r MOCK_PORT GW_PORT GWK_PORT FLOOR_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
cat > "$OUT/crossbar.toml" <<TOML
[server]
listen = "127.0.0.1:$GW_PORT"
data_dir = "$OUT/data"

[[providers]]
name = "bench"
kind = "openai-chat"
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
api_key = "bench"
TOML

sed -e "s/$GW_PORT/$GWK_PORT/; s#$OUT/data#$OUT/keys-data#; s/^\[\[providers\]\]/[auth]\n\n[[providers]]/" "$OUT/crossbar.toml" > "$OUT/keys.toml"
KEY=$(env -u DATABASE_URL -u REDIS_URL "$BIN" keys create --config "$OUT/keys.toml" --name bench \
  --rpm 1000000000 --tpm 100000000000 --max-parallel 100000 --budget-usd 1000000000 2>/dev/null)

RUST_LOG=warn "$BIN" mock-upstream --listen "127.0.0.1:$MOCK_PORT" & MOCK_PID=$!
"$FLOOR" "127.0.0.1:$FLOOR_PORT" "127.0.0.1:$MOCK_PORT" & FLOOR_PID=$!
RUST_LOG=warn env -u DATABASE_URL -u REDIS_URL "$BIN" serve --config "$OUT/crossbar.toml" & GW_PID=$!
RUST_LOG=warn env -u DATABASE_URL -u REDIS_URL "$BIN" serve --config "$OUT/keys.toml" & GWK_PID=$!
trap 'kill $MOCK_PID $FLOOR_PID $GW_PID $GWK_PID 2>/dev/null || true; rm -rf "$OUT"' EXIT
for port in $GW_PORT $GWK_PORT; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
done

rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
HZ=$(getconf CLK_TCK)
IDLE_RSS=$(rss $GW_PID)

BODY_DIRECT='{"model":"gpt-bench","messages":[{"role":"user","content":"Reply with exactly pong"}]}'
BODY_GW='{"model":"bench/gpt-bench","messages":[{"role":"user","content":"Reply with exactly pong"}]}'
AUTH="authorization: Bearer $KEY"
# name | url base | model | process whose CPU is its own | extra header
TARGETS=(
  "direct|http://127.0.0.1:$MOCK_PORT|gpt-bench|$MOCK_PID|"
  "floor|http://127.0.0.1:$FLOOR_PORT|gpt-bench|$FLOOR_PID|"
  "crossbar|http://127.0.0.1:$GW_PORT|bench/gpt-bench|$GW_PID|"
  "crossbar + keys|http://127.0.0.1:$GWK_PORT|bench/gpt-bench|$GWK_PID|$AUTH"
)

load() { # url model header extra-args… → JSON on stdout
  local url=$1 model=$2 header=$3; shift 3
  local body="{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"Reply with exactly pong\"}]}"
  local h=(-H 'content-type: application/json')
  [ -n "$header" ] && h+=(-H "$header")
  "$OHA" --no-tui --output-format json -z "${DUR:-${SECS}s}" -m POST "${h[@]}" -d "$body" "$@" "$url/v1/chat/completions"
}

i=0
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name url model pid header <<<"$t"
  DUR=2s load "$url" "$model" "$header" -c 8 >/dev/null # warm pools and allocators
  for rate in 1000 5000; do
    load "$url" "$model" "$header" -q $rate -c 64 --latency-correction > "$OUT/$i-$rate.json"
  done
  m0=$(ticks $MOCK_PID); p0=$(ticks $pid)
  load "$url" "$model" "$header" -c 64 > "$OUT/$i-sat.json"
  m1=$(ticks $MOCK_PID); p1=$(ticks $pid)
  echo "$name|$((p1 - p0))|$((m1 - m0))" > "$OUT/$i-cpu"
  i=$((i + 1))
done
PEAK_RSS=$(hwm $GW_PID)

python3 - "$OUT" "$HZ" "${#TARGETS[@]}" <<'PY'
import json, sys
out, hz, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = []
for i in range(n):
    name, own, mock = open(f"{out}/{i}-cpu").read().strip().split("|")
    j = {k: json.load(open(f"{out}/{i}-{k}.json")) for k in ("1000", "5000", "sat")}
    rows.append((name, int(own), int(mock), j))
def p(j, k): return j["latencyPercentiles"][k] * 1e6
d = rows[0][3]
print("Non-streamed Chat (64 connections). Added latency is over direct at the same rate; CPU is")
print("µs of CPU time per request served at saturation, of the relay's own process (for direct:")
print("the mock's) and of the mock behind it.")
print()
print("| through | p50 / p99 µs at 1k req/s | added p50 / p99 | p50 / p99 µs at 5k req/s | added p50 / p99 | saturation req/s | CPU µs/req own | CPU µs/req mock | success |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, own, mock, j in rows:
    reqs = j["sat"]["summary"]["requestsPerSec"] * j["sat"]["summary"]["total"]
    us = lambda ticks: ticks / hz * 1e6 / max(reqs, 1)
    cells = []
    for r in ("1000", "5000"):
        cells.append(f"{p(j[r],'p50'):,.0f} / {p(j[r],'p99'):,.0f}")
        cells.append("—" if name == "direct" else f"{p(j[r],'p50')-p(d[r],'p50'):+,.0f} / {p(j[r],'p99')-p(d[r],'p99'):+,.0f}")
    ok = min(j[k]["summary"]["successRate"] for k in j) * 100
    mock_us = "—" if name == "direct" else f"{us(mock):.1f}"
    print(f"| {name} | {' | '.join(cells)} | {j['sat']['summary']['requestsPerSec']:,.0f} | {us(own):.1f} | {mock_us} | {ok:.1f} % |")
PY

echo
echo "Short streams (Chat, 5 words, each on a new connection) opened at $STREAM_RATE/s for ${SECS} s, time to first byte:"
echo
echo "| through | streams/s reached | TTFB p50 ms | TTFB p99 ms | ok / opened | CPU µs/stream own |"
echo "|---|---:|---:|---:|---:|---:|"
for t in "${TARGETS[@]:0:3}"; do
  IFS='|' read -r name url model pid header <<<"$t"
  p0=$(ticks $pid)
  python3 bench/streams.py rate "$url" "$model" "$STREAM_RATE" "$SECS" > "$OUT/s.json"
  p1=$(ticks $pid)
  python3 - "$name" "$OUT/s.json" $((p1 - p0)) "$HZ" <<'PY'
import json, sys
name, j, ticks, hz = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4])
print(f"| {name} | {j['rate_reached']:,.0f} | {j['ttfb_ms_p50']} | {j['ttfb_ms_p99']} | {j['ok']} / {j['streams']} | {ticks / hz * 1e6 / max(j['ok'], 1):.0f} |")
PY
done

echo
echo "Slow streams (Chat, 20 chunks 50 ms apart, 5 runs), direct vs crossbar:"
echo
echo '```'
python3 bench/streams.py timing "http://127.0.0.1:$MOCK_PORT" "http://127.0.0.1:$GW_PORT" gpt-bench bench/gpt-bench
echo '```'
echo
echo "Memory: crossbar idle RSS ${IDLE_RSS} MiB; peak RSS under load ${PEAK_RSS} MiB; floor RSS $(rss $FLOOR_PID) MiB. 1,000 concurrent idle streams:"
echo
echo '```'
python3 bench/streams.py idle "http://127.0.0.1:$GW_PORT" bench/gpt-bench $GW_PID 1000
echo '```'
