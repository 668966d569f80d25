"""The hybrid model's training head (the trailing Dense / Activation layers and the loss in one engine call,
cpp/src/training/head.cpp) against a reference written out here: the circuit by the dense numpy simulation
with parameter-shift gradients, the head's forward pass, loss and backward pass by hand, each optimiser's
update rule; layouts that keep the layers' own calls; the demo model against the layer-by-layer path; the
head's bad input."""
import copy

import dense_reference as ref
import numpy as np
import pytest
from libm_probe import numpy_exp_log_are_libm
from pyqml.models import Activation, CrossEntropyLoss, Dense, HybridModel, MSELoss, QuantumLayer

import pyqml as pq
from pyqml import _core
from pyqml.__main__ import build_iris_model, iris_split


def make_qnode():
    @pq.qnode(wires=2)
    def f(inputs, weights):
        pq.RY(inputs[0], wires=0)
        pq.RX(inputs[1], wires=1)
        pq.Rot(weights[0, 0], weights[0, 1], weights[0, 2], wires=0)
        pq.CNOT(wires=[0, 1])
        pq.RY(weights[1, 0], wires=1)
        pq.RZ(weights[1, 1], wires=0)
        pq.RX(weights[1, 2], wires=1)
        return [pq.expval(pq.Z(0)), pq.expval(pq.Z(1)), pq.expval(pq.X(0) @ pq.X(1))]
    return f


OBS = [[(1.0, {0: "Z"})], [(1.0, {1: "Z"})], [(1.0, {0: "X", 1: "X"})]]


def ref_values(x, W):
    gates = [(ref.ry(x[0]), [0]), (ref.rx(x[1]), [1]), (ref.rot(*W[0]), [0]), (ref.controlled(ref.X), [0, 1]),
             (ref.ry(W[1, 0]), [1]), (ref.rz(W[1, 1]), [0]), (ref.rx(W[1, 2]), [1])]
    psi = ref.simulate(2, gates)
    return np.array([ref.expval_var(t, psi, 2)[0] for t in OBS])


def ref_quantum(X, W):
    """values (rows, 3) and their Jacobian (rows, 3, 6) by the two-term shift rule (every weight feeds one
    Pauli rotation)."""
    vals = np.array([ref_values(x, W) for x in X])
    jac = np.zeros((len(X), 3, W.size))
    for k in range(W.size):
        for sign in (1.0, -1.0):
            Ws = W.copy()
            Ws.flat[k] += sign * np.pi / 2
            jac[:, :, k] += sign * 0.5 * np.array([ref_values(x, Ws) for x in X])
    return vals, jac


ACT = {"relu": (lambda z: np.where(z > 0, z, 0.0), lambda z, a: (z > 0).astype(float)),
       "tanh": (np.tanh, lambda z, a: 1 - a ** 2),
       "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
       "identity": (lambda z: z, lambda z, a: np.ones_like(z))}


