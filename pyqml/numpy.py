"""numpy for differentiable code, as ``pennylane.numpy``: autograd's numpy (every function differentiable)
plus an array that says whether it is trainable.

``from pyqml import numpy as np`` then ``np.array(x, requires_grad=False)`` marks data: when any argument of
an optimiser step, ``pq.grad`` or ``pq.jacobian`` carries the flag, exactly the arguments flagged
``requires_grad=True`` are trained (PennyLane's rule). Plain numpy arrays work too (the first argument is
trained unless ``argnum=`` says otherwise; see ``pyqml/frontend/autodiff.py``).
"""
from __future__ import annotations

import numpy as _np
from autograd.numpy import *  # noqa: F401,F403 - the namespace is numpy's
from autograd.numpy import array as _ag_array
from autograd.numpy import linalg, random  # noqa: F401
from autograd.tracer import isbox as _isbox


class tensor(_np.ndarray):
    """A numpy array with a ``requires_grad`` flag (True by default), kept through arithmetic and slicing."""

    def __new__(cls, input_array, *args, requires_grad: bool = True, **kwargs):
        obj = _np.asarray(input_array, *args, **kwargs).view(cls)
        obj.requires_grad = bool(requires_grad)
        return obj

    def __array_finalize__(self, obj):
        self.requires_grad = getattr(obj, "requires_grad", True)

    def __repr__(self) -> str:
        return f"tensor({_np.asarray(self).tolist()!r}, requires_grad={self.requires_grad})"

    def numpy(self) -> _np.ndarray:
        """The plain numpy array."""
        return _np.asarray(self)

    def unwrap(self) -> _np.ndarray:
        return _np.asarray(self)


def array(obj, *args, requires_grad: bool = True, **kwargs):
    """``numpy.array`` returning a :class:`tensor` with the given ``requires_grad`` (inside a traced function,
    an array of autograd values stays differentiable)."""
    if _isbox(obj) or (isinstance(obj, (list, tuple)) and any(_isbox(v) for v in _np.ravel(_np.array(obj,
                                                                                                   dtype=object)))):
        return _ag_array(obj, *args, **kwargs)
    return tensor(_np.array(obj, *args, **kwargs), requires_grad=requires_grad)
