# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The voip_experiment_report module: files, idempotence, check mode, diff, missing runs, bad input."""

from __future__ import annotations

import csv
import io
import os
import shutil

import pytest
from ansible.module_utils import basic
from ansible_collections.nebulavoip.cloud.plugins.modules import voip_experiment_report
from ansible_collections.nebulavoip.cloud.tests.unit.plugins.module_utils import test_voip_experiment as runs_helper
from ansible_collections.nebulavoip.cloud.tests.unit.plugins.modules.utils import run_module

FILES = ["experiment.json", "index.html", "table_4_1_1.csv", "table_4_1_2.csv", "table_4_1_3.csv", "table_4_4_1.csv",
         "table_4_4_2.csv"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    return str(root), runs_helper.make_experiment(str(root))


@pytest.fixture
def reports(built, tmp_path):
    root = str(tmp_path / "reports")
    shutil.copytree(built[0], root)
    return root, [dict(r) for r in built[1]]


def _args(root, runs, **extra):
    args = {"report_dir": root, "experiment_id": "exp-1", "runs": runs, "profiles": runs_helper.PROFILES,
            "notes": ["The cloud is emulated; VMs are containers."]}
    args.update(extra)
    return args


def _run(monkeypatch, args):
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, msg: warnings.append(msg))
    result = run_module(monkeypatch, voip_experiment_report, args)
    result["_warnings"] = warnings
    return result


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def test_writes_the_tables_the_json_and_the_page_into_the_experiment_directory(monkeypatch, reports):
    root, runs = reports
    res = _run(monkeypatch, _args(root, runs))
    out = os.path.join(root, "exp-1")
    assert res.get("failed") is None, res
    assert res["changed"] is True and res["written"] == FILES
    assert sorted(os.listdir(out)) == FILES
    assert res["experiment_dir"] == out and res["index_html"] == os.path.join(out, "index.html")
    assert res["tables"]["4.4.2"] == os.path.join(out, "table_4_4_2.csv")
    assert res["rows"] == {"4.1.1": 4, "4.1.2": 4, "4.1.3": 4, "4.4.1": 10, "4.4.2": 10}
    assert res["missing"] == [] and res["_warnings"] == []
    assert res["figures"] == 12
    assert any(line.startswith("Video calls carried ") for line in res["conclusion"])
    rows = list(csv.DictReader(io.StringIO(_read(res["tables"]["4.1.1"]).decode())))
    far = next(r for r in rows if r["VM size"] == "1 GB / 1 vCPU" and r["Distance"] == "30 m")
    assert far["Packet loss (%)"] == "5" and far["Calls"] == "1" and far["Status"] == "ok"


def test_the_same_inputs_change_nothing(monkeypatch, reports):
    root, runs = reports
    _run(monkeypatch, _args(root, runs))
    before = dict((name, _read(os.path.join(root, "exp-1", name))) for name in FILES)
    res = _run(monkeypatch, _args(root, runs))
    assert res["changed"] is False and res["written"] == []
    assert before == dict((name, _read(os.path.join(root, "exp-1", name))) for name in FILES)


def test_new_notes_rewrite_the_page_and_the_json_not_the_tables(monkeypatch, reports):
    root, runs = reports
    _run(monkeypatch, _args(root, runs))
    res = _run(monkeypatch, _args(root, runs, notes=["Another caption."]))
    assert res["changed"] is True and res["written"] == ["experiment.json", "index.html"]
    assert b"Another caption." in _read(res["index_html"]) and b"Another caption." in _read(res["experiment_json"])
    res = _run(monkeypatch, _args(root, runs, notes=["Another caption."]))
    assert res["changed"] is False


def test_check_mode_writes_nothing_and_says_what_it_would_write(monkeypatch, reports):
    root, runs = reports
    res = _run(monkeypatch, _args(root, runs, _ansible_check_mode=True))
    assert res["changed"] is True and res["written"] == FILES
    assert not os.path.exists(os.path.join(root, "exp-1"))
    _run(monkeypatch, _args(root, runs))
    res = _run(monkeypatch, _args(root, runs, _ansible_check_mode=True))
    assert res["changed"] is False and res["written"] == []


