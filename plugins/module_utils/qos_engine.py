# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""QoS engine: one pass over a capture -> calls, registrations, RTP streams, paper figures, grades.

Pure Python (stdlib), streaming: memory is bounded by the number of streams and the capture's
duration in seconds (per-second series), never by its number of packets. Classic pcap files are
read in 4 MiB blocks by a fused loop that decodes Ethernet / Linux cooked / IPv4 / UDP / RTP in
place for streams already known and batches packets per stream (RtpStream.add_batch); anything
else goes through _packet, one packet at a time (pcapng records get the same shortcut). With numpy
installed, qos_numpy does the pcap pass vectorised (NEBULAVOIP_QOS_PURE=1 forces the pure path).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import json
import os
import struct

from ansible_collections.nebulavoip.cloud.plugins.module_utils import qos_numpy
from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_grades import (
    R_DEFAULT,
    e_model,
    g114_class,
    tiphon,
)
from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_pcap import (
    LAYOUTS,
    MAX_RECORD,
    Counters,
    PcapBlocks,
    QosError,
    decode,
    ip_text,
    open_capture_blocks,
)
from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_rtp import (
    STATIC_PT,
    RtpStream,
    looks_like_rtcp,
    media_kind,
    parse_rtcp,
)
from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_sip import SipTracker, looks_like_sip

__all__ = ["QosError", "aggregate_streams", "analyze"]

SIP_PORTS = (5060, 5061)
FLUSH_PACKETS = 20000  # packets per batch handed to the stream state machines (pcapng / other readers)


def fast_fields(layout, header=16):
    """From the start of a pcap record (header = 16) or of the frame (0): ethertype, IPv4 version/IHL,
    total length, flags/fragment offset, protocol, source + destination address, UDP ports, RTP first
    two bytes, sequence, timestamp, SSRC."""
    lh, et_off = layout
    return struct.Struct("!%dxH%dxBxH2xHxB2x8sHH4xBBHII" % (header + et_off, lh - et_off - 2))


def pure_forced():
    """NEBULAVOIP_QOS_PURE=1 forces the pure-Python path even when numpy is installed."""
    return os.environ.get("NEBULAVOIP_QOS_PURE", "") not in ("", "0")


