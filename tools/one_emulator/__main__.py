"""CLI: ``python3 tools/one_emulator [--port 2633] [--speed 1] [--state FILE] [--password PW]``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

if __package__ in (None, ""):
    # run as ``python3 tools/one_emulator``: make the package importable by its name
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "one_emulator"  # pylint: disable=redefined-builtin

from .backend import load_backend
from .emulator import Emulator
from .server import serve


def main(argv=None) -> int:
    """Parse arguments, start the emulator, print ``ready <url>``, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="one_emulator", description="OpenNebula 7.2 oned emulator (dummy drivers), XML-RPC on /RPC2")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2633, help="TCP port; 0 picks a free one (printed on the ready line)")
    parser.add_argument("--password", default=os.environ.get("ONE_EMULATOR_PASSWORD", "opennebula"),
                        help="oneadmin's password (env ONE_EMULATOR_PASSWORD, default opennebula)")
    parser.add_argument("--speed", type=float, default=float(os.environ.get("ONE_EMULATOR_SPEED", "1")),
                        help="divide every emulated delay by this factor (default 1 = real dummy-driver timing)")
    parser.add_argument("--state", default=None, help="persist every object in this JSON file (reloaded on start)")
    parser.add_argument("--backend", default=os.environ.get("ONE_EMULATOR_BACKEND"),
                        help="VM backend hook: 'podman' (containers for RUNNING VMs) or module:Class (env ONE_EMULATOR_BACKEND; default none)")
    parser.add_argument("--backend-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="backend option, repeatable (podman: prefix, image, stats_interval, stop_timeout, boot_timeout, script_timeout, cap_add)")
    parser.add_argument("--quiet", action="store_true", help="do not log calls on stderr")
    args = parser.parse_args(argv)
    options = {}
    for item in args.backend_opt:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error("--backend-opt wants KEY=VALUE, got %r" % item)
        options[key.strip().replace("-", "_")] = value

    emulator = Emulator(password=args.password, speed=args.speed, state_file=args.state, backend=load_backend(args.backend, options))
    httpd = serve(emulator, args.host, args.port, None if args.quiet else sys.stderr)
    emulator.start()

    def _stop(*_signal):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print("ready %s" % httpd.url, flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        emulator.stop()
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
