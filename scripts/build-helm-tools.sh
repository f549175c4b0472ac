#!/usr/bin/env bash
# Builds the chart tools test/chart needs, from the Go module proxy (no release binaries are
# downloaded): helm (lint, template) and kubeconform (validates what helm renders), each cached per
# version. kubeconform cannot download its JSON schemas here either, so this also makes the schemas of
# Kubernetes' own kinds from the OpenAPI document of the real kube-apiserver scripts/build-k8s-tools.sh
# builds (started briefly by test/k8s/control-plane), cached per Kubernetes version. The schemas of our
# own kinds come from crds/ when the test runs.
#
# Usage: scripts/build-helm-tools.sh [--check]
#        prints "helm=PATH", "kubeconform=PATH" and "schemas=DIR"; with --check it builds nothing and
#        exits 3, saying what is missing, unless all of them are cached (what test/chart asks).
# Env:   KUBELUSTRE_HELM_VERSION, KUBELUSTRE_KUBECONFORM_VERSION (defaults below),
#        KUBELUSTRE_K8S_VERSION (scripts/k8s-tools.env), KUBELUSTRE_CACHE (default ~/.cache/kubelustre),
#        KUBELUSTRE_BUILD_JOBS (go build -p; default 1: the machine's 2 cores are shared).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/k8s-tools.env
source "$repo_root/scripts/k8s-tools.env"

helm_version="${KUBELUSTRE_HELM_VERSION:-v3.22.0}"
kubeconform_version="${KUBELUSTRE_KUBECONFORM_VERSION:-v0.8.0}"
cache_dir="${KUBELUSTRE_CACHE:-$HOME/.cache/kubelustre}"
build_jobs="${KUBELUSTRE_BUILD_JOBS:-1}"
check_only=false
[[ "${1:-}" == --check ]] && check_only=true
missing=()

log() { printf 'build-helm-tools: %s\n' "$*" >&2; }

# build NAME PACKAGE VERSION LDFLAGS_FUNCTION: go install into bin/NAME-VERSION/ unless that holds NAME
# already, linked with the flags LDFLAGS_FUNCTION prints (only called when building: it may download).
build() {
  local name="$1" package="$2" version="$3" ldflags_function="$4" ldflags
  local bin_dir="$cache_dir/bin/$name-$version" started=$SECONDS tmp_dir
  if [[ -x "$bin_dir/$name" ]]; then
    echo "$name=$bin_dir/$name"
    return
  fi
  if $check_only; then
    missing+=("$name $version ($bin_dir)")
    return
  fi
  command -v go >/dev/null 2>&1 || { log "go is not installed"; exit 1; }
  log "building $name $version (nice, -p=$build_jobs; a few minutes on a cold cache)"
  ldflags="$("$ldflags_function" "$version")"
  # Installed into a temp dir and moved into place, so an interrupted build never looks cached.
  mkdir -p "$cache_dir/bin"
  tmp_dir="$(mktemp -d "$cache_dir/bin/.$name-$version.XXXXXX")"
  GOBIN="$tmp_dir" GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-p=$build_jobs" \
    nice -n 19 go install -trimpath -ldflags "$ldflags" "$package@$version"
  rm -rf "$bin_dir"
  mv "$tmp_dir" "$bin_dir"
  log "built $name $version in $((SECONDS - started))s into $bin_dir"
  echo "$name=$bin_dir/$name"
}

# What helm's Makefile stamps: its version, and the Kubernetes version of the client-go it is built
# with. Without the latter, `helm template` renders and `helm lint` checks API deprecations for
# Kubernetes 1.20.
helm_ldflags() {
  local version="$1" go_mod minor
  go_mod="$(GOTOOLCHAIN=local go mod download -json "helm.sh/helm/v3@$version" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  minor="$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$go_mod")"
  [[ -n "$minor" ]] || { log "no k8s.io/client-go in $go_mod"; exit 1; }
  echo "-s -w -X helm.sh/helm/v3/internal/version.version=$version" \
    "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor" \
    "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
}

kubeconform_ldflags() { echo "-s -w -X main.version=$1"; }

build helm helm.sh/helm/v3/cmd/helm "$helm_version" helm_ldflags
build kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$kubeconform_version" kubeconform_ldflags

# The project's Node 24 (npm ci installs it): the converter is TypeScript, run as it is.
node_bin() {
  if [[ -x "$repo_root/node_modules/.bin/node" ]]; then
    echo "$repo_root/node_modules/.bin/node"
  else
    command -v node
  fi
}

# Kubernetes' kinds as strict JSON schemas, from GET /openapi/v2 of a throwaway control plane.
make_schemas() {
  local schema_dir="$cache_dir/schemas/$KUBELUSTRE_K8S_VERSION" tmp_dir started=$SECONDS
  if [[ -f "$schema_dir/.complete" ]]; then
    echo "schemas=$schema_dir"
    return
  fi
  if $check_only; then
    missing+=("the JSON schemas of Kubernetes $KUBELUSTRE_K8S_VERSION ($schema_dir)")
    return
  fi
  mkdir -p "$cache_dir/schemas"
  log "making the JSON schemas of Kubernetes $KUBELUSTRE_K8S_VERSION from its kube-apiserver"
  bash "$repo_root/scripts/build-k8s-tools.sh" >/dev/null
  # Global, not local: the EXIT trap runs after this function has returned.
  state_dir="$(mktemp -d "${TMPDIR:-/tmp}/kubelustre-schemas.XXXXXX")"
  # Stops exactly the control plane started here, however this script ends.
  trap 'KUBELUSTRE_STATE_DIR="$state_dir" "$repo_root/test/k8s/control-plane" down; rm -rf -- "$state_dir"' EXIT
  KUBELUSTRE_STATE_DIR="$state_dir" "$repo_root/test/k8s/control-plane" up
  "$KUBELUSTRE_K8S_BIN_DIR/kubectl" --kubeconfig "$state_dir/kubeconfig" --request-timeout 60s \
    get --raw /openapi/v2 >"$state_dir/openapi-v2.json"
  tmp_dir="$(mktemp -d "$cache_dir/schemas/.$KUBELUSTRE_K8S_VERSION.XXXXXX")"
  "$(node_bin)" "$repo_root/test/chart/json-schemas.ts" "$state_dir/openapi-v2.json" "$tmp_dir" >&2
  touch "$tmp_dir/.complete"
  rm -rf "$schema_dir"
  mv "$tmp_dir" "$schema_dir"
  log "made the schemas in $((SECONDS - started))s into $schema_dir"
  echo "schemas=$schema_dir"
}

make_schemas
if ((${#missing[@]} > 0)); then
  log "missing: ${missing[*]}"
  log "run scripts/build-helm-tools.sh to build them (cached after once)"
  exit 3
fi
