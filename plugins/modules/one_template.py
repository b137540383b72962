#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: one_template
short_description: Manage OpenNebula VM templates
version_added: 0.1.0
description:
  - Create, update and delete an OpenNebula VM template from structured options or raw template text.
  - The template is compared canonically (attribute names upper-cased, order of attributes ignored, order of repeated
    DISK/NIC kept, values compared as the strings oned stores), so an unchanged template is never rewritten and a
    no-op run costs one XML-RPC call.
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - nebulavoip.cloud.opennebula
  - nebulavoip.cloud.opennebula.attributes
  - nebulavoip.cloud.opennebula.ownership
options:
  name:
    description: Name of the template. Required to create it.
    type: str
  id:
    description: ID of the template, to select it when several templates share a name.
    type: int
  state:
    description: V(present) creates or updates the template, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  cpu:
    description: Physical CPU share (C(CPU)), for example V(0.5).
    type: str
  vcpu:
    description: Virtual CPUs (C(VCPU)).
    type: int
  memory:
    description: Memory in MB (C(MEMORY)).
    type: int
  disks:
    description:
      - 'C(DISK) vectors, in order, for example V([{"IMAGE": "debian12"}]).'
    type: list
    elements: dict
  nics:
    description:
      - 'C(NIC) vectors, in order, for example V([{"NETWORK": "voip-lan"}]).'
    type: list
    elements: dict
  context:
    description:
      - 'The C(CONTEXT) vector (contextualisation), for example V({"NETWORK": "YES"}).'
    type: dict
  graphics:
    description:
      - 'The C(GRAPHICS) vector, for example V({"TYPE": "VNC", "LISTEN": "0.0.0.0"}).'
    type: dict
  os:
    description:
      - 'The C(OS) vector, for example V({"ARCH": "x86_64"}).'
    type: dict
  sched_requirements:
    description: Scheduler requirements expression (C(SCHED_REQUIREMENTS)).
    type: str
  description:
    description: Free text description (C(DESCRIPTION)).
    type: str
  labels:
    description: Labels (C(LABELS), comma separated in oned).
    type: list
    elements: str
  attributes:
    description:
      - Any other attribute, name to value; a value may be a string, a dict (a vector) or a list of dicts (repeated vectors).
    type: dict
  template:
    description:
      - Raw OpenNebula template text; parsed with oned's rules and merged under the structured options above.
    type: str
  update_mode:
    description:
      - V(replace) - the template is exactly what is given; attributes not given are removed.
      - V(merge) - only the attributes given are compared and updated; others are kept.
    type: str
    choices: [replace, merge]
    default: replace
seealso:
  - module: nebulavoip.cloud.one_template_info
'''

EXAMPLES = r'''
- name: A Kamailio VM template
  nebulavoip.cloud.one_template:
    name: kamailio
    cpu: '1'
    vcpu: 2
    memory: 2048
    disks:
      - IMAGE: debian12
    nics:
      - NETWORK: voip-lan
    context:
      NETWORK: 'YES'
      SSH_PUBLIC_KEY: ssh-ed25519 AAAAexample ops@example
    graphics:
      TYPE: VNC
      LISTEN: 0.0.0.0
    os:
      ARCH: x86_64
    labels: [voip, sip]

- name: The same from raw template text
  nebulavoip.cloud.one_template:
    name: sipp-client
    template: |
      CPU = "0.5"
      MEMORY = "512"
      DISK = [ IMAGE = "debian12" ]
      NIC = [ NETWORK = "voip-lan" ]

- name: Delete it
  nebulavoip.cloud.one_template:
    name: sipp-client
    state: absent
'''

RETURN = r'''
template:
  description: The template after the run (predicted in check mode); null when absent.
  returned: always
  type: dict
  contains:
    id: {description: Template ID, type: int, sample: 4}
    name: {description: Template name, type: str, sample: kamailio}
    owner: {description: Owner user name, type: str, sample: oneadmin}
    group: {description: Owner group name, type: str, sample: oneadmin}
    permissions: {description: Octal permissions, type: str, sample: '0600'}
    labels: {description: Labels, type: list, elements: str, sample: [voip]}
    template: {description: Template attributes as oned stores them, type: dict, sample: {CPU: '1', NIC: {NETWORK: voip-lan}}}
