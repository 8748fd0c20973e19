#!/usr/bin/env bash
# build.sh — build the Kubernetes control plane the operator tests run against: etcd,
# kube-apiserver, kube-controller-manager and kube-scheduler, and kubectl (the journey test
# applies and waits with it, as a user does), from their published Go modules.
#
# The binaries are built once per machine and cached outside the clone, keyed by version:
#   $IRONLOG_K8S_CACHE/kubernetes-<K8S_VERSION>/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   $IRONLOG_K8S_CACHE/etcd-<ETCD_VERSION>/etcd
#   $IRONLOG_K8S_CACHE/helm-<HELM_VERSION>/helm
#   $IRONLOG_K8S_CACHE/prometheus-operator-<PROMETHEUS_OPERATOR_VERSION>/*.yaml (two CRDs)
# A binary that is already there is not built again. The Go module and build caches live under
# the cache directory too. Prints the directories on its last lines (KUBE_BIN=, ETCD_BIN=, HELM_BIN=).
#
# Kubernetes: a wrapper module requires k8s.io/kubernetes and replaces each k8s.io/<staging>
# module (the ones k8s.io/kubernetes itself replaces with ./staging/src/...) with its published
# v0.<minor>.<patch> release. CGO_ENABLED=0, tags selinux,notest, version ldflags as Kubernetes'
# own build sets them. etcd: a wrapper module around go.etcd.io/etcd/server/v3's etcdmain.
#
# env:
#   K8S_VERSION        default v1.36.3
#   ETCD_VERSION       default v3.6.16
#   HELM_VERSION       default v4.3.1
#   PROMETHEUS_OPERATOR_VERSION default v0.85.0
#   IRONLOG_K8S_CACHE  default /var/cache/ironlog-k8s
#   K8S_GOTOOLCHAIN    a Go toolchain to fetch and build with (default: the installed go)
#   BUILD_NICE         niceness of the go builds (default 10: the control plane build is long
#                      and must not starve other work on a small machine)
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
CACHE=${IRONLOG_K8S_CACHE:-/var/cache/ironlog-k8s}
NICE=${BUILD_NICE:-10}

KUBE_DIR=$CACHE/kubernetes-$K8S_VERSION
ETCD_DIR=$CACHE/etcd-$ETCD_VERSION
mkdir -p "$CACHE" "$KUBE_DIR" "$ETCD_DIR"

