"""Podman VM backend: every VM that reaches RUNNING gets a real machine (the lab).

Selected with ``--backend podman`` (options: ``--backend-opt KEY=VALUE``) or
``EmulatorThread(backend=PodmanBackend(...))``.  Python standard library only; it shells out to ``podman``.

- A VM is a container ``<prefix><vm id>`` (prefix ``one-``) from the lab image (systemd as PID 1, sshd) with
  ``--cpus`` = CPU and ``--memory`` = ``--memory-swap`` = MEMORY MiB, the hostname from CONTEXT ``SET_HOSTNAME`` or
  the VM name, and one interface per NIC on the podman network ``<prefix>vnet-<vnet id>`` with the leased IP and MAC.
- Contextualisation (as OpenNebula's one-context does, simplified): ``SSH_PUBLIC_KEY`` lines into
  ``/root/.ssh/authorized_keys`` (0600), every CONTEXT variable into ``/run/one-context/context.sh`` (``KEY='value'``,
  the context CD's format) and ``/run/one-context/one_env`` (``export KEY='value'``), rewritten at every start;
  ``START_SCRIPT`` / ``START_SCRIPT_BASE64`` run once per container after systemd finished booting, its output in
  ``/var/log/one-context.log`` inside and on the emulator's stderr.
- The hooks only take a snapshot of the VM (under the emulator's lock) and queue the work: one worker per VM
  keeps the order of its operations, nothing slow runs in the engine or the XML-RPC threads, and no failure
  reaches the state machine (it is logged on stderr and shown by ``emulator.backend_status``).
- Monitoring comes from ``podman stats`` polled in the background (every ``stats_interval`` s); the emulator's
  monitoring cycle only reads that cache.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple

from . import template as tpl
from .backend import VMBackend

DEFAULT_IMAGE = "localhost/nebulavoip/debian12:latest"
DEFAULT_PREFIX = "one-"
ULIMITS = ("nofile=20000:20000", "nproc=32768:32768")
# A VM's root may configure its own network (iptables, tc) as in a real VM: NET_ADMIN, in the
# container's own network namespace only.
DEFAULT_CAPS = "NET_ADMIN"
OWNER_LABEL = "nebulavoip.one-backend"
CONTEXT_DIR = "/run/one-context"  # /var/run is a link to /run, a tmpfs under systemd: rewritten at every start
STATE_DIR = "/var/lib/one-context"
SCRIPT_LOG = "/var/log/one-context.log"
START_DONE = STATE_DIR + "/start_script.done"  # START_SCRIPT runs once per container
REPO_CONTAINERS_CONF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "podman", "containers.conf")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PodmanError(Exception):
    """A podman command failed (the message is its stderr)."""


def log(message: str) -> None:
    """One line on stderr, like the emulator's call log."""
    sys.stderr.write("%s podman-backend: %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stderr.flush()


def stats_record(data: Dict[str, Any], prev: Optional[Tuple[float, float]], now: float) -> Tuple[Dict[str, Any], Tuple[float, float]]:
    """oned's MONITORING figures of one ``podman stats`` JSON record, and the CPU mark for the next poll.

    ``prev`` is the mark of the previous poll (CPUNano, time) or None. CPU is the CPU-time delta in
    % of one CPU, as oned reports it; None without an earlier poll to compare with. MEMORY is in KiB,
    the NET and DISK counters in bytes.
    """
    cpu_nano = float(data.get("CPUNano") or 0)
    cpu = None
    if prev and now > prev[1] and cpu_nano >= prev[0]:
        cpu = round((cpu_nano - prev[0]) / ((now - prev[1]) * 1e9) * 100.0, 2)
    return ({"CPU": cpu, "MEMORY": int(data.get("MemUsage") or 0) // 1024,
             "NETRX": int(data.get("NetInput") or 0), "NETTX": int(data.get("NetOutput") or 0),
             "DISKRDBYTES": int(data.get("BlockInput") or 0), "DISKWRBYTES": int(data.get("BlockOutput") or 0),
             "at": now}, (cpu_nano, now))


def hostname_for(name: str) -> str:
    """A valid hostname (RFC 1123 label) from a VM name."""
    clean = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:63].strip("-")
    return clean or "localhost"


