#!/usr/bin/env bash
# Instructions per request: a machine-stable cost figure (instruction counts do not depend on
# machine load, unlike times). Runs the floor (bench/floor) and crossbar (release) under
# `valgrind --tool=callgrind`, sends warm-up requests, zeroes the counters
# (`callgrind_control -z`), sends N requests one after another over one keep-alive connection,
# dumps the counters (`callgrind_control -d`) and divides the process's total instructions by N.
# Startup is excluded; background work in the window (the price catalog's 2 s poll, tokio's
# workers parking and waking) is included. Usage records are batched with a 60 s flush
# interval and each scenario gets its own gateway, so no batch write falls in a window: how
# many records a timed flush catches depends on speed, and counting it made runs differ by
# 10-25 %. The write's cost is in relay.sh's CPU per request. The mock upstream and the
# client run outside valgrind. (`perf stat -e instructions` would be faster, but hardware
# counters are not exposed on the VMs this runs on.)
#
#   bench/instructions.sh [N]        (default 200; prints a markdown table)
#   INSTR_OUT=file bench/instructions.sh   also writes `scenario instructions` lines to file
#   CROSSBAR_BIN=… FLOOR_BIN=… bench/instructions.sh   measures those binaries (no build)
#   CALLGRIND_KEEP=dir bench/instructions.sh   keeps each scenario's callgrind dump there
#                                              (for `callgrind_annotate --inclusive=yes`)
#   CROSSBAR_BIN=… bench/instructions.sh --check BUDGET [N]
#       the regression guard (CI): measures only the scenarios BUDGET names (lines
#       `scenario instructions`, recorded with the same kind of build) and fails when one costs
#       more than 20 % over its figure. CI runs it on the debug build its tests already made
#       (bench/instructions.debug.budget); a release budget would need a release build.
#
# Scenarios (crossbar with `[auth]`, a key with every limit set, usage records on SQLite,
# unless "keys off"): a relayed non-streamed Chat request, the same with keys off, a relayed
# Chat stream (crossbar asks for usage and strips it again), and a translated request (OpenAI
# Chat client → Anthropic upstream).
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=""
if [ "${1:-}" = "--check" ]; then
  BUDGET=$(realpath "$2")
  shift 2
fi
N="${1:-200}"
WARM=30
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crossbar-target}"
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 2; }
if [ -n "$BUDGET" ]; then # the guard: crossbar only, no floor
  [ -n "${CROSSBAR_BIN:-}" ] || { echo "instructions.sh --check: set CROSSBAR_BIN" >&2; exit 2; }
  BIN=$CROSSBAR_BIN FLOOR=""
elif [ -n "${CROSSBAR_BIN:-}" ] && [ -n "${FLOOR_BIN:-}" ]; then # binaries given: compare builds
  BIN=$CROSSBAR_BIN FLOOR=$FLOOR_BIN
else
  cargo build --release --locked -p crossbar -p crossbar-floor >&2
  BIN="$CARGO_TARGET_DIR/release/crossbar"
  FLOOR="$CARGO_TARGET_DIR/release/crossbar-floor"
fi

unset DATABASE_URL REDIS_URL # embedded SQLite, no shared limits
OUT=$(mktemp -d)
# free ports, so another benchmark or gateway on this machine cannot answer in our place
read -r MOCK_PORT GW_PORT FLOOR_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$OUT"' EXIT

cat > "$OUT/keys-off.toml" <<TOML
[server]
listen = "127.0.0.1:$GW_PORT"
data_dir = "$OUT/data-off"

[storage]
usage_flush_ms = 60000

[[providers]]
name = "bench"
kind = "openai-chat"
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
api_key = "bench"

[[providers]]
name = "anth"
kind = "anthropic"
base_url = "http://127.0.0.1:$MOCK_PORT"
api_key = "bench"
TOML
sed -e "s#$OUT/data-off#$OUT/data-on#" -e "0,/^\[\[providers\]\]/s//[auth]\n\n[[providers]]/" \
  "$OUT/keys-off.toml" > "$OUT/keys-on.toml"
KEY=$("$BIN" keys create --config "$OUT/keys-on.toml" --name bench \
  --rpm 1000000000 --tpm 100000000000 --max-parallel 100000 --budget-usd 1000000000 2>/dev/null)

RUST_LOG=warn "$BIN" mock-upstream --listen "127.0.0.1:$MOCK_PORT" & PIDS+=($!)

