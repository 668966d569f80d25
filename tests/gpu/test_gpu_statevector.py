"""The GPU state vector against the CPU engine on random circuits over every gate of the table: values,
variances, probabilities, samples, states, the adjoint Jacobian and VJPs, in complex128 (1e-12) and
complex64 (1e-5), on the three paths a call can take (many rows per launch with the states in shared
memory, the same with the states in global memory, one row at a time over the whole device)."""
import numpy as np
import pytest
from random_circuits import RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import _core

pytestmark = pytest.mark.gpu

TOL = {"complex128": 1e-12, "complex64": 1e-5}

# (wires, rows): 5 wires run many rows per launch in shared memory; 12 wires and 64 rows do too, with the
# gradient states (4 x 2^12 amplitudes) in global memory; 12 wires and 3 rows run row by row; 16 wires row by row.
CASES = [(5, 40), (12, 64), (12, 3), (16, 2)]


def _setup(n, rows, seed, n_obs=3):
    rng = np.random.default_rng(seed)
    rc = RandomCircuit(n, 6 * n, rng, n_inputs=2)
    c = rc.circuit()
    obs = [random_pauli_sum(n, rng, n_terms=3)[0] for _ in range(n_obs - 1)] + [pq.Z(0) @ pq.X(n - 1)]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    x = rng.uniform(-1, 1, (rows, 2))
    return c, obs, w, x, rng


def _pair(c, obs, precision, measurement="expval"):
    cpu = c.executor(obs, "statevector", precision, measurement)
    gpu = c.executor(obs, "statevector", precision, measurement, device="gpu")
    assert type(gpu._sim) is _core.GpuStateVector
    return cpu, gpu


@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("n,rows", CASES)
def test_values_and_gradients_match_the_cpu_engine(n, rows, precision):
    c, obs, w, x, rng = _setup(n, rows, seed=n * 100 + rows)
    cpu, gpu = _pair(c, obs, precision, "jacobian")
    tol = TOL[precision]
    np.testing.assert_allclose(gpu.expval(w, x), cpu.expval(w, x), atol=tol, rtol=0)
    for a, b in zip(gpu.jacobian(w, x), cpu.jacobian(w, x)):
        np.testing.assert_allclose(a, b, atol=tol * 10, rtol=0)
    cot = rng.normal(size=(rows, len(obs)))
    cot[0, 1] = 0.0  # a zero cotangent entry is skipped on both sides
    for a, b in zip(gpu.vjp(w, x, cot), cpu.vjp(w, x, cot)):
        np.testing.assert_allclose(a, b, atol=tol * 10, rtol=0)
    # One weight vector per row: per-row weight gradients.
    wr = rng.uniform(-np.pi, np.pi, (rows, w.size))
    for a, b in zip(gpu.vjp(wr, x, cot), cpu.vjp(wr, x, cot)):
        np.testing.assert_allclose(a, b, atol=tol * 10, rtol=0)


@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("n,rows", [(5, 3), (12, 2)])
def test_measurements_match_the_cpu_engine(n, rows, precision):
    c, obs, w, x, rng = _setup(n, rows, seed=7 + n)
    cpu, gpu = _pair(c, obs, precision, "expval")
    tol = TOL[precision]
    np.testing.assert_allclose(gpu.var(w, x), cpu.var(w, x), atol=tol * 10, rtol=0)
    np.testing.assert_allclose(gpu.state(w, x), cpu.state(w, x), atol=tol, rtol=0)
    for wires in ([0], [n - 1, 1], list(range(n)), [2, 0, 3]):
        np.testing.assert_allclose(gpu.probs(w, x, wires), cpu.probs(w, x, wires), atol=tol, rtol=0)
    if precision == "complex128":
        s_gpu, s_cpu = gpu.sample(w, x, [0, 2], 500, 11), cpu.sample(w, x, [0, 2], 500, 11)
        assert s_gpu.shape == (rows, 500, 2)
        # Same probabilities to 1e-12 and the same seeds: the same draws.
        assert (s_gpu == s_cpu).mean() > 0.999


