"""Term batching: the terms of one light-cone structure contracted together (a batch of the plan's pairwise
steps over lanes), against the same executor term by term (``term_batching = False``, 1e-12) and the state
vector (1e-10), on shallow 1-D and 2-D circuits, QAOA and a noisy brickwork, with structures of one, two and
many terms; and the memory guard counting the batch workspace."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from random_circuits import ry_cz_brickwork

import pyqml as pq

LANES = 8  # tn::Executor::kLanes


def _chain(n: int, layers: int, rng, inputs: int = 0):
    """A 1-D brickwork of mixed gates: RY / RX / Rot on every wire, CZ, CNOT and IsingZZ between
    neighbours; some angles are data (affine in inputs)."""
    c = pq.Circuit(n)
    w = c.new_weights(layers, 3, n)
    x = c.new_inputs(inputs) if inputs else None
    with c:
        for l in range(layers):
            for i in range(n):
                if x is not None:
                    pq.RX(0.7 * x[i % inputs] + 0.2, wires=i)
                pq.RY(w[l, 0, i], wires=i)
            for i in range(l % 2, n - 1, 2):
                (pq.CZ if l % 2 == 0 else pq.CNOT)(wires=[i, i + 1])
            for i in range(n):
                pq.Rot(w[l, 1, i], 0.3, w[l, 2, i], wires=i)
            for i in range(1 - l % 2, n - 1, 2):
                pq.IsingZZ(w[l, 2, i], wires=[i, i + 1])
    return c


def _chain_obs(n: int):
    zz = sum((pq.Z(i) @ pq.Z(i + 1) for i in range(n - 1)), start=0.0 * pq.Z(0))
    xs = sum((0.5 * pq.X(i) for i in range(0, n, 2)), start=0.0 * pq.Z(0))
    return [zz, xs, pq.Y(n // 2) + pq.Y(n // 2 + 2) + 0.25 * pq.Z(0)]


def _grid(lx: int, ly: int, layers: int):
    n = lx * ly
    c = pq.Circuit(n)
    w = c.new_weights(layers, 2, n)
    q = lambda r, col: r * ly + col  # noqa: E731
    with c:
        for l in range(layers):
            for i in range(n):
                pq.RY(w[l, 0, i], wires=i)
            for r in range(lx):
                for col in range(l % 2, ly - 1, 2):
                    pq.CZ(wires=[q(r, col), q(r, col + 1)])
            for i in range(n):
                pq.RX(w[l, 1, i], wires=i)
            for r in range(l % 2, lx - 1, 2):
                for col in range(ly):
                    pq.CZ(wires=[q(r, col), q(r + 1, col)])
    edges = [(q(r, col), q(r, col + 1)) for r in range(lx) for col in range(ly - 1)]
    edges += [(q(r, col), q(r + 1, col)) for r in range(lx - 1) for col in range(ly)]
    return c, [sum((pq.Z(a) @ pq.Z(b) for a, b in edges), start=0.0 * pq.Z(0))]


def _qaoa(n: int, p: int, ring: bool):
    """QAOA on a ring (its edge cones share structures) or a random 3-regular graph (mostly one term per
    structure: those run term by term)."""
    g = nx.cycle_graph(n) if ring else nx.random_regular_graph(3, n, seed=3)
    edges = sorted(tuple(sorted(e)) for e in g.edges())
    c = pq.Circuit(n)
    w = c.new_weights(2, p)
    with c:
        for i in range(n):
            pq.H(wires=i)
        for k in range(p):
            for a, b in edges:
                pq.IsingZZ(w[0, k], wires=[a, b])
            for i in range(n):
                pq.RX(2.0 * w[1, k], wires=i)
    return c, [sum((pq.Z(a) @ pq.Z(b) for a, b in edges), start=0.0 * pq.Z(0))]


def _both(c, obs, precision="complex128"):
    """The executor (batched) and an equal one with term batching off (the per-term path)."""
    ex = c.executor(obs, "tensornet", precision)
    ref = pq.tensornet.TensorNetExecutor(c, obs, precision)
    ref._tn.term_batching = False
    return ex, ref


def _check_against_per_term(ex, ref, w, x=None, rows: int = 1, tol: float = 1e-12, batched: bool = True):
    assert ex._tn.batches_terms(rows, False) == batched and ex._tn.batches_terms(rows, True) == batched
    assert not ref._tn.batches_terms(rows, False)
    np.testing.assert_allclose(ex.expval(w, x), ref.expval(w, x), atol=tol, rtol=0)
    v1, dw1, dx1 = ex.jacobian(w, x)
    v2, dw2, dx2 = ref.jacobian(w, x)
    np.testing.assert_allclose(v1, v2, atol=tol, rtol=0)
    np.testing.assert_allclose(dw1, dw2, atol=tol, rtol=0)
    if dx1 is not None:
        np.testing.assert_allclose(dx1, dx2, atol=tol, rtol=0)
    cot = np.random.default_rng(5).normal(size=v1.shape)
    r1, r2 = ex.vjp(w, x, cot), ref.vjp(w, x, cot)
    for a, b in zip(r1, r2):
        if a is not None:
            np.testing.assert_allclose(a, b, atol=tol, rtol=0)
    return v1, dw1, dx1


def test_chain_structures_of_one_two_and_many_terms():
    """A 1-D chain whose ZZ, X and Y terms make structures of one term, two and many (whole batches of
    lanes and a partial last batch); batched against per-term, rows of inputs."""
    n, layers = 48, 2
    rng = np.random.default_rng(1)
    c = _chain(n, layers, rng, inputs=2)
    obs = _chain_obs(n)
    ex, ref = _both(c, obs)
    counts = list(ex._tn.structure_counts())
    assert 1 in counts and 2 in counts and max(counts) > LANES and max(counts) % LANES != 0
    assert any(LANES // 2 <= k % LANES for k in counts) and any(0 < k % LANES < LANES // 2 for k in counts)
    w = rng.uniform(-np.pi, np.pi, c.n_weights)
    x = rng.uniform(-1, 1, (3, 2))
    _check_against_per_term(ex, ref, w, x, rows=3)


def test_chain_against_statevector():
    n, layers = 16, 1
    rng = np.random.default_rng(3)
    c = _chain(n, layers, rng, inputs=2)
    obs = _chain_obs(n)
    ex, ref = _both(c, obs)
    assert max(ex._tn.structure_counts()) >= LANES // 2
    w = rng.uniform(-np.pi, np.pi, c.n_weights)
    x = rng.uniform(-1, 1, (2, 2))
    v, dw, dx = _check_against_per_term(ex, ref, w, x, rows=2)
    sv = c.executor(obs, "statevector")
    vs, dws, dxs = sv.jacobian(w, x)
    np.testing.assert_allclose(v, vs, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dw, dws, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dx, dxs, atol=1e-10, rtol=0)


def test_weights_per_row_and_vjp_against_statevector():
    n = 16
    rng = np.random.default_rng(2)
    c = _chain(n, 2, rng)
    obs = _chain_obs(n)
    ex, ref = _both(c, obs)
    W = rng.uniform(-np.pi, np.pi, (4, c.n_weights))
    _check_against_per_term(ex, ref, W, None, rows=4)
    sv = c.executor(obs, "statevector")
    cot = rng.normal(size=(4, len(obs)))
    v1, dw1, _ = ex.vjp(W, None, cot)
    v2, dw2, _ = sv.vjp(W, None, cot)
    np.testing.assert_allclose(v1, v2, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dw1, dw2, atol=1e-10, rtol=0)


@pytest.mark.parametrize("lx,ly,layers", [(4, 4, 1), (6, 6, 1), (6, 6, 2)])
def test_grid(lx, ly, layers):
    c, obs = _grid(lx, ly, layers)
    ex, ref = _both(c, obs)
    if (lx, ly, layers) == (6, 6, 1):  # a batched structure whose last terms run on their own
        assert any(k >= LANES and 0 < k % LANES < LANES // 2 for k in ex._tn.structure_counts())
    w = np.random.default_rng(lx * ly).uniform(-np.pi, np.pi, c.n_weights)
    v, dw, _ = _check_against_per_term(ex, ref, w)
    if c.n_wires > 20:
        return
    vs, dws, _ = c.executor(obs, "statevector").jacobian(w)
    np.testing.assert_allclose(v, vs, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dw, dws, atol=1e-10, rtol=0)


@pytest.mark.parametrize("n,p,ring", [(16, 1, True), (18, 2, True), (16, 2, False)])
def test_qaoa(n, p, ring):
    """Shared angles: every term's gradient lands on the same few weights, summed in a fixed order."""
    c, obs = _qaoa(n, p, ring)
    ex, ref = _both(c, obs)
    w = np.random.default_rng(n + p).uniform(-np.pi, np.pi, c.n_weights)
    v, dw, _ = _check_against_per_term(ex, ref, w, batched=ring)
    vs, dws, _ = c.executor(obs, "statevector").jacobian(w)
    np.testing.assert_allclose(v, vs, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dw, dws, atol=1e-10, rtol=0)
    # Reproducible: the same numbers bit for bit on a second call and at one thread.
    v2, dw2, _ = ex.jacobian(w)
    assert np.array_equal(v, v2) and np.array_equal(dw, dw2)
    threads = pq.get_num_threads()
    try:
        pq.set_num_threads(1)
        v3, dw3, _ = ex.jacobian(w)
    finally:
        pq.set_num_threads(threads)
    assert np.array_equal(v, v3) and np.array_equal(dw, dw3)


