"""The Python side of the circuit IR: an ordered list of operations on integer wires, whose parameters are
numbers or traced references to weights and inputs. Compiled once into the engine's ``_core.Circuit``.

Build one by recording::

    c = pq.Circuit(3)
    w = c.new_weights(2)           # symbolic weights[0], weights[1]
    with c:
        pq.RX(w[0], wires=0)
        pq.CNOT(wires=[0, 1])
        pq.RY(0.3 * w[1] + 0.1, wires=2)
"""
from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from .. import _core
from . import recording
from .params import INPUT, WEIGHT, symbolic_array


class Circuit:
    """Gates on ``n_wires`` wires with ``n_weights`` trainable weights and ``n_inputs`` input features.

    Parameters
    ----------
    n_wires : int
        Number of wires; wire 0 is the most significant bit of basis indices.
    ops : iterable of Operation, optional
    n_weights, n_inputs : int
        Sizes of the weight vector and of one input row that the ops' traced parameters refer to.
    weights : array, optional
        Default weight values (e.g. the angles read from a QASM file with ``trainable=True``).
    """

    def __init__(self, n_wires: int, ops: Iterable | None = None, n_weights: int = 0, n_inputs: int = 0,
                 weights=None):
        if not isinstance(n_wires, (int, np.integer)) or n_wires < 1:
            raise ValueError(f"n_wires must be a positive integer, got {n_wires!r}")
        self.n_wires = int(n_wires)
        self.ops: list = list(ops or [])
        self.n_weights = int(n_weights)
        self.n_inputs = int(n_inputs)
        self.default_weights = None if weights is None else np.asarray(weights, dtype=float).ravel()
        self.derived_inputs = None  # DerivedInputs: non-affine input features computed before each call
        self._core = None
        self._executors: dict = {}

    def __getstate__(self) -> dict:
        # Pickled without the compiled engine circuit and the executors (rebuilt on first use where loaded).
        state = dict(self.__dict__)
        state["_core"] = None
        state["_executors"] = {}
        return state

    # --- recording ---
    def record(self, op) -> None:
        self.ops.append(op)
        self._invalidate()

    def discard(self, op) -> None:
        for i in range(len(self.ops) - 1, -1, -1):
            if self.ops[i] is op:
                del self.ops[i]
                self._invalidate()
                return

    def __enter__(self):
        recording.push(self)
        return self

    def __exit__(self, *exc):
        recording.pop(self)
        return False

    def new_weights(self, *shape: int) -> np.ndarray:
        """Symbolic trainable weights of the given shape, appended to the weight vector."""
        shape = tuple(int(s) for s in shape) or (1,)
        arr = symbolic_array(WEIGHT, shape, self.n_weights)
        self.n_weights += int(np.prod(shape))
        self._invalidate()
        return arr

    def new_inputs(self, n: int) -> np.ndarray:
        """Symbolic input features x[0..n-1] (one row of the data batch), appended to the input row."""
        arr = symbolic_array(INPUT, (int(n),), self.n_inputs)
        self.n_inputs += int(n)
        self._invalidate()
        return arr

    def _invalidate(self) -> None:
        self._core = None
        self._executors.clear()

    # --- compiled forms ---
    @property
    def core(self) -> _core.Circuit:
        """The engine's compiled circuit (built once, cached until the circuit changes)."""
        if self._core is None:
            self._core = _core.Circuit(self.n_wires, [op.core_tuple() for op in self.ops], self.n_weights,
                                       self.n_inputs)
        return self._core

    @property
    def n_angles(self) -> int:
        return self.core.n_angles

    def executor(self, observables, method: str = "auto", precision: str = "complex128",
                 measurement: str = "expval", **options):
        """The compiled executor of ``method`` for these observables, able to compute ``measurement``.

        Cached per (method, precision, observables, options); "auto" is resolved once per measurement (see
        :mod:`pyqml.frontend.execution`). Options a concrete method does not take raise a ValueError; under
        "auto" each method receives the options it takes.
        """
        from .execution import check_options, choose_method, hashable, make_executor, options_for, unsupported_message
        from .observables import as_observable

        obs = [as_observable(o) for o in observables]
        okey = tuple(tuple((c, tuple(w), p) for c, w, p in o.core_terms()) for o in obs)
        if method == "auto":
            check_options(method, precision, options)
            ckey = ("auto", measurement, precision, okey, tuple(sorted((k, hashable(v)) for k, v in options.items())))
            chosen = self._executors.get(ckey)
            if chosen is None:
                chosen = choose_method(self, obs, precision, measurement, options)
                self._executors[ckey] = chosen
            method, options = chosen, options_for(chosen, options)
        key = (method, precision, okey, tuple(sorted((k, hashable(v)) for k, v in options.items())))
        ex = self._executors.get(key)
        if ex is None:
            ex = make_executor(self, obs, method, precision, measurement, **options)
            self._executors[key] = ex
        elif measurement not in ex.supports:
            raise ValueError(unsupported_message(method, measurement))
        return ex

    @classmethod
    def from_qasm(cls, source: str | os.PathLike, trainable: bool = False) -> Circuit:
        """A circuit from OpenQASM 2.0 source (qelib1.inc gates and user ``gate`` definitions).

        ``source`` is the program text, a path to a file (a ``str`` ending in ``.qasm``) or a
        :class:`pathlib.Path`; a path without a file behind it raises :class:`FileNotFoundError`. With
        ``trainable=True`` every gate angle, in file order, becomes ``weights[k]`` and the file's values
        become ``default_weights``. See :mod:`pyqml.io.qasm` for what is supported and the size limits.
        """
        from ..io.qasm import circuit_from_qasm

        return circuit_from_qasm(source, trainable=trainable)

    def __repr__(self) -> str:
        return (f"Circuit(n_wires={self.n_wires}, ops={len(self.ops)}, n_weights={self.n_weights}, "
                f"n_inputs={self.n_inputs})")

    def __len__(self) -> int:
        return len(self.ops)