def ref_head(q, y, layout, params, loss):
    """Forward through ``layout`` ("dense" takes the next (W, b) of ``params``), the loss and the hand-derived
    backward pass: (loss, [dW, db, ...], d loss / d q)."""
    a, cache, it = q, [], iter(params)
    for kind in layout:
        if kind == "dense":
            W, b = next(it), next(it)
            cache.append((kind, a, W))
            a = a @ W + b
        else:
            z = a
            a = ACT[kind][0](z)
            cache.append((kind, z, a))
    n = len(y)
    if loss == "cross_entropy":
        e = np.exp(a - a.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        value = -np.mean(np.log(p[np.arange(n), y]))
        d = (p - np.eye(a.shape[1])[y]) / n
    else:
        t = np.reshape(y, a.shape)
        value = np.mean((a - t) ** 2)
        d = 2 * (a - t) / a.size
    grads = []
    for kind, u, v in reversed(cache):
        if kind == "dense":
            grads[:0] = [u.T @ d, d.sum(axis=0)]
            d = d @ v.T
        else:
            d = d * ACT[kind][1](u, v)
    return value, grads, d


def ref_loss_and_grads(X, y, layout, params, loss, quantum=True):
    if not quantum:
        value, grads, _ = ref_head(X, y, layout, params, loss)
        return value, grads
    Wq, head = params[0], params[1:]
    q, jac = ref_quantum(X, Wq)
    value, grads, dq = ref_head(q, y, layout, head, loss)
    return value, [np.einsum("ro,rok->k", dq, jac).reshape(Wq.shape)] + grads


class RefOptimizer:
    """Each optimiser's update rule on lists of arrays (PennyLane's conventions)."""

    def __init__(self, kind, s):
        self.kind, self.s, self.t, self.acc, self.fm, self.sm = kind, s, 0, None, None, None

    def look_ahead(self, params):
        if self.kind != "Nesterov" or self.acc is None:
            return params
        return [p - 0.9 * a for p, a in zip(params, self.acc)]

    def step(self, params, grads):
        if self.acc is None:
            self.acc = [np.zeros_like(p) for p in params]
            self.fm = [np.zeros_like(p) for p in params]
            self.sm = [np.zeros_like(p) for p in params]
        self.t += 1
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            if self.kind == "GradientDescent":
                out.append(p - self.s * g)
            elif self.kind in ("Momentum", "Nesterov"):
                self.acc[i] = 0.9 * self.acc[i] + self.s * g
                out.append(p - self.acc[i])
            elif self.kind == "Adagrad":
                self.acc[i] = self.acc[i] + g ** 2
                out.append(p - self.s * g / np.sqrt(self.acc[i] + 1e-8))
            elif self.kind == "RMSProp":
                self.acc[i] = 0.9 * self.acc[i] + 0.1 * g ** 2
                out.append(p - self.s * g / np.sqrt(self.acc[i] + 1e-8))
            else:
                self.fm[i] = 0.9 * self.fm[i] + 0.1 * g
                self.sm[i] = 0.99 * self.sm[i] + 0.01 * g ** 2
                lr = self.s * np.sqrt(1 - 0.99 ** self.t) / (1 - 0.9 ** self.t)
                out.append(p - lr * self.fm[i] / (np.sqrt(self.sm[i]) + 1e-8))
        return out


KINDS = ["GradientDescent", "Momentum", "Nesterov", "Adagrad", "RMSProp", "Adam"]


def optimizer(kind, s):
    return getattr(pq, f"{'NesterovMomentum' if kind == 'Nesterov' else kind}Optimizer")(s)


def build(layout, widths, quantum=True, n_in=2, seed=3):
    """A model of [QuantumLayer (3 outputs)] + layout; widths: each dense layer's n_out."""
    layers = [QuantumLayer(make_qnode(), {"weights": (2, 3)}, rng=seed)] if quantum else []
    width, it = (3 if quantum else n_in), iter(widths)
    for i, kind in enumerate(layout):
        if kind == "dense":
            out = next(it)
            layers.append(Dense(width, out, rng=seed + i))
            width = out
        else:
            layers.append(Activation(kind))
    return layers


def data(rows=7, n_in=2, seed=5):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.5, 1.5, (rows, n_in))


def targets(loss, rows, width, seed=6):
    rng = np.random.default_rng(seed)
    if loss == "cross_entropy":
        return np.resize(np.arange(width), rows)[rng.permutation(rows)]
    return rng.normal(size=(rows, width))


def assert_trains_like_reference(model, X, y, layout, loss, kind, steps=4, quantum=True):
    opt, ref_opt = optimizer(kind, 0.1), RefOptimizer(kind, 0.1)
    params = [p.copy() for p in model.params]
    for _ in range(steps):
        value, grads = ref_loss_and_grads(X, y, layout, ref_opt.look_ahead(params), loss, quantum)
        params = ref_opt.step(params, grads)
        assert abs(model.train_step(X, y, opt) - value) < 1e-10
        for p, q in zip(model.params, params):
            np.testing.assert_allclose(p, q, atol=1e-10, rtol=0)


