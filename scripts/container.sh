#!/usr/bin/env bash
# Builds the gateway and cloudsim images with podman (docker/Dockerfile) and checks end to end that messages
# flow from Mosquitto (on the host) through the containerised gateway to cloudsim (containerised too), that the
# image's HEALTHCHECK passes, and that `podman stop` (SIGTERM) ends the gateway with exit status 0.
#   scripts/container.sh            # build (if needed) + end-to-end check; ~10-25 min the first time
#   REBUILD=1 scripts/container.sh  # rebuild the images
#   scripts/container.sh build      # images only
#   scripts/container.sh base       # only the debootstrap base images
# No registry is needed: the debian:bookworm and debian:bookworm-slim bases are made with debootstrap from the
# configured Debian mirror and `podman import`ed once. Host networking throughout (no CNI/netavark setup).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mode=${1:-check}
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
jobs=${JOBS:-2}
command -v podman >/dev/null || { echo "container: podman is not installed (apt-get install podman debootstrap runc)"; exit 2; }
# Limits: the OCI runtime sets every rlimit it is given and cannot go above this shell's hard limits (podman's
# defaults, nofile 1048576 and the host's nproc, fail with "setrlimit ...: Operation not permitted" in a
# container host without CAP_SYS_RESOURCE). Thousands of device sockets want nofile 65536: capped by `ulimit -Hn`.
hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" = unlimited ] && hard_nofile=65536
nofile=${NOFILE:-$((hard_nofile < 65536 ? hard_nofile : 65536))}
limits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=${NPROC:-4096}:${NPROC:-4096}")
# crun refuses cgroup v1/v2 hybrid hosts ("cgroups in hybrid mode not supported"): runc by default.
podman() { command podman --runtime "${PODMAN_RUNTIME:-runc}" "$@"; }

