# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""QoS engine: generated captures against known truth and against tshark, bad input, fuzz."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import qos_capgen as g
from ansible_collections.nebulavoip.cloud.plugins.module_utils import qos_numpy, qos_pcap
from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_engine import QosError, analyze

TSHARK = shutil.which("tshark")
SIPP_DIR = "/usr/share/sip-tester"


def need_tshark():
    if TSHARK:
        return
    if os.environ.get("NEBULAVOIP_ALLOW_NO_TSHARK") == "1":
        pytest.skip("tshark not installed (NEBULAVOIP_ALLOW_NO_TSHARK=1)")
    pytest.fail("tshark is required for the Wireshark agreement tests; install it or set NEBULAVOIP_ALLOW_NO_TSHARK=1")


@pytest.fixture(params=["pure", "numpy"])
def qos_path(request, monkeypatch):
    """Run the test once with the pure-Python path and once with the numpy fast path."""
    if request.param == "pure":
        monkeypatch.setenv("NEBULAVOIP_QOS_PURE", "1")
    else:
        if not qos_numpy.AVAILABLE:
            pytest.skip("numpy not installed")
        monkeypatch.delenv("NEBULAVOIP_QOS_PURE", raising=False)
    return request.param


_TSHARK_CACHE = {}


def tshark_streams(path, heuristic):
    with open(path, "rb") as f:
        digest = (hashlib.sha256(f.read()).hexdigest(), heuristic)
    if digest not in _TSHARK_CACHE:  # both engine paths are compared with one tshark run per capture
        _TSHARK_CACHE[digest] = _tshark_streams(path, heuristic)
    return _TSHARK_CACHE[digest]


def _tshark_streams(path, heuristic):
    cmd = [TSHARK, "-r", path, "-q", "-z", "rtp,streams"] + (["--enable-heuristic", "rtp_udp"] if heuristic else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) > 15 and f[6].startswith("0x"):
            problem = f[-1] == "X"
            v = f[:-1] if problem else f
            nums = [float(x) for x in v[-6:]]
            res[(f[2] + ":" + f[3], f[4] + ":" + f[5], f[6])] = {
                "packets": int(v[-9]), "lost": int(v[-8]), "min_delta_ms": nums[0], "mean_delta_ms": nums[1],
                "max_delta_ms": nums[2], "mean_jitter_ms": nums[4], "max_jitter_ms": nums[5], "problems": problem}
    return res


def assert_agrees_with_tshark(path, heuristic):
    want = tshark_streams(path, heuristic)
    report = analyze(path, rtp_heuristic=heuristic)
    got = {(s["src"], s["dst"], s["ssrc"]): s for s in report["streams"]}
    assert sorted(got) == sorted(want)
    for key, w in want.items():
        s = got[key]
        assert s["packets"] == w["packets"], key
        assert s["lost"] == w["lost"], key
        assert s["problems"] == w["problems"], key
        for name in ("min_delta_ms", "mean_delta_ms", "max_delta_ms", "mean_jitter_ms", "max_jitter_ms"):
            mine = s[name] if s[name] is not None else (-1.0 if name.startswith("min") else 0.0)
            assert abs(mine - w[name]) <= 0.0105, (key, name, mine, w[name])
    return len(want)


def write_stream(tmp_path, stream, name="s.pcap", **kw):
    path = str(tmp_path / name)
    g.write_pcap(path, g.ethernet_frames(g.stream_frames(stream)), **kw)
    return path


IMPAIRED = {
    "clean": dict(),
    "loss": dict(loss={5, 6, 20, 33}),
    "duplicates": dict(dup={5, 49}),
    "reordering": dict(reorder={10, 30}, jitter_ms=3),
    "jitter": dict(jitter_ms=12),
    "markers": dict(markers={0, 10, 11}, jitter_ms=5),
    "seq_wrap": dict(seq0=65520, jitter_ms=2),
    "seq_wrap_with_loss": dict(seq0=65520, loss={15, 16}),
    "ts_wrap": dict(ts0=0xFFFFFFFF - 1000, jitter_ms=2),
    "ts_jump_forward": dict(ts_jumps={20: 8000}),
    "ts_jump_back": dict(ts_jumps={20: -8000}),
    "ts_one_wrong": dict(ts_jumps={20: -8000, 21: 8000}),
    "ts_back_small": dict(ts_jumps={20: -1000}, jitter_ms=3),
    "comfort_noise": dict(pt=13, jitter_ms=2),
    "video_90khz": dict(clock=90000, pt=34, ptime=1 / 30.0, frame_packets=3, jitter_ms=0.01, n=90),
    "l16_44k1": dict(clock=44100, pt=11, jitter_ms=2),
}


