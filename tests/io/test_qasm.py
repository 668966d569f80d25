"""OpenQASM 2.0 import, checked against dense numpy simulations written here (tests/dense_reference.py)."""
import math

import dense_reference as ref
import numpy as np
import pytest

import pyqml as pq
from pyqml.io.qasm import QASMError, circuit_from_qasm

HEADER = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
TOL = 1e-12


def state_of(src: str, **kw) -> np.ndarray:
    c = pq.Circuit.from_qasm(src, **kw)
    return pq.state(c)


def u3(t, p, l):
    return ref.u3(t, p, l)


# The matrix of every qelib1.inc gate, in Qiskit's and PennyLane's convention for the gate of that name.
def _rccx():
    seq = [(ref.H, [2]), (ref.FIXED["T"], [2]), (ref.FIXED["CNOT"], [1, 2]), (ref.FIXED["Tdg"], [2]),
           (ref.FIXED["CNOT"], [0, 2]), (ref.FIXED["T"], [2]), (ref.FIXED["CNOT"], [1, 2]),
           (ref.FIXED["Tdg"], [2]), (ref.H, [2])]
    M = np.eye(8, dtype=complex)
    for g, w in seq:
        M = ref.full_operator(g, w, 3) @ M
    return M


def _rc3x():
    T, Td, Hd, CX = ref.FIXED["T"], ref.FIXED["Tdg"], ref.H, ref.FIXED["CNOT"]
    seq = [(Hd, [3]), (T, [3]), (CX, [2, 3]), (Td, [3]), (Hd, [3]), (CX, [0, 3]), (T, [3]), (CX, [1, 3]),
           (Td, [3]), (CX, [0, 3]), (T, [3]), (CX, [1, 3]), (Td, [3]), (Hd, [3]), (T, [3]), (CX, [2, 3]),
           (Td, [3]), (Hd, [3])]
    M = np.eye(16, dtype=complex)
    for g, w in seq:
        M = ref.full_operator(g, w, 4) @ M
    return M


QELIB1 = {
    # name: (n_params, n_qubits, matrix(params))
    "u3": (3, 1, lambda p: u3(*p)),
    "u": (3, 1, lambda p: u3(*p)),
    "u2": (2, 1, lambda p: u3(np.pi / 2, p[0], p[1])),
    "u1": (1, 1, lambda p: ref.phase(p[0])),
    "p": (1, 1, lambda p: ref.phase(p[0])),
    "u0": (1, 1, lambda p: ref.I2),
    "id": (0, 1, lambda p: ref.I2),
    "cx": (0, 2, lambda p: ref.controlled(ref.X)),
    "x": (0, 1, lambda p: ref.X),
    "y": (0, 1, lambda p: ref.Y),
    "z": (0, 1, lambda p: ref.Z),
    "h": (0, 1, lambda p: ref.H),
    "s": (0, 1, lambda p: ref.phase(np.pi / 2)),
    "sdg": (0, 1, lambda p: ref.phase(-np.pi / 2)),
    "t": (0, 1, lambda p: ref.phase(np.pi / 4)),
    "tdg": (0, 1, lambda p: ref.phase(-np.pi / 4)),
    "sx": (0, 1, lambda p: ref.FIXED["SX"]),
    "sxdg": (0, 1, lambda p: ref.FIXED["SXdg"]),
    "rx": (1, 1, lambda p: ref.rx(p[0])),
    "ry": (1, 1, lambda p: ref.ry(p[0])),
    "rz": (1, 1, lambda p: ref.rz(p[0])),
    "cz": (0, 2, lambda p: ref.controlled(ref.Z)),
    "cy": (0, 2, lambda p: ref.controlled(ref.Y)),
    "ch": (0, 2, lambda p: ref.controlled(ref.H)),
    "swap": (0, 2, lambda p: ref.SWAP),
    "ccx": (0, 3, lambda p: ref.controlled(ref.X, 2)),
    "cswap": (0, 3, lambda p: ref.controlled(ref.SWAP)),
    "crx": (1, 2, lambda p: ref.controlled(ref.rx(p[0]))),
    "cry": (1, 2, lambda p: ref.controlled(ref.ry(p[0]))),
    "crz": (1, 2, lambda p: ref.controlled(ref.rz(p[0]))),
    "cu1": (1, 2, lambda p: ref.controlled(ref.phase(p[0]))),
    "cp": (1, 2, lambda p: ref.controlled(ref.phase(p[0]))),
    "cu3": (3, 2, lambda p: ref.controlled(u3(*p))),
    "cu": (4, 2, lambda p: ref.controlled(np.exp(1j * p[3]) * u3(*p[:3]))),
    "csx": (0, 2, lambda p: ref.controlled(ref.FIXED["SX"])),
    "rxx": (1, 2, lambda p: ref.expm_herm(ref.kron(ref.X, ref.X), p[0])),
    "rzz": (1, 2, lambda p: ref.expm_herm(ref.kron(ref.Z, ref.Z), p[0])),
    "rccx": (0, 3, lambda p: _rccx()),
    "rc3x": (0, 4, lambda p: _rc3x()),
    "c3x": (0, 4, lambda p: ref.controlled(ref.X, 3)),
    "c3sqrtx": (0, 4, lambda p: ref.controlled(ref.FIXED["SX"], 3)),
    "c4x": (0, 5, lambda p: ref.controlled(ref.X, 4)),
}


