"""End to end: `playbooks/site.yml` on the lab inventory, as `make lab` runs it, then asserted from outside.

A second lab beside any lab of the user (its own directory, emulator port, container prefix and vnet
addresses) is built from nothing: the emulated OpenNebula with its podman VM backend, the VMs, Kamailio
in its VM over SSH, voice and video calls with their QoS, the 2..10-user load steps and the report.
Then the configuration plays run again (`--skip-tags measure`) and must change nothing.  The lab is
removed at the end (NEBULAVOIP_LAB_TEST_KEEP=1 keeps it).

    make lab-test        (or: .venv/bin/python -m pytest -v tests/lab, from the Makefile's environment)
"""

from __future__ import annotations

import csv
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xmlrpc.client

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "labtest-"
SUBNET = ipaddress.ip_network("10.77.61.0/24")
AR_FIRST, AR_SIZE = SUBNET.network_address + 10, 40
RUN_ID = "e2e"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """The test lab: its settings, its two playbook runs and a client for its emulator."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "lab")
        self.reports = os.path.join(workdir, "reports")
        self.port = _free_port()
        self.env = dict(os.environ, NEBULAVOIP_LAB_DIR=self.dir, NEBULAVOIP_LAB_PORT=str(self.port),
                        NEBULAVOIP_LAB_PREFIX=PREFIX, ANSIBLE_FORCE_COLOR="false")
        net = SUBNET.network_address
        self.extra = {
            "nebulavoip_vnet_name": "voip-labtest",
            "nebulavoip_vnet_network_address": str(net), "nebulavoip_vnet_gateway": str(net + 1),
            "nebulavoip_vnet_dns": str(net + 1), "nebulavoip_vnet_ar_ip": str(AR_FIRST), "nebulavoip_vnet_ar_size": AR_SIZE,
            "nebulavoip_run_id": RUN_ID, "nebulavoip_report_dir": self.reports,
            "nebulavoip_load_users": [2, 4, 6, 8, 10], "nebulavoip_capacity_time_budget_s": 40,
        }
        self.runs = {}

    def emulator(self, action):
        return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "lab", "lab_emulator.py"), action],
                              env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)

    def playbook(self, name, *args):
        log = os.path.join(os.path.dirname(self.dir), name + ".log")
        extra = os.path.join(os.path.dirname(self.dir), "extra.json")
        with open(extra, "w", encoding="utf-8") as handle:
            json.dump(self.extra, handle)
        command = ["ansible-playbook", "-i", "inventories/lab", "playbooks/site.yml", "-e", "@" + extra] + list(args)
        started = time.monotonic()
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.run(command, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=3600, check=False)
        with open(log, encoding="utf-8") as handle:
            text = handle.read()
        self.runs[name] = {"rc": proc.returncode, "log": log, "text": text, "seconds": time.monotonic() - started,
                           "recap": dict((m[0], {"ok": int(m[1]), "changed": int(m[2]), "unreachable": int(m[3]), "failed": int(m[4])})
                                         for m in RECAP.findall(text))}
        sys.stderr.write("%s: rc %s in %.0f s, log %s\n" % (name, proc.returncode, self.runs[name]["seconds"], log))
        return self.runs[name]

    def one(self):
        with open(os.path.join(self.dir, "one_auth"), encoding="utf-8") as handle:
            session = handle.read().strip()
        proxy = xmlrpc.client.ServerProxy("http://127.0.0.1:%d/RPC2" % self.port)
        return session, proxy


@pytest.fixture(scope="module")
def lab():
    if subprocess.run(["podman", "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip("podman does not work here")
    workdir = tempfile.mkdtemp(prefix="nebulavoip-labtest-")
    lab = Lab(workdir)
    lab.emulator("down")
    try:
        lab.playbook("first")
        if lab.runs["first"]["rc"] == 0:
            lab.playbook("again", "--skip-tags", "measure")
        yield lab
    finally:
        if os.environ.get("NEBULAVOIP_LAB_TEST_KEEP") != "1":
            lab.emulator("down")


def _tail(run, lines=60):
    return "\n".join(run["text"].splitlines()[-lines:])


def _report(lab):
    with open(os.path.join(lab.reports, RUN_ID, "report.json"), encoding="utf-8") as handle:
        return json.load(handle)


def test_first_run_of_site_yml_succeeds_on_every_host(lab):
    run = lab.runs["first"]
    assert run["rc"] == 0, _tail(run)
    assert {"localhost", "kamailio-01", "client-01", "client-02", "loadgen-01"} <= set(run["recap"]), run["recap"]
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in run["recap"].values()), run["recap"]
    # the frontend and node stages said that the lab skips their packages
    assert "lab: the OpenNebula frontend is tools/one_emulator" in run["text"]
    assert "lab: the KVM node is this machine" in run["text"]


def test_the_server_vm_runs_in_the_emulator_with_a_leased_ip_and_is_its_container(lab):
    session, proxy = lab.one()
    ok, body, _code = proxy.one.vmpool.info(session, -2, -1, -1, -1)[:3]
    assert ok, body
    vms = dict((m[0], (int(m[1]), int(m[2]), m[3])) for m in re.findall(
        r"<VM>.*?<NAME>(?:<!\[CDATA\[)?([^<\]]+)(?:\]\]>)?</NAME>.*?<STATE>(\d+)</STATE><LCM_STATE>(\d+)</LCM_STATE>.*?"
        r"<IP>(?:<!\[CDATA\[)?([\d.]+)", body, re.S))
    assert set(vms) == {"kamailio-01", "client-01", "client-02", "loadgen-01"}, vms
    state, lcm, ip = vms["kamailio-01"]
    assert (state, lcm) == (3, 3)  # ACTIVE / RUNNING
    assert AR_FIRST <= ipaddress.ip_address(ip) < AR_FIRST + AR_SIZE
    names = subprocess.run(["podman", "ps", "--filter", "label=one.vm.name=kamailio-01", "--filter",
                            "label=nebulavoip.one-backend=" + PREFIX, "--format", "{{.Names}}"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert len(names) == 1, names
    inside = subprocess.run(["podman", "exec", names[0], "ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    assert " %s/" % ip in inside


def test_kamailio_in_the_server_vm_answers_sip_options(lab):
    session, proxy = lab.one()
    body = proxy.one.vmpool.info(session, -2, -1, -1, -1)[1]
    ip = re.search(r"<NAME>(?:<!\[CDATA\[)?kamailio-01.*?<IP>(?:<!\[CDATA\[)?([\d.]+)", body, re.S).group(1)
    branch = "z9hG4bK" + uuid.uuid4().hex[:12]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        sock.settimeout(3)
        port = sock.getsockname()[1]
        local = SUBNET.network_address + 1  # the host's address on the lab bridge
        request = ("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=%s;rport\r\nMax-Forwards: 70\r\n"
                   "From: <sip:probe@%s>;tag=%s\r\nTo: <sip:%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                   % (ip, local, port, branch, local, uuid.uuid4().hex[:8], ip, uuid.uuid4().hex))
        answer = b""
        for _attempt in range(5):
            sock.sendto(request.encode(), (ip, 5060))
            try:
                answer = sock.recv(65535)
                break
            except socket.timeout:
                continue
    first = answer.decode("utf-8", "replace").split("\r\n", 1)[0]
    assert first.startswith("SIP/2.0 200"), answer[:300]
    assert re.search(r"(?im)^server: kamailio", answer.decode("utf-8", "replace")), answer[:300]


def test_voice_and_video_calls_have_streams_without_loss(lab):
    report = _report(lab)
    calls = report["calls"]
    assert sorted(c["group"] for c in calls) == ["video-client-01-client-02", "voice-client-01-client-02"]
    assert all(c["status"] == "answered" for c in calls), [(c["group"], c.get("close_reason")) for c in calls]
    for call in calls:
        media = sorted(set(s["media"] for s in call["streams"]))
        assert media == (["audio", "video"] if call["group"].startswith("video") else ["audio"]), call["group"]
        assert set(s["direction"] for s in call["streams"]) == {"caller->callee", "callee->caller"}
        for stream in call["streams"]:
            assert stream["lost"] <= 0 and stream["packets"] > 100, stream
    assert report["params"]["vm_memory_mb"] in (1024, "1024")
    with open(os.path.join(lab.reports, RUN_ID, "index.html"), encoding="utf-8") as handle:
        page = handle.read()
    assert "<svg" in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")


def test_load_tables_have_a_row_per_step_for_the_server_and_the_cloud_host(lab):
    directory = os.path.join(lab.reports, RUN_ID)
    for name in ("load_table_server.csv", "load_table_cloud.csv"):
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert [int(r["Users"]) for r in rows] == [2, 4, 6, 8, 10], (name, rows)
        for row in rows:
            for column in ("CPU usage (%)", "RAM usage (%)", "Disk usage (%)"):
                assert 0.0 <= float(row[column]) <= 100.0, (name, row)
    with open(os.path.join(directory, "index.html"), encoding="utf-8") as handle:
        page = handle.read()
    assert "Calls" in page and "Users" in page  # the QoS and the load sections share one page


def test_second_run_of_the_configuration_plays_changes_nothing(lab):
    run = lab.runs.get("again")
    assert run is not None, "the first run failed"
    assert run["rc"] == 0, _tail(run)
    changed = dict((host, r["changed"]) for host, r in run["recap"].items() if r["changed"])
    assert changed == {}, (changed, _tail(run, 120))
