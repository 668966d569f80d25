"""``pyqml.qubit``: a PennyLane device (``pennylane.devices.Device``) that runs tapes on pyqml's engine.

::

    dev = qml.device("pyqml.qubit", wires=4)                      # method="statevector" (default)
    dev = qml.device("pyqml.qubit", wires=["a", "b"], method="auto", seed=7)

How a batch of tapes runs::

    tapes --preprocess (PennyLane's decompose / validate transforms)--> tapes of pyqml gates
      |  structure key: gate names and wires, constant matrices, measurements and observables
      v
    _Program (cached per key): pq.Circuit whose gate angles are weights[k], one weight per tape parameter
      |  tapes of one structure, and the rows of a broadcast tape (tape.batch_size), stacked into
      |  W of shape (rows, n_weights)
      v
    one executor call per kind of measurement: expval / var / probs / state / sample / jacobian / vjp

* Operations are PennyLane's own decompositions down to the engine's gate table (``pq.GATES``): the names
  match 1:1, ``Adjoint(S/T/SX)`` become ``Sdg/Tdg/SXdg``, parameter-free gates outside the table on at
  most three wires run as a constant ``QubitUnitary``, ``GlobalPhase`` multiplies the returned state.
* Observables with a Pauli form (Pauli words, ``qml.Hamiltonian``, ``qml.sum/prod/s_prod``) and matrix
  observables on at most :data:`MATRIX_OBS_WIRES` wires (``Hermitian``, ``Projector``: expanded in Pauli
  words) run on the engine, with adjoint derivatives. Other measurements (density matrices, entropies,
  ``SparseHamiltonian``) are computed by PennyLane from the engine's state.
* Finite shots: PennyLane's ``split_non_commuting`` makes each tape's observables commute qubit-wise, the
  circuit gets their diagonalising gates, the engine draws computational-basis bitstrings (``pq.sample``,
  reproducible with ``seed=``) and PennyLane's ``process_samples`` turns them into each measurement.
* Derivatives (analytic, expectation values and variances): the engine's batched adjoint Jacobian and
  VJP. ``diff_method="best"`` resolves to ``"adjoint"``.
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict

import numpy as np
import pennylane as qml
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.devices.preprocess import (
    decompose,
    validate_adjoint_trainable_params,
    validate_device_wires,
    validate_measurements,
    validate_observables,
)
from pennylane.exceptions import DeviceError
from pennylane.measurements import (
    ExpectationMP,
    ProbabilityMP,
    SampleMeasurement,
    StateMeasurement,
    StateMP,
    VarianceMP,
)
from pennylane.transforms.core import CompilePipeline, transform

from ..frontend import ops as _ops
from ..frontend.circuit import Circuit
from ..frontend.observables import Observable
from ..frontend.params import WEIGHT, Param

METHODS = ("statevector", "tensornet", "auto")
# Matrix observables on at most this many wires are expanded in (at most 4^k) Pauli words.
MATRIX_OBS_WIRES = 4
# Gates PennyLane names differently from pyqml's table.
_RENAMED = {"Adjoint(S)": "Sdg", "Adjoint(T)": "Tdg", "Adjoint(SX)": "SXdg"}
_SKIPPED = ("Identity", "Barrier")
_TABLE_GATES = frozenset(n for n in _ops.GATES if n != "QubitUnitary")
_MAX_UNITARY_WIRES = 3
_CACHE_SIZE = 512


def _requires_grad(op) -> bool:
    return any(qml.math.requires_grad(d) for d in op.data)


def _is_constant_unitary(op) -> bool:
    """A gate the engine runs from its matrix: a QubitUnitary, or a parameter-free gate off the table, on at
    most three wires, with a non-trainable matrix (a batch of matrices runs one circuit per matrix)."""
    if len(op.wires) > _MAX_UNITARY_WIRES or not op.has_matrix:
        return False
    if isinstance(op, qml.QubitUnitary):
        return not _requires_grad(op)
    return op.num_params == 0


def stopping_condition(op) -> bool:
    """Whether pyqml runs ``op`` as it is (PennyLane's ``decompose`` rewrites the others)."""
    name = _RENAMED.get(op.name, op.name)
    if name in _TABLE_GATES or name in _SKIPPED or name == "GlobalPhase":
        return True
    return _is_constant_unitary(op)


def _pauli_sentence(obs):
    """The observable as a PauliSentence, or None (no Pauli form, or a matrix on too many wires)."""
    ps = obs.pauli_rep
    if ps is not None:
        return ps
    if obs.has_matrix and len(obs.wires) <= MATRIX_OBS_WIRES and not _is_batched(obs):
        return qml.pauli_decompose(qml.matrix(obs, wire_order=obs.wires), wire_order=obs.wires, pauli=True)
    return None


def _is_batched(op) -> bool:
    try:
        return op.batch_size is not None
    except Exception:  # noqa: BLE001 - some composite observables cannot say
        return False


def _engine_observable(obs) -> Observable | None:
    """A PennyLane observable (wires already 0..n-1) as a pyqml :class:`Observable`, or None."""
    if _is_batched(obs):
        return None  # broadcast observable parameters
    ps = _pauli_sentence(obs)
    if ps is None:
        return None
    terms = {}
    for word, coeff in ps.items():
        c = complex(qml.math.to_numpy(coeff))
        if abs(c.imag) > 1e-12 * max(1.0, abs(c.real)):
            return None
        key = tuple(sorted((int(w), p) for w, p in word.items()))
        terms[key] = terms.get(key, 0.0) + c.real
    return Observable(terms)


def _observable_ok(obs) -> bool:
    return obs.pauli_rep is not None or obs.has_matrix or obs.has_sparse_matrix


def _analytic_measurement_ok(mp) -> bool:
    return isinstance(mp, StateMeasurement)


def _sample_measurement_ok(mp) -> bool:
    return isinstance(mp, SampleMeasurement)


@transform
def _split_for_sampling(tape):
    """Finite-shot tapes: qubit-wise commuting groups of observables (PennyLane's ``split_non_commuting``)."""
    if not tape.shots or all(m.obs is None for m in tape.measurements):
        return (tape,), lambda res: res[0]
    return qml.transforms.split_non_commuting(tape)


@transform
def _expand_trainable_broadcast(tape):
    """Broadcast tapes whose broadcast parameters are trainable, expanded when the derivatives leave the device
    as Jacobians (PennyLane contracts those over the batch axis); device VJPs keep them whole."""
    if tape.batch_size is None:
        return (tape,), lambda res: res[0]
    if any(op.batch_size is not None and _requires_grad(op) for op in tape.operations):
        return qml.transforms.broadcast_expand(tape)
    return (tape,), lambda res: res[0]


def _shots_diagonalising_gates(tape) -> list:
    """Gates that rotate every observable of a qubit-wise commuting tape into the computational basis: one
    rotation per wire for Pauli words, an observable's own diagonalising gates otherwise."""
    letters: dict = {}
    gates = []
    for m in tape.measurements:
        if m.obs is None:
            continue
        ps = m.obs.pauli_rep
        if ps is not None and len(ps) == 1:
            (word,) = ps.keys()
            for w, p in word.items():
                if letters.setdefault(w, p) != p:
                    raise DeviceError(f"observables on wire {w} do not commute qubit-wise: {letters[w]} and {p}")
        else:
            gates.extend(m.obs.diagonalizing_gates())
    for w, p in letters.items():
        if p == "X":
            gates.append(qml.Hadamard(w))
        elif p == "Y":
            gates.extend(qml.Y(w).diagonalizing_gates())
    return gates


def _lower(op) -> list:
    """``op`` as gates the engine runs (for diagonalising gates, which PennyLane's preprocessing never saw)."""
    if stopping_condition(op):
        return [op]
    return [g for d in op.decomposition() for g in _lower(d)]


def _op_params(op) -> list:
    return [qml.math.to_numpy(d) for d in op.data]


@dataclasses.dataclass
class _Program:
    """One tape structure compiled for the engine."""

    circuit: Circuit
    weight_of_param: list         # tape operation parameter -> weight column, or -1 (constant matrix)
    phase_cols: list              # weight columns of GlobalPhase angles
    plan: list                    # per measurement: ("expval", i) | ("var", i) | ("probs", wires) | ("state",)
    #                               | ("fallback",) | ("samples",)
    expval_obs: list
    var_obs: list
    shots: bool

    @property
    def differentiable(self) -> bool:
        return not self.shots and all(p[0] in ("expval", "var") for p in self.plan)

    @property
    def deriv_obs(self) -> list:
        return self.expval_obs + self.var_obs + [o @ o for o in self.var_obs]


def _structure(tape, shots: bool):
    """(key, gates) of a tape: the key names everything that is compiled into the engine's circuit."""
    gates = list(tape.operations)
    if shots:
        gates = gates + [g for d in _shots_diagonalising_gates(tape) for g in _lower(d)]
    parts = []
    n_tape_ops = len(tape.operations)
    for i, op in enumerate(gates):
        name = _RENAMED.get(op.name, op.name)
        wires = tuple(op.wires)
        if name in _TABLE_GATES or name in _SKIPPED or name == "GlobalPhase":
            # Tape angles are weights; the angles of diagonalising gates are compiled in as numbers.
            angles = len(op.data) if i < n_tape_ops else tuple(float(np.real(p)) for p in _op_params(op))
            parts.append((name, wires, angles))
        else:
            m = np.ascontiguousarray(qml.matrix(op), dtype=complex)
            parts.append(("QubitUnitary", wires, m.tobytes()))
    mkey = []
    for m in tape.measurements:
        obs = m.obs
        okey = None
        if obs is not None:
            eo = _engine_observable(obs)
            okey = tuple(sorted(eo.terms.items())) if eo is not None else repr(obs)
        mkey.append((type(m).__name__, tuple(m.wires), okey, None if m.mv is None else repr(m.mv)))
    return (tuple(parts), tuple(mkey), shots, len(tape.operations)), gates


def _compile(tape, gates, n_wires: int, shots: bool) -> _Program:
    n_tape_ops = len(tape.operations)
    ops, weight_of_param, phase_cols = [], [], []
    k = 0
    for i, op in enumerate(gates):
        name = _RENAMED.get(op.name, op.name)
        params = _op_params(op)
        wires = [int(w) for w in op.wires]
        in_tape = i < n_tape_ops
        if name in _TABLE_GATES or name == "GlobalPhase" or name in _SKIPPED:
            refs = []
            for p in params:
                if in_tape:
                    refs.append(Param(WEIGHT, k))
                    weight_of_param.append(k)
                    if name == "GlobalPhase":
                        phase_cols.append(k)
                    k += 1
                else:
                    refs.append(float(np.real(p)))
            if name == "GlobalPhase" and not in_tape:
                raise DeviceError("a diagonalising gate with a global phase is not supported")
            if name not in ("GlobalPhase",) + _SKIPPED:
                ops.append(_ops.GATES[name](*refs, wires=wires))
        else:
            if in_tape:
                weight_of_param.extend([-1] * len(params))
            ops.append(_ops.QubitUnitary(qml.matrix(op), wires=wires))
    plan, expval_obs, var_obs = [], [], []
    for m in tape.measurements:
        if shots:
            plan.append(("samples",))
            continue
        eo = _engine_observable(m.obs) if m.obs is not None and m.mv is None else None
        if isinstance(m, ExpectationMP) and eo is not None:
            plan.append(("expval", len(expval_obs)))
            expval_obs.append(eo)
        elif isinstance(m, VarianceMP) and eo is not None:
            plan.append(("var", len(var_obs)))
            var_obs.append(eo)
        elif type(m) is ProbabilityMP and m.obs is None and m.mv is None:
            plan.append(("probs", [int(w) for w in m.wires] or list(range(n_wires))))
        elif type(m) is StateMP and not m.wires:
            plan.append(("state",))
        else:
            plan.append(("fallback",))
    circuit = Circuit(n_wires, ops, n_weights=k)
    return _Program(circuit, weight_of_param, phase_cols, plan, expval_obs, var_obs, shots)


def _jac_format(jac, n_meas: int, n_params: int):
    """PennyLane's Jacobian layout: measurements outside, parameters inside, singletons dropped."""
    per_meas = [j[0] if n_params == 1 else tuple(j) for j in jac]
    return per_meas[0] if n_meas == 1 else tuple(per_meas)


@simulator_tracking
@single_tape_support
class PyqmlQubit(Device):
    """pyqml's engine as a PennyLane device.

    Parameters
    ----------
    wires : int or iterable of labels, optional
        Number of wires, or their labels (any hashable: ``["a", "b"]``), mapped to 0..n-1 in order. None: the
        wires of each circuit.
    shots : int, sequence or None
        Default shots (PennyLane prefers ``qml.set_shots`` on the qnode); None for exact results.
    seed : int, numpy Generator, None or "global"
        Seed of the sampling stream: the same seed draws the same bitstrings. "global" takes one from numpy's
        global generator; None from the OS.
    method : {"statevector", "tensornet", "auto"}
        pyqml's simulation method (``pyqml.frontend.execution``).
    precision : {"complex128", "complex64"}
    """

    _device_options = ("method", "precision", "rng")
    config_filepath = None

    def __init__(self, wires=None, shots=None, seed="global", method: str = "statevector",
                 precision: str = "complex128"):
        super().__init__(wires=wires, shots=shots)
        if method not in METHODS:
            raise ValueError(f"pyqml.qubit: method must be one of {METHODS}, got {method!r}")
        if precision not in ("complex128", "complex64"):
            raise ValueError(f"pyqml.qubit: precision must be 'complex128' or 'complex64', got {precision!r}")
        self._method = method
        self._precision = precision
        if seed == "global":
            seed = np.random.randint(0, 2**31 - 1)
        self._rng = np.random.default_rng(seed)
        self._programs: OrderedDict = OrderedDict()
        self.compilations = 0  # structures compiled so far (the cache's misses)

    @property
    def name(self) -> str:
        return "pyqml.qubit"

    @property
    def method(self) -> str:
        return self._method

    # --- configuration -------------------------------------------------------------------------------
    def supports_derivatives(self, execution_config=None, circuit=None) -> bool:
        if execution_config is not None and execution_config.gradient_method not in ("adjoint", "best", "device"):
            return False
        if circuit is None:
            return True
        if circuit.shots:
            return False
        for m in circuit.measurements:
            if not isinstance(m, (ExpectationMP, VarianceMP)) or m.obs is None or m.mv is not None:
                return False
            if _pauli_sentence(m.obs) is None:
                return False
        return not any(isinstance(op, qml.ops.MidMeasure) for op in circuit.operations)

    def setup_execution_config(self, config: ExecutionConfig | None = None, circuit=None) -> ExecutionConfig:
        config = config or ExecutionConfig()
        for option in config.device_options:
            if option not in self._device_options:
                raise DeviceError(f"device option {option} not present on {self}")
        updated = {}
        if config.gradient_method in ("best", "device"):
            updated["gradient_method"] = "adjoint"
        adjoint = updated.get("gradient_method", config.gradient_method) == "adjoint"
        if config.use_device_gradient is None:
            updated["use_device_gradient"] = adjoint
        if config.use_device_jacobian_product is None:
            updated["use_device_jacobian_product"] = adjoint
        if config.grad_on_execution is None:
            # Device VJPs run values and the VJP in one engine call each way; device Jacobians are computed with
            # the values so that PennyLane's VJPs are contractions of the cached Jacobian.
            device_vjp = updated.get("use_device_jacobian_product", config.use_device_jacobian_product)
            updated["grad_on_execution"] = adjoint and not device_vjp
        mcm = config.mcm_config
        if mcm.mcm_method not in (None, "deferred"):
            raise DeviceError(f"mcm_method {mcm.mcm_method!r} is not supported by pyqml.qubit; use 'deferred'")
        updated["mcm_config"] = dataclasses.replace(mcm, mcm_method="deferred")
        options = dict(config.device_options)
        options.setdefault("method", self._method)
        options.setdefault("precision", self._precision)
        options.setdefault("rng", self._rng)
        updated["device_options"] = options
        return dataclasses.replace(config, **updated)

    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None) -> CompilePipeline:
        config = execution_config or ExecutionConfig()
        program = CompilePipeline()
        if config.interface == qml.math.Interface.JAX_JIT:
            from pennylane.devices.default_qubit import no_counts  # counts have no static shape under jit

            program.add_transform(no_counts)
        program.add_transform(qml.defer_measurements, allow_postselect=False)
        program.add_transform(decompose, stopping_condition=stopping_condition, skip_initial_state_prep=False,
                              name=self.name)
        program.add_transform(validate_device_wires, self.wires, name=self.name)
        program.add_transform(validate_measurements, analytic_measurements=_analytic_measurement_ok,
                              sample_measurements=_sample_measurement_ok, name=self.name)
        program.add_transform(validate_observables, stopping_condition=_observable_ok, name=self.name)
        program.add_transform(_split_for_sampling)
        if config.gradient_method == "adjoint":
            program.add_transform(validate_adjoint_trainable_params)
            if not config.use_device_jacobian_product:
                program.add_transform(_expand_trainable_broadcast)
        return program

    # --- compilation ---------------------------------------------------------------------------------
    def _standard(self, tape):
        """The tape on wires 0..n-1 (device order) and n."""
        if self.wires is None:
            wires = tape.wires
        else:
            wires = self.wires
        if list(wires) == list(range(len(wires))):
            return tape, len(wires)
        wire_map = {w: i for i, w in enumerate(wires)}
        [mapped], _ = qml.map_wires(tape, wire_map)
        return mapped, len(wires)

    def program(self, tape) -> _Program:
        """The compiled program of a tape (wires 0..n-1) from the structure cache."""
        n_wires = len(self.wires) if self.wires is not None else len(tape.wires)
        shots = bool(tape.shots)
        key, gates = _structure(tape, shots)
        key = (n_wires,) + key
        prog = self._programs.get(key)
        if prog is None:
            prog = _compile(tape, gates, max(n_wires, 1), shots)
            self._programs[key] = prog
            self.compilations += 1
            if len(self._programs) > _CACHE_SIZE:
                self._programs.popitem(last=False)
        else:
            self._programs.move_to_end(key)
        return prog

    def _weights(self, tape, prog: _Program) -> np.ndarray:
        rows = tape.batch_size or 1
        W = np.empty((rows, prog.circuit.n_weights))
        params = tape.get_parameters(trainable_only=False, operations_only=True)
        for p, k in zip(params, prog.weight_of_param):
            if k >= 0:
                W[:, k] = np.real(qml.math.to_numpy(p))
        return W

    def _executor(self, prog: _Program, observables, measurement: str, options: dict):
        return prog.circuit.executor(observables, method=options.get("method", self._method),
                                     precision=options.get("precision", self._precision), measurement=measurement)

    def _groups(self, circuits):
        """Tapes on standard wires, grouped by program: {key: (program, [(index, tape, W)])}."""
        groups: dict = {}
        for i, c in enumerate(circuits):
            tape, _ = self._standard(c)
            if _has_broadcast_matrix(tape):
                raise DeviceError("pyqml.qubit: derivatives of a tape that broadcasts a constant matrix (a batch "
                                  "of QubitUnitary matrices) are not supported; broadcast gate angles instead")
            prog = self.program(tape)
            W = self._weights(tape, prog)
            gkey = (id(prog), tape.shots)
            groups.setdefault(gkey, (prog, []))[1].append((i, tape, W))
        return groups

    # --- execution ------------------------------------------------------------------------------------
    def execute(self, circuits, execution_config: ExecutionConfig | None = None):
        config = execution_config or ExecutionConfig()
        options = {**config.device_options}
        circuits = list(circuits)
        results = [None] * len(circuits)
        # Broadcast constant matrices (a batch of QubitUnitary matrices) cannot share one compiled circuit.
        plain, expanded = [], {}
        for i, c in enumerate(circuits):
            if _has_broadcast_matrix(c):
                tapes, post = qml.transforms.broadcast_expand(c)
                expanded[i] = (len(plain), len(tapes), post)
                plain.extend(tapes)
            else:
                expanded[i] = (len(plain), 1, None)
                plain.append(c)
        flat = self._execute_plain(plain, options)
        for i, (start, count, post) in expanded.items():
            results[i] = flat[start] if post is None else post(flat[start:start + count])
        return tuple(results)

    def _execute_plain(self, circuits, options):
        results = [None] * len(circuits)
        for prog, members in self._groups(circuits).values():
            W = np.concatenate([m[2] for m in members], axis=0)
            if prog.shots:
                outs = self._run_samples(prog, members, W, options)
            else:
                outs = self._run_analytic(prog, members, W, options)
            for (i, _, _), out in zip(members, outs):
                results[i] = out
        return results

    def _run_analytic(self, prog: _Program, members, W, options):
        ev = vr = pr = st = None
        if prog.expval_obs:
            ev = self._executor(prog, prog.expval_obs, "expval", options).expval(W)
        if prog.var_obs:
            vr = self._executor(prog, prog.var_obs, "var", options).var(W)
        probs_wires = {tuple(p[1]) for p in prog.plan if p[0] == "probs"}
        if probs_wires:
            ex = self._executor(prog, [], "probs", options)
            pr = {w: ex.probs(W, None, list(w)) for w in probs_wires}
        if any(p[0] in ("state", "fallback") for p in prog.plan):
            st = self._executor(prog, [], "state", options).state(W)
            if prog.phase_cols:
                st = st * np.exp(-1j * W[:, prog.phase_cols].sum(axis=1))[:, None]
        outs, row = [], 0
        n = prog.circuit.n_wires
        for _, tape, Wt in members:
            rows = Wt.shape[0]
            sl = slice(row, row + rows)
            row += rows
            b = tape.batch_size is not None
            res = []
            for m, p in zip(tape.measurements, prog.plan):
                if p[0] == "expval":
                    v = ev[sl, p[1]]
                elif p[0] == "var":
                    v = vr[sl, p[1]]
                elif p[0] == "probs":
                    v = pr[tuple(p[1])][sl]
                elif p[0] == "state":
                    v = st[sl]
                else:
                    from pennylane.devices.qubit.measure import measure

                    s = st[sl].reshape((rows,) + (2,) * n)
                    v = measure(m, s if b else s[0], is_state_batched=b)
                    res.append(v)
                    continue
                res.append(v if b else v[0])
            outs.append(res[0] if len(res) == 1 else tuple(res))
        return outs

    def _run_samples(self, prog: _Program, members, W, options):
        total = members[0][1].shots.total_shots
        seed = int(self._rng.integers(0, 2**62))
        n = prog.circuit.n_wires
        samples = self._executor(prog, [], "sample", options).sample(W, None, list(range(n)), total, seed)
        samples = samples.astype(np.int64)
        wire_order = qml.wires.Wires(range(n))
        outs, row = [], 0
        for _, tape, Wt in members:
            rows = Wt.shape[0]
            per_shot = []
            start = 0
            for s in tape.shots:
                rng = (start, start + s)
                start += s
                res = []
                for m in tape.measurements:
                    vals = [m.process_samples(samples[row + r], wire_order, shot_range=rng) for r in range(rows)]
                    if tape.batch_size is None:
                        res.append(vals[0])
                    elif isinstance(vals[0], dict):
                        res.append(tuple(vals))
                    else:
                        res.append(np.stack([np.asarray(v) for v in vals]))
                per_shot.append(res[0] if len(res) == 1 else tuple(res))
            row += rows
            outs.append(tuple(per_shot) if tape.shots.has_partitioned_shots else per_shot[0])
        return outs

    # --- derivatives ----------------------------------------------------------------------------------
    def _jacobians(self, circuits, options):
        """Per tape: (results, per-measurement list of per-trainable-parameter derivative arrays)."""
        out = [None] * len(circuits)
        for prog, members in self._groups(circuits).values():
            if not prog.differentiable:
                raise DeviceError("pyqml.qubit computes derivatives of analytic expectation values and variances "
                                  "only; use diff_method='parameter-shift' for the others")
            W = np.concatenate([m[2] for m in members], axis=0)
            if not any(tape.trainable_params for _, tape, _ in members):
                # Nothing to differentiate (PennyLane asks for derivatives on every forward pass).
                for (i, tape, _), res in zip(members, self._run_analytic(prog, members, W, options)):
                    out[i] = (res, [[] for _ in tape.measurements])
                continue
            vals, dw, _ = self._executor(prog, prog.deriv_obs, "jacobian", options).jacobian(W)
            n_e, n_v = len(prog.expval_obs), len(prog.var_obs)
            row = 0
            for i, tape, Wt in members:
                rows = Wt.shape[0]
                sl = slice(row, row + rows)
                row += rows
                cols = self._trainable_cols(tape, prog)
                b = tape.batch_size is not None
                res, jac = [], []
                for p in prog.plan:
                    if p[0] == "expval":
                        v, d = vals[sl, p[1]], dw[sl, p[1]]
                    else:
                        a, s = n_e + p[1], n_e + n_v + p[1]
                        v = vals[sl, s] - vals[sl, a] ** 2
                        d = dw[sl, s] - 2.0 * vals[sl, a][:, None] * dw[sl, a]
                    res.append(v if b else v[0])
                    jac.append([_col(d, k, b) for k in cols])
                out[i] = (res[0] if len(res) == 1 else tuple(res), jac)
        return out

    def _trainable_cols(self, tape, prog: _Program) -> list:
        """Weight column of each trainable parameter; None for an observable's parameter, whose derivative is
        zero here, as in PennyLane's adjoint method (``validate_adjoint_trainable_params`` warns about it)."""
        cols = []
        for t in tape.trainable_params:
            if t >= len(prog.weight_of_param):
                cols.append(None)
            elif prog.weight_of_param[t] < 0:
                raise DeviceError("pyqml.qubit: adjoint derivatives are taken with respect to gate angles, not the "
                                  f"constant matrix of tape parameter {t}")
            else:
                cols.append(prog.weight_of_param[t])
        return cols

    def compute_derivatives(self, circuits, execution_config: ExecutionConfig | None = None):
        return self.execute_and_compute_derivatives(circuits, execution_config)[1]

    def execute_and_compute_derivatives(self, circuits, execution_config: ExecutionConfig | None = None):
        config = execution_config or ExecutionConfig()
        out = self._jacobians(list(circuits), dict(config.device_options))
        results = tuple(r for r, _ in out)
        jacs = tuple(_jac_format(j, len(c.measurements), len(c.trainable_params)) for (_, j), c in
                     zip(out, circuits))
        return results, jacs

    def compute_vjp(self, circuits, cotangents, execution_config: ExecutionConfig | None = None):
        return self.execute_and_compute_vjp(circuits, cotangents, execution_config)[1]

    def execute_and_compute_vjp(self, circuits, cotangents, execution_config: ExecutionConfig | None = None):
        config = execution_config or ExecutionConfig()
        options = dict(config.device_options)
        circuits = list(circuits)
        results, vjps = [None] * len(circuits), [None] * len(circuits)
        for prog, members in self._groups(circuits).values():
            if not prog.differentiable:
                raise DeviceError("pyqml.qubit computes derivatives of analytic expectation values and variances "
                                  "only; use diff_method='parameter-shift' for the others")
            W = np.concatenate([m[2] for m in members], axis=0)
            cots = []
            for i, tape, Wt in members:
                dy = cotangents[i]
                dy = [dy] if len(tape.measurements) == 1 else list(dy)
                cots.append(np.stack([np.broadcast_to(np.real(qml.math.to_numpy(d)), (Wt.shape[0],))
                                      for d in dy], axis=1).astype(float))
            C = np.concatenate(cots, axis=0)
            if not prog.var_obs:
                vals, dw, _ = self._executor(prog, prog.expval_obs, "vjp", options).vjp(W, None, C)
            else:
                vals, dj, _ = self._executor(prog, prog.deriv_obs, "jacobian", options).jacobian(W)
                n_e, n_v = len(prog.expval_obs), len(prog.var_obs)
                # Cotangents on <O> and <O^2> for each variance: dvar = d<O^2> - 2 <O> d<O>.
                full = np.zeros((W.shape[0], n_e + 2 * n_v))
                for j, p in enumerate(prog.plan):
                    if p[0] == "expval":
                        full[:, p[1]] += C[:, j]
                    else:
                        a, s = n_e + p[1], n_e + n_v + p[1]
                        full[:, s] += C[:, j]
                        full[:, a] += -2.0 * vals[:, a] * C[:, j]
                        vals[:, n_e + p[1]] = vals[:, s] - vals[:, a] ** 2
                dw = np.einsum("ro,row->rw", full, dj)
            n_e = len(prog.expval_obs)
            row = 0
            for i, tape, Wt in members:
                rows = Wt.shape[0]
                sl = slice(row, row + rows)
                row += rows
                b = tape.batch_size is not None
                res = []
                for p in prog.plan:
                    v = vals[sl, p[1]] if p[0] == "expval" else vals[sl, n_e + p[1]]
                    res.append(v if b else v[0])
                results[i] = res[0] if len(res) == 1 else tuple(res)
                params = tape.get_parameters(trainable_only=False, operations_only=True)
                cols = self._trainable_cols(tape, prog)
                out = []
                for t, k in zip(tape.trainable_params, cols):
                    if k is None:
                        out.append(np.zeros_like(np.real(qml.math.to_numpy(tape.get_parameters(
                            trainable_only=False)[t]))))
                        continue
                    g = dw[sl, k]
                    out.append(g if qml.math.ndim(params[t]) > 0 else np.asarray(g.sum()))
                vjps[i] = tuple(out)
        return tuple(results), tuple(vjps)


def _has_broadcast_matrix(tape) -> bool:
    if tape.batch_size is None:
        return False
    return any(not (_RENAMED.get(op.name, op.name) in _TABLE_GATES or op.name == "GlobalPhase")
               and op.batch_size is not None for op in tape.operations)


def _col(d: np.ndarray, k, batched: bool):
    if k is None:
        return np.zeros(d.shape[0]) if batched else np.asarray(0.0)
    return d[:, k] if batched else np.asarray(d[0, k])


__all__ = ["PyqmlQubit", "stopping_condition", "METHODS"]
