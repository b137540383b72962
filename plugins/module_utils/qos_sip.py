# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SIP dialogs, registrations and SDP offer/answer for the QoS engine (stdlib only)."""


import re
import socket

SIP_METHODS = (b"INVITE ", b"ACK ", b"BYE ", b"CANCEL ", b"REGISTER ", b"OPTIONS ", b"PRACK ", b"UPDATE ",
               b"INFO ", b"SUBSCRIBE ", b"NOTIFY ", b"REFER ", b"MESSAGE ", b"PUBLISH ")
COMPACT = {"i": "call-id", "f": "from", "t": "to", "l": "content-length", "c": "content-type", "m": "contact",
           "v": "via", "k": "supported", "s": "subject"}
_USER_RE = re.compile(r"<?\s*(?:sips?|tel):([^@;>]+)(?:@([^;>]+))?", re.IGNORECASE)


def looks_like_sip(payload):
    if payload.startswith(b"SIP/2.0 "):
        return True
    for m in SIP_METHODS:
        if payload.startswith(m):
            nl = payload.find(b"\r\n")
            line = payload[:nl if nl > 0 else 200]
            return line.endswith(b"SIP/2.0")
    return False


class SipMessage:
    __slots__ = ("body", "code", "cseq_method", "cseq_num", "cseq_set", "headers", "method", "reason")

    def __init__(self):
        self.method = None
        self.code = None
        self.reason = ""
        self.headers = {}
        self.body = b""
        self.cseq_num = 0
        self.cseq_set = False
        self.cseq_method = ""

    def get(self, name, default=""):
        v = self.headers.get(name)
        return v[0] if v else default


def parse_sip(payload):
    """Parse one or more SIP messages in a datagram or TCP segment; returns a list (maybe empty)."""
    out = []
    data = bytes(payload)
    while data:
        hend = data.find(b"\r\n\r\n")
        sep = 4
        if hend < 0:
            hend = data.find(b"\n\n")
            sep = 2
            if hend < 0:
                break
        try:
            head = data[:hend].decode("utf-8", "replace")
        except Exception:  # pragma: no cover - decode with replace cannot fail
            break
        lines = head.replace("\r\n", "\n").split("\n")
        first = lines[0].strip()
        msg = SipMessage()
        if first.startswith("SIP/2.0 "):
            parts = first.split(" ", 2)
            try:
                msg.code = int(parts[1])
            except (IndexError, ValueError):
                break
            msg.reason = parts[2] if len(parts) > 2 else ""
        else:
            parts = first.split(" ")
            if len(parts) < 3 or not parts[2].startswith("SIP/2.0"):
                break
            msg.method = parts[0].upper()
        cur = None
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and cur:
                msg.headers[cur][-1] += " " + line.strip()
                continue
            if ":" not in line:
                continue
            name, val = line.split(":", 1)
            name = name.strip().lower()
            name = COMPACT.get(name, name)
            msg.headers.setdefault(name, []).append(val.strip())
            cur = name
        try:
            clen = int(msg.get("content-length", "0") or 0)
        except ValueError:
            clen = 0
        body_start = hend + sep
        if clen:
            msg.body = data[body_start:body_start + clen]
        else:
            msg.body = data[body_start:] if "content-length" not in msg.headers else b""
        cseq = msg.get("cseq").split()
        if len(cseq) == 2:
            try:
                msg.cseq_num = int(cseq[0])
                msg.cseq_set = True
            except ValueError:
                msg.cseq_num = 0
            msg.cseq_method = cseq[1].upper()
        out.append(msg)
        data = data[body_start + len(msg.body):] if clen else b""
        data = data.lstrip(b"\r\n")
    return out


def sip_user(header):
    m = _USER_RE.search(header or "")
    if not m:
        return header or ""
    return m.group(1)


