# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the load test wrote on the controller, checked against the hosts it ran on."""
import csv
import json
import os
import socket

import pytest

REPORTS = os.path.join(os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', ''), 'reports')
RUN = os.path.join(REPORTS, 'molecule')
BAD = os.path.join(REPORTS, 'molecule-bad')
PAPER_STEPS = [2, 4, 6, 8, 10]
STEPS = PAPER_STEPS + [50]  # the paper's steps, then one beyond
SERVER = 'nebulavoip-lt-sip'


def _json(path):
    with open(path) as handle:
        return json.load(handle)


def _samples(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope='module')
def load():
    return _json(os.path.join(RUN, 'load.json'))


@pytest.mark.parametrize('key', ['cloud', 'server'])
def test_both_tables_have_the_papers_five_rows_and_the_step_beyond_in_percent(key):
    with open(os.path.join(RUN, 'load_table_%s.csv' % key)) as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r['Users']) for r in rows][:5] == PAPER_STEPS
    assert [int(r['Users']) for r in rows] == STEPS
    for row in rows:
        for col in ('CPU usage (%)', 'RAM usage (%)', 'Disk usage (%)'):
            assert 0.0 <= float(row[col]) <= 100.0, (key, row)
        assert float(row['RAM usage (%)']) > 0.0
        assert float(row['Disk usage (%)']) > 0.0


def test_every_step_registered_its_users_and_its_calls_succeeded(load):
    assert [s['users'] for s in load['steps']] == STEPS
    for step in load['steps']:
        assert step['register']['successful'] == step['users'], step['register']
        assert step['calls']['successful'] == step['users'] // 2, step['calls']
        assert step['calls']['failed'] == 0, step['calls']
        assert step['calls']['concurrent_max'] >= 1
        assert step['ok'] is True
        assert step['status'].startswith('all ')


def test_samples_come_from_the_server_container_and_the_controller(load):
    for users in STEPS:
        server = _samples(os.path.join(RUN, 'load', 'samples', 'step-%d-server.jsonl' % users))
        cloud = _samples(os.path.join(RUN, 'load', 'samples', 'step-%d-cloud.jsonl' % users))
        # about one sample a second over the hold time of 8 s
        assert len(server) >= 6 and len(cloud) >= 6
        assert {s['hostname'] for s in server} == {SERVER}
        assert {s['scope'] for s in server} == {'cgroup'}
        assert {s['hostname'] for s in cloud} == {socket.gethostname()}
        assert {s['scope'] for s in cloud} == {'host'}
        # Kamailio's, MariaDB's and rtpengine's processes were seen in the server's samples
        last = server[-1]['procs']
        assert last['kamailio']['count'] >= 2
        assert last['mariadbd']['count'] == 1
        assert last['rtpengine']['count'] == 1
        assert last['kamailio']['rss_bytes'] > 0
    summary = load['steps'][-1]['usage']['server']
    assert summary['hostname'] == SERVER
    assert summary['procs']['rtpengine']['cpu_pct']['max'] > 0.0


def test_the_capacity_search_reports_a_rate_within_its_time_bound(load):
    cap = load['capacity']
    assert cap['highest_clean_cps'] is not None and cap['highest_clean_cps'] >= 20
    assert cap['max_concurrent_calls'] >= 1
    assert cap['elapsed_s'] <= 60 + 15
    assert cap['steps'] and all('success_rate_pct' in s for s in cap['steps'])
    assert cap['stopped_by'] in ('failure', 'time_budget', 'max_rate')


def test_load_csv_and_the_index_page(load):
    with open(os.path.join(RUN, 'load.csv')) as handle:
        rows = list(csv.DictReader(handle))
    hosts = [r for r in rows if not r['process']]
    assert len(hosts) == 2 * len(STEPS)
    assert {r['host'] for r in hosts} == {'cloud', 'server'}
    procs = [r for r in rows if r['process'] and r['host'] == 'server']
    assert {r['process'] for r in procs} == {'kamailio', 'mariadbd', 'rtpengine'}
    with open(os.path.join(RUN, 'index.html')) as handle:
        page = handle.read()
    assert 'id="load"' in page
    assert 'Resource usage of the cloud host' in page and 'Resource usage of the SIP server' in page
    assert page.count('<svg') >= 3
    for name in ('cpu_vs_users', 'ram_vs_users', 'success_vs_cps'):
        assert os.path.isfile(os.path.join(RUN, 'load_%s.svg' % name))


