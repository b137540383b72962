#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: one_vnet
short_description: Manage OpenNebula virtual networks and their address ranges
version_added: 0.1.0
description:
  - Create, update and delete an OpenNebula virtual network from structured options.
  - Address ranges are reconciled one by one with C(one.vn.add_ar), C(one.vn.update_ar) and C(one.vn.rm_ar);
    the network itself is never rewritten, so attributes oned adds on its own (C(SECURITY_GROUPS), C(BRIDGE_TYPE) ...)
    are kept.
  - Only the attributes given are compared; an unchanged network costs one XML-RPC call.
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - nebulavoip.cloud.opennebula
  - nebulavoip.cloud.opennebula.attributes
  - nebulavoip.cloud.opennebula.ownership
options:
  name:
    description:
      - Name of the virtual network. Required to create it.
    type: str
  id:
    description:
      - ID of the virtual network, to select it when several networks share a name.
    type: int
  state:
    description:
      - V(present) creates or updates the network, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  vn_mad:
    description:
      - Network driver (C(VN_MAD)), for example V(bridge), V(802.1Q), V(vxlan), V(ovswitch) or V(dummy). Needed to create.
    type: str
  bridge:
    description: Name of the bridge on the hosts (C(BRIDGE)).
    type: str
  phydev:
    description: Physical device the bridge is attached to (C(PHYDEV)).
    type: str
  vlan_id:
    description: VLAN ID (C(VLAN_ID)).
    type: str
  network_address:
    description: Network address, for example V(10.0.0.0) (C(NETWORK_ADDRESS)).
    type: str
  network_mask:
    description: Network mask, for example V(255.255.255.0) (C(NETWORK_MASK)).
    type: str
  gateway:
    description: Default gateway handed to the VMs (C(GATEWAY)).
    type: str
  dns:
    description: DNS servers handed to the VMs (C(DNS), space separated in oned).
    type: list
    elements: str
  security_groups:
    description:
      - IDs of the security groups (C(SECURITY_GROUPS)), compared as a set.
      - When not given, oned's own choice (the default group 0) is kept.
    type: list
    elements: int
  description:
    description: Free text description (C(DESCRIPTION)).
    type: str
  attributes:
    description:
      - Any other template attribute, name to value (names are upper-cased as oned does).
    type: dict
  cluster:
    description:
      - Cluster (name or ID) the network belongs to. At creation the network is allocated in it; later the
        network is added to it when it is not a member.
    type: str
  ars:
    description:
      - The address ranges of the network. When given, the list is authoritative - ranges not listed are removed.
        When omitted, the address ranges are not touched.
      - A range is matched to an existing one by its type and first address (C(ip) for IP4/IP4_6, C(mac) for ETHER,
        C(prefix)/C(ula_prefix) for IP6); ranges without such a key are matched by position among ranges of their type.
    type: list
    elements: dict
    suboptions:
      type:
        description: Address range type.
        type: str
        choices: [IP4, IP6, IP4_6, ETHER]
        default: IP4
      ip:
        description: First IPv4 address (IP4 and IP4_6).
        type: str
      size:
        description: Number of addresses.
        type: int
        required: true
      mac:
        description: First MAC address (optional; oned generates one).
        type: str
      prefix:
        description: IPv6 global prefix (C(GLOBAL_PREFIX)) for IP6 and IP4_6.
        type: str
        aliases: [global_prefix]
      ula_prefix:
        description: IPv6 unique local prefix (C(ULA_PREFIX)).
        type: str
      attributes:
        description: Other attributes of the range (C(GATEWAY), C(DNS) ...).
        type: dict
  force:
    description:
      - Remove an address range even when it holds leases. Leases on hold are released first; oned still refuses
        to remove a range with leases of VMs, and the module then fails with oned's message.
    type: bool
    default: false
seealso:
  - module: nebulavoip.cloud.one_vnet_info
'''

EXAMPLES = r'''
- name: A bridged network with one IPv4 range
  nebulavoip.cloud.one_vnet:
    name: voip-lan
    vn_mad: bridge
    bridge: br0
    network_address: 10.10.0.0
    network_mask: 255.255.255.0
    gateway: 10.10.0.1
    dns: [10.10.0.1]
    ars:
      - type: IP4
        ip: 10.10.0.100
        size: 50
    permissions: '0640'

- name: Grow the range and add an Ethernet range (two calls, nothing else rewritten)
  nebulavoip.cloud.one_vnet:
    name: voip-lan
    ars:
      - type: IP4
        ip: 10.10.0.100
        size: 100
      - type: ETHER
        mac: '02:00:0a:0a:00:01'
        size: 16

