"""Reference gradient methods: parameter shift and central finite differences.

The adjoint method (C++, ``executor.jacobian``) is the default everywhere; these exist as independent
references and for users who ask for them by name (``diff_method="parameter-shift"`` / ``"finite-diff"``).
Both are batched: every shifted evaluation of every row goes to the engine in one call.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _core
from .params import CONST, INPUT, WEIGHT

_SHIFT_RULE = {g["name"]: g["shift_rule"] for g in _core.gate_table()}

# d f / d p = sum_k c_k f(p + s_k)  (Wierichs et al., Quantum 6, 677 (2022))
_TWO_TERM = ((0.5, math.pi / 2), (-0.5, -math.pi / 2))
_CP = (math.sqrt(2) + 1) / (4 * math.sqrt(2))
_CM = (math.sqrt(2) - 1) / (4 * math.sqrt(2))
_FOUR_TERM = ((_CP, math.pi / 2), (-_CP, -math.pi / 2), (-_CM, 3 * math.pi / 2), (_CM, -3 * math.pi / 2))

DIFF_METHODS = ("adjoint", "parameter-shift", "finite-diff")


def angle_map(circuit) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Per gate angle: source kind, source index, scale, and the op's shift rule."""
    kinds, idx, scales, rules = [], [], [], []
    for op in circuit.ops:
        for k, i, s, _ in op.param_refs():
            kinds.append(k)
            idx.append(i)
            scales.append(s)
            rules.append(_SHIFT_RULE[op.name])
    return np.array(kinds, dtype=int), np.array(idx, dtype=int), np.array(scales), rules


def chain_angles(circuit, d_angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, n_obs, n_angles) gradients w.r.t. gate angles -> w.r.t. weights and inputs."""
    kinds, idx, scales, _ = angle_map(circuit)
    rows, n_obs, _ = d_angles.shape
    dw = np.zeros((rows, n_obs, circuit.n_weights))
    dx = np.zeros((rows, n_obs, circuit.n_inputs))
    for kind, target in ((WEIGHT, dw), (INPUT, dx)):
        sel = np.nonzero(kinds == kind)[0]
        if sel.size:
            np.add.at(target, (slice(None), slice(None), idx[sel]), d_angles[:, :, sel] * scales[sel])
    return dw, dx


def parameter_shift_jacobian(executor, circuit, weights, inputs):
    """Jacobian by the parameter-shift rule of each gate (two- or four-term)."""
    angles = circuit.core.bind(weights, inputs)  # (rows, n_angles)
    kinds, _, _, rules = angle_map(circuit)
    rows, n_angles = angles.shape
    plan = []  # (angle, coeff, shift)
    for p in range(n_angles):
        if kinds[p] == CONST:
            continue
        rule = {2: _TWO_TERM, 4: _FOUR_TERM}.get(rules[p])
        if rule is None:
            raise ValueError(f"angle {p} has no parameter-shift rule")
        plan.extend((p, c, s) for c, s in rule)
    shifted = np.repeat(angles[:, None, :], len(plan), axis=1)
    for j, (p, _, s) in enumerate(plan):
        shifted[:, j, p] += s
    vals = executor.expval_angles(angles)
    n_obs = vals.shape[1]
    d_angles = np.zeros((rows, n_obs, n_angles))
    if plan:
        f = executor.expval_angles(shifted.reshape(rows * len(plan), n_angles)).reshape(rows, len(plan), n_obs)
        for j, (p, c, _) in enumerate(plan):
            d_angles[:, :, p] += c * f[:, j, :]
    dw, dx = chain_angles(circuit, d_angles)
    return vals, dw, dx


def finite_diff_jacobian(executor, circuit, weights, inputs, h: float = 1e-5):
    """Jacobian by central differences of step h in every weight and input."""
    w = np.asarray(weights, dtype=float)
    vals = executor.expval(w, inputs)
    rows, n_obs = vals.shape
    nw = circuit.n_weights
    dw = np.zeros((rows, n_obs, nw))
    for k in range(nw):
        wp, wm = w.copy(), w.copy()
        wp[..., k] += h
        wm[..., k] -= h
        dw[:, :, k] = (executor.expval(wp, inputs) - executor.expval(wm, inputs)) / (2 * h)
    dx = np.zeros((rows, n_obs, circuit.n_inputs))
    if inputs is not None:
        x = np.asarray(inputs, dtype=float)
        for j in range(circuit.n_inputs):
            xp, xm = x.copy(), x.copy()
            xp[:, j] += h
            xm[:, j] -= h
            dx[:, :, j] = (executor.expval(w, xp) - executor.expval(w, xm)) / (2 * h)
    return vals, dw, dx


def jacobian(executor, circuit, weights, inputs, diff_method: str = "adjoint"):
    if diff_method == "adjoint":
        return executor.jacobian(weights, inputs)
    if diff_method == "parameter-shift":
        return parameter_shift_jacobian(executor, circuit, weights, inputs)
    if diff_method == "finite-diff":
        return finite_diff_jacobian(executor, circuit, weights, inputs)
    raise ValueError(f"diff_method must be one of {DIFF_METHODS}, got {diff_method!r}")


def vjp(executor, circuit, weights, inputs, cotangent, diff_method: str = "adjoint", need_dx: bool = True):
    """values, cot . d/dweights (summed over rows), cot . d/dinputs (rows, n_inputs).

    ``need_dx=False`` lets an engine that can skip the input gradients do so (the state vector's); dx is then
    None, or computed anyway by the others."""
    if diff_method == "adjoint":
        if not need_dx and getattr(executor, "vjp_skips_dx", False):
            return executor.vjp(weights, inputs, cotangent, need_dx=False)
        return executor.vjp(weights, inputs, cotangent)
    vals, dw, dx = jacobian(executor, circuit, weights, inputs, diff_method)
    cot = np.asarray(cotangent, dtype=float)
    return vals, np.einsum("ro,row->w", cot, dw), np.einsum("ro,rox->rx", cot, dx)
