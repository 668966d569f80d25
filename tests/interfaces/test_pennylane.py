"""The ``pyqml.qubit`` PennyLane device against PennyLane's ``default.qubit`` (an independent simulator):
values, Jacobians, training, broadcasting and batching in one engine call, the structure cache, shots."""
import numpy as np
import pytest

qml = pytest.importorskip("pennylane")
pnp = pytest.importorskip("pennylane.numpy")

from pyqml.interfaces.pennylane import PyqmlQubit
from pyqml.statevector.executor import StateVectorExecutor

ONE_WIRE = ["Hadamard", "PauliX", "PauliY", "PauliZ", "S", "T", "SX", "RX", "RY", "RZ", "PhaseShift", "Rot", "U3",
            "adjS", "adjT", "adjSX", "U1", "U2"]
TWO_WIRE = ["CNOT", "CY", "CZ", "CH", "SWAP", "ISWAP", "CRX", "CRY", "CRZ", "CRot", "ControlledPhaseShift",
            "IsingXX", "IsingYY", "IsingZZ", "IsingXY", "MultiRZ", "ECR", "SISWAP", "PSWAP"]
THREE_WIRE = ["Toffoli", "CSWAP", "MultiRZ3", "QubitUnitary3"]


def _random_unitary(rng, dim):
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def random_ops(rng, n_wires, n_gates, params):
    """Gate list of PennyLane operations drawing angles from ``params`` (a flat array, consumed in order)."""
    it = iter(range(len(params)))
    take = lambda: params[next(it)]
    ops = []
    for _ in range(n_gates):
        kind = rng.choice(ONE_WIRE + TWO_WIRE + (THREE_WIRE if n_wires >= 3 else []))
        w = [int(x) for x in rng.choice(n_wires, size=3 if kind in THREE_WIRE else 2 if kind in TWO_WIRE else 1,
                                         replace=False)]
        if kind in ("Rot", "U3", "CRot"):
            ops.append(getattr(qml, kind)(take(), take(), take(), wires=w))
        elif kind == "U2":
            ops.append(qml.U2(take(), take(), wires=w))
        elif kind in ("RX", "RY", "RZ", "PhaseShift", "U1", "CRX", "CRY", "CRZ", "ControlledPhaseShift",
                      "IsingXX", "IsingYY", "IsingZZ", "IsingXY", "MultiRZ", "PSWAP"):
            ops.append(getattr(qml, kind)(take(), wires=w))
        elif kind == "MultiRZ3":
            ops.append(qml.MultiRZ(take(), wires=w))
        elif kind == "QubitUnitary3":
            ops.append(qml.QubitUnitary(_random_unitary(rng, 8), wires=w))
        elif kind.startswith("adj"):
            ops.append(qml.adjoint(getattr(qml, kind[3:])(wires=w)))
        else:
            ops.append(getattr(qml, kind)(wires=w))
    return ops


N_PARAMS = 3 * 60


def _measurements(n):
    H = qml.Hamiltonian([0.3, -1.2, 0.7], [qml.Z(0) @ qml.X(1), qml.Y(n - 1), qml.X(0) @ qml.Y(1) @ qml.Z(2)])
    herm = np.array([[1.0, 0.3 - 0.2j], [0.3 + 0.2j, -0.5]])
    return [qml.expval(qml.Z(0)), qml.expval(H), qml.var(qml.X(1) @ qml.Z(2)), qml.probs(wires=[2, 0]),
            qml.expval(qml.sum(qml.s_prod(0.5, qml.X(0)), qml.prod(qml.Y(1), qml.Z(3)), qml.Identity(2))),
            qml.var(qml.s_prod(2.0, qml.Y(0)) + qml.Z(1)), qml.expval(qml.Hermitian(herm, wires=3)), qml.state()]


@pytest.mark.parametrize("seed", range(4))
def test_random_circuits_match_default_qubit(seed):
    rng = np.random.default_rng(seed)
    n = 4
    params = rng.uniform(-np.pi, np.pi, N_PARAMS)
    ops = [qml.StatePrep(_random_unitary(rng, 2**n)[:, 0], wires=range(n))] + random_ops(rng, n, 60, params)
    tape = qml.tape.QuantumScript(ops, _measurements(n))
    ours = qml.execute([tape], qml.device("pyqml.qubit", wires=n), diff_method=None)[0]
    ref = qml.execute([tape], qml.device("default.qubit", wires=n), diff_method=None)[0]
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)


