#!/usr/bin/env python3
"""End-to-end benchmark matrix of the gateway (issue #9 items 1, 2, 4): one command, three profiles.

    flock /tmp/bench.lock python3 tests/bench/e2e/bench.py --profile quick [--build build/bench] [--out DIR]

Profiles (PROFILES below):
  smoke  seconds; 10 devices, plain and AES, tiny loads, no peer. ctest `bench_matrix_smoke` (label integration)
         checks the driver still runs; its figures mean nothing.
  quick  a few minutes: 1,000 devices, plain and AES, the ceilings, the Node-RED peer, a 15 s outage, an expiry
         storm.
  full   under 30 minutes: 1, 100, 1,000, 10,000 devices in plain, AES and DTLS-PSK; a 60 s outage at 1,000
         devices; 10,000 devices brought up at 2,000 /auth/s.

Every case starts its own Mosquitto (max_queued_messages 0, no persistence), cloudsim and the built
mqtt-coap-gateway (or the peer) on free 127.0.0.1 ports and stops them by PID. Load comes from e2e_mqtt_load (a
separate Paho process, QoS 1, payload {"id":i,"ts_us":<send time>,"pad":..} of ~100 B). What reached the cloud
is read from cloudsim's JSONL: receive time (ms), device, payload id, dup flag.

Per case: time until every device is ready; RSS idle (and per device); delivered msg/s at full speed (window of
100 unacknowledged publishes); loss (ids never delivered); duplicates (dup records + ids seen twice); gateway
CPU µs/msg; RSS under load (VmRSS at the end, VmHWM); at each fixed rate (1,000 and 10,000 msg/s): latency
p50/p99/p99.9 (cloudsim receive time minus the payload's send time, both this machine's wall clock, 1 ms
resolution), the rate delivered and the gateway's CPU (% of one core) per 1,000 msg/s.
Ceilings, same run: Mosquitto alone (e2e_mqtt_load pub -> broker -> sub, QoS 1) and cloudsim alone
(tests/cloudsim/cloudsim_load: N AES devices, pre-encrypted CON publishes, a window per device; cloudsim writes
its JSONL as in the gateway runs). The ceiling of a row is min(Mosquitto, cloudsim at that device count).
The peer: Node-RED (tests/bench/peer/flows.json: mqtt in -> function -> coap request) in plain mode against the
same cloudsim, measured the same way. `npm install` of tests/bench/peer/package.json goes to <build>/peer (once).

Output in --out (default <build>/bench-results/<profile>): results.json (everything, including latency CDF
points for the plots), results.csv (one row per measured case), report.md (Markdown tables). Machine facts
(nproc, CPU model, load average before and after each case) are in all three. tests/bench/e2e/plot.sh turns
results.json into the PNGs of docs/img/. Exit status 1 when a gateway case lost a message.

The file-descriptor limit is raised to the hard limit (as root to 65,536 when lower): DTLS-PSK at 10,000
devices needs one socket per device in the gateway and in cloudsim_load.
"""

import argparse
import csv
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "cloudsim"))
import cloudsim_control  # noqa: E402

PK = "a1B2c3D4e5F"

PROFILES = {
    "smoke": dict(devices=[10], modes=["plain", "aes"], messages=500, rates=[(200, 2)], peer=False,
                  ceiling_messages=2000, outage=dict(devices=10, seconds=2, rate=100),
                  expiry=dict(devices=10, seconds=3, rate=100), storm=None),
    "quick": dict(devices=[1000], modes=["plain", "aes"], messages=20000, rates=[(1000, 10), (10000, 3)],
                  peer=True, ceiling_messages=50000, outage=dict(devices=1000, seconds=15, rate=1000),
                  expiry=dict(devices=1000, seconds=10, rate=1000), storm=None),
    "full": dict(devices=[1, 100, 1000, 10000], modes=["plain", "aes", "dtls-psk"], messages=30000,
                 rates=[(1000, 10), (10000, 3)], peer=True, ceiling_messages=50000,
                 outage=dict(devices=1000, seconds=60, rate=1000), expiry=dict(devices=1000, seconds=10, rate=1000),
                 storm=dict(devices=10000, mode="aes", auth_rate=2000)),
}


