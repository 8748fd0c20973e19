#!/usr/bin/env bash
# test.sh — build, lint and test Ironlog; then run the kcat compatibility checks.
#
# Works on a fresh Debian 12 machine as root: installs what is missing (apt, pip) first.
# Steps: deps (apt: also podman, podman-compose, debootstrap for the container tests; pip,
# npm, Maven) → cargo build → clippy → fmt --check → tests (nextest if present, else two
# `cargo test` lanes side by side) →
# compat (../shared/compat/kcat.sh against a fresh broker, with Debian's kcat and with the
# confluent-kafka wheel's newer librdkafka). Exits non-zero if any step failed.
#
# Nothing is skipped on its own: a tool that is missing after the install steps, or a missing
# kcat.sh, fails its step (and the Rust tests that need kcat, the python clients or KafkaJS
# fail), whoever runs the script.
#
# env:
#   COMPAT_DIR      where kcat.sh lives (default: <repo>/../shared/compat)
#   SKIP_CARGO=1    developer switch: skip build/lint/tests (compat only; the broker binary
#                   must exist). Announced at the start and in the summary.
#   SKIP_COMPAT=1   developer switch: skip the kcat compatibility part. Announced likewise.
#                   `.ci/run` refuses both.
#   TEST_TIMEOUT    time limit of each test target (default 15m, in `timeout`'s syntax)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
COMPAT_DIR=${COMPAT_DIR:-$ROOT/../shared/compat}

# kcat.sh checks not run yet (none at the moment). Add names here only with a reason.
COMPAT_SKIP=""

START=$SECONDS
FAILED_STEPS=()
TIMED_OUT=()
SKIPPED_STEPS=()
step() { echo; echo "==> $* ($((SECONDS - START)) s)"; }
fail_step() { echo "FAILED: $1"; FAILED_STEPS+=("$1"); }
# skip_step STEP SWITCH: a skip the caller asked for, printed where it happens and in the summary
skip_step() { echo; echo "!!!!! SKIPPED: $1 ($2 was set) !!!!!"; SKIPPED_STEPS+=("$1 ($2)"); }

[ "${SKIP_CARGO:-0}" = 1 ] && echo "!!!!! SKIP_CARGO=1: build, clippy, fmt and the Rust tests will NOT run !!!!!"
[ "${SKIP_COMPAT:-0}" = 1 ] && echo "!!!!! SKIP_COMPAT=1: the kcat compatibility checks will NOT run !!!!!"