class Engine:
    def __init__(self, rtp_heuristic=False, fast=None):
        self.heuristic = rtp_heuristic
        self.counters = Counters()
        self.sip = SipTracker()
        self.sip.media_cb = self._register_media
        self.media = {}   # (addr bytes, port) -> (ptmap, media kind, call_id, frame)
        self.media_prev = {}  # same key -> the registration before the latest one
        self.rtcp_ports = {}  # (addr bytes, port) -> call_id
        self.media_version = 0
        self.new_ends = None  # the numpy path collects the (addr, port) ends registered since it last looked
        self.streams = {}  # (src + dst address bytes, sport, dport, ssrc) -> RtpStream
        self.cache = {}    # same key -> RtpStream, for keys known to be RTP at this media_version
        self.appenders = {}  # same key -> the stream's batch.append (the pure loop's shortcut)
        self.slow_items = 0  # RTP packets decoded by _packet (counted as UDP there) since the last flush
        self.rtcp = {}    # reported ssrc -> aggregated RTCP figures
        self.first_ns = None
        self.last_ns = None
        self.frames = 0
        self.udp = 0
        if fast is None:
            fast = not pure_forced()
        self.fast = qos_numpy.AVAILABLE and bool(fast)
        self.slow_rtp = None  # the numpy path collects (index, stream, item) of RTP packets decoded one by one
        self.cur_index = 0
        self.last_ts_ns = None
        self.key_table = None  # the numpy path's table of stream keys

    def _register_media(self, m, call_id, frame):
        key = (m["addr"], m["port"])
        old = self.media.get(key)
        if old is not None:
            self.media_prev[key] = old
        self.media[key] = (m["ptmap"], m["media"], call_id, frame)
        rport = m["port"] if m["mux"] else m["rtcp_port"]
        self.rtcp_ports[(m["addr"], rport)] = call_id
        self.media_version += 1
        if self.new_ends is not None:
            self.new_ends.append(key)
            self.new_ends.append((m["addr"], rport))
        self.cache.clear()
        self.appenders.clear()

    # ------------------------------------------------------------------ main loop
    def run(self, path):
        cap = open_capture_blocks(path, self.counters)
        if isinstance(cap, PcapBlocks):
            if self.fast:
                qos_numpy.run_pcap(self, cap)
            else:
                self._run_pcap(cap)
        else:
            self._run_records(cap)
        self.flush()
        if self.frames == 0:
            raise QosError("capture %s holds no packets" % path)

    def flush(self):
        """Run the stream state machines over the packets batched so far."""
        first_ns = self.first_ns
        n = 0
        for st in self.streams.values():
            batch = st.batch
            if batch:
                n += len(batch)
                st.add_batch(batch, first_ns)
                batch.clear()
        self.udp += n - self.slow_items  # packets the fast loops took without counting them
        self.slow_items = 0

    def _run_records(self, records):
        """Loop over (ts_ns, linktype, data) records (pcapng): RTP of known streams inline, as _run_pcap."""
        frame = self.frames
        ts_ns = None
        packet = self._packet
        appenders = self.appenders
        layouts = {}
        for ts_ns, linktype, data in records:
            frame += 1
            if self.first_ns is None:
                self.first_ns = ts_ns
            lay = layouts.get(linktype)
            if lay is None:
                layout = LAYOUTS.get(linktype)
                if layout is not None and layout[1] is not None:
                    lay = layouts[linktype] = (fast_fields(layout, 0).unpack_from, layout[0], layout[0] + 40)
                else:
                    lay = layouts[linktype] = (None, 0, 0)
            fields, lh, min_len = lay
            size = len(data)
            if fields is not None and size >= min_len:
                et, vihl, total, frag, proto, addrs, sport, dport, b0, b1, seq, ts, ssrc = fields(data, 0)
                if (et == 0x0800 and vihl == 0x45 and proto == 17 and not frag & 0x3FFF and 40 <= total <= size - lh
                        and b0 & 0xC0 == 0x80 and not 200 <= b1 <= 207):
                    append = appenders.get((addrs, sport, dport, ssrc))
                    if append is not None:
                        append((ts_ns, seq, ts, b1, total - 28))
                        if frame % FLUSH_PACKETS == 0:
                            self.flush()
                        continue
            packet(ts_ns, linktype, data, frame)
            if frame % FLUSH_PACKETS == 0:
                self.flush()
        self.frames = frame
        if ts_ns is not None:
            self.last_ns = ts_ns

    def _run_pcap(self, blocks):
        """Pure-Python loop over classic pcap blocks; Ethernet/IPv4/UDP RTP of known streams inline."""
        hdr = struct.Struct(blocks.endian + "IIII").unpack_from
        mult = blocks.mult
        linktype = blocks.linktype
        layout = LAYOUTS.get(linktype)
        inline = layout is not None and layout[1] is not None
        fields = fast_fields(layout).unpack_from if inline else None
        lh = layout[0] if inline else 0
        min_incl = lh + 40
        appenders = self.appenders
        packet = self._packet
        frame = self.frames
        first_ns = self.first_ns
        ts_ns = None
        for buf in blocks:
            pos = 0
            end = len(buf)
            while pos + 16 <= end:
                sec, frac, incl, _orig = hdr(buf, pos)
                nxt = pos + 16 + incl
                if nxt > end:
                    if incl > MAX_RECORD:
                        blocks.corrupt = True
                    break
                frame += 1
                ts_ns = sec * 1000000000 + frac * mult
                if inline and incl >= min_incl:
                    et, vihl, total, frag, proto, addrs, sport, dport, b0, b1, seq, ts, ssrc = fields(buf, pos)
                    if (et == 0x0800 and vihl == 0x45 and proto == 17 and not frag & 0x3FFF and 40 <= total <= incl - lh
                            and b0 & 0xC0 == 0x80 and not 200 <= b1 <= 207):
                        append = appenders.get((addrs, sport, dport, ssrc))
                        if append is not None:
                            append((ts_ns, seq, ts, b1, total - 28))
                            pos = nxt
                            continue
                if first_ns is None:
                    first_ns = self.first_ns = ts_ns
                packet(ts_ns, linktype, bytes(buf[pos + 16:nxt]), frame)
                pos = nxt
            blocks.consumed = pos
            self.frames = frame
            self.flush()
        self.frames = frame
        if ts_ns is not None:
            self.last_ns = ts_ns

    def _packet(self, ts_ns, linktype, data, frame):
        """Everything the engine does with one packet (any link type, any protocol)."""
        counters = self.counters
        dec = decode(linktype, data)
        if dec.__class__ is str:
            counters.add(dec)
            return
        ver, src, dst, proto, l4 = dec
        if proto == 6:
            self._tcp(l4, ts_ns, self.first_ns, frame)
            return
        if proto != 17:
            counters.add("not_udp")
            return
        if len(l4) < 8:
            counters.add("truncated_packet")
            return
        sport = (l4[0] << 8) | l4[1]
        dport = (l4[2] << 8) | l4[3]
        payload = l4[8:]
        self.udp += 1
        if sport in SIP_PORTS or dport in SIP_PORTS:
            if looks_like_sip(payload):
                self.sip.handle(payload, (ts_ns - self.first_ns) / 1e6, frame, (src, sport, dst, dport))
            else:
                counters.add("non_sip_on_sip_port")
            return
        if len(payload) >= 12:
            w0 = (payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]
            ts = (payload[4] << 24) | (payload[5] << 16) | (payload[6] << 8) | payload[7]
            ssrc = (payload[8] << 24) | (payload[9] << 16) | (payload[10] << 8) | payload[11]
        else:
            w0 = ts = ssrc = 0
        key = (bytes(src) + bytes(dst), sport, dport, ssrc)
        st = self.cache.get(key)
        minfo = None
        if st is None:
            media = self.media
            minfo = media.get((src, sport)) or media.get((dst, dport))
            if minfo is None or minfo[3] >= frame:
                rtcp_ports = self.rtcp_ports
                if (src, sport) in rtcp_ports or (dst, dport) in rtcp_ports:
                    self._rtcp(payload, ts_ns)
                    return
                if not self.heuristic:
                    if looks_like_sip(payload):
                        self.sip.handle(payload, (ts_ns - self.first_ns) / 1e6, frame, (src, sport, dst, dport))
                    else:
                        counters.add("udp_not_rtp")
                    return
                minfo = None
        if len(payload) < 12 or (w0 >> 30) != 2:
            if looks_like_sip(payload):
                self.sip.handle(payload, (ts_ns - self.first_ns) / 1e6, frame, (src, sport, dst, dport))
            else:
                counters.add("udp_not_rtp")
            return
        b1 = (w0 >> 16) & 0xFF
        if 200 <= b1 <= 207:
            self._rtcp(payload, ts_ns)
            return
        if st is None:
            st = self.streams.get(key)
            if st is None:
                st = self._new_stream(key, src, sport, dst, dport, ssrc, ver == 6, minfo, frame)
            self.cache[key] = st
            self.appenders[key] = st.batch.append
        item = (ts_ns, w0 & 0xFFFF, ts, b1, len(payload))
        st.batch.append(item)
        self.slow_items += 1
        if self.slow_rtp is not None:
            self.slow_rtp.append((self.cur_index, st, item))

    def _new_stream(self, key, src, sport, dst, dport, ssrc, v6, minfo, frame):
        names = ("%s:%d" % (ip_text(src), sport), "%s:%d" % (ip_text(dst), dport))
        if minfo is not None:
            st = RtpStream(key, names[0], names[1], ssrc, v6, minfo[0], minfo[1], minfo[2], minfo[3])
        else:
            st = RtpStream(key, names[0], names[1], ssrc, v6)
        st.first_frame = frame
        self.streams[key] = st
        return st

    def rtp_status(self, key, ends):
        """Whether an IPv4 RTP-looking packet (version 2, no RTCP type, no SIP port) of this key is RTP now;
        _packet's decision, for the numpy path: 2 = RTP through SDP media (for good: media registrations
        are never removed), 1 = RTP for now, 0 = not RTP."""
        src, sport, dst, dport = ends
        if self.media.get((src, sport)) or self.media.get((dst, dport)):
            return 2
        if key in self.cache:
            return 1
        if (src, sport) in self.rtcp_ports or (dst, dport) in self.rtcp_ports:
            return 0
        return 1 if self.heuristic else 0

    def stream_for(self, key, ends, frame):
        """The stream of a key rtp_status() accepted, created (first packet at this frame) when new."""
        st = self.cache.get(key)
        if st is not None:
            return st
        src, sport, dst, dport = ends
        st = self.streams.get(key)
        if st is None:
            minfo = self._media_before((src, sport), frame) or self._media_before((dst, dport), frame)
            st = self._new_stream(key, src, sport, dst, dport, key[3], False, minfo, frame)
        self.cache[key] = st
        self.appenders[key] = st.batch.append
        return st

    def _media_before(self, end, frame):
        """The SDP media of an end as registered before this frame: the numpy path creates a stream once the
        packets up to the next registration are decoded, the pure path at its first packet."""
        minfo = self.media.get(end)
        if minfo is not None and minfo[3] >= frame:
            minfo = self.media_prev.get(end)
            if minfo is not None and minfo[3] >= frame:
                minfo = None
        return minfo

    def _tcp(self, l4, ts_ns, first_ns, frame):
        if len(l4) < 20:
            self.counters.add("truncated_packet")
            return
        off = (l4[12] >> 4) * 4
        payload = l4[off:]
        if payload and looks_like_sip(payload):
            self.sip.handle(payload, (ts_ns - first_ns) / 1e6, frame)
        else:
            self.counters.add("tcp_not_sip")

    def _rtcp(self, payload, ts_ns):
        if not looks_like_rtcp(payload):
            self.counters.add("udp_not_rtp")
            return
        for item in parse_rtcp(payload, ts_ns):
            if item["type"] != "block":
                agg = self.rtcp.setdefault(("sender", item["sender"]), {"SR": 0, "RR": 0, "XR": 0})
                agg[item["type"]] += 1
                continue
            agg = self.rtcp.setdefault(item["ssrc"], {"reports": 0, "fraction_lost_max": 0.0, "cum_lost": 0,
                                                      "jitter_units_max": 0, "rtt_ms": []})
            agg["reports"] += 1
            agg["fraction_lost_max"] = max(agg["fraction_lost_max"], item["fraction_lost"])
            agg["cum_lost"] = item["cum_lost"]
            agg["jitter_units_max"] = max(agg["jitter_units_max"], item["jitter_units"])
            if item["rtt_ms"] is not None and len(agg["rtt_ms"]) < 10000:
                agg["rtt_ms"].append(item["rtt_ms"])