def auth_rate_for(devices):
    # The gateway's cloud.auth.rate_per_s (default 50/s): raised for the benchmark so bring-up does not dominate,
    # 2,000/s for 10,000 devices. cloudsim has no /auth rate limit of its own.
    return 2000 if devices >= 10000 else 1000


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def load_avg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine_facts():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])

    def version(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except Exception:
            return ""

    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": round(mem_kib / 1048576, 1),
        "kernel": os.uname().release,
        "load_at_start": load_avg(),
        "mosquitto": version(["mosquitto", "-h"]),
        "node": version(["node", "--version"]),
    }


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout, what, interval=0.05):
    """Polls pred() until it is true (returns its value) or raises after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(interval)


class Proc:
    """A child process with its output in a file; stopped by PID."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.log_path = os.path.join(workdir, name + ".log")
        self.log_file = open(self.log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT, cwd=workdir,
                                  env=env, start_new_session=True)
        self.pid = self.p.pid

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, needle, timeout):
        def seen():
            if self.p.poll() is not None:
                raise RuntimeError("%s exited (%s):\n%s" % (self.name, self.p.returncode, self.output()[-3000:]))
            return needle in self.output()

        return wait_until(seen, timeout, "%s: %r" % (self.name, needle), 0.1)

    def wait_exit(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError("%s still running after %s s:\n%s" % (self.name, timeout, self.output()[-2000:]))

    def sample(self):
        """(cpu seconds, VmRSS KiB, VmHWM KiB) of the process."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        rss = hwm = 0
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        return cpu, rss, hwm

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log_file.close()


def secret_of(i):
    """cloudsim's generated device secrets (tests/cloudsim/simclient.py:device_secret, cloudsim_load)."""
    m64 = (1 << 64) - 1

    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m64
        return z ^ (z >> 31)

    g = 0x9E3779B97F4A7C15
    return "%016x%016x" % (mix((g * (2 * i + 1)) & m64), mix((g * (2 * i + 2)) & m64))


def device_name(i):
    return "sensor-%04d" % i


class Cloud:
    """cloudsim with N generated devices and one endpoint (kind aes, plain or psk), JSONL and a control socket."""

    def __init__(self, ctx, workdir, devices, kind):
        self.ctx = ctx
        self.workdir = workdir
        reg = os.path.join(workdir, "registry.csv")
        with open(reg, "w") as f:
            for i in range(devices):
                f.write("%s,%s,%s\n" % (PK, device_name(i), secret_of(i)))
        self.jsonl = os.path.join(workdir, "cloud.jsonl")
        self.control = os.path.join(workdir, "cloud.sock")
        argv = [ctx.bin("tests/cloudsim/cloudsim"), "--registry", reg, "--jsonl", self.jsonl, "--stats",
                os.path.join(workdir, "cloud-stats.json"), "--control", self.control, "--seed", "1",
                "--" + kind + "-port", "0"]
        self.proc = Proc("cloudsim", argv, workdir)
        self.proc.wait_log("cloudsim: ready", 60)
        m = re.search(r"listening %s=127\.0\.0\.1:(\d+)" % kind, self.proc.output())
        self.port = int(m.group(1))
        self.reader = JsonlReader(self.jsonl)

    def command(self, line):
        return cloudsim_control.command(self.control, line, timeout=None)

    def stats(self):
        reply = self.command("stats")
        return json.loads(reply[3:]) if reply.startswith("ok ") else {}

    def stop(self):
        self.proc.stop()


class JsonlReader:
    """Incremental reader of cloudsim's JSONL: per record (receive time ms, device, id, ts_us, dup)."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = b""
        self.records = []

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.records
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if not line:
                continue
            r = json.loads(line)
            mid, ts = None, None
            try:
                p = json.loads(r.get("payload", ""))
                mid, ts = p.get("id"), p.get("ts_us")
            except (ValueError, AttributeError):
                pass
            t = r["t_us"] / 1000.0  # cloudsim's receive time (us) in ms
            self.records.append((t, r.get("deviceName"), mid, ts, bool(r.get("dup"))))
        return self.records


def in_range(records, first, count):
    return [r for r in records if r[2] is not None and first <= r[2] < first + count]


def wait_delivered(cloud, first, count, timeout, idle=15.0):
    """Waits until every id of [first, first+count) reached cloudsim once, or nothing new arrived for `idle` s,
    or `timeout`. Returns the records of the range."""
    end = time.monotonic() + timeout
    last_n, last_change = -1, time.monotonic()
    seen = set()
    scanned = 0
    while True:
        recs = cloud.reader.poll()
        for r in recs[scanned:]:
            if r[2] is not None and first <= r[2] < first + count:
                seen.add(r[2])
        scanned = len(recs)
        now = time.monotonic()
        if len(seen) >= count or now > end:
            break
        if len(recs) != last_n:
            last_n, last_change = len(recs), now
        elif now - last_change > idle:
            break
        time.sleep(0.05)
    return in_range(cloud.reader.poll(), first, count)


def ledger(recs, first, count, devices):
    """Loss, duplicates and per-device order of the records of one range (message i went to device i % N)."""
    ids = set()
    dups = 0
    out_of_order = 0
    last = {}
    for t, dev, mid, ts, dup in sorted(recs, key=lambda r: r[0]):
        if dup or mid in ids:
            dups += 1
            continue
        ids.add(mid)
        if last.get(dev, -1) > mid:
            out_of_order += 1
        last[dev] = mid
    return {"published": count, "delivered": len(ids), "lost": count - len(ids), "duplicates": dups,
            "out_of_order": out_of_order}


def rate_of(recs):
    firsts = [r[0] for r in recs if not r[4]]
    if len(firsts) < 2:
        return 0.0
    span = (max(firsts) - min(firsts)) / 1000.0
    return (len(firsts) - 1) / span if span > 0 else 0.0


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, int(len(sorted_values) * q))
    return sorted_values[i]


def latencies(recs):
    ms = sorted(r[0] - r[3] / 1000.0 for r in recs if not r[4] and r[3] is not None)
    return ms


def cdf_points(ms, n=200):
    if not ms:
        return []
    pts = []
    for k in range(n + 1):
        q = k / n
        pts.append([round(ms[min(len(ms) - 1, int((len(ms) - 1) * q))], 3), round(q, 4)])
    return pts


class Context:
    def __init__(self, args, profile):
        self.args = args
        self.profile = profile
        self.build = os.path.abspath(args.build)
        self.out = os.path.abspath(args.out or os.path.join(self.build, "bench-results", args.profile))
        self.work = os.path.join(self.out, "work")
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work, exist_ok=True)
        self.case_no = 0

    def bin(self, rel):
        path = os.path.join(self.build, rel)
        if not os.access(path, os.X_OK):
            raise RuntimeError("not built: %s (cmake --build %s --target %s)" % (path, self.build,
                                                                               os.path.basename(rel)))
        return path

    def case_dir(self, name):
        self.case_no += 1
        d = os.path.join(self.work, "%02d-%s" % (self.case_no, name))
        os.makedirs(d, exist_ok=True)
        return d


def start_broker(workdir):
    port = free_port()
    conf = os.path.join(workdir, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n"
                "log_dest stdout\n" % port)
        if os.getuid() == 0:
            f.write("user root\n")
    proc = Proc("mosquitto", ["mosquitto", "-c", conf], workdir)

    def accepting():
        if proc.p.poll() is not None:
            raise RuntimeError("mosquitto exited:\n" + proc.output())
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            return False

    wait_until(accepting, 15, "mosquitto")
    return proc, "tcp://127.0.0.1:%d" % port


def write_gateway_config(path, workdir, uri, mode, port, devices):
    with open(path, "w") as y:
        y.write("# generated by tests/bench/e2e/bench.py\n")
        y.write("mqtt: { uri: \"%s\", client_id: bench-gateway }\n" % uri)
        y.write("cloud:\n  mode: %s\n  address: 127.0.0.1\n  port: %d\n" % (mode, port))
        y.write("  coap: { ack_timeout: 2s }\n")
        y.write("  auth: { rate_per_s: %d }\n" % auth_rate_for(devices))
        y.write("devices:\n")
        for i in range(devices):
            if mode == "plain":
                y.write("  - { product_key: %s, device_name: %s }\n" % (PK, device_name(i)))
            else:
                y.write("  - { product_key: %s, device_name: %s, device_secret: \"%s\" }\n" %
                        (PK, device_name(i), secret_of(i)))
        y.write("routes:\n  - { from: \"sensors/+device/#rest\", device: \"%s/${device}\", "
                "to: \"/${productKey}/${deviceName}/user/${rest}\" }\n" % PK)
        y.write("queue: { dir: %s, max_messages_per_device: 1000000 }\n" % os.path.join(workdir, "queue"))
        y.write("health: { http: \"\", mqtt_topic: \"\", interval: 1s }\n")
        y.write("log: { level: info }\n")
    os.chmod(path, 0o600)


class Subject:
    """The process under test between the broker and cloudsim: the gateway or the Node-RED peer."""

    def __init__(self, ctx, workdir, kind, mode, devices, uri, cloud_port, broker_port):
        self.kind = kind
        self.devices = devices
        t0 = time.monotonic()
        if kind == "gateway":
            conf = os.path.join(workdir, "gateway.yaml")
            write_gateway_config(conf, workdir, uri, mode, cloud_port, devices)
            self.proc = Proc("gateway", [ctx.bin("gateway/app/mqtt-coap-gateway"), "run", "-c", conf], workdir)
            # The SUBACK first: the status line's "broker connected" can come before it.
            self.proc.wait_log("mqtt: subscribed to", 300)
            self.proc.wait_log("broker connected, devices ready %d/%d" % (devices, devices), 300)
        else:
            peer_dir = ensure_peer(ctx)
            user_dir = os.path.join(workdir, "node-red")
            os.makedirs(user_dir, exist_ok=True)
            shutil.copy(os.path.join(SRC, "tests", "bench", "peer", "flows.json"), user_dir)
            env = dict(os.environ, MQTT_PORT=str(broker_port), COAP_PORT=str(cloud_port),
                       NODE_RED_ENABLE_PROJECTS="false")
            argv = ["node", os.path.join(peer_dir, "node_modules", "node-red", "red.js"), "--userDir", user_dir,
                    "--port", str(free_port()), os.path.join(user_dir, "flows.json")]
            self.proc = Proc("node-red", argv, workdir, env)
            self.proc.wait_log("Connected to broker", 120)
        self.ready_s = time.monotonic() - t0

    def max_queued(self):
        if self.kind != "gateway":
            return None
        q = [int(x) for x in re.findall(r"devices ready \d+/\d+, queued (\d+)", self.proc.output())]
        return max(q) if q else None


def ensure_peer(ctx):
    d = os.path.join(ctx.build, "peer")
    red = os.path.join(d, "node_modules", "node-red", "red.js")
    coap = os.path.join(d, "node_modules", "node-red-contrib-coap")
    if os.path.exists(red) and os.path.exists(coap):
        return d
    os.makedirs(d, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        src = os.path.join(SRC, "tests", "bench", "peer", f)
        if os.path.exists(src):
            shutil.copy(src, d)
    log("installing Node-RED into " + d)
    cmd = ["npm", "ci"] if os.path.exists(os.path.join(d, "package-lock.json")) else ["npm", "install"]
    subprocess.run(cmd + ["--no-audit", "--no-fund"], cwd=d, check=True)
    return d


def publish(ctx, workdir, uri, devices, first, count, rate=0, name="pub"):
    argv = [ctx.bin("tests/bench/e2e/e2e_mqtt_load"), "pub", "--uri", uri, "--devices", str(devices),
            "--first-id", str(first), "--messages", str(count), "--window", "100", "--pad", "60",
            "--client-id", "bench-" + name]
    if rate:
        argv += ["--rate", str(rate)]
    p = Proc(name, argv, workdir)
    p.wait_log("e2e_mqtt_load: connected", 30)
    return p


def run_case(ctx, kind, mode, devices):
    """One row: the gateway (or the peer) with `devices` devices in `mode`."""
    prof = ctx.profile
    name = "%s-%s-%d" % (kind, mode, devices)
    workdir = ctx.case_dir(name)
    log("case " + name)
    row = {"kind": kind, "mode": mode, "devices": devices, "load_before": load_avg()}
    broker, uri = start_broker(workdir)
    cloud = Cloud(ctx, workdir, devices, {"plain": "plain", "aes": "aes", "dtls-psk": "psk"}[mode])
    subject = None
    try:
        subject = Subject(ctx, workdir, kind, mode, devices, uri, cloud.port, int(uri.rsplit(":", 1)[1]))
        row["ready_s"] = round(subject.ready_s, 2)
        row["auth_rate"] = auth_rate_for(devices) if kind == "gateway" else None
        time.sleep(1.0)  # a settled idle process (not waiting for an event: the RSS of an idle process)
        _, rss_idle, _ = subject.proc.sample()
        row["rss_idle_mib"] = round(rss_idle / 1024, 1)
        row["rss_idle_kib_per_device"] = round(rss_idle / devices, 2)

        # Full speed.
        m = prof["messages"]
        cpu0, _, _ = subject.proc.sample()
        pub = publish(ctx, workdir, uri, devices, 0, m, name="pub-full")
        recs = wait_delivered(cloud, 0, m, 600)
        cpu1, rss, hwm = subject.proc.sample()
        pub.stop()
        lg = ledger(recs, 0, m, devices)
        full = {}
        phases = [(0, m, full)]
        row.update({"messages": m, "msg_per_s": round(rate_of(recs)), "lost": lg["lost"], "lost_full": lg["lost"],
                    "duplicates": lg["duplicates"], "out_of_order": lg["out_of_order"],
                    "cpu_us_per_msg": round((cpu1 - cpu0) * 1e6 / max(1, lg["delivered"]), 1),
                    "rss_load_mib": round(rss / 1024, 1), "rss_peak_mib": round(hwm / 1024, 1)})

        # Fixed rates.
        first = m
        row["fixed"] = []
        for rate, seconds in prof["rates"]:
            count = rate * seconds
            cpu0, _, _ = subject.proc.sample()
            pub = publish(ctx, workdir, uri, devices, first, count, rate, name="pub-%d" % rate)
            recs = wait_delivered(cloud, first, count, 300 + seconds)
            cpu1, rss, hwm = subject.proc.sample()
            pub.stop()
            lg = ledger(recs, first, count, devices)
            ms = latencies(recs)
            delivered_rate = rate_of(recs)
            f = {"rate": rate, "seconds": seconds, "messages": count, "lost": lg["lost"],
                 "duplicates": lg["duplicates"], "delivered_per_s": round(delivered_rate),
                 "p50_ms": percentile(ms, 0.5), "p99_ms": percentile(ms, 0.99), "p999_ms": percentile(ms, 0.999),
                 "max_ms": ms[-1] if ms else None,
                 # CPU seconds per 1,000 messages = the share of one core that 1,000 msg/s take (idle work
                 # included, as it is part of running at that rate).
                 "cpu_pct_per_1k": round((cpu1 - cpu0) * 1000 * 100 / max(1, lg["delivered"]), 1),
                 "rss_mib": round(rss / 1024, 1), "cdf": cdf_points(ms)}
            for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms"):
                if f[k] is not None:
                    f[k] = round(f[k], 1)
            row["fixed"].append(f)
            phases.append((first, count, f))
            row["lost"] += lg["lost"]
            first += count
        row["max_queued"] = subject.max_queued()
        _, _, hwm = subject.proc.sample()  # VmHWM: the peak over every phase
        row["rss_peak_mib"] = round(hwm / 1024, 1)
        # Resends can arrive after every id was delivered (the peer's CoAP client retransmits for up to ~45 s):
        # duplicates are counted again over everything cloudsim recorded until the subject stopped.
        subject.proc.stop()
        recs = cloud.reader.poll()
        row["duplicates"] = 0
        for phase_first, phase_count, target in phases:
            target["duplicates"] = ledger(in_range(recs, phase_first, phase_count), phase_first, phase_count,
                                          devices)["duplicates"]
            row["duplicates"] += target["duplicates"]
        row["duplicates_full"] = full["duplicates"]
    finally:
        if subject:
            subject.proc.stop()
        cloud.stop()
        broker.stop()
    row["load_after"] = load_avg()
    log("  %s" % {k: v for k, v in row.items() if k != "fixed"})
    return row


def mosquitto_ceiling(ctx, messages):
    workdir = ctx.case_dir("ceiling-mosquitto")
    log("ceiling: Mosquitto alone")
    broker, uri = start_broker(workdir)
    try:
        sub = Proc("sub", [ctx.bin("tests/bench/e2e/e2e_mqtt_load"), "sub", "--uri", uri, "--messages",
                           str(messages), "--timeout", "300", "--filter", "sensors/#"], workdir)
        sub.wait_log("e2e_mqtt_load: subscribed", 30)
        pub = publish(ctx, workdir, uri, 100, 0, messages, name="pub-ceiling")
        sub.wait_exit(310)
        pub.stop()
        m = re.search(r"received (\d+) in [\d.]+ s \((\d+) msg/s\)", sub.output())
        return {"messages": messages, "msg_per_s": int(m.group(2)) if m else 0, "load": load_avg()}
    finally:
        broker.stop()


def cloudsim_ceiling(ctx, devices, messages):
    workdir = ctx.case_dir("ceiling-cloudsim-%d" % devices)
    log("ceiling: cloudsim alone, %d devices" % devices)
    cloud = Cloud(ctx, workdir, devices, "aes")
    try:
        window = max(1, min(8, 4000 // devices))
        msgs = max(messages, devices * 2)
        p = Proc("cloudsim_load", [ctx.bin("tests/cloudsim/cloudsim_load"), "--port", str(cloud.port), "--devices",
                                   str(devices), "--messages", str(msgs), "--window", str(window),
                                   "--seconds", "60"], workdir)
        p.wait_exit(400)
        m = re.search(r"= (\d+) publishes/s", p.output())
        return {"devices": devices, "window": window, "messages": msgs, "msg_per_s": int(m.group(1)) if m else 0,
                "load": load_avg()}
    finally:
        cloud.stop()


def outage(ctx, spec):
    """Backlog built while cloudsim is silent for S s at R msg/s over N AES devices, and the time to drain it."""
    devices, seconds, rate = spec["devices"], spec["seconds"], spec["rate"]
    workdir = ctx.case_dir("outage")
    log("drain: %d s outage, %d devices, %d msg/s" % (seconds, devices, rate))
    broker, uri = start_broker(workdir)
    cloud = Cloud(ctx, workdir, devices, "aes")
    subject = None
    try:
        subject = Subject(ctx, workdir, "gateway", "aes", devices, uri, cloud.port, 0)
        count = rate * seconds
        pub = publish(ctx, workdir, uri, devices, 0, count, rate, name="pub-outage")
        reply = cloud.command("silent %d" % seconds)
        if not reply.startswith("ok"):
            raise RuntimeError("cloudsim silent: " + reply)
        wall_end_ms = time.time() * 1000 + seconds * 1000
        pub.wait_log("e2e_mqtt_load: published", seconds + 120)
        recs = wait_delivered(cloud, 0, count, 600, idle=90)
        pub.stop()
        # The backlog: the largest queue depth in the gateway's 1 s status lines.
        q = [int(x) for x in re.findall(r"devices ready \d+/\d+, queued (\d+)", subject.proc.output())]
        backlog_at_end = max(q) if q else None
        lg = ledger(recs, 0, count, devices)
        last_ms = max((r[0] for r in recs), default=wall_end_ms)
        res = {"devices": devices, "outage_s": seconds, "rate": rate, "published": count,
               "peak_queued": backlog_at_end, "drain_s": round(max(0.0, (last_ms - wall_end_ms) / 1000), 1),
               "lost": lg["lost"], "duplicates": lg["duplicates"], "load": load_avg()}
        log("  %s" % res)
        return res
    finally:
        if subject:
            subject.proc.stop()
        cloud.stop()
        broker.stop()


def expiry_storm(ctx, spec):
    """Every token expires at once (cloudsim `expire-tokens`) in the middle of a steady load."""
    devices, seconds, rate = spec["devices"], spec["seconds"], spec["rate"]
    workdir = ctx.case_dir("expiry")
    log("storm: every token expires, %d devices, %d msg/s" % (devices, rate))
    broker, uri = start_broker(workdir)
    cloud = Cloud(ctx, workdir, devices, "aes")
    subject = None
    try:
        subject = Subject(ctx, workdir, "gateway", "aes", devices, uri, cloud.port, 0)
        before = cloud.stats()
        count = rate * seconds
        pub = publish(ctx, workdir, uri, devices, 0, count, rate, name="pub-expiry")
        wait_until(lambda: len(cloud.reader.poll()) >= count // 2, seconds + 60, "half the messages", 0.02)
        t_exp_ms = time.time() * 1000
        reply = cloud.command("expire-tokens")
        recs = wait_delivered(cloud, 0, count, 300 + seconds)
        pub.stop()
        after = cloud.stats()
        lg = ledger(recs, 0, count, devices)
        before_ms = latencies([r for r in recs if r[3] is not None and r[3] / 1000 < t_exp_ms])
        after_ms = latencies([r for r in recs if r[3] is not None and t_exp_ms <= r[3] / 1000 < t_exp_ms + 5000])
        res = {"devices": devices, "rate": rate, "published": count, "expired": reply,
               "reauths": after.get("auth_ok", 0) - before.get("auth_ok", 0),
               "rejected_401": sum(v for k, v in after.get("rejected", {}).items() if k.startswith("token"))
               - sum(v for k, v in before.get("rejected", {}).items() if k.startswith("token")),
               "p99_before_ms": percentile(before_ms, 0.99), "p50_after_ms": percentile(after_ms, 0.5),
               "p99_after_ms": percentile(after_ms, 0.99), "max_after_ms": after_ms[-1] if after_ms else None,
               "lost": lg["lost"], "duplicates": lg["duplicates"], "load": load_avg()}
        for k in ("p99_before_ms", "p50_after_ms", "p99_after_ms", "max_after_ms"):
            if res[k] is not None:
                res[k] = round(res[k], 1)
        log("  %s" % res)
        return res
    finally:
        if subject:
            subject.proc.stop()
        cloud.stop()
        broker.stop()


def bring_up_storm(ctx, spec):
    """Time for N devices to become ready at the given /auth rate (no load)."""
    devices, mode, auth = spec["devices"], spec["mode"], spec["auth_rate"]
    workdir = ctx.case_dir("storm-ready")
    log("storm: %d %s devices to ready at %d /auth/s" % (devices, mode, auth))
    broker, uri = start_broker(workdir)
    cloud = Cloud(ctx, workdir, devices, "aes")
    subject = None
    try:
        subject = Subject(ctx, workdir, "gateway", mode, devices, uri, cloud.port, 0)
        st = cloud.stats()
        return {"devices": devices, "mode": mode, "auth_rate": auth, "ready_s": round(subject.ready_s, 2),
                "ideal_s": round(devices / auth, 2), "auth_ok": st.get("auth_ok"),
                "auth_failed": st.get("auth_failed_total"), "load": load_avg()}
    finally:
        if subject:
            subject.proc.stop()
        cloud.stop()
        broker.stop()


def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def add_ratios(results):
    mosq = results["ceilings"]["mosquitto"]["msg_per_s"]
    cs = {c["devices"]: c["msg_per_s"] for c in results["ceilings"]["cloudsim"]}
    peers = {r["devices"]: r for r in results["rows"] if r["kind"] == "peer"}
    for r in results["rows"]:
        ceil = min(x for x in (mosq, cs.get(r["devices"])) if x) if (mosq or cs.get(r["devices"])) else None
        r["ceiling_msg_per_s"] = ceil
        r["x_ceiling"] = ratio(r["msg_per_s"], ceil)
        p = peers.get(r["devices"])
        r["x_peer"] = ratio(r["msg_per_s"], p["msg_per_s"]) if p else None
        r["cpu_x_peer"] = ratio(r["cpu_us_per_msg"], p["cpu_us_per_msg"]) if p else None
        r["rss_x_peer"] = ratio(r["rss_peak_mib"], p["rss_peak_mib"]) if p else None
        for f in r["fixed"]:
            f["x_ceiling"] = ratio(f["delivered_per_s"], min(f["rate"], ceil or f["rate"]))
            pf = next((x for x in p["fixed"] if x["rate"] == f["rate"]), None) if p else None
            f["p99_x_peer"] = ratio(f["p99_ms"], pf["p99_ms"]) if pf else None
            f["x_peer"] = ratio(f["delivered_per_s"], pf["delivered_per_s"]) if pf else None


def fmt(v, suffix=""):
    if v is None:
        return "–"
    if isinstance(v, float) and v >= 100:
        return "{:,.0f}{}".format(v, suffix)
    if isinstance(v, int):
        return "{:,}{}".format(v, suffix)
    return "{}{}".format(v, suffix)


def report_md(results):
    mf = results["machine"]
    out = []
    out.append("Profile `%s`, %s UTC. Machine: nproc %s, %s, %s GiB RAM, kernel %s; %s; node %s. Load average "
               "(1/5/15 min) at start %s, at end %s." %
               (results["profile"], mf["date_utc"], mf["nproc"], mf["cpu_model"], mf["mem_gib"], mf["kernel"],
                mf["mosquitto"], mf["node"], mf["load_at_start"], results["load_at_end"]))
    out.append("")
    c = results["ceilings"]
    out.append("Ceilings: Mosquitto alone %s msg/s (QoS 1, %s messages); cloudsim alone (cloudsim_load, AES, "
               "JSONL on) %s." % (fmt(c["mosquitto"]["msg_per_s"]), fmt(c["mosquitto"]["messages"]),
                                  "; ".join("%s msg/s at %s devices (window %s)" % (fmt(x["msg_per_s"]),
                                                                                    fmt(x["devices"]), x["window"])
                                            for x in c["cloudsim"])))
    out.append("")
    out.append("Full speed (window of 100 unacknowledged QoS 1 publishes):")
    out.append("")
    out.append("| subject | mode | devices | ready in s (auth/s) | msg/s | × ceiling | × peer | lost | dup | "
               "CPU µs/msg (× peer) | RSS idle MiB (KiB/device) | RSS load / peak MiB (× peer) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results["rows"]:
        out.append("| %s | %s | %s | %s (%s) | %s | %s | %s | %s | %s | %s (%s) | %s (%s) | %s / %s (%s) |" % (
            "gateway" if r["kind"] == "gateway" else "Node-RED", r["mode"], fmt(r["devices"]), r["ready_s"],
            fmt(r["auth_rate"]), fmt(r["msg_per_s"]), fmt(r["x_ceiling"]), fmt(r["x_peer"]), fmt(r["lost_full"]),
            fmt(r["duplicates_full"]), r["cpu_us_per_msg"], fmt(r["cpu_x_peer"]), r["rss_idle_mib"],
            r["rss_idle_kib_per_device"], r["rss_load_mib"], r["rss_peak_mib"], fmt(r["rss_x_peer"])))
    out.append("")
    out.append("Fixed rates (latency = cloudsim receive time − send time in the payload, ms; CPU = % of one core "
               "per 1,000 msg/s delivered):")
    out.append("")
    out.append("| subject | mode | devices | rate | delivered msg/s (× min(rate, ceiling)) | lost | dup | p50 | p99 (× peer) | "
               "p99.9 | max | CPU %/1k msg/s | RSS MiB |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results["rows"]:
        for f in r["fixed"]:
            out.append("| %s | %s | %s | %s | %s (%s) | %s | %s | %s | %s (%s) | %s | %s | %s | %s |" % (
                "gateway" if r["kind"] == "gateway" else "Node-RED", r["mode"], fmt(r["devices"]), fmt(f["rate"]),
                fmt(f["delivered_per_s"]), fmt(f["x_ceiling"]), fmt(f["lost"]), fmt(f["duplicates"]),
                fmt(f["p50_ms"]), fmt(f["p99_ms"]), fmt(f["p99_x_peer"]), fmt(f["p999_ms"]), fmt(f["max_ms"]),
                f["cpu_pct_per_1k"], f["rss_mib"]))
    if results.get("outage"):
        o = results["outage"]
        out.append("")
        out.append("Drain: %s AES devices, %s msg/s published while cloudsim was silent for %s s (%s messages): "
                   "the gateway's queue peaked at %s; drained %s s after the outage ended; lost %s, "
                   "duplicates %s (load %s)." % (fmt(o["devices"]), fmt(o["rate"]), o["outage_s"],
                                                 fmt(o["published"]), fmt(o["peak_queued"]), o["drain_s"],
                                                 o["lost"], o["duplicates"], o["load"]))
    if results.get("expiry"):
        e = results["expiry"]
        out.append("")
        out.append("Expiry storm: %s AES devices at %s msg/s, cloudsim `expire-tokens` halfway (`%s`): %s "
                   "re-authentications, %s publishes answered 4.01; latency p99 %s ms before, for messages sent "
                   "in the 5 s after: p50 %s ms, p99 %s ms, max %s ms; lost %s, duplicates %s (load %s)." %
                   (fmt(e["devices"]), fmt(e["rate"]), e["expired"], fmt(e["reauths"]), fmt(e["rejected_401"]),
                    fmt(e["p99_before_ms"]), fmt(e["p50_after_ms"]), fmt(e["p99_after_ms"]),
                    fmt(e["max_after_ms"]), e["lost"], e["duplicates"], e["load"]))
    if results.get("storm"):
        s = results["storm"]
        out.append("")
        out.append("Bring-up storm: %s %s devices ready in %s s at %s /auth/s (ideal %s s); cloudsim counted %s "
                   "auth_ok, %s failed (load %s)." % (fmt(s["devices"]), s["mode"], s["ready_s"],
                                                      fmt(s["auth_rate"]), s["ideal_s"], fmt(s["auth_ok"]),
                                                      fmt(s["auth_failed"]), s["load"]))
    return "\n".join(out) + "\n"


CSV_FIELDS = ["kind", "mode", "devices", "phase", "rate", "messages", "msg_per_s", "x_ceiling", "x_peer", "lost",
              "duplicates", "p50_ms", "p99_ms", "p999_ms", "max_ms", "cpu_us_per_msg", "cpu_pct_per_1k",
              "rss_idle_mib", "rss_idle_kib_per_device", "rss_mib", "rss_peak_mib", "ready_s", "load_before",
              "load_after"]


def write_csv(path, results):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in results["rows"]:
            base = {k: r.get(k) for k in ("kind", "mode", "devices", "load_before", "load_after")}
            w.writerow(dict(base, phase="full_speed", messages=r["messages"], msg_per_s=r["msg_per_s"],
                            x_ceiling=r["x_ceiling"], x_peer=r["x_peer"], lost=r["lost_full"],
                            duplicates=r["duplicates_full"], cpu_us_per_msg=r["cpu_us_per_msg"],
                            rss_idle_mib=r["rss_idle_mib"], rss_idle_kib_per_device=r["rss_idle_kib_per_device"],
                            rss_mib=r["rss_load_mib"], rss_peak_mib=r["rss_peak_mib"], ready_s=r["ready_s"]))
            for fx in r["fixed"]:
                w.writerow(dict(base, phase="fixed_rate", rate=fx["rate"], messages=fx["messages"],
                                msg_per_s=fx["delivered_per_s"], x_ceiling=fx["x_ceiling"], x_peer=fx["x_peer"],
                                lost=fx["lost"], duplicates=fx["duplicates"], p50_ms=fx["p50_ms"],
                                p99_ms=fx["p99_ms"], p999_ms=fx["p999_ms"], max_ms=fx["max_ms"],
                                cpu_pct_per_1k=fx["cpu_pct_per_1k"], rss_mib=fx["rss_mib"]))


def raise_fd_limit(needed):
    """The soft RLIMIT_NOFILE to the hard one, and the hard one to `needed` where allowed (CAP_SYS_RESOURCE);
    children inherit it. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return needed
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else needed, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    ap.add_argument("--build", default=os.path.join(SRC, "build", "bench"),
                    help="build directory with mqtt-coap-gateway, cloudsim, cloudsim_load, e2e_mqtt_load")
    ap.add_argument("--out", help="result directory (default <build>/bench-results/<profile>)")
    ap.add_argument("--no-peer", action="store_true", help="skip the Node-RED peer")
    ap.add_argument("--devices", help="override the profile's device counts, e.g. 100,1000")
    ap.add_argument("--modes", help="override the profile's gateway modes, e.g. plain,aes,dtls-psk")
    ap.add_argument("--messages", type=int, help="override the profile's full-speed message count")
    ap.add_argument("--rates", help="override the fixed rates, RATE:SECONDS,.. e.g. 1000:10,10000:3")
    ap.add_argument("--peer", action="store_true", help="run the Node-RED peer even when the profile does not")
    ap.add_argument("--keep", action="store_true", help="keep the processes' logs (<out>/work) after a clean run")
    ap.add_argument("--no-extras", action="store_true", help="skip the outage, expiry and bring-up runs")
    ap.add_argument("--render", metavar="RESULTS_JSON",
                    help="only rewrite report.md and results.csv next to an existing results.json")
    args = ap.parse_args()
    if args.render:
        with open(args.render) as f:
            results = json.load(f)
        for r in results["rows"]:  # results of runs before VmHWM was sampled at the end of the case
            r["rss_peak_mib"] = max([r["rss_peak_mib"]] + [x["rss_mib"] for x in r["fixed"]])
        add_ratios(results)
        d = os.path.dirname(os.path.abspath(args.render))
        with open(args.render, "w") as f:
            json.dump(results, f, indent=1)
        write_csv(os.path.join(d, "results.csv"), results)
        md = report_md(results)
        with open(os.path.join(d, "report.md"), "w") as f:
            f.write(md)
        print(md)
        return 0
    profile = dict(PROFILES[args.profile])
    if args.devices:
        profile["devices"] = [int(x) for x in args.devices.split(",")]
    if args.modes:
        profile["modes"] = [m for m in args.modes.split(",") if m]
    if args.messages:
        profile["messages"] = args.messages
    if args.no_extras:
        profile["outage"] = profile["expiry"] = profile["storm"] = None
    if args.no_peer:
        profile["peer"] = False
    if args.peer:
        profile["peer"] = True
    if args.rates:
        profile["rates"] = [tuple(int(x) for x in r.split(":")) for r in args.rates.split(",")]
    peer_note = None
    if profile["peer"] and not (shutil.which("node") and shutil.which("npm")):
        # Node.js is not among scripts/setup.sh's packages (Debian 12's nodejs 18 + npm would do for Node-RED 4).
        profile["peer"] = False
        peer_note = "peer skipped: node/npm not on PATH"
        log(peer_note)
    ctx = Context(args, profile)
    nofile = raise_fd_limit(65536)
    results = {"profile": args.profile, "machine": machine_facts(), "nofile": nofile,
               "auth_rate_note": "gateway cloud.auth.rate_per_s 1000 (2000 at 10,000 devices); cloudsim has no "
                                 "/auth rate limit", "rows": [], "ceilings": {}, "peer_note": peer_note}
    log("profile %s, results in %s, RLIMIT_NOFILE %d, load %s" % (args.profile, ctx.out, nofile, load_avg()))
    results["ceilings"]["mosquitto"] = mosquitto_ceiling(ctx, profile["ceiling_messages"])
    results["ceilings"]["cloudsim"] = [cloudsim_ceiling(ctx, d, profile["ceiling_messages"])
                                       for d in profile["devices"]]
    if profile["peer"]:
        for d in profile["devices"]:
            results["rows"].append(run_case(ctx, "peer", "plain", d))
    for mode in profile["modes"]:
        for d in profile["devices"]:
            results["rows"].append(run_case(ctx, "gateway", mode, d))
    if profile.get("outage"):
        results["outage"] = outage(ctx, profile["outage"])
    if profile.get("expiry"):
        results["expiry"] = expiry_storm(ctx, profile["expiry"])
    if profile.get("storm"):
        results["storm"] = bring_up_storm(ctx, profile["storm"])
    results["load_at_end"] = load_avg()
    add_ratios(results)
    os.makedirs(ctx.out, exist_ok=True)
    with open(os.path.join(ctx.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    write_csv(os.path.join(ctx.out, "results.csv"), results)
    md = report_md(results)
    with open(os.path.join(ctx.out, "report.md"), "w") as f:
        f.write(md)
    print(md)
    lost = any(r["lost"] for r in results["rows"] if r["kind"] == "gateway")
    lost = lost or any(results.get(k, {}).get("lost") for k in ("outage", "expiry"))
    if not lost and not args.keep:
        shutil.rmtree(ctx.work, ignore_errors=True)
    else:
        log(("a gateway case lost messages; " if lost else "") + "logs kept in " + ctx.work)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
