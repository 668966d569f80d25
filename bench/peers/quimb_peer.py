"""Peer: quimb tensor networks (``quimb.tensor.Circuit``) with cotengra.

Each observable term is one ``Circuit.local_expectation`` call: the reverse light cone
of the term is kept, simplified, and contracted with a greedy path
(``optimize="greedy"``).  Energies are sums over the terms.  Values only."""

from __future__ import annotations

import functools

import cotengra
import numpy as onp
import quimb
import quimb.tensor as qtn
from _common import W, expand_rot

SETTING = "quimb Circuit.local_expectation (reverse light cone), greedy paths"
OPTIMIZE = "greedy"

_Z = onp.diag([1.0, -1.0]).astype(complex)
_ZZ = onp.kron(_Z, _Z)


def versions():
    return {"quimb": quimb.__version__, "cotengra": cotengra.__version__}


_NAMES = {"RX": "RX", "RY": "RY", "RZ": "RZ", "CNOT": "CNOT", "CZ": "CZ", "H": "H",
          "IsingZZ": "RZZ"}


def build(circ):
    """quimb Circuit from a workload gate list (RZZ(t) = exp(-i t ZZ / 2) = IsingZZ)."""
    qc = qtn.Circuit(circ.n)
    for op in expand_rot(circ):
        qc.apply_gate(_NAMES[op.name], *op.params, *op.wires)
    return qc


@functools.lru_cache(None)
def _circuit(kind, *args):
    circ = {"w3": W.w3_circuit, "w4": W.w4_circuit, "w5": W.w5_circuit}[kind](*args)
    return circ, build(circ)


def _terms(qc, observables):
    total = 0.0
    for c, w in observables:
        G = _Z if len(w) == 1 else _ZZ
        total += c * qc.local_expectation(G, tuple(w), optimize=OPTIMIZE).real
    return float(total)


def w3_term(n, L):
    circ, qc = _circuit("w3", n, L)
    return _terms(qc, W.w3_term_observable(n))


def w3_energy(n, L):
    circ, qc = _circuit("w3", n, L)
    return _terms(qc, circ.observables)


def w4_energy(lx, ly, L):
    circ, qc = _circuit("w4", lx, ly, L)
    return _terms(qc, circ.observables)


def w5_energy(n, p):
    circ, qc = _circuit("w5", n, p)
    return _terms(qc, circ.observables)
