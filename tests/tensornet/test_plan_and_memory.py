"""pq.plan (costs without contracting), the memory guard, plan caching and method="auto"."""
from __future__ import annotations

import numpy as np
import pytest

import pyqml as pq


def _grid(lx: int, ly: int, layers: int):
    n = lx * ly
    c = pq.Circuit(n)
    w = c.new_weights(layers, 2, n)
    q = lambda r, col: r * ly + col  # noqa: E731
    with c:
        for l in range(layers):
            for i in range(n):
                pq.RY(w[l, 0, i], wires=i)
            for r in range(lx):
                for col in range(ly - 1):
                    pq.CZ(wires=[q(r, col), q(r, col + 1)])
            for i in range(n):
                pq.RY(w[l, 1, i], wires=i)
            for r in range(lx - 1):
                for col in range(ly):
                    pq.CZ(wires=[q(r, col), q(r + 1, col)])
    return c


def _macs(plan):
    """Complex multiply-adds of a tree, recomputed from its label sets (every index has dimension 2)."""
    sets = [set(lf[3]) for lf in plan.leaves]
    total = 0
    for a, b, kept in plan.tree:
        total += 2 ** len(sets[a] | sets[b])
        sets.append(set(kept))
    return total


def test_plan_reports_costs_without_contracting():
    c = _grid(3, 4, 1)
    obs = [pq.Z(0) @ pq.Z(1), pq.X(5) + pq.Z(6) @ pq.Z(10)]
    p = pq.plan(c, obs)
    assert p.n_terms == 3
    assert len(p.structures) == p.n_structures and sum(p.counts) == 3
    flops = 0.0
    for s, cnt in zip(p.structures, p.counts):
        assert len(s.tree) == len(s.leaves) - 1
        assert s.forward_macs == _macs(s)
        flops += 8 * cnt * _macs(s)
        assert s.width == max(len(x) for x in [lf[3] for lf in s.leaves] + [t[2] for t in s.tree])
    assert p.flops == flops
    assert p.gradient_flops > p.flops
    assert p.peak_memory > 0 and p.width >= 1
    assert "flops" in repr(p)


def test_memory_guard_refuses_before_running():
    c = _grid(4, 4, 2)
    obs = [pq.Z(5) @ pq.Z(6)]
    p = pq.plan(c, obs)
    W = np.zeros(c.n_weights)
    try:
        pq.set_memory_limit(p.peak_memory / 4)
        with pytest.raises(pq.MemoryLimitError) as err:
            pq.expval(c, obs, weights=W, method="tensornet")
        msg = str(err.value)
        assert "needs an estimated" in msg and "memory limit" in msg
    finally:
        pq.set_memory_limit(0)
    # With the default limit it runs and agrees with the state vector.
    np.testing.assert_allclose(pq.expval(c, obs, weights=W + 0.3, method="tensornet"),
                               pq.expval(c, obs, weights=W + 0.3, method="statevector"), atol=1e-10)


def test_memory_guard_refuses_a_network_too_large_for_any_machine():
    """A 6x6 grid at depth 8 needs tensors far beyond any memory: refused with its estimate."""
    c = _grid(6, 6, 4)
    obs = [pq.Z(14) @ pq.Z(15)]
    p = pq.plan(c, obs)
    assert p.peak_memory > 1e12
    with pytest.raises(pq.MemoryLimitError, match="needs an estimated"):
        pq.expval(c, obs, weights=np.zeros(c.n_weights), method="tensornet")


def test_plans_are_cached_by_structure():
    from pyqml.tensornet import plan_for

    c = _grid(2, 6, 1)
    ex1 = c.executor([pq.Z(2) @ pq.Z(3)], "tensornet")
    c2 = _grid(2, 6, 1)
    ex2 = c2.executor([pq.Z(2) @ pq.Z(3)], "tensornet")
    assert ex1.plans[0] is ex2.plans[0]
    assert plan_for(ex1._tn.structure(0)) is ex1.plans[0]


def test_auto_method():
    from pyqml.tensornet import TensorNetExecutor

    small = _grid(2, 3, 1)
    assert TensorNetExecutor.choose(small, [pq.Z(0)]) == "statevector"
    wide = _grid(5, 8, 1)
    assert TensorNetExecutor.choose(wide, [pq.Z(0) @ pq.Z(1)]) == "tensornet"
    W = np.full(wide.n_weights, 0.2)
    np.testing.assert_allclose(pq.expval(wide, [pq.Z(3)], weights=W, method="auto"),
                               pq.expval(wide, [pq.Z(3)], weights=W, method="tensornet"), atol=1e-12)


def test_bad_input_is_a_clear_error():
    c = _grid(2, 2, 1)
    with pytest.raises(ValueError, match="out of range"):
        c.executor([pq.Z(9)], "tensornet")
    ex = c.executor([pq.Z(0)], "tensornet")
    with pytest.raises(ValueError, match="weights"):
        ex.expval(np.zeros(3))
    with pytest.raises(ValueError, match="optimize"):
        TensorNetExecutor = type(ex)
        TensorNetExecutor(c, [pq.Z(0)], optimize="nope")


def test_cotengra_paths_when_installed():
    pytest.importorskip("cotengra")
    from pyqml.tensornet import TensorNetExecutor

    c = _grid(2, 3, 1)
    obs = [pq.Z(0) @ pq.Z(5)]
    W = np.linspace(0.1, 1.2, c.n_weights)
    a = TensorNetExecutor(c, obs, optimize="cotengra").jacobian(W)
    b = c.executor(obs, "statevector").jacobian(W)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, atol=1e-10, rtol=0)


_PLAN_IN_A_PROCESS = """
import sys
sys.path.insert(0, {here!r})
from test_plan_and_memory import _grid
import pyqml as pq
c = _grid(4, 5, {layers})
p = pq.plan(c, [pq.Z(7) @ pq.Z(12), pq.X(0)])
print(repr((p.flops, p.width, p.peak_memory)))
"""


def test_plans_are_the_same_in_every_process():
    """The "auto" search (greedy, then seeded random-greedy trials for expensive networks) is fixed by work,
    not wall time, so separate processes plan the same trees."""
    import os
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    code = _PLAN_IN_A_PROCESS.format(here=here, layers=3)
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(3)}
    assert len(outs) == 1, outs


def test_optimize_accepts_a_path_optimiser_object():
    import opt_einsum as oe

    c = _grid(3, 3, 2)
    obs = [pq.Z(4)]
    p = pq.plan(c, obs, optimize=oe.RandomGreedy(max_repeats=4))
    q = pq.plan(c, obs, optimize="greedy")
    assert p.width <= q.width + 2 and p.flops > 0
    w = np.random.default_rng(0).uniform(0, 6, c.n_weights)
    a = pq.expval(c, obs, weights=w, method="tensornet", optimize=oe.RandomGreedy(max_repeats=4))
    b = pq.expval(c, obs, weights=w, method="statevector")
    assert abs(a - b) < 1e-10
    with pytest.raises(ValueError, match="optimize must be one of"):
        pq.plan(c, obs, optimize=3)
