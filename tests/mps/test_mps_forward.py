"""The MPS forward pass (calls without gradients): reduced two-site updates, QR centre moves, deferred
one-wire gates, canonical-form expectations and sampling from a right-canonical state, against the state
vector and against the gradient's forward pass (full SVDs), with and without truncation."""
import numpy as np
import pytest

import pyqml as pq

ENTANGLERS = ("CNOT", "CZ", "CRX", "IsingZZ", "IsingXX", "CY", "SWAP", "U")


def mixed_brickwork(n, layers, rng, reverse=False):
    """RY, RZ on every wire, then two-wire gates of many kinds on (i, i+1), even then odd bonds.

    In the odd half-layers every bond's middle dimension D is half of the outer ones (dl = dr = 2 D after
    the even half-layer), so the operator-Schmidt-rank-2 gates there (controlled, diagonal, Ising) satisfy
    2 D < min(2 dl, 2 dr): the reduced update runs; SWAP and the random unitaries (rank 4) take the full SVD.
    """
    c = pq.Circuit(n)
    n_w = 2 * n * layers + n * layers
    w = c.new_weights(n_w)
    k = 0
    with c:
        for layer in range(layers):
            for q in range(n):
                pq.RY(w[k], wires=q)
                pq.RZ(w[k + 1], wires=q)
                k += 2
            for start in (0, 1):
                for q in range(start, n - 1, 2):
                    name = ENTANGLERS[(q + 3 * layer + start) % len(ENTANGLERS)]
                    wires = [q + 1, q] if reverse and q % 3 == 0 else [q, q + 1]
                    if name == "U":
                        a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
                        pq.QubitUnitary(np.linalg.qr(a)[0], wires=wires)
                    elif name in ("CRX", "IsingZZ", "IsingXX"):
                        pq.GATES[name](w[k], wires=wires)
                        k += 1
                    else:
                        pq.GATES[name](wires=wires)
    return c, rng.uniform(-np.pi, np.pi, size=n_w)


