#!/usr/bin/env bash
# Installs Debian packages for the test suite's tools (chromium.sh, valgrind.sh):
#   scripts/apt_install.sh WHAT PACKAGE...    (WHAT names the tool in the error message)
# Needs root (CI runs as root).
set -euo pipefail
what=$1
shift
if [ "$(id -u)" != 0 ]; then
  echo "$what is missing and this is not root: install Debian's $* package(s)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
