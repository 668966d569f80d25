"""Circuits from elsewhere plan like native ones: gates fused on one or two wires before the light cones.

QAOA written natively (IsingZZ, or the MultiRZ of pq.QAOALayers) against the same circuit as the QASM text
Qiskit exports (``h``; per edge ``cx a,b; rz b; cx a,b`` or with ``u1`` / ``p``; ``rx`` mixers): energies
against each other and the dense reference, gradients through the fused blocks against the state-vector
adjoint, finite differences and the chain rule, plans of both forms, native plans unchanged by fusion, and
the structural (angle-independent) diagonality that fusion relies on.
"""
from __future__ import annotations

import dense_reference as ref
import networkx as nx
import numpy as np
import pytest

import pyqml as pq
from pyqml import _core
from pyqml.tensornet import TensorNetExecutor

TABLE = {g["name"]: g for g in _core.gate_table()}


# ---- the two forms of one QAOA circuit --------------------------------------------------------------------
def _graph(kind: str, n: int, seed: int):
    if kind == "regular":
        return nx.random_regular_graph(3, n, seed=seed)
    g = nx.powerlaw_cluster_graph(n, 2, 0.3, seed=seed)  # triangles, mixed degrees
    assert sum(nx.triangles(g).values()) > 0 and len({d for _, d in g.degree()}) > 2
    return g


def _native(g, p: int, template: bool = False) -> pq.Circuit:
    """H on every node; per layer IsingZZ(w[l, 0]) per edge and RX(w[l, 1]) per node (angles = weights)."""
    n = g.number_of_nodes()
    c = pq.Circuit(n)
    w = c.new_weights(p, 2)
    with c:
        if template:
            # pq.QAOALayers: MultiRZ(gamma) per edge (cost 0.5 Z Z), RX(2 alpha) per node.
            pq.templates.QAOALayers(w[:, 0], 0.5 * w[:, 1], g)
        else:
            for i in range(n):
                pq.Hadamard(wires=i)
            for layer in range(p):
                for a, b in g.edges:
                    pq.IsingZZ(w[layer, 0], wires=[a, b])
                for i in range(n):
                    pq.RX(w[layer, 1], wires=i)
    return c


def _qasm(g, gammas, betas, zz: str = "rz") -> str:
    """The circuit as Qiskit exports it; ``zz`` is the middle gate of each ZZ rotation (rz, u1 or p)."""
    n = g.number_of_nodes()
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{n}];"]
    lines += [f"h q[{i}];" for i in range(n)]
    for gm, bt in zip(gammas, betas):
        for a, b in g.edges:
            lines += [f"cx q[{a}],q[{b}];", f"{zz}({float(gm)!r}) q[{b}];", f"cx q[{a}],q[{b}];"]
        lines += [f"rx({float(bt)!r}) q[{i}];" for i in range(n)]
    return "\n".join(lines) + "\n"


def _energy(g) -> pq.Observable:
    return pq.Hamiltonian([1.0] * g.number_of_edges(), [pq.Z(a) @ pq.Z(b) for a, b in g.edges])


def _dense_energy(g, gammas, betas) -> float:
    n = g.number_of_nodes()
    gates = [(ref.H, [i]) for i in range(n)]
    for gm, bt in zip(gammas, betas):
        gates += [(ref.multirz(gm, 2), [a, b]) for a, b in g.edges]
        gates += [(ref.rx(bt), [i]) for i in range(n)]
    psi = ref.simulate(n, gates)
    return ref.expval_var([(1.0, {a: "Z", b: "Z"}) for a, b in g.edges], psi, n)[0]


def _angles(p: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.5, 1.5, p), rng.uniform(-1.5, 1.5, p)


