"""Reduced density matrices and marginal probabilities of a few wires from Pauli expectations.

For wires S (k of them), ``rho_S = 2^-k sum_P <P> P`` over the 4^k Pauli words P on S, and the marginal
probabilities are its diagonal, ``p(b) = 2^-k sum_{Z words} <Z_T> (-1)^(parity of b on T)``. Each word runs
through the light-cone machinery of the tensor-network method, so only the cones of S are contracted.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ..frontend.observables import Observable

_PAULI = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
          "Z": np.diag([1.0, -1.0])}
MAX_WIRES = 6


def _check_wires(circuit, wires) -> list[int]:
    ws = [int(w) for w in wires]
    if not 1 <= len(ws) <= MAX_WIRES:
        raise ValueError(f"wires: between 1 and {MAX_WIRES} wires, got {len(ws)}")
    if len(set(ws)) != len(ws):
        raise ValueError(f"wires {ws} are repeated")
    if any(not 0 <= w < circuit.n_wires for w in ws):
        raise ValueError(f"wires {ws} out of range for {circuit.n_wires} wires")
    return ws


def _word(wires, letters) -> Observable:
    return Observable({tuple(sorted((w, p) for w, p in zip(wires, letters) if p != "I")): 1.0})


def _expvals(circuit, words, weights, inputs, precision):
    from ..frontend.measurements import _inputs_for, _weights_for

    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    vals = circuit.executor(words, "tensornet", precision).expval(w, x)
    return vals, (batched or np.ndim(w) == 2)


def reduced_density_matrix(circuit, wires: Sequence[int], weights=None, inputs=None,
                           precision: str = "complex128") -> np.ndarray:
    """The reduced density matrix of ``wires`` (first wire most significant), shape (2^k, 2^k), with a
    leading batch axis when ``inputs`` is 2-D."""
    ws = _check_wires(circuit, wires)
    letters = list(itertools.product("IXYZ", repeat=len(ws)))
    words = [_word(ws, ls) for ls in letters]
    vals, batched = _expvals(circuit, words, weights, inputs, precision)
    dim = 2 ** len(ws)
    rho = np.zeros((vals.shape[0], dim, dim), dtype=complex)
    for j, ls in enumerate(letters):
        m = np.array([[1.0]])
        for p in ls:
            m = np.kron(m, _PAULI[p])
        rho += vals[:, j, None, None] * m[None]
    rho /= dim
    return rho if batched else rho[0]


def marginal_probs(circuit, wires: Sequence[int], weights=None, inputs=None,
                   precision: str = "complex128") -> np.ndarray:
    """Marginal probabilities of ``wires`` (first wire most significant), shape (2^k,), with a leading batch
    axis when ``inputs`` is 2-D (the tensor-network executor's ``probs``, from the Z words of the wires)."""
    from ..frontend.measurements import _inputs_for, _weights_for

    ws = _check_wires(circuit, wires)
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    probs = circuit.executor([], "tensornet", precision, "probs").probs(w, x, ws)
    return probs if (batched or np.ndim(w) == 2) else probs[0]
