"""One process-wide thread count: pq.set_num_threads reaches every Python thread, counts above the bound
are refused, results do not depend on the calling thread, and concurrent tensor-network calls from
several threads neither make OpenBLAS warn nor change results."""
import subprocess
import sys
import textwrap
import threading

import dense_reference as ref
import numpy as np
import pytest

import pyqml as pq
from pyqml import _core


@pytest.fixture
def restore_threads():
    n = pq.get_num_threads()
    yield
    pq.set_num_threads(n)


def _in_new_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_a_new_python_thread_sees_the_set_count(restore_threads):
    pq.set_num_threads(3)
    assert pq.get_num_threads() == 3
    assert _in_new_thread(pq.get_num_threads) == 3
    pq.set_num_threads(1)
    assert _in_new_thread(pq.get_num_threads) == 1


def test_thread_count_is_bounded(restore_threads):
    cap = _core.max_thread_count()
    assert 4 <= cap <= 256
    with pytest.raises(ValueError, match="over the limit"):
        pq.set_num_threads(1024)
    with pytest.raises(ValueError, match="over the limit"):
        pq.set_num_threads(cap + 1)
    with pytest.raises(ValueError, match="at least one"):
        pq.set_num_threads(0)
    pq.set_num_threads(cap)
    assert pq.get_num_threads() == cap


def test_results_are_the_same_from_any_thread_and_thread_count(restore_threads):
    n = 19  # above the amplitude-parallel threshold: kernels run as parallel regions
    c = pq.Circuit(n)
    w = c.new_weights(n)
    with c:
        for q in range(n):
            pq.RY(w[q], wires=q)
        for q in range(n - 1):
            pq.CNOT(wires=[q, q + 1])
    ex = c.executor([pq.Observable.pauli("Z", 0) @ pq.Observable.pauli("Z", n - 1)], "statevector")
    W = np.linspace(0.1, 1.2, n)
    pq.set_num_threads(2)
    here = ex.expval(W)
    there = _in_new_thread(lambda: ex.expval(W))
    assert np.array_equal(here, there)
    pq.set_num_threads(1)
    np.testing.assert_allclose(here, ex.expval(W), atol=1e-12, rtol=0)
    gates = [(ref.gate_matrix("RY", [W[q]]), [q]) for q in range(n)]
    gates += [(ref.gate_matrix("CNOT"), [q, q + 1]) for q in range(n - 1)]
    psi = ref.simulate(n, gates)
    zz = ref.apply(ref.apply(psi, ref.PAULI["Z"], [0], n), ref.PAULI["Z"], [n - 1], n)
    np.testing.assert_allclose(here, [[np.vdot(psi, zz).real]], atol=1e-10, rtol=0)


SCRIPT = textwrap.dedent("""
    import threading
    import numpy as np
    import pyqml as pq
    pq.set_num_threads(4)
    n = 16
    c = pq.Circuit(n)
    w = c.new_weights(2 * n)
    with c:
        for q in range(n):
            pq.RY(w[q], wires=q)
        for q in range(n - 1):
            pq.CNOT(wires=[q, q + 1])
        for q in range(n):
            pq.RX(w[n + q], wires=q)
        for q in range(n - 1):
            pq.CNOT(wires=[q, (q + 3) % n])
        for q in range(n):
            pq.RY(w[q], wires=q)
        for q in range(n - 1):
            pq.CNOT(wires=[q, (q + 7) % n])
    obs = [pq.Observable.pauli("Z", q) @ pq.Observable.pauli("Z", (q + 5) % n) for q in range(n)]
    ex = c.executor(obs, "tensornet")
    W = np.linspace(0, 1, 2 * n)
    ref = ex.jacobian(W)[1]
    bad = []
    def work(k):
        for i in range(4):
            rows = 1 + (i + k) % 3
            dw = ex.jacobian(np.tile(W, (rows, 1)))[1]
            if not np.array_equal(dw[0], ref[0]):
                bad.append(k)
    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    print("mismatches", len(bad))
""")


def test_concurrent_tensornet_calls_do_not_warn_or_differ():
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "OpenBLAS Warning" not in r.stderr
    assert "mismatches 0" in r.stdout
