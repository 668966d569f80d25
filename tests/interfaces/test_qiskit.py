"""pyqml.qiskit against Qiskit's own references: the converter against qiskit.quantum_info.Statevector, the V2
primitives against StatevectorEstimator / StatevectorSampler, Qiskit Machine Learning's EstimatorQNN,
SamplerQNN, FidelityQuantumKernel and TorchConnector on pyqml's primitives against the same objects on
Qiskit's reference primitives with parameter-shift gradients."""
import subprocess
import sys

import numpy as np
import pytest

qiskit = pytest.importorskip("qiskit")
pytest.importorskip("qiskit_machine_learning")

import pyqml.qiskit as pqk
from qiskit.circuit import ClassicalRegister, Parameter, ParameterVector, QuantumCircuit
from qiskit.circuit.library import UnitaryGate, get_standard_gate_name_mapping, zz_feature_map
from qiskit.primitives import StatevectorEstimator, StatevectorSampler
from qiskit.quantum_info import SparsePauliOp, Statevector, random_unitary
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
from qiskit_machine_learning.kernels import FidelityQuantumKernel
from qiskit_machine_learning.neural_networks import EstimatorQNN, SamplerQNN

import pyqml as pq

TOL = 1e-10


def test_import_pyqml_does_not_import_qiskit():
    code = "import sys, pyqml; assert 'qiskit' not in sys.modules; import pyqml.qiskit; print(pyqml.qiskit.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "pyqml.interfaces.qiskit"


# ------------------------------------------------------------------------------------- converter
_ONE = ["x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg", "id"]
_ONE_P = {"rx": 1, "ry": 1, "rz": 1, "p": 1, "u": 3, "u2": 2, "r": 2}
_TWO = ["cx", "cy", "cz", "ch", "swap", "iswap", "ecr", "dcx"]
_TWO_P = {"crx": 1, "cry": 1, "crz": 1, "cp": 1, "rxx": 1, "ryy": 1, "rzz": 1, "rzx": 1, "cu": 4, "xx_plus_yy": 2}


_STANDARD = get_standard_gate_name_mapping()


def _add(qc, name, params, qubits):
    qc.append(type(_STANDARD[name])(*params), qubits)


def _random_circuit(rng, n, n_ops, params, allow_decomposed=True):
    qc = QuantumCircuit(n)

    def angle():
        k = rng.integers(3)
        if k == 0:
            return float(rng.uniform(-3, 3))
        p = params[rng.integers(len(params))]
        return float(rng.uniform(-2, 2)) * p + float(rng.uniform(-1, 1)) if k == 1 else p

    direct_two = ["cx", "cy", "cz", "ch", "swap", "iswap"]
    direct_two_p = ["crx", "cry", "crz", "cp", "rxx", "ryy", "rzz"]
    for _ in range(n_ops):
        kind = rng.integers(5)
        q = [int(i) for i in rng.permutation(n)]
        if kind == 0:
            _add(qc, str(rng.choice(_ONE)), [], q[:1])
        elif kind == 1:
            names = list(_ONE_P) if allow_decomposed else ["rx", "ry", "rz", "p", "u", "u2"]
            name = names[rng.integers(len(names))]
            _add(qc, name, [angle() for _ in range(_ONE_P[name])], q[:1])
        elif kind == 2:
            names = _TWO if allow_decomposed else direct_two
            _add(qc, str(rng.choice(names)), [], q[:2])
        elif kind == 3:
            names = list(_TWO_P) if allow_decomposed else direct_two_p
            name = names[rng.integers(len(names))]
            _add(qc, name, [angle() for _ in range(_TWO_P[name])], q[:2])
        else:
            if n >= 3 and rng.integers(2):
                _add(qc, str(rng.choice(["ccx", "cswap"])), [], q[:3])
            else:
                qc.append(UnitaryGate(random_unitary(2 ** min(n, 2), seed=int(rng.integers(1 << 30)))),
                          q[: min(n, 2)])
    return qc


def _pq_state(circuit, weights, inputs=None):
    return pq.state(circuit, weights=weights, inputs=inputs, method="statevector")


