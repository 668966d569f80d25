"""The MPS executor (``pyqml._core.MPS``).

Options
-------
max_bond : int or None
    Largest bond dimension kept at every cut (None: no limit, exact up to rounding).
cutoff : float
    Discard the smallest singular values at a cut while their weight (sum of squares) stays at most
    ``cutoff`` times the cut's total weight (``cutoff_mode="relative"``, the default) or at most ``cutoff``
    (``"absolute"``). 0 keeps everything above rounding.

Every call records the truncation of each row in :attr:`MPSExecutor.last_info` (a :class:`TruncationInfo`,
per calling thread): the discarded weight ``sum_t eps_t``, the fidelity estimate ``prod_t (1 - eps_t)``,
``error_bound`` (a rigorous bound on ``||psi_exact - psi_mps||`` of the normalised states, so that
``|<O>_exact - <O>_mps| <= 2 ||O|| error_bound``) and the largest bond dimension reached.

Example
-------
>>> ex = circuit.executor([obs], "mps", max_bond=64)
>>> vals = ex.expval(weights)
>>> ex.last_info.discarded_weight, ex.last_info.error_bound
"""
from __future__ import annotations

import math
import numbers
import threading
from dataclasses import dataclass

import numpy as np

from .. import _core
from ..frontend.execution import Estimate, Executor, register_method

CUTOFF_MODES = ("relative", "absolute")


@dataclass(frozen=True)
class TruncationInfo:
    """Truncation of each row of one call (arrays of shape (rows,))."""

    discarded_weight: np.ndarray
    fidelity: np.ndarray
    error_bound: np.ndarray
    max_bond: np.ndarray

    @classmethod
    def from_array(cls, info: np.ndarray) -> TruncationInfo:
        info = np.asarray(info)
        return cls(info[:, 0].copy(), info[:, 1].copy(), info[:, 2].copy(), info[:, 3].astype(int))

    @property
    def exact(self) -> bool:
        """Whether no row discarded more than rounding-level weight (1e-24)."""
        return bool(np.all(self.discarded_weight <= 1e-24))


def check_mps_options(max_bond, cutoff, cutoff_mode) -> tuple[int, float, bool]:
    """The engine's (max_bond, cutoff, relative) from the options; ValueError/TypeError naming a bad one."""
    if max_bond is not None:
        if isinstance(max_bond, bool) or not isinstance(max_bond, (numbers.Integral, np.integer)):
            raise TypeError(f"max_bond must be a positive integer or None, got {max_bond!r}")
        if max_bond < 1:
            raise ValueError(f"max_bond must be at least 1, got {max_bond}")
        if max_bond > 2**31 - 1:
            raise ValueError(f"max_bond must be below 2^31, got {max_bond}")
    if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real):
        raise TypeError(f"cutoff must be a non-negative number, got {cutoff!r}")
    if not (cutoff >= 0 and math.isfinite(cutoff)):
        raise ValueError(f"cutoff must be a non-negative finite number, got {cutoff!r}")
    if cutoff_mode not in CUTOFF_MODES:
        raise ValueError(f"cutoff_mode must be one of {CUTOFF_MODES}, got {cutoff_mode!r}")
    return (0 if max_bond is None else int(max_bond)), float(cutoff), cutoff_mode == "relative"


def _engine(circuit, observables, precision, max_bond, cutoff, cutoff_mode):
    mb, cut, rel = check_mps_options(max_bond, cutoff, cutoff_mode)
    return _core.MPS(circuit.core, [o.core_terms() for o in observables], precision, mb, cut, rel)


