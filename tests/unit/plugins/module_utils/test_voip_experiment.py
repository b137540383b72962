# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The paper's tables from run directories made the real way.

Each QoS run directory is built as the voip_qos role leaves it: a generated capture of a voice
call and a video call (known loss, known jitter) analysed by the QoS engine into the server's
qos.json, the user agents' result.json, then report.json and summary.csv written by
voip_report's own functions. Each load run holds load_table_*.csv written by voip_load's own
functions. The tests assert the tables against the generator's truth.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import qos_capgen as g
from ansible_collections.nebulavoip.cloud.plugins.module_utils import voip_experiment as ve
from ansible_collections.nebulavoip.cloud.plugins.module_utils import voip_load as vl
from ansible_collections.nebulavoip.cloud.plugins.module_utils import voip_report as vr
from ansible_collections.nebulavoip.cloud.plugins.module_utils.qos_engine import analyze

VOICE_PACKETS = 100       # per direction, 20 ms, 172-byte RTP + 28 bytes IPv4/UDP
VIDEO_PACKETS = 60        # per direction, 1/30 s, 1012-byte RTP + 28
PROFILES = {
    "near": {"name": "near", "distance": "1 m", "delay_ms": 2, "jitter_ms": 1, "loss_pct": 0},
    "far": {"name": "far", "distance": "30 m", "delay_ms": 100, "jitter_ms": 30, "loss_pct": 8},
}


# ---------------------------------------------------------------- building run directories

def _media(src, dst, sport, dport, ssrc, start, video, loss_every, jitter_ms):
    count = VIDEO_PACKETS if video else VOICE_PACKETS
    loss = set(range(3, count, loss_every)) if loss_every else set()
    kw = dict(clock=90000, pt=96, ptime=1 / 30.0, payload_len=1000) if video else dict(pt=8)
    stream = g.Stream(src, dst, count, start=start, ssrc=ssrc, loss=loss, jitter_ms=jitter_ms, seed=ssrc, **kw)
    return [(t, g.ipv4_udp(src, dst, sport, dport, p)) for t, p in stream.packets()]


def _capture(path, pairs, voice_loss_every, video_loss_every, jitter_ms):
    """Per pair a voice call and a video call; loss on the caller->callee direction, jitter on every stream."""
    frames, calls = [], []
    for pair in range(pairs):
        caller, callee = "10.0.%d.21" % pair, "10.0.%d.22" % pair
        for index, kind in enumerate(("voice", "video")):
            call_id = "%s-%d@test" % (kind, pair)
            start = 1.0 + 10.0 * (2 * pair + index)
            base = 10000 + 100 * (2 * pair + index)
            video = (base + 2, 96, "VP8/90000", base + 1002) if kind == "video" else None
            sip, _streams = g.call_frames(call_id, caller, callee, base, base + 1000, start, 0, streams=False,
                                          n_override=VOICE_PACKETS, video=video)
            frames += sip
            media_start = start + 0.52
            audio_loss = voice_loss_every if kind == "voice" else 0
            frames += _media(caller, callee, base, base + 1000, base + 1, media_start, False, audio_loss, jitter_ms)
            frames += _media(callee, caller, base + 1000, base, base + 2, media_start + 0.003, False, 0, jitter_ms)
            if video:
                frames += _media(caller, callee, base + 2, base + 1002, base + 3, media_start, True, video_loss_every, jitter_ms)
                frames += _media(callee, caller, base + 1002, base + 2, base + 4, media_start + 0.003, True, 0, jitter_ms)
            calls.append((kind, call_id, pair))
    frames.sort(key=lambda f: f[0])
    g.write_pcap(path, g.ethernet_frames(frames))
    return calls


