#!/usr/bin/env bash
# Runs each protocol decoder's fuzz target briefly (default 20 s each) with cargo-fuzz.
# cargo-fuzz is installed (pinned) into ~/.cache/crossbar-tools when missing. It needs
# nightly-only compiler flags; RUSTC_BOOTSTRAP=1 lets the machine's stable toolchain accept them.
#   scripts/fuzz.sh [seconds-per-target]
set -euo pipefail
cd "$(dirname "$0")/../crates/protocol"
SECS="${1:-20}"
TOOLS="${CROSSBAR_TOOLS:-$HOME/.cache/crossbar-tools}"
[ -x "$TOOLS/bin/cargo-fuzz" ] || cargo install cargo-fuzz --version 0.13.2 --locked --root "$TOOLS"
export PATH="$TOOLS/bin:$PATH" RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crossbar-target}/fuzz"
for proto in openai_chat openai_responses anthropic gemini; do
  corpus=$(mktemp -d)
  echo "== fuzz decode_$proto for ${SECS}s"
  log="$corpus.log"
  if ! cargo fuzz run --fuzz-dir fuzz "decode_$proto" "$corpus" "fixtures/$proto" -- \
      -max_total_time="$SECS" -rss_limit_mb=2048 -print_final_stats=1 > "$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz target decode_$proto failed (the crashing input is in crates/protocol/fuzz/artifacts)"
    exit 1
  fi
  grep -E "stat::number_of_executed_units" "$log" || true
  rm -rf "$corpus" "$log"
done
echo "fuzzing done: every target ran clean"
