#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark (prints figures, asserts nothing): the QoS engine's two paths against tshark -q -z rtp,streams.

    python tests/benchmarks/bench_qos.py [--packets 1000000] [--calls 100] [--runs 3] [--big-gb 0] [--big-tshark]

Writes a capture of G.711 calls (SIP + SDP, 20 ms packets, 0.5 % loss, up to 4 ms jitter) in a
temporary directory, then runs tshark, the pure-Python path (NEBULAVOIP_QOS_PURE=1) and the numpy
path, each --runs times in a child process of its own, so that each peak RSS is that run's alone
(os.wait4). Prints packets per second (best and median run), the speed ratio against tshark
measured in the same session, whether every stream's figures agree with tshark (lost exact,
deltas and jitters within 0.01 ms) and whether both paths give identical reports.

--big-gb N writes a capture of about N GiB (same calls, longer) straight to disk and runs both
paths once on it (tshark too with --big-tshark), to show that memory stays flat.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
COLL = os.path.join(ROOT, ".build", "collections")
if os.path.isdir(COLL):
    sys.path.insert(0, COLL)
sys.path.insert(0, os.path.join(ROOT, "tests", "unit", "plugins", "module_utils"))

import qos_capgen as capgen  # noqa: E402

RECORD_BYTES = 16 + 214  # pcap record header + Ethernet/IPv4/UDP/RTP G.711 20 ms packet
FIGURES = ("packets", "lost", "min_delta_ms", "mean_delta_ms", "max_delta_ms", "mean_jitter_ms", "max_jitter_ms")


def child(engine, path, out):
    """Runs in a child process: one analysis, figures and timing written as JSON."""
    if engine == "pure":
        os.environ["NEBULAVOIP_QOS_PURE"] = "1"
    else:
        os.environ.pop("NEBULAVOIP_QOS_PURE", None)
    from ansible_collections.nebulavoip.cloud.plugins.module_utils import qos_numpy
    from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_engine import analyze
    if engine == "numpy" and not qos_numpy.AVAILABLE:
        raise SystemExit("numpy is not installed")
    t0, c0 = time.time(), time.process_time()
    rep = analyze(path)
    wall, cpu = time.time() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # this run's peak, analysis and report
    streams = {"%s %s %s" % (s["src"], s["dst"], s["ssrc"]): [s[k] for k in FIGURES] for s in rep["streams"]}
    digest = hashlib.sha256()
    for s in rep["streams"]:
        digest.update(json.dumps(s, sort_keys=True).encode())
    with open(out, "w") as f:
        json.dump({"wall": wall, "cpu": cpu, "streams": streams, "report": digest.hexdigest(), "rss_analysis": rss,
                   "series": sum(len(s["series"]) for s in rep["streams"])}, f)


def run_child(cmd, stdout_path):
    """Run cmd, return (wall seconds, CPU seconds, peak RSS MiB) of that process alone."""
    with open(stdout_path, "w") as out:
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdout=out)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit("%s failed with %d" % (cmd[0], proc.returncode))
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def run_engine(engine, path, tmp, i):
    out = os.path.join(tmp, "%s-%d.json" % (engine, i))
    wall, cpu, rss = run_child([sys.executable, os.path.abspath(__file__), "--child", engine, path, out], out + ".log")
    with open(out) as f:
        res = json.load(f)
    os.unlink(out)
    res["rss"] = rss  # the child's whole life (os.wait4)
    res["process_wall"] = wall
    res["process_cpu"] = cpu
    return res


def run_tshark(path, tmp):
    out = os.path.join(tmp, "tshark.txt")
    wall, cpu, rss = run_child(["tshark", "-r", path, "-q", "-z", "rtp,streams"], out)
    res = {}
    with open(out) as f:
        for line in f:
            v = line.split()
            if len(v) > 15 and v[6].startswith("0x"):
                g = v[:-1] if v[-1] == "X" else v
                nums = [float(x) for x in g[-6:]]
                res["%s:%s %s:%s %s" % (v[2], v[3], v[4], v[5], v[6])] = [int(g[-9]), int(g[-8])] + nums[:3] + nums[4:]
    return {"wall": wall, "cpu": cpu, "rss": rss, "streams": res}


def agree(ours, ts):
    """Streams whose figures equal tshark's (packets and lost exact, ms figures within 0.01)."""
    ok = 0
    for key, want in ts.items():
        got = ours.get(key)
        if got and got[:2] == want[:2] and all(abs((a if a is not None else -1.0) - b) <= 0.0105
                                               for a, b in zip(got[2:], want[2:])):
            ok += 1
    return ok