def parse_sdp(body):
    """Media descriptions: list of dicts (media, addr (bytes), port, rtcp_port, pts, ptmap{pt: (name, rate)})."""
    try:
        text = body.decode("utf-8", "replace")
    except Exception:  # pragma: no cover
        return []
    session_c = None
    media = []
    cur = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        k, v = line[0], line[2:]
        if k == "c":
            parts = v.split()
            if len(parts) >= 3:
                addr = parts[2].split("/")[0]
                if cur is None:
                    session_c = addr
                else:
                    cur["c"] = addr
        elif k == "m":
            parts = v.split()
            if len(parts) < 3:
                cur = None
                continue
            try:
                port = int(parts[1].split("/")[0])
            except ValueError:
                cur = None
                continue
            pts = []
            for p in parts[3:]:
                if p.isdigit():
                    pts.append(int(p))
            cur = {"media": parts[0].lower(), "port": port, "proto": parts[2], "pts": pts, "ptmap": {}, "c": None,
                   "rtcp_port": port + 1, "mux": False}
            for pt in pts:
                if pt < 96:
                    cur["ptmap"][pt] = (None, 0)
            media.append(cur)
        elif k == "a" and cur is not None:
            if v.startswith("rtpmap:"):
                try:
                    ptstr, enc = v[7:].split(None, 1)
                    encp = enc.split("/")
                    rate = int(encp[1]) if len(encp) > 1 and encp[1].isdigit() else 0
                    cur["ptmap"][int(ptstr)] = (encp[0], rate)
                except ValueError:
                    continue
            elif v.startswith("rtcp-mux"):
                cur["mux"] = True
            elif v.startswith("rtcp:"):
                try:
                    cur["rtcp_port"] = int(v[5:].split()[0])
                except (ValueError, IndexError):
                    pass
    out = []
    for m in media:
        addr = m["c"] or session_c
        if not addr or m["port"] == 0:
            continue
        try:
            ab = socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)
        except (OSError, ValueError):
            continue
        m["addr"] = ab
        m["addr_text"] = addr
        out.append(m)
    return out


# Wireshark's per-direction SIP transaction states (packet-sip.c)
NOTHING_SEEN, REQUEST_SEEN, PROVISIONAL_SEEN, FINAL_SEEN = range(4)
MAX_CALL_ID = 127  # Wireshark keys transactions by the first 127 characters of the Call-ID
ANSWERED = "answered"  # a request whose offer got a final answer (2xx or >= 400): later answers are ignored


