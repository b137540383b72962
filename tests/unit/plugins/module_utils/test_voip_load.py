# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SIPp statistics, the capacity search, the tables, load.csv and the plots."""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
import xml.dom.minidom

import pytest
from ansible_collections.nebulavoip.cloud.plugins.module_utils import voip_load as vl

HEADER = ('StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);CallRate(C);'
          'IncomingCall(P);IncomingCall(C);OutgoingCall(P);OutgoingCall(C);TotalCallCreated;CurrentCall;'
          'SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);FailedMaxUDPRetrans(P);FailedMaxUDPRetrans(C);'
          'FailedUnexpectedMessage(P);FailedUnexpectedMessage(C);FailedTimeoutOnRecv(P);FailedTimeoutOnRecv(C);'
          'Retransmissions(P);Retransmissions(C);ResponseTime1(P);ResponseTime1(C);ResponseTime1StDev(P);'
          'ResponseTime1StDev(C);CallLength(P);CallLength(C);')


def _line(current, created, ok, failed, unexp=0, timeout=0, rt='00:00:00:012500', elapsed='00:00:05'):
    return ('2026-01-01\t10:00:00.0\t1.0;2026-01-01\t10:00:05.0\t1.0;2026-01-01\t10:00:05.0\t1.0;00:00:01;%s;10;10;9.5;'
            '0;0;0;%d;%d;%d;0;%d;0;%d;0;0;0;%d;0;%d;0;3;00:00:00:000000;%s;00:00:00:000000;00:00:00:001000;'
            '00:00:00:000000;00:00:01:500000;' % (elapsed, created, created, current, ok, failed, unexp, timeout, rt))


def test_sipp_times_are_milliseconds():
    assert vl.parse_sipp_time('00:00:01:500000') == 1500.0
    assert vl.parse_sipp_time('01:02:03') == 3723000.0
    assert vl.parse_sipp_time('') is None
    assert vl.parse_sipp_time('x:y') is None


def test_the_last_line_gives_the_counts_and_every_line_the_concurrency_peak():
    text = '\n'.join([HEADER, _line(7, 7, 0, 0), _line(12, 20, 8, 0), _line(0, 20, 18, 2, unexp=1, timeout=1)]) + '\n'
    stats = vl.parse_stat_csv(text)
    assert stats['created'] == 20
    assert stats['successful'] == 18 and stats['failed'] == 2
    assert stats['failed_by'] == {'UnexpectedMessage': 1, 'TimeoutOnRecv': 1}
    assert stats['concurrent_max'] == 12
    assert stats['response_time_ms'] == 12.5
    assert stats['call_length_ms'] == 1500.0
    assert stats['retransmissions'] == 3
    assert stats['success_rate_pct'] == 90.0 and stats['failed_pct'] == 10.0
    assert stats['elapsed_s'] == 5.0
    assert vl.parse_stat_csv('') is None
    assert vl.parse_stat_csv(HEADER) is None


def test_the_outcome_of_a_run_says_why_it_failed():
    ok = vl.parse_stat_csv('\n'.join([HEADER, _line(0, 5, 5, 0)]))
    assert vl.sipp_outcome(ok, 0, 5) == (True, 'all 5 calls succeeded')
    bad = vl.parse_stat_csv('\n'.join([HEADER, _line(0, 2, 0, 2, timeout=2)]))
    flag, reason = vl.sipp_outcome(bad, 1, 2)
    assert flag is False
    assert reason == '0 of 2 calls succeeded, 2 failed (reasons: TimeoutOnRecv 2; SIPp exit code 1)'
    assert vl.sipp_outcome(None, 255, 2) == (False, 'SIPp wrote no statistics (exit code 255)')


