#!/usr/bin/env bash
# The Airflow CLI against the running demo, from any shell:
#
#   scripts/airflow.sh dags list-import-errors
#   scripts/airflow.sh backfill create --dag-id erp_orders --from-date ... --to-date ...
#   make airflow ARGS="dags list"          (the same, through make)
#
# `make demo` (scripts/demo.sh) passes its whole Airflow configuration (metadata database,
# connections, flows folder, ...) as environment variables, so a bare `airflow` in another
# shell would not find the demo: it would create ~/airflow with an empty SQLite database. The
# demo writes that configuration, with the values it actually uses (ports and other overrides
# included), to .syncgate/demo.env while it runs; this script loads it and runs the venv's
# `airflow` with the arguments as given. Without a running demo it stops and says so.
#
# Environment: SYNCGATE_DEMO_STATE_DIR (the demo's state folder, default .syncgate).
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${SYNCGATE_DEMO_STATE_DIR:-$ROOT/.syncgate}
ENV_FILE=$STATE/demo.env
AIRFLOW=$ROOT/.venv/bin/airflow

die() { printf 'scripts/airflow.sh: %s\n' "$*" >&2; exit 1; }

[[ -f $ENV_FILE ]] ||
  die "the demo is not running (no ${ENV_FILE#"$ROOT"/}): start it with 'make demo' in another shell, then run this again"
[[ -x $AIRFLOW ]] || die "$AIRFLOW not found: run 'make demo' (it creates .venv)"

# shellcheck source=/dev/null
source "$ENV_FILE"

# A demo that was killed (not stopped) leaves its file behind: its PostgreSQL, which holds the
# Airflow metadata database, tells whether anything still runs.
db_url=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}
[[ $db_url =~ @([^:/@]+):([0-9]+)/ ]] ||
  die "${ENV_FILE#"$ROOT"/} names no PostgreSQL metadata database: restart the demo ('make stop', then 'make demo')"
db_host=${BASH_REMATCH[1]} db_port=${BASH_REMATCH[2]}
if ! (exec 3<>"/dev/tcp/$db_host/$db_port") 2>/dev/null; then
  die "the demo is not running (its PostgreSQL on $db_host:$db_port does not answer): start it with 'make demo'"
fi
# The CLI reads and writes the metadata database directly; runs it creates are started by the
# scheduler, which runs only while the demo's Airflow is up.
api=${AIRFLOW__API__HOST:-127.0.0.1}
[[ $api != 0.0.0.0 ]] || api=127.0.0.1
if ! (exec 3<>"/dev/tcp/$api/${AIRFLOW__API__PORT:-8080}") 2>/dev/null; then
  printf 'scripts/airflow.sh: warning: the demo'"'"'s Airflow is not answering on %s:%s (starting or stopped):' \
    "$api" "${AIRFLOW__API__PORT:-8080}" >&2
  printf ' runs created now start once it is up\n' >&2
fi

# Components started by the CLI itself (e.g. `dags test`) find the venv's tools first, as in the demo.
export PATH=$ROOT/.venv/bin:$PATH
exec "$AIRFLOW" "$@"