def write_qos_run(report_dir, run_id, profile="near", pairs=1, voice_loss_every=0, video_loss_every=0, jitter_ms=0.0,
                  unregistered=None, timed_out=None):
    """A voip_qos run directory: server/qos.json from the engine, the callers' result.json, then voip_report's files.

    unregistered: a call kind whose extra caller (a group of its own) could not register;
    timed_out: a call kind whose first pair's caller made a second call that got no answer."""
    run = os.path.join(str(report_dir), run_id)
    os.makedirs(os.path.join(run, "server"))
    pcap = os.path.join(run, "server", "capture.pcap")
    calls = _capture(pcap, pairs, voice_loss_every, video_loss_every, jitter_ms)
    qos = analyze(pcap)
    os.remove(pcap)
    with open(os.path.join(run, "server", "qos.json"), "w") as handle:
        json.dump(qos, handle)
    for index, (kind, call_id, pair) in enumerate(calls):
        caller_dir = os.path.join(run, "client%d" % pair, "caller-%d" % index)
        os.makedirs(caller_dir)
        made = [{"index": 0, "call_id": call_id, "established": True, "close_reason": "bye", "duration_s": 2.0}]
        if timed_out == kind and pair == 0:
            made.append({"index": 1, "call_id": "lost-%s@test" % kind, "established": False, "close_reason": "408 Request Timeout",
                         "duration_s": None})
        with open(os.path.join(caller_dir, "result.json"), "w") as handle:
            json.dump({"name": "%s-pair%d" % (kind, pair), "caller": "alice", "callee_uri": "sip:bob@example.test", "media": kind,
                       "codec": "PCMA", "registered": True, "calls": made}, handle)
    if unregistered:
        caller_dir = os.path.join(run, "client9", "caller-0")
        os.makedirs(caller_dir)
        with open(os.path.join(caller_dir, "result.json"), "w") as handle:
            json.dump({"name": "%s-lonely" % unregistered, "caller": "carol", "callee_uri": "sip:dave@example.test",
                       "media": unregistered, "codec": "PCMA", "registered": False, "register_info": "408 Request Timeout",
                       "calls": []}, handle)
    params = {"run_id": run_id, "server": "server", "profile": profile, "impairments": {"client0": profile}}
    report = vr.build_qos_report(vr.load_run(run), params)
    files, _figures = vr.render_qos_files(report, "run %s" % run_id)
    vr.write_files(run, files)
    return run


def _usage(cpu, ram, disk):
    return {"samples": 5, "cpu_pct": {"mean": cpu, "max": cpu + 1}, "mem_pct": {"mean": ram}, "disk_pct": {"mean": disk}, "procs": {}}


def write_load_run(report_dir, run_id, memory_gb, subdir=None, hosts=("server", "cloud")):
    """A voip_loadtest run directory with the two tables voip_load writes (CPU grows with users, RAM shrinks with VM size)."""
    run = os.path.join(str(report_dir), run_id)
    target = os.path.join(run, subdir) if subdir else run
    os.makedirs(target)
    steps = []
    for users in (2, 4, 6, 8, 10):
        usage = {"server": _usage(1.0 + users * 0.5, 40.0 / memory_gb + users * 0.1, 20.0),
                 "cloud": _usage(5.0 + users * 0.25, 60.0, 50.0)}
        steps.append({"users": users, "usage": dict((h, usage[h]) for h in hosts)})
    for host in hosts:
        with open(os.path.join(target, "load_table_%s.csv" % host), "w") as handle:
            handle.write(vl.table_csv(vl.table_rows(steps, host)))
    return run


SIZES = ((1024, "1gb"), (5120, "5gb"))


