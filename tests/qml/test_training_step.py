"""The hybrid model's training step on flat parameters: every optimiser's step against a reference written
out here (a dense numpy simulation of the circuit, parameter-shift gradients, the dense layer and the softmax
cross-entropy by hand, each optimiser's update rule), the flat vectors staying consistent when users read or
assign parameters, and bad input."""
import copy
import pickle

import dense_reference as ref
import numpy as np
import pytest
from pyqml.models import Activation, CrossEntropyLoss, Dense, HybridModel, QuantumLayer

import pyqml as pq
from pyqml import _core

OBS = [[(1.0, {0: "Z"})], [(1.0, {1: "Z"})], [(0.5, {0: "X", 1: "Y"})]]


def make_qnode():
    @pq.qnode(wires=2)
    def f(inputs, weights):
        pq.RY(inputs[0], wires=0)
        pq.RY(inputs[1], wires=1)
        pq.Rot(weights[0, 0], weights[0, 1], weights[0, 2], wires=0)
        pq.Rot(weights[1, 0], weights[1, 1], weights[1, 2], wires=1)
        pq.CNOT(wires=[0, 1])
        pq.RX(weights[2, 0], wires=0)
        pq.RZ(weights[2, 1], wires=1)
        pq.RY(weights[2, 2], wires=1)
        pq.CNOT(wires=[1, 0])
        return [pq.expval(pq.Z(0)), pq.expval(pq.Z(1)), pq.expval(0.5 * pq.X(0) @ pq.Y(1))]
    return f


CNOT01 = ref.controlled(ref.X)


def ref_values(x, W):
    """<O_k> of the circuit above for one row, by the dense reference."""
    gates = [(ref.ry(x[0]), [0]), (ref.ry(x[1]), [1]), (ref.rot(*W[0]), [0]), (ref.rot(*W[1]), [1]),
             (CNOT01, [0, 1]), (ref.rx(W[2, 0]), [0]), (ref.rz(W[2, 1]), [1]), (ref.ry(W[2, 2]), [1]),
             (CNOT01, [1, 0])]
    psi = ref.simulate(2, gates)
    return np.array([ref.expval_var(t, psi, 2)[0] for t in OBS])


def ref_quantum(X, W):
    """values (rows, 3) and d values / d W (rows, 3, 9): every weight drives one Pauli rotation, so the
    two-term shift rule is exact."""
    vals = np.array([ref_values(x, W) for x in X])
    jac = np.zeros((len(X), 3, W.size))
    for k in range(W.size):
        for sign in (1.0, -1.0):
            Ws = W.copy()
            Ws.flat[k] += sign * np.pi / 2
            jac[:, :, k] += sign * 0.5 * np.array([ref_values(x, Ws) for x in X])
    return vals, jac


def ref_loss_and_grads(X, y, Wq, Wd, b):
    q, jac = ref_quantum(X, Wq)
    z = q @ Wd + b
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dz = (p - np.eye(3)[y]) / n
    dq = dz @ Wd.T
    gWq = np.einsum("ro,rok->k", dq, jac).reshape(Wq.shape)
    return loss, [gWq, q.T @ dz, dz.sum(axis=0)]


class RefOptimizer:
    """Each optimiser's update rule, written out on lists of arrays (PennyLane's conventions)."""

    def __init__(self, kind, stepsize):
        self.kind, self.s, self.t, self.acc, self.fm, self.sm = kind, stepsize, 0, None, None, None

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
                self.acc[i] = self.acc[i] + g**2
                out.append(p - self.s * g / np.sqrt(self.acc[i] + 1e-8))
            elif self.kind == "RMSProp":
                self.acc[i] = 0.9 * self.acc[i] + 0.1 * g**2
                out.append(p - self.s * g / np.sqrt(self.acc[i] + 1e-8))
            else:  # Adam, beta1 = 0.9, beta2 = 0.99, the bias corrections on the step size
                self.fm[i] = 0.9 * self.fm[i] + 0.1 * g
                self.sm[i] = 0.99 * self.sm[i] + 0.01 * g**2
                lr = self.s * np.sqrt(1 - 0.99**self.t) / (1 - 0.9**self.t)
                out.append(p - lr * self.fm[i] / (np.sqrt(self.sm[i]) + 1e-8))
        return out


