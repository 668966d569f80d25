"""Every measurement on every method that claims it, against the dense numpy reference
(tests/dense_reference.py), on random circuits over the whole gate table with weights and input rows."""
import dense_reference as ref
import numpy as np
import pytest
from random_circuits import RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml.frontend.execution import MEASUREMENTS, available_methods, method_class

from .conftest import METHODS

CASES = [(n, seed) for n in (1, 2, 3, 5) for seed in range(2)]


def _case(n, seed, n_gates=14, n_inputs=2, rows=3):
    rng = np.random.default_rng(ref.seed_of("methods", n, seed))
    rc = RandomCircuit(n, n_gates, rng, n_inputs=n_inputs)
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    x = rng.uniform(-1, 1, (rows, n_inputs))
    return rc, rc.circuit(), w, x, rng


def test_every_registered_method_is_under_test():
    assert sorted(METHODS) == sorted(m for m in available_methods() if m != "auto")
    for m in METHODS:
        assert set(method_class(m).supports) <= set(MEASUREMENTS)


@pytest.mark.measurement("expval")
@pytest.mark.parametrize("n,seed", CASES)
def test_expval(method, n, seed):
    rc, c, w, x, rng = _case(n, seed)
    obs = [random_pauli_sum(n, rng) for _ in range(3)]
    got = pq.expval(c, [o for o, _ in obs], weights=w, inputs=x, method=method)
    want = [[ref.expval_var(t, rc.state(w, row), n)[0] for _, t in obs] for row in x]
    np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.measurement("var")
@pytest.mark.parametrize("n,seed", CASES)
def test_var(method, n, seed):
    rc, c, w, x, rng = _case(n, seed)
    obs = [random_pauli_sum(n, rng) for _ in range(2)]
    got = pq.var(c, [o for o, _ in obs], weights=w, inputs=x, method=method)
    want = [[ref.expval_var(t, rc.state(w, row), n)[1] for _, t in obs] for row in x]
    np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.measurement("probs")
@pytest.mark.parametrize("n,seed", CASES)
def test_probs(method, n, seed):
    rc, c, w, x, rng = _case(n, seed)
    wires = [int(v) for v in rng.permutation(n)[: min(n, 3)]]
    got = pq.probs(c, wires, weights=w, inputs=x, method=method)
    want = [ref.probs(rc.state(w, row), wires, n) for row in x]
    np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.measurement("state")
@pytest.mark.parametrize("n,seed", CASES)
def test_state(method, n, seed):
    rc, c, w, x, _ = _case(n, seed)
    got = pq.state(c, weights=w, inputs=x, method=method)
    np.testing.assert_allclose(got, [rc.state(w, row) for row in x], atol=1e-10)


@pytest.mark.measurement("amplitude")
@pytest.mark.parametrize("n,seed", CASES)
def test_amplitude(method, n, seed):
    rc, c, w, x, rng = _case(n, seed)
    bits = [int(b) for b in rng.integers(0, 2, n)]
    index = int("".join(map(str, bits)), 2)
    got = pq.amplitude(c, bits, weights=w, inputs=x, method=method)
    np.testing.assert_allclose(got, [rc.state(w, row)[index] for row in x], atol=1e-10)


def _dense_expvals(rc, terms, w, x):
    return np.array([[ref.expval_var(t, rc.state(w, row), rc.n)[0] for t in terms] for row in x])


def _richardson(f, v, h=1e-3):
    """Central differences with one Richardson step: error O(h^4) + rounding, about 1e-11 here."""
    def d(step):
        out = []
        for k in range(v.size):
            e = np.zeros_like(v)
            e.flat[k] = step
            out.append((f(v + e) - f(v - e)) / (2 * step))
        return np.stack(out, axis=-1)

    return (4 * d(h / 2) - d(h)) / 3


@pytest.mark.measurement("jacobian")
@pytest.mark.parametrize("n,seed", CASES)
def test_jacobian(method, n, seed):
    rc, c, w, x, rng = _case(n, seed, rows=2)
    obs = [random_pauli_sum(n, rng) for _ in range(2)]
    terms = [t for _, t in obs]
    vals, dw, dx = pq.jacobian(c, [o for o, _ in obs], weights=w, inputs=x, method=method)
    np.testing.assert_allclose(vals, _dense_expvals(rc, terms, w, x), atol=1e-10)
    if rc.n_weights:
        np.testing.assert_allclose(dw, _richardson(lambda v: _dense_expvals(rc, terms, v, x), w), atol=1e-9)
    for r, row in enumerate(x):
        want = _richardson(lambda v: _dense_expvals(rc, terms, w, v[None, :])[0], row)
        np.testing.assert_allclose(dx[r], want, atol=1e-9)


@pytest.mark.measurement("vjp")
@pytest.mark.parametrize("n,seed", CASES)
def test_vjp(method, n, seed):
    rc, c, w, x, rng = _case(n, seed, rows=2)
    obs = [random_pauli_sum(n, rng) for _ in range(2)]
    terms = [t for _, t in obs]
    cot = rng.normal(size=(x.shape[0], 2))
    ex = c.executor([o for o, _ in obs], method, measurement="vjp")
    vals, gw, gx = ex.vjp(w, x, cot)
    np.testing.assert_allclose(vals, _dense_expvals(rc, terms, w, x), atol=1e-10)
    if rc.n_weights:
        dw = _richardson(lambda v: _dense_expvals(rc, terms, v, x), w)
        np.testing.assert_allclose(gw, np.einsum("ro,row->w", cot, dw), atol=1e-9)
    for r, row in enumerate(x):
        dx = _richardson(lambda v: _dense_expvals(rc, terms, w, v[None, :])[0], row)
        np.testing.assert_allclose(gx[r], cot[r] @ dx, atol=1e-9)