def test_basis_state_and_tensornet_method():
    ops = [qml.BasisState(np.array([1, 0, 1]), wires=range(3)), qml.RX(0.4, 1), qml.CNOT([1, 2]), qml.RY(-0.3, 0)]
    tape = qml.tape.QuantumScript(ops, [qml.expval(qml.Z(0) @ qml.Z(2)), qml.expval(qml.X(0)), qml.probs([1, 2])])
    ref = qml.execute([tape], qml.device("default.qubit", wires=3), diff_method=None)[0]
    for method in ("statevector", "tensornet", "auto"):
        ours = qml.execute([tape], qml.device("pyqml.qubit", wires=3, method=method), diff_method=None)[0]
        for a, b in zip(ours, ref):
            np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)


def _qnode_pair(n, n_gates, seed, interface="autograd"):
    rng = np.random.default_rng(seed)
    structure_seed = int(rng.integers(1 << 30))

    def circuit(p):
        ops = random_ops(np.random.default_rng(structure_seed), n, n_gates, p)
        for op in ops:
            qml.apply(op)
        H = qml.Hamiltonian([0.4, -0.9], [qml.Z(0) @ qml.Z(1), qml.X(2)])
        return qml.expval(H), qml.expval(qml.Y(1)), qml.var(qml.X(0) @ qml.Y(2))

    ours = qml.QNode(circuit, qml.device("pyqml.qubit", wires=n), diff_method="best", interface=interface)
    ref = qml.QNode(circuit, qml.device("default.qubit", wires=n), diff_method="backprop", interface=interface)
    return ours, ref, rng.uniform(-np.pi, np.pi, 3 * n_gates)


@pytest.mark.parametrize("seed", range(3))
def test_jacobian_matches_default_qubit_autograd(seed):
    ours, ref, p0 = _qnode_pair(3, 30, seed)
    p = pnp.array(p0, requires_grad=True)
    f = lambda q: lambda x: qml.math.stack(q(x))
    ja, jb = qml.jacobian(f(ours))(p), qml.jacobian(f(ref))(p)
    assert ja.shape == (3, len(p0))
    np.testing.assert_allclose(ja, jb, atol=1e-10, rtol=0)
    # Gradient of a scalar loss (one device VJP).
    loss = lambda q: lambda x: q(x)[0] * q(x)[1] + q(x)[2]
    np.testing.assert_allclose(qml.grad(loss(ours))(p), qml.grad(loss(ref))(p), atol=1e-10, rtol=0)


def test_device_vjp_with_variances_matches_default_qubit():
    ours, ref, p0 = _qnode_pair(3, 20, 4)
    ours = qml.QNode(ours.func, ours.device, diff_method="adjoint", device_vjp=True)
    p = pnp.array(p0, requires_grad=True)
    loss = lambda q: lambda x: q(x)[0] * q(x)[1] - 0.7 * q(x)[2]
    np.testing.assert_allclose(qml.grad(loss(ours))(p), qml.grad(loss(ref))(p), atol=1e-10, rtol=0)
    f = lambda q: lambda x: qml.math.stack(q(x))
    np.testing.assert_allclose(qml.jacobian(f(ours))(p), qml.jacobian(f(ref))(p), atol=1e-10, rtol=0)


def test_best_resolves_to_adjoint():
    dev = qml.device("pyqml.qubit", wires=2)

    @qml.qnode(dev)
    def f(x):
        qml.RX(x, 0)
        return qml.expval(qml.Z(0))

    assert qml.workflow.get_best_diff_method(f)(pnp.array(0.3)) == "adjoint"


def test_jacobian_matches_default_qubit_torch():
    torch = pytest.importorskip("torch")
    ours, ref, p0 = _qnode_pair(3, 25, 7, interface="torch")
    p = torch.tensor(p0, requires_grad=True, dtype=torch.float64)
    f = lambda q: lambda x: torch.stack(q(x))
    ja = torch.autograd.functional.jacobian(f(ours), p)
    jb = torch.autograd.functional.jacobian(f(ref), p)
    np.testing.assert_allclose(ja.numpy(), jb.numpy(), atol=1e-10, rtol=0)
    loss = ours(p)[0] + 2 * ours(p)[2]
    loss.backward()
    q = p.detach().clone().requires_grad_(True)
    (ref(q)[0] + 2 * ref(q)[2]).backward()
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=1e-10, rtol=0)


