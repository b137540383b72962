#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: one_vm
short_description: Create, change and remove OpenNebula virtual machines
version_added: 0.1.0
description:
  - Manages one VM (identified by O(name) or O(id)) or a set of VMs (a O(name) pattern like V(client-%i), O(labels),
    and O(count) or O(exact_count)) built from a VM template.
  - Brings every VM of the set to O(state), in as many oned actions as needed and in the right order
    (for example a stopped VM is resumed, waited for and powered off for O(state=poweredoff)).
  - Changes existing VMs to match the options given. CPU, VCPU and memory are resized (in place when oned can
    hot-resize the VM, otherwise with a power cycle only if O(allow_restart=true)), NICs are attached and detached to match
    O(networks), CONTEXT values are updated (C(one.vm.updateconf)), O(labels) and O(attributes) are merged into the user template.
  - Reading costs one C(one.vmpool.infoextended) call whatever the number of VMs, so a run that changes nothing costs
    one XML-RPC call; waiting costs one C(one.vmpool.infoset) call per poll for all the VMs together.
  - A VM that lands in a failure state (BOOT_FAILURE, PROLOG_FAILURE, any C(*_FAILURE)) fails the task at the next poll
    (at most a second later) with oned's ERROR text and the state names; its ID is reported in RV(created_ids) and RV(vms).
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - nebulavoip.cloud.opennebula
  - nebulavoip.cloud.opennebula.attributes
