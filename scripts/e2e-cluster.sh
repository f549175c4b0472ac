#!/usr/bin/env bash
# shellcheck disable=SC2154 # tool_* come from build-e2e-tools.sh's tools.env
# A real single-node Kubernetes cluster for the e2e test (test/e2e/), on this machine, in a network
# namespace of its own:
#   etcd (Debian), kube-apiserver, kube-controller-manager, kube-scheduler, kubelet (scripts/build-k8s-tools.sh),
#   containerd + runc (Debian), CNI bridge + host-local + loopback (Debian's containernetworking-plugins),
#   CoreDNS (scripts/build-e2e-tools.sh) for the Services' names, every image imported from a tar made by
#   scripts/build-e2e-images.sh (nothing is ever pulled: the images are named kubelustre.local/...).
#
#   scripts/e2e-cluster.sh up      starts it all, waits for the node to be Ready (it tears down on failure)
#   scripts/e2e-cluster.sh down    stops what `up` started (by pid), unmounts what it mounted, deletes the
#                                  network namespace and every file; safe to run again or after a failed up
#   scripts/e2e-cluster.sh diag    kubectl get/describe, and the end of each component's log
#
# Network: the netns $netns holds everything. Its bridge $bridge ($gateway_ip) is the only way pods
# reach anything: pods get addresses in $pod_cidr with a route to the service range via the bridge and
# no default route, and the netns has no link to the host's network at all: nothing can leave.
# No kube-proxy: the one Service the pods use by its ClusterIP, `kubernetes` ($api_service_ip), is an
# address of the netns's loopback where kube-apiserver listens on 443, so it needs no NAT. The targets'
# Services are headless: their names resolve (CoreDNS, on the bridge address) to the pods' addresses.
# The kubelet's root directory is a shared bind mount of its own (the CSI node plugin's Bidirectional
# mount propagation needs one), under $state, as is every other file; `kubectl` and `helm` wrappers
# that run in the netns are in $state/bin.
#
# Env: KUBELUSTRE_E2E_DIR (state, default /var/tmp/kubelustre-e2e), KUBELUSTRE_E2E_IMAGES (the image tar;
# default: build-e2e-images.sh's), KUBELUSTRE_E2E_READY_TIMEOUT_S (default 180).
set -Eeuo pipefail


repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/k8s-tools.env
source "$repo_root/scripts/k8s-tools.env"
cache_dir="${KUBELUSTRE_CACHE:-$HOME/.cache/kubelustre}"
state="${KUBELUSTRE_E2E_DIR:-/var/tmp/kubelustre-e2e}"
ready_timeout_s="${KUBELUSTRE_E2E_READY_TIMEOUT_S:-180}"
stop_timeout_s=20
k8s_bin="$KUBELUSTRE_K8S_BIN_DIR"
e2e_bin="$cache_dir/bin/e2e"
images_tar="${KUBELUSTRE_E2E_IMAGES:-$cache_dir/e2e-images/images.tar}"

netns=kubelustre-e2e
bridge=kle2e0
pod_cidr=10.213.0.0/24
gateway_ip=10.213.0.1
service_cidr=10.213.128.0/24
api_service_ip=10.213.128.1
node_name=kubelustre-e2e
cluster_domain=cluster.local
cgroup_root=/kubelustre-e2e
pause_image=kubelustre.local/e2e/pause:dev
# What the kubelet writes on the host when it starts (setupKernelTunables); `down` puts them back.
kernel_tunables=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes)
# Started in this order, stopped in the reverse.
components=(etcd kube-apiserver coredns kube-controller-manager kube-scheduler containerd kubelet)

