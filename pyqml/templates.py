"""Templates: embeddings and trainable layers with PennyLane's definitions, weight shapes and ``shape``
helpers, Qiskit-style feature maps and ansatzes, and QAOA layers.

Every template records plain gates into the circuit being traced, so the engine sees ordinary gates and
its gradients (adjoint, parameter shift, finite differences) apply unchanged. Weights may be numbers or
traced weights; features may be numbers or traced inputs.

Non-affine functions of the inputs (the products ``x_i x_j`` of IQPEmbedding and ZZFeatureMap, the
state-preparation angles of AmplitudeEmbedding) become *derived input columns* computed in Python before
each engine call, with the chain rule applied to input gradients (see :mod:`pyqml.derived_inputs`).

Conventions are PennyLane's: wire 0 is the most significant bit; ``RX(t) = exp(-i t X / 2)``.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from . import ops
from .derived_inputs import FunctionBlock, add_block, is_traced, products
from .observables import Observable
from .params import INPUT, Param

__all__ = [
    "AmplitudeEmbedding",
    "AngleEmbedding",
    "BasicEntanglerLayers",
    "BasisEmbedding",
    "EfficientSU2",
    "HardwareEfficientAnsatz",
    "IQPEmbedding",
    "QAOAEmbedding",
    "QAOALayers",
    "RandomLayers",
    "RealAmplitudes",
    "SimplifiedTwoDesign",
    "StronglyEntanglingLayers",
    "ZZFeatureMap",
    "cost_layer",
    "entangler_pairs",
    "maxcut",
    "mixer_layer",
]


# --- argument helpers ---------------------------------------------------------------------------------
def _wire_list(wires) -> list[int]:
    if isinstance(wires, (int, np.integer)):
        return [int(wires)]
    ws = [int(w) for w in wires]
    if len(set(ws)) != len(ws):
        raise ValueError(f"wires {ws} are repeated")
    if not ws:
        raise ValueError("a template needs at least one wire")
    return ws


def _values(x, name: str) -> np.ndarray:
    """A numeric float array or a traced object array; NaN/inf rejected."""
    if isinstance(x, Param):
        return np.array([x], dtype=object).reshape(())
    if isinstance(x, np.ndarray) and x.dtype == object:
        if is_traced(x):
            return x
        x = x.astype(float)
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        arr = np.asarray(x, dtype=object)
        if not is_traced(arr):
            raise TypeError(f"{name} must be an array of real numbers, got {type(x).__name__}") from None
        return arr
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_shape(arr: np.ndarray, expected: tuple, template: str, name: str = "weights") -> None:
    if tuple(arr.shape) != tuple(expected):
        raise ValueError(f"{template}: {name} must have shape {tuple(expected)}, got {tuple(arr.shape)}")


def _gate(g, default):
    """A gate class given as a class or by name ('CNOT', 'RX', 'X' ...)."""
    if g is None:
        g = default
    if isinstance(g, str):
        key = {"X": "RX", "Y": "RY", "Z": "RZ"}.get(g, g)
        if key not in ops.GATES:
            raise ValueError(f"unknown gate {g!r}")
        return ops.GATES[key]
    if isinstance(g, type) and issubclass(g, ops.Operation):
        return g
    raise TypeError(f"expected a gate class or name, got {g!r}")


def entangler_pairs(n: int, entanglement="full") -> list[tuple[int, int]]:
    """Qubit pairs (positions 0..n-1) of an entangling layer, with Qiskit's names.

    ``"full"``: every pair i < j in order; ``"linear"``: (0,1), (1,2), ...; ``"reverse_linear"``: (n-2,n-1),
    ..., (0,1); ``"circular"``: (n-1, 0) then linear; ``"ring"``: linear then (n-1, 0); or an explicit list.
    """
    if not isinstance(entanglement, str):
        pairs = [tuple(int(a) for a in p) for p in entanglement]
        for p in pairs:
            if len(p) != 2 or p[0] == p[1] or not all(0 <= a < n for a in p):
                raise ValueError(f"invalid entangling pair {p} for {n} wires")
        return pairs
    linear = [(i, i + 1) for i in range(n - 1)]
    if entanglement == "full":
        return list(itertools.combinations(range(n), 2))
    if entanglement == "linear":
        return linear
    if entanglement == "reverse_linear":
        return linear[::-1]
    if entanglement == "circular":
        return ([(n - 1, 0)] if n > 2 else []) + linear
    if entanglement == "ring":
        return linear + ([(n - 1, 0)] if n > 2 else [])
    raise ValueError(f"entanglement must be 'full', 'linear', 'reverse_linear', 'circular', 'ring' or a list "
                     f"of pairs, got {entanglement!r}")


# --- embeddings ------------------------------------------------------------------------------------------
def AngleEmbedding(features, wires, rotation: str = "X") -> None:
    """One rotation per feature: ``R(features[i])`` on ``wires[i]`` (R = RX, RY or RZ).

    Fewer features than wires is allowed (the remaining wires are left alone), more is an error.
    """
    if rotation not in ("X", "Y", "Z"):
        raise ValueError(f"AngleEmbedding: rotation must be 'X', 'Y' or 'Z', got {rotation!r}")
    ws = _wire_list(wires)
    f = _values(features, "features")
    if f.ndim != 1:
        raise ValueError(f"AngleEmbedding: features must be one row (d,), got shape {f.shape}")
    if f.shape[0] > len(ws):
        raise ValueError(f"AngleEmbedding: {f.shape[0]} features but only {len(ws)} wires")
    gate = {"X": ops.RX, "Y": ops.RY, "Z": ops.RZ}[rotation]
    for i, v in enumerate(f):
        gate(v, wires=ws[i])


def BasisEmbedding(features, wires) -> None:
    """Prepare the basis state given by bits (``features[i]`` on ``wires[i]``) or by an integer (wire 0 the
    most significant bit).

    On traced inputs the bits become ``RX(pi * x_i)`` (equal to X up to a global phase for x_i in {0, 1});
    data must then hold only 0 and 1.
    """
    ws = _wire_list(wires)
    if isinstance(features, (int, np.integer)) and not isinstance(features, bool):
        if not 0 <= int(features) < 2 ** len(ws):
            raise ValueError(f"BasisEmbedding: integer {features} does not fit on {len(ws)} wires")
        bits = [(int(features) >> (len(ws) - 1 - i)) & 1 for i in range(len(ws))]
        f = np.array(bits, dtype=float)
    else:
        f = _values(features, "features")
    if f.ndim != 1 or f.shape[0] != len(ws):
        raise ValueError(f"BasisEmbedding: features must have length {len(ws)}, got shape {f.shape}")
    if f.dtype == object:
        for i, v in enumerate(f):
            ops.RX(math.pi * v, wires=ws[i])
        return
    if not np.all((f == 0) | (f == 1)):
        raise ValueError(f"BasisEmbedding: features must be 0 or 1, got {f.tolist()}")
    for i, v in enumerate(f):
        if v == 1:
            ops.PauliX(wires=ws[i])


def IQPEmbedding(features, wires, n_repeats: int = 1, pattern=None) -> None:
    """IQP encoding (Havlicek et al. 2019): per repeat, H and RZ(x_i) on every wire, then
    ``MultiRZ(x_i * x_j)`` on each pair of ``pattern`` (default: all pairs in order).

    The products are derived input columns when the features are traced.
    """
    ws = _wire_list(wires)
    f = _values(features, "features")
    if f.ndim != 1 or f.shape[0] != len(ws):
        raise ValueError(f"IQPEmbedding: features must be of length {len(ws)}; got shape {f.shape}")
    if not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise ValueError(f"IQPEmbedding: n_repeats must be a positive integer, got {n_repeats!r}")
    if pattern is None:
        pattern = list(itertools.combinations(ws, 2))
    pos = {w: i for i, w in enumerate(ws)}
    pairs = []
    for p in pattern:
        if len(p) != 2 or p[0] not in pos or p[1] not in pos:
            raise ValueError(f"IQPEmbedding: pattern entry {p} is not a pair of the template's wires")
        pairs.append((pos[p[0]], pos[p[1]]))
    prods = products([(f[i], f[j]) for i, j in pairs])
    for _ in range(int(n_repeats)):
        for i, w in enumerate(ws):
            ops.Hadamard(wires=w)
            ops.RZ(f[i], wires=w)
        for (i, j), pr in zip(pairs, prods):
            ops.MultiRZ(pr, wires=[ws[i], ws[j]])


def _qaoa_shape(n_layers: int, n_wires: int) -> tuple[int, int]:
    if n_wires == 1:
        return (n_layers, 1)
    if n_wires == 2:
        return (n_layers, 3)
    return (n_layers, 2 * n_wires)


def QAOAEmbedding(features, weights, wires, local_field: str = "Y") -> None:
    """QAOA-style embedding (Lloyd et al. 2020): features as RX angles (H on the remaining wires),
    alternated with trainable ZZ couplings (MultiRZ) and local fields, and a final feature layer.

    weights: ``QAOAEmbedding.shape(n_layers, n_wires)`` = (L, 1) for one wire, (L, 3) for two, (L, 2n).
    """
    ws = _wire_list(wires)
    n = len(ws)
    f = _values(features, "features")
    w = _values(weights, "weights")
    if f.ndim != 1 or f.shape[0] > n:
        raise ValueError(f"QAOAEmbedding: features must be one row of at most {n} values, got shape {f.shape}")
    if w.ndim != 2:
        raise ValueError(f"QAOAEmbedding: weights must be 2-dimensional, got shape {w.shape}")
    _check_shape(w, _qaoa_shape(w.shape[0], n), "QAOAEmbedding")
    field = {"X": ops.RX, "Y": ops.RY, "Z": ops.RZ}.get(local_field)
    if field is None:
        raise ValueError(f"QAOAEmbedding: local_field must be 'X', 'Y' or 'Z', got {local_field!r}")

    def encode():
        for i in range(f.shape[0]):
            ops.RX(f[i], wires=ws[i])
        for i in range(f.shape[0], n):
            ops.Hadamard(wires=ws[i])

    for layer in range(w.shape[0]):
        encode()
        if n == 1:
            field(w[layer, 0], wires=ws[0])
        elif n == 2:
            ops.MultiRZ(w[layer, 0], wires=ws)
            field(w[layer, 1], wires=ws[0])
            field(w[layer, 2], wires=ws[1])
        else:
            for i in range(n):
                ops.MultiRZ(w[layer, i], wires=[ws[i], ws[(i + 1) % n]])
            for i in range(n):
                field(w[layer, n + i], wires=ws[i])
    encode()


QAOAEmbedding.shape = _qaoa_shape


# AmplitudeEmbedding -------------------------------------------------------------------------------------
def _gray_matrix(k: int) -> np.ndarray:
    """M[j, i] = (-1)^{popcount(j & gray(i))}: control pattern j receives sum_i M[j, i] theta_i."""
    size = 1 << k
    g = np.arange(size) ^ (np.arange(size) >> 1)
    j = np.arange(size)[:, None]
    bits = np.vectorize(lambda v: bin(v).count("1"))(j & g[None, :])
    return np.where(bits % 2 == 0, 1.0, -1.0)


def _ucr_controls(k: int) -> list[int]:
    """Control position (0..k-1, counted from the first control wire) of the CNOT after rotation i."""
    out = []
    size = 1 << k
    for i in range(size):
        flip = (i ^ (i >> 1)) ^ (((i + 1) % size) ^ (((i + 1) % size) >> 1))
        bit = flip.bit_length() - 1
        out.append(k - 1 - bit)
    return out


def _uniformly_controlled(gate, thetas, controls: list[int], target: int) -> None:
    """Uniformly controlled rotation (Mottonen et al. 2004): 2^k rotations and 2^k CNOTs in Gray-code order."""
    k = len(controls)
    if k == 0:
        gate(thetas[0], wires=target)
        return
    for i, c in enumerate(_ucr_controls(k)):
        gate(thetas[i], wires=target)
        ops.CNOT(wires=[controls[c], target])


def _ry_tree_angles(a: np.ndarray, n: int, with_jac: bool):
    """Gate angles (B, 2^n - 1) of the RY tree preparing the real rows a (B, 2^n), level by level in gate
    order, and optionally their Jacobian (B, 2^n - 1, 2^n). Angles depend only on the direction of a."""
    rows = a.shape[0]
    thetas, jacs = [], []
    for k in range(n):
        blocks = a.reshape(rows, 1 << k, 2, 1 << (n - k - 1))
        if k == n - 1:
            x, y = blocks[:, :, 0, 0], blocks[:, :, 1, 0]
        else:
            x, y = np.linalg.norm(blocks[:, :, 0, :], axis=-1), np.linalg.norm(blocks[:, :, 1, :], axis=-1)
        alpha = 2.0 * np.arctan2(y, x)
        m = _gray_matrix(k).T / (1 << k)  # theta = M^T alpha / 2^k
        thetas.append(alpha @ m.T)
        if with_jac:
            r2 = x * x + y * y
            safe = np.where(r2 > 0, r2, 1.0)
            if k == n - 1:
                d0 = np.where(r2 > 0, -2.0 * y / safe, 0.0)[..., None] * np.ones_like(blocks[:, :, 0, :])
                d1 = np.where(r2 > 0, 2.0 * x / safe, 0.0)[..., None] * np.ones_like(blocks[:, :, 1, :])
            else:
                sx = np.where(x > 0, x, 1.0)
                sy = np.where(y > 0, y, 1.0)
                d0 = np.where(r2 > 0, -2.0 * y / (safe * sx), 0.0)[..., None] * blocks[:, :, 0, :]
                d1 = np.where(r2 > 0, 2.0 * x / (safe * sy), 0.0)[..., None] * blocks[:, :, 1, :]
            # d alpha_j / d a: nonzero only on node j's own block
            dal = np.zeros((rows, 1 << k, 1 << k, 2, 1 << (n - k - 1)))
            idx = np.arange(1 << k)
            dal[:, idx, idx, 0, :] = d0
            dal[:, idx, idx, 1, :] = d1
            dal = dal.reshape(rows, 1 << k, 1 << n)
            jacs.append(np.einsum("ij,bjd->bid", m, dal))
    theta = np.concatenate(thetas, axis=1)
    return (theta, np.concatenate(jacs, axis=1)) if with_jac else theta


def _rz_phase_angles(phases: np.ndarray, n: int) -> list[np.ndarray]:
    """Per level k (target wire k), the uniformly controlled RZ angles giving the relative phases."""
    out = [None] * n
    w = phases
    for k in range(n - 1, -1, -1):
        pairs = w.reshape(1 << k, 2)
        alpha = pairs[:, 1] - pairs[:, 0]
        out[k] = _gray_matrix(k).T @ alpha / (1 << k)
        w = pairs.mean(axis=1)
    return out


def AmplitudeEmbedding(features, wires, pad_with=None, normalize: bool = False) -> None:
    """Encode 2^n features as the amplitudes of n wires (up to a global phase).

    Features shorter than 2^n are padded with ``pad_with``; with ``normalize=True`` the padded vector is
    divided by its norm, otherwise it must already have norm 1. The state is prepared by a tree of uniformly
    controlled RY rotations (and RZ for complex data; Mottonen et al., QIC 5, 467 (2005)), 2^n - 1 RY
    angles in all.

    Traced (real) inputs work too: the tree's angles are derived input columns computed from each row
    before the engine call, with exact gradients with respect to the features.
    """
    ws = _wire_list(wires)
    n = len(ws)
    dim = 1 << n
    traced = is_traced(features)
    if traced:
        f = np.asarray(features, dtype=object)
    else:
        f = np.asarray(features)
        if not np.issubdtype(f.dtype, np.number):
            raise TypeError(f"AmplitudeEmbedding: features must be numbers, got dtype {f.dtype}")
        f = f.astype(complex)
        if not np.all(np.isfinite(f)):
            raise ValueError("AmplitudeEmbedding: features contain NaN or infinite values")
    if f.ndim != 1:
        raise ValueError(f"AmplitudeEmbedding: features must be one row, got shape {f.shape}")
    d = f.shape[0]
    if d > dim:
        raise ValueError(f"AmplitudeEmbedding: {d} features do not fit in the {dim} amplitudes of {n} wires")
    if d < dim and pad_with is None:
        raise ValueError(f"AmplitudeEmbedding: {d} features for {dim} amplitudes; pass pad_with= to pad")
    if pad_with is not None and not np.isfinite(complex(pad_with)):
        raise ValueError("AmplitudeEmbedding: pad_with must be finite")

    def check_norm(vec: np.ndarray) -> None:
        norms = np.linalg.norm(vec, axis=-1)
        if np.any(norms == 0):
            raise ValueError("AmplitudeEmbedding: a feature vector is all zeros")
        if not normalize and not np.allclose(norms, 1.0, atol=1e-10, rtol=0):
            raise ValueError(f"AmplitudeEmbedding: features must have norm 1 (got {norms.ravel()[:3]}...); "
                             "pass normalize=True")

    if not traced:
        vec = np.concatenate([f, np.full(dim - d, complex(pad_with) if pad_with is not None else 0.0)])
        check_norm(vec)
        vec = vec / np.linalg.norm(vec)
        if np.allclose(vec.imag, 0.0, atol=0):
            theta = _ry_tree_angles(vec.real[None, :], n, False)[0]
            phases = None
        else:
            theta = _ry_tree_angles(np.abs(vec)[None, :], n, False)[0]
            phases = _rz_phase_angles(np.angle(vec), n)
        off = 0
        for k in range(n):
            _uniformly_controlled(ops.RY, theta[off:off + (1 << k)], ws[:k], ws[k])
            off += 1 << k
        if phases is not None:
            for k in range(n):
                _uniformly_controlled(ops.RZ, phases[k], ws[:k], ws[k])
        return

    # traced inputs: each feature must be exactly one raw input (scale 1, offset 0), or the padding
    cols = []
    for v in f:
        if not (isinstance(v, Param) and v.kind == INPUT and v.scale == 1.0 and v.offset == 0.0):
            raise TypeError("AmplitudeEmbedding on traced inputs takes the input features themselves "
                            f"(inputs[i]), got {v!r}")
        cols.append(v.index)
    if pad_with is not None and complex(pad_with).imag != 0:
        raise ValueError("AmplitudeEmbedding: traced inputs are real, so pad_with must be real")
    pad = 0.0 if pad_with is None else float(complex(pad_with).real)

    def padded(sub: np.ndarray) -> np.ndarray:
        return np.concatenate([sub, np.full((sub.shape[0], dim - d), pad)], axis=1)

    def fn(sub: np.ndarray):
        theta, jac = _ry_tree_angles(padded(sub), n, True)
        return theta, jac[:, :, :d]

    slots = add_block(FunctionBlock(dim - 1, np.array(cols), fn, validate=lambda sub: check_norm(padded(sub))))
    off = 0
    for k in range(n):
        _uniformly_controlled(ops.RY, slots[off:off + (1 << k)], ws[:k], ws[k])
        off += 1 << k


# --- layers ---------------------------------------------------------------------------------------------
def StronglyEntanglingLayers(weights, wires, ranges=None, imprimitive=None) -> None:
    """Layers of ``Rot(*weights[l, i])`` on every wire followed by ``imprimitive(i, (i + r_l) mod n)``
    (Schuld et al. 2020). weights: (L, n, 3); default ranges ``r_l = l mod (n - 1) + 1``."""
    ws = _wire_list(wires)
    n = len(ws)
    w = _values(weights, "weights")
    if w.ndim != 3:
        raise ValueError(f"StronglyEntanglingLayers: weights must be 3-dimensional (L, {n}, 3), got shape {w.shape}")
    _check_shape(w, (w.shape[0], n, 3), "StronglyEntanglingLayers")
    L = w.shape[0]
    if ranges is None:
        ranges = [(l % (n - 1)) + 1 for l in range(L)] if n > 1 else [0] * L
    else:
        ranges = [int(r) for r in ranges]
        if len(ranges) != L:
            raise ValueError(f"StronglyEntanglingLayers: ranges must have length {L}, got {len(ranges)}")
        if n > 1:
            for r in ranges:
                if r % n == 0:
                    raise ValueError(f"StronglyEntanglingLayers: ranges must not be zero nor divisible by the "
                                     f"number of wires; got {r}")
    imp = _gate(imprimitive, ops.CNOT)
    for layer in range(L):
        for i in range(n):
            ops.Rot(w[layer, i, 0], w[layer, i, 1], w[layer, i, 2], wires=ws[i])
        if n > 1:
            for i in range(n):
                imp(wires=[ws[i], ws[(i + ranges[layer]) % n]])


StronglyEntanglingLayers.shape = lambda n_layers, n_wires: (int(n_layers), int(n_wires), 3)


def BasicEntanglerLayers(weights, wires, rotation=None) -> None:
    """Layers of one-parameter rotations (default RX) on every wire and a ring of CNOTs (a single CNOT on
    two wires, none on one). weights: (L, n)."""
    ws = _wire_list(wires)
    n = len(ws)
    w = _values(weights, "weights")
    if w.ndim != 2:
        raise ValueError(f"BasicEntanglerLayers: weights must be 2-dimensional (L, {n}), got shape {w.shape}")
    _check_shape(w, (w.shape[0], n), "BasicEntanglerLayers")
    rot = _gate(rotation, ops.RX)
    if rot.num_params != 1:
        raise ValueError(f"BasicEntanglerLayers: rotation must take one parameter, {rot.name} takes {rot.num_params}")
    for layer in range(w.shape[0]):
        for i in range(n):
            rot(w[layer, i], wires=ws[i])
        if n == 2:
            ops.CNOT(wires=ws)
        elif n > 2:
            for i in range(n):
                ops.CNOT(wires=[ws[i], ws[(i + 1) % n]])


BasicEntanglerLayers.shape = lambda n_layers, n_wires: (int(n_layers), int(n_wires))


def SimplifiedTwoDesign(initial_layer_weights, weights, wires) -> None:
    """RY on every wire, then layers of CZ + two RY on even pairs and on odd pairs (Cerezo et al. 2021).
    Shapes: ``SimplifiedTwoDesign.shape(n_layers, n_wires)`` = [(n,), (L, n - 1, 2)]."""
    ws = _wire_list(wires)
    n = len(ws)
    w0 = _values(initial_layer_weights, "initial_layer_weights")
    _check_shape(w0, (n,), "SimplifiedTwoDesign", "initial_layer_weights")
    w = _values(weights, "weights")
    if w.ndim != 3:
        raise ValueError(f"SimplifiedTwoDesign: weights must be 3-dimensional (L, {n - 1}, 2), got shape {w.shape}")
    _check_shape(w, (w.shape[0], n - 1, 2), "SimplifiedTwoDesign")
    for i in range(n):
        ops.RY(w0[i], wires=ws[i])
    even = [(i, i + 1) for i in range(0, n - 1, 2)]
    odd = [(i, i + 1) for i in range(1, n - 1, 2)]
    for layer in range(w.shape[0]):
        for k, (a, b) in enumerate(even):
            ops.CZ(wires=[ws[a], ws[b]])
            ops.RY(w[layer, k, 0], wires=ws[a])
            ops.RY(w[layer, k, 1], wires=ws[b])
        for k, (a, b) in enumerate(odd):
            ops.CZ(wires=[ws[a], ws[b]])
            ops.RY(w[layer, n // 2 + k, 0], wires=ws[a])
            ops.RY(w[layer, n // 2 + k, 1], wires=ws[b])


SimplifiedTwoDesign.shape = lambda n_layers, n_wires: [(int(n_wires),), (int(n_layers), int(n_wires) - 1, 2)]


def RandomLayers(weights, wires, ratio_imprim: float = 0.3, imprimitive=None, rotations=None,
                 seed: int | None = 42) -> None:
    """Random rotations (from ``rotations``, default RX/RY/RZ) on random wires, interleaved with random
    two-wire ``imprimitive`` gates, drawn from ``numpy.random.default_rng(seed)`` exactly as PennyLane
    draws them, so a given seed builds the same circuit. weights: (L, n_rotations)."""
    ws = _wire_list(wires)
    w = _values(weights, "weights")
    if w.ndim != 2:
        raise ValueError(f"RandomLayers: weights must be 2-dimensional, got shape {w.shape}")
    if not 0.0 <= float(ratio_imprim) <= 1.0:
        raise ValueError(f"RandomLayers: ratio_imprim must be in [0, 1], got {ratio_imprim}")
    imp = _gate(imprimitive, ops.CNOT)
    rots = [ops.RX, ops.RY, ops.RZ] if not rotations else [_gate(r, None) for r in rotations]
    rng = np.random.default_rng(seed)
    n = len(ws)
    for layer in range(w.shape[0]):
        i = 0
        while i < w.shape[1]:
            if rng.random() > ratio_imprim:
                gate = rots[int(rng.choice(len(rots)))]
                wire = ws[int(rng.choice(n, size=1, replace=False)[0])]
                gate(w[layer, i], wires=wire)
                i += 1
            elif n > 1:
                pair = rng.choice(n, size=2, replace=False)
                imp(wires=[ws[int(pair[0])], ws[int(pair[1])]])


RandomLayers.shape = lambda n_layers, n_rotations: (int(n_layers), int(n_rotations))


# --- Qiskit-style circuits ----------------------------------------------------------------------------
def ZZFeatureMap(features, wires, reps: int = 2, entanglement="full", alpha: float = 2.0) -> None:
    """Qiskit's second-order Pauli-Z feature map (Havlicek et al. 2019). Per repetition: H on every wire,
    ``P(alpha * x_i)`` on wire i, then for each entangling pair (i, j): ``CNOT(i, j)``,
    ``P(alpha * (pi - x_i)(pi - x_j))`` on j, ``CNOT(i, j)``. Products are derived input columns."""
    ws = _wire_list(wires)
    n = len(ws)
    f = _values(features, "features")
    if f.ndim != 1 or f.shape[0] != n:
        raise ValueError(f"ZZFeatureMap: features must be of length {n}; got shape {f.shape}")
    if not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"ZZFeatureMap: reps must be a positive integer, got {reps!r}")
    pairs = entangler_pairs(n, entanglement)
    prods = products([(math.pi - f[i], math.pi - f[j]) for i, j in pairs])
    for _ in range(int(reps)):
        for i in range(n):
            ops.Hadamard(wires=ws[i])
        for i in range(n):
            ops.PhaseShift(alpha * f[i], wires=ws[i])
        for (i, j), pr in zip(pairs, prods):
            ops.CNOT(wires=[ws[i], ws[j]])
            ops.PhaseShift(alpha * pr, wires=ws[j])
            ops.CNOT(wires=[ws[i], ws[j]])


def _nlocal(weights, wires, reps, entanglement, gates, name, skip_final) -> None:
    ws = _wire_list(wires)
    n = len(ws)
    if not isinstance(reps, (int, np.integer)) or reps < 0:
        raise ValueError(f"{name}: reps must be a non-negative integer, got {reps!r}")
    n_blocks = reps + (0 if skip_final else 1)
    size = n_blocks * len(gates) * n
    w = _values(weights, "weights")
    if w.size != size or w.ndim > 2:
        raise ValueError(f"{name}: weights must hold {size} values ({n_blocks} rotation layers x "
                         f"{len(gates)} gates x {n} wires), got shape {w.shape}")
    w = w.reshape(n_blocks, len(gates) * n)
    pairs = entangler_pairs(n, entanglement)
    for layer in range(n_blocks):
        for g, gate in enumerate(gates):
            for i in range(n):
                gate(w[layer, g * n + i], wires=ws[i])
        if layer < reps:
            for a, b in pairs:
                ops.CNOT(wires=[ws[a], ws[b]])


def RealAmplitudes(weights, wires, reps: int = 3, entanglement="reverse_linear",
                   skip_final_rotation_layer: bool = False) -> None:
    """Qiskit's RealAmplitudes: RY layers separated by CNOT entanglers. weights: ((reps + 1) * n,) in
    Qiskit's parameter order (layer by layer), or the same values shaped (reps + 1, n)."""
    _nlocal(weights, wires, reps, entanglement, [ops.RY], "RealAmplitudes", skip_final_rotation_layer)


