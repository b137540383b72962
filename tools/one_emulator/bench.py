"""Benchmark: calls per second of one.vm.info and one.vmpool.info with 1,000 VMs (not a test).

Run: ``python3 tools/one_emulator/bench.py [--vms 1000] [--seconds 3]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import xmlrpc.client

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from one_emulator.testing import EmulatorProcess


def rate(func, seconds: float) -> float:
    """Calls per second of ``func`` over ``seconds``."""
    count, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        func()
        count += 1
    return count / (time.monotonic() - start)


def main() -> int:
    """Create the VMs, then measure."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with EmulatorProcess(speed=20, extra=["--quiet"]) as emu:
        rpc = xmlrpc.client.ServerProxy(emu.url)
        session = emu.session
        rpc.one.host.allocate(session, "host01", "dummy", "dummy", -1)
        for i in range(args.vms):
            rpc.one.vm.allocate(session, 'NAME="bench-%d"\nCPU="0.01"\nMEMORY="8"\nLABELS="bench"' % i, False)
        time.sleep(1)
        vm_info = rate(lambda: rpc.one.vm.info(session, args.vms // 2), args.seconds)
        pool = rate(lambda: rpc.one.vmpool.info(session, -2, -1, -1, -1), args.seconds)
        print("one.vm.info      %8.1f calls/s (%d VMs)" % (vm_info, args.vms))
        print("one.vmpool.info  %8.1f calls/s (%d VMs per answer)" % (pool, args.vms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
