#!/usr/bin/env bash
# Debian's chromium for the dashboard's browser suite (tests/ui drives it through Playwright at
# /usr/bin/chromium): installed when absent. Needs root (CI runs as root) or an existing install.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "chromium is missing and this is not root: install Debian's chromium package" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