HEADS = [(["dense"], [3]),
         (["dense", "tanh", "dense"], [4, 3]),
         (["relu", "dense", "sigmoid", "dense", "identity"], [5, 4]),
         (["tanh"], [])]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_fused_head_trains_like_the_reference(kind, loss):
    """Every optimiser and loss: a hybrid model for Adam and Nesterov (the head's input cotangent into the
    quantum layer's VJP), a classical one (the head is the whole model) for the others."""
    layout, widths = HEADS[KINDS.index(kind) % len(HEADS)]
    quantum = kind in ("Adam", "Nesterov")
    X = data(5) if quantum else data(7)
    width = widths[-1] if widths else (3 if quantum else 2)
    y = targets(loss, len(X), width)
    model = HybridModel(build(layout, widths, quantum=quantum), loss=loss)
    assert_trains_like_reference(model, X, y, layout, loss, kind, steps=3 if quantum else 4, quantum=quantum)
    assert model._vg[5] is not None and model._plan is not None  # the step took the head's plan


@pytest.mark.parametrize("layout,widths", HEADS)
def test_value_and_grad_of_every_layout(layout, widths):
    X = data(6)
    width = widths[-1] if widths else 3
    for loss in ("cross_entropy", "mse"):
        y = targets(loss, len(X), width, seed=len(layout))
        model = HybridModel(build(layout, widths, seed=7), loss=loss)
        value, grads = model.value_and_grad(X, y)
        ref_value, ref_grads = ref_loss_and_grads(X, y, layout, [p.copy() for p in model.params], loss)
        assert abs(value - ref_value) < 1e-10
        for g, r in zip(grads, ref_grads):
            np.testing.assert_allclose(g, r, atol=1e-10, rtol=0)


def test_classical_model_gradient_matches_finite_differences():
    X = data(8, n_in=3)
    layout, widths = ["dense", "sigmoid", "dense", "relu", "dense"], [5, 4, 2]
    for loss in ("cross_entropy", "mse"):
        y = targets(loss, len(X), 2)
        model = HybridModel(build(layout, widths, quantum=False, n_in=3), loss=loss)
        _, grads = model.value_and_grad(X, y)
        h = 1e-6
        for p, g in zip(model.params, grads):
            for i in range(p.size):
                old = p.flat[i]
                p.flat[i] = old + h
                lp = model.loss(model.forward(X), y)[0]
                p.flat[i] = old - h
                lm = model.loss(model.forward(X), y)[0]
                p.flat[i] = old
                assert abs(g.flat[i] - (lp - lm) / (2 * h)) < 1e-7
        assert_trains_like_reference(model, X, y, layout, loss, "Adam", steps=3, quantum=False)


class HalvedTanh(Activation):
    """An activation whose own forward / backward the head must not replace."""

    def forward(self, x, train=False):
        return 0.5 * super().forward(x, train)

    def backward(self, dy):
        return super().backward(0.5 * dy)


