"""The contraction workspace: tensors placed by liveness, forward-only and gradient sizes, and the memory guard
that checks the size a call really allocates.

The reference here is an independent simulation of the sweep's time line, from a plan's leaves and tree
only (every index has dimension 2, a tensor of r indices holds 2^r elements):

    time 0: leaves filled | 1..S: forward steps | S+1..2S: backward steps (last first) | 2S+1: gradients read

A tensor is live from its birth (0 for a leaf, s + 1 for the result of step s) to the step consuming it; with
gradients a value stays until the backward step that needs it and environments live from the backward step
writing them to the one reading them (a leaf's to the end). The live peak is the largest total live at one
time; no workspace can be smaller, and the plan's tensor part (its workspace less the documented gather
scratch) must be at least that and, on the grid networks, exactly that.
"""
from __future__ import annotations

import numpy as np
import pytest
from random_circuits import RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml import _core

KET = 0


def _grid(lx: int, ly: int, layers: int):
    n = lx * ly
    c = pq.Circuit(n)
    w = c.new_weights(layers, 2, n)
    q = lambda r, col: r * ly + col  # noqa: E731
    with c:
        for layer in range(layers):
            for i in range(n):
                pq.RY(w[layer, 0, i], wires=i)
            for r in range(lx):
                for col in range(ly - 1):
                    pq.CZ(wires=[q(r, col), q(r, col + 1)])
            for i in range(n):
                pq.RY(w[layer, 1, i], wires=i)
            for r in range(lx - 1):
                for col in range(ly):
                    pq.CZ(wires=[q(r, col), q(r + 1, col)])
    edges = [(q(r, k), q(r, k + 1)) for r in range(lx) for k in range(ly - 1)]
    edges += [(q(r, k), q(r + 1, k)) for r in range(lx - 1) for k in range(ly)]
    return c, edges


def _intervals(leaves, tree, param_gates, gradients):
    """[(size, start, end)] of every value (and, with gradients, every needed environment)."""
    n_leaves, n_steps = len(leaves), len(tree)
    size = [2 ** len(lf[3]) for lf in leaves] + [2 ** len(kept) for _, _, kept in tree]
    born = [0] * n_leaves + [s + 1 for s in range(n_steps)]
    consumer = [None] * (n_leaves + n_steps)
    sibling = [None] * (n_leaves + n_steps)
    for s, (a, b, _) in enumerate(tree):
        consumer[a] = consumer[b] = s
        sibling[a], sibling[b] = b, a
    need = [lf[0] == KET and lf[1] in param_gates for lf in leaves]
    for a, b, _ in tree:
        need.append(need[a] or need[b])
    out = []
    for t in range(n_leaves + n_steps):
        c = consumer[t]
        if c is None:
            end = born[t]
        elif gradients and need[sibling[t]]:
            end = 2 * n_steps - c
        else:
            end = c + 1
        out.append((size[t], born[t], end))
    if gradients:
        for t in range(n_leaves + n_steps):
            if need[t]:
                c = consumer[t]
                start = n_steps + 1 if c is None else 2 * n_steps - c
                end = 2 * n_steps + 1 if t < n_leaves else 2 * n_steps - (t - n_leaves)
                out.append((size[t], start, max(start, end)))
    return out


def _live_peak(intervals):
    last = max(e for _, _, e in intervals)
    return max(sum(sz for sz, s, e in intervals if s <= t <= e) for t in range(last + 1))


def _structures(ex):
    """(StructurePlan, indices of its parametrised gates) per structure."""
    out = []
    for s, sp in enumerate(ex.plans):
        gates = ex._tn.structure(s)["gates"]
        out.append((sp, {j for j, g in enumerate(gates) if g[3] > 0}))
    return out