# 1. Base images from debootstrap (once).
base() {
  local tag=$1 variant=$2
  podman image exists "$tag" && return 0
  command -v debootstrap >/dev/null || { echo "container: debootstrap is not installed"; exit 2; }
  local rootfs
  rootfs=$(mktemp -d /tmp/gw-rootfs-XXXXXX)
  echo "container: debootstrap $variant bookworm from $mirror -> $tag"
  debootstrap --variant="$variant" bookworm "$rootfs" "$mirror" > "$rootfs.log" 2>&1 || { tail -20 "$rootfs.log"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  if [ "$variant" = minbase ]; then  # "slim": what debian:*-slim drops
    rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  fi
  tar -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - "$tag" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
}
base localhost/debian:bookworm buildd
base localhost/debian:bookworm-slim minbase
[ "$mode" = base ] && exit 0  # scripts/cross-arm64.sh needs only the base images

# 2. The images (the build stage compiles only mqtt-coap-gateway and cloudsim).
build() {
  local target=$1 tag=$2
  if [ -n "${REBUILD:-}" ] || ! podman image exists "$tag"; then
    echo "container: building $tag (target $target)"
    podman build --network=host --pull=never "${limits[@]}" --build-arg JOBS="$jobs" --target "$target" \
      -f docker/Dockerfile -t "$tag" .
  fi
}
build runtime localhost/mqtt-coap-gateway:latest
# CLOUDSIM_BIN=<built cloudsim> runs the emulator on the host instead of in its image.
[ -n "${CLOUDSIM_BIN:-}" ] || build cloudsim localhost/mqtt-coap-gateway-cloudsim:latest
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'mqtt-coap-gateway|debian'
[ "$mode" = build ] && exit 0

# 3. End to end: Mosquitto on the host, cloudsim and the gateway in containers, all on free loopback ports.
work=$(mktemp -d /tmp/gw-container-XXXXXX)
chmod 0777 "$work"
pids=() ctrs=()
cleanup() {
  for c in "${ctrs[@]}"; do podman rm -f -t 5 "$c" >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  echo "container: files in $work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, int(sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }
wait_for() { # seconds description command...
  local t=$1 what=$2; shift 2
  for _ in $(seq 1 $((t * 10))); do "$@" && return 0; sleep 0.1; done
  echo "container: timed out waiting for $what"; return 1
}
mport=$(free_port 1) aes=$(free_port 2) health=$(free_port 1)
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$mport" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
pids+=($!)

secret() { printf '%s' "container-secret-$1" | sha256sum | cut -c1-32; }
devices=(sensor-001 sensor-002 sensor-003)
: > "$work/registry.csv"
for dn in "${devices[@]}"; do echo "a1B2c3D4e5F,$dn,$(secret "$dn")" >> "$work/registry.csv"; done
touch "$work/cloud.jsonl"; chmod 0666 "$work/cloud.jsonl"
if [ -n "${CLOUDSIM_BIN:-}" ]; then
  "$CLOUDSIM_BIN" --aes-port "$aes" --registry "$work/registry.csv" --jsonl "$work/cloud.jsonl" > "$work/cloudsim.log" 2>&1 &
  pids+=($!)
  wait_for 20 "cloudsim ready" grep -q 'cloudsim: ready' "$work/cloudsim.log"
else
  ctrs+=("$(podman run -d --network=host "${limits[@]}" -v "$work:/work:z" localhost/mqtt-coap-gateway-cloudsim:latest \
    --aes-port "$aes" --registry /work/registry.csv --jsonl /work/cloud.jsonl)")
  wait_for 20 "cloudsim ready" bash -c "podman logs ${ctrs[0]} 2>&1 | grep -q 'cloudsim: ready'"
fi

{
  echo "mqtt: { uri: \"tcp://127.0.0.1:$mport\", client_id: container-gateway }"
  echo "cloud: { mode: aes, address: 127.0.0.1 }"
  echo "devices:"
  for dn in "${devices[@]}"; do
    echo "  - { product_key: a1B2c3D4e5F, device_name: $dn, device_secret: \"\${env:SECRET_${dn//-/_}}\", port: $aes }"
  done
  echo 'routes:'
  echo '  - { from: "sensors/+device/#rest", device: "a1B2c3D4e5F/${device}", to: "/${productKey}/${deviceName}/user/${rest}" }'
  echo "queue: { dir: /var/lib/mqtt-coap-gateway/queue }"
  echo "health: { http: \"127.0.0.1:$health\", interval: 5s }"
} > "$work/gateway.yaml"
chmod 0644 "$work/gateway.yaml"   # secrets are ${env:} references: no warning
envs=()
for dn in "${devices[@]}"; do envs+=(-e "SECRET_${dn//-/_}=$(secret "$dn")"); done
# The healthcheck in the image probes 9880; this run uses a free port, so the check is overridden to match.
gw=$(podman run -d --network=host "${limits[@]}" "${envs[@]}" \
  -v "$work/gateway.yaml:/etc/mqtt-coap-gateway/gateway.yaml:ro,z" -v gw-container-check-state:/var/lib/mqtt-coap-gateway \
  --health-cmd "bash -c 'exec 3<>/dev/tcp/127.0.0.1/$health && printf \"GET /healthz HTTP/1.0\\r\\n\\r\\n\" >&3 && head -n1 <&3 | grep -q \" 200 \"'" \
  localhost/mqtt-coap-gateway:latest)
ctrs+=("$gw")
wait_for 30 "devices ready" bash -c "[ \$(podman logs $gw 2>&1 | grep -c -- '-> ready') -ge ${#devices[@]} ]" ||
  { podman logs "$gw" | tail -30; exit 1; }
n=20
for dn in "${devices[@]}"; do
  for i in $(seq 1 $n); do echo "{\"dev\":\"$dn\",\"n\":$i}"; done |
    mosquitto_pub -h 127.0.0.1 -p "$mport" -q 1 -t "sensors/$dn/update" -l
done
want=$((n * ${#devices[@]}))
wait_for 60 "$want messages at the cloud" bash -c "[ \$(grep -c '\"dup\":false' $work/cloud.jsonl) -ge $want ]" ||
  { podman logs "$gw" | tail -30; exit 1; }
echo "container: $want message(s) went Mosquitto -> gateway container -> cloudsim"
if podman healthcheck run "$gw" >/dev/null 2>&1; then echo "container: healthcheck ok"; else
  echo "container: healthcheck FAILED (is /healthz in this build?)"; fi
podman stop -t 30 "$gw" >/dev/null
code=$(podman inspect -f '{{.State.ExitCode}}' "$gw")
echo "container: gateway exit status after SIGTERM: $code"
podman logs "$gw" 2>&1 | tail -5
podman volume rm -f gw-container-check-state >/dev/null 2>&1 || true
[ "$code" = 0 ]
