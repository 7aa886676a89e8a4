#!/usr/bin/env bash
# Copy the pinned upstream CRDs (sources.txt) out of the Go module cache into OUTDIR, plus the
# Seldon CRDs written in this directory (the Go module proxy serves no Seldon Core version),
# and check every file against SHA256SUMS. `--update` rewrites SHA256SUMS after a bump.
#   usage: hack/crds/fetch.sh OUTDIR [--update]
# The caller (Makefile `crds`) sets GOMODCACHE to the machine-wide cache.
set -euo pipefail
OUT=$(mkdir -p "${1:?outdir}" && cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
export GOFLAGS="${GOFLAGS:-} -modcacherw" GOTOOLCHAIN=local
rm -f "$OUT"/*.yaml
while read -r module version files; do
  case "$module" in ''|'#'*) continue ;; esac
  dir=$(cd "$(mktemp -d)" && go mod download -json "$module@$version" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["Error"]) if "Error" in d else print(d["Dir"])')
  for f in $files; do
    test -f "$dir/$f" || { echo "crds: $module@$version has no $f" >&2; exit 1; }
    install -m 0644 "$dir/$f" "$OUT/${module##*/}-$(basename "$f")"
  done
done < "$HERE/sources.txt"
for f in "$HERE"/seldon/*.yaml; do install -m 0644 "$f" "$OUT/mlgate-written-$(basename "$f")"; done
cd "$OUT"
if [ "${2:-}" = "--update" ]; then
  sha256sum -- *.yaml > "$HERE/SHA256SUMS"; echo "updated $HERE/SHA256SUMS"
else
  sha256sum --quiet -c "$HERE/SHA256SUMS"
  test "$(ls -- *.yaml | wc -l)" = "$(wc -l < "$HERE/SHA256SUMS")" || { echo "crds: SHA256SUMS and $OUT disagree" >&2; exit 1; }
fi
echo "$(ls -- *.yaml | wc -l) CRDs in $OUT"