def _prep(n, rng):
    """A random entangled start state in QASM and as dense gates."""
    lines, gates = [], []
    for w in range(n):
        a = rng.uniform(-np.pi, np.pi, 3)
        lines.append(f"u3({float(a[0])!r},{float(a[1])!r},{float(a[2])!r}) q[{w}];")
        gates.append((u3(*a), [w]))
    for w in range(n - 1):
        lines.append(f"cx q[{w}],q[{w + 1}];")
        gates.append((ref.controlled(ref.X), [w, w + 1]))
    return lines, gates


@pytest.mark.parametrize("name", sorted(QELIB1))
def test_qelib1_gate_matches_dense_matrix(name):
    n_params, n_qubits, mat = QELIB1[name]
    rng = np.random.default_rng(ref.seed_of(name))
    n = n_qubits + 1
    params = list(rng.uniform(-2 * np.pi, 2 * np.pi, n_params))
    wires = [int(w) for w in rng.permutation(n)[:n_qubits]]
    lines, gates = _prep(n, rng)
    ptxt = f"({','.join(repr(float(v)) for v in params)})" if params else ""
    lines.append(f"{name}{ptxt} " + ",".join(f"q[{w}]" for w in wires) + ";")
    gates.append((mat(params), wires))
    src = HEADER + f"qreg q[{n}];\n" + "\n".join(lines)
    expected = ref.simulate(n, gates)
    np.testing.assert_allclose(state_of(src), expected, atol=TOL, rtol=0)
    # trainable: same state with the file's angles as default weights
    np.testing.assert_allclose(state_of(src, trainable=True), expected, atol=TOL, rtol=0)


def test_relative_phase_toffolis_flip_only_when_all_controls_set():
    for M, k in ((_rccx(), 2), (_rc3x(), 3)):
        perm = np.abs(ref.controlled(ref.X, k))
        np.testing.assert_allclose(np.abs(M), perm, atol=1e-12)


