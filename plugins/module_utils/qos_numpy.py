# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Optional numpy fast path of the QoS engine for classic pcap files.

Used only when numpy imports (the engine works without it) and NEBULAVOIP_QOS_PURE is not set.
Per block of the file (4 MiB):

1. index the records: runs of records of equal length are found with strided numpy views
   (a G.711 capture is mostly such runs), anything else is walked record by record;
2. gather the link/IPv4/UDP/RTP header fields of every record into arrays and mark the
   candidates: Ethernet, Linux cooked v1/v2 or raw IP, IPv4 without options, UDP, not a
   fragment, not a SIP port, RTP version 2, not an RTCP packet type;
3. group the candidates by stream key and ask the engine which keys are RTP now; every other
   packet (SIP, RTCP, IPv6, VLAN, fragments, anything odd) goes through the engine's exact
   per-packet code in capture order, and when one of them registers media (an SDP body), the
   keys with an end it names are asked again from that packet on - so streams start exactly
   where they do in the pure path;
4. run the stream state machine vectorised over the "clean" runs of each stream: in time
   sequence, no duplicate or late packet, no wrap of the sequence counter, no marker, no
   payload-type change, no comfort noise. The RFC 3550 jitter recursion is evaluated in
   closed form per 256-packet block; the running means in closed form per run. The packet
   that breaks a run (and a stream's first packet) goes through the exact Python state
   machine, then the next run is vectorised again (a few rounds, then the rest of the block
   is exact Python).

The figures equal the pure path's to the printed precision: the closed forms differ from the
sequential recursions by a few units in the last place (~1e-15 relative).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_pcap import LAYOUTS, MAX_RECORD

try:
    import numpy as np
    AVAILABLE = True
except ImportError:  # the pure-Python path is used
    np = None
    AVAILABLE = False

READ_SIZE = 1 << 22  # block size of the numpy path
MIN_RECORDS = 1     # blocks with fewer records go through the per-packet code
MAX_ROUNDS = 6       # vectorised runs per stream and block before the rest goes to the Python loop
JBLOCK = 256         # jitter closed form block ((16/15)**256 ~ 1.5e7, far from overflow)
_M32 = 0xFFFFFFFF
_H31 = 0x80000000


if AVAILABLE:
    _R = 15.0 / 16.0
    _J = np.arange(1, JBLOCK + 1, dtype=np.float64)
    _RP = _R ** _J                  # r^(j+1), j = 0..JBLOCK-1
    _W = (1.0 / _RP) / 16.0         # r^-(j+1) / 16
    _RB = _R ** JBLOCK


def _dtype(endian, lh, et_off):
    ip = 16 + lh
    names = ["sec", "frac", "incl", "vihl", "total", "frag", "proto", "src", "dst", "sport", "dport", "b0", "b1",
             "seq", "ts", "ssrc"]
    formats = [endian + "u4", endian + "u4", endian + "u4", "u1", ">u2", ">u2", "u1", ">u4", ">u4", ">u2", ">u2",
               "u1", "u1", ">u2", ">u4", ">u4"]
    offsets = [0, 4, 8, ip, ip + 2, ip + 6, ip + 9, ip + 12, ip + 16, ip + 20, ip + 22, ip + 28, ip + 29, ip + 30,
               ip + 32, ip + 36]
    if et_off is not None:
        names.append("et")
        formats.append(">u2")
        offsets.append(16 + et_off)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": ip + 40})


def index_records(buf, endian):
    """Offsets of the complete records in buf, the offset where the first incomplete one starts,
    and whether that one is impossibly long (corruption)."""
    u32 = struct.Struct(endian + "I").unpack_from
    dt = np.dtype(endian + "u4")
    end = len(buf)
    parts = []
    single = []
    pos = 0
    corrupt = False
    while pos + 16 <= end:
        incl = u32(buf, pos + 8)[0]
        step = 16 + incl
        if pos + step > end:
            corrupt = incl > MAX_RECORD
            break
        fit = (end - pos) // step
        if fit < 8:
            single.append(pos)
            pos += step
            continue
        run = 0
        win = 64
        while run < fit:
            w = min(win, fit - run)
            view = np.ndarray((w,), dtype=dt, buffer=buf, offset=pos + run * step + 8, strides=(step,))
            bad = np.flatnonzero(view != incl)
            if bad.size:
                run += int(bad[0])
                break
            run += w
            win *= 4
        if run < 4:
            # short runs: walk a stretch one record at a time
            for _k in range(64):
                if pos + 16 > end:
                    break
                incl = u32(buf, pos + 8)[0]
                if pos + 16 + incl > end:
                    break
                single.append(pos)
                pos += 16 + incl
            continue
        if single:
            parts.append(np.array(single, dtype=np.int64))
            single = []
        parts.append(np.arange(pos, pos + run * step, step, dtype=np.int64))
        pos += run * step
    if single:
        parts.append(np.array(single, dtype=np.int64))
    offs = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return offs, pos, corrupt


def run_pcap(eng, blocks):
    """The engine's main loop over a classic pcap file, numpy-accelerated."""
    layout = LAYOUTS.get(blocks.linktype)
    hdr = struct.Struct(blocks.endian + "IIII").unpack_from
    dtype = _dtype(blocks.endian, layout[0], layout[1]) if layout else None
    mult = blocks.mult
    blocks.read_size = READ_SIZE
    for buf in blocks:
        offs, consumed, corrupt = index_records(buf, blocks.endian)
        blocks.consumed = consumed
        blocks.corrupt = corrupt
        n = len(offs)
        if not n:
            continue
        if eng.first_ns is None:
            sec, frac = hdr(buf, int(offs[0]))[:2]
            eng.first_ns = sec * 1000000000 + frac * mult
        if layout is None or n < MIN_RECORDS or len(buf) < dtype.itemsize:
            _slow_block(eng, buf, offs.tolist(), hdr, mult, blocks.linktype)
        else:
            _fast_block(eng, buf, offs, hdr, mult, blocks.linktype, dtype, layout)
        eng.frames += n
    eng.last_ns = eng.last_ts_ns


def _slow_block(eng, buf, offs, hdr, mult, linktype):
    frame = eng.frames
    packet = eng._packet
    ts_ns = None
    for off in offs:
        frame += 1
        sec, frac, incl, _orig = hdr(buf, off)
        ts_ns = sec * 1000000000 + frac * mult
        packet(ts_ns, linktype, bytes(buf[off + 16:off + 16 + incl]), frame)
    eng.last_ts_ns = ts_ns
    eng.flush()


def _fast_block(eng, buf, offs, hdr, mult, linktype, dtype, layout):
    n = len(offs)
    width = dtype.itemsize
    u8 = np.frombuffer(buf, dtype=np.uint8)
    win = np.lib.stride_tricks.as_strided(u8, shape=(len(buf) - width + 1, width), strides=(1, 1))
    rec = win[np.minimum(offs, len(buf) - width)].view(dtype).reshape(n)
    incl = rec["incl"].astype(np.int64)
    total = rec["total"].astype(np.int64)
    sport = rec["sport"]
    dport = rec["dport"]
    b1 = rec["b1"]
    frag = rec["frag"]
    cand = ((incl >= layout[0] + 40) & (rec["vihl"] == 0x45) & (rec["proto"] == 17) & ((frag & 0x3FFF) == 0)
            & (total >= 40) & (total <= incl - layout[0]) & ((rec["b0"] & 0xC0) == 0x80) & ((b1 < 200) | (b1 > 207))
            & (sport != 5060) & (sport != 5061) & (dport != 5060) & (dport != 5061))
    if layout[1] is not None:
        cand &= rec["et"] == 0x0800
    sec = rec["sec"].astype(np.int64)
    tns = sec * 1000000000 + rec["frac"].astype(np.int64) * mult
    # (a record shorter than the dtype within its width of the block's end was read from a shifted offset:
    # its fields are not used, and the block's last time stamp comes from its own header)
    sec_l, frac_l = hdr(buf, int(offs[-1]))[:2]
    eng.last_ts_ns = sec_l * 1000000000 + frac_l * mult
    frame0 = eng.frames
    ci = np.flatnonzero(cand)
    src = rec["src"][ci].astype(np.uint64)
    dst = rec["dst"][ci].astype(np.uint64)
    k1 = (src << np.uint64(32)) | dst
    k2 = ((sport[ci].astype(np.uint64) << np.uint64(48)) | (dport[ci].astype(np.uint64) << np.uint64(32))
          | rec["ssrc"][ci].astype(np.uint64))
    table = eng.key_table
    if table is None:
        table = eng.key_table = KeyTable()
    inv = table.lookup(k1, k2)
    keys = table.keys
    ends = table.ends
    present = np.flatnonzero(np.bincount(inv, minlength=len(keys))).tolist() if ci.size else []

    ok = np.zeros(len(keys), dtype=bool)
    firm = set()  # RTP through an SDP registration: stays RTP (media registrations are never removed)
    by_end = {}   # (addr, port) -> the groups of this block with that source or destination

    def status(groups):
        """Ask the engine about these groups again; whether any answer changed."""
        changed = False
        for g in groups:
            if g not in firm:
                st = eng.rtp_status(keys[g], ends[g])
                if st == 2:
                    firm.add(g)
                if ok[g] != (st > 0):
                    ok[g] = st > 0
                    changed = True
        return changed

    def registered():
        """The groups a media registration since the last call can have changed: a key's status depends
        on the registrations of its two ends only (the cache holds SDP keys, or heuristic ones that an
        RTCP port of one of their ends turns off)."""
        if not by_end:
            for g in present:
                src, sport, dst, dport = ends[g]
                by_end.setdefault((src, sport), []).append(g)
                by_end.setdefault((dst, dport), []).append(g)
        groups = set()
        for end in eng.new_ends:
            groups.update(by_end.get(end, ()))
        del eng.new_ends[:]
        return groups

    firsts = None
    fast = np.zeros(n, dtype=bool)
    gid = np.full(n, -1, dtype=np.int64)
    gid[ci] = inv
    eng.new_ends = []
    status(present)
    fast[ci] = ok[inv]
    slot_of_group = {}
    sel_parts = []
    slot_parts = []
    slots = []
    slot_index = {}
    eng.slow_rtp = []
    pos = 0
    packet = eng._packet
    while True:
        stop = n
        slow_idx = np.flatnonzero(~fast[pos:]) + pos
        for i in slow_idx.tolist():
            version = eng.media_version
            off = int(offs[i])
            eng.cur_index = i
            sec_i, frac_i, incl_i, _orig = hdr(buf, off)
            packet(sec_i * 1000000000 + frac_i * mult, linktype, bytes(buf[off + 16:off + 16 + incl_i]), frame0 + i + 1)
            if eng.media_version != version:
                stop = i + 1
                break
        sel = np.flatnonzero(fast[pos:stop]) + pos
        if sel.size:
            gs = gid[sel]
            here = np.flatnonzero(np.bincount(gs, minlength=len(keys))).tolist()
            new = [g for g in here if g not in slot_of_group and keys[g] not in eng.cache]
            if new:
                # streams created in this range: in the order of their first packet, as the pure path does
                firsts = np.full(len(keys), n, dtype=np.int64)
                np.minimum.at(firsts, gs, sel)
                new.sort(key=firsts.__getitem__)
            for g in new + here:
                if g not in slot_of_group:
                    st = eng.stream_for(keys[g], ends[g], frame0 + int(firsts[g]) + 1 if g in new else 0)
                    if st not in slot_index:
                        slot_index[st] = len(slots)
                        slots.append(st)
                    slot_of_group[g] = slot_index[st]
            lut = np.full(len(keys), -1, dtype=np.int64)
            for g, sl in slot_of_group.items():
                lut[g] = sl
            sel_parts.append(sel)
            slot_parts.append(lut[gs])
        if stop >= n:
            break
        pos = stop
        if status(registered()):
            c0 = int(np.searchsorted(ci, pos))
            fast[ci[c0:]] = ok[inv[c0:]]
    slow_rtp = eng.slow_rtp
    eng.slow_rtp = None
    if not sel_parts:
        eng.flush()  # the packets decoded one by one, counted as UDP already
        return
    eng.slow_items = 0
    sel = np.concatenate(sel_parts)
    slot = np.concatenate(slot_parts)
    eng.udp += len(sel)
    size = total - 28
    first_ns = eng.first_ns
    if slow_rtp:
        # streams that also got packets decoded one by one in this block: merge, all exact Python
        mixed = {}
        for i, st, item in slow_rtp:
            st.batch.clear()
            mixed.setdefault(st, []).append((i, item))
        mixed_slots = np.array([slot_index[st] for st in mixed if st in slot_index], dtype=np.int64)
        if mixed_slots.size:
            m = np.isin(slot, mixed_slots)
            for j in np.flatnonzero(m).tolist():
                i = int(sel[j])
                st = slots[int(slot[j])]
                mixed[st].append((i, (int(tns[i]), int(rec["seq"][i]), int(rec["ts"][i]), int(b1[i]), int(size[i]))))
            sel = sel[~m]
            slot = slot[~m]
        for st, items in mixed.items():
            items.sort(key=lambda x: x[0])
            st.add_batch([it for _i, it in items], first_ns)
    if not sel.size:
        return
    order = np.argsort(slot, kind="stable")
    sel = sel[order]
    _kernel(slots, slot[order], tns[sel], rec["seq"][sel].astype(np.int64), rec["ts"][sel].astype(np.int64),
            b1[sel].astype(np.int64), size[sel], first_ns)


class KeyTable:
    """Stream keys seen so far, sorted by a 64-bit hash, for vectorised lookups (persistent across blocks)."""

    def __init__(self):
        self.h = np.zeros(0, dtype=np.uint64)
        self.k1 = np.zeros(0, dtype=np.uint64)
        self.k2 = np.zeros(0, dtype=np.uint64)
        self.gid = np.zeros(0, dtype=np.int64)  # sorted position -> key index
        self.keys = []   # engine stream keys
        self.ends = []   # (src, sport, dst, dport)

    @staticmethod
    def _hash(k1, k2):
        return (k1 * np.uint64(0x9E3779B97F4A7C15)) ^ k2

    def lookup(self, k1, k2):
        """Key index of each (k1, k2) pair, adding new keys."""
        if not k1.size:
            return np.zeros(0, dtype=np.int64)
        h = self._hash(k1, k2)
        pos, found = self._find(h, k1, k2)
        if not found.all():
            miss = np.flatnonzero(~found)
            both = np.unique(np.stack([k1[miss], k2[miss]], axis=1), axis=0)
            for a, b in both.tolist():
                src, dst = (a >> 32).to_bytes(4, "big"), (a & 0xFFFFFFFF).to_bytes(4, "big")
                sport, dport, ssrc = b >> 48, (b >> 32) & 0xFFFF, b & 0xFFFFFFFF
                self.keys.append((src + dst, sport, dport, ssrc))
                self.ends.append((src, sport, dst, dport))
            nk1 = np.concatenate([self.k1[np.argsort(self.gid)], both[:, 0]])
            nk2 = np.concatenate([self.k2[np.argsort(self.gid)], both[:, 1]])
            nh = self._hash(nk1, nk2)
            order = np.argsort(nh, kind="stable")
            self.h, self.k1, self.k2, self.gid = nh[order], nk1[order], nk2[order], order.astype(np.int64)
            pos, found = self._find(h, k1, k2)
        return self.gid[pos]

    def _find(self, h, k1, k2):
        if not self.h.size:
            return np.zeros(len(h), dtype=np.int64), np.zeros(len(h), dtype=bool)
        pos = np.searchsorted(self.h, h)
        np.minimum(pos, len(self.h) - 1, out=pos)
        found = (self.h[pos] == h) & (self.k1[pos] == k1) & (self.k2[pos] == k2)
        if not found.all():
            # equal hashes of different keys: look along the run of equal hashes
            for i in np.flatnonzero(~found & (self.h[pos] == h)).tolist():
                j = int(pos[i])
                while j < len(self.h) and self.h[j] == h[i]:
                    if self.k1[j] == k1[i] and self.k2[j] == k2[i]:
                        pos[i] = j
                        found[i] = True
                        break
                    j += 1
        return pos, found


def _items(tns, seq, ts, b1, size, a, b):
    return list(zip(tns[a:b].tolist(), seq[a:b].tolist(), ts[a:b].tolist(), b1[a:b].tolist(), size[a:b].tolist()))


def _kernel(slots, g, tns, seq, ts, b1, size, first_ns):
    """Wireshark's RTP state machine over the packets of many streams (sorted by stream, then arrival)."""
    count = len(g)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], count]
    sts = [slots[int(s)] for s in g[starts].tolist()]
    cursor = starts.copy()
    tms = (tns - first_ns).astype(np.float64) / 1e6
    for _round in range(MAX_ROUNDS):
        active = np.flatnonzero(cursor < ends)
        if not active.size:
            return
        _round_step(sts, active, cursor, ends, tns, tms, seq, ts, b1, size, first_ns)
    for a in np.flatnonzero(cursor < ends).tolist():
        sts[a].add_batch(_items(tns, seq, ts, b1, size, int(cursor[a]), int(ends[a])), first_ns)
        cursor[a] = ends[a]


