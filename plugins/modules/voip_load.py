#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: voip_load
short_description: SIPp load figures, the capacity search and the load section of the report
description:
  - O(operation=sipp_stats) reads a SIPp statistics file (C(-trace_stat -stf FILE)) and returns its
    counts (calls created, successful, failed by reason), response time and peak of concurrent calls.
  - O(operation=capacity) runs SIPp on this host at rising call rates (one step of O(step_s) seconds each)
    until failed calls pass O(max_failed_pct) or the mean response time passes O(max_response_ms), then
    narrows the gap while O(time_budget_s) allows, and returns the highest clean rate and the largest number
    of concurrent calls held. A callee (UAS) must already answer the calls.
  - O(operation=report) turns the results of the load steps into C(load.csv), C(load.json), the two tables
    with the paper's columns (users, CPU, RAM and disk usage; one for the cloud host and one for the SIP
    server), SVG plots (CPU and RAM against users, successful calls against calls per second) and an HTML
    section (also written as a page of its own, C(load.html)) in O(dest).
  - When the steps carry OpenNebula's own monitoring of the server's VM (C(one_vm), from
    M(nebulavoip.cloud.one_vm_info)), O(operation=report) also writes C(load_one_vm.csv) and adds its table to the section.
  - O(operation=report) writes the load test's part of the run page as C(load_section.json), which
    M(nebulavoip.cloud.voip_report) picks up whichever role assembles the page last.
version_added: "0.1.0"
author:
  - NebulaVoIP maintainers (@nebulavoip)
