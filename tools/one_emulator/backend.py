"""Optional VM backend hook (e.g. attach containers to RUNNING VMs in the lab).

The state machine never depends on a backend: hooks are notified after a transition and
their failures are logged, never propagated.  Select one with ``--backend module:Class`` or a
built-in name (``--backend podman`` = :mod:`podman_backend`), options with ``--backend-opt KEY=VALUE``.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Optional

BUILTIN = {"podman": ".podman_backend:PodmanBackend"}


class VMBackend:
    """No-op backend; subclass and override what you need."""

    def on_running(self, vm: Dict[str, Any]) -> None:
        """The VM reached RUNNING (first boot, resume, reboot excluded)."""

    def on_poweroff(self, vm: Dict[str, Any]) -> None:
        """The VM left RUNNING for POWEROFF, SUSPENDED, STOPPED or UNDEPLOYED."""

    def on_resume(self, vm: Dict[str, Any]) -> None:
        """The VM was resumed (before it reaches RUNNING again)."""

    def on_reboot(self, vm: Dict[str, Any], hard: bool) -> None:
        """reboot / reboot-hard of a RUNNING VM."""

    def on_terminate(self, vm: Dict[str, Any]) -> None:
        """The VM reached DONE."""

    def on_resize(self, vm: Dict[str, Any]) -> None:
        """CPU / VCPU / MEMORY changed."""

    def monitoring(self, vm: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Return real monitoring values (CPU, MEMORY, NETRX, NETTX ...) or None for synthetic ones."""
        del vm
        return None

    def bind(self, emulator: Any) -> None:
        """Called once with the emulator (read its ``db`` only from inside a hook: hooks run under its lock)."""
        del emulator

    def status(self, vid: int = -1) -> Dict[str, Any]:
        """Per-VM backend state for ``emulator.backend_status`` (string keys, XML-RPC-safe values)."""
        del vid
        return {}

    def close(self) -> None:
        """The emulator stops."""


def load_backend(spec: Optional[str], options: Optional[Dict[str, str]] = None) -> VMBackend:
    """Instantiate ``module:Class`` or a built-in name (``None`` or ``noop`` gives the no-op backend).

    ``options`` become keyword arguments of the class (``--backend-opt KEY=VALUE``).
    """
    if not spec or spec == "noop":
        return VMBackend()
    spec = BUILTIN.get(spec, spec)
    module_name, _sep, class_name = spec.partition(":")
    module = importlib.import_module(module_name, __package__ if module_name.startswith(".") else None)
    backend = getattr(module, class_name or "Backend")(**(options or {}))
    if not isinstance(backend, VMBackend):
        raise TypeError("%s is not a VMBackend" % spec)
    return backend
