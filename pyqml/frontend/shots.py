"""Finite-shot estimation: expectation values, variances and probabilities measured as hardware would.

The Pauli words of every requested observable are grouped into *qubit-wise commuting* sets (two words
commute qubit-wise when, on every wire both act on, they carry the same letter). Each set is measured by one
circuit: the original gates, then the diagonalising rotations of the set's basis (``H`` for X, ``Sdg; H`` for
Y), then a computational-basis measurement of the set's wires. Every word of the set is read off the same
shots as the product of its wires' +-1 outcomes::

    words  Z0 Z1, Z1, X2            basis  {0: Z, 1: Z, 2: X}
    circuit ─ U ─┬──────── M0           one circuit, `shots` shots:
                 ├──────── M1           <Z0 Z1> = mean (-1)^(m0 + m1)
                 └── H ─── M2           <X2>    = mean (-1)^m2

A set's counts are drawn from the multinomial distribution of its marginal probabilities (the same
distribution as the shots themselves, at ``2^k`` instead of ``shots * k`` cost) when the set spans at most
:data:`PROBS_MAX_WIRES` wires (:data:`PROBS_MAX_WIRES_STATEVECTOR` on the state vector), and shot by shot
through the method's exact sampler otherwise (the tensor network's conditional sampler on wide registers).
Sets are independent, so the estimator's variance is the sum over sets of the sample variance of the per-shot
value divided by the shots; :class:`ShotEstimate` carries it (``variance``, ``stderr``).

Seeds: a ``numpy.random.Generator`` drives every draw, so one seed reproduces the whole sequence.
"""
from __future__ import annotations

import copy
import numbers
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .observables import Observable, as_observable
from .params import WEIGHT, Param

# Sets spanning at most this many wires are drawn from their marginal probabilities (2^k outcomes); the
# state vector has every marginal in one pass, so there the limit is higher.
PROBS_MAX_WIRES = 12
PROBS_MAX_WIRES_STATEVECTOR = 16
# Under method="auto", registers up to this size draw through the state vector: one pass gives the whole
# distribution of a set, where the tensor network contracts 2^k words (probs) or one level per wire (sample).
SHOTS_STATEVECTOR_WIRES = 20


def check_shots(shots) -> tuple[int, ...] | None:
    """None (exact), or the shot counts as a tuple (one entry, or a shot vector ``[100, 1000]``).

    ValueError for zero, negative or non-integer counts (``True`` and ``2.5`` included) and an empty vector."""
    if shots is None:
        return None
    vec = list(shots) if isinstance(shots, (list, tuple, np.ndarray)) else [shots]
    if not vec:
        raise ValueError("shots: an empty shot vector; pass a positive integer or a list of them")
    out = []
    for s in vec:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (numbers.Integral, np.integer)):
            if isinstance(s, (float, np.floating)) and float(s).is_integer() and s >= 1:
                raise ValueError(f"shots must be integers, got the float {s!r} (write {int(s)})")
            raise ValueError(f"shots must be a positive integer (or a list of them), got {s!r}")
        if s < 1:
            raise ValueError(f"shots must be a positive integer (or a list of them), got {s!r}")
        out.append(int(s))
    return tuple(out)


def check_seed(seed):
    """``seed`` when :func:`as_rng` takes it (an int, None or a Generator), else ValueError; without importing
    numpy.random (a seed cannot be a Generator before numpy.random is imported)."""
    rnd = sys.modules.get("numpy.random")
    if rnd is not None and isinstance(seed, rnd.Generator):
        return seed
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.integer))
                             or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return seed


