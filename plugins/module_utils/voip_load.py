# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load-test figures: SIPp statistics files, the capacity search, the paper's tables, plots.

Pure Python (>= 3.8, stdlib only).

* ``parse_stat_csv`` reads the file SIPp writes with ``-trace_stat -stf FILE`` (``;``-separated,
  one line every ``-fd`` seconds plus a final one; ``(C)`` columns are cumulative).
* ``capacity_search`` raises the call rate until a step fails (failed calls above a share, or
  the mean response time above a bound) or a time budget runs out; the runner is injected.
* ``tables``, ``load_csv``, ``svg_plot`` and ``html_section`` make the report's load section;
  ``one_vm_rows`` the table of OpenNebula's own monitoring of the server's VM (one_vm_info),
  recorded at the end of each step when an OpenNebula endpoint is known.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io
import math
import time

try:
    from html import escape as _escape
except ImportError:  # pragma: no cover - Python 2
    from cgi import escape as _escape  # pylint: disable=deprecated-module


def escape(text):
    return _escape(str(text), True)


# ---------------------------------------------------------------------------- SIPp statistics

FAILED_PREFIX = 'Failed'


def parse_sipp_time(text):
    """SIPp's "HH:MM:SS:uuuuuu" (or "HH:MM:SS") as milliseconds; None for empty text."""
    text = (text or '').strip()
    if not text:
        return None
    parts = text.split(':')
    try:
        hours, minutes, seconds = int(parts[0]), int(parts[1]), int(parts[2])
        micro = int(parts[3]) if len(parts) > 3 else 0
    except (ValueError, IndexError):
        return None
    return ((hours * 60 + minutes) * 60 + seconds) * 1000.0 + micro / 1000.0


def _int(row, key):
    try:
        return int(float(row.get(key) or 0))
    except ValueError:
        return 0


