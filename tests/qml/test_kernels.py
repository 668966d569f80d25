"""Quantum kernels for dimensionality reduction: the precomputed Gram matrix (PSD, symmetric, unit diagonal,
equal to explicit overlaps of dense-reference states) in KernelPCA / SpectralEmbedding, and projected
quantum kernels (tensor network = state vector to 1e-10, = explicit partial traces)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

import dense_reference as ref  # noqa: E402
from pyqml.kernels import ProjectedQuantumKernel, QuantumKernelReducer, kernel_pca, spectral_embedding  # noqa: E402
from pyqml.sklearn import QuantumKernel  # noqa: E402
from sklearn.decomposition import KernelPCA  # noqa: E402


def _rows(n_rows=12, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n_rows, d))


def _angle_y_state(x):
    return ref.simulate(len(x), [(ref.gate_matrix("RY", [v]), [i]) for i, v in enumerate(x)])


def _brickwork_state(x, n, reps=2):
    gates = []
    d = len(x)
    for _ in range(reps):
        gates += [(ref.gate_matrix("RY", [x[i % d]]), [i]) for i in range(n)]
        for start in (0, 1):
            gates += [(ref.gate_matrix("CZ"), [i, i + 1]) for i in range(start, n - 1, 2)]
        gates += [(ref.gate_matrix("RZ", [x[i % d]]), [i]) for i in range(n)]
    return ref.simulate(n, gates)


def test_precomputed_kernel_is_psd_symmetric_unit_diagonal_and_explicit():
    X = _rows()
    k = QuantumKernel(feature_map="angle_y")
    K = k(X)
    assert np.allclose(K, K.T, atol=1e-14)
    assert np.allclose(np.diag(K), 1.0, atol=1e-12)
    assert np.linalg.eigvalsh(K).min() > -1e-10
    S = np.array([_angle_y_state(x) for x in X])
    assert np.max(np.abs(K - np.abs(S.conj() @ S.T) ** 2)) < 1e-10


def test_kernel_pca_matches_sklearn_on_the_gram_matrix():
    X = _rows(20)
    k = QuantumKernel(feature_map="iqp")
    red = kernel_pca(k, X, n_components=2)
    ref_kpca = KernelPCA(n_components=2, kernel="precomputed").fit(k(X))
    Z = ref_kpca.transform(k(X))
    assert red.embedding_.shape == (20, 2)
    # Components are defined up to sign.
    for j in range(2):
        assert min(np.max(np.abs(red.embedding_[:, j] - s * Z[:, j])) for s in (1, -1)) < 1e-8
    Xn = _rows(5, seed=3)
    assert red.transform(Xn).shape == (5, 2)
    assert np.allclose(red.transform(X[:3]), red.embedding_[:3], atol=1e-8)


def test_spectral_embedding_and_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = _rows(30)
    emb = spectral_embedding(ProjectedQuantumKernel(), X, n_components=2, random_state=0)
    assert emb.embedding_.shape == (30, 2) and np.all(np.isfinite(emb.embedding_))
    pipe = make_pipeline(StandardScaler(), QuantumKernelReducer(QuantumKernel("angle"), n_components=3))
    out = pipe.fit_transform(X)
    assert out.shape == (30, 3)
    assert pipe.transform(X[:4]).shape == (4, 3)


@pytest.mark.parametrize("n", [4, 9, 16])
def test_projected_kernel_tensor_network_equals_state_vector(n):
    X = _rows(6, d=5, seed=n)
    a = ProjectedQuantumKernel(n_qubits=n, method="statevector")
    b = ProjectedQuantumKernel(n_qubits=n, method="tensornet")
    assert np.max(np.abs(a.bloch_vectors(X) - b.bloch_vectors(X))) < 1e-10
    assert np.max(np.abs(a(X) - b(X))) < 1e-10


def test_projected_kernel_equals_explicit_partial_traces():
    n, X = 4, _rows(5, d=3, seed=9)
    k = ProjectedQuantumKernel(n_qubits=n, gamma=0.7)
    rhos = []
    for x in X:
        psi = _brickwork_state(x, n).reshape([2] * n)
        rows = []
        for q in range(n):
            m = np.moveaxis(psi, q, 0).reshape(2, -1)
            rows.append(m @ m.conj().T)
        rhos.append(rows)
    rhos = np.array(rhos)
    assert np.max(np.abs(k.reduced_density_matrices(X) - rhos)) < 1e-10
    d2 = np.array([[sum(np.sum(np.abs(rhos[i, q] - rhos[j, q]) ** 2) for q in range(n)) for j in range(5)]
                   for i in range(5)])
    K = k(X)
    assert np.max(np.abs(K - np.exp(-0.7 * d2))) < 1e-10
    assert np.allclose(K, K.T) and np.linalg.eigvalsh(K).min() > -1e-10


def test_projected_kernel_at_fifty_qubits():
    X = _rows(8, d=10, seed=4)
    K = ProjectedQuantumKernel(n_qubits=50, method="tensornet")(X)
    assert K.shape == (8, 8) and np.allclose(np.diag(K), 1.0) and np.linalg.eigvalsh(K).min() > -1e-10
    cross = ProjectedQuantumKernel(n_qubits=50, method="tensornet")(X[:3], X)
    assert np.allclose(cross, K[:3], atol=1e-12)


def test_bad_input():
    X = _rows()
    with pytest.raises(ValueError, match="same width"):
        ProjectedQuantumKernel()(X, X[:, :3])
    with pytest.raises(ValueError, match="features but Y"):
        QuantumKernel()(X, X[:, :3])
    with pytest.raises(ValueError, match="2-dimensional"):
        ProjectedQuantumKernel()(X[0])
    with pytest.raises(ValueError, match="NaN"):
        ProjectedQuantumKernel()(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="gamma"):
        ProjectedQuantumKernel(gamma=-1.0)(X)
    with pytest.raises(ValueError, match="reducer"):
        QuantumKernelReducer(QuantumKernel(), reducer="tsne").fit(X)
    red = kernel_pca(QuantumKernel("angle"), X)
    with pytest.raises(ValueError, match="features"):
        red.transform(X[:, :2])
    with pytest.raises(ValueError, match="out-of-sample"):
        spectral_embedding(QuantumKernel("angle"), X).transform(X)


def test_estimators_with_shots():
    from pyqml.sklearn import QNNClassifier

    X = _rows(40, d=2, seed=1)
    y = (X[:, 0] > 0).astype(int)
    clf = QNNClassifier(n_layers=1, epochs=15, stepsize=0.2, random_state=0, shots=200).fit(X, y)
    assert clf.score(X, y) > 0.7
    exact = QNNClassifier(n_layers=1, epochs=15, stepsize=0.2, random_state=0).fit(X, y)
    assert not np.allclose(clf.model_.net.params[0], exact.model_.net.params[0])
    K = QuantumKernel("angle_y")(X[:6])
    draws = np.array([QuantumKernel("angle_y", shots=400, random_state=s)(X[:6]) for s in range(60)])
    assert np.allclose(draws[0], draws[0].T) and np.allclose(np.diag(draws[0]), 1.0)
    se = np.sqrt(np.clip(K * (1 - K), 0, None) / 400 / 60) + 1e-12
    assert np.all(np.abs(draws.mean(axis=0) - K) < 4 * se + 1e-9)
    with pytest.raises(ValueError, match="shots"):
        QuantumKernel(shots=0)(X)
    with pytest.raises(ValueError, match="shots"):
        QNNClassifier(shots=2.5).fit(X, y)
