#!/usr/bin/env bash
# valgrind (callgrind) for the instruction-count guard (bench/instructions.sh --check, run by
# scripts/test.sh): installed when absent. Needs root (CI runs as root) or an existing install.
set -euo pipefail
if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "valgrind is missing and this is not root: install Debian's valgrind package" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends valgrind >/dev/null
