#!/usr/bin/env bash
# psql against the running demo's databases, from any shell:
#
#   scripts/psql.sh erp -f include/demo/erp_activity.sql
#   scripts/psql.sh warehouse -c "select flow_id, status from syncgate.sync_runs"
#
# The first argument names the database (erp or warehouse: the demo's connections erp_db and
# warehouse_db); the rest go to psql as given. Like scripts/airflow.sh it reads the demo's
# configuration from .syncgate/demo.env (its actual ports included) and stops, saying so, when
# no demo runs. Environment: SYNCGATE_DEMO_STATE_DIR (the demo's state folder, default .syncgate).
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${SYNCGATE_DEMO_STATE_DIR:-$ROOT/.syncgate}
ENV_FILE=$STATE/demo.env

die() { printf 'scripts/psql.sh: %s\n' "$*" >&2; exit 1; }

(( $# )) || die "usage: scripts/psql.sh erp|warehouse [psql arguments]"
[[ -f $ENV_FILE ]] ||
  die "the demo is not running (no ${ENV_FILE#"$ROOT"/}): start it with 'make demo' in another shell, then run this again"
# shellcheck source=/dev/null
source "$ENV_FILE"

case $1 in
  erp) url=${AIRFLOW_CONN_ERP_DB:-} ;;
  warehouse) url=${AIRFLOW_CONN_WAREHOUSE_DB:-} ;;
  *) die "unknown database '$1': the demo's are erp and warehouse" ;;
esac
[[ -n $url ]] || die "${ENV_FILE#"$ROOT"/} has no connection for $1: restart the demo ('make stop', then 'make demo')"
shift

# The same lookup as scripts/pg_cluster.sh: PATH, then the newest /usr/lib/postgresql.
psql=$(command -v psql || true)
if [[ -z $psql ]]; then
  while IFS= read -r dir; do
    [[ -x $dir/psql ]] && { psql=$dir/psql; break; }
  done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV)
fi
[[ -n $psql ]] || die "psql not found (install postgresql-client)"
PGOPTIONS='-c client_min_messages=warning' exec "$psql" -X -v ON_ERROR_STOP=1 -d "$url" "$@"
