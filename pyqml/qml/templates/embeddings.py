"""Embeddings (PennyLane's definitions): data into gate angles or amplitudes.

Non-affine functions of the inputs (the products of IQPEmbedding, the state-preparation angles of
AmplitudeEmbedding) become derived input columns computed before each engine call, with the chain rule
applied to input gradients (:mod:`pyqml.frontend.derived_inputs`).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ...frontend import ops
from ...frontend.derived_inputs import FunctionBlock, add_block, is_traced, products
from ...frontend.params import INPUT, Param
from ._common import _check_shape, _values, _wire_list


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
