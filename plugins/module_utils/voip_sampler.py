# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resource sampler of the load tests: CPU %, RAM %, disk % and per-process CPU/RSS.

Pure Python (>= 3.8, stdlib only). Reads /proc and statvfs, or psutil when it is importable
and asked for. Inside a container (podman, docker, LXC) the machine-wide figures of /proc are
the host's; the ``cgroup`` scope reads the container's own CPU time and memory from its
cgroup (v1 or v2), which is what the container "sees" as its machine, like a VM does.

One sample is one JSON object (one line of the samples file)::

    {"ts": 1700000000.12, "label": "server", "scope": "cgroup", "hostname": "sip1",
     "cpu_pct": 12.5, "mem_pct": 3.2, "disk_pct": 41.0,
     "host_cpu_pct": 30.1, "host_mem_pct": 20.3, "load1": 0.5,
     "mem_used_bytes": ..., "mem_total_bytes": ...,
     "procs": {"kamailio": {"count": 9, "cpu_pct": 4.0, "rss_bytes": 123456}}}

``cpu_pct`` is a share of all CPUs (0-100); a process' ``cpu_pct`` is a share of one CPU,
as top shows it (it can pass 100 for a multi-threaded process on several CPUs).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import signal
import socket
import time

try:
    import psutil  # pylint: disable=import-error
    HAS_PSUTIL = True
except ImportError:  # pragma: no cover - depends on the host
    psutil = None
    HAS_PSUTIL = False

DEFAULT_PROCESSES = ('kamailio', 'mariadbd', 'rtpengine')
SCOPES = ('auto', 'host', 'cgroup')
BACKENDS = ('auto', 'proc', 'psutil')
_CGROUP_UNLIMITED = 1 << 60


class SamplerError(Exception):
    """A failure with a message meant for the user."""


# ---------------------------------------------------------------------------- /proc readers


def _read(path):
    with open(path, 'r') as handle:
        return handle.read()


def clock_ticks():
    try:
        return float(os.sysconf('SC_CLK_TCK'))
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 100.0


def cpu_count():
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover
        return os.cpu_count() or 1


def read_cpu_times(proc='/proc'):
    """Machine-wide (busy, total) CPU time in seconds from the first line of /proc/stat."""
    for line in _read(os.path.join(proc, 'stat')).splitlines():
        if line.startswith('cpu '):
            fields = [float(x) for x in line.split()[1:]]
            # user nice system idle iowait irq softirq steal guest guest_nice;
            # guest time is already counted in user/nice
            fields = fields[:8]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
            total = sum(fields)
            tick = clock_ticks()
            return (total - idle) / tick, total / tick
    raise SamplerError('no cpu line in %s/stat' % proc)


def read_meminfo(proc='/proc'):
    """(used, total) bytes: used = MemTotal - MemAvailable, as free(1) and top show it."""
    info = {}
    for line in _read(os.path.join(proc, 'meminfo')).splitlines():
        parts = line.split()
        if len(parts) >= 2:
            info[parts[0].rstrip(':')] = int(parts[1]) * 1024
    total = info.get('MemTotal', 0)
    if 'MemAvailable' in info:
        avail = info['MemAvailable']
    else:  # pragma: no cover - kernels before 3.14
        avail = info.get('MemFree', 0) + info.get('Buffers', 0) + info.get('Cached', 0)
    return max(total - avail, 0), total


def read_loadavg(proc='/proc'):
    try:
        return float(_read(os.path.join(proc, 'loadavg')).split()[0])
    except (OSError, ValueError, IndexError):  # pragma: no cover
        return None


def disk_usage(path='/'):
    """Used share of the file system holding path, in %, as df(1) computes it."""
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    if used + avail <= 0:
        return 0.0
    return 100.0 * used / (used + avail)


def _proc_stat_fields(pid, proc='/proc'):
    """Fields of /proc/PID/stat after the command name (field 3 is index 0)."""
    data = _read(os.path.join(proc, str(pid), 'stat'))
    return data[data.rindex(')') + 2:].split()


def process_start_time(pid, proc='/proc'):
    """Start time of a process in clock ticks since boot, or None when it does not exist (or is a zombie)."""
    try:
        fields = _proc_stat_fields(pid, proc)
        if fields[0] in ('Z', 'X', 'x'):
            return None
        return int(fields[19])
    except (OSError, IOError, ValueError, IndexError):
        return None


