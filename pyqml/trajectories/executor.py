"""The trajectories executor (``pyqml._core.Trajectories``).

``N`` trajectories of a state vector per row, in one batched C++ call (rows x trajectories spread over
threads). Each channel draws one Kraus index per trajectory from the state-independent probabilities
``q_k = Tr(K_k^dag K_k) / d``; the trajectory applies ``K_k / sqrt(q_k)`` without renormalising, so its
estimate ``<psi|O|psi>`` is unbiased for ``Tr(O rho)`` and a smooth function of every gate angle: the adjoint
method then gives each trajectory's exact gradient, and their mean is an unbiased gradient estimate. For
mixed-unitary channels (bit and phase flips, depolarizing, Pauli errors) this is the usual unravelling; for
damping channels the trajectory's norm carries the importance weight. Gradients with respect to a channel's
own parameters hold ``q`` at the bound values (still unbiased: ``E_q[df/dp] = d<O>/dp``). The full
derivation is in ``cpp/include/pyqml/trajectories/trajectories.hpp``.

Options: ``trajectories`` (per row, default 1000), ``seed`` (default 0) and ``noise`` (a
:class:`pyqml.NoiseModel`: its channels and readout error are added to the circuit, as for the density
matrix, and the executor works on that noisy circuit, ``self.circuit``): trajectory ``t`` of row ``r`` draws
from a generator seeded by (seed, r, t), so a call is reproducible and independent of the thread count.
The standard error of the mean over trajectories comes with ``expval_stderr`` and ``jacobian_stderr`` (and
``pq.expval(..., method="trajectories", return_stderr=True)``).
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ..frontend.execution import Estimate, Executor, register_method
from ..frontend.noise import apply_noise

MAX_WIRES = int(_core.SV_MAX_WIRES)


def _check_trajectories(n, seed) -> tuple[int, int]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"trajectories must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2^64), got {seed!r}")
    return int(n), int(seed)


class TrajectoriesExecutor(Executor):
    """A (noisy) circuit and observables compiled for the trajectories method.

    Parameters
    ----------
    circuit : pyqml.Circuit
    observables : list of Observable
    precision : {"complex128", "complex64"}
    trajectories : int
        Trajectories per row (default 1000); the standard error falls as ``1 / sqrt(trajectories)``.
    seed : int
        Seed of the Kraus draws (default 0).
    noise : pyqml.NoiseModel or None
        Channels after the circuit's gates and a readout error (a bit flip on every wire before measuring).
    """

    method = "trajectories"
    supports = frozenset({"expval", "jacobian", "vjp"})
    options = {"trajectories": 1000, "seed": 0, "noise": None}
    simulates_noise = True

    def __init__(self, circuit, observables, precision: str = "complex128", trajectories: int = 1000, seed: int = 0,
                 noise=None):
        self.n_trajectories, self.seed = _check_trajectories(trajectories, seed)
        circuit = apply_noise(circuit, noise)
        super().__init__(circuit, observables, precision, trajectories=self.n_trajectories, seed=self.seed,
                         noise=noise)
        if circuit.n_wires > MAX_WIRES:
            raise ValueError(f"the trajectories method simulates at most {MAX_WIRES} wires, the circuit has "
                             f"{circuit.n_wires}")
        self._tr = _core.Trajectories(circuit.core, [o.core_terms() for o in self.observables], precision)

    @classmethod
    def estimate(cls, circuit, observables, measurement: str, precision: str, trajectories: int = 1000,
                 seed: int = 0, noise=None, **details) -> Estimate:
        from ..frontend.execution import is_noisy

        circuit = apply_noise(circuit, noise)
        n = circuit.n_wires
        if measurement not in cls.supports:
            return Estimate.refused(f"the trajectories method does not compute {measurement}")
        if not is_noisy(circuit, details):
            return Estimate.refused("the circuit has no channels: an exact method is cheaper than sampling")
        if n > MAX_WIRES:
            return Estimate.refused(f"the trajectories method handles at most {MAX_WIRES} wires, the circuit has {n}")
        n_traj, _ = _check_trajectories(trajectories, seed)
        elem = 16 if precision == "complex128" else 8
        grad = measurement in ("jacobian", "vjp")
        states = 2.0 + max(1, len(observables)) if grad else 1.0
        need = states * elem * 2.0**n
        limit = _core.memory_limit()
        if need > limit:
            return Estimate.refused(f"{states:g} state(s) of 2^{n} amplitudes need {need:.4g} bytes, over the "
                                    f"memory limit of {limit:.4g} bytes")
        flops = 32.0 * max(1, len(circuit.ops)) * 2.0**n * states * n_traj
        return Estimate(flops, need)

    def expval_stderr(self, weights, inputs=None) -> tuple[np.ndarray, np.ndarray]:
        """(mean, standard error) over the trajectories, each (rows, n_obs)."""
        return self._tr.expval(weights, inputs, self.n_trajectories, self.seed)

    def jacobian_stderr(self, weights, inputs=None):
        """((values, d/dweights, d/dinputs), (their standard errors)), shapes as :meth:`jacobian`."""
        return self._tr.jacobian(weights, inputs, self.n_trajectories, self.seed)

    def expval(self, weights, inputs=None) -> np.ndarray:
        return self.expval_stderr(weights, inputs)[0]

    def jacobian(self, weights, inputs=None):
        return self.jacobian_stderr(weights, inputs)[0]

    def vjp(self, weights, inputs, cotangent):
        """From the trajectory-mean Jacobian: cot . d/dweights (summed over rows for shared weights) and
        cot . d/dinputs per row."""
        vals, dw, dx = self.jacobian(weights, inputs)
        cot = np.asarray(cotangent, dtype=float)
        if cot.shape != vals.shape:
            raise ValueError(f"cotangent must have shape {vals.shape}, got {cot.shape}")
        gw = np.einsum("ro,row->rw", cot, dw)
        if np.asarray(weights).ndim < 2:
            gw = gw.sum(axis=0)
        return vals, gw, np.einsum("ro,rox->rx", cot, dx)

    def cost(self) -> float:
        return float(max(1, len(self.circuit.ops)) * 2.0**self.circuit.n_wires * 4 * self.n_trajectories)


register_method(TrajectoriesExecutor)