KINDS = ["GradientDescent", "Momentum", "Nesterov", "Adagrad", "RMSProp", "Adam"]


def optimizer(kind, stepsize):
    return getattr(pq, f"{'NesterovMomentum' if kind == 'Nesterov' else kind}Optimizer")(stepsize)


def data(rows=6):
    rng = np.random.default_rng(7)
    return rng.uniform(-1.5, 1.5, (rows, 2)), np.resize([0, 1, 2, 2, 1, 0], rows)


def hybrid_model():
    return HybridModel([QuantumLayer(make_qnode(), {"weights": (3, 3)}, rng=1), Dense(3, 3, rng=2)])


@pytest.mark.parametrize("kind", KINDS)
def test_training_step_matches_the_written_out_reference(kind):
    X, y = data()
    model = hybrid_model()
    opt = optimizer(kind, 0.1)
    ref_opt = RefOptimizer(kind, 0.1)
    params = [p.copy() for p in model.params]
    for _ in range(4):
        point = ref_opt.look_ahead(params)
        loss, grads = ref_loss_and_grads(X, y, *point)
        params = ref_opt.step(params, grads)
        assert abs(model.train_step(X, y, opt) - loss) < 1e-10
        for p, q in zip(model.params, params):
            np.testing.assert_allclose(p, q, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_update_flat_is_apply_grad_bit_for_bit(kind):
    rng = np.random.default_rng(3)
    shapes = [(2, 3), (4,), ()]
    a, b = optimizer(kind, 0.05), optimizer(kind, 0.05)
    params = [rng.normal(size=s) for s in shapes]
    x = np.concatenate([p.reshape(-1) for p in params])
    for step in range(5):
        grads = [rng.normal(size=s) for s in shapes]
        if step == 3:  # the list call in between: update_flat picks its state up again
            new = a.apply_grad(grads, [v.reshape(s) for v, s in zip(np.split(x, [6, 10]), shapes)])
            x = np.concatenate([np.reshape(v, -1) for v in new])
        else:
            a.update_flat(x, np.concatenate([g.reshape(-1) for g in grads]), shapes)
        params = b.apply_grad(grads, params)
        assert np.array_equal(x, np.concatenate([p.reshape(-1) for p in params]))
    if kind != "GradientDescent":
        state = a.accumulation if kind != "Adam" else a.fm + a.sm
        expect = b.accumulation if kind != "Adam" else b.fm + b.sm
        assert [np.shape(s) for s in state] == [np.shape(s) for s in expect]
        assert all(np.array_equal(s, e) for s, e in zip(state, expect))
    if kind == "Adam":
        assert a.t == b.t == 5


def test_fit_is_train_step_bit_for_bit_and_minibatches_repeat():
    X, y = data(12)
    m1, m2 = hybrid_model(), hybrid_model()
    o1, o2 = pq.AdamOptimizer(0.1), pq.AdamOptimizer(0.1)
    hist = m1.fit(X, y, epochs=3, optimizer=o1)
    losses = [m2.train_step(X, y, o2) for _ in range(3)]
    assert hist["loss"] == losses
    assert all(np.array_equal(p, q) for p, q in zip(m1.params, m2.params))
    h1 = hybrid_model().fit(X, y, epochs=2, batch_size=5, rng=4, optimizer=pq.NesterovMomentumOptimizer(0.1))
    h2 = hybrid_model().fit(X, y, epochs=2, batch_size=5, rng=4, optimizer=pq.NesterovMomentumOptimizer(0.1))
    assert h1["loss"] == h2["loss"]


def test_parameters_are_views_of_one_vector_and_stay_consistent():
    X, y = data()
    model = hybrid_model()
    qlayer, dense = model.net.layers
    base = model.params[0].base
    assert base is not None and all(p.base is base for p in model.params)
    assert all(g.base is model.net.grads[0].base for g in model.net.grads)
    assert dense.W is dense.params[0] and dense.b is dense.params[1]

    # the same values set three ways give the same training, bit for bit
    W0 = np.linspace(-1.0, 1.0, 9).reshape(3, 3)
    twins = [hybrid_model() for _ in range(3)]
    twins[0].params[0][...] = W0  # in place
    twins[1].net.layers[0].params[0] = W0.copy()  # a new array in the layer's list: copied into the vector
    twins[2].net.layers[1].W = twins[0].net.layers[1].W  # Dense.W assignment copies in
    twins[2].net.layers[0].params = [W0.copy()]
    opts = [pq.AdamOptimizer(0.1) for _ in twins]
    for _ in range(3):
        losses = [m.train_step(X, y, o) for m, o in zip(twins, opts)]
        assert losses[0] == losses[1] == losses[2]
    for m in twins[1:]:
        assert all(np.array_equal(p, q) for p, q in zip(m.params, twins[0].params))
        assert all(p.base is m.params[0].base for p in m.params)  # one vector again
    with pytest.raises(ValueError, match=r"Dense.W has shape \(3, 3\)"):
        dense.W = np.zeros((2, 3))

    # value_and_grad returns the layers' grads (views of the model's grads vector)
    _, grads = model.value_and_grad(X, y)
    assert all(g is h for g, h in zip(grads, model.net.grads))


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copies_step_like_the_original(how):
    X, y = data()
    # (a qnode holds engine objects that do not pickle: a classical model on the same flat path)
    model = HybridModel([Dense(2, 4, rng=0), Activation("tanh"), Dense(4, 3, rng=1)])
    opt = pq.AdamOptimizer(0.1)
    model.train_step(X, y, opt)
    pair = (model, opt)
    twin, twin_opt = copy.deepcopy(pair) if how == "deepcopy" else pickle.loads(pickle.dumps(pair))
    for _ in range(2):
        assert model.train_step(X, y, opt) == twin.train_step(X, y, twin_opt)
    assert all(np.array_equal(p, q) for p, q in zip(model.params, twin.params))
    assert all(p.base is twin.params[0].base for p in twin.params)  # the copy has its own vector again
    assert not np.shares_memory(twin.params[0], model.params[0])
    assert twin_opt.t == opt.t == 3


@pytest.mark.parametrize("classes", [1, 2, 3, 5, 7, 8])
def test_buffered_cross_entropy_is_the_loss_bit_for_bit(classes):
    rng = np.random.default_rng(classes)
    z = rng.normal(size=(40, classes)) * 4
    y = rng.integers(-classes, classes, 40)  # negative labels count from the last class, as before
    loss = CrossEntropyLoss()
    a, da = loss(z, y)
    b, db = loss.buffered(z, y)
    assert a == b and np.array_equal(da, db)
    y2 = np.repeat(y, 2)[::2]  # labels as a strided view
    assert loss.buffered(z, y2)[0] == a and loss.buffered(z, y.astype(np.int32))[0] == a
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert abs(a + np.mean(np.log(p[np.arange(40), y % classes]))) < 1e-12


def test_bad_input_is_named():
    X, y = data()
    model, opt = hybrid_model(), pq.AdamOptimizer(0.1)
    with pytest.raises(TypeError, match="labels must be integers"):
        model.train_step(X, y.astype(float), opt)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        model.train_step(X, np.array([0, 1, 2, 3, 1, 0]), opt)
    with pytest.raises(ValueError, match="one contiguous int64 label per row"):
        model.train_step(X, y[:4], opt)
    with pytest.raises(ValueError, match=r"X must be \(rows, features\)"):
        model.train_step(X[0], y, opt)
    with pytest.raises(ValueError, match="NaN"):
        model.train_step(np.full_like(X, np.nan), y, opt)
    with pytest.raises(ValueError, match="labels must lie in"):
        model.fit(X, np.array([0, 1, 2, 5, 1, 0]), epochs=1)
    x = np.zeros(4)
    with pytest.raises(TypeError, match="contiguous float64 vector"):
        opt.update_flat(x.astype(np.float32), np.zeros(4))
    with pytest.raises(TypeError, match="contiguous float64 vector"):
        opt.update_flat(np.zeros(8)[::2], np.zeros(4))
    with pytest.raises(ValueError, match="gradient must be a float64 vector of shape"):
        opt.update_flat(x, np.zeros(3))
    with pytest.raises(ValueError, match="do not cover"):
        opt.update_flat(x, np.zeros(4), [(2,), (3,)])
    opt2 = pq.AdamOptimizer(0.1)
    opt2.update_flat(x, np.ones(4), [(2,), (2,)])
    with pytest.raises(ValueError, match="call reset"):
        opt2.update_flat(x, np.ones(4), [(4,)])
    ro = np.zeros(4)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="x is read-only"):
        _core.sgd_step(ro, np.zeros(4), 0.1)
    with pytest.raises(ValueError, match="grad has 3 entries, expected 4"):
        _core.adam_step(np.zeros(4), np.zeros(3), np.zeros(4), np.zeros(4), 0.9, 0.1, 0.99, 0.01, 0.1, 1e-8)
    with pytest.raises(ValueError, match="C-contiguous float64"):
        _core.momentum_step(np.zeros(4), np.zeros(4, dtype=np.float32), np.zeros(4), 0.9, 0.1)