# ---------------------------------------------------------------------- reporting
def _r(v, nd=3):
    return None if v is None else round(v, nd)


def stream_report(st, engine, delay_ms=None):
    expected = st.expected()
    lost = expected - st.total_nr
    loss_pct = (lost * 100.0 / expected) if expected else 0.0
    pt = st.main_pt()
    name = st.ptmap.get(pt, (None, 0))[0]
    codec = name or (STATIC_PT[pt][0] if pt in STATIC_PT else "Unknown(%d)" % pt)
    clock = st.clocks.get(pt) or st.clock_rate
    dur_ms = st.last_t - st.first_t
    dur_s = dur_ms / 1000.0
    kind = media_kind(pt, name, st.sdp_media)
    bitrate = (st.bytes * 8 / dur_ms) if dur_ms > 0 else 0.0  # bits/ms == kbit/s
    rt = engine.rtcp.get(st.ssrc)
    rtcp = None
    rtt = None
    if rt:
        rtts = rt["rtt_ms"]
        rtt = sum(rtts) / len(rtts) if rtts else None
        rtcp = {"reports": rt["reports"], "fraction_lost_max": round(rt["fraction_lost_max"], 4),
                "cumulative_lost": rt["cum_lost"],
                "jitter_max_ms": round(rt["jitter_units_max"] * 1000.0 / clock, 3) if clock else None,
                "rtt_mean_ms": _r(rtt), "rtt_max_ms": _r(max(rtts)) if rtts else None}
    if delay_ms is not None:
        one_way, src = float(delay_ms), "given"
    elif rtt is not None:
        one_way, src = rtt / 2.0, "rtcp_rtt_half"
    else:
        one_way, src = None, "unknown (E-model uses 0 ms)"
    gaps = st.sequence
    burst_r = 1.0
    if lost > 0 and gaps > 0 and expected:
        p = lost / float(expected)
        burst_r = max(1.0, (lost / float(gaps)) * (1 - p)) if p < 1 else 1.0
    em = e_model(codec, pt, loss_pct, one_way, burst_r) if kind == "audio" else e_model(None, None, 0, None)
    paper_delay = (dur_ms / st.total_nr) if st.total_nr else 0.0
    paper_jitter = st.sum_abs_diff / (st.total_nr - 1) if st.total_nr > 1 else 0.0
    rep = {
        "src": st.src, "dst": st.dst, "ssrc": "0x%08X" % st.ssrc, "payload_type": pt,
        "payload_types": sorted(st.pts), "payload": ",".join(st.payload_name()),
        "codec": codec, "clock_rate": clock, "media": kind, "call_id": st.call_id,
        "start_time_s": round(st.first_t / 1000.0, 6), "end_time_s": round(st.last_t / 1000.0, 6),
        "duration_s": round(dur_s, 3),
        "packets": st.total_nr, "expected": expected, "lost": lost, "loss_pct": round(loss_pct, 3),
        "seq_errors": st.sequence, "duplicates_or_late": max(0, -lost) if lost < 0 else None,
        "wrong_timestamps": st.wrong_ts, "markers": st.markers, "problems": st.problem,
        "min_delta_ms": _r(st.min_delta if st.min_delta != -1 else None),
        "mean_delta_ms": _r(st.mean_delta), "max_delta_ms": _r(st.max_delta),
        "min_jitter_ms": _r(st.min_jitter if st.min_jitter != -1 else None),
        "mean_jitter_ms": _r(st.mean_jitter), "max_jitter_ms": _r(st.max_jitter),
        "bitrate_kbps": round(bitrate, 3), "bytes": st.bytes,
        "r_factor": em["r_factor"], "mos": em["mos"], "e_model": em,
        "one_way_delay_ms": _r(one_way), "one_way_delay_source": src,
        "g114_class": g114_class(one_way),
        "rtcp": rtcp,
        "paper": {
            "throughput_kbps": round(bitrate, 3),
            "delay_ms": round(paper_delay, 3),
            "delay_method": "mean inter-arrival time (capture span / packets)",
            "jitter_ms": round(paper_jitter, 3),
            "jitter_method": "RFC 3550 |D| averaged over packets - 1",
            "packet_loss_pct": round(loss_pct, 3),
        },
        "tiphon": tiphon(paper_delay, paper_jitter, max(loss_pct, 0.0)),
        "series": st.per_second(),
    }
    if kind == "video":
        rep["video"] = {"frames": st.frames, "frame_rate": round(st.frames / dur_s, 3) if dur_s > 0 else 0.0}
    return rep


