"""Permissions of a non-admin user, --state persistence across a restart, the VM backend hook, persistent instantiation."""

from __future__ import annotations

import pytest
from conftest import vm_state, wait_for  # pylint: disable=import-error

from tools.one_emulator.backend import VMBackend
from tools.one_emulator.testing import EmulatorProcess, EmulatorThread

pyone = pytest.importorskip("pyone")


# ------------------------------------------------------------------ permissions
def test_non_admin_user_is_refused_others_objects_and_uses_its_own(one, emulator, infra):
    uid = one.user.allocate("alice", "secret", "core", [])
    alice = pyone.OneServer(emulator.url, session="alice:secret")
    raw = emulator.rpc()
    # oneadmin's template, image, vnet (owner-only permissions 1,1,0,0,0,0,0,0,0): 0x200 AUTHORIZATION
    answer = getattr(raw, "one.template.info")("alice:secret", infra["template"])
    assert answer[:3] == [False, "[one.template.info] User [%d] : Not authorized to perform USE TEMPLATE [%d]." % (uid, infra["template"]),
                          0x200]
    for call in (lambda: alice.image.info(infra["image"]), lambda: alice.vn.info(infra["vnet"]),
                 lambda: alice.template.instantiate(infra["template"], "x", False, "", False),
                 lambda: alice.host.allocate("h2", "dummy", "dummy", -1)):
        with pytest.raises(pyone.OneAuthorizationException):
            call()
    # its own objects work, and pools show only what it may use
    tid = alice.template.allocate('NAME="mine"\nCPU="0.1"\nMEMORY="32"')
    vid = alice.template.instantiate(tid, "my-vm", False, "", False)
    assert alice.vm.info(vid).UNAME == "alice"
    assert [t.ID for t in alice.templatepool.info(-2, -1, -1).VMTEMPLATE] == [tid]
    assert [v.ID for v in alice.vmpool.info(-3, -1, -1, -1).VM] == [vid]
    with pytest.raises(pyone.OneAuthorizationException):
        alice.vm.deploy(vid, infra["host"], False, -1)  # deploy needs ADMIN on the VM
    # oneadmin sees and may manage everything; sharing with the group grants USE
    assert one.vm.info(vid).UID == uid
    one.template.chmod(infra["template"], -1, -1, -1, -1, -1, -1, 1, -1, -1)
    assert alice.template.info(infra["template"]).NAME == "tpl"
    alice.vm.action("terminate-hard", vid)
    wait_for(lambda: vm_state(one, vid) == (6, 0))


# ------------------------------------------------------------------ --state
def test_state_file_keeps_objects_ids_next_ids_and_vm_states_across_a_restart(tmp_path):
    state = str(tmp_path / "one.json")
    with EmulatorProcess(speed=50, state=state) as emu:
        one = pyone.OneServer(emu.url, session=emu.session)
        hid = one.host.allocate("host01", "dummy", "dummy", -1)
        vnid = one.vn.allocate('NAME="net"\nVN_MAD="bridge"\nAR=[TYPE="IP4",IP="10.0.0.10",SIZE="4"]', -1)
        iid = one.image.allocate('NAME="img"\nTYPE="DATABLOCK"\nSIZE="16"', 1, False)
        tid = one.template.allocate('NAME="tpl"\nCPU="0.1"\nMEMORY="32"\nDISK=[IMAGE_ID="%d"]\nNIC=[NETWORK_ID="%d"]' % (iid, vnid))
        wait_for(lambda: one.host.info(hid).STATE == 2 and one.image.info(iid).STATE == 1)
        running = one.template.instantiate(tid, "running", False, "", False)
        off = one.template.instantiate(tid, "off", False, "", False)
        held = one.template.instantiate(tid, "held", True, "", False)
        wait_for(lambda: vm_state(one, running) == (3, 3) and vm_state(one, off) == (3, 3))
        one.vm.action("poweroff", off)
        wait_for(lambda: vm_state(one, off) == (8, 0))
        before = {v.ID: (v.STATE, v.LCM_STATE, v.NAME) for v in one.vmpool.info(-2, -1, -1, -1).VM}
        ip_of_running = one.vm.info(running).TEMPLATE["NIC"]["IP"]
    with EmulatorProcess(speed=50, state=state) as emu:
        one = pyone.OneServer(emu.url, session=emu.session)
        after = {v.ID: (v.STATE, v.LCM_STATE, v.NAME) for v in one.vmpool.info(-2, -1, -1, -1).VM}
        assert after == before == {running: (3, 3, "running"), off: (8, 0, "off"), held: (2, 0, "held")}
        assert (one.host.info(hid).NAME, one.vn.info(vnid).NAME, one.image.info(iid).NAME, one.template.info(tid).NAME) == (
            "host01", "net", "img", "tpl")
        assert one.vm.info(running).TEMPLATE["NIC"]["IP"] == ip_of_running
        assert one.vn.info(vnid).USED_LEASES == 3
        # next IDs continue where they stopped (oned never reuses an ID)
        assert one.template.allocate('NAME="tpl2"\nCPU="0.1"\nMEMORY="32"') == tid + 1
        assert one.vm.allocate('NAME="new"\nCPU="0.1"\nMEMORY="32"', True) == held + 1
        # the restored VMs keep working
        one.vm.action("resume", off)
        wait_for(lambda: vm_state(one, off) == (3, 3))
        one.vm.action("release", held)
        wait_for(lambda: vm_state(one, held) == (3, 3))