def test_layouts_that_keep_the_layers_calls_train_correctly():
    X = data(5)
    y = targets("cross_entropy", len(X), 3)
    # a user's loss (the layers' training calls, the loss in Python)
    model = HybridModel(build(["dense", "tanh", "dense"], [4, 3]), loss=lambda z, t: CrossEntropyLoss()(z, t))
    assert_trains_like_reference(model, X, y, ["dense", "tanh", "dense"], "cross_entropy", "Adam", steps=2)
    # a subclassed loss
    model = HybridModel(build(["dense"], [3]), loss=type("CE", (CrossEntropyLoss,), {})())
    assert_trains_like_reference(model, X, y, ["dense"], "cross_entropy", "Nesterov", steps=2)
    # a subclassed activation in the middle: the head is the dense layer after it; the reference scales by hand
    layers = build(["dense", "tanh", "dense"], [4, 3])
    layers[2] = HalvedTanh("tanh")
    model = HybridModel(layers)
    opt = pq.MomentumOptimizer(0.1)
    ref_opt = RefOptimizer("Momentum", 0.1)
    params = [p.copy() for p in model.params]
    for _ in range(2):
        Wq, W1, b1, W2, b2 = params
        q, jac = ref_quantum(X, Wq)
        h = 0.5 * np.tanh(q @ W1 + b1)
        value, (gW2, gb2), dh = ref_head(h, y, ["dense"], [W2, b2], "cross_entropy")
        dz = dh * 0.5 * (1 - np.tanh(q @ W1 + b1) ** 2)
        dq = dz @ W1.T
        grads = [np.einsum("ro,rok->k", dq, jac).reshape(Wq.shape), q.T @ dz, dz.sum(axis=0), gW2, gb2]
        params = ref_opt.step(params, grads)
        assert abs(model.train_step(X, y, opt) - value) < 1e-10
        for p, r in zip(model.params, params):
            np.testing.assert_allclose(p, r, atol=1e-10, rtol=0)


def test_plan_follows_the_user():
    """Replaced parameters, a reassigned loss or activation kind, an optimiser reset between steps: each step
    trains what the model and the optimiser hold then."""
    X = data()
    y = targets("cross_entropy", len(X), 3)
    layout, widths = ["dense", "tanh", "dense"], [4, 3]
    model, twin = HybridModel(build(layout, widths)), HybridModel(build(layout, widths))
    opt, twin_opt = pq.AdamOptimizer(0.1), pq.AdamOptimizer(0.1)
    twin.loss = lambda z, t: CrossEntropyLoss()(z, t)  # the layer-by-layer path

    def both():
        a, b = model.train_step(X, y, opt), twin.train_step(X, y, twin_opt)
        assert abs(a - b) < 1e-12
        for p, q in zip(model.params, twin.params):
            np.testing.assert_allclose(p, q, atol=1e-12, rtol=0)

    both()
    for m in (model, twin):
        m.net.layers[1].W = np.full((3, 4), 0.3)
        m.net.layers[3].params[0] = np.full((4, 3), -0.2)  # a new array: copied into the vector
    both()
    for m in (model, twin):
        m.net.layers[2].kind = "sigmoid"
    both()
    opt.reset()
    twin_opt.reset()
    both()
    opt.fm[0] = np.zeros_like(opt.fm[0])
    twin_opt.fm[0] = np.zeros_like(twin_opt.fm[0])
    both()
    opt.stepsize = twin_opt.stepsize = 0.02
    both()
    model.loss = MSELoss()
    twin.loss = lambda z, t: MSELoss()(z, t)
    y = targets("mse", len(X), 3)
    both()
    # a callback that resets the optimiser mid-fit: fit re-checks its plan after each callback
    h1 = model.fit(X, y, epochs=4, optimizer=opt, callback=lambda e, v: opt.reset() if e == 1 else None)
    h2 = twin.fit(X, y, epochs=4, optimizer=twin_opt, callback=lambda e, v: twin_opt.reset() if e == 1 else None)
    np.testing.assert_allclose(h1["loss"], h2["loss"], atol=1e-12, rtol=0)
    assert opt.t == twin_opt.t == 2
    # copies (a classical model: a qnode's engine objects do not copy) train like the original
    model, opt = HybridModel(build(layout, widths, quantum=False)), pq.RMSPropOptimizer(0.1)
    y = targets("cross_entropy", len(X), 3)
    model.train_step(X, y, opt)
    clone, clone_opt = copy.deepcopy((model, opt))
    for _ in range(2):
        assert clone.train_step(X, y, clone_opt) == model.train_step(X, y, opt)


