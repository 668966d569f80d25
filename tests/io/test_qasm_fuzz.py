"""Fuzzing the QASM reader with programs drawn from a grammar of valid OpenQASM 2.0 and mutations of them.

The contract: an import either succeeds or raises QASMError (with line and column), MemoryLimitError or
ValueError, each with a message; and every accepted program on at most 6 qubits gives the same expectation
values on the state vector and the tensor network, to 1e-10.

Seeded (derandomised) and sized for ~20 s; set PYQML_FUZZ_EXAMPLES to run more examples.
"""
import os
import re

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import pyqml as pq  # noqa: E402
from pyqml.io.qasm import QASMError, circuit_from_qasm  # noqa: E402

N_EXAMPLES = int(os.environ.get("PYQML_FUZZ_EXAMPLES", "300"))
MAX_COMPARED_QUBITS = 6

# qelib1.inc gates: name -> (number of parameters, number of qubits)
LIB = {
    "u3": (3, 1), "u": (3, 1), "u2": (2, 1), "u1": (1, 1), "p": (1, 1), "u0": (1, 1), "id": (0, 1),
    "x": (0, 1), "y": (0, 1), "z": (0, 1), "h": (0, 1), "s": (0, 1), "sdg": (0, 1), "t": (0, 1),
    "tdg": (0, 1), "sx": (0, 1), "sxdg": (0, 1), "rx": (1, 1), "ry": (1, 1), "rz": (1, 1),
    "cx": (0, 2), "cz": (0, 2), "cy": (0, 2), "ch": (0, 2), "swap": (0, 2), "crx": (1, 2), "cry": (1, 2),
    "crz": (1, 2), "cu1": (1, 2), "cp": (1, 2), "cu3": (3, 2), "cu": (4, 2), "csx": (0, 2), "rxx": (1, 2),
    "rzz": (1, 2), "ccx": (0, 3), "cswap": (0, 3), "rccx": (0, 3), "rc3x": (0, 4), "c3x": (0, 4),
    "c3sqrtx": (0, 4), "c4x": (0, 5), "U": (3, 1), "CX": (0, 2),
}

# Fragments a mutation inserts: near-misses of the grammar and inputs that once broke readers.
SNIPPETS = [
    ";", ",", "(", ")", "[", "]", "{", "}", "->", "==", "+", "-", "*", "/", "^", "pi", "sin(", "ln(0)",
    "0/0", "2^2000", "1e400", "q", "q[0]", "q[99]", "r", "a", "x", '"', "/*", "//", "\n", "@", "\u00e9",
    "\x00", "gate", "opaque o x;", "gate g x { h x; }", "qreg", "creg c[3];", "qreg z[1000000000];",
    "measure q -> c;", "measure q[0] -> c[0];", "reset q;", "if(c==1) x q[0];", "barrier q;",
    'include "other.inc";', 'include "qelib1.inc";', "OPENQASM 2.0;", "OPENQASM 3.0;", "9" * 25,
    "9" * 4400, "(" * 300, ")" * 300, "-" * 1200, "+1" * 600, "h q;", "cx q, r;", "u3(0.1,0.2,0.3) q;",
]


def _num(draw):
    v = draw(st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False))
    return repr(round(v, 6))


@st.composite
def expressions(draw, names, depth=3):
    """A parameter expression over the given parameter names (mostly well defined)."""
    choices = ["num", "num", "pi"] + (["id", "id"] if names else [])
    if depth > 0:
        choices += ["neg", "bin", "bin", "call", "paren"]
    kind = draw(st.sampled_from(choices))
    if kind == "num":
        return _num(draw)
    if kind == "pi":
        return draw(st.sampled_from(["pi", "pi/2", "-pi/4", "2*pi"]))
    if kind == "id":
        return draw(st.sampled_from(names))
    sub = expressions(names, depth - 1)
    if kind == "neg":
        return "-" + draw(sub)
    if kind == "paren":
        return "(" + draw(sub) + ")"
    if kind == "call":
        f = draw(st.sampled_from(["sin", "cos", "tan", "exp", "sqrt", "ln"]))
        arg = draw(sub) if f in ("sin", "cos") else _num(draw).lstrip("-") + "+1"
        return f"{f}({arg})"
    op = draw(st.sampled_from(["+", "-", "*", "/", "^"]))
    left = draw(sub)
    if op == "/":
        return f"{left}/{draw(st.sampled_from(['2', '3.5', '-1.25', 'pi']))}"
    if op == "^":
        return f"({left})^{draw(st.sampled_from(['2', '1', '0']))}" if not names else f"{left}^1"
    return f"{left}{op}{draw(sub)}"