- name: Delete the network
  nebulavoip.cloud.one_vnet:
    name: voip-lan
    state: absent
'''

RETURN = r'''
vnet:
  description: The virtual network after the run (predicted in check mode); null when absent.
  returned: always
  type: dict
  contains:
    id: {description: Network ID, type: int, sample: 3}
    name: {description: Network name, type: str, sample: voip-lan}
    state: {description: oned state name, type: str, sample: READY}
    owner: {description: Owner user name, type: str, sample: oneadmin}
    group: {description: Owner group name, type: str, sample: oneadmin}
    permissions: {description: Octal permissions, type: str, sample: '0640'}
    vn_mad: {description: Network driver, type: str, sample: bridge}
    bridge: {description: Bridge name, type: str, sample: br0}
    clusters: {description: Cluster IDs, type: list, elements: int, sample: [0]}
    used_leases: {description: Leases in use, type: int, sample: 2}
    security_groups: {description: Security group IDs, type: list, elements: int, sample: [0]}
    template: {description: Template attributes as oned stores them, type: dict}
    ars:
      description: Address ranges.
      type: list
      elements: dict
      sample: [{ar_id: 0, type: IP4, ip: 10.10.0.100, ip_end: 10.10.0.149, size: 50, mac: '02:00:0a:0a:00:64'}]
actions:
  description: What was (or in check mode would be) done, in order.
  returned: always
  type: list
  elements: str
  sample: ['update BRIDGE', 'update_ar 0']
xmlrpc_calls:
  description: Number of XML-RPC calls the run made.
  returned: always
  type: int
  sample: 1