actions:
  description: What was (or in check mode would be) done, in order.
  returned: always
  type: list
  elements: str
  sample: ['update CPU,MEMORY']
xmlrpc_calls:
  description: Number of XML-RPC calls the run made.
  returned: always
  type: int
  sample: 1
'''

from ansible_collections.nebulavoip.cloud.plugins.module_utils import one_template as codec
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import OneResourceModule, describe_template


class OneTemplate(OneResourceModule):
    RESOURCE = 'template'
    KIND = 'VM template'
    POOL = 'templatepool'
    API = 'template'
    ELEMENT = 'VMTEMPLATE'

    def __init__(self):
        super().__init__({
            'cpu': {'type': 'str'},
            'vcpu': {'type': 'int'},
            'memory': {'type': 'int'},
            'disks': {'type': 'list', 'elements': 'dict'},
            'nics': {'type': 'list', 'elements': 'dict'},
            'context': {'type': 'dict'},
            'graphics': {'type': 'dict'},
            'os': {'type': 'dict'},
            'sched_requirements': {'type': 'str'},
            'description': {'type': 'str'},
            'labels': {'type': 'list', 'elements': 'str'},
            'attributes': {'type': 'dict'},
            'template': {'type': 'str'},
            'update_mode': {'type': 'str', 'default': 'replace', 'choices': ['replace', 'merge']},
        })

    def desired(self):
        p = self.params
        want = codec.parse(p['template']) if p.get('template') else {}
        for key, value in (p.get('attributes') or {}).items():
            want[codec.canonical_name(key)] = value
        simple = (('cpu', 'CPU'), ('vcpu', 'VCPU'), ('memory', 'MEMORY'), ('context', 'CONTEXT'),
                  ('graphics', 'GRAPHICS'), ('os', 'OS'), ('sched_requirements', 'SCHED_REQUIREMENTS'),
                  ('description', 'DESCRIPTION'))
        for opt, key in simple:
            if p.get(opt) is not None:
                want[key] = p[opt]
        if p.get('disks') is not None:
            want['DISK'] = p['disks']
        if p.get('nics') is not None:
            want['NIC'] = p['nics']
        if p.get('labels') is not None:
            want['LABELS'] = ','.join(p['labels'])
        want.pop('NAME', None)
        return codec.normalize(want)

    def describe(self, obj):
        return describe_template(obj)

    def predict_created(self):
        return self.describe({'ID': -1, 'NAME': self.params['name'], 'TEMPLATE': self.desired()})

    def predict_updated(self, current, plan):
        out = self.describe(current)
        out['template'] = self._target(current)
        return out

    def _target(self, current):
        want = self.desired()
        if self.params['update_mode'] == 'merge':
            return codec.merge(current.get('TEMPLATE'), want)
        return want

    def plan_create(self, plan, created):
        template = self.desired()
        text = codec.render(dict(template, NAME=self.params['name']))

        def allocate():
            created['id'] = self.api.allocate(text)
        plan.do(allocate, f'allocate {self.KIND} {self.params["name"]!r}')
        plan.after = dict(template, NAME=self.params['name'])

    def plan_update(self, plan, current):
        oid = int(current['ID'])
        have = codec.normalize(current.get('TEMPLATE'))
        want = self.desired()
        if self.params['update_mode'] == 'merge':
            changed = codec.subset_differences(want, have)
            if changed:
                text = codec.render({k: want[k] for k in changed})
                plan.do(lambda: self.api.update(oid, text, 1), 'update ' + ','.join(changed))
        else:
            changed = sorted(k for k in set(want) | set(have) if not codec.equal({k: want.get(k, [])}, {k: have.get(k, [])}))
            if changed:
                text = codec.render(want)
                plan.do(lambda: self.api.update(oid, text, 0), 'update ' + ','.join(changed))
        for key in changed:
            plan.before[key] = have.get(key)
            plan.after[key] = want.get(key)

    def plan_delete(self, plan, current):
        plan.do(lambda: self.api.delete(int(current['ID']), False), f'delete {self.label(current)}')

    def wait_deleted(self, current):
        """Template deletes are synchronous."""


def main():
    OneTemplate().execute()


if __name__ == '__main__':
    main()