# qelib1.inc's own bodies define these gates only up to a global phase; check that claim of the docs.
LITERAL_BODIES = {
    "rz": ("rz(0.7) q[0];", "u1(0.7) q[0];"),
    "sx": ("sx q[0];", "sdg q[0]; h q[0]; sdg q[0];"),
    "sxdg": ("sxdg q[0];", "s q[0]; h q[0]; s q[0];"),
    "rzz": ("rzz(0.7) q[0],q[1];", "cx q[0],q[1]; u1(0.7) q[1]; cx q[0],q[1];"),
    "rxx": ("rxx(0.7) q[0],q[1];",
            ("u3(pi/2, 0.7, 0) q[0]; h q[1]; cx q[0],q[1]; u1(-0.7) q[1]; cx q[0],q[1]; h q[1]; "
             "u2(-pi, pi-0.7) q[0];")),
    "ch": ("ch q[0],q[1];", ("h q[1]; sdg q[1]; cx q[0],q[1]; h q[1]; t q[1]; cx q[0],q[1]; t q[1]; h q[1]; "
                             "s q[1]; x q[1]; s q[0];")),
    "cu3": ("cu3(0.3,0.5,0.7) q[0],q[1];", ("u1((0.7+0.5)/2) q[0]; u1((0.7-0.5)/2) q[1]; cx q[0],q[1]; "
            "u3(-0.3/2,0,-(0.5+0.7)/2) q[1]; cx q[0],q[1]; u3(0.3/2,0.5,0) q[1];")),
    "c3x": ("c3x q[0],q[1],q[2],q[3];",
            ("h q[3]; p(pi/8) q[0]; p(pi/8) q[1]; p(pi/8) q[2]; p(pi/8) q[3]; cx q[0],q[1]; p(-pi/8) q[1]; "
            "cx q[0],q[1]; cx q[1],q[2]; p(-pi/8) q[2]; cx q[0],q[2]; p(pi/8) q[2]; cx q[1],q[2]; "
            "p(-pi/8) q[2]; cx q[0],q[2]; cx q[2],q[3]; p(-pi/8) q[3]; cx q[1],q[3]; p(pi/8) q[3]; "
            "cx q[2],q[3]; p(-pi/8) q[3]; cx q[0],q[3]; p(pi/8) q[3]; cx q[2],q[3]; p(-pi/8) q[3]; "
            "cx q[1],q[3]; p(pi/8) q[3]; cx q[2],q[3]; p(-pi/8) q[3]; cx q[0],q[3]; h q[3];")),
}


@pytest.mark.parametrize("name", sorted(LITERAL_BODIES))
def test_qelib1_bodies_agree_up_to_global_phase(name):
    gate, body = LITERAL_BODIES[name]
    n = 4
    rng = np.random.default_rng(7)
    prep, _ = _prep(n, rng)
    a = state_of(HEADER + f"qreg q[{n}];\n" + "\n".join(prep) + "\n" + gate)
    b = state_of(HEADER + f"qreg q[{n}];\n" + "\n".join(prep) + "\n" + body)
    overlap = np.vdot(a, b)
    assert abs(abs(overlap) - 1) < 1e-12


def test_builtins_without_include():
    src = "OPENQASM 2.0;\nqreg q[2];\nU(0.1,0.2,0.3) q[0];\nCX q[0],q[1];\n"
    expected = ref.simulate(2, [(u3(0.1, 0.2, 0.3), [0]), (ref.controlled(ref.X), [0, 1])])
    np.testing.assert_allclose(state_of(src), expected, atol=TOL)


def test_several_registers_and_broadcast():
    src = HEADER + """
    qreg a[2];
    creg c[5];
    qreg b[3];
    h a;              // broadcast over a register
    ry(0.4) b;        // one parameter, three applications
    cx a[0], b;       // one control, three targets
    cx a, b[1];       // two controls in turn, one target
    swap a[1], b[2];
    """
    n = 5
    g = [(ref.H, [0]), (ref.H, [1])]
    g += [(ref.ry(0.4), [w]) for w in (2, 3, 4)]
    g += [(ref.controlled(ref.X), [0, w]) for w in (2, 3, 4)]
    g += [(ref.controlled(ref.X), [w, 3]) for w in (0, 1)]
    g += [(ref.SWAP, [1, 4])]
    np.testing.assert_allclose(state_of(src), ref.simulate(n, g), atol=TOL)
    c = pq.Circuit.from_qasm(src, trainable=True)
    assert c.n_wires == 5 and c.n_weights == 1
    np.testing.assert_allclose(c.default_weights, [0.4])


def test_register_to_register_broadcast():
    src = HEADER + "qreg q[3]; qreg r[3]; x q[1]; h q; cz q, r; crx(0.3) r, q;"
    g = [(ref.X, [1])] + [(ref.H, [w]) for w in range(3)]
    g += [(ref.controlled(ref.Z), [w, w + 3]) for w in range(3)]
    g += [(ref.controlled(ref.rx(0.3)), [w + 3, w]) for w in range(3)]
    np.testing.assert_allclose(state_of(src), ref.simulate(6, g), atol=TOL)