RealAmplitudes.shape = lambda n_wires, reps=3: ((int(reps) + 1) * int(n_wires),)


def EfficientSU2(weights, wires, reps: int = 3, entanglement="reverse_linear", su2_gates=("RY", "RZ"),
                 skip_final_rotation_layer: bool = False) -> None:
    """Qiskit's EfficientSU2: layers of ``su2_gates`` (default RY then RZ) on every wire separated by CNOT
    entanglers. weights: ((reps + 1) * len(su2_gates) * n,) in Qiskit's parameter order."""
    gates = [_gate(g, None) for g in su2_gates]
    _nlocal(weights, wires, reps, entanglement, gates, "EfficientSU2", skip_final_rotation_layer)


EfficientSU2.shape = lambda n_wires, reps=3, n_gates=2: ((int(reps) + 1) * int(n_gates) * int(n_wires),)


def HardwareEfficientAnsatz(weights, wires, rotations=("RY", "RZ"), entanglement="linear",
                            imprimitive=None) -> None:
    """Hardware-efficient ansatz (Kandala et al. 2017): per layer, the single-qubit ``rotations`` on every
    wire, then ``imprimitive`` (default CNOT) on the pairs of ``entanglement``. weights: (L, n, len(rotations))."""
    ws = _wire_list(wires)
    n = len(ws)
    rots = [_gate(r, None) for r in rotations]
    w = _values(weights, "weights")
    if w.ndim != 3:
        raise ValueError(f"HardwareEfficientAnsatz: weights must be 3-dimensional (L, {n}, {len(rots)}), "
                         f"got shape {w.shape}")
    _check_shape(w, (w.shape[0], n, len(rots)), "HardwareEfficientAnsatz")
    imp = _gate(imprimitive, ops.CNOT)
    pairs = entangler_pairs(n, entanglement)
    for layer in range(w.shape[0]):
        for i in range(n):
            for g, rot in enumerate(rots):
                rot(w[layer, i, g], wires=ws[i])
        for a, b in pairs:
            imp(wires=[ws[a], ws[b]])