@pytest.mark.parametrize("n", [7, 15])
def test_every_gate_kind_alone(n):
    # One gate at a time after a dense random state, so each kernel (dense on 1, 2, 3 targets, controls,
    # diagonals of every width, fused runs) is checked on its own: 7 wires run many rows per launch, 15 wires
    # one row at a time over the device.
    from dense_reference import random_unitary

    rng = np.random.default_rng(5 + n)
    for g in sorted(_core.gate_table(), key=lambda gg: gg["name"]):
        name, npar = g["name"], g["n_params"]
        k = g["n_wires"] if g["n_wires"] > 0 else (3 if name == "QubitUnitary" else 6)
        prep = RandomCircuit(n, 3 * n, rng, names=["RX", "RY", "Rot", "CNOT"], trainable=False)
        c = pq.Circuit(n)
        wts = c.new_weights(npar) if npar else []
        wires = [int(v) for v in rng.permutation(n)[:k]]
        with c:
            for pname, pw, params, _ in prep.spec:
                pq.GATES[pname](*[p[3] for p in params], wires=pw)
            if name == "QubitUnitary":
                pq.QubitUnitary(random_unitary(2**k, rng), wires=wires)
            else:
                pq.GATES[name](*[wts[i] for i in range(npar)], wires=wires)
        obs = [pq.X(wires[0]) @ pq.Y(wires[-1]) + 0.5 * pq.Z(wires[0]), pq.Z(wires[-1])]
        w = rng.uniform(-np.pi, np.pi, npar)
        cpu, gpu = _pair(c, obs, "complex128", "jacobian")
        W = np.tile(w, (3, 1))
        np.testing.assert_allclose(gpu.expval(W), cpu.expval(W), atol=1e-12, rtol=0, err_msg=name)
        np.testing.assert_allclose(gpu.state(W[:1]), cpu.state(W[:1]), atol=1e-12, rtol=0, err_msg=name)
        if npar:
            for a, b in zip(gpu.jacobian(W), cpu.jacobian(W)):
                np.testing.assert_allclose(a, b, atol=1e-11, rtol=0, err_msg=name)


def test_gradients_against_finite_differences():
    # Independent of the CPU engine: central differences of the GPU's own values.
    c, obs, w, x, _ = _setup(6, 2, seed=3, n_obs=2)
    gpu = c.executor(obs, "statevector", "complex128", "jacobian", device="gpu")
    _, dw, _ = gpu.jacobian(w, x)
    h = 1e-6
    for k in range(min(w.size, 6)):
        e = np.zeros_like(w)
        e[k] = h
        fd = (gpu.expval(w + e, x) - gpu.expval(w - e, x)) / (2 * h)
        np.testing.assert_allclose(dw[:, :, k], fd, atol=1e-7, rtol=0)


def test_qnode_and_measurement_functions_take_the_device():
    @pq.qnode(wires=3, device="gpu")
    def f(weights):
        pq.RY(weights[0], wires=0)
        pq.CNOT(wires=[0, 1])
        pq.RX(weights[1], wires=2)
        return pq.expval(pq.Z(1) @ pq.Z(2))

    w = np.array([0.4, -1.1])
    assert abs(f(w) - np.cos(0.4) * np.cos(-1.1)) < 1e-12
    assert f.compile([(2,)]).executor().device == "gpu"
    c = pq.Circuit(2, [pq.H(wires=0), pq.CNOT(wires=[0, 1])])
    np.testing.assert_allclose(pq.probs(c, wires=[0, 1], device="gpu"), [0.5, 0, 0, 0.5], atol=1e-12)


def test_register_over_free_device_memory_is_refused_before_allocating():
    free, total = _core.cuda_memory_info(0)
    n = int(np.ceil(np.log2(total / 16.0))) + 2  # 4x the whole device
    c = pq.Circuit(n, [pq.H(wires=0), pq.CNOT(wires=[0, 1])])
    ex = c.executor([pq.Z(0)], "statevector", device="gpu")
    with pytest.raises(pq.MemoryLimitError, match="CUDA device 0 needs an estimated"):
        ex.expval(np.zeros(0))
    est = ex.estimate(c, [pq.Z(0)], "expval", "complex128", device="gpu")
    assert not est.feasible and "free memory of CUDA device 0" in est.reason
    # The device still works afterwards.
    small = pq.Circuit(2, [pq.H(wires=0)])
    assert abs(pq.expval(small, pq.X(0), device="gpu") - 1.0) < 1e-12


def test_missing_device_index():
    with pytest.raises(pq.DeviceUnavailableError, match="does not exist"):
        pq.expval(pq.Circuit(1, [pq.H(wires=0)]), pq.X(0), device=f"cuda:{_core.cuda_device_count()}")