def as_rng(seed) -> np.random.Generator:
    """A generator from a seed (int, None for fresh entropy, or a Generator, used as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_seed(seed))


@dataclass
class ShotEstimate:
    """Sampled values with their estimated variance: ``values`` and ``variance`` of the estimator (the
    spread of ``values`` over repeated runs), ``stderr = sqrt(variance)``, and the shots used."""

    values: np.ndarray
    variance: np.ndarray
    shots: int

    @property
    def stderr(self) -> np.ndarray:
        return np.sqrt(self.variance)


# --- grouping ---
@dataclass
class MeasurementGroup:
    """A qubit-wise commuting set: its basis (wire -> letter, wires sorted) and its members
    ``(observable index, coefficient, word)``."""

    basis: dict
    members: list

    @property
    def wires(self) -> list[int]:
        return sorted(self.basis)


def qwc_groups(observables: Sequence[Observable]) -> tuple[list[MeasurementGroup], np.ndarray]:
    """Greedy first-fit grouping of every observable's words (heaviest words first) into qubit-wise
    commuting sets; also the identity coefficient of each observable (measured without shots)."""
    consts = np.zeros(len(observables))
    words: dict = {}
    for i, o in enumerate(observables):
        for c, ws, letters in as_observable(o).core_terms():
            if not ws:
                consts[i] += c
                continue
            words.setdefault(tuple(zip(ws, letters)), []).append((i, c))
    groups: list[MeasurementGroup] = []
    for word in sorted(words, key=lambda w: (-len(w), w)):
        for g in groups:
            if all(g.basis.get(w, p) == p for w, p in word):
                break
        else:
            g = MeasurementGroup({}, [])
            groups.append(g)
        g.basis.update(dict(word))
        g.members.extend((i, c, word) for i, c in words[word])
    return groups, consts


def is_qubit_wise_commuting(obs: Observable) -> bool:
    return len(qwc_groups([obs])[0]) <= 1


# --- circuits that measure a basis ---
def measured_circuit(circuit, basis: dict):
    """``circuit`` followed by the rotations that take ``basis`` (wire -> X/Y/Z) to the computational basis
    (cached on the circuit until it changes)."""
    from .circuit import Circuit
    from .ops import Hadamard, Sdg

    key = ("shots-basis", tuple(sorted((w, p) for w, p in basis.items() if p != "Z")))
    if len(key[1]) == 0:
        return circuit
    hit = circuit._executors.get(key)
    if hit is None:
        rot = Circuit(circuit.n_wires)
        with rot:
            for w, p in key[1]:
                if p == "Y":
                    Sdg(wires=w)
                Hadamard(wires=w)
        hit = Circuit(circuit.n_wires, circuit.ops + rot.ops, circuit.n_weights, circuit.n_inputs)
        hit.derived_inputs = circuit.derived_inputs
        circuit._executors[key] = hit
    return hit


def angle_circuit(circuit):
    """The circuit with every gate angle its own weight (``weights[p]`` = angle p of ``circuit.core.bind``),
    so shifted angles run as the rows of one weight batch (cached on the circuit)."""
    from .circuit import Circuit

    key = ("shots-angles",)
    hit = circuit._executors.get(key)
    if hit is None:
        ops, p = [], 0
        for op in circuit.ops:
            if op.params:
                op = copy.copy(op)
                op.params = [Param(WEIGHT, p + i) for i in range(len(op.params))]
                p += len(op.params)
            ops.append(op)
        hit = Circuit(circuit.n_wires, ops, p, 0)
        circuit._executors[key] = hit
    return hit


# --- drawing ---
def measurement_executor(circuit, method, precision, options, measurement, wires, shots):
    """The executor of ``measurement`` ("probs" or "sample") on ``wires``; "auto" is resolved once per
    (measurement, wires) and cached on the circuit (planning the alternatives costs more than a draw)."""
    from .execution import choose_method, hashable, options_for

    options = dict(options)
    if method == "auto":
        key = ("shots-auto", measurement, tuple(wires), precision,
               tuple(sorted((k, hashable(v)) for k, v in options.items())))
        chosen = circuit._executors.get(key)
        if chosen is None:
            if circuit.n_wires <= SHOTS_STATEVECTOR_WIRES:
                chosen = "statevector"
            else:
                chosen = choose_method(circuit, [], precision, measurement, options, wires=list(wires),
                                       shots=shots)
            circuit._executors[key] = chosen
        method, options = chosen, options_for(chosen, options)
    return circuit.executor([], method, precision, measurement, **options)


def draws_from_probs(circuit, wires, method="auto", precision="complex128", options=None) -> bool:
    """Whether a set on ``wires`` is drawn from its marginal probabilities (else shot by shot)."""
    k = len(wires)
    if k <= PROBS_MAX_WIRES:
        return True
    if k > PROBS_MAX_WIRES_STATEVECTOR:
        return False
    ex = measurement_executor(circuit, method, precision, options or {}, "probs", wires, None)
    return ex.method == "statevector"


def counts(circuit, wires, weights, inputs, shots: int, rng, method="auto", precision="complex128",
           options=None) -> np.ndarray:
    """Outcome counts (rows, 2^k) of ``shots`` computational-basis shots on ``wires`` (first wire most
    significant), drawn from the marginal probabilities."""
    ex = measurement_executor(circuit, method, precision, options or {}, "probs", wires, shots)
    p = np.clip(np.asarray(ex.probs(weights, inputs, list(wires)), dtype=float), 0.0, None)
    p /= p.sum(axis=1, keepdims=True)
    return np.stack([rng.multinomial(shots, row) for row in p])


def bit_samples(circuit, wires, weights, inputs, shots: int, rng, method="auto", precision="complex128",
                options=None) -> np.ndarray:
    """Shots (rows, shots, k) of 0/1 through the method's sampler."""
    ex = measurement_executor(circuit, method, precision, options or {}, "sample", wires, shots)
    return np.asarray(ex.sample(weights, inputs, list(wires), int(shots), int(rng.integers(2**63))))


