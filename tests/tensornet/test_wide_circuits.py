"""Circuits far beyond a state vector: gradients against central finite differences at 120 wires, and
QAOA p=1 MaxCut on a random 3-regular graph of 1000 nodes against the analytic cut fraction."""
from __future__ import annotations

import math

import numpy as np

import pyqml as pq


def _brickwork_with_inputs(n: int, layers: int):
    c = pq.Circuit(n)
    w = c.new_weights(layers, 2, n)
    x = c.new_inputs(2)
    with c:
        for i in range(n):
            pq.RX(0.7 * x[i % 2] + 0.1, wires=i)
        for l in range(layers):
            for half in (0, 1):
                for i in range(n):
                    pq.RY(w[l, half, i], wires=i)
                for i in range(half, n - 1, 2):
                    (pq.CZ if half == 0 else pq.CNOT)(wires=[i, i + 1])
            pq.CRZ(w[l, 0, 0], wires=[n - 1, 0])
    return c


def test_gradients_match_finite_differences_at_120_wires():
    n = 120
    rng = np.random.default_rng(7)
    c = _brickwork_with_inputs(n, 2)
    obs = [sum((pq.Z(i) @ pq.Z(i + 1) for i in range(n - 1)), pq.Observable()),
           0.5 * pq.X(3) @ pq.Y(60) + pq.Z(119)]
    W = rng.uniform(-np.pi, np.pi, c.n_weights)
    X = rng.uniform(-1, 1, (2, 2))
    ex = c.executor(obs, "tensornet")
    vals, dw, dx = ex.jacobian(W, X)
    h = 1e-5
    for k in list(rng.choice(c.n_weights, 8, replace=False)) + [0]:
        wp, wm = W.copy(), W.copy()
        wp[k] += h
        wm[k] -= h
        fd = (ex.expval(wp, X) - ex.expval(wm, X)) / (2 * h)
        np.testing.assert_allclose(dw[:, :, k], fd, atol=1e-7, rtol=0)
    for j in range(2):
        xp, xm = X.copy(), X.copy()
        xp[:, j] += h
        xm[:, j] -= h
        fd = (ex.expval(W, xp) - ex.expval(W, xm)) / (2 * h)
        np.testing.assert_allclose(dx[:, :, j], fd, atol=1e-7, rtol=0)
    np.testing.assert_allclose(vals, ex.expval(W, X), atol=1e-12, rtol=0)


def test_qaoa_p1_maxcut_on_1000_node_3_regular_graph():
    """Farhi, Goldstone & Gutmann (arXiv:1411.4028): at p=1 on a 3-regular graph, an edge with no
    triangle through it has expected cut 1/2 + sin(4 beta) sin(gamma) cos^2(gamma) / 2, which is
    0.6924500897 at gamma = arctan(1/sqrt 2), beta = pi/8. Cost exp(-i gamma C), C = sum (1 - Z Z) / 2
    (per edge IsingZZ(-gamma) up to a global phase); mixer exp(-i beta sum X) (RX(2 beta))."""
    import networkx as nx

    n = 1000
    g = nx.random_regular_graph(3, n, seed=5)
    edges = sorted(tuple(sorted(e)) for e in g.edges())
    c = pq.Circuit(n)
    w = c.new_weights(2)
    with c:
        for i in range(n):
            pq.H(wires=i)
        for a, b in edges:
            pq.IsingZZ(-1.0 * w[0], wires=[a, b])
        for i in range(n):
            pq.RX(2.0 * w[1], wires=i)
    obs = [pq.Z(a) @ pq.Z(b) for a, b in edges]
    gamma, beta = math.atan(1 / math.sqrt(2)), math.pi / 8
    zz = c.executor(obs, "tensornet").expval(np.array([gamma, beta]))[0]
    cut = (1 - zz) / 2
    free = np.array([not (set(g[a]) & set(g[b])) for a, b in edges])
    assert free.sum() > 1000
    np.testing.assert_allclose(cut[free], 0.6924500897, atol=1e-10, rtol=0)
    expected = 0.5 + 0.5 * math.sin(4 * beta) * math.sin(gamma) * math.cos(gamma) ** 2
    assert abs(expected - 0.6924500897) < 1e-10
    # Edges in a triangle differ from the triangle-free value.
    if (~free).any():
        assert np.all(np.abs(cut[~free] - 0.6924500897) > 1e-6)


def test_amplitude_at_100_wires_matches_closed_form():
    """RY(t_i) on every wire then CZ on a chain: <b|U|0> = (-1)^(adjacent 11 pairs) prod_i (cos or sin)(t_i/2)."""
    from pyqml.tensornet import amplitude

    n = 100
    rng = np.random.default_rng(9)
    c = pq.Circuit(n)
    w = c.new_weights(n)
    with c:
        for i in range(n):
            pq.RY(w[i], wires=i)
        for i in range(n - 1):
            pq.CZ(wires=[i, i + 1])
    t = rng.uniform(0.5, 2.5, n)
    bits = rng.integers(0, 2, n)
    sign = (-1) ** int(np.sum(bits[:-1] * bits[1:]))
    want = sign * np.prod(np.where(bits == 1, np.sin(t / 2), np.cos(t / 2)))
    got = amplitude(c, bits, weights=t)
    assert abs(got - want) < 1e-10 * max(1.0, abs(want)) + 1e-300
    np.testing.assert_allclose(got / want, 1.0, atol=1e-10)
