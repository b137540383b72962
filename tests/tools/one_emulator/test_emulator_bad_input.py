"""Bad input gets oned's exact answer (from the golden recording), never a Python traceback over the wire.

The recorded request bodies are replayed unchanged (session ``oneadmin:onepass``) against a fresh emulator and
the answers compared with the recorded ones: the whole result array, or the fault code and string.
"""

from __future__ import annotations

import itertools
import json
import os
import urllib.request
import xmlrpc.client

import pytest

from tools.one_emulator.emulator import Emulator
from tools.one_emulator.errors import RpcFault
from tools.one_emulator.testing import EmulatorThread

ERROR_CODES = {0x100, 0x200, 0x400, 0x800, 0x1000, 0x2000, 0x4000, 0x8000}


@pytest.fixture(scope="module")
def golden(reference_dir):
    """seq -> index entry of the golden recording."""
    path = os.path.join(reference_dir, "golden")
    with open(os.path.join(path, "index.json"), encoding="utf-8") as handle:
        return {e["seq"]: dict(e, root=path) for e in json.load(handle)}


@pytest.fixture(scope="module")
def onepass():
    """An emulator with the recording's credentials and one VM template (ID 0)."""
    with EmulatorThread(password="onepass", speed=50) as emu:
        emu.call("one.template.allocate", 'NAME="t"\nCPU="1"\nMEMORY="64"')
        yield emu


def _answer(data: bytes):
    try:
        return xmlrpc.client.loads(data.decode())[0][0]
    except xmlrpc.client.Fault as fault:
        return ("fault", fault.faultCode, fault.faultString)


def replay(emu, entry):
    """(recorded answer, emulator answer) for one golden request."""
    with open(os.path.join(entry["root"], entry["request"]), "rb") as handle:
        body = handle.read()
    with open(os.path.join(entry["root"], entry["response"]), "rb") as handle:
        want = _answer(handle.read())
    req = urllib.request.Request(emu.url, data=body, headers={"Content-Type": "text/xml"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        got = _answer(resp.read())
    return want, got


@pytest.mark.parametrize("seq", [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 27])
def test_wrong_credentials_get_0x100_user_could_not_be_authenticated(golden, onepass, seq):
    want, got = replay(onepass, golden[seq])
    assert got == want
    assert got[2] == 0x100 and got[1].endswith("] User couldn't be authenticated, aborting call.")


@pytest.mark.parametrize("seq", [23, 92])
def test_unknown_method_is_xmlrpc_fault_506(golden, onepass, seq):
    want, got = replay(onepass, golden[seq])
    assert got == want
    assert got[:2] == ("fault", -506)


@pytest.mark.parametrize("seq", [24, 25, 26])
def test_wrong_argument_type_or_count_is_xmlrpc_fault_501_or_500(golden, onepass, seq):
    want, got = replay(onepass, golden[seq])
    assert got == want
    assert got[1] in (-501, -500)


def test_body_that_is_not_xml_rpc_is_fault_503(golden, onepass):
    want, got = replay(onepass, golden[28])
    assert got == want
    assert got[1] == -503


@pytest.mark.parametrize("seq", [42, 43, 65, 69, 74, 129, 131, 142, 184, 185, 190, 191, 219, 223, 226, 329, 330])
def test_unknown_ids_get_0x400_error_getting_object(golden, onepass, seq):
    want, got = replay(onepass, golden[seq])
    assert got == want
    assert got[2] == 0x400 and "Error getting " in got[1]


@pytest.mark.parametrize("seq", [130, 220, 222])
def test_malformed_templates_get_0x2000_parse_error_with_position(golden, onepass, seq):
    want, got = replay(onepass, golden[seq])
    assert got == want
    assert got[2] == 0x2000 and "Parse error: syntax error" in got[1]


VALUES = {
    "s": ["", "x", 'A="1"', "[", 'NIC=[NETWORK_ID="0"]', 'DISK=[IMAGE_ID="0"]', 'LEASES=[IP="10.0.0.2"]', 'AR=[AR_ID="0",SIZE="0"]',
          'SIZE="1"\nNAME="r"', "poweroff", "1,2,x", 'CPU="-1"\nMEMORY="x"', 'CONTEXT=[A="1"]'],
    "i": [-3, -1, 0, 1, 9, 2 ** 31 - 1, -2 ** 31],
    "b": [True, False],
    "d": [0.0, -1.0],
    "a": [[], [0], [999], ["x"]],
}
CLOCK_METHODS = {"emulator.advance", "emulator.freeze", "emulator.speed", "emulator.latency", "emulator.step"}


def test_any_method_with_odd_arguments_answers_like_oned_never_a_python_exception():
    """Every registered method, called with many combinations of well-typed but odd values, returns oned's
    ``[false, "[method] ...", code, id, -1]`` or an xmlrpc-c fault - no exception escapes the dispatcher."""
    emu = Emulator(password="pw", speed=1000)
    emu.engine.freeze(True)
    session = "oneadmin:pw"
    emu.dispatch("one.host.allocate", (session, "h", "dummy", "dummy", -1))
    emu.dispatch("one.vn.allocate", (session, 'NAME="n"\nVN_MAD="bridge"\nAR=[TYPE="IP4",IP="10.0.0.1",SIZE="4"]', -1))
    emu.dispatch("one.image.allocate", (session, 'NAME="i"\nTYPE="DATABLOCK"\nSIZE="1"', 1))
    emu.dispatch("one.template.allocate", (session, 'NAME="t"\nCPU="1"\nMEMORY="1"\nDISK=[IMAGE_ID="0"]\nNIC=[NETWORK_ID="0"]'))
    emu.dispatch("one.template.instantiate", (session, 0, "v", False, ""))
    emu.engine.advance(20)
    calls, escaped = 0, []
    for name, meth in sorted(emu.methods.items()):
        if name in CLOCK_METHODS:
            continue
        pools = [VALUES[code] for code in meth.required[1:] + meth.optional]
        combos = itertools.islice(itertools.product(*pools), 60) if len(pools) <= 3 else \
            [tuple(p[i % len(p)] for p in pools) for i in range(20)]
        for args in combos:
            calls += 1
            try:
                answer = emu.dispatch(name, (session,) + tuple(args))
            except RpcFault as fault:
                assert fault.code in (-500, -501, -503, -506)
                continue
            except Exception as exc:  # pylint: disable=broad-except
                escaped.append("%s%r: %s: %s" % (name, args, type(exc).__name__, exc))
                continue
            if not answer[0]:
                assert answer[1].startswith("[") and answer[2] in ERROR_CODES and answer[4] == -1, (name, args, answer)
            emu.engine.step()
    assert calls > 2000
    assert not escaped, "\n".join(escaped[:20])
