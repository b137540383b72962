"""``emulator.*`` methods: call statistics, fault injection, clock control.

These never use the ``one.`` prefix, take the same session string as their first argument,
and are not counted in the per-method statistics.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional

from .core import Base
from .errors import XML_RPC_API, OneError

FAULT_KINDS = ("deploy", "shutdown", "prolog", "image", "slow_deploy")
MAX_STEPS = 10000  # periodic events (monitoring) never run out: bound emulator.step


class FaultsMixin(Base):
    """Fault queue, latency, dropped calls and statistics."""

    def _register(self) -> None:
        self.stats: Dict[str, int] = {}
        self.stats_lock = threading.Lock()
        self.latency: Dict[str, float] = {}
        self.drop: Dict[str, int] = {}
        reg = self.register
        reg("emulator.stats", "s", self.em_stats, False)
        reg("emulator.reset_stats", "s", self.em_reset_stats, False)
        reg("emulator.fail_next", "ss|is", self.em_fail_next, False)
        reg("emulator.clear_faults", "s", self.em_clear_faults, False)
        reg("emulator.host_error", "si|s", self.em_host_error)
        reg("emulator.latency", "sd|s", self.em_latency, False)
        reg("emulator.drop_next", "s|is", self.em_drop_next, False)
        reg("emulator.speed", "s|d", self.em_speed, False)
        reg("emulator.freeze", "sb", self.em_freeze, False)
        reg("emulator.step", "s|i", self.em_step)
        reg("emulator.advance", "sd", self.em_advance)
        reg("emulator.pending_events", "s", self.em_pending, False)
        reg("emulator.save", "s", self.em_save, False)
        reg("emulator.backend_status", "s|i", self.em_backend_status, False)

    # ------------------------------------------------------------------ used by the state machine
    def take_fault(self, kind: str) -> Optional[Dict[str, Any]]:
        """Consume one queued fault of ``kind`` (None if there is none)."""
        queue = self.faults.get(kind)
        if queue:
            fault = queue.pop(0)
            return fault
        return None

    def peek_fault(self, kind: str) -> Optional[Dict[str, Any]]:
        """The next queued fault of ``kind`` without consuming it."""
        queue = self.faults.get(kind)
        return queue[0] if queue else None

    def count_call(self, method: str) -> None:
        """Count a ``one.*`` call."""
        with self.stats_lock:
            self.stats[method] = self.stats.get(method, 0) + 1

    def take_drop(self, method: str) -> bool:
        """Whether this call must be dropped (connection closed without an answer)."""
        with self.stats_lock:
            for key in (method, "*"):
                if self.drop.get(key, 0) > 0:
                    self.drop[key] -= 1
                    return True
        return False

    def latency_for(self, method: str) -> float:
        """Added latency (seconds) for ``method``."""
        return self.latency.get(method, self.latency.get("*", 0.0))

    # ------------------------------------------------------------------ methods
    def em_stats(self, user: Dict[str, Any]) -> Dict[str, Any]:
        """Per-method ``one.*`` call counts since the last reset, and their total."""
        del user
        with self.stats_lock:
            calls = dict(self.stats)
        return {"total": sum(calls.values()), "calls": calls}

    def em_reset_stats(self, user: Dict[str, Any]) -> bool:
        """Reset the call counters."""
        del user
        with self.stats_lock:
            self.stats.clear()
        return True

    def em_fail_next(self, user: Dict[str, Any], kind: str, count: int = 1, message: str = "") -> bool:
        """Queue ``count`` failures of ``kind`` (deploy, shutdown, prolog, image, slow_deploy)."""
        del user
        if kind not in FAULT_KINDS:
            raise OneError(XML_RPC_API, "Unknown fault kind %s, expected one of %s" % (kind, ", ".join(FAULT_KINDS)))
        fault: Dict[str, Any] = {"message": message}
        if kind == "slow_deploy":
            try:
                fault["seconds"] = float(message) if message else 3.0
            except ValueError:
                fault["seconds"] = 3.0
            fault["message"] = ""
        self.faults.setdefault(kind, []).extend(dict(fault) for _copy in range(max(count, 1)))
        return True

    def em_clear_faults(self, user: Dict[str, Any]) -> bool:
        """Forget queued faults, latency and drops."""
        del user
        self.faults.clear()
        self.latency.clear()
        self.drop.clear()
        return True

    def em_host_error(self, user: Dict[str, Any], hid: int, message: str = "Error monitoring Host") -> bool:
        """Put a host into ERROR (empty message: clear the error)."""
        del user
        self.set_host_error(hid, message)  # type: ignore[attr-defined]
        return True

    def em_latency(self, user: Dict[str, Any], seconds: float, method: str = "*") -> bool:
        """Delay every call (or ``method``) by ``seconds`` (0 removes)."""
        del user
        if seconds <= 0:
            self.latency.pop(method, None)
        else:
            self.latency[method] = float(seconds)
        return True

    def em_drop_next(self, user: Dict[str, Any], count: int = 1, method: str = "*") -> bool:
        """Drop the next ``count`` calls (of ``method``): the connection closes without an answer."""
        del user
        with self.stats_lock:
            self.drop[method] = self.drop.get(method, 0) + max(count, 1)
        return True

    def em_speed(self, user: Dict[str, Any], speed: float = 0.0) -> float:
        """Get (no argument or 0) or set the speed factor."""
        del user
        if speed > 0:
            self.engine.set_speed(speed)
        return self.engine.speed

    def em_freeze(self, user: Dict[str, Any], frozen: bool) -> bool:
        """Freeze the emulated clock: transitions happen only through emulator.step / advance."""
        del user
        self.engine.freeze(frozen)
        return frozen

    def em_step(self, user: Dict[str, Any], count: int = 1) -> int:
        """Fire the next ``count`` timed events; returns how many fired."""
        del user
        fired = 0
        for _step in range(min(max(count, 1), MAX_STEPS)):
            if not self.engine.step():
                break
            fired += 1
        return fired

    def em_advance(self, user: Dict[str, Any], seconds: float) -> int:
        """Advance the clock by ``seconds`` emulated seconds; returns events fired."""
        del user
        return self.engine.advance(seconds)

    def em_pending(self, user: Dict[str, Any]) -> int:
        """Number of queued timed events."""
        del user
        return self.engine.pending()

    def em_save(self, user: Dict[str, Any]) -> bool:
        """Write the --state file now."""
        del user
        self.save()
        return True

    def em_backend_status(self, user: Dict[str, Any], vid: int = -1) -> Dict[str, Any]:
        """Per-VM state of the VM backend (containers of ``--backend podman``): ``{"<vm id>": {...}}``."""
        del user
        return getattr(self.backend, "status", lambda vid: {})(vid)
