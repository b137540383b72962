#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: one_host_info
short_description: List OpenNebula hosts
version_added: 0.1.0
description:
  - Select OpenNebula hosts by ID, name, name regular expression or label and return them as structured
    dicts (the same shape M(nebulavoip.cloud.one_host) returns), ready for C(community.general.json_query).
  - One XML-RPC call.
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - nebulavoip.cloud.opennebula
  - nebulavoip.cloud.opennebula.info
seealso:
  - module: nebulavoip.cloud.one_host
'''

EXAMPLES = r'''
- name: Every host
  nebulavoip.cloud.one_host_info:
  register: hosts

- name: Names of the hosts that are not MONITORED
  ansible.builtin.debug:
    msg: "{{ hosts.hosts | community.general.json_query('[?state!=`MONITORED`].name') }}"
'''

RETURN = r'''
hosts:
  description: The selected hosts, sorted by ID.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: ID, type: int, sample: 0}
    name: {description: Name, type: str, sample: example}
    state: {description: oned state name, type: str, sample: READY}
    labels: {description: Labels, type: list, elements: str, sample: [voip]}
    template: {description: Template attributes as oned stores them, type: dict}
    status: {description: Scheduling status, type: str, sample: enabled}
    cluster: {description: Cluster name, type: str, sample: default}
    running_vms: {description: VMs running on the host, type: int, sample: 0}
'''

from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import OneInfoModule, describe_host


class OneHostInfo(OneInfoModule):
    POOL = 'hostpool'
    ELEMENT = 'HOST'
    POOL_ARGS = ()
    RESULT = 'hosts'

    def describe(self, obj):
        return describe_host(obj)


def main():
    OneHostInfo().execute()


if __name__ == '__main__':
    main()