export GOMODCACHE=${GOMODCACHE_OVERRIDE:-$CACHE/go/mod}
export GOCACHE=${GOCACHE_OVERRIDE:-$CACHE/go/build}
# the machine's Go unless the caller names a toolchain (test.sh does when its Go is too old)
export GOTOOLCHAIN=${K8S_GOTOOLCHAIN:-local}
export GOFLAGS=-mod=mod
export CGO_ENABLED=0
command -v go >/dev/null || { echo "build.sh: go is not installed (Go 1.26 or newer is needed)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ------------------------------------------------------------------ etcd
if [ -x "$ETCD_DIR/etcd" ]; then
  echo "etcd $ETCD_VERSION: cached in $ETCD_DIR"
else
  echo "etcd $ETCD_VERSION: building"
  mkdir -p "$work/etcd"
  cd "$work/etcd"
  cat > go.mod <<MOD
module ironlog.dev/testbuild/etcd

go 1.26

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  cat > main.go <<'SRC'
// The etcd server binary, built from go.etcd.io/etcd/server/v3.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
SRC
  go mod tidy
  nice -n "$NICE" go build -trimpath -ldflags "-s -w" -o "$ETCD_DIR/etcd.tmp" .
  mv "$ETCD_DIR/etcd.tmp" "$ETCD_DIR/etcd"
  "$ETCD_DIR/etcd" --version
fi

# ------------------------------------------------------------------ kubernetes
bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
missing=0
for b in "${bins[@]}"; do [ -x "$KUBE_DIR/$b" ] || missing=1; done
if [ "$missing" = 0 ]; then
  echo "kubernetes $K8S_VERSION: cached in $KUBE_DIR"
else
  echo "kubernetes $K8S_VERSION: building ${bins[*]}"
  staging_version=v0.${K8S_VERSION#v1.}
  mkdir -p "$work/kube"
  cd "$work/kube"
  # k8s.io/kubernetes' own go.mod names its staging modules in `=> ./staging/src/...` replaces
  go mod download -json "k8s.io/kubernetes@$K8S_VERSION" > dl.json
  kmod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' dl.json)
  [ -f "$kmod" ] || { echo "build.sh: no go.mod for k8s.io/kubernetes@$K8S_VERSION in $kmod" >&2; exit 1; }
  staging=$(grep -oE '^[[:space:]]*k8s\.io/[a-z0-9-]+ => \./staging/' "$kmod" | awk '{print $1}' | sort -u)
  [ -n "$staging" ] || { echo "build.sh: found no staging replaces in $kmod" >&2; exit 1; }
  {
    echo "module ironlog.dev/testbuild/kubernetes"
    echo
    echo "go 1.26.0"
    echo
    echo "godebug default=go1.26"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m $staging_version"; done
    echo ")"
  } > go.mod
  echo "replacing $(echo "$staging" | wc -l) staging modules with $staging_version"
  cat > tools.go <<'SRC'
//go:build tools

// Pins the control plane commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
SRC
  go mod tidy
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  pkg=k8s.io/component-base/version
  cpkg=k8s.io/client-go/pkg/version
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ld="-s -w"
  for p in $pkg $cpkg; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=$date -X $p.gitCommit=module-$K8S_VERSION"
  done
  for b in "${bins[@]}"; do
    [ -x "$KUBE_DIR/$b" ] && { echo "$b: cached"; continue; }
    echo "$b: building"
    nice -n "$NICE" go build -trimpath -tags selinux,notest -ldflags "$ld" \
      -o "$KUBE_DIR/$b.tmp" "k8s.io/kubernetes/cmd/$b"
    mv "$KUBE_DIR/$b.tmp" "$KUBE_DIR/$b"
  done
  "$KUBE_DIR/kube-apiserver" --version
  "$KUBE_DIR/kubectl" version --client
fi

# ------------------------------------------------------------------ helm
# The chart tests (operator/tests/manifests.rs) render and install charts/ironlog-operator with
# helm, built from its Go module helm.sh/helm/v4 (cmd/helm) with the version ldflags helm's own
# Makefile sets.
HELM_VERSION=${HELM_VERSION:-v4.3.1}
HELM_DIR=$CACHE/helm-$HELM_VERSION
mkdir -p "$HELM_DIR"
if [ -x "$HELM_DIR/helm" ]; then
  echo "helm $HELM_VERSION: cached in $HELM_DIR"
else
  echo "helm $HELM_VERSION: building"
  mkdir -p "$work/helm"
  cd "$work/helm"
  cat > go.mod <<MOD
module ironlog.dev/testbuild/helm

go 1.26

require helm.sh/helm/v4 $HELM_VERSION
MOD
  cat > tools.go <<'SRC'
//go:build tools

// Pins the helm command this module builds.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
SRC
  go mod tidy
  hv=helm.sh/helm/v4/internal/version
  nice -n "$NICE" go build -trimpath -ldflags "-s -w -X $hv.version=$HELM_VERSION -X $hv.gitTreeState=clean" \
    -o "$HELM_DIR/helm.tmp" helm.sh/helm/v4/cmd/helm
  mv "$HELM_DIR/helm.tmp" "$HELM_DIR/helm"
  "$HELM_DIR/helm" version
fi

# ------------------------------------------------------------------ Prometheus Operator CRDs
# The chart's ServiceMonitor and PrometheusRule are dry-run against the API server like the
# rest of it (operator/tests/manifests.rs), so it needs their CRDs: the Prometheus Operator's
# own, from its published Go module (example/prometheus-operator-crd/).
PROMETHEUS_OPERATOR_VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}
PROM_DIR=$CACHE/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION
prom_crds=(servicemonitors prometheusrules)
mkdir -p "$PROM_DIR"
prom_missing=0
for c in "${prom_crds[@]}"; do [ -f "$PROM_DIR/monitoring.coreos.com_$c.yaml" ] || prom_missing=1; done
if [ "$prom_missing" = 0 ]; then
  echo "prometheus-operator CRDs $PROMETHEUS_OPERATOR_VERSION: cached in $PROM_DIR"
else
  echo "prometheus-operator CRDs $PROMETHEUS_OPERATOR_VERSION: fetching"
  mkdir -p "$work/prom"
  cd "$work/prom"
  go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" > dl.json
  pdir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' dl.json)
  [ -d "$pdir/example/prometheus-operator-crd" ] || { echo "build.sh: no CRDs in the prometheus-operator module at $pdir" >&2; exit 1; }
  for c in "${prom_crds[@]}"; do
    cp "$pdir/example/prometheus-operator-crd/monitoring.coreos.com_$c.yaml" "$PROM_DIR/monitoring.coreos.com_$c.yaml.tmp"
    mv "$PROM_DIR/monitoring.coreos.com_$c.yaml.tmp" "$PROM_DIR/monitoring.coreos.com_$c.yaml"
  done
fi

echo "KUBE_BIN=$KUBE_DIR"
echo "ETCD_BIN=$ETCD_DIR"
echo "HELM_BIN=$HELM_DIR"
echo "PROMETHEUS_OPERATOR_CRDS=$PROM_DIR"
