#!/usr/bin/env bash
# Debian's chromium for the dashboard's browser suite (tests/ui drives it through Playwright at
# /usr/bin/chromium): installed when absent. Needs root (CI runs as root) or an existing install.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
exec "$(dirname "$0")/apt_install.sh" chromium chromium fonts-dejavu-core
