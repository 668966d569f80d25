"""Exact sampling by sequential marginals (pyqml.tensornet.sampling) against the dense reference: the
distribution the sampler draws from (the product of its per-level conditionals) equals the dense
probabilities to 1e-10 on random circuits over every gate; empirical frequencies agree within stated
statistical bounds; seeds and rows give reproducible, distinct streams; wide brickworks (100 and 1000 wires)
agree with the light-cone marginals of ``marginal_probs``."""
from __future__ import annotations

import itertools

import dense_reference as ref
import numpy as np
import pytest
from random_circuits import RandomCircuit

import pyqml as pq
from pyqml.tensornet import amplitude, marginal_probs
from pyqml.tensornet.sampling import _Plan, sample, sequential_probabilities


def _all_strings(k: int) -> np.ndarray:
    return np.array(list(itertools.product((0, 1), repeat=k)), dtype=np.int8)


@pytest.mark.parametrize("seed", range(12))
def test_sampled_distribution_equals_dense_probabilities(seed):
    rng = np.random.default_rng(ref.seed_of("sampling-dense", seed))
    n = int(rng.integers(2, 6))
    n_inputs = int(rng.integers(0, 3))
    rc = RandomCircuit(n, int(rng.integers(6, 16)), rng, n_inputs=n_inputs)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    x = rng.uniform(-1, 1, (2, n_inputs)) if n_inputs else None
    k = int(rng.integers(1, n + 1))
    wires = [int(v) for v in rng.permutation(n)[:k]]
    got = sequential_probabilities(c, w, x, wires, _all_strings(k))
    rows = [None] if x is None else list(x)
    assert got.shape == (len(rows), 2**k)
    for r, xr in enumerate(rows):
        expected = ref.probs(rc.state(w, xr), wires, n)
        np.testing.assert_allclose(got[r], expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 0, 2]])
def test_gates_entering_the_cone_after_their_wire_was_sampled(order):
    # The controls of CNOT(0, 1) and CRX(0, 2) commute with Z_0, so the cone of wire 0 alone drops them;
    # they enter when wires 1 and 2 join, after wire 0 is already projected (its projector is rebuilt).
    c = pq.Circuit(3)
    with c:
        pq.Hadamard(wires=0)
        pq.Hadamard(wires=1)
        pq.RY(0.3, wires=2)
        pq.CNOT(wires=[0, 1])
        pq.CRX(0.4, wires=[0, 2])
        pq.CZ(wires=[1, 2])
    if order == [0, 1, 2]:
        plan = _Plan(c, order, "complex128")
        assert sum(kind == "P" and ref == 0 for added in plan.added for _, kind, ref, _ in added) == 2
    got = sequential_probabilities(c, np.zeros(0), None, order, _all_strings(3))[0]
    state = ref.simulate(3, [(ref.gate_matrix("Hadamard"), [0]), (ref.gate_matrix("Hadamard"), [1]),
                             (ref.gate_matrix("RY", [0.3]), [2]), (ref.gate_matrix("CNOT"), [0, 1]),
                             (ref.gate_matrix("CRX", [0.4]), [0, 2]), (ref.gate_matrix("CZ"), [1, 2])])
    np.testing.assert_allclose(got, ref.probs(state, order, 3), atol=1e-12, rtol=0)


def test_sampled_distribution_in_single_precision():
    rng = np.random.default_rng(ref.seed_of("sampling-c64"))
    rc = RandomCircuit(4, 14, rng)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    wires = [2, 0, 3, 1]
    got = sequential_probabilities(c, w, None, wires, _all_strings(4), precision="complex64")[0]
    np.testing.assert_allclose(got, ref.probs(rc.state(w), wires, 4), atol=2e-6, rtol=0)


def test_basis_state_is_sampled_exactly():
    c = pq.Circuit(5)
    with c:
        pq.PauliX(wires=1)
        pq.PauliX(wires=4)
        pq.CNOT(wires=[4, 2])
        pq.CZ(wires=[1, 2])
    s = sample(c, np.zeros(0), None, [4, 0, 1, 2, 3], 50, seed=3)
    assert s.shape == (1, 50, 5) and s.dtype == np.int8
    assert (s == np.array([1, 0, 1, 1, 0], dtype=np.int8)).all()


