# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sampler against real /proc figures: busy and allocating child processes, real files."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from ansible_collections.nebulavoip.cloud.plugins.module_utils import voip_sampler as vs

MIB = 1024 * 1024
# process names unique to this test run (other runs of these tests may share the machine)
BUSY = 'nvb%d' % os.getpid()
IDLE = 'nvi%d' % os.getpid()
HOG = 'nvm%d' % os.getpid()


def _named_python(tmp_path, name):
    """A python interpreter whose process name (comm) is `name`."""
    link = tmp_path / name
    os.symlink(sys.executable, str(link))
    return str(link)


def _spawn(tmp_path, name, code):
    proc = subprocess.Popen([_named_python(tmp_path, name), '-c', code], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b'ready'
    return proc


@pytest.fixture
def children():
    procs = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_busy_loop_child_shows_cpu_and_raises_the_machine_cpu(tmp_path, children):
    children.append(_spawn(tmp_path, BUSY, 'print("ready", flush=True)\nwhile True: pass'))
    children.append(_spawn(tmp_path, IDLE, 'import time\nprint("ready", flush=True)\ntime.sleep(60)'))
    sampler = vs.Sampler(processes=[BUSY, IDLE, 'nvabsent'], scope='host', backend='proc')
    sampler.prime()
    time.sleep(1.5)
    rec = sampler.sample()
    busy = rec['procs'][BUSY]
    assert busy['count'] == 1
    # a whole CPU on an idle machine; other jobs of a loaded CI host can take most of it
    assert 10.0 < busy['cpu_pct'] < 115.0
    assert rec['procs'][IDLE]['cpu_pct'] < 2.0
    assert busy['cpu_pct'] > 5 * rec['procs'][IDLE]['cpu_pct']
    assert rec['procs']['nvabsent'] == {'count': 0, 'cpu_pct': 0.0, 'rss_bytes': 0}
    # the machine's busy time includes the child's
    assert rec['host_cpu_pct'] * vs.cpu_count() >= 0.85 * busy['cpu_pct']
    assert rec['cpu_pct'] == rec['host_cpu_pct']
    assert 0.0 <= rec['cpu_pct'] <= 100.0


def test_an_idle_child_shows_almost_no_cpu(tmp_path, children):
    children.append(_spawn(tmp_path, IDLE, 'import time\nprint("ready", flush=True)\ntime.sleep(60)'))
    sampler = vs.Sampler(processes=[IDLE], scope='host', backend='proc')
    sampler.prime()
    time.sleep(0.5)
    assert sampler.sample()['procs'][IDLE]['cpu_pct'] < 10.0


def test_rss_of_a_child_follows_the_memory_it_fills(tmp_path, children):
    code = ('import sys, time\nprint("ready", flush=True)\nsys.stdin.readline()\n'
            'blob = b"x" * (200 * 1024 * 1024)\nprint("ready", flush=True)\ntime.sleep(60)')
    proc = subprocess.Popen([_named_python(tmp_path, HOG), '-c', code], stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    children.append(proc)
    assert proc.stdout.readline().strip() == b'ready'
    before = vs.read_processes([HOG])[HOG]
    proc.stdin.write(b'go\n')
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == b'ready'
    after = vs.read_processes([HOG])[HOG]
    assert before['count'] == after['count'] == 1
    assert before['rss_bytes'] < 64 * MIB
    assert after['rss_bytes'] - before['rss_bytes'] >= 195 * MIB
    assert after['rss_bytes'] < 260 * MIB


def test_machine_memory_and_disk_agree_with_meminfo_and_df():
    used, total = vs.read_meminfo()
    with open('/proc/meminfo') as handle:
        meminfo = dict((line.split()[0].rstrip(':'), int(line.split()[1]) * 1024) for line in handle)
    assert total == meminfo['MemTotal']
    assert abs(used - (meminfo['MemTotal'] - meminfo['MemAvailable'])) < 64 * MIB
    du = shutil.disk_usage('/')
    st = os.statvfs('/')
    expected = 100.0 * (du.total - st.f_bfree * st.f_frsize) / (du.total - st.f_bfree * st.f_frsize + du.free)
    assert abs(vs.disk_usage('/') - expected) < 0.5
    busy, whole = vs.read_cpu_times()
    assert 0 < busy < whole


def test_cpu_and_memory_percentages_stay_within_0_and_100():
    sampler = vs.Sampler(processes=[], scope='host', backend='proc')
    rec = sampler.sample()
    for key in ('cpu_pct', 'mem_pct', 'disk_pct', 'host_cpu_pct', 'host_mem_pct'):
        assert 0.0 <= rec[key] <= 100.0, key
    assert rec['scope'] == 'host'
    assert rec['procs'] == {}


def test_a_fake_proc_tree_gives_exact_figures(tmp_path):
    proc = tmp_path / 'proc'
    (proc / '123').mkdir(parents=True)
    (proc / 'stat').write_text('cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 1 1 1\n')
    (proc / 'meminfo').write_text('MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\n')
    (proc / '123' / 'comm').write_text('kamailio\n')
    (proc / '123' / 'cmdline').write_text('/usr/sbin/kamailio\0-m\0001024\0')
    fields = ['S'] + ['0'] * 50
    fields[11], fields[12], fields[19], fields[21] = '150', '50', '777', '10'
    (proc / '123' / 'stat').write_text('123 (kamailio) ' + ' '.join(fields) + '\n')
    tick = vs.clock_ticks()
    busy, whole = vs.read_cpu_times(str(proc))
    assert (busy, whole) == (200 / tick, 1000 / tick)
    assert vs.read_meminfo(str(proc)) == (750 * 1024, 1000 * 1024)
    procs = vs.read_processes(['kamailio', 'rtpengine'], str(proc))
    assert procs['kamailio']['cpu_s'] == 200 / tick
    assert procs['kamailio']['rss_bytes'] == 10 * os.sysconf('SC_PAGE_SIZE')
    assert procs['rtpengine']['count'] == 0
    assert vs.process_start_time(123, str(proc)) == 777
    fields[0] = 'Z'
    (proc / '123' / 'stat').write_text('123 (kamailio) ' + ' '.join(fields) + '\n')
    assert vs.process_start_time(123, str(proc)) is None


def test_cgroup_v1_and_v2_trees_are_read(tmp_path):
    v1 = tmp_path / 'v1'
    (v1 / 'cpuacct').mkdir(parents=True)
    (v1 / 'memory').mkdir()
    (v1 / 'cpu').mkdir()
    (v1 / 'cpuacct' / 'cpuacct.usage').write_text('2500000000\n')
    (v1 / 'memory' / 'memory.usage_in_bytes').write_text('300\n')
    (v1 / 'memory' / 'memory.stat').write_text('cache 10\ntotal_inactive_file 100\n')
    (v1 / 'memory' / 'memory.limit_in_bytes').write_text('9223372036854771712\n')
    (v1 / 'cpu' / 'cpu.cfs_quota_us').write_text('-1\n')
    (v1 / 'cpu' / 'cpu.cfs_period_us').write_text('100000\n')
    reader = vs.CgroupReader(str(v1))
    assert reader.version == 1
    assert reader.cpu_seconds() == 2.5
    assert reader.memory() == (200, 9223372036854771712)
    assert reader.cpu_limit() is None

    v2 = tmp_path / 'v2'
    v2.mkdir()
    (v2 / 'cgroup.controllers').write_text('cpu memory\n')
    (v2 / 'cpu.stat').write_text('usage_usec 1500000\nuser_usec 1000000\n')
    (v2 / 'cpu.max').write_text('50000 100000\n')
    (v2 / 'memory.current').write_text('4096\n')
    (v2 / 'memory.stat').write_text('anon 1\ninactive_file 96\n')
    (v2 / 'memory.max').write_text('8192\n')
    reader = vs.CgroupReader(str(v2))
    assert reader.version == 2
    assert reader.cpu_seconds() == 1.5
    assert reader.memory() == (4000, 8192)
    assert reader.cpu_limit() == 0.5

    with pytest.raises(vs.SamplerError, match='no readable cgroup'):
        vs.CgroupReader(str(tmp_path / 'none'))


def test_container_markers_are_recognised(tmp_path):
    assert not vs.in_container(str(tmp_path))
    (tmp_path / 'run').mkdir()
    (tmp_path / 'run' / '.containerenv').write_text('')
    assert vs.in_container(str(tmp_path))
    assert vs.resolve_scope('host') == 'host'
    with pytest.raises(vs.SamplerError):
        vs.resolve_scope('vm')


def test_summary_of_samples():
    samples = [
        {'ts': 1.0, 'cpu_pct': 10.0, 'mem_pct': 20.0, 'disk_pct': 30.0, 'label': 'server', 'scope': 'host',
         'procs': {'kamailio': {'count': 3, 'cpu_pct': 5.0, 'rss_bytes': 100}}},
        {'ts': 2.0, 'cpu_pct': 30.0, 'mem_pct': 22.0, 'disk_pct': 30.0, 'label': 'server', 'scope': 'host',
         'procs': {'kamailio': {'count': 4, 'cpu_pct': 15.0, 'rss_bytes': 300}}},
    ]
    summary = vs.summarize(samples)
    assert summary['samples'] == 2
    assert summary['cpu_pct'] == {'mean': 20.0, 'max': 30.0, 'min': 10.0}
    assert summary['mem_pct']['mean'] == 21.0
    assert summary['procs']['kamailio']['rss_bytes']['max'] == 300
    assert summary['procs']['kamailio']['count_max'] == 4
    assert summary['label'] == 'server'
    assert vs.summarize([])['cpu_pct'] == {'mean': None, 'max': None, 'min': None}


def test_a_partly_written_last_line_is_skipped(tmp_path):
    path = tmp_path / 's.jsonl'
    path.write_text('{"ts": 1, "cpu_pct": 1}\n{"ts": 2, "cpu_p')
    assert vs.read_samples(str(path)) == [{'ts': 1, 'cpu_pct': 1}]
    assert vs.read_samples(str(tmp_path / 'missing')) == []


def test_detached_sampler_writes_samples_until_stopped(tmp_path):
    path = str(tmp_path / 'out' / 'samples.jsonl')
    pidfile = str(tmp_path / 'out' / 'samples.pid')
    pid = vs.start_detached(path, pidfile, interval=0.2, max_duration=30, processes=['nvnothing'], scope='host', backend='proc', label='t')
    try:
        info = vs.running(pidfile)
        assert info is not None and info['pid'] == pid
        assert os.getsid(pid) != os.getsid(0)  # a session of its own: survives the connection
        time.sleep(1.2)
    finally:
        assert vs.stop(pidfile) is True
    assert vs.running(pidfile) is None
    assert not os.path.exists(pidfile)
    samples = vs.read_samples(path)
    assert 3 <= len(samples) <= 8
    assert all(s['label'] == 't' and 0 <= s['cpu_pct'] <= 100 for s in samples)
    assert vs.stop(pidfile) is False


def test_the_sampler_stops_by_itself_after_max_duration(tmp_path):
    path = str(tmp_path / 'samples.jsonl')
    pidfile = path + '.pid'
    vs.start_detached(path, pidfile, interval=0.1, max_duration=0.5, processes=[], scope='host', backend='proc')
    deadline = time.monotonic() + 5
    while vs.running(pidfile) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert vs.running(pidfile) is None
    assert 2 <= len(vs.read_samples(path)) <= 7


def test_a_pidfile_of_another_process_is_not_trusted(tmp_path):
    pidfile = tmp_path / 'p.pid'
    pidfile.write_text('{"pid": %d, "start": 1, "path": "x"}' % os.getpid())
    assert vs.running(str(pidfile)) is None
    assert vs.stop(str(pidfile)) is False
    assert not pidfile.exists()
