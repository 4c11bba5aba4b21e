#!/usr/bin/env bash
# Plots of the end-to-end benchmark (issue #9 item 4) from bench.py's results.json, with gnuplot (Debian package
# gnuplot-nox, in scripts/setup.sh):
#   docs/img/bench-throughput.png   delivered msg/s vs devices, per subject and mode, with the ceilings
#   docs/img/bench-latency-cdf.png  latency CDF at each fixed rate, per subject, mode and device count
#   docs/img/bench-memory.png       RSS idle and peak under load vs devices
# Usage: [CDF_DEVICES=1000] tests/bench/e2e/plot.sh [results.json] [output dir]
#   (defaults: build/bench/bench-results/quick/results.json, docs/img)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
results=${1:-$src/build/bench/bench-results/quick/results.json}
out=${2:-$src/docs/img}
command -v gnuplot > /dev/null || { echo "plot.sh: gnuplot missing (bash scripts/setup.sh installs gnuplot-nox)" >&2; exit 1; }
mkdir -p "$out"
data=$(mktemp -d /tmp/bench-plot-XXXX)
trap 'rm -rf "$data"' EXIT

# One data file per series, and the gnuplot `plot` clauses that name them.
python3 - "$results" "$data" << 'PY'
import json, os, sys
res = json.load(open(sys.argv[1]))
d = sys.argv[2]
def label(r):
    return ("gateway " if r["kind"] == "gateway" else "Node-RED ") + r["mode"]
series = {}
for r in res["rows"]:
    series.setdefault(label(r), []).append(r)
tp, mem, cdf = [], [], []
for i, (name, rows) in enumerate(sorted(series.items())):
    rows.sort(key=lambda r: r["devices"])
    with open("%s/tp%d.dat" % (d, i), "w") as f:
        for r in rows:
            f.write("%d %s\n" % (r["devices"], r["msg_per_s"]))
    tp.append("'%s/tp%d.dat' using 1:2 with linespoints lw 2 pt 7 ps 1.5 title '%s'" % (d, i, name))
    with open("%s/mem%d.dat" % (d, i), "w") as f:
        for r in rows:
            f.write("%d %s %s\n" % (r["devices"], r["rss_idle_mib"], r["rss_peak_mib"]))
    mem.append("'%s/mem%d.dat' using 1:2 with linespoints lw 2 pt 7 ps 1.5 title '%s, idle'" % (d, i, name))
    mem.append("'%s/mem%d.dat' using 1:3 with linespoints lw 2 dt 2 pt 5 ps 1.5 title '%s, peak under load'"
               % (d, i, name))
# The CDF of one device count (CDF_DEVICES, default 1,000, else the largest measured) keeps the plot readable.
counts = sorted({r["devices"] for r in res["rows"]})
want = int(os.environ.get("CDF_DEVICES", "1000"))
cdf_devices = want if want in counts else (counts[-1] if counts else 0)
k = 0
for r in res["rows"]:
    if r["devices"] != cdf_devices:
        continue
    for fx in r["fixed"]:
        if not fx["cdf"]:
            continue
        with open("%s/cdf%d.dat" % (d, k), "w") as f:
            for ms, q in fx["cdf"]:
                f.write("%s %s\n" % (max(ms, 0.1), q))
        cdf.append("'%s/cdf%d.dat' using 1:2 with lines lw 2 title '%s, %s dev, %s msg/s'"
                   % (d, k, label(r), "{:,}".format(r["devices"]), "{:,}".format(fx["rate"])))
        k += 1
mosq = res["ceilings"]["mosquitto"]["msg_per_s"]
with open("%s/ceil.dat" % d, "w") as f:
    for c in res["ceilings"]["cloudsim"]:
        f.write("%d %s\n" % (c["devices"], c["msg_per_s"]))
tp.append("'%s/ceil.dat' using 1:2 with linespoints lw 2 dt 3 pt 9 ps 1.5 lc 'black' title 'cloudsim alone'" % d)
tp.append("%s with lines lw 2 dt 4 lc 'gray40' title 'Mosquitto alone'" % mosq)
m = res["machine"]
title = "profile %s, %s; nproc %s, %s, load %s" % (res["profile"], m["date_utc"], m["nproc"], m["cpu_model"],
                                                   m["load_at_start"])
open("%s/plots.gp" % d, "w").write("""
set terminal pngcairo size 1000,620 font 'DejaVu Sans,11'
set key outside right top
set grid
set bmargin 5
set logscale x
set format x "%%.0f"
set xrange [0.5:20000]
set label 1 "{title}" at screen 0.01,0.015 font ',9'
set output '{out}/bench-throughput.png'
set title 'Delivered msg/s at full speed vs devices (QoS 1 in, CON out)'
set xlabel 'devices'
set ylabel 'msg/s reaching cloudsim'
set yrange [0:*]
plot {tp}
set output '{out}/bench-memory.png'
set title 'Resident memory vs devices'
set ylabel 'RSS MiB'
plot {mem}
set output '{out}/bench-latency-cdf.png'
set title 'Publish-to-cloud latency at fixed rates, {cdfdev} devices (CDF)'
set xlabel 'latency ms (log)'
set ylabel 'fraction of messages'
set xrange [0.1:*]
set yrange [0:1]
set format x "%%g"
plot {cdf}
""".replace("{title}", title).replace("{cdfdev}", "{:,}".format(cdf_devices)).replace("{out}", "OUTDIR").replace("{tp}", ", ".join(tp))
   .replace("{mem}", ", ".join(mem)).replace("{cdf}", ", ".join(cdf)))
PY
sed -i "s#OUTDIR#$out#g; s/%%/%/g" "$data/plots.gp"
gnuplot "$data/plots.gp"
echo "plot.sh: wrote $out/bench-throughput.png $out/bench-latency-cdf.png $out/bench-memory.png"
