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
    __slots__ = ("body", "code", "cseq_method", "cseq_num", "headers", "method", "reason")

    def __init__(self):
        self.method = None
        self.code = None
        self.reason = ""
        self.headers = {}
        self.body = b""
        self.cseq_num = 0
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


class SipTracker:
    """Calls by Call-ID, registrations by user, and the media the SDP offer/answer announces."""

    def __init__(self):
        self.calls = {}
        self.regs = {}
        self.reg_seen = set()
        self.media_cb = None
        self.messages = 0

    def _call(self, cid, msg, t):
        call = self.calls.get(cid)
        if call is None:
            call = self.calls[cid] = {
                "call_id": cid, "caller": sip_user(msg.get("from")), "callee": sip_user(msg.get("to")),
                "invite_t": None, "ringing_t": None, "answer_t": None, "bye_t": None, "cancel_t": None,
                "final_status": None, "final_reason": "", "answered": False, "challenged": 0,
                "offer": None, "media": [], "first_t": t, "last_t": t, "seen": set(),
            }
        call["last_t"] = t
        return call

    def handle(self, payload, t, frame):
        for msg in parse_sip(payload):
            self.messages += 1
            cid = msg.get("call-id")
            if not cid:
                continue
            method = msg.method or msg.cseq_method
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
            if msg.body and "sdp" in msg.get("content-type", "application/sdp").lower():
                self._sdp(call, msg, frame)

    def _sdp(self, call, msg, frame):
        media = parse_sdp(msg.body)
        if not media:
            return
        if call["offer"] is None:
            call["offer"] = media
            return
        # An answer: both sides' media become RTP from this frame on.
        for side in (call["offer"], media):
            for m in side:
                call["media"].append(m)
                if self.media_cb:
                    self.media_cb(m, call["call_id"], frame)
        call["offer"] = None

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
