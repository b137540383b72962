# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RTP stream statistics computed the way Wireshark's RTP stream analysis (tshark -z rtp,streams) does.

The state machine follows the behaviour of Wireshark 4.0's RTP analysis tap, verified against
tshark 4.0 on generated and real captures:

* a packet is "in time sequence" when its RTP timestamp is within half the 32-bit range after
  the stream's first timestamp; only such packets move the reference (arrival time and RTP
  timestamp) that the next delta and jitter are measured from, and only they update the jitter;
* jitter is RFC 3550's J += (|D| - J)/16 in milliseconds, with the clock divisor
  ``clock_rate // 1000`` (integer, as in the C code: 44.1 kHz counts as 44);
* min/max/mean delta and jitter use "regular" packets only: not the first, not marker-bit
  packets, not comfort noise or the packet following it, not wrong-timestamp packets; the
  means are Wireshark's running means, divided by the packet count so far (so skipped packets
  weigh in, exactly as tshark prints them);
* expected = last sequence number + 65536 x wraps - first + 1, lost = expected - received
  (negative when duplicates outnumber losses).
"""

import struct

PT_CN = 13
PT_CN_OLD = 19

# Static payload types: (name, clock rate, media) - names as Wireshark prints them.
STATIC_PT = {
    0: ("g711U", 8000, "audio"), 1: ("fs-1016", 8000, "audio"), 2: ("g721", 8000, "audio"),
    3: ("GSM", 8000, "audio"), 4: ("g723", 8000, "audio"), 5: ("DVI4 8k", 8000, "audio"),
    6: ("DVI4 16k", 16000, "audio"), 7: ("Exp. from Xerox PARC", 8000, "audio"), 8: ("g711A", 8000, "audio"),
    9: ("g722", 8000, "audio"), 10: ("16-bit audio, stereo", 44100, "audio"),
    11: ("16-bit audio, monaural", 44100, "audio"), 12: ("Qualcomm", 8000, "audio"),
    13: ("Comfort noise", 8000, "audio"), 14: ("MPEG-I/II Audio", 90000, "audio"), 15: ("g728", 8000, "audio"),
    16: ("DVI4 11k", 11025, "audio"), 17: ("DVI4 22k", 22050, "audio"), 18: ("g729", 8000, "audio"),
    19: ("Comfort noise(old)", 8000, "audio"), 25: ("CellB", 90000, "video"), 26: ("JPEG", 90000, "video"),
    28: ("NV", 90000, "video"), 31: ("h261", 90000, "video"), 32: ("MPEG-I/II Video", 90000, "video"),
    33: ("MPEG-II transport streams", 90000, "video"), 34: ("h263", 90000, "video"),
}

# Clock rates of dynamic payload formats by MIME subtype (prefix match, longest first).
MIME_CLOCK = (
    ("AMR", 8000), ("AMR-WB", 16000), ("BMPEG", 90000), ("BT656", 90000), ("DV", 90000), ("EVRC", 8000),
    ("EVRC0", 8000), ("EVRC1", 8000), ("EVRCB", 8000), ("EVRCB0", 8000), ("EVRCB1", 8000), ("EVRCWB", 16000),
    ("EVRCWB0", 16000), ("EVRCWB1", 16000), ("EVS", 16000), ("G7221", 16000), ("G726-16", 8000),
    ("G726-24", 8000), ("G726-32", 8000), ("G726-40", 8000), ("G729D", 8000), ("G729E", 8000),
    ("GSM-EFR", 8000), ("H263-1998", 90000), ("H263-2000", 90000), ("H264", 90000), ("MP1S", 90000),
    ("MP2P", 90000), ("MP4V-ES", 90000), ("mpa-robust", 90000), ("opus", 48000), ("pointer", 90000),
    ("raw", 90000), ("red", 1000), ("SMV", 8000), ("SMV0", 8000), ("t140", 1000), ("telephone-event", 8000),
)
VIDEO_NAMES = ("H26", "VP8", "VP9", "AV1", "MP4V", "JPEG", "THEORA", "RAW", "BMPEG", "BT656", "DV", "MP1S", "MP2P", "POINTER")


def mime_clock(name):
    low = name.lower()
    for mime, clock in reversed(MIME_CLOCK):
        if low.startswith(mime.lower()):
            return clock
    return 0


def clock_for(pt, name, rate):
    """Clock rate Wireshark uses for jitter: static table, else rtpmap rate, else MIME table; 0 = none."""
    if pt < 96:
        entry = STATIC_PT.get(pt)
        return entry[1] if entry else 0
    if name is None:
        return 0
    if name.lower().startswith("telephone-event"):
        return 0
    if rate:
        return rate
    return mime_clock(name)


def media_kind(pt, name, sdp_media=None):
    if sdp_media in ("audio", "video"):
        return sdp_media
    if pt < 96 and pt in STATIC_PT:
        return STATIC_PT[pt][2]
    if name:
        up = name.upper()
        for v in VIDEO_NAMES:
            if up.startswith(v):
                return "video"
        return "audio"
    return "unknown"


class RtpStream:
    """One RTP stream (addresses, ports, SSRC). Constant memory apart from per-second series."""

    __slots__ = (
        "batch",
        "bytes",
        "call_id",
        "clock_rate",
        "clocks",
        "cur_bucket",
        "cur_sec",
        "cycles",
        "delta",
        "dst",
        "first_frame",
        "first_pt",
        "first_t",
        "first_ts",
        "frames",
        "jitter",
        "key",
        "last_t",
        "markers",
        "max_delta",
        "max_jitter",
        "max_ts",
        "mean_delta",
        "mean_jitter",
        "min_delta",
        "min_jitter",
        "n_abs_diff",
        "overhead",
        "payload_bytes",
        "prev_transit_delta",
        "problem",
        "pt",
        "ptmap",
        "pts",
        "sdp_media",
        "seq_num",
        "seq_ts",
        "sequence",
        "series",
        "setup_frame",
        "src",
        "ssrc",
        "start_seq",
        "stop_seq",
        "sum_abs_diff",
        "time",
        "total_nr",
        "under",
        "v6",
        "wrong_ts",
    )

    def __init__(self, key, src, dst, ssrc, v6, ptmap=None, sdp_media=None, call_id=None, setup_frame=None):
        self.key = key
        self.batch = []  # packets waiting for add_batch: (t_ns, seq, ts, byte1, size)
        self.first_frame = 0
        self.src, self.dst, self.ssrc, self.v6 = src, dst, ssrc, v6
        self.ptmap = ptmap or {}
        self.sdp_media = sdp_media
        self.call_id = call_id
        self.setup_frame = setup_frame
        self.total_nr = 0
        self.start_seq = self.stop_seq = self.seq_num = 0
        self.first_ts = self.seq_ts = 0
        self.time = 0.0
        self.jitter = self.delta = 0.0
        self.max_delta = 0.0
        self.min_delta = -1.0
        self.mean_delta = 0.0
        self.max_jitter = 0.0
        self.min_jitter = -1.0
        self.mean_jitter = 0.0
        self.sequence = 0
        self.cycles = 0
        self.under = False
        self.pt = 0
        self.first_pt = 0
        self.problem = False
        self.clock_rate = 0
        self.clocks = {}
        self.pts = {}
        self.first_t = self.last_t = 0.0
        self.bytes = 0
        self.payload_bytes = 0
        self.frames = 0
        self.max_ts = 0
        self.markers = 0
        self.wrong_ts = 0
        self.series = {}
        self.sum_abs_diff = 0.0
        self.n_abs_diff = 0
        self.prev_transit_delta = None
        self.overhead = 48 if v6 else 28
        self.cur_sec = None
        self.cur_bucket = None

    def _clock(self, pt):
        c = self.clocks.get(pt)
        if c is None:
            name, rate = self.ptmap.get(pt, (None, 0))
            c = clock_for(pt, name, rate)
            self.clocks[pt] = c
        return c

    def add_batch(self, items, first_ns):
        """Account RTP packets in arrival order: items of (t_ns, seq, ts, byte1, size), size = RTP bytes.

        The state machine is Wireshark's (see the module doc). It runs on local variables and
        stores the state back once per batch: this loop is the engine's hot path.
        """
        if not items:
            return
        total_nr = self.total_nr
        i0 = 0
        if total_nr == 0:
            t_ns, seq, ts, b1, size = items[0]
            t = (t_ns - first_ns) / 1e6
            pt = b1 & 0x7F
            self.start_seq = self.stop_seq = self.seq_num = seq
            self.first_ts = self.seq_ts = self.max_ts = ts
            self.time = self.first_t = t
            self.pt = self.first_pt = pt
            self.frames = 1
            self._clock(pt)
            self._account_first(t, size, b1)
            total_nr = self.total_nr = 1
            i0 = 1
            if len(items) == 1:
                return
        overhead = self.overhead
        nbytes = self.bytes
        pts = self.pts
        clocks = self.clocks
        series = self.series
        cur_sec = self.cur_sec
        bucket = self.cur_bucket
        markers = self.markers
        first_ts = self.first_ts
        start = self.start_seq
        stop_seq = self.stop_seq
        sn = self.seq_num
        seq_ts = self.seq_ts
        max_ts = self.max_ts
        frames = self.frames
        cycles = self.cycles
        under = self.under
        wrong_ts = self.wrong_ts
        sequence = self.sequence
        problem = self.problem
        prev_pt = self.pt
        clock_rate = self.clock_rate
        time_ = self.time
        jitter = self.jitter
        delta = self.delta
        max_delta = self.max_delta
        min_delta = self.min_delta
        mean_delta = self.mean_delta
        max_jitter = self.max_jitter
        min_jitter = self.min_jitter
        mean_jitter = self.mean_jitter
        sum_abs_diff = self.sum_abs_diff
        n_abs_diff = self.n_abs_diff
        t = self.last_t
        # runs of packets with the same second byte (payload type + marker) share the lookups
        last_b1 = -1
        run = 0
        clock = div = 0
        steady = regular = False
        # the current per-second bucket, kept in locals and written back when the second changes
        lo = hi = 0.0
        if bucket is not None:
            lo = cur_sec * 1000.0
            hi = lo + 1000.0
        bcount = bbytes = 0
        bjit = bucket[2] if bucket is not None else 0.0
        for t_ns, seq, ts, b1, size in (items[1:] if i0 else items):
            t = (t_ns - first_ns) / 1e6
            if b1 == last_b1:
                run += 1
                regular = steady
            else:
                if run:
                    pts[last_b1 & 0x7F] = pts.get(last_b1 & 0x7F, 0) + run
                    if last_b1 & 0x80:
                        markers += run
                last_b1 = b1
                run = 1
                pt = b1 & 0x7F
                clock = clocks.get(pt)
                if clock is None:
                    clock = self._clock(pt)
                div = clock // 1000
                steady = not (b1 & 0x80 or pt == 13 or pt == 19)
                regular = steady and prev_pt != 13 and prev_pt != 19
                prev_pt = pt
            if not lo <= t < hi:
                if bcount:
                    bucket[0] += bcount
                    bbytes += bcount * overhead
                    bucket[1] += bbytes
                    nbytes += bbytes
                    bucket[2] = bjit
                    bucket[3] = cycles * 65536 + stop_seq - start + 1
                cur_sec = int(t // 1000.0)
                lo = cur_sec * 1000.0
                hi = lo + 1000.0
                bucket = series.get(cur_sec)
                if bucket is None:
                    bucket = series[cur_sec] = [0, 0, 0.0, 0, 0]
                bcount = bbytes = 0
                bjit = bucket[2]
            bcount += 1
            bbytes += size
            if ((ts - first_ts) & 0xFFFFFFFF) < 0x80000000:
                if not under:
                    if seq < start or (seq == 0 and stop_seq == 65535):
                        cycles += 1
                        under = True
                elif seq > start:
                    under = False
                if ((ts - max_ts) & 0xFFFFFFFF) < 0x80000000 and ts != max_ts:
                    max_ts = ts
                    frames += 1
                if sn + 1 == seq or (sn == 65535 and seq == 0):
                    sn = seq
                elif sn + 1 < seq or sn - seq > 0xFF00:
                    sn = seq
                    sequence += 1
                    problem = True
                else:
                    sequence += 1
                    problem = True
                if clock:
                    clock_rate = clock
                    nd = (ts - seq_ts) & 0xFFFFFFFF
                    if nd >= 0x80000000:
                        nd -= 0x100000000
                    diff = t - (time_ + nd / div)
                    if diff < 0:
                        diff = -diff
                    jitter = (15 * jitter + diff) / 16
                    sum_abs_diff += diff
                    n_abs_diff += 1
                delta = t - time_
                if regular:
                    n = total_nr
                    if delta > max_delta:
                        max_delta = delta
                    if min_delta == -1 or delta < min_delta:
                        min_delta = delta
                    mean_delta = (mean_delta * (n - 1) + delta) / n
                    if clock:
                        if jitter > max_jitter:
                            max_jitter = jitter
                        mean_jitter = (mean_jitter * (n - 1) + jitter) / n
                        if min_jitter == -1 or jitter < min_jitter:
                            min_jitter = jitter
                time_ = t
                seq_ts = ts
            else:
                wrong_ts += 1
                problem = True
                if sn + 1 > seq:
                    sequence += 1
            stop_seq = seq
            total_nr += 1
            if jitter > bjit:
                bjit = jitter
        if bcount:
            bucket[0] += bcount
            bbytes += bcount * overhead
            bucket[1] += bbytes
            nbytes += bbytes
            bucket[2] = bjit
            bucket[3] = cycles * 65536 + stop_seq - start + 1
        if run:
            pts[last_b1 & 0x7F] = pts.get(last_b1 & 0x7F, 0) + run
            if last_b1 & 0x80:
                markers += run
        self.total_nr = total_nr
        self.bytes = nbytes
        self.last_t = t
        self.cur_sec = cur_sec
        self.cur_bucket = bucket
        self.markers = markers
        self.stop_seq = stop_seq
        self.seq_num = sn
        self.seq_ts = seq_ts
        self.max_ts = max_ts
        self.frames = frames
        self.cycles = cycles
        self.under = under
        self.wrong_ts = wrong_ts
        self.sequence = sequence
        self.problem = problem
        self.pt = prev_pt
        self.clock_rate = clock_rate
        self.time = time_
        self.jitter = jitter
        self.delta = delta
        self.max_delta = max_delta
        self.min_delta = min_delta
        self.mean_delta = mean_delta
        self.max_jitter = max_jitter
        self.min_jitter = min_jitter
        self.mean_jitter = mean_jitter
        self.sum_abs_diff = sum_abs_diff
        self.n_abs_diff = n_abs_diff

    def _account_first(self, t, size, b1):
        """Bytes, payload-type count, marker and per-second bucket of a stream's first packet."""
        size += self.overhead
        self.bytes += size
        self.last_t = t
        pt = b1 & 0x7F
        self.pts[pt] = self.pts.get(pt, 0) + 1
        if b1 & 0x80:
            self.markers += 1
        sec = int(t // 1000.0)
        bucket = self.series.get(sec)
        if bucket is None:
            bucket = self.series[sec] = [0, 0, 0.0, 0, 0]
        self.cur_sec = sec
        self.cur_bucket = bucket
        bucket[0] += 1
        bucket[1] += size
        bucket[3] = 0
        bucket[4] = 1

    # ------------------------------------------------------------------ results
    def expected(self):
        return self.stop_seq + self.cycles * 65536 - self.start_seq + 1

    def payload_name(self):
        names = []
        for pt in sorted(self.pts, key=lambda p: -self.pts[p]):
            name = self.ptmap.get(pt, (None, 0))[0]
            if name is None:
                name = STATIC_PT[pt][0] if pt in STATIC_PT else "Unknown(%d)" % pt
            names.append(name)
        return names

    def main_pt(self):
        best = None
        for pt, cnt in self.pts.items():
            if pt in (PT_CN, PT_CN_OLD):
                continue
            name = self.ptmap.get(pt, (None, 0))[0]
            if name and name.lower().startswith("telephone-event") and len(self.pts) > 1:
                continue
            if best is None or cnt > self.pts[best]:
                best = pt
        return self.first_pt if best is None else best

    def per_second(self, capture_start_ms=0.0):
        out = []
        prev_exp = 0
        for sec in sorted(self.series):
            pk, by, jit, exp, _first = self.series[sec]
            lost = max(0, exp - prev_exp - pk) if exp else 0
            prev_exp = max(prev_exp, exp)
            out.append({"second": sec, "packets": pk, "bitrate_kbps": round(by * 8 / 1000.0, 3),
                        "max_jitter_ms": round(jit, 3), "lost": lost})
        return out


def parse_rtp(payload):
    """(seq, ts, ssrc, pt, marker) for an RTP version-2 packet, else None."""
    if len(payload) < 12 or (payload[0] >> 6) != 2:
        return None
    b1 = payload[1]
    seq, ts, ssrc = struct.unpack_from("!HII", payload, 2)
    return seq, ts, ssrc, b1 & 0x7F, b1 >> 7


def looks_like_rtcp(payload):
    return len(payload) >= 8 and (payload[0] >> 6) == 2 and 200 <= payload[1] <= 207


def parse_rtcp(payload, t_ns):
    """Report blocks of a compound RTCP packet: list of dicts (sender, ssrc, fraction_lost, cum_lost,
    jitter_units, lsr, dlsr, arrival_ntp_mid) and SR info."""
    out = []
    pos = 0
    n = len(payload)
    secs = t_ns // 1000000000
    frac = (t_ns % 1000000000) * 65536 // 1000000000
    ntp_mid = (((secs + 2208988800) & 0xFFFF) << 16) | frac
    while pos + 8 <= n:
        b0, ptype, length = struct.unpack_from("!BBH", payload, pos)
        if (b0 >> 6) != 2:
            break
        count = b0 & 0x1F
        end = pos + 4 * (length + 1)
        if end > n:
            break
        sender = struct.unpack_from("!I", payload, pos + 4)[0]
        blocks_at = None
        if ptype == 200:
            blocks_at = pos + 28
            out.append({"type": "SR", "sender": sender})
        elif ptype == 201:
            blocks_at = pos + 8
            out.append({"type": "RR", "sender": sender})
        elif ptype == 207:
            out.append({"type": "XR", "sender": sender})
        if blocks_at is not None:
            for i in range(count):
                b = blocks_at + 24 * i
                if b + 24 > end:
                    break
                ssrc, fl_cum, _ehsn, jit, lsr, dlsr = struct.unpack_from("!IIIIII", payload, b)
                cum = fl_cum & 0xFFFFFF
                if cum & 0x800000:
                    cum -= 0x1000000
                rtt = None
                if lsr:
                    r = (ntp_mid - lsr - dlsr) & 0xFFFFFFFF
                    if r < 0x80000000:
                        rtt = r * 1000.0 / 65536
                out.append({"type": "block", "sender": sender, "ssrc": ssrc, "fraction_lost": (fl_cum >> 24) / 256.0,
                            "cum_lost": cum, "jitter_units": jit, "rtt_ms": rtt})
        pos = end
    return out
