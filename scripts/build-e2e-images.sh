#!/usr/bin/env bash
# shellcheck disable=SC2154 # tool_* and version_* come from build-e2e-tools.sh's tools.env
# Makes every image the e2e cluster runs, with Docker, and saves them into one tar that
# scripts/e2e-cluster.sh imports into its containerd (nothing is ever pulled):
#   kubelustre.local/e2e/kubelustre:dev          kubelustre:dev (test/image/ensure-image.sh) under our name
#   kubelustre.local/e2e/pause:dev               the pod sandbox: Debian's catatonit (static) in pause mode
#   kubelustre.local/e2e/csi-provisioner:VERSION, csi-resizer:VERSION,
#                                                the CSI controller sidecars built by scripts/build-e2e-tools.sh,
#                                                each the static binary alone (FROM scratch)
#   kubelustre.local/e2e/node-driver-registrar:dev, livenessprobe:dev
#                                                the node sidecars' TypeScript stand-ins (test/e2e/standins)
#                                                on the kubelustre image, which has their dependencies
# The sidecars run as root, as the upstream images do (the registrar writes into the kubelet's
# root-owned plugins_registry, and both connect to the root-owned plugin socket).
# The registry host kubelustre.local does not exist: an image missing from the tar fails to pull at
# once instead of reaching out.
#
# Usage: scripts/build-e2e-images.sh     (as root; prints the tar's path on its last line)
# Env:   KUBELUSTRE_CACHE (default ~/.cache/kubelustre).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${KUBELUSTRE_CACHE:-$HOME/.cache/kubelustre}"
out_dir="$cache_dir/e2e-images"
registry=kubelustre.local/e2e

log() { printf 'build-e2e-images: %s\n' "$*" >&2; }

# tag, context: builds the Docker context directory as tag, then removes the directory. The classic
# builder (Debian's Docker has no buildx); its output (a deprecation notice) only on failure.
build_context() {
  local tag="$1" context="$2" output status=0
  log "building $tag"
  output="$(DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$context" 2>&1)" || status=$?
  rm -rf "$context"
  if ((status != 0)); then
    printf '%s\n' "$output" >&2
    log "building $tag failed"
    exit 1
  fi
}

# tag, binary, entrypoint (JSON array): a FROM-scratch image of one static binary.
scratch_image() {
  local tag="$1" binary="$2" entrypoint="$3" context
  if docker image inspect "$tag" >/dev/null 2>&1; then return; fi
  context="$(mktemp -d "${TMPDIR:-/tmp}/kubelustre-e2e-image.XXXXXX")"
  cp "$binary" "$context/"
  printf 'FROM scratch\nCOPY %s /%s\nENTRYPOINT %s\n' "$(basename "$binary")" "$(basename "$binary")" \
    "$entrypoint" >"$context/Dockerfile"
  build_context "$tag" "$context"
}

# tag, script, base: a stand-in of test/e2e/standins run by the base (kubelustre) image's Node, as its entrypoint.
standin_image() {
  local tag="$1" script="$2" base="$3" context
  context="$(mktemp -d "${TMPDIR:-/tmp}/kubelustre-e2e-image.XXXXXX")"
  cp -r "$repo_root/test/e2e/standins" "$context/standins"
  rm -f "$context"/standins/*.test.ts
  printf 'FROM %s\nCOPY standins /app/test/e2e/standins\nUSER 0:0\nENTRYPOINT ["node", "/app/test/e2e/standins/%s"]\n' \
    "$base" "$script" >"$context/Dockerfile"
  build_context "$tag" "$context"
}

main() {
  [[ $(id -u) -eq 0 ]] || { log "needs root (Docker)"; exit 2; }
  local started=$SECONDS kubelustre_image catatonit
  # The e2e cluster's Go programs (cached), then the kubelustre image (and a Docker daemon).
  "$repo_root/scripts/build-e2e-tools.sh" >/dev/null
  # shellcheck source=/dev/null
  source "$cache_dir/bin/e2e/tools.env"
  kubelustre_image="$("$repo_root/test/image/ensure-image.sh" | tail -n 1)"
  if ! catatonit="$(command -v catatonit)"; then
    log "installing catatonit (Debian) for the pause image"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq catatonit >/dev/null
    catatonit="$(command -v catatonit)"
  fi

  local images=("$registry/kubelustre:dev" "$registry/pause:dev"
    "$registry/csi-provisioner:$version_csi_provisioner" "$registry/csi-resizer:$version_csi_resizer"
    "$registry/node-driver-registrar:dev" "$registry/livenessprobe:dev")
  docker tag "$kubelustre_image" "${images[0]}"
  scratch_image "${images[1]}" "$catatonit" '["/catatonit", "-P"]'
  scratch_image "${images[2]}" "$tool_csi_provisioner" '["/csi-provisioner"]'
  scratch_image "${images[3]}" "$tool_csi_resizer" '["/csi-resizer"]'
  # Rebuilt every time (Docker's layer cache makes that quick): they follow the kubelustre image.
  standin_image "${images[4]}" node-driver-registrar-standin.ts "${images[0]}"
  standin_image "${images[5]}" livenessprobe-standin.ts "${images[0]}"

  mkdir -p "$out_dir"
  docker save -o "$out_dir/.images.tar.tmp" "${images[@]}"
  mv "$out_dir/.images.tar.tmp" "$out_dir/images.tar"
  # What the e2e values need: the sidecars' tags.
  {
    echo "registry=$registry"
    echo "csi_provisioner_tag=$version_csi_provisioner"
    echo "csi_resizer_tag=$version_csi_resizer"
    echo "stand_ins_tag=dev"
  } >"$out_dir/images.env"
  log "saved ${#images[@]} images in $((SECONDS - started))s: $out_dir/images.tar"
  echo "$out_dir/images.tar"
}

main "$@"
