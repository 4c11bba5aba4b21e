#!/usr/bin/env bash
# Throughput probe for mqtt.max_unstored (docs/benchmarks.md): N messages from e2e_mqtt_load over D AES devices
# through Mosquitto, the gateway (mqtt.max_unstored=W) and cloudsim; prints msg/s and gateway CPU per message.
# Usage: BUILD_DIR=build/ci tests/bench/e2e/window_probe.sh W N D   (needs the mqtt-coap-gateway, cloudsim and
# e2e_mqtt_load targets built in BUILD_DIR)
set -u
W=${1:-1}; N=${2:-20000}; D=${3:-100}
B=${BUILD_DIR:-build/ci}; B=$(cd "$B" && pwd)
GW=$B/gateway/app/mqtt-coap-gateway
work=$(mktemp -d /tmp/tp-XXXX); cd $work
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf "listener $mport 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nuser root\n" > m.conf
mosquitto -c m.conf > m.log 2>&1 & MP=$!
python3 - $D > reg.csv <<'PY'
import sys,hashlib
for i in range(int(sys.argv[1])):
    dn="sensor-%04d"%i; print("a1B2c3D4e5F,%s,%s"%(dn,hashlib.sha256(dn.encode()).hexdigest()[:32]))
PY
$B/tests/cloudsim/cloudsim --aes-port 0 --registry reg.csv --jsonl cloud.jsonl > sim.log 2>&1 & SP=$!
for i in $(seq 50); do grep -q ready sim.log && break; sleep 0.1; done
port=$(sed -n 's/.*listening aes=127.0.0.1:\([0-9]*\).*/\1/p' sim.log)
{ echo "mqtt: { uri: tcp://127.0.0.1:$mport, client_id: tp, max_unstored: $W }"
  echo "cloud: { mode: aes, address: 127.0.0.1, port: $port, auth: { rate_per_s: 1000 } }"
  echo "devices:"
  while IFS=, read pk dn sec; do echo "  - { product_key: $pk, device_name: $dn, device_secret: \"$sec\" }"; done < reg.csv
  echo 'routes: [ { from: "sensors/+device/#rest", device: "a1B2c3D4e5F/${device}", to: "/${productKey}/${deviceName}/user/${rest}" } ]'
  echo "queue: { dir: $work/q }"; echo 'health: { http: "", interval: 1s }'; } > gw.yaml
chmod 600 gw.yaml
$GW run -c gw.yaml > gw.log 2>&1 & GP=$!
for i in $(seq 300); do grep -q "devices ready $D/$D" gw.log && break; sleep 0.1; done
t0=$(date +%s.%N); c0=$(awk '{print $14+$15}' /proc/$GP/stat)
$B/tests/bench/e2e/e2e_mqtt_load pub --uri tcp://127.0.0.1:$mport --devices $D --messages $N > pub.log 2>&1
for i in $(seq 1200); do [ "$(wc -l < cloud.jsonl)" -ge "$N" ] && break; sleep 0.1; done
t1=$(date +%s.%N); c1=$(awk '{print $14+$15}' /proc/$GP/stat)
got=$(wc -l < cloud.jsonl)
echo "max_unstored=$W devices=$D delivered=$got/$N in $(echo "$t1-$t0"|bc) s: $(echo "$got/($t1-$t0)"|bc) msg/s, gateway CPU $(echo "($c1-$c0)*10000/$got"|bc) us/msg; $(cat pub.log | tail -1)"
kill $GP $SP $MP; wait 2>/dev/null; rm -rf $work
