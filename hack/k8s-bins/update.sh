#!/usr/bin/env bash
# Regenerate the two wrapper modules that build kube-apiserver, kube-controller-manager,
# kubectl and etcd
# from the Go module proxy. Run when bumping versions; commit go.mod + go.sum.
#   usage: hack/k8s-bins/update.sh v1.37.2 v3.7.3
set -euo pipefail
K8S_VERSION=${1:?k8s version, e.g. v1.37.2}
ETCD_VERSION=${2:?etcd version, e.g. v3.7.3}
HERE=$(cd "$(dirname "$0")" && pwd)
STAGING_VERSION="v0.${K8S_VERSION#v1.}"            # v1.37.2 -> v0.37.2

# --- kube: k8s.io/kubernetes requires every staging module at v0.0.0 and replaces
# it with ./staging/src/k8s.io/<name>. Replaces in a dependency are ignored, so
# re-point each one at its published tag.
MODFILE=$(cd "$(mktemp -d)" && go mod init tmp >/dev/null 2>&1 &&
          go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@${K8S_VERSION}")
GOVER=$(awk '$1=="go"{print $2; exit}' "$MODFILE")
{
  printf 'module mlgate.local/k8s-bins/kube\n\ngo %s\n' "$GOVER"
  grep -E '^godebug ' "$MODFILE" || true
  printf '\nrequire k8s.io/kubernetes %s\n\n' "$K8S_VERSION"
  printf 'tool (\n\tk8s.io/kubernetes/cmd/kube-apiserver\n\tk8s.io/kubernetes/cmd/kube-controller-manager\n\tk8s.io/kubernetes/cmd/kubectl\n)\n\n'
  echo "replace ("
  # required staging modules: "k8s.io/<x> v0.0.0" lines of the require block
  awk -v v="$STAGING_VERSION" '$2=="v0.0.0" && $1 ~ /^k8s\.io\// {printf "\t%s => %s %s\n", $1, $1, v}' "$MODFILE"
  echo ")"
} > "$HERE/kube/go.mod"
rm -f "$HERE/kube/go.sum"
(cd "$HERE/kube" && go mod tidy)

# --- etcd: go.etcd.io/etcd/server/v3's root package is etcd's main; its go.mod has
# ../ replaces, so `go install` refuses it; a wrapper module builds it fine.
printf 'module mlgate.local/k8s-bins/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n\ntool go.etcd.io/etcd/server/v3\n' \
  "$ETCD_VERSION" > "$HERE/etcd/go.mod"
rm -f "$HERE/etcd/go.sum"
(cd "$HERE/etcd" && go mod tidy)
echo "updated: kube-apiserver/kubectl $K8S_VERSION (staging $STAGING_VERSION), etcd $ETCD_VERSION"
