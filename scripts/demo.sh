#!/usr/bin/env bash
# syncgate demo: embedded PostgreSQL (erp + warehouse + Airflow metadata),
# seeded ERP, the demo CRM HTTP service, `airflow standalone` (UI + scheduler +
# dag-processor + triggerer) and one run of every flow. Stays in the foreground
# until Ctrl-C.
#
#   scripts/demo.sh          start (make demo)
#   scripts/demo.sh stop     stop a demo started from another shell (make stop)
#
# Environment: SYNCGATE_DEMO_PG_PORT (54329), SYNCGATE_DEMO_UI_PORT (8080),
# SYNCGATE_DEMO_CRM_PORT (8765), SYNCGATE_CRM_TOKEN (the CRM's bearer token),
# SYNCGATE_DEMO_UI_HOST (127.0.0.1; 0.0.0.0 exposes the UI to the network),
# SYNCGATE_DEMO_FLOW_TIMEOUT (seconds to wait for the flow runs, 1800),
# SYNCGATE_DEMO_EXIT=1 (stop after the first runs; exit 0 iff all succeeded),
# SYNCGATE_FLOWS_DIR (flow specs to run, default dags/flows), SYNCGATE_DEMO_STATE_DIR (where the
# demo keeps its clusters, logs and reports, default .syncgate).
#
# While it runs, the demo's Airflow configuration is in .syncgate/demo.env: scripts/airflow.sh
# (make airflow ARGS="...") runs the Airflow CLI against this demo from any shell.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${SYNCGATE_DEMO_STATE_DIR:-$ROOT/.syncgate}
# Everything the Airflow components get from this script, for scripts/airflow.sh (0600: it holds
# the demo's secrets); present only while the demo runs.
ENV_FILE=$STATE/demo.env
PG_DATA=$STATE/pg
PID_FILE=$STATE/demo.pid
CRM_PID_FILE=$STATE/crm.pid
CRM_LOG=$STATE/crm.log
CRM_PORT=${SYNCGATE_DEMO_CRM_PORT:-8765}
CRM_URL=http://127.0.0.1:$CRM_PORT
# Demo-only token; the service reads it from the environment (never from argv, which ps shows).
export SYNCGATE_CRM_TOKEN=${SYNCGATE_CRM_TOKEN:-demo-crm-token}
# Demo-only Standard Webhooks secret the CRM signs its change notifications with (the
# crm_webhook connection's password): real deployments generate one per sender.
export SYNCGATE_CRM_WEBHOOK_SECRET=${SYNCGATE_CRM_WEBHOOK_SECRET:-whsec_ZGVtby1vbmx5LWNybS13ZWJob29rLWtleS0zMmJ5dGU=}
PG_PORT=${SYNCGATE_DEMO_PG_PORT:-54329}
UI_PORT=${SYNCGATE_DEMO_UI_PORT:-8080}
UI_HOST=${SYNCGATE_DEMO_UI_HOST:-127.0.0.1}
FLOW_TIMEOUT=${SYNCGATE_DEMO_FLOW_TIMEOUT:-1800}
EXIT_AFTER_RUNS=${SYNCGATE_DEMO_EXIT:-0}
VENV_BIN=$ROOT/.venv/bin
PG_CLUSTER=(bash "$ROOT/scripts/pg_cluster.sh")
PG_BASE_URL=postgresql://syncgate@127.0.0.1:$PG_PORT
UI_ADDR=$UI_HOST
[[ $UI_HOST != 0.0.0.0 ]] || UI_ADDR=127.0.0.1
UI_URL=http://$UI_ADDR:$UI_PORT

export AIRFLOW_HOME=$STATE/airflow
STANDALONE_LOG=$AIRFLOW_HOME/standalone.log
PASSWORD_FILE=$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
warn() { printf '\033[1;33mdemo:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mdemo:\033[0m %s\n' "$*" >&2; exit 1; }