'''

from ansible_collections.nebulavoip.cloud.plugins.module_utils import one_template
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import (
    OneResourceModule,
    as_list,
    describe_ar,
    describe_vnet,
    ids_of,
    to_data,
)
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_states import VNET_STATE

_AR_KEYS = {'type': 'TYPE', 'ip': 'IP', 'size': 'SIZE', 'mac': 'MAC', 'prefix': 'GLOBAL_PREFIX', 'ula_prefix': 'ULA_PREFIX'}
_AR_AUTO = ('AR_ID', 'MAC_END', 'IP_END', 'IP6_END', 'IP6_GLOBAL', 'IP6_GLOBAL_END', 'IP6_ULA', 'IP6_ULA_END',
            'USED_LEASES', 'LEASES', 'SHARED')


def ar_identity(ar):
    kind = ar.get('TYPE', 'IP4')
    if kind in ('IP4', 'IP4_6') and ar.get('IP'):
        return (kind, ar['IP'])
    if kind == 'ETHER' and ar.get('MAC'):
        return (kind, ar['MAC'].lower())
    if kind == 'IP6' and (ar.get('GLOBAL_PREFIX') or ar.get('ULA_PREFIX')):
        return (kind, ar.get('GLOBAL_PREFIX'), ar.get('ULA_PREFIX'))
    return None


class OneVnet(OneResourceModule):
    RESOURCE = 'vnet'
    KIND = 'virtual network'
    POOL = 'vnpool'
    API = 'vn'
    ELEMENT = 'VNET'

    def __init__(self):
        ar_spec = {
            'type': {'type': 'str', 'default': 'IP4', 'choices': ['IP4', 'IP6', 'IP4_6', 'ETHER']},
            'ip': {'type': 'str'},
            'size': {'type': 'int', 'required': True},
            'mac': {'type': 'str'},
            'prefix': {'type': 'str', 'aliases': ['global_prefix']},
            'ula_prefix': {'type': 'str'},
            'attributes': {'type': 'dict'},
        }
        super().__init__({
            'vn_mad': {'type': 'str'},
            'bridge': {'type': 'str'},
            'phydev': {'type': 'str'},
            'vlan_id': {'type': 'str'},
            'network_address': {'type': 'str'},
            'network_mask': {'type': 'str'},
            'gateway': {'type': 'str'},
            'dns': {'type': 'list', 'elements': 'str'},
            'security_groups': {'type': 'list', 'elements': 'int'},
            'description': {'type': 'str'},
            'attributes': {'type': 'dict'},
            'cluster': {'type': 'str'},
            'ars': {'type': 'list', 'elements': 'dict', 'options': ar_spec},
            'force': {'type': 'bool', 'default': False},
        })

    # -- desired state ------------------------------------------------------
    def desired_template(self):
        p = self.params
        want = {}
        for opt, key in (('vn_mad', 'VN_MAD'), ('bridge', 'BRIDGE'), ('phydev', 'PHYDEV'), ('vlan_id', 'VLAN_ID'),
                         ('network_address', 'NETWORK_ADDRESS'), ('network_mask', 'NETWORK_MASK'),
                         ('gateway', 'GATEWAY'), ('description', 'DESCRIPTION')):
            if p.get(opt) is not None:
                want[key] = p[opt]
        if p.get('dns') is not None:
            want['DNS'] = ' '.join(p['dns'])
        for key, value in (p.get('attributes') or {}).items():
            want[key] = value
        return one_template.normalize(want)

    def desired_ars(self):
        out = []
        for ar in self.params.get('ars') or []:
            item = {}
            for opt, key in _AR_KEYS.items():
                if ar.get(opt) is not None:
                    item[key] = str(ar[opt])
            item.update(one_template.normalize_vector(ar.get('attributes') or {}))
            if item['TYPE'] in ('IP4', 'IP4_6') and not item.get('IP'):
                self.fail(f'address range {len(out) + 1}: type {item["TYPE"]} needs ip')
            out.append(item)
        return out

    # -- results --------------------------------------------------------------
    def describe(self, obj):
        return describe_vnet(obj)

    def predict_created(self):
        template = self.desired_template()
        ars = [dict(ar, AR_ID=str(i)) for i, ar in enumerate(self.desired_ars())]
        obj = {'ID': -1, 'NAME': self.params['name'], 'STATE': 1, 'TEMPLATE': template,
               'VN_MAD': template.get('VN_MAD'), 'BRIDGE': template.get('BRIDGE'), 'AR_POOL': {'AR': ars}}
        return self.describe(obj)

    # -- plan -----------------------------------------------------------------
    def plan_create(self, plan, created):
        template = self.desired_template()
        if 'VN_MAD' not in template:
            self.fail('vn_mad is required to create a virtual network')
        template['NAME'] = self.params['name']
        if self.params.get('security_groups') is not None:
            template['SECURITY_GROUPS'] = ','.join(str(i) for i in self.params['security_groups'])
        ars = self.desired_ars()
        if ars:
            template['AR'] = ars
        text = one_template.render(template)
        cluster_id = self.resolve('cluster', self.params.get('cluster'))

        def allocate():
            created['id'] = self.api.allocate(text, -1 if cluster_id is None else cluster_id)
        after = dict(template)
        plan.add(None, None, None, allocate, f'allocate {self.KIND} {self.params["name"]!r}')
        plan.after = after

    def plan_update(self, plan, current):
        oid = int(current['ID'])
        have = one_template.normalize(current.get('TEMPLATE'))
        want = self.desired_template()
        changed = one_template.subset_differences(want, have)
        if self.params.get('security_groups') is not None:
            want_sg = sorted(set(self.params['security_groups']))
            have_sg = sorted({int(x) for x in str(have.get('SECURITY_GROUPS', '')).split(',') if x.strip()})
            if want_sg != have_sg:
                want['SECURITY_GROUPS'] = ','.join(str(i) for i in want_sg)
                changed.append('SECURITY_GROUPS')
        if changed:
            patch = {k: want[k] for k in changed}
            text = one_template.render(patch)
            for key in changed:
                plan.before[key], plan.after[key] = have.get(key), want[key]
            plan.do(lambda: self.api.update(oid, text, 1), 'update ' + ','.join(sorted(changed)))
        if self.params.get('cluster') is not None:
            cid = self.resolve('cluster', self.params['cluster'])
            members = ids_of(current.get('CLUSTERS'))
            if cid not in members:
                plan.add('clusters', members, sorted(members + [cid]),
                         lambda: self.one.cluster.addvnet(cid, oid), f'add to cluster {cid}')
        if self.params.get('ars') is not None:
            self.plan_ars(plan, current)

    def plan_ars(self, plan, current):
        oid = int(current['ID'])
        have = [one_template.normalize_vector(ar) for ar in as_list((current.get('AR_POOL') or {}).get('AR'))]
        want = self.desired_ars()
        matched = {}
        free = list(range(len(have)))
        # 1. by identity
        for wi, war in enumerate(want):
            key = ar_identity(war)
            if key is None:
                continue
            for hi in free:
                if ar_identity(have[hi]) == key:
                    matched[wi] = hi
                    free.remove(hi)
                    break
        # 2. by position among the same type
        for wi, war in enumerate(want):
            if wi in matched or ar_identity(war) is not None:
                continue
            for hi in free:
                if have[hi].get('TYPE') == war.get('TYPE'):
                    matched[wi] = hi
                    free.remove(hi)
                    break
        before = [describe_ar(h) for h in have]
        after_ars = []
        steps = []
        for hi in free:
            har = have[hi]
            steps.append(self._rm_ar_step(current, har))
        for wi, war in enumerate(want):
            if wi in matched:
                har = have[matched[wi]]
                diff = {k: v for k, v in war.items() if k not in ('TYPE',) and str(har.get(k)) != v}
                merged = dict(har, **war)
                after_ars.append(describe_ar(merged))
                if diff:
                    vector = dict(diff, AR_ID=har['AR_ID'])
                    text = 'AR=' + one_template.render_vector(vector)
                    steps.append((lambda t=text: self.api.update_ar(oid, t), f'update_ar {har["AR_ID"]}'))
            else:
                after_ars.append(describe_ar(dict(war, AR_ID='-1')))
                text = 'AR=' + one_template.render_vector(war)
                steps.append((lambda t=text: self.api.add_ar(oid, t), f'add_ar {ar_identity(war) or war["TYPE"]}'))
        if steps:
            plan.before['ars'], plan.after['ars'] = before, after_ars
            for action, what in steps:
                plan.do(action, what)

    def _rm_ar_step(self, current, har):
        oid = int(current['ID'])
        ar_id = int(har['AR_ID'])
        what = f'rm_ar {ar_id}'
        if int(current.get('USED_LEASES') or 0) == 0:
            return (lambda: self.api.rm_ar(oid, ar_id), what)
        # the pool answer has no per-range lease count: read this network once
        full = self.cached_info(oid)
        ar = next((a for a in as_list((full.get('AR_POOL') or {}).get('AR')) if int(a.get('AR_ID', -1)) == ar_id), {})
        leases = as_list((ar.get('LEASES') or {}).get('LEASE'))
        used = int(ar.get('USED_LEASES') or len(leases) or 0)
        if used == 0:
            return (lambda: self.api.rm_ar(oid, ar_id), what)
        vms = sorted({int(lease['VM']) for lease in leases if int(lease.get('VM', -1)) >= 0})
        held = [lease for lease in leases if int(lease.get('VM', -1)) < 0]
        holders = (f'VMs {", ".join(str(v) for v in vms)}' if vms else '') + \
            (' and ' if vms and held else '') + (f'{len(held)} lease(s) on hold' if held else '')
        if not self.params['force']:
            self.fail(f'refusing to remove address range {ar_id} ({har.get("TYPE")} {har.get("IP") or har.get("MAC") or ""}) '
                      f'of {self.label(current)}: it holds {used} lease(s) ({holders or "in use"}); '
                      'set force: true to release held leases and remove it')

        def release_and_remove():
            for lease in held:
                key = 'IP' if lease.get('IP') else 'MAC'
                self.api.release(oid, f'LEASES=[{key}="{lease[key]}"]')
            self.api.rm_ar(oid, ar_id)
        return (release_and_remove, what + ' (force)')

    def cached_info(self, oid):
        key = ('vn.info', oid)
        if key not in self._cache:
            self._cache[key] = to_data(self.api.info(oid))
        return self._cache[key]

    # -- waiting --------------------------------------------------------------
    def _wait_ready(self, oid):
        return self.wait_for(lambda: self.info(oid), lambda o: int(o['STATE']) == 1,
                             failed=self._failed, what=f'{self.KIND} {oid} to be READY')

    def _failed(self, obj):
        if VNET_STATE.is_failure(obj['STATE']):
            error = (obj.get('TEMPLATE') or {}).get('ERROR') or 'no error text'
            return f'{self.label(obj)} is in state {VNET_STATE.name(obj["STATE"])}: {error}'
        return None

    def after_apply(self, current, created_id):
        oid = created_id if created_id is not None else int(current['ID'])
        if self.params['wait']:
            return self._wait_ready(oid)
        return self.info(oid)

    def settle(self, current):
        if self.params['wait'] and int(current['STATE']) != 1:
            if VNET_STATE.is_failure(current['STATE']):
                self.fail(self._failed(current))
            return self.describe(self._wait_ready(int(current['ID'])))
        return self.describe(current)


def main():
    OneVnet().execute()


if __name__ == '__main__':
    main()
