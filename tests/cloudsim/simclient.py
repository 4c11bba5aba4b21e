"""A small independent Alibaba-CoAP device client for cloudsim's tests: hand-built CoAP datagrams (RFC 7252 §3),
sign (spec §4.2) and AES (spec §5.2) with python3-cryptography, and a harness that starts/stops cloudsim."""

import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import cloudsim_control  # noqa: E402 (this directory)
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

IV = b"543yhjy97ae7fyfg"
PK = "a1B2c3D4e5F"
SPEC_SECRET = "0123456789abcdef0123456789abcdef"

CON, NON, ACK, RST = 0, 1, 2, 3
POST = 2


def code(c):
    """'4.01' style text of a code byte."""
    return "%d.%02d" % (c >> 5, c & 31)


def _mix(z):
    z &= 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def device_secret(i):
    """Deterministic secret of generated device i: the same rule as gw::test::cloudsim_process::device_secret
    (two splitmix64 outputs as 32 hex chars)."""
    g = 0x9E3779B97F4A7C15
    return "%016x%016x" % (_mix(g * (2 * i + 1)), _mix(g * (2 * i + 2)))


def encode_option(delta, length):
    def nib(v):
        if v < 13:
            return v, b""
        if v < 269:
            return 13, bytes([v - 13])
        return 14, struct.pack(">H", v - 269)

    d, dx = nib(delta)
    l, lx = nib(length)
    return bytes([(d << 4) | l]) + dx + lx


def build(mtype, code_byte, mid, token=b"", options=(), payload=b""):
    out = bytes([0x40 | (mtype << 4) | len(token), code_byte]) + struct.pack(">H", mid) + token
    last = 0
    for num, val in sorted(options, key=lambda o: o[0]):
        out += encode_option(num - last, len(val)) + val
        last = num
    if payload:
        out += b"\xff" + payload
    return out


def parse(data):
    """Returns dict(type, code, mid, token, options: list of (num, bytes), payload)."""
    if len(data) < 4:
        raise ValueError("short")
    tkl = data[0] & 15
    msg = {"type": (data[0] >> 4) & 3, "code": data[1], "mid": struct.unpack(">H", data[2:4])[0],
           "token": data[4:4 + tkl], "options": [], "payload": b""}
    i = 4 + tkl
    num = 0
    while i < len(data):
        if data[i] == 0xFF:
            msg["payload"] = data[i + 1:]
            break
        d, l = data[i] >> 4, data[i] & 15
        i += 1

        def ext(v, i):
            if v == 13:
                return data[i] + 13, i + 1
            if v == 14:
                return struct.unpack(">H", data[i:i + 2])[0] + 269, i + 2
            return v, i

        d, i = ext(d, i)
        l, i = ext(l, i)
        num += d
        msg["options"].append((num, data[i:i + l]))
        i += l
    return msg


def opt(msg, num):
    for n, v in msg["options"]:
        if n == num:
            return v
    return None


def uint_opt(v):
    return bytes([v]) if v < 256 else struct.pack(">H", v)


def sign(fields, secret, method="hmacmd5"):
    s = "".join(k + str(fields[k]) for k in sorted(fields) if k not in ("sign", "signmethod", "version", "resources"))
    alg = {"hmacmd5": hashlib.md5, "hmacsha1": hashlib.sha1, "hmacsha256": hashlib.sha256}[method]
    return hmac.new(secret.encode(), s.encode(), alg).hexdigest()


def aes_key(secret, rnd):
    return bytes.fromhex(hashlib.sha256((secret + "," + rnd).encode()).hexdigest()[16:48])


def aes_enc(key, data):
    p = padding.PKCS7(128).padder()
    e = Cipher(algorithms.AES(key), modes.CBC(IV)).encryptor()
    return e.update(p.update(data) + p.finalize()) + e.finalize()


def aes_dec(key, data):
    d = Cipher(algorithms.AES(key), modes.CBC(IV)).decryptor()
    u = padding.PKCS7(128).unpadder()
    return u.update(d.update(data) + d.finalize()) + u.finalize()


def psk_for(pk, dn, secret, ts="2524608000000"):
    ident = "devicename|hmacsha256|%s&%s|%s" % (pk, dn, ts)
    key = hmac.new(secret.encode(), ("id%s&%stimestamp%s" % (pk, dn, ts)).encode(), hashlib.sha256).hexdigest().upper()
    return ident, key


