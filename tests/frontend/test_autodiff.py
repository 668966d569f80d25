"""Autodiff through qnodes (pyqml/frontend/autodiff.py): plain Python + numpy objectives built from qnode
calls get exact gradients (checked against the parameter-shift rule on a dense simulation), and which
arguments are data, static or trainable is explicit (inputs=, argnum=, requires_grad), never an argument's
name."""
import math

import dense_reference as ref
import numpy as np
import pytest

import pyqml as pq

SHIFT = math.pi / 2


def dense_circuit(p, x):
    """<Z_1> after RX(x0) (x) RX(x1), RY(p0) (x) RY(p1), CNOT(0, 1): the dense reference."""
    psi = ref.simulate(2, [(ref.rx(x[0]), [0]), (ref.rx(x[1]), [1]), (ref.ry(p[0]), [0]), (ref.ry(p[1]), [1]),
                           (ref.gate_matrix("CNOT"), [0, 1])])
    return ref.expval_var([(1.0, {1: "Z"})], psi, 2)[0]


def shift_grad(f, v):
    """Exact gradient of a function of rotation angles by the two-term parameter-shift rule."""
    g = np.zeros_like(v)
    for i in range(v.size):
        e = np.zeros_like(v)
        e.flat[i] = SHIFT
        g.flat[i] = (f(v + e) - f(v - e)) / 2
    return g


def make_circuit(**kw):
    @pq.qnode(wires=2, **kw)
    def circuit(params, x):
        pq.RX(x[0], wires=0)
        pq.RX(x[1], wires=1)
        pq.RY(params[0], wires=0)
        pq.RY(params[1], wires=1)
        pq.CNOT(wires=[0, 1])
        return pq.expval(pq.Z(1))

    return circuit


rng = np.random.default_rng(7)
X = rng.uniform(0, np.pi, (6, 2))
Y = rng.uniform(-1, 1, 6)
P0 = np.array([0.4, -1.1])


def reference_cost_and_grad(p):
    c = np.array([dense_circuit(p, x) for x in X])
    dc = np.array([shift_grad(lambda q, x=x: dense_circuit(q, x), p) for x in X])  # (rows, 2)
    cost = np.mean((c - Y) ** 2) + 0.1 * np.sum(np.sin(p))
    grad = (2 * (c - Y) / len(X)) @ dc + 0.1 * np.cos(p)
    return cost, grad


def plain_cost(circuit):
    def cost(params):
        predictions = [circuit(params, x) for x in X]
        return np.mean((np.array(predictions) - Y) ** 2) + 0.1 * np.sum(np.sin(params))

    return cost


@pytest.mark.parametrize("declared", [False, True])
def test_grad_of_a_plain_numpy_cost_is_exact(declared):
    circuit = make_circuit(inputs=("x",)) if declared else make_circuit()
    cost = plain_cost(circuit)
    c_ref, g_ref = reference_cost_and_grad(P0)
    grad_fn = pq.grad(cost)
    g = grad_fn(P0)
    np.testing.assert_allclose(g, g_ref, atol=1e-12, rtol=0)
    assert abs(grad_fn.forward - c_ref) < 1e-12
    assert abs(cost(P0) - c_ref) < 1e-12
    # numpy's own functions are back once the trace is over
    assert isinstance(np.sin, np.ufunc) and np.mean.__module__ == "numpy"


def test_optimisers_step_any_function_with_exact_gradients():
    circuit = make_circuit()
    cost = plain_cost(circuit)
    c_ref, g_ref = reference_cost_and_grad(P0)
    new, c = pq.GradientDescentOptimizer(0.1).step_and_cost(cost, P0)
    np.testing.assert_allclose(new, P0 - 0.1 * g_ref, atol=1e-12, rtol=0)
    assert abs(c - c_ref) < 1e-12
    opt = pq.AdamOptimizer(0.05)
    new = opt.step(cost, P0)
    lr = 0.05 * math.sqrt(1 - 0.99) / (1 - 0.9)
    np.testing.assert_allclose(new, P0 - lr * (0.1 * g_ref) / (np.sqrt(0.01 * g_ref ** 2) + 1e-8), atol=1e-12)


def test_jacobian_transform_and_the_circuit_jacobian():
    circuit = make_circuit(inputs=("x",))
    jac = pq.jacobian(lambda p: circuit(p, X))(P0)                      # one batched call: (rows, 2)
    ref_jac = np.array([shift_grad(lambda q, x=x: dense_circuit(q, x), P0) for x in X])
    np.testing.assert_allclose(jac, ref_jac, atol=1e-12, rtol=0)
    # derivatives with respect to data when asked for by argnum (RX(x) obeys the same shift rule)
    dx = pq.grad(circuit, argnum=1)(P0, X[0])
    np.testing.assert_allclose(dx, shift_grad(lambda v: dense_circuit(P0, v), X[0]), atol=1e-12, rtol=0)
    dp, dx2 = pq.grad(circuit, argnum=[0, 1])(P0, X[0])
    np.testing.assert_allclose(dx2, dx, atol=1e-14)
    np.testing.assert_allclose(dp, ref_jac[0], atol=1e-12)
    # pq.jacobian(circuit, observables, ...) on a Circuit keeps its meaning
    c = circuit.circuit(P0, X[0])
    vals, dw, dxs = pq.jacobian(c, pq.Z(1), weights=P0, inputs=X[0])
    assert abs(vals - dense_circuit(P0, X[0])) < 1e-12
    np.testing.assert_allclose(dw, ref_jac[0], atol=1e-12)
    with pytest.raises(TypeError, match="argnum"):
        pq.jacobian(c, pq.Z(1), weights=P0, inputs=X[0], argnum=0)


