#!/usr/bin/env bash
# Fetch the Beam job servers that the SparkRunner and FlinkRunner start locally
# (--spark_job_server_jar / --flink_job_server_jar), with Maven, into .cache/jars/.
#
#   scripts/fetch_job_servers.sh [spark|flink|all]      (default: all)
#
# Prints one line per runner on stdout, "<runner> <absolute path of the jar>";
# progress and the reason for each choice go to stderr. Idempotent: a jar that is
# already in .cache/jars/ is printed at once (no Maven, no network).
#
# Which jar:
#  1. Beam's published job server at the Beam version pinned in requirements.txt
#     (org.apache.beam:beam-runners-spark-3-job-server:<v>,
#      org.apache.beam:beam-runners-flink-<FLINK_VERSION>-job-server:<v>), with
#     `mvn dependency:copy`.
#  2. When Maven Central does not serve that jar (the registry this project's
#     machines reach serves none of Beam's *-job-server artifacts), the same job
#     server is assembled from Beam's runner artifacts at BEAM_JAVA_FALLBACK, the
#     newest version at which beam-runners-spark-3, beam-runners-flink-1.19 and
#     beam-runners-java-job-service all resolve there: `mvn dependency:copy-dependencies`
#     of a generated POM into lib/, plus a launcher jar whose manifest names the
#     job server's main class and lib/ as its class path. It runs exactly like the
#     published jar (`java -jar`), for local runs and tests; it is not an uber jar,
#     so --spark_submit_uber_jar / --flink_submit_uber_jar need the published one
#     (docs/runners.md).
#
# Environment: FLINK_VERSION (default 1.19), BEAM_JAVA_FALLBACK (default 2.62.0),
# JOB_SERVER_SOURCE=auto|central|assemble (default auto: 1, else 2),
# JOB_SERVER_JARS_DIR (default <repo>/.cache/jars). Needs java (17) and mvn.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
JARS="${JOB_SERVER_JARS_DIR:-${REPO_ROOT}/.cache/jars}"
BEAM_VERSION="${BEAM_VERSION:-$(sed -n 's/^apache-beam\(\[[^]]*\]\)\{0,1\}==\([0-9][0-9.]*\).*/\2/p' "${REPO_ROOT}/requirements.txt")}"
FLINK_VERSION="${FLINK_VERSION:-1.19}"
BEAM_JAVA_FALLBACK="${BEAM_JAVA_FALLBACK:-2.62.0}"
SOURCE="${JOB_SERVER_SOURCE:-auto}"
# Spark the Spark runner of BEAM_JAVA_FALLBACK is built against (Scala 2.12).
SPARK_VERSION="3.5.0"
SLF4J_VERSION="1.7.30"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

say() { echo "fetch_job_servers: $*" >&2; }
die() { say "$*"; exit 1; }

[[ -n "${BEAM_VERSION}" ]] || die "cannot read the apache-beam pin from requirements.txt"
case "${SOURCE}" in auto|central|assemble) ;; *) die "JOB_SERVER_SOURCE must be auto, central or assemble" ;; esac
command -v java >/dev/null 2>&1 || die "java is not on PATH: the Spark and Flink job servers need Java 17"
command -v jar >/dev/null 2>&1 || die "jar (from the JDK) is not on PATH: a JDK 17 is needed, not only a JRE"

RUNNERS=()
case "${1:-all}" in
    spark|flink) RUNNERS=("$1") ;;
    all) RUNNERS=(spark flink) ;;
    *) die "usage: $0 [spark|flink|all]" ;;
esac

mkdir -p "${JARS}"
# One fetch at a time (parallel test sessions, a developer's shell).
exec 9>"${JARS}/.lock"
flock 9

mvn_() {
    command -v mvn >/dev/null 2>&1 || die "mvn is not on PATH: Maven fetches the job servers"
    mvn -B -q --no-transfer-progress "$@"
}

# Manifest of a launcher jar: main class and the jars of lib/ as its class path
# (manifest lines are at most 72 bytes; a continuation line starts with a space).
write_manifest() {
    local main_class="$1" lib_dir="$2" out="$3" classpath
    classpath="Class-Path:$(cd "${lib_dir}/.." && find lib -maxdepth 1 -name '*.jar' | LC_ALL=C sort | sed 's/^/ /' | tr -d '\n')"
    {
        echo "Manifest-Version: 1.0"
        echo "Main-Class: ${main_class}"
        printf '%s' "${classpath}" | fold -b -w 70 | sed '2,$s/^/ /'
        echo
    } >"${out}"
}

