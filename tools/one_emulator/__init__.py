"""OpenNebula 7.2 ``oned`` emulator (dummy drivers) for tests and the lab.

Run ``python3 tools/one_emulator --port 2633``; import :mod:`tools.one_emulator.testing` in tests.
"""

from __future__ import annotations

__all__ = ["Emulator", "serve"]  # pylint: disable=undefined-all-variable


def __getattr__(name: str):  # PEP 562: lazy, so that ``python3 tools/one_emulator`` stays light
    if name == "Emulator":
        from .emulator import Emulator  # pylint: disable=import-outside-toplevel
        return Emulator
    if name == "serve":
        from .server import serve  # pylint: disable=import-outside-toplevel
        return serve
    raise AttributeError(name)
