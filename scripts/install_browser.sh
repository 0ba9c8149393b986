#!/usr/bin/env bash
# Debian's Chromium for the report's browser test (tests/lipdub/report/test_report_browser.py).
# Needs root and apt (CI runs as root on Debian); elsewhere that one test skips with its reason.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends chromium >/dev/null \
  || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }
chromium --version