options:
  operation:
    description: What to do.
    type: str
    choices: [sipp_stats, capacity, report]
    required: true
  path:
    description: The SIPp statistics file (O(operation=sipp_stats)).
    type: path
  expected_calls:
    description: With O(operation=sipp_stats), the number of calls that were to succeed; sets C(ok) and C(reason).
    type: int
  rc:
    description: With O(operation=sipp_stats), SIPp's exit code, quoted in C(reason).
    type: int
  sipp:
    description: The SIPp program (O(operation=capacity)).
    type: str
    default: sipp
  target:
    description: The SIP server as C(host:port) (O(operation=capacity)).
    type: str
  scenario:
    description: The caller's scenario file (O(operation=capacity)).
    type: path
  inf:
    description: The injection file of the callers (O(operation=capacity)).
    type: path
  local_ip:
    description: Address SIPp binds to and puts in its messages (O(operation=capacity)).
    type: str
  local_port:
    description: SIP port of the callers (O(operation=capacity)).
    type: int
    default: 5080
  media_port:
    description: RTP port of the callers (O(operation=capacity)); default SIPp's.
    type: int
  hold_ms:
    description: Talk time of each call in ms (SIPp C(-d)).
    type: int
    default: 1000
  extra_args:
    description: More SIPp arguments for every step.
    type: list
    elements: str
    default: []
  start_cps:
    description: Call rate of the first step.
    type: float
    default: 10
  factor:
    description: Factor between the rates of two steps before the first failure.
    type: float
    default: 2
  max_cps:
    description: Highest rate tried.
    type: float
    default: 2000
  step_s:
    description: Seconds of calls of each step.
    type: float
    default: 10
  time_budget_s:
    description: The search starts no step that would end after this many seconds.
    type: float
    default: 120
  max_failed_pct:
    description: A step with a larger share of failed calls (in %) is not clean.
    type: float
    default: 0.1
  max_response_ms:
    description: A step whose mean response time (authenticated INVITE to 200 OK) passes this is not clean.
    type: float
    default: 500
  refine:
    description: After the first failure, halve the gap between the last clean and the first failing rate while time allows.
    type: bool
    default: true
  workdir:
    description: Directory of the statistics and error files of the capacity steps (created).
    type: path
  steps:
    description:
      - With O(operation=report), one item per load step - C(users), C(calls_planned), C(status),
        C(register) and C(calls) (SIPp figures as O(operation=sipp_stats) returns them) and C(usage),
        a dict of sampler summaries (as M(nebulavoip.cloud.voip_sampler) returns them) by host key.
      - Optional C(one_vm) - C(name), C(id), C(ok), C(msg), C(state), C(vcpu), C(memory_mb) and C(monitoring) (the
        RV(nebulavoip.cloud.one_vm_info#module:vms[].monitoring) of the server's VM read at the end of the step).
    type: list
    elements: dict
    default: []
  capacity:
    description: With O(operation=report), the result of O(operation=capacity).
    type: dict
  hosts:
    description:
      - With O(operation=report), the host keys of the C(usage) of O(steps) (C(key)) and their names in the tables and plots
        (C(name)), in order. Other keys of the items are ignored.
    type: list
    elements: dict
    default: [{"key": "cloud", "name": "cloud host"}, {"key": "server", "name": "SIP server"}]
  dest:
    description: With O(operation=report), the directory the files are written to (created).
    type: path
  title:
    description: Title of C(load.html).
    type: str
    default: Load test
  params:
    description:
      - With O(operation=report), the run parameters the load test adds to the top of the run's C(index.html)
        (kept in C(load_section.json), see RV(section)).
    type: dict
    default: {}
notes:
  - O(operation=sipp_stats) and O(operation=report) support check mode (nothing is written in check mode);
    O(operation=capacity) does nothing in check mode.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: partial
    details: O(operation=capacity) runs no call in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Read the figures of a SIPp run
  nebulavoip.cloud.voip_load:
    operation: sipp_stats
    path: /var/tmp/loadtest/step-10/calls_stat.csv
    expected_calls: 5
  register: calls

- name: Find the highest clean call rate within two minutes
  nebulavoip.cloud.voip_load:
    operation: capacity
    target: 192.0.2.10:5060
    scenario: /var/tmp/loadtest/uac_capacity.xml
    inf: /var/tmp/loadtest/capacity.csv
    local_ip: 192.0.2.20
    hold_ms: 1000
    start_cps: 10
    step_s: 10
    time_budget_s: 120
    workdir: /var/tmp/loadtest/capacity
  register: capacity

- name: Write load.csv, the tables and the plots
  nebulavoip.cloud.voip_load:
    operation: report
    steps: "{{ loadtest_steps }}"
    capacity: "{{ capacity }}"
    dest: reports/run-1
  delegate_to: localhost
"""

RETURN = r"""
stats:
  description: The figures of the statistics file (O(operation=sipp_stats)); null when SIPp wrote none.
  returned: when O(operation=sipp_stats)
  type: dict
  contains:
    created: {description: Calls created, type: int}
    successful: {description: Calls that succeeded, type: int}
    failed: {description: Calls that failed, type: int}
    failed_by: {description: Failed calls by SIPp's reason (non-zero ones), type: dict}
    concurrent_max: {description: The largest number of concurrent calls seen, type: int}
    response_time_ms: {description: Mean response time 1 in ms, type: float}
    success_rate_pct: {description: Successful share of the ended calls in %, type: float}
ok:
  description: Whether O(expected_calls) calls succeeded and none failed.
  returned: when O(operation=sipp_stats) and O(expected_calls) is given
  type: bool
reason:
  description: Why not (or C(all N calls succeeded)).
  returned: when O(operation=sipp_stats) and O(expected_calls) is given
  type: str
highest_clean_cps:
  description: The highest call rate whose step was clean (null when none was).
  returned: when O(operation=capacity)
  type: float
max_concurrent_calls:
  description: The largest number of concurrent calls held in a clean step.
  returned: when O(operation=capacity)
  type: int
lowest_failing_cps:
  description: The lowest rate whose step was not clean (null when none failed).
  returned: when O(operation=capacity)
  type: float
capacity_steps:
  description: Every capacity step (rate, counts, response time, verdict).
  returned: when O(operation=capacity)
  type: list
  elements: dict
capacity:
  description: The whole result of the search (as the O(capacity) option of O(operation=report) takes it).
  returned: when O(operation=capacity)
  type: dict
tables:
  description: The rows (users, cpu_pct, ram_pct, disk_pct) of each host's table, by host key.
  returned: when O(operation=report)
  type: dict
files:
  description: Paths of the files written.
  returned: when O(operation=report)
  type: list
  elements: str
section:
  description:
    - The load section for the run's C(index.html) in the form the C(sections) option of
      M(nebulavoip.cloud.voip_report) takes - C(key), C(title), C(order) and C(body) (the tables and the
      inline SVG plots).
    - Written into C(load_section.json) with the report data (C(report), the content of C(load.json)) and
      O(params), where M(nebulavoip.cloud.voip_report) finds it.
  returned: when O(operation=report)
  type: dict
one_vm:
  description:
    - One row per step that read OpenNebula's monitoring of the server's VM - C(users), C(vm), C(cpu_pct)
      (MONITORING/CPU, % of one CPU), C(memory_mib), C(memory_pct), C(timestamp), C(time_utc), C(age_s) (age of the record
      at the step's last sample), C(in_step), C(error). Also C(load_one_vm.csv).
  returned: when O(operation=report)
  type: list
  elements: dict
"""

import json
import os
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nebulavoip.cloud.plugins.module_utils import voip_load as vl


def _read(path):
    try:
        with open(path, 'r') as handle:
            return handle.read()
    except (IOError, OSError):
        return ''


def do_sipp_stats(module):
    p = module.params
    if not p['path']:
        module.fail_json(msg='operation=sipp_stats needs path')
    stats = vl.parse_stat_csv(_read(p['path']))
    result = {'changed': False, 'stats': stats}
    if p['expected_calls'] is not None:
        result['ok'], result['reason'] = vl.sipp_outcome(stats, p['rc'], p['expected_calls'])
    return result


def do_capacity(module):
    p = module.params
    missing = [k for k in ('target', 'scenario', 'inf', 'local_ip', 'workdir') if not p[k]]
    if missing:
        module.fail_json(msg='operation=capacity needs %s' % ', '.join(missing))
    if module.check_mode:
        return {'changed': False, 'skipped_in_check_mode': True}
    sipp = module.get_bin_path(p['sipp'], required=True)
    if not os.path.isdir(p['workdir']):
        os.makedirs(p['workdir'])
    runs = []

    def run(rate, duration_s):
        calls = max(1, round(rate * duration_s))
        tag = ('%g' % rate).replace('.', '_')
        stat = os.path.join(p['workdir'], 'capacity_%s_stat.csv' % tag)
        errors = os.path.join(p['workdir'], 'capacity_%s_errors.log' % tag)
        for old in (stat, errors):
            if os.path.exists(old):
                os.unlink(old)
        timeout = int(duration_s + p['hold_ms'] / 1000.0 + 15)
        argv = [sipp, p['target'], '-sf', p['scenario'], '-inf', p['inf'], '-i', p['local_ip'],
                '-p', str(p['local_port']), '-r', '%g' % rate, '-m', str(calls), '-d', str(p['hold_ms']),
                '-trace_stat', '-stf', stat, '-fd', '1', '-trace_err', '-error_file', errors,
                '-default_behaviors', 'all,-abortunexp', '-recv_timeout', '5000',
                '-timeout', '%ds' % timeout, '-timeout_error', '-nostdin']
        if p['media_port']:
            argv += ['-mp', str(p['media_port'])]
        argv += p['extra_args']
        started = time.monotonic()
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout + 30, check=False)
        stats = vl.parse_stat_csv(_read(stat))
        runs.append({'cps': rate, 'rc': proc.returncode, 'seconds': round(time.monotonic() - started, 1),
                     'stat_file': stat, 'stderr': proc.stderr.decode('utf-8', 'replace')[-500:]})
        if stats is None and proc.returncode not in (0, 1):
            module.fail_json(msg='SIPp failed to run at %g calls/s (exit code %d): %s'
                             % (rate, proc.returncode, proc.stderr.decode('utf-8', 'replace')[-500:]), runs=runs)
        return stats

    try:
        result = vl.capacity_search(run, start=p['start_cps'], factor=p['factor'], max_rate=p['max_cps'],
                                    step_s=p['step_s'], time_budget_s=p['time_budget_s'],
                                    max_failed_pct=p['max_failed_pct'], max_response_ms=p['max_response_ms'],
                                    refine=p['refine'], overhead_s=p['hold_ms'] / 1000.0 + 3.0)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    for step, info in zip(result['steps'], runs):
        step['rc'] = info['rc']
        step['seconds'] = info['seconds']
        step['stat_file'] = info['stat_file']
    result['hold_ms'] = p['hold_ms']
    return {'changed': True, 'capacity': result, 'highest_clean_cps': result['highest_clean_cps'],
            'lowest_failing_cps': result['lowest_failing_cps'], 'max_concurrent_calls': result['max_concurrent_calls'],
            'capacity_steps': result['steps']}


def do_report(module):
    p = module.params
    if not p['dest']:
        module.fail_json(msg='operation=report needs dest')
    for item in p['steps']:
        if 'users' not in item:
            module.fail_json(msg='every item of steps needs users')
    hosts = [(h['key'], h.get('name', h['key'])) for h in p['hosts']]
    steps = p['steps']
    tables = dict((h[0], vl.table_rows(steps, h[0])) for h in hosts)
    svgs = vl.plots(steps, hosts, p['capacity'])
    section_html = vl.html_section(steps, hosts, p['capacity'], svgs)
    data = {'tables': tables, 'hosts': [{'key': k, 'name': n} for k, n in hosts], 'steps': steps,
            'capacity': p['capacity']}
    vm_rows = vl.one_vm_rows(steps)
    if vm_rows:
        data['one_vm'] = vm_rows
    files = {
        'load.csv': vl.load_csv(steps),
        'load.json': json.dumps(data, indent=2, sort_keys=True) + '\n',
        'load.html': vl.standalone_html(p['title'], section_html),
    }
    for key in tables:
        files["load_table_%s.csv" % key] = vl.table_csv(tables[key])
    for name, svg in svgs.items():
        files['load_%s.svg' % name] = svg + '\n'
    if vm_rows:
        files['load_one_vm.csv'] = vl.one_vm_csv(vm_rows)
    section = {'key': 'load', 'title': 'Load test', 'order': 80,
               'body': vl.html_section(steps, hosts, p['capacity'], svgs, wrap=False)}
    # the run page's part of the load test, as nebulavoip.cloud.voip_report reads every <name>_section.json:
    # its sections, what report.json gets under "load" (load.json's content) and the page parameters
    part = {'format': 1, 'name': 'load', 'sections': [section], 'report': data, 'params': p['params']}
    files['load_section.json'] = json.dumps(part, indent=2, sort_keys=True) + '\n'
    changed = False
    written = []
    for name in sorted(files):
        path = os.path.join(p['dest'], name)
        written.append(path)
        if _read(path) == files[name]:
            continue
        changed = True
        if not module.check_mode:
            if not os.path.isdir(p['dest']):
                os.makedirs(p['dest'])
            with open(path, 'w') as handle:
                handle.write(files[name])
    return {'changed': changed, 'tables': tables, 'files': written, 'section': section, 'one_vm': vm_rows}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            operation=dict(type='str', required=True, choices=['sipp_stats', 'capacity', 'report']),
            path=dict(type='path'),
            expected_calls=dict(type='int'),
            rc=dict(type='int'),
            sipp=dict(type='str', default='sipp'),
            target=dict(type='str'),
            scenario=dict(type='path'),
            inf=dict(type='path'),
            local_ip=dict(type='str'),
            local_port=dict(type='int', default=5080),
            media_port=dict(type='int'),
            hold_ms=dict(type='int', default=1000),
            extra_args=dict(type='list', elements='str', default=[]),
            start_cps=dict(type='float', default=10),
            factor=dict(type='float', default=2),
            max_cps=dict(type='float', default=2000),
            step_s=dict(type='float', default=10),
            time_budget_s=dict(type='float', default=120),
            max_failed_pct=dict(type='float', default=0.1),
            max_response_ms=dict(type='float', default=500),
            refine=dict(type='bool', default=True),
            workdir=dict(type='path'),
            steps=dict(type='list', elements='dict', default=[]),
            capacity=dict(type='dict'),
            hosts=dict(type='list', elements='dict',
                       default=[{'key': 'cloud', 'name': 'cloud host'}, {'key': 'server', 'name': 'SIP server'}]),
            dest=dict(type='path'),
            title=dict(type='str', default='Load test'),
            params=dict(type='dict', default={}),
        ),
        supports_check_mode=True,
    )
    op = module.params['operation']
    if op == 'sipp_stats':
        result = do_sipp_stats(module)
    elif op == 'capacity':
        result = do_capacity(module)
    else:
        result = do_report(module)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
