#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: one_template_info
short_description: List OpenNebula VM templates
version_added: 0.1.0
description:
  - Select OpenNebula VM templates by ID, name, name regular expression or label and return them as structured
    dicts (the same shape M(nebulavoip.cloud.one_template) returns), ready for C(community.general.json_query).
  - One XML-RPC call.
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - nebulavoip.cloud.opennebula
  - nebulavoip.cloud.opennebula.info
seealso:
  - module: nebulavoip.cloud.one_template
'''

EXAMPLES = r'''
- name: One template by name
  nebulavoip.cloud.one_template_info:
    name: kamailio
  register: tpl

- name: Its memory
  ansible.builtin.debug:
    msg: "{{ tpl.templates | community.general.json_query('[0].template.MEMORY') }}"
'''

RETURN = r'''
templates:
  description: The selected VM templates, sorted by ID.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: ID, type: int, sample: 0}
    name: {description: Name, type: str, sample: example}
    state: {description: oned state name, type: str, sample: READY}
    labels: {description: Labels, type: list, elements: str, sample: [voip]}
    template: {description: Template attributes as oned stores them, type: dict}
'''

from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import OneInfoModule, describe_template


class OneTemplateInfo(OneInfoModule):
    POOL = 'templatepool'
    ELEMENT = 'VMTEMPLATE'
    POOL_ARGS = (-2, -1, -1)
    RESULT = 'templates'

    def describe(self, obj):
        return describe_template(obj)


def main():
    OneTemplateInfo().execute()


if __name__ == '__main__':
    main()
