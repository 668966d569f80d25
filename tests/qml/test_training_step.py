"""The hybrid model's training step on flat parameters: every optimiser's step against a reference written
out here (a dense numpy simulation of the circuit, parameter-shift gradients, the dense layer and the softmax
cross-entropy by hand, each optimiser's update rule), the flat vectors staying consistent when users read or
assign parameters, and bad input."""
import copy
import pickle

import dense_reference as ref
import numpy as np
import pytest
from libm_probe import assert_numpy_bits
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
    assert_numpy_bits(b, a)
    assert_numpy_bits(db, da)
    y2 = np.repeat(y, 2)[::2]  # labels as a strided view
    assert loss.buffered(z, y2)[0] == b and loss.buffered(z, y.astype(np.int32))[0] == b
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
    # The step asks the first layer for no input gradient; its public backward makes the same engine call
    # with input_grad off. (With the input gradient the state vector takes another path for the weights'
    # gradient, the adjoint sweep over the rows instead of the shared suffix's sums: within 1e-15.)
    quantum = model.net.layers[0]
    quantum.input_grad = False
    out = model.net.forward(X, train=True)
    ref_loss, d = model.loss(out, y)
    model.net.backward(d)
    assert_numpy_bits(loss, ref_loss)
    for a, b in zip(fast, model.net.grads):
        assert_numpy_bits(a, b)
    quantum.input_grad = True
    model.net.backward(d)
    np.testing.assert_allclose(fast[0], model.net.grads[0], atol=1e-15, rtol=0)
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


# --- the fused step: the whole training step as one engine call (_core.HybridTrainingStep) ---

def count_python_forwards(model, width):
    """Counts the quantum layer's engine forwards through Python (the layer-by-layer step makes one a step;
    the fused step none)."""
    ex = model.net.layers[0].compiled(width).executor()
    calls = []
    inner = ex.forward

    def forward(*args, **kwargs):
        calls.append(1)
        return inner(*args, **kwargs)

    ex.forward = forward
    return calls


def twins(make, **kw):
    fused, layered = make(**kw), make(**kw)
    layered.fused_step = False
    return fused, layered


def assert_same_bits(fused, layered, opt_a, opt_b):
    assert all(np.array_equal(p, q) for p, q in zip(fused.params, layered.params))
    assert all(np.array_equal(p, q) for p, q in zip(fused.net.grads, layered.net.grads))
    for name in ("accumulation", "fm", "sm", "t"):
        a, b = getattr(opt_a, name, None), getattr(opt_b, name, None)
        if isinstance(a, list):
            assert all(np.array_equal(u, v) for u, v in zip(a, b))
        elif not isinstance(a, dict):
            assert a == b


@pytest.mark.parametrize("path", ["cost model", "forced", "off"])
@pytest.mark.parametrize("kind", KINDS)
def test_fused_step_is_the_layer_by_layer_step_bit_for_bit(kind, path):
    """The fused step against the same model stepped through the layers' calls (the shared-suffix path of the
    state vector as the cost model chooses it, forced, or off: the kept forward and the VJP from it, or the
    rows' paths), every optimiser: the same losses, parameters, gradients and optimiser state, bit for bit;
    after its first step (which makes the optimiser's state) the fused model runs no engine call through
    Python (gradient descent, which keeps no state, none from the first step on)."""
    was = _core._sv_shared_suffix()
    _core._set_sv_shared_suffix(path != "off", path == "forced")
    try:
        X, y = data(7)
        fused, layered = twins(hybrid_model)
        opt_a, opt_b = optimizer(kind, 0.1), optimizer(kind, 0.1)
        seen = count_python_forwards(fused, 2)
        for _ in range(5):
            a, b = fused.train_step(X, y, opt_a), layered.train_step(X, y, opt_b)
            assert a == b
            assert_same_bits(fused, layered, opt_a, opt_b)
            assert len(seen) == (kind != "GradientDescent")  # the first step only (it makes the state)
    finally:
        _core._set_sv_shared_suffix(was)


