"""The density-matrix method against a dense numpy Kraus simulation (written here: rho -> sum_k K rho K^dag
with full 2^n x 2^n operators), PennyLane's recorded noisy circuits, finite differences and closed forms."""
import json
from pathlib import Path

import dense_reference as ref
import numpy as np
import pytest
from random_circuits import RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import _core

REF = json.loads((Path(__file__).parent.parent / "data" / "reference" / "noise.json").read_text())
W1 = json.loads((Path(__file__).parent.parent / "data" / "reference" / "w1_seed_qnn.json").read_text())

# Channel constructors for random circuits: (name, wires, parameter sampler, data).
_rng0 = np.random.default_rng(11)
_K1 = [np.sqrt(0.5) * ref.random_unitary(2, _rng0), np.sqrt(0.5) * ref.random_unitary(2, _rng0)]
_K2 = [np.sqrt(0.8) * ref.random_unitary(4, _rng0), np.sqrt(0.2) * ref.random_unitary(4, _rng0)]
CHANNELS = [
    ("BitFlip", 1, lambda r: [r.uniform(0, 1)]),
    ("PhaseFlip", 1, lambda r: [r.uniform(0, 1)]),
    ("DepolarizingChannel", 1, lambda r: [r.uniform(0, 1)]),
    ("AmplitudeDamping", 1, lambda r: [r.uniform(0, 1)]),
    ("GeneralizedAmplitudeDamping", 1, lambda r: [r.uniform(0, 1), r.uniform(0, 1)]),
    ("PhaseDamping", 1, lambda r: [r.uniform(0, 1)]),
    ("ResetError", 1, lambda r: list(r.dirichlet([1, 1, 1])[:2])),
    ("ThermalRelaxationError", 1, lambda r: [r.uniform(0, 1), 1e-4, r.uniform(2e-5, 2e-4), r.uniform(0, 2e-5)]),
    ("PauliError", 1, lambda r: ["XYZ"[r.integers(3)], r.uniform(0, 1)]),
    ("PauliError", 2, lambda r: ["".join("IXYZ"[i] for i in r.integers(1, 4, 2)), r.uniform(0, 1)]),
    ("QubitChannel", 1, lambda r: [_K1]),
    ("QubitChannel", 2, lambda r: [_K2]),
]


def _make_channel(name, params, wires):
    return getattr(pq, name)(*params, wires=wires)


def dense_dm(n, steps):
    """steps: ("U", matrix, wires) or ("K", kraus list, wires). rho from |0...0><0...0|."""
    rho = np.zeros((2**n, 2**n), dtype=complex)
    rho[0, 0] = 1
    for kind, M, wires in steps:
        if kind == "U":
            F = ref.full_operator(M, wires, n)
            rho = F @ rho @ F.conj().T
        else:
            rho = sum(ref.full_operator(K, wires, n) @ rho @ ref.full_operator(K, wires, n).conj().T for K in M)
    return rho


class NoisyCircuit:
    """A random circuit over the gate table (tests/random_circuits.py) with random channels in between."""

    def __init__(self, n, n_gates, rng, n_inputs=0, n_channels=None):
        self.n = n
        self.rc = RandomCircuit(n, n_gates, rng, n_inputs=n_inputs)
        choices = [c for c in CHANNELS if c[1] <= n]
        n_channels = len(choices) if n_channels is None else n_channels
        # Every channel at least once when there is room; inserted after random gates.
        self.channels = {}
        for j in range(n_channels):
            name, k, sample = choices[j % len(choices)]
            wires = [int(w) for w in rng.permutation(n)[:k]]
            pos = int(rng.integers(0, n_gates + 1))
            self.channels.setdefault(pos, []).append((name, sample(rng), wires))

    def circuit(self):
        base = self.rc.circuit()
        ops = []
        for i, op in enumerate(base.ops + [None]):
            for name, params, wires in self.channels.get(i, []):
                ops.append(_make_channel_quiet(name, params, wires))
            if op is not None:
                ops.append(op)
        return pq.Circuit(self.n, ops, base.n_weights, base.n_inputs)

    def dense(self, w, x):
        steps = []
        gates = self.rc.dense(w, x)
        for i in range(len(gates) + 1):
            for name, params, wires in self.channels.get(i, []):
                steps.append(("K", list(_make_channel_quiet(name, params, wires).kraus_matrices()), wires))
            if i < len(gates):
                M, ws = gates[i]
                steps.append(("U", M, ws))
        return dense_dm(self.n, steps)


