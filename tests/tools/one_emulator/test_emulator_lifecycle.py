"""pyone 7.2 drives a full host / vnet / image / template / VM life cycle against the emulator."""

from __future__ import annotations

import pytest
from conftest import NET, vm_state, wait_for  # noqa: F401  pylint: disable=import-error,unused-import

pyone = pytest.importorskip("pyone")


def test_host_goes_from_init_to_monitored_with_capacity(one):
    hid = one.host.allocate("host01", "dummy", "dummy", -1)
    assert hid == 0
    assert one.host.info(hid).STATE == 0
    wait_for(lambda: one.host.info(hid).STATE == 2)
    share = one.host.info(hid).HOST_SHARE
    assert (share.TOTAL_CPU, share.TOTAL_MEM) == (800, 16777216)
    assert [h.NAME for h in one.hostpool.info().HOST] == ["host01"]


def test_vm_runs_through_pending_prolog_boot_running_and_charges_the_host(one, infra):
    vid = one.template.instantiate(infra["template"], "vm1", False, "", False)
    assert vm_state(one, vid) == (1, 0)
    vm = one.vm.info(vid)
    assert vm.TEMPLATE["NIC"]["IP"] == "10.0.0.10"
    assert vm.USER_TEMPLATE["LABELS"] == "voip"
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    vm = one.vm.info(vid)
    assert vm.DEPLOY_ID == "host01:vm1:dummy"
    assert vm.HISTORY_RECORDS.HISTORY[0].HOSTNAME == "host01"
    share = one.host.info(infra["host"]).HOST_SHARE
    assert (share.CPU_USAGE, share.MEM_USAGE, share.RUNNING_VMS) == (50, 131072, 1)
    img = one.image.info(infra["image"])
    assert (img.STATE, img.RUNNING_VMS) == (2, 1)


def test_vm_actions_follow_oned_transitions(one, infra):
    vid = one.template.instantiate(infra["template"], "vm1", False, "", False)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    one.vm.action("poweroff", vid)
    wait_for(lambda: vm_state(one, vid) == (8, 0))
    one.vm.resize(vid, 'CPU="1"\nMEMORY="256"', True)
    one.vm.action("resume", vid)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    # deploy record closed by resize in POWEROFF (ACTION 35) + its copy keeping the poweroff ACTION 19 + the resume record (golden seq 259, 262)
    assert [int(h.ACTION) for h in one.vm.info(vid).HISTORY_RECORDS.HISTORY] == [35, 19, 0]
    with pytest.raises(pyone.OneActionException, match="not available for state RUNNING"):
        one.vm.action("resume", vid)
    one.vm.action("suspend", vid)
    wait_for(lambda: vm_state(one, vid) == (5, 0))
    one.vm.action("resume", vid)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    one.vm.action("undeploy", vid)
    wait_for(lambda: vm_state(one, vid) == (9, 0))
    assert one.host.info(infra["host"]).HOST_SHARE.RUNNING_VMS == 0
    one.vm.action("resume", vid)
    assert vm_state(one, vid) == (1, 0)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    one.vm.action("terminate-hard", vid)
    wait_for(lambda: vm_state(one, vid) == (6, 0))
    assert one.vn.info(infra["vnet"]).USED_LEASES == 0
    assert one.image.info(infra["image"]).STATE == 1
    assert one.host.info(infra["host"]).HOST_SHARE.CPU_USAGE == 0


def test_vm_update_updateconf_rename_chmod_nic_hotplug(one, infra):
    vid = one.template.instantiate(infra["template"], "", False, 'MEMORY="64"', False)
    assert one.vm.info(vid).NAME == "tpl-%d" % vid
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    one.vm.update(vid, 'NOTE="x"', 1)
    assert one.vm.info(vid).USER_TEMPLATE["NOTE"] == "x"
    one.vm.updateconf(vid, 'CONTEXT=[EXTRA="1"]', 1)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    assert one.vm.info(vid).TEMPLATE["CONTEXT"]["EXTRA"] == "1"
    one.vm.rename(vid, "renamed")
    one.vm.chmod(vid, 1, 1, 0, 1, 0, 0, 0, 0, 0)
    assert one.vm.info(vid).PERMISSIONS.GROUP_U == 1
    one.vm.attachnic(vid, 'NIC=[NETWORK_ID="%d"]' % infra["vnet"])
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    assert len(one.vm.info(vid).TEMPLATE["NIC"]) == 2
    one.vm.detachnic(vid, 1)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    assert one.vn.info(infra["vnet"]).USED_LEASES == 1