@pytest.mark.parametrize("case", sorted(IMPAIRED))
def test_generated_stream_matches_truth_and_tshark(tmp_path, case, qos_path):
    kw = dict(IMPAIRED[case])
    n = kw.pop("n", 50)
    stream = g.Stream("10.0.0.1", "10.0.0.2", n, **kw)
    path = write_stream(tmp_path, stream)
    rep = analyze(path, rtp_heuristic=True)
    assert len(rep["streams"]) == 1
    s = rep["streams"][0]
    truth = stream.truth()
    assert s["packets"] == truth["packets"]
    if not stream.reorder and not stream.ts_jumps:
        assert s["expected"] == truth["expected"]
        assert s["lost"] == truth["lost"]
    assert s["src"] == "10.0.0.1:40000" and s["dst"] == "10.0.0.2:40002" and s["ssrc"] == "0x11223344"
    need_tshark()
    assert assert_agrees_with_tshark(path, True) == 1


def test_video_stream_counts_frames_and_rate(tmp_path):
    stream = g.Stream("10.0.0.1", "10.0.0.2", 90, clock=90000, pt=34, ptime=1 / 30.0, frame_packets=3)
    s = analyze(write_stream(tmp_path, stream), rtp_heuristic=True)["streams"][0]
    assert s["media"] == "video" and s["clock_rate"] == 90000
    assert s["video"]["frames"] == 30
    assert 29 < s["video"]["frame_rate"] < 32
    assert s["mos"] is None