# Airflow processes of this demo: members of the standalone's session (task
# runners move to their own process group but keep the session) that are
# airflow commands (components retitle themselves, which also wipes
# /proc/PID/environ, so the command line is what identifies them).
demo_pids() {
  local sid=$1 f line pid cmd
  local -a rest
  for f in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$f" || continue
    # comm (field 2) may hold spaces/parens: fields after the last ')' are fixed.
    read -r -a rest <<<"${line##*) }"
    [[ ${rest[3]:-} == "$sid" ]] || continue
    pid=${f#/proc/}
    pid=${pid%/stat}
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
    [[ $cmd == *airflow* ]] && echo "$pid"
  done
  return 0
}

# The PGID (= session id, thanks to setsid) from the pid file; nothing if the
# file predates the last boot (that id may belong to someone else by now).
recorded_sid() {
  local sid btime
  [[ -f $PID_FILE ]] || return 0
  sid=$(<"$PID_FILE")
  btime=$(awk '$1 == "btime" { print $2 }' /proc/stat)
  if [[ $sid =~ ^[0-9]+$ ]] && (( $(stat -c %Y -- "$PID_FILE") >= btime )); then
    echo "$sid"
  fi
}

# Every process gets SIGTERM (the standalone parent dies on it without
# passing it on), then SIGKILL for whatever outlives ~20 s. The parent goes
# last: until its components are gone it copies their shutdown output to the
# log. Re-scanning also catches processes spawned while shutting down.
stop_airflow() {
  local sid i p
  local -a pids=()
  local -A sent=()
  sid=$(recorded_sid)
  [[ -z $sid ]] || mapfile -t pids < <(demo_pids "$sid")
  if (( ${#pids[@]} )); then
    say "stopping Airflow (${#pids[@]} processes)..."
    for (( i = 0; i < 40; i++ )); do
      for p in "${pids[@]}"; do
        [[ -z ${sent[$p]:-} ]] || continue
        [[ $p != "$sid" ]] || (( ${#pids[@]} == 1 || i >= 30 )) || continue
        kill -TERM "$p" 2>/dev/null || true
        sent[$p]=1
      done
      sleep 0.5
      mapfile -t pids < <(demo_pids "$sid")
      (( ${#pids[@]} )) || break
    done
    if (( ${#pids[@]} )); then
      warn "still running after 20 s, sending SIGKILL to: ${pids[*]}"
      kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
  fi
  rm -f -- "$PID_FILE"
}

# The CRM runs in its own session; its pid file is trusted only while that pid
# is still a demo.crm process (pids get reused).
stop_crm() {
  local pid
  [[ -f $CRM_PID_FILE ]] || return 0
  pid=$(<"$CRM_PID_FILE")
  if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q 'demo\.crm'; then
    say "stopping the demo CRM..."
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 20; i++ )); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f -- "$CRM_PID_FILE"
}

stop_pg() {
  # Nothing to stop before the first demo (and no postgres OS user yet).
  [[ -e $PG_DATA || -L $PG_DATA ]] || return 0
  say "stopping PostgreSQL..."
  "${PG_CLUSTER[@]}" stop "$PG_DATA"
}

if [[ ${1:-} == stop ]]; then
  stop_airflow
  stop_crm
  stop_pg
  rm -f -- "$ENV_FILE"
  say "stopped."
  exit 0
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [stop]" >&2
  exit 2
fi

# --- preflight --------------------------------------------------------------
[[ -x $VENV_BIN/airflow ]] || die "$VENV_BIN/airflow not found: run 'make demo' (it creates .venv)"
mkdir -p -- "$STATE" "$AIRFLOW_HOME"
running_sid=$(recorded_sid)
if [[ -n $running_sid && -n $(demo_pids "$running_sid") ]]; then
  die "a demo is already running (PGID $running_sid); stop it with 'make stop'"
fi
# Something else answering on the UI port would fool the readiness check.
if (exec 3<>"/dev/tcp/$UI_ADDR/$UI_PORT") 2>/dev/null; then
  die "port $UI_PORT is already in use; set SYNCGATE_DEMO_UI_PORT to a free port"
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$CRM_PORT") 2>/dev/null; then
  die "port $CRM_PORT is already in use; set SYNCGATE_DEMO_CRM_PORT to a free port"
fi

# From here on, any exit (error, Ctrl-C, kill) tears down what was started.
on_exit() {
  local rc=$?
  trap - EXIT
  # A second Ctrl-C must not abandon a half-stopped demo.
  trap 'warn "still stopping, please wait..."' INT TERM
  echo
  rm -f -- "$ENV_FILE"
  stop_airflow || rc=1
  stop_crm || rc=1
  if (( PG_STARTED )); then stop_pg || rc=1; fi
  say "stopped."
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
PG_STARTED=0
T0=$SECONDS

# --- PostgreSQL: erp (source), warehouse (target), airflow (metadata) ------
"${PG_CLUSTER[@]}" ensure-installed
PG_STARTED=1
"${PG_CLUSTER[@]}" start "$PG_DATA" "$PG_PORT" >/dev/null

# Same lookup order as pg_cluster.sh: PG_BINDIR, PATH, newest /usr/lib/postgresql.
find_psql() {
  local d
  if [[ -n ${PG_BINDIR:-} && -x $PG_BINDIR/psql ]]; then echo "$PG_BINDIR/psql"; return 0; fi
  command -v psql && return 0
  while IFS= read -r d; do
    [[ -x $d/psql ]] && { echo "$d/psql"; return 0; }
  done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV)
  return 1
}
PSQL=$(find_psql) || die "psql not found (install postgresql-client)"
# As shown to the user: plain `psql` when that is the one on PATH.
PSQL_CMD=$PSQL
[[ $(command -v psql || true) != "$PSQL" ]] || PSQL_CMD=psql
psql_db() { PGOPTIONS='-c client_min_messages=warning' "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$PG_BASE_URL/$1" "${@:2}"; }

# Log-based capture needs wal_level=logical, which pg_cluster.sh writes on start: a cluster
# still running from before that setting existed is restarted once to pick it up.
if [[ $(psql_db postgres -tAc "show wal_level") != logical ]]; then
  say "restarting PostgreSQL for wal_level=logical (log-based capture)..."
  "${PG_CLUSTER[@]}" stop "$PG_DATA"
  "${PG_CLUSTER[@]}" start "$PG_DATA" "$PG_PORT" >/dev/null
fi

for db in erp warehouse airflow; do
  if [[ -z $(psql_db postgres -tAc "select 1 from pg_database where datname = '$db'") ]]; then
    psql_db postgres -c "create database $db"
  fi
done
# The schema script is idempotent; the seed truncates, so it only runs on an
# empty ERP: re-running the demo keeps the activity simulated so far.
psql_db erp -f "$ROOT/include/demo/erp_schema.sql"
if [[ $(psql_db erp -tAc "select exists (select from public.customers) or exists (select from public.products)
                          or exists (select from public.orders) or exists (select from public.order_lines)") == f ]]; then
  say "seeding the ERP database (20k customers, 100k orders)..."
  psql_db erp -f "$ROOT/include/demo/erp_seed.sql" >/dev/null
fi
say "PostgreSQL ready on 127.0.0.1:$PG_PORT ($((SECONDS - T0)) s)"

# --- the demo CRM (an HTTP API with token auth, paging, idempotent writes) ---
say "starting the demo CRM on $CRM_URL (log: ${CRM_LOG#"$ROOT"/})..."
# After each burst of writes the CRM notifies the crm_customers flow (signed, retried).
SYNCGATE_CRM_WEBHOOK_URL=$UI_URL/syncgate/webhooks/crm_customers \
  PYTHONPATH=$ROOT/include setsid "$VENV_BIN/python" -m demo.crm --host 127.0.0.1 --port "$CRM_PORT" \
  --customers 20000 --contacts 40000 --seed 7 --log-level warning --webhook-resource customers \
  </dev/null >>"$CRM_LOG" 2>&1 &
echo "$!" >"$CRM_PID_FILE"
for (( i = 0; ; i++ )); do
  kill -0 "$(<"$CRM_PID_FILE")" 2>/dev/null || { tail -n 20 -- "$CRM_LOG" >&2; die "the demo CRM exited during startup"; }
  (exec 3<>"/dev/tcp/127.0.0.1/$CRM_PORT") 2>/dev/null && break
  (( i < 120 )) || die "the demo CRM did not listen on $CRM_URL within 60 s (log: $CRM_LOG)"
  sleep 0.5
done
say "demo CRM ready ($((SECONDS - T0)) s)"
# Partners on both sides for the two-way flow erp_crm_customers_two_way (the CRM starts empty of them).
PYTHONPATH=$ROOT/include SYNCGATE_DEMO_PG_PORT=$PG_PORT SYNCGATE_DEMO_CRM_PORT=$CRM_PORT \
  "$VENV_BIN/python" -m demo.two_way seed | sed 's/^/demo: partners: /' || warn "could not create the demo partners"

# --- Airflow ----------------------------------------------------------------
# standalone starts its components as plain `airflow`, so the venv goes first.
export PATH=$VENV_BIN:$PATH
export PYTHONPATH=$ROOT/include${PYTHONPATH:+:$PYTHONPATH}
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$ROOT/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# A LocalExecutor whose task processes fork with GX, pyarrow and psycopg already imported
# (3.4-4.3 s of a small run's fixed cost otherwise: BENCHMARKS.md, "Run fixed cost").
export AIRFLOW__CORE__EXECUTOR=syncgate.executor.PrewarmedLocalExecutor
# The scheduler looks for work every 0.25 s when idle (default 1 s): the gaps between a
# run's tasks shrink, for a few % of a core while nothing runs (same section of BENCHMARKS.md).
export AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME=${AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME:-0.25}
# PostgreSQL rather than the default SQLite: five processes write concurrently.
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg://syncgate@127.0.0.1:$PG_PORT/airflow
# Sized for a 2-core box: at most 4 task processes (LocalExecutor forks one
# worker per parallelism slot), 1 API worker, 1 DAG parsing process.
export AIRFLOW__CORE__PARALLELISM=4
export AIRFLOW__API__WORKERS=1
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES=1
# A task's calls to the API server time out after 5 s by default: on a busy 2-core box its first
# call (start of the task) can take longer, and the task then fails before it ran a line.
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT=${AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT:-30}
export AIRFLOW__API__HOST=$UI_HOST
export AIRFLOW__API__PORT=$UI_PORT
# Tasks talk to the API server; the default URL assumes localhost:8080.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=$UI_URL/execution/
export AIRFLOW_CONN_ERP_DB=$PG_BASE_URL/erp
export AIRFLOW_CONN_WAREHOUSE_DB=$PG_BASE_URL/warehouse
# HTTP connection: base URL + bearer token (the password of a connection without login).
AIRFLOW_CONN_CRM_API=$(printf '{"conn_type": "http", "host": "127.0.0.1", "port": %d, "password": "%s"}' \
  "$CRM_PORT" "$SYNCGATE_CRM_TOKEN")
export AIRFLOW_CONN_CRM_API
# The webhook receiver checks the CRM's signatures with this connection's password.
AIRFLOW_CONN_CRM_WEBHOOK=$(printf '{"conn_type": "generic", "password": "%s"}' "$SYNCGATE_CRM_WEBHOOK_SECRET")
export AIRFLOW_CONN_CRM_WEBHOOK
export SYNCGATE_FLOWS_DIR=${SYNCGATE_FLOWS_DIR:-$ROOT/dags/flows}
export SYNCGATE_LANDING_URL=file://$STATE/landing
export SYNCGATE_REPORTS_DIR=$STATE/reports
# Demo-only key for transform.hash: real deployments must use a secret.
export SYNCGATE_HASH_KEY=demo-only-key
# The key signing the API server's tokens (UI logins, task <-> API server calls). Airflow's own
# default is 16 random bytes, which PyJWT flags for HS512 (InsecureKeyLengthWarning in every
# component's log): one of 64 random bytes, new at every start.
AIRFLOW__API_AUTH__JWT_SECRET=${AIRFLOW__API_AUTH__JWT_SECRET:-$("$VENV_BIN/python" -c 'import secrets; print(secrets.token_urlsafe(64))')}
export AIRFLOW__API_AUTH__JWT_SECRET

# The configuration above, as the values actually used, for the Airflow CLI in another shell
# (scripts/airflow.sh sources it): Airflow's settings and connections, syncgate's, PYTHONPATH.
write_env_file() {
  local name
  (
    umask 077
    {
      echo "# Written by scripts/demo.sh at $(date -u +%FT%TZ); removed when the demo stops."
      echo "# Used by scripts/airflow.sh: the Airflow CLI against this demo."
      while IFS= read -r name; do
        [[ $name == AIRFLOW* || $name == SYNCGATE_* || $name == PYTHONPATH ]] || continue
        printf 'export %s=%q\n' "$name" "${!name}"
      done < <(compgen -e | sort)
    } >"$ENV_FILE.tmp"
  )
  mv -f -- "$ENV_FILE.tmp" "$ENV_FILE"
}
write_env_file

# Flows with log-based capture (source.capture: wal) read from a replication slot: create
# each one's publication and slot (idempotent; a rerun keeps the slot and its position).
mapfile -t WAL_FLOWS < <("$VENV_BIN/python" -c '
from syncgate import settings
from syncgate.spec.loader import load_specs
for item in load_specs(settings.flows_dir()):
    if getattr(getattr(item.spec, "source", None), "capture", None) == "wal":
        print(item.spec.id)' 2>/dev/null)
for f in "${WAL_FLOWS[@]}"; do
  [[ -n $f ]] || continue
  "$VENV_BIN/python" -m syncgate cdc setup "$f" 2>&1 | sed "s/^/demo: cdc $f: /" ||
    warn "could not set up log-based capture for $f (its runs will say why)"
done

# The syncgate state schema of every state database, migrated once here (as a deployment
# does): the flows' tasks then only check its version and never run DDL.
"$VENV_BIN/python" -m syncgate state migrate 2>&1 | sed "s/^/demo: state schema: /" ||
  die "could not migrate the syncgate state schema (see above)"

# Own session (setsid) so Ctrl-C in this terminal reaches only this script,
# which then stops Airflow in order; the PGID identifies it for `stop`.
say "starting Airflow (log: ${STANDALONE_LOG#"$ROOT"/})..."
setsid airflow standalone </dev/null >>"$STANDALONE_LOG" 2>&1 &
echo "$!" >"$PID_FILE"
STANDALONE_PID=$!

standalone_alive() { kill -0 "$STANDALONE_PID" 2>/dev/null; }
fail_with_log() {
  tail -n 30 -- "$STANDALONE_LOG" >&2 || true
  die "$*"
}

http_ok() {
  "$VENV_BIN/python" - "$1" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

for (( i = 0; ; i++ )); do
  standalone_alive || fail_with_log "Airflow exited during startup (log: $STANDALONE_LOG)"
  http_ok "$UI_URL/api/v2/version" && break
  (( i < 300 )) || fail_with_log "the API server did not answer on $UI_URL within 5 min"
  sleep 1
done
say "Airflow UI up at $UI_URL ($((SECONDS - T0)) s)"

# Airflow CLI calls (a few seconds each). Log and warning lines also go to
# stdout, so parsers below only read the JSON line.
af() { airflow "$@" 2>/dev/null; }
dag_ids() {
  python -c '
import json, sys
for line in sys.stdin:
    if line.startswith("["):
        print(*(row["dag_id"] for row in json.loads(line)), sep="\n")'
}
# stdin: `dags list-runs -o json`; prints "run_id state seconds" for every run
# started since epoch $1 or still queued/running (those block ours anyway).
recent_runs() {
  python -c '
import json, sys
from datetime import datetime
since = float(sys.argv[1])
ts = lambda s: datetime.fromisoformat(s).timestamp() if s else None
for line in sys.stdin:
    if line.startswith("["):
        for run in json.loads(line):
            start, end = ts(run["start_date"]), ts(run["end_date"])
            if run["state"] in ("queued", "running") or (start or 0) >= since:
                secs = round(end - start) if start and end else "-"
                print(run["run_id"], run["state"], secs)' "$1"
}

# Why a run failed, from its task logs (JSON lines): each task's last
# attempt's exception, e.g. the quality gate's verdict with its report link.
failure_reasons() {
  python - "$1" <<'EOF'
import json, pathlib, re, sys
for task_dir in sorted(pathlib.Path(sys.argv[1]).glob("task_id=*")):
    attempts = sorted(task_dir.glob("attempt=*.log"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    for line in attempts[-1].read_text(errors="replace").splitlines() if attempts else []:
        try:
            errors = json.loads(line).get("error_detail") or []
        except (ValueError, AttributeError):
            continue
        for err in errors:
            if not err.get("is_cause"):
                print(f"{task_dir.name.removeprefix('task_id=')}: {err.get('exc_type')}: {err.get('exc_value')}")
EOF
}

# --- one run of every flow --------------------------------------------------
mapfile -t FLOWS < <(python -c '
import sys
from syncgate import settings
from syncgate.spec.loader import load_specs
for item in load_specs(settings.flows_dir()):
    if item.spec is not None:
        print(item.spec.id)
    else:
        print(f"invalid spec, not run: {item.error}", file=sys.stderr)
')
(( ${#FLOWS[@]} )) || warn "no valid flow spec in $SYNCGATE_FLOWS_DIR"

# Flows calling an API share its Airflow pool (tasks in a missing pool never run).
mapfile -t POOLS < <(python -c '
from syncgate import settings
from syncgate.spec.loader import load_specs
pools = set()
for item in load_specs(settings.flows_dir()):
    spec = item.spec
    sides = getattr(spec, "all_sides", None)  # a two-way / multi-way flow: every side is both
    ends = [e for s in sides for e in (s.source, s.target)] if sides else [spec.source, spec.target] if spec else []
    for end in ends:
        if getattr(end, "type", None) == "http":
            pools.add(end.pool_name)
print(*sorted(pools), sep="\n")')
for pool in "${POOLS[@]}"; do
  [[ -n $pool ]] || continue
  af pools set "$pool" 4 "syncgate: calls to one API share its rate limit" >/dev/null ||
    warn "could not create the Airflow pool $pool"
done

# The DAG processor must have registered the DAGs before they can be triggered.
declare -A PROBLEM=()  # flow -> why it has no usable run
RUNNABLE=()
if (( ${#FLOWS[@]} )); then
  for (( i = 0; ; i++ )); do
    registered=$(af dags list -o json | dag_ids)
    missing=()
    for f in "${FLOWS[@]}"; do
      grep -qxF "$f" <<<"$registered" || missing+=("$f")
    done
    (( ${#missing[@]} )) || break
    if (( i >= 40 )); then
      warn "not registered in Airflow after 2 min: ${missing[*]}"
      airflow dags list-import-errors 2>&1 | grep -v '^[0-9-]*T[0-9:.]*Z \[' || true
      for f in "${missing[@]}"; do PROBLEM[$f]=not-registered; done
      break
    fi
    standalone_alive || fail_with_log "Airflow exited (log: $STANDALONE_LOG)"
    sleep 3
  done
  for f in "${FLOWS[@]}"; do [[ -n ${PROBLEM[$f]:-} ]] || RUNNABLE+=("$f"); done
fi

RUN_ID=demo__$(date -u +%Y%m%dT%H%M%S)
SINCE=$(( $(date +%s) - 1 ))
declare -A SETTLED=()  # flow -> 1 once our run is final and nothing else is active
RESULTS=()             # "flow run_id state seconds", in completion order
if (( ${#RUNNABLE[@]} )); then
  # On unpause the scheduler also starts the latest interval's run (catchup
  # is off, not skipped); max_active_runs=1 queues our manual run behind it.
  # Both are waited for and reported, so nothing is cut off by a quick stop.
  ids=$(IFS='|'; echo "${RUNNABLE[*]}")
  af dags unpause --treat-dag-id-as-regex -y "^($ids)\$" >/dev/null ||
    warn "could not unpause: ${RUNNABLE[*]}"
  for f in "${RUNNABLE[@]}"; do
    if ! af dags trigger "$f" -r "$RUN_ID" -o json >/dev/null; then
      PROBLEM[$f]=trigger-failed
      SETTLED[$f]=1
      warn "could not trigger $f"
    fi
  done
  say "flows unpaused and triggered (run $RUN_ID) after $((SECONDS - T0)) s: ${RUNNABLE[*]}"
  # The freshness / alert monitor: its first run starts on unpause, then every 5 minutes.
  af dags unpause syncgate_freshness_monitor >/dev/null || warn "could not unpause syncgate_freshness_monitor"
fi

T_TRIGGER=$SECONDS
declare -A REPORTED=()
while :; do
  pending=()
  for f in "${RUNNABLE[@]}"; do [[ -n ${SETTLED[$f]:-} ]] || pending+=("$f"); done
  (( ${#pending[@]} )) || break
  if (( SECONDS - T_TRIGGER > FLOW_TIMEOUT )); then
    for f in "${pending[@]}"; do PROBLEM[$f]="timed out after $FLOW_TIMEOUT s"; done
    break
  fi
  standalone_alive || fail_with_log "Airflow exited while flows were running"
  sleep 5
  for f in "${pending[@]}"; do
    active=0 ours=
    while read -r run st secs; do
      case $st in queued | running) active=1; continue ;; esac
      [[ $run == "$RUN_ID" ]] && ours=$st
      [[ -z ${REPORTED["$f $run"]:-} ]] || continue
      REPORTED["$f $run"]=1
      RESULTS+=("$f $run $st $secs")
      say "flow $f, run $run: $st (${secs} s)"
    done < <(af dags list-runs "$f" -o json | recent_runs "$SINCE")
    if [[ -n $ours ]] && (( ! active )); then SETTLED[$f]=1; fi
  done
done
(( ${#RUNNABLE[@]} == 0 )) || say "flow runs finished $((SECONDS - T_TRIGGER)) s after the trigger"

# --- summary ----------------------------------------------------------------
all_ok=1
echo
say "flow runs:"
for r in "${RESULTS[@]}"; do
  read -r f run st secs <<<"$r"
  if [[ $st == success ]]; then
    printf '  %-24s %-42s %s (%s s)\n' "$f" "$run" "$st" "$secs"
  else
    all_ok=0
    printf '  %-24s %-42s \033[1;31m%s\033[0m (%s s)\n' "$f" "$run" "${st^^}" "$secs"
    run_logs=$AIRFLOW_HOME/logs/dag_id=$f/run_id=$run
    failure_reasons "$run_logs" | sed 's/^/      /' || true
    echo "      logs: ${run_logs#"$ROOT"/}/"
  fi
done
(( ${#RESULTS[@]} )) || all_ok=0
for f in "${!PROBLEM[@]}"; do
  all_ok=0
  printf '  %-24s \033[1;31m%s\033[0m\n' "$f" "${PROBLEM[$f]^^}"
done

password=
if [[ -f $PASSWORD_FILE ]]; then
  password=$(python -c 'import json, sys; print(json.load(open(sys.argv[1])).get("admin", ""))' \
    "$PASSWORD_FILE" 2>/dev/null) || true
fi
cat <<EOF

  Airflow UI      $UI_URL   user: admin   password: ${password:-(see ${PASSWORD_FILE#"$ROOT"/})}
  Sync health     $UI_URL/plugin/syncgate-health   (Browse > Sync health; a "Sync flow" tab on each DAG)
  Quality reports each flow's page in the UI, and the "Sync report" link of its verify / promote tasks;
                  on disk: ${SYNCGATE_REPORTS_DIR#"$ROOT"/}/<flow>/runs/ (run reports), <flow>/gx/ (GX Data Docs)
  Demo CRM API    $CRM_URL   (bearer token: $SYNCGATE_CRM_TOKEN; fault injection: include/demo/crm/README.md)
EOF
cat <<EOF
  Audit trail     $PSQL_CMD $PG_BASE_URL/warehouse -c "select flow_id, status, rows_extracted, rows_inserted, rows_updated, rows_deleted from syncgate.sync_runs order by started_at desc limit 10"
  ERP activity    $PSQL_CMD $PG_BASE_URL/erp -f include/demo/erp_activity.sql
  CRM activity    curl -X POST -H "Authorization: Bearer $SYNCGATE_CRM_TOKEN" -H 'Content-Type: application/json' \\
                    -d '{"resource": "customers", "count": 50}' $CRM_URL/_admin/touch
  Live sync       erp_orders_live (WAL capture) and crm_customers (signed CRM webhooks) run by
                  themselves within seconds of the activity above: watch analytics.orders_live and
                  crm.customers, or the "Triggers" section of their flow pages. The other flows run
                  on their schedule (or trigger them in the UI)
  Conflicts       SYNCGATE_DEMO_PG_PORT=$PG_PORT SYNCGATE_DEMO_CRM_PORT=$CRM_PORT PYTHONPATH=include .venv/bin/python -m demo.two_way conflicts
                  edits the same partners in the ERP and the CRM; trigger erp_crm_customers_two_way and
                  watch syncgate.sync_conflicts fill (the flow's page in the UI, or psql on the warehouse)
  Airflow CLI     scripts/airflow.sh dags list-import-errors   (any airflow command, from any shell;
                  also: make airflow ARGS="dags list"; examples in README.md)
  Airflow log     ${STANDALONE_LOG#"$ROOT"/}
  Stop            Ctrl-C here, or 'make stop' from another shell
  (ready after $((SECONDS - T0)) s)

EOF

if [[ $EXIT_AFTER_RUNS == 1 ]]; then
  (( all_ok )) && exit 0
  exit 1
fi
# Poll instead of a plain wait: `make stop` from another shell ends Airflow
# and this loop then exits too; `sleep & wait` lets Ctrl-C act at once.
while standalone_alive; do
  sleep 2 &
  wait $! || true
done
# `stop` removes the pid file once everything is gone; otherwise it crashed.
for (( i = 0; i < 10; i++ )); do [[ -f $PID_FILE ]] && sleep 1; done
if [[ -f $PID_FILE ]]; then
  fail_with_log "Airflow exited unexpectedly (log: $STANDALONE_LOG)"
fi
say "Airflow was stopped from another shell"