@st.composite
def valid_programs(draw):
    """A well-formed program on at most 6 qubits, its gates drawn from qelib1.inc and user definitions."""
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))
    if sum(sizes) > MAX_COMPARED_QUBITS:
        sizes = sizes[:1]
    regs = list(zip("qr", sizes))
    n = sum(sizes)
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";']
    gates = {k: v for k, v in LIB.items() if v[1] <= n}
    qubit_names = ["x", "y", "z"]
    for k in range(draw(st.integers(0, 3))):
        n_params = draw(st.integers(0, 2))
        n_qubits = draw(st.integers(1, min(3, n)))
        pnames = ["a", "b"][:n_params]
        qnames = qubit_names[:n_qubits]
        body = []
        for _ in range(draw(st.integers(1, 4))):
            callable_ = {g: s for g, s in gates.items() if s[1] <= n_qubits}
            g = draw(st.sampled_from(sorted(callable_)))
            gp, gq = callable_[g]
            args = draw(st.permutations(qnames))[:gq]
            ps = [draw(expressions(pnames, 2)) for _ in range(gp)]
            body.append(f"{g}({', '.join(ps)}) {', '.join(args)};" if gp else f"{g} {', '.join(args)};")
        header = f"gate g{k}({', '.join(pnames)}) " if pnames else f"gate g{k} "
        lines.append(header + ", ".join(qnames) + " { " + " ".join(body) + " }")
        gates[f"g{k}"] = (n_params, n_qubits)
    for name, size in regs:
        lines.append(f"qreg {name}[{size}];")
    if draw(st.booleans()):
        lines.append(f"creg c[{n}];")
    wires = [f"{name}[{i}]" for name, size in regs for i in range(size)]
    for _ in range(draw(st.integers(1, 10))):
        g = draw(st.sampled_from(sorted(gates)))
        gp, gq = gates[g]
        ps = [draw(expressions([], 3)) for _ in range(gp)]
        if gq == 1 and draw(st.booleans()):
            args = [draw(st.sampled_from([name for name, _ in regs]))]  # broadcast
        else:
            args = draw(st.permutations(wires))[:gq]
        lines.append((f"{g}({', '.join(ps)}) " if gp else f"{g} ") + ", ".join(args) + ";")
        if draw(st.integers(0, 5)) == 0:
            lines.append("barrier " + ", ".join(name for name, _ in regs) + ";")
    if draw(st.booleans()) and any("creg" in line for line in lines):
        lines.append("measure " + ", ".join(f"{w} -> c[{i}]" for i, w in enumerate(wires[:1])) + ";")
    return "\n".join(lines) + "\n"


_NUMBER = re.compile(r"(?<![A-Za-z_0-9.])[0-9]+(?:\.[0-9]*)?")


