# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import sys

from ansible_collections.nebulavoip.cloud.plugins.modules import voip_qos_analyze
from ansible_collections.nebulavoip.cloud.tests.unit.plugins.modules.utils import run_module

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils"))

import qos_capgen as g


def _run(monkeypatch, args):
    return run_module(monkeypatch, voip_qos_analyze, args)


def _capture(tmp_path):
    path = str(tmp_path / "c.pcap")
    g.write_pcap(path, g.ethernet_frames(g.stream_frames(g.Stream("10.0.0.1", "10.0.0.2", 50, loss={3}))))
    return path


def test_module_returns_streams_and_never_changes(monkeypatch, tmp_path):
    res = _run(monkeypatch, {"pcap": _capture(tmp_path), "rtp_heuristic": True, "delay_ms": 40})
    assert res["changed"] is False and "failed" not in res
    s = res["streams"][0]
    for key in ("src", "dst", "ssrc", "payload_type", "codec", "clock_rate", "media", "packets", "expected", "lost",
                "loss_pct", "seq_errors", "min_delta_ms", "mean_delta_ms", "max_delta_ms", "mean_jitter_ms",
                "max_jitter_ms", "bitrate_kbps", "r_factor", "mos"):
        assert key in s
    assert s["lost"] == 1 and s["one_way_delay_source"] == "given"
    assert set(res) >= {"calls", "registrations", "streams", "summary"}


def test_module_check_mode_writes_nothing(monkeypatch, tmp_path):
    dest = tmp_path / "out"
    res = _run(monkeypatch, {"pcap": _capture(tmp_path), "rtp_heuristic": True, "dest": str(dest), "_ansible_check_mode": True})
    assert res["changed"] is False and not dest.exists()


def test_module_writes_dest(monkeypatch, tmp_path):
    dest = tmp_path / "out"
    _run(monkeypatch, {"pcap": _capture(tmp_path), "rtp_heuristic": True, "dest": str(dest)})
    assert (dest / "qos.json").exists() and (dest / "streams.csv").exists()


def test_module_fails_with_one_clear_message(monkeypatch, tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_text("hello")
    res = _run(monkeypatch, {"pcap": str(bad)})
    assert res["failed"] and "not a pcap or pcapng" in res["msg"]