def _make_channel_quiet(name, params, wires):
    from pyqml.frontend import recording

    class _Sink:
        def record(self, op):
            pass

    sink = _Sink()
    recording.push(sink)
    try:
        return _make_channel(name, params, wires)
    finally:
        recording.pop(sink)


def _expval_dense(rho, terms, n):
    return np.trace(ref.pauli_matrix(terms, n) @ rho).real


CASES = [(1, 0), (2, 0), (2, 1), (3, 0), (4, 0), (5, 1), (8, 0)]


@pytest.mark.parametrize("n,seed", CASES)
@pytest.mark.parametrize("precision", ["complex128", "complex64"])
def test_random_noisy_circuits_against_dense_kraus(n, seed, precision):
    rng = np.random.default_rng(ref.seed_of("dm", n, seed))
    nc = NoisyCircuit(n, 10 if n < 8 else 16, rng, n_inputs=2)
    c = nc.circuit()
    rows = 2
    w = rng.uniform(-np.pi, np.pi, nc.rc.n_weights)
    x = rng.uniform(-1, 1, (rows, 2))
    obs = [random_pauli_sum(n, rng) for _ in range(3)]
    ex = c.executor([o for o, _ in obs], "densitymatrix", precision)
    got = ex.expval(w, x)
    rhos = [nc.dense(w, row) for row in x]
    want = [[_expval_dense(rho, t, n) for _, t in obs] for rho in rhos]
    tol = 1e-12 if precision == "complex128" else 2e-5
    np.testing.assert_allclose(got, want, atol=tol * max(1, np.abs(want).max()), rtol=0)
    if precision == "complex64" or n > 5:
        return
    dmats = ex.density_matrix(w, x)
    for r in range(rows):
        np.testing.assert_allclose(dmats[r], rhos[r], atol=1e-12)
    var = ex.var(w, x)
    want_var = [[np.trace(ref.pauli_matrix(t, n) @ ref.pauli_matrix(t, n) @ rho).real - _expval_dense(rho, t, n) ** 2
                 for _, t in obs] for rho in rhos]
    np.testing.assert_allclose(var, want_var, atol=1e-11)
    wires = [int(v) for v in rng.permutation(n)[: min(n, 2)]]
    p = ex.probs(w, x, wires)
    for r in range(rows):
        diag = np.clip(np.diag(rhos[r]).real, 0, None)
        marg = diag.reshape((2,) * n)
        others = tuple(v for v in range(n) if v not in wires)
        marg = marg.sum(axis=others) if others else marg
        marg = np.transpose(marg, [sorted(wires).index(v) for v in wires]).reshape(-1)
        np.testing.assert_allclose(p[r], marg, atol=1e-12)


def _fd_jacobian(c, obs, w, x, h=1e-6):
    ex = c.executor(obs, "densitymatrix")
    dw = np.zeros((x.shape[0], len(obs), len(w)))
    for k in range(len(w)):
        e = np.zeros_like(w)
        e[k] = h
        dw[:, :, k] = (ex.expval(w + e, x) - ex.expval(w - e, x)) / (2 * h)
    dx = np.zeros((x.shape[0], len(obs), x.shape[1]))
    for j in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, j] = h
        dx[:, :, j] = (ex.expval(w, x + e) - ex.expval(w, x - e)) / (2 * h)
    return dw, dx


