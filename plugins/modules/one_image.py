#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: one_image
short_description: Manage OpenNebula images
version_added: 0.1.0
description:
  - Register an OpenNebula image from a URL or a file on the frontend, or create an empty DATABLOCK, and keep its
    type, persistence and attributes as given.
  - Waits for the image to become READY and fails with the image's own error when it turns ERROR.
  - Deleting an image that VMs use is refused, naming the VMs, unless O(force=true).
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - nebulavoip.cloud.opennebula
  - nebulavoip.cloud.opennebula.attributes
  - nebulavoip.cloud.opennebula.ownership
options:
  name:
    description: Name of the image. Required to create it.
    type: str
  id:
    description: ID of the image, to select it when several images share a name.
    type: int
  state:
    description: V(present) registers or updates the image, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  datastore:
    description:
      - Image datastore (name or ID) the image is created in. Only used at creation.
    type: str
    default: default
  type:
    description:
      - Image type. Defaults to V(DATABLOCK) when only O(size) is given, V(OS) otherwise.
      - Changed with C(one.image.chtype) when it differs.
    type: str
    choices: [OS, CDROM, DATABLOCK]
  path:
    description: URL or path on the frontend of the image file (C(PATH)). Only used at creation.
    type: str
  size:
    description: Size in MB of an empty DATABLOCK (C(SIZE)). Only used at creation.
    type: int
  persistent:
    description: Whether the image is persistent; changed with C(one.image.persistent) when it differs.
    type: bool
  dev_prefix:
    description: Device prefix of the disk in the guest (C(DEV_PREFIX)), for example V(vd) or V(sd).
    type: str
  format:
    description: Image format (C(FORMAT)), for example V(qcow2) or V(raw). Only used at creation.
    type: str
  description:
    description: Free text description (C(DESCRIPTION)).
    type: str
  attributes:
    description: Any other template attribute, name to value (names are upper-cased as oned does).
    type: dict
  force:
    description:
      - Send the delete even when VMs use the image (oned itself may still refuse it).
    type: bool
    default: false
seealso:
  - module: nebulavoip.cloud.one_image_info
'''

EXAMPLES = r'''
- name: An OS image from a file on the frontend, persistent
  nebulavoip.cloud.one_image:
    name: debian12
    datastore: default
    path: /var/tmp/debian12.qcow2
    type: OS
    persistent: true
    dev_prefix: vd
    description: Debian 12 base image

- name: An empty 1 GB datablock for MariaDB data
  nebulavoip.cloud.one_image:
    name: kamailio-db
    size: 1024
    persistent: true

- name: Delete the datablock
  nebulavoip.cloud.one_image:
    name: kamailio-db
    state: absent
'''

RETURN = r'''
image:
  description: The image after the run (predicted in check mode); null when absent.
  returned: always
  type: dict
  contains:
    id: {description: Image ID, type: int, sample: 2}
    name: {description: Image name, type: str, sample: debian12}
    state: {description: oned state name, type: str, sample: READY}
    type: {description: Image type, type: str, sample: OS}
    persistent: {description: Whether the image is persistent, type: bool, sample: true}
    datastore: {description: Datastore name, type: str, sample: default}
    datastore_id: {description: Datastore ID, type: int, sample: 1}
    size: {description: Size in MB, type: int, sample: 1024}
    path: {description: Source path or URL, type: str, sample: /var/tmp/debian12.qcow2}
    format: {description: Image format, type: str, sample: qcow2}
    running_vms: {description: Number of VMs using the image, type: int, sample: 0}
    vms: {description: IDs of the VMs using the image, type: list, elements: int, sample: []}
    owner: {description: Owner user name, type: str, sample: oneadmin}
    permissions: {description: Octal permissions, type: str, sample: '0600'}
    template: {description: Template attributes as oned stores them, type: dict}
actions:
  description: What was (or in check mode would be) done, in order.
  returned: always
  type: list
  elements: str
  sample: ['persistent true']
xmlrpc_calls:
  description: Number of XML-RPC calls the run made.
  returned: always
  type: int
  sample: 1