@pytest.mark.parametrize("kind", KINDS)
def test_fused_demo_training_is_the_layer_by_layer_training(kind):
    """The demo's model (4 wires, AngleEmbedding + StronglyEntanglingLayers, Dense(4, 3)) on the Iris
    training rows: fit with the fused step and through the layers' calls, the same bits; minibatches (a
    short last batch) too."""
    from pyqml.__main__ import build_iris_model, iris_split

    Xtr, _, ytr, _ = iris_split(seed=0)
    fused, layered = twins(build_iris_model, n_layers=2, seed=0)
    opt_a, opt_b = optimizer(kind, 0.05), optimizer(kind, 0.05)
    seen = count_python_forwards(fused, 4)
    h1 = fused.fit(Xtr, ytr, epochs=6, optimizer=opt_a)
    h2 = layered.fit(Xtr, ytr, epochs=6, optimizer=opt_b)
    assert h1["loss"] == h2["loss"] and len(seen) == (kind != "GradientDescent")
    assert_same_bits(fused, layered, opt_a, opt_b)
    h1 = fused.fit(Xtr, ytr, epochs=2, batch_size=50, rng=3, optimizer=opt_a)
    h2 = layered.fit(Xtr, ytr, epochs=2, batch_size=50, rng=3, optimizer=opt_b)
    assert h1["loss"] == h2["loss"]
    assert_same_bits(fused, layered, opt_a, opt_b)


def deep_head_model(loss="mse"):
    return HybridModel([QuantumLayer(make_qnode(), {"weights": (3, 3)}, rng=1), Dense(3, 4, rng=2),
                        Activation("tanh"), Dense(4, 2, rng=3)], loss=loss)


def activation_head_model():
    return HybridModel([QuantumLayer(make_qnode(), {"weights": (3, 3)}, rng=1), Activation("sigmoid")], loss="mse")


@pytest.mark.parametrize("make,width", [(deep_head_model, 2), (activation_head_model, 3)])
@pytest.mark.parametrize("kind", ["Adam", "Nesterov", "RMSProp"])
def test_fused_step_with_other_heads_and_the_mse(make, width, kind):
    X, _ = data(9)
    t = np.random.default_rng(5).normal(size=(9, width))
    fused, layered = twins(make)
    opt_a, opt_b = optimizer(kind, 0.1), optimizer(kind, 0.1)
    seen = count_python_forwards(fused, 2)
    for _ in range(4):
        assert fused.train_step(X, t, opt_a) == layered.train_step(X, t, opt_b)
    assert len(seen) == 1
    assert_same_bits(fused, layered, opt_a, opt_b)


def test_models_that_do_not_fit_the_fused_step_train_as_before():
    """A quantum layer after a dense one, a qnode with shots, a finite-difference qnode, a subclassed
    optimiser, rows of no width change: the layers' calls, the same training as with the switch off."""
    X, y = data(6)

    def after_dense():
        return HybridModel([Dense(2, 2, rng=0), QuantumLayer(make_qnode(), {"weights": (3, 3)}, rng=1),
                            Dense(3, 3, rng=2)])

    def with_qnode(**opts):
        def make():
            f = make_qnode()
            g = pq.qnode(wires=2, **opts)(f.func)
            return HybridModel([QuantumLayer(g, {"weights": (3, 3)}, rng=1), Dense(3, 3, rng=2)])
        return make

    class Halved(pq.AdamOptimizer):
        def apply_grad(self, grad, args):
            return super().apply_grad([0.5 * g for g in grad], args)

    cases = [(after_dense, pq.AdamOptimizer), (with_qnode(shots=200, seed=3), pq.AdamOptimizer),
             (with_qnode(diff_method="parameter-shift"), pq.MomentumOptimizer), (hybrid_model, Halved)]
    for make, opt_cls in cases:
        fused, layered = twins(make)
        opt_a, opt_b = opt_cls(0.1), opt_cls(0.1)
        for _ in range(3):
            assert fused.train_step(X, y, opt_a) == layered.train_step(X, y, opt_b)
        assert all(np.array_equal(p, q) for p, q in zip(fused.params, layered.params))