def _fake_server(capacity_cps, rt_knee=None):
    """A runner whose server fails above capacity_cps (and slows down above rt_knee)."""
    calls = []

    def run(rate, duration):
        calls.append(rate)
        created = int(rate * duration)
        failed = 0 if rate <= capacity_cps else max(1, int(created * 0.05))
        rt = 5.0 if rt_knee is None or rate <= rt_knee else 900.0
        return {'created': created, 'successful': created - failed, 'failed': failed,
                'failed_pct': 100.0 * failed / created, 'success_rate_pct': 100.0 * (created - failed) / created,
                'response_time_ms': rt, 'concurrent_max': int(rate), 'call_rate': rate, 'retransmissions': 0,
                'failed_by': {}}
    return run, calls


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_search_doubles_then_narrows_to_the_capacity():
    clock = _Clock()
    run, calls = _fake_server(300)

    def timed(rate, duration):
        clock.now += duration + 2
        return run(rate, duration)
    res = vl.capacity_search(timed, start=10, factor=2, max_rate=5000, step_s=10, time_budget_s=1000, clock=clock)
    assert calls[:7] == [10, 20, 40, 80, 160, 320, 240.0]
    assert res['stopped_by'] == 'failure'
    assert 270 <= res['highest_clean_cps'] <= 300
    assert res['lowest_failing_cps'] > 300 or res['lowest_failing_cps'] - res['highest_clean_cps'] <= 32
    assert res['max_concurrent_calls'] == int(res['highest_clean_cps'])
    assert all(s['clean'] == (s['cps'] <= 300) for s in res['steps'])


def test_a_slow_answer_makes_a_step_unclean():
    run, calls = _fake_server(10000, rt_knee=50)
    res = vl.capacity_search(run, start=10, factor=2, max_rate=1000, step_s=1, time_budget_s=1e9, refine=False, clock=_Clock())
    assert calls == [10, 20, 40, 80]
    assert res['highest_clean_cps'] == 40
    assert res['steps'][-1]['reason'] == 'response time 900.0 ms > 500.0 ms'


def test_the_time_budget_bounds_the_search():
    clock = _Clock()
    run, calls = _fake_server(10 ** 6)

    def timed(rate, duration):
        clock.now += duration + 1
        return run(rate, duration)
    res = vl.capacity_search(timed, start=10, factor=2, max_rate=10 ** 6, step_s=10, time_budget_s=60,
                             overhead_s=3, clock=clock)
    assert res['stopped_by'] == 'time_budget'
    # 5 x 11 s = 55 s; a sixth step (10 s + 3 s of overhead) would end after 60 s
    assert len(calls) == 5
    assert res['highest_clean_cps'] == 160
    assert res['elapsed_s'] <= 60


def test_the_search_stops_at_the_highest_rate():
    run, calls = _fake_server(10 ** 6)
    res = vl.capacity_search(run, start=10, factor=3, max_rate=50, step_s=1, time_budget_s=1e9, clock=_Clock())
    assert calls == [10, 30, 50]
    assert res['stopped_by'] == 'max_rate' and res['highest_clean_cps'] == 50


def test_a_failure_at_the_first_rate_leaves_no_clean_rate():
    run = _fake_server(1)[0]
    res = vl.capacity_search(run, start=10, factor=2, step_s=1, time_budget_s=1e9, refine=False, clock=_Clock())
    assert res['highest_clean_cps'] is None and res['max_concurrent_calls'] == 0


def test_unfinished_calls_count_as_failures():
    stats = {'created': 100, 'successful': 90, 'failed': 0, 'failed_pct': 0.0, 'response_time_ms': 1.0}
    assert vl.step_is_clean(stats)[0] is False
    with pytest.raises(ValueError):
        vl.capacity_search(lambda r, d: None, start=0)


