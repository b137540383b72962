"""oned error codes and the exceptions the emulator raises for them."""

from __future__ import annotations

AUTHENTICATION = 0x100
AUTHORIZATION = 0x200
NO_EXISTS = 0x400
ACTION = 0x800
XML_RPC_API = 0x1000
INTERNAL = 0x2000
ALLOCATE = 0x4000
LOCKED = 0x8000

AUTH_FAILED = "User couldn't be authenticated, aborting call."


class OneError(Exception):
    """A failed oned call: ``[false, "[method] message", code, resp_id, -1]``."""

    def __init__(self, code: int, message: str, resp_id: int = -1) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.resp_id = resp_id


class RpcFault(Exception):
    """An XML-RPC protocol fault (xmlrpc-c's codes)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def not_found(kind: str, oid: int) -> OneError:
    """``Error getting <kind> [<id>].`` (0x400)."""
    return OneError(NO_EXISTS, "Error getting %s [%d]." % (kind, oid), oid)


# xmlrpc-c's answer when a C++ exception escapes a method (the recorded one: paramList subscript out of bounds)
INCOMPLETE_METHOD = ("Unexpected error executing code for particular method, detected by Xmlrpc-c method registry code.  "
                     "Method did not fail; rather, it did not complete at all.  ")