def test_grid_workspace_is_the_live_peak():
    """6x6 grid, two layers, <Z Z> on every edge: every structure's forward workspace is its live peak plus
    the gather scratch, far below one slot per tensor (the largest: 1344 live elements)."""
    c, edges = _grid(6, 6, 2)
    ex = c.executor([pq.Z(u) @ pq.Z(v) for u, v in edges], "tensornet")
    largest = None
    for sp, params in _structures(ex):
        core = sp.core
        fwd = _live_peak(_intervals(sp.leaves, sp.tree, params, False))
        grad = _live_peak(_intervals(sp.leaves, sp.tree, params, True))
        assert core.forward_workspace_elements == fwd + core.scratch_elements(False)
        assert core.gradient_workspace_elements >= grad + core.scratch_elements(True)
        assert core.gradient_workspace_elements <= 1.1 * grad + core.scratch_elements(True)
        # Scratch: at most one gather copy of each operand side (a, b; and c backward), each no larger than the
        # largest tensor.
        assert core.scratch_elements(False) <= 2 * 2**core.width
        assert core.scratch_elements(True) <= 3 * 2**core.width
        one_slot_each = sum(sz for sz, _, _ in _intervals(sp.leaves, sp.tree, params, True))
        assert core.gradient_workspace_elements - core.scratch_elements(True) <= one_slot_each
        if largest is None or one_slot_each > largest[0]:
            largest = (one_slot_each, fwd, core)
    one_slot_each, fwd, core = largest
    assert fwd == 1344
    assert core.forward_workspace_elements < one_slot_each / 2


@pytest.mark.parametrize("seed,n,n_gates", [(11, 5, 40), (12, 8, 60), (13, 10, 50)])
def test_random_workspaces_cover_the_live_peak(seed, n, n_gates):
    """On random circuits over every gate the tensor part is never below the live peak (it cannot be, if
    the layout is valid; the values and gradients checked against the state vector in this suite use it)
    and stays close to it."""
    rng = np.random.default_rng(seed)
    c = RandomCircuit(n, n_gates, rng).circuit()
    obs = [random_pauli_sum(n, rng, n_terms=4)[0]]
    ex = c.executor(obs, "tensornet")
    for sp, params in _structures(ex):
        core = sp.core
        for gradients, ws in ((False, core.forward_workspace_elements), (True, core.gradient_workspace_elements)):
            peak = _live_peak(_intervals(sp.leaves, sp.tree, params, gradients))
            tensors = ws - core.scratch_elements(gradients)
            assert peak <= tensors <= 1.25 * peak
        assert core.forward_workspace_elements <= core.gradient_workspace_elements
        assert core.workspace_elements == core.gradient_workspace_elements
        assert core.bytes_per_thread(16, False) == 16 * core.forward_workspace_elements
        assert core.bytes_per_thread(16, True) == 16 * core.gradient_workspace_elements


def test_memory_guard_follows_the_call():
    """A limit between the forward and the gradient estimate: expval runs (and agrees with the state vector),
    jacobian is refused, naming its estimate, which is what pq.plan reports as peak_memory."""
    from pyqml.tensornet import clear_plan_cache

    clear_plan_cache()
    c, _ = _grid(4, 4, 2)
    obs = [pq.Z(5) @ pq.Z(6), pq.X(9)]
    p = pq.plan(c, obs)
    ex = c.executor(obs, "tensornet")
    assert p.peak_memory == ex._tn.estimated_bytes(1, True)
    assert p.forward_memory == ex._tn.estimated_bytes(1, False)
    assert p.forward_memory < p.peak_memory
    W = np.linspace(-1.0, 1.3, c.n_weights)
    try:
        pq.set_memory_limit((p.forward_memory + p.peak_memory) / 2)
        got = ex.expval(W)
        # The permutation tables are built now, so the estimates no longer count them; pq.plan agrees.
        need = ex._tn.estimated_bytes(1, True)
        assert pq.plan(c, obs).peak_memory == need > _core.memory_limit()
        with pytest.raises(pq.MemoryLimitError) as err:
            ex.jacobian(W)
        assert f"({need:.0f} bytes)" in str(err.value)
        # Below the forward estimate even expval is refused, with its own estimate.
        need = ex._tn.estimated_bytes(1, False)
        pq.set_memory_limit(need - 1)
        with pytest.raises(pq.MemoryLimitError) as err:
            ex.expval(W)
        assert f"({need:.0f} bytes)" in str(err.value)
    finally:
        pq.set_memory_limit(0)
    np.testing.assert_allclose(got[0], pq.expval(c, obs, weights=W, method="statevector"), atol=1e-10, rtol=0)
    v, dw, _ = ex.jacobian(W)
    v2, dw2, _ = c.executor(obs, "statevector").jacobian(W)
    np.testing.assert_allclose(v, v2, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dw, dw2, atol=1e-10, rtol=0)
