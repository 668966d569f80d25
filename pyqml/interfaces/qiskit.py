"""Qiskit bridge: a ``QuantumCircuit`` -> :class:`pyqml.Circuit` converter, V2 primitives on the engine, an
adjoint gradient for Qiskit Machine Learning and a state fidelity for ``FidelityQuantumKernel``.

``import pyqml.qiskit`` (this module; ``pip install "pyqml[qiskit]"``)::

    from pyqml.qiskit import EstimatorV2, SamplerV2, AdjointEstimatorGradient, Fidelity, from_qiskit

    estimator = EstimatorV2()                        # exact (precision=0) unless asked otherwise
    qnn = EstimatorQNN(circuit=qc, observables=obs, input_params=x, weight_params=w,
                       estimator=estimator, gradient=AdjointEstimatorGradient(estimator))

Conventions. Qiskit numbers qubits little-endian (qubit 0 is the least significant bit of a basis index, and
the last letter of a Pauli label); pyqml's wire 0 is the most significant. Qubit ``q`` of an ``n``-qubit
circuit becomes wire ``n - 1 - q``, so state vectors have the same amplitude order in both and the letter
``label[j]`` of a Pauli label acts on wire ``j``.

Parameters. Every gate angle that is a number or an affine function ``a * p + b`` of one ``Parameter``
compiles into the engine's affine slots (``scale * weights[k] + offset``). Inside the primitives, an angle
that depends on several parameters or not affinely (ZZFeatureMap's ``2 (pi - x0)(pi - x1)``) gets a slot of
its own, evaluated per parameter set in Python before the engine call and pulled back by the chain rule for
gradients; :func:`from_qiskit` refuses such angles instead, naming them.

Batches. A circuit is compiled once per structure (cache keyed by its instructions) and then only bound.
All parameter sets of the PUBs of one ``run`` that share a circuit, deduplicated, go to the engine in one
batched call (rows = parameter sets); so do all jobs of a gradient call.

::

    PUB (circuit, observables O, values S+(P,)) --compile once--> pq.Circuit, weights = circuit.parameters
        rows = unique parameter sets (R, P) --[slots]--> (R, P+S) --engine--> (R, n_obs) --broadcast--> O x S
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from qiskit import transpile
from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit
from qiskit.primitives import BaseEstimatorV2, BaseSamplerV2, BitArray, DataBin, PrimitiveResult, PubResult
from qiskit.primitives.containers import ObservablesArray, SamplerPubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.primitives.primitive_job import PrimitiveJob
from qiskit.providers import Options
from qiskit_machine_learning.algorithm_job import AlgorithmJob
from qiskit_machine_learning.gradients import BaseEstimatorGradient, EstimatorGradientResult
from qiskit_machine_learning.gradients.utils import DerivativeType
from qiskit_machine_learning.state_fidelities import BaseStateFidelity, StateFidelityResult

from ..frontend.circuit import Circuit
from ..frontend.observables import Observable
from ..frontend.ops import GATES, QubitUnitary
from ..frontend.params import INPUT, WEIGHT, Param

__all__ = ["from_qiskit", "from_qiskit_observable", "EstimatorV2", "SamplerV2", "AdjointEstimatorGradient",
           "Fidelity"]

_HALF_PI = math.pi / 2

# Qiskit instruction name -> (pyqml gate, how Qiskit's parameters become pyqml's). Same matrices, same
# parameter conventions (RZ(t) = exp(-i t Z / 2), U(theta, phi, lambda) = pyqml's U3, RXX = IsingXX, ...).
_DIRECT: dict[str, tuple[str, object]] = {
    "id": ("Identity", None), "x": ("PauliX", None), "y": ("PauliY", None), "z": ("PauliZ", None),
    "h": ("Hadamard", None), "s": ("S", None), "sdg": ("Sdg", None), "t": ("T", None), "tdg": ("Tdg", None),
    "sx": ("SX", None), "sxdg": ("SXdg", None), "rx": ("RX", None), "ry": ("RY", None), "rz": ("RZ", None),
    "p": ("PhaseShift", None), "u1": ("PhaseShift", None), "u": ("U3", None), "u3": ("U3", None),
    "u2": ("U3", lambda ps: [_HALF_PI, ps[0], ps[1]]),
    "cx": ("CNOT", None), "cy": ("CY", None), "cz": ("CZ", None), "ch": ("CH", None), "swap": ("SWAP", None),
    "iswap": ("ISWAP", None), "crx": ("CRX", None), "cry": ("CRY", None), "crz": ("CRZ", None),
    "cp": ("ControlledPhaseShift", None), "cu1": ("ControlledPhaseShift", None), "rxx": ("IsingXX", None),
    "ryy": ("IsingYY", None), "rzz": ("IsingZZ", None), "ccx": ("Toffoli", None), "cswap": ("CSWAP", None),
}
_SKIPPED = {"barrier", "delay", "global_phase"}
# What transpile decomposes other gates into: the directly mapped gates (UnitaryGates of 1-3 qubits are
# mapped to QubitUnitary when no transpile is needed, decomposed otherwise).
_BASIS = sorted(set(_DIRECT) - {"id", "u2", "u1", "cu1"}) + ["measure", "delay"]


# ------------------------------------------------------------------------------------- circuits
@dataclass
class _Compiled:
    """A Qiskit circuit compiled for the engine: weights are ``params`` (in ``circuit.parameters`` order),
    then one slot per non-affine angle expression in ``slots``."""

    circuit: Circuit
    params: tuple
    slots: list = field(default_factory=list)
    measured: dict = field(default_factory=dict)  # clbit index -> qubit index (final measurements)
    clbits: dict = field(default_factory=dict)  # register name -> [clbit indices], little-endian

    @property
    def n_params(self) -> int:
        return len(self.params)

    def weights(self, values: np.ndarray) -> np.ndarray:
        """(rows, P) parameter values -> (rows, P + slots) engine weights."""
        if not self.slots:
            return values
        out = np.empty((values.shape[0], self.n_params + len(self.slots)))
        out[:, : self.n_params] = values
        for r, row in enumerate(values):
            binding = dict(zip(self.params, row.tolist()))
            for s, expr in enumerate(self.slots):
                out[r, self.n_params + s] = _real(expr.bind_all(binding), expr)
        return out

    def pullback(self, values: np.ndarray, d_weights: np.ndarray) -> np.ndarray:
        """d/d(engine weights) (rows, n_obs, P + slots) -> d/d(parameters) (rows, n_obs, P)."""
        if not self.slots:
            return d_weights
        out = np.array(d_weights[:, :, : self.n_params])
        index = {p: i for i, p in enumerate(self.params)}
        for s, expr in enumerate(self.slots):
            for p in expr.parameters:
                g = expr.gradient(p)
                for r, row in enumerate(values):
                    gv = g if not isinstance(g, ParameterExpression) else (
                        g.bind_all(dict(zip(self.params, row.tolist()))) if g.parameters else g.numeric())
                    out[r, :, index[p]] += _real(gv, g) * d_weights[r, :, self.n_params + s]
        return out


def _real(value, expr) -> float:
    c = complex(value)
    if abs(c.imag) > 1e-12 * max(1.0, abs(c.real)):
        raise ValueError(f"gate angle {expr} is complex ({c}); pyqml's gates take real angles")
    return c.real


def _structure_key(qc: QuantumCircuit) -> tuple:
    """What the compiled form depends on: instruction names, qubits, clbits and parameter expressions."""
    items = []
    for inst in qc.data:
        op = inst.operation
        ps = []
        for p in op.params:
            if isinstance(p, ParameterExpression):
                ps.append(str(p))
            elif isinstance(p, np.ndarray):
                ps.append(p.tobytes())
            else:
                ps.append(repr(p))
        items.append((op.name, tuple(qc.find_bit(q).index for q in inst.qubits),
                      tuple(qc.find_bit(c).index for c in inst.clbits), tuple(ps)))
    regs = tuple((r.name, r.size) for r in qc.cregs)
    return (qc.num_qubits, qc.num_clbits, regs, tuple(str(p) for p in qc.parameters), tuple(items))


def _needs_transpile(qc: QuantumCircuit) -> bool:
    for inst in qc.data:
        op = inst.operation
        if op.name in _DIRECT or op.name in _SKIPPED or op.name == "measure":
            continue
        if op.name == "unitary" and op.num_qubits <= 3:
            continue
        if op.name in ("reset",) or getattr(op, "is_control_flow", lambda: False)() or op.name in (
                "if_else", "while_loop", "for_loop", "switch_case", "box"):
            continue  # refused by _convert with its name
        return True
    return False


def _convert(qc: QuantumCircuit, input_params: Sequence | None = None, *, slots: bool = False,
             final_measurements: bool = False) -> _Compiled:
    if not isinstance(qc, QuantumCircuit):
        raise TypeError(f"expected a qiskit QuantumCircuit, got {type(qc).__name__}")
    original = qc
    if _needs_transpile(qc):
        qc = transpile(qc, basis_gates=_BASIS, optimization_level=0)
    n = qc.num_qubits
    if n < 1:
        raise ValueError("the circuit has no qubits")
    all_params = tuple(original.parameters)
    inputs = tuple(input_params) if input_params is not None else ()
    for p in inputs:
        if p not in set(all_params):
            raise ValueError(f"input parameter {p} is not a parameter of the circuit")
    input_index = {p: i for i, p in enumerate(inputs)}
    weight_params = tuple(p for p in all_params if p not in input_index)
    weight_index = {p: i for i, p in enumerate(weight_params)}
    slot_exprs: list = []
    slot_keys: dict = {}

    def angle(value, gate: str):
        if not isinstance(value, ParameterExpression):
            return _real(value, value)
        ps = value.parameters
        if not ps:
            return _real(value.numeric(), value)
        if len(ps) == 1:
            (p,) = ps
            g = value.gradient(p)
            if isinstance(g, ParameterExpression) and not g.parameters:
                g = g.numeric()
            if not isinstance(g, ParameterExpression):
                scale = _real(g, value)
                offset = _real(value.bind_all({p: 0.0}), value)
                if p in input_index:
                    return Param(INPUT, input_index[p], scale, offset)
                return Param(WEIGHT, weight_index[p], scale, offset)
        if not slots:
            raise ValueError(f"{gate}: the angle {value} is not an affine function a * p + b of one parameter; "
                             "pyqml's circuit IR binds each angle as scale * parameter + offset")
        key = str(value)
        if key not in slot_keys:
            slot_keys[key] = len(slot_exprs)
            slot_exprs.append(value)
        return Param(WEIGHT, len(weight_params) + slot_keys[key])

    ops = []
    measured: dict[int, int] = {}
    done: set[int] = set()  # measured qubits: no gate may follow
    for inst in qc.data:
        op = inst.operation
        name = op.name
        qubits = [qc.find_bit(q).index for q in inst.qubits]
        if name in _SKIPPED:
            continue
        if name == "measure":
            if not final_measurements:
                raise ValueError("the circuit measures qubits: pass a circuit without measurements "
                                 "(qc.remove_final_measurements(inplace=False)) or use pyqml.qiskit.SamplerV2")
            measured[qc.find_bit(inst.clbits[0]).index] = qubits[0]
            done.add(qubits[0])
            continue
        if name == "reset":
            raise ValueError("the circuit resets a qubit: pyqml simulates unitary circuits (no reset)")
        if getattr(op, "is_control_flow", lambda: False)() or name in ("if_else", "while_loop", "for_loop",
                                                                        "switch_case", "box"):
            raise ValueError(f"the circuit has classical control flow ({name}): pyqml simulates unitary "
                             "circuits without conditionals")
        if done.intersection(qubits):
            raise ValueError(f"{name} acts on a qubit after it was measured: mid-circuit measurements are not "
                             "supported")
        wires = [n - 1 - q for q in qubits]
        if name == "unitary" and len(qubits) <= 3:
            # Qiskit's matrix is little-endian in its qargs: the last qarg is the most significant.
            ops.append(QubitUnitary(np.asarray(op.to_matrix(), dtype=complex), wires=wires[::-1]))
            continue
        if name not in _DIRECT:
            raise ValueError(f"the gate {name!r} has no pyqml equivalent and qiskit's transpile did not decompose "
                             f"it into {_BASIS}")
        target, remap = _DIRECT[name]
        params = list(op.params)
        if remap is not None:
            params = remap(params)
        ops.append(GATES[target](*[angle(p, name) for p in params], wires=wires))
    circuit = Circuit(n, ops, n_weights=len(weight_params) + len(slot_exprs), n_inputs=len(inputs))
    circuit.weight_parameters = weight_params
    circuit.input_parameters = inputs
    clbits = {r.name: [qc.find_bit(b).index for b in r] for r in qc.cregs}
    return _Compiled(circuit, weight_params, slot_exprs, measured, clbits)


def from_qiskit(qc: QuantumCircuit, input_params: Sequence[Parameter] | None = None) -> Circuit:
    """A :class:`pyqml.Circuit` from a Qiskit ``QuantumCircuit``.

    Parameters
    ----------
    qc : QuantumCircuit
        Gates of the gate table are mapped directly; others (``rzx``, ``ecr``, multi-controlled gates,
        library blocks) are decomposed by ``qiskit.transpile`` into gates that are. Barriers, delays and
        global phases are dropped. Measurements, resets and control flow raise ValueError.
    input_params : sequence of Parameter, optional
        The parameters that are data: they become ``inputs[j]`` in this order. Every other parameter becomes
        ``weights[k]`` in the order of ``qc.parameters``.

    Returns
    -------
    Circuit
        With ``weight_parameters`` and ``input_parameters`` (tuples of Qiskit parameters) naming its weight
        and input slots. Qubit ``q`` is wire ``n - 1 - q``, so ``pq.state`` gives Qiskit's amplitude order.

    Every angle must be a number or an affine function ``a * p + b`` of one parameter (a ValueError names
    any other); a complex angle raises ValueError.
    """
    return _convert(qc, input_params).circuit


_PROJECTORS = {"0": ("Z", 1.0), "1": ("Z", -1.0), "+": ("X", 1.0), "-": ("X", -1.0), "r": ("Y", 1.0),
               "l": ("Y", -1.0)}


def _label_observable(label: str, coeff) -> Observable:
    c = complex(coeff)
    if abs(c.imag) > 1e-12 * max(1.0, abs(c.real)):
        raise ValueError(f"observable term {label!r} has the complex coefficient {c}: pyqml measures Hermitian "
                         "observables with real coefficients")
    obs = Observable({(): c.real})
    word = []
    for wire, ch in enumerate(label):
        if ch == "I":
            continue
        if ch in "XYZ":
            word.append((wire, ch))
        elif ch in _PROJECTORS:  # SparseObservable's projectors: (I +- P) / 2
            p, sign = _PROJECTORS[ch]
            obs = obs @ Observable({(): 0.5, ((wire, p),): 0.5 * sign})
        else:
            raise ValueError(f"observable label {label!r}: unknown letter {ch!r}")
    return obs @ Observable({tuple(word): 1.0}) if word else obs


def _dict_observable(terms: dict) -> Observable:
    total = Observable()
    for label, c in terms.items():
        total = total + _label_observable(label, c)
    return total


def from_qiskit_observable(op) -> Observable:
    """A pyqml :class:`~pyqml.Observable` from a ``SparsePauliOp``, ``Pauli``, ``SparseObservable``, Pauli
    label or ``{label: coeff}`` dict (real coefficients; a complex one raises ValueError). Labels read
    Qiskit's way (the last letter is qubit 0), so the letter ``label[j]`` acts on wire ``j``."""
    from qiskit.quantum_info import SparsePauliOp

    if isinstance(op, SparsePauliOp):
        return _dict_observable({label: c for label, c in op.to_list()})
    return _dict_observable(_obs_dict(op))