@pytest.mark.parametrize("n,seed", [(1, 0), (2, 0), (3, 1), (4, 2)])
def test_adjoint_jacobian_against_finite_differences(n, seed):
    rng = np.random.default_rng(ref.seed_of("dm-jac", n, seed))
    nc = NoisyCircuit(n, 10, rng, n_inputs=2)
    c = nc.circuit()
    w = rng.uniform(-np.pi, np.pi, nc.rc.n_weights)
    x = rng.uniform(-1, 1, (2, 2))
    obs = [o for o, _ in (random_pauli_sum(n, rng) for _ in range(2))]
    vals, dw, dx = pq.jacobian(c, obs, weights=w, inputs=x, method="densitymatrix")
    np.testing.assert_allclose(vals, c.executor(obs, "densitymatrix").expval(w, x), atol=1e-13)
    fw, fx = _fd_jacobian(c, obs, w, x)
    np.testing.assert_allclose(dw, fw, atol=1e-8)
    np.testing.assert_allclose(dx, fx, atol=1e-8)
    # The VJP is the cotangent's contraction of the Jacobian.
    cot = rng.normal(size=vals.shape)
    v2, vw, vx = c.executor(obs, "densitymatrix", measurement="vjp").vjp(w, x, cot)
    np.testing.assert_allclose(v2, vals, atol=1e-13)
    np.testing.assert_allclose(vw, np.einsum("ro,rok->k", cot, dw), atol=1e-12)
    np.testing.assert_allclose(vx, np.einsum("ro,roj->rj", cot, dx), atol=1e-12)


def _trainable_noise_circuit():
    """Every parametrised channel with weight parameters, and inputs feeding a channel."""
    c = pq.Circuit(3)
    w = c.new_weights(12)
    x = c.new_inputs(1)
    with c:
        pq.RY(0.7, wires=0)
        pq.RX(1.1, wires=1)
        pq.CNOT(wires=[0, 1])
        pq.RY(0.4, wires=2)
        pq.BitFlip(w[0], wires=0)
        pq.PhaseFlip(w[1], wires=1)
        pq.Hadamard(wires=2)
        pq.DepolarizingChannel(w[2], wires=2)
        pq.AmplitudeDamping(w[3], wires=0)
        pq.CRY(0.9, wires=[0, 2])
        pq.GeneralizedAmplitudeDamping(w[4], w[5], wires=1)
        pq.PhaseDamping(w[6], wires=2)
        pq.RX(0.3, wires=0)
        pq.ResetError(w[7], w[8], wires=0)
        pq.PauliError("XY", w[9], wires=[1, 2])
        pq.ThermalRelaxationError(w[10], 1e-4, 8e-5, 1e-6 * w[11], wires=1)
        pq.DepolarizingChannel(0.2 * x[0] + 0.3, wires=1)
        pq.CNOT(wires=[1, 2])
    return c


def test_channel_parameter_gradients_against_finite_differences():
    c = _trainable_noise_circuit()
    w = np.array([0.1, 0.2, 0.15, 0.3, 0.25, 0.6, 0.35, 0.1, 0.2, 0.3, 0.4, 5.0])
    x = np.array([[0.4], [-0.7]])
    obs = [pq.Z(0), pq.X(1) @ pq.Y(2) + 0.5 * pq.Z(2), pq.Z(1) @ pq.Z(2)]
    vals, dw, dx = pq.jacobian(c, obs, weights=w, inputs=x, method="densitymatrix")
    fw, fx = _fd_jacobian(c, obs, w, x, h=1e-7)
    np.testing.assert_allclose(dw, fw, atol=1e-7)
    np.testing.assert_allclose(dx, fx, atol=1e-7)
    assert np.abs(dw).max() > 0.05 and np.abs(dx).max() > 0.01  # the derivatives are not trivially zero


def test_checkpoints_and_recomputation_give_the_same_gradient():
    c = _trainable_noise_circuit()
    w = np.array([0.1, 0.2, 0.15, 0.3, 0.25, 0.6, 0.35, 0.1, 0.2, 0.3, 0.4, 5.0])
    x = np.array([[0.4]])
    obs = [pq.Z(0), pq.Z(1) @ pq.Z(2)]
    want = pq.jacobian(c, obs, weights=w, inputs=x, method="densitymatrix")
    old = pq.memory_limit()
    try:
        # Room for the base density matrices and only a few checkpoints: the rest is recomputed.
        for extra in (0, 2):
            pq.set_memory_limit(int((3 + extra) * 16 * 4**3 + 60_000))
            c2 = _trainable_noise_circuit()
            got = pq.jacobian(c2, obs, weights=w, inputs=x, method="densitymatrix")
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, atol=1e-13)
    finally:
        pq.set_memory_limit(0)
        assert pq.memory_limit() == pytest.approx(old, rel=0.5)


