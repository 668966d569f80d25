"""The state-vector method: exact simulation of registers that fit in memory, with adjoint gradients (C++)."""
from __future__ import annotations

from .executor import StateVectorExecutor

__all__ = ["StateVectorExecutor"]
