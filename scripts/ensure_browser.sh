#!/usr/bin/env bash
# The UI tests drive Debian's headless Chromium through its chromedriver.
# Installs both with apt-get when run as root and missing; otherwise says how.
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if (( EUID != 0 )) || ! command -v apt-get >/dev/null; then
  echo "ensure_browser: the UI tests need chromium and chromedriver; install them with:" >&2
  echo "  sudo apt-get install -y chromium chromium-driver" >&2
  exit 1
fi
echo "ensure_browser: installing chromium and chromium-driver (apt-get)..." >&2
log=$(mktemp)
if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; } \
    </dev/null >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "ensure_browser: apt-get failed (log: $log)" >&2
  exit 1
fi
rm -f "$log"
