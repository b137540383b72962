"""Each ``emulator.*`` fault injection produces what oned shows when the driver or host really fails."""

from __future__ import annotations

import http.client
import re
import time
import urllib.error
import urllib.request
import xmlrpc.client

import pytest
from conftest import vm_state, wait_for  # pylint: disable=import-error

pyone = pytest.importorskip("pyone")

ONED_DATE = r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4}"


def test_fail_next_deploy_ends_in_boot_failure_with_the_driver_error(one, emulator, infra):
    emulator.call("emulator.fail_next", "deploy")
    vid = one.template.instantiate(infra["template"], "vm-fail", False, "", False)
    wait_for(lambda: vm_state(one, vid) == (3, 36))
    error = one.vm.info(vid).USER_TEMPLATE["ERROR"]
    assert re.fullmatch(ONED_DATE + r": DEPLOY: host01:vm-fail:dummy", error), error  # golden vm_logs / seq 384
    one.vm.recover(vid, 2)  # retry: the fault was consumed
    wait_for(lambda: vm_state(one, vid) == (3, 3))


def test_fail_next_shutdown_returns_to_running_after_the_driver_timeout(one, emulator, infra):
    vid = one.template.instantiate(infra["template"], "vm", False, "", False)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    emulator.call("emulator.fail_next", "shutdown")
    one.vm.action("poweroff", vid)
    assert vm_state(one, vid) == (3, 18)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    vm = one.vm.info(vid)
    assert "SHUTDOWN" in vm.USER_TEMPLATE["ERROR"]
    assert int(vm.HISTORY_RECORDS.HISTORY[-1].ACTION) == 0  # back to RUNNING clears the action (golden seq 406)


def test_fail_next_prolog_ends_in_prolog_failure(one, emulator, infra):
    emulator.call("emulator.fail_next", "prolog")
    vid = one.template.instantiate(infra["template"], "vm", False, "", False)
    wait_for(lambda: vm_state(one, vid) == (3, 39))
    assert "ERROR" in one.vm.info(vid).USER_TEMPLATE


def test_fail_next_image_leaves_the_image_in_error(one, emulator):
    emulator.call("emulator.fail_next", "image", 1, "Could not copy image file")
    iid = one.image.allocate('NAME="bad"\nTYPE="DATABLOCK"\nSIZE="8"', 1, False)
    wait_for(lambda: one.image.info(iid).STATE == 5)
    assert re.fullmatch(ONED_DATE + ": Could not copy image file", one.image.info(iid).TEMPLATE["ERROR"])
    good = one.image.allocate('NAME="good"\nTYPE="DATABLOCK"\nSIZE="8"', 1, False)
    wait_for(lambda: one.image.info(good).STATE == 1)


def test_fail_next_slow_deploy_keeps_the_vm_in_boot(one, emulator, infra):
    emulator.call("emulator.fail_next", "slow_deploy", 1, "50")  # 50 emulated s = 1 s at speed 50
    vid = one.template.instantiate(infra["template"], "vm", False, "", False)
    wait_for(lambda: vm_state(one, vid) == (3, 2))
    time.sleep(0.5)
    assert vm_state(one, vid) == (3, 2)
    wait_for(lambda: vm_state(one, vid) == (3, 3))


def test_host_error_puts_host_in_error_and_running_vms_in_unknown(one, emulator, infra):
    vid = one.template.instantiate(infra["template"], "vm", False, "", False)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    emulator.call("emulator.host_error", infra["host"], "Error monitoring Host")
    host = one.host.info(infra["host"])
    assert host.STATE == 3
    assert re.fullmatch(ONED_DATE + " : Error monitoring Host", host.TEMPLATE["ERROR"])
    assert vm_state(one, vid) == (3, 16)
    emulator.call("emulator.host_error", infra["host"], "")
    wait_for(lambda: one.host.info(infra["host"]).STATE == 2)
    assert "ERROR" not in one.host.info(infra["host"]).TEMPLATE


def test_latency_delays_every_call_or_one_method(emulator):
    emulator.call("emulator.latency", 0.3, "one.vmpool.info")
    start = time.monotonic()
    emulator.call("one.hostpool.info")
    fast = time.monotonic() - start
    start = time.monotonic()
    emulator.call("one.vmpool.info", -2, -1, -1, -1)
    slow = time.monotonic() - start
    assert slow >= 0.3 > fast
    emulator.call("emulator.latency", 0.0, "one.vmpool.info")
    start = time.monotonic()
    emulator.call("one.vmpool.info", -2, -1, -1, -1)
    assert time.monotonic() - start < 0.3


def test_drop_next_closes_the_connection_without_an_answer(emulator):
    body = xmlrpc.client.dumps((emulator.session,), "one.hostpool.info").encode()
    emulator.call("emulator.drop_next", 1, "one.hostpool.info")
    with pytest.raises((http.client.HTTPException, ConnectionError, urllib.error.URLError)):
        urllib.request.urlopen(urllib.request.Request(emulator.url, data=body), timeout=5)  # pylint: disable=consider-using-with
    assert emulator.call("one.hostpool.info")[0] is True
    assert emulator.stats()["calls"] == {"one.hostpool.info": 1}  # a dropped call never reached oned


def test_drop_next_twice_defeats_the_single_retry_of_python_xmlrpc_clients(emulator):
    # xmlrpc.client (and so pyone) silently resends a request once when the server closed the connection
    emulator.call("emulator.drop_next", 2)
    with pytest.raises((http.client.HTTPException, ConnectionError, xmlrpc.client.ProtocolError)):
        emulator.call("one.hostpool.info")
    assert emulator.call("one.hostpool.info")[0] is True


def test_clear_faults_forgets_queued_faults(one, emulator, infra):
    emulator.call("emulator.fail_next", "deploy", 3)
    emulator.call("emulator.latency", 5.0, "one.vm.info")
    emulator.call("emulator.clear_faults")
    vid = one.template.instantiate(infra["template"], "vm", False, "", False)
    start = time.monotonic()
    wait_for(lambda: vm_state(one, vid) == (3, 3))  # no deploy failure
    assert time.monotonic() - start < 5.0  # and no latency on one.vm.info


def test_unknown_fault_kind_is_an_api_error(emulator):
    answer = emulator.call("emulator.fail_next", "meteor")
    assert answer[:3] == [False, "[emulator.fail_next] Unknown fault kind meteor, expected one of deploy, shutdown, prolog, image, "
                                 "slow_deploy", 0x1000]