def _obs_dict(obj) -> dict:
    """A Qiskit observable-like object as ``{label: real coeff}`` (ObservablesArray's form)."""
    from qiskit.quantum_info import SparsePauliOp

    if isinstance(obj, dict):
        return obj
    if isinstance(obj, SparsePauliOp):
        for label, c in obj.to_list():
            _label_observable(label, c)  # a complex coefficient raises with the term named
    return ObservablesArray.coerce(obj)[()]


def _obs_key(d: dict) -> tuple:
    return tuple(sorted((k, float(v)) for k, v in d.items()))


def _check_finite(values, where: str) -> None:
    arr = np.asarray(values, dtype=float)
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: parameter values must be finite, got NaN or infinity")


class _Engine:
    """The compiled-circuit cache the primitives share: one :class:`_Compiled` per circuit structure."""

    def __init__(self, method: str):
        self.method = method
        self._cache: dict = {}

    def compiled(self, qc: QuantumCircuit, final_measurements: bool = False) -> tuple[tuple, _Compiled]:
        key = (final_measurements, _structure_key(qc))
        c = self._cache.get(key)
        if c is None:
            c = _convert(qc, slots=True, final_measurements=final_measurements)
            self._cache[key] = c
        return key, c

    def group(self, circuits: Sequence) -> dict:
        """{structure key: (compiled, [indices of the circuits with that structure])}, each circuit object
        keyed once (Qiskit ML passes the same circuit object for every job)."""
        by_id: dict = {}
        groups: dict = {}
        for i, qc in enumerate(circuits):
            hit = by_id.get(id(qc))
            if hit is None:
                hit = by_id[id(qc)] = self.compiled(qc)
            key, comp = hit
            groups.setdefault(key, (comp, []))[1].append(i)
        return groups

    def executor(self, compiled: _Compiled, observables: list, measurement: str):
        return compiled.circuit.executor(observables, method=self.method, measurement=measurement)