@pytest.mark.parametrize("seed", range(3))
def test_empirical_frequencies_match_dense_probabilities(seed):
    rng = np.random.default_rng(ref.seed_of("sampling-freq", seed))
    n = 4
    rc = RandomCircuit(n, 14, rng)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    wires = [int(v) for v in rng.permutation(n)[:3 + seed % 2]]
    shots = 20000
    s = sample(c, w, None, wires, shots, seed=seed)[0]
    index = s.astype(np.int64) @ (1 << np.arange(len(wires) - 1, -1, -1))
    freq = np.bincount(index, minlength=2 ** len(wires)) / shots
    p = ref.probs(rc.state(w), wires, n)
    # E[TV] <= 0.5 * sum sqrt(p (1-p) / N) <~ 0.014 here for 16 outcomes; 0.03 is beyond 4 sigma.
    assert 0.5 * np.abs(freq - p).sum() < 0.03
    assert set(np.unique(s)) <= {0, 1}


def test_same_seed_same_samples_and_rows_use_distinct_streams():
    rng = np.random.default_rng(ref.seed_of("sampling-seeds"))
    rc = RandomCircuit(4, 12, rng)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    a = sample(c, w, None, [0, 1, 2, 3], 300, seed=11)
    b = sample(c, w, None, [0, 1, 2, 3], 300, seed=11)
    d = sample(c, w, None, [0, 1, 2, 3], 300, seed=12)
    np.testing.assert_array_equal(a, b)
    assert (a != d).any()
    # Two rows of identical weights: different streams, row r drawn with seed + r.
    rows = sample(c, np.stack([w, w]), None, [0, 1, 2, 3], 300, seed=11)
    assert rows.shape == (2, 300, 4)
    assert (rows[0] != rows[1]).any()
    np.testing.assert_array_equal(rows[0], a[0])
    np.testing.assert_array_equal(rows[1], d[0])


def _brickwork(n: int, depth: int, entangler: str, rng):
    c = pq.Circuit(n)
    w = c.new_weights(depth, n)
    with c:
        for layer in range(depth):
            for q in range(n):
                pq.RY(w[layer, q], wires=q)
            for q in range(layer % 2, n - 1, 2):
                pq.GATES[entangler](wires=[q, q + 1])
    return c, rng.uniform(-np.pi, np.pi, c.n_weights)


def _check_marginals(c, weights, wires, samples, singles, pairs):
    """z-scores of single-wire and two-wire (adjacent in ``wires``) frequencies against exact marginals."""
    shots = samples.shape[0]
    col = {w: j for j, w in enumerate(wires)}
    z = []
    for v in singles:
        p = marginal_probs(c, [v], weights=weights)[1]
        f = samples[:, col[v]].mean()
        z.append((f - p) / np.sqrt(max(p * (1 - p), 1.0 / shots) / shots))
    for u, v in pairs:
        p = marginal_probs(c, [u, v], weights=weights)
        idx = 2 * samples[:, col[u]].astype(np.int64) + samples[:, col[v]]
        f = np.bincount(idx, minlength=4) / shots
        z.extend((f - p) / np.sqrt(np.maximum(p * (1 - p), 1.0 / shots) / shots))
    z = np.array(z)
    # Each z is ~N(0, 1): none beyond 5 (p < 1e-4 over these counts), and their mean square near 1.
    assert np.abs(z).max() < 5.0
    assert 0.5 < np.mean(z**2) < 1.6


def test_100_wire_brickwork_marginals_of_samples():
    rng = np.random.default_rng(ref.seed_of("sampling-100"))
    c, w = _brickwork(100, 4, "CNOT", rng)
    wires = list(range(100))
    s = sample(c, w, None, wires, 200, seed=5)[0]
    _check_marginals(c, w, wires, s, singles=range(0, 100, 3), pairs=[(q, q + 1) for q in range(1, 99, 7)])


