"""Noisy light-cone tensor networks: channels as superoperator tensors joining the ket and bra lines.

Values and gradients against a dense numpy density-matrix simulation with its own Kraus matrices
(tests/noisy_reference.py) on random noisy circuits of up to 6 wires; gate-angle gradients against the exact
parameter-shift rule of that reference, channel-parameter gradients against its central differences; at
600 and 1000 wires against the dense density matrix (and the density-matrix method) of the observable's cone
cut out by hand; light-cone
pruning (a channel outside the cone drops out, one inside is kept even where it would commute with Z if
it were a diagonal gate) and the calls that refuse noisy circuits."""
from __future__ import annotations

import numpy as np
import pytest
from noisy_reference import NoisyCircuit

import pyqml as pq

GATES_1 = ["RX", "RY", "RZ", "Hadamard", "S"]
GATES_2 = ["CNOT", "CZ", "IsingZZ", "IsingXX"]
N_PARAMS = {"RX": 1, "RY": 1, "RZ": 1, "Hadamard": 0, "S": 0, "CNOT": 0, "CZ": 0, "IsingZZ": 1, "IsingXX": 1}
CHANNEL_PARAMS = {"BitFlip": 1, "PhaseFlip": 1, "DepolarizingChannel": 1, "AmplitudeDamping": 1,
                  "PhaseDamping": 1, "GeneralizedAmplitudeDamping": 2}


def random_noisy(n, n_ops, rng, n_inputs=0, channel_weights=True):
    """A random circuit of gates and channels; gate angles are constants, weights or inputs; channel
    parameters constants in (0.05, 0.3) or (when channel_weights) weights near there."""
    ops, nw = [], 0
    for _ in range(n_ops):
        r = rng.random()
        if r < 0.35:
            name = str(rng.choice(list(CHANNEL_PARAMS)))
            params = []
            for _ in range(CHANNEL_PARAMS[name]):
                if channel_weights and rng.random() < 0.4:
                    params.append((1, nw, 0.1, 0.15))  # 0.1 * w + 0.15 with w in [-1, 1]
                    nw += 1
                else:
                    params.append((0, 0, 1.0, float(rng.uniform(0.05, 0.3))))
            ops.append((name, [int(rng.integers(n))], params))
        elif r < 0.4 and n >= 2:
            a, b = (int(v) for v in rng.permutation(n)[:2])
            ops.append(("PauliError", [a, b], [(0, 0, 1.0, float(rng.uniform(0.05, 0.3)))],
                        "".join(rng.choice(list("XYZ"), 2))))
        else:
            two = n >= 2 and rng.random() < 0.45
            name = str(rng.choice(GATES_2 if two else GATES_1))
            wires = [int(v) for v in rng.permutation(n)[:2 if two else 1]]
            params = []
            for _ in range(N_PARAMS[name]):
                s = rng.random()
                if s < 0.5:
                    params.append((1, nw, 1.0, 0.0))
                    nw += 1
                elif n_inputs and s < 0.8:
                    params.append((2, int(rng.integers(n_inputs)), float(rng.uniform(-2, 2)),
                                   float(rng.uniform(-1, 1))))
                else:
                    params.append((0, 0, 1.0, float(rng.uniform(-np.pi, np.pi))))
            ops.append((name, wires, params))
    return NoisyCircuit(n, ops, nw, n_inputs)


def random_terms(n, rng, k=3):
    out = []
    for _ in range(k):
        size = int(rng.integers(1, min(n, 3) + 1))
        wires = rng.permutation(n)[:size]
        out.append((float(rng.uniform(-1, 1)), {int(w): str(rng.choice(list("XYZ"))) for w in wires}))
    return out


def as_observable(terms):
    obs = pq.Observable()
    for coeff, word in terms:
        p = None
        for w, letter in sorted(word.items()):
            f = {"X": pq.X, "Y": pq.Y, "Z": pq.Z}[letter](w)
            p = f if p is None else p @ f
        obs = obs + coeff * p
    return obs


def weights_for(nc, rng):
    return rng.uniform(-1, 1, nc.n_weights)