def parse_stat_csv(text):
    """The figures of a SIPp statistics file (the last line's cumulative counters).

    Returns a dict: created, successful, failed, failed_by (non-zero reasons), retransmissions,
    dead_call_msgs, out_of_call_msgs, concurrent_max (largest CurrentCall of any line),
    response_time_ms (mean of response time 1), response_time_stdev_ms, call_length_ms,
    call_rate (mean calls/s), elapsed_s, success_rate_pct, failed_pct, lines.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    reader = csv.DictReader(io.StringIO('\n'.join(lines)), delimiter=';')
    rows = list(reader)
    if not rows:
        return None
    last = rows[-1]
    failed_by = {}
    for key in reader.fieldnames or []:
        if key.startswith(FAILED_PREFIX) and key.endswith('(C)') and key != 'FailedCall(C)':
            value = _int(last, key)
            if value:
                failed_by[key[len(FAILED_PREFIX):-3]] = value
    successful = _int(last, 'SuccessfulCall(C)')
    failed = _int(last, 'FailedCall(C)')
    created = _int(last, 'TotalCallCreated')
    ended = successful + failed
    try:
        rate = float(last.get('CallRate(C)') or 0.0)
    except ValueError:
        rate = 0.0
    elapsed = parse_sipp_time(last.get('ElapsedTime(C)'))
    return {
        'created': created,
        'successful': successful,
        'failed': failed,
        'failed_by': failed_by,
        'retransmissions': _int(last, 'Retransmissions(C)'),
        'dead_call_msgs': _int(last, 'DeadCallMsgs(C)'),
        'out_of_call_msgs': _int(last, 'OutOfCallMsgs(C)'),
        'concurrent_max': max(_int(row, 'CurrentCall') for row in rows),
        'response_time_ms': parse_sipp_time(last.get('ResponseTime1(C)')),
        'response_time_stdev_ms': parse_sipp_time(last.get('ResponseTime1StDev(C)')),
        'call_length_ms': parse_sipp_time(last.get('CallLength(C)')),
        'call_rate': round(rate, 3),
        'elapsed_s': None if elapsed is None else round(elapsed / 1000.0, 3),
        'success_rate_pct': round(100.0 * successful / ended, 3) if ended else 0.0,
        'failed_pct': round(100.0 * failed / ended, 3) if ended else 0.0,
        'lines': len(rows),
    }


def sipp_outcome(stats, rc, expected_calls):
    """(ok, reason) of one SIPp run that was to complete expected_calls calls."""
    if stats is None:
        return False, 'SIPp wrote no statistics (exit code %s)' % rc
    if stats['successful'] < expected_calls:
        reasons = ', '.join('%s %d' % kv for kv in sorted(stats['failed_by'].items())) or 'none recorded'
        return False, ('%d of %d calls succeeded, %d failed (reasons: %s; SIPp exit code %s)'
                       % (stats['successful'], expected_calls, stats['failed'], reasons, rc))
    if stats['failed']:
        return False, '%d calls failed (SIPp exit code %s)' % (stats['failed'], rc)
    return True, 'all %d calls succeeded' % expected_calls


# ---------------------------------------------------------------------------- capacity search


def step_is_clean(stats, max_failed_pct=0.1, max_response_ms=500.0):
    """(clean, reason) of one capacity step."""
    if stats is None:
        return False, 'no statistics'
    ended = stats['successful'] + stats['failed']
    if ended == 0:
        return False, 'no call ended'
    if stats['failed_pct'] > max_failed_pct:
        return False, 'failed calls %.3f %% > %s %%' % (stats['failed_pct'], max_failed_pct)
    if stats['created'] and ended < stats['created']:
        # calls still open when SIPp stopped count as failures
        share = 100.0 * (stats['created'] - stats['successful']) / stats['created']
        if share > max_failed_pct:
            return False, 'unfinished or failed calls %.3f %% > %s %%' % (share, max_failed_pct)
    rt = stats.get('response_time_ms')
    if rt is not None and rt > max_response_ms:
        return False, 'response time %.1f ms > %s ms' % (rt, max_response_ms)
    return True, 'clean'


def capacity_search(run, start=10.0, factor=2.0, max_rate=2000.0, step_s=10.0, time_budget_s=120.0,
                    max_failed_pct=0.1, max_response_ms=500.0, refine=True, overhead_s=3.0, clock=time.monotonic):
    """Find the highest clean call rate.

    run(rate, duration_s) -> stats (as parse_stat_csv) runs one step. The rate is multiplied by
    factor until a step is not clean; then, with refine, the gap between the last clean and the
    first failing rate is halved while the budget allows and the gap is wider than 10 %. A step
    starts only when step_s + overhead_s still fit in time_budget_s.
    """
    if start <= 0 or factor <= 1 or step_s <= 0:
        raise ValueError('start must be > 0, factor > 1, step_s > 0')
    began = clock()
    steps = []
    good = None
    bad = None
    stopped_by = 'max_rate'
    rate = float(start)

    def fits():
        return clock() - began + step_s + overhead_s <= time_budget_s

    def one(rate):
        stats = run(rate, step_s)
        clean, reason = step_is_clean(stats, max_failed_pct, max_response_ms)
        item = {'cps': round(rate, 2), 'clean': clean, 'reason': reason}
        if stats:
            for key in ('created', 'successful', 'failed', 'failed_pct', 'success_rate_pct',
                        'response_time_ms', 'concurrent_max', 'call_rate', 'retransmissions', 'failed_by'):
                item[key] = stats.get(key)
        steps.append(item)
        return clean

    while True:
        if rate > max_rate:
            stopped_by = 'max_rate'
            break
        if not fits():
            stopped_by = 'time_budget'
            break
        if one(rate):
            good = rate
            rate = rate * factor
            if good < max_rate < rate:
                rate = max_rate
        else:
            bad = rate
            stopped_by = 'failure'
            break
    if refine and bad is not None:
        low = good if good is not None else 0.0
        while bad - low > max(1.0, 0.1 * bad) and fits():
            mid = round((low + bad) / 2.0, 1)
            if mid <= low or mid >= bad:
                break
            if one(mid):
                low = mid
                good = mid
            else:
                bad = mid
    clean_steps = [s for s in steps if s['clean']]
    return {
        'steps': steps,
        'highest_clean_cps': good,
        'lowest_failing_cps': bad,
        'max_concurrent_calls': max([s.get('concurrent_max') or 0 for s in clean_steps] or [0]),
        'stopped_by': stopped_by,
        'elapsed_s': round(clock() - began, 1),
        'criteria': {'max_failed_pct': max_failed_pct, 'max_response_ms': max_response_ms, 'step_s': step_s},
    }


# ---------------------------------------------------------------------------- tables and CSV

TABLE_COLUMNS = ('users', 'cpu_pct', 'ram_pct', 'disk_pct')
TABLE_HEADERS = ('Users', 'CPU usage (%)', 'RAM usage (%)', 'Disk usage (%)')


def _mean(summary, key):
    value = (summary or {}).get(key) or {}
    return value.get('mean') if isinstance(value, dict) else value


def table_rows(steps, host_key):
    """Rows (users, CPU, RAM, disk means) of the steps for the summaries under host_key."""
    rows = []
    for step in sorted(steps, key=lambda s: s['users']):
        summary = (step.get('usage') or {}).get(host_key)
        if not summary:
            continue
        rows.append({
            'users': step['users'],
            'cpu_pct': _mean(summary, 'cpu_pct'),
            'ram_pct': _mean(summary, 'mem_pct'),
            'disk_pct': _mean(summary, 'disk_pct'),
        })
    return rows


LOAD_CSV_FIELDS = (
    'users', 'calls', 'host', 'samples', 'cpu_pct_mean', 'cpu_pct_max', 'ram_pct_mean', 'ram_pct_max',
    'disk_pct_mean', 'host_cpu_pct_mean', 'host_mem_pct_mean', 'process', 'process_cpu_pct_mean',
    'process_cpu_pct_max', 'process_rss_mib_mean', 'process_rss_mib_max',
    'registered', 'calls_successful', 'calls_failed', 'response_time_ms',
)


def _stat(summary, key, which):
    value = (summary or {}).get(key) or {}
    return value.get(which) if isinstance(value, dict) else None


def _mib(value):
    return None if value is None else round(value / 1048576.0, 2)


def load_csv(steps):
    """load.csv: one line per step and host, plus one per step, host and process."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=LOAD_CSV_FIELDS, lineterminator='\n')
    writer.writeheader()
    for step in sorted(steps, key=lambda s: s['users']):
        calls = step.get('calls') or {}
        reg = step.get('register') or {}
        common = {
            'users': step['users'],
            'calls': step.get('calls_planned'),
            'registered': reg.get('successful'),
            'calls_successful': calls.get('successful'),
            'calls_failed': calls.get('failed'),
            'response_time_ms': calls.get('response_time_ms'),
        }
        for host_key in sorted(step.get('usage') or {}):
            summary = step['usage'][host_key]
            row = dict(common, host=host_key, samples=summary.get('samples'),
                       cpu_pct_mean=_stat(summary, 'cpu_pct', 'mean'), cpu_pct_max=_stat(summary, 'cpu_pct', 'max'),
                       ram_pct_mean=_stat(summary, 'mem_pct', 'mean'), ram_pct_max=_stat(summary, 'mem_pct', 'max'),
                       disk_pct_mean=_stat(summary, 'disk_pct', 'mean'),
                       host_cpu_pct_mean=_stat(summary, 'host_cpu_pct', 'mean'),
                       host_mem_pct_mean=_stat(summary, 'host_mem_pct', 'mean'))
            writer.writerow(row)
            for name in sorted(summary.get('procs') or {}):
                proc = summary['procs'][name]
                writer.writerow(dict(common, host=host_key, process=name,
                                     process_cpu_pct_mean=_stat(proc, 'cpu_pct', 'mean'),
                                     process_cpu_pct_max=_stat(proc, 'cpu_pct', 'max'),
                                     process_rss_mib_mean=_mib(_stat(proc, 'rss_bytes', 'mean')),
                                     process_rss_mib_max=_mib(_stat(proc, 'rss_bytes', 'max'))))
    return out.getvalue()


