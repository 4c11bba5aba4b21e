#!/usr/bin/env bash
# Builds the gateway and cloudsim images with podman (docker/Dockerfile) and checks end to end that messages
# flow from Mosquitto (on the host) through the containerised gateway to cloudsim (containerised too), that a
# /healthz healthcheck passes (given with --health-cmd: its port differs from the image's), and that `podman stop`
# (SIGTERM) ends the gateway with exit status 0.
#   scripts/container.sh            # build (if needed) + end-to-end check; ~10-25 min the first time
#   REBUILD=1 scripts/container.sh  # rebuild the images
#   scripts/container.sh build      # images only
#   scripts/container.sh base       # only the debootstrap base images
#   scripts/container.sh compose    # docker/compose.yaml + the demo, then the shards overlay, with podman-compose:
#                                   # messages reach cloudsim exactly once, one instance per device, then down -v
#                                   # (fixed ports 1883, 5682/udp, 9880, 9881: exit 3 when one is busy)
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
    # --format docker: the OCI format (podman's default) drops the Dockerfile's HEALTHCHECK.
    podman build --network=host --pull=never --format docker "${limits[@]}" --build-arg JOBS="$jobs" --target "$target" \
      -f docker/Dockerfile -t "$tag" .
  fi
}
build runtime localhost/mqtt-coap-gateway:latest
# CLOUDSIM_BIN=<built cloudsim> runs the emulator on the host instead of in its image.
[ -n "${CLOUDSIM_BIN:-}" ] || build cloudsim localhost/mqtt-coap-gateway-cloudsim:latest
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'mqtt-coap-gateway|debian'
[ "$mode" = build ] && exit 0

wait_for() { # seconds description command...
  local t=$1 what=$2; shift 2
  for _ in $(seq 1 $((t * 10))); do "$@" && return 0; sleep 0.1; done
  echo "container: timed out after ${t}s waiting for $what"; return 1
}

