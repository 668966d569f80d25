"""Distributed execution on a 2-worker Dask LocalCluster (processes): the same numbers as local calls, for
sliced tensor networks (slices as tasks) and batches (rows as tasks), through a worker killed mid-run; bad
clients and options refused. One cluster for the module (starting one costs seconds)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import pyqml as pq

distributed = pytest.importorskip("distributed")
import pyqml.distributed as pqd  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _grid(lx: int, ly: int, layers: int) -> pq.Circuit:
    n = lx * ly
    c = pq.Circuit(n)
    w = c.new_weights(layers, 2, n)
    x = c.new_inputs(n)
    q = lambda r, col: r * ly + col  # noqa: E731
    with c:
        for i in range(n):
            pq.RX(x[i], wires=i)
        for l in range(layers):
            for i in range(n):
                pq.RY(w[l, 0, i], wires=i)
            for r in range(lx):
                for col in range(ly - 1):
                    pq.CZ(wires=[q(r, col), q(r, col + 1)])
            for i in range(n):
                pq.RX(w[l, 1, i], wires=i)
            for r in range(lx - 1):
                for col in range(ly):
                    pq.CNOT(wires=[q(r, col), q(r + 1, col)])
    return c


OBS = [pq.Z(5) @ pq.Z(6) + 0.5, pq.X(2)]  # wires of every grid here


def test_sliced_network_on_the_cluster_equals_local(client):
    """Slices as tasks: values and gradients as the local call (and the state vector) to 1e-12."""
    c = _grid(3, 4, 2)
    rng = np.random.default_rng(0)
    w = rng.normal(size=c.n_weights)
    x = rng.normal(size=(2, c.n_inputs))
    local = pq.jacobian(c, OBS, weights=w, inputs=x, method="tensornet", target_size=2**6)
    assert pq.plan(c, OBS, target_size=2**6).slices >= 4
    got = pqd.jacobian(c, OBS, weights=w, inputs=x, client=client, method="tensornet", target_size=2**6,
                       slices_per_task=2, rows_per_task=1)
    for a, b in zip(got, local):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
    sv = pq.jacobian(c, OBS, weights=w, inputs=x, method="statevector")
    for a, b in zip(got, sv):
        np.testing.assert_allclose(a, b, atol=1e-10, rtol=0)
    vals = pq.expval(c, OBS, weights=w, inputs=x, method="tensornet", target_size=2**6, executor=client)
    np.testing.assert_allclose(vals, local[0], atol=1e-12, rtol=0)


def test_rows_on_the_cluster_equal_local_bit_for_bit(client):
    """Row chunks as tasks, slices whole: every row's numbers are those of the local call exactly; the
    state vector's rows go the same way."""
    c = _grid(2, 4, 1)
    rng = np.random.default_rng(1)
    w = rng.normal(size=c.n_weights)
    x = rng.normal(size=(23, c.n_inputs))
    for method in ("tensornet", "statevector"):
        local = pq.expval(c, OBS, weights=w, inputs=x, method=method)
        got = pqd.expval(c, OBS, weights=w, inputs=x, client=client, method=method, rows_per_task=5)
        assert np.array_equal(got, local)
        lj = pq.jacobian(c, OBS, weights=w, inputs=x, method=method)
        gj = pq.jacobian(c, OBS, weights=w, inputs=x, method=method, executor=client)
        for a, b in zip(gj, lj):
            assert np.array_equal(a, b)


