#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: one_system_info
short_description: OpenNebula version and selected oned configuration
version_added: 0.1.0
description:
  - Asks oned for its version (C(one.system.version)) and, when O(config) names attributes, for their values in the
    running configuration (C(one.system.config)).
  - Read-only. A failure (oned not reachable, wrong credentials ...) is reported with one clear message, so roles can
    use this module with C(retries)/C(until) to wait until the XML-RPC API answers.
author:
  - NebulaVoIP maintainers (@nebulavoip)
extends_documentation_fragment:
  - nebulavoip.cloud.opennebula
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module never changes anything; it runs the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  config:
    description:
      - Names of top-level attributes of the running oned configuration to return, for example V([PORT, DB]).
      - Names are matched case-insensitively. V(all) returns every attribute.
      - Attributes oned does not report are left out of RV(config).
    type: list
    elements: str
    default: []
notes:
  - The common options O(wait) and O(wait_timeout) are accepted for uniformity and not used.
'''

EXAMPLES = r'''
- name: Wait until oned answers (up to about a minute)
  nebulavoip.cloud.one_system_info:
    api_url: http://frontend:2633/RPC2
    api_username: oneadmin
    api_password: "{{ oneadmin_password }}"
    api_timeout: 5
  register: one_system
  retries: 30
  delay: 2
  until: one_system is succeeded

- name: Version and the database backend
  nebulavoip.cloud.one_system_info:
    config: [DB, PORT]
  register: one_system

- name: Show them
  ansible.builtin.debug:
    msg: "OpenNebula {{ one_system.version }} on port {{ one_system.config.PORT }}"
'''

RETURN = r'''
version:
  description: oned's version.
  returned: always
  type: str
  sample: 7.2.0
version_info:
  description: The version split into numbers.
  returned: always
  type: dict
  contains:
    major: {description: Major version, type: int, sample: 7}
    minor: {description: Minor version, type: int, sample: 2}
    micro: {description: Micro version (0 when not given), type: int, sample: 0}
api_url:
  description: The endpoint that answered.
  returned: always
  type: str
  sample: http://frontend:2633/RPC2
username:
  description: The user the calls were made as.
  returned: always
  type: str
  sample: oneadmin
config:
  description:
    - The requested attributes of the running configuration, by upper-case name; vectors are dicts, repeated
      attributes are lists.
  returned: always
  type: dict
  sample: {PORT: '2633', DB: {BACKEND: sqlite, TIMEOUT: '2500'}}
xmlrpc_calls:
  description: Number of XML-RPC calls the run made.
  returned: always
  type: int
  sample: 1
'''

import re

from ansible_collections.nebulavoip.cloud.plugins.module_utils.one_base import OneModule, to_data


def version_info(text):
    """``'7.2.0'`` -> ``{'major': 7, 'minor': 2, 'micro': 0}`` (missing parts are 0)."""
    numbers = [int(n) for n in re.findall(r'\d+', str(text))[:3]]
    numbers += [0] * (3 - len(numbers))
    return dict(zip(('major', 'minor', 'micro'), numbers))


def select_config(config, names):
    """The attributes of ``config`` (a dict) named in ``names`` (case-insensitive; ``all`` = every one)."""
    config = config or {}
    if any(str(n).lower() == 'all' for n in names):
        return {str(k).upper(): v for k, v in config.items()}
    by_upper = {str(k).upper(): k for k in config}
    selected = {}
    for name in names:
        key = by_upper.get(str(name).upper())
        if key is not None:
            selected[str(key).upper()] = config[key]
    return selected


class OneSystemInfo(OneModule):
    def __init__(self):
        super().__init__({'config': {'type': 'list', 'elements': 'str', 'default': []}})

    def run(self):
        version = self.one.system.version()
        if isinstance(version, (list, tuple)):  # pragma: no cover - pyone returns the value itself
            version = version[1]
        version = str(version)
        config = {}
        if self.params['config']:
            config = select_config(to_data(self.one.system.config()), self.params['config'])
        return {
            'changed': False,
            'version': version,
            'version_info': version_info(version),
            'api_url': self.one.url,
            'username': getattr(self.one, 'username', None),
            'config': config,
        }


def main():
    OneSystemInfo().execute()


if __name__ == '__main__':
    main()