def test_user_gates_with_parameters_and_nesting():
    src = HEADER + """
    gate inner(a) x { rz(a/2 + pi) x; sx x; }
    gate outer(theta, phi) x, y {
        inner(theta) x;
        cx x, y;
        inner(-phi*2) y;
        barrier x, y;
        u2(theta, phi - 1) y;
    }
    gate noparams x, y { h x; cz x, y; }
    qreg q[3];
    outer(0.3, 0.8) q[2], q[0];
    noparams q[0], q[1];
    outer(1.1, -0.4) q[1], q[2];
    """

    def inner(a):
        return ref.FIXED["SX"] @ ref.rz(a / 2 + np.pi)

    def outer(t, p, x, y):
        return [(inner(t), [x]), (ref.controlled(ref.X), [x, y]), (inner(-p * 2), [y]),
                (u3(np.pi / 2, t, p - 1), [y])]

    g = outer(0.3, 0.8, 2, 0) + [(ref.H, [0]), (ref.controlled(ref.Z), [0, 1])] + outer(1.1, -0.4, 1, 2)
    np.testing.assert_allclose(state_of(src), ref.simulate(3, g), atol=TOL)


def test_measure_creg_barrier_and_comments_do_not_change_the_state():
    body = "h q[0];\ncx q[0], q[1];\nrx(0.3) q[2];\n"
    plain = state_of(HEADER + "qreg q[3];\n" + body)
    src = HEADER + """/* a block
    comment */ qreg q[3]; creg c[3]; creg d[1];
    """ + body + """
    barrier q;
    barrier q[0], q[2];
    measure q -> c;
    measure q[1] -> d[0];   // measured twice: still fine, nothing follows
    """
    np.testing.assert_allclose(state_of(src), plain, atol=TOL)


def test_gates_after_measuring_other_qubits_are_allowed():
    src = HEADER + "qreg q[2]; creg c[2]; measure q[0] -> c[0]; h q[1];"
    np.testing.assert_allclose(state_of(src), ref.simulate(2, [(ref.H, [1])]), atol=TOL)


@pytest.mark.parametrize("expr, value", [
    ("pi", math.pi), ("-pi/4", -math.pi / 4), ("2*3^2", 18.0), ("-2^2", -4.0), ("2^3^2", 512.0),
    ("(1+2)*3", 9.0), ("1-2-3", -4.0), ("8/2/2", 2.0), ("2^-1", 0.5), ("--1", 1.0), ("+0.5", 0.5),
    ("1e-3", 1e-3), ("2.5E2", 250.0), (".5", 0.5), ("3.", 3.0),
    ("sin(0.3)+cos(0.2)*tan(0.1)", math.sin(0.3) + math.cos(0.2) * math.tan(0.1)),
    ("exp(0.5)-ln(2)+sqrt(3)", math.exp(0.5) - math.log(2) + math.sqrt(3)),
    ("-(pi - 1)/(2 + sin(pi/6))", -(math.pi - 1) / (2 + math.sin(math.pi / 6))),
])
def test_parameter_expressions(expr, value):
    c = circuit_from_qasm(HEADER + f"qreg q[1]; rz({expr}) q[0];")
    assert c.ops[0].name == "RZ"
    assert abs(c.ops[0].params[0] - value) < 1e-14 * max(1, abs(value))
    t = circuit_from_qasm(HEADER + f"qreg q[1]; rz({expr}) q[0];", trainable=True)
    assert abs(t.default_weights[0] - value) < 1e-14 * max(1, abs(value))


def _random_program(rng, n_a, n_b, n_gates):
    """A random QASM program over two registers and its dense gate list."""
    names = sorted(QELIB1)
    lines = [f"qreg a[{n_a}];", f"qreg b[{n_b}];"]
    regs = [("a", n_a, 0), ("b", n_b, n_a)]
    n = n_a + n_b
    gates = []
    for _ in range(n_gates):
        name = names[rng.integers(len(names))]
        n_params, k, mat = QELIB1[name]
        if k > n:
            continue
        wires = [int(w) for w in rng.permutation(n)[:k]]
        params = list(rng.uniform(-4, 4, n_params))
        args = []
        for w in wires:
            for r, size, off in regs:
                if off <= w < off + size:
                    args.append(f"{r}[{w - off}]")
        ptxt = f"({','.join(repr(float(v)) for v in params)})" if params else ""
        lines.append(f"{name}{ptxt} {', '.join(args)};")
        gates.append((mat(params), wires))
    return HEADER + "\n".join(lines) + "\n", gates, n