def process_name_matches(pid, names, proc='/proc'):
    """The name of names that a process matches (its comm or argv[0] basename), else None."""
    try:
        comm = _read(os.path.join(proc, str(pid), 'comm')).strip()
    except (OSError, IOError):
        return None
    argv0 = ''
    try:
        cmdline = _read(os.path.join(proc, str(pid), 'cmdline'))
        argv0 = os.path.basename(cmdline.split('\0', 1)[0])
    except (OSError, IOError):
        pass
    for name in names:
        # comm is truncated to 15 characters by the kernel
        if comm == name or comm == name[:15] or argv0 == name:
            return name
    return None


def read_processes(names, proc='/proc'):
    """{name: {'cpu_s': user+system seconds, 'rss_bytes': sum, 'count': n, 'pids': {pid: cpu_s}}}."""
    result = dict((n, {'cpu_s': 0.0, 'rss_bytes': 0, 'count': 0, 'pids': {}}) for n in names)
    if not names:
        return result
    tick = clock_ticks()
    page = os.sysconf('SC_PAGE_SIZE')
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        name = process_name_matches(entry, names, proc)
        if name is None:
            continue
        try:
            fields = _proc_stat_fields(entry, proc)
            cpu_s = (int(fields[11]) + int(fields[12])) / tick
            rss = int(fields[21]) * page
            start = fields[19]
        except (OSError, IOError, ValueError, IndexError):
            continue  # the process ended meanwhile
        item = result[name]
        item['cpu_s'] += cpu_s
        item['rss_bytes'] += rss
        item['count'] += 1
        item['pids']['%s:%s' % (entry, start)] = cpu_s
    return result


# ---------------------------------------------------------------------------- cgroups


def in_container(root='/'):
    """True inside a podman/docker/LXC container (files they leave, or PID 1's environment)."""
    for marker in ('run/.containerenv', '.dockerenv'):
        if os.path.exists(os.path.join(root, marker)):
            return True
    try:
        env = _read(os.path.join(root, 'proc', '1', 'environ'))
        return any(item.startswith('container=') for item in env.split('\0'))
    except (OSError, IOError):
        return False


class CgroupReader:
    """CPU time and memory of the cgroup the sampler is in (v2 unified, or v1 cpuacct+memory)."""

    def __init__(self, root='/sys/fs/cgroup'):
        self.root = root
        if os.path.exists(os.path.join(root, 'cgroup.controllers')):
            self.version = 2
        elif os.path.exists(os.path.join(root, 'cpuacct', 'cpuacct.usage')) or \
                os.path.exists(os.path.join(root, 'cpu,cpuacct', 'cpuacct.usage')):
            self.version = 1
        else:
            raise SamplerError('no readable cgroup (v1 cpuacct or v2) under %s' % root)

    def _v1(self, controller, name):
        for ctl in (controller, 'cpu,cpuacct' if controller == 'cpuacct' else controller):
            path = os.path.join(self.root, ctl, name)
            if os.path.exists(path):
                return _read(path)
        raise SamplerError('cgroup file %s/%s not found' % (controller, name))

    @staticmethod
    def _stat(text):
        out = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2:
                try:
                    out[parts[0]] = int(parts[1])
                except ValueError:
                    pass
        return out

    def cpu_seconds(self):
        if self.version == 2:
            return self._stat(_read(os.path.join(self.root, 'cpu.stat'))).get('usage_usec', 0) / 1e6
        return int(self._v1('cpuacct', 'cpuacct.usage').strip()) / 1e9

    def cpu_limit(self):
        """CPUs the cgroup may use (quota / period), or None when unlimited."""
        try:
            if self.version == 2:
                quota, period = _read(os.path.join(self.root, 'cpu.max')).split()[:2]
                if quota == 'max':
                    return None
                return float(quota) / float(period)
            quota = int(self._v1('cpu', 'cpu.cfs_quota_us').strip())
            period = int(self._v1('cpu', 'cpu.cfs_period_us').strip())
            return None if quota <= 0 else float(quota) / period
        except (OSError, IOError, ValueError, SamplerError):
            return None

    def memory(self):
        """(used, limit) bytes; used leaves out inactive page cache as docker stats does."""
        if self.version == 2:
            usage = int(_read(os.path.join(self.root, 'memory.current')).strip())
            stat = self._stat(_read(os.path.join(self.root, 'memory.stat')))
            inactive = stat.get('inactive_file', 0)
            raw = _read(os.path.join(self.root, 'memory.max')).strip()
            limit = _CGROUP_UNLIMITED if raw == 'max' else int(raw)
        else:
            usage = int(self._v1('memory', 'memory.usage_in_bytes').strip())
            stat = self._stat(self._v1('memory', 'memory.stat'))
            inactive = stat.get('total_inactive_file', stat.get('inactive_file', 0))
            limit = int(self._v1('memory', 'memory.limit_in_bytes').strip())
        return max(usage - inactive, 0), limit