log() { printf 'e2e-cluster: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
in_netns() { nsenter --net="/run/netns/$netns" "$@"; }
kubectl_admin() { in_netns "$k8s_bin/kubectl" --kubeconfig "$state/kubeconfig" "$@"; }

# ---------------------------------------------------------------- processes

# The program the pid recorded for NAME runs, if it is still the one we started (pids get reused).
pid_of() {
  local name="$1" pid exe
  pid="$(cat "$state/run/$name.pid" 2>/dev/null)" || return 1
  exe="$(cat "$state/run/$name.exe" 2>/dev/null)" || return 1
  [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$exe" ]] || return 1
  echo "$pid"
}

# Starts NAME: PROGRAM ARGS... in the netns, in the background, its output in $state/logs/NAME.log.
start() {
  local name="$1" program="$2"
  shift 2
  # nsenter execs the program: the pid is the program's.
  nsenter --net="/run/netns/$netns" -- "$program" "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$state/run/$name.pid"
  readlink -f "$program" >"$state/run/$name.exe"
}

# Stops NAME: SIGTERM, then SIGKILL after a bounded wait. kube-apiserver drains for up to a minute,
# which nothing here needs (the cluster's state goes with it): it gets a few seconds.
stop() {
  local name="$1" pid timeout_s=$stop_timeout_s
  [[ "$name" == kube-apiserver ]] && timeout_s=5
  local deadline=$((SECONDS + timeout_s))
  pid="$(pid_of "$name")" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) still runs ${timeout_s}s after SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

# Waits until CHECK (a command) succeeds; fails early when NAME died, late at the deadline.
wait_until() {
  local name="$1" what="$2" deadline=$((SECONDS + ready_timeout_s))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ! pid_of "$name" >/dev/null; then
      log "$name exited while starting; the end of its log:"
      tail -n 40 "$state/logs/$name.log" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$what not after ${ready_timeout_s}s; the end of $name's log:"
      tail -n 40 "$state/logs/$name.log" >&2
      return 1
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------- files

require_tools() {
  local missing=() tool
  for tool in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    [[ -x "$k8s_bin/$tool" ]] || missing+=("$k8s_bin/$tool (scripts/build-k8s-tools.sh)")
  done
  [[ -f "$e2e_bin/tools.env" ]] || missing+=("$e2e_bin/tools.env (scripts/build-e2e-tools.sh)")
  [[ -f "$images_tar" ]] || missing+=("$images_tar (scripts/build-e2e-images.sh)")
  for tool in etcd containerd containerd-shim-runc-v2 runc ctr nsenter ip openssl curl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
    missing+=("/usr/lib/cni plugins (containernetworking-plugins)")
  ((${#missing[@]} == 0)) || die "missing: ${missing[*]}; scripts/e2e.sh builds and installs them"
  # shellcheck source=/dev/null
  source "$e2e_bin/tools.env"
}

sign_cert() {
  local name="$1" subject="$2" extensions="$3" pki="$state/pki"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$pki/$name.key" \
    -out "$pki/$name.csr" -subj "$subject" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -out "$pki/$name.crt" -days 7 -extfile <(printf '%s\n' "$extensions") 2>/dev/null
}

# A CA; the apiserver's serving cert for every name pods and the host use; a client cert per component
# (the kubelet's as node $node_name, which the Node authorizer and NodeRestriction know); the SA key pair.
make_pki() {
  local pki="$state/pki" client=extendedKeyUsage=clientAuth
  mkdir -p "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$pki/ca.key" \
    -out "$pki/ca.crt" -days 7 -subj "/CN=kubelustre-e2e-ca" 2>/dev/null
  local sans="IP:$api_service_ip,IP:$gateway_ip,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default"
  sans+=",DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$cluster_domain"
  sign_cert apiserver "/CN=kube-apiserver" "subjectAltName=$sans"$'\n'"extendedKeyUsage=serverAuth"
  sign_cert admin "/O=system:masters/CN=kubelustre-e2e-admin" "$client"
  sign_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
  sign_cert kubelet "/O=system:nodes/CN=system:node:$node_name" "$client"
  sign_cert controller-manager "/CN=system:kube-controller-manager" "$client"
  sign_cert scheduler "/CN=system:kube-scheduler" "$client"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
}

write_kubeconfig() {
  local file="$1" cert="$2" pki="$state/pki"
  cat >"$file" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: kubelustre-e2e
    cluster:
      server: https://$api_service_ip:443
      certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
  - name: $cert
    user:
      client-certificate-data: $(base64 -w0 <"$pki/$cert.crt")
      client-key-data: $(base64 -w0 <"$pki/$cert.key")
contexts:
  - name: kubelustre-e2e
    context: { cluster: kubelustre-e2e, user: $cert }
current-context: kubelustre-e2e
YAML
}

# kubectl and helm that run in the netns with the admin kubeconfig, for the test and for people.
write_wrappers() {
  mkdir -p "$state/bin"
  local helm
  helm="$(ls -d "$cache_dir"/bin/helm-*/helm 2>/dev/null | tail -n 1 || true)"
  printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s -- %s --kubeconfig %s "$@"\n' \
    "$netns" "$k8s_bin/kubectl" "$state/kubeconfig" >"$state/bin/kubectl"
  printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s -- %s --kubeconfig %s "$@"\n' \
    "$netns" "${helm:-helm}" "$state/kubeconfig" >"$state/bin/helm"
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' \
    "$state/containerd/containerd.sock" "$state/containerd/containerd.sock" >"$state/crictl.yaml"
  printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s -- %s --config %s "$@"\n' \
    "$netns" "$tool_crictl" "$state/crictl.yaml" >"$state/bin/crictl"
  chmod 755 "$state/bin/kubectl" "$state/bin/helm" "$state/bin/crictl"
}

# ---------------------------------------------------------------- network

make_netns() {
  # One left by a run whose state directory is gone (the name is this script's own).
  if ip netns list | grep -qw "^$netns"; then ip netns delete "$netns"; fi
  ip netns add "$netns"
  echo created >"$state/run/netns"
  ip -n "$netns" link set lo up
  ip -n "$netns" addr add "$api_service_ip/32" dev lo
  ip -n "$netns" link add "$bridge" type bridge
  ip -n "$netns" addr add "$gateway_ip/${pod_cidr#*/}" dev "$bridge"
  ip -n "$netns" link set "$bridge" up
}

write_cni_config() {
  mkdir -p "$state/cni/net.d" "$state/cni/ipam"
  cat >"$state/cni/net.d/10-kubelustre-e2e.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "kubelustre-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$state/cni/ipam",
        "ranges": [[{ "subnet": "$pod_cidr", "gateway": "$gateway_ip" }]],
        "routes": [{ "dst": "$service_cidr", "gw": "$gateway_ip" }]
      }
    }
  ]
}
JSON
}

# ---------------------------------------------------------------- components

start_etcd() {
  start etcd "$(command -v etcd)" --name e2e --data-dir "$state/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster e2e=http://127.0.0.1:2380 --logger zap --log-level warn
  wait_until etcd "etcd healthy" in_netns curl -fsS --max-time 5 http://127.0.0.1:2379/health
}

start_apiserver() {
  local pki="$state/pki"
  start kube-apiserver "$k8s_bin/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
    --bind-address 0.0.0.0 --secure-port 443 --advertise-address "$gateway_ip" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --service-cluster-ip-range "$service_cidr" \
    --service-account-issuer "https://kubernetes.default.svc.$cluster_domain" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" --kubelet-preferred-address-types InternalIP \
    --cert-dir "$pki" --profiling=false --v 1
  wait_until kube-apiserver "kube-apiserver ready" in_netns curl -fsS --max-time 5 --cacert "$pki/ca.crt" \
    --cert "$pki/admin.crt" --key "$pki/admin.key" "https://$api_service_ip/readyz"
}

# CoreDNS on the bridge address: the cluster's names only, no forwarding (nothing leaves the netns).
start_coredns() {
  cat >"$state/Corefile" <<COREFILE
.:53 {
    bind $gateway_ip
    errors
    kubernetes $cluster_domain in-addr.arpa ip6.arpa {
        kubeconfig $state/kubeconfig kubelustre-e2e
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
}
COREFILE
  start coredns "$tool_coredns" -conf "$state/Corefile"
}

start_controller_manager() {
  local pki="$state/pki"
  start kube-controller-manager "$k8s_bin/kube-controller-manager" --kubeconfig "$state/controller-manager.kubeconfig" \
    --secure-port 0 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --service-cluster-ip-range "$service_cidr" --profiling=false --v 1
}

start_scheduler() {
  start kube-scheduler "$k8s_bin/kube-scheduler" --kubeconfig "$state/scheduler.kubeconfig" \
    --secure-port 0 --leader-elect=false --profiling=false --v 1
}

write_containerd_config() {
  local c="$state/containerd"
  mkdir -p "$c"
  cat >"$c/config.toml" <<TOML
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$c/containerd.sock"

[ttrpc]
  address = "$c/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  # containerd 1.x's defaults, spelled out: the targets' pods lower the privileged-port boundary
  # themselves (the sysctl net.ipv4.ip_unprivileged_port_start) to listen on 988 as uid 65532.
  enable_unprivileged_ports = false
  enable_unprivileged_icmp = false
  # The kubelet asks oom_score_adj -998 for pod sandboxes; lowering it needs CAP_SYS_RESOURCE, which
  # a sandboxed machine's bounding set may lack (runc then fails with "can't get final child's PID").
  # Restricted: never below containerd's own score.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        # runc's state beside ours, not in the system's /run/containerd/runc.
        Root = "$c/runc"
TOML
}

start_containerd() {
  write_containerd_config
  start containerd "$(command -v containerd)" --config "$state/containerd/config.toml"
  wait_until containerd "containerd answering" \
    ctr --address "$state/containerd/containerd.sock" version
  log "importing images from $images_tar"
  ctr --address "$state/containerd/containerd.sock" -n k8s.io images import "$images_tar" \
    >"$state/logs/images-import.log" 2>&1 || { cat "$state/logs/images-import.log" >&2; return 1; }
}

write_kubelet_config() {
  local pki="$state/pki"
  cat >"$state/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine has cgroup v1 (hybrid); Kubernetes 1.35+ refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $cgroup_root
containerRuntimeEndpoint: unix://$state/containerd/containerd.sock
podLogsDir: $state/pod-logs
address: $gateway_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization:
  mode: Webhook
clusterDomain: $cluster_domain
clusterDNS: [$gateway_ip]
# No search domains or nameservers of the host in pods.
resolvConf: ""
failSwapOn: false
# No iptables chains of the kubelet's on the host (nothing here uses them).
makeIPTablesUtilChains: false
# A shared CI disk must not make the node evict the test's pods or remove its imported images.
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
YAML
}

start_kubelet() {
  local dir="$state/kubelet"
  # The kubelet's directory as a shared mount of its own: Bidirectional mount propagation (the CSI
  # node plugin's mounts reaching the kubelet and other pods) needs a shared mount under it.
  mkdir -p "$dir" "$state/pod-logs"
  mount --bind "$dir" "$dir"
  echo "$dir" >>"$state/run/mounts"
  mount --make-rshared "$dir"
  # The kubelet's cgroup root, in every hierarchy (it makes kubepods below it).
  local hierarchy
  for hierarchy in $(cgroup_hierarchies); do mkdir -p "$hierarchy$cgroup_root"; done
  write_kubelet_config
  start kubelet "$k8s_bin/kubelet" --config "$state/kubelet-config.yaml" --kubeconfig "$state/kubelet.kubeconfig" \
    --root-dir "$dir" --cert-dir "$state/kubelet-pki" --hostname-override "$node_name" --node-ip "$gateway_ip" --v 1
  wait_until kubelet "node $node_name Ready" \
    kubectl_admin wait --for=condition=Ready "node/$node_name" --timeout=5s
}

save_kernel_tunables() {
  local t
  for t in "${kernel_tunables[@]}"; do echo "$t=$(cat "/proc/sys/$t")"; done >"$state/run/kernel-tunables"
  # The kubelet makes /var/log/containers (its symlinks to pods' logs go when the pods do) and
  # /var/lib/kubelet/device-plugins (a fixed path) whatever its root directory.
  [[ -d /var/log/containers ]] || echo /var/log/containers >>"$state/run/made-dirs"
  [[ -d /var/lib/kubelet ]] || echo /var/lib/kubelet >>"$state/run/made-dirs"
}

# ---------------------------------------------------------------- up, down

up() {
  require_tools
  [[ -e "$state" ]] && { log "a previous cluster's state is in $state: taking it down first"; down; }
  mkdir -p "$state/run" "$state/logs"
  umask 022
  trap 'log "up failed: taking the cluster down"; down; exit 1' ERR
  save_kernel_tunables
  make_pki
  write_kubeconfig "$state/kubeconfig" admin
  write_kubeconfig "$state/kubelet.kubeconfig" kubelet
  write_kubeconfig "$state/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$state/scheduler.kubeconfig" scheduler
  write_wrappers
  make_netns
  write_cni_config
  start_etcd
  start_apiserver
  start_coredns
  start_controller_manager
  start_scheduler
  start_containerd
  start_kubelet
  trap - ERR
  log "up: node $node_name Ready; kubectl: $state/bin/kubectl"
}

# Stops every pod sandbox through the CRI (containerd runs the CNI DEL, removes the netns and stops the
# shims), while containerd still runs; then whatever shim is left, by the pid containerd recorded.
stop_pods() {
  pid_of containerd >/dev/null || return 0
  local sandboxes
  sandboxes="$("$state/bin/crictl" pods -q 2>/dev/null || true)"
  if [[ -n "$sandboxes" ]]; then
    log "stopping $(wc -w <<<"$sandboxes") pod sandbox(es)"
    # shellcheck disable=SC2086
    timeout 120 "$state/bin/crictl" stopp $sandboxes >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    timeout 120 "$state/bin/crictl" rmp -f $sandboxes >/dev/null 2>&1 || true
  fi
}

kill_leftover_shims() {
  local pid_file pid
  for pid_file in "$state"/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [[ -f "$pid_file" ]] || continue
    pid="$(cat "$pid_file")"
    if [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */containerd-shim-runc-v2 ]]; then
      log "killing leftover shim $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# Every mount under $state (the kubelet's bind mount, pods' volumes, containerd's rootfs and shm,
# netns files, dead FUSE mounts), deepest first.
unmount_all() {
  local m
  [[ -d "$state" ]] || return 0
  findmnt -rn -o TARGET | grep -F "$state/" | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
}

# The cgroup hierarchies' mount points: cgroup v1's, one per controller, and the hybrid mode's cgroup v2
# (this machine; runc makes cgroups there too), or cgroup v2's one.
cgroup_hierarchies() {
  if [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; then
    echo /sys/fs/cgroup
  else
    findmnt -rn -t cgroup,cgroup2 -o TARGET
  fi
}

# Any process still in the cgroups of our pods is one of our containers' (its shim gone): killed by pid.
# Then the cgroups, deepest first.
remove_cgroups() {
  local hierarchy pid
  for hierarchy in $(cgroup_hierarchies); do
    [[ -d "$hierarchy$cgroup_root" ]] || continue
    for pid in $(find "$hierarchy$cgroup_root" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u); do
      log "killing leftover container process $pid ($(cat "/proc/$pid/comm" 2>/dev/null))"
      kill -KILL "$pid" 2>/dev/null || true
    done
  done
  sleep 0.5
  for hierarchy in $(cgroup_hierarchies); do
    [[ -d "$hierarchy$cgroup_root" ]] || continue
    find "$hierarchy$cgroup_root" -depth -type d -exec rmdir {} + 2>/dev/null ||
      log "could not remove every cgroup under $hierarchy$cgroup_root"
  done
}

# The kubelet's links in /var/log/containers to our pods' logs (it removes them only when it collects
# the containers), and the directory itself when the kubelet made it.
remove_log_links() {
  local link
  for link in /var/log/containers/*.log; do
    [[ -L "$link" && "$(readlink "$link")" == "$state/"* ]] && rm -f -- "$link"
  done
  [[ -f "$state/run/made-dirs" ]] || return 0
  if grep -qx /var/lib/kubelet "$state/run/made-dirs"; then rm -rf --one-file-system /var/lib/kubelet; fi
  if grep -qx /var/log/containers "$state/run/made-dirs"; then rmdir --ignore-fail-on-non-empty /var/log/containers; fi
}

restore_kernel_tunables() {
  local line
  [[ -f "$state/run/kernel-tunables" ]] || return 0
  while IFS= read -r line; do
    echo "${line#*=}" >"/proc/sys/${line%%=*}" 2>/dev/null || true
  done <"$state/run/kernel-tunables"
}

down() {
  trap - ERR
  [[ -d "$state" ]] || { log "nothing to take down ($state does not exist)"; return 0; }
  # Both tool paths (crictl) and pids come from the state directory.
  # shellcheck source=/dev/null
  if [[ -f "$e2e_bin/tools.env" ]]; then source "$e2e_bin/tools.env"; fi
  stop kubelet
  stop_pods
  stop containerd
  kill_leftover_shims
  local i
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do stop "${components[i]}"; done
  unmount_all
  if [[ -f "$state/run/netns" ]]; then ip netns delete "$netns" 2>/dev/null || true; fi
  remove_cgroups
  restore_kernel_tunables
  remove_log_links
  rm -rf --one-file-system -- "$state"
  log "down"
}

diag() {
  local name
  [[ -x "$state/bin/kubectl" ]] || { log "no cluster in $state"; return 0; }
  log "--- nodes, pods, claims, volumes, events"
  "$state/bin/kubectl" get nodes,pods,pvc,pv,sc -A -o wide >&2 || true
  "$state/bin/kubectl" get events -A --sort-by=.lastTimestamp >&2 2>&1 | tail -n 60 >&2 || true
  for name in "${components[@]}"; do
    [[ -f "$state/logs/$name.log" ]] || continue
    log "--- the end of $name's log"
    tail -n 40 "$state/logs/$name.log" >&2
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  diag) diag ;;
  *)
    echo "usage: $0 up|down|diag" >&2
    exit 64
    ;;
esac