'''

from ansible_collections.nebulavoip.cloud.plugins.module_utils import one_template as codec
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import OneResourceModule, describe_image, ids_of
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_states import IMAGE_STATE, IMAGE_TYPE

_READY_STATES = (1, 2, 8)  # READY, USED, USED_PERS


class OneImage(OneResourceModule):
    RESOURCE = 'image'
    KIND = 'image'
    POOL = 'imagepool'
    API = 'image'
    ELEMENT = 'IMAGE'

    def __init__(self):
        super().__init__({
            'datastore': {'type': 'str', 'default': 'default'},
            'type': {'type': 'str', 'choices': ['OS', 'CDROM', 'DATABLOCK']},
            'path': {'type': 'str'},
            'size': {'type': 'int'},
            'persistent': {'type': 'bool'},
            'dev_prefix': {'type': 'str'},
            'format': {'type': 'str'},
            'description': {'type': 'str'},
            'attributes': {'type': 'dict'},
            'force': {'type': 'bool', 'default': False},
        }, mutually_exclusive=[('path', 'size')])

    # -- desired ------------------------------------------------------------
    def desired_type(self):
        if self.params.get('type'):
            return self.params['type']
        return 'DATABLOCK' if self.params.get('size') is not None and not self.params.get('path') else 'OS'

    def desired_template(self):
        want = {}
        for key, value in (self.params.get('attributes') or {}).items():
            want[key] = value
        for opt, key in (('dev_prefix', 'DEV_PREFIX'), ('description', 'DESCRIPTION')):
            if self.params.get(opt) is not None:
                want[key] = self.params[opt]
        return codec.normalize(want)

    # -- results ------------------------------------------------------------
    def describe(self, obj):
        return describe_image(obj)

    def predict_created(self):
        template = self.desired_template()
        ds = self.params['datastore']
        obj = {'ID': -1, 'NAME': self.params['name'], 'STATE': 1, 'TYPE': IMAGE_TYPE.code(self.desired_type()),
               'PERSISTENT': int(bool(self.params.get('persistent'))), 'DATASTORE': None if ds.isdigit() else ds,
               'DATASTORE_ID': int(ds) if ds.isdigit() else -1, 'SIZE': self.params.get('size') or 0,
               'PATH': self.params.get('path'), 'FORMAT': self.params.get('format'), 'TEMPLATE': template}
        return self.describe(obj)

    def predict_updated(self, current, plan):
        out = self.describe(current)
        for key in ('type', 'persistent'):
            if key in plan.after:
                out[key] = plan.after[key]
        out['template'] = codec.merge(current.get('TEMPLATE'), self.desired_template())
        return out

    # -- plan ---------------------------------------------------------------
    def plan_create(self, plan, created):
        p = self.params
        itype = self.desired_type()
        if itype == 'DATABLOCK' and not p.get('path') and p.get('size') is None:
            self.fail('a DATABLOCK image needs size (MB) or path')
        if itype != 'DATABLOCK' and not p.get('path'):
            self.fail(f'a {itype} image needs path (a URL or a file on the frontend)')
        template = dict(self.desired_template(), NAME=p['name'], TYPE=itype)
        if p.get('path'):
            template['PATH'] = p['path']
        if p.get('size') is not None:
            template['SIZE'] = p['size']
        if p.get('persistent') is not None:
            template['PERSISTENT'] = p['persistent']
        if p.get('format'):
            template['FORMAT'] = p['format']
        text = codec.render(template)
        ds_id = self.resolve('datastore', p['datastore'])

        def allocate():
            created['id'] = self.api.allocate(text, ds_id, False)
        plan.do(allocate, f'allocate image {p["name"]!r} in datastore {p["datastore"]}')
        plan.after = codec.normalize(dict(template, DATASTORE=p['datastore']))

    def plan_update(self, plan, current):
        p = self.params
        oid = int(current['ID'])
        if p.get('type'):
            have_type = IMAGE_TYPE.name(current.get('TYPE', 0))
            if have_type != p['type']:
                plan.add('type', have_type, p['type'], lambda: self.api.chtype(oid, p['type']), f'chtype {p["type"]}')
        if p.get('persistent') is not None:
            have = bool(int(current.get('PERSISTENT') or 0))
            if have != p['persistent']:
                plan.add('persistent', have, p['persistent'], lambda: self.api.persistent(oid, p['persistent']),
                         f'persistent {str(p["persistent"]).lower()}')
        have_t = codec.normalize(current.get('TEMPLATE'))
        want_t = self.desired_template()
        changed = codec.subset_differences(want_t, have_t)
        if changed:
            text = codec.render({k: want_t[k] for k in changed})
            for key in changed:
                plan.before[key], plan.after[key] = have_t.get(key), want_t[key]
            plan.do(lambda: self.api.update(oid, text, 1), 'update ' + ','.join(changed))
        for opt, key in (('path', 'PATH'), ('format', 'FORMAT')):
            if p.get(opt) is not None and current.get(key) not in (None, '') and str(current.get(key)) != str(p[opt]):
                self.warn(f'{opt} of {self.label(current)} is {current.get(key)!r}, not {p[opt]!r}; '
                          f'{opt} is only used when the image is created')

    def check_delete(self, current):
        vms = ids_of(current.get('VMS'))
        running = int(current.get('RUNNING_VMS') or 0)
        if (vms or running) and not self.params['force']:
            names = {int(vm['ID']): vm.get('NAME') for vm in self.pool('vmpool', 'VM', -2, -1, -1, -1)}
            listed = ', '.join(f'{names.get(v, "?")} (ID {v})' for v in vms) or f'{running} VM(s)'
            self.fail(f'refusing to delete {self.label(current)}: it is used by {listed}; '
                      'terminate them first or set force: true')

    # -- waiting --------------------------------------------------------------
    def _failed(self, obj):
        if int(obj['STATE']) == 5:
            error = (obj.get('TEMPLATE') or {}).get('ERROR') or 'no error text'
            return f'{self.label(obj)} is in state ERROR: {error}'
        return None

    def _wait_ready(self, oid):
        return self.wait_for(lambda: self.info(oid), lambda o: int(o['STATE']) in _READY_STATES or int(o['STATE']) == 3,
                             failed=self._failed, what=f'image {oid} to be READY')

    def after_apply(self, current, created_id):
        oid = created_id if created_id is not None else int(current['ID'])
        if self.params['wait']:
            return self._wait_ready(oid)
        return self.info(oid)

    def settle(self, current):
        if self.params['wait']:
            if int(current['STATE']) == 5:
                self.fail(self._failed(current))
            if IMAGE_STATE.is_transient(current['STATE']):
                return self.describe(self._wait_ready(int(current['ID'])))
        return self.describe(current)


def main():
    OneImage().execute()


if __name__ == '__main__':
    main()