def test_bad_clients_and_options_are_refused(client):
    c = _grid(2, 3, 1)
    w = np.zeros(c.n_weights)
    x = np.zeros((2, c.n_inputs))
    with pytest.raises(TypeError, match="dask.distributed Client"):
        pq.expval(c, [pq.Z(0)], weights=w, inputs=x, executor=object())
    with pytest.raises(TypeError, match="dask.distributed Client"):
        pqd.expval(c, [pq.Z(0)], weights=w, inputs=x, client="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="distributed execution computes"):
        pq.var(c, [pq.Z(0)], weights=w, inputs=x, executor=client)
    with pytest.raises(ValueError, match="rows_per_task"):
        pqd.expval(c, [pq.Z(0)], weights=w, inputs=x, client=client, rows_per_task=0)
    with pytest.raises(ValueError, match="retries"):
        pqd.expval(c, [pq.Z(0)], weights=w, inputs=x, client=client, retries=-1)


def test_import_pyqml_does_not_import_dask():
    code = "import sys, pyqml; print(any(m in sys.modules for m in ('dask', 'distributed')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_worker_killed_mid_run_does_not_change_the_result(client):
    """SIGKILL one worker while its tasks run: the scheduler reruns them elsewhere (and on the restarted
    worker); the result is the local one, bit for bit (rows as tasks)."""
    c = _grid(2, 4, 2)
    rng = np.random.default_rng(2)
    w = rng.normal(size=c.n_weights)
    x = rng.normal(size=(60, c.n_inputs))
    local = pq.jacobian(c, OBS, weights=w, inputs=x, method="tensornet")
    out: dict = {}

    def work():
        out["result"] = pqd.jacobian(c, OBS, weights=w, inputs=x, client=client, method="tensornet",
                                     rows_per_task=1)

    pids = client.run(os.getpid)
    t = threading.Thread(target=work)
    t.start()
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline and t.is_alive():
        busy = sorted(addr for addr, keys in client.processing().items() if keys)
        if busy:
            victim = busy[0]
        time.sleep(0.005)
    assert victim is not None and t.is_alive(), "the run ended before a worker could be killed"
    os.kill(pids[victim], signal.SIGKILL)
    t.join(120)
    assert not t.is_alive()
    client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()
    for a, b in zip(out["result"], local):
        assert np.array_equal(a, b)


def _hamiltonian(n: int) -> list:
    """A transverse-field Ising sum over a grid's wires: many local terms, light cones of several shapes."""
    h = 0.25
    for i in range(n - 1):
        h = h + (0.5 + 0.1 * i) * pq.Z(i) @ pq.Z(i + 1)
    for i in range(n):
        h = h - (0.3 + 0.05 * i) * pq.X(i)
    return [h, pq.Y(1) @ pq.Y(2) - 0.75]


def test_terms_as_tasks_equal_local_and_plans_are_not_searched_on_workers(client):
    """Chunks of a Hamiltonian's terms (different light-cone plans) as tasks, gathered in chunk order: values
    and gradients as the local call to 1e-12; the workers contract the plans shipped with the call (their own
    plan caches stay empty: nothing is planned there)."""
    c = _grid(2, 4, 2)
    obs = _hamiltonian(c.n_wires)
    rng = np.random.default_rng(4)
    w = rng.normal(size=c.n_weights)
    x = rng.normal(size=(3, c.n_inputs))
    ex = c.executor(obs, "tensornet")
    assert ex._tn.n_terms == 16 and ex._tn.n_structures >= 4
    chunks = pqd.term_chunks(ex, terms_per_task=5)
    assert len(chunks) == 4 and all(len(ch) == len(obs) for ch in chunks)
    # Every engine term lands in exactly one chunk (the constants in the first).
    flat = sorted((o, t) for ch in chunks for o, terms in enumerate(ch) for t in terms)
    assert flat == sorted((o, t) for o, ob in enumerate(obs) for t in ob.core_terms())
    assert any(not ws for coeff, ws, _ in chunks[0][0]) and not any(not ws for ch in chunks[1:] for coeff, ws, _ in ch[0])
    local = pq.jacobian(c, obs, weights=w, inputs=x, method="tensornet")
    got = pqd.jacobian(c, obs, weights=w, inputs=x, client=client, method="tensornet", terms_per_task=5)
    for a, b in zip(got, local):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)
    sv = pq.jacobian(c, obs, weights=w, inputs=x, method="statevector")
    np.testing.assert_allclose(got[0], sv[0], atol=1e-10, rtol=0)
    np.testing.assert_allclose(got[1], sv[1], atol=1e-10, rtol=0)
    vals = pqd.expval(c, obs, weights=w, inputs=x, client=client, method="tensornet", terms_per_task=3,
                      rows_per_task=2)
    np.testing.assert_allclose(vals, local[0], atol=1e-12, rtol=0)
    # Chunks of equal cost cover the terms as well.
    balanced = pqd.term_chunks(ex, n_chunks=3)
    assert len(balanced) == 3 and sum(len(t) for ch in balanced for t in ch) == sum(len(o.core_terms()) for o in obs)

    def planned():
        from pyqml.tensornet.network import _PLAN_CACHE

        return len(_PLAN_CACHE)

    assert set(client.run(planned).values()) == {0}
    with pytest.raises(ValueError, match="terms_per_task"):
        pqd.expval(c, obs, weights=w, inputs=x, client=client, method="tensornet", terms_per_task=0)
    with pytest.raises(ValueError, match="terms_per_task"):
        pqd.expval(c, obs, weights=w, inputs=x, client=client, method="statevector", terms_per_task=2)
