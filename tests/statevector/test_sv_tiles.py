"""The cache-tiled passes of the state-vector method (14 wires and more; cpp/include/pyqml/statevector/tiles.hpp;
off by default, switched on here with ``_core._set_sv_tiles(True)``) against the dense numpy reference of
tests/dense_reference.py and against the per-gate passes.

Circuits hold every gate of the table on random wires (so segments mix low and high bits, gathered and
in-place blocks), a MultiRZ on the first 10 wires (too wide for a tile: a global segment), and strongly-entangling
layers (fused single-wire runs, CNOT rings across the tile boundary). 16-18 wires run with -m slow.
Tolerances: complex128 to 1e-12
(states, values, gradients, VJPs); complex64 against complex128 to 1e-5; the gradient also against central
differences of the values (1e-7: the differences' own error).
"""
import dense_reference as ref
import numpy as np
import pytest
from random_circuits import NAMES, RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import _core


@pytest.fixture
def restore():
    threads, tiles = pq.get_num_threads(), _core._sv_tiles()
    _core._set_sv_tiles(True)
    yield
    pq.set_num_threads(threads)
    _core._set_sv_tiles(tiles)


def _circuit(n, seed, n_inputs=0):
    """Every gate type twice, a MultiRZ on the first 10 wires and two strongly-entangling layers, shuffled into one
    RandomCircuit (weights renumbered)."""
    rng = np.random.default_rng(ref.seed_of("tiles", n, n_inputs, seed))
    rc = RandomCircuit(n, 0, rng, n_inputs=n_inputs)
    spec, nw = [], 0

    def add(entries, n_weights):
        nonlocal nw
        for name, wires, params, U in entries:
            params = [(k, i + nw if k == 1 else i, s, o) for k, i, s, o in params]
            spec.append((name, wires, params, U))
        nw += n_weights

    for name in NAMES * 2:
        sub = RandomCircuit(n, 1, rng, n_inputs=n_inputs, names=[name])
        if name == "MultiRZ":  # the dense reference builds its 2^k x 2^k matrix: keep k small
            sub.spec = [(name, [int(v) for v in rng.permutation(n)[:int(rng.integers(2, 6))]], sub.spec[0][2], None)]
        add(sub.spec, sub.n_weights)
    rng.shuffle(spec)
    # the 10 highest bits: no tile holds them (a global segment)
    add([("MultiRZ", list(range(10)), [(1, 0, 1.0, 0.0)], None)], 1)
    for layer in range(2):
        r = layer % (n - 1) + 1
        add([("Rot", [i], [(1, 3 * i + k, 1.0, 0.0) for k in range(3)], None) for i in range(n)], 3 * n)
        add([("CNOT", [i, (i + r) % n], [], None) for i in range(n)], 0)
    rc.spec, rc.n_weights = spec, nw
    w = rng.uniform(-np.pi, np.pi, nw)
    return rc, w, rng


def _observables(n, rng):
    """Three observables: a sum of single Z (the one-pass diagonal path), a mixed ZZ chain, a random Pauli sum."""
    zsum = sum((pq.Z(i) for i in range(1, n)), pq.Z(0))
    zz_terms = [(0.5 + 0.1 * i, {i: "Z", i + 1: "Z"}) for i in range(n - 1)]
    zz = pq.Observable()
    for c, word in zz_terms:
        t = pq.Observable({(): c})
        for v, letter in word.items():
            t = t @ pq.Observable.pauli(letter, v)
        zz = zz + t
    other, other_terms = random_pauli_sum(n, rng, n_terms=5)
    dense = [[(1.0, {i: "Z"}) for i in range(n)], zz_terms, other_terms]
    return [zsum, zz, other], dense


SLOW = pytest.mark.slow


@pytest.mark.parametrize("n", [14, pytest.param(16, marks=SLOW)])
def test_tiled_state_and_values_against_the_dense_reference(n, restore):
    rc, w, rng = _circuit(n, 0)
    c = rc.circuit()
    obs, dense = _observables(n, rng)
    psi = rc.state(w)
    assert _core._sv_tiles()
    for threads in (1, 2):
        pq.set_num_threads(threads)
        ex = c.executor(obs, "statevector")
        np.testing.assert_allclose(ex.state(w)[0], psi, atol=1e-12, rtol=0)
        want = [ref.expval_var(t, psi, n)[0] for t in dense]
        np.testing.assert_allclose(ex.expval(w)[0], want, atol=1e-12, rtol=0)