def test_noisy_chain():
    """Channels (superoperator tensors) in the cones, one with a trainable parameter."""
    n = 16
    c = pq.Circuit(n)
    w = c.new_weights(2, n)
    g = c.new_weights(1)
    with c:
        for l in range(2):
            for i in range(n):
                pq.RY(w[l, i], wires=i)
            for i in range(l % 2, n - 1, 2):
                pq.CNOT(wires=[i, i + 1])
                pq.DepolarizingChannel(0.03, wires=i)
            for i in range(n):
                pq.AmplitudeDamping(0.1 * g[0] + 0.15, wires=i)
    obs = _chain_obs(n)[:2]
    ex, ref = _both(c, obs)
    wv = np.random.default_rng(8).uniform(-1, 1, c.n_weights)
    v, dw, _ = _check_against_per_term(ex, ref, wv)
    # The channel parameter's gradient against central differences of the batched values.
    h = 1e-5
    e = np.zeros(c.n_weights)
    e[-1] = h
    fd = (ex.expval(wv + e) - ex.expval(wv - e)) / (2 * h)
    np.testing.assert_allclose(dw[0, :, -1], fd[0], atol=1e-8, rtol=0)


def test_single_precision():
    n = 12
    rng = np.random.default_rng(4)
    c = _chain(n, 2, rng)
    obs = _chain_obs(n)
    ex, ref = _both(c, obs, "complex64")
    w = rng.uniform(-np.pi, np.pi, c.n_weights)
    _check_against_per_term(ex, ref, w, tol=1e-5)
    v, dw, _ = ex.jacobian(w)
    vs, dws, _ = c.executor(obs, "statevector").jacobian(w)
    np.testing.assert_allclose(v, vs, atol=2e-5, rtol=0)
    np.testing.assert_allclose(dw, dws, atol=2e-5, rtol=0)