def test_diff_mode_shows_the_changed_tables(monkeypatch, reports):
    root, runs = reports
    _run(monkeypatch, _args(root, runs))
    shutil.rmtree(os.path.join(root, "exp-5gb-load"))
    res = _run(monkeypatch, _args(root, runs, _ansible_diff=True, _ansible_check_mode=True))
    by_name = dict((os.path.basename(d["after_header"]), d) for d in res["diff"])
    assert set(by_name) == {"experiment.json", "index.html", "table_4_4_1.csv", "table_4_4_2.csv"}
    assert "5 GB / 1 vCPU,10," in by_name["table_4_4_2.csv"]["before"]
    assert "5 GB / 1 vCPU" not in by_name["table_4_4_2.csv"]["after"]
    assert by_name["index.html"]["after"].endswith(" bytes)\n")


def test_a_missing_run_is_a_warning_and_is_listed_not_a_failure(monkeypatch, reports):
    root, runs = reports
    shutil.rmtree(os.path.join(root, "exp-1gb-far"))
    res = _run(monkeypatch, _args(root, runs))
    assert res.get("failed") is None and res["changed"] is True
    assert res["missing"] == ["exp-1gb-far"]
    assert res["_warnings"] == ["run exp-1gb-far (qos) is missing: no run directory"]
    status = dict((r["run_id"], r["status"]) for r in res["runs"])
    assert status["exp-1gb-far"] == "missing" and status["exp-1gb-near"] == "ok"
    html = _read(res["index_html"]).decode()
    assert "exp-1gb-far (missing)" in html


def test_no_run_with_data_fails_with_one_message(monkeypatch, tmp_path):
    runs = [{"run_id": "r1", "kind": "qos", "vm_memory_mb": 1024, "profile": "near"},
            {"run_id": "r2", "kind": "load", "vm_memory_mb": 1024}]
    res = _run(monkeypatch, _args(str(tmp_path), runs))
    assert res["failed"] is True
    assert res["msg"] == ("no run of experiment exp-1 has data in %s: r1 (qos): no run directory; r2 (load): no run directory" % tmp_path)
    assert not os.path.exists(str(tmp_path / "exp-1"))


@pytest.mark.parametrize("change, message", [
    ({"experiment_id": "../elsewhere"}, "experiment_id '../elsewhere' must be a plain directory name"),
    ({"experiment_id": "exp-1gb-near"}, "experiment_id exp-1gb-near is also a run_id"),
    ({"runs": [{"run_id": "x/y", "kind": "load", "vm_memory_mb": 1024}]}, "runs[0].run_id 'x/y' must be a plain directory name"),
    ({"runs": [{"run_id": "q", "kind": "qos", "vm_memory_mb": 1024}]}, "run q: a qos run needs distance or profile"),
    ({"runs": [{"run_id": "q", "kind": "qos", "vm_memory_mb": 1024, "profile": "moon"}]}, "run q: profile moon is not in profiles"),
])
def test_bad_input_fails_with_one_message(monkeypatch, reports, change, message):
    root, runs = reports
    res = _run(monkeypatch, dict(_args(root, runs), **change))
    assert res["failed"] is True and message in res["msg"]


def test_an_argument_of_the_wrong_kind_is_refused_by_the_arg_spec(monkeypatch, reports):
    root, _runs = reports
    res = _run(monkeypatch, _args(root, [{"run_id": "q", "kind": "video", "vm_memory_mb": 1024}]))
    assert res["failed"] is True and "kind" in res["msg"] and "qos, load" in res["msg"]


def test_report_dir_must_exist(monkeypatch, tmp_path):
    res = _run(monkeypatch, _args(str(tmp_path / "nope"), [{"run_id": "r", "kind": "load", "vm_memory_mb": 1024}]))
    assert res["failed"] is True and res["msg"] == "report_dir %s is not a directory" % (tmp_path / "nope")