class Client:
    """One UDP socket talking to one cloudsim endpoint (AES or plain mode)."""

    def __init__(self, port, timeout=3.0):
        self.addr = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.mid = random.randint(0, 0xFFFF)
        self.tok = random.randint(0, 0xFFFFFFFF)
        self.key = None
        self.token = None
        self.seq = None

    def close(self):
        self.sock.close()

    def next_ids(self):
        self.mid = (self.mid + 1) & 0xFFFF
        self.tok = (self.tok + 1) & 0xFFFFFFFF
        return self.mid, struct.pack(">I", self.tok)

    def exchange(self, datagram, expect_mid=None, expect_token=None):
        """Sends a CON datagram and returns the final response (following an empty ACK + separate CON)."""
        self.sock.sendto(datagram, self.addr)
        while True:
            data, _ = self.sock.recvfrom(4096)
            m = parse(data)
            if m["type"] == ACK and m["code"] == 0:
                continue  # separate response follows (RFC 7252 §5.2.2)
            if m["type"] == CON:
                self.sock.sendto(build(ACK, 0, m["mid"]), self.addr)
            if expect_token is not None and m["token"] != expect_token:
                continue
            return m

    def request(self, path, payload=b"", options=(), mtype=CON):
        mid, tok = self.next_ids()
        opts = [(11, seg.encode()) for seg in path.strip("/").split("/")]
        opts += list(options)
        d = build(mtype, POST, mid, tok, opts, payload)
        return self.exchange(d, expect_token=tok)

    def auth(self, pk, dn, secret, method="hmacmd5", seq="1", extra=None, mode="aes"):
        fields = {"productKey": pk, "deviceName": dn, "clientId": "%s.%s" % (pk, dn)}
        if mode == "aes":
            fields["seq"] = seq
        if extra:
            fields.update(extra)
        body = dict(fields)
        body["signmethod"] = method
        body["sign"] = sign(fields, secret, method)
        m = self.request("/auth", json.dumps(body).encode(), [(12, b"\x32"), (17, b"\x32")])
        if code(m["code"]) == "2.05":
            j = json.loads(m["payload"])
            self.token = j["token"]
            if "random" in j:
                self.key = aes_key(secret, j["random"])
                self.seq = j["seqOffset"]
        return m

    def publish(self, topic, payload, seq=None, token_option=2088):
        if seq is None:
            self.seq += 1
            seq = self.seq
        opts = [(12, b"\x32"), (token_option, self.token.encode())]
        if self.key is not None:
            opts.append((2089, aes_enc(self.key, str(seq).encode())))
            payload = aes_enc(self.key, payload)
        return self.request("/topic" + topic, payload, opts)


class Sim:
    """Starts cloudsim on port 0 with a generated registry, parses ports, stops it by PID."""

    def __init__(self, binary, devices=10, args=(), endpoints=("aes",), certs=None):
        self.dir = tempfile.mkdtemp(prefix="cloudsim-test-")
        self.registry = os.path.join(self.dir, "devices.csv")
        with open(self.registry, "w") as f:
            for i in range(devices):
                f.write("%s,sensor-%04d,%s\n" % (PK, i, device_secret(i)))
            f.write("%s,sensor-001,%s\n" % (PK, SPEC_SECRET))  # the spec §10 test device
        self.jsonl = os.path.join(self.dir, "accepted.jsonl")
        self.stats = os.path.join(self.dir, "stats.json")
        self.control = os.path.join(self.dir, "control.sock")
        argv = [binary, "--registry", self.registry, "--jsonl", self.jsonl, "--stats", self.stats,
                "--control", self.control, "--seed", "7"]
        flag = {"aes": "--aes-port", "psk": "--psk-port", "dtls": "--dtls-port", "plain": "--plain-port"}
        for e in endpoints:
            argv += [flag[e], "0"]
        if "dtls" in endpoints:
            argv += ["--cert", certs + "/server.pem", "--key", certs + "/server.key"]
        argv += list(args)
        self.log = open(os.path.join(self.dir, "cloudsim.log"), "w+")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.ports = {}
        deadline = time.time() + 10
        for line in self.proc.stdout:
            m = re.match(r"cloudsim: listening (\w+)=127\.0\.0\.1:(\d+)", line)
            if m:
                self.ports[m.group(1)] = int(m.group(2))
            if line.startswith("cloudsim: ready") or time.time() > deadline:
                break
        if not line.startswith("cloudsim: ready"):
            raise RuntimeError("cloudsim did not become ready")

    def command(self, line):
        return cloudsim_control.command(self.control, line, timeout=5)

    def stats_now(self):
        reply = self.command("stats")
        assert reply.startswith("ok "), reply
        return json.loads(reply[3:])

    def records(self):
        if not os.path.exists(self.jsonl):
            return []
        with open(self.jsonl) as f:
            return [json.loads(l) for l in f if l.strip()]

    def stop(self):
        if self.log.closed:
            return self.proc.returncode, ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.log.seek(0)
        log = self.log.read()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc, log

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Checks:
    """Minimal assertion collector: every check prints, failures make the exit status 1."""

    def __init__(self):
        self.failed = 0
        self.passed = 0

    def eq(self, what, got, want):
        if got == want:
            self.passed += 1
            print("ok   %s" % what)
        else:
            self.failed += 1
            print("FAIL %s: got %r, want %r" % (what, got, want))

    def true(self, what, cond, detail=""):
        self.eq(what + (" (%s)" % detail if detail else ""), bool(cond), True)

    def done(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed or not self.passed else 0)
