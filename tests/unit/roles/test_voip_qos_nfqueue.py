# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decision logic of the role's NFQUEUE delayer/dropper (no netlink needed)."""
from __future__ import annotations

import importlib.util
import os
import random
import struct

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "..", "..", "..", "roles", "voip_qos", "files", "voip_qos_nfqueue.py")
SPEC = importlib.util.spec_from_file_location("voip_qos_nfqueue", PATH)
nfq = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(nfq)


def _udp(sport, dport=20000):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 200, 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return ip + struct.pack("!HHHH", sport, dport, 180, 0)


def _run(emu, flows, packets, spacing=0.02):
    """Feed packets round-robin over flows every `spacing` s; return {flow: [(sent, released)]} and drops."""
    out, drops, now, pid = {}, {}, 0.0, 0
    sent = {}
    for _n in range(packets):
        for sport in flows:
            pid += 1
            sent[pid] = (sport, now)
            if emu.arrive(pid, _udp(sport), now) == nfq.NF_DROP:
                drops[sport] = drops.get(sport, 0) + 1
        now += spacing
        for released in emu.due(now):
            sport, t0 = sent[released]
            out.setdefault(sport, []).append((released, t0, now))
    for released in emu.due(float("inf")):
        sport, t0 = sent[released]
        out.setdefault(sport, []).append((released, t0, now + 1))
    return out, drops


def test_even_loss_drops_exactly_the_share_of_every_flow():
    emu = nfq.Emulator(0, 0, 2.0, "even", False, random.Random(1))
    _out, drops = _run(emu, [10000, 10002, 10004], 500)
    assert drops == {10000: 10, 10002: 10, 10004: 10}


def test_random_loss_is_near_the_share_over_many_packets():
    emu = nfq.Emulator(0, 0, 2.0, "random", False, random.Random(2))
    _out, drops = _run(emu, [10000], 20000)
    assert drops[10000] / 20000.0 == pytest.approx(0.02, abs=0.004)


def test_packets_are_held_for_the_delay_plus_or_minus_the_jitter_and_keep_their_order_per_flow():
    emu = nfq.Emulator(40, 10, 0, "even", False, random.Random(3))
    out, _drops = _run(emu, [10000, 10002], 300, spacing=0.001)
    for sport, rows in out.items():
        ids = [r[0] for r in rows]
        assert ids == sorted(ids), sport
    summary = emu.summary()
    assert summary["released"] == 600 and summary["dropped"] == 0
    assert 30.0 <= summary["delay_min_ms"] and summary["delay_mean_ms"] >= 39.0


def test_reorder_lets_packets_of_a_flow_overtake_each_other_like_netem():
    emu = nfq.Emulator(40, 10, 0, "even", True, random.Random(4))
    out, _drops = _run(emu, [10000], 300, spacing=0.001)
    ids = [r[0] for r in out[10000]]
    assert ids != sorted(ids)


def test_flow_key_reads_ipv4_and_ipv6_ports():
    assert nfq.flow_key(_udp(4000))[3] == struct.pack("!HH", 4000, 20000)
    ip6 = bytes([0x60, 0, 0, 0, 0, 8, 17, 64]) + bytes(32) + struct.pack("!HH", 5, 6)
    assert nfq.flow_key(ip6)[2:] == (17, struct.pack("!HH", 5, 6))
    assert nfq.flow_key(b"") is None