def test_jacobian_matches_default_qubit_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    ours, ref, p0 = _qnode_pair(3, 12, 11, interface="jax")
    f = lambda q: lambda x: jax.numpy.stack(q(x))
    ja = jax.jacobian(f(ours))(jax.numpy.array(p0))
    jb = jax.jacobian(f(ref))(jax.numpy.array(p0))
    np.testing.assert_allclose(np.asarray(ja), np.asarray(jb), atol=1e-10, rtol=0)


def _qnn(dev, diff_method):
    @qml.qnode(dev, diff_method=diff_method)
    def qnn(weights, x):
        qml.AngleEmbedding(x, wires=range(4))
        qml.StronglyEntanglingLayers(weights, wires=range(4))
        return [qml.expval(qml.Z(i)) for i in range(4)]

    return qnn


def test_qnn_training_trajectory_matches_default_qubit():
    from pyqml.datasets import load_iris

    X, y = load_iris()
    X = np.asarray(X, dtype=float)[::10]
    X = (X - X.mean(0)) / X.std(0)
    target = np.where(np.asarray(y)[::10] == 0, 1.0, -1.0)
    shape = qml.StronglyEntanglingLayers.shape(n_layers=2, n_wires=4)
    w0 = np.random.default_rng(3).uniform(0, 2 * np.pi, shape)
    trajectories = []
    for dev, diff in ((qml.device("pyqml.qubit", wires=4), "adjoint"), (qml.device("default.qubit", wires=4),
                                                                        "backprop")):
        qnn = _qnn(dev, diff)

        def cost(w, qnn=qnn):
            out = qml.math.stack(qnn(w, X))  # (4, rows): one broadcast tape
            return qml.math.mean((out[0] - target) ** 2) + 0.1 * qml.math.mean(out[1] * out[2])

        # Plain gradient descent: Adam's g / sqrt(v) would amplify rounding in near-zero gradient components.
        opt = qml.GradientDescentOptimizer(0.2)
        w = pnp.array(w0, requires_grad=True)
        traj = []
        for _ in range(10):
            w, c = opt.step_and_cost(cost, w)
            traj.append((float(c), np.array(w)))
        trajectories.append(traj)
    for (ca, wa), (cb, wb) in zip(*trajectories):
        assert abs(ca - cb) < 1e-10
        np.testing.assert_allclose(wa, wb, atol=1e-10, rtol=0)


@pytest.fixture
def engine_calls(monkeypatch):
    """Counts the state-vector executor's batched calls."""
    calls = []
    for name in ("expval", "var", "probs", "state", "sample", "jacobian", "vjp"):
        orig = getattr(StateVectorExecutor, name)

        def wrapped(self, *a, _orig=orig, _name=name, **k):
            w = np.asarray(a[0])
            calls.append((_name, w.shape[0] if w.ndim == 2 else 1))
            return _orig(self, *a, **k)

        monkeypatch.setattr(StateVectorExecutor, name, wrapped)
    return calls


def test_broadcast_tape_is_one_engine_call(engine_calls):
    dev = qml.device("pyqml.qubit", wires=4)
    qnn = _qnn(dev, "adjoint")
    ref = _qnn(qml.device("default.qubit", wires=4), "backprop")
    X = np.random.default_rng(0).normal(size=(25, 4))
    w0 = np.random.default_rng(1).normal(size=(2, 4, 3))
    out = qnn(pnp.array(w0, requires_grad=False), X)
    assert engine_calls == [("expval", 25)]
    np.testing.assert_allclose(np.stack(out), np.stack(ref(w0, X)), atol=1e-12, rtol=0)
    loss = lambda q: lambda w: qml.math.sum(qml.math.stack(q(w, X)) ** 2)
    w = pnp.array(w0, requires_grad=True)
    gref = qml.grad(loss(ref))(w)
    # PennyLane's default (device Jacobians): values and Jacobian in one call, the VJP contracts it.
    engine_calls.clear()
    np.testing.assert_allclose(qml.grad(loss(qnn))(w), gref, atol=1e-10, rtol=0)
    assert engine_calls == [("jacobian", 25)]
    # Device VJPs: one forward call, one VJP call over the 25 rows.
    engine_calls.clear()
    qnn_vjp = qml.QNode(qnn.func, dev, diff_method="adjoint", device_vjp=True)
    np.testing.assert_allclose(qml.grad(loss(qnn_vjp))(w), gref, atol=1e-10, rtol=0)
    assert engine_calls == [("expval", 25), ("vjp", 25)]