@pytest.mark.parametrize("declared", [False, True])
def test_opt_step_on_a_qnode_does_not_train_its_data(declared):
    circuit = make_circuit(inputs=("x",)) if declared else make_circuit()
    x = X[2].copy()
    new_p, same_x = pq.GradientDescentOptimizer(0.1).step(circuit, P0, x)
    assert same_x is x and np.array_equal(x, X[2])
    g = shift_grad(lambda q: dense_circuit(q, x), P0)
    np.testing.assert_allclose(new_p, P0 - 0.1 * g, atol=1e-12, rtol=0)
    # data first: with inputs= declared the default trainable argument is still the weights
    if declared:
        @pq.qnode(wires=2, inputs=("x",))
        def swapped(x, params):
            return circuit.func(params, x)

        same_x, new_p2 = pq.GradientDescentOptimizer(0.1).step(swapped, x, P0)
        assert same_x is x
        np.testing.assert_allclose(new_p2, new_p, atol=1e-14)


def test_a_batch_of_rows_goes_to_any_data_argument():
    circuit = make_circuit(inputs=("x",))
    vals = circuit(P0, X)
    np.testing.assert_allclose(vals, [dense_circuit(P0, x) for x in X], atol=1e-12, rtol=0)
    undeclared = make_circuit()
    with pytest.raises(TypeError, match=r"inputs=\(\"<name>\",\)"):
        undeclared(P0, X)

    # several data arguments: a batch in one, one row broadcast in the other, a scalar feature
    @pq.qnode(wires=2, inputs=("a", "b", "t"))
    def three(w, a, b, t):
        pq.RX(a[0], wires=0)
        pq.RX(b[0], wires=1)
        pq.RY(w[0], wires=0)
        pq.RY(2 * t - 0.3, wires=1)
        pq.CNOT(wires=[0, 1])
        return pq.expval(pq.Z(1))

    w = np.array([0.3])
    b = np.array([0.7])
    out = three(w, X[:, :1], b, 0.25)
    expect = [dense_circuit(np.array([0.3, 2 * 0.25 - 0.3]), np.array([x, 0.7])) for x in X[:, 0]]
    np.testing.assert_allclose(out, expect, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="different numbers of rows"):
        three(w, X[:, :1], X[:3, :1], 0.25)
    # gradients reach every data argument (the broadcast row's add up over the batch)
    da, db, dt = pq.grad(lambda a, b, t: np.sum(three(w, a, b, t)), argnum=[0, 1, 2])(X[:, :1], b, 0.25)
    fa = lambda a: np.sum([dense_circuit(np.array([0.3, 0.2]), np.array([v, 0.7])) for v in a.ravel()])
    np.testing.assert_allclose(da.ravel(), [shift_grad(lambda v: fa(v), X[i:i + 1, 0])[0] for i in range(6)],
                               atol=1e-12)
    fb = lambda v: np.sum([dense_circuit(np.array([0.3, 0.2]), np.array([a, v[0]])) for a in X[:, 0]])
    np.testing.assert_allclose(db, shift_grad(fb, b), atol=1e-12)
    # d/dt of RY(2t - 0.3): 2 x the angle's shift-rule derivative
    fang = lambda ang: np.sum([dense_circuit(np.array([0.3, ang[0]]), np.array([a, 0.7])) for a in X[:, 0]])
    assert abs(dt - 2 * shift_grad(fang, np.array([0.2]))[0]) < 1e-12


def test_a_python_int_argument_is_static_not_a_weight():
    @pq.qnode(wires=2)
    def layered(params, layers=3):
        for layer in range(layers):
            pq.RY(params[layer], wires=layer % 2)
            pq.CNOT(wires=[0, 1])
        return pq.expval(pq.Z(1))

    def dense(p, layers):
        gates = []
        for layer in range(layers):
            gates += [(ref.ry(p[layer]), [layer % 2]), (ref.gate_matrix("CNOT"), [0, 1])]
        return ref.expval_var([(1.0, {1: "Z"})], ref.simulate(2, gates), 2)[0]

    p = np.array([0.3, -0.8, 1.2])
    assert abs(layered(p) - dense(p, 3)) < 1e-12
    assert abs(layered(p, 2) - dense(p, 2)) < 1e-12
    new_p, layers = pq.GradientDescentOptimizer(0.1).step(layered, p, 2)
    assert layers == 2 and isinstance(layers, int)
    np.testing.assert_allclose(new_p, p - 0.1 * shift_grad(lambda q: dense(q, 2), p), atol=1e-12)
    np.testing.assert_allclose(pq.grad(layered)(p, layers=3), shift_grad(lambda q: dense(q, 3), p), atol=1e-12)
    assert layered.compiled_for(p, 3).n_weights == 3 and layered.compiled_for(p, 2).n_weights == 3
    with pytest.raises(TypeError, match="no trainable argument"):
        pq.GradientDescentOptimizer(0.1).step(lambda n: float(n), 3)


