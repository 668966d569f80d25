"""QAOA: MaxCut cost and mixer Hamiltonians of a graph, their evolution layers, and whole QAOA circuits."""
from __future__ import annotations

from ...frontend import ops
from ...frontend.observables import Observable
from ._common import _values


def maxcut(graph) -> tuple[Observable, Observable]:
    """PennyLane's MaxCut Hamiltonians for a networkx graph (nodes 0..n-1): cost
    ``sum_{(i,j)} 0.5 (Z_i Z_j - 1)`` (minimised by a maximum cut) and mixer ``sum_i X_i``."""
    nodes = sorted(graph.nodes)
    if nodes != list(range(len(nodes))):
        raise ValueError(f"graph nodes must be 0..n-1, got {nodes}")
    cost = Observable()
    for i, j in graph.edges:
        cost = cost + 0.5 * (Observable.pauli("Z", i) @ Observable.pauli("Z", j)) - 0.5
    mixer = Observable()
    for i in nodes:
        mixer = mixer + Observable.pauli("X", i)
    return cost, mixer


def _terms(h) -> list[tuple[float, list[int], str]]:
    from ...frontend.observables import as_observable

    return as_observable(h).core_terms()


def cost_layer(gamma, hamiltonian) -> None:
    """``exp(-i gamma H)`` for a cost Hamiltonian of Z words: one ``MultiRZ(2 c gamma)`` per term
    (identity terms are a global phase and are dropped)."""
    for c, wires, letters in _terms(hamiltonian):
        if not wires:
            continue
        if set(letters) != {"Z"}:
            raise ValueError(f"cost_layer: the cost Hamiltonian must hold Z words only, got {letters} on {wires}")
        ops.MultiRZ(gamma * (2.0 * c), wires=wires)


def mixer_layer(alpha, hamiltonian) -> None:
    """``exp(-i alpha H)`` for a mixer of single-wire X terms: ``RX(2 c alpha)`` per term."""
    for c, wires, letters in _terms(hamiltonian):
        if not wires:
            continue
        if letters != "X":
            raise ValueError(f"mixer_layer: the mixer must be a sum of single-wire X terms, got {letters} on {wires}")
        ops.RX(alpha * (2.0 * c), wires=wires[0])


def QAOALayers(gammas, alphas, graph, initial_hadamards: bool = True) -> Observable:
    """MaxCut QAOA on a graph: H on every node (optional), then p layers of cost and mixer.
    Returns the cost Hamiltonian to measure."""
    g = _values(gammas, "gammas")
    a = _values(alphas, "alphas")
    if g.ndim != 1 or a.shape != g.shape:
        raise ValueError(f"QAOALayers: gammas and alphas must be 1-D of equal length, got {g.shape} and {a.shape}")
    cost, mixer = maxcut(graph)
    if initial_hadamards:
        for i in sorted(graph.nodes):
            ops.Hadamard(wires=i)
    for gm, al in zip(g, a):
        cost_layer(gm, cost)
        mixer_layer(al, mixer)
    return cost


QAOALayers.shape = lambda p: [(int(p),), (int(p),)]