def aggregate_streams(reps, one_way=None):
    """The paper's figures over several stream reports (a call, a media kind, a direction); None when empty."""
    if not reps:
        return None
    pk = sum(r["packets"] for r in reps)
    exp = sum(r["expected"] for r in reps)
    lost = sum(r["lost"] for r in reps)
    span = max(r["end_time_s"] for r in reps) - min(r["start_time_s"] for r in reps)
    by = sum(r["bytes"] for r in reps)
    thr = by * 8 / span / 1000.0 if span > 0 else 0.0
    delay = sum(r["paper"]["delay_ms"] * r["packets"] for r in reps) / pk if pk else 0.0
    jit = sum(r["paper"]["jitter_ms"] * r["packets"] for r in reps) / pk if pk else 0.0
    loss_pct = lost * 100.0 / exp if exp else 0.0
    mos = [r["mos"] for r in reps if r.get("mos") is not None]
    return {
        "streams": len(reps), "packets": pk, "expected": exp, "lost": lost,
        "throughput_kbps": round(thr, 3), "delay_ms": round(delay, 3), "jitter_ms": round(jit, 3),
        "packet_loss_pct": round(loss_pct, 3),
        "rfc3550_mean_jitter_ms": round(sum((r["mean_jitter_ms"] or 0.0) * r["packets"] for r in reps) / pk, 3) if pk else 0.0,
        "rfc3550_max_jitter_ms": max((r["max_jitter_ms"] or 0.0) for r in reps),
        "one_way_delay_ms": one_way,
        "mos_min": min(mos) if mos else None, "mos_mean": round(sum(mos) / len(mos), 2) if mos else None,
        "tiphon": tiphon(delay, jit, max(loss_pct, 0.0)),
    }