@pytest.mark.parametrize("seed", range(12))
def test_random_programs_against_dense_simulation(seed):
    rng = np.random.default_rng(1000 + seed)
    src, gates, n = _random_program(rng, int(rng.integers(1, 4)), int(rng.integers(2, 4)), 40)
    expected = ref.simulate(n, gates)
    np.testing.assert_allclose(state_of(src), expected, atol=1e-11, rtol=0)
    c = pq.Circuit.from_qasm(src, trainable=True)
    np.testing.assert_allclose(pq.state(c), expected, atol=1e-11, rtol=0)


# ------------------------------------------------------------------------------------------------
# trainable=True
# ------------------------------------------------------------------------------------------------

TRAINABLE_SRC = HEADER + """
gate layer(theta, phi) x, y {
    ry(theta/2 + 0.25) x;
    rz(-3*phi) y;
    crx(pi - theta) x, y;
    cu3(theta, phi, 0.5) y, x;
}
qreg q[2];
qreg r[2];
u2(0.3, -0.2) q[0];          // weights 0, 1 (the pi/2 of u2 stays a constant)
rx(0.7) r;                   // weight 2, shared by r[0] and r[1]
layer(0.4, 1.3) q[0], r[1];  // weights 3, 4
cx q[0], q[1];
rzz(pi/3) q[1], r[0];        // weight 5
cu(0.2, 0.1, -0.3, 0.6) r[0], q[1];   // weights 6..9
u1(0.9) q[1];                // weight 10
rxx(2*0.35) q[0], r[1];      // weight 11
"""


def test_trainable_weights_in_file_order():
    c = pq.Circuit.from_qasm(TRAINABLE_SRC, trainable=True)
    expected = [0.3, -0.2, 0.7, 0.4, 1.3, np.pi / 3, 0.2, 0.1, -0.3, 0.6, 0.9, 0.7]
    assert c.n_weights == len(expected)
    np.testing.assert_allclose(c.default_weights, expected, atol=1e-15)
    fixed = pq.Circuit.from_qasm(TRAINABLE_SRC)
    assert fixed.n_weights == 0
    np.testing.assert_allclose(pq.state(c), pq.state(fixed), atol=TOL)
    # the traced angles are affine in the weights: the u2 pi/2 is constant, layer's angles are a*w+b
    u2_op = c.ops[0]
    assert u2_op.params[0] == pytest.approx(np.pi / 2) and u2_op.params[1].index == 0
    ry = next(op for op in c.ops if op.name == "RY")
    assert (ry.params[0].index, ry.params[0].scale, ry.params[0].offset) == (3, 0.5, 0.25)


def _dense_trainable(w):
    """TRAINABLE_SRC as dense gates for weights w (wires: q0=0, q1=1, r0=2, r1=3)."""
    g = [(u3(np.pi / 2, w[0], w[1]), [0]), (ref.rx(w[2]), [2]), (ref.rx(w[2]), [3])]
    t, p = w[3], w[4]
    g += [(ref.ry(t / 2 + 0.25), [0]), (ref.rz(-3 * p), [3]), (ref.controlled(ref.rx(np.pi - t)), [0, 3]),
          (ref.controlled(u3(t, p, 0.5)), [3, 0])]
    g += [(ref.controlled(ref.X), [0, 1]), (ref.expm_herm(ref.kron(ref.Z, ref.Z), w[5]), [1, 2])]
    g += [(ref.controlled(np.exp(1j * w[9]) * u3(w[6], w[7], w[8])), [2, 1]), (ref.phase(w[10]), [1]),
          (ref.expm_herm(ref.kron(ref.X, ref.X), w[11]), [0, 3])]
    return ref.simulate(4, g)


OBS_TERMS = [
    [(1.0, {0: "Z"}), (0.5, {1: "X", 3: "Y"})],
    [(-0.7, {2: "Z", 3: "Z"}), (0.2, {0: "Y"})],
]


def _obs(terms):
    total = pq.Observable()
    for c, word in terms:
        term = pq.Observable({(): c})
        for w, letter in word.items():
            term = term @ pq.Observable.pauli(letter, w)
        total = total + term
    return total


