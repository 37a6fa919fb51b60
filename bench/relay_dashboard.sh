#!/usr/bin/env bash
# The relay with the dashboard's live overview open vs. without, in one run (issue 10: the
# request path pays nothing for the dashboard).
#
#   bench/relay_dashboard.sh [seconds-per-step]     (default 10)
#
# Builds crossbar in release mode, installs `oha` (pinned, as bench/relay.sh does), starts
# `crossbar mock-upstream` and `crossbar serve` (no [auth]: the dashboard is open on loopback;
# usage recorded to SQLite as always), then measures non-streamed Chat requests at 1k req/s and
# at saturation, alternating without and with 4 overview streams open (`/ui/overview/stream`,
# the most one session may hold; each re-renders after committed usage batches, at most every
# 2 s), four rounds (the order swapped every other round). Prints a markdown report with the with/without ratios on stdout.
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
MOCK_PORT=19911
GW_PORT=19912
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

STREAMS=()
stop_streams() { for p in "${STREAMS[@]}"; do kill "$p" 2>/dev/null || true; done; STREAMS=(); }
env -u DATABASE_URL -u REDIS_URL RUST_LOG=warn "$BIN" mock-upstream --listen "127.0.0.1:$MOCK_PORT" & MOCK_PID=$!
env -u DATABASE_URL -u REDIS_URL RUST_LOG=warn "$BIN" serve --config "$OUT/crossbar.toml" & GW_PID=$!
trap 'stop_streams; kill $MOCK_PID $GW_PID 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$GW_PORT/healthz" >/dev/null && break; sleep 0.1; done

BODY='{"model":"bench/gpt-bench","messages":[{"role":"user","content":"Reply with exactly pong"}]}'
THROUGH="http://127.0.0.1:$GW_PORT/v1/chat/completions"
load() { # body extra-args… → JSON
  local body=$1; shift
  "$OHA" --no-tui --output-format json -z "${DUR:-${SECS}s}" -m POST -H 'content-type: application/json' -d "$body" "$@" "$THROUGH"
}
DUR=2s load "$BODY" -c 8 >/dev/null

open_streams() { # n: open n overview streams, wait until each has its first event
  local i
  for i in $(seq "$1"); do
    curl -sN "http://127.0.0.1:$GW_PORT/ui/overview/stream?range=24h" > "$OUT/stream$i.txt" & STREAMS+=($!)
  done
  for i in $(seq "$1"); do
    for _ in $(seq 100); do grep -q '^event: overview' "$OUT/stream$i.txt" 2>/dev/null && break; sleep 0.1; done
    grep -q '^event: overview' "$OUT/stream$i.txt" || { echo "stream $i got no event" >&2; exit 1; }
  done
}
events() { cat "$OUT"/stream*.txt 2>/dev/null | grep -c '^event: overview' || true; }

row() { # label without.json with.json
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
label, d, t = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
def p(j, k): return j["latencyPercentiles"][k] * 1e6
def ok(j): return j["summary"]["successRate"] * 100
dp50, dp99, tp50, tp99 = p(d, "p50"), p(d, "p99"), p(t, "p50"), p(t, "p99")
drps, trps = d["summary"]["requestsPerSec"], t["summary"]["requestsPerSec"]
print(f"| {label} | {drps:,.0f} | {trps:,.0f} | {trps/drps:.3f} | {dp50:,.0f} / {dp99:,.0f} | {tp50:,.0f} / {tp99:,.0f} | {tp50/dp50:.3f} | {ok(t):.1f} % |")
PY
}

echo "| load | without req/s | with 4 streams req/s | with/without req/s | without p50 / p99 µs | with p50 / p99 µs | with/without p50 | with success |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for round in 1 2 3 4; do
  for step in "fixed:-q 1000 -c 64 --latency-correction" "saturation:-c 64"; do
    name=${step%%:*}; args=${step#*:}
    # Odd rounds measure without first, even rounds with first (the database grows meanwhile).
    # shellcheck disable=SC2086
    [ $((round % 2)) = 1 ] && load "$BODY" $args > "$OUT/off.json"
    rm -f "$OUT"/stream*.txt
    open_streams 4
    before=$(events)
    # shellcheck disable=SC2086
    load "$BODY" $args > "$OUT/on.json"
    pushed=$(( $(events) - before ))
    stop_streams
    # shellcheck disable=SC2086
    [ $((round % 2)) = 0 ] && load "$BODY" $args > "$OUT/off.json"
    label="$name (round $round; $pushed pushes)"
    [ "$name" = fixed ] && label="fixed 1000 req/s (round $round; $pushed pushes)"
    [ "$name" = saturation ] && label="saturation, 64 conns (round $round; $pushed pushes)"
    row "$label" "$OUT/off.json" "$OUT/on.json"
  done
done
