#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark (prints figures, asserts nothing): the QoS engine against tshark -q -z rtp,streams.

    python tests/benchmarks/bench_qos.py [--packets 1000000] [--calls 100] [--big-gb 0]

Writes a capture of G.711 calls (SIP + SDP, 20 ms packets, some loss and jitter) in a temporary
directory, times tshark and the engine on it, checks that every stream's figures agree, and
prints packets per second, the speed ratio and the peak RSS. --big-gb N also repeats the capture
until it is N GB long to show that memory stays flat.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import struct
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
from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_engine import analyze  # noqa: E402


def write_capture(path, packets, calls, seed=7):
    rng = random.Random(seed)
    per_stream = packets // (2 * calls)
    rec = struct.Struct("<IIII")
    payload = b"\xd5" * 160
    eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
    sip_frames = []
    streams = []
    for c in range(calls):
        a_ip, b_ip = "10.%d.%d.1" % (1 + c // 200, c % 200), "10.%d.%d.2" % (100 + c // 200, c % 200)
        a_port, b_port = 20000 + 2 * c, 40000 + 2 * c
        start = c * 0.01
        cid = "bench-%d@example.test" % c
        frames, _ = capgen.call_frames(cid, a_ip, b_ip, a_port, b_port, start, 0, streams=False, n_override=per_stream)
        sip_frames.extend(frames)
        media_start = start + 0.52
        for (sip, dip, sp, dp, ssrc) in ((a_ip, b_ip, a_port, b_port, 0x1000 + 2 * c), (b_ip, a_ip, b_port, a_port, 0x1001 + 2 * c)):
            streams.append((sip, dip, sp, dp, ssrc, media_start + rng.random() * 0.005))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        # SIP set-up first (times are before the media), then media interleaved by time.
        for t, ip in sorted(f_ for f_ in sip_frames if f_[0] < 0.6 + calls * 0.01):
            data = eth + ip
            sec = int(t)
            f.write(rec.pack(sec, int((t - sec) * 1e6), len(data), len(data)) + data)
        templates = []
        for (sip, dip, sp, dp, ssrc, t0) in streams:
            ip = capgen.ipv4_udp(sip, dip, sp, dp, b"\0" * 172)
            templates.append((eth + ip[:28], ssrc, t0))
        seq0 = {s[1]: rng.randrange(65536) for s in templates}
        chunk = []
        for i in range(per_stream):
            for hdr, ssrc, t0 in templates:
                if rng.random() < 0.005:
                    continue  # 0.5 % loss
                t = t0 + i * 0.02 + rng.random() * 0.004
                sec = int(t)
                body = hdr + struct.pack("!BBHII", 0x80, 8, (seq0[ssrc] + i) & 0xFFFF, i * 160, ssrc) + payload
                chunk.append(rec.pack(sec, int((t - sec) * 1e6), len(body), len(body)) + body)
            if len(chunk) > 20000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
        for t, ip in sorted(f_ for f_ in sip_frames if f_[0] >= 0.6 + calls * 0.01):
            data = eth + ip
            sec = int(t)
            f.write(rec.pack(sec, int((t - sec) * 1e6), len(data), len(data)) + data)


def tshark_streams(path):
    out = subprocess.run(["tshark", "-r", path, "-q", "-z", "rtp,streams"], capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) > 15 and f[6].startswith("0x"):
            g = f[:-1] if f[-1] == "X" else f
            res[(f[2] + ":" + f[3], f[4] + ":" + f[5], f[6])] = (int(g[-9]), int(g[-8]), [float(x) for x in g[-6:]])
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=1000000)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--big-gb", type=float, default=0.0)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="qosbench")
    try:
        path = os.path.join(tmp, "bench.pcap")
        t0 = time.time()
        write_capture(path, args.packets, args.calls)
        print("capture: %d MB written in %.1f s" % (os.path.getsize(path) >> 20, time.time() - t0))
        have_tshark = shutil.which("tshark") is not None
        ts_time = None
        ts = {}
        if have_tshark:
            t0 = time.time()
            ts = tshark_streams(path)
            ts_time = time.time() - t0
            print("tshark -q -z rtp,streams: %.2f s, %d streams" % (ts_time, len(ts)))
        t0 = time.time()
        rep = analyze(path)
        el = time.time() - t0
        npk = sum(s["packets"] for s in rep["streams"])
        print("engine: %.2f s, %d streams, %d RTP packets, %.0f packets/s" % (el, len(rep["streams"]), npk, npk / el))
        if ts_time:
            print("speed ratio vs tshark: %.2fx" % (ts_time / el))
            mism = 0
            ours = {(s["src"], s["dst"], s["ssrc"]): s for s in rep["streams"]}
            for k, (pk, lost, nums) in ts.items():
                s = ours.get(k)
                mine = [s["min_delta_ms"], s["mean_delta_ms"], s["max_delta_ms"], s["min_jitter_ms"], s["mean_jitter_ms"],
                        s["max_jitter_ms"]] if s else None
                if not s or s["packets"] != pk or s["lost"] != lost or any(abs(a - b) > 0.0105 for a, b in zip(nums, mine)):
                    mism += 1
            print("agreement: %d/%d streams identical (lost exact, deltas/jitters within 0.01 ms)%s"
                  % (len(ts) - mism, len(ts), "" if len(ours) == len(ts) else " (stream count differs!)"))
        print("peak RSS: %.1f MB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
        if args.big_gb > 0:
            big = os.path.join(tmp, "big.pcap")
            size = os.path.getsize(path)
            reps = max(1, int(args.big_gb * (1 << 30) / size))
            with open(path, "rb") as src, open(big, "wb") as dst:
                head = src.read(24)
                body = src.read()
                dst.write(head)
                for _ in range(reps):
                    dst.write(body)
            del body
            t0 = time.time()
            rep = analyze(big)
            el = time.time() - t0
            print("big capture: %.2f GB, %.1f s, %.0f packets/s, peak RSS %.1f MB" % (
                os.path.getsize(big) / float(1 << 30), el, sum(s["packets"] for s in rep["streams"]) / el,
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
