# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The paper's tables from the run directories of one experiment.

Pure Python (3.8+), no third-party package. The controller calls it through the
``voip_experiment_report`` module after ``playbooks/experiment.yml`` made, for every VM size, one
``voip_qos`` run per impairment profile (the paper's distances) and one ``voip_loadtest`` run.

* :func:`normalise_runs` checks the run list and gives every run its VM size and distance.
* :func:`read_qos_run` reads a QoS run directory: ``report.json`` (written by
  ``voip_report``), or ``summary.csv`` when the JSON is missing or unreadable. Only the
  per-call figures of the legs the capture host received (direction ``both``) are used.
* :func:`read_load_run` reads ``load_table_cloud.csv`` / ``load_table_server.csv`` of a load
  run (in the run directory or its ``load/`` subdirectory).
* :func:`build_experiment` pools the calls into the cells of Tables 4.1.1-4.1.3, collects the
  load rows of Tables 4.4.1-4.4.2, the plots' series and the computed conclusion.
* :func:`render_files` turns that into ``experiment.json``, the table CSV files and
  ``index.html``, with the HTML/SVG/CSV helpers of ``voip_report``.

A run directory that is missing or holds no usable figures is reported (status ``missing`` or
``incomplete``), never raised; :class:`ExperimentError` is raised only for bad input and when no
run has any data. Every output is a pure function of the inputs (sorted, fixed formatting, no
clock), so the same inputs give the same bytes.
"""

from __future__ import absolute_import, division, print_function

import csv
import io
import json
import math
import os
import re

from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_grades import tiphon
from ansible_collections.nebulavoip.cloud.plugins.module_utils.voip_report import (
    GRADE_COLORS,
    PALETTE,
    ReportPage,
    esc,
    fmt,
    grade_color,
    html_table,
    svg_bar_chart,
    svg_line_chart,
    to_csv,
    to_json,
)

__metaclass__ = type

EXPERIMENT_FORMAT = 1

# call kind -> the media whose streams give the kind's figures
MEDIA = ("voice", "video")
PRIMARY_MEDIA = {"voice": "audio", "video": "video"}

# load tables: host key of voip_loadtest -> (table id, name in captions)
LOAD_HOSTS = (("cloud", "4.4.1", "cloud host"), ("server", "4.4.2", "SIP server"))
LOAD_TABLE_NAMES = ("load_table_%s.csv", os.path.join("load", "load_table_%s.csv"))
LOAD_CSV_COLUMNS = (("users", "Users"), ("cpu_pct", "CPU usage (%)"), ("ram_pct", "RAM usage (%)"), ("disk_pct", "Disk usage (%)"))

QOS_TABLES = (("4.1.1", "voice"), ("4.1.2", "video"))
FILE_NAMES = {
    "4.1.1": "table_4_1_1.csv", "4.1.2": "table_4_1_2.csv", "4.1.3": "table_4_1_3.csv",
    "4.4.1": "table_4_4_1.csv", "4.4.2": "table_4_4_2.csv",
}
TABLE_TITLES = {
    "4.1.1": "Table 4.1.1 - Voice calls: QoS per distance and VM size",
    "4.1.2": "Table 4.1.2 - Video calls: QoS per distance and VM size",
    "4.1.3": "Table 4.1.3 - Voice against video per VM size (all distances)",
    "4.4.1": "Table 4.4.1 - Resource usage of the cloud host against users",
    "4.4.2": "Table 4.4.2 - Resource usage of the SIP server against users",
}

# (key of a cell, CSV/HTML header)
QOS_COLUMNS = (
    ("vm_size", "VM size"), ("distance", "Distance"), ("profile", "Profile"), ("calls", "Calls"), ("failed", "Failed calls"),
    ("throughput_kbps", "Throughput (kbit/s)"), ("delay_ms", "Delay (ms)"), ("jitter_ms", "Jitter (ms)"),
    ("packet_loss_pct", "Packet loss (%)"), ("rfc3550_jitter_ms", "RFC 3550 jitter (ms)"), ("mos", "MOS"),
    ("tiphon_index", "TIPHON index"), ("status", "Status"),
)
VS_COLUMNS = (
    ("vm_size", "VM size"), ("media", "Call"), ("distances", "Distances"), ("calls", "Calls"), ("failed", "Failed calls"),
    ("throughput_kbps", "Throughput (kbit/s)"), ("throughput_ratio", "Throughput vs voice (x)"), ("delay_ms", "Delay (ms)"),
    ("jitter_ms", "Jitter (ms)"), ("packet_loss_pct", "Packet loss (%)"), ("mos", "MOS"), ("tiphon_index", "TIPHON index"),
)
LOAD_COLUMNS = (("vm_size", "VM size"), ("users", "Users"), ("cpu_pct", "CPU usage (%)"), ("ram_pct", "RAM usage (%)"),
                ("disk_pct", "Disk usage (%)"))

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
DISTANCE_RE = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)")
# a difference of loss (points) or jitter (ms) growth below this counts as alike
DEGRADE_EPSILON = 0.05


class ExperimentError(Exception):
    """Bad input, or nothing to report: one clear message."""


# ---------------------------------------------------------------- small helpers

def _num(value):
    """A finite float from a number or numeric text; None otherwise."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(out) or math.isinf(out):
        return None
    return out


def _round(value, digits=3):
    return None if value is None else round(value, digits)


def _gb(mb):
    return fmt(mb / 1024.0, 2)


def check_name(value, what):
    """A run or experiment ID names a directory: a plain name, no path."""
    text = "" if value is None else str(value)
    if not text or text in (".", "..") or not NAME_RE.match(text):
        raise ExperimentError("%s %r must be a plain directory name (letters, digits and _ . -)" % (what, text))
    return text


def vm_size_of(run):
    """(sort key, label) of a run's VM size."""
    memory, cpu, disk = run["vm_memory_mb"], run.get("vm_cpu"), run.get("vm_disk_mb")
    key = (memory, cpu if cpu is not None else -1.0, disk if disk is not None else -1)
    if run.get("vm_label"):
        return key, str(run["vm_label"])
    label = "%s GB" % _gb(memory)
    if cpu is not None:
        label += " / %s vCPU" % fmt(float(cpu))
    if disk is not None:
        label += " / %s GB disk" % _gb(disk)
    return key, label


def distance_value(label):
    """Metres from a label like "5 m" or "2.5m"; None when it does not start with a number."""
    match = DISTANCE_RE.match(label or "")
    return float(match.group(1).replace(",", ".")) if match else None


# ---------------------------------------------------------------- the run list

def normalise_runs(runs, profiles=None):
    """Checked copies of the runs with ``vm_key``, ``vm_size`` and (QoS) ``distance`` filled in.

    Raises ExperimentError for bad input (missing keys, duplicate runs, a QoS run without
    profile or distance, an ID that is not a plain name).
    """
    profiles = profiles or {}
    if not isinstance(profiles, dict):
        raise ExperimentError("profiles must be a dict of profile name to {delay_ms, jitter_ms, loss_pct, distance}")
    if not runs:
        raise ExperimentError("runs is empty: list the run directories of the experiment")
    out, seen = [], set()
    for index, item in enumerate(runs):
        if not isinstance(item, dict):
            raise ExperimentError("runs[%d] must be a dict, got %r" % (index, item))
        run_id = check_name(item.get("run_id"), "runs[%d].run_id" % index)
        kind = item.get("kind")
        if kind not in ("qos", "load"):
            raise ExperimentError("runs[%d] (%s): kind must be qos or load, got %r" % (index, run_id, kind))
        if (run_id, kind) in seen:
            raise ExperimentError("run %s (%s) is listed twice" % (run_id, kind))
        seen.add((run_id, kind))
        memory = _num(item.get("vm_memory_mb"))
        if memory is None or memory <= 0:
            raise ExperimentError("run %s: vm_memory_mb must be a positive number, got %r" % (run_id, item.get("vm_memory_mb")))
        run = {"run_id": run_id, "kind": kind, "vm_memory_mb": int(memory), "vm_cpu": _num(item.get("vm_cpu")),
               "vm_disk_mb": None if _num(item.get("vm_disk_mb")) is None else int(_num(item.get("vm_disk_mb"))),
               "vm_label": item.get("vm_label") or None, "profile": item.get("profile") or None,
               "distance": item.get("distance") or None}
        run["vm_key"], run["vm_size"] = vm_size_of(run)
        if kind == "qos":
            profile = profiles.get(run["profile"]) if run["profile"] else None
            if run["distance"] is None and isinstance(profile, dict) and profile.get("distance") is not None:
                run["distance"] = profile.get("distance")
            if run["distance"] is None:
                run["distance"] = run["profile"]
            if run["distance"] is None:
                raise ExperimentError("run %s: a qos run needs distance or profile" % run_id)
            run["distance"] = str(run["distance"])
            if run["profile"] and run["profile"] not in profiles and profiles:
                raise ExperimentError("run %s: profile %s is not in profiles (%s)" % (run_id, run["profile"], ", ".join(sorted(profiles))))
        out.append(run)
    _check_unique(out, "vm_size", "vm_key", "VM size %r names two sizes (runs %s and %s): give them different vm_label")
    _check_unique([r for r in out if r["kind"] == "qos"], "distance", "profile",
                  "distance %r stands for two profiles (runs %s and %s): one profile per distance")
    return out


def _check_unique(runs, label_key, value_key, message):
    first = {}
    for run in runs:
        label = run[label_key]
        if label in first and first[label][value_key] != run[value_key]:
            raise ExperimentError(message % (label, first[label]["run_id"], run["run_id"]))
        first.setdefault(label, run)


# ---------------------------------------------------------------- reading run directories

def _read_json_file(path):
    with open(path, "rb") as handle:
        return json.loads(handle.read().decode("utf-8"))


def _read_csv_file(path):
    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


FIGURE_KEYS = ("streams", "packets", "expected", "lost", "throughput_kbps", "delay_ms", "jitter_ms", "packet_loss_pct",
               "rfc3550_mean_jitter_ms", "mos_mean", "mos_min")


def _figures(source):
    """The numbers of one aggregate (dict from report.json or a summary.csv row); None without throughput."""
    if not isinstance(source, dict):
        return None
    figures = dict((key, _num(source.get(key))) for key in FIGURE_KEYS)
    if figures["throughput_kbps"] is None and figures["packets"] is None:
        return None
    return figures


def _calls_from_report(report):
    calls = []
    for call in report.get("calls") or []:
        if not isinstance(call, dict):
            continue
        media = call.get("media") if isinstance(call.get("media"), dict) else {}
        figures = {}
        for name, per_direction in sorted(media.items()):
            if isinstance(per_direction, dict):
                agg = _figures(per_direction.get("both"))
                if agg:
                    figures[name] = agg
        kind = call.get("kind") if call.get("kind") in MEDIA else ("video" if "video" in media else "voice")
        calls.append({"call_id": call.get("call_id"), "group": call.get("group"), "kind": kind,
                      "answered": call.get("status") == "answered", "reason": call.get("reason"), "media": figures})
    return calls


def _calls_from_summary(rows):
    """summary.csv has one row per call, media and direction, but no call kind.

    A call group of voip_qos makes calls of one kind: a group with a video row is a video
    group, one with audio rows only a voice group, and every call takes its group's kind. A group
    without any media row (none of its calls answered) is of kind ``unknown``.
    """
    by_call, order, group_kind = {}, [], {}
    for row in rows:
        group = row.get("group") or ""
        key = (group, row.get("call_id") or "")
        if key not in by_call:
            by_call[key] = {"call_id": row.get("call_id") or None, "group": row.get("group") or None, "kind": "unknown",
                            "answered": row.get("status") == "answered", "reason": row.get("reason") or None, "media": {}}
            order.append(key)
        media = row.get("media") or ""
        if media == "video" or (media == "audio" and group_kind.get(group) != "video"):
            group_kind[group] = "voice" if media == "audio" else "video"
        if media in ("audio", "video") and (row.get("direction") or "both") == "both":
            agg = _figures(row)
            if agg:
                by_call[key]["media"][media] = agg
    for key in order:
        by_call[key]["kind"] = group_kind.get(key[0], "unknown")
    return [by_call[key] for key in order]


def _profiles_of(report):
    """Impairment profile names a report.json names (params.profile and params.impairments)."""
    params = report.get("params") if isinstance(report.get("params"), dict) else {}
    names = set()
    if params.get("profile"):
        names.add(str(params["profile"]))
    impairments = params.get("impairments")
    if isinstance(impairments, dict):
        names.update(str(v) for v in impairments.values() if v and v != "none")
    return names


def read_qos_run(run_dir, run=None):
    """What a QoS run directory holds: status (ok, incomplete, missing), reason, source, calls, warnings."""
    out = {"status": "ok", "reason": None, "source": None, "calls": [], "warnings": []}
    if not os.path.isdir(run_dir):
        out.update(status="missing", reason="no run directory")
        return out
    problems = []
    report_path = os.path.join(run_dir, "report.json")
    summary_path = os.path.join(run_dir, "summary.csv")
    if os.path.isfile(report_path):
        try:
            report = _read_json_file(report_path)
            if not isinstance(report, dict) or not isinstance(report.get("calls"), list):
                raise ValueError("no list of calls")
            out["calls"] = _calls_from_report(report)
            out["source"] = "report.json"
            seen = _profiles_of(report)
            if run and run.get("profile") and seen and run["profile"] not in seen:
                out["warnings"].append("report.json names profile(s) %s, the run list says %s" % (", ".join(sorted(seen)), run["profile"]))
        except (IOError, OSError, ValueError, UnicodeDecodeError) as exc:
            problems.append("report.json unreadable (%s)" % exc)
    else:
        problems.append("no report.json")
    if out["source"] is None:
        if os.path.isfile(summary_path):
            try:
                out["calls"] = _calls_from_summary(_read_csv_file(summary_path))
                out["source"] = "summary.csv"
            except (IOError, OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
                problems.append("summary.csv unreadable (%s)" % exc)
        else:
            problems.append("no summary.csv")
    if out["source"] is None:
        out.update(status="incomplete", reason=", ".join(problems))
        return out
    if problems:
        out["warnings"].append("%s; figures read from %s" % (", ".join(problems), out["source"]))
    if not out["calls"]:
        out.update(status="incomplete", reason="%s lists no call" % out["source"])
        return out
    unknown = [c for c in out["calls"] if c["kind"] not in MEDIA]
    if unknown:
        out["warnings"].append("%d call(s) of unknown kind left out (%s has no kind for a call group without an answered call)"
                               % (len(unknown), out["source"]))
    if len(unknown) == len(out["calls"]):
        out.update(status="incomplete", reason="%s lists no answered call (%d failed)" % (out["source"], len(unknown)))
        return out
    lacking = []
    for kind in MEDIA:
        of_kind = [c for c in out["calls"] if c["kind"] == kind]
        if not of_kind:
            continue
        good = [c for c in of_kind if c["answered"] and PRIMARY_MEDIA[kind] in c["media"]]
        if not good:
            reasons = sorted(set(c["reason"] for c in of_kind if c["reason"]))
            lacking.append("%s: no answered call with %s figures of %d%s" % (
                kind, PRIMARY_MEDIA[kind], len(of_kind), (" (%s)" % "; ".join(reasons)) if reasons else ""))
    if len(lacking) == len(set(c["kind"] for c in out["calls"] if c["kind"] in MEDIA)):
        out.update(status="incomplete", reason="; ".join(lacking))
    elif lacking:
        out.update(status="partial", reason="; ".join(lacking))
    return out


def _load_rows(rows):
    out = []
    for row in rows:
        users = _num(row.get("Users"))
        if users is None:
            continue
        item = {"users": int(users)}
        for key, header in LOAD_CSV_COLUMNS[1:]:
            item[key] = _num(row.get(header))
        if any(item[key] is not None for key, _header in LOAD_CSV_COLUMNS[1:]):
            out.append(item)
    return sorted(out, key=lambda r: r["users"])


def read_load_run(run_dir):
    """The load tables of a load run: status, reason, tables {host key: rows}, files {host key: relative path}."""
    out = {"status": "ok", "reason": None, "tables": {}, "files": {}, "warnings": []}
    if not os.path.isdir(run_dir):
        out.update(status="missing", reason="no run directory")
        return out
    problems = []
    for host, _table, name in LOAD_HOSTS:
        found = None
        for pattern in LOAD_TABLE_NAMES:
            if os.path.isfile(os.path.join(run_dir, pattern % host)):
                found = pattern % host
                break
        if found is None:
            problems.append("no %s (%s)" % (LOAD_TABLE_NAMES[0] % host, name))
            continue
        try:
            rows = _load_rows(_read_csv_file(os.path.join(run_dir, found)))
        except (IOError, OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
            problems.append("%s unreadable (%s)" % (found, exc))
            continue
        if not rows:
            problems.append("%s has no row with Users and a usage figure" % found)
            continue
        out["tables"][host] = rows
        out["files"][host] = found.replace(os.sep, "/")
    if not out["tables"]:
        out.update(status="incomplete", reason=", ".join(problems))
    elif problems:
        out.update(status="partial", reason=", ".join(problems))
    return out


# ---------------------------------------------------------------- pooling

def pool(aggregates):
    """One set of figures over several calls' aggregates (as aggregate_streams makes them).

    Throughput is the mean per call; delay and jitter are weighted by packets; loss is lost over
    expected; MOS the mean of the calls' means. TIPHON from the pooled delay, jitter and loss.
    """
    aggs = [a for a in aggregates if a]
    if not aggs:
        return None

    def weight(agg):
        return agg["packets"] if agg.get("packets") else 1.0

    def weighted(key):
        pairs = [(agg[key], weight(agg)) for agg in aggs if agg.get(key) is not None]
        total = sum(w for _v, w in pairs)
        return sum(v * w for v, w in pairs) / total if total else None

    def mean(key):
        values = [agg[key] for agg in aggs if agg.get(key) is not None]
        return sum(values) / len(values) if values else None

    if all(agg.get("expected") for agg in aggs) and all(agg.get("lost") is not None for agg in aggs):
        loss = sum(agg["lost"] for agg in aggs) * 100.0 / sum(agg["expected"] for agg in aggs)
    else:
        loss = weighted("packet_loss_pct")
    delay, jitter = weighted("delay_ms"), weighted("jitter_ms")
    mins = [agg["mos_min"] for agg in aggs if agg.get("mos_min") is not None]
    grade = tiphon(delay, jitter, None if loss is None else max(loss, 0.0))
    return {
        "calls": len(aggs),
        "packets": int(sum(agg.get("packets") or 0 for agg in aggs)),
        "throughput_kbps": _round(mean("throughput_kbps")),
        "delay_ms": _round(delay),
        "jitter_ms": _round(jitter),
        "packet_loss_pct": _round(loss),
        "rfc3550_jitter_ms": _round(weighted("rfc3550_mean_jitter_ms")),
        "mos": _round(mean("mos_mean"), 2),
        "mos_min": min(mins) if mins else None,
        "tiphon_index": grade["index"],
        "tiphon_category": grade["index_category"],
    }


def _cell(media, vm, distance, entries):
    """One table cell: the calls of a kind in every run of one VM size and distance."""
    primary = PRIMARY_MEDIA[media]
    runs, aggs, failed, statuses, totals = [], [], 0, [], []
    for run, data in entries:
        runs.append(run["run_id"])
        if not data["calls"]:
            statuses.append("%s (%s)" % (data["status"], run["run_id"]))
            continue
        for call in data["calls"]:
            if call["kind"] != media:
                continue
            if call["answered"] and primary in call["media"]:
                aggs.append(call["media"][primary])
                totals.append(sum(agg.get("throughput_kbps") or 0.0 for agg in call["media"].values()))
            else:
                failed += 1
    cell = {"media": media, "vm_size": vm["label"], "vm_memory_mb": vm["vm_memory_mb"], "vm_cpu": vm["vm_cpu"],
            "vm_disk_mb": vm["vm_disk_mb"], "distance": distance["label"], "distance_m": distance["value"],
            "profile": distance["profile"], "runs": sorted(runs), "failed": failed}
    figures = pool(aggs)
    if figures:
        cell.update(figures)
        cell["status"] = "ok"
    else:
        cell.update(dict((key, None) for key in ("throughput_kbps", "delay_ms", "jitter_ms", "packet_loss_pct",
                                                 "rfc3550_jitter_ms", "mos", "mos_min", "tiphon_index", "tiphon_category")))
        cell.update(calls=0, packets=0)
        if statuses:
            cell["status"] = "; ".join(statuses)
        elif failed:
            cell["status"] = "no answered call (%d failed)" % failed
        else:
            cell["status"] = "no %s call" % media
    if media == "video":
        cell["mos"] = cell["mos_min"] = None  # the E-model is for voice
        cell["call_throughput_kbps"] = _round(sum(totals) / len(totals)) if totals else None
    return cell, aggs


# ---------------------------------------------------------------- the experiment

def _distances(runs, profiles):
    """Distances in plot order: by metres when every label has a number, else in the order of the runs."""
    seen = []
    for run in runs:
        if run["kind"] == "qos" and run["distance"] not in [d["label"] for d in seen]:
            profile = profiles.get(run["profile"]) if run["profile"] else None
            profile = profile if isinstance(profile, dict) else {}
            seen.append({"label": run["distance"], "profile": run["profile"], "value": distance_value(run["distance"]),
                         "delay_ms": _num(profile.get("delay_ms")), "jitter_ms": _num(profile.get("jitter_ms")),
                         "loss_pct": _num(profile.get("loss_pct"))})
    numeric = bool(seen) and all(d["value"] is not None for d in seen)
    if numeric:
        seen.sort(key=lambda d: (d["value"], d["label"]))
    for index, item in enumerate(seen):
        item["x"] = item["value"] if numeric else float(index + 1)
    return seen, numeric


def _vm_sizes(runs):
    sizes = {}
    for run in runs:
        sizes.setdefault(run["vm_key"], {"label": run["vm_size"], "vm_memory_mb": run["vm_memory_mb"],
                                         "vm_cpu": run["vm_cpu"], "vm_disk_mb": run["vm_disk_mb"], "sort": run["vm_key"]})
    return [sizes[key] for key in sorted(sizes)]


def build_experiment(report_dir, experiment_id, runs, profiles=None, title=None, notes=None):
    """Read every run directory and assemble the experiment dict (tables, plots, conclusion).

    runs as normalise_runs returns them. Raises ExperimentError when no run has any data.
    """
    profiles = profiles or {}
    notes = [str(n).strip() for n in (notes or []) if str(n).strip()]
    check_name(experiment_id, "experiment_id")
    for run in runs:
        if run["run_id"] == experiment_id:
            raise ExperimentError("experiment_id %s is also a run_id: the experiment's files would land in that run's directory" % experiment_id)
    data = {}
    for run in runs:
        path = os.path.join(report_dir, run["run_id"])
        data[(run["run_id"], run["kind"])] = read_qos_run(path, run) if run["kind"] == "qos" else read_load_run(path)
    usable = [r for r in runs if data[(r["run_id"], r["kind"])]["status"] in ("ok", "partial")]
    if not usable:
        raise ExperimentError("no run of experiment %s has data in %s: %s" % (
            experiment_id, report_dir, "; ".join("%s (%s): %s" % (r["run_id"], r["kind"], data[(r["run_id"], r["kind"])]["reason"])
                                                 for r in runs)))
    vm_sizes = _vm_sizes(runs)
    by_label = dict((vm["label"], vm) for vm in vm_sizes)
    distances, numeric = _distances(runs, profiles)

    # --- QoS cells
    cells, pooled = {"voice": [], "video": []}, {}
    qos_runs = [r for r in runs if r["kind"] == "qos"]
    for vm in vm_sizes:
        for distance in distances:
            entries = [(r, data[(r["run_id"], "qos")]) for r in qos_runs if r["vm_size"] == vm["label"] and r["distance"] == distance["label"]]
            if not entries:
                continue
            for media in MEDIA:
                cell, aggs = _cell(media, vm, distance, entries)
                cells[media].append(cell)
                pooled.setdefault((vm["label"], media), []).extend(aggs)
    versus = []
    for vm in vm_sizes:
        if not any(c["vm_size"] == vm["label"] for c in cells["voice"]):
            continue
        voice = pool(pooled.get((vm["label"], "voice"), []))
        for media in MEDIA:
            of_media = [c for c in cells[media] if c["vm_size"] == vm["label"]]
            figures = pool(pooled.get((vm["label"], media), [])) or {}
            row = {"vm_size": vm["label"], "vm_memory_mb": vm["vm_memory_mb"], "vm_cpu": vm["vm_cpu"], "media": media,
                   "distances": len([c for c in of_media if c["status"] == "ok"]), "calls": figures.get("calls", 0),
                   "failed": sum(c["failed"] for c in of_media)}
            for key in ("throughput_kbps", "delay_ms", "jitter_ms", "packet_loss_pct", "rfc3550_jitter_ms", "mos", "tiphon_index",
                        "tiphon_category"):
                row[key] = figures.get(key)
            if media == "video":
                row["mos"] = None
            ratio = None
            if voice and voice.get("throughput_kbps") and row["throughput_kbps"] is not None:
                ratio = _round(row["throughput_kbps"] / voice["throughput_kbps"], 2)
            row["throughput_ratio"] = ratio
            versus.append(row)

    # --- load rows
    load = {}
    for host, _table, _name in LOAD_HOSTS:
        rows = {}
        for run in runs:
            if run["kind"] != "load":
                continue
            for item in data[(run["run_id"], "load")]["tables"].get(host, []):
                rows.setdefault((run["vm_key"], item["users"]), {"vm_size": run["vm_size"], "users": item["users"], "items": [], "runs": []})
                rows[(run["vm_key"], item["users"])]["items"].append(item)
                rows[(run["vm_key"], item["users"])]["runs"].append(run["run_id"])
        out_rows = []
        for key in sorted(rows):
            row = rows[key]
            entry = {"vm_size": row["vm_size"], "vm_memory_mb": by_label[row["vm_size"]]["vm_memory_mb"], "users": row["users"],
                     "runs": sorted(row["runs"])}
            for metric in ("cpu_pct", "ram_pct", "disk_pct"):
                values = [i[metric] for i in row["items"] if i[metric] is not None]
                entry[metric] = _round(sum(values) / len(values)) if values else None
            out_rows.append(entry)
        load[host] = out_rows

    run_list = []
    for run in runs:
        got = data[(run["run_id"], run["kind"])]
        item = {"run_id": run["run_id"], "kind": run["kind"], "vm_size": run["vm_size"], "vm_memory_mb": run["vm_memory_mb"],
                "vm_cpu": run["vm_cpu"], "vm_disk_mb": run["vm_disk_mb"], "status": got["status"], "reason": got["reason"],
                "warnings": got["warnings"]}
        if run["kind"] == "qos":
            item.update(profile=run["profile"], distance=run["distance"], source=got["source"],
                        calls=dict((m, {"answered": sum(1 for c in got["calls"] if c["kind"] == m and c["answered"]),
                                        "failed": sum(1 for c in got["calls"] if c["kind"] == m and not c["answered"])}) for m in MEDIA))
        else:
            item.update(files=got["files"], rows=dict((h, len(rows)) for h, rows in sorted(got["tables"].items())))
        run_list.append(item)

    experiment = {
        "format": EXPERIMENT_FORMAT,
        "experiment_id": experiment_id,
        "title": title or "NebulaVoIP - the paper's experiment",
        "notes": notes,
        "profiles": dict((name, profiles[name]) for name in sorted(profiles)),
        "vm_sizes": [dict((k, v) for k, v in vm.items() if k != "sort") for vm in vm_sizes],
        "distances": distances,
        "distance_axis": "metres" if numeric else "profile order",
        "runs": run_list,
        "missing": [{"run_id": r["run_id"], "kind": r["kind"], "status": r["status"], "reason": r["reason"]}
                    for r in run_list if r["status"] not in ("ok",)],
        "qos": cells,
        "voice_vs_video": versus,
        "load": load,
    }
    experiment["tables"] = _tables(experiment)
    experiment["plots"] = _plots(experiment)
    experiment["conclusion"] = conclusion(experiment)
    return experiment


# ---------------------------------------------------------------- tables, captions, plots

def _profile_caption(distances):
    parts = []
    for d in distances:
        bits = []
        for key, unit, label in (("delay_ms", " ms", "delay"), ("jitter_ms", " ms", "jitter +/-"), ("loss_pct", " %", "loss")):
            if d.get(key) is not None:
                bits.append("%s %s%s" % (label, fmt(d[key]), unit))
        parts.append("%s = profile %s%s" % (d["label"], d["profile"] or d["label"], (" (%s)" % ", ".join(bits)) if bits else ""))
    return ("Distance to the access point is stood for by an impairment profile on the caller's link: %s." % "; ".join(parts)
            if parts else "")


QOS_METHOD = ("Figures of the legs the SIP server's capture received (both directions), pooled over the client pairs' calls: "
              "throughput = mean per call of bytes / capture span; delay = mean inter-arrival time (capture span / packets) and "
              "jitter = mean |variation of delay|, both weighted by packets (the paper's Wireshark definitions); packet loss = lost / "
              "expected; RFC 3550 jitter beside it; MOS from the E-model (G.107, R0 - Is = 93.2, voice only); TIPHON index from "
              "delay, jitter and loss.")


def _tables(exp):
    notes = exp["notes"]
    qos_caption = [c for c in (QOS_METHOD, _profile_caption(exp["distances"])) if c] + notes
    tables = {}
    for table, media in QOS_TABLES:
        columns = list(QOS_COLUMNS)
        if media == "video":
            columns = [c for c in columns if c[0] != "mos"]
            columns.insert(columns.index(("throughput_kbps", "Throughput (kbit/s)")) + 1,
                           ("call_throughput_kbps", "Call throughput incl. audio (kbit/s)"))
        tables[table] = {"id": table, "file": FILE_NAMES[table], "title": TABLE_TITLES[table], "media": media,
                         "columns": [title for _key, title in columns], "keys": [key for key, _title in columns],
                         "rows": [dict((title, cell.get(key)) for key, title in columns) for cell in exp["qos"][media]],
                         "caption": qos_caption}
    vs_caption = ["Every call of a kind at every distance of the VM size pooled; 'Throughput vs voice' is the kind's mean "
                  "throughput per call over voice's. Voice figures are the audio streams of the voice calls, video figures the "
                  "video streams of the video calls."] + qos_caption
    tables["4.1.3"] = {"id": "4.1.3", "file": FILE_NAMES["4.1.3"], "title": TABLE_TITLES["4.1.3"],
                       "columns": [title for _key, title in VS_COLUMNS], "keys": [key for key, _title in VS_COLUMNS],
                       "rows": [dict((title, row.get(key)) for key, title in VS_COLUMNS) for row in exp["voice_vs_video"]],
                       "caption": vs_caption}
    for host, table, name in LOAD_HOSTS:
        caption = ["Mean of the %s's samples while N registered users talked in N/2 calls (voip_loadtest steps), one load run per "
                   "VM size; CPU, RAM and disk as the sampler measures them (a container's own cgroup figures when the %s is a "
                   "container)." % (name, name)] + notes
        tables[table] = {"id": table, "file": FILE_NAMES[table], "title": TABLE_TITLES[table], "host": host,
                         "columns": [title for _key, title in LOAD_COLUMNS], "keys": [key for key, _title in LOAD_COLUMNS],
                         "rows": [dict((title, row.get(key)) for key, title in LOAD_COLUMNS) for row in exp["load"][host]],
                         "caption": caption}
    return tables


QOS_PLOTS = (("jitter_ms", "Jitter", "ms"), ("packet_loss_pct", "Packet loss", "%"), ("throughput_kbps", "Throughput", "kbit/s"),
             ("mos", "MOS", "MOS"))


def _plots(exp):
    plots = []
    x_label = "distance (m)" if exp["distance_axis"] == "metres" else "distance (profile order: %s)" % ", ".join(
        d["label"] for d in exp["distances"])
    for media in MEDIA:
        for metric, name, unit in QOS_PLOTS:
            if metric == "mos" and media == "video":
                continue
            series = []
            for vm in exp["vm_sizes"]:
                points = []
                for d in exp["distances"]:
                    cell = next((c for c in exp["qos"][media] if c["vm_size"] == vm["label"] and c["distance"] == d["label"]), None)
                    if cell is not None:
                        points.append([d["x"], cell.get(metric)])
                if points:
                    series.append({"label": vm["label"], "points": points})
            if series:
                plots.append({"id": "%s_%s" % (media, metric), "section": media, "title": "%s %s against distance" % (media.capitalize(), name.lower()),
                              "x_label": x_label, "y_label": unit, "series": series})
    bars = []
    for row in exp["voice_vs_video"]:
        bars.append({"label": "%s %s" % (row["vm_size"], row["media"]), "value": row["throughput_kbps"],
                     "color": PALETTE[MEDIA.index(row["media"])]})
    if bars:
        plots.append({"id": "voice_vs_video_throughput", "section": "versus", "title": "Mean throughput per call: voice against video",
                      "y_label": "kbit/s", "bars": bars})
    for host, _table, name in LOAD_HOSTS:
        for metric, label in (("cpu_pct", "CPU usage (%)"), ("ram_pct", "RAM usage (%)")):
            series = []
            for vm in exp["vm_sizes"]:
                points = [[row["users"], row[metric]] for row in exp["load"][host] if row["vm_size"] == vm["label"]]
                if points:
                    series.append({"label": vm["label"], "points": points})
            if series:
                plots.append({"id": "%s_%s" % (host, metric), "section": host, "title": "%s of the %s against users" % (label.split(" (", 1)[0], name),
                              "x_label": "users (talking in pairs)", "y_label": label, "series": series})
    return plots


# ---------------------------------------------------------------- the conclusion

def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _change(cells, metric):
    """Per VM size: value at the farthest distance with data minus the nearest; their mean and the distances used."""
    deltas, ends = [], None
    for vm in sorted(set(c["vm_size"] for c in cells)):
        ordered = [c for c in cells if c["vm_size"] == vm and c.get(metric) is not None and c["status"] == "ok"]
        if len(ordered) < 2:
            continue
        deltas.append(ordered[-1][metric] - ordered[0][metric])
        ends = (ordered[0]["distance"], ordered[-1]["distance"])
    return (_mean(deltas), ends) if deltas else (None, None)


def _moved(value, unit, digits=2):
    """'rose by 3 ms', 'fell by 0.5 points' or 'did not change' (within half the last digit shown)."""
    if abs(value) < 0.5 * 10 ** -digits:
        return "did not change"
    return "%s by %s%s" % ("rose" if value > 0 else "fell", fmt(abs(value), digits), unit)


def _other(media):
    return "video" if media == "voice" else "voice"


def _throughput_sentence(exp, figures):
    thr = dict((m, _mean([r["throughput_kbps"] for r in exp["voice_vs_video"] if r["media"] == m])) for m in MEDIA)
    if not thr["voice"] or thr["video"] is None:
        if exp["voice_vs_video"]:
            return "Voice and video cannot be compared: no %s call has figures." % ("video" if thr["voice"] else "voice")
        return None
    ratio = thr["video"] / thr["voice"]
    ratios = [r["throughput_ratio"] for r in exp["voice_vs_video"] if r["media"] == "video" and r["throughput_ratio"] is not None]
    figures["throughput_kbps"] = {"voice": _round(thr["voice"]), "video": _round(thr["video"]), "ratio": _round(ratio, 2),
                                  "ratio_min": min(ratios) if ratios else None, "ratio_max": max(ratios) if ratios else None}
    sentence = ("Video calls carried %s times the throughput of voice calls (%s against %s kbit/s per call, mean over the VM sizes"
                % (fmt(ratio, 1), fmt(thr["video"], 1), fmt(thr["voice"], 1)))
    if ratios and fmt(min(ratios), 1) != fmt(max(ratios), 1):
        sentence += "; %s to %s times depending on the VM size" % (fmt(min(ratios), 1), fmt(max(ratios), 1))
    return sentence + ")."


def _distance_sentences(cells, figures):
    change = {}
    for media in MEDIA:
        change[media] = {}
        for metric in ("packet_loss_pct", "jitter_ms", "throughput_kbps", "mos"):
            value, ends = _change(cells[media], metric)
            if value is not None:
                change[media][metric] = _round(value)
                change[media]["from_to"] = list(ends)
    figures["change_with_distance"] = change
    text = []
    for media in MEDIA:
        c = change[media]
        if "packet_loss_pct" in c and "jitter_ms" in c:
            sentence = "From %s to %s, %s packet loss %s and its jitter %s" % (
                c["from_to"][0], c["from_to"][1], media, _moved(c["packet_loss_pct"], " percentage points"), _moved(c["jitter_ms"], " ms"))
            if c.get("mos") is not None:
                sentence += "; its MOS %s" % _moved(c["mos"], "")
            text.append(sentence + " (mean over the VM sizes).")
    if not all(k in change[m] for m in MEDIA for k in ("packet_loss_pct", "jitter_ms")):
        return text
    loss = dict((m, change[m]["packet_loss_pct"]) for m in MEDIA)
    jit = dict((m, change[m]["jitter_ms"]) for m in MEDIA)

    def worse(values):
        if abs(values["video"] - values["voice"]) <= DEGRADE_EPSILON:
            return None
        return "video" if values["video"] > values["voice"] else "voice"

    by_loss, by_jitter = worse(loss), worse(jit)
    figures["degraded_more"] = {"by_packet_loss": by_loss, "by_jitter": by_jitter,
                                "loss_gap_points": _round(abs(loss["video"] - loss["voice"])),
                                "jitter_gap_ms": _round(abs(jit["video"] - jit["voice"]))}
    jitter_gap = fmt(abs(jit["video"] - jit["voice"]), 2)
    if by_loss:
        sentence = "%s degraded more with distance: its packet loss grew %s percentage points more than %s's" % (
            by_loss.capitalize(), fmt(abs(loss["video"] - loss["voice"]), 2), _other(by_loss))
        if by_jitter == by_loss:
            sentence += " and its jitter %s ms more" % jitter_gap
        elif by_jitter:
            sentence += ", though %s's jitter grew %s ms more" % (by_jitter, jitter_gap)
        text.append(sentence + ".")
    elif by_jitter:
        text.append("Packet loss grew alike for voice and video with distance; %s's jitter grew %s ms more." % (by_jitter, jitter_gap))
    else:
        text.append("Voice and video degraded alike with distance (their changes of loss and jitter within %s)." % fmt(DEGRADE_EPSILON))
    return text


def _vm_size_sentence(exp, cells, figures):
    spread = {}
    for media in MEDIA:
        for metric in ("jitter_ms", "packet_loss_pct"):
            widths = []
            for d in exp["distances"]:
                values = [c[metric] for c in cells[media] if c["distance"] == d["label"] and c.get(metric) is not None]
                if len(values) > 1:
                    widths.append(max(values) - min(values))
            if widths:
                spread.setdefault(media, {})[metric] = _round(max(widths))
    figures["vm_size_spread"] = spread
    if not spread:
        return None
    parts = []
    for media in MEDIA:
        if media in spread:
            parts.append("%s ms of jitter and %s points of packet loss for %s" % (
                fmt(spread[media].get("jitter_ms"), 2) or "-", fmt(spread[media].get("packet_loss_pct"), 2) or "-", media))
    return "At the same distance, the largest difference the VM size made was %s." % "; ".join(parts)


def _load_sentences(exp, figures):
    peak, text = {}, []
    for host, _table, name in LOAD_HOSTS:
        rows = exp["load"].get(host) or []
        if not rows:
            continue
        top = max(r["users"] for r in rows)
        at_top = [r for r in rows if r["users"] == top and r["cpu_pct"] is not None]
        if not at_top:
            continue
        peak[host] = {"users": top, "cpu_pct": dict((r["vm_size"], r["cpu_pct"]) for r in at_top),
                      "ram_pct": dict((r["vm_size"], r["ram_pct"]) for r in at_top)}
        text.append("With %d users the %s used %s." % (top, name, "; ".join(
            "%s %% CPU and %s RAM with %s" % (fmt(r["cpu_pct"], 1), ("%s %%" % fmt(r["ram_pct"], 1)) if r["ram_pct"] is not None else "no figure of",
                                              r["vm_size"]) for r in at_top)))
    figures["load_at_most_users"] = peak
    return text


def conclusion(exp):
    """Sentences computed from the figures (voice against video, distance, VM size, load) and the figures they quote.

    Which kind "degraded more" is decided by the growth of packet loss from the nearest to the
    farthest distance (mean over the VM sizes), then by the growth of jitter when loss grew alike.
    """
    order = dict((d["label"], i) for i, d in enumerate(exp["distances"]))
    cells = dict((m, sorted(exp["qos"][m], key=lambda c: order.get(c["distance"], 0))) for m in MEDIA)
    figures = {}
    text = [_throughput_sentence(exp, figures)]
    text += _distance_sentences(cells, figures)
    text.append(_vm_size_sentence(exp, cells, figures))
    text += _load_sentences(exp, figures)
    return {"text": [t for t in text if t], "figures": figures}


# ---------------------------------------------------------------- rendering

def _status_style(key, row):
    if key == "TIPHON index":
        return "background:%s" % grade_color(row.get(key)) if row.get(key) is not None else None
    if key in ("Status", "status"):
        return "color:%s;font-weight:bold" % ("#1a9850" if row.get(key) == "ok" else "#b2182b")
    return None


def _caption_html(table):
    items = "".join("<li>%s</li>" % esc(line) for line in table["caption"])
    return "<figcaption><strong>%s.</strong><ul>%s</ul></figcaption>" % (esc(table["title"]), items)


def _table_html(table):
    columns = [(title, title) for title in table["columns"]]
    body = html_table(columns, table["rows"], cell_style=_status_style) if table["rows"] else "<p>No rows: no run of this table has data.</p>"
    return '<figure id="table_%s">%s%s</figure>' % (table["id"].replace(".", "_"), body, _caption_html(table))


def _plot_html(plot):
    if "bars" in plot:
        svg = svg_bar_chart(plot["title"], plot["bars"], y_label=plot["y_label"])
    else:
        series = [{"label": s["label"], "points": [(p[0], p[1]) for p in s["points"]]} for s in plot["series"]]
        svg = svg_line_chart(plot["title"], series, x_label=plot["x_label"], y_label=plot["y_label"])
    return "<figure>%s</figure>" % svg


def build_page(exp):
    ok = [r for r in exp["runs"] if r["status"] == "ok"]
    params = {"experiment": exp["experiment_id"], "runs": "%d listed, %d complete, %d missing or incomplete" % (
        len(exp["runs"]), len(ok), len(exp["missing"])), "VM sizes": ", ".join(vm["label"] for vm in exp["vm_sizes"]),
        "distances": ", ".join(d["label"] for d in exp["distances"])}
    page = ReportPage(exp["title"], params)
    setup = []
    if exp["notes"]:
        setup.append("<p>How this setup differs from the paper's:</p><ul>%s</ul>" % "".join("<li>%s</li>" % esc(n) for n in exp["notes"]))
    if exp["distances"]:
        setup.append(html_table([("distance", "distance"), ("profile", "impairment profile"), ("delay_ms", "delay (ms)"),
                                 ("jitter_ms", "jitter +/- (ms)"), ("loss_pct", "loss (%)")], exp["distances"]))
    page.add_section("setup", "Setup", "".join(setup) or "<p>No notes.</p>", order=5)
    run_rows = [{"run": r["run_id"], "kind": r["kind"], "VM size": r["vm_size"], "distance": r.get("distance") or "",
                 "status": r["status"], "reason": "; ".join(([r["reason"]] if r["reason"] else []) + r["warnings"]),
                 "source": r.get("source") or ", ".join(sorted((r.get("files") or {}).values()))} for r in exp["runs"]]
    missing = ""
    if exp["missing"]:
        missing = '<p class="failed">%d run(s) missing or incomplete: %s.</p>' % (
            len(exp["missing"]), esc(", ".join("%s (%s)" % (m["run_id"], m["status"]) for m in exp["missing"])))
    page.add_section("runs", "Runs", missing + html_table(
        [("run", "run"), ("kind", "kind"), ("VM size", "VM size"), ("distance", "distance"), ("status", "status"),
         ("reason", "reason"), ("source", "read from")], run_rows, cell_style=_status_style), order=10)
    legend = '<p class="legend">TIPHON: %s</p>' % "".join(
        '<span style="background:%s">%d</span>' % (GRADE_COLORS[i], i) for i in (4, 3, 2, 1))
    for order, (table, media) in zip((20, 30), QOS_TABLES):
        plots = "".join(_plot_html(p) for p in exp["plots"] if p["section"] == media)
        page.add_section("table_%s" % table.replace(".", "_"), exp["tables"][table]["title"],
                         legend + _table_html(exp["tables"][table]) + plots, order=order)
    plots = "".join(_plot_html(p) for p in exp["plots"] if p["section"] == "versus")
    page.add_section("table_4_1_3", exp["tables"]["4.1.3"]["title"], _table_html(exp["tables"]["4.1.3"]) + plots, order=40)
    page.add_section("conclusion", "Voice against video: what the figures say", "".join(
        "<p>%s</p>" % esc(line) for line in exp["conclusion"]["text"]) or "<p>Not enough data for a conclusion.</p>", order=45)
    for order, (host, table, _name) in zip((50, 60), LOAD_HOSTS):
        plots = "".join(_plot_html(p) for p in exp["plots"] if p["section"] == host)
        page.add_section("table_%s" % table.replace(".", "_"), exp["tables"][table]["title"], _table_html(exp["tables"][table]) + plots,
                         order=order)
    return page


def render_files(exp):
    """{file name: text} of experiment.json, the five table CSVs and index.html; and the page's figure count."""
    page = build_page(exp)
    files = {"experiment.json": to_json(exp), "index.html": page.render()}
    for table in exp["tables"].values():
        files[table["file"]] = to_csv(table["columns"], table["rows"])
    return files, page.figures()
