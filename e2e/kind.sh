#!/usr/bin/env bash
# e2e/kind.sh — the user's journey against a real Kubernetes cluster (kind, made with
# kind-config.yaml), with kubectl and helm as a user runs them:
#   1. helm install charts/ironlog-operator (into namespace ironlog-system), wait for the rollout
#   2. apply examples/kafka-cluster.yaml (3 brokers) into namespace ironlog-e2e,
#      kubectl wait --for=condition=Ready
#   3. apply examples/topic.yaml, wait until both Topics are Ready
#   4. produce and consume: `ironlog canary` in a pod of the broker image writes records with
#      acks=all to a partition led by every broker and reads them back; its /metrics (read
#      through the API server's pod proxy) must count records consumed and none lost
#   5. delete the resources and uninstall the chart; everything the operator made is gone
#
# Needs KUBECONFIG naming a reachable cluster whose nodes have the images `ironlog:0.1.0`
# and `ironlog-operator:0.1.0` (README "Run on kind": docker build + kind load), and kubectl
# and helm on PATH (missing ones fail). Without KUBECONFIG, or when its cluster does not
# answer, it says so and exits 0 without touching anything: a run with no cluster is a
# skip, never a silent pass (E2E_REQUIRE_CLUSTER=1 makes an unreachable cluster a failure).
#
# env: KUBECONFIG (required), E2E_TIMEOUT (default 15m, each wait), E2E_KEEP=1 (leave
# everything installed, to look at it), E2E_REQUIRE_CLUSTER=1
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TIMEOUT=${E2E_TIMEOUT:-15m}
OPS_NS=ironlog-system
NS=ironlog-e2e
RELEASE=ironlog-operator

skip() { echo "e2e: SKIPPED: $*"; exit 0; }
fail() { echo "e2e: FAILED: $*" >&2; diagnose; exit 1; }
step() { echo "e2e: $*"; }
diagnose() {
  set +e
  echo "----- diagnostics -----" >&2
  kubectl get kafkaclusters,topics,statefulsets,pods,pvc -n "$NS" -o wide >&2
  kubectl describe kafkacluster -n "$NS" >&2
  kubectl logs -n "$OPS_NS" "deployment/$RELEASE" --tail=200 >&2
  kubectl logs -n "$NS" canary --tail=100 >&2
  kubectl get events -n "$NS" --sort-by=.lastTimestamp >&2
  echo "----- end of diagnostics -----" >&2
}

[ -n "${KUBECONFIG:-}" ] || skip "KUBECONFIG is not set: point it at a cluster made with kind-config.yaml (README \"Run on kind\")"
command -v kubectl >/dev/null || { echo "e2e: FAILED: kubectl is not on PATH" >&2; exit 1; }
command -v helm >/dev/null || { echo "e2e: FAILED: helm is not on PATH (operator/tests/k8s/build.sh builds one)" >&2; exit 1; }
if ! kubectl version --request-timeout=10s >/dev/null 2>&1; then
  why="the cluster of KUBECONFIG=$KUBECONFIG does not answer ($(kubectl cluster-info --request-timeout=10s 2>&1 | tail -1 || true))"
  [ "${E2E_REQUIRE_CLUSTER:-}" = 1 ] && { echo "e2e: FAILED: $why" >&2; exit 1; }
  skip "$why"
fi

cleanup() {
  [ "${E2E_KEEP:-}" = 1 ] && { echo "e2e: E2E_KEEP=1: leaving $NS and the release installed"; return; }
  kubectl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "installing the chart into $OPS_NS"
kubectl create namespace "$OPS_NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
helm upgrade --install "$RELEASE" "$ROOT/charts/ironlog-operator" --namespace "$OPS_NS" --wait --timeout "$TIMEOUT" \
  || fail "helm install"
kubectl -n "$OPS_NS" rollout status "deployment/$RELEASE" --timeout="$TIMEOUT" || fail "the operator's rollout"

step "creating a 3-broker KafkaCluster in $NS"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -n "$NS" --server-side -f "$ROOT/examples/kafka-cluster.yaml"
kubectl wait -n "$NS" kafkacluster/my-cluster --for=condition=Ready --timeout="$TIMEOUT" \
  || fail "the KafkaCluster did not become Ready"
kubectl get -n "$NS" kafkacluster/my-cluster
bootstrap=$(kubectl get -n "$NS" kafkacluster/my-cluster -o jsonpath='{.status.bootstrapServers}')
[ -n "$bootstrap" ] || fail "the Ready KafkaCluster has no status.bootstrapServers"

step "creating the example Topics"
kubectl apply -n "$NS" --server-side -f "$ROOT/examples/topic.yaml"
kubectl wait -n "$NS" topic/orders topic/orders-dlq --for=condition=Ready --timeout="$TIMEOUT" \
  || fail "the Topics did not become Ready"

step "producing and consuming through $bootstrap (ironlog canary in the broker image)"
image=$(kubectl get -n "$NS" statefulset/my-cluster-combined -o jsonpath='{.spec.template.spec.containers[0].image}')
kubectl apply -n "$NS" -f - <<POD
apiVersion: v1
kind: Pod
metadata:
  name: canary
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, runAsUser: 1000}
  containers:
    - name: canary
      image: $image
      command: [ironlog, canary, --bootstrap-server, "$bootstrap", --override, canary.interval.ms=500]
      ports: [{name: http, containerPort: 8080}]
      readinessProbe:
        httpGet: {path: /health/ready, port: http}
        periodSeconds: 2
POD
kubectl wait -n "$NS" pod/canary --for=condition=Ready --timeout="$TIMEOUT" || fail "the canary did not become ready"
metric() { # the sum of a canary metric's samples, read through the API server's pod proxy
  kubectl get --raw "/api/v1/namespaces/$NS/pods/canary:8080/proxy/metrics" \
    | awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%d\n", s}'
}
deadline=$((SECONDS + 300))
until [ "$(metric ironlog_canary_records_consumed_total)" -ge 20 ]; do
  [ $SECONDS -lt $deadline ] || fail "the canary consumed fewer than 20 records in 5 minutes"
  sleep 5
done
lost=$(metric ironlog_canary_records_lost_total)
[ "$lost" = 0 ] || fail "the canary lost $lost acknowledged records"
echo "e2e: consumed $(metric ironlog_canary_records_consumed_total) records, produced $(metric ironlog_canary_records_produced_total), lost 0"
kubectl delete -n "$NS" pod/canary --wait=true

[ "${E2E_KEEP:-}" = 1 ] && { exit 0; }
step "deleting the resources: the operator cleans up"
kubectl delete -n "$NS" -f "$ROOT/examples/topic.yaml" --wait=true --timeout="$TIMEOUT" || fail "deleting the Topics"
kubectl delete -n "$NS" kafkacluster/my-cluster --wait=true --timeout="$TIMEOUT" || fail "deleting the KafkaCluster"
kubectl wait -n "$NS" statefulset -l ironlog.dev/cluster=my-cluster --for=delete --timeout="$TIMEOUT" 2>/dev/null || true
left=$(kubectl get -n "$NS" statefulsets,services,configmaps,poddisruptionbudgets -l ironlog.dev/cluster=my-cluster -o name)
[ -z "$left" ] || fail "objects of the deleted cluster remain: $left"
helm uninstall "$RELEASE" --namespace "$OPS_NS" --wait --timeout "$TIMEOUT" || fail "helm uninstall"
echo "e2e: the journey passed"