def _single_quote(value: str) -> str:
    return "'%s'" % value.replace("'", "'\\''")


def vnet_subnet(vnet: Dict[str, Any]) -> Tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]:
    """Subnet and gateway of the podman network for an emulated vnet.

    The subnet is NETWORK_ADDRESS/NETWORK_MASK (vnet template, else the first AR that has them); without them it is
    the smallest network of prefix /24 or shorter that holds every IPv4 address range (and GATEWAY).  The gateway is
    GATEWAY when set, else the subnet's first address: it is the host side of the bridge, so no AR may contain it.
    """
    template = vnet.get("template") or []
    ars = [ar for ar in vnet.get("ars") or [] if ar.get("ip") is not None]

    def attr(key: str) -> str:
        value = tpl.get_str(template, key) or ""
        for ar in ars:
            if value:
                break
            value = ar.get("attrs", {}).get(key, "") or ""
        return value.strip()

    address, mask, gateway_text = attr("NETWORK_ADDRESS"), attr("NETWORK_MASK"), attr("GATEWAY")
    try:
        gateway = ipaddress.IPv4Address(gateway_text) if gateway_text else None
        if address and mask:
            net = ipaddress.IPv4Network("%s/%s" % (address, mask), strict=False)
        else:
            points = [ipaddress.IPv4Address(ar["ip"]) for ar in ars] + [ipaddress.IPv4Address(ar["ip"] + ar["size"] - 1) for ar in ars]
            points += [gateway] if gateway else []
            if not points:
                raise ValueError("no IPv4 address range and no NETWORK_ADDRESS/NETWORK_MASK")
            prefix = 24
            net = ipaddress.IPv4Network((int(points[0]), prefix), strict=False)
            while prefix > 8 and not all(p in net for p in points):
                prefix -= 1
                net = ipaddress.IPv4Network((int(points[0]), prefix), strict=False)
    except ValueError as exc:
        raise ValueError("vnet %s: %s" % (vnet.get("id"), exc)) from None
    if gateway is None:
        gateway = net.network_address + 1
    elif gateway not in net:
        raise ValueError("vnet %s: GATEWAY %s is outside %s" % (vnet.get("id"), gateway, net))
    return net, gateway


