"""Plans made by the engine in one batch (``TensorNet.plan_greedy``: networks, greedy paths and compiled plans
in C++, in parallel) against the same plans made one structure at a time in Python (``plan_for``): the same
trees, widths and costs, the same values and gradients (and those against the dense reference); the greedy
path against an independent Python transcription of its rule, on random networks with hyperedges and
disconnected parts.
"""
from __future__ import annotations

import dense_reference as ref
import networkx as nx
import numpy as np
import pytest

import pyqml as pq
from pyqml import _core
from pyqml.tensornet import TensorNetExecutor, build_network, clear_plan_cache
from pyqml.tensornet.network import StructurePlan


def _qaoa(g, p: int) -> pq.Circuit:
    n = g.number_of_nodes()
    c = pq.Circuit(n)
    w = c.new_weights(p, 2)
    with c:
        for i in range(n):
            pq.Hadamard(wires=i)
        for layer in range(p):
            for a, b in g.edges:
                pq.IsingZZ(w[layer, 0], wires=[a, b])
            for i in range(n):
                pq.RX(w[layer, 1], wires=i)
    return c


def _qasm(g, gammas, betas) -> str:
    n = g.number_of_nodes()
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{n}];"] + [f"h q[{i}];" for i in range(n)]
    for gm, bt in zip(gammas, betas):
        for a, b in g.edges:
            lines += [f"cx q[{a}],q[{b}];", f"rz({float(gm)!r}) q[{b}];", f"cx q[{a}],q[{b}];"]
        lines += [f"rx({float(bt)!r}) q[{i}];" for i in range(n)]
    return "\n".join(lines) + "\n"


def _dense_energy(g, gammas, betas) -> float:
    n = g.number_of_nodes()
    gates = [(ref.H, [i]) for i in range(n)]
    for gm, bt in zip(gammas, betas):
        gates += [(ref.multirz(gm, 2), [a, b]) for a, b in g.edges]
        gates += [(ref.rx(bt), [i]) for i in range(n)]
    psi = ref.simulate(n, gates)
    return ref.expval_var([(1.0, {a: "Z", b: "Z"}) for a, b in g.edges], psi, n)[0]


def _energy(g) -> pq.Observable:
    return pq.Hamiltonian([1.0] * g.number_of_edges(), [pq.Z(a) @ pq.Z(b) for a, b in g.edges])


def _both(circuit, obs):
    """(executor planned in one engine batch, executor planned structure by structure), each from an empty
    plan cache (max_time takes the one-by-one loop)."""
    clear_plan_cache()
    batch = TensorNetExecutor(circuit, obs)
    clear_plan_cache()
    single = TensorNetExecutor(circuit, obs, max_time=1e9)
    clear_plan_cache()
    return batch, single


@pytest.mark.parametrize("form,p", [("native", 1), ("native", 2), ("qasm", 2)])
def test_batch_plans_match_one_by_one_plans(form, p):
    g = nx.powerlaw_cluster_graph(12, 2, 0.3, seed=ref.seed_of("engine-plans", form, p))
    rng = np.random.default_rng(ref.seed_of("engine-angles", form, p))
    gm, bt = rng.uniform(-1.5, 1.5, p), rng.uniform(-1.5, 1.5, p)
    if form == "native":
        c = _qaoa(g, p)
        w = np.stack([gm, bt], 1).ravel()
    else:
        c = pq.Circuit.from_qasm(_qasm(g, gm, bt), trainable=True)
        w = np.asarray(c.default_weights, dtype=float)
    obs = [_energy(g)]
    batch, single = _both(c, obs)
    assert len(batch.plans) == len(single.plans) == batch._tn.n_structures > 1
    for s, (a, b) in enumerate(zip(batch.plans, single.plans)):
        assert a.tree == b.tree and a.leaves == b.leaves and a.gates == b.gates
        assert (a.width, a.forward_macs, a.backward_macs) == (b.width, b.forward_macs, b.backward_macs)
        assert a.core.workspace_elements == b.core.workspace_elements
        st = batch._tn.structure(s)
        assert batch._tn.structure_key(s) == st["key"]
        leaves, gates = build_network(st)
        assert a.leaves == leaves and a.gates == gates
    va, vb = batch.expval(w), single.expval(w)
    np.testing.assert_allclose(va, vb, atol=1e-12, rtol=0)
    np.testing.assert_allclose(np.asarray(va).ravel()[0], _dense_energy(g, gm, bt), atol=1e-10, rtol=0)
    ja, jb = batch.jacobian(w), single.jacobian(w)
    for x, y in zip(ja, jb):
        if x is not None:
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-12, rtol=0)