def test_memory_guard_counts_the_batch_workspace():
    """The estimate of a batched call holds kLanes workspaces per thread; under a limit that the batched
    call would pass but the batch workspaces would not fit, the call runs term by term (same numbers);
    under the per-term estimate it is refused."""
    n = 12
    rng = np.random.default_rng(6)
    c = _chain(n, 3, rng)
    obs = _chain_obs(n)
    ex, ref = _both(c, obs)
    w = rng.uniform(-np.pi, np.pi, c.n_weights)
    tn = ex._tn
    want = ref.jacobian(w)
    ex.jacobian(w)  # plans prepared: their tables are no longer counted
    batched = tn.estimated_bytes(1, True)
    assert tn.batches_terms(1, True)
    tn.term_batching = False
    per_term = tn.estimated_bytes(1, True)
    tn.term_batching = True
    assert batched > per_term
    try:
        pq.set_memory_limit((batched + per_term) / 2)
        assert not tn.batches_terms(1, True)
        assert tn.estimated_bytes(1, True) == per_term
        got = ex.jacobian(w)
        for a, b in zip(got, want):
            if a is not None:
                np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
        pq.set_memory_limit(per_term / 2)
        with pytest.raises(pq.MemoryLimitError, match="memory limit"):
            ex.jacobian(w)
    finally:
        pq.set_memory_limit(0)
    assert tn.batches_terms(1, True)


@pytest.mark.parametrize("n,layers", [(15, 2), (27, 3)])
def test_brickwork_lane_programs(n, layers):
    """The benchmark's 1-D brickwork (RY on every wire, CZ on even then odd pairs): deep enough cones that
    the lane programs read permuted operands in place in both sweeps; an odd number of ZZ terms (the last
    batch partial), two rows, against the per-term path (1e-12), the state vector (1e-10, up to 16 wires) and
    central differences of the batched values."""
    c = ry_cz_brickwork(n, layers)
    obs = [sum((pq.Z(i) @ pq.Z(i + 1) for i in range(n - 1)), start=0.0 * pq.Z(0)), 0.5 * pq.X(n // 2)]
    ex, ref = _both(c, obs)
    assert (n - 1) % LANES != 0
    rng = np.random.default_rng(n * layers)
    W = rng.uniform(-np.pi, np.pi, (2, c.n_weights))
    v, dw, _ = _check_against_per_term(ex, ref, W, rows=2)
    if n <= 16:
        vs, dws, _ = c.executor(obs, "statevector").jacobian(W)
        np.testing.assert_allclose(v, vs, atol=1e-10, rtol=0)
        np.testing.assert_allclose(dw, dws, atol=1e-10, rtol=0)
    h = 1e-6
    for k in rng.choice(c.n_weights, 3, replace=False):
        e = np.zeros(c.n_weights)
        e[k] = h
        fd = (ex.expval(W[0] + e) - ex.expval(W[0] - e)) / (2 * h)
        np.testing.assert_allclose(dw[0, :, k], fd[0], atol=1e-7, rtol=0)
