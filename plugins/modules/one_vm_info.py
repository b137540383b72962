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
  - Costs one XML-RPC call (C(one.vmpool.infoextended)) whatever the number of VMs.
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
'''

EXAMPLES = r'''
- name: All VMs labelled client
  nebulavoip.cloud.one_vm_info:
    label: client
  register: clients

- name: Addresses of the running clients
  ansible.builtin.debug:
    msg: "{{ clients.vms | selectattr('status', 'equalto', 'running') | map(attribute='first_ip') | list }}"

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
xmlrpc_calls:
  description: Number of XML-RPC calls the task made.
  returned: always
  type: int
'''

import re

from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import OneModule, as_list, to_data
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_vm import describe_vm, name_regex


class OneVmInfo(OneModule):

    def __init__(self):
        spec = {
            'ids': {'type': 'list', 'elements': 'int', 'aliases': ['id']},
            'name': {'type': 'str'},
            'name_regex': {'type': 'str'},
            'label': {'type': 'str'},
            'labels': {'type': 'list', 'elements': 'str'},
            'states': {'type': 'list', 'elements': 'str'},
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
            vms.append(vm)
        vms.sort(key=lambda v: v['id'])
        return {'changed': False, 'vms': vms}


def main():
    OneVmInfo().execute()


if __name__ == '__main__':
    main()