def analyze(path, rtp_heuristic=False, delay_ms=None, dest=None):
    """Analyse a capture; returns the report dict (calls, registrations, streams, summary)."""
    eng = Engine(rtp_heuristic=rtp_heuristic)
    eng.run(path)
    streams = [stream_report(st, eng, delay_ms) for st in sorted(eng.streams.values(), key=lambda st: st.first_frame)]
    calls = eng.sip.call_reports()
    by_call = {}
    for s in streams:
        if s["call_id"]:
            by_call.setdefault(s["call_id"], []).append(s)
    for c in calls:
        reps = by_call.get(c["call_id"], [])
        c["streams"] = ["%s>%s %s" % (s["src"], s["dst"], s["ssrc"]) for s in reps]
        c["media"] = {}
        for kind in ("audio", "video"):
            agg = aggregate_streams([s for s in reps if s["media"] == kind])
            if agg:
                c["media"][kind] = agg
        c["qos"] = aggregate_streams(reps)
    summary = {
        "capture": os.path.basename(path),
        "frames": eng.frames,
        "udp_packets": eng.udp,
        "sip_messages": eng.sip.messages,
        "duration_s": round((eng.last_ns - eng.first_ns) / 1e9, 6) if eng.frames else 0.0,
        "calls": len(calls),
        "calls_answered": sum(1 for c in calls if c["answered"]),
        "streams": len(streams),
        "skipped": eng.counters.as_dict(),
        "rtp_heuristic": bool(rtp_heuristic),
        "e_model_r0": R_DEFAULT,
        "by_media": {},
    }
    for kind in ("audio", "video"):
        agg = aggregate_streams([s for s in streams if s["media"] == kind])
        if agg:
            summary["by_media"][kind] = agg
    summary["overall"] = aggregate_streams(streams)
    report = {"calls": calls, "registrations": eng.sip.registration_reports(), "streams": streams, "summary": summary}
    if dest:
        write_report(report, dest)
    return report