def test_demo_model_trains_as_the_layer_by_layer_path():
    Xtr, _, ytr, _ = iris_split(seed=0)
    fused, layered = build_iris_model(2, 0), build_iris_model(2, 0)
    layered.loss = lambda z, t: CrossEntropyLoss()(z, t)  # the previous path: the layers' calls, numpy loss
    # Where numpy's exp / log differ from the C library's in the last bit (its AVX-512 versions), 25 Adam
    # epochs at lr 0.1 carry those one-ulp differences in the loss's gradient up to ~1e-9 in the weights.
    tol = 1e-12 if numpy_exp_log_are_libm() else 1e-8
    h1 = fused.fit(Xtr, ytr, epochs=25, optimizer=pq.AdamOptimizer(0.1))
    h2 = layered.fit(Xtr, ytr, epochs=25, optimizer=pq.AdamOptimizer(0.1))
    np.testing.assert_allclose(h1["loss"], h2["loss"], atol=tol, rtol=0)
    for p, q in zip(fused.params, layered.params):
        np.testing.assert_allclose(p, q, atol=tol, rtol=0)
    h1 = fused.fit(Xtr, ytr, epochs=3, batch_size=32, rng=1, optimizer=pq.RMSPropOptimizer(0.05))
    h2 = layered.fit(Xtr, ytr, epochs=3, batch_size=32, rng=1, optimizer=pq.RMSPropOptimizer(0.05))
    np.testing.assert_allclose(h1["loss"], h2["loss"], atol=tol, rtol=0)


@pytest.mark.parametrize("n", [0, 1, 5, 7, 8, 9, 16, 17, 127, 128, 129, 150, 256, 300, 1001])
def test_pairwise_sum_is_numpys(n):
    a = np.random.default_rng(n).normal(size=n) * 10.0 ** np.random.default_rng(n + 1).integers(-8, 9, n)
    assert _core.pairwise_sum(a) == np.sum(a)


@pytest.mark.parametrize("classes", [1, 3, 8, 11])
def test_head_loss_against_numpy(classes):
    rng = np.random.default_rng(classes)
    z = rng.normal(size=(40, classes)) * 3
    y = rng.integers(-classes, classes, 40)
    flat, grads = np.zeros(0), np.zeros(0)
    head = _core.TrainingHead([], "cross_entropy", classes, flat, grads, True)
    value, d = head.run(z, y)
    ref_value, ref_d = CrossEntropyLoss()(z, y)
    assert abs(value - ref_value) < 1e-12
    np.testing.assert_allclose(d, ref_d, atol=1e-15, rtol=0)
    t = rng.normal(size=(40, classes))
    value, d = _core.TrainingHead([], "mse", classes, flat, grads, True).run(z, t)
    ref_value, ref_d = MSELoss()(z, t)
    assert abs(value - ref_value) < 1e-12
    np.testing.assert_allclose(d, ref_d, atol=1e-15, rtol=0)