def make_experiment(report_dir, far_voice_loss=10, far_video_loss=10, far_jitter=9.0, load_subdir=None):
    """Two VM sizes x two distances of QoS runs and a load run per size; returns the run list."""
    runs = []
    for memory, tag in SIZES:
        for profile, loss_voice, loss_video, jitter in (("near", 0, 0, 0.0), ("far", far_voice_loss, far_video_loss, far_jitter)):
            run_id = "exp-%s-%s" % (tag, profile)
            write_qos_run(report_dir, run_id, profile, voice_loss_every=loss_voice, video_loss_every=loss_video, jitter_ms=jitter)
            runs.append({"run_id": run_id, "kind": "qos", "vm_memory_mb": memory, "vm_cpu": 1.0, "profile": profile})
        write_load_run(report_dir, "exp-%s-load" % tag, memory // 1024, subdir=load_subdir)
        runs.append({"run_id": "exp-%s-load" % tag, "kind": "load", "vm_memory_mb": memory, "vm_cpu": 1.0})
    return runs


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One experiment's run directories (built once; tests copy it before changing anything)."""
    root = tmp_path_factory.mktemp("reports")
    runs = make_experiment(root)
    return str(root), runs


def _copy(built, tmp_path):
    root = str(tmp_path / "reports")
    shutil.copytree(built[0], root)
    return root, [dict(r) for r in built[1]]


def _experiment(root, runs, notes=("The cloud is emulated.",)):
    return ve.build_experiment(root, "exp", ve.normalise_runs(runs, PROFILES), PROFILES, "Experiment", list(notes))


def _row(table, **where):
    rows = [r for r in table["rows"] if all(r[k] == v for k, v in where.items())]
    assert len(rows) == 1, rows
    return rows[0]


# ---------------------------------------------------------------- the QoS tables

def test_table_4_1_1_holds_the_voice_figures_of_each_distance_and_vm_size(built):
    exp = _experiment(*built)
    table = exp["tables"]["4.1.1"]
    assert table["columns"] == ["VM size", "Distance", "Profile", "Calls", "Failed calls", "Throughput (kbit/s)", "Delay (ms)",
                                "Jitter (ms)", "Packet loss (%)", "RFC 3550 jitter (ms)", "MOS", "TIPHON index", "Status"]
    assert [(r["VM size"], r["Distance"]) for r in table["rows"]] == [
        ("1 GB / 1 vCPU", "1 m"), ("1 GB / 1 vCPU", "30 m"), ("5 GB / 1 vCPU", "1 m"), ("5 GB / 1 vCPU", "30 m")]
    near = _row(table, **{"VM size": "1 GB / 1 vCPU", "Distance": "1 m"})
    far = _row(table, **{"VM size": "5 GB / 1 vCPU", "Distance": "30 m"})
    # truth: 10 of the 100 caller->callee packets dropped, none the other way: 10 of 200
    assert near["Packet loss (%)"] == 0.0 and far["Packet loss (%)"] == 5.0
    assert near["Calls"] == far["Calls"] == 1 and near["Failed calls"] == 0 and near["Status"] == "ok"
    # 200 bytes every 20 ms each way = 160 kbit/s over the capture span of the legs
    assert near["Throughput (kbit/s)"] == pytest.approx(160.0, rel=0.02)
    assert far["Throughput (kbit/s)"] == pytest.approx(160.0 * 0.95, rel=0.02)
    # the paper's delay is the mean inter-arrival time: 20 ms without loss
    assert near["Delay (ms)"] == pytest.approx(20.0, rel=0.02)
    # jitter: uniform 0..9 ms arrival noise gives a mean |variation| of ~9/3 ms; none near the access point
    assert near["Jitter (ms)"] == 0.0
    assert far["Jitter (ms)"] == pytest.approx(3.0, rel=0.3)
    assert 4.0 < near["MOS"] <= 4.5 and far["MOS"] < near["MOS"]
    assert near["TIPHON index"] > far["TIPHON index"]
    assert set(r["Profile"] for r in table["rows"]) == {"near", "far"}


def test_table_4_1_2_holds_the_video_streams_of_the_video_calls(built):
    exp = _experiment(*built)
    table = exp["tables"]["4.1.2"]
    assert "MOS" not in table["columns"] and "Call throughput incl. audio (kbit/s)" in table["columns"]
    near = _row(table, **{"VM size": "1 GB / 1 vCPU", "Distance": "1 m"})
    far = _row(table, **{"VM size": "1 GB / 1 vCPU", "Distance": "30 m"})
    # 1040 bytes every 1/30 s each way = 499.2 kbit/s; 6 of the 60 caller->callee frames dropped: 6 of 120
    assert near["Throughput (kbit/s)"] == pytest.approx(499.2, rel=0.03)
    assert far["Packet loss (%)"] == 5.0 and near["Packet loss (%)"] == 0.0
    assert near["Call throughput incl. audio (kbit/s)"] == pytest.approx(499.2 + 160.0, rel=0.03)
    assert near["Delay (ms)"] == pytest.approx(1000.0 / 30, rel=0.03)


def test_table_4_1_3_puts_voice_against_video_per_vm_size(built):
    exp = _experiment(*built)
    table = exp["tables"]["4.1.3"]
    assert [(r["VM size"], r["Call"]) for r in table["rows"]] == [
        ("1 GB / 1 vCPU", "voice"), ("1 GB / 1 vCPU", "video"), ("5 GB / 1 vCPU", "voice"), ("5 GB / 1 vCPU", "video")]
    voice = _row(table, **{"VM size": "1 GB / 1 vCPU", "Call": "voice"})
    video = _row(table, **{"VM size": "1 GB / 1 vCPU", "Call": "video"})
    assert voice["Calls"] == video["Calls"] == 2 and voice["Distances"] == 2
    # pooled over both distances: 10 lost of 400 voice packets, 6 of 240 video packets
    assert voice["Packet loss (%)"] == 2.5 and video["Packet loss (%)"] == 2.5
    assert video["Throughput vs voice (x)"] == pytest.approx(video["Throughput (kbit/s)"] / voice["Throughput (kbit/s)"], abs=0.01)
    assert video["Throughput vs voice (x)"] == pytest.approx(499.2 * 0.975 / (160.0 * 0.975), rel=0.05)
    assert voice["Throughput vs voice (x)"] == 1.0


def test_calls_of_several_pairs_are_pooled_into_one_cell(tmp_path):
    root = str(tmp_path)
    write_qos_run(root, "two-pairs", "far", pairs=2, voice_loss_every=10)
    write_qos_run(root, "one-pair", "near", pairs=1)
    runs = [{"run_id": "two-pairs", "kind": "qos", "vm_memory_mb": 3072, "profile": "far"},
            {"run_id": "one-pair", "kind": "qos", "vm_memory_mb": 3072, "profile": "near"}]
    exp = _experiment(root, runs)
    far = _row(exp["tables"]["4.1.1"], Distance="30 m")
    report = json.load(open(os.path.join(root, "two-pairs", "report.json")))
    per_call = [c["media"]["audio"]["both"]["throughput_kbps"] for c in report["calls"] if c["kind"] == "voice"]
    assert far["Calls"] == 2 and far["VM size"] == "3 GB"
    assert far["Throughput (kbit/s)"] == pytest.approx(sum(per_call) / 2, abs=0.001)
    assert far["Packet loss (%)"] == 5.0  # 20 lost of 400


def test_a_failed_call_is_counted_and_kept_out_of_the_figures(tmp_path):
    root = str(tmp_path)
    write_qos_run(root, "run", "near", unregistered="video")
    exp = _experiment(root, [{"run_id": "run", "kind": "qos", "vm_memory_mb": 1024, "profile": "near"}])
    video = _row(exp["tables"]["4.1.2"], Distance="1 m")
    assert video["Calls"] == 1 and video["Failed calls"] == 1 and video["Packet loss (%)"] == 0.0
    assert exp["runs"][0]["calls"]["video"] == {"answered": 1, "failed": 1}


# ---------------------------------------------------------------- the load tables

@pytest.mark.parametrize("subdir", [None, "load"])
def test_tables_4_4_come_from_the_load_tables_of_each_vm_size(tmp_path, subdir):
    root = str(tmp_path)
    write_qos_run(root, "q", "near")
    write_load_run(root, "l1", 1, subdir=subdir)
    write_load_run(root, "l5", 5, subdir=subdir)
    runs = [{"run_id": "q", "kind": "qos", "vm_memory_mb": 1024, "profile": "near"},
            {"run_id": "l1", "kind": "load", "vm_memory_mb": 1024}, {"run_id": "l5", "kind": "load", "vm_memory_mb": 5120}]
    exp = _experiment(root, runs)
    server, cloud = exp["tables"]["4.4.2"], exp["tables"]["4.4.1"]
    assert server["columns"] == cloud["columns"] == ["VM size", "Users", "CPU usage (%)", "RAM usage (%)", "Disk usage (%)"]
    assert [(r["VM size"], r["Users"]) for r in server["rows"]] == [("1 GB", u) for u in (2, 4, 6, 8, 10)] + [
        ("5 GB", u) for u in (2, 4, 6, 8, 10)]
    row = _row(server, **{"VM size": "5 GB", "Users": 10})
    assert row["CPU usage (%)"] == 6.0 and row["RAM usage (%)"] == 9.0 and row["Disk usage (%)"] == 20.0
    assert _row(server, **{"VM size": "1 GB", "Users": 10})["RAM usage (%)"] == 41.0
    assert _row(cloud, **{"VM size": "1 GB", "Users": 4})["CPU usage (%)"] == 6.0
    expected = "load_table_server.csv" if subdir is None else "load/load_table_server.csv"
    assert exp["runs"][1]["files"]["server"] == expected


def test_a_load_run_without_the_cloud_table_is_partial(tmp_path):
    root = str(tmp_path)
    write_load_run(root, "l1", 1, hosts=("server",))
    exp = _experiment(root, [{"run_id": "l1", "kind": "load", "vm_memory_mb": 1024}])
    assert exp["runs"][0]["status"] == "partial" and "load_table_cloud.csv" in exp["runs"][0]["reason"]
    assert exp["tables"]["4.4.1"]["rows"] == [] and len(exp["tables"]["4.4.2"]["rows"]) == 5


# ---------------------------------------------------------------- missing and broken runs

def test_a_missing_run_is_listed_and_its_cells_stay_empty(built, tmp_path):
    root, runs = _copy(built, tmp_path)
    shutil.rmtree(os.path.join(root, "exp-5gb-far"))
    runs.append({"run_id": "never-ran", "kind": "load", "vm_memory_mb": 3072})
    exp = _experiment(root, runs)
    missing = dict((m["run_id"], m) for m in exp["missing"])
    assert set(missing) == {"exp-5gb-far", "never-ran"}
    assert missing["exp-5gb-far"]["status"] == "missing" and missing["exp-5gb-far"]["reason"] == "no run directory"
    cell = _row(exp["tables"]["4.1.1"], **{"VM size": "5 GB / 1 vCPU", "Distance": "30 m"})
    assert cell["Status"] == "missing (exp-5gb-far)" and cell["Throughput (kbit/s)"] is None and cell["Calls"] == 0
    files, _figures = ve.render_files(exp)
    assert "exp-5gb-far (missing)" in files["index.html"] and "never-ran (missing)" in files["index.html"]
    rows = list(csv.DictReader(io.StringIO(files["table_4_1_1.csv"])))
    far = next(r for r in rows if r["VM size"] == "5 GB / 1 vCPU" and r["Distance"] == "30 m")
    assert far["Throughput (kbit/s)"] == "" and far["Status"] == "missing (exp-5gb-far)"


def test_summary_csv_alone_gives_the_same_figures_as_report_json(built, tmp_path):
    root, runs = _copy(built, tmp_path)
    before = _experiment(root, runs)
    for run in runs:
        if run["kind"] == "qos":
            os.remove(os.path.join(root, run["run_id"], "report.json"))
    after = _experiment(root, runs)
    for table in ("4.1.1", "4.1.2", "4.1.3"):
        assert after["tables"][table]["rows"] == before["tables"][table]["rows"]
    assert set(r["source"] for r in after["runs"] if r["kind"] == "qos") == {"summary.csv"}


def test_summary_csv_gives_a_failed_call_the_kind_of_its_call_group(tmp_path):
    root = str(tmp_path)
    write_qos_run(root, "run", "near", timed_out="video", unregistered="voice")
    runs = [{"run_id": "run", "kind": "qos", "vm_memory_mb": 1024, "profile": "near"}]
    from_json = _experiment(root, runs)
    os.remove(os.path.join(root, "run", "report.json"))
    from_csv = _experiment(root, runs)
    assert from_json["runs"][0]["calls"] == {"voice": {"answered": 1, "failed": 1}, "video": {"answered": 1, "failed": 1}}
    # the timed-out call's group has an answered video call: video; the unregistered caller's group has none: unknown
    assert from_csv["runs"][0]["calls"] == {"voice": {"answered": 1, "failed": 0}, "video": {"answered": 1, "failed": 1}}
    assert from_csv["runs"][0]["warnings"][-1] == (
        "1 call(s) of unknown kind left out (summary.csv has no kind for a call group without an answered call)")
    assert from_csv["tables"]["4.1.2"]["rows"] == from_json["tables"]["4.1.2"]["rows"]
    assert _row(from_csv["tables"]["4.1.2"], Distance="1 m")["Failed calls"] == 1


def test_an_unreadable_report_json_falls_back_to_summary_csv_with_a_warning(built, tmp_path):
    root, runs = _copy(built, tmp_path)
    with open(os.path.join(root, "exp-1gb-near", "report.json"), "w") as handle:
        handle.write("{not json")
    exp = _experiment(root, runs)
    run = next(r for r in exp["runs"] if r["run_id"] == "exp-1gb-near")
    assert run["status"] == "ok" and run["source"] == "summary.csv"
    assert "report.json unreadable" in run["warnings"][0]


def test_a_run_directory_without_report_files_is_incomplete(built, tmp_path):
    root, runs = _copy(built, tmp_path)
    for name in ("report.json", "summary.csv"):
        os.remove(os.path.join(root, "exp-1gb-near", name))
    exp = _experiment(root, runs)
    run = next(r for r in exp["runs"] if r["run_id"] == "exp-1gb-near")
    assert run["status"] == "incomplete" and run["reason"] == "no report.json, no summary.csv"
    assert _row(exp["tables"]["4.1.1"], **{"VM size": "1 GB / 1 vCPU", "Distance": "1 m"})["Status"] == "incomplete (exp-1gb-near)"


def test_a_report_naming_another_profile_gives_a_warning(built, tmp_path):
    root, runs = _copy(built, tmp_path)
    for run in runs:
        if run["run_id"] == "exp-1gb-near":
            run["profile"] = "far"
            run["distance"] = "30 m"
    runs = [r for r in runs if r["run_id"] != "exp-1gb-far"]
    exp = _experiment(root, runs)
    run = next(r for r in exp["runs"] if r["run_id"] == "exp-1gb-near")
    assert run["warnings"] == ["report.json names profile(s) near, the run list says far"]


def test_no_run_with_data_is_one_clear_error(tmp_path):
    os.makedirs(str(tmp_path / "empty-run"))
    runs = ve.normalise_runs([{"run_id": "empty-run", "kind": "qos", "vm_memory_mb": 1024, "distance": "1 m"},
                              {"run_id": "gone", "kind": "load", "vm_memory_mb": 1024}])
    with pytest.raises(ve.ExperimentError) as err:
        ve.build_experiment(str(tmp_path), "exp", runs)
    assert str(err.value) == ("no run of experiment exp has data in %s: empty-run (qos): no report.json, no summary.csv; "
                              "gone (load): no run directory" % tmp_path)


@pytest.mark.parametrize("runs, message", [
    ([], "runs is empty"),
    ([{"run_id": "a/b", "kind": "qos", "vm_memory_mb": 1, "distance": "1 m"}], "runs[0].run_id 'a/b' must be a plain directory name"),
    ([{"run_id": "..", "kind": "qos", "vm_memory_mb": 1, "distance": "1 m"}], "must be a plain directory name"),
    ([{"run_id": "a", "kind": "voice", "vm_memory_mb": 1}], "kind must be qos or load"),
    ([{"run_id": "a", "kind": "load", "vm_memory_mb": 0}], "vm_memory_mb must be a positive number"),
    ([{"run_id": "a", "kind": "qos", "vm_memory_mb": 1024}], "run a: a qos run needs distance or profile"),
    ([{"run_id": "a", "kind": "qos", "vm_memory_mb": 1024, "profile": "moon"}], "run a: profile moon is not in profiles (far, near)"),
    ([{"run_id": "a", "kind": "load", "vm_memory_mb": 1024}, {"run_id": "a", "kind": "load", "vm_memory_mb": 2048}],
     "run a (load) is listed twice"),
    ([{"run_id": "a", "kind": "load", "vm_memory_mb": 1024, "vm_label": "small"},
      {"run_id": "b", "kind": "load", "vm_memory_mb": 2048, "vm_label": "small"}],
     "VM size 'small' names two sizes (runs a and b): give them different vm_label"),
    ([{"run_id": "a", "kind": "qos", "vm_memory_mb": 1024, "profile": "near"},
      {"run_id": "b", "kind": "qos", "vm_memory_mb": 1024, "profile": "far", "distance": "1 m"}],
     "distance '1 m' stands for two profiles (runs a and b)"),
])
def test_bad_run_lists_are_refused_with_one_message(runs, message):
    with pytest.raises(ve.ExperimentError) as err:
        ve.normalise_runs(runs, PROFILES)
    assert message in str(err.value)


def test_the_experiment_id_may_not_be_a_run_id(built):
    with pytest.raises(ve.ExperimentError) as err:
        ve.build_experiment(built[0], "exp-1gb-near", ve.normalise_runs(built[1], PROFILES), PROFILES)
    assert "also a run_id" in str(err.value)


# ---------------------------------------------------------------- distances, sizes, pooling

def test_distance_comes_from_the_profile_and_sorts_by_metres():
    runs = ve.normalise_runs([
        {"run_id": "b", "kind": "qos", "vm_memory_mb": 1024, "profile": "far"},
        {"run_id": "a", "kind": "qos", "vm_memory_mb": 1024, "profile": "near"},
        {"run_id": "c", "kind": "qos", "vm_memory_mb": 3072, "vm_cpu": 2, "vm_disk_mb": 10240, "distance": "2,5 m"},
        {"run_id": "d", "kind": "load", "vm_memory_mb": 1536, "vm_label": "small"},
    ], PROFILES)
    assert [r["distance"] for r in runs[:3]] == ["30 m", "1 m", "2,5 m"]
    assert runs[2]["vm_size"] == "3 GB / 2 vCPU / 10 GB disk" and runs[3]["vm_size"] == "small"
    distances, numeric = ve._distances(runs, PROFILES)
    assert numeric and [d["x"] for d in distances] == [1.0, 2.5, 30.0]
    assert distances[0]["delay_ms"] == 2.0 and distances[2]["loss_pct"] == 8.0
    labels, numeric = ve._distances(ve.normalise_runs([
        {"run_id": "x", "kind": "qos", "vm_memory_mb": 1, "distance": "kitchen"},
        {"run_id": "y", "kind": "qos", "vm_memory_mb": 1, "distance": "garden"}]), {})
    assert not numeric and [(d["label"], d["x"]) for d in labels] == [("kitchen", 1.0), ("garden", 2.0)]


def test_pool_weights_delay_and_jitter_by_packets_and_loss_by_expected():
    a = {"packets": 300, "expected": 300, "lost": 0, "throughput_kbps": 100.0, "delay_ms": 20.0, "jitter_ms": 1.0,
         "packet_loss_pct": 0.0, "rfc3550_mean_jitter_ms": 0.5, "mos_mean": 4.4, "mos_min": 4.3}
    b = {"packets": 100, "expected": 200, "lost": 100, "throughput_kbps": 50.0, "delay_ms": 40.0, "jitter_ms": 5.0,
         "packet_loss_pct": 50.0, "rfc3550_mean_jitter_ms": 2.5, "mos_mean": 2.0, "mos_min": 1.5}
    out = ve.pool([a, b])
    assert out["calls"] == 2 and out["packets"] == 400
    assert out["throughput_kbps"] == 75.0
    assert out["delay_ms"] == 25.0 and out["jitter_ms"] == 2.0 and out["rfc3550_jitter_ms"] == 1.0
    assert out["packet_loss_pct"] == 20.0
    assert out["mos"] == 3.2 and out["mos_min"] == 1.5
    assert out["tiphon_index"] == pytest.approx((4 + 3 + 1) / 3.0, abs=0.001)
    assert ve.pool([]) is None and ve.pool([None]) is None


# ---------------------------------------------------------------- the conclusion

def test_the_conclusion_is_computed_from_the_figures(tmp_path):
    video_worse = _experiment(*_make(tmp_path / "a", far_voice_loss=0, far_video_loss=5))
    voice_worse = _experiment(*_make(tmp_path / "b", far_voice_loss=5, far_video_loss=0))
    text_a, text_b = " ".join(video_worse["conclusion"]["text"]), " ".join(voice_worse["conclusion"]["text"])
    assert video_worse["conclusion"]["figures"]["degraded_more"]["by_packet_loss"] == "video"
    assert voice_worse["conclusion"]["figures"]["degraded_more"]["by_packet_loss"] == "voice"
    assert "Video degraded more with distance" in text_a and "Voice degraded more with distance" in text_b
    ratio = video_worse["conclusion"]["figures"]["throughput_kbps"]["ratio"]
    assert 2.8 < ratio < 3.4
    assert "Video calls carried %s times the throughput of voice calls" % vr.fmt(ratio, 1) in text_a
    # 12 of 60 video frames lost one way at 30 m: loss 10 % of 120; from 1 m to 30 m
    assert video_worse["conclusion"]["figures"]["change_with_distance"]["video"]["packet_loss_pct"] == 10.0
    assert "From 1 m to 30 m, video packet loss rose by 10 percentage points" in text_a
    assert "With 10 users the SIP server used 6 % CPU and 41 % RAM with 1 GB / 1 vCPU; 6 % CPU and 9 % RAM with 5 GB / 1 vCPU." in text_a


def _make(root, **kw):
    os.makedirs(str(root))
    return str(root), make_experiment(str(root), **kw)


# ---------------------------------------------------------------- rendering

def test_the_files_are_the_tables_the_json_and_an_offline_page(built):
    exp = _experiment(*built, notes=("Containers <stand> for VMs.", "Distance is an impairment profile."))
    files, figures = ve.render_files(exp)
    assert sorted(files) == ["experiment.json", "index.html", "table_4_1_1.csv", "table_4_1_2.csv", "table_4_1_3.csv",
                             "table_4_4_1.csv", "table_4_4_2.csv"]
    html = files["index.html"]
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    # voice: jitter, loss, throughput, MOS; video: three; voice vs video bars; CPU and RAM of two hosts
    assert figures == html.count("<svg ") == 4 + 3 + 1 + 4
    for table in ("4_1_1", "4_1_2", "4_1_3", "4_4_1", "4_4_2"):
        start = html.index('<figure id="table_%s">' % table)
        caption = html[start:html.index("</figure>", start)]
        assert "Containers &lt;stand&gt; for VMs." in caption and "Distance is an impairment profile." in caption
    qos_caption = html[html.index('<figure id="table_4_1_1">'):]
    assert "30 m = profile far (delay 100 ms, jitter +/- 30 ms, loss 8 %)" in qos_caption
    data = json.loads(files["experiment.json"])
    assert data["tables"]["4.1.1"]["rows"] == json.loads(json.dumps(exp["tables"]["4.1.1"]["rows"]))
    assert [p["id"] for p in data["plots"]][:4] == ["voice_jitter_ms", "voice_packet_loss_pct", "voice_throughput_kbps", "voice_mos"]
    loss_plot = next(p for p in data["plots"] if p["id"] == "video_packet_loss_pct")
    assert loss_plot["series"][0] == {"label": "1 GB / 1 vCPU", "points": [[1.0, 0.0], [30.0, 5.0]]}
    header = files["table_4_4_2.csv"].splitlines()[0]
    assert header == "VM size,Users,CPU usage (%),RAM usage (%),Disk usage (%)"
    assert files["table_4_4_2.csv"].splitlines()[5] == "1 GB / 1 vCPU,10,6,41,20"


def test_the_same_inputs_render_the_same_bytes(built):
    first, _n = ve.render_files(_experiment(*built))
    second, _n = ve.render_files(_experiment(*built))
    assert first == second