@pytest.mark.parametrize("n,layers,reverse", [(9, 3, False), (12, 3, True)])
def test_reduced_updates_match_the_state_vector(n, layers, reverse):
    rng = np.random.default_rng(21 + n)
    c, w = mixed_brickwork(n, layers, rng, reverse)
    obs = [pq.Observable({tuple((q, "Z") for q in range(n)): 1.0}), pq.Z(0), pq.X(n - 1),
           pq.X(2) @ pq.Y(3) + 0.5 * pq.Z(n // 2), pq.Y(0) @ pq.Z(n - 1)]
    sv = c.executor(obs, "statevector")
    ex = c.executor(obs, "mps")
    np.testing.assert_allclose(ex.expval(w), sv.expval(w), atol=1e-10)
    assert ex.last_info.exact
    wires = [1, n - 2, 4]
    np.testing.assert_allclose(ex.probs(w, None, wires), sv.probs(w, None, wires), atol=1e-12)
    state = sv.state(w)[0]
    for bits in ([0] * n, [int(v) for v in rng.integers(0, 2, n)]):
        amp = state[int("".join(map(str, bits)), 2)]
        assert abs(ex.amplitude(w, None, bits)[0] - amp) < 1e-12
    w2 = rng.uniform(-np.pi, np.pi, size=w.size)
    s1, s2 = sv.state(w)[0], sv.state(w2)[0]
    np.testing.assert_allclose(ex.overlaps(w, None, None, w2), [[s1.conj() @ s2]], atol=1e-12)


def test_truncated_forward_equals_the_gradient_forward():
    """The forward calls (QR moves, reduced updates) cut the same spectra as the gradient's forward pass (a
    full SVD at every step): equal values and equal discarded weights under heavy truncation."""
    rng = np.random.default_rng(31)
    n = 12
    c, w = mixed_brickwork(n, 4, rng)
    obs = [pq.Observable({tuple((q, "Z") for q in range(n)): 1.0}), pq.X(2) @ pq.Y(7)]
    for chi in (3, 6):
        ex = c.executor(obs, "mps", max_bond=chi)
        vals = ex.expval(w)
        info = ex.last_info
        assert not info.exact and info.max_bond[0] <= chi
        jv = ex.jacobian(w)[0]
        np.testing.assert_allclose(vals, jv, atol=1e-10)
        np.testing.assert_allclose(info.discarded_weight, ex.last_info.discarded_weight, rtol=1e-8, atol=1e-14)
    exact = c.executor(obs, "statevector").expval(w)
    assert np.abs(vals - exact).max() <= 2 * info.error_bound[0] + 1e-12


def test_complex64_forward():
    rng = np.random.default_rng(33)
    n = 10
    c, w = mixed_brickwork(n, 3, rng)
    obs = [pq.Observable({tuple((q, "Z") for q in range(n)): 1.0}), pq.X(4)]
    exact = c.executor(obs, "statevector").expval(w)
    np.testing.assert_allclose(c.executor(obs, "mps", precision="complex64").expval(w), exact, atol=1e-4)


def test_samples_of_a_prefix_follow_the_distribution():
    """Sampling wires [3, 1] of 10 stops at site 3 (the rest marginalised by right isometries)."""
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(35)
    n = 10
    c, w = mixed_brickwork(n, 2, rng)
    p = c.executor([], "statevector").probs(w, None, [3, 1])[0]
    ex = c.executor([], "mps")
    shots = 8000
    s = ex.sample(w, None, [3, 1], shots, 4)[0]
    np.testing.assert_array_equal(s, ex.sample(w, None, [3, 1], shots, 4)[0])
    counts = np.bincount(s @ np.array([2, 1]), minlength=4)
    keep = p * shots > 5
    chi2 = np.sum((counts[keep] - shots * p[keep]) ** 2 / (shots * p[keep]))
    assert chi2 < stats.chi2.ppf(0.9999, keep.sum() - 1)
    full = ex.sample(w, None, list(range(n)), 4000, 5)[0]
    p_all = c.executor([], "statevector").probs(w, None, [0, 9])[0]
    counts = np.bincount(full[:, [0, 9]] @ np.array([2, 1]), minlength=4)
    keep = p_all * 4000 > 5
    chi2 = np.sum((counts[keep] - 4000 * p_all[keep]) ** 2 / (4000 * p_all[keep]))
    assert chi2 < stats.chi2.ppf(0.9999, keep.sum() - 1)


def test_splits_without_truncation_find_the_schmidt_rank():
    """Splits that cannot truncate take a pivoted QR: the bond still drops to the Schmidt rank (1 for a
    product state, 2 for GHZ), through both centre directions and the swap network."""
    n = 9
    c = pq.Circuit(n)
    w = c.new_weights(n)
    with c:
        for q in range(n):
            pq.RY(w[q], wires=q)
        for q in range(n - 1):
            pq.CNOT(wires=[q, q + 1])
        for q in reversed(range(n - 1)):
            pq.CNOT(wires=[q, q + 1])  # undoes the ladder: a product state again
        pq.CZ(wires=[0, n - 1])
        pq.CZ(wires=[0, n - 1])
    rng = np.random.default_rng(41)
    wv = rng.uniform(-np.pi, np.pi, n)
    obs = [pq.Z(0) @ pq.Z(n - 1), pq.X(4)]
    ex = c.executor(obs, "mps")
    np.testing.assert_allclose(ex.expval(wv), c.executor(obs, "statevector").expval(wv), atol=1e-12)
    assert ex.last_info.max_bond[0] == 2  # inside the ladder
    g = pq.Circuit(n)
    with g:
        pq.Hadamard(wires=4)
        for q in range(4, n - 1):
            pq.CNOT(wires=[q, q + 1])
        for q in reversed(range(4)):
            pq.CNOT(wires=[q + 1, q])
        pq.SWAP(wires=[0, 8])
    ex = g.executor([pq.Observable({tuple((q, "X") for q in range(n)): 1.0})], "mps")
    np.testing.assert_allclose(ex.expval(np.zeros(0)), [[1.0]], atol=1e-12)
    assert ex.last_info.max_bond[0] == 2
    np.testing.assert_allclose(ex.entropies(np.zeros(0))[0], np.log(2), atol=1e-12)


def test_gram_overlaps_of_one_batch():
    """overlaps(X, X) computes the states once and the pairs i <= j; the rest by conjugate symmetry."""
    from random_circuits import RandomCircuit

    rng = np.random.default_rng(43)
    rc = RandomCircuit(7, 30, rng, n_inputs=3)
    c = rc.circuit()
    w = rng.normal(size=rc.n_weights)
    xa = rng.normal(size=(4, 3))
    s = c.executor([], "statevector").state(w, xa)
    ex = c.executor([], "mps")
    expect = s.conj() @ s.T
    np.testing.assert_allclose(ex.overlaps(w, xa), expect, atol=1e-12)
    np.testing.assert_allclose(ex.overlaps(w, xa, xa.copy()), expect, atol=1e-12)
    assert ex.last_info.max_bond.shape == (8,)
    np.testing.assert_allclose(ex.overlaps(w, xa, xa[:3]), expect[:, :3], atol=1e-12)
