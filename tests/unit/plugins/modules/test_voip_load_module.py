# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The voip_load module: SIPp figures and the report files (idempotent, check mode)."""
from __future__ import annotations

import json
import os

from ansible_collections.nebulavoip.cloud.plugins.modules import voip_load
from ansible_collections.nebulavoip.cloud.tests.unit.plugins.modules.utils import run_module


def _run(monkeypatch, args):
    return run_module(monkeypatch, voip_load, args)


HEADER = 'TotalCallCreated;CurrentCall;SuccessfulCall(C);FailedCall(C);FailedTimeoutOnRecv(C);ResponseTime1(C)'


def test_sipp_stats_reports_the_counts_and_the_verdict(monkeypatch, tmp_path):
    stat = tmp_path / 'stat.csv'
    stat.write_text(HEADER + '\n4;4;0;0;0;00:00:00:000000\n4;0;3;1;1;00:00:00:020000\n')
    res = _run(monkeypatch, {'operation': 'sipp_stats', 'path': str(stat), 'expected_calls': 4, 'rc': 1})
    assert res['changed'] is False
    assert res['stats']['successful'] == 3 and res['stats']['concurrent_max'] == 4
    assert res['stats']['response_time_ms'] == 20.0
    assert res['ok'] is False
    assert res['reason'] == '3 of 4 calls succeeded, 1 failed (reasons: TimeoutOnRecv 1; SIPp exit code 1)'
    missing = _run(monkeypatch, {'operation': 'sipp_stats', 'path': str(tmp_path / 'none.csv'), 'expected_calls': 2})
    assert missing['stats'] is None and missing['ok'] is False


def _step(n):
    usage = {'samples': 3, 'cpu_pct': {'mean': 10.0 + n}, 'mem_pct': {'mean': 5.0}, 'disk_pct': {'mean': 30.0}, 'procs': {}}
    return {'users': n, 'calls_planned': n // 2, 'register': {'successful': n}, 'calls': {'successful': n // 2, 'failed': 0},
            'status': 'ok', 'usage': {'server': usage, 'cloud': usage}}


def test_report_writes_the_files_once_and_check_mode_writes_nothing(monkeypatch, tmp_path):
    dest = tmp_path / 'run'
    args = {'operation': 'report', 'steps': [_step(n) for n in (2, 4)], 'dest': str(dest),
            'capacity': {'steps': [{'cps': 10, 'success_rate_pct': 100.0}], 'highest_clean_cps': 10, 'max_concurrent_calls': 10,
                         'stopped_by': 'time_budget', 'elapsed_s': 12, 'criteria': {'max_failed_pct': 0.1, 'max_response_ms': 500}}}
    dry = _run(monkeypatch, dict(args, _ansible_check_mode=True))
    assert dry['changed'] is True and not dest.exists()
    res = _run(monkeypatch, args)
    assert res['changed'] is True
    names = sorted(os.listdir(str(dest)))
    assert names == ['load.csv', 'load.html', 'load.json', 'load_cpu_vs_users.svg', 'load_ram_vs_users.svg', 'load_section.json',
                     'load_success_vs_cps.svg', 'load_table_cloud.csv', 'load_table_server.csv']
    assert res['tables']['server'] == [{'users': 2, 'cpu_pct': 12.0, 'ram_pct': 5.0, 'disk_pct': 30.0},
                                       {'users': 4, 'cpu_pct': 14.0, 'ram_pct': 5.0, 'disk_pct': 30.0}]
    assert res['section']['key'] == 'load' and '<svg' in res['section']['body']
    assert json.loads((dest / 'load_section.json').read_text()) == res['section']
    again = _run(monkeypatch, args)
    assert again['changed'] is False


def test_operations_say_what_they_miss(monkeypatch):
    assert 'needs dest' in _run(monkeypatch, {'operation': 'report'})['msg']
    assert 'needs path' in _run(monkeypatch, {'operation': 'sipp_stats'})['msg']
    res = _run(monkeypatch, {'operation': 'capacity', 'target': '192.0.2.1:5060'})
    assert res['msg'] == 'operation=capacity needs scenario, inf, local_ip, workdir'
