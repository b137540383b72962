# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process and return what it exited or failed with."""

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class ModuleExit(Exception):
    """Raised in place of sys.exit by the patched exit_json/fail_json."""


def run_module(monkeypatch, module, args):
    """The result dict of ``module.main()`` with ``args`` (``failed: true`` when it failed)."""
    result = {}

    def exit_json(self, **kw):
        result.update(kw)
        raise ModuleExit()

    def fail_json(self, **kw):
        kw["failed"] = True
        result.update(kw)
        raise ModuleExit()

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    try:
        from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
    except ImportError:  # pragma: no cover
        patch_module_args = None
    if patch_module_args is not None:
        with patch_module_args(args):
            with pytest.raises(ModuleExit):
                module.main()
    else:  # pragma: no cover
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
        with pytest.raises(ModuleExit):
            module.main()
    return result