def _all_results(c, obs, w, X, precision="complex128"):
    ex = c.executor(obs, "statevector", precision=precision)
    vals, dw, dx = ex.jacobian(w, X)
    cot = np.linspace(-1, 1, vals.size).reshape(vals.shape)
    v2, vw, vx = ex.vjp(w, X, cot)
    one = c.executor(obs[:1], "statevector", precision=precision)
    v1, dw1, dx1 = one.jacobian(w, X)
    return {"state": ex.state(w, X), "expval": ex.expval(w, X), "vals": vals, "dw": dw, "dx": dx,
            "vjp_vals": v2, "vjp_w": vw, "vjp_x": vx, "one_vals": v1, "one_dw": dw1, "one_dx": dx1}


@pytest.mark.parametrize("n, rows", [(14, 1), (14, 3), (15, 1), pytest.param(16, 1, marks=SLOW),
                                     pytest.param(17, 2, marks=SLOW), pytest.param(18, 1, marks=SLOW)])
def test_tiled_passes_match_the_per_gate_passes(n, rows, restore):
    rc, w, rng = _circuit(n, 1, n_inputs=2)
    c = rc.circuit()
    obs, _ = _observables(n, rng)
    X = rng.normal(size=(rows, 2))
    _core._set_sv_tiles(False)
    pq.set_num_threads(1)
    want = _all_results(c, obs, w, X)
    _core._set_sv_tiles(True)
    for threads in (1, 2):
        pq.set_num_threads(threads)
        got = _all_results(c, obs, w, X)
        for key, value in want.items():
            np.testing.assert_allclose(got[key], value, atol=1e-12, rtol=0, err_msg=f"{key}, {threads} thread(s)")


@pytest.mark.parametrize("n", [14, pytest.param(16, marks=SLOW)])
def test_tiled_complex64_agrees_with_complex128(n, restore):
    rc, w, rng = _circuit(n, 2, n_inputs=1)
    c = rc.circuit()
    obs, _ = _observables(n, rng)
    X = rng.normal(size=(2, 1))
    for threads in (1, 2):
        pq.set_num_threads(threads)
        d = _all_results(c, obs, w, X)
        s = _all_results(c, obs, w, X, precision="complex64")
        for key, value in d.items():
            scale = max(1.0, float(np.max(np.abs(value))))
            np.testing.assert_allclose(s[key], value, atol=1e-5 * scale, rtol=0, err_msg=key)


def test_tiled_gradient_against_central_differences(restore):
    n = 14
    rc, w, rng = _circuit(n, 3)
    c = rc.circuit()
    obs, _ = _observables(n, rng)
    ex = c.executor(obs, "statevector")
    vals, dw = ex.jacobian(w)[:2]
    h = 1e-5
    shifted = np.repeat(w[None, :], 2 * w.size, axis=0)
    idx = np.arange(w.size)
    shifted[2 * idx, idx] += h
    shifted[2 * idx + 1, idx] -= h
    fd = np.array([(ex.expval(shifted[2 * k])[0] - ex.expval(shifted[2 * k + 1])[0]) / (2 * h)
                   for k in range(w.size)]).T
    np.testing.assert_allclose(np.asarray(dw).reshape(len(obs), w.size), fd, atol=1e-7, rtol=0)


def test_a_region_with_fewer_threads_than_asked_for_still_covers_every_block():
    # OMP_THREAD_LIMIT=1 gives every parallel region one thread although two are asked for: the tiles
    # must be split by the threads the region has (else blocks are skipped, or the barrier waits forever).
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, pyqml as pq\n"
        "from pyqml import _core\n"
        "pq.set_num_threads(2)\n"
        "_core._set_sv_tiles(True)\n"
        "n = 15\n"
        "c = pq.Circuit(n)\n"
        "w = c.new_weights(3 * n)\n"
        "with c:\n"
        "    for i in range(n):\n"
        "        pq.Rot(w[3 * i], w[3 * i + 1], w[3 * i + 2], wires=i)\n"
        "    for i in range(n):\n"
        "        pq.CNOT(wires=[i, (i + 1) % n])\n"
        "    for i in range(n):\n"
        "        pq.RY(w[3 * i], wires=i)\n"
        "obs = sum((pq.Z(i) for i in range(1, n)), pq.Z(0))\n"
        "x = np.random.default_rng(0).uniform(-3, 3, 3 * n)\n"
        "ex = c.executor([obs], 'statevector')\n"
        "tiled = [ex.state(x), *ex.jacobian(x)[:2]]\n"
        "_core._set_sv_tiles(False)\n"
        "ref = [ex.state(x), *ex.jacobian(x)[:2]]\n"
        "assert all(np.allclose(a, b, atol=1e-12, rtol=0) for a, b in zip(tiled, ref))\n"
        "print('same')\n")
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "same" in out.stdout
