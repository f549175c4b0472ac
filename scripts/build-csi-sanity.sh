#!/usr/bin/env bash
# Builds csi-sanity (kubernetes-csi/csi-test), the CSI conformance suite test/csi/sanity.test.ts runs
# against our driver, from the Go module proxy; cached per version so later runs skip the build.
# v5.6.0 needs go >= 1.25 and builds with the local toolchain (GOTOOLCHAIN=local: never download one).
#
# Usage: scripts/build-csi-sanity.sh            (prints the binary's path on its last line)
# Env:   KUBELUSTRE_CSI_SANITY_VERSION (default below), KUBELUSTRE_CACHE (default ~/.cache/kubelustre),
#        KUBELUSTRE_BUILD_JOBS (go build -p; default 1: the machine's 2 cores are shared).
set -euo pipefail

version="${KUBELUSTRE_CSI_SANITY_VERSION:-v5.6.0}"
cache_dir="${KUBELUSTRE_CACHE:-$HOME/.cache/kubelustre}"
bin_dir="$cache_dir/bin/csi-sanity-$version"
build_jobs="${KUBELUSTRE_BUILD_JOBS:-1}"

log() { printf 'build-csi-sanity: %s\n' "$*" >&2; }

if [[ -x "$bin_dir/csi-sanity" ]]; then
  log "cached: $bin_dir/csi-sanity"
else
  command -v go >/dev/null 2>&1 || { log "go is not installed"; exit 1; }
  started=$SECONDS
  log "building csi-sanity $version (nice, -p=$build_jobs)"
  # Install into a temp directory and move the binary, so an interrupted build never looks cached.
  mkdir -p "$cache_dir/bin"
  tmp_bin="$(mktemp -d "$cache_dir/bin/.csi-sanity.XXXXXX")"
  trap 'rm -rf "$tmp_bin"' EXIT
  GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-p=$build_jobs -trimpath" GOBIN="$tmp_bin" \
    nice -n 19 go install "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$version"
  mkdir -p "$bin_dir"
  mv "$tmp_bin/csi-sanity" "$bin_dir/csi-sanity"
  log "built csi-sanity $version in $((SECONDS - started))s into $bin_dir"
fi
echo "$bin_dir/csi-sanity"