class SipTracker:
    """Calls by Call-ID, registrations by user, and the media the SDP bodies announce.

    Media become RTP where Wireshark's SIP and SDP dissectors make them RTP in one pass over the
    capture (tshark -z rtp,streams), with SIP's "delay SDP changes" preference off (the default):
    every SDP body sets up its media at its own packet - the offer in a request at once (the
    far end may send to it before the answer: early media, or a callee whose first RTP packet
    overtakes its 200 OK), the answer in a 2xx (or >= 400) response, SDP in a provisional
    response too. Only these do not: the SDP of a retransmitted request whose original set up
    an offer, and a second final answer (not a retransmission) to a request already answered.
    Requests and responses are matched as Wireshark does over UDP (Call-ID, CSeq, addresses and
    ports per direction); over TCP every SDP body counts.
    """

    def __init__(self):
        self.calls = {}
        self.regs = {}
        self.reg_seen = set()
        self.media_cb = None
        self.messages = 0
        self.directions = {}  # (call-id, src, sport, dst, dport) -> [cseq, method, state, frame, final code]
        self.offers = {}      # request frame -> None (offer set up) or ANSWERED

    def _call(self, cid, msg, t):
        call = self.calls.get(cid)
        if call is None:
            call = self.calls[cid] = {
                "call_id": cid, "caller": sip_user(msg.get("from")), "callee": sip_user(msg.get("to")),
                "invite_t": None, "ringing_t": None, "answer_t": None, "bye_t": None, "cancel_t": None,
                "final_status": None, "final_reason": "", "answered": False, "challenged": 0,
                "first_t": t, "last_t": t,
            }
        call["last_t"] = t
        return call

    def handle(self, payload, t, frame, ends=None):
        """One SIP datagram or TCP segment. ends = (src, sport, dst, dport) over UDP, None over TCP."""
        for msg in parse_sip(payload):
            self.messages += 1
            cid = msg.get("call-id")
            if not cid:
                continue
            resend = self._resend(msg, cid, ends, frame)
            method = msg.method or msg.cseq_method
            if msg.body and msg.get("content-type").split(";")[0].strip().lower() == "application/sdp":
                self._sdp(msg, cid, ends, frame, resend)
            if method == "REGISTER":
                self._register(msg, cid, t)
                continue
            if method in ("OPTIONS", "SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE"):
                continue
            call = self._call(cid, msg, t)
            if msg.method == "INVITE":
                if call["invite_t"] is None:
                    call["invite_t"] = t
            elif msg.method == "BYE":
                if call["bye_t"] is None:
                    call["bye_t"] = t
            elif msg.method == "CANCEL":
                if call["cancel_t"] is None:
                    call["cancel_t"] = t
            elif msg.code is not None and msg.cseq_method == "INVITE":
                code = msg.code
                if code in (180, 183) and call["ringing_t"] is None:
                    call["ringing_t"] = t
                if 200 <= code < 300:
                    if call["answer_t"] is None:
                        call["answer_t"] = t
                    call["answered"] = True
                    call["final_status"] = code
                    call["final_reason"] = msg.reason
                elif code >= 300 and not call["answered"]:
                    if code in (401, 407):
                        call["challenged"] += 1
                    call["final_status"] = code
                    call["final_reason"] = msg.reason

    # ------------------------------------------------------------------ Wireshark's SIP/SDP set-up
    def _resend(self, msg, cid, ends, frame):
        """Wireshark's sip_is_packet_resend: the frame of the original when this message is a retransmission,
        else 0; it also moves this direction's transaction state."""
        if ends is None or not msg.cseq_set:
            return 0
        src, sport, dst, dport = ends
        key = (cid[:MAX_CALL_ID], bytes(src), sport, bytes(dst), dport)
        cseq, method = msg.cseq_num, msg.cseq_method
        state = self.directions.get(key)
        if state is None:
            state = self.directions[key] = [cseq, method, NOTHING_SEEN, 0, 0]
            compare = 0
        else:
            compare = state[0]
            if cseq != compare:
                state[0], state[1], state[2], state[3] = cseq, method, NOTHING_SEEN, 0
        result = 0
        if cseq == compare and method == state[1]:
            if msg.code is None:
                if state[2] == REQUEST_SEEN and method not in ("ACK", "CANCEL"):
                    result = state[3]
            elif state[2] == FINAL_SEEN and msg.code >= 200 and msg.code == state[4]:
                result = state[3]
        if msg.code is None:
            state[2] = REQUEST_SEEN
            if not result:
                state[3] = frame
        elif msg.code >= 200:
            state[4] = msg.code
            state[2] = FINAL_SEEN
            if not result:
                state[3] = frame
        else:
            state[2] = PROVISIONAL_SEEN
        return result

    def _request_of(self, msg, cid, ends):
        """Wireshark's sip_find_request: the frame of the request this response answers (0: unknown)."""
        if ends is None or not msg.cseq_set:
            return 0
        src, sport, dst, dport = ends
        state = self.directions.get((cid[:MAX_CALL_ID], bytes(dst), dport, bytes(src), sport))
        if state and state[0] == msg.cseq_num and state[2] == REQUEST_SEEN and state[1] == msg.cseq_method:
            return state[3]
        return 0

    def _sdp(self, msg, cid, ends, frame, resend):
        offers = self.offers
        if resend:
            if resend in offers:
                return  # the original set it up; a retransmission does not again
        elif msg.code is None:
            offers[frame] = None  # an offer (any request): its own transaction
        elif msg.code >= 400 or 200 <= msg.code < 300:
            request = self._request_of(msg, cid, ends)
            if request:
                if offers.get(request) == ANSWERED:
                    return  # the request's offer was answered already
                offers[request] = ANSWERED
        media = parse_sdp(msg.body)
        if self.media_cb:
            for m in media:
                self.media_cb(m, cid, frame)

    def _register(self, msg, cid, t):
        user = sip_user(msg.get("to"))
        reg = self.regs.get(user)
        if reg is None:
            reg = self.regs[user] = {"user": user, "attempts": 0, "challenged": 0, "succeeded": 0, "failed": 0}
        key = (cid, msg.cseq_num, msg.method, msg.code)
        if key in self.reg_seen:
            return  # retransmission or the second leg through a proxy
        self.reg_seen.add(key)
        if msg.method == "REGISTER":
            reg["attempts"] += 1
        elif msg.code is not None:
            if msg.code in (401, 407):
                reg["challenged"] += 1
            elif 200 <= msg.code < 300:
                reg["succeeded"] += 1
            elif msg.code >= 300:
                reg["failed"] += 1

    def call_reports(self):
        out = []
        for call in self.calls.values():
            if call["invite_t"] is None:
                continue
            inv = call["invite_t"]
            status = call["final_status"]
            if status is None and call["cancel_t"] is not None:
                status = 487
            end = call["bye_t"] if call["bye_t"] is not None else call["last_t"]
            out.append({
                "call_id": call["call_id"],
                "caller": call["caller"],
                "callee": call["callee"],
                "final_status": status,
                "final_reason": call["final_reason"],
                "answered": call["answered"],
                "auth_challenges": call["challenged"],
                "start_time_s": round(inv / 1000.0, 6),
                "setup_ringing_ms": round(call["ringing_t"] - inv, 3) if call["ringing_t"] is not None else None,
                "setup_answer_ms": round(call["answer_t"] - inv, 3) if call["answer_t"] is not None else None,
                "duration_s": round((end - call["answer_t"]) / 1000.0, 3) if call["answer_t"] is not None else 0.0,
                "cancelled": call["cancel_t"] is not None,
            })
        out.sort(key=lambda c: c["start_time_s"])
        return out

    def registration_reports(self):
        return [self.regs[u] for u in sorted(self.regs)]
