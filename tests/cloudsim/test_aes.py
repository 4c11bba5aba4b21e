"""cloudsim AES mode: spec §10 vectors, auth (every sign method, hex case), publish, bad sign, unknown device,
bad requests, expired token (control: expire-tokens), seq rules and duplicate seq, topic ownership, option 61."""
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simclient import *  # noqa: E402,F401

BIN = sys.argv[1]
t = Checks()
TOPIC = "/%s/sensor-0001/user/update" % PK

# spec §10: the exact 218-byte /auth datagram (hmacsha1, timestamp, seq "1") of the test device gets 2.05.
AUTH_218 = bytes.fromhex("440212 34a1a2a3a4b461757468113 2ff".replace(" ", "")) + (
    b'{"productKey":"a1B2c3D4e5F","deviceName":"sensor-001","clientId":"a1B2c3D4e5F.sensor-001",'
    b'"timestamp":"1700000000000","seq":"1","signmethod":"hmacsha1","sign":"1237203efeddc3b2c26b52b3e207c0ed312d7922"}')
# spec §10: the 125-byte publish datagram (token T0kEnExAmPlE..., random abcdef1234567890, seqOffset 100, seq 101).
PUB_125 = bytes.fromhex(
    "44021234a1a2a3a4b5746f7069630b6131423263334434653546"
    "0a73656e736f722d303031047573657206757064617465113 2"
    "ed070f1654306b456e4578416d506c4530313233343536373839616263646566 30302e61626364"
    "1d03c72056b7ed69aacba82615a951225dfa"
    "ffd966afbbef6a80984a95065cc34d5631".replace(" ", ""))

with Sim(BIN, endpoints=("aes",), args=["--fixed-token", "T0kEnExAmPlE0123456789abcdef00.abcd",
                                        "--fixed-random", "abcdef1234567890", "--seq-offset", "100"]) as s:
    t.eq("spec §10 auth datagram is 218 bytes", len(AUTH_218), 218)
    t.eq("spec §10 publish datagram is 125 bytes", len(PUB_125), 125)
    c = Client(s.ports["aes"])
    m = c.exchange(AUTH_218)
    t.eq("spec §10 218-byte /auth -> 2.05", code(m["code"]), "2.05")
    t.eq("auth answer is a piggybacked ACK with the request MID", (m["type"], m["mid"]), (ACK, 0x1234))
    t.eq("auth answer Content-Format 50", opt(m, 12), b"\x32")
    j = json.loads(m["payload"])
    t.eq("auth answer JSON", j, {"random": "abcdef1234567890", "seqOffset": 100,
                                 "token": "T0kEnExAmPlE0123456789abcdef00.abcd"})
    m = c.exchange(PUB_125)
    t.eq("spec §10 125-byte publish -> 2.05", code(m["code"]), "2.05")
    t.true("publish answer carries option 2090", opt(m, 2090) is not None)
    t.eq("publish answer has no plaintext payload", m["payload"], b"")
    recs = s.records()
    t.eq("spec publish recorded", [(r["topic"], r["payload"], r["seq"], r["dup"], r["mode"]) for r in recs],
         [("/a1B2c3D4e5F/sensor-001/user/update", '{"temp":21.5}', 101, False, "aes")])

