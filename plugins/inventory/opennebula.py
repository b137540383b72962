# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
name: opennebula
short_description: OpenNebula virtual machines as an Ansible inventory
version_added: 0.1.0
description:
  - Reads the VMs of an OpenNebula frontend (one C(one.vmpool.infoextended) call, plus C(one.templatepool.info) when grouping by
    template) and makes each one a host.
  - The host name is the VM's first IPv4 address, its first IPv6 address or its name, in the order O(hostname) gives;
    C(ansible_host) is the first IP address whatever the host name.
  - Every host carries the VM's structured facts in the variable C(opennebula), the same facts as M(nebulavoip.cloud.one_vm) returns
    (C(id), C(name), C(state), C(lcm_state), C(status), C(host), C(labels), C(nics), C(ipv4), C(ipv6), C(template_id)), plus C(template_name).
  - Groups by label, by template and by state, plus the C(compose), C(groups) and C(keyed_groups) of constructed inventories.
  - Configuration files must end in C(opennebula.yml) or C(opennebula.yaml).
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - constructed
  - inventory_cache
requirements:
  - pyone == 7.2.0
options:
  plugin:
    description: Marks the file as this plugin's configuration.
    type: str
    required: true
    choices: [nebulavoip.cloud.opennebula]
  api_url:
    description:
      - URL of the OpenNebula XML-RPC endpoint.
      - Defaults to the E(ONE_URL) environment variable, then C(http://localhost:2633/RPC2).
    type: str
    env:
      - name: ONE_URL
  api_username:
    description:
      - OpenNebula user name. Defaults to E(ONE_USERNAME), then the user of the E(ONE_AUTH) file.
    type: str
    env:
      - name: ONE_USERNAME
  api_password:
    description:
      - Password or login token of O(api_username). Defaults to E(ONE_PASSWORD), then the E(ONE_AUTH) file.
    type: str
    env:
      - name: ONE_PASSWORD
  validate_certs:
    description: Whether the TLS certificate of an C(https://) endpoint is verified.
    type: bool
    default: true
  api_timeout:
    description: Seconds to wait for oned to answer one XML-RPC call.
    type: int
    default: 60
  hostname:
    description:
      - How a VM is named in the inventory, by preference; the first that the VM has wins.
      - V(v4_first_ip) is the first IPv4 address of its NICs, V(v6_first_ip) the first IPv6 one, V(name) the VM name.
    type: list
    elements: str
    choices: [v4_first_ip, v6_first_ip, name]
    default: [v4_first_ip, v6_first_ip, name]
  group_by_labels:
    description: Add each VM to one group per label (the label made a valid group name, prefixed by O(label_group_prefix)).
    type: bool
    default: true
  label_group_prefix:
    description: Prefix of the label groups.
    type: str
    default: ''
  group_by_template:
    description: Add each VM to the group C(template_<template name>) (one more XML-RPC call to read the template names).
    type: bool
    default: true
  group_by_state:
    description: Add each VM to the group C(state_<status>) (C(state_running), C(state_poweredoff), C(state_failure) ...).
    type: bool
    default: true
  filters:
    description: Only VMs that pass every filter given.
    type: dict
    default: {}
    suboptions:
      labels:
        description: VMs carrying all these labels.
        type: list
        elements: str
      states:
        description:
          - VMs in one of these states, matched like the C(states) option of M(nebulavoip.cloud.one_vm_info)
            (V(running), V(poweredoff), V(failure), V(ACTIVE), V(BOOT_FAILURE) ...).
        type: list
        elements: str
      name_regex:
        description: VMs whose name matches this Python regular expression.
        type: str
      template:
        description: VMs instantiated from this template (name or ID).
        type: str
'''

EXAMPLES = r'''
# voip.opennebula.yml -- every running VM, grouped by label, reachable on its first IPv4
plugin: nebulavoip.cloud.opennebula
api_url: http://frontend:2633/RPC2
hostname: [name]
filters:
  states: [running]
groups:
  voip_servers: "'server' in opennebula.labels"
  voip_clients: "'client' in opennebula.labels"
keyed_groups:
  - key: opennebula.host
    prefix: on_host
compose:
  ansible_user: "'debian'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/opennebula-inventory
'''

import re  # noqa: E402

from ansible.errors import AnsibleError  # noqa: E402
from ansible.inventory.group import to_safe_group_name  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable  # noqa: E402
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_template import as_list  # noqa: E402
from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_vm import describe_vm  # noqa: E402
from ansible_collections.nebulavoip.cloud.plugins.module_utils.opennebula import HAS_PYONE, OneError, connect, to_data  # noqa: E402


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'nebulavoip.cloud.opennebula'

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(('opennebula.yml', 'opennebula.yaml'))

    # -- reading ------------------------------------------------------------
    def _fetch(self):
        if not HAS_PYONE:
            raise AnsibleError('the nebulavoip.cloud.opennebula inventory needs the pyone Python library on the controller')
        try:
            one = connect(api_url=self.get_option('api_url'), api_username=self.get_option('api_username'),
                          api_password=self.get_option('api_password'), validate_certs=self.get_option('validate_certs'),
                          api_timeout=self.get_option('api_timeout'))
            pool = one.vmpool.infoextended(-2, -1, -1, -1)
            vms = [describe_vm(to_data(doc)) for doc in as_list(getattr(pool, 'VM', None))]
            names = {}
            if self.get_option('group_by_template') or (self.get_option('filters') or {}).get('template'):
                tpool = one.templatepool.info(-2, -1, -1)
                names = {int(t.ID): t.NAME for t in as_list(getattr(tpool, 'VMTEMPLATE', None))}
        except OneError as exc:
            raise AnsibleError(f'OpenNebula inventory: {exc}') from None
        for vm in vms:
            vm['template_name'] = names.get(vm['template_id'])
        return vms

    # -- selecting ----------------------------------------------------------
    def _passes(self, vm):
        filters = self.get_option('filters') or {}
        labels = filters.get('labels') or []
        if any(label not in vm['labels'] for label in labels):
            return False
        states = [s.strip().lower() for s in filters.get('states') or []]
        if states and not {vm['status'], vm['state'].lower(), vm['lcm_state'].lower(), vm['state_name'].lower()} & set(states):
            return False
        if filters.get('name_regex'):
            try:
                if not re.search(filters['name_regex'], vm['name'] or ''):
                    return False
            except re.error as exc:
                raise AnsibleError(f'filters.name_regex {filters["name_regex"]!r} is not a valid regular expression: {exc}') from None
        template = filters.get('template')
        if template is not None:
            text = str(template).strip()
            if text.isdigit() and vm['template_id'] != int(text):
                return False
            if not text.isdigit() and vm.get('template_name') != text:
                return False
        return True

    def _hostname(self, vm):
        for choice in self.get_option('hostname'):
            if choice == 'v4_first_ip' and vm['ipv4']:
                return vm['ipv4'][0]
            if choice == 'v6_first_ip' and vm['ipv6']:
                return vm['ipv6'][0]
            if choice == 'name' and vm['name']:
                return vm['name']
        return vm['name'] or 'one-{}'.format(vm['id'])

    # -- populating -----------------------------------------------------------
    def _populate(self, vms):
        strict = self.get_option('strict')
        seen = {}
        for vm in sorted(vms, key=lambda v: v['id']):
            if not self._passes(vm):
                continue
            host = self._hostname(vm)
            if host in seen:
                self.display.warning(f'OpenNebula inventory: VMs {seen[host]} and {vm["id"]} are both {host!r}; '
                                     f'the second one is named {host}-{vm["id"]}')
                host = f'{host}-{vm["id"]}'
            seen[host] = vm['id']
            self.inventory.add_host(host)
            hostvars = {'opennebula': vm}
            if vm['first_ip']:
                hostvars['ansible_host'] = vm['first_ip']
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            groups = []
            if self.get_option('group_by_labels'):
                groups.extend(self.get_option('label_group_prefix') + label for label in vm['labels'])
            if self.get_option('group_by_template') and vm.get('template_name'):
                groups.append('template_' + vm['template_name'])
            if self.get_option('group_by_state'):
                groups.append('state_' + vm['status'])
            for group in groups:
                group = self.inventory.add_group(to_safe_group_name(group, force=True, silent=True))
                self.inventory.add_child(group, host)
            self._set_composite_vars(self.get_option('compose'), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), hostvars, host, strict=strict)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        user_cache = self.get_option('cache')
        use_cache = cache and user_cache
        update_cache = user_cache and not cache
        vms = None
        if use_cache:
            try:
                vms = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if vms is None:
            vms = self._fetch()
        if update_cache:
            self._cache[cache_key] = vms
        self._populate(vms)
