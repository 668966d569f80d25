"""The tensor-network executor: light cones per Pauli term, one plan per cone structure, C++ contraction
with reverse-mode gradients."""
from __future__ import annotations

import numpy as np

from .. import _core
from .network import OPTIMIZERS, StructurePlan, plan_for

# Above this many wires the state vector (16 * 2^n bytes) is not an option.
SV_MAX_WIRES = 30
# Below this many wires the state vector is cheap enough that planning a network is not worth it.
SV_ALWAYS_WIRES = 12


class TensorNetPlan:
    """What the tensor-network method will do for a circuit and observables, without contracting.

    Attributes
    ----------
    n_terms : int
        Distinct Pauli words over all observables.
    n_structures : int
        Distinct light-cone structures (one contraction plan each).
    flops : float
        Real floating-point operations of one forward evaluation of every term (8 per complex multiply-add).
    gradient_flops : float
        Forward plus backward sweep (values and all gradients).
    peak_memory : float
        Estimated peak bytes of one call with gradients (the number the memory guard checks).
    width : int
        log2 of the largest tensor of any plan.
    structures : list of StructurePlan
        Each structure's network (``leaves``) and contraction tree (``tree``).
    counts : list of int
        Terms per structure.
    cones : list of (ops, wires, letters, structure)
        Per term, the circuit ops of its reverse light cone (time order) and its wires.
    """

    def __init__(self, executor: TensorNetExecutor):
        tn = executor._tn
        self.structures = executor.plans
        self.counts = list(tn.structure_counts())
        self.n_terms = tn.n_terms
        self.n_structures = tn.n_structures
        self.flops = 8.0 * sum(c * p.forward_macs for c, p in zip(self.counts, self.structures))
        self.gradient_flops = 8.0 * sum(c * (p.forward_macs + p.backward_macs)
                                        for c, p in zip(self.counts, self.structures))
        self.width = max((p.width for p in self.structures), default=0)
        self.peak_memory = float(tn.estimated_bytes(1, True))
        self.cones = tn.cones()

    def __repr__(self) -> str:
        return (f"TensorNetPlan(terms={self.n_terms}, structures={self.n_structures}, flops={self.flops:.3g}, "
                f"gradient_flops={self.gradient_flops:.3g}, width={self.width}, "
                f"peak_memory={self.peak_memory:.3g} B)")


class TensorNetExecutor:
    """A circuit and observables compiled for the tensor-network method (``pyqml._core.TensorNet``).

    Parameters
    ----------
    circuit : pyqml.Circuit
    observables : list of Observable
    precision : {"complex128", "complex64"}
    refuse_oversized : bool
        Raise ``pyqml.MemoryLimitError`` as soon as one structure's plan exceeds the memory limit (the
        default); ``pq.plan`` turns this off to report the costs of any network.
    optimize : str
        Path search: "auto" (exhaustive, dynamic programming or greedy by network size), "greedy", "dp",
        "optimal", "random-greedy" (opt_einsum) or "cotengra" (its hyper-optimizer, when installed).
    fuse : bool
        Build light cones over blocks of gates fused on one or two wires where the block is structurally
        diagonal (``cx a,b; rz b; cx a,b`` is ``IsingZZ``), the default; False treats every op on its own.
    """

    method = "tensornet"

    def __init__(self, circuit, observables, precision: str = "complex128", optimize: str = "auto",
                 refuse_oversized: bool = True, fuse: bool = True):
        if optimize not in OPTIMIZERS:
            raise ValueError(f"optimize must be one of {OPTIMIZERS}, got {optimize!r}")
        from ..observables import as_observable

        self.circuit = circuit
        self.observables = [as_observable(o) for o in observables]
        self.precision = precision
        self._tn = _core.TensorNet(circuit.core, [o.core_terms() for o in self.observables], precision, bool(fuse))
        self.plans: list[StructurePlan] = []
        elem = 16 if precision == "complex128" else 8
        limit = _core.memory_limit()
        for s in range(self._tn.n_structures):
            p = plan_for(self._tn.structure(s), optimize)
            if refuse_oversized:
                # Refuse up front, before planning the other structures, when one plan alone cannot fit.
                need = p.core.bytes_per_thread(elem)
                if need > limit:
                    raise _core.MemoryLimitError(
                        f"tensor-network contraction (largest tensor 2^{p.width} amplitudes) needs an estimated "
                        f"{need:.4g} bytes, over the memory limit of {limit:.4g} bytes")
            self.plans.append(p)
            self._tn.set_plan(s, p.core)

    @property
    def n_observables(self) -> int:
        return len(self.observables)

    def plan(self) -> TensorNetPlan:
        return TensorNetPlan(self)

    def expval(self, weights, inputs=None) -> np.ndarray:
        return self._tn.expval(weights, inputs)

    def jacobian(self, weights, inputs=None):
        return self._tn.jacobian(weights, inputs)

    def vjp(self, weights, inputs, cotangent):
        return self._tn.vjp(weights, inputs, cotangent)

    def expval_angles(self, angles) -> np.ndarray:
        return self._tn.expval_angles(np.atleast_2d(np.asarray(angles, dtype=float)))

    def cost(self) -> float:
        """Complex multiply-adds of one forward evaluation of every term."""
        return sum(c * p.forward_macs for c, p in zip(self._tn.structure_counts(), self.plans))

    @staticmethod
    def choose(circuit, observables, precision: str = "complex128") -> str:
        """"statevector" or "tensornet", whichever the plans' cost estimates say is cheaper.

        The state vector costs about ``n_ops * 2^n`` amplitude updates (4 complex multiply-adds each for a
        one-wire gate); it is refused above 30 wires and always taken at 12 wires or fewer.
        """
        n = circuit.n_wires
        if n <= SV_ALWAYS_WIRES:
            return "statevector"
        try:
            ex = circuit.executor(observables, "tensornet", precision)
            tn_cost = ex.cost()
            fits = ex._tn.estimated_bytes(1, True) <= _core.memory_limit()
        except MemoryError:
            tn_cost, fits = float("inf"), False
        if n > SV_MAX_WIRES:
            return "tensornet"
        sv_cost = 4.0 * max(1, len(circuit.ops)) * 2.0 ** n
        return "tensornet" if fits and tn_cost < sv_cost else "statevector"


def plan(circuit, observables, precision: str = "complex128", optimize: str = "auto",
         fuse: bool = True) -> TensorNetPlan:
    """The tensor-network plan for ``observables`` on ``circuit``: light cones, contraction trees, flops,
    width and estimated peak memory, computed without contracting anything. ``fuse=False`` plans every op on
    its own (see :class:`TensorNetExecutor`).

    Examples
    --------
    >>> p = pq.plan(c, [pq.Z(0) @ pq.Z(1)])
    >>> p.flops, p.width, p.peak_memory
    """
    from ..observables import as_observable

    obs = observables if isinstance(observables, (list, tuple)) else [observables]
    obs = [as_observable(o) for o in obs]
    return TensorNetExecutor(circuit, obs, precision, optimize, refuse_oversized=False, fuse=fuse).plan()