ONE_VM_FIELDS = ('users', 'vm', 'vm_id', 'state', 'vcpu', 'memory_mb', 'records', 'cpu_pct_mean', 'cpu_pct_max',
                 'memory_mib_mean', 'memory_mib_max', 'memory_pct_mean', 'net_rx_bytes', 'net_tx_bytes',
                 'timestamp', 'time_utc', 'error')


def _step_window(step):
    """(first, last) sample time of the step over all sampled hosts, or (None, None)."""
    firsts = [u.get('first_ts') for u in (step.get('usage') or {}).values() if isinstance(u, dict) and u.get('first_ts') is not None]
    lasts = [u.get('last_ts') for u in (step.get('usage') or {}).values() if isinstance(u, dict) and u.get('last_ts') is not None]
    return (min(firsts) if firsts else None, max(lasts) if lasts else None)


def _mean_max(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return round(sum(values) / len(values), 2), round(max(values), 2)


def one_vm_rows(steps):
    """One row per step that read the VM's monitoring from OpenNebula (step['one_vm'], see roles/voip_loadtest/tasks/one_vm.yml).

    The records are those oned took from the step's first sample on (``one_vm['history']``, from
    one_vm_info's monitoring_history; else the newest record alone when it is that recent):
    cpu_pct is MONITORING/CPU (% of one CPU), memory_mib MONITORING/MEMORY (KiB) in MiB,
    memory_pct the same over the VM's MEMORY; the counters and the time are the newest record's.
    """
    rows = []
    for step in sorted(steps, key=lambda s: s['users']):
        vm = step.get('one_vm') or {}
        if not vm:
            continue
        latest = vm.get('monitoring') or {}
        first = _step_window(step)[0]
        records = [r for r in (vm.get('history') or []) if isinstance(r, dict) and r.get('timestamp') is not None]
        # from the second before the step's first sample on, whole seconds (oned's TIMESTAMP), as the role asks one_vm_info
        since = None if first is None else int(first - 1)
        if not records and latest.get('timestamp') is not None and (since is None or latest['timestamp'] >= since):
            records = [latest]
        if since is not None:
            records = [r for r in records if r['timestamp'] >= since]
        newest = max(records, key=lambda r: r['timestamp']) if records else latest
        cpu_mean, cpu_max = _mean_max([r.get('cpu') for r in records])
        mem_mean, mem_max = _mean_max([None if r.get('memory') is None else r['memory'] / 1024.0 for r in records])
        ts = newest.get('timestamp')
        error = None if vm.get('ok', True) else (vm.get('msg') or 'no monitoring')
        if error is None and not records:
            error = 'no record since the step began (newest: %s)' % (
                'none' if ts is None else time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ts)))
        rows.append({
            'users': step['users'], 'vm': vm.get('name'), 'vm_id': vm.get('id'), 'state': vm.get('state'),
            'vcpu': vm.get('vcpu'), 'memory_mb': vm.get('memory_mb'), 'records': len(records),
            'cpu_pct_mean': cpu_mean, 'cpu_pct_max': cpu_max, 'memory_mib_mean': mem_mean, 'memory_mib_max': mem_max,
            'memory_pct_mean': _mean_max([r.get('memory_pct') for r in records])[0],
            'net_rx_bytes': newest.get('net_rx_bytes'), 'net_tx_bytes': newest.get('net_tx_bytes'),
            'timestamp': ts, 'time_utc': None if ts is None else time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ts)),
            'error': error,
        })
    return rows


