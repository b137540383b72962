# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report assembly on the controller: run directory -> report.json, summary.csv, index.html.

Two layers, both pure Python (3.8+), no third-party package:

* A page made of sections (:class:`ReportPage`): the QoS role adds its sections with
  :func:`add_qos_sections`; another role (e.g. a load test) builds its own page or adds its
  sections to the same one with :meth:`ReportPage.add_section`, using the HTML and SVG helpers
  (:func:`html_table`, :func:`svg_line_chart`, :func:`svg_bar_chart`). The page renders to one
  self-contained HTML file with inline SVG: it opens offline, nothing is loaded from a CDN.
* The QoS run model: :func:`load_run` reads ``<run_dir>/<host>/`` (the files the role fetched:
  ``qos.json`` of ``voip_qos_analyze``, ``caller-N/result.json`` of the user agents,
  ``impairment.json`` and ``impairment-stats.json``), :func:`build_qos_report` merges them into
  one dict, :func:`summary_rows` flattens it into the rows of ``summary.csv``.
* Parts of a run page: every producer (the QoS report, the load test, ...) keeps what it adds to
  the run's page in ``<run_dir>/<name>_section.json`` (:func:`section_doc`: its sections, the
  dict it adds to ``report.json`` under ``<name>`` and its page parameters);
  :func:`read_section_files` reads them all and :func:`assemble_run` renders ``index.html`` and
  ``report.json`` from every part, so whichever producer runs last writes a page with all of
  them. A directory ``<name>/`` beside ``<name>_section.json`` (the load test's ``load/``) is that
  producer's, not a host of the QoS run.

Every output is a pure function of the inputs (sorted keys, fixed float formatting, no clock),
so writing them again from the same inputs changes nothing.
"""

from __future__ import absolute_import, division, print_function

import csv
import io
import json
import math
import os

from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_engine import aggregate_streams

__metaclass__ = type

REPORT_FORMAT = 1

# TIPHON index (4 very good .. 1 poor) -> colour of the cell / bar
GRADE_COLORS = {4: "#1a9850", 3: "#91cf60", 2: "#fc8d59", 1: "#d73027"}
NO_GRADE_COLOR = "#bdbdbd"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

SUMMARY_COLUMNS = (
    "run_id", "group", "call_id", "caller", "callee", "status", "reason", "media", "codec", "direction",
    "streams", "packets", "expected", "lost", "throughput_kbps", "delay_ms", "jitter_ms", "packet_loss_pct",
    "rfc3550_mean_jitter_ms", "rfc3550_max_jitter_ms", "mos_mean", "mos_min",
    "tiphon_index", "tiphon_category", "tiphon_delay", "tiphon_jitter", "tiphon_packet_loss",
)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:1.5em;color:#222;max-width:1200px}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
h3{font-size:1em;margin:1em 0 .3em}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f0f0f0}td.l,th.l{text-align:left}
.params td,.params th{text-align:left}
.failed{color:#b2182b;font-weight:bold}.ok{color:#1a9850;font-weight:bold}
.grade{color:#000}
.legend span{display:inline-block;padding:.1em .6em;margin-right:.4em;border-radius:3px}
figure{display:inline-block;margin:.3em 1em .8em 0}figcaption{font-size:.8em;color:#555}
nav a{margin-right:1em}
"""


# ---------------------------------------------------------------- small helpers

def esc(value):
    """HTML-escape any value (None -> empty)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else fmt(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def fmt(value, digits=3):
    """Stable text for a value: floats rounded and without trailing zeros, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ""
        text = ("%." + str(digits) + "f") % value
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return "0" if text in ("-0", "") else text
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def grade_color(index):
    """Colour of a TIPHON index (float index rounded down; None -> grey)."""
    if index is None:
        return NO_GRADE_COLOR
    return GRADE_COLORS.get(max(1, min(4, math.floor(float(index) + 1e-9))), NO_GRADE_COLOR)


def to_json(data):
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_csv(columns, rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([fmt(row.get(col)) for col in columns])
    return out.getvalue()


def html_table(columns, rows, css_class=None, cell_style=None):
    """A table; columns are (key, title) pairs, rows dicts; cell_style(key, row) -> style or None."""
    head = "".join('<th class="%s">%s</th>' % ("l" if i == 0 else "", esc(title)) for i, (_k, title) in enumerate(columns))
    body = []
    for row in rows:
        cells = []
        for i, (key, _title) in enumerate(columns):
            style = cell_style(key, row) if cell_style else None
            attrs = ' class="l"' if i == 0 or isinstance(row.get(key), str) else ""
            if style:
                attrs += ' style="%s"' % esc(style)
            value = row.get(key)
            cells.append("<td%s>%s</td>" % (attrs, value.html if isinstance(value, Html) else esc(value)))
        body.append("<tr>%s</tr>" % "".join(cells))
    return '<table%s><thead><tr>%s</tr></thead><tbody>%s</tbody></table>' % (
        ' class="%s"' % css_class if css_class else "", head, "".join(body))


class Html:
    """Trusted HTML for a table cell (not escaped)."""

    def __init__(self, html):
        self.html = html


# ---------------------------------------------------------------- SVG charts

def _nice_ticks(lo, hi, count=5):
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / float(count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while value <= hi + step * 0.5 and len(ticks) < 50:
        ticks.append(round(value, 10))
        value += step
    return ticks


def svg_line_chart(title, series, x_label="s", y_label="", width=560, height=240, y_min=0.0):
    """Inline SVG of lines. series: [{"label": str, "points": [(x, y), ...]}, ...]."""
    pts = [p for s in series for p in s.get("points", []) if p[1] is not None]
    left, right, top, bottom = 56, 12, 26, 38
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">'
             % (width, height, width, height, esc(title)),
             '<rect width="100%" height="100%" fill="#fff"/>',
             '<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>' % (left, esc(title))]
    if not pts:
        parts.append('<text x="%d" y="%d" font-size="12" fill="#777">no data</text></svg>' % (left, top + plot_h // 2))
        return "".join(parts)
    x_lo, x_hi = min(p[0] for p in pts), max(p[0] for p in pts)
    y_lo = min([y_min] + [p[1] for p in pts]) if y_min is not None else min(p[1] for p in pts)
    y_hi = max(p[1] for p in pts)
    xt, yt = _nice_ticks(x_lo, x_hi), _nice_ticks(y_lo, y_hi)
    x_lo, x_hi, y_lo, y_hi = xt[0], xt[-1], yt[0], yt[-1]

    def sx(x):
        return left + (x - x_lo) * plot_w / float(x_hi - x_lo or 1)

    def sy(y):
        return top + plot_h - (y - y_lo) * plot_h / float(y_hi - y_lo or 1)

    for y in yt:
        parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>' % (left, left + plot_w, sy(y), sy(y)))
        parts.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>' % (left - 4, sy(y) + 3, fmt(float(y), 2)))
    for x in xt:
        parts.append('<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>' % (sx(x), top + plot_h + 13, fmt(float(x), 2)))
    parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' % (left, top, plot_w, plot_h))
    parts.append('<text x="%d" y="%d" font-size="10" text-anchor="middle">%s</text>' % (left + plot_w // 2, height - 4, esc(x_label)))
    parts.append('<text x="12" y="%d" font-size="10" text-anchor="middle" transform="rotate(-90 12 %d)">%s</text>'
                 % (top + plot_h // 2, top + plot_h // 2, esc(y_label)))
    legend_x = left + 4
    for i, s in enumerate(series):
        color = s.get("color") or PALETTE[i % len(PALETTE)]
        line = " ".join("%.1f,%.1f" % (sx(x), sy(y)) for x, y in s.get("points", []) if y is not None)
        if line:
            parts.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"><title>%s</title></polyline>'
                         % (color, line, esc(s.get("label"))))
        parts.append('<rect x="%d" y="%d" width="10" height="3" fill="%s"/>' % (legend_x, height - 22, color))
        parts.append('<text x="%d" y="%d" font-size="9">%s</text>' % (legend_x + 13, height - 18, esc(s.get("label"))))
        legend_x += 14 + 6 * len(str(s.get("label", ""))) + 10
    parts.append("</svg>")
    return "".join(parts)


def svg_bar_chart(title, bars, y_label="", width=560, height=240, y_max=None):
    """Inline SVG of bars. bars: [{"label": str, "value": float|None, "color": "#rrggbb"}, ...]."""
    left, right, top, bottom = 56, 12, 26, 54
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">'
             % (width, height, width, height, esc(title)),
             '<rect width="100%" height="100%" fill="#fff"/>',
             '<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>' % (left, esc(title))]
    values = [b["value"] for b in bars if b.get("value") is not None]
    if not bars:
        parts.append('<text x="%d" y="%d" font-size="12" fill="#777">no data</text></svg>' % (left, top + plot_h // 2))
        return "".join(parts)
    ticks = _nice_ticks(0.0, y_max if y_max is not None else max(values + [1.0]))
    top_value = ticks[-1]
    for y in ticks:
        ypos = top + plot_h - y * plot_h / top_value
        parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>' % (left, left + plot_w, ypos, ypos))
        parts.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>' % (left - 4, ypos + 3, fmt(float(y), 2)))
    slot = plot_w / float(len(bars))
    for i, item in enumerate(bars):
        x = left + i * slot + slot * 0.15
        value = item.get("value")
        label = esc(item.get("label"))
        if value is not None:
            h = max(0.0, value) * plot_h / top_value
            parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>'
                         % (x, top + plot_h - h, slot * 0.7, h, item.get("color") or PALETTE[0], label, fmt(value)))
            parts.append('<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%s</text>'
                         % (x + slot * 0.35, top + plot_h - h - 3, fmt(value, 2)))
        else:
            parts.append('<text x="%.1f" y="%d" font-size="10" text-anchor="middle" fill="#b2182b">failed</text>'
                         % (x + slot * 0.35, top + plot_h - 3))
        parts.append('<text x="%.1f" y="%d" font-size="9" text-anchor="middle">%s</text>' % (x + slot * 0.35, top + plot_h + 13, label[:24]))
    parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' % (left, top, plot_w, plot_h))
    parts.append('<text x="12" y="%d" font-size="10" text-anchor="middle" transform="rotate(-90 12 %d)">%s</text>'
                 % (top + plot_h // 2, top + plot_h // 2, esc(y_label)))
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- the page and its sections

class ReportPage:
    """One HTML page made of ordered sections.

    ``add_section(key, title, body, order)`` adds (or replaces, same key) a section whose body is
    trusted HTML built with the helpers of this module; ``render()`` returns the whole page.
    Sections are sorted by (order, key): the QoS sections use orders 10-60, a load test can
    use 70+ to come after them, or lower numbers to come first.
    """

    def __init__(self, title, params=None):
        self.title = title
        self.params = params or {}
        self.sections = {}

    def add_section(self, key, title, body, order=50):
        self.sections[key] = {"key": key, "title": title, "body": body, "order": order}
        return self

    def ordered(self):
        return sorted(self.sections.values(), key=lambda s: (s["order"], s["key"]))

    def figures(self):
        """Number of inline SVG figures on the page."""
        return sum(s["body"].count("<svg ") for s in self.sections.values())

    def render(self):
        rows = [{"k": key, "v": fmt(value) if not isinstance(value, str) else value} for key, value in sorted(self.params.items())]
        params = html_table([("k", "parameter"), ("v", "value")], rows, css_class="params") if rows else ""
        nav = "".join('<a href="#%s">%s</a>' % (esc(s["key"]), esc(s["title"])) for s in self.ordered())
        body = "".join('<section id="%s"><h2>%s</h2>%s</section>\n' % (esc(s["key"]), esc(s["title"]), s["body"]) for s in self.ordered())
        return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                "<title>%s</title><style>%s</style></head>\n<body><h1>%s</h1>\n%s\n<nav>%s</nav>\n%s</body></html>\n"
                % (esc(self.title), CSS.strip(), esc(self.title), params, nav, body))


# ---------------------------------------------------------------- the QoS run model

def _read_json(path):
    with open(path, "rb") as handle:
        return json.loads(handle.read().decode("utf-8"))


def not_host_dirs(run_dir, names=None):
    """Directories of a run directory that are no QoS host: hidden ones, RESERVED_DIRS, and ``<name>/`` of every ``<name>_section.json``."""
    names = sorted(os.listdir(run_dir)) if names is None else names
    skip = set(RESERVED_DIRS)
    skip.update(n[:-len(SECTION_SUFFIX)] for n in names if n.endswith(SECTION_SUFFIX))
    skip.update(n for n in names if n.startswith("."))
    return skip


def load_run(run_dir, ignore=()):
    """Read what the role fetched: {host: {"qos": dict|None, "ua": [results], "impairment": ..., "impairment_stats": ...}}.

    Subdirectories are hosts, except those of :func:`not_host_dirs` and ``ignore``.
    """
    hosts = {}
    names = sorted(os.listdir(run_dir))
    skip = not_host_dirs(run_dir, names) | set(ignore or ())
    for host in names:
        hdir = os.path.join(run_dir, host)
        if host in skip or not os.path.isdir(hdir):
            continue
        entry = {"qos": None, "ua": [], "impairment": None, "impairment_stats": None, "files": []}
        for root, dirs, files in os.walk(hdir):
            dirs.sort()
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(root, name), hdir)
                entry["files"].append(rel.replace(os.sep, "/"))
        if os.path.isfile(os.path.join(hdir, "qos.json")):
            entry["qos"] = _read_json(os.path.join(hdir, "qos.json"))
        for name in ("impairment", "impairment_stats"):
            path = os.path.join(hdir, name.replace("_", "-") + ".json")
            if os.path.isfile(path):
                entry[name] = _read_json(path)
        for rel in entry["files"]:
            if rel.endswith("/result.json") or rel == "result.json":
                res = _read_json(os.path.join(hdir, rel))
                res["host"] = host
                res["file"] = rel
                entry["ua"].append(res)
        hosts[host] = entry
    return hosts


def _ip(endpoint):
    return endpoint.rsplit(":", 1)[0].strip("[]") if endpoint else ""


def _label(ip, addresses):
    for host, addr in sorted(addresses.items()):
        if addr == ip:
            return host
    return ip


def build_qos_report(hosts, params, capture_host=None):
    """Merge the fetched results of one run into the report dict."""
    params = dict(params or {})
    addresses = params.get("addresses") or {}
    captures = [h for h in sorted(hosts) if hosts[h]["qos"] is not None]
    if capture_host is None:
        capture_host = params.get("server") if params.get("server") in captures else (captures[0] if captures else None)
    qos = hosts[capture_host]["qos"] if capture_host else {"calls": [], "streams": [], "registrations": [], "summary": {}}
    cap_calls = dict((c["call_id"], c) for c in qos.get("calls", []))
    streams_by_call = {}
    for st in qos.get("streams", []):
        streams_by_call.setdefault(st.get("call_id"), []).append(st)

    ua_calls = []
    for host in sorted(hosts):
        for res in sorted(hosts[host]["ua"], key=lambda r: r.get("file", "")):
            if not res.get("registered"):
                ua_calls.append({"group": res.get("name"), "caller_host": host, "caller": res.get("caller"),
                                 "callee_uri": res.get("callee_uri"), "kind": res.get("media"), "codec": res.get("codec"),
                                 "call_id": None, "established": False,
                                 "close_reason": "caller not registered: %s" % (res.get("register_info") or "no answer")})
            for call in res.get("calls", []):
                ua_calls.append(dict(call, group=res.get("name"), caller_host=host, caller=res.get("caller"),
                                     callee_uri=res.get("callee_uri"), kind=res.get("media"), codec=res.get("codec")))

    calls = []
    seen = set()
    for ua in ua_calls:
        calls.append(_merge_call(ua, cap_calls.get(ua.get("call_id")), streams_by_call.get(ua.get("call_id"), []), addresses, params,
                                 capture_host))
        seen.add(ua.get("call_id"))
    # calls of the capture no user agent reported by Call-ID (SIPp groups report counts only):
    # attributed to the group whose caller and callee they have
    groups = []
    for host in sorted(hosts):
        for res in hosts[host]["ua"]:
            if res.get("engine") == "sipp":
                callee_user = (res.get("callee_uri") or "").split(":", 1)[-1].split("@", 1)[0]
                groups.append((res.get("caller"), callee_user, res, host))
    for cid in sorted((cid for cid in cap_calls if cid not in seen), key=lambda c: (cap_calls[c].get("start_time_s") or 0.0, c)):
        cap = cap_calls[cid]
        ua = None
        for caller, callee, res, host in groups:
            if caller == cap.get("caller") and callee == cap.get("callee"):
                ua = {"group": res.get("name"), "caller_host": host, "caller": caller, "callee_uri": res.get("callee_uri"),
                      "kind": "voice", "codec": res.get("codec"), "call_id": cid, "established": bool(cap.get("answered"))}
        calls.append(_merge_call(ua, cap, streams_by_call.get(cid, []), addresses, params, capture_host))

    streams = []
    for st in qos.get("streams", []):
        row = dict((k, v) for k, v in st.items() if k != "series")
        row["from"] = _label(_ip(st["src"]), addresses)
        row["to"] = _label(_ip(st["dst"]), addresses)
        row["capture_host"] = capture_host
        row["series"] = st.get("series", [])
        streams.append(row)

    answered = sum(1 for c in calls if c["status"] == "answered")
    impairments = {}
    for host in sorted(hosts):
        if hosts[host]["impairment"] is not None or hosts[host]["impairment_stats"] is not None:
            impairments[host] = dict(hosts[host]["impairment"] or {}, measured=hosts[host]["impairment_stats"])
    return {
        "format": REPORT_FORMAT,
        "run_id": params.get("run_id") or "",
        "params": params,
        "capture_host": capture_host,
        "hosts": dict((h, {"files": hosts[h]["files"], "capture": hosts[h]["qos"] is not None}) for h in sorted(hosts)),
        "impairments": impairments,
        "calls": calls,
        "streams": streams,
        "registrations": qos.get("registrations", []),
        "summary": {
            "calls": len(calls), "answered": answered, "failed": len(calls) - answered,
            "streams": len(streams),
            "capture": dict((k, v) for k, v in (qos.get("summary") or {}).items() if k not in ("by_media", "overall")),
            "by_media": (qos.get("summary") or {}).get("by_media") or {},
            "overall": (qos.get("summary") or {}).get("overall"),
        },
    }


def _merge_call(ua, cap, streams, addresses, params, capture_host=None):
    call_id = (ua or {}).get("call_id") or (cap or {}).get("call_id")
    callee = (cap or {}).get("callee")
    if not callee and ua and ua.get("callee_uri"):
        callee = ua["callee_uri"].split(":", 1)[-1].split("@", 1)[0]
    if cap is not None:
        answered = bool(cap.get("answered"))
    else:
        answered = bool(ua and ua.get("established"))
    reason = None
    if not answered:
        if cap is not None and cap.get("final_status"):
            reason = "%s %s" % (cap["final_status"], cap.get("final_reason") or "")
        if ua and ua.get("close_reason"):
            reason = "%s (user agent: %s)" % (reason, ua["close_reason"]) if reason else ua["close_reason"]
        if not reason:
            reason = "no final answer in the capture"
    caller_host = (ua or {}).get("caller_host")
    caller_ip = addresses.get(caller_host) if caller_host else None
    directions = {"caller->callee": [], "callee->caller": []}
    legs = []
    for st in sorted(streams, key=lambda s: (s["media"], s["src"], s["dst"], s["ssrc"])):
        src_ip, dst_ip = _ip(st["src"]), _ip(st["dst"])
        callee_ip = None
        for host, addr in addresses.items():
            if host != caller_host and addr in (src_ip, dst_ip) and host != params.get("server"):
                callee_ip = addr
        if (caller_ip and src_ip == caller_ip) or (callee_ip and dst_ip == callee_ip):
            direction = "caller->callee"
        elif (caller_ip and dst_ip == caller_ip) or (callee_ip and src_ip == callee_ip):
            direction = "callee->caller"
        else:
            direction = "unknown"
        directions.setdefault(direction, []).append(st)
        legs.append({"stream": "%s>%s %s" % (st["src"], st["dst"], st["ssrc"]), "media": st["media"], "codec": st["codec"],
                     "received_by_capture_host": bool(capture_host) and addresses.get(capture_host) == dst_ip,
                     "direction": direction, "from": _label(src_ip, addresses), "to": _label(dst_ip, addresses),
                     "packets": st["packets"], "lost": st["lost"], "loss_pct": st["loss_pct"],
                     "mean_jitter_ms": st["mean_jitter_ms"], "bitrate_kbps": st["bitrate_kbps"], "mos": st.get("mos")})
    # A relay (rtpengine) shows each packet twice: arriving from the sender and leaving to the
    # receiver. The figures per call count the legs the capture host received, once each.
    capture_ip = addresses.get(capture_host) if capture_host else None
    received = [st for st in streams if capture_ip and _ip(st["dst"]) == capture_ip]
    counted = set(id(st) for st in (received or streams))
    media = {}
    for kind in sorted(set(st["media"] for st in streams)):
        of_kind = [st for st in streams if st["media"] == kind and id(st) in counted]
        media[kind] = {"both": aggregate_streams(of_kind)}
        for direction, sts in sorted(directions.items()):
            agg = aggregate_streams([st for st in sts if st["media"] == kind and id(st) in counted])
            if agg:
                media[kind][direction] = agg
    return {
        "call_id": call_id,
        "group": (ua or {}).get("group"),
        "kind": (ua or {}).get("kind") or ("video" if "video" in media else "voice"),
        "codec": (ua or {}).get("codec"),
        "caller": (cap or {}).get("caller") or (ua or {}).get("caller"),
        "caller_host": caller_host,
        "callee": callee,
        "status": "answered" if answered else "failed",
        "reason": reason,
        "sip": None if cap is None else dict((k, cap.get(k)) for k in (
            "final_status", "final_reason", "auth_challenges", "setup_ringing_ms", "setup_answer_ms", "duration_s", "cancelled")),
        "user_agent": None if ua is None else dict((k, ua.get(k)) for k in ("established", "close_reason", "duration_s", "index")),
        "media": media,
        "streams": legs,
    }


def summary_rows(report):
    """One row per call, media kind and direction (both, caller->callee, callee->caller)."""
    rows = []
    for call in report["calls"]:
        base = {"run_id": report["run_id"], "group": call["group"], "call_id": call["call_id"], "caller": call["caller"],
                "callee": call["callee"], "status": call["status"], "reason": call["reason"], "codec": call["codec"]}
        if not call["media"]:
            rows.append(dict(base, media="none", direction="both"))
            continue
        for kind in sorted(call["media"]):
            for direction in ("both", "caller->callee", "callee->caller", "unknown"):
                agg = call["media"][kind].get(direction)
                if not agg:
                    continue
                grade = agg.get("tiphon") or {}
                # the codec the streams carried (the one asked for is the fallback)
                codecs = sorted(set(leg["codec"] for leg in call.get("streams") or () if leg.get("codec") and leg["media"] == kind
                                    and direction in ("both", leg["direction"])))
                rows.append(dict(base, media=kind, direction=direction, codec="/".join(codecs) or call["codec"], **dict(
                    (k, agg.get(k)) for k in ("streams", "packets", "expected", "lost", "throughput_kbps", "delay_ms", "jitter_ms",
                                              "packet_loss_pct", "rfc3550_mean_jitter_ms", "rfc3550_max_jitter_ms", "mos_mean", "mos_min")),
                    tiphon_index=grade.get("index"), tiphon_category=grade.get("index_category"),
                    tiphon_delay=grade.get("delay"), tiphon_jitter=grade.get("jitter"), tiphon_packet_loss=grade.get("packet_loss")))
    return rows


# ---------------------------------------------------------------- the QoS sections

def _grade_style(key, row):
    if key in ("tiphon_index", "tiphon_category"):
        return "background:%s" % grade_color(row.get("tiphon_index"))
    for name in ("delay", "jitter", "packet_loss"):
        if key == "tiphon_" + name:
            return "background:%s" % grade_color(row.get(key))
    if key == "status":
        return "color:%s;font-weight:bold" % ("#1a9850" if row.get("status") == "answered" else "#b2182b")
    return None


def add_qos_sections(page, report):
    """Add the QoS sections (calls, summary, MOS, per-stream plots, impairment) to a page."""
    calls = report["calls"]
    call_rows = [{"group": c["group"] or "(capture)", "call_id": c["call_id"], "caller": c["caller"], "callee": c["callee"],
                  "kind": c["kind"], "codec": c["codec"], "status": c["status"], "reason": c["reason"] or "",
                  "setup_answer_ms": (c["sip"] or {}).get("setup_answer_ms"), "duration_s": (c["sip"] or {}).get("duration_s")}
                 for c in calls]
    page.add_section("calls", "Calls", html_table(
        [("group", "group"), ("call_id", "Call-ID"), ("caller", "caller"), ("callee", "callee"), ("kind", "kind"),
         ("codec", "codec"), ("status", "status"), ("reason", "failure reason"), ("setup_answer_ms", "setup (ms)"),
         ("duration_s", "duration (s)")], call_rows, cell_style=_grade_style) if call_rows else "<p>No calls.</p>", order=10)

    legend = '<p class="legend">TIPHON: %s</p>' % "".join(
        '<span style="background:%s">%d %s</span>' % (GRADE_COLORS[i], i, name)
        for i, name in ((4, "very good"), (3, "good"), (2, "fair"), (1, "poor")))
    rows = summary_rows(report)
    page.add_section("summary", "Quality per call and media (paper figures, RFC 3550 jitter, E-model MOS)", legend + html_table(
        [("group", "group"), ("media", "media"), ("direction", "direction"), ("status", "status"), ("packets", "packets"),
         ("lost", "lost"), ("throughput_kbps", "throughput (kbit/s)"), ("delay_ms", "delay (ms)"), ("jitter_ms", "jitter (ms)"),
         ("packet_loss_pct", "packet loss (%)"), ("rfc3550_mean_jitter_ms", "RFC 3550 mean jitter (ms)"),
         ("mos_mean", "MOS"), ("tiphon_delay", "TIPHON delay"), ("tiphon_jitter", "TIPHON jitter"),
         ("tiphon_packet_loss", "TIPHON loss"), ("tiphon_index", "TIPHON index"), ("tiphon_category", "category")],
        rows, cell_style=_grade_style), order=20)

    bars = []
    for c in calls:
        audio = (c["media"].get("audio") or {}).get("both") or {}
        label = "%s %s" % (c["group"] or "call", (c["call_id"] or "")[:6])
        bars.append({"label": label, "value": audio.get("mos_mean") if c["status"] == "answered" else None,
                     "color": grade_color((audio.get("tiphon") or {}).get("index"))})
    page.add_section("mos", "MOS per call", '<figure>%s<figcaption>Mean E-model MOS of the audio streams, coloured by the'
                     ' TIPHON index; failed calls are marked.</figcaption></figure>'
                     % svg_bar_chart("MOS per call (audio)", bars, y_label="MOS", y_max=5.0), order=30)

    by_call = {}
    for st in report["streams"]:
        by_call.setdefault((st.get("call_id") or "", st["media"]), []).append(st)
    figures = []
    for (call_id, kind), sts in sorted(by_call.items()):
        group = next((c["group"] for c in calls if c["call_id"] == call_id), None) or call_id or "no call"
        sts = sorted(sts, key=lambda s: (s["from"], s["to"], s["ssrc"]))
        figures.append("<h3>%s - %s</h3>" % (esc(group), esc(kind)))
        for metric, title, unit in (("max_jitter_ms", "jitter (max per second)", "ms"), ("loss_pct", "packet loss per second", "%"),
                                    ("bitrate_kbps", "bitrate", "kbit/s")):
            series = []
            for st in sts:
                points = []
                for row in st.get("series", []):
                    if metric == "loss_pct":
                        total = (row.get("packets") or 0) + max(row.get("lost") or 0, 0)
                        value = 100.0 * max(row.get("lost") or 0, 0) / total if total else 0.0
                    else:
                        value = row.get(metric)
                    points.append((float(row["second"]), None if value is None else float(value)))
                series.append({"label": "%s>%s %s" % (st["from"], st["to"], st["ssrc"]), "points": points})
            figures.append("<figure>%s</figure>" % svg_line_chart("%s (%s)" % (title, unit), series, "second of the stream", unit))
    page.add_section("streams", "Streams over time", "".join(figures) if figures else "<p>No RTP streams in the capture.</p>", order=40)

    stream_keys = ("from", "to", "media", "codec", "ssrc", "packets", "lost", "loss_pct", "mean_jitter_ms", "max_jitter_ms", "bitrate_kbps", "mos")
    stream_rows = [dict((k, st.get(k)) for k in stream_keys)
                   for st in sorted(report["streams"], key=lambda s: (s.get("call_id") or "", s["media"], s["from"], s["to"]))]
    page.add_section("stream_table", "RTP streams (Wireshark figures)", html_table(
        [("from", "from"), ("to", "to"), ("media", "media"), ("codec", "codec"), ("ssrc", "SSRC"), ("packets", "packets"),
         ("lost", "lost"), ("loss_pct", "loss (%)"), ("mean_jitter_ms", "mean jitter (ms)"), ("max_jitter_ms", "max jitter (ms)"),
         ("bitrate_kbps", "kbit/s"), ("mos", "MOS")], stream_rows) if stream_rows else "<p>None.</p>", order=50)

    imp_rows = []
    for host, imp in sorted(report["impairments"].items()):
        measured = imp.get("measured") or {}
        imp_rows.append({"host": host, "profile": imp.get("profile"), "method": imp.get("method"), "interface": imp.get("interface"),
                         "delay_ms": imp.get("delay_ms"), "jitter_ms": imp.get("jitter_ms"), "loss_pct": imp.get("loss_pct"),
                         "packets": measured.get("packets"), "dropped": measured.get("dropped"),
                         "measured_loss_pct": measured.get("loss_pct"), "measured_delay_ms": measured.get("delay_mean_ms")})
    page.add_section("impairment", "Impairment", html_table(
        [("host", "host"), ("profile", "profile"), ("method", "method"), ("interface", "interface"), ("delay_ms", "delay (ms)"),
         ("jitter_ms", "jitter +/- (ms)"), ("loss_pct", "loss (%)"), ("packets", "packets seen"), ("dropped", "dropped"),
         ("measured_loss_pct", "dropped (%)"), ("measured_delay_ms", "mean hold (ms)")], imp_rows)
        if imp_rows else "<p>No impairment.</p>", order=60)
    return page


# ---------------------------------------------------------------- parts of a run page (<name>_section.json)

SECTION_SUFFIX = "_section.json"
# subdirectories of a run directory that belong to a producer, never to a host (even before its section file exists)
RESERVED_DIRS = ("load",)
QOS_PART = "qos"


def section_doc(name, sections, report=None, params=None):
    """What one producer adds to the run page: ``{"format", "name", "sections", "report", "params"}``.

    ``sections``: ``[{"key", "title", "body", "order"}]`` (body: trusted HTML); ``report``: the dict
    ``report.json`` gets under ``name`` (None: nothing); ``params``: shown on top of the page.
    """
    return {"format": REPORT_FORMAT, "name": name,
            "sections": [{"key": s["key"], "title": s["title"], "body": s["body"], "order": int(s.get("order", 70))} for s in sections],
            "report": report, "params": dict(params or {})}


def _check_doc(name, data):
    """A section file's content as a section_doc (the single-section form {key, title, body[, order]} is accepted)."""
    if isinstance(data, dict) and "key" in data and "body" in data and "sections" not in data:
        data = {"name": name, "sections": [data]}
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        raise ValueError("%s%s: not a section file (a JSON object with a list 'sections')" % (name, SECTION_SUFFIX))
    for sec in data["sections"]:
        if not isinstance(sec, dict) or not all(isinstance(sec.get(k), str) for k in ("key", "title", "body")):
            raise ValueError("%s%s: every section needs the strings key, title and body" % (name, SECTION_SUFFIX))
    return section_doc(name, data["sections"], data.get("report"), data.get("params") if isinstance(data.get("params"), dict) else None)


def read_section_files(run_dir):
    """{name: section_doc} of every ``<run_dir>/<name>_section.json``; ValueError names a file that is not one."""
    docs = {}
    for fname in sorted(os.listdir(run_dir)):
        path = os.path.join(run_dir, fname)
        if not fname.endswith(SECTION_SUFFIX) or not os.path.isfile(path):
            continue
        name = fname[:-len(SECTION_SUFFIX)]
        try:
            data = _read_json(path)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError("%s: not valid JSON (%s)" % (fname, exc))
        docs[name] = _check_doc(name, data)
    return docs


def qos_sections(report):
    """The QoS sections of a report as section_doc items (the page's own params are not part of them)."""
    page = ReportPage("")
    add_qos_sections(page, report)
    return [dict(s) for s in page.ordered()]


def assemble_run(title, params, parts, extra_sections=None, qos_report=None):
    """Render a run from its parts: ``({"report.json", "index.html"[, "summary.csv"]}, page)``.

    ``parts``: {name: section_doc}; the ``qos`` part's report (or ``qos_report``) is the top level of
    ``report.json`` as before, every other part's report goes under its name. Page parameters are the
    parts' (in name order) overlaid with ``params``; sections are sorted by (order, key), a later
    part or an ``extra_sections`` item with the same key replaces an earlier one.
    """
    qos_part = parts.get(QOS_PART)
    if qos_report is None and qos_part is not None and isinstance(qos_part.get("report"), dict):
        qos_report = qos_part["report"]
    page_params = {}
    for name in sorted(parts):
        page_params.update(parts[name].get("params") or {})
    page_params.update(params or {})
    page_params = dict((k, v) for k, v in page_params.items() if k not in ("addresses",))
    page = ReportPage(title, page_params)
    for name in sorted(parts):
        for sec in parts[name]["sections"]:
            page.add_section(sec["key"], sec["title"], sec["body"], sec.get("order", 70))
    for sec in extra_sections or []:
        page.add_section(sec["key"], sec["title"], sec["body"], sec.get("order", 70))
    report = dict(qos_report) if qos_report is not None else build_qos_report({}, params or {})
    for name in sorted(parts):
        if name != QOS_PART and parts[name].get("report") is not None:
            # a part named like a key of the QoS report goes beside it, not over it
            report[name if name not in report else name + "_part"] = parts[name]["report"]
    report["parts"] = sorted(parts)
    files = {"report.json": to_json(report), "index.html": page.render()}
    if qos_report is not None:
        files["summary.csv"] = to_csv(SUMMARY_COLUMNS, summary_rows(qos_report))
    return files, page


def render_qos_files(report, title, extra_sections=None):
    """Return {"report.json": text, "summary.csv": text, "index.html": text} and the page's figure count."""
    params = dict((k, v) for k, v in report["params"].items() if k not in ("addresses",))
    page = ReportPage(title, params)
    add_qos_sections(page, report)
    for section in extra_sections or []:
        page.add_section(section["key"], section["title"], section["body"], section.get("order", 70))
    files = {
        "report.json": to_json(report),
        "summary.csv": to_csv(SUMMARY_COLUMNS, summary_rows(report)),
        "index.html": page.render(),
    }
    return files, page.figures()


def write_files(directory, files, check_mode=False):
    """Write the files whose content differs; return the names that were (or would be) changed."""
    changed = []
    for name in sorted(files):
        path = os.path.join(directory, name)
        data = files[name].encode("utf-8")
        try:
            with open(path, "rb") as handle:
                if handle.read() == data:
                    continue
        except (IOError, OSError):
            pass
        changed.append(name)
        if not check_mode:
            tmp = path + ".tmp"
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.rename(tmp, path)
    return changed
