# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Userspace delay/jitter/loss emulator on an NFQUEUE queue (for kernels without sch_netem).

Bound to one queue (``iptables ... -j NFQUEUE --queue-num N --queue-bypass``), it holds every
packet for ``delay +/- uniform jitter`` milliseconds and drops a share of them. Verdicts are
issued later from a heap ordered by release time, so the program never sleeps in the callback.

Ordering: by default the packets of one flow (addresses, protocol, ports) leave in their
arrival order (a packet is never released before the one of its flow queued ahead of it:
release = max(own time, that packet's release)), while flows do not hold each other up - a
video burst does not delay the audio. ``--reorder`` releases each packet at its own time, as
``tc netem delay D J`` does.

Loss: ``--loss-model random`` drops each packet independently (netem's ``loss P%``);
``--loss-model even`` (default) keeps an accumulator per flow (IP addresses, protocol, ports)
with a random threshold, so each flow loses P % of its packets with a random spacing but
without the binomial scatter that would dominate a 10 s call (500 packets: +/-0.6 pp at 2 %).

Only Python's standard library and Debian's libnetfilter-queue1 (through ctypes) are needed.
Statistics go to ``--stats`` (JSON) every second and at exit (SIGTERM/SIGINT).
"""

from __future__ import absolute_import, division, print_function

import argparse
import ctypes
import ctypes.util
import heapq
import json
import os
import random
import select
import signal
import socket
import sys
import time

NF_DROP = 0
NF_ACCEPT = 1
NFQNL_COPY_PACKET = 2
COPY_RANGE = 64


class PacketHeader(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("packet_id", ctypes.c_uint32), ("hw_protocol", ctypes.c_uint16), ("hook", ctypes.c_uint8)]


CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


def load_library():
    name = ctypes.util.find_library("netfilter_queue") or "libnetfilter_queue.so.1"
    lib = ctypes.CDLL(name, use_errno=True)
    lib.nfq_open.restype = ctypes.c_void_p
    lib.nfq_close.argtypes = [ctypes.c_void_p]
    lib.nfq_unbind_pf.argtypes = [ctypes.c_void_p, ctypes.c_uint16]
    lib.nfq_bind_pf.argtypes = [ctypes.c_void_p, ctypes.c_uint16]
    lib.nfq_create_queue.restype = ctypes.c_void_p
    lib.nfq_create_queue.argtypes = [ctypes.c_void_p, ctypes.c_uint16, CALLBACK, ctypes.c_void_p]
    lib.nfq_destroy_queue.argtypes = [ctypes.c_void_p]
    lib.nfq_set_mode.argtypes = [ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint32]
    lib.nfq_set_queue_maxlen.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.nfq_fd.argtypes = [ctypes.c_void_p]
    lib.nfq_handle_packet.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.nfq_get_msg_packet_hdr.restype = ctypes.POINTER(PacketHeader)
    lib.nfq_get_msg_packet_hdr.argtypes = [ctypes.c_void_p]
    lib.nfq_get_payload.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_char))]
    lib.nfq_set_verdict.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p]
    return lib


def flow_key(data):
    """(src, dst, proto, sport, dport) of an IPv4/IPv6 packet, or None."""
    if len(data) < 1:
        return None
    version = data[0] >> 4
    if version == 4 and len(data) >= 20:
        ihl = (data[0] & 0x0F) * 4
        proto = data[9]
        src, dst = data[12:16], data[16:20]
        ports = data[ihl:ihl + 4] if proto in (6, 17) and len(data) >= ihl + 4 else b""
        return (src, dst, proto, ports)
    if version == 6 and len(data) >= 40:
        proto = data[6]
        ports = data[40:44] if proto in (6, 17) and len(data) >= 44 else b""
        return (data[8:24], data[24:40], proto, ports)
    return None


class Emulator(object):
    """Decides the fate of each packet and keeps the release heap."""

    def __init__(self, delay_ms, jitter_ms, loss_pct, loss_model, reorder, rng):
        self.delay = delay_ms / 1000.0
        self.jitter = jitter_ms / 1000.0
        self.loss = loss_pct / 100.0
        self.loss_model = loss_model
        self.reorder = reorder
        self.rng = rng
        self.heap = []
        self.counter = 0
        self.last_release = {}
        self.flows = {}
        self.stats = {"packets": 0, "dropped": 0, "released": 0, "delay_sum_ms": 0.0,
                      "delay_min_ms": None, "delay_max_ms": None, "flows": 0}

    def _drop(self, key):
        if self.loss <= 0:
            return False
        if self.loss_model == "random":
            return self.rng.random() < self.loss
        state = self.flows.get(key)
        if state is None:
            state = [self.rng.random() * self.loss, self.rng.random()]
            self.flows[key] = state
            self.stats["flows"] = len(self.flows)
        state[0] += self.loss
        if state[0] >= state[1]:
            state[0] -= 1.0
            state[1] = self.rng.random()
            return True
        return False

    def arrive(self, packet_id, data, now):
        """Return NF_DROP for an immediate drop, or None when the packet was queued."""
        self.stats["packets"] += 1
        key = flow_key(data)
        if self._drop(key):
            self.stats["dropped"] += 1
            return NF_DROP
        hold = self.delay + (self.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0)
        release = now + max(hold, 0.0)
        if not self.reorder:
            release = max(release, self.last_release.get(key, 0.0))
            self.last_release[key] = release
        self.counter += 1
        heapq.heappush(self.heap, (release, self.counter, packet_id, now))
        return None

    def due(self, now):
        """Pop every packet whose release time has come."""
        out = []
        while self.heap and self.heap[0][0] <= now:
            _release, _seq, packet_id, arrived = heapq.heappop(self.heap)
            held = (now - arrived) * 1000.0
            st = self.stats
            st["released"] += 1
            st["delay_sum_ms"] += held
            st["delay_min_ms"] = held if st["delay_min_ms"] is None else min(st["delay_min_ms"], held)
            st["delay_max_ms"] = held if st["delay_max_ms"] is None else max(st["delay_max_ms"], held)
            out.append(packet_id)
        return out

    def next_timeout(self, now, default=1.0):
        if not self.heap:
            return default
        return max(0.0, min(default, self.heap[0][0] - now))

    def summary(self):
        st = dict(self.stats)
        st["delay_mean_ms"] = round(st["delay_sum_ms"] / st["released"], 3) if st["released"] else None
        st["loss_pct"] = round(st["dropped"] * 100.0 / st["packets"], 3) if st["packets"] else None
        st["config"] = {"delay_ms": self.delay * 1000.0, "jitter_ms": self.jitter * 1000.0,
                        "loss_pct": self.loss * 100.0, "loss_model": self.loss_model, "reorder": self.reorder}
        return st


def write_stats(path, emu):
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(emu.summary(), handle, sort_keys=True)
    os.rename(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="mean delay, ms")
    parser.add_argument("--jitter", type=float, default=0.0, help="uniform +/- jitter, ms")
    parser.add_argument("--loss", type=float, default=0.0, help="loss, percent")
    parser.add_argument("--loss-model", choices=["even", "random"], default="even")
    parser.add_argument("--reorder", action="store_true")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--stats")
    parser.add_argument("--maxlen", type=int, default=10000)
    args = parser.parse_args(argv)

    emu = Emulator(args.delay, args.jitter, args.loss, args.loss_model, args.reorder, random.Random(args.seed))
    lib = load_library()
    handle = lib.nfq_open()
    if not handle:
        sys.exit("nfq_open failed (needs CAP_NET_ADMIN)")
    for family in (socket.AF_INET, socket.AF_INET6):
        lib.nfq_unbind_pf(handle, family)
        lib.nfq_bind_pf(handle, family)
    state = {"qh": None, "stop": False}

    def on_packet(_qh, _nfmsg, nfa, _data):
        header = lib.nfq_get_msg_packet_hdr(nfa)
        packet_id = socket.ntohl(header.contents.packet_id)
        ptr = ctypes.POINTER(ctypes.c_char)()
        length = lib.nfq_get_payload(nfa, ctypes.byref(ptr))
        data = ctypes.string_at(ptr, min(length, COPY_RANGE)) if length > 0 else b""
        if emu.arrive(packet_id, data, time.monotonic()) == NF_DROP:
            lib.nfq_set_verdict(state["qh"], packet_id, NF_DROP, 0, None)
        return 0

    callback = CALLBACK(on_packet)
    queue = lib.nfq_create_queue(handle, args.queue, callback, None)
    if not queue:
        sys.exit("nfq_create_queue(%d) failed: is another program bound to it?" % args.queue)
    state["qh"] = queue
    lib.nfq_set_mode(queue, NFQNL_COPY_PACKET, COPY_RANGE)
    lib.nfq_set_queue_maxlen(queue, args.maxlen)
    fd = lib.nfq_fd(handle)

    def stop(_signum, _frame):
        state["stop"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    buf = ctypes.create_string_buffer(65536)
    next_stats = time.monotonic() + 1.0
    while not state["stop"]:
        now = time.monotonic()
        try:
            readable, _w, _x = select.select([fd], [], [], emu.next_timeout(now))
        except (OSError, select.error):
            readable = []
        if readable:
            try:
                size = os.readv(fd, [buf]) if hasattr(os, "readv") else 0
            except OSError:
                size = 0  # ENOBUFS: the kernel dropped queue messages; carry on
            if size > 0:
                lib.nfq_handle_packet(handle, buf, size)
        now = time.monotonic()
        for packet_id in emu.due(now):
            lib.nfq_set_verdict(queue, packet_id, NF_ACCEPT, 0, None)
        if now >= next_stats:
            write_stats(args.stats, emu)
            next_stats = now + 1.0
    # release what is still held, so nothing is lost by stopping
    for packet_id in emu.due(float("inf")):
        lib.nfq_set_verdict(queue, packet_id, NF_ACCEPT, 0, None)
    write_stats(args.stats, emu)
    lib.nfq_destroy_queue(queue)
    lib.nfq_close(handle)
    print(json.dumps(emu.summary(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