# ------------------------------------------------------------------ system packages
step "system packages"
need_pkgs=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || need_pkgs+=("$2"); }
need_cmd kcat kcat
need_cmd jq jq
need_cmd cmake cmake
need_cmd g++ g++
need_cmd make make
need_cmd pkg-config pkg-config
# librdkafka's SSL (the tests' rdkafka speaks SSL and SASL_SSL): the OpenSSL headers
pkg-config --exists openssl 2>/dev/null || need_pkgs+=(libssl-dev)
need_cmd python3 python3
need_cmd curl curl
# the metrics tests (broker/tests/metrics.rs): promtool and a Prometheus server
need_cmd promtool prometheus
need_cmd prometheus prometheus
# the Argo CD health check test (operator/tests/argocd.rs): Lua 5.1, as Argo CD runs it
need_cmd lua5.1 lua5.1
python3 -m pip --version >/dev/null 2>&1 || need_pkgs+=(python3-pip)
# the container tests (broker/tests/container.rs): podman as root with runc, netavark
# networks with DNS (aardvark-dns) and iptables, podman-compose, and debootstrap to make
# the base images where no registry serves them
need_pkg() { dpkg -s "$1" >/dev/null 2>&1 || need_pkgs+=("$1"); }
need_cmd podman podman
need_cmd runc runc
need_cmd podman-compose podman-compose
need_cmd debootstrap debootstrap
need_cmd iptables iptables
need_pkg netavark
need_pkg aardvark-dns
# librdkafka 2.12's cmake build includes <curl/curl.h> even with curl disabled
# (`#ifdef WITH_OAUTHBEARER_OIDC` on a `#cmakedefine01`): the headers must exist.
have_curl_h=0
for f in /usr/include/curl/curl.h /usr/include/*/curl/curl.h; do [ -f "$f" ] && have_curl_h=1; done
[ "$have_curl_h" = 1 ] || need_pkgs+=(libcurl4-openssl-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "installing: ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq || { echo "apt-get update failed"; exit 1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" \
    || { echo "apt-get install ${need_pkgs[*]} failed"; exit 1; }
else
  echo "all present"
fi

# ------------------------------------------------------------------ python client (topic.py)
step "python confluent-kafka"
PY=${HARNESS_PYTHON:-python3}
if "$PY" -c 'import confluent_kafka' 2>/dev/null; then
  echo "present: $("$PY" -c 'import confluent_kafka as c; print(c.version()[0], "librdkafka", c.libversion()[0])')"
else
  # Debian's own python refuses pip installs into the system (PEP 668) unless told.
  "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore confluent-kafka 2>/dev/null \
    || "$PY" -m pip install -q --disable-pip-version-check --break-system-packages confluent-kafka \
    || fail_step "pip install confluent-kafka"
fi

# ------------------------------------------------------------------ python clients (python_clients.rs)
# kafka-python and aiokafka with the codec packages each uses: kafka-python imports
# python-snappy, lz4 and zstandard; aiokafka uses cramjam for snappy, lz4 and zstd.
step "python kafka-python, aiokafka and codecs"
PY_CLIENT_PKGS="kafka-python aiokafka python-snappy lz4 zstandard cramjam"
if "$PY" -c 'import kafka, aiokafka, snappy, lz4, zstandard, cramjam' 2>/dev/null; then
  echo "present: kafka-python $("$PY" -c 'import kafka; print(kafka.__version__)'), aiokafka $("$PY" -c 'import aiokafka; print(aiokafka.__version__)')"
else
  # shellcheck disable=SC2086 # the package list is meant to split
  "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore $PY_CLIENT_PKGS 2>/dev/null \
    || "$PY" -m pip install -q --disable-pip-version-check --break-system-packages $PY_CLIENT_PKGS \
    || fail_step "pip install $PY_CLIENT_PKGS"
fi

# ------------------------------------------------------------------ KafkaJS (js_clients.rs)
# Node.js from Debian when absent, then the locked npm packages (node_modules is not committed).
step "node and KafkaJS"
JS_DIR=$ROOT/broker/tests/clients/js
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "installing: nodejs npm"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm; } \
    || fail_step "apt-get install nodejs npm"
fi
if command -v npm >/dev/null 2>&1; then
  (cd "$JS_DIR" && npm ci --no-audit --no-fund --loglevel=error) || fail_step "npm ci in $JS_DIR"
  (cd "$JS_DIR" && node -e 'console.log("present: node " + process.version + ", kafkajs " + require("kafkajs/package.json").version)') \
    || fail_step "kafkajs not loadable after npm ci"
fi

# ------------------------------------------------------------------ Java (java_clients.rs)
# A JDK and Maven from Debian when absent, then the sessions' Maven artifacts (Kafka 4.1's
# client, tools and broker jars, the 3.9 client) resolved into ~/.m2 and the sessions compiled.
step "JDK, Maven and the Java sessions"
JAVA_DIR=$ROOT/broker/tests/clients/java
if ! command -v javac >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  echo "installing: openjdk-17-jdk-headless maven"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless maven; } \
    || fail_step "apt-get install openjdk-17-jdk-headless maven"
fi
if command -v mvn >/dev/null 2>&1; then
  (cd "$JAVA_DIR" && mvn -B -q compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt \
    && cd legacy && mvn -B -q dependency:build-classpath -Dmdep.outputFile=target/classpath.txt) \
    || fail_step "mvn (resolve and compile the Java sessions in $JAVA_DIR)"
  echo "present: $(java -version 2>&1 | head -1), $(mvn -v 2>/dev/null | head -1)"
fi

# ------------------------------------------------------------------ kubernetes
# The operator's tests run against a real API server: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler (and kubectl, which the journey test drives)
# built from their Go modules by
# operator/tests/k8s/build.sh, cached per machine in /var/cache/ironlog-k8s keyed by version
# (a no-op when they are there; the first build takes a long while on 2 cores). The same
# script builds helm (helm.sh/helm/v4) for the chart tests when it is absent. Kubernetes
# 1.36 needs Go 1.26: Debian's older Go fetches that toolchain from the Go module proxy.
step "Kubernetes control plane for the operator tests"
if ! command -v go >/dev/null 2>&1; then
  echo "installing: golang-go"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends golang-go; } \
    || fail_step "apt-get install golang-go"
fi
if command -v go >/dev/null 2>&1; then
  go_minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
  if [ -z "$go_minor" ] || [ "$go_minor" -lt 26 ]; then
    echo "$(go env GOVERSION) is older than go1.26: building with the go1.26.8 toolchain"
    export K8S_GOTOOLCHAIN=go1.26.8
  fi
  bash "$ROOT/operator/tests/k8s/build.sh" || fail_step "operator/tests/k8s/build.sh (the Kubernetes binaries and helm)"
fi

# ------------------------------------------------------------------ cargo
# cargo_test WHAT ARGS...: `cargo test --workspace --no-fail-fast ARGS`, killed together with
# every process it started when it takes longer than $TEST_TIMEOUT (a hang, not a slow test:
# the longest target takes a few minutes)
TEST_TIMEOUT=${TEST_TIMEOUT:-15m}
cargo_test() {
  local what=$1; shift
  local rc=0
  timeout --kill-after=30s "$TEST_TIMEOUT" cargo test --workspace --no-fail-fast "$@" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "TIMED OUT: $what did not finish within $TEST_TIMEOUT and was killed"
    TIMED_OUT+=("$what")
  fi
  return "$rc"
}
# test_lane NAME...: the test targets NAME (of every package that has one), one after another
test_lane() {
  local ok=0 name
  for name in "$@"; do
    cargo_test "test target $name" --test "$name" || ok=1
  done
  return "$ok"
}
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null | jq -r .target_directory)
[ -n "$TARGET_DIR" ] && [ "$TARGET_DIR" != null ] || TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "${SKIP_CARGO:-0}" != 1 ]; then
  step "cargo build --workspace --all-targets"
  if ! cargo build --workspace --all-targets; then
    fail_step "cargo build"
    echo; echo "build failed: nothing else can run"; echo "0 passed, 1 failed"; exit 1
  fi

  # The container tests' images (a release build of the broker and of the operator inside
  # podman, at a lower priority) are built in the background from here on, while clippy and
  # the other tests run: the container tests, when their turn comes, find them built (or
  # wait for the build in progress) instead of building them then.
  IMAGES_LOG=$(mktemp /tmp/ironlog-test-images.XXXXXX)
  "$TARGET_DIR/debug/build-test-images" >"$IMAGES_LOG" 2>&1 &
  IMAGES_PID=$!
  echo "building the container tests' images in the background (pid $IMAGES_PID, log $IMAGES_LOG)"

  step "cargo clippy --workspace --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets -- -D warnings || fail_step "cargo clippy"

  step "cargo fmt --all --check"
  cargo fmt --all --check || fail_step "cargo fmt"

  if cargo nextest --version >/dev/null 2>&1; then
    step "cargo nextest run --workspace"
    cargo nextest run --workspace --no-fail-fast || fail_step "cargo nextest"
  else
    # Two lanes side by side, each a `cargo test --workspace` of its own (cargo runs one test
    # binary at a time, and most of these tests wait on brokers and timeouts, not on the
    # CPU): the second lane takes the operator's tests and the broker's longest fault and
    # client tests, the first everything else. Both select the whole workspace (so both
    # build with the features `cargo build --workspace` used: nothing is compiled again) and
    # pick test targets by name; a name two packages share runs in the first lane, both
    # packages' targets. Together they run every test of the workspace exactly once.
    # Each test target runs as a `cargo test` of its own under a time limit, so a test that
    # hangs fails with its name (killed with the processes it started) and the run goes on,
    # instead of holding the whole run until CI gives up on it.
    step "cargo test --workspace (two lanes, each test target within $TEST_TIMEOUT)"
    LANE2_BROKER_TESTS="cluster_faults cluster_replication java_clients"
    lanes=$(cargo metadata --format-version 1 --no-deps | jq -r --arg extra "$LANE2_BROKER_TESTS" '
      ($extra | split(" ")) as $extra
      | [.packages[] | .name as $p | .targets[] | select(.kind | index("test")) | {name, p: $p}]
      | group_by(.name)[]
      | (if (all(.p == "ironlog-operator") or (.[0].name | IN($extra[]))) then 2 else 1 end) as $lane
      | "\($lane) \(.[0].name)"')
    lane1_names=()
    lane2_names=()
    while read -r lane name; do
      if [ "$lane" = 2 ]; then lane2_names+=("$name"); else lane1_names+=("$name"); fi
    done <<<"$lanes"
    LANE2_LOG=$(mktemp /tmp/ironlog-test-lane2.XXXXXX)
    test_lane "${lane2_names[@]}" >"$LANE2_LOG" 2>&1 &
    LANE2_PID=$!
    echo "lane 2 (pid $LANE2_PID, printed when it ends): ${lane2_names[*]}"
    lane1_ok=1
    cargo_test "the unit tests" --lib --bins || lane1_ok=0
    test_lane "${lane1_names[@]}" || lane1_ok=0
    cargo_test "the doc tests" --doc || lane1_ok=0
    wait "$LANE2_PID"; lane2_rc=$?
    echo; echo "==> lane 2's output ($((SECONDS - START)) s)"
    cat "$LANE2_LOG"
    while read -r line; do TIMED_OUT+=("${line#TIMED OUT: }"); done < <(grep '^TIMED OUT: ' "$LANE2_LOG")
    rm -f "$LANE2_LOG"
    [ "$lane1_ok" = 1 ] || fail_step "cargo test (lane 1)"
    [ "$lane2_rc" = 0 ] || fail_step "cargo test (lane 2)"
  fi

  step "the container images' background build"
  if wait "$IMAGES_PID"; then
    cat "$IMAGES_LOG"
  else
    # not a step of its own: the container tests built (or failed to build) the images again
    echo "the background build failed (the container tests then built the images themselves):"
    tail -40 "$IMAGES_LOG"
  fi
  rm -f "$IMAGES_LOG"
else
  skip_step "cargo build, clippy, fmt and tests" SKIP_CARGO=1
fi

# ------------------------------------------------------------------ compat (kcat.sh)
COMPAT_PASSED=0
COMPAT_FAILED=0
BROKER_PID=""
BROKER_TMP=""
cleanup() {
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -TERM "$BROKER_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$BROKER_PID" 2>/dev/null
  fi
  [ -n "$BROKER_TMP" ] && rm -rf "$BROKER_TMP"
}
trap cleanup EXIT

# start_broker: a fresh broker on a port-0 listener; sets BOOTSTRAP or returns 1
start_broker() {
  local bin=$TARGET_DIR/debug/ironlog
  if [ -x "$TARGET_DIR/release/ironlog" ] && [ "$TARGET_DIR/release/ironlog" -nt "$bin" ]; then
    bin=$TARGET_DIR/release/ironlog
  fi
  [ -x "$bin" ] || { echo "no ironlog binary at $bin"; return 1; }
  BROKER_TMP=$(mktemp -d /tmp/ironlog-compat.XXXXXX)
  "$bin" broker --override node.id=1 --override "log.dirs=$BROKER_TMP/data" \
    --override listeners=PLAINTEXT://127.0.0.1:0 \
    --override advertised.listeners=PLAINTEXT://127.0.0.1:0 \
    --override admin.listener=http://127.0.0.1:0 \
    >"$BROKER_TMP/stdout" 2>"$BROKER_TMP/stderr" &
  BROKER_PID=$!
  local end=$((SECONDS + 60))
  while [ $SECONDS -lt $end ]; do
    if grep -qx 'ironlog: started' "$BROKER_TMP/stdout" 2>/dev/null; then
      BOOTSTRAP=$(sed -n 's/^ironlog: listener PLAINTEXT bound to //p' "$BROKER_TMP/stdout" | head -1)
      [ -n "$BOOTSTRAP" ] && { echo "broker $bin on $BOOTSTRAP (pid $BROKER_PID)"; return 0; }
      echo "broker started without a PLAINTEXT listener line"; break
    fi
    kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited before 'ironlog: started'"; break; }
    sleep 0.1
  done
  echo "broker did not start; last stderr lines:"; tail -20 "$BROKER_TMP/stderr" 2>/dev/null
  return 1
}

# run_kcat LABEL [ENV=VALUE ...]: run the selected kcat.sh checks, add to the totals
run_kcat() {
  local label=$1; shift
  local out; out=$(mktemp)
  echo "--- kcat.sh ($label)"
  env "$@" BOOTSTRAP="$BOOTSTRAP" HARNESS_PYTHON="$PY" "$COMPAT_DIR/kcat.sh" "${CHECKS[@]}" 2>&1 | tee "$out"
  local line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
  if [ -n "$line" ]; then
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
  else
    p=0; f=${#CHECKS[@]}; echo "kcat.sh ($label) printed no summary line: counting all ${f} checks as failed"
  fi
  COMPAT_PASSED=$((COMPAT_PASSED + p)); COMPAT_FAILED=$((COMPAT_FAILED + f))
  rm -f "$out"
}

if [ "${SKIP_COMPAT:-0}" = 1 ]; then
  skip_step "compat: kcat.sh" SKIP_COMPAT=1
elif [ ! -x "$COMPAT_DIR/kcat.sh" ]; then
  step "compat: kcat.sh"
  fail_step "compat: no executable kcat.sh in $COMPAT_DIR (set COMPAT_DIR to the folder holding it)"
else
  step "compat: kcat.sh"
  # every check kcat.sh defines (its ALL=( ... ) list) minus COMPAT_SKIP
  ALL_CHECKS=$(sed -n '/^ALL=(/,/)/p' "$COMPAT_DIR/kcat.sh" | tr -d '()' | sed 's/^ALL=//' | tr -s ' \t' '\n' | grep -v '^$')
  CHECKS=()
  for c in $ALL_CHECKS; do
    case " $COMPAT_SKIP " in *" $c "*) ;; *) CHECKS+=("$c") ;; esac
  done
  echo "checks: ${CHECKS[*]}"
  echo "skipped: $COMPAT_SKIP"
  if [ ${#CHECKS[@]} -eq 0 ]; then
    fail_step "compat: no checks found in kcat.sh"
  elif start_broker; then
    run_kcat "Debian kcat, system librdkafka"
    # the confluent-kafka wheel bundles a newer librdkafka under a mangled file name;
    # kcat loads librdkafka.so.1, so point a symlink of that name at it.
    LIBS=$("$PY" -c 'import confluent_kafka, os; print(os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs"))' 2>/dev/null)
    SO=$(ls "$LIBS"/librdkafka*.so* 2>/dev/null | head -1)
    if [ -n "$SO" ]; then
      mkdir -p "$BROKER_TMP/librdkafka"
      ln -sf "$SO" "$BROKER_TMP/librdkafka/librdkafka.so.1"
      run_kcat "Debian kcat, wheel librdkafka $("$PY" -c 'import confluent_kafka as c; print(c.libversion()[0])')" \
        KCAT_LIBRDKAFKA_DIR="$BROKER_TMP/librdkafka"
    else
      echo "no librdkafka in the confluent-kafka wheel (looked in ${LIBS:-?}): counting as 1 failure"
      COMPAT_FAILED=$((COMPAT_FAILED + 1))
    fi
    cleanup; BROKER_PID=""; BROKER_TMP=""
  else
    COMPAT_FAILED=$((COMPAT_FAILED + ${#CHECKS[@]} * 2))
  fi
  [ "$COMPAT_FAILED" -eq 0 ] || fail_step "compat ($COMPAT_FAILED failed)"
fi

# ------------------------------------------------------------------ e2e on kind
# e2e/kind.sh installs the chart and a 3-broker cluster into a real Kubernetes cluster:
# only the one IRONLOG_E2E_KUBECONFIG names (never whatever KUBECONFIG happens to point
# at), with the images loaded there (README "Run on kind").
E2E_NOTE=""
step "e2e: the journey on a kind cluster (e2e/kind.sh)"
if [ -n "${IRONLOG_E2E_KUBECONFIG:-}" ]; then
  HELM_DIR=${IRONLOG_K8S_CACHE:-/var/cache/ironlog-k8s}/helm-${HELM_VERSION:-v4.3.1}
  PATH="$HELM_DIR:$PATH" KUBECONFIG="$IRONLOG_E2E_KUBECONFIG" E2E_REQUIRE_CLUSTER=1 bash "$ROOT/e2e/kind.sh" \
    || fail_step "e2e/kind.sh"
else
  E2E_NOTE="e2e on kind: not run, IRONLOG_E2E_KUBECONFIG is not set (the workflow .github/workflows/e2e-kind.yml runs it)"
  echo "$E2E_NOTE"
fi

# ------------------------------------------------------------------ summary
echo
echo "==> summary ($((SECONDS - START)) s)"
for s in "${SKIPPED_STEPS[@]}"; do echo "!!!!! SKIPPED step (asked for): $s"; done
[ -n "$E2E_NOTE" ] && echo "!!!!! $E2E_NOTE"
if [ ${#FAILED_STEPS[@]} -eq 0 ]; then
  if [ ${#SKIPPED_STEPS[@]} -eq 0 ]; then echo "all steps passed"; else echo "all steps that ran passed"; fi
else
  for s in "${FAILED_STEPS[@]}"; do echo "failed step: $s"; done
  for s in "${TIMED_OUT[@]}"; do echo "timed out: $s"; done
fi
# the closing line counts the compat checks (cargo's own summary is printed above)
[ -n "${CHECKS+x}" ] && echo "compat: $COMPAT_PASSED passed, $COMPAT_FAILED failed"
[ ${#FAILED_STEPS[@]} -eq 0 ]