def test_head_bad_input_is_named():
    flat, grads = np.zeros(15), np.zeros(15)
    dense = [("dense", 4, 3, 0, 12)]
    head = _core.TrainingHead(dense, "cross_entropy", 4, flat, grads, True)
    with pytest.raises(ValueError, match="Dense layer expects 4 features, got 5"):
        head.run(np.zeros((2, 5)), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) for 3 classes; row 1 has label 3"):
        head.run(np.zeros((2, 4)), np.array([0, 3]))
    with pytest.raises(ValueError, match="one contiguous int64 label per row"):
        head.run(np.zeros((2, 4)), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="6 contiguous float64 targets"):
        _core.TrainingHead(dense, "mse", 4, flat, grads, False).run(np.zeros((2, 4)), np.zeros(5))
    with pytest.raises(ValueError, match="outside the 15-entry parameter vector"):
        _core.TrainingHead([("dense", 4, 3, 4, 12)], "mse", 4, flat, grads, False)
    with pytest.raises(ValueError, match="Dense layer expects 3 features, got 4"):
        _core.TrainingHead([("dense", 3, 3, 0, 9)], "mse", 4, flat, grads, False)
    with pytest.raises(ValueError, match="'dense', 'relu', 'tanh', 'sigmoid' or 'identity'"):
        _core.TrainingHead([("softplus", 4, 4, 0, 0)], "mse", 4, flat, grads, False)
    with pytest.raises(ValueError, match="'cross_entropy' or 'mse'"):
        _core.TrainingHead(dense, "hinge", 4, flat, grads, False)
    ro = np.zeros(15)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="grads is read-only"):
        _core.TrainingHead(dense, "mse", 4, flat, ro, False)
    # through the model: a width that does not chain, labels, targets
    model = HybridModel([Dense(2, 3, rng=0), Dense(4, 3, rng=1)])
    with pytest.raises(ValueError, match="Dense layer expects 4 features, got 3"):
        model.train_step(data(), np.zeros(7, dtype=int), pq.AdamOptimizer(0.1))
    model = HybridModel(build(["dense"], [3]))
    with pytest.raises(TypeError, match="labels must be integers"):
        model.fit(data(), np.zeros(7), epochs=1)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        model.train_step(data(), np.full(7, 4), pq.AdamOptimizer(0.1))
    model = HybridModel(build(["dense"], [3]), loss="mse")
    with pytest.raises(ValueError, match="21 contiguous float64 targets"):
        model.train_step(data(), np.zeros(7), pq.AdamOptimizer(0.1))


@pytest.mark.parametrize("kind", KINDS)
def test_flat_stepper_is_update_flat_bit_for_bit(kind):
    rng = np.random.default_rng(KINDS.index(kind))
    shapes = ((2, 3), (4,))
    a, b = optimizer(kind, 0.05), optimizer(kind, 0.05)
    x = rng.normal(size=10)
    z = x.copy()
    g = np.empty(10)
    step, guard, look = a.flat_stepper(x, g, shapes)
    assert _core.identities_hold(tuple(guard))
    for i in range(4):
        g[...] = rng.normal(size=10)
        if look is not None:  # the look-ahead of both, then back
            x0, z0 = x.copy(), z.copy()
            assert look() == b.look_ahead_flat(z, shapes) == (i > 0)
            assert np.array_equal(x, z)
            x[...], z[...] = x0, z0
        step()
        b.update_flat(z, g, shapes)
        assert np.array_equal(x, z)
        if i == 0 and kind != "GradientDescent":  # the first step made the state: ask again
            assert not _core.identities_hold(tuple(guard))
            step, guard, look = a.flat_stepper(x, g, shapes)
        assert _core.identities_hold(tuple(guard))
    if kind != "GradientDescent":
        a.reset()
        assert not _core.identities_hold(tuple(guard))
    with pytest.raises(ValueError, match="gradient must be a float64 vector"):
        a.flat_stepper(x, np.zeros(3))


def test_fit_minibatches_with_nesterov_are_its_train_steps():
    X = data(11)
    y = targets("cross_entropy", len(X), 3)
    layout, widths = ["dense", "tanh", "dense"], [4, 3]
    m1, m2 = HybridModel(build(layout, widths, quantum=False)), HybridModel(build(layout, widths, quantum=False))
    o1, o2 = pq.NesterovMomentumOptimizer(0.1), pq.NesterovMomentumOptimizer(0.1)
    h = m1.fit(X, y, epochs=3, batch_size=4, rng=2, optimizer=o1)
    rng, losses = np.random.default_rng(2), []
    for _ in range(3):
        order = rng.permutation(len(X))
        parts = [m2.train_step(X[order[s:s + 4]], y[order[s:s + 4]], o2) * len(order[s:s + 4])
                 for s in range(0, len(X), 4)]
        losses.append(sum(parts) / len(X))
    assert h["loss"] == losses
    assert all(np.array_equal(p, q) for p, q in zip(m1.params, m2.params))
