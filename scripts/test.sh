#!/usr/bin/env bash
# The whole test suite: Rust unit + integration tests, then the official-SDK conformance suite
# against a live crossbar and mock upstream. Needs only cargo and python3 (installs the pinned
# SDKs into .venv). Set CARGO_TARGET_DIR to keep builds incremental across clones.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

echo "== cargo test (workspace)"
cargo test --workspace --locked

if [ "${CROSSBAR_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz the protocol decoders briefly"
  ./scripts/fuzz.sh "${CROSSBAR_FUZZ_SECS:-20}"
fi

echo "== official SDK conformance (tests/sdk)"
cargo build --locked -p crossbar
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
CROSSBAR_BIN="$CARGO_TARGET_DIR/debug/crossbar" .venv/bin/python -m pytest -q tests/sdk

echo "== instructions per relayed request, against the recorded budget (bench/instructions.sh --check)"
# Instruction counts do not depend on machine load: a relayed, streamed or translated request
# that costs 20 % more than bench/instructions.debug.budget (the debug build just made) fails.
if command -v valgrind >/dev/null; then
  CROSSBAR_BIN="$CARGO_TARGET_DIR/debug/crossbar" ./bench/instructions.sh --check bench/instructions.debug.budget 50
elif [ "${CROSSBAR_REQUIRE_SERVICES:-0}" = 1 ]; then
  echo "valgrind is required here (scripts/valgrind.sh installs it)" >&2
  exit 1
else
  echo "(skipped: valgrind is not installed; scripts/valgrind.sh installs it)"
fi

echo "== coding agents end to end (tests/agents; pinned CLIs cached in ~/.cache/crossbar-clients)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/agents/requirements.txt
CROSSBAR_BIN="$CARGO_TARGET_DIR/debug/crossbar" .venv/bin/python -m pytest -q tests/agents

echo "== the web dashboard in a real browser (tests/ui; Playwright driving Debian's chromium)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/ui/requirements.txt
CROSSBAR_BIN="$CARGO_TARGET_DIR/debug/crossbar" .venv/bin/python -m pytest -q tests/ui
