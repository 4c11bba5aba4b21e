#!/usr/bin/env python3
"""Operations tests (issue #8): the daemon as systemd runs it, SIGTERM drain, SIGHUP reload, credentials, shards.

    ops_test.py GATEWAY CLOUDSIM CASE     CASE: notify | credentials | drain | shard

Every peer (Mosquitto, cloudsim, gateways) runs on free loopback ports in a scratch directory and is stopped by
PID. Waits are on output (notify datagrams, log lines, cloud records) with bounded timeouts, never fixed sleeps.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cloudsim"))
import cloudsim_control  # noqa: E402

PK = "a1B2c3D4e5F"


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def secret_of(dn):
    return ("secret-" + dn + "-0123456789abcdef")[:32]


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


class Env:
    """Scratch dir + child processes, all stopped by PID at exit."""

    def __init__(self, gateway, cloudsim):
        self.gateway, self.cloudsim = gateway, cloudsim
        self.dir = tempfile.mkdtemp(prefix="gw-ops-")
        self.children = []

    def spawn(self, argv, log, env=None):
        f = open(os.path.join(self.dir, log), "ab")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env)
        self.children.append(p)
        return p

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def close(self, ok):
        for p in self.children:
            if p.poll() is None:
                p.kill()
                p.wait()
        if ok:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("files kept in", self.dir)

    def mosquitto(self):
        port = free_port()
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n" % port)
        self.spawn(["mosquitto", "-c", conf], "mosquitto.log")
        wait_for(lambda: _connectable(port), 10, "mosquitto on port %d" % port)
        return port

    def cloud(self, devices):
        with open(os.path.join(self.dir, "registry.csv"), "w") as f:
            for dn in devices:
                f.write("%s,%s,%s\n" % (PK, dn, secret_of(dn)))
        self.spawn([self.cloudsim, "--aes-port", "0", "--registry", os.path.join(self.dir, "registry.csv"),
                    "--jsonl", os.path.join(self.dir, "cloud.jsonl"), "--control", self.control_path()],
                   "cloudsim.log")
        wait_for(lambda: "cloudsim: ready" in self.log("cloudsim.log"), 10, "cloudsim ready")
        for line in self.log("cloudsim.log").splitlines():
            if "listening aes=127.0.0.1:" in line:
                return int(line.split("listening aes=127.0.0.1:")[1].split()[0].rstrip(","))
        raise AssertionError("no aes port in cloudsim.log")

    def control_path(self):
        return os.path.join(self.dir, "cloudsim.sock")

    def control(self, line):
        return cloudsim_control.command(self.control_path(), line)

    def cloud_records(self):
        out = []
        for line in self.log("cloud.jsonl").splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def config(self, name, mqtt_port, aes_port, devices, extra="", secret=None):
        lines = ["mqtt:", "  uri: tcp://127.0.0.1:%d" % mqtt_port, "  client_id: %s" % name,
                 "  reconnect_min: 1s", "  reconnect_max: 1s",
                 "cloud:", "  mode: aes", "  address: 127.0.0.1", "devices:"]
        for dn in devices:
            lines.append('  - { product_key: %s, device_name: %s, device_secret: "%s", port: %d }'
                         % (PK, dn, secret(dn) if secret else secret_of(dn), aes_port))
        lines += ["routes:",
                  '  - { from: "sensors/+device/#rest", device: "%s/${device}", '
                  'to: "/${productKey}/${deviceName}/user/${rest}" }' % PK,
                  "queue:", "  dir: %s" % os.path.join(self.dir, name + "-queue"),
                  "health:", '  http: ""', "  interval: 1s"]
        path = os.path.join(self.dir, name + ".yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)
        os.chmod(path, 0o600)
        return path

    def publish(self, port, topic, payload):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-m", payload],
                       check=True, timeout=10)


def _connectable(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class NotifySocket:
    """A datagram unix socket standing in for systemd's NOTIFY_SOCKET (sd_notify(3))."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def expect(self, key, timeout=10, contains=""):
        """Returns the first unconsumed datagram holding KEY (and `contains`), consuming those before it."""
        end = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.messages):
                if key in m.split("\n") or any(l.startswith(key) and contains in l for l in m.split("\n")):
                    if contains and contains not in m:
                        continue
                    del self.messages[: i + 1]
                    return m
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no notify message %r (%r) within %ss; got %r" % (key, contains, timeout,
                                                                                       self.messages))
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass


