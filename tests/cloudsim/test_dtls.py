"""cloudsim DTLS modes through libcoap's own client (coap-client-openssl): DTLS-PSK (identity and PSK derived per
device, spec §8) and DTLS with a certificate: auth, publish with option 2088, bad sign, bad token, wrong PSK.
coap-client exits 0 even on failure, so every check reads its output (-v 6 prints the answer's code)."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simclient import *  # noqa: E402,F401

BIN = sys.argv[1]
MAKE_CERTS = sys.argv[2]
t = Checks()
certs = tempfile.mkdtemp(prefix="cloudsim-certs-")
subprocess.run(["bash", MAKE_CERTS, certs], check=True)


def coap_client(args):
    r = subprocess.run(["coap-client-openssl", "-B", "4", "-v", "6", "-m", "post"] + args,
                       capture_output=True, text=True, timeout=30)
    out = r.stdout + r.stderr
    codes = re.findall(r"t:(?:ACK|CON) c:(\d\.\d\d)", out)
    return (codes[-1] if codes else None), out


def payload_of(out):
    # The payload follows " :: " on the answer's line.
    for line in out.splitlines():
        if re.search(r"t:(ACK|CON) c:2\.05", line) and " :: " in line:
            return line.split(" :: ", 1)[1].strip().strip("'")
    return None


def auth_body(dn, secret, method="hmacmd5"):
    f = {"productKey": PK, "deviceName": dn, "clientId": "%s.%s" % (PK, dn), "timestamp": "1700000000000"}
    return json.dumps(dict(f, signmethod=method, sign=sign(f, secret, method)))


try:
    with Sim(BIN, endpoints=("psk", "dtls"), certs=certs) as s:
        dn, secret = "sensor-0003", device_secret(3)
        ident, key = psk_for(PK, dn, secret)
        psk = ["-u", ident, "-k", key]
        base = "coaps://127.0.0.1:%d" % s.ports["psk"]
        c, out = coap_client(psk + ["-t", "50", "-e", auth_body(dn, secret), base + "/auth"])
        t.eq("dtls-psk: auth -> 2.05", c, "2.05")
        token = json.loads(payload_of(out))["token"]
        t.true("dtls-psk: token only (no random/seqOffset)", "random" not in payload_of(out))
        c, out = coap_client(psk + ["-t", "50", "-e", '{"id":1,"v":1}', "-O", "2088," + token,
                                    base + "/topic/%s/%s/user/update" % (PK, dn)])
        t.eq("dtls-psk: publish -> 2.05", c, "2.05")
        t.true("dtls-psk: answer carries 2090", "2090:" in out, out[-400:])
        c, _ = coap_client(psk + ["-t", "50", "-e", auth_body(dn, "wrong-secret"), base + "/auth"])
        t.eq("dtls-psk: bad sign -> 4.01", c, "4.01")
        c, _ = coap_client(psk + ["-t", "50", "-e", auth_body("sensor-0004", device_secret(4)), base + "/auth"])
        t.eq("dtls-psk: auth for another device than the PSK identity -> 4.01", c, "4.01")
        c, _ = coap_client(psk + ["-e", "{}", "-O", "2088,not-a-token", base + "/topic/%s/%s/user/update" % (PK, dn)])
        t.eq("dtls-psk: bad token -> 4.01", c, "4.01")
        c, out = coap_client(["-u", ident, "-k", "0" * 64, "-e", "{}", base + "/auth"])
        t.eq("dtls-psk: wrong PSK gets no CoAP answer", c, None)
        # spec §10 DTLS-PSK vector: the test device's identity and PSK string.
        ident1, key1 = psk_for(PK, "sensor-001", SPEC_SECRET)
        t.eq("spec §10 PSK string", key1, "AA11DD428787D21DBACFED5887A69BBCC09F134F4CEB76F2394495801CB41FB0")
        c, _ = coap_client(["-u", ident1, "-k", key1, "-t", "50", "-e", auth_body("sensor-001", SPEC_SECRET, "hmacsha1"),
                            base + "/auth"])
        t.eq("spec §10 device over DTLS-PSK -> 2.05", c, "2.05")

        base = "coaps://127.0.0.1:%d" % s.ports["dtls"]
        ca = ["-R", certs + "/ca.pem"]
        c, out = coap_client(ca + ["-t", "50", "-e", auth_body(dn, secret, "hmacsha1"), base + "/auth"])
        t.eq("dtls-cert: auth -> 2.05", c, "2.05")
        token = json.loads(payload_of(out))["token"]
        c, out = coap_client(ca + ["-t", "50", "-e", '{"id":2,"v":2}', "-O", "2088," + token,
                                   base + "/topic/%s/%s/user/update" % (PK, dn)])
        t.eq("dtls-cert: publish -> 2.05", c, "2.05")
        c, _ = coap_client(ca + ["-t", "50", "-e", auth_body(dn, "wrong-secret"), base + "/auth"])
        t.eq("dtls-cert: bad sign -> 4.01", c, "4.01")
        c, _ = coap_client(["-R", certs + "/wrong-ca.pem", "-e", auth_body(dn, secret), base + "/auth"])
        t.eq("dtls-cert: a client trusting another CA gets no answer", c, None)
        c, _ = coap_client(ca + ["-e", "{}", "-O", "2088," + token, base + "/topic/%s/sensor-0005/user/update" % PK])
        t.eq("dtls-cert: topic of another device -> 4.03", c, "4.03")

        recs = s.records()
        t.eq("DTLS records: plaintext payloads, no seq, mode", [(r["payload"], r["seq"], r["mode"]) for r in recs],
             [('{"id":1,"v":1}', None, "dtls-psk"), ('{"id":2,"v":2}', None, "dtls")])
        st = s.stats_now()
        t.eq("auth ok count", st["auth_ok"], 3)
        t.true("DTLS handshake failures counted", st["auth_failed"].get("dtls_handshake", 0) >= 1, json.dumps(st))
        rc, log = s.stop()
        t.eq("clean exit", rc, 0)
        if rc != 0:
            print(log[-2000:])
finally:
    shutil.rmtree(certs, ignore_errors=True)
t.done()
