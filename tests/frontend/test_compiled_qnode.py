"""The compiled qnode call (``QNode.compile``): what hybrid models, optimisers and the torch / JAX bridges run,
with no module reaching into another's private members."""
import ast
import pathlib

import numpy as np
import pytest

import pyqml as pq
from pyqml.frontend.qnode import CompiledQNode

PKG = pathlib.Path(pq.__file__).parent


def make_qnode(n=3):
    @pq.qnode(wires=n)
    def f(inputs, weights, bias):
        pq.AngleEmbedding(inputs, wires=range(n))
        pq.StronglyEntanglingLayers(weights, wires=range(n))
        pq.RY(bias[0], wires=0)
        return [pq.expval(pq.Z(i)) for i in range(n)]
    return f


def test_compiled_call_matches_the_qnode():
    f = make_qnode()
    rng = np.random.default_rng(1)
    X, W, b = rng.normal(size=(4, 3)), rng.uniform(0, 6, (2, 3, 3)), rng.uniform(0, 6, 1)
    cq = f.compile({"weights": (2, 3, 3), "bias": (1,)}, n_inputs=3)
    assert cq is f.compile([(2, 3, 3), (1,)], 3)  # cached
    w = cq.pack([W, b])
    assert w.shape == (cq.n_weights,) == (2 * 3 * 3 + 1,)
    np.testing.assert_allclose(cq.expval(w, X), f(X, W, b), atol=1e-15)
    vals, dw, dx = cq.jacobian(w, X)
    v2, (dW, db), dx2 = f.jacobian(X, W, b)
    np.testing.assert_allclose(vals, v2, atol=1e-15)
    uW, ub = cq.unpack(dw)
    np.testing.assert_allclose(uW, dW, atol=1e-15)
    np.testing.assert_allclose(ub, db, atol=1e-15)
    np.testing.assert_allclose(dx, dx2, atol=1e-15)
    cot = rng.normal(size=(4, 3))
    _, gw, gx = cq.vjp(w, X, cot)
    np.testing.assert_allclose(gw, np.einsum("ro,row->w", cot, dw), atol=1e-12)
    np.testing.assert_allclose(gx, np.einsum("ro,rox->rx", cot, dx), atol=1e-12)
    assert cq.output_shape(4) == (4, 3) and cq.output_shape(None) == (3,)
    with pytest.raises(ValueError, match="weights has shape"):
        cq.pack([np.zeros((1, 3, 3)), b])
    with pytest.raises(ValueError, match="do not match"):
        f.compile({"weights": (2, 3, 3)}, 3)
    assert f.weight_names == ["weights", "bias"] and f.takes_inputs
    assert f.bind_trainable((W,), {"inputs": X}) == {"inputs": X, "weights": W}


def _private_accesses(path: pathlib.Path) -> list[str]:
    """``obj._name`` where obj is not self/cls/ctx/type(self) (a module's own privates are fine)."""
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls", "ctx", "_core", "oe"):
                continue
            out.append(f"{path.relative_to(PKG)}:{node.lineno}: .{node.attr}")
    return out


@pytest.mark.parametrize("folder", ["qml", "interfaces"])
def test_no_private_access_across_modules(folder):
    found = [a for p in sorted((PKG / folder).rglob("*.py")) for a in _private_accesses(p)]
    assert found == []


def test_models_and_optimizers_run_through_the_compiled_call(monkeypatch):
    calls = {"expval": 0, "forward": 0, "vjp": 0, "jacobian": 0}
    for name in calls:
        orig = getattr(CompiledQNode, name)

        def counted(self, *a, _orig=orig, _name=name, **k):
            calls[_name] += 1
            return _orig(self, *a, **k)

        monkeypatch.setattr(CompiledQNode, name, counted)
    f = make_qnode()
    layer = pq.models.QuantumLayer(f, {"weights": (2, 3, 3), "bias": 1}, rng=0)
    model = pq.models.HybridModel([layer, pq.models.Dense(3, 2, rng=0)])
    X = np.random.default_rng(0).normal(size=(6, 3))
    y = np.array([0, 1, 0, 1, 1, 0])
    model.fused_step = False  # the layer-by-layer step (the fused one runs the engine in one call)
    model.fit(X, y, epochs=2, optimizer=pq.AdamOptimizer(0.1))
    # Training forwards keep their states for the VJP (CompiledQNode.forward, then vjp(..., saved=)).
    assert calls["forward"] == 2 and calls["vjp"] == 2
    model.fused_step = True
    model.fit(X, y, epochs=2, optimizer=pq.AdamOptimizer(0.1))  # the first step makes Adam's state
    assert calls["forward"] == 3 and calls["vjp"] == 3

    @pq.qnode(wires=1)
    def g(w):
        pq.RX(w[0], wires=0)
        return pq.expval(pq.Z(0))

    pq.GradientDescentOptimizer(0.1).step(g, np.array([0.3]))
    assert calls["jacobian"] == 1


def test_torch_layer_runs_through_the_compiled_call(monkeypatch):
    torch = pytest.importorskip("torch")
    from pyqml.interfaces.torch import TorchLayer

    calls = {"expval": 0, "vjp": 0}
    for name in calls:
        orig = getattr(CompiledQNode, name)

        def counted(self, *a, _orig=orig, _name=name, **k):
            calls[_name] += 1
            return _orig(self, *a, **k)

        monkeypatch.setattr(CompiledQNode, name, counted)
    layer = TorchLayer(make_qnode(), {"weights": (2, 3, 3), "bias": 1})
    out = layer(torch.zeros((4, 3), dtype=torch.float64))
    out.sum().backward()
    assert calls == {"expval": 1, "vjp": 1}


def test_jax_runs_the_circuit_once_per_eager_call(monkeypatch):
    pytest.importorskip("jax")
    import jax

    jax.config.update("jax_enable_x64", True)
    from pyqml.interfaces.jax import to_jax

    calls = {"expval": 0}
    orig = CompiledQNode.expval

    def counted(self, *a, **k):
        calls["expval"] += 1
        return orig(self, *a, **k)

    f = make_qnode()
    g = to_jax(f)
    rng = np.random.default_rng(2)
    X, W, b = rng.normal(size=(4, 3)), rng.uniform(0, 6, (2, 3, 3)), rng.uniform(0, 6, 1)
    want, want1 = f(X, W, b), f(X[0], W, b)
    monkeypatch.setattr(CompiledQNode, "expval", counted)
    out = g(X, W, b)
    assert calls["expval"] == 1
    out1 = g(X[0], W, b)
    assert calls["expval"] == 2
    np.testing.assert_allclose(np.asarray(out), want, atol=1e-14)
    np.testing.assert_allclose(np.asarray(out1), want1, atol=1e-14)
