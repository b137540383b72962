"""Fixtures for the tools tests: a running OpenNebula emulator and the reference data."""

from __future__ import annotations

import os
import sys
import time
from typing import Dict, List, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.one_emulator.testing import EmulatorThread  # noqa: E402  pylint: disable=wrong-import-position

REFERENCE_DIR = os.environ.get("ONE_REFERENCE_DIR", os.path.join(ROOT, "..", "shared", "opennebula-7.2"))

# every XML document any emulator fixture returned during the session, as (method, xml); validated by
# test_zz_emulator_xsd.py
DOCUMENTS: List[Tuple[str, str]] = []

XSD_BY_ROOT = {
    "VM": "vm.xsd", "VM_POOL": "vm_pool.xsd", "HOST": "host.xsd", "HOST_POOL": "host_pool.xsd", "VNET": "vnet.xsd",
    "VNET_POOL": "vnet_pool.xsd", "IMAGE": "image.xsd", "IMAGE_POOL": "image_pool.xsd", "VMTEMPLATE": "vmtemplate.xsd",
    "VMTEMPLATE_POOL": "vmtemplate_pool.xsd", "USER": "user.xsd", "USER_POOL": "user_pool.xsd", "GROUP": "group.xsd",
    "GROUP_POOL": "group_pool.xsd", "CLUSTER": "cluster.xsd", "CLUSTER_POOL": "cluster_pool.xsd", "DATASTORE": "datastore.xsd",
    "DATASTORE_POOL": "datastore_pool.xsd", "MONITORING_DATA": "monitoring_data.xsd",
    "OPENNEBULA_CONFIGURATION": "opennebula_configuration.xsd",
}
NAMESPACE = "http://opennebula.org/XMLSchema"
_SCHEMAS: Dict[str, object] = {}


def xsd_for(method: str, root: str, xml: str) -> str:
    """Schema file for a document returned by ``method``."""
    if root == "VM_POOL" and (method == "one.vmpool.infoextended" or (method == "one.vmpool.infoset" and "<PERMISSIONS>" in xml)):
        return "vm_pool_extended.xsd"
    return XSD_BY_ROOT[root]


def validate(reference: str, method: str, xml: str) -> None:
    """Validate one oned document against the official XSD (after moving it into the schema namespace)."""
    import xml.etree.ElementTree as ET  # pylint: disable=import-outside-toplevel

    import xmlschema  # pylint: disable=import-outside-toplevel
    root = ET.fromstring(xml)
    name = xsd_for(method, root.tag, xml)
    if name not in _SCHEMAS:
        _SCHEMAS[name] = xmlschema.XMLSchema(os.path.join(reference, "xsd", name))
    for elem in root.iter():
        elem.tag = "{%s}%s" % (NAMESPACE, elem.tag)
    _SCHEMAS[name].validate(ET.tostring(root, encoding="unicode"))  # type: ignore[attr-defined]


@pytest.fixture
def emulator():
    """A fresh emulator (thread, speed 50) for one test."""
    with EmulatorThread(speed=50, record=DOCUMENTS) as emu:
        yield emu


@pytest.fixture
def one(emulator):  # pylint: disable=redefined-outer-name
    """A pyone client on the fresh emulator."""
    pyone = pytest.importorskip("pyone")
    return pyone.OneServer(emulator.url, session=emulator.session)


@pytest.fixture(scope="session")
def reference_dir():
    """The OpenNebula 7.2 reference data (XSDs, golden recordings)."""
    if not os.path.isdir(REFERENCE_DIR):
        pytest.skip("reference data not found (set ONE_REFERENCE_DIR)")
    return REFERENCE_DIR


# ------------------------------------------------------------------ life-cycle helpers
NET = ('NAME="net"\nVN_MAD="bridge"\nBRIDGE="br0"\nAR=[TYPE="IP4",IP="10.0.0.10",SIZE="4"]\n'
       'NETWORK_ADDRESS="10.0.0.0"\nNETWORK_MASK="255.255.255.0"\nGATEWAY="10.0.0.1"\nDNS="10.0.0.2"')


def wait_for(func, timeout=10.0):
    """Poll ``func`` until it returns a truthy value."""
    end = time.time() + timeout
    while time.time() < end:
        value = func()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def vm_state(one, vid):
    """(STATE, LCM_STATE) of a VM."""
    info = one.vm.info(vid)
    return info.STATE, info.LCM_STATE


@pytest.fixture
def infra(one):  # pylint: disable=redefined-outer-name
    """A MONITORED host, a READY vnet, a READY image and a template using both."""
    hid = one.host.allocate("host01", "dummy", "dummy", -1)
    vnid = one.vn.allocate(NET, -1)
    iid = one.image.allocate('NAME="img"\nTYPE="DATABLOCK"\nSIZE="16"', 1, False)
    tid = one.template.allocate('NAME="tpl"\nCPU="0.5"\nVCPU="1"\nMEMORY="128"\nDISK=[IMAGE_ID="%d"]\nNIC=[NETWORK_ID="%d"]\n'
                                'CONTEXT=[NETWORK="YES"]\nGRAPHICS=[TYPE="VNC",LISTEN="0.0.0.0"]\nLABELS="voip"' % (iid, vnid))
    wait_for(lambda: one.host.info(hid).STATE == 2)
    wait_for(lambda: one.image.info(iid).STATE == 1 and one.vn.info(vnid).STATE == 1)
    return {"host": hid, "vnet": vnid, "image": iid, "template": tid}