# ---------------------------------------------------------------------------- backends


class ProcBackend:
    """Machine-wide figures from /proc."""

    name = 'proc'

    def __init__(self, proc='/proc'):
        self.proc = proc

    def cpu_times(self):
        return read_cpu_times(self.proc)

    def memory(self):
        return read_meminfo(self.proc)

    def processes(self, names):
        return read_processes(names, self.proc)


class PsutilBackend:  # pragma: no cover - exercised only where psutil is installed
    """Machine-wide figures from psutil."""

    name = 'psutil'

    def __init__(self):
        if not HAS_PSUTIL:
            raise SamplerError('psutil is not installed on this host')

    @staticmethod
    def cpu_times():
        t = psutil.cpu_times()
        total = sum(getattr(t, f) for f in ('user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal') if hasattr(t, f))
        idle = t.idle + getattr(t, 'iowait', 0.0)
        return total - idle, total

    @staticmethod
    def memory():
        vm = psutil.virtual_memory()
        return vm.total - vm.available, vm.total

    @staticmethod
    def processes(names):
        result = dict((n, {'cpu_s': 0.0, 'rss_bytes': 0, 'count': 0, 'pids': {}}) for n in names)
        for p in psutil.process_iter(['name', 'cmdline', 'cpu_times', 'memory_info', 'create_time']):
            info = p.info
            argv0 = os.path.basename((info.get('cmdline') or [''])[0] or '')
            pname = info.get('name') or ''
            for name in names:
                if pname in (name, name[:15]) or argv0 == name:
                    if info.get('cpu_times') is None or info.get('memory_info') is None:
                        break
                    cpu_s = info['cpu_times'].user + info['cpu_times'].system
                    item = result[name]
                    item['cpu_s'] += cpu_s
                    item['rss_bytes'] += info['memory_info'].rss
                    item['count'] += 1
                    item['pids']['%s:%s' % (p.pid, info.get('create_time'))] = cpu_s
                    break
        return result


def make_backend(backend='auto', proc='/proc'):
    if backend not in BACKENDS:
        raise SamplerError('backend must be one of %s' % ', '.join(BACKENDS))
    if backend == 'psutil' or (backend == 'auto' and HAS_PSUTIL and proc == '/proc'):
        return PsutilBackend()
    return ProcBackend(proc)


def resolve_scope(scope='auto', root='/', cgroup_root='/sys/fs/cgroup'):
    """'host' or 'cgroup': auto means cgroup inside a container whose cgroup can be read."""
    if scope not in SCOPES:
        raise SamplerError('scope must be one of %s' % ', '.join(SCOPES))
    if scope != 'auto':
        return scope
    if in_container(root):
        try:
            CgroupReader(cgroup_root)
            return 'cgroup'
        except SamplerError:
            return 'host'
    return 'host'


# ---------------------------------------------------------------------------- the sampler


def _pct(num, den):
    if den <= 0:
        return 0.0
    return round(max(0.0, min(100.0, 100.0 * num / den)), 2)


