#!/usr/bin/env bash
# Relay benchmark: the mock upstream directly vs. through crossbar, in one run, as ratios.
#
#   bench/relay.sh [seconds-per-step]     (default 10)
#
# Builds crossbar in release mode, installs the `oha` load generator (pinned, into
# ~/.cache/crossbar-tools), starts `crossbar mock-upstream` and `crossbar serve` (provider kind
# openai-chat pointing at the mock: the same-protocol byte relay), and measures non-streamed
# Chat requests at fixed rates (1k and 5k req/s) and at saturation, stream timing, idle RSS and
# the RSS of 1,000 concurrent idle streams. A second gateway with `[auth]` and a key with every
# limit set (rpm, tpm, parallel, budget) measures the key + limit + usage overhead against the
# first (keys off) in the same run. Prints a markdown report on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crossbar-target}"
TOOLS="${CROSSBAR_TOOLS:-$HOME/.cache/crossbar-tools}"
OHA="$TOOLS/bin/oha"
[ -x "$OHA" ] || cargo install oha --version 1.16.0 --locked --root "$TOOLS" >&2
cargo build --release --locked -p crossbar >&2
BIN="$CARGO_TARGET_DIR/release/crossbar"
ulimit -n 65536 2>/dev/null || true

OUT=$(mktemp -d)
MOCK_PORT=19901
GW_PORT=19902
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

GWK_PORT=19903
sed -e "s/$GW_PORT/$GWK_PORT/; s#$OUT/data#$OUT/keys-data#; s/^\[\[providers\]\]/[auth]\n\n[[providers]]/" "$OUT/crossbar.toml" > "$OUT/keys.toml"
KEY=$(env -u DATABASE_URL -u REDIS_URL "$BIN" keys create --config "$OUT/keys.toml" --name bench \
  --rpm 1000000000 --tpm 100000000000 --max-parallel 100000 --budget-usd 1000000000 2>/dev/null)

RUST_LOG=warn "$BIN" mock-upstream --listen "127.0.0.1:$MOCK_PORT" & MOCK_PID=$!
RUST_LOG=warn "$BIN" serve --config "$OUT/crossbar.toml" & GW_PID=$!
RUST_LOG=warn "$BIN" serve --config "$OUT/keys.toml" & GWK_PID=$!
trap 'kill $MOCK_PID $GW_PID $GWK_PID 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$GW_PORT/healthz" >/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$GWK_PORT/healthz" >/dev/null && break; sleep 0.1; done

rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
IDLE_RSS=$(rss $GW_PID)

BODY_DIRECT='{"model":"gpt-bench","messages":[{"role":"user","content":"Reply with exactly pong"}]}'
BODY_GW='{"model":"bench/gpt-bench","messages":[{"role":"user","content":"Reply with exactly pong"}]}'
DIRECT="http://127.0.0.1:$MOCK_PORT/v1/chat/completions"
THROUGH="http://127.0.0.1:$GW_PORT/v1/chat/completions"

load() { # url body extra-args… → JSON
  local url=$1 body=$2; shift 2
  "$OHA" --no-tui --output-format json -z "${DUR:-${SECS}s}" -m POST -H 'content-type: application/json' -d "$body" "$@" "$url"
}

# warm both paths (connection pools, allocator)
DUR=2s load "$DIRECT" "$BODY_DIRECT" -c 8 >/dev/null
DUR=2s load "$THROUGH" "$BODY_GW" -c 8 >/dev/null

row() { # label direct.json through.json
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
label, d, t = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
def p(j, k): return j["latencyPercentiles"][k] * 1e6
def ok(j): return j["summary"]["successRate"] * 100
dp50, dp99, tp50, tp99 = p(d, "p50"), p(d, "p99"), p(t, "p50"), p(t, "p99")
drps, trps = d["summary"]["requestsPerSec"], t["summary"]["requestsPerSec"]
print(f"| {label} | {drps:,.0f} | {trps:,.0f} | {trps/drps:.2f} | {dp50:,.0f} / {dp99:,.0f} | {tp50:,.0f} / {tp99:,.0f} | {tp50-dp50:+,.0f} / {tp99-dp99:+,.0f} | {ok(t):.1f} % |")
PY
}

echo "| load | direct req/s | through req/s | through/direct | direct p50 / p99 µs | through p50 / p99 µs | added p50 / p99 µs | through success |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for rate in 1000 5000; do
  load "$DIRECT" "$BODY_DIRECT" -q $rate -c 64 --latency-correction > "$OUT/d.json"
  load "$THROUGH" "$BODY_GW" -q $rate -c 64 --latency-correction > "$OUT/t.json"
  row "fixed $rate req/s" "$OUT/d.json" "$OUT/t.json"
done
load "$DIRECT" "$BODY_DIRECT" -c 64 > "$OUT/d.json"
load "$THROUGH" "$BODY_GW" -c 64 > "$OUT/t.json"
row "saturation (64 conns)" "$OUT/d.json" "$OUT/t.json"
PEAK_RSS=$(hwm $GW_PID)

echo
echo "Keys on (key check + rpm/tpm/parallel/budget + usage record) vs keys off, both through crossbar on SQLite:"
echo
echo "| load | keys off req/s | keys on req/s | on/off | off p50 / p99 µs | on p50 / p99 µs | added p50 / p99 µs | keys-on success |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
KEYED="http://127.0.0.1:$GWK_PORT/v1/chat/completions"
DUR=2s load "$KEYED" "$BODY_GW" -c 8 -H "authorization: Bearer $KEY" >/dev/null
for rate in 1000 5000; do
  load "$THROUGH" "$BODY_GW" -q $rate -c 64 --latency-correction > "$OUT/d.json"
  load "$KEYED" "$BODY_GW" -q $rate -c 64 --latency-correction -H "authorization: Bearer $KEY" > "$OUT/t.json"
  row "fixed $rate req/s" "$OUT/d.json" "$OUT/t.json"
done
load "$THROUGH" "$BODY_GW" -c 64 > "$OUT/d.json"
load "$KEYED" "$BODY_GW" -c 64 -H "authorization: Bearer $KEY" > "$OUT/t.json"
row "saturation (64 conns)" "$OUT/d.json" "$OUT/t.json"

echo
echo "Streams (Chat, 20 chunks 50 ms apart, 5 runs):"
echo
echo '```'
python3 bench/streams.py timing "http://127.0.0.1:$MOCK_PORT" "http://127.0.0.1:$GW_PORT" gpt-bench bench/gpt-bench
echo '```'
echo
echo "Memory: idle RSS ${IDLE_RSS} MiB; peak RSS under load ${PEAK_RSS} MiB. 1,000 concurrent idle streams:"
echo
echo '```'
python3 bench/streams.py idle "http://127.0.0.1:$GW_PORT" bench/gpt-bench $GW_PID 1000
echo '```'
