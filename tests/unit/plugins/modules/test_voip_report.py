# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import csv
import io
import json
import os
import re

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.nebulavoip.cloud.plugins.module_utils import voip_report as vr
from ansible_collections.nebulavoip.cloud.plugins.modules import voip_report

ADDRESSES = {"client1": "10.0.0.21", "client2": "10.0.0.22", "server": "10.0.0.10"}


class _Exit(Exception):
    pass


def _run(monkeypatch, args, check_mode=False):
    result = {}

    def exit_json(self, **kw):
        result.update(kw)
        raise _Exit()

    def fail_json(self, **kw):
        kw["failed"] = True
        result.update(kw)
        raise _Exit()

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(_Exit):
            voip_report.main()
    return result


def _stream(src, dst, ssrc, call_id, media="audio", packets=500, lost=0, jitter=1.0, seconds=10):
    expected = packets + lost
    size = 200 if media == "audio" else 1000
    return {
        "src": src, "dst": dst, "ssrc": ssrc, "media": media, "codec": "PCMU" if media == "audio" else "VP8",
        "call_id": call_id, "start_time_s": 1.0, "end_time_s": 1.0 + seconds, "duration_s": float(seconds),
        "packets": packets, "expected": expected, "lost": lost, "loss_pct": round(lost * 100.0 / expected, 3),
        "bytes": packets * size, "bitrate_kbps": round(packets * size * 8 / seconds / 1000.0, 3),
        "mean_jitter_ms": jitter, "max_jitter_ms": jitter * 3, "mos": 4.39 if media == "audio" else None,
        "paper": {"throughput_kbps": 80.0, "delay_ms": seconds * 1000.0 / packets, "jitter_ms": jitter, "packet_loss_pct": 0.0},
        "series": [{"second": s, "packets": packets // seconds, "bitrate_kbps": 80.0, "max_jitter_ms": jitter, "lost": lost // seconds}
                   for s in range(seconds)],
    }


def _run_dir(tmp_path, loss_from_caller=0):
    """A run as the role fetches it: a server capture with one answered call, a failed one, UA results."""
    run = tmp_path / "run1"
    (run / "server").mkdir(parents=True)
    (run / "client1" / "caller-0").mkdir(parents=True)
    (run / "client2").mkdir()
    c1, c2, srv = "10.0.0.21", "10.0.0.22", "10.0.0.10"
    streams = [
        _stream(c1 + ":10000", srv + ":20000", "0x00000001", "call-a", lost=loss_from_caller, jitter=6.5),
        _stream(srv + ":20002", c2 + ":11000", "0x00000001", "call-a", lost=loss_from_caller, jitter=6.7),
        _stream(c2 + ":11000", srv + ":20002", "0x00000002", "call-a"),
        _stream(srv + ":20000", c1 + ":10000", "0x00000002", "call-a"),
    ]
    calls = [
        {"call_id": "call-a", "caller": "alice", "callee": "bob", "final_status": 200, "final_reason": "OK", "answered": True,
         "auth_challenges": 1, "setup_ringing_ms": 2.0, "setup_answer_ms": 10.0, "duration_s": 10.0, "cancelled": False},
        {"call_id": "call-b", "caller": "alice", "callee": "bob", "final_status": 404, "final_reason": "Not Found", "answered": False,
         "auth_challenges": 1, "setup_ringing_ms": None, "setup_answer_ms": None, "duration_s": 0.0, "cancelled": False},
    ]
    qos = {"calls": calls, "streams": streams, "registrations": [], "summary": {"capture": "x.pcap", "frames": 2000}}
    (run / "server" / "qos.json").write_text(json.dumps(qos))
    (run / "server" / "streams.csv").write_text("src,dst\n")
    ua = {"name": "voice", "caller": "alice", "callee_uri": "sip:bob@10.0.0.10", "media": "voice", "codec": "PCMU",
          "registered": True, "calls": [
              {"index": 0, "call_id": "call-a", "established": True, "close_reason": "Connection reset by user", "duration_s": 10.0},
              {"index": 1, "call_id": "call-b", "established": False, "close_reason": "404 Not Found", "duration_s": None}]}
    (run / "client1" / "caller-0" / "result.json").write_text(json.dumps(ua))
    (run / "client1" / "impairment.json").write_text(json.dumps(
        {"host": "client1", "profile": "wifi_far", "method": "nfqueue", "delay_ms": 40, "jitter_ms": 10, "loss_pct": 2}))
    (run / "client1" / "impairment-stats.json").write_text(json.dumps({"packets": 1000, "dropped": 20, "loss_pct": 2.0}))
    return str(run)


def _params():
    return {"run_id": "run1", "server": "server", "addresses": ADDRESSES, "profile": "wifi_far", "vm_size": "small"}


def test_writes_report_json_summary_csv_and_index_html(monkeypatch, tmp_path):
    run = _run_dir(tmp_path)
    res = _run(monkeypatch, {"run_dir": run, "params": _params()})
    assert res["changed"] is True
    assert res["written"] == ["index.html", "qos_section.json", "report.json", "summary.csv"]
    for name in ("report.json", "summary.csv", "index.html", "qos_section.json"):
        assert os.path.isfile(os.path.join(run, name))
    assert res["capture_host"] == "server"
    assert res["hosts"] == ["client1", "client2", "server"]


def test_same_inputs_give_the_same_files_and_changed_false(monkeypatch, tmp_path):
    run = _run_dir(tmp_path)
    _run(monkeypatch, {"run_dir": run, "params": _params()})
    before = dict((n, open(os.path.join(run, n), "rb").read()) for n in ("report.json", "summary.csv", "index.html"))
    res = _run(monkeypatch, {"run_dir": run, "params": _params()})
    assert res["changed"] is False and res["written"] == []
    assert before == dict((n, open(os.path.join(run, n), "rb").read()) for n in before)


def test_check_mode_reports_what_it_would_write_and_writes_nothing(monkeypatch, tmp_path):
    run = _run_dir(tmp_path)
    res = _run(monkeypatch, {"run_dir": run, "params": _params()}, check_mode=True)
    assert res["changed"] is True
    assert res["written"] == ["index.html", "qos_section.json", "report.json", "summary.csv"]
    assert sorted(os.listdir(run)) == ["client1", "client2", "server"]


def test_a_failed_call_is_reported_with_its_sip_answer_and_the_user_agents_reason(monkeypatch, tmp_path):
    res = _run(monkeypatch, {"run_dir": _run_dir(tmp_path), "params": _params()})
    failed = [c for c in res["calls"] if c["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["call_id"] == "call-b"
    assert failed[0]["reason"].startswith("404 Not Found")
    assert "user agent: 404 Not Found" in failed[0]["reason"]
    assert res["summary"]["answered"] == 1 and res["summary"]["failed"] == 1


def test_loss_is_split_by_direction_so_the_clean_direction_stays_clean(monkeypatch, tmp_path):
    res = _run(monkeypatch, {"run_dir": _run_dir(tmp_path, loss_from_caller=10), "params": _params()})
    call = next(c for c in res["calls"] if c["call_id"] == "call-a")
    audio = call["media"]["audio"]
    assert audio["caller->callee"]["packet_loss_pct"] == pytest.approx(1.96, abs=0.01)
    assert audio["callee->caller"]["packet_loss_pct"] == 0.0
    assert audio["both"]["streams"] == 2  # the legs the relay received, each packet once
    legs = dict(((s["from"], s["to"]), s["direction"]) for s in call["streams"])
    assert legs[("client1", "server")] == "caller->callee"
    assert legs[("server", "client2")] == "caller->callee"
    assert legs[("client2", "server")] == "callee->caller"
    assert legs[("server", "client1")] == "callee->caller"


def test_summary_csv_has_one_row_per_call_media_and_direction(monkeypatch, tmp_path):
    run = _run_dir(tmp_path)
    res = _run(monkeypatch, {"run_dir": run, "params": _params()})
    rows = list(csv.DictReader(io.StringIO(open(os.path.join(run, "summary.csv")).read())))
    assert res["rows"] == len(rows) == 4
    answered = [r for r in rows if r["call_id"] == "call-a"]
    assert [r["direction"] for r in answered] == ["both", "caller->callee", "callee->caller"]
    assert float(answered[0]["throughput_kbps"]) > 0
    assert answered[0]["tiphon_index"] and answered[0]["mos_mean"] == "4.39"
    failed = next(r for r in rows if r["call_id"] == "call-b")
    assert failed["status"] == "failed" and failed["media"] == "none" and "404" in failed["reason"]


def test_summary_csv_names_the_codec_of_each_media_kind_as_the_streams_carried_it(monkeypatch, tmp_path):
    run = _run_dir(tmp_path)
    qos_path = os.path.join(run, "server", "qos.json")
    qos = json.loads(open(qos_path).read())
    c1, c2, srv = "10.0.0.21", "10.0.0.22", "10.0.0.10"
    qos["streams"] += [_stream(c1 + ":10002", srv + ":20004", "0x00000003", "call-a", media="video"),
                       _stream(srv + ":20006", c2 + ":11002", "0x00000003", "call-a", media="video")]
    open(qos_path, "w").write(json.dumps(qos))
    ua_path = os.path.join(run, "client1", "caller-0", "result.json")
    ua = json.loads(open(ua_path).read())
    ua["codec"] = "opus"  # asked for, but the capture says otherwise
    open(ua_path, "w").write(json.dumps(ua))
    _run(monkeypatch, {"run_dir": run, "params": _params()})
    rows = list(csv.DictReader(io.StringIO(open(os.path.join(run, "summary.csv")).read())))
    codecs = {(r["media"], r["direction"]): r["codec"] for r in rows if r["call_id"] == "call-a"}
    assert codecs[("audio", "both")] == codecs[("audio", "caller->callee")] == "PCMU"
    assert codecs[("video", "both")] == codecs[("video", "caller->callee")] == "VP8"
    assert next(r for r in rows if r["call_id"] == "call-b")["codec"] == "opus"  # no streams: the codec asked for


def test_index_html_is_offline_with_inline_svg_plots_and_the_parameters_on_top(monkeypatch, tmp_path):
    run = _run_dir(tmp_path)
    res = _run(monkeypatch, {"run_dir": run, "params": _params(), "title": "Run <1>"})
    html = open(os.path.join(run, "index.html")).read()
    assert res["figures"] == html.count("<svg ") >= 4
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "nothing may be loaded from the network"
    assert "Run &lt;1&gt;" in html
    assert html.index("vm_size") < html.index('id="calls"')
    assert vr.GRADE_COLORS[4] in html or vr.GRADE_COLORS[3] in html
    assert "failed" in html and "404 Not Found" in html
    assert "wifi_far" in html


def test_extra_sections_are_added_in_their_order(monkeypatch, tmp_path):
    run = _run_dir(tmp_path)
    _run(monkeypatch, {"run_dir": run, "params": _params(), "sections": [
        {"key": "load", "title": "Load test", "body": "<p>calls per second</p>", "order": 80},
        {"key": "intro", "title": "Setting", "body": "<p>access point 10 m away</p>", "order": 1}]})
    html = open(os.path.join(run, "index.html")).read()
    assert html.index('id="intro"') < html.index('id="calls"') < html.index('id="impairment"') < html.index('id="load"')


def test_a_missing_run_dir_fails(monkeypatch, tmp_path):
    res = _run(monkeypatch, {"run_dir": str(tmp_path / "nope")})
    assert res["failed"] and "not a directory" in res["msg"]


def test_a_run_without_capture_still_reports_the_user_agents_calls(tmp_path):
    run = tmp_path / "r"
    (run / "client1" / "caller-0").mkdir(parents=True)
    (run / "client1" / "caller-0" / "result.json").write_text(json.dumps(
        {"name": "g", "caller": "alice", "callee_uri": "sip:bob@x", "media": "voice", "codec": "PCMU",
         "registered": False, "register_info": "ERR 403 Forbidden", "calls": []}))
    report = vr.build_qos_report(vr.load_run(str(run)), {"run_id": "r"})
    assert report["capture_host"] is None
    assert report["calls"][0]["status"] == "failed"
    assert "not registered" in report["calls"][0]["reason"]


def test_page_sections_api_replaces_a_section_with_the_same_key():
    page = vr.ReportPage("t", {"a": 1})
    page.add_section("x", "First", "<p>1</p>", order=5).add_section("x", "Second", "<p>2</p>", order=5)
    page.add_section("chart", "Chart", vr.svg_line_chart("j", [{"label": "s", "points": [(0, 1.0), (1, 2.0)]}]))
    page.add_section("bars", "Bars", vr.svg_bar_chart("m", [{"label": "c", "value": 4.2}, {"label": "d", "value": None}]))
    html = page.render()
    assert "Second" in html and "First" not in html
    assert page.figures() == 2
    assert html.startswith("<!DOCTYPE html>")


# ---------------------------------------------------------------- a run directory shared with the load test

def _load_test_files(run, single_form=False):
    """What the voip_loadtest role leaves in a run directory: load/ (samples, SIPp files) and load_section.json."""
    os.makedirs(os.path.join(run, "load", "samples"))
    os.makedirs(os.path.join(run, "load", "sipp", "step-2"))
    with open(os.path.join(run, "load", "samples", "step-2-server.jsonl"), "w") as handle:
        handle.write(json.dumps({"ts": 1.0, "cpu_pct": 3.0}) + "\n")
    with open(os.path.join(run, "load", "sipp", "step-2", "calls_stat.csv"), "w") as handle:
        handle.write("StartTime;\n")
    section = {"key": "load", "title": "Load test", "order": 80, "body": "<table class=\"load\"><caption>Resource usage</caption></table>"}
    doc = section if single_form else vr.section_doc("load", [section], report={"steps": [{"users": 2}]}, params={"load_users": [2]})
    with open(os.path.join(run, "load_section.json"), "w") as handle:
        handle.write(json.dumps(doc))


def _page(run):
    with open(os.path.join(run, "index.html")) as handle:
        return handle.read()


def _report(run):
    with open(os.path.join(run, "report.json")) as handle:
        return json.load(handle)


def test_the_load_directory_of_a_load_test_is_not_a_host(monkeypatch, tmp_path):
    run = _run_dir(tmp_path)
    _load_test_files(run)
    assert "load" not in vr.load_run(run)
    res = _run(monkeypatch, {"run_dir": run, "params": _params()})
    assert res["hosts"] == ["client1", "client2", "server"]
    assert "load" not in _report(run)["hosts"]


def test_the_load_directory_is_not_a_host_even_before_its_section_file_exists(tmp_path):
    run = _run_dir(tmp_path)
    os.makedirs(os.path.join(run, "load", "samples"))
    (tmp_path / "run1" / "notes").mkdir()
    (tmp_path / "run1" / "notes_section.json").write_text(json.dumps({"key": "notes", "title": "Notes", "body": "<p>x</p>"}))
    assert sorted(vr.load_run(run)) == ["client1", "client2", "server"]


@pytest.mark.parametrize("single_form", [False, True])
def test_qos_report_then_load_test_keeps_the_qos_sections(monkeypatch, tmp_path, single_form):
    run = _run_dir(tmp_path)
    _run(monkeypatch, {"run_dir": run, "params": _params(), "title": "QoS run"})
    _load_test_files(run, single_form)
    # the load role: no QoS model of its own, other params
    res = _run(monkeypatch, {"run_dir": run, "qos": False, "title": "Load run", "params": {"run_id": "run1", "load_hold_s": 8}})
    html = _page(run)
    assert 'id="calls"' in html and 'id="impairment"' in html and 'id="load"' in html
    assert html.index('id="calls"') < html.index('id="load"')
    assert "404 Not Found" in html and "wifi_far" in html and "load_hold_s" in html
    assert "client1" in html  # streams still labelled with the QoS run's addresses
    report = _report(run)
    assert report["summary"]["calls"] == 2 and len(report["streams"]) == 4
    assert report["parts"] == ["load", "qos"]
    assert res["parts"] == ["load", "qos"] and res["summary"]["answered"] == 1
    if not single_form:
        assert report["load"] == {"steps": [{"users": 2}]}
    assert os.path.isfile(os.path.join(run, "summary.csv"))


def test_load_test_then_qos_report_keeps_the_load_section(monkeypatch, tmp_path):
    run = _run_dir(tmp_path)
    _load_test_files(run)
    _run(monkeypatch, {"run_dir": run, "qos": False, "params": {"run_id": "run1"}})
    assert 'id="load"' in _page(run) and 'id="calls"' not in _page(run)
    # the QoS role, as roles/voip_qos/tasks/report.yml calls it
    res = _run(monkeypatch, {"run_dir": run, "params": _params()})
    html = _page(run)
    assert 'id="calls"' in html and 'id="load"' in html and "Resource usage" in html
    assert res["sections"][-1] == "load" and "calls" in res["sections"]
    report = _report(run)
    assert report["load"] == {"steps": [{"users": 2}]} and report["summary"]["calls"] == 2
    assert res["hosts"] == ["client1", "client2", "server"]


def test_a_load_test_alone_gives_a_page_without_empty_qos_sections(monkeypatch, tmp_path):
    run = str(tmp_path / "load-only")
    os.makedirs(run)
    _load_test_files(run)
    res = _run(monkeypatch, {"run_dir": run, "params": {"run_id": "load-only"}})
    assert res["hosts"] == [] and res["sections"] == ["load"]
    assert 'id="calls"' not in _page(run)
    assert _report(run)["load"] == {"steps": [{"users": 2}]}
    assert not os.path.exists(os.path.join(run, "summary.csv"))


def test_sections_given_to_the_task_are_kept_for_the_next_run(monkeypatch, tmp_path):
    run = _run_dir(tmp_path)
    _run(monkeypatch, {"run_dir": run, "params": _params(),
                       "sections": [{"key": "notes", "title": "Notes", "body": "<p>access point 10 m away</p>", "order": 5}]})
    res = _run(monkeypatch, {"run_dir": run, "params": _params()})
    assert "access point 10 m away" in _page(run)
    assert res["changed"] is False and res["sections"][0] == "notes"


def test_a_broken_section_file_fails_with_its_name(monkeypatch, tmp_path):
    run = _run_dir(tmp_path)
    (tmp_path / "run1" / "load_section.json").write_text("{not json")
    res = _run(monkeypatch, {"run_dir": run})
    assert res["failed"] and "load_section.json" in res["msg"]
    (tmp_path / "run1" / "load_section.json").write_text(json.dumps({"sections": [{"key": "load"}]}))
    res = _run(monkeypatch, {"run_dir": run})
    assert res["failed"] and "load_section.json" in res["msg"] and "key, title and body" in res["msg"]