# ------------------------------------------------------------------ backend hook
class RecordingBackend(VMBackend):
    """Records every hook call as (hook, VM ID, STATE, LCM_STATE)."""

    def __init__(self) -> None:
        self.calls = []

    def on_running(self, vm):
        self.calls.append(("on_running", vm["id"], vm["state"], vm["lcm"]))

    def on_poweroff(self, vm):
        self.calls.append(("on_poweroff", vm["id"], vm["state"], vm["lcm"]))

    def on_resume(self, vm):
        self.calls.append(("on_resume", vm["id"], vm["state"], vm["lcm"]))

    def on_terminate(self, vm):
        self.calls.append(("on_terminate", vm["id"], vm["state"], vm["lcm"]))

    def monitoring(self, vm):
        return {"CPU": 42, "MEMORY": 4242}


def test_backend_hook_sees_running_poweroff_resume_and_terminate_in_order():
    backend = RecordingBackend()
    with EmulatorThread(speed=50, backend=backend) as emu:
        one = pyone.OneServer(emu.url, session=emu.session)
        hid = one.host.allocate("host01", "dummy", "dummy", -1)
        wait_for(lambda: one.host.info(hid).STATE == 2)
        vid = one.vm.allocate('NAME="vm"\nCPU="0.1"\nMEMORY="32"', False)
        wait_for(lambda: vm_state(one, vid) == (3, 3))
        wait_for(lambda: one.vm.monitoring(vid).MONITORING, timeout=20)
        assert one.vm.monitoring(vid).MONITORING[-1].CPU == 42  # real figures from the backend
        one.vm.action("poweroff", vid)
        wait_for(lambda: vm_state(one, vid) == (8, 0))
        one.vm.action("resume", vid)
        wait_for(lambda: vm_state(one, vid) == (3, 3))
        one.vm.action("terminate", vid)
        wait_for(lambda: vm_state(one, vid) == (6, 0))
    assert [c[0] for c in backend.calls] == ["on_running", "on_poweroff", "on_resume", "on_running", "on_poweroff", "on_terminate"]
    assert backend.calls[0][2:] == (3, 3) and backend.calls[-1][2:] == (6, 0)


class BrokenBackend(VMBackend):
    """Fails on every hook."""

    def on_running(self, vm):
        raise RuntimeError("container runtime unavailable")


def test_a_failing_backend_never_changes_oned_behaviour(capsys):
    with EmulatorThread(speed=50, backend=BrokenBackend()) as emu:
        one = pyone.OneServer(emu.url, session=emu.session)
        one.host.allocate("host01", "dummy", "dummy", -1)
        vid = one.vm.allocate('NAME="vm"\nCPU="0.1"\nMEMORY="32"', False)
        wait_for(lambda: vm_state(one, vid) == (3, 3))
    # on stderr: stdout carries only the CLI's ready line
    assert "backend on_running failed for VM %d: container runtime unavailable" % vid in capsys.readouterr().err


# ------------------------------------------------------------------ template.instantiate persistent
def test_persistent_instantiation_clones_template_and_images_as_persistent_copies(one, infra):
    vid = one.template.instantiate(infra["template"], "pvm", False, "", True)
    templates = {t.NAME: t.ID for t in one.templatepool.info(-2, -1, -1).VMTEMPLATE}
    assert set(templates) == {"tpl", "pvm"}
    images = {i.NAME: i for i in one.imagepool.info(-2, -1, -1).IMAGE}
    assert set(images) == {"img", "pvm-disk-0"}
    copy = images["pvm-disk-0"]
    assert (copy.PERSISTENT, images["img"].PERSISTENT) == (1, 0)
    vm = one.vm.info(vid)
    disk = vm.TEMPLATE["DISK"]
    assert (disk["IMAGE_ID"], disk["IMAGE"], disk["PERSISTENT"], disk["CLONE"], disk["SAVE"]) == (str(copy.ID), "pvm-disk-0", "YES", "NO", "YES")
    assert vm.TEMPLATE["TEMPLATE_ID"] == str(templates["pvm"])
    assert one.template.info(templates["pvm"]).TEMPLATE["DISK"]["IMAGE_ID"] == str(copy.ID)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    assert one.image.info(copy.ID).STATE == 8  # USED_PERS
    assert one.image.info(infra["image"]).RUNNING_VMS == 0
    # a second persistent instantiation under the same name collides on the template name, like oned
    with pytest.raises(pyone.OneInternalException, match="NAME is already taken by TEMPLATE"):
        one.template.instantiate(infra["template"], "pvm", False, "", True)