def _round_step(sts, active, cursor, ends, tns, tms, seq, ts, b1, size, first_ns):
    lens = ends[active] - cursor[active]
    na = len(active)
    seg = np.r_[0, np.cumsum(lens)[:-1]]
    gi = np.repeat(np.arange(na), lens)
    local = np.arange(int(lens.sum())) - seg[gi]
    idx = cursor[active][gi] + local
    isfirst = local == 0
    stl = [sts[a] for a in active.tolist()]
    # state of each active stream
    rows = []
    for s in stl:
        c = s.clocks.get(s.pt)
        if c is None:
            c = s._clock(s.pt)
        rows.append((s.seq_num, s.stop_seq, s.start_seq, s.under, s.first_ts, s.max_ts, s.seq_ts, s.pt, s.total_nr,
                     c // 1000, s.cycles))
    state = np.array(rows, dtype=np.int64)
    sn, stop, start, under, first_ts, max_ts, seq_ts, pt, has, div, cyc = state.T
    under = under.astype(bool)
    has = has > 0
    ptime = np.array([s.time for s in stl], dtype=np.float64)
    prev = idx - 1
    q = seq[idx]
    tt = ts[idx]
    bb = b1[idx]
    tm = tms[idx]
    prev_seq = np.where(isfirst, sn[gi], seq[prev])
    stop_prev = np.where(isfirst, stop[gi], seq[prev])
    in_time = ((tt - first_ts[gi]) & _M32) < _H31
    ok = (q == prev_seq + 1) | ((prev_seq == 65535) & (q == 0))
    seq_fine = ok | (prev_seq + 1 < q) | (prev_seq - q > 0xFF00)
    st_e = start[gi]
    trig = np.where(under[gi], q > st_e, (q < st_e) | ((q == 0) & (stop_prev == 65535)))
    prev_ts = np.where(isfirst, max_ts[gi], ts[prev])
    dts = (tt - prev_ts) & _M32
    prev_t = np.where(isfirst, ptime[gi], tms[prev])
    delta = tm - prev_t
    pg = pt[gi]
    clean = (in_time & seq_fine & ~trig & (dts < _H31) & (bb == pg) & (pg != 13) & (pg != 19) & (delta != -1.0)
             & has[gi])
    bad_local = np.where(clean, len(local) + 1, local)
    run = np.minimum(np.minimum.reduceat(bad_local, seg), lens)
    keep = local < run[gi]
    if keep.any():
        _apply(stl, run, gi[keep], local[keep], idx[keep], isfirst[keep], q[keep], tt[keep], tm[keep],
               prev_t[keep], delta[keep], ok[keep], dts[keep], seq_ts, div, start, cyc, ts, size)
    cursor[active] += run
    # the packet that ended each run: exact Python
    for k in np.flatnonzero(cursor[active] < ends[active]).tolist():
        a = int(active[k])
        c = int(cursor[a])
        stl[k].add_batch(_items(tns, seq, ts, b1, size, c, c + 1), first_ns)
        cursor[a] = c + 1


def _apply(stl, run, gk, local, idx, isfirst, q, tt, tm, prev_t, delta, ok, dts, seq_ts, div, start, cyc, ts, size):
    """State updates for the clean runs (gk: active-stream index of each kept packet, in order)."""
    groups = np.flatnonzero(run > 0)
    kstart = np.r_[0, np.cumsum(run[groups])[:-1]]
    klast = kstart + run[groups] - 1
    dv = div[gk]
    clk = dv > 0
    prev_sts = np.where(isfirst, seq_ts[gk], ts[idx - 1])
    nd = (tt - prev_sts) & _M32
    nd = np.where(nd >= _H31, nd - 0x100000000, nd)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.abs(tm - (prev_t + nd / np.where(clk, dv, 1).astype(np.float64)))
    diff = np.where(clk, diff, 0.0)
    # jitter J_k = (15 J_(k-1) + D_k) / 16 in closed form per JBLOCK-packet row
    j0 = np.array([s.jitter for s in stl], dtype=np.float64)
    row_in = local // JBLOCK
    col = local % JBLOCK
    nrows = (run[groups] + JBLOCK - 1) // JBLOCK
    rowbase_g = np.zeros(len(run), dtype=np.int64)
    rowbase_g[groups] = np.r_[0, np.cumsum(nrows)[:-1]]
    rowid = rowbase_g[gk] + row_in
    total_rows = int(nrows.sum())
    mat = np.zeros((total_rows, JBLOCK), dtype=np.float64)
    flat = rowid * JBLOCK + col
    mat.ravel()[flat] = diff * _W[col]
    np.cumsum(mat, axis=1, out=mat)
    js = np.empty(total_rows, dtype=np.float64)
    js[rowbase_g[groups]] = j0[groups]
    maxr = int(nrows.max())
    if maxr > 1:
        row_of = np.arange(total_rows) - np.repeat(rowbase_g[groups], nrows)
        for r in range(1, maxr):
            rr = np.flatnonzero(row_of == r)
            js[rr] = _RB * (js[rr - 1] + mat[rr - 1, JBLOCK - 1])
    jit = _RP[col] * (js[rowid] + mat.ravel()[flat])
    jit = np.where(clk, jit, j0[gk])
    errs = (~ok).astype(np.int64)
    incs = (dts != 0).astype(np.int64)
    sz = size[idx]
    r_err = np.add.reduceat(errs, kstart)
    r_inc = np.add.reduceat(incs, kstart)
    r_sz = np.add.reduceat(sz, kstart)
    r_sd = np.add.reduceat(delta, kstart)
    r_maxd = np.maximum.reduceat(delta, kstart)
    r_mind = np.minimum.reduceat(delta, kstart)
    r_sj = np.add.reduceat(jit, kstart)
    r_maxj = np.maximum.reduceat(jit, kstart)
    r_minj = np.minimum.reduceat(jit, kstart)
    r_sdiff = np.add.reduceat(diff, kstart)
    # per-second buckets: runs of equal (stream, second)
    secs = np.floor_divide(tm, 1000.0).astype(np.int64)
    brk = np.flatnonzero((gk[1:] != gk[:-1]) | (secs[1:] != secs[:-1])) + 1
    bstart = np.r_[0, brk]
    b_cnt = np.diff(np.r_[bstart, len(gk)])
    b_sz = np.add.reduceat(sz, bstart)
    b_mj = np.maximum.reduceat(jit, bstart)
    b_last = np.r_[bstart[1:], len(gk)] - 1
    b_exp = cyc[gk[b_last]] * 65536 + q[b_last] - start[gk[b_last]] + 1
    lists = [x.tolist() for x in (groups, r_err, r_inc, r_sz, r_sd, r_maxd, r_mind, r_sj, r_maxj, r_minj, r_sdiff,
                                  tm[klast], q[klast], tt[klast], delta[klast], jit[klast], run[groups], div[groups])]
    for (a, err, inc, nbytes, sd, maxd, mind, sj, maxj, minj, sdiff, t_last, q_last, ts_last, d_last, j_last, n,
         dv) in zip(*lists):
        s = stl[a]
        n0 = s.total_nr
        s.total_nr = n0 + n
        s.seq_num = s.stop_seq = q_last
        if err:
            s.sequence += err
            s.problem = True
        s.frames += inc
        s.max_ts = s.seq_ts = ts_last
        s.time = s.last_t = t_last
        s.delta = d_last
        s.bytes += nbytes + n * s.overhead
        s.pts[s.pt] = s.pts.get(s.pt, 0) + n
        if maxd > s.max_delta:
            s.max_delta = maxd
        if s.min_delta == -1 or mind < s.min_delta:
            s.min_delta = mind
        s.mean_delta = (s.mean_delta * (n0 - 1) + sd) / (n0 + n - 1)
        if dv > 0:
            s.clock_rate = s.clocks.get(s.pt)
            s.jitter = j_last
            if maxj > s.max_jitter:
                s.max_jitter = maxj
            if s.min_jitter == -1 or minj < s.min_jitter:
                s.min_jitter = minj
            s.mean_jitter = (s.mean_jitter * (n0 - 1) + sj) / (n0 + n - 1)
            s.sum_abs_diff += sdiff
            s.n_abs_diff += n
    ov = [s.overhead for s in stl]
    for a, sec, cnt, nb, mj, exp in zip(gk[bstart].tolist(), secs[bstart].tolist(), b_cnt.tolist(), b_sz.tolist(),
                                        b_mj.tolist(), b_exp.tolist()):
        s = stl[a]
        bucket = s.series.get(sec)
        if bucket is None:
            bucket = s.series[sec] = [0, 0, 0.0, 0, 0]
        bucket[0] += cnt
        bucket[1] += nb + cnt * ov[a]
        if mj > bucket[2]:
            bucket[2] = mj
        bucket[3] = exp
        s.cur_sec = sec
        s.cur_bucket = bucket