def one_vm_csv(rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ONE_VM_FIELDS, lineterminator='\n')
    writer.writeheader()
    for row in rows:
        writer.writerow(dict((k, '' if row.get(k) is None else row.get(k)) for k in ONE_VM_FIELDS))
    return out.getvalue()


# ---------------------------------------------------------------------------- SVG plots

_COLOURS = ('#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b')


def _nice_max(value):
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for mult in (1, 2, 2.5, 5, 10):
        top = mult * 10 ** exp
        if top >= value:
            return float(top)
    return float(10 ** (exp + 1))  # pragma: no cover


def _fmt(value):
    if value == int(value):
        return '%d' % value
    return ('%.2f' % value).rstrip('0').rstrip('.')


def svg_plot(title, xlabel, ylabel, series, y_max=None, log_x=False, width=560, height=300):
    """A line plot with markers as inline SVG. series: [{'name', 'points': [(x, y), ...]}]."""
    left, right, top, bottom = 60, 130, 30, 45
    pw, ph = width - left - right, height - top - bottom
    xs = [x for s in series for x, y in s['points'] if y is not None]
    ys = [y for s in series for x, y in s['points'] if y is not None]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">' % (width, height, width, height),
           '<title>%s</title>' % escape(title),
           '<rect x="0" y="0" width="%d" height="%d" fill="white"/>' % (width, height),
           '<text x="%d" y="18" font-size="14" text-anchor="middle" font-family="sans-serif">%s</text>' % (width // 2, escape(title))]
    if not xs:
        out.append('<text x="%d" y="%d" font-size="12" text-anchor="middle">no data</text></svg>' % (width // 2, height // 2))
        return '\n'.join(out)
    use_log = log_x and min(xs) > 0 and max(xs) / min(xs) > 20

    def tx(value):
        return math.log10(value) if use_log else value
    x_lo, x_hi = (tx(min(xs)), tx(max(xs)))
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    y_hi = y_max if y_max is not None else _nice_max(max(ys) * 1.05)

    def px(x):
        return left + (tx(x) - x_lo) / (x_hi - x_lo) * pw

    def py(y):
        return top + ph - (min(y, y_hi) / y_hi) * ph

    # axes and grid
    out.append('<g font-family="sans-serif" font-size="11">')
    for i in range(6):
        yv = y_hi * i / 5.0
        yy = py(yv)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (left, yy, left + pw, yy))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (left - 5, yy + 4, _fmt(round(yv, 2))))
    ticks = sorted(set(xs))
    if len(ticks) > 12:
        ticks = ticks[::-(-len(ticks) // 12)]
    for xv in ticks:
        xx = px(xv)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>' % (xx, top, xx, top + ph))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (xx, top + ph + 15, _fmt(xv)))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>' % (left, top, pw, ph))
    out.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % (left + pw // 2, height - 8, escape(xlabel)))
    out.append('<text x="14" y="%d" text-anchor="middle" transform="rotate(-90 14 %d)">%s</text>'
               % (top + ph // 2, top + ph // 2, escape(ylabel)))
    for idx, s in enumerate(series):
        colour = _COLOURS[idx % len(_COLOURS)]
        pts = [(px(x), py(y)) for x, y in s['points'] if y is not None]
        if len(pts) > 1:
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                       % (colour, ' '.join('%.1f,%.1f' % p for p in pts)))
        for p in pts:
            out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (p[0], p[1], colour))
        ly = top + 10 + idx * 16
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>' % (left + pw + 10, ly - 9, colour))
        out.append('<text x="%d" y="%d">%s</text>' % (left + pw + 25, ly, escape(s['name'])))
    out.append('</g></svg>')
    return '\n'.join(out)


# ---------------------------------------------------------------------------- the report section


def _cell(value, digits=2):
    if value is None:
        return '&#8211;'
    if isinstance(value, float):
        return ('%.' + str(digits) + 'f') % value
    return escape(value)


def html_table(caption, rows, columns=TABLE_COLUMNS, headers=TABLE_HEADERS):
    out = ['<table class="load">', '<caption>%s</caption>' % escape(caption),
           '<thead><tr>%s</tr></thead>' % ''.join('<th>%s</th>' % escape(h) for h in headers), '<tbody>']
    for row in rows:
        out.append('<tr>%s</tr>' % ''.join('<td>%s</td>' % _cell(row.get(c)) for c in columns))
    out.append('</tbody></table>')
    return '\n'.join(out)


def plots(steps, hosts, capacity=None):
    """{name: svg}: CPU and RAM against users (one line per host), success rate against calls/s."""
    ordered = sorted(steps, key=lambda s: s['users'])
    out = {}
    for key, label, name in (('cpu_pct', 'CPU usage (%)', 'cpu_vs_users'), ('mem_pct', 'RAM usage (%)', 'ram_vs_users')):
        series = []
        for host_key, host_name in hosts:
            pts = [(s['users'], _mean((s.get('usage') or {}).get(host_key), key)) for s in ordered
                   if (s.get('usage') or {}).get(host_key)]
            if pts:
                series.append({'name': host_name, 'points': pts})
        out[name] = svg_plot('%s against users' % label.partition(' (')[0], 'users (talking in pairs)', label, series, y_max=100.0)
    series = []
    if capacity and capacity.get('steps'):
        pts = sorted((s['cps'], s.get('success_rate_pct')) for s in capacity['steps'])
        series.append({'name': 'success rate', 'points': pts})
    out['success_vs_cps'] = svg_plot('Successful calls against call rate', 'calls per second', 'successful calls (%)',
                                     series, y_max=100.0, log_x=True)
    return out


def html_section(steps, hosts, capacity=None, plot_svgs=None, wrap=True):
    """The load section of index.html: both tables, the SIPp counts, the capacity result, the plots.

    wrap=False gives the body only (for voip_report's sections, which add the heading).
    """
    plot_svgs = plot_svgs if plot_svgs is not None else plots(steps, hosts, capacity)
    parts = ['<section id="load"><h2>Load test</h2>'] if wrap else []
    for host_key, host_name in hosts:
        rows = table_rows(steps, host_key)
        if rows:
            parts.append(html_table('Resource usage of the %s with users talking' % host_name, rows))
    counts = []
    for s in sorted(steps, key=lambda s: s['users']):
        reg, calls = s.get('register') or {}, s.get('calls') or {}
        counts.append({'users': s['users'], 'registered': reg.get('successful'), 'calls': s.get('calls_planned'),
                       'ok': calls.get('successful'), 'failed': calls.get('failed'),
                       'rt': calls.get('response_time_ms'), 'status': s.get('status', '')})
    parts.append(html_table('SIPp counts of each step', counts,
                            ('users', 'registered', 'calls', 'ok', 'failed', 'rt', 'status'),
                            ('Users', 'Registered', 'Calls', 'Successful', 'Failed', 'Response time (ms)', 'Status')))
    if capacity:
        parts.append('<p class="capacity">Capacity: highest clean rate <strong>%s calls/s</strong>, '
                     'largest number of concurrent calls held <strong>%s</strong> (criteria: failed calls &#8804; %s %%, '
                     'mean response time &#8804; %s ms; stopped by %s after %s s).</p>'
                     % (_cell(capacity.get('highest_clean_cps')), _cell(capacity.get('max_concurrent_calls')),
                        escape(capacity['criteria']['max_failed_pct']), escape(capacity['criteria']['max_response_ms']),
                        escape(capacity.get('stopped_by')), escape(capacity.get('elapsed_s'))))
        rows = [{'cps': s['cps'], 'created': s.get('created'), 'ok': s.get('successful'), 'failed': s.get('failed'),
                 'rate': s.get('success_rate_pct'), 'rt': s.get('response_time_ms'), 'conc': s.get('concurrent_max'),
                 'verdict': s.get('reason')} for s in capacity.get('steps', [])]
        parts.append(html_table('Capacity search', rows, ('cps', 'created', 'ok', 'failed', 'rate', 'rt', 'conc', 'verdict'),
                                ('Calls/s', 'Calls', 'Successful', 'Failed', 'Success (%)', 'Response time (ms)',
                                 'Concurrent (max)', 'Verdict')))
    vm_rows = one_vm_rows(steps)
    if vm_rows:
        names = sorted(set(r['vm'] or '?' for r in vm_rows))
        parts.append(html_table('OpenNebula\'s monitoring of the VM %s during each step (one_vm_info: its records from the step\'s '
                                'first sample on)' % ', '.join(names), vm_rows,
                                ('users', 'records', 'cpu_pct_mean', 'cpu_pct_max', 'memory_mib_mean', 'memory_pct_mean',
                                 'time_utc', 'error'),
                                ('Users', 'Records', 'CPU mean (% of one CPU)', 'CPU max (% of one CPU)', 'Memory (MiB)',
                                 'Memory (% of the VM)', 'Newest record (UTC)', 'Error')))
    for name in ('cpu_vs_users', 'ram_vs_users', 'success_vs_cps'):
        if name in plot_svgs:
            parts.append('<figure class="plot" id="%s">%s</figure>' % (name, plot_svgs[name]))
    if wrap:
        parts.append('</section>')
    return '\n'.join(parts)


def standalone_html(title, section):
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>%s</title>\n'
            '<style>body{font-family:sans-serif;margin:2em}table.load{border-collapse:collapse;margin:1em 0}'
            'table.load td,table.load th{border:1px solid #999;padding:2px 8px;text-align:right}'
            'caption{font-weight:bold;text-align:left}</style></head><body>\n<h1>%s</h1>\n%s\n</body></html>\n'
            % (escape(title), escape(title), section))


def table_csv(rows, columns=TABLE_COLUMNS, headers=TABLE_HEADERS):
    """One table with the paper's columns as CSV."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(headers)
    for row in rows:
        writer.writerow(['' if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()