def case_notify(env):
    """READY=1, STATUS= with the broker down, WATCHDOG=1 at WATCHDOG_USEC/2, RELOADING=1/READY=1 on SIGHUP
    (valid and invalid file; log level applied), STOPPING=1 and exit 0 on SIGTERM."""
    dead_broker = free_port()  # nothing listens: a broker down at boot must not stop the daemon
    cfg = env.config("gw", dead_broker, free_port(socket.SOCK_DGRAM), ["dev1"])
    ns = NotifySocket(env.dir)
    e = dict(os.environ, NOTIFY_SOCKET=ns.path, WATCHDOG_USEC="400000")
    p = env.spawn([env.gateway, "run", "-c", cfg], "gw.log", e)
    ns.expect("READY=1")
    status = ns.expect("WATCHDOG=1", contains="STATUS=")
    check("broker disconnected" in status, "STATUS should report the broker down: %r" % status)
    t0 = time.monotonic()
    ns.expect("WATCHDOG=1", timeout=2)
    ns.expect("WATCHDOG=1", timeout=2)
    check(time.monotonic() - t0 < 1.5, "two WATCHDOG=1 should come within ~2 x 200 ms")
    check(p.poll() is None, "the daemon must keep running with the broker down")

    # A valid file with log level debug: RELOADING=1 then READY=1, and debug lines appear afterwards.
    with open(cfg, "a") as f:
        f.write("log:\n  level: debug\n")
    p.send_signal(signal.SIGHUP)
    ns.expect("RELOADING=1")
    ns.expect("READY=1")
    wait_for(lambda: " applied: devices " in env.log("gw.log"), 5, "reload applied line")
    # An invalid file: refused, the daemon stays.
    with open(cfg, "a") as f:
        f.write("bogus_key: 1\n")
    p.send_signal(signal.SIGHUP)
    ns.expect("RELOADING=1")
    ns.expect("READY=1")
    wait_for(lambda: "is invalid; the running configuration stays" in env.log("gw.log"), 5, "refused reload line")
    check(p.poll() is None, "an invalid reload must not stop the daemon")

    p.send_signal(signal.SIGTERM)
    ns.expect("STOPPING=1")
    check(p.wait(timeout=15) == 0, "exit status after SIGTERM should be 0")


def case_credentials(env):
    """${cred:NAME} resolves from $CREDENTIALS_DIRECTORY as systemd's LoadCredential= sets it, and the secret
    reaches the platform: the device authenticates and a message arrives."""
    mport = env.mosquitto()
    aes = env.cloud(["dev1"])
    creds = os.path.join(env.dir, "credentials")
    os.mkdir(creds, 0o700)
    with open(os.path.join(creds, "secrets_dev1"), "w") as f:
        f.write(secret_of("dev1") + "\n")
    cfg = env.config("gw", mport, aes, ["dev1"], secret=lambda dn: "${cred:secrets_%s}" % dn)
    no_cred = dict(os.environ)
    no_cred.pop("CREDENTIALS_DIRECTORY", None)
    r = subprocess.run([env.gateway, "check-config", "-c", cfg], env=no_cred, capture_output=True, text=True)
    check(r.returncode == 1 and "CREDENTIALS_DIRECTORY" in r.stderr, "without the directory: %r" % (r,))
    e = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    r = subprocess.run([env.gateway, "check-config", "-c", cfg], env=e, capture_output=True, text=True)
    check(r.returncode == 0, "check-config with credentials: %r" % (r,))
    p = env.spawn([env.gateway, "run", "-c", cfg], "gw.log", e)
    wait_for(lambda: "mqtt: subscribed to" in env.log("gw.log") and "-> ready" in env.log("gw.log"), 15,
             "gateway up")
    wait_for(lambda: (env.publish(mport, "sensors/dev1/update", '{"n":1}'), env.cloud_records())[1], 15,
             "a message at the cloud")
    check(secret_of("dev1") not in env.log("gw.log"), "the secret must not be logged")
    p.send_signal(signal.SIGTERM)
    check(p.wait(timeout=15) == 0, "exit 0")