def test_100_wire_brickwork_in_scrambled_order():
    rng = np.random.default_rng(ref.seed_of("sampling-100-order"))
    c, w = _brickwork(100, 3, "CZ", rng)
    wires = [int(v) for v in rng.permutation(100)[:60]]
    s = sample(c, w, None, wires, 200, seed=6)[0]
    chosen = sorted(wires)
    pairs = [(u, u + 1) for u in chosen[::4] if u + 1 in set(wires)]
    _check_marginals(c, w, wires, s, singles=chosen[::2], pairs=pairs)


def test_joint_probability_of_samples_equals_squared_amplitude_at_100_wires():
    # Sampling every wire (in a scrambled order), the product of the sampler's conditionals for each drawn
    # string is its |<b|U|0>|^2, contracted independently by pyqml.tensornet.amplitude.
    rng = np.random.default_rng(ref.seed_of("sampling-amplitude"))
    c, w = _brickwork(100, 3, "CNOT", rng)
    order = [int(v) for v in rng.permutation(100)]
    s = sample(c, w, None, order, 6, seed=4)[0]
    joint = sequential_probabilities(c, w, None, order, s)[0]
    bits = np.zeros((6, 100), dtype=np.int8)
    bits[:, order] = s
    amp2 = np.array([abs(amplitude(c, b, weights=w)) ** 2 for b in bits])
    np.testing.assert_allclose(joint, amp2, rtol=1e-10, atol=0)


def test_single_precision_does_not_underflow_over_many_wires():
    # Joint probabilities near 1e-60 are far below float32's range; each level's projector is rescaled by
    # the conditional it was drawn with, so the chain stays exact in relative terms.
    rng = np.random.default_rng(ref.seed_of("sampling-underflow"))
    c, w = _brickwork(300, 2, "CNOT", rng)
    wires = list(range(300))
    s = sample(c, w, None, wires, 8, seed=9, precision="complex64")[0]
    p32 = sequential_probabilities(c, w, None, wires, s, precision="complex64")[0]
    p64 = sequential_probabilities(c, w, None, wires, s)[0]
    assert (p64 < 1e-40).all()
    np.testing.assert_allclose(np.log(p32), np.log(p64), atol=1e-3, rtol=0)


def test_1000_wire_brickwork_marginals_of_samples():
    rng = np.random.default_rng(ref.seed_of("sampling-1000"))
    c, w = _brickwork(1000, 2, "CZ", rng)
    wires = list(range(1000))
    s = sample(c, w, None, wires, 200, seed=7)[0]
    assert s.shape == (200, 1000)
    _check_marginals(c, w, wires, s, singles=range(0, 1000, 25), pairs=[(q, q + 1) for q in range(5, 999, 50)])


def test_bad_input():
    c, w = _brickwork(4, 2, "CNOT", np.random.default_rng(0))
    for shots in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="shots"):
            sample(c, w, None, [0, 1], shots, seed=0)
    with pytest.raises(ValueError, match="repeated"):
        sample(c, w, None, [0, 1, 0], 10, seed=0)
    for wires in ([0, 4], [-1, 2]):
        with pytest.raises(ValueError, match="out of range"):
            sample(c, w, None, wires, 10, seed=0)
    with pytest.raises(ValueError, match="at least one wire"):
        sample(c, w, None, [], 10, seed=0)
    with pytest.raises(ValueError, match="precision"):
        sample(c, w, None, [0], 10, seed=0, precision="float32")
    with pytest.raises(ValueError, match="bits"):
        sequential_probabilities(c, w, None, [0, 1], np.array([[0, 2]]))


def test_tensor_over_the_memory_limit_is_refused():
    c, w = _brickwork(20, 4, "CNOT", np.random.default_rng(1))
    pq.set_memory_limit(64 * 1024)
    try:
        with pytest.raises(pq.MemoryLimitError, match="memory limit"):
            sample(c, w, None, list(range(20)), 500, seed=0)
    finally:
        pq.set_memory_limit(0)
    assert sample(c, w, None, list(range(20)), 500, seed=0).shape == (1, 500, 20)
