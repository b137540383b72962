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
    part = json.loads((dest / 'load_section.json').read_text())
    assert part['name'] == 'load' and part['sections'] == [res['section']]
    assert part['report'] == json.loads((dest / 'load.json').read_text())
    again = _run(monkeypatch, args)
    assert again['changed'] is False
    assert res['one_vm'] == [] and not (dest / 'load_one_vm.csv').exists()


def test_report_with_the_vms_own_monitoring_writes_its_table(monkeypatch, tmp_path):
    dest = tmp_path / 'run'
    steps = [_step(n) for n in (2, 4, 8)]
    for i, step in enumerate(steps):
        for usage in step['usage'].values():
            usage.update(first_ts=1795701100.0 + 100 * i, last_ts=1795701120.0 + 100 * i)
    # step 2: the records of the step (one taken before it is left out); step 4: the newest record only
    steps[0]['one_vm'] = {'name': 'sip1', 'id': 5, 'ok': True, 'state': 'RUNNING', 'vcpu': 1, 'memory_mb': 128,
                          'monitoring': {'cpu': 30.0, 'memory': 98304, 'timestamp': 1795701121, 'net_rx_bytes': 9},
                          'history': [{'cpu': 90.0, 'memory': 1024, 'timestamp': 1795701090},
                                      {'cpu': 10.0, 'memory': 65536, 'memory_pct': 50.0, 'timestamp': 1795701105},
                                      {'cpu': 30.0, 'memory': 98304, 'memory_pct': 75.0, 'timestamp': 1795701121, 'net_rx_bytes': 9}]}
    steps[1]['one_vm'] = {'name': 'sip1', 'id': 5, 'ok': True,
                          'monitoring': {'cpu': 12.5, 'memory': 65536, 'timestamp': 1795701210}}
    steps[2]['one_vm'] = {'name': 'sip1', 'ok': True, 'monitoring': {'cpu': 1.0, 'memory': 1024, 'timestamp': 1795701250}}
    steps.append(dict(_step(6), one_vm={'name': 'sip1', 'ok': False, 'msg': 'no VM named sip1', 'monitoring': {}}))
    res = _run(monkeypatch, {'operation': 'report', 'steps': steps, 'dest': str(dest), 'params': {'run_id': 'r1'}})
    rows = res['one_vm']
    assert [r['users'] for r in rows] == [2, 4, 6, 8]
    assert (rows[0]['records'], rows[0]['cpu_pct_mean'], rows[0]['cpu_pct_max']) == (2, 20.0, 30.0)
    assert (rows[0]['memory_mib_mean'], rows[0]['memory_pct_mean'], rows[0]['net_rx_bytes']) == (80.0, 62.5, 9)
    assert rows[0]['time_utc'] == '2026-11-26T13:52:01Z' and rows[0]['error'] is None
    assert (rows[1]['records'], rows[1]['cpu_pct_mean'], rows[1]['memory_mib_mean']) == (1, 12.5, 64.0)
    assert rows[2]['error'] == 'no VM named sip1' and rows[2]['cpu_pct_mean'] is None
    assert rows[3]['records'] == 0 and rows[3]['error'].startswith('no record since the step began')  # taken before step 8
    csv_lines = (dest / 'load_one_vm.csv').read_text().splitlines()
    assert csv_lines[0].startswith('users,vm,vm_id,state,vcpu,memory_mb,records,cpu_pct_mean') and len(csv_lines) == 5
    assert "OpenNebula's monitoring of the VM sip1" in res['section']['body'].replace('&#x27;', "'")
    part = json.loads((dest / 'load_section.json').read_text())
    assert part['params'] == {'run_id': 'r1'} and part['report']['one_vm'] == rows