# client PORT MODEL STREAM COUNT [KEY]: COUNT sequential requests over one connection
client() {
  python3 - "$@" <<'PY'
import http.client, json, sys
port, model, stream, count = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
key = sys.argv[5] if len(sys.argv) > 5 else ""
body = {"model": model, "messages": [{"role": "user", "content": "Reply with exactly pong"}]}
if stream:
    body["stream"] = True
body = json.dumps(body).encode()
headers = {"content-type": "application/json"}
if key:
    headers["authorization"] = f"Bearer {key}"
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(count):
    conn.request("POST", "/v1/chat/completions", body, headers)
    r = conn.getresponse()
    data = r.read()
    if r.status != 200 or (stream and b"[DONE]" not in data):
        sys.exit(f"request failed: {r.status} {data[:200]!r}")
PY
}

wait_up() { # port
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "instructions.sh: nothing listens on $1" >&2
  exit 1
}

# measure PID NAME PORT MODEL STREAM [KEY] → "NAME instructions-per-request"
measure() {
  local pid=$1 name=$2; shift 2
  client "$1" "$2" "$3" "$WARM" "${4:-}"
  callgrind_control -z "$pid" >/dev/null
  client "$1" "$2" "$3" "$N" "${4:-}"
  callgrind_control -d "$pid" >/dev/null
  local dump
  dump=$(ls -t "$OUT"/cg.out.* | head -1)
  awk -v n="$N" -v name="$name" '/^(summary|totals):/ {t = $2} END {printf "%s %.0f\n", name, t / n}' "$dump"
  [ -n "${CALLGRIND_KEEP:-}" ] && mkdir -p "$CALLGRIND_KEEP" && cp "$dump" "$CALLGRIND_KEEP/$name.callgrind"
  rm -f "$OUT"/cg.out.*
}

under_callgrind() { # command… (backgrounded; PID in $VG_PID)
  valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out.%p" "$@" >/dev/null 2>"$OUT/valgrind.log" &
  VG_PID=$!
  PIDS+=($VG_PID)
}

wanted() { # scenario name: measured in this run?
  [ -z "$BUDGET" ] || awk -v n="$1" '$1 == n {found = 1} END {exit !found}' "$BUDGET"
}

RESULTS="$OUT/results"
if [ -n "$FLOOR" ]; then
  under_callgrind "$FLOOR" "127.0.0.1:$FLOOR_PORT" "127.0.0.1:$MOCK_PORT"
  wait_up $FLOOR_PORT
  measure $VG_PID floor $FLOOR_PORT gpt-bench 0 >> "$RESULTS"
  kill $VG_PID; wait $VG_PID 2>/dev/null || true
fi

export RUST_LOG=warn
if wanted relayed-keys-off; then
  under_callgrind "$BIN" serve --config "$OUT/keys-off.toml"
  wait_up $GW_PORT
  measure $VG_PID relayed-keys-off $GW_PORT bench/gpt-bench 0 >> "$RESULTS"
  kill $VG_PID; wait $VG_PID 2>/dev/null || true
fi

# one gateway per scenario, so the one usage flush (60 s after its first record) falls outside
# every window
for scenario in "relayed bench/gpt-bench 0" "relayed-stream bench/gpt-bench 1" "translated anth/claude-bench 0"; do
  read -r name model stream <<<"$scenario"
  wanted "$name" || continue
  under_callgrind "$BIN" serve --config "$OUT/keys-on.toml"
  wait_up $GW_PORT
  measure $VG_PID "$name" $GW_PORT "$model" "$stream" "$KEY" >> "$RESULTS"
  kill $VG_PID; wait $VG_PID 2>/dev/null || true
done

[ -n "${INSTR_OUT:-}" ] && cp "$RESULTS" "$INSTR_OUT"
if [ -n "$BUDGET" ]; then
  python3 - "$BUDGET" "$RESULTS" <<'PY'
import sys
budget = {n: int(v) for n, v in (l.split()[:2] for l in open(sys.argv[1]) if l.strip() and not l.startswith("#"))}
over = []
for name, n in (l.split() for l in open(sys.argv[2])):
    limit = budget[name] * 1.2
    verdict = "ok" if int(n) <= limit else "OVER"
    print(f"instructions: {name}: {int(n):,} per request (recorded {budget[name]:,}; limit {limit:,.0f}) {verdict}")
    if verdict != "ok":
        over.append(name)
if over:
    sys.exit(f"instructions: {', '.join(over)} cost more than 20 % over the recorded figure "
             "(bench/instructions.sh; re-record the budget only for a cost the change means to add)")
PY
  exit $?
fi
echo "Instructions per request ($N sequential requests after $WARM warm-up; callgrind):"
echo
echo "| scenario | instructions / request | × floor |"
echo "|---|---:|---:|"
python3 - "$RESULTS" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1])]
floor = int(rows[0][1])
for name, n in rows:
    print(f"| {name} | {int(n):,} | {int(n) / floor:.2f} |")
PY