def _noisy_seed_qnn(noise_p=0.01):
    nm = pq.NoiseModel()
    nm.add(pq.DepolarizingChannel, noise_p, gates=["RX", "Rot", "CNOT"])

    @pq.qnode(wires=4, noise=nm)
    def f(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(4))
        pq.StronglyEntanglingLayers(weights, wires=range(4))
        return [pq.expval(pq.Z(i)) for i in range(4)]

    return f


def _iris_standardized():
    from pyqml.qml.datasets import load_iris

    X, _ = load_iris()
    X = np.asarray(X, dtype=float)
    return (X - X.mean(axis=0)) / X.std(axis=0)


def test_noisy_seed_qnn_matches_pennylane_default_mixed():
    ref_ = REF["noisy_seed_qnn"]
    W = np.array(ref_["weights"])
    X = _iris_standardized()
    f = _noisy_seed_qnn()
    np.testing.assert_allclose(f(X, W), np.array(ref_["values"]), atol=1e-12)
    vals, dW, _ = f.jacobian(X[:1], W)
    np.testing.assert_allclose(dW[0], np.array(ref_["jac_row0"]), atol=1e-12)
    # Without noise it is the seed QNN (state vector reference values).
    f0 = _noisy_seed_qnn(0.0)
    np.testing.assert_allclose(f0(X, W), np.array(W1["values"]), atol=1e-12)


def test_damping_3q_matches_pennylane():
    d = REF["damping_3q"]
    t = d["angles"]
    c = pq.Circuit(3)
    with c:
        for i in range(3):
            pq.RY(t[i], wires=i)
        pq.CNOT(wires=[0, 1])
        pq.AmplitudeDamping(0.3, wires=1)
        pq.CNOT(wires=[1, 2])
        pq.PhaseDamping(0.25, wires=2)
        pq.RX(t[3], wires=0)
        pq.GeneralizedAmplitudeDamping(0.2, 0.4, wires=0)
        pq.ThermalRelaxationError(0.05, 100e-6, 80e-6, 1e-6, wires=2)
    got = pq.expval(c, [pq.Z(0), pq.Z(1), pq.Z(2), pq.X(0) @ pq.X(1)], weights=np.zeros(0))
    np.testing.assert_allclose(got, d["values"], atol=1e-12)


def test_noiseless_density_matrix_is_the_pure_state():
    rng = np.random.default_rng(5)
    rc = RandomCircuit(4, 20, rng, n_inputs=1)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    x = rng.uniform(-1, 1, (3, 1))
    rho = c.executor([], "densitymatrix").density_matrix(w, x)
    psi = pq.state(c, weights=w, inputs=x, method="statevector") if hasattr(pq, "state") else None
    for r in range(3):
        s = psi[r] if psi is not None else rc.state(w, x[r])
        np.testing.assert_allclose(rho[r], np.outer(s, s.conj()), atol=1e-12)


def test_global_depolarizing_scales_expectations_per_layer():
    # A depolarizing channel on every wire after each layer: <Z0 Z1 Z2> picks up (1 - 4p/3) per wire per
    # layer for a product observable that is stabilised by the (Clifford) layer's action.
    n, p, layers = 3, 0.07, 4
    lam = 1 - 4 * p / 3
    c = pq.Circuit(n)
    with c:
        for _ in range(layers):
            for i in range(n):
                pq.Hadamard(wires=i)
            for i in range(n):
                pq.DepolarizingChannel(p, wires=i)
    # Z -> X -> Z ... each layer: <Z^(x)3> or <X^(x)3> alternate, each damped by lam^3 per layer.
    obs = pq.Z(0) @ pq.Z(1) @ pq.Z(2) if layers % 2 == 0 else pq.X(0) @ pq.X(1) @ pq.X(2)
    got = pq.expval(c, [obs], weights=np.zeros(0))
    np.testing.assert_allclose(got, [lam ** (n * layers)], atol=1e-14)
    # A single-wire expectation: damped by lam per layer.
    got1 = pq.expval(c, [pq.Z(0) if layers % 2 == 0 else pq.X(0)], weights=np.zeros(0))
    np.testing.assert_allclose(got1, [lam**layers], atol=1e-14)