class PodmanBackend(VMBackend):  # pylint: disable=too-many-instance-attributes
    """Containers for the emulator's VMs (see the module docstring)."""

    # pylint: disable-next=too-many-arguments
    def __init__(self, prefix: Optional[str] = None, image: Optional[str] = None, podman: Optional[str] = None,
                 stats_interval: Any = 5.0, stop_timeout: Any = 10, boot_timeout: Any = 60.0, script_timeout: Any = 600.0,
                 cap_add: Optional[str] = None) -> None:
        self.prefix = prefix if prefix is not None else os.environ.get("NEBULAVOIP_LAB_PREFIX", DEFAULT_PREFIX)
        self.image = image or os.environ.get("NEBULAVOIP_LAB_IMAGE", DEFAULT_IMAGE)
        self.podman = podman or os.environ.get("NEBULAVOIP_LAB_PODMAN", "podman")
        self.stats_interval = max(float(stats_interval), 0.2)
        self.stop_timeout = int(stop_timeout)
        self.boot_timeout = float(boot_timeout)
        self.script_timeout = float(script_timeout)
        self.cap_add = [c for c in (DEFAULT_CAPS if cap_add is None else cap_add).split(",") if c.strip()]
        self.env = dict(os.environ)
        if not self.env.get("CONTAINERS_CONF") and os.path.exists(REPO_CONTAINERS_CONF):
            self.env["CONTAINERS_CONF"] = REPO_CONTAINERS_CONF
        self.emulator: Any = None
        self._lock = threading.Condition(threading.Lock())
        self._queues: Dict[int, Deque[Tuple[str, Dict[str, Any], float]]] = {}
        self._workers: Dict[int, threading.Thread] = {}
        self._status: Dict[int, Dict[str, Any]] = {}
        self._stats: Dict[int, Dict[str, Any]] = {}
        self._cpu_prev: Dict[int, Tuple[float, float]] = {}
        self._live_limits: Dict[int, Tuple[float, int]] = {}
        self._networks: Dict[str, str] = {}
        self._net_lock = threading.Lock()
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._poller: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ names
    def container(self, vid: int) -> str:
        """Container name of VM ``vid``."""
        return "%s%d" % (self.prefix, vid)

    def network(self, vnet_id: Any) -> str:
        """Podman network name of vnet ``vnet_id``."""
        return "%svnet-%s" % (self.prefix, vnet_id)

    # ------------------------------------------------------------------ podman
    def run(self, args: List[str], stdin: Optional[str] = None, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``podman ARGS``; raise :class:`PodmanError` on failure when ``check``."""
        try:
            proc = subprocess.run([self.podman] + args, input=stdin, capture_output=True, text=True, timeout=timeout, env=self.env, check=False)
        except subprocess.TimeoutExpired:
            raise PodmanError("podman %s: no answer after %.0f s" % (args[0], timeout)) from None
        except OSError as exc:
            raise PodmanError("cannot run %s: %s" % (self.podman, exc)) from None
        if check and proc.returncode != 0:
            message = (proc.stderr or proc.stdout or "").strip().splitlines()
            raise PodmanError("podman %s failed (rc %d): %s" % (" ".join(args[:2]), proc.returncode, message[-1] if message else ""))
        return proc

    def inspect(self, name: str) -> Optional[Dict[str, Any]]:
        """``podman container inspect`` of ``name`` (None if it does not exist)."""
        proc = self.run(["container", "inspect", name], check=False)
        if proc.returncode != 0:
            if "no such" in (proc.stderr or "").lower():
                return None
            raise PodmanError("podman container inspect %s: %s" % (name, (proc.stderr or "").strip()))
        data = json.loads(proc.stdout or "[]")
        return data[0] if data else None

    # ------------------------------------------------------------------ hooks (emulator lock held: be quick)
    def bind(self, emulator: Any) -> None:
        """Keep the emulator to read vnets while snapshotting a VM."""
        self.emulator = emulator

    def on_running(self, vm: Dict[str, Any]) -> None:
        """Create and start the container (or start it again) and contextualise it."""
        self._submit("up", vm)

    def on_poweroff(self, vm: Dict[str, Any]) -> None:
        """POWEROFF, SUSPENDED, STOPPED, UNDEPLOYED: stop the container (its filesystem stays)."""
        self._submit("stop", vm)

    def on_resume(self, vm: Dict[str, Any]) -> None:
        """Start the container as the VM boots again (RUNNING then contextualises it)."""
        self._submit("start", vm)

    def on_reboot(self, vm: Dict[str, Any], hard: bool) -> None:
        """``podman restart`` (hard: without a grace period)."""
        self._submit("reboot-hard" if hard else "reboot", vm)

    def on_terminate(self, vm: Dict[str, Any]) -> None:
        """DONE: remove the container."""
        self._submit("remove", vm)

    def on_resize(self, vm: Dict[str, Any]) -> None:
        """New CPU/MEMORY: live on a running container, else at its next start."""
        self._submit("resize", vm)

    def monitoring(self, vm: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """The last ``podman stats`` figures of the VM's container (None: the emulator's synthetic ones)."""
        with self._lock:
            entry = self._stats.get(vm["id"])
            state = self._status.get(vm["id"], {}).get("state")
        if not entry or state != "running" or time.monotonic() - entry["at"] > max(60.0, 3 * self.stats_interval):
            return None
        return {k: v for k, v in entry.items() if k != "at"}

    def status(self, vid: int = -1) -> Dict[str, Any]:
        """``{"<vm id>": {container, state, busy, queued, op, error, ip, hostname, up_seconds, context_seconds, start_script, updated}}``.

        ``state``: queued, creating, starting, started, running, stopping, stopped, rebooting, removed, absent or error;
        ``up_seconds``: from the RUNNING hook to a started and contextualised container (START_SCRIPT included).
        """
        with self._lock:
            out = {}
            for key, value in self._status.items():
                if vid in (-1, key):
                    item = dict(value)
                    item["queued"] = len(self._queues.get(key) or ())
                    item["busy"] = key in self._workers
                    out[str(key)] = item
            return out

    def close(self) -> None:
        """Let queued work finish (bounded), stop the stats poller; containers stay (they follow the --state file)."""
        self.wait_idle(timeout=max(self.stop_timeout + 20.0, 30.0))
        self._stop.set()
        self._poke.set()

    # ------------------------------------------------------------------ queue
    def _snapshot(self, vm: Dict[str, Any]) -> Dict[str, Any]:
        template = vm["template"]
        context = tpl.get(template, "CONTEXT")
        context = {k: str(v) for k, v in context.items()} if isinstance(context, dict) else {}
        os_vec = tpl.get(template, "OS")
        nics = []
        vnets = self.emulator.db["vnets"] if self.emulator is not None else {}
        for key, value in template:
            if key != "NIC" or not isinstance(value, dict):
                continue
            nic = {"nic_id": value.get("NIC_ID", ""), "ip": value.get("IP", ""), "mac": value.get("MAC", ""),
                   "vnet": value.get("NETWORK_ID", ""), "error": ""}
            vnet = vnets.get(str(value.get("NETWORK_ID", "")))
            if vnet is None:
                nic["error"] = "vnet %s is unknown" % nic["vnet"]
            else:
                try:
                    subnet, gateway = vnet_subnet(vnet)
                    nic.update({"subnet": str(subnet), "gateway": str(gateway)})
                except ValueError as exc:
                    nic["error"] = str(exc)
            nics.append(nic)
        try:
            cpu = float(tpl.get_str(template, "CPU", "1") or 1)
        except ValueError:
            cpu = 1.0
        memory = tpl.get_str(template, "MEMORY", "") or ""
        return {"id": vm["id"], "name": vm["name"], "cpu": cpu, "memory": int(memory) if memory.isdigit() else 0, "context": context,
                "nics": nics, "uuid": os_vec.get("UUID", "") if isinstance(os_vec, dict) else "",
                "hostname": hostname_for(context.get("SET_HOSTNAME") or vm["name"])}

    def _submit(self, op: str, vm: Dict[str, Any]) -> None:
        spec = self._snapshot(vm)
        vid = spec["id"]
        with self._lock:
            self._queues.setdefault(vid, deque()).append((op, spec, time.monotonic()))
            status = self._status.setdefault(vid, {"container": self.container(vid), "state": "queued", "error": "", "ip": "",
                                                   "hostname": "", "up_seconds": -1.0, "context_seconds": -1.0, "start_script": "", "op": "", "updated": 0.0})
            status["updated"] = time.time()
            if vid not in self._workers:
                worker = threading.Thread(target=self._drain, args=(vid,), name="podman-vm-%d" % vid, daemon=True)
                self._workers[vid] = worker
                worker.start()

    def _drain(self, vid: int) -> None:
        while True:
            with self._lock:
                queue = self._queues.get(vid)
                if not queue:
                    self._queues.pop(vid, None)
                    self._workers.pop(vid, None)
                    self._lock.notify_all()
                    return
                op, spec, queued_at = queue.popleft()
                self._status[vid]["op"] = op
            try:
                getattr(self, "_op_" + op.replace("-", "_"))(spec, queued_at)
            except Exception as exc:  # pylint: disable=broad-except
                self._update(vid, state="error", error="%s: %s" % (op, exc))
                log("VM %d %s failed: %s" % (vid, op, exc))
            finally:
                self._update(vid, op="")

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every queued operation ran; False on timeout."""
        end = time.monotonic() + timeout
        with self._lock:
            while self._workers:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def _update(self, vid: int, **values: Any) -> None:
        with self._lock:
            status = self._status.setdefault(vid, {"container": self.container(vid)})
            status.update(values)
            status["updated"] = time.time()

    # ------------------------------------------------------------------ operations (worker threads)
    def _op_up(self, spec: Dict[str, Any], queued_at: float) -> None:
        vid, name = spec["id"], self.container(spec["id"])
        self._update(vid, error="", start_script="")
        info = self.inspect(name)
        labels = ((info or {}).get("Config") or {}).get("Labels") or {}
        if info is not None and spec["uuid"] and labels.get("one.vm.uuid") not in (None, spec["uuid"]):
            log("VM %d: %s belongs to another VM (UUID %s), replacing it" % (vid, name, labels.get("one.vm.uuid")))
            self.run(["rm", "-f", "-t", "0", name])
            info = None
        self._ensure_networks(spec)
        created = info is None
        if created:
            self._update(vid, state="creating", error="")
            self._create(spec)
            self._live_limits[vid] = (spec["cpu"], spec["memory"])
        elif not (info.get("State") or {}).get("Running"):
            self._update(vid, state="starting", error="")
            self.run(["start", name])
            self._live_limits.pop(vid, None)
        self._apply_limits(spec, info)
        booted = time.monotonic()
        self._contextualise(spec)
        done = time.monotonic()
        self._update(vid, state="running", ip=",".join(n["ip"] for n in spec["nics"] if n["ip"]), hostname=spec["hostname"],
                     up_seconds=round(done - queued_at, 3), context_seconds=round(done - booted, 3))
        log("VM %d: %s %s in %.2f s, of which contextualisation %.2f s (%s)" % (
            vid, name, "created" if created else "up", done - queued_at, done - booted, ", ".join(n["ip"] for n in spec["nics"] if n["ip"]) or "no NIC"))
        self._start_poller()

    def _op_start(self, spec: Dict[str, Any], queued_at: float) -> None:
        del queued_at
        vid, name = spec["id"], self.container(spec["id"])
        info = self.inspect(name)
        if info is None:
            return  # RUNNING will create it
        if not (info.get("State") or {}).get("Running"):
            self._ensure_networks(spec)
            self._update(vid, state="starting", error="")
            self.run(["start", name])
            self._live_limits.pop(vid, None)
            self._apply_limits(spec, info)
            self._update(vid, state="started")

    def _op_stop(self, spec: Dict[str, Any], queued_at: float) -> None:
        del queued_at
        vid, name = spec["id"], self.container(spec["id"])
        if self.inspect(name) is None:
            self._update(vid, state="absent")
            return
        self._update(vid, state="stopping")
        self.run(["stop", "-t", str(self.stop_timeout), name], timeout=self.stop_timeout + 60)
        self._live_limits.pop(vid, None)
        self._update(vid, state="stopped")

    def _op_reboot(self, spec: Dict[str, Any], queued_at: float, grace: Optional[int] = None) -> None:
        vid, name = spec["id"], self.container(spec["id"])
        if self.inspect(name) is None:
            self._op_up(spec, queued_at)
            return
        grace = self.stop_timeout if grace is None else grace
        self._update(vid, state="rebooting", error="", start_script="")
        self.run(["restart", "-t", str(grace), name], timeout=grace + 60)
        self._live_limits.pop(vid, None)
        self._apply_limits(spec, self.inspect(name))
        self._contextualise(spec)
        self._update(vid, state="running")

    def _op_reboot_hard(self, spec: Dict[str, Any], queued_at: float) -> None:
        self._op_reboot(spec, queued_at, grace=0)

    def _op_remove(self, spec: Dict[str, Any], queued_at: float) -> None:
        del queued_at
        vid = spec["id"]
        self.run(["rm", "-f", "-t", "0", "--ignore", self.container(vid)], timeout=self.stop_timeout + 60)
        self._live_limits.pop(vid, None)
        with self._lock:
            self._stats.pop(vid, None)
            self._cpu_prev.pop(vid, None)
        self._update(vid, state="removed", ip="")

    def _op_resize(self, spec: Dict[str, Any], queued_at: float) -> None:
        del queued_at
        info = self.inspect(self.container(spec["id"]))
        if info is not None and (info.get("State") or {}).get("Running"):
            self._apply_limits(spec, info)
        # else: applied when the container starts again (podman cannot update a stopped container)

    # ------------------------------------------------------------------ pieces
    def _ensure_networks(self, spec: Dict[str, Any]) -> None:
        for nic in spec["nics"]:
            if nic["error"]:
                raise PodmanError("NIC %s: %s" % (nic["nic_id"], nic["error"]))
            if nic["ip"] and nic["ip"] == nic["gateway"]:
                raise PodmanError("NIC %s: the leased IP %s is the gateway of %s (start the AR after the GATEWAY / first address)"
                                  % (nic["nic_id"], nic["ip"], nic["subnet"]))
            self.ensure_network(nic["vnet"], nic["subnet"], nic["gateway"])

    def ensure_network(self, vnet_id: Any, subnet: str, gateway: str) -> str:
        """Create ``<prefix>vnet-<id>`` with ``subnet``/``gateway`` unless it exists with that subnet (idempotent)."""
        name = self.network(vnet_id)
        with self._net_lock:
            if self._networks.get(name) == subnet:
                return name
            proc = self.run(["network", "inspect", name], check=False)
            if proc.returncode == 0:
                data = json.loads(proc.stdout or "[]")
                subnets = [s.get("subnet") for s in (data[0].get("subnets") or [])] if data else []
                if subnet in subnets:
                    self._networks[name] = subnet
                    return name
                log("network %s has %s, vnet %s needs %s: recreating it" % (name, subnets, vnet_id, subnet))
                self.run(["network", "rm", name])
            create = self.run(["network", "create", "--subnet", subnet, "--gateway", gateway, "--label", "one.vnet.id=%s" % vnet_id,
                               "--label", "%s=%s" % (OWNER_LABEL, self.prefix), name], check=False)
            if create.returncode != 0 and "already exists" not in (create.stderr or ""):
                raise PodmanError("podman network create %s (%s): %s" % (name, subnet, (create.stderr or "").strip()))
            log("network %s: %s gateway %s" % (name, subnet, gateway))
            self._networks[name] = subnet
            return name

    def _limits_args(self, spec: Dict[str, Any]) -> List[str]:
        cpus = spec["cpu"]
        host_cpus = os.cpu_count() or 1
        if cpus > host_cpus:
            log("VM %d: CPU %s capped to the host's %d CPUs" % (spec["id"], cpus, host_cpus))
            cpus = float(host_cpus)
        args = ["--cpus", "%g" % max(cpus, 0.01)]
        if spec["memory"] > 0:
            args += ["--memory", "%dm" % spec["memory"], "--memory-swap", "%dm" % spec["memory"]]
        return args

    def _create(self, spec: Dict[str, Any]) -> None:
        vid = spec["id"]
        args = ["run", "-d", "--name", self.container(vid), "--hostname", spec["hostname"], "--systemd=always"]
        for ulimit in ULIMITS:
            args += ["--ulimit", ulimit]
        for cap in self.cap_add:
            args += ["--cap-add", cap.strip()]
        args += self._limits_args(spec)
        for label in ("one.vmid=%d" % vid, "one.vm.name=%s" % spec["name"], "one.vm.uuid=%s" % spec["uuid"],
                      "%s=%s" % (OWNER_LABEL, self.prefix), "nebulavoip.cpu=%g" % spec["cpu"], "nebulavoip.memory=%d" % spec["memory"]):
            args += ["--label", label]
        for nic in spec["nics"]:
            options = [o for o in ("ip=%s" % nic["ip"] if nic["ip"] else "", "mac=%s" % nic["mac"] if nic["mac"] else "") if o]
            args += ["--network", self.network(nic["vnet"]) + (":" + ",".join(options) if options else "")]
        if not spec["nics"]:
            args += ["--network", "none"]
        args += [self.image, "/sbin/init"]
        self.run(args)

    def _apply_limits(self, spec: Dict[str, Any], info: Optional[Dict[str, Any]]) -> None:
        """Bring the running container to the VM's CPU/MEMORY (live updates are lost at each start, so re-apply then)."""
        vid = spec["id"]
        wanted = (spec["cpu"], spec["memory"])
        if self._live_limits.get(vid) == wanted:
            return
        host = (info or {}).get("HostConfig") or {}
        created = (host.get("NanoCpus", 0) / 1e9, int(host.get("Memory", 0)) // (1024 * 1024))
        if created != (min(spec["cpu"], float(os.cpu_count() or 1)), spec["memory"]) or vid in self._live_limits:
            self.run(["update"] + self._limits_args(spec) + [self.container(vid)])
            log("VM %d: limits CPU %g MEMORY %d MiB applied" % (vid, spec["cpu"], spec["memory"]))
        self._live_limits[vid] = wanted

    def _contextualise(self, spec: Dict[str, Any]) -> None:
        vid, name, ctx = spec["id"], self.container(spec["id"]), spec["context"]
        names = sorted(k for k in ctx if NAME_RE.match(k))
        context_sh = "# Context variables generated by OpenNebula\n" + "".join("%s=%s\n" % (k, _single_quote(ctx[k])) for k in names)
        one_env = "".join("export %s=%s\n" % (k, _single_quote(ctx[k])) for k in names)
        lines = ["set -e", "umask 022", "mkdir -p %s %s" % (CONTEXT_DIR, STATE_DIR),
                 "printf '%%s' %s > %s/context.sh" % (shlex.quote(context_sh), CONTEXT_DIR),
                 "printf '%%s' %s > %s/one_env" % (shlex.quote(one_env), CONTEXT_DIR),
                 "chmod 0600 %s/context.sh %s/one_env" % (CONTEXT_DIR, CONTEXT_DIR)]
        keys = [k.strip() for k in ctx.get("SSH_PUBLIC_KEY", "").splitlines() if k.strip()]
        if keys:
            auth = "/root/.ssh/authorized_keys"
            lines += ["umask 077", "mkdir -p /root/.ssh", "chmod 0700 /root/.ssh", "touch %s" % auth, "chmod 0600 %s" % auth]
            lines += ["grep -qxF -- %s %s || printf '%%s\\n' %s >> %s" % (shlex.quote(k), auth, shlex.quote(k), auth) for k in keys]
        lines.append("if [ -e %s ]; then echo START_SCRIPT_DONE; fi" % START_DONE)
        ran_before = "START_SCRIPT_DONE" in self.run(["exec", "-i", name, "/bin/sh", "-s"], stdin="\n".join(lines) + "\n").stdout
        script = ctx.get("START_SCRIPT", "")
        if ctx.get("START_SCRIPT_BASE64"):
            try:
                script = base64.b64decode(ctx["START_SCRIPT_BASE64"]).decode("utf-8", "replace")
            except (binascii.Error, ValueError) as exc:
                raise PodmanError("START_SCRIPT_BASE64 is not base64: %s" % exc) from None
        if script.strip() and ran_before:
            self._update(vid, start_script="ran before")
        elif script.strip():
            self._start_script(vid, name, script)

    def _start_script(self, vid: int, name: str, script: str) -> None:
        """Run START_SCRIPT once: after systemd is up (degraded counts), with the CONTEXT variables in its environment."""
        path = "%s/start_script" % STATE_DIR
        runner = ("timeout %d systemctl is-system-running --wait >/dev/null 2>&1; umask 077; cat > %s; chmod 0700 %s; umask 022; "
                  "cd /root; set -a; . %s/one_env; set +a; if [ \"$(head -c2 %s)\" = '#!' ]; then %s; else /bin/sh %s; fi > %s 2>&1 </dev/null; "
                  "rc=$?; echo $rc > %s; cat %s; exit $rc") % (
            max(int(self.boot_timeout), 1), path, path, CONTEXT_DIR, path, path, path, SCRIPT_LOG, START_DONE, SCRIPT_LOG)
        proc = self.run(["exec", "-i", name, "/bin/sh", "-c", runner], stdin=script, check=False, timeout=self.boot_timeout + self.script_timeout)
        output = (proc.stdout or "").strip().splitlines()
        for line in output[-20:]:
            log("VM %d START_SCRIPT: %s" % (vid, line))
        log("VM %d: START_SCRIPT exited %d (%d lines of output in %s)" % (vid, proc.returncode, len(output), SCRIPT_LOG))
        self._update(vid, start_script="rc=%d" % proc.returncode)
        if proc.returncode != 0:
            self._update(vid, error="START_SCRIPT exited %d: %s" % (proc.returncode, output[-1] if output else (proc.stderr or "").strip()))

    # ------------------------------------------------------------------ monitoring
    def _start_poller(self) -> None:
        with self._lock:
            if self._poller is None and not self._stop.is_set():
                self._poller = threading.Thread(target=self._poll, name="podman-stats", daemon=True)
                self._poller.start()
        self._poke.set()

    def _poll(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                running = {self.container(v): v for v, s in self._status.items() if s.get("state") == "running"}
            if running:
                try:
                    self.refresh_stats(running)
                except Exception as exc:  # pylint: disable=broad-except
                    log("stats failed: %s" % exc)
            self._poke.wait(self.stats_interval)
            self._poke.clear()

    def refresh_stats(self, names: Dict[str, int]) -> None:
        """One ``podman stats`` for the given containers (name -> VM id); fall back to one call each on failure."""
        fmt = "{{json .ContainerStats}}"
        proc = self.run(["stats", "--no-stream", "--format", fmt] + sorted(names), check=False, timeout=60)
        if proc.returncode != 0 and len(names) > 1:
            for name in names:
                self.refresh_stats({name: names[name]})
            return
        now = time.monotonic()
        for line in (proc.stdout or "").splitlines():
            try:
                data = json.loads(line)
            except ValueError:
                continue
            vid = names.get(data.get("Name", ""))
            if vid is None:
                continue
            with self._lock:
                record, self._cpu_prev[vid] = stats_record(data, self._cpu_prev.get(vid), now)
                if record["CPU"] is None:  # first poll: podman's own figure (an average since the start)
                    record["CPU"] = round(float(data.get("CPU") or 0.0), 2)
                self._stats[vid] = record

    # ------------------------------------------------------------------ housekeeping
    def cleanup(self, networks: bool = True) -> None:
        """Remove every container (and network) this prefix made — for tests and tearing the lab down."""
        owner = "label=%s=%s" % (OWNER_LABEL, self.prefix)
        names = self.run(["ps", "-a", "--filter", owner, "--format", "{{.Names}}"], check=False).stdout.split()
        if names:
            self.run(["rm", "-f", "-t", "0", "--ignore"] + names, check=False, timeout=120)
        if networks:
            nets = self.run(["network", "ls", "--filter", owner, "--format", "{{.Name}}"], check=False).stdout.split()
            if nets:
                self.run(["network", "rm", "-f"] + nets, check=False, timeout=120)
        with self._net_lock:
            self._networks.clear()
