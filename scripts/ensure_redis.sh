#!/usr/bin/env bash
# The distributed test (tests/integration/test_distributed_celery.py) runs Airflow's
# CeleryExecutor on a real Redis broker: Debian's redis-server, which the test starts itself on a
# free loopback port without persistence. Installs it with apt-get when run as root and missing;
# otherwise says how.
set -euo pipefail

if command -v redis-server >/dev/null; then
  exit 0
fi
if (( EUID != 0 )) || ! command -v apt-get >/dev/null; then
  echo "ensure_redis: the distributed test needs redis-server; install it with:" >&2
  echo "  sudo apt-get install -y redis-server" >&2
  exit 1
fi
echo "ensure_redis: installing redis-server (apt-get)..." >&2
log=$(mktemp)
if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server; } \
    </dev/null >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "ensure_redis: apt-get failed (log: $log)" >&2
  exit 1
fi
rm -f "$log"