def test_amplitude_damping_relaxes_to_its_fixed_point():
    # |1> under k rounds of AmplitudeDamping(g): <Z> = 1 - 2 (1 - g)^k -> 1; GeneralizedAmplitudeDamping's
    # fixed point has <Z> = 1 - 2p (population p of |1>).
    g, k = 0.2, 25
    c = pq.Circuit(1)
    with c:
        pq.PauliX(wires=0)
        for _ in range(k):
            pq.AmplitudeDamping(g, wires=0)
    np.testing.assert_allclose(pq.expval(c, [pq.Z(0)], weights=np.zeros(0)), [1 - 2 * (1 - g) ** k], atol=1e-14)
    p = 0.3
    c2 = pq.Circuit(1)
    with c2:
        pq.Hadamard(wires=0)
        for _ in range(200):
            pq.GeneralizedAmplitudeDamping(0.3, p, wires=0)
    got = pq.expval(c2, [pq.Z(0), pq.X(0)], weights=np.zeros(0))
    np.testing.assert_allclose(got, [1 - 2 * p, 0.0], atol=1e-12)


def test_gradient_with_respect_to_a_damping_rate_is_analytic():
    # <Z> = 1 - 2 (1 - g)^k after |1> and k dampings of one trainable rate g: d/dg = 2 k (1 - g)^(k-1).
    g, k = 0.15, 6
    c = pq.Circuit(1)
    w = c.new_weights(1)
    with c:
        pq.PauliX(wires=0)
        for _ in range(k):
            pq.AmplitudeDamping(w[0], wires=0)
    vals, dw, _ = pq.jacobian(c, [pq.Z(0)], weights=np.array([g]), method="densitymatrix")
    np.testing.assert_allclose(dw.reshape(-1), [2 * k * (1 - g) ** (k - 1)], atol=1e-13)


def test_auto_chooses_densitymatrix_for_noise():
    c = pq.Circuit(2)
    with c:
        pq.RY(0.3, wires=0)
        pq.BitFlip(0.1, wires=0)
    from pyqml.frontend.execution import choose_method

    assert choose_method(c, [pq.Z(0)]) == "densitymatrix"
    np.testing.assert_allclose(pq.expval(c, [pq.Z(0)], weights=np.zeros(0)), [0.8 * np.cos(0.3)], atol=1e-14)
    clean = pq.Circuit(2)
    with clean:
        pq.RY(0.3, wires=0)
    nm = pq.NoiseModel().add(pq.BitFlip, 0.1)
    assert choose_method(clean, [pq.Z(0)], options={"noise": nm}) == "densitymatrix"
    assert choose_method(clean, [pq.Z(0)]) == "statevector"
    np.testing.assert_allclose(pq.expval(clean, [pq.Z(0)], weights=np.zeros(0), noise=nm), [0.8 * np.cos(0.3)],
                               atol=1e-14)
    with pytest.raises(ValueError, match="method 'statevector' does not take the option 'noise'; methods that do: "
                                         "'tensornet', 'densitymatrix', 'trajectories'"):
        pq.expval(clean, [pq.Z(0)], weights=np.zeros(0), noise=nm, method="statevector")
    with pytest.raises(ValueError, match="'statevector' does not simulate noise channels; methods that do: "
                                         ".*'densitymatrix'"):
        pq.expval(c, [pq.Z(0)], weights=np.zeros(0), method="statevector")


