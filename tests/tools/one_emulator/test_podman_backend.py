"""The podman VM backend: a RUNNING VM is a real container (leased IP, limits, contextualisation, real monitoring).

The container tests need a working podman and the lab image (``tools/images/build``); they are skipped with the reason
otherwise, or when NEBULAVOIP_SKIP_PODMAN=1.  Every container and network they make carries a per-run prefix and is
removed in a finalizer.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest
from conftest import ROOT, vm_state, wait_for  # pylint: disable=import-error

from tools.one_emulator.podman_backend import DEFAULT_IMAGE, PodmanBackend, vnet_subnet
from tools.one_emulator.testing import EmulatorThread

pyone = pytest.importorskip("pyone")

os.environ.setdefault("CONTAINERS_CONF", os.path.join(ROOT, "tools", "podman", "containers.conf"))
IMAGE = os.environ.get("NEBULAVOIP_LAB_IMAGE", DEFAULT_IMAGE)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNlYnVsYXZvaXAtdGVzdC1rZXktbm90LXJlYWw nebulavoip-test"
OCTET = 100 + os.getpid() % 100  # a private /24 per run, only inside podman networks made here
SUBNET = "10.123.%d" % OCTET


def _podman_problem() -> str:
    if os.environ.get("NEBULAVOIP_SKIP_PODMAN") == "1":
        return "NEBULAVOIP_SKIP_PODMAN=1"
    if shutil.which("podman") is None:
        return "podman is not installed"
    try:
        info = subprocess.run(["podman", "info"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "podman info failed: %s" % exc
    if info.returncode != 0:
        return "podman info failed: %s" % (info.stderr.strip().splitlines() or [""])[-1]
    if subprocess.run(["podman", "image", "exists", IMAGE], capture_output=True, check=False).returncode != 0:
        return "image %s not built (run tools/images/build)" % IMAGE
    return ""


PODMAN_PROBLEM = _podman_problem()
needs_podman = pytest.mark.skipif(bool(PODMAN_PROBLEM), reason=PODMAN_PROBLEM or "podman works")


def podman(*args: str, check: bool = True) -> str:
    """Run podman, return stdout."""
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120, check=check).stdout.strip()


def container_exec(name: str, command: str) -> str:
    """``sh -c COMMAND`` inside a container."""
    return podman("exec", name, "/bin/sh", "-c", command)


def ssh_answers(ip: str) -> bool:
    """An SSH banner on ip:22."""
    try:
        with socket.create_connection((ip, 22), timeout=1) as conn:
            return conn.recv(64).startswith(b"SSH-2.0")
    except OSError:
        return False


class RecordingPodmanBackend(PodmanBackend):
    """Remembers what it handed to the emulator's monitoring cycle."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.handed = []

    def monitoring(self, vm):
        values = super().monitoring(vm)
        if values:
            self.handed.append(dict(values))
        return values


def backend_state(emu, vid):
    """emulator.backend_status for one VM (None until the backend saw it)."""
    answer = emu.call("emulator.backend_status", vid)
    assert answer[0] is True
    return answer[1].get(str(vid))


def settled(emu, vid, state):
    """The VM's container reached ``state`` and no operation is queued."""
    status = backend_state(emu, vid)
    return status is not None and status["state"] == state and not status["busy"] and status


@pytest.fixture
def lab():
    """An emulator (speed 50) with the podman backend, a host, a vnet, an image; everything removed afterwards."""
    if PODMAN_PROBLEM:
        pytest.skip(PODMAN_PROBLEM)
    backend = RecordingPodmanBackend(prefix="nvtest%d-" % os.getpid(), stats_interval=1, stop_timeout=5)
    emu = EmulatorThread(speed=50, backend=backend)
    try:
        one = pyone.OneServer(emu.url, session=emu.session)
        hid = one.host.allocate("host01", "dummy", "dummy", -1)
        vnid = one.vn.allocate('NAME="lab"\nVN_MAD="bridge"\nAR=[TYPE="IP4",IP="%s.10",SIZE="8"]\nNETWORK_ADDRESS="%s.0"\n'
                               'NETWORK_MASK="255.255.255.0"\nGATEWAY="%s.1"' % (SUBNET, SUBNET, SUBNET), -1)
        iid = one.image.allocate('NAME="debian12"\nTYPE="OS"\nSIZE="2048"', 1, False)
        wait_for(lambda: one.host.info(hid).STATE == 2 and one.image.info(iid).STATE == 1 and one.vn.info(vnid).STATE == 1)
        yield {"emu": emu, "one": one, "backend": backend, "vnet": vnid, "image": iid}
    finally:
        emu.stop()
        backend.cleanup(networks=True)


