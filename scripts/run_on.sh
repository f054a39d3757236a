#!/usr/bin/env bash
# Run session-features on the SparkRunner or the FlinkRunner, locally: fetches the
# job server (scripts/fetch_job_servers.sh, cached in .cache/jars/), then runs the
# same demo as ./run_local.sh (the embedded simulated source unless told otherwise)
# with Spark on local[CORES] or an embedded Flink cluster of parallelism CORES
# (CORES defaults to 2). Extra arguments go to the job, e.g.
#
#   scripts/run_on.sh spark
#   scripts/run_on.sh flink --source ./demo-dump --start_date 2024-12-01 --end_date 2024-12-07
#   WORKERS=pool scripts/run_on.sh spark --source ./demo-dump
#   RUNNER=spark ./run_local.sh          (the same as the first)
#
# Where the Python SDK workers run (WORKERS):
#   loopback (default)  threads of the launching process (--environment_type=LOOPBACK):
#                       one Python interpreter, so CORES > 1 gains little
#   pool                CORES worker processes of a Beam worker pool that this script
#                       starts on 127.0.0.1 (python -m pipeline.worker_pool) and stops
#                       when the job ends (--environment_type=EXTERNAL,
#                       --sdk_worker_parallelism=CORES); needs ./.venv (./run_local.sh
#                       creates it)
#
# Output goes to output/<runner> unless OUTPUT or --output says otherwise. Needs Java 17 and Maven.
set -euo pipefail
cd "$(dirname "$0")/.."

runner="${1:-}"
case "${runner}" in
    spark|flink) shift ;;
    *) echo "usage: [WORKERS=loopback|pool] [CORES=N] scripts/run_on.sh spark|flink [job arguments…]" >&2; exit 2 ;;
esac
workers="${WORKERS:-loopback}"
cores="${CORES:-2}"
case "${workers}" in
    loopback|pool) ;;
    *) echo "run_on: WORKERS must be loopback or pool, not ${workers}" >&2; exit 2 ;;
esac
[[ "${cores}" =~ ^[1-9][0-9]*$ ]] || { echo "run_on: CORES must be a positive number, not ${cores}" >&2; exit 2; }

jar="$(bash scripts/fetch_job_servers.sh "${runner}" | awk -v r="${runner}" '$1 == r {print $2}')"
[[ -n "${jar}" ]] || { echo "run_on: no ${runner} job server jar" >&2; exit 1; }

case "${runner}" in
    spark)
        args=(--runner=SparkRunner "--spark_job_server_jar=${jar}" "--spark_master_url=local[${cores}]"
              # Spark's web UI would listen on every interface; the driver stays on loopback
              --job_server_jvm_properties=-Dspark.ui.enabled=false
              --job_server_jvm_properties=-Dspark.driver.host=127.0.0.1
              --job_server_jvm_properties=-Dspark.driver.bindAddress=127.0.0.1)
        export SPARK_LOCAL_IP=127.0.0.1
        ;;
    flink)
        args=(--runner=FlinkRunner "--flink_job_server_jar=${jar}" "--flink_master=[local]" "--parallelism=${cores}")
        ;;
esac
# The job server's own log lines are many; warnings and errors are enough here. Its JIT
# compiles with C1 only: C2's compiler threads took half the JVM's CPU (34 of 66 s for
# 100k sessions); the tasks' own CPU was the same with C1 only (14 s).
args+=(--job_server_jvm_properties=-Dorg.slf4j.simpleLogger.defaultLogLevel=warn
       --job_server_jvm_properties=-XX:TieredStopAtLevel=1)

# The job server's and Beam's temporary files (Spark block manager, staged artifacts)
# go to a folder of this run, removed when it ends.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/session-features-${runner}.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
export TMPDIR="${tmp}"
args+=("--job_server_jvm_properties=-Djava.io.tmpdir=${tmp}")

export OUTPUT="${OUTPUT:-output/${runner}}"
if [[ "${workers}" == loopback ]]; then
    RUNNER= ./run_local.sh "${args[@]}" --environment_type=LOOPBACK "$@"
    exit
fi
[[ -x .venv/bin/python ]] || { echo "run_on: WORKERS=pool needs ./.venv: run ./run_local.sh once" >&2; exit 1; }
# pipeline.worker_pool starts the pool, replaces {pool} with its address, runs the job and
# stops the pool and its workers when the job ends (or on SIGINT/SIGTERM). The same flags
# as pipeline/worker_pool.py's external_args(); --environment_cache_millis keeps the
# workers between Spark stages (without it each stage starts new ones).
args+=(--environment_type=EXTERNAL "--environment_config={pool}" "--sdk_worker_parallelism=${cores}"
       --environment_cache_millis=30000)
RUNNER= .venv/bin/python -m pipeline.worker_pool -- ./run_local.sh "${args[@]}" "$@"
