"""scikit-learn estimators: the kernel against an analytic Gram matrix and per-row states, the estimators in
Pipeline / GridSearchCV / cross_val_score, reproducibility, and bad input."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
from pyqml.datasets import load_iris
from pyqml.sklearn import QNNClassifier, QNNRegressor, QuantumKernel
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import pyqml as pq


def test_angle_kernel_is_analytic():
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(-2, 2, (5, 3)), rng.uniform(-2, 2, (4, 3))
    K = QuantumKernel("angle")(X, Y)
    # product state of RX(x_i)|0>: |<phi(x)|phi(y)>|^2 = prod_i cos^2((x_i - y_i) / 2)
    ref = np.prod(np.cos((X[:, None, :] - Y[None, :, :]) / 2) ** 2, axis=2)
    np.testing.assert_allclose(K, ref, atol=1e-12)


def test_zz_kernel_matches_row_by_row_states():
    X = np.random.default_rng(1).uniform(-1, 1, (4, 3))
    k = QuantumKernel("zz", reps=2)
    K = k(X)
    states = []
    for row in X:
        c = pq.Circuit(3)
        with c:
            pq.ZZFeatureMap(row, wires=range(3), reps=2)
        states.append(pq.state(c))
    S = np.array(states)
    np.testing.assert_allclose(K, np.abs(S.conj() @ S.T) ** 2, atol=1e-12)
    np.testing.assert_allclose(np.diag(K), 1.0, atol=1e-12)


def iris_subset(n_per_class=15, classes=(0, 1, 2)):
    X, y = load_iris()
    idx = np.concatenate([np.nonzero(y == c)[0][:n_per_class] for c in classes])
    return X[idx], y[idx]


def test_kernel_svc_in_pipeline_gridsearch_cross_val():
    X, y = iris_subset(10)
    pipe = make_pipeline(StandardScaler(), SVC(kernel=QuantumKernel("angle")))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.8
    grid = GridSearchCV(make_pipeline(StandardScaler(), SVC()),
                        {"svc__kernel": [QuantumKernel("angle"), QuantumKernel("zz", reps=1)], "svc__C": [1.0, 10.0]},
                        cv=2)
    grid.fit(X, y)
    assert grid.best_score_ > 0.7


def test_qnn_classifier_fit_predict_score_reproducible():
    X, y = iris_subset(20)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    pipe = make_pipeline(StandardScaler(), QNNClassifier(n_layers=2, epochs=40, random_state=0))
    pipe.fit(X, labels)
    assert pipe.score(X, labels) >= 0.9
    proba = pipe.predict_proba(X)
    assert proba.shape == (60, 3) and np.allclose(proba.sum(axis=1), 1)
    assert set(pipe.predict(X)) <= set(labels)
    again = make_pipeline(StandardScaler(), QNNClassifier(n_layers=2, epochs=40, random_state=0)).fit(X, labels)
    np.testing.assert_array_equal(again.predict_proba(X), proba)


def test_qnn_classifier_cross_val_and_grid_search():
    X, y = iris_subset(12, classes=(0, 1))
    X = StandardScaler().fit_transform(X)
    scores = cross_val_score(QNNClassifier(n_layers=1, epochs=60, random_state=1), X, y, cv=3)
    assert scores.mean() >= 0.8
    grid = GridSearchCV(QNNClassifier(epochs=15, random_state=0),
                        {"n_layers": [1, 2], "ansatz": ["strongly_entangling", "basic_entangler"]}, cv=2)
    grid.fit(X, y)
    assert grid.best_params_["n_layers"] in (1, 2)


def test_qnn_regressor():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (40, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    reg = QNNRegressor(n_layers=2, embedding="angle_y", epochs=150, stepsize=0.05, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.9
    assert reg.predict(X[:3]).shape == (3,)


def test_bad_input():
    X, y = iris_subset(5)
    clf = QNNClassifier(epochs=2, random_state=0)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    Xs = StandardScaler().fit_transform(X)
    clf.fit(Xs, y)
    with pytest.raises(ValueError, match="not seen during fit"):
        clf.score(Xs, np.where(y == 2, 7, y))
    with pytest.raises(ValueError, match="fitted with 4"):
        clf.predict(Xs[:, :3])
    bad = Xs.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(bad)
    with pytest.raises(ValueError, match="NaN"):
        QNNClassifier(epochs=1).fit(bad, y)
    with pytest.raises(ValueError, match="two classes"):
        QNNClassifier(epochs=1).fit(Xs, np.zeros(len(y)))
    with pytest.raises(ValueError, match="embedding"):
        QNNClassifier(embedding="fourier", epochs=1).fit(Xs, y)
    with pytest.raises(ValueError, match="NaN"):
        QNNRegressor(epochs=1).fit(Xs, np.where(np.arange(len(y)) == 0, np.nan, 1.0))
    with pytest.raises(ValueError, match="feature_map"):
        QuantumKernel("pauli")(Xs)
    with pytest.raises(ValueError, match="features but Y"):
        QuantumKernel("angle")(Xs, Xs[:, :2])