with Sim(BIN, endpoints=("aes",)) as s:
    c = Client(s.ports["aes"])
    secret = device_secret(1)
    for method in ("hmacmd5", "hmacsha1", "hmacsha256"):
        m = c.auth(PK, "sensor-0001", secret, method=method)
        t.eq("auth %s -> 2.05" % method, code(m["code"]), "2.05")
    # Upper-case hex sign is accepted (spec §4.2: the doc's AES example is upper case).
    f = {"productKey": PK, "deviceName": "sensor-0001", "clientId": PK + ".sensor-0001", "seq": "9"}
    body = dict(f, sign=sign(f, secret).upper())
    m = c.request("/auth", json.dumps(body).encode())
    t.eq("upper-case hex sign -> 2.05", code(m["code"]), "2.05")
    # iotkit form (no signmethod, no timestamp) and ackMode counted in the sign string.
    m = c.auth(PK, "sensor-0001", secret, extra={"timestamp": "1700000000000"})
    t.eq("auth with timestamp -> 2.05", code(m["code"]), "2.05")
    m = c.auth(PK, "sensor-0001", "wrong-secret")
    t.eq("bad sign -> 4.01", code(m["code"]), "4.01")
    t.eq("bad sign has no payload", m["payload"], b"")
    m = c.auth(PK, "nobody-here", secret)
    t.eq("unknown device -> 4.01", code(m["code"]), "4.01")
    m = c.request("/auth", b'{"productKey":')
    t.eq("bad JSON -> 4.00", code(m["code"]), "4.00")
    m = c.request("/auth", json.dumps({"productKey": PK, "deviceName": "sensor-0001"}).encode())
    t.eq("missing fields -> 4.00", code(m["code"]), "4.00")
    m = c.request("/auth", json.dumps(dict(body, signmethod="hmacsha512")).encode())
    t.eq("unknown signmethod -> 4.00", code(m["code"]), "4.00")

    m = c.auth(PK, "sensor-0001", secret)
    t.eq("auth -> 2.05", code(m["code"]), "2.05")
    offset = c.seq
    m = c.publish(TOPIC, b'{"id":1,"temp":20}')
    t.eq("publish seq=offset+1 -> 2.05", code(m["code"]), "2.05")
    mid1 = opt(m, 2090)
    t.true("2090 is decimal text", mid1 is not None and mid1.decode().isdigit(), repr(mid1))
    m = c.publish(TOPIC, b'{"id":2,"temp":21}', token_option=61)
    t.eq("token in option 61 (iotkit v3) -> 2.05", code(m["code"]), "2.05")
    t.true("2090 grows", int(opt(m, 2090)) > int(mid1))
    m = c.publish(TOPIC, b'{"id":2,"temp":21}', seq=c.seq)
    t.eq("same seq, same payload (resend) -> 2.05", code(m["code"]), "2.05")
    m = c.publish(TOPIC, b'{"id":3}', seq=c.seq)
    t.eq("same seq, other payload -> 4.02", code(m["code"]), "4.02")
    m = c.publish(TOPIC, b'{"id":4}', seq=offset)
    t.eq("seq == seqOffset -> 4.02 (without --seq-allow-equal)", code(m["code"]), "4.02")
    m = c.publish(TOPIC, b'{"id":4}', seq=offset - 1)
    t.eq("seq < seqOffset -> 4.02", code(m["code"]), "4.02")
    m = c.publish("/%s/sensor-0002/user/update" % PK, b'{"id":5}')
    t.eq("topic of another device -> 4.03", code(m["code"]), "4.03")
    m = c.publish("/sys/%s/sensor-0002/thing/event/property/post" % PK, b'{"id":5}')
    t.eq("sys topic of another device -> 4.03", code(m["code"]), "4.03")
    m = c.publish("/sys/%s/sensor-0001/thing/event/property/post" % PK, b'{"id":6}')
    t.eq("own sys topic -> 2.05", code(m["code"]), "2.05")
    # Wrong AES blocks: a payload that is not a multiple of 16, and a seq option under another key.
    c.seq += 1
    opts = [(2088, c.token.encode()), (2089, aes_enc(c.key, str(c.seq).encode()))]
    m = c.request("/topic" + TOPIC, b"\x01" * 15, opts)
    t.eq("payload not a multiple of 16 -> 4.00", code(m["code"]), "4.00")
    opts = [(2088, c.token.encode()), (2089, aes_enc(b"k" * 16, str(c.seq + 1).encode()))]
    m = c.request("/topic" + TOPIC, aes_enc(c.key, b"x"), opts)
    t.eq("seq under a wrong key -> 4.00", code(m["code"]), "4.00")
    m = c.request("/topic" + TOPIC, aes_enc(c.key, b"x"), [(2088, c.token.encode())])
    t.eq("no seq option -> 4.00", code(m["code"]), "4.00")
    m = c.request("/topic" + TOPIC, b"x", [(2088, b"no-such-token")])
    t.eq("unknown token -> 4.01", code(m["code"]), "4.01")
    m = c.request("/topic" + TOPIC, b"x")
    t.eq("no token -> 4.01", code(m["code"]), "4.01")

    t.eq("control expire-tokens", s.command("expire-tokens").split()[0], "ok")
    m = c.publish(TOPIC, b'{"id":7}')
    t.eq("expired token -> 4.01", code(m["code"]), "4.01")
    m = c.auth(PK, "sensor-0001", secret)
    m = c.publish(TOPIC, b'{"id":1,"temp":20}')
    t.eq("re-auth then publish -> 2.05", code(m["code"]), "2.05")

    recs = s.records()
    t.eq("accepted records", [(r["payload"], r["dup"]) for r in recs],
         [('{"id":1,"temp":20}', False), ('{"id":2,"temp":21}', False), ('{"id":2,"temp":21}', True),
          ('{"id":6}', False), ('{"id":1,"temp":20}', True)])
    t.true("records carry receive time, pk, dn, seq, mode",
           all(r["t_ms"] > 0 and r["productKey"] == PK and r["deviceName"] == "sensor-0001" and
               isinstance(r["seq"], int) and r["mode"] == "aes" for r in recs))
    st = s.stats_now()
    t.eq("stats accepted", st["accepted"], 5)
    t.eq("stats duplicates by seq / id", st["duplicates_by"], {"seq": 1, "id": 1})
    t.eq("stats first deliveries", st["first_deliveries"], 3)
    t.eq("stats auth failures by reason", st["auth_failed"],
         {"bad_sign": 1, "unknown_device": 1, "bad_json": 1, "missing_field": 1, "bad_signmethod": 1})
    t.eq("stats rejections by reason", st["rejected"],
         {"seq_reused": 1, "seq_too_low": 2, "topic_forbidden": 2, "bad_payload": 1, "bad_seq": 1, "no_seq": 1,
          "token_invalid": 1, "no_token": 1, "token_expired": 1})
    rc, log = s.stop()
    t.eq("exit status after SIGTERM", rc, 0)
    t.true("stats on stderr at exit", '"accepted":5' in log, log[-300:])

with Sim(BIN, endpoints=("aes",), args=["--seq-allow-equal", "--plaintext-errors"]) as s:
    c = Client(s.ports["aes"])
    c.auth(PK, "sensor-0002", device_secret(2))
    m = c.publish("/%s/sensor-0002/user/update" % PK, b"{}", seq=c.seq)
    t.eq("--seq-allow-equal: seq == seqOffset -> 2.05", code(m["code"]), "2.05")
    m = c.request("/topic/x", b"x", [(2088, b"bad")])
    t.eq("--plaintext-errors: 4.01 with text", (code(m["code"]), m["payload"]), ("4.01", b"Token invalid"))
with Sim(BIN, endpoints=("aes",), args=["--token-lifetime", "0"]) as s:
    c = Client(s.ports["aes"])
    t.eq("auth with --token-lifetime 0", code(c.auth(PK, "sensor-0003", device_secret(3))["code"]), "2.05")
    t.eq("token past its lifetime -> 4.01", code(c.publish("/%s/sensor-0003/a" % PK, b"{}")["code"]), "4.01")
    t.eq("counted as token_expired", s.stats_now()["rejected"], {"token_expired": 1})
t.done()
