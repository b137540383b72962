#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: one_vnet_info
short_description: List OpenNebula virtual networks
version_added: 0.1.0
description:
  - Select OpenNebula virtual networks by ID, name, name regular expression or label and return them as structured
    dicts (the same shape M(nebulavoip.cloud.one_vnet) returns), ready for C(community.general.json_query).
  - One XML-RPC call.
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - nebulavoip.cloud.opennebula
  - nebulavoip.cloud.opennebula.info
seealso:
  - module: nebulavoip.cloud.one_vnet
'''

EXAMPLES = r'''
- name: All networks whose name starts with voip-
  nebulavoip.cloud.one_vnet_info:
    name_regex: '^voip-'
  register: nets

- name: First address of every range of voip-lan
  ansible.builtin.debug:
    msg: "{{ nets.vnets | community.general.json_query('[?name==`voip-lan`].ars[].ip') }}"
'''

RETURN = r'''
vnets:
  description: The selected virtual networks, sorted by ID.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: ID, type: int, sample: 0}
    name: {description: Name, type: str, sample: example}
    state: {description: oned state name, type: str, sample: READY}
    labels: {description: Labels, type: list, elements: str, sample: [voip]}
    template: {description: Template attributes as oned stores them, type: dict}
    vn_mad: {description: Network driver, type: str, sample: bridge}
    ars: {description: Address ranges, type: list, elements: dict}
    used_leases: {description: Leases in use, type: int, sample: 0}
'''

from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import OneInfoModule, describe_vnet


class OneVnetInfo(OneInfoModule):
    POOL = 'vnpool'
    ELEMENT = 'VNET'
    POOL_ARGS = (-2, -1, -1)
    RESULT = 'vnets'

    def describe(self, obj):
        return describe_vnet(obj)


def main():
    OneVnetInfo().execute()


if __name__ == '__main__':
    main()
