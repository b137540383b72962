#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: one_image_info
short_description: List OpenNebula images
version_added: 0.1.0
description:
  - Select OpenNebula images by ID, name, name regular expression or label and return them as structured
    dicts (the same shape M(nebulavoip.cloud.one_image) returns), ready for C(community.general.json_query).
  - One XML-RPC call.
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - nebulavoip.cloud.opennebula
  - nebulavoip.cloud.opennebula.info
seealso:
  - module: nebulavoip.cloud.one_image
'''

EXAMPLES = r'''
- name: Images labelled voip
  nebulavoip.cloud.one_image_info:
    label: voip
  register: imgs

- name: Names of the READY ones
  ansible.builtin.debug:
    msg: "{{ imgs.images | community.general.json_query('[?state==`READY`].name') }}"
'''

RETURN = r'''
images:
  description: The selected images, sorted by ID.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: ID, type: int, sample: 0}
    name: {description: Name, type: str, sample: example}
    state: {description: oned state name, type: str, sample: READY}
    labels: {description: Labels, type: list, elements: str, sample: [voip]}
    template: {description: Template attributes as oned stores them, type: dict}
    type: {description: Image type, type: str, sample: OS}
    persistent: {description: Whether the image is persistent, type: bool, sample: false}
    datastore: {description: Datastore name, type: str, sample: default}
'''

from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import OneInfoModule, describe_image


class OneImageInfo(OneInfoModule):
    POOL = 'imagepool'
    ELEMENT = 'IMAGE'
    POOL_ARGS = (-2, -1, -1)
    RESULT = 'images'

    def describe(self, obj):
        return describe_image(obj)


def main():
    OneImageInfo().execute()


if __name__ == '__main__':
    main()