@st.composite
def stressed(draw, src):
    """``src`` with one number made deep or huge, or with a deep or exponential gate chain in front."""
    how = draw(st.sampled_from(["number", "number", "huge", "chain", "doubling"]))
    header = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
    if how in ("chain", "doubling"):
        body, rest = src[len(header):], ""
        depth = draw(st.sampled_from([1, 3, 600, 1500] if how == "chain" else [2, 5, 40, 64]))
        calls = "d{k} x;" if how == "chain" else "d{k} x; d{k} x;"
        chain = ["gate d0 x { h x; }"] + [f"gate d{k + 1} x {{ {calls.format(k=k)} }}" for k in range(depth)]
        first = re.search(r"qreg (\w+)\[", body)
        if first:
            rest = f"d{depth} {first.group(1)}[0];\n"
        return header + "\n".join(chain) + "\n" + body + rest
    numbers = list(_NUMBER.finditer(src))
    if not numbers:
        return src
    m = numbers[draw(st.integers(0, len(numbers) - 1))]
    k = draw(st.sampled_from([1, 2, 40, 300, 1200, 2500]))  # hypothesis favours small integers
    if how == "huge":
        new = "9" * draw(st.sampled_from([19, 25, 400, 4400]))
    else:
        num = m.group()
        new = draw(st.sampled_from([
            "(" * k + num + ")" * k, "-" * k + num, "+".join([num] * k), num + "^1" * k, "sin(" * k + num + ")" * k,
        ]))
    return src[:m.start()] + new + src[m.end():]


@st.composite
def mutated_programs(draw):
    src = draw(valid_programs())
    if draw(st.integers(0, 3)) == 2:
        return draw(stressed(src))
    # mostly past the header, which a mutation would otherwise break first
    start = 0 if draw(st.integers(0, 9)) == 7 else len('OPENQASM 2.0;\ninclude "qelib1.inc";\n')
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(min(start, len(src)), len(src)))
        j = draw(st.integers(i, min(len(src), i + 12)))
        how = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "truncate"]))
        if how == "insert":
            src = src[:i] + draw(st.sampled_from(SNIPPETS)) + src[i:]
        elif how == "delete":
            src = src[:i] + src[j:]
        elif how == "replace":
            src = src[:i] + draw(st.sampled_from(SNIPPETS)) + src[j:]
        elif how == "duplicate":
            src = src[:j] + src[i:j] * draw(st.integers(1, 40)) + src[j:]
        else:
            src = src[:i]
    return src


def _observables(rng, n):
    letters = "IXYZ"
    out = []
    for _ in range(3):
        total = pq.Observable()
        for _ in range(int(rng.integers(1, 3))):
            word = pq.Observable({(): float(rng.normal())})
            for w in range(n):
                letter = letters[int(rng.integers(4))]
                if letter != "I":
                    word = word @ pq.Observable.pauli(letter, w)
            total = total + word
        out.append(total)
    return out


def check_contract(src: str, trainable: bool, seed: int) -> bool:
    """Import ``src``; check the exception contract or, if accepted, state vector against tensor network.

    Returns whether the program was accepted.
    """
    try:
        c = circuit_from_qasm(src, trainable=trainable)
    except QASMError as err:
        assert err.line is not None and err.column is not None, repr(err)
        assert err.reason and str(err).startswith(f"line {err.line}, column {err.column}: ")
        return False
    except pq.MemoryLimitError as err:
        assert str(err)
        return False
    except ValueError as err:
        assert str(err) and "Exceeds the limit" not in str(err), repr(err)
        return False
    if c.n_wires > MAX_COMPARED_QUBITS:
        return True
    rng = np.random.default_rng(seed)
    obs = _observables(rng, c.n_wires)
    w = c.default_weights + rng.normal(scale=0.5, size=c.n_weights) if c.n_weights else None
    sv = pq.expval(c, obs, weights=w, method="statevector")
    tn = pq.expval(c, obs, weights=w, method="tensornet")
    np.testing.assert_allclose(tn, sv, atol=1e-10, rtol=0)
    return True


_SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=N_EXAMPLES,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                     print_blob=True)


@_SETTINGS
@given(src=valid_programs(), trainable=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_valid_programs_agree_across_methods(src, trainable, seed):
    accepted = check_contract(src, trainable, seed)
    # with fixed angles a program drawn from the grammar is always accepted
    assert accepted or trainable, src


@_SETTINGS
@given(src=mutated_programs(), trainable=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_mutated_programs_keep_the_exception_contract(src, trainable, seed):
    check_contract(src, trainable, seed)
