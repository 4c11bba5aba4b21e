"""cloudsim robustness: 10,000 random and mutated datagrams (CoAP headers, options, AES blocks, JSON, DTLS
records) at every endpoint; afterwards it still answers a good auth and publish and exits cleanly."""
import os
import random
import select
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simclient import *  # noqa: E402,F401

BIN = sys.argv[1]
t = Checks()
rng = random.Random(1234)

with Sim(BIN, endpoints=("aes", "plain", "psk")) as s:
    good = Client(s.ports["aes"])
    t.eq("auth before", code(good.auth(PK, "sensor-0001", device_secret(1))["code"]), "2.05")
    seeds = []
    f = {"productKey": PK, "deviceName": "sensor-0002", "clientId": PK + ".sensor-0002", "seq": "5"}
    seeds.append(build(CON, POST, 1, b"\x01\x02", [(11, b"auth"), (12, b"\x32")],
                       json.dumps(dict(f, sign=sign(f, device_secret(2)))).encode()))
    seeds.append(build(CON, POST, 2, b"\x03", [(11, b"topic"), (11, PK.encode()), (11, b"sensor-0001"),
                                               (2088, good.token.encode()),
                                               (2089, aes_enc(good.key, b"99999"))], aes_enc(good.key, b'{"a":1}')))
    seeds.append(build(CON, POST, 3, b"", [(11, b"auth")], b'{"productKey":1,"sign":[]}'))
    seeds.append(build(NON, POST, 4, b"\x09" * 8, [(11, b"topic"), (11, b"x")], b"payload"))
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
    for so in socks:
        so.setblocking(False)
    ports = [s.ports["aes"], s.ports["plain"], s.ports["psk"]]
    sent = 0
    for i in range(10000):
        kind = rng.random()
        if kind < 0.2:
            d = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        else:
            d = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 6)):
                op = rng.random()
                if op < 0.5 and d:
                    d[rng.randrange(len(d))] = rng.getrandbits(8)
                elif op < 0.7 and d:
                    d = d[:rng.randrange(len(d))]
                elif op < 0.85:
                    pos = rng.randrange(len(d) + 1)
                    d[pos:pos] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 20)))
                else:
                    d[0:1] = bytes([0x40 | rng.getrandbits(6)])
            d = bytes(d)
        if kind > 0.95:
            d = b"\x16\xfe\xfd" + d  # looks like a DTLS handshake record
        so = socks[i % len(socks)]
        try:
            so.sendto(d, ("127.0.0.1", ports[i % len(ports)]))
            sent += 1
        except BlockingIOError:
            pass
        if i % 200 == 0:  # drain answers so our own buffers never fill
            for so2 in socks:
                while select.select([so2], [], [], 0)[0]:
                    try:
                        so2.recv(4096)
                    except OSError:
                        break
    t.true("sent 10,000 datagrams", sent >= 9900, str(sent))
    t.true("process alive", s.proc.poll() is None)
    t.eq("good auth after the hammer", code(good.auth(PK, "sensor-0001", device_secret(1))["code"]), "2.05")
    t.eq("good publish after the hammer", code(good.publish("/%s/sensor-0001/user/update" % PK, b"{}")["code"]),
         "2.05")
    st = s.stats_now()
    t.true("bad input counted (rejections and auth failures)", st["rejected_total"] + st["auth_failed_total"] > 100,
           json.dumps(st))
    rc, log = s.stop()
    t.eq("clean exit after SIGTERM", rc, 0)
t.done()
