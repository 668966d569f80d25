"""Quantum circuit Born machines: exact-KL training, MMD and KL gradients against finite differences and
the batched shift-rule route, sampled gradients within 4 standard errors, chi-square of samples, bad input."""
from __future__ import annotations

import dense_reference as ref
import numpy as np
import pytest
from pyqml.generative import (
    QCBM,
    MMDLoss,
    _walsh,
    bars_and_stripes,
    bits_to_int,
    discretized_gaussian_mixture,
    int_to_bits,
    kl_divergence,
)

import pyqml as pq

TARGET3 = np.array([0.3, 0.05, 0.1, 0.05, 0.2, 0.1, 0.15, 0.05])


def _samples(p, n=2000):
    return np.repeat(np.arange(p.size), np.round(p * n).astype(int))


def _fd(model, h=1e-6):
    eye = np.eye(model.circuit.n_weights)
    return np.array([(model.loss_value(model.weights_ + h * e) - model.loss_value(model.weights_ - h * e)) / (2 * h)
                     for e in eye])


def test_probabilities_match_dense_reference():
    m = QCBM(3, ansatz="hardware_efficient", n_layers=2, random_state=1)
    # HardwareEfficientAnsatz: RY, RZ per wire per layer, then a CNOT chain.
    w = m.weights_.reshape(2, 3, 2)
    gates = []
    for layer in range(2):
        for q in range(3):
            gates += [(ref.gate_matrix("RY", [w[layer, q, 0]]), [q]), (ref.gate_matrix("RZ", [w[layer, q, 1]]), [q])]
        gates += [(ref.gate_matrix("CNOT"), [0, 1]), (ref.gate_matrix("CNOT"), [1, 2])]
    psi = ref.simulate(3, gates)
    assert np.allclose(m.probabilities(), np.abs(psi) ** 2, atol=1e-12)


def test_exact_kl_training_reaches_1e_3():
    m = QCBM(3, n_layers=2, loss="kl", epochs=200, stepsize=0.1, random_state=0)
    m.fit(_samples(TARGET3))
    assert m.kl_history_[-1] < 1e-3
    assert m.kl() < 1e-3
    assert abs(m.kl() - kl_divergence(TARGET3, m.probabilities())) < 1e-12
    assert len(m.loss_history_) == 200
    assert m.log_likelihood(_samples(TARGET3)) == pytest.approx(np.sum(TARGET3 * np.log(m.probabilities())),
                                                                abs=1e-12)


@pytest.mark.parametrize("loss,metric", [("mmd", "integer"), ("mmd", "hamming"), ("kl", "integer")])
def test_exact_gradients_against_finite_differences(loss, metric):
    m = QCBM(3, n_layers=2, loss=loss, metric=metric, random_state=3)
    m.set_target(_samples(TARGET3))
    val, g = m.value_and_grad()
    assert abs(val - m.loss_value()) < 1e-12
    assert np.max(np.abs(g - _fd(m))) < 1e-7
    # Both exact routes agree to rounding.
    p, dp = m.probability_jacobian()
    assert np.max(np.abs(g - m._dloss_dp(p) @ dp)) < 1e-12


def test_mmd_matches_its_definition():
    mmd = MMDLoss(3, bandwidths=(0.25, 4.0))
    p = discretized_gaussian_mixture(3)
    x = np.arange(8)
    K = np.mean([np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * s)) for s in (0.25, 4.0)], axis=0)
    d = p - TARGET3
    assert abs(mmd(p, TARGET3) - d @ K @ d) < 1e-15
    H = np.array([[(-1) ** bin(a & b).count("1") for b in range(8)] for a in range(8)])
    v = np.arange(8.0) ** 2
    assert np.allclose(_walsh(v), H @ v)


def test_sampled_gradient_within_four_standard_errors():
    m = QCBM(3, n_layers=1, loss="mmd", random_state=5)
    m.set_target(_samples(TARGET3))
    _, exact = m.value_and_grad()
    est = np.array([m.sampled_value_and_grad(shots=1000, rng=s)[1] for s in range(40)])
    se = est.std(axis=0, ddof=1) / np.sqrt(len(est))
    assert np.all(np.abs(est.mean(axis=0) - exact) < 4 * se + 1e-12)
    vals = np.array([m.sampled_value_and_grad(shots=1000, rng=100 + s)[0] for s in range(40)])
    assert abs(vals.mean() - m.loss_value()) < 4 * vals.std(ddof=1) / np.sqrt(40)


def test_training_with_shots_lowers_the_loss():
    m = QCBM(3, n_layers=2, loss="mmd", shots=500, epochs=60, random_state=2)
    before = None
    m.set_target(_samples(TARGET3))
    before = m.loss_value()
    m.fit(_samples(TARGET3))
    assert m.loss_value() < 0.5 * before