def test_trainability_by_requires_grad_and_argnum():
    pnp = pq.numpy
    circuit = make_circuit(inputs=("x",))

    def cost(w, b, Xd, Yd):
        preds = [circuit(w, x) + b for x in Xd]
        return np.mean((np.array(preds) - Yd) ** 2)

    w = pnp.array(P0, requires_grad=True)
    b = pnp.array(0.1, requires_grad=True)
    Xd = pnp.array(X, requires_grad=False)
    opt = pq.GradientDescentOptimizer(0.2)
    w2, b2, X2, Y2 = opt.step(cost, w, b, Xd, Y)  # PennyLane's rule: flagged arguments only
    assert X2 is Xd and Y2 is Y
    assert isinstance(w2, pnp.tensor) and w2.requires_grad and b2.requires_grad

    def ref_cost(v):
        c = np.array([dense_circuit(v[:2], x) for x in X]) + v[2]
        return np.mean((c - Y) ** 2)

    def ref_grad(v):
        c = np.array([dense_circuit(v[:2], x) for x in X]) + v[2]
        dc = np.array([shift_grad(lambda q, x=x: dense_circuit(q, x), v[:2]) for x in X])
        r = 2 * (c - Y) / len(X)
        return np.concatenate([r @ dc, [r.sum()]])

    v = np.concatenate([P0, [0.1]])
    np.testing.assert_allclose(np.concatenate([w2, [b2]]), v - 0.2 * ref_grad(v), atol=1e-12, rtol=0)
    # plain arrays: argnum says which
    w3, b3, _, _ = opt.step(cost, P0, 0.1, X, Y, argnum=[0, 1])
    np.testing.assert_allclose(np.concatenate([w3, [b3]]), v - 0.2 * ref_grad(v), atol=1e-12, rtol=0)
    # plain arrays: every positional float argument, data by keyword (PennyLane's demos' opt.step(cost, w, b,
    # X=X, Y=Y)); an integer-valued argument is never trained
    w4, b4 = opt.step(lambda w, b, Xd, Yd: cost(w, b, Xd, Yd), P0, 0.1, Xd=X, Yd=Y)
    np.testing.assert_allclose(np.concatenate([w4, [b4]]), v - 0.2 * ref_grad(v), atol=1e-12, rtol=0)
    Yint = np.array([1, -1, 1, 1, -1, 1])
    w5, b5, X5, Y5 = opt.step(cost, P0, 0.1, X, Yint, argnum=[0, 1])
    assert X5 is X and Y5 is Yint
    nums = pq.frontend.autodiff.trainable_argnums(cost, (P0, 0.1, X, Yint))
    assert nums == [0, 1, 2]  # X holds floats: trained unless passed by keyword, argnum or requires_grad=False
    assert abs(opt.step_and_cost(cost, P0, 0.1, X, Y, argnum=[0, 1])[1] - ref_cost(v)) < 1e-12
    with pytest.raises(ValueError, match="argnum"):
        opt.step(cost, P0, 0.1, X, Y, argnum=4)


def test_legacy_keyword_inputs_and_bad_objectives():
    @pq.qnode(wires=2)
    def f(inputs, weights):
        pq.RX(inputs[0], wires=0)
        pq.RX(inputs[1], wires=1)
        pq.RY(weights[0], wires=0)
        pq.RY(weights[1], wires=1)
        pq.CNOT(wires=[0, 1])
        return pq.expval(pq.Z(1))

    new = pq.GradientDescentOptimizer(0.1).step(f, P0, inputs=X[0])
    np.testing.assert_allclose(new, P0 - 0.1 * shift_grad(lambda q: dense_circuit(q, X[0]), P0), atol=1e-12)
    np.testing.assert_allclose(pq.grad(lambda w: f(X[0], w))(P0), (P0 - new) / 0.1, atol=1e-12)
    circuit = make_circuit()
    with pytest.raises(NotImplementedError, match="second derivatives"):
        pq.grad(lambda p: pq.grad(lambda q: circuit(q, X[0]))(p)[0])(P0)
    with pytest.raises(ValueError, match="one expectation value"):
        pq.grad(lambda p: np.array([circuit(p, x) for x in X]))(P0)
    with pytest.raises(TypeError, match="grad_fn"):
        pq.GradientDescentOptimizer().step(lambda p: float(circuit(p, X[0])), P0)
    with pytest.raises(ValueError, match="NaN"):
        pq.grad(lambda p: circuit(p, X[0]))(np.array([np.nan, 0.0]))
    assert isinstance(np.mean(np.ones(2)), float)  # numpy restored after a failing trace too