def test_a_step_that_cannot_register_stops_the_run_and_keeps_what_was_measured():
    with open(os.path.join(BAD, 'failure.txt')) as handle:
        msg = handle.read()
    assert 'could not register' in msg
    bad = _json(os.path.join(BAD, 'load.json'))
    assert [s['users'] for s in bad['steps']] == [2]  # the run stopped at its first step
    step = bad['steps'][0]
    assert step['ok'] is False and step['status'].startswith('registration failed')
    assert step['register']['successful'] == 0
    assert os.path.getsize(os.path.join(BAD, 'load', 'samples', 'step-2-server.jsonl')) > 0
    assert os.path.isfile(os.path.join(BAD, 'load', 'sipp', 'step-2', 'register_stat.csv'))


def test_opennebulas_monitoring_of_the_server_vm_is_recorded_beside_the_samples(load):
    for step in load['steps']:
        vm = step['one_vm']
        assert vm['ok'] is True and vm['name'] == SERVER, vm
        mon = vm['monitoring']
        with open(os.path.join(RUN, 'load', 'samples', 'step-%d-one_vm.json' % step['users'])) as handle:
            assert json.load(handle) == vm
        # the step's window over both samplers (the role asks oned for the records from its start on)
        first = min(u['first_ts'] for u in step['usage'].values())
        last = max(u['last_ts'] for u in step['usage'].values())
        # the container's podman stats (the emulator's VM adopts it): the newest record at the step's
        # end, and every record oned took during the step (one every 0.6 s at --speed 50)
        assert first - 5 <= mon['timestamp'] <= last + 30
        history = vm['history']
        assert len(history) >= 3 and history[-1]['timestamp'] >= mon['timestamp']
        assert all(first - 2 <= r['timestamp'] <= last + 30 for r in history)
        assert 0.0 <= mon['cpu'] <= 100.0 * (os.cpu_count() or 1)
        assert mon['memory'] > 0 and mon['net_rx_bytes'] > 0
        # MEMORY is KiB of the same container the sampler measures: at least what the sampler counts
        # (podman stats on cgroup v1 also counts some page cache the sampler leaves out), at most the
        # machine's memory (bytes taken for KiB would pass it, MiB would fall far below the sampler's)
        samples = _samples(os.path.join(RUN, 'load', 'samples', 'step-%d-server.jsonl' % step['users']))
        used_kib = min(s['mem_used_bytes'] for s in samples) / 1024.0
        assert 0.8 * used_kib <= mon['memory'] <= samples[-1]['mem_total_bytes'] / 1024.0, (mon['memory'], used_kib)
    with open(os.path.join(RUN, 'load_one_vm.csv')) as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r['users']) for r in rows] == STEPS and {r['vm'] for r in rows} == {SERVER}
    for row, step in zip(rows, load['steps']):
        assert int(row['records']) == len(step['one_vm']['history']) and row['error'] == ''
        assert 0.0 <= float(row['cpu_pct_mean']) <= float(row['cpu_pct_max'])
        assert float(row['memory_mib_mean']) > 0
    with open(os.path.join(RUN, 'index.html')) as handle:
        page = handle.read()
    assert "monitoring of the VM %s" % SERVER in page


def test_the_run_page_has_the_load_part_in_report_json(load):
    with open(os.path.join(RUN, 'report.json')) as handle:
        report = json.load(handle)
    assert report['parts'] == ['load'] and report['load']['tables'] == load['tables']
    assert os.path.isfile(os.path.join(RUN, 'load_section.json'))
    assert not os.path.exists(os.path.join(RUN, 'summary.csv'))  # no QoS run in this directory


def test_no_sampler_or_sipp_is_left_running(host):
    assert host.run('ls /var/tmp/nebulavoip-loadtest/molecule/*.pid').rc != 0
    gen = host.get_host('podman://nebulavoip-lt-gen')
    assert gen.run('grep -slx sipp /proc/[0-9]*/comm').stdout.strip() == ''