def test_subclasses_and_other_optimisers_step_through_apply_grad():
    class Halved(pq.GradientDescentOptimizer):
        def apply_grad(self, grad, args):
            return [a - 0.5 * self.stepsize * g for a, g in zip(args, grad)]

    x, g = np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0, 2.0])
    Halved(0.2).update_flat(x, g)
    np.testing.assert_allclose(x, [0.9, 2.1, 2.8], atol=1e-15, rtol=0)
    X, y = data()
    model, ref_model = hybrid_model(), hybrid_model()
    opt = Halved(0.2)
    model.train_step(X, y, opt)
    _, grads = ref_model.value_and_grad(X, y)
    expect = [p - 0.1 * gr for p, gr in zip(ref_model.params, grads)]
    for p, q in zip(model.params, expect):
        np.testing.assert_allclose(p, q, atol=1e-15, rtol=0)


def test_training_calls_give_the_layers_bits():
    """The layers' training calls (engine kernels for the bias, its gradient, the loss) against the layers'
    public forward / backward and the loss's __call__ (numpy): the same bits. The training head (one engine
    call for the dense layers, the activation and the loss; its matmuls written out as BLAS's multiply-add
    chains, libm's tanh) within 1e-12 of them."""
    rng = np.random.default_rng(11)
    X, y = rng.uniform(-1.0, 1.0, (9, 2)), rng.integers(0, 4, 9)
    model = HybridModel([QuantumLayer(make_qnode(), {"weights": (3, 3)}, rng=1), Dense(3, 5, rng=2),
                         Activation("tanh"), Dense(5, 4, rng=3)])
    head_loss, grads = model.value_and_grad(X, y)
    head = [g.copy() for g in grads]
    cross_entropy = model.loss
    model.loss = lambda z, t: cross_entropy.buffered(z, t)  # the layers' training calls, one by one
    loss, grads = model.value_and_grad(X, y)
    fast = [g.copy() for g in grads]
    model.loss = cross_entropy
    out = model.net.forward(X, train=True)
    ref_loss, d = model.loss(out, y)
    model.net.backward(d)
    assert loss == ref_loss
    assert all(np.array_equal(a, b) for a, b in zip(fast, model.net.grads))
    assert abs(head_loss - ref_loss) < 1e-12
    for a, b in zip(head, model.net.grads):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)


@pytest.mark.parametrize("rows,cols", [(1, 2), (7, 3), (150, 3), (40, 9), (3, 1)])
def test_bias_kernels_are_numpy_bit_for_bit(rows, cols):
    rng = np.random.default_rng(rows * cols)
    y = rng.normal(size=(rows, cols)) * 10.0 ** rng.integers(-3, 4, size=(rows, cols))
    b = rng.normal(size=cols)
    expect = y + b
    _core.add_bias(y, b)
    assert np.array_equal(y, expect)
    if cols >= 2:  # numpy sums one column pairwise, two or more row after row
        out = np.empty(cols)
        _core.column_sums(y, out)
        assert np.array_equal(out, np.sum(y, axis=0))
    with pytest.raises(ValueError, match="b has"):
        _core.add_bias(y, np.zeros(cols + 1))
