"""The assembled emulator and its call dispatcher (protocol-independent)."""

from __future__ import annotations

import sys
import time
from typing import Any, List, Tuple

from . import states as S
from .errors import AUTH_FAILED, AUTHENTICATION, INCOMPLETE_METHOD, OneError, RpcFault
from .faults import FaultsMixin
from .hosts import HostsMixin
from .images import IMG_DELETE, IMG_LOCKED, ImagesMixin
from .vms import VMsMixin
from .vnets import VN_LOCK_CREATE, VN_LOCK_DELETE, VnetsMixin

TYPE_NAMES = {"i": "integer", "b": "boolean", "s": "a string", "d": "floating point number", "a": "an array"}


def _type_ok(code: str, value: Any) -> bool:
    if code == "i":  # a bool is an int in Python, not in XML-RPC
        return isinstance(value, int) and not isinstance(value, bool)
    if code == "b":
        return isinstance(value, bool)
    if code == "s":
        return isinstance(value, str)
    if code == "a":
        return isinstance(value, (list, tuple))
    if code == "d":
        return isinstance(value, (float, int)) and not isinstance(value, bool)
    return True


class Emulator(FaultsMixin, VMsMixin, ImagesMixin, VnetsMixin, HostsMixin):
    """oned 7.2 with dummy drivers, in memory (optionally persisted)."""

    def start(self) -> None:
        """Start the timed-event engine (and resume transient states of a loaded state file)."""
        if self.loaded:
            with self.lock:
                self._resume_after_load()
        self.engine.start()

    def stop(self) -> None:
        """Stop the engine, let the backend finish its queued work, and persist."""
        self.engine.stop()
        try:
            getattr(self.backend, "close", lambda: None)()
        except Exception as exc:  # pylint: disable=broad-except
            print("backend close failed: %s" % exc, file=sys.stderr, flush=True)
        self.save()

    def dispatch(self, method: str, params: Tuple[Any, ...]) -> List[Any]:
        """Execute one call; return oned's result array or raise :class:`RpcFault`."""
        meth = self.methods.get(method)
        if meth is None:
            raise RpcFault(-506, "Method '%s' not defined" % method)
        if not params:
            raise RpcFault(-500, INCOMPLETE_METHOD + "Subscript of xmlrpc_c::paramList out of bounds")
        if method.startswith("one."):
            self.count_call(method)
        label = method
        try:
            if not isinstance(params[0], str):
                raise OneError(AUTHENTICATION, AUTH_FAILED)
            args = list(params[1:])
            signature = meth.required[1:] + meth.optional
            if len(args) < len(meth.required) - 1:
                for code, value in zip(signature, args):
                    if not _type_ok(code, value):
                        raise RpcFault(-501, "Parameter that is supposed to be %s is not" % TYPE_NAMES[code])
                raise RpcFault(-501, "Not enough parameters")
            args = args[:len(signature)]
            for code, value in zip(signature, args):
                if not _type_ok(code, value):
                    raise RpcFault(-501, "Parameter that is supposed to be %s is not" % TYPE_NAMES[code])
            with self.lock:
                user = self.authenticate(params[0])
                result = meth.func(user, *args)
                if meth.mutates:
                    self.mark_dirty()
            return [True, result, 0]
        except OneError as err:
            label = getattr(err, "method", method)
            return [False, "[%s] %s" % (label, err.message), err.code, err.resp_id, -1]

    # ------------------------------------------------------------------ restart
    def _resume_after_load(self) -> None:  # pylint: disable=too-many-branches
        """Settle transient states after loading a state file and restart timers."""
        for host in self.db["hosts"].values():
            if host["state"] in (0, 2, 4):
                host["monitor_gen"] = host.get("monitor_gen", 0) + 1
                self.later("host_monitor_first", self._host_monitor_tick, host["id"], host["monitor_gen"])
        for img in list(self.db["images"].values()):
            if img["state"] == IMG_LOCKED:
                self._image_ready(img["id"])
            elif img["state"] == IMG_DELETE:
                self._image_gone(img["id"])
        for vnet in list(self.db["vnets"].values()):
            if vnet["state"] == VN_LOCK_CREATE:
                self._vnet_ready(vnet["id"])
            elif vnet["state"] == VN_LOCK_DELETE:
                self._vnet_gone(vnet["id"])
        for vm in list(self.db["vms"].values()):
            vm["gen"] = vm.get("gen", 0) + 1
            if vm["state"] == S.PENDING:
                self._enter_pending(vm)
            elif vm["state"] != S.ACTIVE:
                continue
            elif vm["lcm"] in (S.SHUTDOWN, S.EPILOG, S.CLEANUP_DELETE):
                self._done(vm)
            elif vm["lcm"] == S.SHUTDOWN_POWEROFF:
                self._set(vm, S.POWEROFF)
            elif vm["lcm"] == S.SAVE_SUSPEND:
                self._set(vm, S.SUSPENDED)
            elif vm["lcm"] in (S.SAVE_STOP, S.EPILOG_STOP):
                self._off_host(S.STOPPED)(vm)
            elif vm["lcm"] in (S.SHUTDOWN_UNDEPLOY, S.EPILOG_UNDEPLOY):
                self._off_host(S.UNDEPLOYED)(vm)
            elif vm["lcm"] in (S.BOOT_FAILURE, S.PROLOG_FAILURE, S.UNKNOWN):
                continue
            else:
                if not vm["deploy_id"]:
                    host = self.db["hosts"].get(str(vm["host"]))
                    vm["deploy_id"] = "%s:%s:dummy" % (host["name"] if host else "", vm["name"])
                self._to_running(vm)
        self.db.setdefault("restarted", []).append(int(time.time()))