# 3. compose: docker/compose.yaml with its overlays, run for real with podman-compose (docs/operations.md
# "Container"): the demo stack (messages reach cloudsim), then the shards stack (each device served by exactly one
# instance, each message at cloudsim exactly once); stop, down -v, and nothing of the project left behind.
compose_check() {
  pc=${PODMAN_COMPOSE:-podman-compose} proj=${COMPOSE_PROJECT:-gw-compose-check}  # globals: the EXIT trap reads them
  local n=${COMPOSE_MESSAGES:-20}
  command -v "$pc" >/dev/null || { echo "compose: $pc is not installed (apt-get install podman-compose)"; exit 2; }
  command -v mosquitto_pub >/dev/null || { echo "compose: mosquitto_pub is missing (apt-get install mosquitto-clients)"; exit 2; }
  # The stacks use fixed ports (host network); take them from the files.
  local mport aes h_demo h0 h1
  mport=$(sed -n 's/^listener \([0-9]*\).*/\1/p' docker/mosquitto.conf | head -1)
  aes=$(grep -o -- '--aes-port, "[0-9]*"' docker/compose.demo.yaml | grep -o '[0-9][0-9]*' | head -1)
  hport() { sed -n 's/^ *http: "127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$1"; }
  h_demo=$(hport docker/demo/gateway.yaml) h0=$(hport docker/shards/gateway-0.yaml) h1=$(hport docker/shards/gateway-1.yaml)
  local busy=() p
  for p in "$mport" "$h_demo" "$h0" "$h1"; do [ -z "$(ss -Hltn "sport = :$p")" ] || busy+=("tcp/$p"); done
  [ -z "$(ss -Hlun "sport = :$aes")" ] || busy+=("udp/$aes")
  if [ ${#busy[@]} -gt 0 ]; then
    echo "compose: port(s) in use: ${busy[*]} (the compose files use these fixed ports on the host network);"
    echo "compose: free them (ss -ltnup) and run again; nothing was started"
    exit 3
  fi
  if [ -n "$(podman ps -aq --filter "label=io.podman.compose.project=$proj")" ]; then
    echo "compose: containers of project $proj exist already (another run, or a left-over):"
    podman ps -a --filter "label=io.podman.compose.project=$proj" --format '  {{.Names}} {{.Status}}'
    echo "compose: remove them: podman rm -f \$(podman ps -aq --filter label=io.podman.compose.project=$proj)"
    exit 3
  fi
  if [ -n "${REBUILD:-}" ] || ! podman image exists localhost/mqtt-coap-gateway-mosquitto:latest; then
    echo "container: building localhost/mqtt-coap-gateway-mosquitto:latest (docker/Dockerfile.mosquitto)"
    podman build --network=host --pull=never "${limits[@]}" -f docker/Dockerfile.mosquitto \
      -t localhost/mqtt-coap-gateway-mosquitto:latest docker
  fi
  # podman-compose 1.0.3 quirks (docs/operations.md): no `profiles:` (hence the overlays), no `name:` (-p),
  # `--net <project>_default` even with network_mode: host (docker/podman-hostnet drops it), `down` stops with -t 10.
  export GW_NOFILE=$nofile GW_NPROC=${NPROC:-4096} PODMAN_RUNTIME=${PODMAN_RUNTIME:-runc}
  work=$(mktemp -d /tmp/gw-compose-XXXXXX)
  pc_run() { # stack podman-compose-args...
    local stack=$1; shift
    echo "+ $pc -p $proj -f docker/compose.yaml -f docker/compose.$stack.yaml $*" >> "$work/compose-$stack.log"
    timeout 300 "$pc" --podman-path "$root/docker/podman-hostnet" -p "$proj" \
      -f docker/compose.yaml -f "docker/compose.$stack.yaml" "$@" >> "$work/compose-$stack.log" 2>&1
  }
  compose_cleanup() {
    local s
    for s in demo shards; do [ -e "$work/up-$s" ] && { pc_run "$s" down -v || true; rm -f "$work/up-$s"; }; done
    local left
    left=$(podman ps -aq --filter "label=io.podman.compose.project=$proj")
    [ -z "$left" ] || { echo "compose: removing left-over containers"; podman rm -f -v -t 5 $left >/dev/null || true; }
    left=$(podman volume ls -q --filter "label=io.podman.compose.project=$proj")
    [ -z "$left" ] || podman volume rm -f $left >/dev/null || true
    podman network exists "${proj}_default" && podman network rm -f "${proj}_default" >/dev/null || true
    echo "compose: logs and records in $work"
  }
  trap compose_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  cat > "$work/check.py" <<'PY'
import json, sys, urllib.request

def devices(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/devices", timeout=2) as r:
        return json.load(r)

def records(path, run):
    out = []
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        try:
            p = json.loads(r.get("payload", ""))
        except ValueError:
            continue
        if isinstance(p, dict) and p.get("run") == run:
            out.append((r, p))
    return out

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "ready":  # ready N PORT...: the instances serve N distinct devices, all ready, broker connected
    want, ports = int(args[0]), args[1:]
    try:
        docs = [devices(p) for p in ports]
    except (OSError, ValueError):
        sys.exit(1)
    ds = [d for doc in docs for d in doc["devices"]]
    sys.exit(0 if len({d["id"] for d in ds}) == want and all(d["ready"] for d in ds) and
             all(doc["gateway"]["mqtt_connected"] for doc in docs) else 1)
elif cmd == "split":  # split REGISTRY PORT...: every registry device served by exactly one instance
    registry = {"/".join(l.strip().split(",")[:2]) for l in open(args[0]) if l.strip() and not l.startswith("#")}
    seen, bad = {}, []
    for p in args[1:]:
        ids = sorted(d["id"] for d in devices(p)["devices"])
        print(f"compose: instance :{p} serves {len(ids)}: {' '.join(ids)}")
        for i in ids:
            seen.setdefault(i, []).append(p)
    for dev in sorted(registry | set(seen)):
        where = seen.get(dev, [])
        if len(where) != 1:
            bad.append(f"{dev} served by {len(where)} instance(s) {where}")
    print("compose: every device served by exactly one instance" if not bad else "compose: FAILED: " + "; ".join(bad))
    sys.exit(1 if bad else 0)
elif cmd == "count":  # count JSONL RUN WANT: at least WANT first deliveries of this run recorded
    sys.exit(0 if sum(1 for r, _ in records(args[0], args[1]) if not r.get("dup")) >= int(args[2]) else 1)
elif cmd == "once":  # once JSONL RUN N DEVICE...: each (device, n) recorded exactly once as a first delivery
    run, n, devs = args[1], int(args[2]), args[3:]
    recs = records(args[0], run)
    first = {}
    for r, p in recs:
        if not r.get("dup"):
            first.setdefault((p.get("dev"), p.get("n")), []).append(r)
    dups = sum(1 for r, _ in recs if r.get("dup"))
    bad = []
    for dev in devs:
        for i in range(1, n + 1):
            got = first.get((dev, i), [])
            if len(got) != 1:
                bad.append(f"{dev}#{i} x{len(got)}")
            elif got[0]["deviceName"] != dev or got[0]["topic"] != f"/{got[0]['productKey']}/{dev}/user/update":
                bad.append(f"{dev}#{i} as {got[0]['deviceName']} on {got[0]['topic']}")
    extra = len(first) - sum(1 for dev in devs for i in range(1, n + 1) if (dev, i) in first)
    if extra:
        bad.append(f"{extra} unexpected message(s)")
    print(f"compose: cloudsim recorded {sum(len(v) for v in first.values())} first deliveries of {n * len(devs)} "
          f"published ({len(devs)} devices x {n}), {dups} resend(s) marked dup" +
          ("" if not bad else "; FAILED: " + ", ".join(bad[:10])))
    sys.exit(1 if bad else 0)
PY
  local devs=() dn
  while IFS=, read -r _ dn _; do [ -n "$dn" ] && devs+=("$dn"); done < docker/demo/registry.csv
  cloud_jsonl() { # stack: copy cloudsim's JSONL out of its container
    local c
    c=$(podman ps -q --filter "label=io.podman.compose.project=$proj" --filter label=com.docker.compose.service=cloudsim)
    [ -n "$c" ] && podman exec "$c" cat /tmp/cloud.jsonl > "$work/cloud-$1.jsonl"
  }
  cloud_count() { cloud_jsonl "$1" && python3 "$work/check.py" count "$work/cloud-$1.jsonl" "$2" "$3"; }
  show_logs() {
    podman ps -a --filter "label=io.podman.compose.project=$proj" --format '{{.Names}} {{.Status}}'
    local c
    for c in $(podman ps -aq --filter "label=io.podman.compose.project=$proj"); do
      echo "--- $(podman inspect -f '{{.Name}}' "$c")"; podman logs --tail 15 "$c" 2>&1
    done
    echo "--- podman-compose: $work/compose-*.log"
  }
  secs() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$1" "$2"; }
  stack() { # stack containers health-port...
    local s=$1 want_ctrs=$2; shift 2
    local run="$s-$$-$RANDOM" t0 t1 t2 c code
    echo "compose: $s: up ($pc -p $proj -f docker/compose.yaml -f docker/compose.$s.yaml up -d)"
    t0=$(date +%s.%N)
    touch "$work/up-$s"
    pc_run "$s" up -d || { echo "compose: $s: podman-compose up failed"; show_logs; return 1; }
    wait_for 90 "$s: ${#devs[@]} devices ready on :${*// /, :}" python3 "$work/check.py" ready "${#devs[@]}" "$@" ||
      { show_logs; return 1; }
    t1=$(date +%s.%N)
    local running
    running=$(podman ps -q --filter "label=io.podman.compose.project=$proj" --filter status=running | wc -l)
    [ "$running" -eq "$want_ctrs" ] || { echo "compose: $s: $running of $want_ctrs containers running"; show_logs; return 1; }
    echo "compose: $s: $running containers running, ${#devs[@]} devices ready after $(secs "$t0" "$t1") s"
    [ "$s" = shards ] && { python3 "$work/check.py" split docker/demo/registry.csv "$@" || return 1; }
    for dn in "${devs[@]}"; do
      for i in $(seq 1 "$n"); do echo "{\"run\":\"$run\",\"dev\":\"$dn\",\"n\":$i}"; done |
        mosquitto_pub -h 127.0.0.1 -p "$mport" -q 1 -t "sensors/$dn/update" -l
    done
    local want=$((n * ${#devs[@]}))
    wait_for 60 "$s: $want messages at cloudsim" cloud_count "$s" "$run" "$want" || { show_logs; return 1; }
    t2=$(date +%s.%N)
    echo "compose: $s: $want messages published with mosquitto_pub -p $mport reached cloudsim in $(secs "$t1" "$t2") s"
    python3 "$work/check.py" once "$work/cloud-$s.jsonl" "$run" "$n" "${devs[@]}" || return 1
    local acked=0 p
    for p in "$@"; do acked=$((acked + $(curl -fsS --max-time 2 "http://127.0.0.1:$p/devices" |
      python3 -c 'import json,sys; print(sum(d["messages"]["acked"] for d in json.load(sys.stdin)["devices"]))'))); done
    echo "compose: $s: the gateways' /devices count $acked acknowledged message(s)"
    [ "$acked" -ge "$want" ] || { echo "compose: $s: FAILED: /devices acked $acked < $want"; return 1; }
    for c in $(podman ps -q --filter "label=io.podman.compose.project=$proj" --filter label=com.docker.compose.service); do
      case $(podman inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$c") in gateway*) ;; *) continue ;; esac
      if podman healthcheck run "$c" >/dev/null 2>&1; then code=healthy; else code=UNHEALTHY; fi
      echo "compose: $s: $(podman inspect -f '{{.Name}}' "$c"): podman healthcheck run: $code"
      [ "$code" = healthy ] || return 1
    done
    pc_run "$s" stop -t 30 || true
    local bad=0
    for c in $(podman ps -aq --filter "label=io.podman.compose.project=$proj" --filter label=com.docker.compose.service); do
      case $(podman inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$c") in gateway*) ;; *) continue ;; esac
      code=$(podman inspect -f '{{.State.ExitCode}} {{.State.Status}}' "$c")
      echo "compose: $s: $(podman inspect -f '{{.Name}}' "$c") after stop -t 30 (SIGTERM): exit ${code% *}, ${code#* }"
      [ "${code% *}" = 0 ] || bad=1
    done
    pc_run "$s" down -v || true
    rm -f "$work/up-$s"
    podman network rm -f "${proj}_default" >/dev/null 2>&1 || true
    local left_c left_v
    left_c=$(podman ps -aq --filter "label=io.podman.compose.project=$proj" | wc -l)
    left_v=$(podman volume ls -q --filter "label=io.podman.compose.project=$proj" | wc -l)
    echo "compose: $s: down -v: $left_c container(s), $left_v volume(s) of the project left"
    [ "$left_c" = 0 ] && [ "$left_v" = 0 ] && [ "$bad" = 0 ]
  }
  echo "compose: podman-compose $("$pc" version 2>/dev/null | sed -n 's/.*composer* version *//p' | head -1)," \
    "project $proj, GW_NOFILE=$GW_NOFILE GW_NPROC=$GW_NPROC, runtime $PODMAN_RUNTIME, $n messages per device"
  stack demo 3 "$h_demo" || { echo "compose: demo stack FAILED"; exit 1; }
  stack shards 4 "$h0" "$h1" || { echo "compose: shards stack FAILED"; exit 1; }
  echo "compose: ok (demo and shards stacks ran, checked, and were taken down); load: $(uptime | sed 's/.*load average: //')"
}
[ "$mode" = compose ] && { compose_check; exit 0; }

# 4. End to end: Mosquitto on the host, cloudsim and the gateway in containers, all on free loopback ports.
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