def test_batch_plans_gradients_against_finite_differences():
    g = nx.connected_watts_strogatz_graph(14, 4, 0.3, seed=ref.seed_of("engine-ws"))
    c = _qaoa(g, 2)
    obs = [_energy(g)]
    clear_plan_cache()
    ex = TensorNetExecutor(c, obs)
    w = np.array([[0.3, -0.7], [1.1, 0.4]])
    vals, dw = ex.jacobian(w.ravel())[:2]
    np.testing.assert_allclose(np.asarray(vals).ravel()[0], _dense_energy(g, w[:, 0], w[:, 1]), atol=1e-10, rtol=0)
    h = 1e-6
    for idx in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[idx] = h
        fd = (_dense_energy(g, *(w + e).T) - _dense_energy(g, *(w - e).T)) / (2 * h)
        np.testing.assert_allclose(np.asarray(dw).reshape(-1)[np.ravel_multi_index(idx, w.shape)], fd, atol=1e-7)


def test_plans_made_by_the_engine_are_cached_and_pickle():
    import pickle

    g = nx.connected_watts_strogatz_graph(16, 4, 0.3, seed=ref.seed_of("engine-cache"))
    clear_plan_cache()
    a = TensorNetExecutor(_qaoa(g, 1), [_energy(g)])
    b = TensorNetExecutor(_qaoa(g, 1), [_energy(g)])
    assert all(x is y for x, y in zip(a.plans, b.plans))
    big = [sp for sp in a.plans if sp.core.n_leaves > 7]
    assert big and all(isinstance(sp, StructurePlan) for sp in big)
    for sp in big:
        q = pickle.loads(pickle.dumps(sp))
        assert q.tree == sp.tree and q.leaves == sp.leaves and q.gates == sp.gates and q.width == sp.width


def test_plan_greedy_checks_structure_indices():
    g = nx.cycle_graph(6)
    ex = TensorNetExecutor(_qaoa(g, 1), [_energy(g)])
    with pytest.raises(ValueError, match="out of range"):
        ex._tn.plan_greedy([0, ex._tn.n_structures])
    with pytest.raises(ValueError, match="out of range"):
        ex._tn.structure_key(-1)
    plans = ex._tn.plan_greedy(list(range(ex._tn.n_structures)))
    for s, core in enumerate(plans):
        st = ex._tn.structure(s)
        assert core.leaves == st["leaves"]
        assert core.steps == _core.tn_greedy_path([lf[3] for lf in st["leaves"]])


# ---- the greedy rule, transcribed ---------------------------------------------------------------------------
def _greedy_reference(labels):
    """The greedy rule of cpp/src/tensornet/greedy_path.cpp in plain Python: among pairs sharing an index,
    contract the one minimising 2^|result| - 2^|a| - 2^|b| (ties: smaller result, then smaller ids), a
    result keeping the indices some other tensor holds; then disconnected parts, smallest first."""
    sets = [sorted(ls) for ls in labels]
    alive = [True] * len(sets)
    steps = []

    def result(a, b):
        return sorted(x for x in set(sets[a]) | set(sets[b])
                      if any(alive[t] and t not in (a, b) and x in sets[t] for t in range(len(sets))))

    def contract(a, b):
        out = result(a, b)
        alive[a] = alive[b] = False
        sets.append(out)
        alive.append(True)
        steps.append((a, b, out))

    while True:
        best = None
        for a in range(len(sets)):
            for b in range(a + 1, len(sets)):
                if alive[a] and alive[b] and set(sets[a]) & set(sets[b]):
                    r = result(a, b)
                    key = (2.0 ** len(r) - 2.0 ** len(sets[a]) - 2.0 ** len(sets[b]), len(r), a, b)
                    best = key if best is None or key < best else best
        if best is None:
            break
        contract(best[2], best[3])
    while sum(alive) > 1:
        rest = sorted((len(sets[t]), t) for t in range(len(sets)) if alive[t])
        # (the engine sorts by size only; ties are checked not to occur below)
        contract(rest[0][1], rest[1][1])
    return steps


@pytest.mark.parametrize("seed", range(16))
def test_greedy_path_follows_its_rule(seed):
    """Connected random networks (each tensor shares an index with an earlier one; indices on up to five
    tensors, i.e. hyperedges) with arbitrary, unsorted integer labels."""
    rng = np.random.default_rng(ref.seed_of("greedy", seed))
    names = [int(x) for x in rng.choice(np.arange(-50, 200), size=int(rng.integers(5, 16)), replace=False)]
    labels = [[names[0]]]
    for _ in range(int(rng.integers(4, 14))):
        k = int(rng.integers(1, 4))
        own = set(int(x) for x in rng.choice(names, size=k, replace=False))
        own.add(int(rng.choice(sorted(set().union(*map(set, labels))))))
        labels.append([int(x) for x in rng.permutation(sorted(own))])
    got = [(a, b, list(k)) for a, b, k in _core.tn_greedy_path(labels)]
    assert got == _greedy_reference(labels)


def test_greedy_path_joins_disconnected_parts():
    labels = [[1, 2], [2, 3], [3, 1], [7], [7, 8], [8]]  # a triangle and a chain: two scalars, then one
    got = [(a, b, list(k)) for a, b, k in _core.tn_greedy_path(labels)]
    assert got == _greedy_reference(labels)
    assert len(got) == 5 and got[-1][2] == []