@pytest.mark.parametrize("kind", ["Adam", "Nesterov", "Momentum"])
def test_fused_step_refuses_bad_input_and_leaves_the_model_as_it_was(kind):
    X, y = data()
    model, opt = hybrid_model(), optimizer(kind, 0.1)
    for _ in range(2):
        model.train_step(X, y, opt)
    seen = count_python_forwards(model, 2)
    before = [p.copy() for p in model.params]
    t = getattr(opt, "t", None)
    bad_x = X.copy()
    bad_x[2, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.train_step(bad_x, y, opt)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        model.train_step(X, np.array([0, 1, 2, 3, 1, 0]), opt)
    with pytest.raises(ValueError, match="one contiguous int64 label per row"):
        model.train_step(X, y[:4], opt)
    assert all(np.array_equal(p, q) for p, q in zip(model.params, before))
    assert getattr(opt, "t", None) == t and not seen
    model.train_step(X, y, opt)  # and steps on
    assert not seen and not np.array_equal(model.params[0], before[0])


def test_hybrid_training_step_checks_its_arguments():
    model = hybrid_model()
    X, y = data()
    model.train_step(X, y, pq.AdamOptimizer(0.1))
    engine = model.net.layers[0].compiled(2).executor().cpu_engine
    flat, gflat = model.params[0].base, model.net.grads[0].base
    layers = [("dense", 3, 3, 9, 18)]
    a, b = np.zeros(flat.size), np.zeros(flat.size)
    with pytest.raises(TypeError, match="StateVector engine"):
        _core.HybridTrainingStep(object(), layers, "cross_entropy", flat, gflat, 0, "adam", [a, b])
    with pytest.raises(ValueError, match="updates 2 state vector"):
        _core.HybridTrainingStep(engine, layers, "cross_entropy", flat, gflat, 0, "adam", [a])
    with pytest.raises(ValueError, match="outside the 21-entry parameter vector"):
        _core.HybridTrainingStep(engine, layers, "cross_entropy", flat, gflat, 15, "sgd", [])
    with pytest.raises(ValueError, match="Dense layer expects 2 features, got 3"):
        _core.HybridTrainingStep(engine, [("dense", 2, 3, 9, 15)], "cross_entropy", flat, gflat, 0, "sgd", [])
    with pytest.raises(ValueError, match="rule is 'sgd'"):
        _core.HybridTrainingStep(engine, layers, "cross_entropy", flat, gflat, 0, "lbfgs", [])
    with pytest.raises(ValueError, match="must not be the parameter"):
        _core.HybridTrainingStep(engine, layers, "cross_entropy", flat, gflat, 0, "momentum", [gflat])
    step = _core.HybridTrainingStep(engine, layers, "cross_entropy", flat, gflat, 0, "sgd", [])
    with pytest.raises(ValueError, match="rows of 2 features"):
        step.run(np.zeros((6, 3)), y, 0.1)
    before = flat.copy()
    value = step.run(X, y, 0.0)  # a zero step: the loss at the current parameters, nothing moves
    grads = gflat.copy()
    assert np.array_equal(flat, before)
    assert value == model.value_and_grad(X, y)[0] and np.array_equal(gflat, grads)


def test_fused_steps_run_in_threads_as_in_sequence():
    """The fused step releases the GIL for the whole step: two models trained in two threads at once give
    the bits of training them one after the other."""
    import threading

    from pyqml.__main__ import build_iris_model, iris_split

    Xtr, _, ytr, _ = iris_split(seed=0)
    alone = [build_iris_model(2, s) for s in (0, 1)]
    losses_alone = [m.fit(Xtr, ytr, epochs=30, optimizer=pq.AdamOptimizer(0.1))["loss"] for m in alone]
    pair = [build_iris_model(2, s) for s in (0, 1)]
    losses = [None, None]

    def train(i):
        losses[i] = pair[i].fit(Xtr, ytr, epochs=30, optimizer=pq.AdamOptimizer(0.1))["loss"]

    threads = [threading.Thread(target=train, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert losses == losses_alone
    for a, b in zip(alone, pair):
        assert all(np.array_equal(p, q) for p, q in zip(a.params, b.params))