# ---- energies and gradients ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["regular", "irregular"])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("zz", ["rz", "u1", "p"])
def test_energies_agree_with_native_form_and_dense_reference(kind, p, zz):
    g = _graph(kind, 10, seed=ref.seed_of(kind, p))
    gm, bt = _angles(p, ref.seed_of(kind, p, zz))
    obs = _energy(g)
    native = _native(g, p)
    w_native = np.stack([gm, bt], axis=1).ravel()
    qasm = pq.Circuit.from_qasm(_qasm(g, gm, bt, zz), trainable=True)
    ex = qasm.executor([obs], "tensornet")
    # Every ZZ rotation of the QASM form became one fused, diagonal block.
    assert ex._tn.n_fused == p * g.number_of_edges()
    want = _dense_energy(g, gm, bt)
    e_nat = pq.expval(native, [obs], weights=w_native, method="tensornet")[0]
    e_qasm = pq.expval(qasm, [obs], weights=qasm.default_weights, method="tensornet")[0]
    e_sv = pq.expval(qasm, [obs], weights=qasm.default_weights, method="statevector")[0]
    np.testing.assert_allclose([e_nat, e_qasm, e_sv], want, atol=1e-10, rtol=0)
    if zz == "rz":
        tpl = _native(g, p, template=True)
        w_tpl = np.stack([gm, bt], axis=1).ravel()
        np.testing.assert_allclose(pq.expval(tpl, [obs], weights=w_tpl, method="tensornet")[0], want,
                                   atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind", ["regular", "irregular"])
@pytest.mark.parametrize("zz", ["rz", "u1"])
def test_gradients_through_fused_blocks(kind, zz):
    p = 2
    g = _graph(kind, 10, seed=ref.seed_of("grad", kind))
    gm, bt = _angles(p, ref.seed_of("grad", kind, zz))
    obs = [_energy(g), 0.7 * pq.X(3) + pq.Y(5) @ pq.Z(6)]
    qasm = pq.Circuit.from_qasm(_qasm(g, gm, bt, zz), trainable=True)
    w = qasm.default_weights
    vals, dw, _ = pq.jacobian(qasm, obs, weights=w, method="tensornet")
    vals_sv, dw_sv, _ = pq.jacobian(qasm, obs, weights=w, method="statevector")
    np.testing.assert_allclose(vals, vals_sv, atol=1e-10, rtol=0)
    np.testing.assert_allclose(dw, dw_sv, atol=1e-10, rtol=0)
    # Central finite differences of the tensor-network values on a few angles, ZZ angles among them.
    ex = qasm.executor(obs, "tensornet")
    h = 1e-5
    rng = np.random.default_rng(1)
    for k in [1, 4] + list(rng.choice(len(w), 4, replace=False)):
        wp, wm = w.copy(), w.copy()
        wp[k] += h
        wm[k] -= h
        fd = (ex.expval(wp)[0] - ex.expval(wm)[0]) / (2 * h)
        np.testing.assert_allclose(dw[:, k], fd, atol=1e-7, rtol=0)
    # Chain rule: the native form's weight per layer is the sum of the QASM form's angles of that layer.
    native = _native(g, p)
    _, dw_nat, _ = pq.jacobian(native, obs, weights=np.stack([gm, bt], axis=1).ravel(), method="tensornet")
    n, m = g.number_of_nodes(), g.number_of_edges()
    k = 0
    for layer in range(p):
        np.testing.assert_allclose(dw[:, k:k + m].sum(axis=1), dw_nat[:, 2 * layer], atol=1e-10, rtol=0)
        k += m
        np.testing.assert_allclose(dw[:, k:k + n].sum(axis=1), dw_nat[:, 2 * layer + 1], atol=1e-10, rtol=0)
        k += n


# ---- plans ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,n,p", [("regular", 100, 1), ("regular", 100, 2), ("irregular", 100, 1),
                                      ("regular", 1000, 1)])
def test_plans_of_the_qasm_form_match_the_native_form(kind, n, p):
    g = _graph(kind, n, seed=ref.seed_of("plan", kind, n))
    gm, bt = _angles(p, 3)
    obs = _energy(g)
    a = pq.plan(_native(g, p), [obs])
    b = pq.plan(pq.Circuit.from_qasm(_qasm(g, gm, bt), trainable=True), [obs])
    assert a.n_terms == b.n_terms == g.number_of_edges()
    assert a.n_structures == b.n_structures
    assert a.width == b.width
    assert abs(b.flops - a.flops) <= 0.1 * a.flops
    assert abs(b.gradient_flops - a.gradient_flops) <= 0.1 * a.gradient_flops
    # Cone by cone: the QASM cone holds exactly the ops of the native cone's gates (each IsingZZ as 3 ops).
    m = g.number_of_edges()
    for (ops_a, wires_a, _, _), (ops_b, wires_b, _, _) in zip(a.cones, b.cones):
        assert sorted(wires_a) == sorted(wires_b)
        zz = sum(1 for o in ops_a if o >= n and (o - n) % (m + n) < m)
        assert len(ops_b) == len(ops_a) + 2 * zz


