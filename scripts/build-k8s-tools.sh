#!/usr/bin/env bash
# Builds the real Kubernetes control-plane binaries our k8s tests run against (no mock API server):
# kube-apiserver and kubectl from the Go module proxy, cached per version so later runs skip the build,
# and etcd from Debian's etcd-server package.
#
# k8s.io/kubernetes is not meant to be imported: its go.mod requires its staging modules
# (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and replaces them with ./staging paths that the module
# zip does not contain. So we build from a throwaway module that requires k8s.io/kubernetes and pins
# every staging module to the matching published v0.MINOR.PATCH with replace directives.
#
# Usage: scripts/build-k8s-tools.sh [TOOL...]  (prints the bin directory on its last line)
#        TOOLs are k8s.io/kubernetes/cmd/ names; default kube-apiserver and kubectl (the operator tests'),
#        the e2e cluster adds kube-controller-manager, kube-scheduler and kubelet.
# Env:   KUBELUSTRE_K8S_VERSION (default in scripts/k8s-tools.env), KUBELUSTRE_CACHE (default ~/.cache/kubelustre),
#        KUBELUSTRE_BUILD_JOBS (go build -p; default 1: the machine's 2 cores are shared).
set -euo pipefail

# shellcheck source=scripts/k8s-tools.env
source "$(dirname "${BASH_SOURCE[0]}")/k8s-tools.env"
k8s_version="$KUBELUSTRE_K8S_VERSION"
cache_dir="${KUBELUSTRE_CACHE:-$HOME/.cache/kubelustre}"
bin_dir="$KUBELUSTRE_K8S_BIN_DIR"
build_jobs="${KUBELUSTRE_BUILD_JOBS:-1}"
tools=(kube-apiserver kubectl)
if (($# > 0)); then tools=("$@"); fi

log() { printf 'build-k8s-tools: %s\n' "$*" >&2; }

install_etcd() {
  if command -v etcd >/dev/null 2>&1; then
    return
  fi
  log "installing etcd (Debian etcd-server)"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq etcd-server >/dev/null
}

all_tools_cached() {
  local tool
  for tool in "${tools[@]}"; do
    [[ -x "$bin_dir/$tool" ]] || return 1
  done
}

# Writes go.mod for the throwaway module: every `k8s.io/X => ./staging/...` replace of the
# kubernetes go.mod becomes `k8s.io/X => k8s.io/X v0.MINOR.PATCH`, so the list never goes stale.
write_go_mod() {
  local module_dir="$1" kubernetes_go_mod staging_version
  kubernetes_go_mod="$(go mod download -json "k8s.io/kubernetes@$k8s_version" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  staging_version="v0.${k8s_version#v1.}"
  {
    echo "module kubelustre.local/k8s-tools"
    echo
    grep -E '^go [0-9.]+$' "$kubernetes_go_mod"
    echo
    echo "require k8s.io/kubernetes $k8s_version"
    echo
    echo "replace ("
    sed -n "s#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\t\1 => \1 $staging_version#p" \
      "$kubernetes_go_mod"
    echo ")"
  } >"$module_dir/go.mod"
}

# The same version stamp Kubernetes' own build sets, so /version and `kubectl version` tell the truth.
version_ldflags() {
  local minor="${k8s_version#v1.}"
  minor="${minor%%.*}"
  local pkg=k8s.io/component-base/version
  echo "-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor" \
    "-X $pkg.gitTreeState=clean"
}

build_tools() {
  local module_dir="$cache_dir/build/$k8s_version" tool started
  mkdir -p "$module_dir" "$bin_dir"
  write_go_mod "$module_dir"
  started=$SECONDS
  (
    cd "$module_dir"
    export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -p=$build_jobs"
    for tool in "${tools[@]}"; do
      [[ -x "$bin_dir/$tool" ]] && continue
      log "building $tool $k8s_version (nice, -p=$build_jobs; this takes a while on a cold cache)"
      nice -n 19 go get "k8s.io/kubernetes/cmd/$tool@$k8s_version"
      # Build to a temp name and rename, so an interrupted build never leaves a binary that looks cached.
      nice -n 19 go build -trimpath -ldflags "$(version_ldflags)" -o "$bin_dir/.$tool.tmp" \
        "k8s.io/kubernetes/cmd/$tool"
      mv "$bin_dir/.$tool.tmp" "$bin_dir/$tool"
    done
  )
  log "built ${tools[*]} in $((SECONDS - started))s into $bin_dir"
}

main() {
  install_etcd
  if all_tools_cached; then
    log "cached: $bin_dir"
  else
    command -v go >/dev/null 2>&1 || { log "go is not installed"; exit 1; }
    build_tools
  fi
  echo "$bin_dir"
}

main "$@"
