#!/usr/bin/env bash
# npm run e2e: the end-to-end test on a real single-node Kubernetes cluster on this machine.
#   1. installs what Debian packages (containerd, runc, CNI plugins, catatonit, etcd, docker.io) if missing
#   2. builds (cached in ~/.cache/kubelustre) the Kubernetes binaries, the e2e's Go programs and images
#   3. scripts/e2e-cluster.sh up, then test/e2e/e2e.ts, then scripts/e2e-cluster.sh down, also on failure
# A Docker daemon this run had to start (for the image builds) is stopped at the end too.
#
# Usage: scripts/e2e.sh               (as root)
# Env:   KUBELUSTRE_E2E_KEEP=1 leaves the cluster up after the test (take it down with
#        scripts/e2e-cluster.sh down); KUBELUSTRE_BUILD_JOBS (go build -p), KUBELUSTRE_E2E_DIR, KUBELUSTRE_CACHE.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$repo_root/node_modules/.bin:$PATH"

log() { printf 'e2e: %s\n' "$*" >&2; }

[[ $(id -u) -eq 0 ]] || { log "needs root (containerd, kubelet, mounts, network namespaces)"; exit 2; }

install_packages() {
  declare -A package_of=([containerd]=containerd [runc]=runc [catatonit]=catatonit [docker]=docker.io
    [nsenter]=util-linux [ip]=iproute2 [findmnt]=util-linux [curl]=curl [openssl]=openssl)
  local packages=() tool
  for tool in "${!package_of[@]}"; do command -v "$tool" >/dev/null 2>&1 || packages+=("${package_of[$tool]}"); done
  [[ -x /usr/lib/cni/bridge ]] || packages+=(containernetworking-plugins)
  ((${#packages[@]} == 0)) && return
  log "installing ${packages[*]} (apt-get)"
  apt-get update -qq
  # RUNLEVEL=1: no service start from the packages' maintainer scripts (containerd, docker).
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
}

docker_answers() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

started=$SECONDS
install_packages
test_output="$(mktemp "${TMPDIR:-/tmp}/kubelustre-e2e-output.XXXXXX")"
docker_was_up=0
if command -v docker >/dev/null && docker_answers; then docker_was_up=1; fi

cleanup() {
  local status=$?
  if ((status != 0)); then "$repo_root/scripts/e2e-cluster.sh" diag || true; fi
  if [[ "${KUBELUSTRE_E2E_KEEP:-0}" == 1 ]]; then
    log "the cluster stays up (KUBELUSTRE_E2E_KEEP=1): scripts/e2e-cluster.sh down"
  else
    "$repo_root/scripts/e2e-cluster.sh" down || status=1
  fi
  if ((docker_was_up == 0)); then "$repo_root/test/image/ensure-image.sh" --stop-daemon || true; fi
  log "done in $((SECONDS - started))s, exit $status"
  # The test's count again, as the last line (the teardown's log came after it).
  grep -E '^e2e: [0-9]+ passed, [0-9]+ failed$' "$test_output" 2>/dev/null | tail -n 1 || true
  rm -f "$test_output"
  exit "$status"
}
trap cleanup EXIT

build_started=$SECONDS
"$repo_root/scripts/build-k8s-tools.sh" kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet >/dev/null
"$repo_root/scripts/build-helm-tools.sh" >/dev/null
"$repo_root/scripts/build-e2e-images.sh" >/dev/null
log "tools and images ready in $((SECONDS - build_started))s"

"$repo_root/scripts/e2e-cluster.sh" up
# Every step of the test is bounded; this bounds the whole, should one hang anyway.
timeout --signal=TERM 1200 node "$repo_root/test/e2e/e2e.ts" | tee "$test_output"
