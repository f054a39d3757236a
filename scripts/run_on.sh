#!/usr/bin/env bash
# Run session-features on the SparkRunner or the FlinkRunner, locally: fetches the
# job server (scripts/fetch_job_servers.sh, cached in .cache/jars/), then runs the
# same demo as ./run_local.sh (the embedded simulated source unless told otherwise)
# with Spark on local[2] or an embedded Flink cluster, Python workers in this
# process (LOOPBACK). Extra arguments go to the job, e.g.
#
#   scripts/run_on.sh spark
#   scripts/run_on.sh flink --source ./demo-dump --start_date 2024-12-01 --end_date 2024-12-07
#   RUNNER=spark ./run_local.sh          (the same)
#
# Output goes to output/<runner> unless OUTPUT or --output says otherwise. Needs Java 17 and Maven.
set -euo pipefail
cd "$(dirname "$0")/.."

runner="${1:-}"
case "${runner}" in
    spark|flink) shift ;;
    *) echo "usage: scripts/run_on.sh spark|flink [job arguments…]" >&2; exit 2 ;;
esac

jar="$(bash scripts/fetch_job_servers.sh "${runner}" | awk -v r="${runner}" '$1 == r {print $2}')"
[[ -n "${jar}" ]] || { echo "run_on: no ${runner} job server jar" >&2; exit 1; }

case "${runner}" in
    spark)
        args=(--runner=SparkRunner "--spark_job_server_jar=${jar}" "--spark_master_url=local[2]"
              # Spark's web UI would listen on every interface; the driver stays on loopback
              --job_server_jvm_properties=-Dspark.ui.enabled=false
              --job_server_jvm_properties=-Dspark.driver.host=127.0.0.1
              --job_server_jvm_properties=-Dspark.driver.bindAddress=127.0.0.1)
        export SPARK_LOCAL_IP=127.0.0.1
        ;;
    flink)
        args=(--runner=FlinkRunner "--flink_job_server_jar=${jar}" "--flink_master=[local]" --parallelism=2)
        ;;
esac
# The job server's own log lines are many; warnings and errors are enough here.
args+=(--environment_type=LOOPBACK --job_server_jvm_properties=-Dorg.slf4j.simpleLogger.defaultLogLevel=warn)

export OUTPUT="${OUTPUT:-output/${runner}}"
RUNNER= exec ./run_local.sh "${args[@]}" "$@"