@pytest.mark.parametrize("seed", range(6))
def test_from_qiskit_matches_statevector(seed):
    """Directly mapped gates: the same amplitudes, phase included (qubit q is wire n - 1 - q)."""
    rng = np.random.default_rng(seed)
    n = 2 + seed % 3
    theta = ParameterVector("t", 4)
    qc = _random_circuit(rng, n, 25, list(theta), allow_decomposed=False)
    values = rng.uniform(-np.pi, np.pi, size=len(qc.parameters))
    c = pq.qiskit.from_qiskit(qc)
    assert c.weight_parameters == tuple(qc.parameters) and c.n_inputs == 0
    ref = Statevector(qc.assign_parameters(values)).data
    assert np.abs(_pq_state(c, values) - ref).max() < TOL


@pytest.mark.parametrize("seed", range(4))
def test_from_qiskit_decomposed_gates_and_inputs(seed):
    """Gates outside the table go through qiskit's transpile (equal up to the global phase it drops); some
    parameters as inputs, a batch of input rows in one call."""
    rng = np.random.default_rng(100 + seed)
    n = 3 + seed % 2
    x, w = ParameterVector("x", 2), ParameterVector("w", 3)
    qc = _random_circuit(rng, n, 25, list(x) + list(w))
    if n == 4:
        qc.mcx([0, 1, 2], 3)
    c = pq.qiskit.from_qiskit(qc, input_params=[p for p in x if p in set(qc.parameters)])
    xs = rng.uniform(-2, 2, size=(3, c.n_inputs))
    ws = rng.uniform(-2, 2, size=c.n_weights)
    states = _pq_state(c, ws, xs)
    for row in range(3):
        binding = dict(zip(c.input_parameters, xs[row])) | dict(zip(c.weight_parameters, ws))
        ref = Statevector(qc.assign_parameters(binding)).data
        overlap = np.vdot(ref, states[row])
        assert abs(abs(overlap) - 1) < TOL
        assert np.abs(states[row] * np.conj(overlap) - ref).max() < 1e-9


def test_from_qiskit_refuses_what_it_cannot_represent():
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(2)
    qc.rx(a * b, 0)
    with pytest.raises(ValueError, match="not an affine function"):
        pq.qiskit.from_qiskit(qc)
    qc = QuantumCircuit(1)
    qc.rx(a.sin(), 0)
    with pytest.raises(ValueError, match="not an affine function"):
        pq.qiskit.from_qiskit(qc)
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    with pytest.raises(ValueError, match="measures"):
        pq.qiskit.from_qiskit(qc)
    qc = QuantumCircuit(1)
    qc.reset(0)
    with pytest.raises(ValueError, match="reset"):
        pq.qiskit.from_qiskit(qc)
    qc = QuantumCircuit(1, 1)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(0)
    with pytest.raises(ValueError, match="control flow"):
        pq.qiskit.from_qiskit(qc)
    with pytest.raises(TypeError, match="QuantumCircuit"):
        pq.qiskit.from_qiskit("h q[0];")


def test_observable_conversion():
    rng = np.random.default_rng(3)
    labels = ["XZIY", "IIZZ", "YYXI", "IIII", "ZIIX"]
    op = SparsePauliOp(labels, rng.normal(size=len(labels)))
    obs = pq.qiskit.from_qiskit_observable(op)
    assert np.abs(obs.matrix(4) - op.to_matrix()).max() < TOL
    with pytest.raises(ValueError, match="complex coefficient"):
        pq.qiskit.from_qiskit_observable(SparsePauliOp(["XY"], [1j]))


# ------------------------------------------------------------------------------------- estimator
def _ansatz(n=3, layers=2):
    x = ParameterVector("x", n)
    w = ParameterVector("w", 2 * n * layers)
    qc = QuantumCircuit(n)
    for i in range(n):
        qc.rx(x[i], i)
    k = 0
    for _ in range(layers):
        for i in range(n):
            qc.ry(w[k], i)
            qc.rz(0.5 * w[k + 1] - 0.2, i)
            k += 2
        for i in range(n):
            qc.cx(i, (i + 1) % n)
    return qc, list(x), list(w)