STREAM_CSV = ("src", "dst", "ssrc", "payload_type", "codec", "clock_rate", "media", "call_id", "packets", "expected",
              "lost", "loss_pct", "seq_errors", "min_delta_ms", "mean_delta_ms", "max_delta_ms", "mean_jitter_ms",
              "max_jitter_ms", "bitrate_kbps", "duration_s", "r_factor", "mos")
CALL_CSV = ("call_id", "caller", "callee", "final_status", "answered", "setup_ringing_ms", "setup_answer_ms",
            "duration_s")


def write_report(report, dest):
    try:
        if not os.path.isdir(dest):
            os.makedirs(dest)
        with open(os.path.join(dest, "qos.json"), "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)
        with open(os.path.join(dest, "streams.csv"), "w") as f:
            w = csv.writer(f)
            w.writerow(STREAM_CSV + ("throughput_kbps", "delay_ms", "jitter_ms", "packet_loss_pct", "tiphon_index"))
            for s in report["streams"]:
                p = s["paper"]
                w.writerow([s[k] for k in STREAM_CSV] + [p["throughput_kbps"], p["delay_ms"], p["jitter_ms"],
                                                         p["packet_loss_pct"], s["tiphon"]["index"]])
        with open(os.path.join(dest, "calls.csv"), "w") as f:
            w = csv.writer(f)
            w.writerow(CALL_CSV)
            for c in report["calls"]:
                w.writerow([c[k] for k in CALL_CSV])
        with open(os.path.join(dest, "registrations.csv"), "w") as f:
            w = csv.writer(f)
            w.writerow(("user", "attempts", "challenged", "succeeded", "failed"))
            for r in report["registrations"]:
                w.writerow([r["user"], r["attempts"], r["challenged"], r["succeeded"], r["failed"]])
        with open(os.path.join(dest, "series.csv"), "w") as f:
            w = csv.writer(f)
            w.writerow(("src", "dst", "ssrc", "second", "packets", "bitrate_kbps", "max_jitter_ms", "lost"))
            for s in report["streams"]:
                for row in s["series"]:
                    w.writerow((s["src"], s["dst"], s["ssrc"], row["second"], row["packets"], row["bitrate_kbps"],
                                row["max_jitter_ms"], row["lost"]))
    except (IOError, OSError) as exc:
        raise QosError("cannot write the report to %s: %s" % (dest, exc))
