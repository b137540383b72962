#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: one_host
short_description: Register and manage OpenNebula hosts
version_added: 0.1.0
description:
  - Register a hypervisor host in OpenNebula, enable, disable or set it offline, move it to a cluster, or remove it.
  - Waits until the host is MONITORED; a host in ERROR makes the module fail with oned's error text.
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - nebulavoip.cloud.opennebula
  - nebulavoip.cloud.opennebula.attributes
options:
  name:
    description: Host name (as the frontend reaches it). Required to register it.
    type: str
  id:
    description: ID of the host.
    type: int
  state:
    description:
      - V(present) registers the host (new hosts are enabled); an existing host keeps its status.
      - V(enabled), V(disabled) and V(offline) also set the host's status.
      - V(absent) removes the host (oned refuses while VMs run on it).
    type: str
    choices: [present, absent, enabled, disabled, offline]
    default: present
  im_mad:
    description: Information driver (C(IM_MAD)), V(kvm) when not given. Only used at registration.
    type: str
  vmm_mad:
    description: Virtualization driver (C(VM_MAD)), V(kvm) when not given. Only used at registration.
    type: str
  cluster:
    description: Cluster (name or ID) of the host; the host is moved there when it is elsewhere.
    type: str
  attributes:
    description: Template attributes of the host (labels, reservations ...), name to value; merged into the host template.
    type: dict
seealso:
  - module: nebulavoip.cloud.one_host_info
'''

EXAMPLES = r'''
- name: Register a KVM node and wait until it is monitored
  nebulavoip.cloud.one_host:
    name: node01
    im_mad: kvm
    vmm_mad: kvm
    cluster: default
    wait_timeout: 120

- name: Take it out of scheduling
  nebulavoip.cloud.one_host:
    name: node01
    state: disabled

- name: Remove it
  nebulavoip.cloud.one_host:
    name: node01
    state: absent
'''

RETURN = r'''
host:
  description: The host after the run (predicted in check mode); null when absent.
  returned: always
  type: dict
  contains:
    id: {description: Host ID, type: int, sample: 0}
    name: {description: Host name, type: str, sample: node01}
    state: {description: oned state name, type: str, sample: MONITORED}
    status: {description: Scheduling status, type: str, sample: enabled}
    im_mad: {description: Information driver, type: str, sample: kvm}
    vmm_mad: {description: Virtualization driver, type: str, sample: kvm}
    cluster: {description: Cluster name, type: str, sample: default}
    cluster_id: {description: Cluster ID, type: int, sample: 0}
    running_vms: {description: VMs running on the host, type: int, sample: 0}
    template: {description: Template attributes as oned stores them, type: dict}
actions:
  description: What was (or in check mode would be) done, in order.
  returned: always
  type: list
  elements: str
  sample: ['status disabled']
xmlrpc_calls:
  description: Number of XML-RPC calls the run made.
  returned: always
  type: int
  sample: 1
