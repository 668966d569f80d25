"""The GPU tensor network against the CPU tensor-network executor on the same plans: values, the reverse-mode
Jacobian and VJPs in complex128 (1e-12) and complex64 (1e-5) on W3-like light-cone brickworks, a small grid,
random circuits with inputs, fused blocks, noise channels, sliced plans, recomputed gradients and many rows
(several groups per structure); var and probs through the same device; the calls that stay on the CPU."""
import numpy as np
import pytest
from random_circuits import RandomCircuit, random_pauli_sum, ry_cz_brickwork

import pyqml as pq
from pyqml import _core

pytestmark = pytest.mark.gpu

TOL = {"complex128": 1e-12, "complex64": 1e-5}


def brickwork(n, layers):
    """W3-like: RY on every wire, CZ on even then odd bonds, `layers` times; H = sum Z_i Z_i+1 + 0.5 sum X_i."""
    c = ry_cz_brickwork(n, layers)
    H = sum((pq.Z(i) @ pq.Z(i + 1) for i in range(1, n - 1)), pq.Z(0) @ pq.Z(1))
    H = H + 0.5 * sum((pq.X(i) for i in range(1, n)), pq.X(0))
    return c, H


def grid(lx, ly, layers):
    """W4-like on an lx x ly grid: RY layers and CZ on the four bond classes; H = sum over bonds Z_a Z_b."""
    n = lx * ly
    q = lambda r, s: r * ly + s
    subs = [[(q(r, s), q(r, s + 1)) for r in range(lx) for s in range(0, ly - 1, 2)],
            [(q(r, s), q(r, s + 1)) for r in range(lx) for s in range(1, ly - 1, 2)],
            [(q(r, s), q(r + 1, s)) for r in range(0, lx - 1, 2) for s in range(ly)],
            [(q(r, s), q(r + 1, s)) for r in range(1, lx - 1, 2) for s in range(ly)]]
    c = pq.Circuit(n)
    w = c.new_weights(4 * layers * n)
    with c:
        for layer in range(layers):
            for k, pairs in enumerate(subs):
                for i in range(n):
                    pq.RY(w[(4 * layer + k) * n + i], wires=i)
                for a, b in pairs:
                    pq.CZ(wires=[a, b])
    bonds = [e for sub in subs for e in sub]
    H = sum((pq.Z(a) @ pq.Z(b) for a, b in bonds[1:]), pq.Z(bonds[0][0]) @ pq.Z(bonds[0][1]))
    return c, H


def qaoa_like(n):
    """cx; rz; cx blocks (fused into diagonal units) and RX mixers, with an input-scaled first layer."""
    c = pq.Circuit(n)
    x = c.new_inputs(2)
    w = c.new_weights(4)
    with c:
        for i in range(n):
            pq.RX(0.7 * x[i % 2] + 0.1, wires=i)
        for p in range(2):
            for i in range(n - 1):
                pq.CNOT(wires=[i, i + 1])
                pq.RZ(w[2 * p], wires=i + 1)
                pq.CNOT(wires=[i, i + 1])
            for i in range(n):
                pq.RX(w[2 * p + 1], wires=i)
    H = sum((pq.Z(i) @ pq.Z(i + 1) for i in range(1, n - 1)), pq.Z(0) @ pq.Z(1))
    return c, H


def _pair(c, obs, precision, **options):
    cpu = c.executor(obs, "tensornet", precision, "jacobian", **options)
    gpu = c.executor(obs, "tensornet", precision, "jacobian", device="gpu", **options)
    assert gpu._gpu is not None and type(gpu._gpu) is _core.GpuTensorNet and cpu._gpu is None
    return cpu, gpu


