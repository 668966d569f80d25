"""The state-vector method: exact simulation of up to ~30 wires, with adjoint gradients (C++)."""
from __future__ import annotations

import numpy as np

from . import _core
from .execution import register_method

_PRECISION = {"complex128": "complex128", "complex64": "complex64"}


class StateVectorExecutor:
    """A circuit and observables compiled for the state-vector engine (``pyqml._core.StateVector``)."""

    method = "statevector"

    def __init__(self, circuit, observables, precision: str = "complex128"):
        self.circuit = circuit
        self.observables = list(observables)
        self.precision = precision
        self._sim = _core.StateVector(circuit.core, [o.core_terms() for o in self.observables], precision)

    @property
    def n_observables(self) -> int:
        return len(self.observables)

    def expval(self, weights, inputs=None) -> np.ndarray:
        return self._sim.expval(weights, inputs)

    def var(self, weights, inputs=None) -> np.ndarray:
        return self._sim.var(weights, inputs)

    def jacobian(self, weights, inputs=None):
        return self._sim.jacobian(weights, inputs)

    def vjp(self, weights, inputs, cotangent):
        return self._sim.vjp(weights, inputs, cotangent)

    def expval_angles(self, angles) -> np.ndarray:
        return self._sim.expval_angles(angles)

    def state(self, weights, inputs=None) -> np.ndarray:
        # The (rows, 2^n) result is allocated before the engine runs: check it against the limit first.
        w = np.asarray(weights)
        rows = np.shape(inputs)[0] if inputs is not None else (w.shape[0] if w.ndim == 2 else 1)
        need = rows * 16 * 2**self.circuit.n_wires
        limit = _core.memory_limit()
        if need > limit:
            raise _core.MemoryLimitError(
                f"state() of {rows} row(s) on {self.circuit.n_wires} wires needs {need} bytes for its complex128 "
                f"result, over the memory limit of {int(limit)} bytes (pyqml.set_memory_limit)")
        return self._sim.state(weights, inputs)

    def probs(self, weights, inputs, wires) -> np.ndarray:
        return self._sim.probs(weights, inputs, list(wires))

    def sample(self, weights, inputs, wires, shots: int, seed: int) -> np.ndarray:
        return self._sim.sample(weights, inputs, list(wires), int(shots), int(seed))

    def cost(self) -> float:
        """Estimated amplitude updates of one forward pass."""
        return float(len(self.circuit.ops)) * 2.0 ** self.circuit.n_wires


register_method("statevector", StateVectorExecutor)
