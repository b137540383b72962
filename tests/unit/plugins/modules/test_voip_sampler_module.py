# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The voip_sampler module: start/stop idempotence, check mode, summary of real samples."""
from __future__ import annotations

import os
import time

import pytest
from ansible_collections.nebulavoip.cloud.plugins.module_utils import voip_sampler as vs
from ansible_collections.nebulavoip.cloud.plugins.modules import voip_sampler
from ansible_collections.nebulavoip.cloud.tests.unit.plugins.modules.utils import run_module


def _run(monkeypatch, args):
    return run_module(monkeypatch, voip_sampler, args)


@pytest.fixture
def paths(tmp_path):
    path = str(tmp_path / 'samples.jsonl')
    yield path
    vs.stop(path + '.pid')


def test_started_twice_runs_one_sampler_and_stopped_summarises(monkeypatch, paths):
    args = {'path': paths, 'interval': 0.2, 'scope': 'host', 'backend': 'proc', 'label': 'server'}
    first = _run(monkeypatch, dict(args, state='started'))
    assert first['changed'] is True and first['running'] is True
    assert first['scope'] == 'host'
    second = _run(monkeypatch, dict(args, state='started'))
    assert second['changed'] is False
    assert second['pid'] == first['pid']
    time.sleep(1.0)
    stopped = _run(monkeypatch, dict(args, state='stopped', return_samples=True))
    assert stopped['changed'] is True and stopped['running'] is False
    summary = stopped['summary']
    assert summary['samples'] >= 3
    assert summary['label'] == 'server'
    assert 0 <= summary['cpu_pct']['mean'] <= summary['cpu_pct']['max'] <= 100
    assert 0 < summary['mem_pct']['mean'] <= 100
    assert 0 < summary['disk_pct']['max'] <= 100
    assert set(summary['procs']) == {'kamailio', 'mariadbd', 'rtpengine'}
    assert len(stopped['samples']) == summary['samples']
    assert vs.running(paths + '.pid') is None
    again = _run(monkeypatch, dict(args, state='stopped'))
    assert again['changed'] is False
    assert again['summary']['samples'] == summary['samples']


def test_check_mode_starts_and_stops_nothing(monkeypatch, paths):
    args = {'path': paths, 'interval': 0.2, 'backend': 'proc', '_ansible_check_mode': True}
    res = _run(monkeypatch, dict(args, state='started'))
    assert res['changed'] is True and res['running'] is False
    assert vs.running(paths + '.pid') is None
    assert not os.path.exists(paths)
    res = _run(monkeypatch, {'path': paths, 'interval': 0.2, 'backend': 'proc'})
    assert res['changed'] is True
    res = _run(monkeypatch, dict(args, state='stopped'))
    assert res['changed'] is True and res['running'] is True
    assert vs.running(paths + '.pid') is not None


def test_stopped_when_never_started_is_ok_and_unchanged(monkeypatch, tmp_path):
    res = _run(monkeypatch, {'path': str(tmp_path / 'none.jsonl'), 'state': 'stopped'})
    assert res['changed'] is False and res['running'] is False
    assert res['summary']['samples'] == 0


def test_a_bad_interval_is_refused(monkeypatch, tmp_path):
    res = _run(monkeypatch, {'path': str(tmp_path / 's.jsonl'), 'interval': 0})
    assert res['failed'] is True
    assert 'interval' in res['msg']
