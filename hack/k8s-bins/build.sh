#!/usr/bin/env bash
# Build etcd, kube-apiserver, kube-controller-manager and kubectl from the pinned wrapper
# modules into OUTDIR. The caller (Makefile `k8s-bins`) sets GOCACHE/GOMODCACHE to the
# machine-wide cache so only the first build on a machine pays (~8.5 min cold).
#   usage: hack/k8s-bins/build.sh OUTDIR
set -euo pipefail
OUT=$(mkdir -p "${1:?outdir}" && cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
# -modcacherw: module-cache files stay deletable; -mod=readonly: go.mod/go.sum are the pin.
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath -modcacherw"

cd "$HERE/kube"
V=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)        # e.g. v1.37.2
P=k8s.io/component-base/version
# Version stamps: an empty gitVersion makes kube-apiserver panic at init, and without them
# /version reports v0.0.0-master. Read V through `go list`, since tidy reformats go.mod.
LD="-s -w -X $P.gitVersion=$V -X $P.gitMajor=1 -X $P.gitMinor=$(echo "$V" | cut -d. -f2) -X $P.gitTreeState=clean"
for cmd in kube-apiserver kube-controller-manager kubectl; do
  echo "building $cmd $V"
  go build -ldflags "$LD" -o "$OUT/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done

cd "$HERE/etcd"
echo "building etcd $(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
go build -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3