def test_trainable_values_and_gradients():
    c = pq.Circuit.from_qasm(TRAINABLE_SRC, trainable=True)
    rng = np.random.default_rng(3)
    w = c.default_weights + rng.normal(scale=0.3, size=c.n_weights)
    np.testing.assert_allclose(pq.state(c, weights=w), _dense_trainable(w), atol=TOL)
    obs = [_obs(t) for t in OBS_TERMS]
    mats = [ref.pauli_matrix(t, 4) for t in OBS_TERMS]

    def f(wv):
        psi = _dense_trainable(wv)
        return np.array([np.vdot(psi, M @ psi).real for M in mats])

    vals, dw, dx = pq.jacobian(c, obs, weights=w)
    np.testing.assert_allclose(vals, f(w), atol=TOL)
    h = 1e-6
    fd = np.stack([(f(w + h * e) - f(w - h * e)) / (2 * h) for e in np.eye(c.n_weights)], axis=-1)
    np.testing.assert_allclose(dw, fd, atol=1e-8)
    assert dx.shape == (2, 0)
    # default weights are used when none are given
    np.testing.assert_allclose(pq.expval(c, obs), f(c.default_weights), atol=TOL)


def test_trainable_identity_parameter_has_zero_gradient():
    c = pq.Circuit.from_qasm(HEADER + "qreg q[1]; u0(0.5) q[0]; ry(0.3) q[0];", trainable=True)
    vals, dw, _ = pq.jacobian(c, pq.Z(0))
    np.testing.assert_allclose(vals, np.cos(0.3), atol=TOL)
    np.testing.assert_allclose(dw, [0.0, -np.sin(0.3)], atol=1e-12)


def test_import_inside_a_recording_circuit_records_nothing():
    outer = pq.Circuit(1)
    with outer:
        inner = pq.Circuit.from_qasm(HEADER + "qreg q[2]; h q; cx q[0], q[1];")
    assert len(outer.ops) == 0 and len(inner.ops) == 3


# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------

ERRORS = [
    # (source after the header, line of the error relative to the file, fragment of the message)
    ("qreg q[2];\nh q[0]\ncx q[0], q[1];", 5, "expected ';'"),
    ("qreg q[2];\nfoo q[0];", 4, "unknown gate 'foo'"),
    ("qreg q[2];\nrx q[0];", 4, "takes 1 parameter(s), got 0"),
    ("qreg q[2];\nrx(0.1, 0.2) q[0];", 4, "takes 1 parameter(s), got 2"),
    ("qreg q[2];\ncx q[0];", 4, "acts on 2 qubit(s), got 1"),
    ("qreg q[2];\nh r[0];", 4, "undeclared quantum register 'r'"),
    ("qreg q[2];\ncreg c[2];\nh c[0];", 5, "classical register"),
    ("qreg q[2];\nh q[2];", 4, "index 2 is out of range for qreg q[2]"),
    ("qreg q[2];\nopaque magic(a) x;\nmagic(0.1) q[0];", 5, "opaque"),
    ("qreg q[2];\nopaque magic x;\ngate wrap x { magic x; }\nwrap q[1];", 5, "opaque (declared at line 4) and cannot be simulated (in 'wrap' at line 6)"),
    ("qreg q[2];\nreset q[0];", 4, "'reset' is not supported"),
    ("qreg q[2];\ncreg c[2];\nif (c==1) x q[0];", 5, "'if' is not supported"),
    ("qreg q[2];\ncx q[0], q[0];", 4, "same qubit twice"),
    ("qreg q[2];\nqreg r[3];\ncx q, r;", 5, "different sizes"),
    ("qreg q[2];\ncreg c[2];\nmeasure q[0] -> c[0];\nh q[0];", 6, "after it was measured"),
    ("qreg q[2];\ncreg c[1];\nmeasure q -> c;", 5, "maps 2 qubit(s) to 1 bit(s)"),
    ("qreg q[2];\nmeasure q -> c;", 4, "undeclared classical register 'c'"),
    ("qreg q[2];\nqreg q[3];", 4, "already declared"),
    ("qreg q[0];", 3, "at least one bit"),
    ("qreg q[2];\nrx(1/0) q[0];", 4, "division by zero"),
    ("qreg q[2];\nrx(ln(0)) q[0];", 4, "ln(0) is undefined"),
    ("qreg q[2];\nrx(sqrt(-1)) q[0];", 4, "sqrt(-1) is undefined"),
    ("qreg q[2];\nrx((-8)^(1/3)) q[0];", 4, "not a real number"),
    ("qreg q[2];\nrx(theta) q[0];", 4, "unknown parameter 'theta'"),
    ("qreg q[2];\ngate g(a) x { rx(b) x; }", 4, "unknown parameter 'b' in gate 'g'"),
    ("qreg q[2];\ngate g x { h y; }", 4, "'y' is not a qubit argument of gate 'g'"),
    ("qreg q[2];\ngate g x { h x[0]; }", 4, "without an index"),
    ("qreg q[2];\ngate g x, y { cx x, x; }", 4, "used twice"),
    ("qreg q[2];\ngate g x { g x; }", 4, "unknown gate 'g'"),
    ("qreg q[2];\ngate g x {\n h x;\n", 6, "missing '}'"),
    ("qreg q[2];\ngate g x { measure x -> c[0]; }", 4, "not allowed inside a gate definition"),
    ("qreg q[2];\ngate h x { x x; }", 4, "already declared"),
    ("qreg q[2];\nh q[0]; @", 4, "unexpected character '@'"),
    ("qreg q[2];\n/* never closed\nh q[0];", 4, "unterminated comment"),
    ("qreg q[2];\nrx(0.1 q[0];", 4, "expected ')'"),
    ("qreg q[2];\nrx(0.1 +) q[0];", 4, "expected a number"),
    ("qreg q[2.5];", 3, "non-negative integer"),
    ("", 3, "declares no qubits"),
    ('qreg q[1];\ninclude "stdgates.inc";', 4, 'only "qelib1.inc"'),
    ("qreg q[1];\nOPENQASM 2.0;", 4, "only once"),
    ("qreg pi[1];", 3, "reserved word"),
]