def test_estimator_matches_statevector_estimator_with_broadcasting():
    qc, x, w = _ansatz()
    rng = np.random.default_rng(0)
    values = rng.uniform(-np.pi, np.pi, size=(4, len(qc.parameters)))
    obs = [[SparsePauliOp(["ZII", "IXY"], [0.7, -0.3])], [SparsePauliOp("ZZZ")]]
    other = QuantumCircuit(2)
    other.h(0)
    other.cx(0, 1)
    pubs = [(qc, obs, values), (qc, "XXI", values[0]), (other, ["ZZ", "XX", "YY", "II"])]
    est = pqk.EstimatorV2()
    calls = []
    executor = est._engine.executor
    est._engine.executor = lambda *a: calls.append(a[0]) or executor(*a)
    got = est.run(pubs).result()
    assert len(calls) == 2  # one batched engine call per circuit structure, all its PUBs' rows together
    est.run([(qc.copy(), "ZZZ", values)]).result()
    assert len(est._engine._cache) == 2 and len(calls) == 3  # the copy is only bound, not compiled again
    ref = StatevectorEstimator().run(pubs).result()
    assert len(got) == 3
    for g, r in zip(got, ref):
        assert g.data.evs.shape == r.data.evs.shape and g.data.stds.shape == r.data.evs.shape
        assert np.abs(g.data.evs - r.data.evs).max() < TOL
        assert g.metadata["target_precision"] == 0.0
    assert got[0].data.evs.shape == (2, 4)


def test_estimator_precision_is_reproducible_noise():
    qc, _, _ = _ansatz()
    values = np.random.default_rng(1).uniform(-1, 1, size=(200, len(qc.parameters)))
    pub = (qc, "ZZI", values)
    exact = pqk.EstimatorV2().run([pub]).result()[0].data.evs
    noisy = pqk.EstimatorV2(seed=7).run([pub], precision=0.05).result()[0]
    again = pqk.EstimatorV2(seed=7).run([pub], precision=0.05).result()[0]
    ref = StatevectorEstimator(seed=7).run([pub], precision=0.05).result()[0]
    assert np.array_equal(noisy.data.evs, again.data.evs)
    assert np.abs(noisy.data.evs - ref.data.evs).max() < TOL  # the reference's draws, same seed
    z = (noisy.data.evs - exact) / 0.05
    assert np.abs(z).max() < 4.5 and abs(z.mean()) < 4 / np.sqrt(z.size) and 0.8 < z.std() < 1.2
    assert np.all(noisy.data.stds == 0.05)


