#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, then runs the whole path on this machine —
# simulated sensors -> Mosquitto -> mqtt-coap-gateway -> cloudsim (the Alibaba IoT Platform emulator) — and
# shows what arrives at the "cloud" and the gateway's status. Runs until Ctrl-C, or for DEMO_SECONDS.
# Everything listens on 127.0.0.1 on free ports; nothing is left running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${DEMO_SECONDS:-0}
[ -t 0 ] || [ "$seconds" != 0 ] || seconds=30   # non-interactive: a bounded run (0: until Ctrl-C)

bash scripts/setup.sh
# ccache keys on paths relative to the checkout, so a fresh clone reuses earlier builds of the same sources.
export CCACHE_BASEDIR="$(pwd)"
cmake --preset ci >/dev/null
cmake --build --preset ci -j "$(nproc)" --target mqtt-coap-gateway cloudsim
bin=$root/build/ci/gateway/app/mqtt-coap-gateway
sim=$root/build/ci/tests/cloudsim/cloudsim

work=$(mktemp -d /tmp/gw-demo-XXXXXX)
pids=()
cleanup() {
  # Newest first, each waited for: the sensors stop before the broker they publish to (no "Connection
  # refused" from a last mosquitto_pub), the gateway drains before cloudsim and Mosquitto go.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  echo "demo: stopped; files kept in $work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. The device registry: four identities, one per security mode the platform offers.
secret() { printf '%s' "demo-secret-$1" | sha256sum | cut -c1-32; }
pk=a1B2c3D4e5F
: > "$work/registry.csv"
for dn in sensor-001 sensor-002 sensor-003 sensor-004; do echo "$pk,$dn,$(secret $dn)" >> "$work/registry.csv"; done
bash tests/support/make_test_certs.sh "$work/pki"

# 2. Mosquitto on a free port, with its own config and persistence.
mport=$(free_port)
mkdir -p "$work/mosquitto"
cat > "$work/mosquitto/mosquitto.conf" <<CONF
listener $mport 127.0.0.1
allow_anonymous true
persistence true
persistence_location $work/mosquitto/
max_queued_messages 100000
user root
log_dest stdout
CONF
mosquitto -c "$work/mosquitto/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
pids+=($!)

# 3. cloudsim: AES, DTLS-PSK and DTLS-certificate endpoints on free ports.
"$sim" --aes-port 0 --psk-port 0 --dtls-port 0 --cert "$work/pki/server.pem" --key "$work/pki/server.key" \
  --registry "$work/registry.csv" --jsonl "$work/cloud.jsonl" --stats "$work/cloud-stats.json" \
  --control "$work/cloudsim.sock" > "$work/cloudsim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "cloudsim: ready" "$work/cloudsim.log" && break; sleep 0.1; done
grep -q "cloudsim: ready" "$work/cloudsim.log" || { cat "$work/cloudsim.log"; exit 1; }
port_of() { sed -n "s/.*listening $1=127.0.0.1:\([0-9]*\).*/\1/p" "$work/cloudsim.log"; }
aes_port=$(port_of aes); psk_port=$(port_of psk); dtls_port=$(port_of dtls)

# 4. The gateway's config: one device per mode, one route for all sensors; health on a free port.
hport=$(free_port)
cat > "$work/gateway.yaml" <<CONF
mqtt:
  uri: tcp://127.0.0.1:$mport
  client_id: demo-gateway
cloud:
  mode: aes
  address: 127.0.0.1
  ca_file: $work/pki/ca.pem
devices:
  - { product_key: $pk, device_name: sensor-001, device_secret: "$(secret sensor-001)", port: $aes_port }
  - { product_key: $pk, device_name: sensor-002, device_secret: "$(secret sensor-002)", port: $aes_port }
  - { product_key: $pk, device_name: sensor-003, device_secret: "$(secret sensor-003)", mode: dtls-psk, port: $psk_port }
  - { product_key: $pk, device_name: sensor-004, device_secret: "$(secret sensor-004)", mode: dtls, port: $dtls_port,
      host: localhost }
routes:
  - { from: "sensors/+device/#rest", device: "$pk/\${device}", to: "/\${productKey}/\${deviceName}/user/\${rest}" }
queue:
  dir: $work/queue
health:
  http: 127.0.0.1:$hport
  interval: 5s
CONF
chmod 600 "$work/gateway.yaml"
"$bin" check-config -c "$work/gateway.yaml"
"$bin" run -c "$work/gateway.yaml" > "$work/gateway.log" 2>&1 &
pids+=($!)
tail -n +1 -f "$work/gateway.log" | sed -u 's/^/[gateway] /' &
pids+=($!)

# 5. Simulated sensors: each publishes a reading every second (QoS 1). They start once the broker granted the
# gateway's subscription: on a first start the broker keeps nothing for the gateway before that.
for _ in $(seq 1 100); do grep -q "mqtt: subscribed to" "$work/gateway.log" && break; sleep 0.1; done
(
  i=0
  while true; do
    i=$((i + 1))
    for dn in sensor-001 sensor-002 sensor-003 sensor-004; do
      mosquitto_pub -h 127.0.0.1 -p "$mport" -q 1 -t "sensors/$dn/update" \
        -m "{\"id\":$i,\"device\":\"$dn\",\"temp\":$((20 + RANDOM % 5)).$((RANDOM % 10))}"
    done
    sleep 1
  done
) &
pids+=($!)

# 6. What the cloud receives.
python3 - "$work/cloud.jsonl" <<'PY' &
import json, sys, time, os
path = sys.argv[1]
while not os.path.exists(path):
    time.sleep(0.1)
with open(path) as f:
    while True:
        line = f.readline()
        if not line:
            time.sleep(0.1); continue
        r = json.loads(line)
        print(f"[cloud]   {r.get('mode','?'):8} {r.get('deviceName','?'):11} {r.get('topic','?')}  {r.get('payload','')}", flush=True)
PY
pids+=($!)

echo "demo: Mosquitto :$mport, cloudsim aes :$aes_port psk :$psk_port dtls :$dtls_port, files in $work"
echo "demo: status page http://127.0.0.1:$hport/ (also /devices, /metrics, /healthz, /readyz)"
# 7. Every device's health, as an operator sees it, every 10 s.
show_status() { "$bin" status --url "http://127.0.0.1:$hport" --no-color | sed 's/^/[status]  /' || true; }
elapsed=0
while [ "$seconds" = 0 ] || [ "$elapsed" -lt "$seconds" ]; do
  step=10
  [ "$seconds" != 0 ] && [ $((seconds - elapsed)) -lt $step ] && step=$((seconds - elapsed))
  sleep "$step"
  elapsed=$((elapsed + step))
  show_status
done
echo "demo: $(wc -l < "$work/cloud.jsonl") message(s) reached the cloud in ${seconds}s" 
