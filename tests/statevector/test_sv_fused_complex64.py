"""The complex64 kernels of the fused blocks (cpp/include/pyqml/statevector/fused.hpp: vectors of four
amplitudes, 4x4 blocks in four layouts by where bits 0 and 1 sit, 2x2 blocks in three) against the dense
numpy reference of tests/dense_reference.py and against complex128.

Circuits: runs of random one- and two-wire gates (every gate type of at most two wires) on wire pairs whose
bits cover every layout in both wire orders (bits 0 and 1 together; bit 0 or bit 1 with bit 2, with bit 3
and with a high bit; bit 2 with bit 3 and with a high bit; two high bits), two-gate runs on single wires
closed by a Toffoli (2x2 blocks on bits 0, 1, 2, 3 and a high bit), then strongly-entangling layers (Rot
runs fused with CNOT rings). Register widths 9 (per-gate, below the fused width), 10 and 11; one and two
threads with the amplitudes split over them. Tolerances: 1e-5 (times the size of the entries) against the
dense reference and complex128; one and two threads equal to the bit. The kernels' baseline versions (the
AVX2+FMA ones switched off, ``_core._set_sv_fused_fma(False)``) against the dense reference and the FMA ones,
both precisions (complex128 to 1e-12).
"""
import dense_reference as ref
import numpy as np
import pytest
from random_circuits import NAMES, TABLE, RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import _core

TWO_WIRE = [g for g in NAMES if TABLE[g]["n_wires"] <= 2]
ONE_WIRE = [g for g in NAMES if TABLE[g]["n_wires"] == 1]


@pytest.fixture
def restore():
    saved = (pq.get_num_threads(), _core._sv_fusion(), _core._sv_fused_parallel_min_wires(), _core._sv_fused_fma())
    yield
    pq.set_num_threads(saved[0])
    _core._set_sv_fusion(saved[1])
    _core._set_sv_fused_parallel_min_wires(saved[2])
    _core._set_sv_fused_fma(saved[3])


def _wire(n, bit):
    return n - 1 - bit


def _bit_pairs(n):
    h, g = n - 2, n // 2 + 1  # two high bits
    pairs = [(1, 0), (2, 0), (3, 0), (h, 0), (2, 1), (3, 1), (h, 1), (3, 2), (h, 2), (g, h), (h, 3)]
    return pairs + [(b, a) for a, b in pairs]


def _circuit(n, seed):
    rng = np.random.default_rng(ref.seed_of("fused complex64", n, seed))
    rc = RandomCircuit(n, 0, rng, n_inputs=1)
    spec, nw = [], 0

    def add(entries, n_weights, wire_map=None):
        nonlocal nw
        for name, wires, params, U in entries:
            params = [(k, i + nw if k == 1 else i, s, o) for k, i, s, o in params]
            if wire_map is not None:
                wires = [wire_map[v] for v in wires]
            spec.append((name, wires, params, U))
        nw += n_weights

    for hb, lb in _bit_pairs(n):
        names = list(TWO_WIRE)
        rng.shuffle(names)
        for name in names[:5]:
            sub = RandomCircuit(2, 1, rng, n_inputs=1, names=[name])
            add(sub.spec, sub.n_weights, {0: _wire(n, hb), 1: _wire(n, lb)})
    for bit in (0, 1, 2, 3, n - 2):
        for _ in range(2):
            sub = RandomCircuit(1, 1, rng, n_inputs=1, names=ONE_WIRE)
            add(sub.spec, sub.n_weights, {0: _wire(n, bit)})
        others = [w for w in range(n) if w != _wire(n, bit)][:2]
        add([("Toffoli", others + [_wire(n, bit)], [], None)], 0)
    for layer in range(2):
        r = layer % (n - 1) + 1
        add([("Rot", [i], [(1, 3 * i + k, 1.0, 0.0) for k in range(3)], None) for i in range(n)], 3 * n)
        add([("CNOT", [i, (i + r) % n], [], None) for i in range(n)], 0)
    rc.spec, rc.n_weights = spec, nw
    return rc, rng.uniform(-np.pi, np.pi, nw), rng


def _results(c, obs, w, X, precision):
    ex = c.executor(obs, "statevector", precision=precision)
    vals, dw, dx = ex.jacobian(w, X)
    cot = np.linspace(-1, 1, vals.size).reshape(vals.shape)
    v2, vw, vx = ex.vjp(w, X, cot)
    return {"state": ex.state(w, X), "expval": ex.expval(w, X), "vals": vals, "dw": dw, "dx": dx,
            "vjp_vals": v2, "vjp_w": vw, "vjp_x": vx}


def _close(got, want, what):
    for key, value in want.items():
        scale = max(1.0, float(np.max(np.abs(value))))
        np.testing.assert_allclose(got[key], value, atol=1e-5 * scale, rtol=0, err_msg=f"{key}: {what}")