HardwareEfficientAnsatz.shape = lambda n_layers, n_wires, n_rotations=2: (int(n_layers), int(n_wires), int(n_rotations))


# --- QAOA -----------------------------------------------------------------------------------------------
def maxcut(graph) -> tuple[Observable, Observable]:
    """PennyLane's MaxCut Hamiltonians for a networkx graph (nodes 0..n-1): cost
    ``sum_{(i,j)} 0.5 (Z_i Z_j - 1)`` (minimised by a maximum cut) and mixer ``sum_i X_i``."""
    nodes = sorted(graph.nodes)
    if nodes != list(range(len(nodes))):
        raise ValueError(f"graph nodes must be 0..n-1, got {nodes}")
    cost = Observable()
    for i, j in graph.edges:
        cost = cost + 0.5 * (Observable.pauli("Z", i) @ Observable.pauli("Z", j)) - 0.5
    mixer = Observable()
    for i in nodes:
        mixer = mixer + Observable.pauli("X", i)
    return cost, mixer


def _terms(h) -> list[tuple[float, list[int], str]]:
    from .observables import as_observable

    return as_observable(h).core_terms()


def cost_layer(gamma, hamiltonian) -> None:
    """``exp(-i gamma H)`` for a cost Hamiltonian of Z words: one ``MultiRZ(2 c gamma)`` per term
    (identity terms are a global phase and are dropped)."""
    for c, wires, letters in _terms(hamiltonian):
        if not wires:
            continue
        if set(letters) != {"Z"}:
            raise ValueError(f"cost_layer: the cost Hamiltonian must hold Z words only, got {letters} on {wires}")
        ops.MultiRZ(gamma * (2.0 * c), wires=wires)


