#!/usr/bin/python
# Copyright: NebulaVoIP contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Test-only helper: one raw oned XML-RPC call (fixtures the modules under test do not make).

import os
import xmlrpc.client

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r'''
---
module: one_rpc
short_description: Make one raw OpenNebula XML-RPC call in integration tests
description:
  - Calls C(method) with the session from E(ONE_USERNAME)/E(ONE_PASSWORD) and the given arguments.
options:
  method:
    description: XML-RPC method, for example C(one.host.allocate).
    type: str
    required: true
  args:
    description: Positional arguments after the session.
    type: list
    elements: raw
    default: []
author:
  - NebulaVoIP maintainers
'''


def main():
    module = AnsibleModule(argument_spec={
        'method': {'type': 'str', 'required': True},
        'args': {'type': 'list', 'elements': 'raw', 'default': []},
    })
    url = os.environ['ONE_URL']
    session = '%s:%s' % (os.environ.get('ONE_USERNAME', 'oneadmin'), os.environ.get('ONE_PASSWORD', ''))
    proxy = xmlrpc.client.ServerProxy(url, allow_none=True)
    answer = getattr(proxy, module.params['method'])(session, *module.params['args'])
    if not answer[0]:
        module.fail_json(msg=str(answer[1]), answer=answer)
    module.exit_json(changed=False, result=answer[1])


if __name__ == '__main__':
    main()