def test_samples_pass_chi_square():
    stats = pytest.importorskip("scipy.stats")
    m = QCBM(3, n_layers=2, random_state=4)
    bits = m.sample(4000, seed=1)
    assert bits.shape == (4000, 3)
    counts = np.bincount(bits_to_int(bits), minlength=8)
    assert stats.chisquare(counts, m.probabilities() * 4000).pvalue > 1e-3
    assert np.array_equal(m.sample(50, seed=7), m.sample(50, seed=7))
    assert np.array_equal(int_to_bits(bits_to_int(bits), 3), bits)


def test_tensor_network_sampler_for_the_model():
    m = QCBM(4, ansatz="real_amplitudes", n_layers=2, method="tensornet", random_state=6)
    bits = m.sample(3000, seed=2)
    p_tn = np.bincount(bits_to_int(bits), minlength=16) / 3000
    p = QCBM(4, ansatz="real_amplitudes", n_layers=2, random_state=6).probabilities()
    assert np.max(np.abs(p_tn - p)) < 4 * np.sqrt(p.max() / 3000) + 1e-3


def test_datasets():
    bas = bars_and_stripes(3, 3)
    assert bas.shape == (14, 9)               # 2^3 + 2^3 - 2
    for img in bas.reshape(-1, 3, 3):
        rows_const = all(len(set(r)) == 1 for r in img)
        cols_const = all(len(set(c)) == 1 for c in img.T)
        assert rows_const or cols_const
    p = discretized_gaussian_mixture(4)
    assert abs(p.sum() - 1) < 1e-12 and p.argmax() in (4, 5, 10, 11)


def test_bad_input():
    m = QCBM(3, random_state=0)
    with pytest.raises(ValueError, match="outside the register"):
        m.fit(np.array([0, 1, 8]))
    with pytest.raises(ValueError, match="width"):
        m.fit(np.zeros((5, 4), dtype=int))
    with pytest.raises(ValueError, match="only 0 and 1"):
        m.fit(np.full((5, 3), 2))
    with pytest.raises(ValueError, match="integers"):
        m.fit(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="enumerates"):
        QCBM(24, loss="kl")
    with pytest.raises(ValueError, match="exact only"):
        QCBM(3, loss="kl", shots=100)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="shots"):
            QCBM(3, shots=bad)
    with pytest.raises(ValueError, match="loss"):
        QCBM(3, loss="js")
    with pytest.raises(ValueError, match="fit"):
        QCBM(3).value_and_grad()
    with pytest.raises(ValueError, match="ansatz"):
        QCBM(3, ansatz="no-such")
    with pytest.raises(ValueError, match="bandwidths"):
        QCBM(3, bandwidths=(-1.0,))


def test_any_template_and_custom_ansatz():
    for ans in ("basic_entangler", "efficient_su2", pq.StronglyEntanglingLayers):
        m = QCBM(3, ansatz=ans, n_layers=1, random_state=0)
        assert abs(m.probabilities().sum() - 1) < 1e-12

    def ansatz(w, wires):
        for i, q in enumerate(wires):
            pq.RY(w[i], wires=q)

    m = QCBM(2, ansatz=ansatz, weight_shape=(2,), random_state=0)
    m.weights_ = np.array([0.4, 1.2])
    expect = np.kron([np.cos(0.2) ** 2, np.sin(0.2) ** 2], [np.cos(0.6) ** 2, np.sin(0.6) ** 2])
    assert np.allclose(m.probabilities(), expect, atol=1e-14)



def test_sampled_gradient_on_a_register_past_the_probabilities_limit():
    # 13 qubits: the sampled MMD compares samples pairwise instead of histograms (no 2^n x 2^n kernel).
    m = QCBM(13, ansatz="basic_entangler", n_layers=1, loss="mmd", metric="hamming", bandwidths=(1.0, 4.0),
             random_state=0)
    data = np.random.default_rng(1).integers(0, 2, size=(40, 13))
    m.set_target(data)
    val, g = m.sampled_value_and_grad(shots=16, rng=0)
    assert g.shape == (13,) and np.all(np.isfinite(g)) and np.isfinite(val)
    # The sampled MMD: mean K(x, x2) - 2 mean K(x, y) + the U-statistic of K(y, y) (diagonal left out).
    x, y = np.arange(10), np.arange(3, 9)
    K = m.mmd.kernel
    hand = K(x, x[::-1]).mean() - 2 * K(x, y).mean() + (K(y, y).sum() - 6) / 30
    assert abs(m.mmd.sampled(x, y, x[::-1]) - hand) < 1e-12
    assert np.allclose(np.diag(K(x, x)), 1.0)
    with pytest.raises(ValueError, match="exact MMD"):
        QCBM(13, loss="mmd").fit(data)