def mixer_layer(alpha, hamiltonian) -> None:
    """``exp(-i alpha H)`` for a mixer of single-wire X terms: ``RX(2 c alpha)`` per term."""
    for c, wires, letters in _terms(hamiltonian):
        if not wires:
            continue
        if letters != "X":
            raise ValueError(f"mixer_layer: the mixer must be a sum of single-wire X terms, got {letters} on {wires}")
        ops.RX(alpha * (2.0 * c), wires=wires[0])


def QAOALayers(gammas, alphas, graph, initial_hadamards: bool = True) -> Observable:
    """MaxCut QAOA on a graph: H on every node (optional), then p layers of cost and mixer.
    Returns the cost Hamiltonian to measure."""
    g = _values(gammas, "gammas")
    a = _values(alphas, "alphas")
    if g.ndim != 1 or a.shape != g.shape:
        raise ValueError(f"QAOALayers: gammas and alphas must be 1-D of equal length, got {g.shape} and {a.shape}")
    cost, mixer = maxcut(graph)
    if initial_hadamards:
        for i in sorted(graph.nodes):
            ops.Hadamard(wires=i)
    for gm, al in zip(g, a):
        cost_layer(gm, cost)
        mixer_layer(al, mixer)
    return cost


QAOALayers.shape = lambda p: [(int(p),), (int(p),)]