def test_no_plan_fails_on_a_1000_node_irregular_graph():
    """The first 200 edge terms of QAOA p=1 on a 1000-node graph with triangles and hubs, QASM form: every
    plan is as small as the native one (without fusion some needed tensors of 65 indices)."""
    g = _graph("irregular", 1000, seed=7)
    edges = list(g.edges)[:200]
    obs = [pq.Z(a) @ pq.Z(b) for a, b in edges]
    gm, bt = _angles(1, 5)
    qasm = pq.Circuit.from_qasm(_qasm(g, gm, bt), trainable=True)
    native = _native(g, 1)
    a = pq.plan(native, obs)
    b = pq.plan(qasm, obs)
    assert b.width == a.width <= 8
    assert abs(b.flops - a.flops) <= 0.1 * a.flops
    e_nat = pq.expval(native, obs, weights=np.array([gm[0], bt[0]]), method="tensornet")
    e_qasm = pq.expval(qasm, obs, weights=qasm.default_weights, method="tensornet")
    np.testing.assert_allclose(e_qasm, e_nat, atol=1e-10, rtol=0)


# Plans of the native circuits of the other tests, recorded before gate fusion existed (greedy paths of the
# engine, "auto"): (width, flops, structures). Fusion must leave them exactly as they were.
_MAIN_PLANS = {"brickwork": (4, 858280.0, 9), "grid34": (2, 4184.0, 3), "grid44": (9, 78144.0, 1),
               "qaoa_rr3_1000": (4, 2136448.0, 93)}


def _grid(lx: int, ly: int, layers: int):
    """The grid of test_plan_and_memory.py: RY layers and CZ between neighbours."""
    n = lx * ly
    c = pq.Circuit(n)
    w = c.new_weights(layers, 2, n)
    with c:
        for layer in range(layers):
            for i in range(n):
                pq.RY(w[layer, 0, i], wires=i)
            for r in range(lx):
                for col in range(ly - 1):
                    pq.CZ(wires=[r * ly + col, r * ly + col + 1])
            for i in range(n):
                pq.RY(w[layer, 1, i], wires=i)
            for r in range(lx - 1):
                for col in range(ly):
                    pq.CZ(wires=[r * ly + col, (r + 1) * ly + col])
    return c


def _brickwork_with_inputs(n: int, layers: int):
    """The brickwork of test_wide_circuits.py: RX(inputs), RY layers, CZ and CNOT bricks, a CRZ closing the ring."""
    c = pq.Circuit(n)
    w = c.new_weights(layers, 2, n)
    x = c.new_inputs(2)
    with c:
        for i in range(n):
            pq.RX(0.7 * x[i % 2] + 0.1, wires=i)
        for layer in range(layers):
            for half in (0, 1):
                for i in range(n):
                    pq.RY(w[layer, half, i], wires=i)
                for i in range(half, n - 1, 2):
                    (pq.CZ if half == 0 else pq.CNOT)(wires=[i, i + 1])
            pq.CRZ(w[layer, 0, 0], wires=[n - 1, 0])
    return c