def summary(name, runs, packets, ts=None):
    walls = sorted(r["wall"] for r in runs)
    cpus = sorted(r["cpu"] for r in runs)
    best, med, cpu, cpu_med = walls[0], statistics.median(walls), cpus[0], statistics.median(cpus)
    rss = max(r["rss"] for r in runs)
    ratio = ""
    if ts:
        ratio = "%5.2fx %5.2fx %5.2fx" % (ts[0] / best, ts[1] / med, ts[2] / cpu)
    row = (name, best, med, cpu, cpu_med, packets / best, packets / med, ratio, rss)
    print("%-7s %7.2f %7.2f %7.2f %7.2f %10.0f %10.0f  %-20s %7.1f" % row)
    return best, med, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=1000000)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--big-gb", type=float, default=0.0)
    ap.add_argument("--big-tshark", action="store_true", help="also run tshark on the big capture")
    ap.add_argument("--child", nargs=3, metavar=("ENGINE", "PCAP", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    tmp = tempfile.mkdtemp(prefix="qosbench")
    try:
        path = os.path.join(tmp, "bench.pcap")
        t0 = time.time()
        npk = capgen.write_g711_calls(path, args.packets, args.calls)
        print("capture: %d RTP packets, %d MiB, written in %.1f s; %d runs each; load average %s"
              % (npk, os.path.getsize(path) >> 20, time.time() - t0, args.runs, " ".join("%.1f" % x for x in os.getloadavg())))
        have_tshark = shutil.which("tshark") is not None
        engines = ["pure", "numpy"]
        results = {e: [] for e in engines}
        ts_runs = []
        for i in range(args.runs):  # interleaved, so that a burst of load on the machine hits every engine
            if have_tshark:
                ts_runs.append(run_tshark(path, tmp))
            for e in engines:
                results[e].append(run_engine(e, path, tmp, i))
        print()
        print("         wall (s)        CPU (s)         packets/s        speed vs tshark      peak RSS")
        print("engine  best    median  best    median  best       median     best  median  CPU    (MiB)")
        ts = None
        if ts_runs:
            ts = summary("tshark", ts_runs, npk)
        for e in engines:
            summary(e, results[e], npk, ts)
        print()
        walls = (min(r["process_wall"] for r in results["pure"]), min(r["process_wall"] for r in results["numpy"]))
        print("(engine: analyze() inside the child; tshark: its whole process. Child processes including Python's "
              "start: pure %.2f s, numpy %.2f s best)" % walls)
        if ts_runs:
            ts = ts_runs[0]["streams"]
            for e in engines:
                print("%-6s vs tshark: %d/%d streams identical (packets, lost exact; deltas/jitters within 0.01 ms)%s"
                      % (e, agree(results[e][0]["streams"], ts), len(ts),
                         "" if len(results[e][0]["streams"]) == len(ts) else " - stream count differs!"))
        same = results["pure"][0]["report"] == results["numpy"][0]["report"]
        print("pure vs numpy: %s (%d streams, every field of every stream report)"
              % ("identical" if same else "DIFFERENT", len(results["pure"][0]["streams"])))
        if args.big_gb > 0:
            os.unlink(path)
            big = os.path.join(tmp, "big.pcap")
            waves = max(1, math.ceil(args.big_gb * (1 << 30) / (RECORD_BYTES * args.packets)))
            t0 = time.time()
            nbig = capgen.write_g711_calls(big, args.packets, args.calls, seed=11, waves=waves)
            print()
            print("big capture: %.2f GiB, %d RTP packets (%d waves of %d calls), written in %.0f s"
                  % (os.path.getsize(big) / float(1 << 30), nbig, waves, args.calls, time.time() - t0))
            big_res = {}
            if args.big_tshark and have_tshark:
                r = run_tshark(big, tmp)
                big_res["tshark"] = r
                print("tshark   %7.1f s (CPU %6.1f s) %9.0f pkt/s  peak RSS %7.1f MiB"
                      % (r["wall"], r["cpu"], nbig / r["wall"], r["rss"]))
            for e in engines:
                r = run_engine(e, big, tmp, 99)
                big_res[e] = r
                print("%-8s %7.1f s (CPU %6.1f s) %9.0f pkt/s  peak RSS %7.1f MiB (%d streams, %d per-second rows in the report)"
                      % (e, r["wall"], r["cpu"], nbig / r["wall"], r["rss"], len(r["streams"]), r["series"]))
            print("pure vs numpy on the big capture: %s" % (
                "identical" if big_res["pure"]["report"] == big_res["numpy"]["report"] else "DIFFERENT"))
            if "tshark" in big_res:
                ts = big_res["tshark"]["streams"]
                print("numpy vs tshark on the big capture: %d/%d streams identical" % (agree(big_res["numpy"]["streams"], ts), len(ts)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