def case_drain(env):
    """SIGTERM with messages in flight (the cloud silent): the daemon stops taking messages, waits for answers
    until its drain deadline, exits 0, and loses nothing: after a restart, with the cloud answering again, every
    published message reaches the cloud, once."""
    devices = ["dev%d" % i for i in range(1, 5)]
    mport = env.mosquitto()
    aes = env.cloud(devices)
    cfg = env.config("gw", mport, aes, devices)
    p = env.spawn([env.gateway, "run", "-c", cfg, "--drain-timeout-ms", "3000"], "gw.log")
    wait_for(lambda: env.log("gw.log").count("-> ready") >= len(devices), 20, "devices ready")
    # The first start has no broker session yet: a message published before the SUBACK is lost to it.
    wait_for(lambda: "mqtt: subscribed to" in env.log("gw.log"), 20, "the gateway's subscription")
    answer = env.control("silent 600")
    check(answer.startswith("ok"), "cloudsim silent: %r" % answer)
    n = 25
    # One mosquitto_pub per device, each sending n lines as n messages.
    for dn in devices:
        body = "\n".join('{"dev":"%s","n":%d}' % (dn, i) for i in range(n))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mport), "-q", "1", "-t",
                        "sensors/%s/update" % dn, "-l"], input=body, text=True, check=True, timeout=10)
    # All of them durable in the gateway's queue (its 1 s status line), some sent and unanswered.
    total = n * len(devices)
    wait_for(lambda: ", queued %d," % total in env.log("gw.log"), 15, "%d messages queued" % total)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=20)
    took = time.monotonic() - t0
    check(rc == 0, "exit status %d after SIGTERM" % rc)
    check(took < 3.0 + 3.0, "stopped in %.1fs, drain deadline 3 s" % took)
    drained = re.search(r"draining (\d+) in-flight", env.log("gw.log"))
    check(drained and int(drained.group(1)) > 0, "no message in flight at the stop: %r" % (drained,))
    check(not env.cloud_records(), "the silent cloud recorded %d message(s)" % len(env.cloud_records()))
    # Restart on the same queue, the cloud answering: the backlog left at stop is delivered, once.
    answer = env.control("reset-faults")
    check(answer.startswith("ok"), "cloudsim reset-faults: %r" % answer)
    want = sorted((dn, i) for dn in devices for i in range(n))

    def got():
        return sorted((json.loads(r["payload"])["dev"], json.loads(r["payload"])["n"]) for r in env.cloud_records()
                      if r.get("payload", "").startswith("{"))
    p2 = env.spawn([env.gateway, "run", "-c", cfg], "gw2.log")
    wait_for(lambda: len(got()) >= total, 30, "every message after the restart (have %d)" % len(got()))
    p2.send_signal(signal.SIGTERM)
    check(p2.wait(timeout=20) == 0, "second run exit 0")
    check(got() == want, "delivered after the restart: %d record(s), want each of %d once" % (len(got()), total))
    print("drain: %d message(s), %s in flight at the stop, first run stopped in %.2fs"
          % (total, drained.group(1), took))


def case_shard(env):
    """Two instances (shard 0/2, 1/2) on one broker: every device is served by exactly one of them, and each
    message reaches the cloud once (the other instance skips it without storing it)."""
    devices = ["dev%02d" % i for i in range(12)]
    mport = env.mosquitto()
    aes = env.cloud(devices)
    procs = []
    for i in range(2):
        cfg = env.config("gw%d" % i, mport, aes, devices, extra='shard: "%d/2"\n' % i)
        procs.append(env.spawn([env.gateway, "run", "-c", cfg], "gw%d.log" % i))
    counts = []
    for i in range(2):
        line = wait_for(lambda: [l for l in env.log("gw%d.log" % i).splitlines() if "device session(s)" in l], 10,
                        "gw%d start line" % i)[0]
        counts.append(int(line.split("starting ")[1].split()[0]))
    check(sum(counts) == len(devices) and min(counts) > 0, "sessions per shard %r" % counts)
    wait_for(lambda: sum(env.log("gw%d.log" % i).count("-> ready") for i in range(2)) >= len(devices), 20,
             "all devices ready")
    # Devices can be ready before an instance's MQTT session exists; a message published before its SUBACK
    # would never be delivered to it (its persistent session does not exist yet).
    wait_for(lambda: all("mqtt: subscribed to" in env.log("gw%d.log" % i) for i in range(2)), 20,
             "both instances subscribed")
    for dn in devices:
        env.publish(mport, "sensors/%s/update" % dn, '{"dev":"%s"}' % dn)
    wait_for(lambda: len(env.cloud_records()) >= len(devices), 20, "one record per device")
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        check(p.wait(timeout=20) == 0, "exit 0")
    by_dev = {}
    for r in env.cloud_records():
        if not r.get("dup"):
            by_dev[r["deviceName"]] = by_dev.get(r["deviceName"], 0) + 1
    check(by_dev == {dn: 1 for dn in devices}, "records per device %r" % by_dev)
    served = [set(l.split("device ")[1].split(":")[0] for l in env.log("gw%d.log" % i).splitlines()
                  if "-> ready" in l) for i in range(2)]
    check(not (served[0] & served[1]), "a device served by both: %r" % (served[0] & served[1]))
    check(len(served[0] | served[1]) == len(devices), "served %r" % (served,))
    print("shard: sessions per instance %r" % counts)


def main():
    gateway, cloudsim, case = sys.argv[1], sys.argv[2], sys.argv[3]
    env = Env(gateway, cloudsim)
    ok = False
    try:
        globals()["case_" + case](env)
        ok = True
    finally:
        if not ok:
            for name in sorted(os.listdir(env.dir)):
                if name.endswith(".log"):
                    print("----- %s\n%s" % (name, env.log(name)[-4000:]))
        env.close(ok)
    print("ok:", case)


if __name__ == "__main__":
    main()