def _native_cases():
    n = 120
    yield "brickwork", _brickwork_with_inputs(n, 2), [
        sum((pq.Z(i) @ pq.Z(i + 1) for i in range(n - 1)), pq.Observable()), 0.5 * pq.X(3) @ pq.Y(60) + pq.Z(119)]
    yield "grid34", _grid(3, 4, 1), [pq.Z(0) @ pq.Z(1), pq.X(5) + pq.Z(6) @ pq.Z(10)]
    yield "grid44", _grid(4, 4, 2), [pq.Z(5) @ pq.Z(6)]
    g = nx.random_regular_graph(3, 1000, seed=5)
    edges = sorted(tuple(sorted(e)) for e in g.edges())
    c = pq.Circuit(1000)
    w = c.new_weights(2)
    with c:
        for i in range(1000):
            pq.H(wires=i)
        for a, b in edges:
            pq.IsingZZ(-1.0 * w[0], wires=[a, b])
        for i in range(1000):
            pq.RX(2.0 * w[1], wires=i)
    yield "qaoa_rr3_1000", c, [pq.Z(a) @ pq.Z(b) for a, b in edges]


def test_fusion_leaves_native_plans_unchanged():
    for name, c, obs in _native_cases():
        fused = pq.plan(c, obs)
        plain = pq.plan(c, obs, fuse=False)
        assert c.executor(obs, "tensornet")._tn.n_fused == 0, name
        assert (fused.width, fused.flops, fused.n_structures) == _MAIN_PLANS[name], name
        assert (plain.width, plain.flops, plain.n_structures) == _MAIN_PLANS[name], name
        assert [x[0] for x in fused.cones] == [x[0] for x in plain.cones], name
    # Native QAOA on an irregular graph (IsingZZ and the MultiRZ template): nothing fuses either.
    for g, p in ((_graph("irregular", 60, seed=4), 1), (_graph("regular", 60, seed=4), 2)):
        for c in (_native(g, p), _native(g, p, template=True)):
            obs = [_energy(g)]
            assert c.executor(obs, "tensornet")._tn.n_fused == 0
            a, b = pq.plan(c, obs), pq.plan(c, obs, fuse=False)
            assert (a.width, a.flops, a.n_structures) == (b.width, b.flops, b.n_structures)


# ---- structural diagonality ----------------------------------------------------------------------------
def _embed(M, pos, k):
    """M on frame positions `pos` of a k-wire frame, identity on the rest."""
    return ref.full_operator(M, pos, k)


def _pattern_embed(P, pos, k):
    return np.abs(_embed(P.astype(complex), pos, k)) > 0


def _diag_on(M, k, q):
    """Boolean: every nonzero of M (2^k x 2^k) has equal row and column bits on wire q."""
    idx = np.arange(2**k)
    bit = (idx >> (k - 1 - q)) & 1
    return not np.any(M & (bit[:, None] != bit[None, :]))


def test_patterns_bound_every_gate_at_random_angles():
    rng = np.random.default_rng(0)
    for name, g in TABLE.items():
        if name == "QubitUnitary":
            continue
        k = g["n_wires"] if g["n_wires"] > 0 else 2
        P = _core.gate_pattern(name, k)
        for _ in range(3):
            params = list(rng.uniform(-3, 3, g["n_params"]))
            M = ref.gate_matrix(name, params, k)
            assert not np.any((np.abs(M) > 1e-14) & ~P), name
        for j in range(k):
            assert _diag_on(P, k, j) == bool(_core.tn_diagonal_on_wire(name, j)), (name, j)
            if g["diagonal_wires"] is not None:
                assert g["diagonal_wires"][j] == _core.tn_diagonal_on_wire(name, j)


def _product(members, k: int, rng):
    """(boolean pattern product, matrix product at random angles, per-wire 'all members diagonal') of
    members [(name, frame positions)] on a k-wire frame, first member applied first."""
    P = np.eye(2**k, dtype=bool)
    M = np.eye(2**k, dtype=complex)
    member_diag = np.ones(k, dtype=bool)
    for name, pos in members:
        params = list(rng.uniform(-3, 3, TABLE[name]["n_params"]))
        P = (_pattern_embed(_core.gate_pattern(name, len(pos)), pos, k).astype(int) @ P.astype(int)) > 0
        M = _embed(ref.gate_matrix(name, params, len(pos)), pos, k) @ M
        for j, q in enumerate(pos):
            member_diag[q] &= bool(_core.tn_diagonal_on_wire(name, j))
    return P, M, member_diag


