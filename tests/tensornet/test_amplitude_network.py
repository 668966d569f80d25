"""The amplitude network <b|U|0>, built by the engine's network builder, and pq.tensornet.amplitudes."""
from __future__ import annotations

import dense_reference  # noqa: F401  (the random circuits' reference states)
import numpy as np
import pytest
from random_circuits import RandomCircuit

import pyqml as pq
from pyqml import _core
from pyqml.tensornet.amplitudes import amplitude_network


def _reference_network(n_wires, ops, bits):
    """The network as the rule in network.hpp states it: |0> per wire (labels 0..n-1), per gate a ket tensor
    whose non-diagonal wires get new labels in order ([new, old] per wire), then |0> or |1> per wire."""
    cur = list(range(n_wires))
    nxt = n_wires
    leaves = [(2, -1, "", [w]) for w in range(n_wires)]
    gates = []
    for j, op in enumerate(ops):
        labels = []
        for a, w in enumerate(op.wires):
            if _core.tn_diagonal_on_wire(op.name, a):
                labels.append(cur[w])
            else:
                labels += [nxt, cur[w]]
                cur[w] = nxt
                nxt += 1
        leaves.append((0, j, "", labels))
        gates.append((op.name, len(op.wires)))
    leaves += [(5 if b else 2, -1, "", [cur[w]]) for w, b in enumerate(bits)]
    return leaves, gates


@pytest.mark.parametrize("seed,n,n_gates", [(81, 3, 20), (82, 6, 40), (83, 9, 60)])
def test_network_follows_the_rule(seed, n, n_gates):
    rng = np.random.default_rng(seed)
    c = RandomCircuit(n, n_gates, rng).circuit()
    bits = [int(v) for v in rng.integers(0, 2, n)]
    leaves, gates = amplitude_network(n, c.ops, bits)
    ref_leaves, ref_gates = _reference_network(n, c.ops, bits)
    assert leaves == ref_leaves
    assert [g[:2] for g in gates] == ref_gates


@pytest.mark.parametrize("seed,n,n_gates", [(91, 4, 30), (92, 7, 40)])
def test_amplitudes_of_several_bit_strings_match_dense_reference(seed, n, n_gates):
    from pyqml.tensornet import amplitude, amplitudes

    rng = np.random.default_rng(seed)
    rc = RandomCircuit(n, n_gates, rng, n_inputs=2)
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    x = rng.uniform(-1, 1, (3, 2))
    psis = np.array([rc.state(w, xr) for xr in x])
    idx = [int(i) for i in rng.choice(2**n, 5, replace=False)]
    bits = [[(i >> (n - 1 - k)) & 1 for k in range(n)] for i in idx]
    got = amplitudes(c, bits, weights=w, inputs=x)
    assert got.shape == (3, 5)
    np.testing.assert_allclose(got, psis[:, idx], atol=1e-10, rtol=0)
    one = amplitudes(c, bits, weights=w, inputs=x[0])
    assert one.shape == (5,)
    np.testing.assert_allclose(one, psis[0, idx], atol=1e-10, rtol=0)
    np.testing.assert_allclose(amplitude(c, bits[2], weights=w, inputs=x), psis[:, idx[2]], atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="bits"):
        amplitudes(c, [bits[0], [0, 1]], weights=w, inputs=x)
    with pytest.raises(ValueError, match="bits"):
        amplitudes(c, [[2] * n], weights=w, inputs=x)


def test_network_builder_rejects_bad_input():
    with pytest.raises(ValueError, match="bits"):
        _core.tn_amplitude_network(2, [("RY", [0])], [0])
    with pytest.raises(ValueError, match="out of range"):
        _core.tn_amplitude_network(2, [("CZ", [0, 5])], [0, 1])
    with pytest.raises(ValueError, match="unknown gate"):
        _core.tn_amplitude_network(2, [("Nope", [0])], [0, 1])
    with pytest.raises(ValueError, match="bits must be 0 or 1"):
        _core.tn_amplitude_network(2, [("RY", [0])], [0, 3])
    assert pq.tensornet.amplitudes is not None
