"""The memory guard counts a call's results and batch workspaces, not only its state vectors: probs, state,
sample, jacobian, vjp and bind are refused with pyqml.MemoryLimitError naming the estimate and the limit
before anything of that size is allocated. Limits are small (MiB), so no test allocates much."""
import re

import numpy as np
import pytest

import pyqml as pq

MiB = 1 << 20


@pytest.fixture
def limit():
    def set_limit(b):
        pq.set_memory_limit(b)

    yield set_limit
    pq.set_memory_limit(0)


def _layer(n, inputs=0):
    c = pq.Circuit(n)
    w = c.new_weights(n)
    x = c.new_inputs(inputs) if inputs else []
    with c:
        for q in range(n):
            pq.Hadamard(wires=q)
            pq.RY(w[q], wires=q)
        for q in range(n - 1):
            pq.CNOT(wires=[q, q + 1])
        for j in range(inputs):
            pq.RX(x[j], wires=j % n)
    return c


def _named(err, what):
    msg = str(err.value)
    assert what in msg
    assert "memory limit" in msg
    # The total: "... in all X (N bytes)" when workspace and results were counted together.
    m = re.search(r"in all [^(]*\((\d+) bytes", msg) or re.search(r"needs an estimated [^(]*\((\d+) bytes", msg)
    assert m is not None, msg
    return int(m.group(1))


def test_probs_counts_the_state_and_its_probabilities(limit):
    n = 16  # state 1 MiB (complex128), probabilities of every wire 0.5 MiB
    c = _layer(n)
    w = np.linspace(0.1, 1.0, n)
    ex = c.executor([pq.Observable.pauli("Z", 0)], "statevector", measurement="probs")
    limit(1.25 * MiB)  # the state alone fits
    with pytest.raises(pq.MemoryLimitError) as err:
        ex.probs(w, None, list(range(n)))
    assert _named(err, "probs") >= 1.5 * MiB
    p = ex.probs(w, None, list(range(4)))  # few wires: small results fit
    assert abs(p.sum() - 1) < 1e-12
    limit(2 * MiB)
    assert abs(ex.probs(w, None, list(range(n))).sum() - 1) < 1e-12


def test_state_counts_the_returned_copy(limit):
    n = 16
    c = _layer(n)
    w = np.linspace(0.1, 1.0, n)
    ex = c.executor([pq.Observable.pauli("Z", 0)], "statevector", measurement="state")
    limit(1.5 * MiB)
    with pytest.raises(pq.MemoryLimitError) as err:
        ex.state(w)
    assert _named(err, "state") >= 2 * MiB
    limit(2.5 * MiB)
    psi = ex.state(w).reshape(-1)
    assert abs(np.vdot(psi, psi).real - 1) < 1e-12


@pytest.mark.parametrize("method", ["statevector", "tensornet"])
def test_jacobian_of_a_large_batch_is_refused_before_allocating(method, limit):
    c = _layer(2, inputs=1)
    obs = [pq.Observable.pauli("Z", 0), pq.Observable.pauli("X", 1)]
    ex = c.executor(obs, method)
    w = np.array([0.3, -0.4])
    rows = 1_000_000
    x = np.zeros((rows, 1))  # 8 MB of inputs; the Jacobian would be 2 x (1 + 2 + 1) doubles a row = 64 MB
    limit(40 * MiB)
    with pytest.raises(pq.MemoryLimitError) as err:
        ex.jacobian(w, x)
    assert _named(err, "jacobian") == rows * 2 * 4 * 8
    cot = np.ones((rows, 2))
    limit(20 * MiB)
    with pytest.raises(pq.MemoryLimitError) as err:
        ex.vjp(w, x, cot)  # values and input gradients: 3 doubles a row = 24 MB
    assert _named(err, "vjp") == rows * 3 * 8 + 2 * 8
    # A small batch under the same limit is computed, and equals the same rows of a direct evaluation.
    v, dw, dx = ex.jacobian(w, x[:5])
    assert v.shape == (5, 2) and dw.shape == (5, 2, 2) and dx.shape == (5, 2, 1)
    np.testing.assert_allclose(v, ex.expval(w, x[:5]), atol=1e-12, rtol=0)


def test_sample_counts_shots_before_allocating(limit):
    c = _layer(3)
    ex = c.executor([pq.Observable.pauli("Z", 0)], "statevector", measurement="sample")
    limit(50 * MiB)
    with pytest.raises(pq.MemoryLimitError) as err:
        ex.sample(np.zeros(3), None, [0, 1], 10**8, 1)  # 200 MB of samples
    assert _named(err, "sample") == 2 * 10**8
    s = ex.sample(np.zeros(3), None, [0, 1], 100, 1)
    assert s.shape == (1, 100, 2)


def test_bind_counts_its_angles(limit):
    c = _layer(2, inputs=1)
    limit(4 * MiB)
    with pytest.raises(pq.MemoryLimitError):
        c.core.bind(np.zeros(2), np.zeros((1_000_000, 1)))  # 3 angles a row: 24 MB


def test_probs_wires_are_checked_before_sizing():
    c = _layer(3)
    ex = c.executor([pq.Observable.pauli("Z", 0)], "statevector", measurement="probs")
    with pytest.raises(ValueError, match="out of range"):
        ex.probs(np.zeros(3), None, [0, 7])
    with pytest.raises(ValueError, match="wires on a register"):
        ex.probs(np.zeros(3), None, [0] * 70)