@pytest.mark.measurement("sample")
@pytest.mark.parametrize("n,seed", [(2, 0), (3, 1)])
def test_sample(method, n, seed):
    rc, c, w, x, rng = _case(n, seed, rows=1)
    wires = list(range(n))
    shots = 20000
    s = pq.sample(c, wires, shots=shots, seed=7, weights=w, inputs=x[0], method=method)
    assert s.shape == (shots, n) and s.dtype == np.int8
    np.testing.assert_array_equal(s, pq.sample(c, wires, shots=shots, seed=7, weights=w, inputs=x[0], method=method))
    idx = s.astype(int) @ (1 << np.arange(n - 1, -1, -1))
    freq = np.bincount(idx, minlength=2**n) / shots
    p = ref.probs(rc.state(w, x[0]), wires, n)
    # Total variation distance of 20,000 shots on <= 8 outcomes: about 0.01; 0.03 is over 4 standard errors.
    assert 0.5 * np.abs(freq - p).sum() < 0.03


def test_unsupported_measurement_names_the_methods_that_can():
    c = pq.Circuit(2, [pq.H(wires=0)])
    with pytest.raises(ValueError, match="method 'tensornet' cannot compute state; methods that can: 'statevector'"):
        pq.state(c, method="tensornet")


def test_options_reach_the_method_and_its_cache_key():
    c = pq.Circuit(3, [pq.H(wires=0), pq.CNOT(wires=[0, 1]), pq.RY(0.3, wires=2)])
    a = c.executor([pq.Z(1)], "tensornet", optimize="greedy")
    b = c.executor([pq.Z(1)], "tensornet", optimize="optimal")
    assert a is not b and a.optimize == "greedy" and b.optimize == "optimal"
    assert c.executor([pq.Z(1)], "tensornet", optimize="greedy") is a
    np.testing.assert_allclose(a.expval(np.zeros(0)), b.expval(np.zeros(0)), atol=1e-14)
    with pytest.raises(ValueError, match="method 'statevector' does not take the option 'optimize'; methods that "
                                         "do: 'tensornet'"):
        pq.expval(c, pq.Z(0), method="statevector", optimize="greedy")
    with pytest.raises(ValueError, match="no method takes the option 'bond'"):
        pq.expval(c, pq.Z(0), bond=4)
    with pytest.raises(TypeError, match="noise= takes a pyqml.NoiseModel"):
        pq.expval(c, pq.Z(0), noise=0.1)
    with pytest.raises(ValueError, match="method 'tensornet' does not take the option 'max_bond'; methods that "
                                         "do: 'mps'"):
        pq.expval(c, pq.Z(0), method="tensornet", max_bond=4)
    with pytest.raises(ValueError, match="optimize must be one of"):
        pq.expval(c, pq.Z(0), method="tensornet", optimize="nonsense")

    @pq.qnode(wires=3, method="tensornet", optimize="greedy")
    def f(weights):
        pq.RY(weights[0], wires=0)
        pq.CNOT(wires=[0, 1])
        return pq.expval(pq.Z(1))

    assert abs(f(np.array([0.4])) - np.cos(0.4)) < 1e-12
    ex = f.compile([(1,)]).executor()
    assert ex.method == "tensornet" and ex.optimize == "greedy"
    with pytest.raises(ValueError, match="does not take the option"):
        pq.qnode(wires=2, method="statevector", optimize="greedy")(lambda weights: pq.expval(pq.Z(0)))


def test_auto_chooses_by_estimates_among_methods_that_support_the_measurement():
    from pyqml.frontend.execution import choose_method, estimates

    small = pq.Circuit(4, [pq.H(wires=0)])
    assert choose_method(small, [pq.Z(0)]) == "statevector"
    wide = pq.Circuit(60, [pq.RY(0.2, wires=w) for w in range(60)] + [pq.CNOT(wires=[w, w + 1]) for w in range(59)])
    assert choose_method(wide, [pq.Z(30)]) == "tensornet"
    est = estimates(wide, [pq.Z(30)], "expval", "complex128")
    assert not est["statevector"].feasible and "at most 40 wires" in est["statevector"].reason
    assert est["tensornet"].feasible and est["tensornet"].flops > 0
    # probs of 60 wires' first two goes to the tensor network (it used to refuse: "at most 40 wires")
    p = pq.probs(wide, [0, 1])
    c0 = np.cos(0.1)
    assert p.shape == (4,) and abs(p.sum() - 1) < 1e-12 and abs(p[0] + p[1] - c0**2) < 1e-12
    # a middle register: both feasible, the cheaper by the estimates wins
    mid = pq.Circuit(20, [pq.RY(0.2, wires=w) for w in range(20)] + [pq.CNOT(wires=[w, w + 1]) for w in range(19)])
    est = estimates(mid, [pq.Z(3)], "expval", "complex128")
    want = min(est, key=lambda m: est[m].flops)
    assert choose_method(mid, [pq.Z(3)]) == want == "tensornet"