def _parse_block(name: str):
    """'[CNOT 0 1; RZ 1; CNOT 0 1]' -> [("CNOT", [0, 1]), ("RZ", [1]), ("CNOT", [0, 1])]."""
    assert name.startswith("[") and name.endswith("]")
    out = []
    for part in name[1:-1].split("; "):
        gate, *pos = part.split(" ")
        out.append((gate, [int(x) for x in pos]))
    return out


def test_blocks_declared_diagonal_are_diagonal_at_random_angles():
    """Random windows of one- and two-wire gates on two wires. Where the boolean product of the patterns is
    diagonal on a wire, so is the product of the matrices at random angles. Every block the engine fuses is
    diagonal (at random angles) on the wires it declares diagonal, and those are the wires its pattern says;
    a window of two gates is fused exactly when that makes it diagonal on a wire where its gates were not
    all diagonal."""
    rng = np.random.default_rng(42)
    names = [n for n, g in TABLE.items() if n != "QubitUnitary" and g["n_wires"] in (1, 2, -1)]
    # Bias towards the gates that build diagonal blocks.
    names += ["CNOT", "CNOT", "CZ", "CY", "RZ", "PhaseShift", "PauliX", "SWAP"]
    n_blocks = 0
    for _ in range(300):
        seq = []
        for _ in range(int(rng.integers(2, 5))):
            name = names[rng.integers(len(names))]
            k = TABLE[name]["n_wires"] if TABLE[name]["n_wires"] > 0 else int(rng.integers(1, 3))
            seq.append((name, [int(x) for x in rng.permutation(2)[:k]]))
        P, M, member_diag = _product(seq, 2, rng)
        assert not np.any((np.abs(M) > 1e-12) & ~P), seq
        for q in range(2):
            if _diag_on(P, 2, q):
                assert _diag_on(np.abs(M) > 1e-12, 2, q), seq
        c = pq.Circuit(2)
        with c:
            for name, wires in seq:
                pq.GATES[name](*rng.uniform(-3, 3, TABLE[name]["n_params"]), wires=wires)
        ex = c.executor([pq.X(0) @ pq.X(1)], "tensornet")
        blocks = [gt for s in range(ex._tn.n_structures) for gt in ex._tn.structure(s)["gates"]
                  if gt[0].startswith("[")]
        assert len(blocks) == ex._tn.n_fused
        for bname, bwires, bdiag, _ in blocks:
            n_blocks += 1
            members = _parse_block(bname)
            k = len(bwires)
            BP, BM, bmember = _product(members, k, rng)
            assert list(bdiag) == [_diag_on(BP, k, q) for q in range(k)], bname
            assert any(d and not m for d, m in zip(bdiag, bmember)), bname
            for q in range(k):
                if bdiag[q]:
                    assert _diag_on(np.abs(BM) > 1e-12, k, q), bname
        if len(seq) == 2:
            frame = sorted({w for _, ws in seq for w in ws})
            shares = bool(set(seq[0][1]) & set(seq[1][1]))
            # Two gates share a wire: one window; fused iff the product gains a diagonal wire.
            if shares:
                pos = [[frame.index(w) for w in ws] for _, ws in seq]
                P2, _, md2 = _product([(n, p) for (n, _), p in zip(seq, pos)], len(frame), rng)
                gain = any(_diag_on(P2, len(frame), q) and not md2[q] for q in range(len(frame)))
                assert bool(blocks) == gain, seq
            else:
                assert not blocks, seq
    assert n_blocks > 10