def _outcome_bits(k: int) -> np.ndarray:
    """(2^k, k) bits of every outcome index, first wire most significant."""
    idx = np.arange(2**k)
    return ((idx[:, None] >> (k - 1 - np.arange(k))[None, :]) & 1).astype(np.int8)


def _per_shot_values(group: MeasurementGroup, bits: np.ndarray, n_obs: int) -> np.ndarray:
    """(..., n_obs) value of each observable's part in the group for each outcome / shot ``bits (..., k)``."""
    pos = {w: j for j, w in enumerate(group.wires)}
    signs = 1 - 2 * bits.astype(np.int64)
    out = np.zeros(bits.shape[:-1] + (n_obs,))
    for i, c, word in group.members:
        out[..., i] += c * np.prod(signs[..., [pos[w] for w, _ in word]], axis=-1)
    return out


def group_statistics(circuit, group: MeasurementGroup, n_obs: int, weights, inputs, shots: int, rng,
                     method="auto", precision="complex128", options=None) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the mean over ``shots`` of each observable's part in the group, and the sample variance of
    the per-shot value (ddof=1; 0 for one shot)."""
    mc = measured_circuit(circuit, group.basis)
    ws = group.wires
    if draws_from_probs(mc, ws, method, precision, options):
        cnt = counts(mc, ws, weights, inputs, shots, rng, method, precision, options)      # (rows, 2^k)
        y = _per_shot_values(group, _outcome_bits(len(ws)), n_obs)                         # (2^k, n_obs)
        mean = cnt @ y / shots
        sq = np.einsum("rx,rxo->ro", cnt, (y[None, :, :] - mean[:, None, :]) ** 2)
    else:
        bits = bit_samples(mc, ws, weights, inputs, shots, rng, method, precision, options)  # (rows, shots, k)
        y = _per_shot_values(group, bits, n_obs)                                          # (rows, shots, n_obs)
        mean = y.mean(axis=1)
        sq = ((y - mean[:, None, :]) ** 2).sum(axis=1)
    return mean, sq / max(shots - 1, 1)


def estimate_expvals(circuit, observables, weights, inputs, shots: int, rng, method="auto",
                     precision="complex128", options=None) -> ShotEstimate:
    """``<O_i>`` estimated from ``shots`` shots per qubit-wise commuting set: values and the estimator's
    variance, each (rows, n_obs)."""
    obs = [as_observable(o) for o in observables]
    groups, consts = qwc_groups(obs)
    rows = _rows(weights, inputs)
    vals = np.tile(consts, (rows, 1))
    var = np.zeros((rows, len(obs)))
    for g in groups:
        mean, shot_var = group_statistics(circuit, g, len(obs), weights, inputs, shots, rng, method, precision,
                                          options)
        vals += mean
        var += shot_var / shots
    return ShotEstimate(vals, var, shots)


def estimate_vars(circuit, observables, weights, inputs, shots: int, rng, method="auto", precision="complex128",
                  options=None) -> np.ndarray:
    """``Var(O_i)`` from shots, (rows, n_obs): the sample variance of the per-shot value (ddof=0, as
    PennyLane) when O_i is measured by one set, ``<O^2> - <O>^2`` from shots otherwise."""
    obs = [as_observable(o) for o in observables]
    rows = _rows(weights, inputs)
    out = np.zeros((rows, len(obs)))
    for i, o in enumerate(obs):
        groups, _ = qwc_groups([o])
        if len(groups) <= 1:
            if not groups:
                continue
            _, shot_var = group_statistics(circuit, groups[0], 1, weights, inputs, shots, rng, method, precision,
                                           options)
            out[:, i] = shot_var[:, 0] * (shots - 1) / shots if shots > 1 else 0.0
        else:
            est = estimate_expvals(circuit, [o @ o, o], weights, inputs, shots, rng, method, precision, options)
            out[:, i] = est.values[:, 0] - est.values[:, 1] ** 2
    return out


def estimate_probs(circuit, wires, weights, inputs, shots: int, rng, method="auto", precision="complex128",
                   options=None) -> np.ndarray:
    """Empirical frequencies (rows, 2^k) of ``shots`` shots on ``wires``."""
    if draws_from_probs(circuit, wires, method, precision, options):
        return counts(circuit, wires, weights, inputs, shots, rng, method, precision, options) / shots
    bits = bit_samples(circuit, wires, weights, inputs, shots, rng, method, precision, options)
    idx = bits.astype(np.int64) @ (1 << np.arange(len(wires) - 1, -1, -1))
    return np.stack([np.bincount(r, minlength=2 ** len(wires)) for r in idx]) / shots


def sample_observable(circuit, obs: Observable, weights, inputs, shots: int, rng, method="auto",
                      precision="complex128", options=None) -> np.ndarray:
    """Per shot, the eigenvalue of ``obs`` measured (rows, shots), as PennyLane's ``qml.sample(op)``; the
    observable's words must commute qubit-wise (one measurement basis)."""
    groups, consts = qwc_groups([obs])
    if len(groups) > 1:
        raise ValueError(f"sample({obs}): its terms need {len(groups)} measurement bases; sample an observable "
                         "whose words commute qubit-wise, or use expval")
    rows = _rows(weights, inputs)
    if not groups:
        return np.full((rows, shots), consts[0])
    g = groups[0]
    mc = measured_circuit(circuit, g.basis)
    bits = bit_samples(mc, g.wires, weights, inputs, shots, rng, method, precision, options)
    return _per_shot_values(g, bits, 1)[..., 0] + consts[0]


