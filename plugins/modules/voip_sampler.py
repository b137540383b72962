#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: voip_sampler
short_description: Record CPU, RAM and disk usage and per-process CPU and RSS while a load test runs
description:
  - With O(state=started), starts a detached sampler process on the host that appends one sample
    every O(interval) seconds to O(path) (JSON lines) - CPU %, RAM %, disk %, load average and, for
    every name in O(processes), the CPU % and resident memory of the matching processes.
  - With O(state=stopped), stops it and returns a summary (mean, maximum and minimum) of what it
    recorded.
  - Reads C(/proc) and C(statvfs) (Python 3.8 or later, nothing else needed), or psutil when it is
    installed and O(backend) allows it.
  - Inside a container the machine-wide figures of C(/proc) are those of the machine that runs it;
    with O(scope=auto) the sampler then reports the container's own CPU and memory from its cgroup
    (v1 or v2) as C(cpu_pct) and C(mem_pct), and the machine's as C(host_cpu_pct) and C(host_mem_pct).
version_added: "0.1.0"
author:
  - NebulaVoIP maintainers (@nebulavoip)
options:
  state:
    description:
      - V(started) starts a sampler unless the one recorded in O(pidfile) is running (then nothing changes).
      - V(stopped) stops the running sampler and returns the summary of O(path); when none runs, nothing
        changes and the summary of O(path) is still returned.
    type: str
    choices: [started, stopped]
    default: started
  path:
    description: File of the samples (JSON lines). Truncated when a sampler starts. Its directory is created.
    type: path
    required: true
  pidfile:
    description: File that records the sampler's process id and start time. Defaults to O(path) with C(.pid) appended.
    type: path
  interval:
    description: Seconds between two samples.
    type: float
    default: 1.0
  max_duration:
    description:
      - Seconds after which the sampler stops by itself, so that a sampler that is never stopped does
        not run for ever.
    type: float
    default: 3600
  processes:
    description:
      - Names of the processes whose CPU and RSS are recorded (matched against the process name and the
        base name of its first argument). Every process of a name is summed, e.g. all Kamailio children.
    type: list
    elements: str
    default: [kamailio, mariadbd, rtpengine]
  disk_path:
    description: A path on the file system whose usage is recorded as C(disk_pct) (used / (used + available), as df shows it).
    type: path
    default: /
  scope:
    description:
      - V(host) reports the machine-wide CPU and memory of C(/proc).
      - V(cgroup) reports those of the sampler's cgroup (the container's own usage).
      - V(auto) is V(cgroup) inside a container whose cgroup can be read, else V(host).
    type: str
    choices: [auto, host, cgroup]
    default: auto
  backend:
    description:
      - How machine and process figures are read. V(auto) uses psutil when it is importable, else C(/proc).
    type: str
    choices: [auto, proc, psutil]
    default: auto
  label:
    description: A label written into every sample (for example the host's role in the test, C(server) or C(cloud)).
    type: str
  return_samples:
    description: Also return every sample (with O(state=stopped)). Prefer fetching O(path) for long runs.
    type: bool
    default: false
notes:
  - Supports check mode; in check mode nothing is started or stopped, and C(changed) says what would happen.
  - A process' C(cpu_pct) is a share of one CPU, as top shows it; the machine's C(cpu_pct) is a share of all CPUs (0-100).
  - The sampler survives the end of the Ansible connection (it runs in its own session with its standard
    streams on C(/dev/null)); the identity in O(pidfile) (process id and start time) protects against
    stopping an unrelated process that reused the id.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Start sampling the SIP server every second
  nebulavoip.cloud.voip_sampler:
    path: /var/tmp/loadtest/step-10.jsonl
    interval: 1
    label: server

- name: Run the load step
  ansible.builtin.command: sipp -sf uac.xml 192.0.2.10 -m 5
  changed_when: true

- name: Stop sampling and keep the summary
  nebulavoip.cloud.voip_sampler:
    path: /var/tmp/loadtest/step-10.jsonl
    state: stopped
  register: server_usage

- name: Show the mean CPU of Kamailio
  ansible.builtin.debug:
    msg: "{{ server_usage.summary.procs.kamailio.cpu_pct.mean }} %"
"""

RETURN = r"""
pid:
  description: Process id of the sampler (the one started, or the one found running).
  returned: when a sampler runs or was started
  type: int
  sample: 4242
running:
  description: Whether a sampler runs after the task.
  returned: always
  type: bool
scope:
  description: The scope the sampler uses (V(host) or V(cgroup)).
  returned: when O(state=started)
  type: str
  sample: cgroup
path:
  description: The samples file.
  returned: always
  type: str
summary:
  description: Summary of the samples in O(path).
  returned: when O(state=stopped)
  type: dict
  contains:
    samples:
      description: Number of samples.
      type: int
    cpu_pct:
      description: C(mean), C(max) and C(min) of the CPU usage in % of all CPUs (in the O(scope)).
      type: dict
    mem_pct:
      description: C(mean), C(max) and C(min) of the RAM usage in % (in the O(scope)).
      type: dict
    disk_pct:
      description: C(mean), C(max) and C(min) of the usage of the file system of O(disk_path) in %.
      type: dict
    host_cpu_pct:
      description: The same for the whole machine's CPU.
      type: dict
    host_mem_pct:
      description: The same for the whole machine's RAM.
      type: dict
    procs:
      description:
        - Per process name, C(cpu_pct) and C(rss_bytes) (each with C(mean), C(max), C(min)) and C(count_max),
          the largest number of processes of the name seen at once.
      type: dict
  sample:
    samples: 10
    cpu_pct: {mean: 12.3, max: 20.1, min: 5.0}
    mem_pct: {mean: 3.1, max: 3.2, min: 3.0}
    disk_pct: {mean: 41.0, max: 41.0, min: 41.0}
    procs:
      kamailio: {cpu_pct: {mean: 4.2, max: 9.0, min: 0.0}, rss_bytes: {mean: 90000000, max: 91000000, min: 89000000}, count_max: 25}
samples:
  description: Every sample of O(path).
  returned: when O(state=stopped) and O(return_samples=true)
  type: list
  elements: dict
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nebulavoip.cloud.plugins.module_utils import voip_sampler as vs


def run(module):
    p = module.params
    path = p['path']
    pidfile = p['pidfile'] or path + '.pid'
    current = vs.running(pidfile)
    result = {'changed': False, 'path': path}

    if p['state'] == 'started':
        if p['interval'] <= 0 or p['max_duration'] <= 0:
            module.fail_json(msg='interval and max_duration must be greater than 0', **result)
        if current is not None:
            result.update(running=True, pid=current['pid'])
            return result
        result['changed'] = True
        if module.check_mode:
            result['running'] = False
            return result
        try:
            pid = vs.start_detached(
                path, pidfile, interval=p['interval'], max_duration=p['max_duration'],
                processes=p['processes'], disk_path=p['disk_path'], scope=p['scope'],
                backend=p['backend'], label=p['label'])
        except (vs.SamplerError, OSError, IOError) as exc:
            module.fail_json(msg='cannot start the sampler: %s' % exc, exception=traceback.format_exc(), **result)
        result.update(running=True, pid=pid, scope=vs.resolve_scope(p['scope']))
        return result

    # stopped
    if current is not None:
        result['changed'] = True
        if not module.check_mode:
            vs.stop(pidfile)
            result['running'] = False
        else:
            result['running'] = True
            result['pid'] = current['pid']
    else:
        result['running'] = False
        if os.path.exists(pidfile) and not module.check_mode:
            os.unlink(pidfile)  # stale: its process is gone
    samples = vs.read_samples(path)
    result['summary'] = vs.summarize(samples)
    if p['return_samples']:
        result['samples'] = samples
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['started', 'stopped'], default='started'),
            path=dict(type='path', required=True),
            pidfile=dict(type='path'),
            interval=dict(type='float', default=1.0),
            max_duration=dict(type='float', default=3600),
            processes=dict(type='list', elements='str', default=list(vs.DEFAULT_PROCESSES)),
            disk_path=dict(type='path', default='/'),
            scope=dict(type='str', choices=list(vs.SCOPES), default='auto'),
            backend=dict(type='str', choices=list(vs.BACKENDS), default='auto'),
            label=dict(type='str'),
            return_samples=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