def test_estimator_bad_input(monkeypatch):
    qc, _, _ = _ansatz()
    est = pqk.EstimatorV2()
    with pytest.raises(ValueError) as ours:
        est.run([(qc, "ZZZ", np.zeros(3))])
    with pytest.raises(ValueError) as theirs:
        StatevectorEstimator().run([(qc, "ZZZ", np.zeros(3))])
    assert str(ours.value) == str(theirs.value)
    measured = qc.copy()
    measured.measure_all()
    with pytest.raises(ValueError, match="measures"):
        est.run([(measured, "ZZZ", np.zeros(len(qc.parameters)))])

    def no_engine(*args, **kwargs):
        raise AssertionError("the engine was called")

    monkeypatch.setattr(est._engine, "executor", no_engine)
    values = np.zeros((2, len(qc.parameters)))
    values[1, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        est.run([(qc, "ZZZ", values)])
    grad = pqk.AdjointEstimatorGradient(est)
    with pytest.raises(ValueError, match="finite"):
        grad.run([qc], [SparsePauliOp("ZZZ")], [values[1]])
    with pytest.raises(TypeError, match="pyqml.qiskit.EstimatorV2"):
        pqk.AdjointEstimatorGradient(StatevectorEstimator())


# ------------------------------------------------------------------------------------- sampler
def test_sampler_counts_match_the_exact_distribution():
    qc, _, _ = _ansatz()
    qc = qc.copy()
    cr = ClassicalRegister(2, "c")
    qc.add_register(cr)
    qc.measure_all()  # register "meas", 3 bits
    qc.measure(2, cr[0])
    values = np.random.default_rng(2).uniform(-np.pi, np.pi, size=(2, len(qc.parameters)))
    shots = 20000
    res = pqk.SamplerV2(seed=11).run([(qc, values)], shots=shots).result()[0]
    again = pqk.SamplerV2(seed=11).run([(qc, values)], shots=shots).result()[0]
    ref = StatevectorSampler(seed=11).run([(qc, values)], shots=shots).result()[0]
    for name in ("meas", "c"):
        assert getattr(res.data, name).shape == getattr(ref.data, name).shape == (2,)
        assert getattr(res.data, name).num_bits == getattr(ref.data, name).num_bits
        assert getattr(res.data, name).num_shots == shots
        assert np.array_equal(getattr(res.data, name).array, getattr(again.data, name).array)
    plain = qc.remove_final_measurements(inplace=False)
    for row in range(2):
        probs = Statevector(plain.assign_parameters(values[row])).probabilities_dict()
        counts = res.data.meas.get_counts(row)
        chi2 = sum((counts.get(k, 0) - shots * p) ** 2 / (shots * p) for k, p in probs.items() if p > 1e-9)
        assert chi2 < 8 + 4 * np.sqrt(2 * 8)  # 7 degrees of freedom, far tail
        assert set(counts) <= {k for k, p in probs.items() if p > 1e-12}
        # register c: bit 0 is qubit 2, bit 1 never measured (reads 0), as in the reference
        c_counts = res.data.c.get_counts(row)
        assert set(c_counts) <= {"00", "01"}
        p1 = sum(p for k, p in probs.items() if k[0] == "1")
        assert abs(c_counts.get("01", 0) - shots * p1) < 4 * np.sqrt(shots * p1 * (1 - p1)) + 1
        assert res.data.c.get_counts(row).get("01", 0) == sum(v for k, v in counts.items() if k[0] == "1")


def test_sampler_refuses_mid_circuit_measurement():
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    qc.h(0)
    with pytest.raises(ValueError, match="mid-circuit"):
        pqk.SamplerV2().run([qc])


# ------------------------------------------------------------------------------------- Qiskit ML
def _qnns(input_gradients, n=3, layers=2):
    qc, x, w = _ansatz(n, layers)
    obs = [SparsePauliOp("Z" + "I" * (n - 1)), SparsePauliOp(["I" + "Z" * (n - 1), "X" + "I" * (n - 2) + "X"], [0.5, 0.25])]
    est = pqk.EstimatorV2()
    ours = EstimatorQNN(circuit=qc, observables=obs, input_params=x, weight_params=w, estimator=est,
                        gradient=pqk.AdjointEstimatorGradient(est), input_gradients=input_gradients,
                        default_precision=0.0)
    ref_est = StatevectorEstimator()
    ref = EstimatorQNN(circuit=qc, observables=obs, input_params=x, weight_params=w, estimator=ref_est,
                       gradient=ParamShiftEstimatorGradient(ref_est), input_gradients=input_gradients,
                       default_precision=0.0)
    return ours, ref


@pytest.mark.parametrize("input_gradients", [False, True])
def test_estimator_qnn_forward_backward(input_gradients):
    ours, ref = _qnns(input_gradients)
    rng = np.random.default_rng(4)
    xs = rng.uniform(-1, 1, size=(3, ours.num_inputs))
    ws = rng.uniform(-np.pi, np.pi, size=ours.num_weights)
    assert np.abs(ours.forward(xs, ws) - ref.forward(xs, ws)).max() < TOL
    (gi, gw), (ri, rw) = ours.backward(xs, ws), ref.backward(xs, ws)
    assert gw.shape == rw.shape == (3, 2, ours.num_weights)
    assert np.abs(gw - rw).max() < TOL
    if input_gradients:
        assert np.abs(gi - ri).max() < TOL
    else:
        assert gi is None and ri is None


def test_gradient_parameter_subsets_and_non_affine_angles():
    """``parameters=`` picks and orders the gradient's entries; an angle a*b+sin(a) (a slot evaluated in
    Python and chained back) matches parameter shift on Qiskit's reference estimator."""
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(2)
    qc.ry(a, 0)
    qc.rx(a * b + a.sin(), 1)
    qc.cx(0, 1)
    qc.rz(2 * b, 1)
    qc.rxx(a + b, 0, 1)
    obs = SparsePauliOp(["ZZ", "XY"], [1.0, 0.3])
    values = [[0.3, -0.8], [1.2, 0.4]]
    ref = ParamShiftEstimatorGradient(StatevectorEstimator()).run([qc, qc], [obs, obs], values,
                                                                 parameters=[[b], [b, a]]).result()
    got = pqk.AdjointEstimatorGradient().run([qc, qc], [obs, obs], values, parameters=[[b], [b, a]]).result()
    assert [g.shape for g in got.gradients] == [(1,), (2,)]
    for g, r in zip(got.gradients, ref.gradients):
        assert np.abs(g - r).max() < TOL
    evs = pqk.EstimatorV2().run([(qc, obs, values)]).result()[0].data.evs
    assert np.abs(evs - StatevectorEstimator().run([(qc, obs, values)]).result()[0].data.evs).max() < TOL


def test_sampler_qnn_forward():
    qc, x, w = _ansatz(n=2, layers=1)
    qc.measure_all()
    rng = np.random.default_rng(5)
    xs = rng.uniform(-1, 1, size=(3, 2))
    ws = rng.uniform(-np.pi, np.pi, size=len(w))
    shots = 40000
    qnn = SamplerQNN(circuit=qc, input_params=x, weight_params=w, sampler=pqk.SamplerV2(default_shots=shots, seed=3))
    probs = qnn.forward(xs, ws)
    assert probs.shape == (3, 4)
    plain = qc.remove_final_measurements(inplace=False)
    for row in range(3):
        binding = dict(zip(x, xs[row])) | dict(zip(w, ws))
        exact = Statevector(plain.assign_parameters(binding)).probabilities()
        sigma = np.sqrt(exact * (1 - exact) / shots)
        assert np.all(np.abs(probs[row] - exact) <= 4 * sigma + 1e-12)
    assert np.array_equal(probs, SamplerQNN(circuit=qc, input_params=x, weight_params=w,
                                            sampler=pqk.SamplerV2(default_shots=shots, seed=3)).forward(xs, ws))


def test_fidelity_quantum_kernel():
    fmap = zz_feature_map(3, reps=2)  # angles 2 (pi - x_i)(pi - x_j): non-affine, one slot each
    rng = np.random.default_rng(6)
    xa = rng.uniform(0, 2, size=(5, 3))
    xb = rng.uniform(0, 2, size=(3, 3))
    kernel = FidelityQuantumKernel(feature_map=fmap, fidelity=pqk.Fidelity())
    states_a = [Statevector(fmap.assign_parameters(r)).data for r in xa]
    states_b = [Statevector(fmap.assign_parameters(r)).data for r in xb]
    gram = kernel.evaluate(xa)
    ref = np.array([[abs(np.vdot(s, t)) ** 2 for t in states_a] for s in states_a])
    assert np.abs(gram - ref).max() < TOL
    cross = kernel.evaluate(xa, xb)
    ref = np.array([[abs(np.vdot(s, t)) ** 2 for t in states_b] for s in states_a])
    assert np.abs(cross - ref).max() < TOL


def test_estimator_qnn_torch_connector_trains():
    torch = pytest.importorskip("torch")
    from qiskit_machine_learning.connectors import TorchConnector

    torch.set_default_dtype(torch.float64)
    try:
        rng = np.random.default_rng(8)
        xs = torch.tensor(rng.uniform(-1, 1, size=(4, 2)))
        ys = torch.tensor(rng.choice([-1.0, 1.0], size=(4, 2)))
        w0 = rng.uniform(-np.pi, np.pi, size=8)

        def train(qnn):
            model = TorchConnector(qnn, initial_weights=w0)
            opt = torch.optim.SGD(model.parameters(), lr=0.2)
            losses = []
            for _ in range(3):
                opt.zero_grad()
                loss = torch.mean((model(xs) - ys) ** 2)
                loss.backward()
                opt.step()
                losses.append(loss.item())
            return np.array(losses), model.weight.detach().numpy().copy()

        ours, ref = _qnns(False, n=2, layers=2)
        l_ours, w_ours = train(ours)
        l_ref, w_ref = train(ref)
        assert l_ours[-1] < l_ours[0]
        assert np.abs(l_ours - l_ref).max() < 1e-8 and np.abs(w_ours - w_ref).max() < 1e-8
    finally:
        torch.set_default_dtype(torch.float32)