def reference_gradients(nc, terms, w, x):
    """d<O>/dw: the exact two-term shift on the dense reference for gate angles (weights enter with scale 1
    there), central differences of the reference (h = 1e-5) for channel parameters (scale 0.1)."""
    g = np.zeros(nc.n_weights)
    kinds = {}
    for op in nc.ops:
        for kind, idx, _scale, _ in op[2]:
            if kind == 1:
                kinds[idx] = op[0]
    for k in range(nc.n_weights):
        if kinds[k] in CHANNEL_PARAMS or kinds[k] == "PauliError":
            h = 1e-5
        else:
            h = np.pi / 2
        wp, wm = w.copy(), w.copy()
        wp[k] += h
        wm[k] -= h
        d = nc.expval(terms, wp, x) - nc.expval(terms, wm, x)
        g[k] = d / (2 * h) if h != np.pi / 2 else d / 2
    return g, kinds


@pytest.mark.parametrize("seed,n,n_ops", [(1, 2, 20), (2, 4, 30), (3, 6, 40), (4, 5, 40)])
def test_values_and_gradients_match_dense_density_matrix(seed, n, n_ops):
    rng = np.random.default_rng(seed)
    nc = random_noisy(n, n_ops, rng, n_inputs=2)
    terms = [random_terms(n, rng) for _ in range(2)]
    c = nc.circuit()
    w = weights_for(nc, rng)
    X = rng.uniform(-1, 1, (2, 2))
    ex = c.executor([as_observable(t) for t in terms], "tensornet")
    vals, dw, dx = ex.jacobian(w, X)
    np.testing.assert_allclose(ex.expval(w, X), vals, atol=1e-12, rtol=0)
    for r in range(2):
        want = [nc.expval(t, w, X[r]) for t in terms]
        np.testing.assert_allclose(vals[r], want, atol=1e-10, rtol=0)
        for o, t in enumerate(terms):
            g, kinds = reference_gradients(nc, t, w, X[r])
            for k in range(nc.n_weights):
                tol = 1e-8 if kinds[k] in CHANNEL_PARAMS or kinds[k] == "PauliError" else 1e-10
                assert abs(dw[r, o, k] - g[k]) < tol, (r, o, k, kinds[k], dw[r, o, k], g[k])
    # Inputs: central differences of the engine's own values (checked above against the reference).
    h = 1e-6
    for j in range(2):
        xp, xm = X.copy(), X.copy()
        xp[:, j] += h
        xm[:, j] -= h
        fd = (ex.expval(w, xp) - ex.expval(w, xm)) / (2 * h)
        np.testing.assert_allclose(dx[:, :, j], fd, atol=1e-7, rtol=0)


def test_single_precision_and_vjp():
    rng = np.random.default_rng(11)
    nc = random_noisy(5, 30, rng, n_inputs=2)
    terms = [random_terms(5, rng) for _ in range(3)]
    c = nc.circuit()
    w = weights_for(nc, rng)
    X = rng.uniform(-1, 1, (3, 2))
    obs = [as_observable(t) for t in terms]
    v64, dw64, dx64 = c.executor(obs, "tensornet").jacobian(w, X)
    v32 = c.executor(obs, "tensornet", "complex64").expval(w, X)
    np.testing.assert_allclose(v32, v64, atol=1e-5, rtol=0)
    cot = rng.normal(size=v64.shape)
    vv, gw, gx = c.executor(obs, "tensornet").vjp(w, X, cot)
    np.testing.assert_allclose(vv, v64, atol=1e-12, rtol=0)
    np.testing.assert_allclose(gw, np.einsum("ro,row->w", cot, dw64), atol=1e-10, rtol=0)
    np.testing.assert_allclose(gx, np.einsum("ro,rox->rx", cot, dx64), atol=1e-10, rtol=0)


def test_amplitude_damping_inside_a_z_cone_is_kept():
    """<Z> after X then AmplitudeDamping(g): the excited population 1 - g, so <Z> = 2 g - 1. Followed by a
    CZ to another wire (diagonal: it drops out of a Z cone) and a channel on that wire (outside the cone)."""
    g = 0.3
    c = pq.Circuit(2)
    with c:
        pq.PauliX(wires=0)
        pq.AmplitudeDamping(g, wires=0)
        pq.CZ(wires=[0, 1])
        pq.DepolarizingChannel(0.2, wires=1)
    ex = c.executor([pq.Z(0)], "tensornet")
    np.testing.assert_allclose(ex.expval(np.zeros(0)), [[2 * g - 1]], atol=1e-14, rtol=0)
    ops = ex.plan().cones[0][0]
    assert ops == [0, 1]  # X and the damping; the CZ commutes with Z and the far channel drops out


