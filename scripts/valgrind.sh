#!/usr/bin/env bash
# valgrind (callgrind) for the instruction-count guard (bench/instructions.sh --check, run by
# scripts/test.sh): installed when absent. Needs root (CI runs as root) or an existing install.
set -euo pipefail
if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
  exit 0
fi
exec "$(dirname "$0")/apt_install.sh" valgrind valgrind
