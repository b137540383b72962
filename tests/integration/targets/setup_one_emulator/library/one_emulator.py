#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Test-only helper: talks to tools/one_emulator's emulator.* XML-RPC methods.

DOCUMENTATION = r'''
---
module: one_emulator
short_description: Drive the OpenNebula emulator in integration tests
description:
  - Reads or resets the emulator's call counters, injects faults, puts hosts into ERROR.
options:
  action:
    description: emulator method without the C(emulator.) prefix.
    type: str
    required: true
    choices: [stats, reset_stats, fail_next, clear_faults, host_error, drop_next, latency]
  args:
    description: Positional arguments after the session.
    type: list
    elements: raw
    default: []
author:
  - NebulaVoIP maintainers
'''

import os  # noqa: E402
import xmlrpc.client  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def main():
    module = AnsibleModule(argument_spec={
        'action': {'type': 'str', 'required': True,
                   'choices': ['stats', 'reset_stats', 'fail_next', 'clear_faults', 'host_error', 'drop_next', 'latency']},
        'args': {'type': 'list', 'elements': 'raw', 'default': []},
    }, supports_check_mode=False)
    url = os.environ['ONE_URL']
    session = '%s:%s' % (os.environ.get('ONE_USERNAME', 'oneadmin'), os.environ.get('ONE_PASSWORD', ''))
    proxy = xmlrpc.client.ServerProxy(url, allow_none=True)
    answer = getattr(proxy, 'emulator.' + module.params['action'])(session, *module.params['args'])
    if isinstance(answer, list) and answer and answer[0] is False:
        module.fail_json(msg=str(answer[1]), answer=answer)
    value = answer[1] if isinstance(answer, list) and answer and answer[0] is True else answer
    module.exit_json(changed=False, result=value)


if __name__ == '__main__':
    main()