def test_noise_model_rules_and_readout():
    c = pq.Circuit(3)
    with c:
        pq.Hadamard(wires=0)
        pq.CNOT(wires=[0, 1])
        pq.RX(0.4, wires=2)
        pq.CNOT(wires=[1, 2])
    nm = (pq.NoiseModel()
          .add(pq.DepolarizingChannel, 0.05, gates="CNOT")
          .add(pq.PauliError, "ZZ", 0.1, gates=pq.CNOT)
          .add("AmplitudeDamping", 0.2, wires=2)
          .readout_error(0.03))
    noisy = nm.apply(c)
    names = [op.name for op in noisy.ops]
    assert names == ["Hadamard", "CNOT", "DepolarizingChannel", "DepolarizingChannel", "PauliError", "RX",
                     "AmplitudeDamping", "CNOT", "DepolarizingChannel", "DepolarizingChannel", "PauliError",
                     "AmplitudeDamping", "BitFlip", "BitFlip", "BitFlip"]
    assert [list(op.wires) for op in noisy.ops][-4:] == [[2], [0], [1], [2]]
    assert len(c.ops) == 4  # the clean circuit is left as it was
    obs = [pq.Z(0), pq.Z(1) @ pq.Z(2), pq.X(0) @ pq.X(1)]
    got = pq.expval(c, obs, weights=np.zeros(0), noise=nm)
    want = pq.expval(noisy, obs, weights=np.zeros(0), method="densitymatrix")
    np.testing.assert_allclose(got, want, atol=0)
    steps = []
    for op in noisy.ops:
        if getattr(op, "is_channel", False):
            steps.append(("K", list(op.kraus_matrices()), list(op.wires)))
        else:
            steps.append(("U", ref.gate_matrix(op.name, [float(p) for p in op.params], len(op.wires)), list(op.wires)))
    rho = dense_dm(3, steps)
    dense = [_expval_dense(rho, t, 3) for t in ([(1.0, {0: "Z"})], [(1.0, {1: "Z", 2: "Z"})],
                                                 [(1.0, {0: "X", 1: "X"})])]
    np.testing.assert_allclose(got, dense, atol=1e-13)
    # The same model object (or an equal one) reuses the cached executor.
    nm2 = (pq.NoiseModel().add(pq.DepolarizingChannel, 0.05, gates="CNOT").add(pq.PauliError, "ZZ", 0.1, gates="CNOT")
           .add("AmplitudeDamping", 0.2, wires=2).readout_error(0.03))
    assert nm2 == nm and hash(nm2) == hash(nm)


@pytest.mark.parametrize("make,err,match", [
    (lambda: pq.NoiseModel().add(pq.BitFlip, 1.5), ValueError, r"BitFlip: p = 1.5 is outside"),
    (lambda: pq.NoiseModel().add("Nope", 0.1), ValueError, r"unknown channel 'Nope'"),
    (lambda: pq.NoiseModel().add(pq.RX, 0.1), TypeError, r"channel class or name"),
    (lambda: pq.NoiseModel().readout_error(-0.1), ValueError, r"readout error: p = -0.1"),
    (lambda: pq.NoiseModel().add(pq.BitFlip, 0.1, wires=[-1]), ValueError, r"non-negative integers"),
])
def test_noise_model_bad_input(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_bad_input_is_refused_before_allocating():
    c = pq.Circuit(2)
    w = c.new_weights(1)
    with c:
        pq.RY(0.3, wires=0)
        pq.DepolarizingChannel(w[0], wires=1)
    with pytest.raises(ValueError, match=r"op 1 \(DepolarizingChannel\): DepolarizingChannel: p = 1.2 is outside"):
        pq.expval(c, [pq.Z(0)], weights=np.array([1.2]))
    with pytest.raises(ValueError, match=r"op 1 \(DepolarizingChannel\)"):
        pq.jacobian(c, [pq.Z(0)], weights=np.array([[0.1], [-0.5]]))
    with pytest.raises(ValueError, match="wire 5 is out of range"):
        with pq.Circuit(2):
            pass
        _core.Circuit(2, [("BitFlip", [5], [(0, 0, 1.0, 0.1)], None)], 0, 0)
    with pytest.raises(ValueError, match="cannot compute state; methods that can: 'statevector'"):
        c.executor([], "densitymatrix", measurement="state")
    with pytest.raises(TypeError, match="noise= takes a pyqml.NoiseModel"):
        pq.expval(c, [pq.Z(0)], weights=np.array([0.1]), noise="depolarizing")
    big = pq.Circuit(13)
    with big:
        pq.BitFlip(0.1, wires=0)
    old = pq.memory_limit()
    try:
        pq.set_memory_limit(1 << 30)
        with pytest.raises(pq.MemoryLimitError, match=r"density matri.* of 13 wires.*memory limit"):
            pq.expval(big, [pq.Z(0)], weights=np.zeros(0), method="densitymatrix")
    finally:
        pq.set_memory_limit(0)
    assert pq.memory_limit() == pytest.approx(old, rel=0.5)
    wide = pq.Circuit(16)
    with wide:
        pq.BitFlip(0.1, wires=0)
    with pytest.raises(ValueError, match="at most 15 wires"):
        pq.expval(wide, [pq.Z(0)], weights=np.zeros(0), method="densitymatrix")


def test_rows_and_threads_give_identical_results():
    c = _trainable_noise_circuit()
    w = np.array([0.1, 0.2, 0.15, 0.3, 0.25, 0.6, 0.35, 0.1, 0.2, 0.3, 0.4, 5.0])
    x = np.linspace(-1, 1, 9)[:, None]
    obs = [pq.Z(0), pq.Z(1) @ pq.Z(2)]
    t0 = pq.get_num_threads()
    try:
        pq.set_num_threads(1)
        one = pq.jacobian(c, obs, weights=w, inputs=x, method="densitymatrix")
        pq.set_num_threads(max(2, t0))
        many = pq.jacobian(c, obs, weights=w, inputs=x, method="densitymatrix")
    finally:
        pq.set_num_threads(t0)
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a, b)
    single = [pq.jacobian(c, obs, weights=w, inputs=x[r:r + 1], method="densitymatrix") for r in range(9)]
    for r in range(9):
        for a, b in zip(single[r], many):
            np.testing.assert_array_equal(a[0], b[r])


