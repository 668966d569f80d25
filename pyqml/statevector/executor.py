"""The state-vector executor (``pyqml._core.StateVector``): every measurement, adjoint gradients."""
from __future__ import annotations

import numpy as np

from .. import _core
from ..frontend.execution import MEASUREMENTS, Estimate, Executor, register_method

# The widest register the engine addresses (one number, from the engine); the memory guard decides below it.
MAX_WIRES = int(_core.SV_MAX_WIRES)


def _rows(weights, inputs) -> int:
    w = np.asarray(weights)
    return np.shape(inputs)[0] if inputs is not None else (w.shape[0] if w.ndim == 2 else 1)


class StateVectorExecutor(Executor):
    """A circuit and observables compiled for the state-vector engine.

    Exact; memory 16 * 2^n bytes per state (8 in complex64), two or three states per thread for gradients.
    """

    method = "statevector"
    supports = frozenset(MEASUREMENTS)
    options: dict = {}

    def __init__(self, circuit, observables, precision: str = "complex128", **options):
        super().__init__(circuit, observables, precision, **options)
        self._sim = _core.StateVector(circuit.core, [o.core_terms() for o in self.observables], precision)

    @classmethod
    def estimate(cls, circuit, observables, measurement: str, precision: str, **details) -> Estimate:
        n = circuit.n_wires
        if n > MAX_WIRES:
            return Estimate.refused(f"the state-vector method handles at most {MAX_WIRES} wires, the circuit has {n}")
        elem = 16 if precision == "complex128" else 8
        states = 1.0
        if measurement in ("jacobian", "vjp"):
            states = 2.0 + max(1, len(observables))
        elif measurement == "state":
            states = 2.0
        need = states * elem * 2.0**n
        limit = _core.memory_limit()
        if need > limit:
            return Estimate.refused(f"{states:g} state(s) of 2^{n} amplitudes need {need:.4g} bytes, over the "
                                    f"memory limit of {limit:.4g} bytes")
        # 4 complex multiply-adds per amplitude and gate, 8 real flops each.
        flops = 32.0 * max(1, len(circuit.ops)) * 2.0**n * (states if states > 1 else 1.0)
        return Estimate(flops, need)

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

    def _check_output(self, rows: int, what: str) -> None:
        # The (rows, 2^n) result is allocated before the engine runs: check it against the limit first.
        need = rows * 16 * 2**self.circuit.n_wires
        limit = _core.memory_limit()
        if need > limit:
            raise _core.MemoryLimitError(
                f"{what} of {rows} row(s) on {self.circuit.n_wires} wires needs {need} bytes for its complex128 "
                f"result, over the memory limit of {int(limit)} bytes (pyqml.set_memory_limit)")

    def state(self, weights, inputs=None) -> np.ndarray:
        self._check_output(_rows(weights, inputs), "state()")
        return self._sim.state(weights, inputs)

    def amplitude(self, weights, inputs, bits) -> np.ndarray:
        index = int("".join(str(int(b)) for b in bits), 2)
        self._check_output(_rows(weights, inputs), "amplitude()")
        return self._sim.state(weights, inputs)[:, index]

    def probs(self, weights, inputs, wires) -> np.ndarray:
        return self._sim.probs(weights, inputs, list(wires))

    def sample(self, weights, inputs, wires, shots: int, seed: int) -> np.ndarray:
        return self._sim.sample(weights, inputs, list(wires), int(shots), int(seed))

    def cost(self) -> float:
        """Estimated amplitude updates of one forward pass."""
        return float(len(self.circuit.ops)) * 2.0 ** self.circuit.n_wires


register_method(StateVectorExecutor)