def test_cx_rx_cx_is_not_declared_diagonal_and_cx_rz_cx_is():
    for mid, fused in [("rx(0.3)", False), ("ry(0.3)", False), ("h", False), ("x", False), ("rz(0.3)", True),
                       ("u1(0.3)", True), ("p(0.3)", True), ("s", True), ("t", True), ("z", True)]:
        text = f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncx q[0],q[1];\n{mid} q[1];\ncx q[0],q[1];\n'
        c = pq.Circuit.from_qasm(text)
        ex = c.executor([pq.X(0) @ pq.Z(1)], "tensornet")
        gates = ex._tn.structure(0)["gates"]
        assert (ex._tn.n_fused == 1) == fused, mid
        if fused:
            assert len(gates) == 1 and list(gates[0][2]) == [True, True], mid
            assert gates[0][0].startswith("[CNOT 0 1; ") and gates[0][0].endswith("; CNOT 0 1]")
        else:
            assert all(not gt[0].startswith("[") for gt in gates), mid
        np.testing.assert_allclose(pq.expval(c, [pq.X(0) @ pq.Z(1), pq.Z(1)], method="tensornet"),
                                   pq.expval(c, [pq.X(0) @ pq.Z(1), pq.Z(1)], method="statevector"),
                                   atol=1e-12, rtol=0)
    # The target-first form and CY conjugation fuse as well.
    c = pq.Circuit(3)
    with c:
        for i in range(3):
            pq.H(wires=i)
        pq.CNOT(wires=[1, 0])
        pq.RZ(0.4, wires=0)
        pq.CNOT(wires=[1, 0])
        pq.CY(wires=[1, 2])
        pq.RZ(-0.7, wires=2)
        pq.CY(wires=[1, 2])
        pq.RX(0.2, wires=1)
    ex = c.executor([pq.Y(1)], "tensornet")
    assert ex._tn.n_fused == 2
    np.testing.assert_allclose(ex.expval(np.zeros(0)), pq.expval(c, [pq.Y(1)], method="statevector")[None],
                               atol=1e-12, rtol=0)


# ---- the gate table's facts through _core ----------------------------------------------------------------
def test_gate_table_carries_patterns_diagonality_and_generators():
    for g in TABLE.values():
        assert isinstance(g["block_pattern"], str)
        assert len(g["generators"]) in (0, g["n_params"])
        for terms in g["generators"]:
            for _coeff, letters in terms:
                assert set(letters) <= set("IXYZ")
                assert len(letters) == (g["n_wires"] if g["n_wires"] > 0 else 1)
    assert TABLE["CNOT"]["diagonal_wires"] == [True, False]
    assert TABLE["IsingZZ"]["diagonal_wires"] == [True, True]
    assert TABLE["MultiRZ"]["diagonal_wires"] is None
    assert TABLE["CRX"]["generators"] == [[(0.25, "IX"), (-0.25, "ZX")]]
    np.testing.assert_array_equal(_core.gate_pattern("CNOT"), [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    with pytest.raises(ValueError, match="unknown gate"):
        _core.gate_pattern("NoSuchGate")


def test_contraction_plan_gates_are_checked():
    leaves = [(2, -1, "", [0]), (0, 0, "", [1, 0]), (2, -1, "", [1])]
    steps = [(0, 1, [1]), (3, 2, [])]
    _core.ContractionPlan([("Hadamard", 1)], leaves, steps)
    _core.ContractionPlan([("Hadamard", 1, [False], 0)], leaves, steps)
    with pytest.raises(ValueError, match="differ from the gate table"):
        _core.ContractionPlan([("Hadamard", 1, [True], 0)], leaves, steps)
    with pytest.raises(ValueError, match="unknown gate"):
        _core.ContractionPlan([("Nope", 1, [False], 0)], leaves, steps)
    with pytest.raises(ValueError, match="one diagonal flag per wire"):
        _core.ContractionPlan([("[PauliX 0; PauliX 0]", 1, [], 0)], leaves, steps)


def test_executor_without_fusion_agrees():
    g = _graph("irregular", 9, seed=3)
    gm, bt = _angles(2, 9)
    qasm = pq.Circuit.from_qasm(_qasm(g, gm, bt), trainable=True)
    obs = [_energy(g)]
    a = TensorNetExecutor(qasm, obs)
    b = TensorNetExecutor(qasm, obs, fuse=False)
    assert a._tn.n_fused > 0 and b._tn.n_fused == 0
    va, da, _ = a.jacobian(qasm.default_weights)
    vb, db, _ = b.jacobian(qasm.default_weights)
    np.testing.assert_allclose(va, vb, atol=1e-10, rtol=0)
    np.testing.assert_allclose(da, db, atol=1e-10, rtol=0)