def test_broadcast_jacobian_one_engine_call(engine_calls):
    dev = qml.device("pyqml.qubit", wires=4)

    @qml.qnode(dev, diff_method="adjoint", device_vjp=False, grad_on_execution=True)
    def qnn(weights, x):
        qml.AngleEmbedding(x, wires=range(4))
        qml.StronglyEntanglingLayers(weights, wires=range(4))
        return [qml.expval(qml.Z(i)) for i in range(4)]

    X = np.random.default_rng(2).normal(size=(10, 4))
    w = pnp.array(np.random.default_rng(3).normal(size=(1, 4, 3)), requires_grad=True)
    jac = qml.jacobian(lambda w: qml.math.stack(qnn(w, X)))(w)
    assert engine_calls == [("jacobian", 10)]
    ref = _qnn(qml.device("default.qubit", wires=4), "backprop")
    jref = qml.jacobian(lambda w: qml.math.stack(ref(w, X)))(w)
    np.testing.assert_allclose(jac, jref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("device_vjp", [True, False])
def test_trainable_broadcast_parameter(device_vjp):
    def circuit(x, y):
        qml.RX(x, 0)
        qml.RY(y, 0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(1)), qml.expval(qml.X(0))

    x = pnp.array([0.1, 0.5, -0.7], requires_grad=True)
    y = pnp.array(0.3, requires_grad=True)
    ours = qml.QNode(circuit, qml.device("pyqml.qubit", wires=2), diff_method="adjoint", device_vjp=device_vjp)
    ref = qml.QNode(circuit, qml.device("default.qubit", wires=2), diff_method="backprop")
    f = lambda q: lambda x, y: qml.math.stack(q(x, y))
    for a, b in zip(qml.jacobian(f(ours))(x, y), qml.jacobian(f(ref))(x, y)):
        np.testing.assert_allclose(a, b, atol=1e-10, rtol=0)


def test_batch_of_same_structure_tapes_is_one_engine_call(engine_calls):
    dev = qml.device("pyqml.qubit", wires=3)
    rng = np.random.default_rng(5)
    tapes = []
    for _ in range(7):
        a, b, c = rng.uniform(-3, 3, 3)
        tapes.append(qml.tape.QuantumScript([qml.RX(a, 0), qml.CNOT([0, 1]), qml.CRY(b, [1, 2]), qml.RZ(c, 2)],
                                            [qml.expval(qml.Z(2)), qml.expval(qml.X(0) @ qml.Y(2))]))
    ours = dev.execute(tapes)
    assert engine_calls == [("expval", 7)]
    ref = qml.device("default.qubit", wires=3).execute(tapes)
    np.testing.assert_allclose(np.array(ours), np.array(ref), atol=1e-12, rtol=0)
    engine_calls.clear()
    for t in tapes:
        t.trainable_params = [0, 2]
    res, jacs = dev.execute_and_compute_derivatives(tapes)
    assert engine_calls == [("jacobian", 7)]
    _, jref = qml.device("default.qubit", wires=3).execute_and_compute_derivatives(
        tapes, qml.devices.ExecutionConfig(gradient_method="adjoint"))
    np.testing.assert_allclose(np.array(jacs), np.array(jref), atol=1e-10, rtol=0)
    engine_calls.clear()
    cots = [(1.0, -0.5)] * 7
    _, vjps = dev.execute_and_compute_vjp(tapes, cots)
    assert engine_calls == [("vjp", 7)]
    expect = [np.array(j).T @ np.array(c) for j, c in zip(jref, cots)]
    np.testing.assert_allclose(np.array(vjps), np.array(expect), atol=1e-10, rtol=0)


def test_structure_cache_compiles_once():
    dev = qml.device("pyqml.qubit", wires=2)

    @qml.qnode(dev)
    def f(a, b):
        qml.RX(a, 0)
        qml.IsingZZ(b, [0, 1])
        qml.RY(a, 1)
        return qml.expval(qml.Z(0) @ qml.X(1))

    ref = qml.QNode(f.func, qml.device("default.qubit", wires=2))
    for a in np.linspace(-2, 2, 5):
        assert abs(f(a, 0.3 * a) - ref(a, 0.3 * a)) < 1e-12
    assert dev.compilations == 1
    f(np.array([0.1, 0.2]), 0.3)  # broadcast: same structure
    assert dev.compilations == 1
    qml.QNode(lambda a: (qml.RX(a, 1), qml.expval(qml.Z(1)))[1], dev)(0.2)
    assert dev.compilations == 2


def test_finite_shots_reproducible_and_statistically_right():
    def circuit():
        qml.Hadamard(0)
        qml.CNOT([0, 1])
        qml.RY(0.7, 2)
        return qml.sample(wires=[0, 1, 2]), qml.counts(wires=[0, 1]), qml.expval(qml.Z(2)), qml.expval(qml.X(0) @ qml.X(1))

    def run(seed, shots=4000):
        return qml.set_shots(qml.QNode(circuit, qml.device("pyqml.qubit", wires=3, seed=seed)), shots)()

    s1, c1, z1, xx1 = run(42)
    s2, c2, z2, xx2 = run(42)
    s3, *_ = run(43)
    assert s1.shape == (4000, 3) and set(np.unique(s1)) <= {0, 1}
    np.testing.assert_array_equal(s1, s2)
    assert c1 == c2 and z1 == z2
    assert not np.array_equal(s1, s3)
    np.testing.assert_array_equal(s1[:, 0], s1[:, 1])  # Bell pair: perfectly correlated
    assert set(c1) == {"00", "11"} and sum(c1.values()) == 4000
    assert abs(z1 - np.cos(0.7)) < 5 * np.sqrt((1 - np.cos(0.7) ** 2) / 4000)
    assert xx1 == 1.0  # X X on the Bell pair is +1 in every shot


def test_shot_vector_and_broadcast_with_shots():
    dev = qml.device("pyqml.qubit", wires=2, seed=1)

    @qml.set_shots(shots=(100, 200))
    @qml.qnode(dev)
    def f(x):
        qml.RX(x, 0)
        return qml.expval(qml.Z(0)), qml.sample(wires=[0])

    (e1, s1), (e2, s2) = f(np.array([0.0, np.pi]))
    assert s1.shape == (2, 100, 1) and s2.shape == (2, 200, 1)
    np.testing.assert_array_equal(e1, [1.0, -1.0])
    np.testing.assert_array_equal(e2, [1.0, -1.0])


def test_wire_labels():
    def circuit(x):
        qml.RX(x, "a")
        qml.CNOT(["a", "b"])
        qml.RY(0.3, "b")
        return qml.expval(qml.Z("b")), qml.probs(wires=["b", "a"]), qml.state()

    x = pnp.array(0.4, requires_grad=True)
    ours = qml.QNode(circuit, qml.device("pyqml.qubit", wires=["a", "b"]))
    ref = qml.QNode(circuit, qml.device("default.qubit", wires=["a", "b"]))
    for a, b in zip(ours(x), ref(x)):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
    def gates_only(x):
        qml.RX(x, "a")
        qml.CNOT(["a", "b"])
        qml.RY(0.3, "b")
        return qml.expval(qml.Y("a") @ qml.X("b"))

    expval_only = lambda dev: qml.QNode(gates_only, dev)
    g = qml.grad(expval_only(qml.device("pyqml.qubit", wires=["a", "b"])))(x)
    assert abs(g - qml.grad(expval_only(qml.device("default.qubit", wires=["a", "b"])))(x)) < 1e-12
    # Integer labels in another order map to 0..n-1 in the device's order.
    dev = qml.device("pyqml.qubit", wires=[3, 1])
    t = qml.tape.QuantumScript([qml.X(1)], [qml.probs(wires=[3, 1])])
    np.testing.assert_allclose(dev.execute(t), [0, 1, 0, 0])


def test_density_matrix_and_entropy_from_state():
    def circuit():
        qml.Hadamard(0)
        qml.CRY(0.8, [0, 1])
        return qml.density_matrix(wires=[1]), qml.vn_entropy(wires=[0]), qml.purity(wires=[1])

    ours = qml.QNode(circuit, qml.device("pyqml.qubit", wires=2))()
    ref = qml.QNode(circuit, qml.device("default.qubit", wires=2))()
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        qml.device("pyqml.qubit", wires=2, method="mps")
    with pytest.raises(ValueError, match="precision"):
        qml.device("pyqml.qubit", wires=2, precision="float16")
    dev = qml.device("pyqml.qubit", wires=2)
    with pytest.raises(qml.exceptions.WireError):
        qml.QNode(lambda: qml.expval(qml.Z(5)), dev)()
    assert isinstance(dev, PyqmlQubit)


def test_qubit_unitary_constant_trainable_and_broadcast():
    rng = np.random.default_rng(9)
    U = _random_unitary(rng, 4)

    def circuit(x, U):
        qml.RX(x, 0)
        qml.QubitUnitary(U, wires=[0, 1])
        qml.GlobalPhase(0.4)
        return qml.expval(qml.Z(0) @ qml.Y(1)), qml.expval(qml.X(1))

    x = pnp.array(0.7, requires_grad=True)
    ours = qml.QNode(circuit, qml.device("pyqml.qubit", wires=2))
    ref = qml.QNode(circuit, qml.device("default.qubit", wires=2), diff_method="backprop")
    f = lambda q: lambda x, U: qml.math.stack(q(x, U))
    # A constant matrix: compiled into the circuit, derivatives with respect to the angle.
    Uc = pnp.array(U, requires_grad=False)
    np.testing.assert_allclose(qml.jacobian(f(ours))(x, Uc), qml.jacobian(f(ref))(x, Uc), atol=1e-10, rtol=0)
    # A trainable matrix is decomposed by PennyLane into table gates.
    Ut = pnp.array(U, requires_grad=True)
    np.testing.assert_allclose(f(ours)(x, Ut), f(ref)(x, Ut), atol=1e-12, rtol=0)
    # A batch of matrices runs one compiled circuit per matrix.
    Ub = np.stack([U, _random_unitary(rng, 4), np.eye(4)])
    np.testing.assert_allclose(np.stack(ours(0.3, Ub)), np.stack(ref(0.3, Ub)), atol=1e-12, rtol=0)


def test_shots_hamiltonian_and_variance():
    H = qml.Hamiltonian([0.5, -0.8, 0.3], [qml.X(0), qml.Z(0) @ qml.Z(1), qml.Y(1)])

    def circuit():
        qml.RY(0.9, 0)
        qml.CRX(1.1, [0, 1])
        return qml.expval(H), qml.var(qml.X(0)), qml.probs(wires=[1])

    exact = qml.QNode(circuit, qml.device("default.qubit", wires=2))()
    shots = 20000
    a = qml.set_shots(qml.QNode(circuit, qml.device("pyqml.qubit", wires=2, seed=5)), shots)()
    b = qml.set_shots(qml.QNode(circuit, qml.device("pyqml.qubit", wires=2, seed=5)), shots)()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    sigma_h = np.sqrt(sum(c**2 for c in (0.5, 0.8, 0.3)) / shots)  # each term's variance is at most 1
    assert abs(a[0] - exact[0]) < 5 * sigma_h
    assert abs(a[1] - exact[1]) < 5 * np.sqrt(2 / shots)
    np.testing.assert_allclose(a[2], exact[2], atol=5 * np.sqrt(0.25 / shots))


def test_jax_jit():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)

    def circuit(x):
        qml.RX(x[0], 0)
        qml.CNOT([0, 1])
        qml.RY(x[1], 1)
        return qml.expval(qml.Z(1)), qml.expval(qml.X(0) @ qml.X(1))

    x = jax.numpy.array([0.3, -0.5])
    ours = qml.QNode(circuit, qml.device("pyqml.qubit", wires=2), interface="jax-jit")
    ref = qml.QNode(circuit, qml.device("default.qubit", wires=2), interface="jax")
    ja = jax.jit(jax.jacobian(lambda x: jax.numpy.stack(ours(x))))(x)
    jb = jax.jacobian(lambda x: jax.numpy.stack(ref(x)))(x)
    np.testing.assert_allclose(np.asarray(ja), np.asarray(jb), atol=1e-12, rtol=0)
