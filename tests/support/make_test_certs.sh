#!/usr/bin/env bash
# Makes a throw-away test PKI in OUTDIR (no private key is ever committed):
#   ca.pem/ca.key            test root CA
#   server.pem/server.key    server cert for localhost, 127.0.0.1, ::1 and the platform-style host names
#   wrong-ca.pem/.key        an unrelated CA (a client trusting it must refuse the server)
# Usage: make_test_certs.sh OUTDIR [EXTRA_DNS_NAME...]
set -euo pipefail
out=${1:?usage: make_test_certs.sh OUTDIR [DNS...]}
shift
mkdir -p "$out"
cd "$out"
[ -f server.pem ] && [ -f ca.pem ] && [ -f wrong-ca.pem ] && exit 0

san="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:*.coap.cn-shanghai.link.aliyuncs.com"
san+=",DNS:a1B2c3D4e5F.coap.cn-shanghai.link.aliyuncs.com"
for d in "$@"; do san+=",DNS:$d"; done

quiet() { "$@" >/dev/null 2>&1 || { echo "make_test_certs: failed: $*" >&2; "$@"; exit 1; }; }
quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj "/CN=gw test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout wrong-ca.key -out wrong-ca.pem -days 30 \
  -subj "/CN=gw wrong CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
quiet openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
  -subj "/CN=a1B2c3D4e5F.coap.cn-shanghai.link.aliyuncs.com"
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" > server.ext
quiet openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 \
  -extfile server.ext
rm -f server.csr server.ext ca.srl
