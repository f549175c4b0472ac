#!/usr/bin/env bash
# Makes sure this machine can run kubelustre:dev: Docker and debootstrap installed (Debian's packages), a
# Docker daemon answering (one is started when none does), the locally made base image
# (make-base-image.sh) and `docker build -t kubelustre:dev` of the repository's Dockerfile, which Docker's
# layer cache makes quick when nothing changed. Prints progress on stderr and the image's name alone on
# the last line of stdout, so callers can take it with `image=$(test/image/ensure-image.sh | tail -n 1)`.
#
# Idempotent, and safe to call concurrently and repeatedly: calls take turns on a lock. A daemon that
# already answers (on DOCKER_HOST or the default socket) is used as it is; one this script starts runs
# in the background on the default socket with its pid file and log in the run directory, and only that
# one is stopped by --stop-daemon (by the pid it recorded).
#
# Usage: test/image/ensure-image.sh                (as root)
#        test/image/ensure-image.sh --stop-daemon  stop the dockerd this script started, if it runs
# Env:   KUBELUSTRE_IMAGE (default kubelustre:dev), KUBELUSTRE_DOCKERD_DIR (default /run/kubelustre-dockerd),
#        KUBELUSTRE_DOCKERD_WAIT_S (default 60), and make-base-image.sh's variables.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
image="${KUBELUSTRE_IMAGE:-kubelustre:dev}"
run_dir="${KUBELUSTRE_DOCKERD_DIR:-/run/kubelustre-dockerd}"
wait_s="${KUBELUSTRE_DOCKERD_WAIT_S:-60}"
pid_file="$run_dir/dockerd.pid"
log_file="$run_dir/dockerd.log"

log() { printf 'ensure-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

daemon_answers() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# The pid of the dockerd this script started, if it still runs: the pid file names a live dockerd.
our_daemon_pid() {
  local pid
  [[ -s $pid_file ]] || return 1
  pid="$(<"$pid_file")"
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */dockerd ]] || return 1
  echo "$pid"
}

stop_daemon() {
  local pid
  if ! pid="$(our_daemon_pid)"; then
    log "no dockerd started by this script runs (pid file $pid_file)"
    return 0
  fi
  log "stopping dockerd $pid"
  kill -TERM "$pid"
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || { log "stopped dockerd $pid"; rm -f "$pid_file"; return 0; }
    sleep 0.5
  done
  die "dockerd $pid did not stop within 30s (log: $log_file)"
}

install_missing() {
  local packages=()
  command -v docker >/dev/null && command -v dockerd >/dev/null || packages+=(docker.io)
  # The keyring lets debootstrap check the signature of what it fetches (a recommend, not a dependency).
  command -v debootstrap >/dev/null || packages+=(debootstrap debian-archive-keyring)
  ((${#packages[@]} == 0)) && return 0
  [[ $(id -u) -eq 0 ]] || die "missing ${packages[*]} and not root to install them"
  log "installing ${packages[*]} (apt-get)"
  # Should the package's scripts start a daemon, it answers below and is used as any other.
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
}

# Starts dockerd in its own session (setsid), so it outlives this script and its caller's process
# group, from / (not a work tree that may go); its output goes to the log, its pid to the pid file.
# It must not inherit the lock (fd 9).
start_daemon() {
  [[ $(id -u) -eq 0 ]] || die "no Docker daemon answers, and starting one needs root"
  log "no Docker daemon answers: starting dockerd (log $log_file)"
  env -C / setsid dockerd --pidfile "$pid_file" </dev/null >>"$log_file" 2>&1 9>&- &
  local started=$SECONDS
  until daemon_answers; do
    if ! kill -0 $! 2>/dev/null; then
      tail -n 20 "$log_file" >&2
      die "dockerd exited while starting (log $log_file)"
    fi
    ((SECONDS - started < wait_s)) || die "dockerd did not answer within ${wait_s}s (log $log_file)"
    sleep 0.5
  done
  log "dockerd $(<"$pid_file") answers after $((SECONDS - started))s"
}

main() {
  if [[ ${1:-} == --stop-daemon ]]; then
    mkdir -p "$run_dir"
    exec 9>"$run_dir/lock"
    flock 9
    stop_daemon
    return
  fi
  [[ $# -eq 0 ]] || die "usage: $0 [--stop-daemon]"
  mkdir -p "$run_dir"
  # One call at a time: the second waits, then finds the daemon up and the image cached.
  exec 9>"$run_dir/lock"
  flock 9
  install_missing
  if ! daemon_answers; then
    if our_daemon_pid >/dev/null; then
      die "the dockerd this script started ($(<"$pid_file")) runs but does not answer (log $log_file)"
    fi
    # The default socket or pid file of a daemon that is gone would stop a new one from starting.
    [[ -n ${DOCKER_HOST:-} ]] && die "DOCKER_HOST=$DOCKER_HOST does not answer"
    start_daemon
  fi
  "$repo_root/test/image/make-base-image.sh"
  local started=$SECONDS
  log "building $image"
  # On the base make-base-image.sh made (its tag may be overridden too). The classic builder: Debian's
  # Docker has no buildx, and the Dockerfile needs nothing newer.
  DOCKER_BUILDKIT=0 docker build --build-arg "NODE_IMAGE=${KUBELUSTRE_BASE_IMAGE:-node:24-bookworm-slim}" \
    -t "$image" "$repo_root" >&2
  log "built $image in $((SECONDS - started))s"
  echo "$image"
}

main "$@"