def _steps():
    def usage(cpu, mem):
        return {'samples': 8, 'cpu_pct': {'mean': cpu, 'max': cpu + 1, 'min': 0}, 'mem_pct': {'mean': mem, 'max': mem, 'min': mem},
                'disk_pct': {'mean': 40.0, 'max': 40.0, 'min': 40.0}, 'host_cpu_pct': {'mean': 50.0},
                'host_mem_pct': {'mean': 20.0},
                'procs': {'kamailio': {'cpu_pct': {'mean': 1.5, 'max': 3.0}, 'rss_bytes': {'mean': 1048576 * 30, 'max': 1048576 * 31},
                                       'count_max': 9}}}
    return [{'users': n, 'calls_planned': n // 2, 'status': 'all %d calls succeeded' % (n // 2), 'ok': True,
             'register': {'successful': n}, 'calls': {'successful': n // 2, 'failed': 0, 'response_time_ms': 4.0},
             'usage': {'server': usage(n * 1.0, 3.0 + n / 10.0), 'cloud': usage(n * 2.0, 20.0)}}
            for n in (10, 2, 4, 6, 8)]


def test_tables_have_the_papers_columns_in_order_of_users():
    rows = vl.table_rows(_steps(), 'server')
    assert [r['users'] for r in rows] == [2, 4, 6, 8, 10]
    assert rows[0] == {'users': 2, 'cpu_pct': 2.0, 'ram_pct': 3.2, 'disk_pct': 40.0}
    text = vl.table_csv(rows)
    assert text.splitlines()[0] == 'Users,CPU usage (%),RAM usage (%),Disk usage (%)'
    assert len(text.splitlines()) == 6


def test_load_csv_has_a_line_per_step_host_and_process():
    rows = list(csv.DictReader(io.StringIO(vl.load_csv(_steps()))))
    assert len(rows) == 5 * 2 * 2
    first = rows[0]
    assert first['users'] == '2' and first['host'] == 'cloud' and first['cpu_pct_mean'] == '4.0'
    proc = next(r for r in rows if r['process'] == 'kamailio' and r['host'] == 'server' and r['users'] == '10')
    assert proc['process_rss_mib_max'] == '31.0' and proc['process_cpu_pct_max'] == '3.0'


def test_plots_are_well_formed_svg_with_one_line_per_host():
    capacity = {'steps': [{'cps': 20, 'success_rate_pct': 100.0}, {'cps': 40, 'success_rate_pct': 99.5}],
                'highest_clean_cps': 20, 'max_concurrent_calls': 12, 'stopped_by': 'failure', 'elapsed_s': 30,
                'criteria': {'max_failed_pct': 0.1, 'max_response_ms': 500}}
    svgs = vl.plots(_steps(), [('cloud', 'cloud host'), ('server', 'SIP server')], capacity)
    assert set(svgs) == {'cpu_vs_users', 'ram_vs_users', 'success_vs_cps'}
    for svg in svgs.values():
        xml.dom.minidom.parseString(svg)
    assert svgs['cpu_vs_users'].count('<polyline') == 2
    assert svgs['success_vs_cps'].count('<circle') == 2
    html = vl.html_section(_steps(), [('cloud', 'cloud host'), ('server', 'SIP server')], capacity, svgs, wrap=False)
    assert html.count('<table') == 4 and 'highest clean rate <strong>20 calls/s' in html
    assert not html.startswith('<section')
    xml.dom.minidom.parseString('<div>%s</div>' % html)
    assert 'no data' in vl.svg_plot('t', 'x', 'y', [])


@pytest.mark.skipif(shutil.which('sipp') is None, reason='SIPp (sip-tester) is not installed')
def test_a_real_sipp_statistics_file_is_read(tmp_path):
    """SIPp's built-in uac against its built-in uas on loopback: 10 calls, all successful."""
    uas = subprocess.Popen(['sipp', '-sn', 'uas', '-i', '127.0.0.1', '-p', '15690', '-m', '10', '-nostdin', '-timeout', '20s'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(tmp_path))
    try:
        stat = tmp_path / 'stat.csv'
        subprocess.run(['sipp', '127.0.0.1:15690', '-sn', 'uac', '-i', '127.0.0.1', '-p', '15691', '-r', '20', '-m', '10',
                        '-d', '100', '-trace_stat', '-stf', str(stat), '-fd', '1', '-nostdin', '-timeout', '20s', '-timeout_error'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(tmp_path), timeout=30, check=False)
        stats = vl.parse_stat_csv(stat.read_text())
    finally:
        uas.kill()
        uas.wait()
    assert stats['created'] == 10 and stats['successful'] == 10 and stats['failed'] == 0
    assert stats['success_rate_pct'] == 100.0
    assert vl.sipp_outcome(stats, 0, 10)[0] is True