class _Job(PrimitiveJob):
    """A PrimitiveJob that starts itself (Qiskit's primitives submit theirs the same way)."""

    def start(self) -> _Job:
        self._submit()
        return self


def _rows2d(values, n_params: int) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if a.ndim == 2 and a.shape[1] == n_params:
        return a
    return a.reshape(-1, n_params) if n_params else np.zeros((1 if a.ndim < 2 else a.shape[0], 0))


def _unique_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows (first-seen order) and, per row, the index of its distinct row."""
    if values.shape[0] <= 1 or values.shape[1] == 0:
        return values[:1], np.zeros(values.shape[0], dtype=int)
    values = np.ascontiguousarray(values, dtype=float)
    first: dict = {}
    inverse = np.fromiter((first.setdefault(row.tobytes(), len(first)) for row in values), dtype=int,
                          count=values.shape[0])
    keep = np.zeros(len(first), dtype=int)
    keep[inverse[::-1]] = np.arange(values.shape[0] - 1, -1, -1)  # first row of each distinct value
    return values[keep], inverse


# ------------------------------------------------------------------------------------- estimator
class EstimatorV2(BaseEstimatorV2):
    """Qiskit's V2 estimator on pyqml's engine.

    Parameters
    ----------
    default_precision : float
        0 (the default) gives exact expectation values. A positive precision adds Gaussian noise of that
        standard deviation to each value (what Qiskit's ``StatevectorEstimator`` does, same draws for the
        same seed), and reports it as ``stds``.
    seed : int or numpy Generator, optional
        Seed of that noise (``numpy.random.default_rng(seed)`` per PUB).
    method : str
        The pyqml method ("auto", "statevector", "tensornet").

    Every PUB's parameter sets (and those of all PUBs of one ``run`` on the same circuit) run as one batched
    engine call; each circuit structure is compiled once.
    """

    def __init__(self, *, default_precision: float = 0.0, seed: np.random.Generator | int | None = None,
                 method: str = "auto"):
        if not (isinstance(default_precision, (int, float)) and default_precision >= 0):
            raise ValueError(f"default_precision must be a number >= 0, got {default_precision!r}")
        self._default_precision = float(default_precision)
        self._seed = seed
        self._engine = _Engine(method)

    @property
    def default_precision(self) -> float:
        return self._default_precision

    @property
    def seed(self):
        return self._seed

    @property
    def options(self) -> Options:
        return Options(default_precision=self._default_precision, seed=self._seed, method=self._engine.method)

    def run(self, pubs: Iterable, *, precision: float | None = None) -> PrimitiveJob:
        if precision is None:
            precision = self._default_precision
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        for i, pub in enumerate(coerced):
            if pub.parameter_values.num_parameters:
                _check_finite(pub.parameter_values.as_array(pub.circuit.parameters), f"PUB {i}")
        self._engine.group([pub.circuit for pub in coerced])  # compiles (or refuses) every circuit now
        return _Job(self._run, coerced).start()

    def expectation_values(self, jobs: list) -> list[np.ndarray]:
        """For jobs ``(circuit, values (R, P), [obs dict, ...])``: arrays (R, n_obs) of exact values.

        Jobs on one circuit structure share one engine call over their unique parameter sets."""
        groups = self._engine.group([job[0] for job in jobs])
        out: list = [None] * len(jobs)
        for comp, members in groups.values():
            rows = np.concatenate([_rows2d(jobs[j][1], comp.n_params) for j in members])
            uniq, inverse = _unique_rows(rows)
            okeys: dict = {}
            for j in members:
                for d in jobs[j][2]:
                    okeys.setdefault(_obs_key(d), d)
            observables = [_dict_observable(d) for d in okeys.values()]
            live = [k for k, o in enumerate(observables) if o.terms]
            vals = np.zeros((uniq.shape[0], len(observables)))
            if live:
                ex = self._engine.executor(comp, [observables[k] for k in live], "expval")
                vals[:, live] = ex.expval(comp.weights(uniq), None)
            col = {k: i for i, k in enumerate(okeys)}
            start = 0
            for j in members:
                r = _rows2d(jobs[j][1], comp.n_params).shape[0]
                idx = inverse[start:start + r]
                start += r
                out[j] = vals[idx][:, [col[_obs_key(d)] for d in jobs[j][2]]]
        return out

    def gradients(self, circuits: Sequence, observables: Sequence, parameter_values, parameters: Sequence) -> list:
        """Exact d<O>/d(parameters) of jobs (circuits[i], observables[i], parameter_values[i]), for the
        parameters ``parameters[i]`` (in that order): one engine adjoint ``jacobian`` call per circuit
        structure over the unique parameter sets and observables of its jobs."""
        engine = self._engine
        groups = engine.group(circuits)
        gradients: list = [None] * len(circuits)
        for comp, members in groups.values():
            if isinstance(parameter_values, np.ndarray) and parameter_values.ndim == 2:
                rows = np.asarray(parameter_values[members], dtype=float)
            else:
                rows = np.array([np.asarray(parameter_values[i], dtype=float) for i in members]).reshape(
                    len(members), comp.n_params)
            uniq, inverse = _unique_rows(rows)
            seen: dict = {}  # QNNs repeat one observable object over many jobs: convert each once
            dicts = [seen[id(observables[i])] if id(observables[i]) in seen else
                     seen.setdefault(id(observables[i]), _obs_dict(observables[i])) for i in members]
            okeys: dict = {}
            for d in {id(d): d for d in dicts}.values():
                okeys.setdefault(_obs_key(d), d)
            observables_ = [_dict_observable(d) for d in okeys.values()]
            col = {k: i for i, k in enumerate(okeys)}
            live = [k for k, o in enumerate(observables_) if o.terms]
            jac = np.zeros((uniq.shape[0], len(observables_), comp.n_params))
            if live and comp.n_params:
                ex = engine.executor(comp, [observables_[k] for k in live], "jacobian")
                _, d_w, _ = ex.jacobian(comp.weights(uniq), None)
                jac[:, live, :] = comp.pullback(uniq, np.asarray(d_w))
            index = {p: k for k, p in enumerate(comp.params)}
            picks: dict = {}  # id(parameter list) -> its indices into comp.params
            cols = {i: col[_obs_key(d)] for i, d in {id(d): d for d in dicts}.items()}
            for m, i in enumerate(members):
                pick = picks.get(id(parameters[i]))
                if pick is None:
                    pick = picks[id(parameters[i])] = np.array([index[p] for p in parameters[i]], dtype=int)
                gradients[i] = jac[inverse[m], cols[id(dicts[m])]][pick]
        return gradients

    def _run(self, pubs: list) -> PrimitiveResult:
        jobs, shapes = [], []
        for pub in pubs:
            pv = pub.parameter_values
            values = pv.as_array(pub.circuit.parameters).reshape(-1, pub.circuit.num_parameters) \
                if pv.num_parameters else np.zeros((max(1, int(np.prod(pv.shape))), 0))
            obs_arr = pub.observables
            flat = [obs_arr[idx] for idx in np.ndindex(*obs_arr.shape)] if obs_arr.shape else [obs_arr[()]]
            jobs.append((pub.circuit, values, flat))
            shapes.append((pv.shape, obs_arr.shape))
        tables = self.expectation_values(jobs)
        results = []
        for pub, table, (pshape, oshape) in zip(pubs, tables, shapes):
            rows = np.arange(table.shape[0]).reshape(pshape)
            cols = np.arange(table.shape[1]).reshape(oshape)
            ri, ci = np.broadcast_arrays(rows, cols)
            evs = np.array(table[ri, ci], dtype=np.float64)
            stds = np.zeros_like(evs)
            if pub.precision != 0:
                rng = np.random.default_rng(self._seed)
                evs = np.asarray(rng.normal(evs, pub.precision), dtype=np.float64)
                stds[...] = pub.precision
            data = DataBin(evs=evs, stds=stds, shape=evs.shape)
            results.append(PubResult(data, metadata={"target_precision": pub.precision,
                                                     "circuit_metadata": pub.circuit.metadata}))
        return PrimitiveResult(results, metadata={"version": 2})


# ------------------------------------------------------------------------------------- sampler
def _seed_int(seed) -> int:
    if seed is None:
        return int(np.random.default_rng().integers(2**31))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**31))
    return int(seed)


class SamplerV2(BaseSamplerV2):
    """Qiskit's V2 sampler on pyqml's engine: final measurements sampled from the exact distribution.

    Parameters
    ----------
    default_shots : int
        Shots when a PUB names none (1024, as ``StatevectorSampler``).
    seed : int or numpy Generator, optional
        Parameter set ``r`` of a PUB is sampled with seed ``seed + r``: reproducible per seed.
    method : str
        The pyqml method.

    Measurements must be final (no gate after them on that qubit); unmeasured classical bits read 0.
    """

    def __init__(self, *, default_shots: int = 1024, seed: np.random.Generator | int | None = None,
                 method: str = "auto"):
        if not isinstance(default_shots, (int, np.integer)) or default_shots < 1:
            raise ValueError(f"default_shots must be a positive integer, got {default_shots!r}")
        self._default_shots = int(default_shots)
        self._seed = seed
        self._engine = _Engine(method)

    @property
    def default_shots(self) -> int:
        return self._default_shots

    @property
    def seed(self):
        return self._seed

    @property
    def options(self) -> Options:
        return Options(default_shots=self._default_shots, seed=self._seed, method=self._engine.method)

    def run(self, pubs: Iterable, *, shots: int | None = None) -> PrimitiveJob:
        if shots is None:
            shots = self._default_shots
        coerced = [SamplerPub.coerce(pub, shots) for pub in pubs]
        for i, pub in enumerate(coerced):
            if pub.parameter_values.num_parameters:
                _check_finite(pub.parameter_values.as_array(pub.circuit.parameters), f"PUB {i}")
            self._engine.compiled(pub.circuit, final_measurements=True)  # refuses what it cannot run, now
        return _Job(self._run, coerced).start()

    def _run(self, pubs: list) -> PrimitiveResult:
        return PrimitiveResult([self._run_pub(pub) for pub in pubs], metadata={"version": 2})

    def _run_pub(self, pub) -> SamplerPubResult:
        _, comp = self._engine.compiled(pub.circuit, final_measurements=True)
        pv = pub.parameter_values
        rows = max(1, int(np.prod(pv.shape)))
        values = pv.as_array(pub.circuit.parameters).reshape(rows, -1) if pv.num_parameters else \
            np.zeros((rows, 0))
        n = comp.circuit.n_wires
        qubits = sorted(set(comp.measured.values()))
        shots = int(pub.shots)
        if qubits:
            ex = self._engine.executor(comp, [], "sample")
            bits = ex.sample(comp.weights(values), None, [n - 1 - q for q in qubits], shots, _seed_int(self._seed))
            bits = np.asarray(bits, dtype=bool).reshape(rows, shots, len(qubits))
        column = {q: i for i, q in enumerate(qubits)}
        meas = {}
        for name, clbits in comp.clbits.items():
            arr = np.zeros((rows, shots, len(clbits)), dtype=bool)
            for i, cb in enumerate(clbits):
                if cb in comp.measured:
                    arr[:, :, i] = bits[:, :, column[comp.measured[cb]]]
            arr = arr.reshape(tuple(pv.shape) + (shots, len(clbits)))
            meas[name] = BitArray.from_bool_array(arr, order="little")
        return SamplerPubResult(DataBin(**meas, shape=pub.shape),
                                metadata={"shots": shots, "circuit_metadata": pub.circuit.metadata})


# ------------------------------------------------------------------------------------- gradient
class AdjointEstimatorGradient(BaseEstimatorGradient):
    """Exact gradients of expectation values for Qiskit Machine Learning, by the engine's adjoint method.

    All jobs (circuit, observable, parameter set) of one ``run`` on the same circuit structure are one
    engine ``jacobian`` call over their unique parameter sets and observables, where
    ``ParamShiftEstimatorGradient`` sends 2 P estimator PUBs per job. ``parameters=`` subsets are honoured.

    Parameters
    ----------
    estimator : pyqml.qiskit.EstimatorV2, optional
        Whose compiled-circuit cache and method to use (a new exact one by default).
    """

    def __init__(self, estimator: EstimatorV2 | None = None, options: Options | None = None,
                 derivative_type: DerivativeType = DerivativeType.REAL):
        if estimator is None:
            estimator = EstimatorV2()
        if not isinstance(estimator, EstimatorV2):
            raise TypeError("AdjointEstimatorGradient computes on pyqml's engine: pass a pyqml.qiskit.EstimatorV2, "
                            f"got {type(estimator).__name__}")
        if derivative_type != DerivativeType.REAL:
            raise ValueError("AdjointEstimatorGradient computes real derivatives (DerivativeType.REAL) only")
        super().__init__(estimator, options=options, derivative_type=derivative_type)

    def run(self, circuits, observables, parameter_values, parameters=None, **options) -> AlgorithmJob:
        """As ``BaseEstimatorGradient.run`` (same arguments, same ValueErrors), with NaN and infinite
        parameter values refused here, and each repeated circuit / parameter list object checked once."""
        from qiskit.quantum_info.operators.base_operator import BaseOperator

        if isinstance(circuits, QuantumCircuit):
            circuits = (circuits,)
        if isinstance(observables, BaseOperator):
            observables = (observables,)
        if parameters is None:
            parameters = [qc.parameters for qc in circuits]
        else:
            parameters = [p if p is not None else circuits[i].parameters for i, p in enumerate(parameters)]
        if len(circuits) != len(parameter_values):
            raise ValueError(f"The number of circuits ({len(circuits)}) does not match the number of parameter "
                             f"value sets ({len(parameter_values)}).")
        if len(circuits) != len(observables):
            raise ValueError(f"The number of circuits ({len(circuits)}) does not match the number of observables "
                             f"({len(observables)}).")
        if len(circuits) != len(parameters):
            raise ValueError(f"The number of circuits ({len(circuits)}) does not match the number of the list of "
                             f"specified parameters ({len(parameters)}).")
        checked: set = set()
        counts: dict = {}
        if isinstance(parameter_values, np.ndarray) and parameter_values.ndim == 2:
            _check_finite(parameter_values, "AdjointEstimatorGradient")
            lengths = [parameter_values.shape[1]] * len(parameter_values)
        else:
            for i, values in enumerate(parameter_values):
                _check_finite(values, f"parameter set {i}")
            lengths = [len(v) for v in parameter_values]
        for i, (qc, n_values, obs, params) in enumerate(zip(circuits, lengths, observables, parameters)):
            n_params = counts.get(id(qc))
            if n_params is None:
                n_params = counts[id(qc)] = qc.num_parameters
            if not n_params:
                raise ValueError(f"The {i}-th circuit is not parameterised.")
            if n_values != n_params:
                raise ValueError(f"The number of values ({n_values}) does not match the number of parameters "
                                 f"({n_params}) for the {i}-th circuit.")
            if (id(qc), id(obs), id(params)) in checked:
                continue
            if qc.num_qubits != obs.num_qubits:
                raise ValueError(f"The number of qubits of the {i}-th circuit ({qc.num_qubits}) does not match the "
                                 f"number of qubits of the {i}-th observable ({obs.num_qubits}).")
            if not set(params).issubset(qc.parameters):
                raise ValueError(f"The {i}-th parameters contains parameters not present in the {i}-th circuit.")
            checked.add((id(qc), id(obs), id(params)))
        opts = copy.copy(self._default_options)
        opts.update_options(**options)
        job = AlgorithmJob(self._run, circuits, observables, parameter_values, parameters, **opts.__dict__)
        job.submit()
        return job

    def _run(self, circuits, observables, parameter_values, parameters, **options) -> EstimatorGradientResult:
        gradients = self._estimator.gradients(circuits, observables, parameter_values, parameters)
        metadata = [{"parameters": p} for p in parameters]
        return EstimatorGradientResult(gradients=gradients, metadata=metadata, options=Options(**options))


# ------------------------------------------------------------------------------------- fidelity
class Fidelity(BaseStateFidelity):
    """``|<psi(x)|phi(y)>|^2`` from the engine's batched states (for ``FidelityQuantumKernel``).

    The states of all parameter sets on one circuit structure come from one engine ``state`` call over the
    unique parameter sets (a Gram matrix of n points: n states, not n^2 compute-uncompute circuits).

    Parameters
    ----------
    method : str
        The pyqml method computing states ("auto" or "statevector").
    """

    def __init__(self, *, method: str = "auto", options: Options | None = None):
        super().__init__()
        self._engine = _Engine(method)
        self._default_options = Options()
        if options is not None:
            self._default_options.update_options(**options)

    def create_fidelity_circuit(self, circuit_1: QuantumCircuit, circuit_2: QuantumCircuit) -> QuantumCircuit:
        """The compute-uncompute circuit ``circuit_1 . circuit_2^dagger`` (for reference; not run)."""
        return circuit_1.compose(circuit_2.inverse())

    def _states(self, circuits: Sequence, values: Sequence) -> list[np.ndarray]:
        groups = self._engine.group(circuits)
        out: list = [None] * len(circuits)
        for comp, members in groups.values():
            rows = np.array([np.asarray(values[i], dtype=float).ravel() for i in members]).reshape(
                len(members), comp.n_params)
            uniq, inverse = _unique_rows(rows)
            states = self._engine.executor(comp, [], "state").state(comp.weights(uniq), None)
            for m, i in enumerate(members):
                out[i] = states[inverse[m]]
        return out

    def _run(self, circuits_1, circuits_2, values_1=None, values_2=None, **options) -> AlgorithmJob:
        c1 = [circuits_1] if isinstance(circuits_1, QuantumCircuit) else list(circuits_1)
        c2 = [circuits_2] if isinstance(circuits_2, QuantumCircuit) else list(circuits_2)
        if len(c1) != len(c2):
            raise ValueError(f"the number of circuits in each set differs: {len(c1)} and {len(c2)}")
        if not c1:
            raise ValueError("At least one pair of circuits must be defined to calculate the state overlap.")
        for a, b in zip(c1, c2):
            self._check_qubits_match(a, b)
        v1 = self._preprocess_values(c1, values_1)
        v2 = self._preprocess_values(c2, values_2)
        v1 = v1 * len(c1) if len(v1) == 1 and len(c1) > 1 else v1
        v2 = v2 * len(c2) if len(v2) == 1 and len(c2) > 1 else v2
        for qc, v in list(zip(c1, v1)) + list(zip(c2, v2)):
            if len(v) != qc.num_parameters:
                raise ValueError(f"{len(v)} parameter values for a circuit with {qc.num_parameters} parameters")
            _check_finite(v, "Fidelity")
        opts = Options(**{**self._default_options.__dict__, **options})
        return AlgorithmJob(self._compute, c1, c2, v1, v2, opts)

    def _compute(self, c1, c2, v1, v2, opts) -> StateFidelityResult:
        left = self._states(c1, v1)
        right = self._states(c2, v2)
        overlaps = np.einsum("ij,ij->i", np.conj(np.array(left)), np.array(right))
        raw = (np.abs(overlaps) ** 2).tolist()
        return StateFidelityResult(fidelities=self._truncate_fidelities(raw), raw_fidelities=raw,
                                   metadata=[{}] * len(raw), options=opts)
