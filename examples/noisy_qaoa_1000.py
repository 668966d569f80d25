"""Noisy QAOA p=1 for MaxCut on a 1,000-node cubic graph, with DepolarizingChannel(p) on each wire after
every gate, trained by Adam on the noisy light-cone tensor network: each step is one energy and one gradient
(reverse mode through the doubled ket x bra network of each edge's cone; channels outside a cone drop out).

The graph is a ring with a random perfect matching of chords (every node of degree 3); the cost is
PennyLane's MaxCut Hamiltonian sum_(i,j) 0.5 (Z_i Z_j - 1) (``pq.QAOALayers``), so -cost counts cut edges.
With noise between them the ZZ rotations no longer commute as operations on the state, so their order is
physical: the edges are applied in three matchings (even ring edges, odd ring edges, chords), a cost layer of
depth 3 as a device would schedule it, and each edge's light cone stays a few dozen wires wide. (In sorted
order, each ring edge would reach back through all earlier ones: a cone over hundreds of wires.)

    python examples/noisy_qaoa_1000.py [--nodes 1000] [--p 0.01] [--steps 5]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import pyqml as pq


class CubicGraph:
    """A ring of n nodes plus a random perfect matching of chords (no chord doubles a ring edge): every node
    has degree 3. ``nodes`` and ``edges`` as a networkx graph has them (what ``pq.QAOALayers`` reads)."""

    def __init__(self, n: int, seed: int = 0):
        if n < 6 or n % 2:
            raise ValueError(f"a cubic ring-and-chords graph needs an even number of nodes >= 6, got {n}")
        rng = np.random.default_rng(seed)
        ring = {tuple(sorted((i, (i + 1) % n))) for i in range(n)}
        while True:
            perm = rng.permutation(n)
            chords = {tuple(sorted((int(perm[2 * k]), int(perm[2 * k + 1])))) for k in range(n // 2)}
            if not chords & ring:
                break
        self.nodes = list(range(n))
        # Three matchings, each a layer of disjoint edges: even ring edges, odd ring edges, chords.
        self.edges = ([(i, i + 1) for i in range(0, n, 2)] + sorted(tuple(sorted((i, (i + 1) % n)))
                                                                 for i in range(1, n, 2)) + sorted(chords))


def make_energy(graph, p: float, method: str = "tensornet"):
    """The qnode E(params) = <C> of QAOA p=1 (params = [gamma, alpha]) under DepolarizingChannel(p) after
    every gate, on ``method``."""
    nm = pq.NoiseModel().add(pq.DepolarizingChannel, float(p)) if p else None
    n = len(graph.nodes)

    @pq.qnode(wires=n, method=method, **({} if nm is None else {"noise": nm}))
    def energy(params):
        cost = pq.QAOALayers(params[:1], params[1:], graph)
        return pq.expval(cost)

    return energy


def energy_and_gradient(energy, params):
    """E(params) and dE/dparams, from one tensor-network call (values and reverse-mode gradients)."""
    cq = energy.compile([(2,)])
    vals, dw, _ = cq.jacobian(cq.pack([np.asarray(params, dtype=float)]))
    return float(np.asarray(vals).reshape(-1)[0]), np.asarray(dw, dtype=float).reshape(-1)


def main(nodes: int = 1000, p: float = 0.01, steps: int = 5, stepsize: float = 0.05, seed: int = 0):
    graph = CubicGraph(nodes, seed)
    energy = make_energy(graph, p)
    params = np.array([0.4, 0.3])
    print(f"noisy QAOA p=1, MaxCut on a {nodes}-node cubic graph ({len(graph.edges)} edges), "
          f"DepolarizingChannel({p:g}) after every gate, method 'tensornet'")
    t0 = time.perf_counter()
    E, g = energy_and_gradient(energy, params)
    print(f"  first call (light cones, plans, compile, E and grad E): {time.perf_counter() - t0:.2f} s; "
          f"E = {E:.6f}, grad E = {g}")
    opt = pq.AdamOptimizer(stepsize=stepsize)
    history = []
    for k in range(steps):
        t0 = time.perf_counter()
        params, E = opt.step_and_cost(energy, params)  # E and grad E in one engine call, then the update
        dt = time.perf_counter() - t0
        history.append((E, dt))
        print(f"  step {k + 1}: E = {E:.6f} (expected cut {-E:.2f} of {len(graph.edges)} edges), "
              f"{dt:.3f} s (energy + gradient + Adam update)")
    return params, history


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--p", type=float, default=0.01)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--stepsize", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    main(a.nodes, a.p, a.steps, a.stepsize, a.seed)
