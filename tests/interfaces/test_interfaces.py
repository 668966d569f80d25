"""PyTorch and JAX interfaces: gradients against the qnode's own Jacobian (itself checked against finite
differences and PennyLane elsewhere), torch's gradcheck, jit, and a short training run. Skipped cleanly when
the framework is not installed."""
import numpy as np
import pytest

import pyqml as pq


def make_qnode():
    @pq.qnode(wires=3)
    def f(inputs, weights, bias):
        pq.AngleEmbedding(inputs, wires=range(3))
        pq.StronglyEntanglingLayers(weights, wires=range(3))
        pq.RY(bias[0], wires=0)
        return [pq.expval(pq.Z(i)) for i in range(3)]
    return f


def reference(f, X, W, b, cot):
    _, (dW, db), dX = f.jacobian(X, W, b)
    return (np.einsum("ro,rod->rd", cot, dX), np.einsum("ro,ro...->...", cot, dW),
            np.einsum("ro,ro...->...", cot, db))


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 3)), rng.uniform(0, 6, (2, 3, 3)), rng.uniform(0, 6, 1), rng.normal(size=(5, 3))


def test_torch_layer_gradients():
    torch = pytest.importorskip("torch")
    from pyqml.interfaces.torch import TorchLayer, execute

    f = make_qnode()
    X, W, b, cot = data()
    x = torch.tensor(X, requires_grad=True)
    w = torch.tensor(W, requires_grad=True)
    bb = torch.tensor(b, requires_grad=True)
    out = execute(f, x, weights=w, bias=bb)
    np.testing.assert_allclose(out.detach().numpy(), f(X, W, b), atol=1e-14)
    out.backward(torch.tensor(cot))
    rx, rw, rb = reference(f, X, W, b, cot)
    np.testing.assert_allclose(x.grad.numpy(), rx, atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), rw, atol=1e-12)
    np.testing.assert_allclose(bb.grad.numpy(), rb, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x_, w_: execute(f, x_, weights=w_, bias=bb.detach()),
                                    (x[:2].detach().requires_grad_(), w.detach().requires_grad_()))

    layer = TorchLayer(f, {"weights": (2, 3, 3), "bias": 1})
    assert sorted(n for n, _ in layer.named_parameters()) == ["bias", "weights"]
    torch.manual_seed(0)
    model = torch.nn.Sequential(layer, torch.nn.Linear(3, 1, dtype=torch.float64))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    target = torch.tensor(np.sin(X.sum(axis=1, keepdims=True)))
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(torch.tensor(X)) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with pytest.raises(ValueError, match="do not match"):
        TorchLayer(f, {"weights": (2, 3, 3)})


def test_jax_function_gradients():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from pyqml.interfaces.jax import to_jax

    f = make_qnode()
    g = to_jax(f)
    X, W, b, cot = data()
    np.testing.assert_allclose(np.asarray(g(X, W, b)), f(X, W, b), atol=1e-14)

    def loss(x, w, bb):
        return jnp.sum(g(x, w, bb) * cot)

    gx, gw, gb = jax.grad(loss, argnums=(0, 1, 2))(jnp.asarray(X), jnp.asarray(W), jnp.asarray(b))
    rx, rw, rb = reference(f, X, W, b, cot)
    np.testing.assert_allclose(np.asarray(gx), rx, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gw), rw, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gb), rb, atol=1e-12)
    gj = jax.jit(jax.grad(loss, argnums=1))(jnp.asarray(X), jnp.asarray(W), jnp.asarray(b))
    np.testing.assert_allclose(np.asarray(gj), rw, atol=1e-12)
