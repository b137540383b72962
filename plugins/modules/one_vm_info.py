#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: one_vm_info
short_description: List OpenNebula virtual machines
version_added: 0.1.0
description:
  - Selects VMs by ID, name, name regex, labels and state, and returns the same facts as M(nebulavoip.cloud.one_vm).
  - Costs one XML-RPC call (C(one.vmpool.infoextended)) whatever the number of VMs; with O(refresh_monitoring), one more
    (C(one.vm.info)) per selected VM, with O(monitoring_since) one more (C(one.vm.monitoring)) per selected VM.
  - Each VM's facts carry RV(vms[].monitoring), oned's last monitoring record of the VM (CPU, memory, network and disk
    counters) read from the C(MONITORING) element of the VM document.
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - nebulavoip.cloud.opennebula
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  ids:
    description: Only these VM IDs.
    type: list
    elements: int
    aliases: [id]
  name:
    description: Only VMs with exactly this name (a V(%i) pattern like V(client-%i) matches any number).
    type: str
  name_regex:
    description: Only VMs whose name matches this Python regular expression (searched, not anchored).
    type: str
  label:
    description: Only VMs carrying this label.
    type: str
  labels:
    description: Only VMs carrying all these labels.
    type: list
    elements: str
  states:
    description:
      - Only VMs in one of these states. A state is matched, case-insensitively, against where the VM rests or is heading
        (V(running), V(poweredoff), V(suspended), V(stopped), V(undeployed), V(pending), V(hold), V(failure), V(unknown)), its VM
        state name (V(ACTIVE), V(POWEROFF) ...) and its LCM state name (V(BOOT_FAILURE) ...).
      - V(done) also lists terminated VMs still in oned's database.
    type: list
    elements: str
  refresh_monitoring:
    description:
      - Read each selected VM with C(one.vm.info), which carries oned's newest monitoring record, and take RV(vms[].monitoring)
        from it.
      - Without it, RV(vms[].monitoring) comes from the pool listing, which holds the record oned stored with the VM document
        when the VM last changed; on a real oned 7.2 it lags behind the newest record and is empty for a VM that has not
        changed since it was first monitored (a recorded pool listing showed no monitoring for two RUNNING VMs that
        C(one.vm.info) showed records for).
    type: bool
    default: false
  monitoring_since:
    description:
      - Also return RV(vms[].monitoring_history), every monitoring record oned keeps for each selected VM taken at or after
        this UNIX time (one C(one.vm.monitoring) call per selected VM); V(0) for all of them.
      - oned records a VM every monitoring cycle (about 30 s on a default oned 7.2) and keeps the records for a few hours.
    type: int
'''

EXAMPLES = r'''
- name: All VMs labelled client
  nebulavoip.cloud.one_vm_info:
    label: client
  register: clients

- name: Addresses of the running clients
  ansible.builtin.debug:
    msg: "{{ clients.vms | selectattr('status', 'equalto', 'running') | map(attribute='first_ip') | list }}"

- name: The SIP server's CPU and memory as oned monitors them
  nebulavoip.cloud.one_vm_info:
    name: sip-1
    refresh_monitoring: true
  register: sip

- name: Everything oned recorded of it in the last ten minutes
  nebulavoip.cloud.one_vm_info:
    name: sip-1
    monitoring_since: "{{ (now().timestamp() - 600) | int }}"
  register: sip_history

- name: Show them
  ansible.builtin.debug:
    msg: >-
      {{ sip.vms[0].monitoring.cpu | default('n/a') }} % of one CPU,
      {{ (sip.vms[0].monitoring.memory | default(0) / 1024) | round(1) }} MiB
      at {{ sip.vms[0].monitoring.timestamp | default(0) }}

- name: VMs that failed to boot or to copy their disks
  nebulavoip.cloud.one_vm_info:
    states: [failure]
  register: failed