def _brickwork(n, layers, p=0.02, gamma=0.01):
    """1-D brickwork: RY(w) on every wire, CNOTs on even then odd pairs, each CNOT followed by
    DepolarizingChannel(p) on both wires, and AmplitudeDamping(gamma) on every wire per layer."""
    ops, nw = [], 0
    for _ in range(layers):
        for i in range(n):
            ops.append(("RY", [i], [(1, nw, 1.0, 0.0)]))
            nw += 1
        for half in (0, 1):
            for i in range(half, n - 1, 2):
                ops.append(("CNOT", [i, i + 1], []))
                ops.append(("DepolarizingChannel", [i], [(0, 0, 1.0, p)]))
                ops.append(("DepolarizingChannel", [i + 1], [(0, 0, 1.0, p)]))
        for i in range(n):
            ops.append(("AmplitudeDamping", [i], [(0, 0, 1.0, gamma)]))
    return NoisyCircuit(n, ops, nw)


def _cut(nc, lo, hi):
    """The ops of nc entirely inside wires [lo, hi), relabelled from 0 (weights keep their indices)."""
    ops = [(op[0], [v - lo for v in op[1]], *op[2:]) for op in nc.ops if all(lo <= v < hi for v in op[1])]
    return NoisyCircuit(hi - lo, ops, nc.n_weights)


@pytest.mark.slow
@pytest.mark.parametrize("n,i", [(600, 297), (600, 298), (1000, 0), (1000, 998)])
def test_wide_noisy_brickwork_matches_the_cut_out_cone(n, i):
    """<Z_i Z_i+1> and its gradient on a noisy 2-layer brickwork of n wires against the density matrix of the
    wires [i - 4, i + 6): each of the four CNOT half-layers widens the backward cone by at most one wire on
    each side, so every op outside that window is outside the cone. The value is checked against the dense
    numpy Kraus simulation of the window, the gradient against the density-matrix method's adjoint gradient
    of the window (every weight outside it has derivative 0; tests/densitymatrix checks that gradient against
    finite differences). The dense reference of a 10-wire window takes about a minute."""
    layers = 2
    nc = _brickwork(n, layers)
    rng = np.random.default_rng(n + i)
    w = rng.uniform(-np.pi, np.pi, nc.n_weights)
    c = nc.circuit()
    ex = c.executor([pq.Z(i) @ pq.Z(i + 1)], "tensornet")
    vals, dw, _ = ex.jacobian(w)
    lo, hi = max(0, i - 2 * layers), min(n, i + 2 * layers + 2)
    sub = _cut(nc, lo, hi)
    terms = [(1.0, {i - lo: "Z", i + 1 - lo: "Z"})]
    np.testing.assert_allclose(vals[0, 0], sub.expval(terms, w), atol=1e-10, rtol=0)
    dm_vals, dm_dw, _ = sub.circuit().executor([pq.Z(i - lo) @ pq.Z(i + 1 - lo)], "densitymatrix").jacobian(w)
    np.testing.assert_allclose(vals, dm_vals, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dw, dm_dw, atol=1e-10, rtol=0)
    inside = sorted({p[1] for op in sub.ops for p in op[2] if p[0] == 1})
    mask = np.ones(nc.n_weights, bool)
    mask[inside] = False
    assert np.all(dw[0, 0, mask] == 0)


def test_noisy_tn_refuses_amplitudes_and_samples():
    c = pq.Circuit(3)
    with c:
        pq.H(wires=0)
        pq.BitFlip(0.1, wires=0)
    with pytest.raises(ValueError, match="channel|noise|noisy"):
        pq.amplitude(c, [0, 0, 0], method="tensornet")
    with pytest.raises(ValueError, match="channel|noise|noisy"):
        pq.sample(c, wires=[0], shots=10, method="tensornet")