def test_random_impairments_agree_with_tshark(tmp_path, qos_path):
    need_tshark()
    compared = 0
    for seed in range(12):
        r = random.Random(seed)
        n = r.randint(20, 300)
        stream = g.Stream("10.0.0.1", "10.0.0.2", n, seq0=r.choice([0, 1000, 65500, 65535]),
                          ts0=r.choice([0, 5000, 0xFFFFFFFF - 3000]),
                          loss=set(r.sample(range(n), r.randint(0, n // 5))), dup=set(r.sample(range(n), r.randint(0, 5))),
                          reorder=set(r.sample(range(n - 1), r.randint(0, 5))), jitter_ms=r.choice([0, 2, 10, 30]),
                          markers=set(r.sample(range(n), r.randint(0, 4))),
                          ts_jumps={r.randrange(n): r.choice([-8000, -500, 800, 16000]) for _jump in range(r.randint(0, 3))},
                          pt=r.choice([0, 8, 13, 18, 101]), seed=seed)
        compared += assert_agrees_with_tshark(write_stream(tmp_path, stream, "r%d.pcap" % seed), True)
    assert compared == 12


def _calls_capture(tmp_path, ncalls=3, seed=0):
    frames = []
    for c in range(ncalls):
        f, _media = g.call_frames("call%d-%d@example.test" % (seed, c), "10.1.0.%d" % (c + 1), "10.2.0.%d" % (c + 1),
                                  20000 + 2 * c, 30000 + 2 * c, c * 0.3, 2.0,
                                  loss_fwd=set(random.Random(seed + c).sample(range(100), 5)), seed=seed + c)
        frames += f
    frames += g.register_frames("alice", "reg1@x", 0.0) + g.register_frames("bob", "reg2@x", 0.1, ok=False)
    frames.sort(key=lambda x: x[0])
    path = str(tmp_path / "calls.pcap")
    g.write_pcap(path, g.ethernet_frames(frames))
    return path


def test_sip_calls_registrations_and_sdp_media(tmp_path):
    rep = analyze(_calls_capture(tmp_path))
    assert len(rep["calls"]) == 3
    c = rep["calls"][0]
    assert c["caller"] == "alice" and c["callee"] == "bob" and c["final_status"] == 200 and c["answered"]
    assert c["setup_ringing_ms"] == pytest.approx(50.0, abs=0.01)
    assert c["setup_answer_ms"] == pytest.approx(500.0, abs=0.01)
    assert c["duration_s"] > 2.0
    assert len(c["streams"]) == 2 and c["qos"]["lost"] == 5
    assert c["media"]["audio"]["packet_loss_pct"] == pytest.approx(2.5)
    regs = {r["user"]: r for r in rep["registrations"]}
    assert regs["alice"] == {"user": "alice", "attempts": 2, "challenged": 1, "succeeded": 1, "failed": 0}
    assert regs["bob"]["failed"] == 1 and regs["bob"]["succeeded"] == 0
    s = rep["streams"][0]
    assert s["codec"] == "PCMA" and s["clock_rate"] == 8000 and s["media"] == "audio"
    assert s["r_factor"] is not None and 1.0 <= s["mos"] <= 4.5
    # the paper's "delay": span / packets (100 sent, 95 received over ~2 s)
    assert s["paper"]["delay_ms"] == pytest.approx(1980.0 / 95, abs=0.1)


def test_sip_calls_agree_with_tshark(tmp_path, qos_path):
    need_tshark()
    assert assert_agrees_with_tshark(_calls_capture(tmp_path, 4, seed=3), False) == 8


def test_no_signalling_without_heuristic_finds_no_stream(tmp_path):
    path = write_stream(tmp_path, g.Stream("10.0.0.1", "10.0.0.2", 20))
    rep = analyze(path)
    assert rep["streams"] == [] and rep["summary"]["skipped"]["udp_not_rtp"] == 20


@pytest.mark.parametrize("name", ["g711a.pcap", "dtmf_2833_1.pcap"])
def test_real_sipp_captures_agree_with_tshark(name, qos_path):
    path = os.path.join(SIPP_DIR, name)
    if not os.path.exists(path):
        pytest.skip("sip-tester sample captures not installed")
    need_tshark()
    assert assert_agrees_with_tshark(path, True) == 1


# ------------------------------------------------- SDP set-up: the packet a stream starts at
CALLER, RELAY, CALLEE, ELSEWHERE = "10.89.2.3", "10.89.2.2", "10.89.2.4", "10.89.2.9"


def _sdp_flow(name):
    """SIP/SDP flows in which RTP starts around the offer/answer, as a capture on a Kamailio + rtpengine
    server sees them. Returns (frames, {(src, dst, ssrc): packets the stream counts}); an RTP stream
    that must not be a stream at all is left out."""
    cid = "flow-%s@example.test" % name
    frames = []

    def sip(t, src, dst, msg):
        frames.append((t, g.ipv4_udp(src, dst, 5060, 5060, msg)))

    def req(method, cseq, body=""):
        return g.sip_request(method, "sip:bob@example.test", "alice", "bob", cid, cseq, body=body)

    def rsp(code, reason, cseq, body=""):
        return g.sip_response(code, reason, "INVITE", "alice", "bob", cid, cseq, body=body)

    def sdp(ip, port):
        return g.sdp(ip, port, pts=(0, 101), rtpmaps={0: "PCMU/8000", 101: "telephone-event/8000"})

    def rtp(src, sport, dst, dport, start, n, ssrc, loss=(), jitter_ms=0.0):
        st = g.Stream(src, dst, n, start=start, pt=0, ssrc=ssrc, loss=loss, jitter_ms=jitter_ms, seed=ssrc)
        frames.extend(g.stream_frames(st, sport=sport, dport=dport))
        return ("%s:%d" % (src, sport), "%s:%d" % (dst, dport), "0x%08X" % ssrc)

    if name.startswith("relay_"):
        # The Molecule run's case: after a 407 challenge the caller sends the INVITE again; rtpengine's
        # offer to the callee names the relay's port, and the callee's first RTP packets reach the server
        # before its 200 OK does. The offer made that port RTP, so tshark counts them; the engine used to
        # wait for an answer - and took the second INVITE for the answer to the first.
        cseq = 1
        if name == "relay_challenged_callee_rtp_before_200":
            sip(0.000, CALLER, RELAY, req("INVITE", 1, sdp(CALLER, 10840)))
            sip(0.001, RELAY, CALLER, rsp(407, "Proxy Authentication Required", 1))
            sip(0.002, CALLER, RELAY, req("ACK", 1))
            cseq = 2
        sip(0.003, CALLER, RELAY, req("INVITE", cseq, sdp(CALLER, 10840)))
        sip(0.004, RELAY, CALLER, rsp(100, "Trying", cseq))
        sip(0.010, RELAY, CALLEE, req("INVITE", cseq, sdp(RELAY, 30000)))
        sip(0.012, CALLEE, RELAY, rsp(180, "Ringing", cseq))
        sip(0.013, RELAY, CALLER, rsp(180, "Ringing", cseq))
        sip(0.100, CALLEE, RELAY, rsp(200, "OK", cseq, sdp(CALLEE, 11194)))
        sip(0.101, RELAY, CALLER, rsp(200, "OK", cseq, sdp(RELAY, 30008)))
        return frames, {
            rtp(CALLEE, 11194, RELAY, 30000, 0.062, 300, 0xB1, loss={40}, jitter_ms=3): 299,  # 2 before the 200 OK
            rtp(RELAY, 30008, CALLER, 10840, 0.0625, 300, 0xB1, loss={40, 41}, jitter_ms=3): 298,
            rtp(CALLER, 10840, RELAY, 30008, 0.150, 290, 0xC1, jitter_ms=5): 290,
            rtp(RELAY, 30000, CALLEE, 11194, 0.151, 290, 0xC1, jitter_ms=5): 290}
    sip(0.0, CALLER, RELAY, req("INVITE", 1, "" if name == "late_offer_answered_in_the_ack" else sdp(CALLER, 10840)))
    if name == "early_media_to_the_offer":
        sip(0.5, RELAY, CALLER, rsp(200, "OK", 1, sdp(CALLEE, 11194)))
        return frames, {rtp(CALLEE, 11194, CALLER, 10840, 0.1, 60, 0xB2): 60}  # 20 before the 200 OK
    if name == "rtp_from_the_answer_before_it":
        sip(0.5, RELAY, CALLER, rsp(200, "OK", 1, sdp(CALLEE, 11194)))
        return frames, {rtp(CALLEE, 11194, ELSEWHERE, 7000, 0.11, 60, 0xB3): 40}  # RTP from the 200 OK on
    if name == "sdp_in_a_provisional_response":
        sip(0.1, RELAY, CALLER, rsp(183, "Session Progress", 1, sdp(CALLEE, 11194)))
        sip(0.5, RELAY, CALLER, rsp(200, "OK", 1))
        return frames, {rtp(CALLEE, 11194, ELSEWHERE, 7000, 0.05, 40, 0xB4): 37}  # RTP from the 183 on
    if name == "late_offer_answered_in_the_ack":
        sip(0.5, RELAY, CALLER, rsp(200, "OK", 1, sdp(CALLEE, 11194)))
        sip(0.7, CALLER, RELAY, req("ACK", 1, sdp(CALLER, 10840)))
        return frames, {rtp(CALLEE, 11194, ELSEWHERE, 7000, 0.41, 30, 0xB5): 25,
                        rtp(CALLER, 10840, ELSEWHERE, 7002, 0.61, 30, 0xC5): 25}
    if name == "second_final_answer_is_ignored":
        sip(0.1, RELAY, CALLER, rsp(200, "OK", 1, sdp(CALLEE, 11194)))
        sip(0.2, RELAY, CALLER, rsp(202, "Accepted", 1, sdp(CALLEE, 11300)))
        rtp(CALLEE, 11300, ELSEWHERE, 7000, 0.3, 20, 0xB6)
        return frames, {}
    if name == "answer_after_a_rejection_is_ignored":
        sip(0.05, RELAY, CALLER, rsp(488, "Not Acceptable Here", 1, sdp(CALLEE, 11194)))
        sip(0.1, RELAY, CALLER, rsp(200, "OK", 1, sdp(CALLEE, 11300)))
        rtp(CALLEE, 11300, ELSEWHERE, 7002, 0.3, 20, 0xC7)
        return frames, {rtp(CALLEE, 11194, ELSEWHERE, 7000, 0.3, 20, 0xB7): 20}  # the rejection's SDP counts
    if name == "retransmitted_offer_is_not_set_up_again":
        sip(0.5, CALLER, RELAY, req("INVITE", 1, sdp(CALLER, 10900)))
        rtp(CALLER, 10900, ELSEWHERE, 7000, 0.6, 20, 0xB8)
        return frames, {}
    if name == "retransmitted_answer_is_set_up":
        sip(0.1, RELAY, CALLER, rsp(200, "OK", 1, sdp(CALLEE, 11194)))
        sip(0.6, RELAY, CALLER, rsp(200, "OK", 1, sdp(CALLEE, 11400)))
        return frames, {rtp(CALLEE, 11400, ELSEWHERE, 7000, 0.51, 20, 0xB9): 15}
    raise ValueError(name)


SDP_FLOWS = ("relay_challenged_callee_rtp_before_200", "relay_callee_rtp_before_200", "early_media_to_the_offer",
             "rtp_from_the_answer_before_it", "sdp_in_a_provisional_response", "late_offer_answered_in_the_ack",
             "second_final_answer_is_ignored", "answer_after_a_rejection_is_ignored",
             "retransmitted_offer_is_not_set_up_again", "retransmitted_answer_is_set_up")


@pytest.mark.parametrize("flow", SDP_FLOWS)
def test_streams_start_at_the_packet_tshark_starts_them(tmp_path, flow, qos_path):
    """Every SDP body makes its media RTP from its own packet on (an offer before its answer), with the
    few exceptions of Wireshark's SIP/SDP dissectors in tshark's single pass: the same streams, the
    same first packet, so the same packet counts."""
    need_tshark()
    frames, want = _sdp_flow(flow)
    frames.sort(key=lambda f: f[0])
    path = str(tmp_path / (flow + ".pcap"))
    g.write_pcap(path, g.ethernet_frames(frames))
    assert assert_agrees_with_tshark(path, False) == len(want)
    assert {(s["src"], s["dst"], s["ssrc"]): s["packets"] for s in analyze(path)["streams"]} == want


@pytest.mark.parametrize("fmt", ["le_us", "be_us", "le_ns", "be_ns", "pcapng", "vlan", "sll", "sll2", "raw", "ipv6"])
def test_capture_formats_and_link_types_give_the_same_figures(tmp_path, fmt, qos_path):
    ref = analyze(write_stream(tmp_path, g.Stream("10.0.0.1", "10.0.0.2", 60, loss={7}, jitter_ms=4), "ref.pcap"),
                  rtp_heuristic=True)["streams"][0]
    path = str(tmp_path / "x")
    frames = g.stream_frames(g.Stream("10.0.0.1", "10.0.0.2", 60, loss={7}, jitter_ms=4))
    if fmt.startswith(("le", "be")):
        g.write_pcap(path, g.ethernet_frames(frames), endian="<" if fmt.startswith("le") else ">", nanos=fmt.endswith("ns"))
    elif fmt == "pcapng":
        half = [(t, g.link(ip), 0) for t, ip in frames[:30]] + [(t, g.link(ip, g.LINKTYPE_SLL2), 1) for t, ip in frames[30:]]
        g.write_pcapng(path, half, interfaces=((g.LINKTYPE_ETHERNET, 6), (g.LINKTYPE_SLL2, 9)))
    elif fmt == "vlan":
        g.write_pcap(path, g.ethernet_frames(frames, vlan=42))
    elif fmt == "ipv6":
        g.write_pcap(path, g.ethernet_frames(g.stream_frames(g.Stream("2001:db8::1", "2001:db8::2", 60, loss={7}, jitter_ms=4), v6=True)))
    else:
        lt = {"sll": g.LINKTYPE_SLL, "sll2": g.LINKTYPE_SLL2, "raw": g.LINKTYPE_RAW}[fmt]
        g.write_pcap(path, g.ethernet_frames(frames, linktype=lt), linktype=lt)
    s = analyze(path, rtp_heuristic=True)["streams"][0]
    for k in ("packets", "lost", "mean_jitter_ms", "max_jitter_ms", "mean_delta_ms", "seq_errors"):
        assert s[k] == ref[k], k
    if fmt == "ipv6":
        assert s["src"] == "2001:db8::1:40000" and s["bytes"] == ref["bytes"] + 20 * 59


# ------------------------------------------------------------------ long captures, both paths
def _long_capture(tmp_path, name="long.pcap", **kw):
    path = str(tmp_path / name)
    g.write_g711_calls(path, **kw)
    return path


LONG = {
    # 1000 packets per stream (jitter closed form over several 256-packet rows), 2 file blocks
    "loss_jitter": dict(packets=40000, calls=20, seed=2),
    "wraps_dups_reorder_markers": dict(packets=40000, calls=20, seed=3, dup=0.002, reorder=0.003, marker=0.002,
                                       seq0=65000),
}


@pytest.mark.parametrize("case", sorted(LONG))
def test_long_g711_calls_agree_with_tshark(tmp_path, case, qos_path):
    need_tshark()
    assert assert_agrees_with_tshark(_long_capture(tmp_path, **LONG[case]), False) == 40


def _both(path, monkeypatch, heuristic=False):
    monkeypatch.setenv("NEBULAVOIP_QOS_PURE", "1")
    pure = analyze(path, rtp_heuristic=heuristic)
    monkeypatch.delenv("NEBULAVOIP_QOS_PURE")
    fast = analyze(path, rtp_heuristic=heuristic)
    return pure, fast


def _mixed_capture(tmp_path, seed):
    """Calls with SDP, streams without signalling, VLAN-tagged copies, RTCP, IPv6: the fast path's fallbacks."""
    r = random.Random(seed)
    frames = []
    for c in range(3):
        f, _media = g.call_frames("mix%d-%d@example.test" % (seed, c), "10.1.0.%d" % (c + 1), "10.2.0.%d" % (c + 1),
                                  20000 + 2 * c, 30000 + 2 * c, c * 0.2, 3.0, loss_fwd=set(r.sample(range(150), 6)),
                                  seed=seed + c)
        frames += [(t, g.link(ip)) for t, ip in f]
    for k in range(3):
        n = r.randint(100, 400)
        st = g.Stream("10.9.0.%d" % (k + 1), "10.9.1.%d" % (k + 1), n, start=r.random(), ssrc=0x5000 + k,
                      seq0=r.choice([0, 65400, 30000]), loss=set(r.sample(range(n), n // 20)),
                      dup=set(r.sample(range(n), 3)), reorder=set(r.sample(range(n - 1), 3)),
                      jitter_ms=r.choice([0, 3, 15]), markers=set(r.sample(range(n), 3)),
                      ts_jumps={r.randrange(n): r.choice([-8000, 1600])}, pt=r.choice([0, 8, 18]), seed=seed + k)
        vlan = k == 2
        frames += [(t, g.link(ip, vlan=7 if (vlan and i % 3 == 0) else None))
                   for i, (t, ip) in enumerate(g.stream_frames(st, sport=41000 + 2 * k, dport=42000 + 2 * k))]
    v6 = g.Stream("2001:db8::1", "2001:db8::2", 120, start=0.3, ssrc=0x6000, loss={5, 60}, jitter_ms=4)
    frames += [(t, g.link(ip)) for t, ip in g.stream_frames(v6, sport=43000, dport=43002, v6=True)]
    block = struct.pack("!IIIIII", 0x5000, (10 << 24) | 3, 1050, 80, 0, 0)
    frames.append((1.5, g.link(g.ipv4_udp("10.9.1.1", "10.9.0.1", 42001, 41001,
                                          struct.pack("!BBHI", 0x81, 201, 7, 0x55667788) + block))))
    frames.sort(key=lambda x: x[0])
    path = str(tmp_path / ("mixed%d.pcap" % seed))
    g.write_pcap(path, frames)
    return path


@pytest.mark.parametrize("heuristic", [False, True])
@pytest.mark.parametrize("read_size", [qos_pcap.READ_SIZE, 3000])
@pytest.mark.parametrize("rounds", [qos_numpy.MAX_ROUNDS, 1])
def test_pure_and_numpy_paths_give_identical_reports(tmp_path, monkeypatch, heuristic, read_size, rounds):
    if not qos_numpy.AVAILABLE:
        pytest.skip("numpy not installed")
    monkeypatch.setattr(qos_pcap, "READ_SIZE", read_size)
    monkeypatch.setattr(qos_numpy, "READ_SIZE", read_size)
    monkeypatch.setattr(qos_numpy, "MAX_ROUNDS", rounds)
    paths = [_mixed_capture(tmp_path, seed) for seed in range(3)]
    if read_size > 3000:  # thousands of tiny blocks would only be slow
        paths.append(_long_capture(tmp_path, packets=12000, calls=4, seed=5, dup=0.003, reorder=0.003, marker=0.003,
                                   seq0=65300))
    for path in paths:
        pure, fast = _both(path, monkeypatch, heuristic)
        assert pure["streams"], path
        assert json.dumps(pure, sort_keys=True) == json.dumps(fast, sort_keys=True), path


@pytest.mark.parametrize("flow", ["late_offer_answered_in_the_ack", "rtp_from_the_answer_before_it",
                                  "relay_challenged_callee_rtp_before_200"])
def test_both_paths_attribute_a_stream_that_starts_before_its_sdp_alike(tmp_path, monkeypatch, flow):
    """With the RTP heuristic a stream can start before the SDP that names its port: it belongs to no call
    (its first packet knew none) on both paths, although the numpy path creates it after that SDP is read."""
    if not qos_numpy.AVAILABLE:
        pytest.skip("numpy not installed")
    frames, _want = _sdp_flow(flow)
    frames.sort(key=lambda f: f[0])
    path = str(tmp_path / "f.pcap")
    g.write_pcap(path, g.ethernet_frames(frames))
    pure, fast = _both(path, monkeypatch, heuristic=True)
    assert json.dumps(pure, sort_keys=True) == json.dumps(fast, sort_keys=True)
    if flow != "relay_challenged_callee_rtp_before_200":
        assert [s["call_id"] for s in pure["streams"]] == [None] * len(pure["streams"])


def test_a_short_last_record_keeps_the_capture_span_on_both_paths(tmp_path, monkeypatch):
    """The numpy path reads fixed-width header fields; the file's last record, shorter than that width
    (an ARP frame here), must not lend it a time stamp read from the wrong place."""
    frames = g.ethernet_frames(g.stream_frames(g.Stream("10.0.0.1", "10.0.0.2", 50)))
    frames.append((1.5, b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01\x08\x06" + b"\x00" * 28))
    path = str(tmp_path / "arp.pcap")
    g.write_pcap(path, [(1000.0 + t, data) for t, data in frames])
    pure, fast = _both(path, monkeypatch, heuristic=True)
    assert pure["summary"]["duration_s"] == fast["summary"]["duration_s"] == 1.5


@pytest.mark.parametrize("pure", ["1", ""])
def test_blocks_smaller_than_a_record(tmp_path, monkeypatch, pure):
    """Records longer than the read block (the block grows) and cut at every possible place."""
    path = _mixed_capture(tmp_path, 0)
    monkeypatch.setenv("NEBULAVOIP_QOS_PURE", pure)
    want = json.dumps(analyze(path, rtp_heuristic=True), sort_keys=True)
    monkeypatch.setattr(qos_pcap, "READ_SIZE", 200)
    monkeypatch.setattr(qos_numpy, "READ_SIZE", 200)
    assert json.dumps(analyze(path, rtp_heuristic=True), sort_keys=True) == want


def test_module_utils_work_without_numpy(tmp_path):
    """numpy is optional: with its import blocked the engine imports and takes the pure path."""
    path = write_stream(tmp_path, g.Stream("10.0.0.1", "10.0.0.2", 30, loss={4}))
    code = ("import sys; sys.modules['numpy'] = None\n"
            "from ansible_collections.nebulavoip.cloud.plugins.module_utils import qos_engine, qos_numpy\n"
            "assert not qos_numpy.AVAILABLE\n"
            "r = qos_engine.analyze(sys.argv[1], rtp_heuristic=True)\n"
            "print(r['streams'][0]['packets'], r['streams'][0]['lost'])\n")
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout.split() == ["29", "1"]


# ------------------------------------------------------------------------ bad input
def test_empty_file_is_a_clear_error(tmp_path):
    p = tmp_path / "empty.pcap"
    p.write_bytes(b"")
    with pytest.raises(QosError, match="empty"):
        analyze(str(p))


def test_truncated_header_is_a_clear_error(tmp_path):
    p = tmp_path / "t.pcap"
    p.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
    with pytest.raises(QosError, match="truncated"):
        analyze(str(p))


def test_wrong_magic_and_text_file_are_clear_errors(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("this is not a capture\n")
    with pytest.raises(QosError, match="not a pcap or pcapng"):
        analyze(str(p))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(QosError, match="cannot open"):
        analyze(str(tmp_path / "missing.pcap"))


def test_unknown_link_type_is_a_clear_error(tmp_path):
    p = tmp_path / "lt.pcap"
    p.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147))
    with pytest.raises(QosError, match="link type 147"):
        analyze(str(p))


def test_truncated_last_packet_is_counted_not_fatal(tmp_path):
    path = write_stream(tmp_path, g.Stream("10.0.0.1", "10.0.0.2", 10))
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-50])
    rep = analyze(path, rtp_heuristic=True)
    assert rep["streams"][0]["packets"] == 9
    assert rep["summary"]["skipped"]["truncated_record"] == 1


def test_snapped_packet_is_counted(tmp_path):
    frames = g.ethernet_frames(g.stream_frames(g.Stream("10.0.0.1", "10.0.0.2", 5)))
    frames = [(t, d[:60], len(d)) if i == 2 else (t, d) for i, (t, d) in enumerate(frames)]
    path = str(tmp_path / "snap.pcap")
    g.write_pcap(path, frames)
    rep = analyze(path, rtp_heuristic=True)
    assert rep["streams"][0]["packets"] == 4 and rep["summary"]["skipped"]["truncated_packet"] == 1


def test_non_rtp_udp_fragments_and_collisions(tmp_path):
    frames = [(0.0, g.ipv4_udp("10.0.0.9", "10.0.0.8", 53, 53, b"\x12\x34" + b"\0" * 30)),
              (0.01, g.ipv4_udp("10.0.0.9", "10.0.0.8", 4000, 4002, b"\x00" * 40)),
              (0.02, g.ipv4_udp("10.0.0.9", "10.0.0.8", 4000, 4002, b"x" * 100, frag=(True, 0))),
              (0.03, g.ipv4_udp("10.0.0.9", "10.0.0.8", 4000, 4002, b"x" * 100, frag=(False, 20)))]
    # Two sources using the same SSRC: two streams, as Wireshark keys them.
    for i in range(5):
        frames.append((0.1 + i * 0.02, g.ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 40002, g.rtp(i, i * 160, 0xABCD))))
        frames.append((0.1 + i * 0.02, g.ipv4_udp("10.0.0.3", "10.0.0.2", 40000, 40002, g.rtp(i, i * 160, 0xABCD))))
    path = str(tmp_path / "mix.pcap")
    g.write_pcap(path, g.ethernet_frames(frames))
    rep = analyze(path, rtp_heuristic=True)
    assert len(rep["streams"]) == 2
    assert rep["summary"]["skipped"]["ip_fragment"] == 2
    assert rep["summary"]["skipped"]["udp_not_rtp"] == 2


def test_rtcp_reports_are_read(tmp_path):
    stream = g.Stream("10.0.0.1", "10.0.0.2", 50)
    frames = g.stream_frames(stream)
    block = struct.pack("!IIIIII", 0x11223344, (10 << 24) | 3, 1050, 80, 0, 0)
    rr = struct.pack("!BBHI", 0x81, 201, 7, 0x55667788) + block
    frames.append((0.5, g.ipv4_udp("10.0.0.2", "10.0.0.1", 40003, 40001, rr)))
    path = str(tmp_path / "rtcp.pcap")
    g.write_pcap(path, g.ethernet_frames(sorted(frames, key=lambda f: f[0])))
    s = analyze(path, rtp_heuristic=True)["streams"][0]
    assert s["rtcp"]["reports"] == 1 and s["rtcp"]["cumulative_lost"] == 3
    assert s["rtcp"]["jitter_max_ms"] == pytest.approx(10.0)


def test_report_files_are_written(tmp_path):
    dest = tmp_path / "out"
    analyze(_calls_capture(tmp_path), dest=str(dest))
    for name in ("qos.json", "streams.csv", "calls.csv", "registrations.csv", "series.csv"):
        assert (dest / name).stat().st_size > 0


def test_fuzzed_bytes_never_raise_anything_but_qos_error(tmp_path):
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    base = open(write_stream(tmp_path, g.Stream("10.0.0.1", "10.0.0.2", 8), "base.pcap"), "rb").read()
    target = str(tmp_path / "fuzz.pcap")

    @hypothesis.settings(max_examples=150, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)), max_size=12),
                      st.integers(0, len(base)), st.booleans())
    def run(mutations, cut, heuristic):
        data = bytearray(base[:max(cut, 1)])
        for pos, val in mutations:
            if pos < len(data):
                data[pos] = val
        with open(target, "wb") as f:
            f.write(bytes(data))
        try:
            analyze(target, rtp_heuristic=heuristic)
        except QosError:
            pass

    run()


def test_real_kamailio_call_through_rtpengine_agrees_with_tshark(qos_path):
    """A server-side capture of a call the kamailio Molecule scenario made (SIP + SDP, rtpengine legs)."""
    need_tshark()
    path = os.path.join(os.path.dirname(__file__), "fixtures", "kamailio-call.pcap")
    assert assert_agrees_with_tshark(path, False) == 4
    report = analyze(path)
    call, = report["calls"]
    assert (call["caller"], call["callee"], call["final_status"], call["answered"]) == ("alice", "bob", 200, True)
    assert call["auth_challenges"] == 1 and 7.5 < call["duration_s"] < 8.5
