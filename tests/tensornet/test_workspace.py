"""The contraction workspace: tensors placed by liveness, forward-only and gradient sizes, and the memory guard
that checks the size a call really allocates.

The reference here is an independent simulation of the sweep's time line, from a plan's leaves and tree
only (every index has dimension 2, a tensor of r indices holds 2^r elements):

    time 0: leaves filled | 1..S: forward steps | S+1..2S: backward steps (last first) | 2S+1: gradients read

A tensor is live from its birth (0 for a leaf, s + 1 for the result of step s) to the step consuming it; with
gradients a value stays until the backward step that needs it and environments live from the backward step
writing them to the one reading them (a leaf's to the end). A step's result has the index order [batch, free
of a, free of b]; an operand not already in the order the GEMM reads ([batch, free, contracted] for a,
[batch, contracted, free] for b, batch and contracted indices in a's order) is gathered into a copy live at
that step; a backward step gathers the operand it reads and scatters a permuted environment through one
buffer. The live peak is the largest total live at one time: no workspace can be smaller; the plan's is at
least that and, on the grid networks, exactly that.
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


def _gathers(leaves, tree):
    """Per step: whether operand a and operand b are gathered (their index order is not the GEMM's)."""
    labels = [list(lf[3]) for lf in leaves]
    out = []
    for a, b, kept in tree:
        la, lb, keep = labels[a], labels[b], set(kept)
        batch = [x for x in la if x in lb and x in keep]
        con = [x for x in la if x in lb and x not in keep]
        free_a = [x for x in la if x not in lb]
        free_b = [x for x in lb if x not in la]
        out.append((la != batch + free_a + con, lb != batch + con + free_b))
        labels.append(batch + free_a + free_b)
    return out


def _intervals(leaves, tree, param_gates, gradients):
    """[(size, start, end)] of every value, gather copy (and, with gradients, every needed environment)."""
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
    for s, ((a, b, _), (perm_a, perm_b)) in enumerate(zip(tree, _gathers(leaves, tree))):
        out += [(size[x], s + 1, s + 1) for x, p in ((a, perm_a), (b, perm_b)) if p]
        if gradients:
            t = 2 * n_steps - s
            if need[a] and perm_b:
                out.append((size[b], t, t))
            if need[b] and perm_a:
                out.append((size[a], t, t))
            scatter = max(size[a] if need[a] and perm_a else 0, size[b] if need[b] and perm_b else 0)
            if scatter:
                out.append((scatter, t, t))
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
    """6x6 grid, two layers, <Z Z> on every edge: every structure's forward workspace is its live peak, far
    below one slot per tensor (the largest structure held 7218 elements with one slot each)."""
    c, edges = _grid(6, 6, 2)
    ex = c.executor([pq.Z(u) @ pq.Z(v) for u, v in edges], "tensornet")
    largest = None
    for sp, params in _structures(ex):
        core = sp.core
        fwd = _live_peak(_intervals(sp.leaves, sp.tree, params, False))
        grad = _live_peak(_intervals(sp.leaves, sp.tree, params, True))
        assert core.forward_workspace_elements == fwd
        assert grad <= core.gradient_workspace_elements <= 1.1 * grad
        if largest is None or core.gradient_workspace_elements > largest[0].core.gradient_workspace_elements:
            largest = (sp, params)
    # The layout before liveness: one slot per tensor and per needed environment, then one gather buffer per
    # operand side as large as its largest copy (a, b) and one for scattered environments.
    sp, params = largest
    tree = sp.tree
    size = [2 ** len(lf[3]) for lf in sp.leaves] + [2 ** len(k) for _, _, k in tree]
    need = [lf[0] == KET and lf[1] in params for lf in sp.leaves]
    for a, b, _ in tree:
        need.append(need[a] or need[b])
    perms = _gathers(sp.leaves, tree)
    buf_a = max([size[a] for (a, _, _), (pa, _) in zip(tree, perms) if pa], default=0)
    buf_b = max([size[b] for (_, b, _), (_, pb) in zip(tree, perms) if pb], default=0)
    buf_c = max([size[x] for (a, b, _), (pa, pb) in zip(tree, perms)
                 for x, p in ((a, pa), (b, pb)) if p and need[x]], default=0)
    one_slot_each = sum(size) + sum(sz for sz, n in zip(size, need) if n) + buf_a + buf_b + buf_c
    assert one_slot_each == 7218
    assert sp.core.forward_workspace_elements == 1856
    assert sp.core.gradient_workspace_elements < one_slot_each / 1.5


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
            assert peak <= ws <= 1.25 * peak
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
    # Gradients with every value stored (recompute="never"; tests/tensornet/test_recompute.py: checkpoints).
    p = pq.plan(c, obs, recompute="never")
    ex = c.executor(obs, "tensornet", recompute="never")
    assert p.peak_memory == ex._tn.estimated_bytes(1, True)
    assert p.forward_memory == ex._tn.estimated_bytes(1, False)
    assert p.forward_memory < p.peak_memory
    W = np.linspace(-1.0, 1.3, c.n_weights)
    try:
        pq.set_memory_limit((p.forward_memory + p.peak_memory) / 2)
        got = ex.expval(W)
        # The permutation tables are built now, so the estimates no longer count them; pq.plan agrees.
        need = ex._tn.estimated_bytes(1, True)
        # (target_size: the unsliced plan; pq.plan at this limit would report the sliced one)
        assert pq.plan(c, obs, target_size=2**62, recompute="never").peak_memory == need > _core.memory_limit()
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