'''

RETURN = r'''
vms:
  description: The selected VMs, sorted by ID, with the facts described for M(nebulavoip.cloud.one_vm) (RV(vms)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: 12
      name: client-1
      state: ACTIVE
      lcm_state: RUNNING
      state_name: RUNNING
      status: running
      host: host01
      template_id: 3
      labels: [voip, client]
      ipv4: [10.10.0.21]
      ipv6: []
      first_ip: 10.10.0.21
      monitoring: {timestamp: 1795701083, cpu: 12.5, memory: 77332, memory_pct: 59.0, net_rx_bytes: 1283, net_tx_bytes: 1183}
  contains:
    monitoring:
      description:
        - oned's last monitoring record of the VM (the C(MONITORING) element of its document); V({}) when oned has none
          (a VM not yet monitored; see O(refresh_monitoring) for how fresh it is).
        - Keys are present only when oned reported them.
      type: dict
      returned: always
      contains:
        timestamp:
          description: When oned took the record (UNIX time, C(MONITORING/TIMESTAMP)).
          type: int
        cpu:
          description: CPU use in percent of one CPU, 100 being one core busy (C(MONITORING/CPU)).
          type: float
        memory:
          description: Memory the VM uses, in KiB (C(MONITORING/MEMORY)).
          type: int
        memory_pct:
          description: RV(vms[].monitoring.memory) over the VM's MEMORY, in percent.
          type: float
        net_rx_bytes:
          description: Bytes received by the VM's NICs since it started (C(MONITORING/NETRX)).
          type: int
        net_tx_bytes:
          description: Bytes sent (C(MONITORING/NETTX)).
          type: int
        disk_read_bytes:
          description: Bytes read from the VM's disks (C(MONITORING/DISKRDBYTES)).
          type: int
        disk_write_bytes:
          description: Bytes written (C(MONITORING/DISKWRBYTES)).
          type: int
        disk_read_ops:
          description: Read operations (C(MONITORING/DISKRDIOPS)).
          type: int
        disk_write_ops:
          description: Write operations (C(MONITORING/DISKWRIOPS)).
          type: int
        extra:
          description: Any other element of the record under oned's name (for example C(STATE), C(DISK_SIZE), C(GUEST_IP) of KVM).
          type: dict
    monitoring_history:
      description:
        - With O(monitoring_since), the VM's monitoring records taken since then, oldest first, each with the keys of
          RV(vms[].monitoring).
      type: list
      elements: dict
      returned: when O(monitoring_since) is set
xmlrpc_calls:
  description: Number of XML-RPC calls the task made.
  returned: always
  type: int
'''

import re

from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import OneModule, as_list, to_data
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_vm import describe_monitoring, describe_vm, name_regex, raw_monitoring


class OneVmInfo(OneModule):

    def __init__(self):
        spec = {
            'ids': {'type': 'list', 'elements': 'int', 'aliases': ['id']},
            'name': {'type': 'str'},
            'name_regex': {'type': 'str'},
            'label': {'type': 'str'},
            'labels': {'type': 'list', 'elements': 'str'},
            'states': {'type': 'list', 'elements': 'str'},
            'refresh_monitoring': {'type': 'bool', 'default': False},
            'monitoring_since': {'type': 'int'},
        }
        super().__init__(spec, supports_check_mode=True, mutually_exclusive=[('name', 'name_regex')])

    def run(self):
        p = self.params
        try:
            pattern = re.compile(p['name_regex']) if p.get('name_regex') else None
        except re.error as exc:
            self.fail(f'invalid name_regex {p["name_regex"]!r}: {exc}')
        states = [s.strip().lower() for s in p.get('states') or []]
        pool_state = -2 if 'done' in states or 'absent' in states else -1
        pool = self.one.vmpool.infoextended(-2, -1, -1, pool_state)
        exact = name_regex(p['name']) if p.get('name') else None
        labels = list(p.get('labels') or []) + ([p['label']] if p.get('label') else [])
        ids = set(p.get('ids') or [])
        vms = []
        for doc in as_list(getattr(pool, 'VM', None)):
            vm = describe_vm(to_data(doc))
            if ids and vm['id'] not in ids:
                continue
            if exact is not None and not exact.match(vm['name'] or ''):
                continue
            if pattern is not None and not pattern.search(vm['name'] or ''):
                continue
            if any(label not in vm['labels'] for label in labels):
                continue
            if states:
                names = {vm['status'], vm['state'].lower(), vm['lcm_state'].lower(), vm['state_name'].lower()}
                if vm['state'] == 'DONE':
                    names.add('absent')
                if not names & set(states):
                    continue
            vm['monitoring'] = describe_monitoring(raw_monitoring(getattr(doc, 'MONITORING', None)), vm['memory'])
            vms.append(vm)
        vms.sort(key=lambda v: v['id'])
        if p.get('refresh_monitoring'):
            for vm in vms:
                info = self.one.vm.info(vm['id'])
                vm['monitoring'] = describe_monitoring(raw_monitoring(getattr(info, 'MONITORING', None)), vm['memory'])
        if p.get('monitoring_since') is not None:
            for vm in vms:
                data = self.one.vm.monitoring(vm['id'])
                records = [describe_monitoring(raw_monitoring(rec), vm['memory']) for rec in as_list(getattr(data, 'MONITORING', None))]
                vm['monitoring_history'] = sorted((r for r in records if r.get('timestamp', 0) >= p['monitoring_since']),
                                                  key=lambda r: r['timestamp'])
        return {'changed': False, 'vms': vms}


def main():
    OneVmInfo().execute()


if __name__ == '__main__':
    main()
