"""The stack of active recorders: gates created while one is active are appended to it."""
from __future__ import annotations

import threading

_local = threading.local()


def _stack() -> list:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def active_recorder():
    s = _stack()
    return s[-1] if s else None


def push(rec) -> None:
    _stack().append(rec)


def pop(rec) -> None:
    s = _stack()
    if not s or s[-1] is not rec:
        raise RuntimeError("recorders closed out of order")
    s.pop()