def _rows(weights, inputs) -> int:
    if inputs is not None:
        return int(np.shape(inputs)[0])
    w = np.asarray(weights)
    return int(w.shape[0]) if w.ndim == 2 else 1


# --- gradients ---
def shift_plan(circuit) -> list[tuple[int, float, float]]:
    """``(angle, coefficient, shift)`` of every term of every traced angle's shift rule (two- or four-term,
    from the gate table): ``d f / d angle_a = sum c f(angles + shift e_a)``."""
    from . import gradients
    from .params import CONST

    kinds, _, _, rules = gradients.angle_map(circuit)
    plan = []
    for a in range(len(kinds)):
        if kinds[a] == CONST:
            continue
        rule = {2: gradients._TWO_TERM, 4: gradients._FOUR_TERM}.get(rules[a])
        if rule is None:
            raise ValueError(f"angle {a} has no parameter-shift rule")
        plan.extend((a, c, s) for c, s in rule)
    return plan


def parameter_shift_jacobian(circuit, observables, weights, inputs, shots: int, rng, method="auto",
                             precision="complex128", options=None):
    """Values, d/dweights, d/dinputs (as ``executor.jacobian``) by each gate's shift rule, every shifted
    expectation estimated from ``shots`` shots; also the variance of the weight gradients.

    The shifted angle vectors of every row are the rows of one batch on :func:`angle_circuit`."""
    from . import gradients

    angles = circuit.core.bind(weights, inputs)  # (rows, n_angles)
    rows, n_angles = angles.shape
    plan = shift_plan(circuit)
    ac = angle_circuit(circuit)
    batch = np.repeat(angles[:, None, :], len(plan) + 1, axis=1)
    for j, (p, _, s) in enumerate(plan):
        batch[:, j + 1, p] += s
    est = estimate_expvals(ac, observables, batch.reshape(rows * (len(plan) + 1), n_angles), None, shots, rng,
                           method, precision, options)
    f = est.values.reshape(rows, len(plan) + 1, -1)
    fv = est.variance.reshape(rows, len(plan) + 1, -1)
    n_obs = f.shape[2]
    d_angles = np.zeros((rows, n_obs, n_angles))
    v_angles = np.zeros((rows, n_obs, n_angles))
    for j, (p, c, _) in enumerate(plan):
        d_angles[:, :, p] += c * f[:, j + 1, :]
        v_angles[:, :, p] += c * c * fv[:, j + 1, :]
    dw, dx = gradients.chain_angles(circuit, d_angles)
    # Variance of a weight's gradient: its angles' shifted estimates are independent draws.
    kinds_w, idx, scales, _ = gradients.angle_map(circuit)
    vw = np.zeros_like(dw)
    sel = np.nonzero(kinds_w == WEIGHT)[0]
    if sel.size:
        np.add.at(vw, (slice(None), slice(None), idx[sel]), v_angles[:, :, sel] * scales[sel] ** 2)
    return f[:, 0, :], dw, dx, vw
