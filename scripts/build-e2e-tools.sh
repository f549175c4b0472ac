#!/usr/bin/env bash
# Builds the Go programs of the e2e cluster that Debian does not package, from the Go module proxy,
# each cached per version in $KUBELUSTRE_CACHE/bin/e2e/NAME-VERSION/ so later runs skip the build:
#   crictl          (cri-tools) the e2e cluster's teardown: stops every pod sandbox through the CRI, so
#                   containerd runs the CNI DEL and removes the network namespaces
#   coredns         the cluster DNS, run on the host (scripts/e2e-cluster.sh)
#   csi-provisioner (external-provisioner) and csi-resizer (external-resizer): the chart's controller
#                   sidecars, put into images by scripts/build-e2e-images.sh
# The chart's node sidecars, node-driver-registrar and livenessprobe, are not here: the Go module proxy
# this machine reaches answers 403 for every version of kubernetes-csi/node-driver-registrar and
# kubernetes-csi/livenessprobe, pseudo-versions included (their v2 tags lack a /v2 module path, so only
# pseudo-versions could exist). The e2e runs the TypeScript stand-ins of test/e2e/standins instead
# (scripts/build-e2e-images.sh).
# The kubelet, controller-manager and scheduler come from scripts/build-k8s-tools.sh.
#
# Usage: scripts/build-e2e-tools.sh         (prints the bin directory on its last line)
# Env:   KUBELUSTRE_CACHE (default ~/.cache/kubelustre), KUBELUSTRE_BUILD_JOBS (go build -p; default 1).
set -euo pipefail

cache_dir="${KUBELUSTRE_CACHE:-$HOME/.cache/kubelustre}"
bin_dir="$cache_dir/bin/e2e"
build_jobs="${KUBELUSTRE_BUILD_JOBS:-1}"

# name, module@version, package in it. csi-resizer's module moved to /v2 at v2.0.0.
crictl_version=v1.36.0
coredns_version=v1.15.0
provisioner_version=v5.3.0
resizer_version=v2.3.0

log() { printf 'build-e2e-tools: %s\n' "$*" >&2; }

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -p=$build_jobs"

# Installs PACKAGE@VERSION as $bin_dir/NAME-VERSION/NAME, through a temp directory so an interrupted
# build never looks cached. For modules whose go.mod has no replace directives (go install refuses those).
go_install() {
  local name="$1" package="$2" version="$3" out="$bin_dir/$1-$3" tmp
  [[ -x "$out/$name" ]] && return
  log "building $name $version (nice, -p=$build_jobs)"
  tmp="$(mktemp -d "$bin_dir/.$name.XXXXXX")"
  GOBIN="$tmp" nice -n 19 go install -trimpath -ldflags "-s -w" "$package@$version"
  mkdir -p "$out"
  mv "$tmp/$(basename "$package")" "$out/$name"
  rmdir "$tmp"
}

# Builds PACKAGE (a path inside MODULE) with MODULE@VERSION as the main module, so its go.mod's
# replace directives apply: the module's source is copied out of the module cache and built there.
go_build_main_module() {
  local name="$1" module="$2" package="$3" version="$4" ldflags="$5" out="$bin_dir/$1-$4" src
  [[ -x "$out/$name" ]] && return
  log "building $name $version as its own main module (nice, -p=$build_jobs)"
  src="$cache_dir/build/e2e/$name-$version"
  rm -rf "$src"
  mkdir -p "$(dirname "$src")" "$out"
  cp -r "$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" "$src"
  chmod -R u+w "$src"
  # The module zip holds no vendor/ directory, but vendor/modules.txt may be there: build from modules.
  rm -rf "$src/vendor"
  (cd "$src" && nice -n 19 go build -trimpath -ldflags "-s -w $ldflags" -o "$out/.$name.tmp" "./$package")
  mv "$out/.$name.tmp" "$out/$name"
  rm -rf "$src"
}

main() {
  command -v go >/dev/null 2>&1 || { log "go is not installed"; exit 1; }
  mkdir -p "$bin_dir"
  local started=$SECONDS
  go_install crictl sigs.k8s.io/cri-tools/cmd/crictl "$crictl_version"
  go_install coredns github.com/coredns/coredns "$coredns_version"
  go_install csi-resizer github.com/kubernetes-csi/external-resizer/v2/cmd/csi-resizer "$resizer_version"
  go_build_main_module csi-provisioner github.com/kubernetes-csi/external-provisioner/v5 cmd/csi-provisioner \
    "$provisioner_version" "-X main.version=$provisioner_version"
  # One file the other scripts source: tool_NAME=PATH for each program, and its version.
  {
    echo "tool_crictl=$bin_dir/crictl-$crictl_version/crictl"
    echo "tool_coredns=$bin_dir/coredns-$coredns_version/coredns"
    echo "tool_csi_resizer=$bin_dir/csi-resizer-$resizer_version/csi-resizer"
    echo "version_csi_resizer=$resizer_version"
    echo "tool_csi_provisioner=$bin_dir/csi-provisioner-$provisioner_version/csi-provisioner"
    echo "version_csi_provisioner=$provisioner_version"
  } >"$bin_dir/tools.env.tmp"
  mv "$bin_dir/tools.env.tmp" "$bin_dir/tools.env"
  log "ready in $((SECONDS - started))s: $bin_dir"
  echo "$bin_dir"
}

main "$@"
