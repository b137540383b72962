# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drive baresip 1.0 headless for the voip_qos role.

  voip_qos_helper.py callee SPEC.json   run one auto-answering UA until SIGTERM; writes SPEC's
                                    "ready" file once registered (or "ERR ..." if it failed)
  voip_qos_helper.py caller SPEC.json   register, dial the calls (count, concurrency, duration),
                                    hang up, unregister; prints and writes the outcome (JSON)
  voip_qos_helper.py clip FILE SECONDS [WxH] [FPS]
                                    write a moving YUV4MPEG2 test clip (for baresip's avformat)
  voip_qos_helper.py sipp-callee SPEC.json
                                    run a SIPp UAS (uas_answer.xml) and REGISTER its contact;
                                    writes "ready"; runs until SIGTERM
  voip_qos_helper.py sipp-caller SPEC.json
                                    run SIPp's uac_call.xml (count, concurrency, hold) with digest
                                    auth; writes the outcome (JSON) from SIPp's statistics
  voip_qos_helper.py pcapcat OUT IN...
                                    join the files of a tcpdump ring buffer (classic pcap, same
                                    link type) in the order given into one capture

Each UA gets its own configuration directory (config, accounts, contacts) written from the
spec, its own SIP port, RTP port range and ctrl_tcp port; commands go over ctrl_tcp as
netstring JSON ({"command": ..., "params": ..., "token": ...}) and the UA's events come back on
the same connection.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import signal
import socket
import subprocess
import sys
import time

MODULE_DIR = "/usr/lib/baresip/modules"


def audio_codecs(names):
    """baresip's account audio_codecs: a name alone means 8 kHz mono, so Opus must be named opus/48000/2
    (else baresip warns "audio codec not found", drops it and, with the list empty, offers every codec)."""
    full = {"opus": "opus/48000/2"}
    return ",".join(full.get(name.strip().lower(), name.strip()) for name in names.split(",") if name.strip())


def write_config(spec):
    """Write the UA's config directory; return its path."""
    cfg = spec["config_dir"]
    if not os.path.isdir(cfg):
        os.makedirs(cfg, 0o700)
    video = spec.get("video", False)
    modules = ["g711.so", "opus.so", "aufile.so", "alsa.so"]
    if video:
        modules += ["vp8.so", "fakevideo.so"]
        if spec.get("video_source", "fakevideo").startswith("avformat"):
            modules.append("avformat.so")
    lines = [
        ("poll_method", "epoll"),
        ("sip_listen", "0.0.0.0:%d" % spec["sip_port"]),
        ("call_local_timeout", "120"),
        ("call_max_calls", str(max(4, int(spec.get("concurrency", 1)) + 1))),
        ("audio_player", "alsa,null"),
        ("audio_source", "aufile,%s" % spec["audio_file"]),
        # the WAV is 8 kHz mono and aufile plays files at the codec's rate only: open the source at the
        # file's rate and let baresip resample for a codec of another rate (Opus: 48 kHz stereo)
        ("ausrc_srate", "8000"),
        ("ausrc_channels", "1"),
        ("audio_alert", "alsa,null"),
        ("audio_level", "no"),
        ("ausrc_format", "s16"),
        ("auplay_format", "s16"),
        ("rtp_tos", "184"),
        ("rtp_ports", "%d-%d" % tuple(spec["rtp_ports"])),
        ("rtp_stats", "yes"),
        ("jitter_buffer_delay", "5-10"),
        ("module_path", MODULE_DIR),
    ]
    if video:
        lines += [
            ("video_source", spec.get("video_source", "fakevideo,nil")),
            ("video_display", "fakevideo,nil"),
            ("video_size", spec.get("video_size", "320x240")),
            ("video_bitrate", str(spec.get("video_bitrate", 500000))),
            ("video_fps", str(spec.get("video_fps", 25))),
        ]
    lines += [("module", m) for m in modules]
    lines += [("module_app", m) for m in ("account.so", "contact.so", "menu.so", "ctrl_tcp.so")]
    lines += [("ctrl_tcp_listen", "127.0.0.1:%d" % spec["ctrl_port"])]
    if spec.get("opus_bitrate"):
        lines.append(("opus_bitrate", str(spec["opus_bitrate"])))
    with open(os.path.join(cfg, "config"), "w") as handle:
        handle.write("".join("%-24s%s\n" % kv for kv in lines))
    params = ["auth_pass=%s" % spec["password"], "regint=%d" % spec.get("regint", 600),
              "audio_codecs=%s" % audio_codecs(spec.get("audio_codecs", "PCMU"))]
    if spec.get("auth_user"):
        params.append("auth_user=%s" % spec["auth_user"])
    if video:
        params.append("video_codecs=%s" % spec.get("video_codecs", "VP8"))
    if spec.get("answer"):
        params.append("answermode=auto")
    if spec.get("outbound"):
        params.append('outbound="%s"' % spec["outbound"])
    account = "<sip:%s@%s>;%s\n" % (spec["username"], spec["domain"], ";".join(params))
    fd = os.open(os.path.join(cfg, "accounts"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(account)
    with open(os.path.join(cfg, "contacts"), "w") as handle:
        handle.write("")
    return cfg


class Ctrl(object):
    """One ctrl_tcp connection: commands out, responses and events in."""

    def __init__(self, port, timeout=10.0):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), 1.0)
                break
            except (OSError, socket.error):
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""
        self.events = []
        self.token = 0

    def _read(self, timeout):
        self.sock.settimeout(max(timeout, 0.01))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return []
        if not data:
            raise EOFError("baresip closed the control connection")
        self.buf += data
        out = []
        while True:
            colon = self.buf.find(b":")
            if colon < 0:
                break
            size = int(self.buf[:colon])
            if len(self.buf) < colon + 1 + size + 1:
                break
            out.append(json.loads(self.buf[colon + 1:colon + 1 + size].decode("utf-8", "replace")))
            self.buf = self.buf[colon + 1 + size + 1:]
        return out

    def command(self, command, params="", timeout=5.0):
        self.token += 1
        token = "t%d" % self.token
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")
        deadline = time.time() + timeout
        while time.time() < deadline:
            # one read can bring the response and the events that follow it (the dial's first call
            # event often shares the segment): keep them all before returning
            response = None
            for msg in self._read(deadline - time.time()):
                if msg.get("response") and msg.get("token") == token:
                    response = msg
                elif msg.get("event"):
                    self.events.append(msg)
            if response is not None:
                return response
        return None

    def pump(self, timeout):
        """Collect events for up to timeout seconds."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                return
            for msg in self._read(left):
                if msg.get("event"):
                    self.events.append(msg)


def start_baresip(cfg, log_path):
    log = open(log_path, "ab")
    return subprocess.Popen(["baresip", "-f", cfg], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def wait_registered(ctrl, timeout):
    """Poll reginfo until the account shows OK; return (ok, text)."""
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        resp = ctrl.command("reginfo") or {}
        text = resp.get("data", "")
        if "OK" in text:
            return True, text
        if "ERR" in text:
            return False, text
        for ev in ctrl.events:
            if ev.get("type") in ("REGISTER_FAIL",):
                return False, ev.get("param", "")
        time.sleep(0.2)
    return False, text or "registration timed out"


def stop(proc, ctrl):
    try:
        if ctrl is not None:
            ctrl.command("quit", timeout=1.0)
    except Exception:  # pylint: disable=broad-except
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_callee(spec_path):
    spec = json.load(open(spec_path))
    cfg = write_config(dict(spec, answer=True))
    proc = start_baresip(cfg, spec["log"])
    state = {"stop": False}

    def on_term(_signum, _frame):
        state["stop"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    ctrl = None
    try:
        ctrl = Ctrl(spec["ctrl_port"])
        ok, text = wait_registered(ctrl, spec.get("register_timeout", 15))
        with open(spec["ready"] + ".tmp", "w") as handle:
            handle.write(("OK\n" if ok else "ERR %s\n" % text.strip()))
        os.rename(spec["ready"] + ".tmp", spec["ready"])
        while not state["stop"] and proc.poll() is None:
            ctrl.pump(0.5)
            ctrl.events = ctrl.events[-1000:]
    finally:
        stop(proc, ctrl)
    return 0


def run_caller(spec_path):
    spec = json.load(open(spec_path))
    cfg = write_config(dict(spec, answer=False))
    result = {"name": spec.get("name"), "caller": spec["username"], "callee_uri": spec["peer_uri"],
              "media": "video" if spec.get("video") else "voice", "codec": spec.get("audio_codecs"),
              "registered": False, "register_info": "", "calls": []}
    proc = start_baresip(cfg, spec["log"])
    ctrl = None
    try:
        ctrl = Ctrl(spec["ctrl_port"])
        ok, text = wait_registered(ctrl, spec.get("register_timeout", 15))
        result["registered"] = ok
        result["register_info"] = " ".join(text.split())[:300]
        if ok:
            count = int(spec.get("count", 1))
            concurrency = max(1, int(spec.get("concurrency", 1)))
            index = 0
            while index < count:
                wave = list(range(index, min(count, index + concurrency)))
                result["calls"].extend(run_wave(ctrl, spec, wave))
                index += len(wave)
                if index < count:
                    time.sleep(float(spec.get("pause", 1.0)))
    finally:
        stop(proc, ctrl)
    result["answered"] = sum(1 for c in result["calls"] if c["established"])
    result["failed"] = len(result["calls"]) - result["answered"]
    with open(spec["result"], "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    print(json.dumps(result, sort_keys=True))
    return 0


def run_wave(ctrl, spec, wave):
    """Dial the calls of one wave, hold them for the duration, hang up; return their records."""
    duration = float(spec.get("duration", 10))
    setup_timeout = float(spec.get("setup_timeout", 20))
    calls = []
    known = set()
    for number in wave:
        ctrl.events = [ev for ev in ctrl.events if ev.get("id") in known]
        record = {"index": number, "call_id": None, "dialed_at": time.time(), "established": False,
                  "established_at": None, "closed_at": None, "close_reason": None, "duration_s": None}
        ctrl.command("dial", spec["peer_uri"])
        deadline = time.time() + 5.0
        while record["call_id"] is None and time.time() < deadline:
            for ev in ctrl.events:
                cid = ev.get("id")
                if cid and cid not in known and ev.get("direction", "outgoing") == "outgoing":
                    record["call_id"] = cid
                    known.add(cid)
                    break
            else:
                ctrl.pump(0.1)
        calls.append(record)
    by_id = dict((c["call_id"], c) for c in calls if c["call_id"])

    def absorb():
        for ev in ctrl.events:
            rec = by_id.get(ev.get("id"))
            if rec is None:
                continue
            if ev.get("type") == "CALL_ESTABLISHED" and not rec["established"]:
                rec["established"] = True
                rec["established_at"] = time.time()
            elif ev.get("type") == "CALL_CLOSED" and rec["closed_at"] is None:
                rec["closed_at"] = time.time()
                rec["close_reason"] = ev.get("param")
        ctrl.events = []

    deadline = time.time() + setup_timeout
    while time.time() < deadline:
        absorb()
        if all(c["established"] or c["closed_at"] for c in calls):
            break
        ctrl.pump(0.2)
    absorb()
    hold_until = time.time() + duration
    while time.time() < hold_until:
        ctrl.pump(min(0.5, hold_until - time.time()))
        absorb()
    for _call in calls:
        if any(c["closed_at"] is None for c in calls):
            ctrl.command("hangup", timeout=2.0)
            ctrl.pump(0.3)
            absorb()
    ctrl.pump(1.0)
    absorb()
    for rec in calls:
        if rec["call_id"] is None:
            rec["close_reason"] = rec["close_reason"] or "no call was created (dial refused)"
        elif not rec["established"] and not rec["close_reason"]:
            rec["close_reason"] = "not answered within %ds" % setup_timeout
        if rec["established_at"] and rec["closed_at"]:
            rec["duration_s"] = round(rec["closed_at"] - rec["established_at"], 3)
    return calls


def write_clip(path, seconds, size="320x240", fps=25):
    """A moving YUV4MPEG2 clip: a scrolling gradient with a bouncing box (VP8 has work to do)."""
    width, height = [int(x) for x in size.split("x")]
    frames = int(float(seconds) * int(fps))
    cw, ch = width // 2, height // 2
    u_plane = bytes(bytearray((x * 2) & 0xFF for x in range(cw))) * ch
    tmp = path + ".tmp"
    with open(tmp, "wb") as handle:
        handle.write(b"YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n" % (width, height, int(fps)))
        for n in range(frames):
            off = (n * 4) % width
            row = bytes(bytearray((((x + off) * 255 // width) ^ ((n * 7) & 0x3F)) & 0xFF for x in range(width)))
            y_plane = bytearray(row * height)
            bx, by = (n * 5) % (width - 40), (n * 3) % (height - 40)
            for line in range(by, by + 40):
                y_plane[line * width + bx:line * width + bx + 40] = b"\xeb" * 40
            v_plane = b"".join(bytes(bytearray([(n + r) & 0xFF])) * cw for r in range(ch))
            handle.write(b"FRAME\n" + bytes(y_plane) + u_plane + v_plane)
    os.rename(tmp, path)
    return 0


def pcapcat(out, inputs):
    """Concatenate classic pcap files: the first file's header, then every file's records."""
    header = None
    tmp = out + ".tmp"
    with open(tmp, "wb") as dst:
        for path in inputs:
            with open(path, "rb") as src:
                head = src.read(24)
                if len(head) < 24:
                    continue
                if header is None:
                    header = head
                    dst.write(head)
                elif head[:4] != header[:4] or head[20:24] != header[20:24]:
                    raise SystemExit("%s: byte order, precision or link type differs from the first file" % path)
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    dst.write(chunk)
    os.rename(tmp, out)
    return 0


def _sipp_base(spec):
    return ["sipp", "%s:%d" % (spec["server"], spec["server_port"]), "-nostdin", "-t", "u1",
            "-key", "user", spec["username"], "-key", "domain", spec["domain"],
            "-au", spec.get("auth_user") or spec["username"], "-ap", spec["password"]]


def run_sipp_callee(spec_path):
    """REGISTER the UAS's contact, then a SIPp UAS on sip_port (media on rtp_ports[0]).

    The REGISTER leaves from sip_port itself: a contact with a private address makes Kamailio's
    stock configuration store the REGISTER's source address and port ("received"), and send the
    INVITEs there; so the UAS binds that port once the REGISTER is done."""
    spec = json.load(open(spec_path))
    workdir = spec["config_dir"]
    if not os.path.isdir(workdir):
        os.makedirs(workdir, 0o700)
    log = open(spec["log"], "ab")
    state = {"stop": False}

    def on_term(_signum, _frame):
        state["stop"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    reg = subprocess.call(_sipp_base(spec) + ["-sf", os.path.join(spec["sipp_dir"], "register.xml"), "-m", "1",
                                              "-p", str(spec["sip_port"]), "-key", "contact_port", str(spec["sip_port"]),
                                              "-key", "expires", "600", "-timeout", "%ds" % spec.get("register_timeout", 15),
                                              "-timeout_error"],
                          cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    uas = None
    if reg == 0:
        uas = subprocess.Popen(["sipp", "-nostdin", "-t", "u1", "-sf", os.path.join(spec["sipp_dir"], "uas_answer.xml"),
                                "-p", str(spec["sip_port"]), "-mp", str(spec["rtp_ports"][0]), "-key", "pcap", spec["pcap"],
                                "-trace_err", "-error_file", os.path.join(workdir, "uas_errors.log")],
                               cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        time.sleep(1.0)  # a scenario SIPp refuses exits at once
    if reg != 0:
        ready = "ERR SIPp REGISTER exit code %d\n" % reg
    elif uas.poll() is not None:
        ready = "ERR SIPp UAS exit code %d (see %s)\n" % (uas.returncode, spec["log"])
    else:
        ready = "OK\n"
    with open(spec["ready"] + ".tmp", "w") as handle:
        handle.write(ready)
    os.rename(spec["ready"] + ".tmp", spec["ready"])
    while uas is not None and not state["stop"] and uas.poll() is None:
        time.sleep(0.5)
    if uas is not None and uas.poll() is None:
        uas.terminate()
        try:
            uas.wait(5)
        except subprocess.TimeoutExpired:
            uas.kill()
    return 0


def run_sipp_caller(spec_path):
    """SIPp UAC: count calls, concurrency at once, each held hold_ms; outcome from the statistics file."""
    spec = json.load(open(spec_path))
    workdir = spec["config_dir"]
    if not os.path.isdir(workdir):
        os.makedirs(workdir, 0o700)
    count, concurrency = int(spec.get("count", 1)), max(1, int(spec.get("concurrency", 1)))
    hold_ms = int(float(spec.get("duration", 10)) * 1000)
    stat = os.path.join(workdir, "stat.csv")
    waves = (count + concurrency - 1) // concurrency
    timeout = int(waves * (hold_ms / 1000.0 + float(spec.get("setup_timeout", 20))) + 30)
    with open(spec["log"], "ab") as log:
        code = subprocess.call(_sipp_base(spec) + [
            "-sf", os.path.join(spec["sipp_dir"], "uac_call.xml"), "-key", "callee", spec["peer_user"],
            "-key", "pcap", spec["pcap"], "-d", str(hold_ms), "-m", str(count), "-l", str(concurrency),
            "-r", str(concurrency), "-p", str(spec["sip_port"]), "-mp", str(spec["rtp_ports"][0]),
            "-timeout", "%ds" % timeout, "-timeout_error", "-default_behaviors", "all,-abortunexp",
            "-trace_stat", "-stf", stat, "-fd", "1"],
            cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    last = {}
    if os.path.isfile(stat):
        with open(stat) as handle:
            lines = [line.rstrip("\n").split(";") for line in handle if line.strip()]
        if len(lines) >= 2:
            last = dict(zip(lines[0], lines[-1]))
    ok = int(last.get("SuccessfulCall(C)", 0) or 0)
    failed = int(last.get("FailedCall(C)", 0) or 0)
    result = {"name": spec.get("name"), "engine": "sipp", "caller": spec["username"], "callee_uri": spec["peer_uri"],
              "media": "voice", "codec": "PCMA", "registered": True, "register_info": "SIPp authenticates each INVITE",
              "sipp_exit_code": code, "attempted": int(last.get("TotalCallCreated", 0) or 0), "answered": ok, "failed": failed,
              "calls": []}
    with open(spec["result"], "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    print(json.dumps(result, sort_keys=True))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "callee":
        return run_callee(argv[2])
    if len(argv) >= 3 and argv[1] == "caller":
        return run_caller(argv[2])
    if len(argv) >= 3 and argv[1] == "sipp-callee":
        return run_sipp_callee(argv[2])
    if len(argv) >= 3 and argv[1] == "sipp-caller":
        return run_sipp_caller(argv[2])
    if len(argv) >= 4 and argv[1] == "pcapcat":
        return pcapcat(argv[2], argv[3:])
    if len(argv) >= 4 and argv[1] == "clip":
        return write_clip(argv[2], argv[3], *argv[4:6])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