class Sampler:
    """Takes samples; each one's CPU figures are over the time since the previous one."""

    def __init__(self, processes=DEFAULT_PROCESSES, disk_path='/', scope='auto', backend='auto',
                 label=None, proc='/proc', cgroup_root='/sys/fs/cgroup', clock=time.time):
        self.names = list(processes or [])
        self.disk_path = disk_path
        self.backend = make_backend(backend, proc)
        self.scope = resolve_scope(scope, cgroup_root=cgroup_root) if proc == '/proc' else 'host'
        self.cgroup = CgroupReader(cgroup_root) if self.scope == 'cgroup' else None
        self.label = label
        self.hostname = socket.gethostname()
        self.clock = clock
        self.ncpu = cpu_count()
        if self.cgroup is not None:
            limit = self.cgroup.cpu_limit()
            if limit:
                self.ncpu = min(self.ncpu, limit)
        self._prev = None

    def _snapshot(self):
        snap = {'t': self.clock(), 'mono': time.monotonic()}
        snap['busy'], snap['total'] = self.backend.cpu_times()
        snap['procs'] = self.backend.processes(self.names)
        if self.cgroup is not None:
            snap['cg_cpu'] = self.cgroup.cpu_seconds()
        return snap

    def prime(self):
        """The reference for the first sample."""
        self._prev = self._snapshot()

    def sample(self):
        if self._prev is None:
            self.prime()
            time.sleep(0.1)
        prev, cur = self._prev, self._snapshot()
        self._prev = cur
        elapsed = max(cur['mono'] - prev['mono'], 1e-6)
        host_cpu = _pct(cur['busy'] - prev['busy'], cur['total'] - prev['total'])
        used, total = self.backend.memory()
        host_mem = _pct(used, total)
        rec = {
            'ts': round(cur['t'], 3),
            'interval_s': round(elapsed, 3),
            'scope': self.scope,
            'hostname': self.hostname,
            'host_cpu_pct': host_cpu,
            'host_mem_pct': host_mem,
            'load1': read_loadavg(),
            'disk_pct': round(disk_usage(self.disk_path), 2),
        }
        if self.label:
            rec['label'] = self.label
        if self.cgroup is not None:
            cg_used, cg_limit = self.cgroup.memory()
            limit = min(cg_limit, total) if total else cg_limit
            rec['cpu_pct'] = _pct(cur['cg_cpu'] - prev['cg_cpu'], elapsed * self.ncpu)
            rec['mem_pct'] = _pct(cg_used, limit)
            rec['mem_used_bytes'] = cg_used
            rec['mem_total_bytes'] = limit
        else:
            rec['cpu_pct'] = host_cpu
            rec['mem_pct'] = host_mem
            rec['mem_used_bytes'] = used
            rec['mem_total_bytes'] = total
        procs = {}
        for name in self.names:
            now = cur['procs'][name]
            before = prev['procs'].get(name, {'pids': {}})
            # only the CPU time of processes seen in both snapshots (new ones: all of theirs)
            delta = 0.0
            for key, cpu_s in now['pids'].items():
                delta += cpu_s - before['pids'].get(key, 0.0)
            procs[name] = {
                'count': now['count'],
                'cpu_pct': round(max(delta, 0.0) / elapsed * 100.0, 2),
                'rss_bytes': now['rss_bytes'],
            }
        rec['procs'] = procs
        return rec


# ---------------------------------------------------------------------------- files, summary


def read_samples(path):
    """Samples of a JSON-lines file; a partly written last line is skipped."""
    out = []
    try:
        with open(path, 'r') as handle:
            for line in handle:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
    except (IOError, OSError) as exc:
        if exc.errno != errno.ENOENT:
            raise
    return out


def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return {'mean': None, 'max': None, 'min': None}
    return {'mean': round(sum(values) / len(values), 2), 'max': round(max(values), 2), 'min': round(min(values), 2)}


def summarize(samples):
    """Mean/max/min of the machine figures and of each process' CPU % and RSS."""
    summary = {'samples': len(samples)}
    for key in ('cpu_pct', 'mem_pct', 'disk_pct', 'host_cpu_pct', 'host_mem_pct'):
        summary[key] = _stats([s.get(key) for s in samples])
    if samples:
        summary['first_ts'] = samples[0].get('ts')
        summary['last_ts'] = samples[-1].get('ts')
        summary['scope'] = samples[-1].get('scope')
        summary['hostname'] = samples[-1].get('hostname')
        if samples[-1].get('label') is not None:
            summary['label'] = samples[-1].get('label')
    procs = {}
    names = []
    for s in samples:
        for name in (s.get('procs') or {}):
            if name not in names:
                names.append(name)
    for name in names:
        rows = [s['procs'][name] for s in samples if name in (s.get('procs') or {})]
        procs[name] = {
            'cpu_pct': _stats([r.get('cpu_pct') for r in rows]),
            'rss_bytes': _stats([r.get('rss_bytes') for r in rows]),
            'count_max': max([r.get('count', 0) for r in rows] or [0]),
        }
    summary['procs'] = procs
    return summary