def test_hold_release_and_pools_with_filters(one, infra):
    held = one.template.instantiate(infra["template"], "held", True, "", False)
    assert vm_state(one, held) == (2, 0)
    other = one.vm.allocate('NAME="direct"\nCPU="0.1"\nMEMORY="32"', False)
    assert len(one.vmpool.info(-2, -1, -1, 2).VM) == 1
    assert [v.ID for v in one.vmpool.info(-2, -1, -1, -1).VM] == [other, held]
    assert len(one.vmpool.infoextended(-2, held, held, -1).VM) == 1
    one.vm.action("release", held)
    wait_for(lambda: vm_state(one, held) == (3, 3))
    wait_for(lambda: one.vm.monitoring(held).MONITORING, timeout=20)
    one.vm.action("terminate", held)
    wait_for(lambda: vm_state(one, held) == (6, 0))
    assert held not in [v.ID for v in one.vmpool.info(-2, -1, -1, -1).VM]
    assert held in [v.ID for v in one.vmpool.info(-2, -1, -1, -2).VM]


def test_vnet_address_ranges_holds_and_reservations(one, infra):
    vnid = infra["vnet"]
    one.vn.add_ar(vnid, 'AR=[TYPE="IP4",IP="10.0.1.1",SIZE="2"]')
    one.vn.update_ar(vnid, 'AR=[AR_ID="1",SIZE="3"]')
    one.vn.hold(vnid, 'LEASES=[IP="10.0.0.11"]')
    rid = one.vn.reserve(vnid, 'SIZE="1"\nNAME="rsv"')
    rsv = one.vn.info(rid)
    assert rsv.PARENT_NETWORK_ID == str(vnid)
    vid = one.template.instantiate(infra["template"], "vm", False, "", False)
    assert one.vm.info(vid).TEMPLATE["NIC"]["IP"] == "10.0.0.12"
    with pytest.raises(pyone.OneInternalException, match="leases in use"):
        one.vn.rm_ar(vnid, 0)
    one.vn.release(vnid, 'LEASES=[IP="10.0.0.11"]')
    one.vn.rm_ar(vnid, 1)
    one.vn.rename(vnid, "net2")
    one.vn.chmod(vnid, 1, 1, 0, 1, 0, 0, 0, 0, 0)
    one.vn.update(vnid, 'DESCRIPTION="d"', 1)
    assert one.vn.info(vnid).TEMPLATE["DESCRIPTION"] == "d"
    assert len(one.vnpool.info(-2, -1, -1).VNET) == 2


def test_image_and_template_operations(one, infra):
    iid = infra["image"]
    one.image.update(iid, 'DESCRIPTION="d"', 1)
    one.image.chtype(iid, "OS")
    one.image.persistent(iid, True)
    one.image.enable(iid, False)
    assert one.image.info(iid).STATE == 3
    one.image.enable(iid, True)
    clone = one.image.clone(iid, "img-copy", -1)
    wait_for(lambda: one.image.info(clone).STATE == 1)
    one.image.rename(clone, "img-copy2")
    one.image.delete(clone)
    wait_for(lambda: len(one.imagepool.info(-2, -1, -1).IMAGE) == 1)
    os_img = one.image.allocate('NAME="os"\nPATH="/var/tmp/os.img"', 1, False)
    assert one.image.info(os_img).SIZE == 1024
    tid = infra["template"]
    assert one.template.info(tid, True).TEMPLATE["DISK"]["IMAGE"] == "img"
    copy = one.template.clone(tid, "tpl2", False)
    one.template.update(copy, 'CPU="1"\nMEMORY="64"', 0)
    one.template.rename(copy, "tpl3")
    one.template.chmod(copy, 1, 1, 1, 0, 0, 0, 0, 0, 0)
    one.template.delete(copy, False)
    assert [t.NAME for t in one.templatepool.info(-2, -1, -1).VMTEMPLATE] == ["tpl"]


def test_users_groups_and_login_tokens(one, emulator):
    gid = one.group.allocate("voip")
    uid = one.user.allocate("alice", "secret", "core", [gid])
    assert one.user.info(uid).GNAME == "voip"
    token = one.user.login("oneadmin", "", 60, -1)
    alt = pyone.OneServer(emulator.url, session="oneadmin:%s" % token)
    assert alt.user.info(-1).NAME == "oneadmin"
    assert {u.NAME for u in one.userpool.info().USER} == {"oneadmin", "serveradmin", "alice"}
    assert {g.NAME for g in one.grouppool.info().GROUP} >= {"oneadmin", "users", "voip"}
    assert one.system.version() == "7.2.0"
    assert len(one.datastorepool.info().DATASTORE) == 3
    assert one.cluster.info(0).NAME == "default"


def test_call_counter_counts_only_one_methods(one, emulator):
    emulator.reset_stats()
    one.hostpool.info()
    one.vmpool.info(-2, -1, -1, -1)
    one.vmpool.info(-2, -1, -1, -1)
    stats = emulator.stats()
    assert stats == {"total": 3, "calls": {"one.hostpool.info": 1, "one.vmpool.info": 2}}
