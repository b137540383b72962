# -*- coding: utf-8 -*-
# Copyright: NebulaVoIP maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Emulator backend of the voip_loadtest scenario: a RUNNING VM *is* the existing container of its name.

``python3 tools/one_emulator --backend one_adopt_backend:AdoptBackend`` (this directory on PYTHONPATH).
The scenario's SIP server is a Molecule container; the VM ``nebulavoip-lt-sip`` made in the emulator
adopts it, so oned's MONITORING of that VM (what ``one_vm_info`` returns) holds the container's real
figures from ``podman stats``, as the emulator's podman backend gives them for the lab's VMs: CPU in %
of one CPU (CPU-time delta between two polls), MEMORY in KiB, NETRX/NETTX and DISKRDBYTES/DISKWRBYTES
in bytes. Nothing else is done to the container (no start, stop or removal).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

from one_emulator.backend import VMBackend  # pylint: disable=import-error
from one_emulator.podman_backend import stats_record  # pylint: disable=import-error


class AdoptBackend(VMBackend):
    """Monitoring of existing containers named like the VMs; the VM life cycle leaves them alone."""

    def __init__(self, podman: str = "podman", interval: str = "1"):
        self.podman = podman
        self.interval = float(interval)
        self._lock = threading.Lock()
        self._names = {}
        self._stats = {}
        self._prev = {}
        self._stop = threading.Event()
        self._thread = None

    def on_running(self, vm):
        with self._lock:
            self._names[vm["id"]] = vm["name"]
            if self._thread is None:
                self._thread = threading.Thread(target=self._poll, name="adopt-stats", daemon=True)
                self._thread.start()

    def _forget(self, vm):
        with self._lock:
            self._names.pop(vm["id"], None)
            self._stats.pop(vm["id"], None)

    on_poweroff = _forget
    on_terminate = _forget

    def monitoring(self, vm):
        with self._lock:
            entry = self._stats.get(vm["id"])
        if not entry or time.monotonic() - entry["at"] > max(10.0, 5 * self.interval):
            return None
        return {k: v for k, v in entry.items() if k != "at"}

    def status(self, vid=-1):
        with self._lock:
            return {str(k): {"container": n, "state": "running" if k in self._stats else "waiting"}
                    for k, n in self._names.items() if vid in (-1, k)}

    def close(self):
        self._stop.set()

    def _poll(self):
        while not self._stop.is_set():
            with self._lock:
                names = {n: v for v, n in self._names.items()}
            if names:
                try:
                    self._refresh(names)
                except (OSError, subprocess.SubprocessError, ValueError):
                    pass  # the container may not exist (yet): synthetic figures meanwhile
            self._stop.wait(self.interval)

    def _refresh(self, names):
        proc = subprocess.run([self.podman, "stats", "--no-stream", "--format", "{{json .ContainerStats}}"] + sorted(names),
                              capture_output=True, text=True, timeout=60, check=False)
        now = time.monotonic()
        for line in proc.stdout.splitlines():
            data = json.loads(line)
            vid = names.get(data.get("Name"))
            if vid is None:
                continue
            with self._lock:
                record, self._prev[vid] = stats_record(data, self._prev.get(vid), now)
                if record["CPU"] is not None:  # a CPU figure needs two polls
                    self._stats[vid] = record