# ---------------------------------------------------------------------------- pidfile, process


def read_pidfile(path):
    """{'pid': int, 'start': int, 'path': str} or None."""
    try:
        data = json.loads(_read(path))
        return {'pid': int(data['pid']), 'start': int(data['start']), 'path': data.get('path')}
    except (IOError, OSError, ValueError, KeyError, TypeError):
        return None


def running(pidfile):
    """The pidfile's content when its process is alive and is the one that wrote it, else None."""
    info = read_pidfile(pidfile)
    if info is None:
        return None
    if process_start_time(info['pid']) != info['start']:
        return None
    return info


def _write_atomic(path, text):
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w') as handle:
        handle.write(text)
    os.rename(tmp, path)


def run_loop(sampler, path, interval=1.0, max_duration=3600.0, stop_flag=None):
    """Append one sample per interval to path until SIGTERM/SIGINT, stop_flag() or max_duration."""
    state = {'stop': False}

    def _stop(signum, frame):  # pylint: disable=unused-argument
        state['stop'] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    deadline = time.monotonic() + max_duration
    sampler.prime()
    next_at = time.monotonic() + interval
    with open(path, 'a') as out:
        while not state['stop'] and (stop_flag is None or not stop_flag()):
            delay = next_at - time.monotonic()
            if delay > 0:
                # sleep in short slices so that SIGTERM ends the loop promptly
                time.sleep(min(delay, 0.2))
                continue
            next_at += interval
            if next_at < time.monotonic():
                next_at = time.monotonic() + interval
            try:
                rec = sampler.sample()
            except (OSError, IOError, SamplerError) as exc:
                rec = {'ts': round(time.time(), 3), 'error': str(exc)}
            out.write(json.dumps(rec, sort_keys=True) + '\n')
            out.flush()
            if time.monotonic() >= deadline:
                break


def start_detached(path, pidfile, interval=1.0, max_duration=3600.0, **sampler_args):
    """Start a sampler in a daemon process (double fork, new session); return its pid.

    The sampler is built (and fails, with its message) in the caller before forking. The
    daemon closes stdin/stdout/stderr so that the connection that started it can close.
    """
    sampler = Sampler(**sampler_args)
    for target in (path, pidfile):
        parent = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(parent):
            os.makedirs(parent)
    open(path, 'w').close()
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, measured through its output
        try:
            os.close(rfd)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            os.chdir('/')
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            me = os.getpid()
            _write_atomic(pidfile, json.dumps({'pid': me, 'start': process_start_time(me), 'path': path}))
            os.write(wfd, str(me).encode())
            os.close(wfd)
            run_loop(sampler, path, interval, max_duration)
        except BaseException:  # pylint: disable=broad-except
            pass
        finally:
            try:
                if running(pidfile) and read_pidfile(pidfile)['pid'] == os.getpid():
                    os.unlink(pidfile)
            except BaseException:  # pylint: disable=broad-except
                pass
            os._exit(0)
    os.close(wfd)
    os.waitpid(pid, 0)
    data = b''
    while True:
        chunk = os.read(rfd, 64)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    if not data:
        raise SamplerError('the sampler process did not start')
    return int(data.decode())


def stop(pidfile, timeout=10.0):
    """Stop the sampler of pidfile (SIGTERM, then SIGKILL after timeout); True if one ran."""
    info = running(pidfile)
    if info is None:
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        return False
    try:
        os.kill(info['pid'], signal.SIGTERM)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_start_time(info['pid']) == info['start']:
        time.sleep(0.05)
    if process_start_time(info['pid']) == info['start']:
        try:
            os.kill(info['pid'], signal.SIGKILL)
        except OSError:  # pragma: no cover
            pass
        time.sleep(0.1)
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    return True
