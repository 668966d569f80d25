"""Bounded caches for compiled plans: least recently used entries leave first once a cache holds more than
its share of the memory limit (``pq.set_memory_limit``). ``pq.clear_caches()`` empties all of them.

Every cache registers itself here, so one call reaches the contraction plans of light-cone structures, the
amplitude plans, and whatever later methods cache.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from .. import _core

# Share of the memory limit one cache may hold.
CACHE_SHARE = 0.05
_REGISTRY: list[PlanCache] = []


class PlanCache:
    """A dict-like LRU cache bounded by the estimated bytes of its entries (thread-safe)."""

    def __init__(self, name: str, share: float = CACHE_SHARE):
        self.name = name
        self.share = float(share)
        self._data: OrderedDict = OrderedDict()
        self._bytes: dict = {}
        self._total = 0.0
        self._lock = threading.Lock()
        _REGISTRY.append(self)

    @property
    def max_bytes(self) -> float:
        return self.share * _core.memory_limit()

    @property
    def nbytes(self) -> float:
        return self._total

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data

    def get(self, key, default=None):
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key, value: Any, nbytes: float) -> Any:
        """Store ``value`` (estimated ``nbytes``), evicting the least recently used entries beyond the bound;
        an entry larger than the whole bound is returned without being kept."""
        nbytes = float(max(nbytes, 1.0))
        with self._lock:
            if key in self._data:
                self._total -= self._bytes.pop(key)
                del self._data[key]
            limit = self.max_bytes
            if nbytes > limit:
                return value
            self._data[key] = value
            self._bytes[key] = nbytes
            self._total += nbytes
            while self._total > limit and self._data:
                old, _ = self._data.popitem(last=False)
                self._total -= self._bytes.pop(old)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes.clear()
            self._total = 0.0


def clear_caches() -> None:
    """Forget every cached plan (contraction plans, amplitude plans, ...)."""
    for cache in _REGISTRY:
        cache.clear()


def cache_stats() -> dict[str, dict]:
    """Per cache: entries, estimated bytes and its bound."""
    return {c.name: {"entries": len(c), "bytes": c.nbytes, "max_bytes": c.max_bytes} for c in _REGISTRY}