@pytest.mark.parametrize("body, line, fragment", ERRORS)
def test_errors_name_the_problem_and_its_line(body, line, fragment):
    with pytest.raises(QASMError) as info:
        pq.Circuit.from_qasm(HEADER + body)
    err = info.value
    assert isinstance(err, ValueError)
    assert fragment in str(err)
    assert err.line == line
    assert str(err).startswith(f"line {line}")


def test_error_columns():
    with pytest.raises(QASMError) as info:
        pq.Circuit.from_qasm(HEADER + "qreg q[2];\nh q[0];   cx q[0], q[5];")
    assert (info.value.line, info.value.column) == (4, 20)


def test_header_errors():
    with pytest.raises(QASMError, match="line 1, column 1: a program must start with 'OPENQASM 2.0;'"):
        pq.Circuit.from_qasm("qreg q[1];")
    with pytest.raises(QASMError, match="only OpenQASM 2.0 is supported, this file is version 3.0"):
        pq.Circuit.from_qasm("OPENQASM 3.0;\nqreg q[1];")
    with pytest.raises(TypeError, match="must be a str"):
        pq.Circuit.from_qasm(b"OPENQASM 2.0;")


def test_qelib1_gate_without_include_gets_a_hint():
    with pytest.raises(QASMError, match=r'unknown gate .h. \(it is in qelib1.inc'):
        pq.Circuit.from_qasm("OPENQASM 2.0;\nqreg q[1];\nh q[0];")


@pytest.mark.parametrize("body, fragment", [
    ("gate g(a, b) x { rx(a*b) x; }\ng(0.1, 0.2) q[0];", "product of two trainable angles"),
    ("gate g(a) x { rx(sin(a)) x; }\ng(0.1) q[0];", "sin() of a trainable angle"),
    ("gate g(a) x { rx(1/a) x; }\ng(0.1) q[0];", "division by a trainable angle"),
    ("gate g(a) x { rx(a^2) x; }\ng(0.1) q[0];", "power of a trainable angle"),
    ("gate g(a, b) x { rx(a+b) x; }\ng(0.1, 0.2) q[0];", "depends on several weights (weights[0], weights[1])"),
])
def test_non_affine_angles_cannot_be_trainable(body, fragment):
    src = HEADER + "qreg q[1];\n" + body
    pq.Circuit.from_qasm(src)  # fine with fixed angles
    with pytest.raises(QASMError) as info:
        pq.Circuit.from_qasm(src, trainable=True)
    assert fragment in str(info.value)
    assert info.value.line == 4  # the offending expression, inside the definition
    assert "(in 'g' at line 5)" in str(info.value)  # and the call that expanded it