options:
  name:
    description:
      - Name of the VM. VM names are not unique in OpenNebula; every VM with this name is managed.
      - With O(count) or O(exact_count), a pattern where V(%i) stands for a number (V(client-%i) gives C(client-1), C(client-2) ...);
        new VMs take the lowest free numbers, extra VMs are removed from the highest number down.
      - Required to create VMs. Without O(name), the VMs are selected by O(labels) (or O(attributes) for O(state=absent)).
    type: str
  id:
    description:
      - ID of one existing VM to manage. Nothing is created; the task fails if the VM does not exist (except for O(state=absent)).
    type: int
  template:
    description:
      - Name or ID of the VM template new VMs are instantiated from. Required when a VM must be created.
    type: str
    aliases: [template_name, template_id]
  count:
    description:
      - At least this many VMs of the set exist (missing ones are created, none is removed).
      - Without O(count) and O(exact_count), a O(name) stands for exactly one VM (created if missing).
    type: int
  exact_count:
    description:
      - Exactly this many VMs of the set exist. Missing ones are created; extra ones are terminated, VMs in a failure
        state first, then the highest V(%i) numbers, then the newest.
    type: int
  labels:
    description:
      - Labels (C(LABELS) of the user template). New VMs get them; existing VMs get the missing ones added.
      - For a set (O(count), O(exact_count), a V(%i) pattern or no O(name)) and for O(state=absent), only VMs carrying all these
        labels are selected.
    type: list
    elements: str
  attributes:
    description:
      - User template attributes (name -> value). New VMs get them; existing VMs are updated when a value differs.
      - With O(state=absent), only VMs carrying these attribute values are removed.
    type: dict
  cpu:
    description: Physical CPU share (C(CPU)), for example V(0.5).
    type: float
  vcpu:
    description: Number of virtual CPUs (C(VCPU)).
    type: int
  memory:
    description: Memory in megabytes, or with a unit (V(512M), V(2G)).
    type: str
  disk_size:
    description:
      - Sizes of the template's disks, in order (megabytes or with a unit). Applied when a VM is created; a different size on
        an existing VM gives a warning.
    type: list
    elements: str
  networks:
    description:
      - The NICs of the VMs, in order. New VMs get exactly these NICs (they replace the template's NICs).
      - On existing VMs, NICs are matched by network and fixed address; missing ones are attached and the others detached.
        Leave unset to keep the NICs as they are.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the virtual network.
        type: str
      id:
        description: ID of the virtual network.
        type: int
      uname:
        description: Owner of the virtual network when it is not the API user (C(NETWORK_UNAME)).
        type: str
      ip:
        description: Fixed IPv4 address to lease.
        type: str
      ip6:
        description: Fixed IPv6 address to lease.
        type: str
      attributes:
        description: Other NIC attributes (C(MODEL), C(SECURITY_GROUPS) ...).
        type: dict
  context:
    description:
      - CONTEXT values, for example C(SSH_PUBLIC_KEY), C(START_SCRIPT), C(NETWORK=YES). Merged with the template's CONTEXT for new VMs;
        changed values of existing VMs are written with C(one.vm.updateconf).
    type: dict
  state:
    description:
      - V(present) and V(running) create the VMs if needed and make them run.
      - V(poweredoff), V(suspended), V(stopped), V(undeployed) bring them to that state (creating them first if needed).
      - V(rebooted) reboots running VMs and starts the others.
      - V(absent) terminates every VM of the selection.
    type: str
    choices: [present, running, poweredoff, suspended, stopped, undeployed, rebooted, absent]
    default: present
  hard:
    description: Use the hard variant of the actions (C(poweroff-hard), C(undeploy-hard), C(reboot-hard), C(terminate-hard)).
    type: bool
    default: false
  allow_restart:
    description:
      - Whether the module may power a running VM off and on again when oned cannot make a change in place (a resize
        without hot resize, a NIC change on a suspended VM). Without it such a change fails with a message that says why.
    type: bool
    default: false
  wait_for_ssh:
    description:
      - After the VMs are RUNNING, wait until a TCP connection to O(ssh_port) on each VM's first IP address succeeds.
    type: bool
    default: false
  ssh_port:
    description: Port tried by O(wait_for_ssh).
    type: int
    default: 22
notes:
  - O(wait=false) skips only the last wait of each VM; a change that needs several actions still waits between them.
  - O(wait_timeout) is the time allowed for the whole task; on timeout the message names each VM still waited for and the last
    state seen (and the scheduler's message for a VM that stays PENDING because no host fits).
'''

EXAMPLES = r'''
- name: One Kamailio server
  nebulavoip.cloud.one_vm:
    name: kamailio-1
    template: debian13-voip
    cpu: 1
    vcpu: 2
    memory: 2G
    networks:
      - name: voip-net
        ip: 10.10.0.10
    context:
      NETWORK: "YES"
      SSH_PUBLIC_KEY: "{{ lookup('file', '~/.ssh/id_ed25519.pub') }}"
    labels: [voip, server]
    wait_for_ssh: true
  register: kamailio

- name: Ten SIP clients
  nebulavoip.cloud.one_vm:
    name: client-%i
    template: debian13-voip
    exact_count: 10
    labels: [voip, client]

- name: Give the running server more memory (power cycle allowed)
  nebulavoip.cloud.one_vm:
    name: kamailio-1
    memory: 4G
    allow_restart: true

- name: Undeploy the clients for the night
  nebulavoip.cloud.one_vm:
    name: client-%i
    labels: [client]
    state: undeployed

- name: Remove every VM labelled client
  nebulavoip.cloud.one_vm:
    labels: [client]
    state: absent
'''

RETURN = r'''
vms:
  description: The VMs of the selection after the task (predicted in check mode; new VMs then have C(id=null)), sorted by ID.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: VM ID.
      type: int
    name:
      description: VM name.
      type: str
    state:
      description: VM state name (C(ACTIVE), C(POWEROFF) ...).
      type: str
    lcm_state:
      description: LCM state name (C(RUNNING), C(BOOT_FAILURE) ...), all 72 codes of oned 7.2.
      type: str
    state_name:
      description: The short state oned shows (the LCM state when ACTIVE).
      type: str
    status:
      description: Where the VM rests or is heading (V(running), V(poweredoff), V(pending), V(failure) ...).
      type: str
    host:
      description: Host name of the last placement.
      type: str
    template_id:
      description: ID of the template the VM came from.
      type: int
    labels:
      description: Labels of the VM.
      type: list
      elements: str
    cpu:
      description: CPU share.
      type: float
    vcpu:
      description: Virtual CPUs.
      type: int
    memory:
      description: Memory (MB).
      type: int
    nics:
      description: NICs with C(nic_id), C(network), C(network_id), C(ip), C(ip6), C(ip6_global), C(ip6_ula), C(ip6_link), C(mac).
      type: list
      elements: dict
    ipv4:
      description: IPv4 addresses, NIC order.
      type: list
      elements: str
    ipv6:
      description: IPv6 addresses (global/static, then ULA), NIC order.
      type: list
      elements: str
    first_ip:
      description: The first IPv4 address, else the first IPv6 one.
      type: str
    attributes:
      description: User template attributes (without LABELS, ERROR and SCHED_MESSAGE).
      type: dict
    error:
      description: oned's ERROR text, if any.
      type: str
    sched_message:
      description: The scheduler's message for a VM it cannot place.
      type: str
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
      cpu: 0.5
      vcpu: 1
      memory: 512
      nics: [{nic_id: 0, network: voip-net, network_id: 0, ip: 10.10.0.21, ip6: null, mac: "02:00:0a:0a:00:15"}]
      ipv4: [10.10.0.21]
      ipv6: []
      first_ip: 10.10.0.21
vm:
  description: The VM, when the task manages one VM (O(id), or a O(name) without O(count)/O(exact_count)/V(%i)).
  returned: when one VM is managed
  type: dict
created_ids:
  description: IDs of the VMs created (also when the task fails afterwards, for example in BOOT_FAILURE).
  returned: always
  type: list
  elements: int
removed_ids:
  description: IDs of the VMs terminated (predicted in check mode).
  returned: always
  type: list
  elements: int
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
xmlrpc_calls:
  description: Number of XML-RPC calls the task made.
  returned: always
  type: int
'''

import time

from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import OneModule, to_data
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_vm import VmLifecycle, tcp_port_open


class OneVm(OneModule):

    def __init__(self):
        spec = {
            'name': {'type': 'str'},
            'id': {'type': 'int'},
            'template': {'type': 'str', 'aliases': ['template_name', 'template_id']},
            'count': {'type': 'int'},
            'exact_count': {'type': 'int'},
            'labels': {'type': 'list', 'elements': 'str'},
            'attributes': {'type': 'dict'},
            'cpu': {'type': 'float'},
            'vcpu': {'type': 'int'},
            'memory': {'type': 'str'},
            'disk_size': {'type': 'list', 'elements': 'str'},
            'networks': {'type': 'list', 'elements': 'dict', 'options': {
                'name': {'type': 'str'},
                'id': {'type': 'int'},
                'uname': {'type': 'str'},
                'ip': {'type': 'str'},
                'ip6': {'type': 'str'},
                'attributes': {'type': 'dict'},
            }},
            'context': {'type': 'dict'},
            'state': {'type': 'str', 'default': 'present',
                      'choices': ['present', 'running', 'poweredoff', 'suspended', 'stopped', 'undeployed', 'rebooted', 'absent']},
            'hard': {'type': 'bool', 'default': False},
            'allow_restart': {'type': 'bool', 'default': False},
            'wait_for_ssh': {'type': 'bool', 'default': False},
            'ssh_port': {'type': 'int', 'default': 22},
        }
        super().__init__(spec, mutually_exclusive=[('count', 'exact_count'), ('id', 'count'), ('id', 'exact_count')],
                         supports_check_mode=True)

    def run(self):
        for key in ('count', 'exact_count'):
            if self.params.get(key) is not None and self.params[key] < 0:
                self.fail(f'{key} must be 0 or more')
        return VmLifecycle(self, to_data, time.sleep, time.time, tcp_port_open).run()


def main():
    OneVm().execute()


if __name__ == '__main__':
    main()
