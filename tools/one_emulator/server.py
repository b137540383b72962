"""Threaded XML-RPC HTTP front end (``/RPC2``) speaking like xmlrpc-c's Abyss server in oned."""

from __future__ import annotations

import sys
import threading
import time
import xmlrpc.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional, TextIO
from xml.parsers.expat import ExpatError

from .emulator import Emulator
from .errors import RpcFault


def _fault(code: int, message: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True, allow_none=False).encode()


def _summary(params: Any) -> str:
    out = []
    for value in params[1:] if params else []:
        text = repr(value)
        out.append(text if len(text) <= 60 else text[:57] + "...")
    return ", ".join(out)


class Handler(BaseHTTPRequestHandler):
    """One XML-RPC POST per request."""

    server: "EmulatorHTTPServer"
    protocol_version = "HTTP/1.0"
    server_version = "Xmlrpc-c_Abyss/1.33.14"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
        """Silence http.server's own access log (we log calls ourselves)."""

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        """oned answers GETs on /RPC2 with 405."""
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # pylint: disable=invalid-name
        """Dispatch one call."""
        emu = self.server.emulator
        if self.path.rstrip("/") not in ("/RPC2", ""):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        start = time.monotonic()
        method = "?"
        params: Any = ()
        try:
            try:
                params, method = xmlrpc.client.loads(body, use_builtin_types=False)
            except (ExpatError, ValueError, TypeError, IndexError) as exc:
                raise RpcFault(-503, "Call XML not a proper XML-RPC call.  Call is not valid XML.  Invalid XML \"content\".  "
                                     "Problem with token at '...': %s" % (str(exc).split(":", maxsplit=1)[0] or "no element found")) from None
            if method is None:
                raise RpcFault(-503, "Call XML not a proper XML-RPC call.  No methodName element")
            if emu.take_drop(method):
                self.server.log("%s %s -> DROPPED" % (method, _summary(params)))
                self.close_connection = True
                return
            delay = emu.latency_for(method)
            if delay > 0:
                time.sleep(delay)
            result = emu.dispatch(method, params)
            payload = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=False).encode()
            outcome = "ok" if result[0] else "error 0x%x %s" % (result[2], result[1])
        except RpcFault as fault:
            payload = _fault(fault.code, fault.message)
            outcome = "fault %d %s" % (fault.code, fault.message)
        except Exception as exc:  # pylint: disable=broad-except
            # never a Python traceback over the wire: oned's internal error shape
            label = method if isinstance(method, str) else "?"
            payload = xmlrpc.client.dumps(([False, "[%s] Internal error: %s" % (label, type(exc).__name__), 0x2000, -1, -1],),
                                          methodresponse=True).encode()
            outcome = "INTERNAL %r" % exc
            import traceback  # pylint: disable=import-outside-toplevel
            traceback.print_exc()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.server.log("%s(%s) -> %s [%.1f ms]" % (method, _summary(params), outcome[:200], (time.monotonic() - start) * 1000))


class EmulatorHTTPServer(ThreadingHTTPServer):
    """HTTP server bound to one :class:`Emulator`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple, emulator: Emulator, log_stream: Optional[TextIO] = None) -> None:
        super().__init__(address, Handler)
        self.emulator = emulator
        self.log_stream = log_stream
        self.log_lock = threading.Lock()

    def log(self, line: str) -> None:
        """One line per call."""
        if self.log_stream is None:
            return
        with self.log_lock:
            self.log_stream.write("%s %s\n" % (time.strftime("%H:%M:%S"), line))
            self.log_stream.flush()

    @property
    def url(self) -> str:
        """http://HOST:PORT/RPC2."""
        host, port = self.server_address[:2]
        return "http://%s:%d/RPC2" % (host, port)


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 2633, log_stream: Optional[TextIO] = sys.stderr) -> EmulatorHTTPServer:
    """Create the HTTP server (call ``serve_forever`` yourself)."""
    return EmulatorHTTPServer((host, port), emulator, log_stream)