# $1 runner → sets ARTIFACT (published job server), RUNNER_ARTIFACT, MAIN_CLASS, EXTRA_DEPS
describe() {
    case "$1" in
        spark)
            ARTIFACT="beam-runners-spark-3-job-server"
            RUNNER_ARTIFACT="beam-runners-spark-3"
            MAIN_CLASS="org.apache.beam.runners.spark.SparkJobServerDriver"
            # Spark is "provided" for the runner artifact; the job server carries it.
            EXTRA_DEPS="
    <dependency><groupId>org.apache.spark</groupId><artifactId>spark-core_2.12</artifactId><version>${SPARK_VERSION}</version></dependency>
    <dependency><groupId>org.apache.spark</groupId><artifactId>spark-streaming_2.12</artifactId><version>${SPARK_VERSION}</version></dependency>"
            ;;
        flink)
            ARTIFACT="beam-runners-flink-${FLINK_VERSION}-job-server"
            RUNNER_ARTIFACT="beam-runners-flink-${FLINK_VERSION}"
            MAIN_CLASS="org.apache.beam.runners.flink.FlinkJobServerDriver"
            EXTRA_DEPS=""
            ;;
    esac
}

fetch_published() {
    local runner="$1" target="$2" tmp
    tmp="$(mktemp -d "${JARS}/.published-XXXXXX")"
    if mvn_ "${DEP_PLUGIN}:copy" "-Dartifact=org.apache.beam:${ARTIFACT}:${BEAM_VERSION}:jar" \
        "-DoutputDirectory=${tmp}" >"${tmp}.log" 2>&1 && [[ -s "${tmp}/${ARTIFACT}-${BEAM_VERSION}.jar" ]]; then
        mv "${tmp}/${ARTIFACT}-${BEAM_VERSION}.jar" "${target}"
        rm -rf "${tmp}" "${tmp}.log"
        return 0
    fi
    say "${runner}: Maven Central does not serve org.apache.beam:${ARTIFACT}:${BEAM_VERSION} here ($(grep -m1 -o 'Could not find artifact [^ ]*\|was not found in [^ ]*' "${tmp}.log" || tail -n1 "${tmp}.log"))"
    rm -rf "${tmp}" "${tmp}.log"
    return 1
}

assemble() {
    local runner="$1" dest="$2" work
    work="$(mktemp -d "${JARS}/.assemble-XXXXXX")"
    cat >"${work}/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- Generated by scripts/fetch_job_servers.sh: the ${runner} job server's class path. -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.session-features</groupId>
  <artifactId>${ARTIFACT}-assembled</artifactId>
  <version>${BEAM_JAVA_FALLBACK}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.beam</groupId><artifactId>${RUNNER_ARTIFACT}</artifactId><version>${BEAM_JAVA_FALLBACK}</version></dependency>${EXTRA_DEPS}
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>${SLF4J_VERSION}</version></dependency>
  </dependencies>
</project>
EOF
    say "${runner}: assembling the job server from org.apache.beam:${RUNNER_ARTIFACT}:${BEAM_JAVA_FALLBACK} (first time: a few minutes)"
    if ! mvn_ -f "${work}/pom.xml" "${DEP_PLUGIN}:copy-dependencies" -DincludeScope=runtime \
        "-DoutputDirectory=${work}/lib" >"${work}/mvn.log" 2>&1; then
        tail -n 20 "${work}/mvn.log" >&2
        rm -rf "${work}"
        die "${runner}: Maven could not resolve the job server's dependencies (see above)"
    fi
    write_manifest "${MAIN_CLASS}" "${work}/lib" "${work}/MANIFEST.MF"
    jar --create --file "${work}/${ARTIFACT}.jar" --manifest "${work}/MANIFEST.MF"
    rm -f "${work}/mvn.log"
    rm -rf "${dest}"
    mv "${work}" "${dest}"  # complete or absent
}

for runner in "${RUNNERS[@]}"; do
    describe "${runner}"
    published="${JARS}/${ARTIFACT}-${BEAM_VERSION}.jar"
    assembled_dir="${JARS}/${ARTIFACT}-${BEAM_JAVA_FALLBACK}-assembled"
    assembled="${assembled_dir}/${ARTIFACT}.jar"
    if [[ "${SOURCE}" != assemble && -s "${published}" ]]; then
        echo "${runner} ${published}"
        continue
    fi
    if [[ "${SOURCE}" != central && -s "${assembled}" ]]; then
        echo "${runner} ${assembled}"
        continue
    fi
    if [[ "${SOURCE}" != assemble ]] && fetch_published "${runner}" "${published}"; then
        say "${runner}: org.apache.beam:${ARTIFACT}:${BEAM_VERSION}"
        echo "${runner} ${published}"
        continue
    fi
    [[ "${SOURCE}" != central ]] || die "${runner}: no published job server for Beam ${BEAM_VERSION} (JOB_SERVER_SOURCE=central)"
    assemble "${runner}" "${assembled_dir}"
    say "${runner}: job server of Beam ${BEAM_JAVA_FALLBACK} (Java) assembled for the Beam ${BEAM_VERSION} Python SDK"
    echo "${runner} ${assembled}"
done