'''

from ansible_collections.nebulavoip.cloud.plugins.module_utils import one_template as codec
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import OneResourceModule, describe_host, host_status

_STATUS = {'enabled': 0, 'disabled': 1, 'offline': 2}


class OneHost(OneResourceModule):
    RESOURCE = 'host'
    KIND = 'host'
    POOL = 'hostpool'
    API = 'host'
    ELEMENT = 'HOST'
    POOL_ARGS = ()
    OWNED = False
    STATES = ('present', 'absent', 'enabled', 'disabled', 'offline')

    def __init__(self):
        super().__init__({
            'im_mad': {'type': 'str'},
            'vmm_mad': {'type': 'str'},
            'cluster': {'type': 'str'},
            'attributes': {'type': 'dict'},
        })

    def describe(self, obj):
        return describe_host(obj)

    def wanted_status(self):
        state = self.params['state']
        return state if state in _STATUS else None

    def predict_created(self):
        status = self.wanted_status() or 'enabled'
        state = {'enabled': 2 if self.params['wait'] else 0, 'disabled': 4, 'offline': 8}[status]
        cluster = self.params.get('cluster')
        obj = {'ID': -1, 'NAME': self.params['name'], 'STATE': state, 'IM_MAD': self.params['im_mad'] or 'kvm',
               'VM_MAD': self.params['vmm_mad'] or 'kvm', 'CLUSTER': cluster if cluster and not cluster.isdigit() else None,
               'CLUSTER_ID': int(cluster) if cluster and cluster.isdigit() else -1,
               'TEMPLATE': codec.normalize(self.params.get('attributes') or {})}
        return self.describe(obj)

    def predict_updated(self, current, plan):
        out = self.describe(current)
        if 'status' in plan.after:
            out['status'] = plan.after['status']
            out['state'] = {'enabled': out['state'], 'disabled': 'DISABLED', 'offline': 'OFFLINE'}[plan.after['status']]
        if 'cluster' in plan.after:
            out['cluster'] = plan.after['cluster']
        out['template'] = codec.merge(current.get('TEMPLATE'), self.params.get('attributes') or {})
        return out

    def plan_create(self, plan, created):
        p = self.params
        cluster_id = self.resolve('cluster', p.get('cluster'))
        status = self.wanted_status()
        attrs = codec.normalize(p.get('attributes') or {})
        im_mad, vmm_mad = p['im_mad'] or 'kvm', p['vmm_mad'] or 'kvm'

        def allocate():
            created['id'] = self.api.allocate(p['name'], im_mad, vmm_mad, -1 if cluster_id is None else cluster_id)
            if attrs:
                self.api.update(created['id'], codec.render(attrs), 1)
            if status in ('disabled', 'offline'):
                self.api.status(created['id'], _STATUS[status])
        plan.do(allocate, f'allocate host {p["name"]!r}')
        plan.after = {'name': p['name'], 'im_mad': im_mad, 'vmm_mad': vmm_mad,
                      'cluster': p.get('cluster'), 'status': status or 'enabled', 'template': attrs}

    def plan_update(self, plan, current):
        p = self.params
        oid = int(current['ID'])
        status = self.wanted_status()
        have = host_status(current['STATE'])
        if status is not None and status != have:
            plan.add('status', have, status, lambda: self.api.status(oid, _STATUS[status]), f'status {status}')
        cluster = p.get('cluster')
        if cluster is not None:
            same = (int(cluster) == int(current.get('CLUSTER_ID', -1))) if cluster.isdigit() else cluster == current.get('CLUSTER')
            if not same:
                cid = self.resolve('cluster', cluster)
                plan.add('cluster', current.get('CLUSTER'), cluster, lambda: self.one.cluster.addhost(cid, oid),
                         f'move to cluster {cluster}')
        have_t = codec.normalize(current.get('TEMPLATE'))
        want_t = codec.normalize(p.get('attributes') or {})
        changed = codec.subset_differences(want_t, have_t)
        if changed:
            text = codec.render({k: want_t[k] for k in changed})
            for key in changed:
                plan.before[key], plan.after[key] = have_t.get(key), want_t[key]
            plan.do(lambda: self.api.update(oid, text, 1), 'update ' + ','.join(changed))
        for opt, key in (('im_mad', 'IM_MAD'), ('vmm_mad', 'VM_MAD')):
            if p.get(opt) and current.get(key) and current[key] != p[opt]:
                self.warn(f'{self.label(current)} uses {key} {current[key]!r}, not {p[opt]!r}; drivers are only '
                          'set at registration (remove the host to change them)')

    # -- waiting --------------------------------------------------------------
    def _failed(self, obj):
        if int(obj['STATE']) == 3:
            error = (obj.get('TEMPLATE') or {}).get('ERROR') or 'no error text'
            return f'{self.label(obj)} is in state ERROR: {error}'
        return None

    def _wait_monitored(self, oid):
        return self.wait_for(lambda: self.info(oid), lambda o: int(o['STATE']) in (2, 4, 8), failed=self._failed,
                             what=f'host {oid} to be MONITORED')

    def after_apply(self, current, created_id):
        oid = created_id if created_id is not None else int(current['ID'])
        if self.params['wait'] and (self.wanted_status() or 'enabled') == 'enabled':
            return self._wait_monitored(oid)
        return self.info(oid)

    def settle(self, current):
        if self.params['wait'] and (self.wanted_status() or host_status(current['STATE'])) == 'enabled':
            if int(current['STATE']) == 3:
                self.fail(self._failed(current))
            if int(current['STATE']) != 2:
                return self.describe(self._wait_monitored(int(current['ID'])))
        return self.describe(current)

    def plan_delete(self, plan, current):
        plan.do(lambda: self.api.delete(int(current['ID'])), f'delete {self.label(current)}')

    def wait_deleted(self, current):
        """Host deletes are synchronous."""


def main():
    OneHost().execute()


if __name__ == '__main__':
    main()
