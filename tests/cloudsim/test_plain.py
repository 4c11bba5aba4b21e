"""cloudsim plain mode (no auth: POST /topic/... accepted as is), payload-id duplicates, non-UTF-8 payloads,
methods other than POST, unknown paths, --help, bad flags."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simclient import *  # noqa: E402,F401

BIN = sys.argv[1]
t = Checks()

r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
t.true("--help exits 0 and documents the flags", r.returncode == 0 and "--aes-port" in r.stdout and
       "--control" in r.stdout)
r = subprocess.run([BIN, "--no-such-flag"], capture_output=True, text=True, timeout=10)
t.eq("unknown flag -> exit 2", r.returncode, 2)
r = subprocess.run([BIN], capture_output=True, text=True, timeout=10)
t.true("no endpoint -> error exit", r.returncode != 0 and "no endpoint" in r.stderr, r.stderr)

with Sim(BIN, endpoints=("plain",)) as s:
    c = Client(s.ports["plain"])
    m = c.request("/topic/%s/sensor-0001/user/update" % PK, b'{"id":"a1","t":1}')
    t.eq("plain publish -> 2.05", code(m["code"]), "2.05")
    t.true("plain answer carries 2090", opt(m, 2090) is not None)
    m = c.request("/topic/factory/line1", b"\xff\xfe\x00binary")
    t.eq("plain publish, any topic, binary payload -> 2.05", code(m["code"]), "2.05")
    m = c.request("/topic/%s/sensor-0001/user/update" % PK, b'{"id":"a1","t":1}')
    t.eq("same payload id again -> 2.05 (a duplicate)", code(m["code"]), "2.05")
    mid, tok = c.next_ids()
    m = c.exchange(build(CON, 1, mid, tok, [(11, b"topic"), (11, b"x")]), expect_token=tok)
    t.eq("GET -> 4.05", code(m["code"]), "4.05")
    m = c.request("/nothing/here", b"x")
    t.eq("unknown path -> 4.04", code(m["code"]), "4.04")
    m = c.request("/topic", b"x")
    t.eq("no topic -> 4.04", code(m["code"]), "4.04")
    mid, tok = c.next_ids()
    c.sock.sendto(build(NON, POST, mid, tok, [(11, b"topic"), (11, b"non")], b"n"), c.addr)
    m = parse(c.sock.recvfrom(2048)[0])
    t.eq("NON publish -> NON 2.05", (m["type"], code(m["code"])), (NON, "2.05"))
    recs = s.records()
    t.eq("plain records", [(r["topic"], r.get("payload"), r.get("payload_b64"), r["dup"], r["mode"]) for r in recs],
         [("/%s/sensor-0001/user/update" % PK, '{"id":"a1","t":1}', None, False, "plain"),
          ("/factory/line1", None, "//4AYmluYXJ5", False, "plain"),
          ("/%s/sensor-0001/user/update" % PK, '{"id":"a1","t":1}', None, True, "plain"),
          ("/non", "n", None, False, "plain")])
    t.eq("plain records name the device from the topic", (recs[0]["productKey"], recs[0]["deviceName"]),
         (PK, "sensor-0001"))
    st = s.stats_now()
    t.eq("duplicates by id", st["duplicates_by"], {"id": 1})
t.done()