# ------------------------------------------------------------------ no podman needed
def test_vnet_subnet_comes_from_network_address_and_mask_else_from_the_address_ranges():
    vnet = {"id": 3, "template": [["NETWORK_ADDRESS", "10.9.0.0"], ["NETWORK_MASK", "255.255.0.0"]],
            "ars": [{"ip": int.from_bytes(bytes([10, 9, 4, 2]), "big"), "size": 10, "attrs": {}}]}
    assert tuple(map(str, vnet_subnet(vnet))) == ("10.9.0.0/16", "10.9.0.1")
    vnet["template"] = [["GATEWAY", "10.9.4.254"]]
    assert tuple(map(str, vnet_subnet(vnet))) == ("10.9.4.0/24", "10.9.4.254")
    vnet["ars"][0]["size"] = 600  # 10.9.4.2 .. 10.9.6.89
    assert str(vnet_subnet(vnet)[0]) == "10.9.4.0/22"
    vnet["template"] = [["GATEWAY", "192.168.1.1"], ["NETWORK_ADDRESS", "10.9.0.0"], ["NETWORK_MASK", "16"]]
    with pytest.raises(ValueError, match=r"GATEWAY 192\.168\.1\.1 is outside 10\.9\.0\.0/16"):
        vnet_subnet(vnet)
    with pytest.raises(ValueError, match="no IPv4 address range"):
        vnet_subnet({"id": 4, "template": [], "ars": []})