@pytest.mark.parametrize("n", [9, 10, 11])
def test_complex64_fused_blocks_against_the_dense_reference_and_complex128(n, restore):
    rc, w, rng = _circuit(n, 0)
    c = rc.circuit()
    zsum = sum((pq.Z(i) for i in range(1, n)), pq.Z(0))
    other, other_terms = random_pauli_sum(n, rng, n_terms=4)
    obs, dense = [zsum, other], [[(1.0, {i: "Z"}) for i in range(n)], other_terms]
    X = rng.normal(size=(2, 1))
    psi = [rc.state(w, X[r]) for r in range(2)]
    pq.set_num_threads(1)
    want = _results(c, obs, w, X, "complex128")
    one = _results(c, obs, w, X, "complex64")
    assert np.max(np.abs(one["state"] - want["state"])) > 1e-10  # single-precision rounding: another path
    np.testing.assert_allclose(one["state"], np.array(psi), atol=1e-5, rtol=0)
    np.testing.assert_allclose(one["expval"], [[ref.expval_var(t, p, n)[0] for t in dense] for p in psi],
                               atol=1e-5 * n, rtol=0)
    _close(one, want, "complex64 against complex128")
    # the per-gate passes of complex64 agree as well, by another path (not to the bit)
    _core._set_sv_fusion(False)
    unfused = _results(c, obs, w, X, "complex64")
    _core._set_sv_fusion(True)
    _close(unfused, want, "complex64 per-gate against complex128")
    if n >= 10:
        assert not np.array_equal(unfused["state"], one["state"])
    # amplitudes split over two threads (one parallel region per sweep): equal to one thread to the bit
    _core._set_sv_fused_parallel_min_wires(n)
    pq.set_num_threads(2)
    two = _results(c, obs, w, X, "complex64")
    for key, value in one.items():
        assert np.array_equal(two[key], value), key


def test_complex64_strongly_entangling_layers_gradient(restore):
    # The W2 shape (Rot layers and CNOT rings: every block a 4x4 with bit 0 or bit 1 in some of them) at
    # 12 wires: Jacobian against complex128 and against central differences of complex128 values.
    n = 12
    c = pq.Circuit(n)
    w = c.new_weights(3 * n * 3)
    with c:
        for layer in range(3):
            r = layer % (n - 1) + 1
            for i in range(n):
                base = 3 * (layer * n + i)
                pq.Rot(w[base], w[base + 1], w[base + 2], wires=i)
            for i in range(n):
                pq.CNOT(wires=[i, (i + r) % n])
    obs = [sum((pq.Z(i) for i in range(1, n)), pq.Z(0))]
    x = np.random.default_rng(5).uniform(-np.pi, np.pi, 3 * n * 3)
    d = c.executor(obs, "statevector")
    s = c.executor(obs, "statevector", precision="complex64")
    vd, jd = d.jacobian(x)[:2]
    vs, js = s.jacobian(x)[:2]
    np.testing.assert_allclose(vs, vd, atol=1e-5 * n, rtol=0)
    np.testing.assert_allclose(js, jd, atol=1e-5 * n, rtol=0)
    h = 1e-5
    k = np.arange(0, x.size, 7)
    shifted = np.repeat(x[None, :], 2 * k.size, axis=0)
    shifted[2 * np.arange(k.size), k] += h
    shifted[2 * np.arange(k.size) + 1, k] -= h
    both = d.expval(shifted)[:, 0]
    fd = (both[0::2] - both[1::2]) / (2 * h)
    np.testing.assert_allclose(np.asarray(js).reshape(-1)[k], fd, atol=1e-5 * n, rtol=0)


@pytest.mark.parametrize("n", [3, 4, 6])
def test_complex64_small_registers_per_gate_sweep(n, restore):
    # Below the fused width the per-gate sweep's uncontrolled 2x2 steps run on the complex64 vectors from
    # 3 wires: random circuits over every gate, against complex128 and the dense reference.
    rng = np.random.default_rng(ref.seed_of("complex64 small", n))
    rc = RandomCircuit(n, 40, rng, n_inputs=1)
    c = rc.circuit()
    obs = [sum((pq.Z(i) for i in range(1, n)), pq.Z(0)), pq.X(0) @ pq.Y(n - 1)]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(3, 1))
    want = _results(c, obs, w, X, "complex128")
    got = _results(c, obs, w, X, "complex64")
    np.testing.assert_allclose(got["state"], np.array([rc.state(w, x) for x in X]), atol=1e-5, rtol=0)
    _close(got, want, "complex64 against complex128")


@pytest.mark.parametrize("precision, tol", [("complex64", 1e-5), ("complex128", 1e-12)])
def test_baseline_kernels_against_the_fma_ones_and_the_dense_reference(precision, tol, restore):
    n = 10
    rc, w, rng = _circuit(n, 1)
    c = rc.circuit()
    obs = [sum((pq.Z(i) for i in range(1, n)), pq.Z(0)), random_pauli_sum(n, rng, n_terms=3)[0]]
    X = rng.normal(size=(1, 1))
    pq.set_num_threads(1)
    fma = _results(c, obs, w, X, precision)
    _core._set_sv_fused_fma(False)
    assert not _core._sv_fused_fma()
    base = _results(c, obs, w, X, precision)
    np.testing.assert_allclose(base["state"][0], rc.state(w, X[0]), atol=tol, rtol=0)
    for key, value in fma.items():
        scale = max(1.0, float(np.max(np.abs(value))))
        np.testing.assert_allclose(base[key], value, atol=tol * scale, rtol=0, err_msg=key)
