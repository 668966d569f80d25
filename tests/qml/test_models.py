"""Hybrid models: every layer's backward and the whole model's gradient against finite differences, losses
against their formulas, training, the demo entry point, and bad input."""
import numpy as np
import pytest
from pyqml.datasets import load_iris, train_test_split
from pyqml.models import (
    Activation,
    CrossEntropyLoss,
    Dense,
    HybridModel,
    MSELoss,
    QuantumLayer,
    softmax,
)

import pyqml as pq
from pyqml.__main__ import build_iris_model, iris_split, main


def small_qnode():
    @pq.qnode(wires=3)
    def f(inputs, weights, extra):
        pq.AngleEmbedding(inputs, wires=range(3), rotation="Y")
        pq.StronglyEntanglingLayers(weights, wires=range(3))
        pq.RX(extra[0], wires=1)
        return [pq.expval(pq.Z(0)), pq.expval(pq.X(1) @ pq.Z(2))]
    return f


def fd_model_grads(model, X, y, h=1e-6):
    out = []
    for p in model.params:
        g = np.zeros_like(p)
        for i in range(p.size):
            old = p.flat[i]
            p.flat[i] = old + h
            lp, _ = model.loss(model.forward(X), y)
            p.flat[i] = old - h
            lm, _ = model.loss(model.forward(X), y)
            p.flat[i] = old
            g.flat[i] = (lp - lm) / (2 * h)
        out.append(g)
    return out


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_model_gradient_matches_finite_differences(loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 3))
    qlayer = QuantumLayer(small_qnode(), {"weights": (2, 3, 3), "extra": (1,)}, rng=1)
    layers = [Dense(3, 3, rng=2), Activation("tanh"), qlayer, Dense(2, 4, rng=3), Activation("sigmoid")]
    if loss == "cross_entropy":
        y = rng.integers(0, 4, 7)
    else:
        layers.append(Dense(4, 1, rng=4))
        y = rng.normal(size=7)
    model = HybridModel(layers, loss=loss)
    _, grads = model.value_and_grad(X, y)
    for g, ref in zip(grads, fd_model_grads(model, X, y)):
        np.testing.assert_allclose(g, ref, atol=1e-8)


def test_train_step_follows_the_optimiser():
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)
    for opt_cls in (pq.GradientDescentOptimizer, pq.NesterovMomentumOptimizer):
        model = HybridModel([Dense(3, 2, rng=0)])
        params = [p.copy() for p in model.params]
        opt, ref = opt_cls(0.1), opt_cls(0.1)

        def loss_of(W, b, loss=model.loss):
            return loss(X @ W + b, y)[0]

        def grad_of(W, b, loss=model.loss):
            _, d = loss(X @ W + b, y)
            return X.T @ d, d.sum(axis=0)

        for _ in range(3):
            model.train_step(X, y, opt)
            params = list(ref.step(loss_of, *params, grad_fn=grad_of))
            for p, q in zip(model.params, params):
                np.testing.assert_allclose(p, q, atol=1e-14)


def test_activations_backward():
    x = np.array([[-1.5, 0.3, 2.0]])
    for kind in Activation.KINDS:
        act = Activation(kind)
        y = act.forward(x, train=True)
        d = act.backward(np.ones_like(x))
        h = 1e-6
        np.testing.assert_allclose(d, (act.forward(x + h) - act.forward(x - h)) / (2 * h), atol=1e-8)
        assert y.shape == x.shape


def test_losses_formulas():
    z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    y = np.array([1, 2])
    loss, d = CrossEntropyLoss()(z, y)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert abs(loss - (-np.log(p[0, 1]) - np.log(p[1, 2])) / 2) < 1e-14
    np.testing.assert_allclose(d, (p - np.eye(3)[y]) / 2, atol=1e-15)
    np.testing.assert_allclose(softmax(z), p, atol=1e-15)
    loss, d = MSELoss()(np.array([[1.0], [2.0]]), np.array([0.0, 4.0]))
    assert loss == 2.5
    np.testing.assert_allclose(d, [[1.0], [-2.0]])


def test_iris_hybrid_model_trains():
    Xtr, Xte, ytr, yte = iris_split(seed=0)
    model = build_iris_model(2, seed=0)
    hist = model.fit(Xtr, ytr, epochs=60, optimizer=pq.AdamOptimizer(0.1))
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    assert model.accuracy(Xte, yte) >= 0.9
    probs = model.predict_proba(Xte)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    # minibatches with a seeded shuffle give the same result twice
    m1, m2 = build_iris_model(1, seed=3), build_iris_model(1, seed=3)
    h1 = m1.fit(Xtr, ytr, epochs=3, batch_size=32, rng=5)
    h2 = m2.fit(Xtr, ytr, epochs=3, batch_size=32, rng=5)
    assert h1["loss"] == h2["loss"]


def test_iris_data_shipped():
    X, y = load_iris()
    assert X.shape == (150, 4) and np.bincount(y).tolist() == [50, 50, 50]
    assert abs(X[:, 2].mean() - 3.758) < 1e-3  # petal length mean of Fisher's data
    _, _, ytr, yte = train_test_split(X, y, 0.2, seed=1)
    assert np.bincount(yte).tolist() == [10, 10, 10] and len(ytr) == 120


def test_demo_main_runs(tmp_path, capsys):
    png = tmp_path / "curve.png"
    assert main(["demo", "--epochs", "5", "--no-peers", "--no-progress", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "time per epoch" in out
    try:
        import matplotlib  # noqa: F401
        assert png.exists() and png.stat().st_size > 1000
    except ImportError:
        assert "matplotlib not installed" in out


def test_bad_input():
    f = small_qnode()
    with pytest.raises(ValueError, match="do not match"):
        QuantumLayer(f, {"weights": (2, 3, 3)})
    with pytest.raises(TypeError, match="pq.qnode"):
        QuantumLayer(lambda x: x, {})
    with pytest.raises(ValueError, match="activation"):
        Activation("softsign")
    model = HybridModel([Dense(4, 3, rng=0)])
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.full((3, 4), np.nan), np.zeros(3, dtype=int), epochs=1)
    with pytest.raises(ValueError, match="one label per row"):
        model.fit(np.zeros((3, 4)), np.zeros(2, dtype=int), epochs=1)
    with pytest.raises(ValueError, match="expects 4 features"):
        model.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="epochs"):
        model.fit(np.zeros((3, 4)), np.zeros(3, dtype=int), epochs=0)
    with pytest.raises(TypeError, match="SPSAOptimizer"):
        model.fit(np.zeros((3, 4)), np.zeros(3, dtype=int), epochs=1, optimizer=pq.SPSAOptimizer(maxiter=5))
    with pytest.raises(ValueError, match="loss"):
        HybridModel([Dense(4, 3)], loss="hinge")
