#!/usr/bin/env bash
# The shipped unit passes `systemd-analyze verify` with ExecStart pointing at the built binary, and its offline
# security exposure stays at or below the level recorded in docs/operations.md.
#   ops_systemd_unit.sh UNIT_FILE GATEWAY_BINARY [MAX_EXPOSURE]
set -euo pipefail
unit=$1 bin=$2 max=${3:-2.0}
work=$(mktemp -d /tmp/gw-ops-unit-XXXXXX)
trap 'rm -rf "$work"' EXIT
copy=$work/mqtt-coap-gateway.service
sed "s#/usr/bin/mqtt-coap-gateway#$bin#" "$unit" > "$copy"
grep -q "^ExecStart=$bin run " "$copy" || { echo "ExecStart not rewritten"; exit 1; }

# verify prints problems on stderr (and may still exit 0 for some): any output is a failure.
out=$(systemd-analyze verify "$copy" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "systemd-analyze verify: $out"; exit 1; fi

for key in Type=notify WatchdogSec= LimitNOFILE= ExecReload= Restart=on-failure StateDirectory= \
  ConfigurationDirectory= LoadCredential= NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes \
  "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" SystemCallFilter=@system-service; do
  grep -q "^$key" "$copy" || { echo "missing $key"; exit 1; }
done

level=$(systemd-analyze security --offline=true "$copy" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$level" ] || { echo "no exposure level"; systemd-analyze security --offline=true "$copy"; exit 1; }
echo "exposure level $level (max $max)"
awk -v l="$level" -v m="$max" 'BEGIN { exit !(l <= m) }' || { echo "exposure $level > $max"; exit 1; }