def test_sklearn_estimator_takes_a_noise_model():
    pytest.importorskip("sklearn")
    from pyqml.qml.sklearn import QNNClassifier

    X = _iris_standardized()[::10, :2]
    y = (np.arange(len(X)) % 2).astype(int)
    clean = QNNClassifier(n_layers=1, epochs=3, random_state=0).fit(X, y)
    zero = QNNClassifier(n_layers=1, epochs=3, random_state=0,
                         noise=pq.NoiseModel().add(pq.DepolarizingChannel, 0.0)).fit(X, y)
    noisy = QNNClassifier(n_layers=1, epochs=3, random_state=0,
                          noise=pq.NoiseModel().add(pq.DepolarizingChannel, 0.3)).fit(X, y)
    np.testing.assert_allclose(zero.predict_proba(X), clean.predict_proba(X), atol=1e-12)
    assert np.abs(noisy.predict_proba(X) - clean.predict_proba(X)).max() > 1e-3


# Long runs of single-wire gates and channels on each wire, which the engine fuses into one 4x4
# superoperator per run (runs stay open across ops on other wires), with weights, inputs and constants
# mixed inside a run; multi-wire gates and channels close the runs of their wires.
# (kind, name, params, wires): a param is a number, ("w", k, scale) or ("x", j).
_U1 = ref.random_unitary(2, np.random.default_rng(5))
_FUSED_SPEC = [
    ("U", "RX", [("x", 0)], [0]),
    ("K", "DepolarizingChannel", [("w", 0, 0.5)], [0]),
    ("U", "Rot", [("w", 1, 1.0), 0.3, ("w", 2, -1.0)], [0]),
    ("U", "RZ", [("w", 3, 1.0)], [1]),
    ("K", "AmplitudeDamping", [0.2], [1]),
    ("U", "CNOT", [], [1, 2]),
    ("U", "PhaseShift", [("x", 1)], [0]),
    ("U", "QubitUnitary", [], [0]),
    ("K", "GeneralizedAmplitudeDamping", [("w", 4, 0.5), 0.3], [0]),
    ("U", "Hadamard", [], [1]),
    ("K", "PhaseDamping", [("w", 5, 0.5)], [1]),
    ("U", "RY", [("w", 6, 1.0)], [1]),
    ("K", "BitFlip", [0.1], [1]),
    ("U", "CRX", [("w", 7, 1.0)], [0, 2]),
    ("U", "T", [], [0]),
    ("K", "PhaseFlip", [("w", 8, 0.5)], [0]),
    ("K", "PauliError", ["XZ", 0.2], [1, 2]),
    ("U", "RY", [("w", 9, 1.0)], [2]),
    ("K", "DepolarizingChannel", [0.05], [2]),
    ("U", "RX", [0.4], [2]),
    ("U", "CNOT", [], [2, 0]),
    ("U", "RY", [("x", 0)], [0]),
    ("K", "AmplitudeDamping", [("w", 0, 0.5)], [0]),
]

