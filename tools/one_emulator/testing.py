"""Start the emulator for tests: in a thread (:class:`EmulatorThread`) or a subprocess (:class:`EmulatorProcess`).

Both expose ``.url`` (``http://127.0.0.1:PORT/RPC2``), ``.password``, ``.session``, ``.stop()`` and are context managers::

    from tools.one_emulator.testing import EmulatorThread
    with EmulatorThread(speed=50) as emu:
        one = pyone.OneServer(emu.url, session=emu.session)
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import xmlrpc.client
from typing import Any, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))


class _Base:
    url = ""
    password = "opennebula"

    @property
    def session(self) -> str:
        """``oneadmin:<password>``."""
        return "oneadmin:%s" % self.password

    def rpc(self) -> xmlrpc.client.ServerProxy:
        """A raw XML-RPC proxy."""
        return xmlrpc.client.ServerProxy(self.url, allow_none=False)

    def call(self, method: str, *args: Any) -> Any:
        """Call ``method`` with the oneadmin session; return oned's result array."""
        return getattr(self.rpc(), method)(self.session, *args)

    def stats(self) -> dict:
        """emulator.stats result (``{"total": n, "calls": {...}}``)."""
        return self.call("emulator.stats")[1]

    def reset_stats(self) -> None:
        """emulator.reset_stats."""
        self.call("emulator.reset_stats")

    def __enter__(self) -> "_Base":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the emulator."""
        raise NotImplementedError


class EmulatorThread(_Base):
    """The emulator served from a background thread of this process."""

    def __init__(self, password: str = "opennebula", speed: float = 50.0, state: Optional[str] = None, port: int = 0,
                 record: Optional[list] = None, backend: Any = None) -> None:
        if HERE not in sys.path and os.path.dirname(HERE) not in sys.path:
            sys.path.insert(0, os.path.dirname(HERE))
        from .emulator import Emulator  # pylint: disable=import-outside-toplevel
        from .server import serve  # pylint: disable=import-outside-toplevel
        self.password = password
        self.emulator = Emulator(password=password, speed=speed, state_file=state, backend=backend)
        if record is not None:
            original = self.emulator.dispatch

            def dispatch(method: str, params: Any) -> Any:
                result = original(method, params)
                if result and result[0] and isinstance(result[1], str) and result[1].startswith("<"):
                    record.append((method, result[1]))
                return result
            self.emulator.dispatch = dispatch  # type: ignore[method-assign]
        self.httpd = serve(self.emulator, "127.0.0.1", port, None)
        self.emulator.start()
        self.url = self.httpd.url
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Shut the server down and persist state."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.emulator.stop()


class EmulatorProcess(_Base):
    """``python3 tools/one_emulator --port 0`` as a subprocess (reads the ``ready <url>`` line)."""

    def __init__(self, password: str = "opennebula", speed: float = 50.0, state: Optional[str] = None, extra: Optional[List[str]] = None,
                 python: str = sys.executable) -> None:
        self.password = password
        cmd = [python, HERE, "--port", "0", "--speed", str(speed), "--password", password] + (["--state", state] if state else []) + (extra or [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # pylint: disable=consider-using-with
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("ready"):
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError("emulator did not start: %r %s" % (line, err))
        self.url = line.split()[1]
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self.log: List[str] = []
        self._drain.start()

    def _read_log(self) -> None:
        for line in self.proc.stderr or []:
            self.log.append(line)

    def stop(self) -> None:
        """Terminate the subprocess (SIGTERM: it saves --state first)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
