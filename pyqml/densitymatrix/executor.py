"""The density-matrix executor (``pyqml._core.DensityMatrix``): noise channels and noise models, every
measurement that makes sense for a mixed state, and adjoint gradients through channels.

rho is evolved exactly (4^n amplitudes: 16 * 4^n bytes in complex128, 8 * 4^n in complex64); gates act as U
on the ket wires and conj(U) on the bra wires, channels as their superoperators on the (ket, bra) wire pairs.
Gradients propagate the observables backwards through the adjoint channels (Heisenberg picture): a Jacobian
costs 2 + n_obs density matrices and the forward checkpoints before channels, whatever the number of
weights, inputs and channel parameters. ``state`` and ``amplitude`` have no meaning for a mixed state:
:meth:`DensityMatrixExecutor.density_matrix` returns rho instead.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ..frontend.execution import Estimate, Executor, register_method
from ..frontend.noise import apply_noise

# The widest register the engine addresses; the memory guard decides below it.
MAX_WIRES = int(_core.DM_MAX_WIRES)


class DensityMatrixExecutor(Executor):
    """A circuit (with channels, and the channels of ``noise=``) compiled for the density-matrix engine."""

    method = "densitymatrix"
    supports = frozenset({"expval", "var", "probs", "sample", "jacobian", "vjp"})
    options: dict = {"noise": None}
    simulates_noise = True

    def __init__(self, circuit, observables, precision: str = "complex128", **options):
        super().__init__(circuit, observables, precision, **options)
        noise = self.method_options.get("noise")
        self.noisy_circuit = apply_noise(circuit, noise)
        self._sim = _core.DensityMatrix(self.noisy_circuit.core, [o.core_terms() for o in self.observables],
                                        precision)

    @classmethod
    def estimate(cls, circuit, observables, measurement: str, precision: str, **details) -> Estimate:
        n = circuit.n_wires
        if n > MAX_WIRES:
            return Estimate.refused(f"the density-matrix method handles at most {MAX_WIRES} wires, the circuit "
                                    f"has {n}")
        elem = 16 if precision == "complex128" else 8
        mats = 1.0
        if measurement == "jacobian":
            mats = 2.0 + max(1, len(observables))
        elif measurement in ("vjp", "var"):
            mats = 3.0
        need = mats * elem * 4.0**n
        limit = _core.memory_limit()
        if need > limit:
            return Estimate.refused(f"{mats:g} density matri{'x' if mats == 1 else 'ces'} of 4^{n} amplitudes "
                                    f"need {need:.4g} bytes, over the memory limit of {limit:.4g} bytes")
        # Each gate touches every amplitude twice (ket and bra side), 4 complex multiply-adds each.
        n_ops = len(apply_noise(circuit, details.get("noise")).ops)
        flops = 64.0 * max(1, n_ops) * 4.0**n * mats
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

    def angle_jacobian(self, weights, inputs=None):
        """Values and d/d(every gate angle and channel parameter, in circuit order), (rows, n_obs, n_angles)."""
        return self._sim.angle_jacobian(weights, inputs)

    def density_matrix(self, weights, inputs=None) -> np.ndarray:
        """The density matrices (rows, 2^n, 2^n), complex128."""
        return self._sim.density_matrix(weights, inputs)

    def probs(self, weights, inputs, wires) -> np.ndarray:
        return self._sim.probs(weights, inputs, list(wires))

    def sample(self, weights, inputs, wires, shots: int, seed: int) -> np.ndarray:
        return self._sim.sample(weights, inputs, list(wires), int(shots), int(seed))

    def cost(self) -> float:
        """Estimated amplitude updates of one forward pass."""
        return 2.0 * float(len(self.noisy_circuit.ops)) * 4.0 ** self.circuit.n_wires


register_method(DensityMatrixExecutor)