_DENSE_GATES = {
    "RX": ref.rx, "RY": ref.ry, "RZ": ref.rz, "PhaseShift": ref.phase, "Rot": ref.rot,
    "Hadamard": lambda: ref.H, "T": lambda: np.diag([1, np.exp(0.25j * np.pi)]),
    "CNOT": lambda: ref.controlled(ref.X), "CRX": lambda t: ref.controlled(ref.rx(t)),
    "QubitUnitary": lambda: _U1,
}


def _fused_circuit():
    c = pq.Circuit(3)
    w = c.new_weights(10)
    x = c.new_inputs(2)

    def bind(p):
        if isinstance(p, tuple) and p[0] == "w":
            return p[2] * w[p[1]]
        if isinstance(p, tuple):
            return x[p[1]]
        return p

    with c:
        for _, name, params, wires in _FUSED_SPEC:
            if name == "QubitUnitary":
                pq.QubitUnitary(_U1, wires=wires)
            else:
                getattr(pq, name)(*[bind(p) for p in params], wires=wires)
    return c


def _fused_dense(w, x):
    import noisy_reference as nref

    def val(p):
        if isinstance(p, tuple) and p[0] == "w":
            return p[2] * w[p[1]]
        if isinstance(p, tuple):
            return x[p[1]]
        return p

    steps = []
    for kind, name, params, wires in _FUSED_SPEC:
        if kind == "U":
            steps.append(("U", _DENSE_GATES[name](*[val(p) for p in params]), wires))
        elif name == "PauliError":
            steps.append(("K", nref.kraus(name, [params[1]], 2, params[0]), wires))
        else:
            steps.append(("K", nref.kraus(name, [val(p) for p in params]), wires))
    return dense_dm(3, steps)


def test_fused_single_wire_runs_against_dense_kraus_and_finite_differences():
    c = _fused_circuit()
    rng = np.random.default_rng(ref.seed_of("dm-fused", 0))
    w = rng.uniform(0.05, 0.9, 10)
    obs_terms = [[(1.0, {0: "Z"})], [(0.7, {1: "X", 2: "Y"}), (0.4, {0: "Y"})], [(1.0, {0: "X", 2: "Z"})]]
    obs = [pq.Z(0), 0.7 * (pq.X(1) @ pq.Y(2)) + 0.4 * pq.Y(0), pq.X(0) @ pq.Z(2)]

    def dense_vals(w, x):
        rho = _fused_dense(w, x)
        return np.array([_expval_dense(rho, t, 3) for t in obs_terms])

    for rows in (1, 2, 3, 5, 17):
        x = rng.uniform(-1, 1, (rows, 2))
        got = c.executor(obs, "densitymatrix").expval(w, x)
        want = np.array([dense_vals(w, row) for row in x])
        np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)
        np.testing.assert_allclose(c.executor(obs, "densitymatrix", "complex64").expval(w, x), want, atol=2e-5)
        dm = c.executor(obs, "densitymatrix").density_matrix(w, x)
        np.testing.assert_allclose(dm[-1], _fused_dense(w, x[-1]), atol=1e-12)
    vals, dw, dx = pq.jacobian(c, obs, weights=w, inputs=x, method="densitymatrix")
    np.testing.assert_allclose(vals, want, atol=1e-12)
    h = 1e-6
    for r in (0, 7, 16):
        for k in range(10):
            e = np.zeros(10)
            e[k] = h
            fd = (dense_vals(w + e, x[r]) - dense_vals(w - e, x[r])) / (2 * h)
            np.testing.assert_allclose(dw[r, :, k], fd, atol=1e-8)
        for j in range(2):
            e = np.zeros(2)
            e[j] = h
            fd = (dense_vals(w, x[r] + e) - dense_vals(w, x[r] - e)) / (2 * h)
            np.testing.assert_allclose(dx[r, :, j], fd, atol=1e-8)
    assert np.abs(dw).max() > 0.05 and np.abs(dx).max() > 0.05
    # The VJP through the fused runs is the cotangent's contraction of the Jacobian.
    cot = rng.normal(size=vals.shape)
    v2, vw, vx = c.executor(obs, "densitymatrix", measurement="vjp").vjp(w, x, cot)
    np.testing.assert_allclose(vw, np.einsum("ro,rok->k", cot, dw), atol=1e-12)
    np.testing.assert_allclose(vx, np.einsum("ro,roj->rj", cot, dx), atol=1e-12)
