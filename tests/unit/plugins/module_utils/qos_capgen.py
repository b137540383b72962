# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Capture generator for the QoS tests: RTP streams with known impairments, SIP with SDP.

Everything here is deliberately independent of the engine under test: it writes bytes the
way a capture tool would, and computes the truth (packets, lost) the simple way.
"""

from __future__ import annotations

import random
import socket
import struct

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_SLL = 113
LINKTYPE_SLL2 = 276


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def rtp(seq, ts, ssrc, pt=8, marker=False, payload=b"", payload_len=160, csrc=0, ext=False, padding=0):
    b0 = 0x80 | (0x20 if padding else 0) | (0x10 if ext else 0) | (csrc & 0x0F)
    b1 = (0x80 if marker else 0) | (pt & 0x7F)
    hdr = struct.pack("!BBHII", b0, b1, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)
    hdr += b"\x00\x00\x00\x01" * csrc
    if ext:
        hdr += struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"
    body = payload if payload else bytes((0xD5,)) * payload_len
    if padding:
        body += b"\0" * (padding - 1) + bytes((padding,))
    return hdr + body


def ipv4_udp(src, dst, sport, dport, payload, ident=0, frag=None, ttl=64):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    flags_frag = 0
    if frag is not None:
        more, offset8 = frag
        flags_frag = (0x2000 if more else 0) | offset8
    total = 20 + len(udp)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident & 0xFFFF, flags_frag, ttl, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return hdr + udp


def ipv4_tcp(src, dst, sport, dport, payload, seq=1):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 0x50, 0x18, 65535, 0, 0) + payload
    total = 20 + len(tcp)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return hdr + tcp


def ipv6_udp(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!IHBB16s16s", 0x60000000, len(udp), 17, 64,
                      socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst))
    return hdr + udp


def link(ip_packet, linktype=LINKTYPE_ETHERNET, vlan=None):
    v6 = (ip_packet[0] >> 4) == 6
    etype = 0x86DD if v6 else 0x0800
    if linktype == LINKTYPE_ETHERNET:
        src_mac = b"\x02\x00\x00\x00\x00\x01"
        dst_mac = b"\x02\x00\x00\x00\x00\x02"
        if vlan is not None:
            return dst_mac + src_mac + struct.pack("!HHH", 0x8100, vlan & 0x0FFF, etype) + ip_packet
        return dst_mac + src_mac + struct.pack("!H", etype) + ip_packet
    if linktype == LINKTYPE_SLL:
        return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00", etype) + ip_packet
    if linktype == LINKTYPE_SLL2:
        return struct.pack("!HHIHBB8s", etype, 0, 2, 1, 0, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00") + ip_packet
    if linktype == LINKTYPE_RAW:
        return ip_packet
    raise ValueError(f"unsupported link type {linktype!r}")


def write_pcap(path, frames, linktype=LINKTYPE_ETHERNET, endian="<", nanos=False, snaplen=65535):
    """frames: iterable of (time_seconds_float_or_(sec, frac), bytes[, orig_len])."""
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    div = 1000000000 if nanos else 1000000
    with open(path, "wb") as f:
        f.write(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for item in frames:
            t, data = item[0], item[1]
            orig = item[2] if len(item) > 2 else len(data)
            if isinstance(t, tuple):
                sec, frac = t
            else:
                sec = int(t)
                frac = round((t - sec) * div)
                if frac >= div:
                    sec, frac = sec + 1, frac - div
            f.write(struct.pack(endian + "IIII", sec, frac, len(data), orig))
            f.write(data)


def _pad4(b):
    return b + b"\0" * ((4 - len(b) % 4) % 4)


def write_pcapng(path, frames, interfaces=((LINKTYPE_ETHERNET, 6),)):
    """frames: iterable of (t, bytes, interface_id). interfaces: (linktype, tsresol exponent)."""
    with open(path, "wb") as f:
        shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        f.write(struct.pack("<II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body + struct.pack("<I", 12 + len(shb_body)))
        for lt, res in interfaces:
            opts = struct.pack("<HHB", 9, 1, res) + b"\0\0\0" + struct.pack("<HH", 0, 0)
            body = struct.pack("<HHI", lt, 0, 0) + opts
            f.write(struct.pack("<II", 1, 12 + len(body)) + body + struct.pack("<I", 12 + len(body)))
        for t, data, ifid in frames:
            res = interfaces[ifid][1]
            units = round(t * (10 ** res))
            body = struct.pack("<IIIII", ifid, units >> 32, units & 0xFFFFFFFF, len(data), len(data)) + _pad4(data)
            f.write(struct.pack("<II", 6, 12 + len(body)) + body + struct.pack("<I", 12 + len(body)))


class Stream:
    """One RTP stream with chosen impairments; .packets() gives (time, rtp bytes) in arrival order."""

    def __init__(self, src, dst, n, start=0.0, ptime=0.02, clock=8000, pt=8, ssrc=0x11223344, seq0=1000, ts0=160000,
                 loss=(), dup=(), reorder=(), jitter_ms=0.0, markers=(), ts_jumps=None, payload_len=160, seed=1,
                 frame_packets=1):
        self.src, self.dst = src, dst
        self.n, self.start, self.ptime, self.clock, self.pt = n, start, ptime, clock, pt
        self.ssrc, self.seq0, self.ts0 = ssrc, seq0, ts0
        self.loss, self.dup, self.reorder = set(loss), set(dup), set(reorder)
        self.jitter_ms, self.markers = jitter_ms, set(markers)
        self.ts_jumps = ts_jumps or {}
        self.payload_len = payload_len
        self.rng = random.Random(seed)
        self.frame_packets = frame_packets

    def packets(self):
        out = []
        ts_step = round(self.ptime * self.clock)
        extra_ts = 0
        for i in range(self.n):
            extra_ts += self.ts_jumps.get(i, 0)
            frame = i // self.frame_packets
            t = self.start + frame * self.ptime + (self.rng.uniform(0, self.jitter_ms) / 1000.0 if self.jitter_ms else 0.0)
            t += (i % self.frame_packets) * 0.0001
            if i in self.loss:
                continue
            marker = i in self.markers or (self.frame_packets > 1 and i % self.frame_packets == self.frame_packets - 1)
            pkt = rtp(self.seq0 + i, self.ts0 + frame * ts_step + extra_ts, self.ssrc, self.pt, marker, payload_len=self.payload_len)
            out.append([t, pkt, i])
            if i in self.dup:
                out.append([t + 0.0002, pkt, i])
        for i in sorted(self.reorder):
            # swap arrival times of packet i and i+1 (both present)
            a = [k for k, p in enumerate(out) if p[2] == i]
            b = [k for k, p in enumerate(out) if p[2] == i + 1]
            if a and b:
                out[a[0]][0], out[b[0]][0] = out[b[0]][0], out[a[0]][0]
        out.sort(key=lambda p: p[0])
        return [(p[0], p[1]) for p in out]

    def truth(self):
        received = self.n - len(self.loss) + len(self.dup - self.loss)
        return {"packets": received, "expected": self.n, "lost": self.n - received}


SDP_TEMPLATE = ("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
                "m=audio {port} RTP/AVP {pts}\r\n{rtpmaps}")


def sdp(ip, port, pts=(8, 101), rtpmaps=None, video=None):
    maps = rtpmaps if rtpmaps is not None else {8: "PCMA/8000", 101: "telephone-event/8000"}
    lines = "".join("a=rtpmap:%d %s\r\n" % (k, v) for k, v in sorted(maps.items()) if k in pts)
    body = SDP_TEMPLATE.format(ip=ip, port=port, pts=" ".join(str(p) for p in pts), rtpmaps=lines)
    if video:
        vport, vpt, vname = video
        body += "m=video %d RTP/AVP %d\r\na=rtpmap:%d %s\r\n" % (vport, vpt, vpt, vname)
    return body


def sip_request(method, ruri, from_user, to_user, call_id, cseq, domain="example.test", body="", to_tag=None, extra=""):
    lines = [
        f"{method} {ruri} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK%s%d" % (call_id[:6], cseq),
        "Max-Forwards: 70",
        f"From: <sip:{from_user}@{domain}>;tag=f{call_id[:4]}",
        "To: <sip:{}@{}>{}".format(to_user, domain, (";tag=" + to_tag) if to_tag else ""),
        f"Call-ID: {call_id}",
        "CSeq: %d %s" % (cseq, method),
        f"Contact: <sip:{from_user}@192.0.2.10:5060>",
    ]
    if extra:
        lines.append(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append("Content-Length: %d" % len(body.encode()))
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def sip_response(code, reason, method, from_user, to_user, call_id, cseq, domain="example.test", body="", to_tag="t1", extra=""):
    lines = [
        "SIP/2.0 %d %s" % (code, reason),
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK%s%d" % (call_id[:6], cseq),
        f"From: <sip:{from_user}@{domain}>;tag=f{call_id[:4]}",
        f"To: <sip:{to_user}@{domain}>;tag={to_tag}",
        f"Call-ID: {call_id}",
        "CSeq: %d %s" % (cseq, method),
    ]
    if extra:
        lines.append(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append("Content-Length: %d" % len(body.encode()))
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def call_frames(call_id, caller_ip, callee_ip, caller_port, callee_port, start, duration, streams=True, n_override=None,
                caller="alice", callee="bob", proxy_ip="192.0.2.1", ptime=0.02, pt=8, loss_fwd=(), seed=1,
                ssrc_base=0x1000, video=None, setup_180=0.05, setup_200=0.5):
    """A whole call: INVITE/100/180/200/ACK, RTP both ways, BYE/200. Returns (frames, [Stream])."""
    frames = []

    def sipf(t, src, dst, payload):
        frames.append((t, ipv4_udp(src, dst, 5060, 5060, payload)))

    offer = sdp(caller_ip, caller_port, video=video and (video[0], video[1], video[2]))
    answer = sdp(callee_ip, callee_port, video=video and (video[3], video[1], video[2]))
    sipf(start, caller_ip, proxy_ip, sip_request("INVITE", f"sip:{callee}@example.test", caller, callee, call_id, 1, body=offer))
    sipf(start + 0.001, proxy_ip, caller_ip, sip_response(100, "Trying", "INVITE", caller, callee, call_id, 1, to_tag=None))
    sipf(start + setup_180, proxy_ip, caller_ip, sip_response(180, "Ringing", "INVITE", caller, callee, call_id, 1))
    sipf(start + setup_200, proxy_ip, caller_ip, sip_response(200, "OK", "INVITE", caller, callee, call_id, 1, body=answer))
    sipf(start + setup_200 + 0.01, caller_ip, proxy_ip, sip_request("ACK", f"sip:{callee}@example.test", caller, callee, call_id, 1, to_tag="t1"))
    media_start = start + setup_200 + 0.02
    n = n_override if n_override is not None else int(duration / ptime)
    out_streams = []
    if streams:
        s1 = Stream(caller_ip, callee_ip, n, start=media_start, ptime=ptime, pt=pt, ssrc=ssrc_base + 1, loss=loss_fwd, seed=seed)
        s2 = Stream(callee_ip, caller_ip, n, start=media_start + 0.003, ptime=ptime, pt=pt, ssrc=ssrc_base + 2, seed=seed + 1)
        for s, (sip_, dip, sp, dp) in ((s1, (caller_ip, callee_ip, caller_port, callee_port)), (s2, (callee_ip, caller_ip, callee_port, caller_port))):
            for t, p in s.packets():
                frames.append((t, ipv4_udp(sip_, dip, sp, dp, p)))
            out_streams.append(s)
    end = media_start + n * ptime + 0.05
    sipf(end, caller_ip, proxy_ip, sip_request("BYE", f"sip:{callee}@example.test", caller, callee, call_id, 2, to_tag="t1"))
    sipf(end + 0.01, proxy_ip, caller_ip, sip_response(200, "OK", "BYE", caller, callee, call_id, 2))
    frames.sort(key=lambda f: f[0])
    return frames, out_streams


def register_frames(user, call_id, start, ok=True, ip="192.0.2.20"):
    frames = []
    frames.append((start, ipv4_udp(ip, "192.0.2.1", 5060, 5060, sip_request("REGISTER", "sip:example.test", user, user, call_id, 1))))
    frames.append((start + 0.01, ipv4_udp("192.0.2.1", ip, 5060, 5060, sip_response(
        401, "Unauthorized", "REGISTER", user, user, call_id, 1, extra='WWW-Authenticate: Digest realm="example.test", nonce="abc"'))))
    frames.append((start + 0.02, ipv4_udp(ip, "192.0.2.1", 5060, 5060, sip_request(
        "REGISTER", "sip:example.test", user, user, call_id, 2, extra=f'Authorization: Digest username="{user}"'))))
    code, reason = (200, "OK") if ok else (403, "Forbidden")
    frames.append((start + 0.03, ipv4_udp("192.0.2.1", ip, 5060, 5060, sip_response(code, reason, "REGISTER", user, user, call_id, 2))))
    return frames


def stream_frames(stream, sport=40000, dport=40002, v6=False):
    out = []
    for t, p in stream.packets():
        ip = ipv6_udp(stream.src, stream.dst, sport, dport, p) if v6 else ipv4_udp(stream.src, stream.dst, sport, dport, p)
        out.append((t, ip))
    return out


def ethernet_frames(frames, linktype=LINKTYPE_ETHERNET, vlan=None):
    return [(t, link(ip, linktype, vlan)) for t, ip in frames]


def write_g711_calls(path, packets, calls, seed=7, loss=0.005, jitter_s=0.004, dup=0.0, reorder=0.0, marker=0.0,
                     seq0=None, waves=1):
    """A long capture of G.711 calls (SIP + SDP, 20 ms packets both ways), written as it is generated:
    memory stays small whatever the number of packets. Returns the number of RTP packets written.

    loss/dup/reorder/marker are per-packet probabilities; seq0 forces every stream's first sequence
    number (near 65535 to get wraps), else it is random. waves > 1 repeats the whole pattern that
    many times one after the other (new calls, new SSRCs, same addresses): `packets` per wave."""
    rng = random.Random(seed)
    rec = struct.Struct("<IIII")
    written = 0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for wave in range(waves):
            offset = wave * ((packets // (2 * calls)) * 0.02 + 2.0)
            written += _g711_wave(f, rec, rng, packets, calls, wave, offset, loss, jitter_s, dup, reorder, marker, seq0)
    return written


def _g711_wave(f, rec, rng, packets, calls, wave, offset, loss, jitter_s, dup, reorder, marker, seq0):
    per_stream = packets // (2 * calls)
    payload = b"\xd5" * 160
    eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
    sip_frames = []
    streams = []
    tag = "" if wave == 0 else "w%d-" % wave
    for c in range(calls):
        a_ip, b_ip = "10.%d.%d.1" % (1 + c // 200, c % 200), "10.%d.%d.2" % (100 + c // 200, c % 200)
        a_port, b_port = 20000 + 2 * c, 40000 + 2 * c
        start = offset + c * 0.01
        frames, _media = call_frames("bench-%s%d@example.test" % (tag, c), a_ip, b_ip, a_port, b_port, start, 0,
                                     streams=False, n_override=per_stream)
        sip_frames.extend(frames)
        media_start = start + 0.52
        base = 0x1000 + 0x10000 * wave + 2 * c
        for (sip, dip, sp, dp, ssrc) in ((a_ip, b_ip, a_port, b_port, base), (b_ip, a_ip, b_port, a_port, base + 1)):
            streams.append((sip, dip, sp, dp, ssrc, media_start + rng.random() * 0.005))
    written = 0

    def record(t, body):
        sec = int(t)
        return rec.pack(sec, int((t - sec) * 1e6), len(body), len(body)) + body

    # SIP set-up first (times are before the media), then media interleaved by time, then the BYEs.
    setup_end = offset + 0.6 + calls * 0.01
    for t, ip in sorted(f_ for f_ in sip_frames if f_[0] < setup_end):
        f.write(record(t, eth + ip))
    templates = []
    for (sip, dip, sp, dp, ssrc, t0) in streams:
        ip = ipv4_udp(sip, dip, sp, dp, b"\0" * 172)
        templates.append((eth + ip[:28], ssrc, t0))
    first_seq = {s[1]: (seq0 if seq0 is not None else rng.randrange(65536)) for s in templates}
    chunk = []
    held = {}
    for i in range(per_stream):
        for hdr, ssrc, t0 in templates:
            if rng.random() < loss:
                continue
            t = t0 + i * 0.02 + rng.random() * jitter_s
            b1 = 0x88 if marker and rng.random() < marker else 8
            body = hdr + struct.pack("!BBHII", 0x80, b1, (first_seq[ssrc] + i) & 0xFFFF, i * 160, ssrc) + payload
            if reorder and rng.random() < reorder and ssrc not in held:
                held[ssrc] = (t, body)  # sent after the next packet of this stream
                continue
            chunk.append(record(t, body))
            written += 1
            if ssrc in held:
                ht, hbody = held.pop(ssrc)
                chunk.append(record(max(t, ht) + 0.0001, hbody))
                written += 1
            if dup and rng.random() < dup:
                chunk.append(record(t + 0.0002, body))
                written += 1
        if len(chunk) > 20000:
            f.write(b"".join(chunk))
            chunk = []
    f.write(b"".join(chunk))
    for t, ip in sorted(f_ for f_ in sip_frames if f_[0] >= setup_end):
        f.write(record(t, eth + ip))
    return written