# ------------------------------------------------------------------ containers
@needs_podman
def test_a_running_vm_is_a_container_with_its_lease_limits_context_and_real_monitoring(lab):  # pylint: disable=redefined-outer-name
    emu, one, backend = lab["emu"], lab["one"], lab["backend"]
    tid = one.template.allocate('NAME="srv"\nCPU="0.5"\nVCPU="1"\nMEMORY="256"\nDISK=[IMAGE_ID="%d"]\nNIC=[NETWORK_ID="%d"]\n'
                                'CONTEXT=[NETWORK="YES",SET_HOSTNAME="voip-srv-1",SSH_PUBLIC_KEY="%s",'
                                'START_SCRIPT="echo started-$(hostname) >> /root/start_script.out"]' % (lab["image"], lab["vnet"], KEY))
    vid = one.template.instantiate(tid, "srv-0", False, "", False)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    running_at = time.monotonic()
    status = wait_for(lambda: settled(emu, vid, "running"), timeout=60)
    print("container up %.2f s after RUNNING (backend: %.2f s from the hook, contextualisation %.2f s)" % (
        time.monotonic() - running_at, status["up_seconds"], status["context_seconds"]))
    name = backend.container(vid)
    ip = one.vm.info(vid).TEMPLATE["NIC"]["IP"]
    assert ip == "%s.10" % SUBNET and status["ip"] == ip and status["error"] == "" and status["start_script"] == "rc=0"

    # the container: leased IP on the vnet's network, VM size as limits, hostname, key, START_SCRIPT, context file
    networks = podman("inspect", name, "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}")
    assert networks.split() == ["%s=%s" % (backend.network(lab["vnet"]), ip)]
    assert podman("network", "inspect", backend.network(lab["vnet"]), "--format", "{{range .Subnets}}{{.Subnet}} {{.Gateway}}{{end}}") == (
        "%s.0/24 %s.1" % (SUBNET, SUBNET))
    assert podman("inspect", name, "--format", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}") == "%d 500000000" % (256 << 20)
    assert container_exec(name, "hostname") == "voip-srv-1"
    # root of the VM manages its own network, as in a real VM (the QoS role's impairment rules need it)
    assert "NET_ADMIN" in podman("inspect", name, "--format", "{{.EffectiveCaps}}")
    assert container_exec(name, "ip link set dev lo mtu 65536 && echo ok") == "ok"
    assert container_exec(name, "stat -c %a /root/.ssh/authorized_keys; cat /root/.ssh/authorized_keys") == "600\n" + KEY
    assert container_exec(name, "cat /root/start_script.out") == "started-voip-srv-1"
    one_env = container_exec(name, "cat /run/one-context/one_env")
    assert "export ETH0_IP='%s'" % ip in one_env and "export SET_HOSTNAME='voip-srv-1'" in one_env
    wait_for(lambda: ssh_answers(ip), timeout=20)  # a real machine: sshd answers on the leased address

    # monitoring figures are the container's (podman stats), not the synthetic ones
    wait_for(lambda: backend.handed, timeout=20)
    handed = {rec["MEMORY"] for rec in backend.handed}
    record = wait_for(lambda: [r for r in one.vm.monitoring(vid).MONITORING if int(r.MEMORY) in handed], timeout=20)[-1]
    assert 0 < int(record.MEMORY) < 256 * 1024
    assert int(one.vm.info(vid).MONITORING.MEMORY) in {rec["MEMORY"] for rec in backend.handed}

    # poweroff stops it; resize in POWEROFF takes effect at the next start; resume starts it again
    one.vm.action("poweroff", vid)
    wait_for(lambda: vm_state(one, vid) == (8, 0))
    wait_for(lambda: settled(emu, vid, "stopped"), timeout=30)
    assert podman("inspect", name, "--format", "{{.State.Running}}") == "false"
    one.vm.resize(vid, 'CPU="1"\nMEMORY="384"', False)
    one.vm.action("resume", vid)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    wait_for(lambda: settled(emu, vid, "running"), timeout=60)
    assert podman("inspect", name, "--format", "{{.State.Running}}") == "true"
    limit = container_exec(name, "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
    assert int(limit) == 384 << 20
    assert container_exec(name, "cat /root/start_script.out") == "started-voip-srv-1"  # START_SCRIPT ran once
    assert container_exec(name, "cat /root/.ssh/authorized_keys") == KEY

    # reboot restarts the container; terminate removes it
    started = podman("inspect", name, "--format", "{{.State.StartedAt}}")
    one.vm.action("reboot", vid)
    wait_for(lambda: podman("inspect", name, "--format", "{{.State.StartedAt}}") != started and settled(emu, vid, "running"), timeout=30)
    one.vm.action("terminate", vid)
    wait_for(lambda: vm_state(one, vid) == (6, 0))
    wait_for(lambda: settled(emu, vid, "removed"), timeout=30)
    assert subprocess.run(["podman", "container", "exists", name], check=False).returncode == 1


@needs_podman
def test_a_container_that_cannot_be_made_leaves_the_vm_running_and_says_why(lab):  # pylint: disable=redefined-outer-name
    emu, one, backend = lab["emu"], lab["one"], lab["backend"]
    backend.image = "localhost/nebulavoip/no-such-image:none"
    vid = one.vm.allocate('NAME="broken"\nCPU="0.1"\nMEMORY="64"\nNIC=[NETWORK_ID="%d"]' % lab["vnet"], False)
    wait_for(lambda: vm_state(one, vid) == (3, 3))
    status = wait_for(lambda: settled(emu, vid, "error"), timeout=60)
    assert "up: podman run" in status["error"] and "no-such-image" in status["error"]
    assert vm_state(one, vid) == (3, 3)  # the state machine is untouched
    one.vm.action("terminate-hard", vid)
    wait_for(lambda: vm_state(one, vid) == (6, 0))