def _check(cpu, gpu, w, x, precision, rng, n_obs):
    tol = TOL[precision]
    np.testing.assert_allclose(gpu.expval(w, x), cpu.expval(w, x), atol=tol, rtol=0)
    for a, b in zip(gpu.jacobian(w, x), cpu.jacobian(w, x)):
        np.testing.assert_allclose(a, b, atol=10 * tol, rtol=0)
    rows = np.shape(x)[0] if x is not None else (w.shape[0] if np.ndim(w) == 2 else 1)
    cot = rng.normal(size=(rows, n_obs))
    for a, b in zip(gpu.vjp(w, x, cot), cpu.vjp(w, x, cot)):
        np.testing.assert_allclose(a, b, atol=10 * tol, rtol=0)


@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("n,layers", [(12, 2), (30, 3)])
def test_brickwork_matches_the_cpu_executor(n, layers, precision):
    c, H = brickwork(n, layers)
    rng = np.random.default_rng(n)
    cpu, gpu = _pair(c, [H, pq.Z(n // 2)], precision)
    w = rng.uniform(0, 2 * np.pi, (5, c.n_weights))  # one weight vector per row: 5 rows
    _check(cpu, gpu, w, None, precision, rng, 2)
    # The result does not depend on how the items are grouped: a single row gives the same numbers.
    np.testing.assert_allclose(gpu.expval(w[2]), cpu.expval(w[2]), atol=TOL[precision], rtol=0)


@pytest.mark.parametrize("precision", ["complex128", "complex64"])
def test_small_grid_matches_the_cpu_executor(precision):
    c, H = grid(3, 4, 2)
    rng = np.random.default_rng(34)
    cpu, gpu = _pair(c, [H], precision)
    w = rng.uniform(0, 2 * np.pi, c.n_weights)
    _check(cpu, gpu, w, None, precision, rng, 1)


@pytest.mark.parametrize("precision", ["complex128", "complex64"])
def test_random_circuits_with_inputs(precision):
    rng = np.random.default_rng(5)
    rc = RandomCircuit(8, 40, rng, n_inputs=2)
    c = rc.circuit()
    obs = [random_pauli_sum(8, rng, n_terms=4)[0] for _ in range(2)] + [pq.Z(0) @ pq.X(7) + 0.25]
    cpu, gpu = _pair(c, obs, precision)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    x = rng.uniform(-1, 1, (7, 2))
    _check(cpu, gpu, w, x, precision, rng, len(obs))
    # Per-row weights: per-row weight gradients.
    wr = rng.uniform(-np.pi, np.pi, (7, rc.n_weights))
    cot = rng.normal(size=(7, len(obs)))
    for a, b in zip(gpu.vjp(wr, x, cot), cpu.vjp(wr, x, cot)):
        np.testing.assert_allclose(a, b, atol=10 * TOL[precision], rtol=0)


def test_fused_blocks_and_inputs():
    c, H = qaoa_like(10)
    rng = np.random.default_rng(10)
    cpu, gpu = _pair(c, [H], "complex128")
    assert gpu._tn.n_fused > 0
    w = rng.uniform(-1, 1, c.n_weights)
    x = rng.uniform(-1, 1, (4, 2))
    _check(cpu, gpu, w, x, "complex128", rng, 1)


def test_noise_channels():
    # Channels are superoperator tensors without a bra copy; their trainable parameters' gradients are
    # half of 2 Re(env . dS).
    c = pq.Circuit(4)
    w = c.new_weights(8)
    with c:
        for i in range(4):
            pq.RY(w[i], wires=i)
            pq.DepolarizingChannel(0.1 * w[4 + i] + 0.15, wires=i)
        for i in range(3):
            pq.CNOT(wires=[i, i + 1])
            pq.AmplitudeDamping(0.1, wires=i + 1)
    H = pq.Z(0) @ pq.Z(1) + pq.X(2) + pq.Z(3)
    rng = np.random.default_rng(4)
    cpu, gpu = _pair(c, [H], "complex128")
    _check(cpu, gpu, rng.uniform(-1, 1, 8), None, "complex128", rng, 1)


def test_sliced_plans():
    # A target of 2^4 elements slices the grid's plans: every slice is an item, added in slice order.
    c, H = grid(3, 3, 2)
    rng = np.random.default_rng(33)
    cpu, gpu = _pair(c, [H], "complex128", target_size=16)
    assert max(p.n_slices for p in gpu.plans) > 1
    _check(cpu, gpu, rng.uniform(0, 2 * np.pi, (3, c.n_weights)), None, "complex128", rng, 1)


def test_recomputed_gradients():
    # "always": the smallest gradient workspace (checkpoints and recomputation) on the device too.
    c, H = grid(3, 4, 2)
    rng = np.random.default_rng(12)
    cpu, gpu = _pair(c, [H], "complex128", recompute="always")
    assert any(lay >= 2 for lay in gpu._gpu.layouts(1, True))
    _check(cpu, gpu, rng.uniform(0, 2 * np.pi, c.n_weights), None, "complex128", rng, 1)


def test_many_rows_and_groups():
    c, H = brickwork(16, 2)
    rng = np.random.default_rng(16)
    cpu, gpu = _pair(c, [H], "complex128")
    w = rng.uniform(0, 2 * np.pi, (300, c.n_weights))
    np.testing.assert_allclose(gpu.expval(w), cpu.expval(w), atol=1e-12, rtol=0)
    vg, dwg, _ = gpu.jacobian(w)
    vc, dwc, _ = cpu.jacobian(w)
    np.testing.assert_allclose(vg, vc, atol=1e-12, rtol=0)
    np.testing.assert_allclose(dwg, dwc, atol=1e-11, rtol=0)
    assert all(g >= 1 for g in gpu._gpu.group_sizes(300, True))
    assert gpu._gpu.estimated_bytes(300, True) > 0


def test_gradients_against_finite_differences():
    # Independent of the CPU executor: central differences of the GPU's own values.
    c, H = brickwork(8, 2)
    gpu = c.executor([H], "tensornet", "complex128", "jacobian", device="gpu")
    w = np.random.default_rng(8).uniform(0, 2 * np.pi, c.n_weights)
    _, dw, _ = gpu.jacobian(w)
    h = 1e-5
    for k in range(0, c.n_weights, 5):
        e = np.zeros_like(w)
        e[k] = h
        fd = (gpu.expval(w + e)[0, 0] - gpu.expval(w - e)[0, 0]) / (2 * h)
        assert abs(dw[0, 0, k] - fd) < 1e-7


def test_var_probs_and_cpu_only_calls():
    c, H = brickwork(10, 2)
    rng = np.random.default_rng(3)
    w = rng.uniform(0, 2 * np.pi, c.n_weights)
    cpu = c.executor([H], "tensornet", "complex128")
    gpu = c.executor([H], "tensornet", "complex128", device="gpu")
    np.testing.assert_allclose(gpu.var(w), cpu.var(w), atol=1e-11, rtol=0)
    np.testing.assert_allclose(gpu.probs(w, None, [3, 4]), cpu.probs(w, None, [3, 4]), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="on the CPU only"):
        gpu.amplitude(w, None, [0] * 10)
    with pytest.raises(ValueError, match="on the CPU only"):
        gpu.sample(w, None, [0, 1], 10, 0)
    # Through the measurement functions.
    a = pq.expval(c, H, weights=w, method="tensornet", device="gpu")
    b = pq.expval(c, H, weights=w, method="tensornet")
    assert abs(a - b) < 1e-12


def test_replaced_plan_is_rebuilt():
    c, H = brickwork(10, 2)
    gpu = c.executor([H], "tensornet", "complex128", device="gpu")
    w = np.random.default_rng(1).uniform(0, 2 * np.pi, c.n_weights)
    before = gpu.expval(w)
    # The same structures planned greedily instead: the device tables follow the executor's new plans.
    for s, p in enumerate(gpu._tn.plan_greedy(list(range(gpu._tn.n_structures)))):
        gpu._tn.set_plan(s, p)
    np.testing.assert_allclose(gpu.expval(w), before, atol=1e-12, rtol=0)