class MPSExecutor(Executor):
    """A circuit and observables compiled for the matrix-product-state method.

    Gates on wires that are not neighbours are brought together by SWAPs (a swap network) and swapped
    back; bonds are cut by LAPACK SVDs in the canonical gauge. Cost per two-wire gate ~ (2 chi)^3, memory
    ~ n chi^2 per row (plus the tape of block inputs for gradients); rows run in parallel.
    """

    method = "mps"
    supports = frozenset({"expval", "var", "probs", "sample", "amplitude", "jacobian", "vjp"})
    options = {"max_bond": None, "cutoff": 0.0, "cutoff_mode": "relative"}

    def __init__(self, circuit, observables, precision: str = "complex128", max_bond=None, cutoff: float = 0.0,
                 cutoff_mode: str = "relative"):
        from ..frontend.observables import as_observable

        super().__init__(circuit, [as_observable(o) for o in observables], precision, max_bond=max_bond,
                         cutoff=cutoff, cutoff_mode=cutoff_mode)
        self.max_bond, self.cutoff, self.cutoff_mode = max_bond, cutoff, cutoff_mode
        self._mps = _engine(circuit, self.observables, precision, max_bond, cutoff, cutoff_mode)
        self._local = threading.local()
        self._aux: dict = {}

    # --- cost -----------------------------------------------------------------------------------------
    @classmethod
    def estimate(cls, circuit, observables, measurement: str, precision: str, max_bond=None, cutoff: float = 0.0,
                 cutoff_mode: str = "relative", wires=None, shots=None, **_) -> Estimate:
        """Flops and bytes from the bond-dimension bounds (the exact Schmidt-rank bound of the circuit's
        gates, capped by ``max_bond``); refused when one row cannot fit in memory."""
        from ..frontend.observables import as_observable

        obs = [as_observable(o) for o in observables]
        eng = _engine(circuit, obs, precision, max_bond, cutoff, cutoff_mode)
        grad = measurement in ("jacobian", "vjp")
        need = float(eng.row_bytes(grad))
        limit = _core.memory_limit()
        chi = max(eng.bond_bounds(), default=1.0)
        if need > limit:
            return Estimate.refused(
                f"the MPS of {circuit.n_wires} wires may need bond dimension {chi:.4g}: an estimated {need:.4g} "
                f"bytes per row, over the memory limit of {limit:.4g} bytes (pass max_bond=)")
        n = circuit.n_wires
        terms = sum(len(o.core_terms()) for o in obs) + 1
        measure = 4.0 * n * chi**3 * terms
        if measurement == "var":
            measure *= 1.0 + terms
        elif measurement in ("probs", "sample"):
            k = n if wires is None else len(wires)
            measure = 4.0 * n * chi**3 * (2.0**min(k, 60) if measurement == "probs" else 1.0)
            if measurement == "sample":
                measure += 6.0 * n * chi**2 * float(shots or 1000)
        macs = float(eng.forward_macs()) + measure
        if grad:
            macs *= 3.0 * (max(1, len(obs)) if measurement == "jacobian" else 1)
        return Estimate(8.0 * macs, need)

    @classmethod
    def overlap_estimate(cls, circuit, rows_a: int, rows_b: int, precision: str = "complex128", max_bond=None,
                         cutoff: float = 0.0, cutoff_mode: str = "relative") -> Estimate:
        """Flops and bytes of ``overlaps`` between the MPS of ``rows_a`` and ``rows_b`` input rows (every MPS
        held at once, one transfer sweep per pair); refused when they cannot fit in memory."""
        eng = _engine(circuit, [], precision, max_bond, cutoff, cutoff_mode)
        rows = int(rows_a) + int(rows_b)
        need = rows * float(eng.row_bytes(False))
        chi = max(eng.bond_bounds(), default=1.0)
        limit = _core.memory_limit()
        if need > limit:
            return Estimate.refused(
                f"the MPS of {rows} rows on {circuit.n_wires} wires may need bond dimension {chi:.4g}: an estimated "
                f"{need:.4g} bytes, over the memory limit of {limit:.4g} bytes (pass max_bond=)")
        pairs = float(rows_a) * float(rows_b)
        macs = rows * float(eng.forward_macs()) + pairs * 4.0 * circuit.n_wires * chi**3
        return Estimate(8.0 * macs, need)

    def cost(self) -> float:
        return float(self._mps.forward_macs())

    def bond_bounds(self) -> np.ndarray:
        """Upper bound of each bond's dimension (n - 1 bonds)."""
        return np.asarray(self._mps.bond_bounds())

    # --- info -----------------------------------------------------------------------------------------
    @property
    def last_info(self) -> TruncationInfo | None:
        """The truncation of the last call made from this thread (None before any)."""
        return getattr(self._local, "info", None)

    def _keep(self, info):
        self._local.info = TruncationInfo.from_array(info)

    # --- measurements ---------------------------------------------------------------------------------
    def expval(self, weights, inputs=None) -> np.ndarray:
        vals, info = self._mps.expval(weights, inputs)
        self._keep(info)
        return vals

    def expval_angles(self, angles) -> np.ndarray:
        vals, info = self._mps.expval_angles(np.atleast_2d(np.asarray(angles, dtype=float)))
        self._keep(info)
        return vals

    def jacobian(self, weights, inputs=None):
        vals, dw, dx, info = self._mps.jacobian(weights, inputs)
        self._keep(info)
        return vals, dw, dx

    def vjp(self, weights, inputs, cotangent):
        vals, dw, dx, info = self._mps.vjp(weights, inputs, np.ascontiguousarray(cotangent, dtype=float))
        self._keep(info)
        return vals, dw, dx

    def _words(self, key, build):
        ex = self._aux.get(key)
        if ex is None:
            ex = self.circuit.executor(build(), "mps", self.precision, **self.method_options)
            self._aux[key] = ex
        return ex

    def var(self, weights, inputs=None) -> np.ndarray:
        """``<O^2> - <O>^2`` with ``O^2`` expanded into Pauli words."""
        m = len(self.observables)
        ex = self._words("var", lambda: list(self.observables) + [o @ o for o in self.observables])
        vals = ex.expval(weights, inputs)
        self._local.info = ex.last_info
        return np.maximum(vals[:, m:] - vals[:, :m] ** 2, 0.0)

    def probs(self, weights, inputs, wires) -> np.ndarray:
        out, info = self._mps.probs(weights, inputs, [int(w) for w in wires])
        self._keep(info)
        return out

    def sample(self, weights, inputs, wires, shots: int, seed: int) -> np.ndarray:
        out, info = self._mps.sample(weights, inputs, [int(w) for w in wires], int(shots), int(seed))
        self._keep(info)
        return out

    def amplitude(self, weights, inputs, bits) -> np.ndarray:
        out, info = self._mps.amplitude(weights, inputs, [int(b) for b in bits])
        self._keep(info)
        return out

    def entropies(self, weights, inputs=None) -> np.ndarray:
        """Von Neumann entropy (natural log) across each cut ``i | i + 1``: (rows, n - 1)."""
        out, info = self._mps.entropies(weights, inputs)
        self._keep(info)
        return out

    def overlaps(self, weights, inputs_a, inputs_b=None, weights_b=None) -> np.ndarray:
        """``<phi(a_i)|phi(b_j)>`` for the rows of two batches: (rows_a, rows_b) complex. ``inputs_b``
        defaults to ``inputs_a``, ``weights_b`` to ``weights``; ``last_info`` holds a's rows then b's."""
        ib = inputs_a if inputs_b is None else inputs_b
        wb = weights if weights_b is None else weights_b
        out, info = self._mps.overlaps(weights, inputs_a, wb, ib)
        self._keep(info)
        return out


register_method(MPSExecutor)


def _weights(circuit, weights):
    return np.zeros(circuit.n_weights) if weights is None else np.asarray(weights, dtype=float)


def overlaps(circuit, inputs_a, inputs_b=None, weights=None, precision: str = "complex128", **options) -> np.ndarray:
    """``<phi(x_i)|phi(y_j)>`` between the MPS of two batches of input rows (fidelity kernels:
    ``abs(overlaps(...))**2``)."""
    ex = circuit.executor([], "mps", precision, "expval", **options)
    return ex.overlaps(_weights(circuit, weights), inputs_a, inputs_b)


def entropies(circuit, weights=None, inputs=None, precision: str = "complex128", **options) -> np.ndarray:
    """Entanglement entropy across each cut of the circuit's MPS, (rows, n - 1)."""
    ex = circuit.executor([], "mps", precision, "expval", **options)
    return ex.entropies(_weights(circuit, weights), inputs)
