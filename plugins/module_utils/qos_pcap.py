# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming pcap / pcapng reader and link/IP/UDP decoder for the QoS engine (stdlib only).

The reader keeps one read buffer, never the packets: memory stays flat whatever the size of
the capture. Timestamps are integer nanoseconds so that no precision is lost before the
analysis turns them into milliseconds relative to the first packet, as Wireshark does.
"""

import struct

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # little endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # little endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_ALT = (12, 14)
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LOOP = 108
LINKTYPE_SLL = 113
LINKTYPE_SLL2 = 276
SUPPORTED_LINKTYPES = (LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6,
                       LINKTYPE_LOOP, LINKTYPE_SLL, LINKTYPE_SLL2)

READ_SIZE = 1 << 22
# Link types the fast loops decode in place: link header length, offset of the ethertype in it (None: raw IP).
LAYOUTS = {LINKTYPE_ETHERNET: (14, 12), LINKTYPE_SLL: (16, 14), LINKTYPE_SLL2: (20, 0), LINKTYPE_RAW: (0, None),
           12: (0, None), 14: (0, None), LINKTYPE_IPV4: (0, None)}
MAX_RECORD = 0x4000000  # a record longer than this (64 MiB) is taken as corruption


class QosError(Exception):
    """A capture the engine cannot read; the message is meant for the user."""


class Counters:
    """Packets the engine skipped, by reason (reported, never fatal)."""

    def __init__(self):
        self.counts = {}

    def add(self, reason, n=1):
        self.counts[reason] = self.counts.get(reason, 0) + n

    def as_dict(self):
        return dict(sorted(self.counts.items()))


def open_capture(path, counters):
    """Return an iterator of (ts_ns, linktype, data) for a pcap or pcapng file."""
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise QosError(f"cannot open capture {path}: {exc}")
    head = f.read(4)
    if not head:
        f.close()
        raise QosError(f"capture {path} is empty")
    if head in PCAP_MAGICS:
        return _read_pcap(f, head, path, counters)
    if head == PCAPNG_SHB:
        return _read_pcapng(f, head, path, counters)
    f.close()
    if len(head) < 4:
        raise QosError(f"capture {path} is truncated: its file header is incomplete")
    raise QosError(f"{path} is not a pcap or pcapng capture (unknown magic number 0x{head.hex()})")


def _read_pcap(f, magic, path, counters, blocks=False):
    endian, mult = PCAP_MAGICS[magic]
    rest = f.read(20)
    if len(rest) < 20:
        f.close()
        raise QosError(f"capture {path} is truncated: its file header is incomplete")
    linktype = struct.unpack(endian + "I", rest[16:20])[0] & 0x0FFFFFFF
    if linktype not in SUPPORTED_LINKTYPES:
        f.close()
        raise QosError("capture %s has link type %d, which is not supported (Ethernet, Linux cooked v1/v2, raw IP, "
                       "loopback are)" % (path, linktype))
    if blocks:
        return PcapBlocks(f, endian, mult, linktype, counters)
    return _pcap_records(f, endian, mult, linktype, counters)


class PcapBlocks:
    """A classic pcap file read in big blocks for the engine's fast loops.

    Iterating yields memoryviews that start on a record boundary; after each one the consumer sets
    ``consumed`` to the offset of the first record it could not finish (the rest is carried over
    into the next block), or sets ``corrupt`` to stop. The memory is one reused buffer, so the
    consumer must copy whatever it keeps (bytes(view[a:b])). At the end of the file, carried-over
    bytes are counted as a truncated record.
    """

    def __init__(self, f, endian, mult, linktype, counters):
        self.read_size = READ_SIZE
        self.f = f
        self.endian = endian
        self.mult = mult
        self.linktype = linktype
        self.counters = counters
        self.consumed = 0
        self.corrupt = False

    def __iter__(self):
        f = self.f
        buf = bytearray(self.read_size)
        have = 0  # valid bytes at the start of buf
        try:
            while True:
                if len(buf) < have + self.read_size:
                    grown = bytearray(have + self.read_size)  # a record longer than a block
                    grown[:have] = buf[:have]
                    buf = grown
                with memoryview(buf) as mv:
                    got = f.readinto(mv[have:have + self.read_size])
                if not got:
                    if have:
                        self.counters.add("truncated_record")
                    return
                have += got
                self.consumed = 0
                with memoryview(buf) as mv:
                    view = mv[:have]
                    yield view
                    view.release()
                if self.corrupt:
                    self.counters.add("corrupt_record")
                    return
                rest = have - self.consumed
                if rest:
                    buf[:rest] = buf[self.consumed:have]
                have = rest
        finally:
            f.close()


def open_capture_blocks(path, counters):
    """Like open_capture, but a classic pcap file comes back as PcapBlocks (anything else as records)."""
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise QosError(f"cannot open capture {path}: {exc}")
    head = f.read(4)
    if head in PCAP_MAGICS:
        return _read_pcap(f, head, path, counters, blocks=True)
    f.close()
    return open_capture(path, counters)


def _pcap_records(f, endian, mult, linktype, counters):
    hdr = struct.Struct(endian + "IIII")
    unpack_from = hdr.unpack_from
    buf = b""
    pos = 0
    try:
        while True:
            chunk = f.read(READ_SIZE)
            if not chunk:
                if pos < len(buf):
                    counters.add("truncated_record")
                return
            buf = buf[pos:] + chunk
            pos = 0
            end = len(buf)
            while pos + 16 <= end:
                sec, frac, incl, _orig = unpack_from(buf, pos)
                nxt = pos + 16 + incl
                if nxt > end:
                    if incl > MAX_RECORD:
                        counters.add("corrupt_record")
                        return
                    break
                yield (sec * 1000000000 + frac * mult, linktype, buf[pos + 16:nxt])
                pos = nxt
    finally:
        f.close()


def _read_pcapng(f, head, path, counters):
    rest = f.read(8)
    if len(rest) < 8:
        f.close()
        raise QosError(f"capture {path} is truncated: its pcapng section header is incomplete")
    bom = rest[4:8]
    if bom == b"\x4d\x3c\x2b\x1a":
        endian = "<"
    elif bom == b"\x1a\x2b\x3c\x4d":
        endian = ">"
    else:
        f.close()
        raise QosError(f"{path} is not a valid pcapng capture (bad byte-order magic)")
    first_len = struct.unpack(endian + "I", rest[:4])[0]
    return _pcapng_blocks(f, endian, first_len, counters)


def _idb(body, endian):
    linktype = struct.unpack_from(endian + "H", body, 0)[0]
    res_ns = 1000  # default microseconds
    offset_ns = 0
    pos = 8
    while pos + 4 <= len(body):
        code, olen = struct.unpack_from(endian + "HH", body, pos)
        if code == 0:
            break
        val = body[pos + 4:pos + 4 + olen]
        if code == 9 and olen >= 1:
            r = val[0]
            if r & 0x80:
                res_ns = 1e9 / (2 ** (r & 0x7F))
            else:
                res_ns = 10 ** (9 - r) if r <= 9 else 10.0 ** (9 - r)
        elif code == 14 and olen == 8:
            offset_ns = struct.unpack(endian + "q", val)[0] * 1000000000
        pos += 4 + olen + ((4 - olen % 4) % 4)
    return [linktype, res_ns, offset_ns]


def _pcapng_blocks(f, endian, first_len, counters):
    # The first section header block: skip the rest of it.
    interfaces = []
    try:
        skip = first_len - 12
        if skip < 0 or len(f.read(skip)) < skip:
            counters.add("truncated_record")
            return
        hdr2 = struct.Struct(endian + "II")
        while True:
            h = f.read(8)
            if len(h) < 8:
                if h:
                    counters.add("truncated_record")
                return
            btype, blen = hdr2.unpack(h)
            if btype == 0x0A0D0D0A:
                bom = f.read(4)
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    counters.add("corrupt_record")
                    return
                hdr2 = struct.Struct(endian + "II")
                blen = struct.unpack(endian + "I", h[4:8])[0]
                interfaces = []
                body = f.read(blen - 12)
                if len(body) < blen - 12:
                    counters.add("truncated_record")
                    return
                continue
            if blen < 12 or blen % 4 or blen > 0x8000000:
                counters.add("corrupt_record")
                return
            body = f.read(blen - 8)
            if len(body) < blen - 8:
                counters.add("truncated_record")
                return
            if btype == 6:  # enhanced packet block
                ifid, th, tl, caplen = struct.unpack_from(endian + "IIII", body, 0)
                if ifid >= len(interfaces):
                    counters.add("unknown_interface")
                    continue
                lt, res, off = interfaces[ifid]
                if lt not in SUPPORTED_LINKTYPES:
                    counters.add("unsupported_linktype")
                    continue
                units = (th << 32) | tl
                ts = int(units * res) if isinstance(res, float) else units * res
                yield (ts + off, lt, body[20:20 + caplen])
            elif btype == 1:
                interfaces.append(_idb(body, endian))
            elif btype == 3:
                counters.add("simple_packet_block_without_time")
            elif btype == 2:  # obsolete packet block
                ifid, _drops, th, tl, caplen = struct.unpack_from(endian + "HHIII", body, 0)
                if ifid < len(interfaces) and interfaces[ifid][0] in SUPPORTED_LINKTYPES:
                    lt, res, off = interfaces[ifid]
                    units = (th << 32) | tl
                    yield (int(units * res) + off, lt, body[20:20 + caplen])
    finally:
        f.close()


# --------------------------------------------------------------------------- decoding
# decode() returns (version, src, dst, proto, l4) where l4 is the transport bytes, or a string
# naming the reason the packet was skipped.

_ETH_VLAN = (0x8100, 0x88A8, 0x9100)


def link_payload(linktype, data):
    """Return (ethertype, offset) of the network layer, or (None, reason)."""
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return None, "truncated_link"
        et = (data[12] << 8) | data[13]
        off = 14
        while et in _ETH_VLAN:
            if len(data) < off + 4:
                return None, "truncated_link"
            et = (data[off + 2] << 8) | data[off + 3]
            off += 4
        return et, off
    if linktype == LINKTYPE_SLL:
        if len(data) < 16:
            return None, "truncated_link"
        return (data[14] << 8) | data[15], 16
    if linktype == LINKTYPE_SLL2:
        if len(data) < 20:
            return None, "truncated_link"
        return (data[0] << 8) | data[1], 20
    if linktype in (LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if not data:
            return None, "truncated_link"
        return (0x86DD if (data[0] >> 4) == 6 else 0x0800), 0
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(data) < 4:
            return None, "truncated_link"
        fam = struct.unpack("<I", data[:4])[0]
        if fam > 0xFFFF:
            fam = struct.unpack(">I", data[:4])[0]
        return (0x0800 if fam == 2 else 0x86DD), 4
    return None, "unsupported_linktype"


_V6_EXT = (0, 43, 60, 51)


def decode(linktype, data):
    """Decode to (ipver, src_bytes, dst_bytes, proto, l4_bytes) or return a skip reason (str)."""
    et, off = link_payload(linktype, data)
    if et is None:
        return off
    if et == 0x0800:
        if len(data) < off + 20:
            return "truncated_ip"
        vihl = data[off]
        if vihl >> 4 != 4:
            return "bad_ip"
        ihl = (vihl & 0x0F) * 4
        total = (data[off + 2] << 8) | data[off + 3]
        if ((data[off + 6] & 0x3F) << 8 | data[off + 7]) != 0:
            return "ip_fragment"
        end = off + total if total >= ihl else len(data)
        if end > len(data):
            return "truncated_packet"
        return (4, data[off + 12:off + 16], data[off + 16:off + 20], data[off + 9], data[off + ihl:end])
    if et == 0x86DD:
        if len(data) < off + 40:
            return "truncated_ip"
        nh = data[off + 6]
        plen = (data[off + 4] << 8) | data[off + 5]
        src, dst = data[off + 8:off + 24], data[off + 24:off + 40]
        end = off + 40 + plen
        if end > len(data):
            return "truncated_packet"
        p = off + 40
        while nh in _V6_EXT:
            if p + 8 > end:
                return "truncated_ip"
            nxt = data[p]
            p += (data[p + 1] + 2) * 4 if nh == 51 else (data[p + 1] + 1) * 8
            nh = nxt
        if nh == 44:
            return "ip_fragment"
        return (6, src, dst, nh, data[p:end])
    return "not_ip"


def ip_text(addr):
    if len(addr) == 4:
        return "%d.%d.%d.%d" % (addr[0], addr[1], addr[2], addr[3])
    import socket
    return socket.inet_ntop(socket.AF_INET6, bytes(addr))
