"""The QASM reader on oversized, deeply nested and malformed input: a QASMError naming line and column (or
the right value, where deep nesting is valid), never a RecursionError, OverflowError, MemoryError or
Python's own int-conversion ValueError; programs sized before they are expanded; sources given as paths."""
import math
import pathlib

import numpy as np
import pytest

import pyqml as pq
from pyqml.io.qasm import BYTES_PER_OP, MAX_QUBITS, QASMError, circuit_from_qasm, max_operations

HEADER = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'


@pytest.fixture
def memory_limit():
    """Set the memory limit for one test; the default is restored afterwards."""
    yield pq.set_memory_limit
    pq.set_memory_limit(0)


def error_of(src, **kw) -> QASMError:
    with pytest.raises(QASMError) as info:
        circuit_from_qasm(src, **kw)
    return info.value


def angle_of(expr: str) -> float:
    c = circuit_from_qasm(HEADER + f"qreg q[1];\nrz({expr}) q[0];")
    assert c.ops[0].name == "RZ"
    return c.ops[0].params[0]


# ------------------------------------------------------------------------------------------------
# sized before expanding
# ------------------------------------------------------------------------------------------------

def test_register_over_the_qubit_cap_is_refused_at_its_size():
    err = error_of(HEADER + "qreg q[100000000];\nh q;")
    assert (err.line, err.column) == (3, 8)
    assert str(MAX_QUBITS) in str(err) and "qubits" in str(err)
    # the cap counts all registers together
    half = MAX_QUBITS // 2 + 1
    err = error_of(HEADER + f"qreg a[{half}];\nqreg b[{half}];")
    assert (err.line, err.column) == (4, 8)
    assert f"makes {2 * half} qubits" in str(err)
    err = error_of(HEADER + f"qreg q[1];\ncreg c[{MAX_QUBITS + 1}];")
    assert err.line == 4 and "bits" in str(err)


def test_operation_limit_follows_the_memory_limit(memory_limit):
    memory_limit(10 * BYTES_PER_OP)
    assert max_operations() == 10
    ok = HEADER + "qreg q[5];\nh q;\nx q;\n"
    assert len(circuit_from_qasm(ok)) == 10  # exactly at the limit
    err = error_of(ok + "barrier q;\n  z q[0];\n")
    assert (err.line, err.column) == (7, 3)
    assert "'z' expands to 1 operations" in str(err) and "with the 10 before it" in str(err)
    assert "pyqml.set_memory_limit" in str(err)
    # a broadcast multiplies: 4 applications of a 3-operation gate
    err = error_of(HEADER + "qreg q[4];\ngate g a { h a; x a; z a; }\ng q;")
    assert err.line == 5 and "expands to 12 operations (4 applications of 3)" in str(err)
    memory_limit(1000 * BYTES_PER_OP)
    assert len(circuit_from_qasm(HEADER + "qreg q[4];\ngate g a { h a; x a; z a; }\ng q;")) == 12


def test_exponential_gate_chain_is_refused_before_expanding():
    # g_k calls g_{k-1} twice: g_40 expands to 2^40 operations; refused at once, at the call
    lines = ["gate g0 a { h a; }"] + [f"gate g{k} a {{ g{k - 1} a; g{k - 1} a; }}" for k in range(1, 41)]
    src = HEADER + "\n".join(lines) + "\nqreg q[1];\ng40 q[0];\n"
    err = error_of(src)
    assert (err.line, err.column) == (3 + 41 + 1, 1)
    assert f"expands to {2 ** 40} operations" in str(err)
    # a small one of the same kind expands fully, in order
    src = HEADER + "\n".join(lines[:5]) + "\nqreg q[1];\ng4 q[0];\n"
    assert [op.name for op in circuit_from_qasm(src).ops] == ["Hadamard"] * 16


def test_expression_work_is_limited_with_the_operations(memory_limit):
    memory_limit(100 * BYTES_PER_OP)
    body = "+".join(["a"] * 60)  # 119 expression nodes per call
    src = HEADER + f"qreg q[1];\ngate g(a) x {{ rz({body}) x; }}\ng(0.01) q[0];\n"
    err = error_of(src)
    assert err.line == 5 and "evaluates 119 parameter-expression nodes" in str(err)
    memory_limit(200 * BYTES_PER_OP)
    assert circuit_from_qasm(src).ops[0].params[0] == pytest.approx(0.6)


def test_statement_count_is_limited(memory_limit):
    src = HEADER + "qreg q[1];\n" + "barrier q;\n" * 4
    memory_limit(6 * BYTES_PER_OP)
    circuit_from_qasm(src)  # include, qreg and four barriers: six statements, no operations
    memory_limit(5 * BYTES_PER_OP)
    err = error_of(src)
    assert (err.line, err.column) == (7, 1) and "more than 5 statements" in str(err)
    # statements in gate bodies count too
    memory_limit(3 * BYTES_PER_OP)
    err = error_of(HEADER + "gate g a { h a; x a; }\nqreg q[1];")
    assert (err.line, err.column) == (3, 17)  # at 'x'


# ------------------------------------------------------------------------------------------------
# deep nesting and huge numbers
# ------------------------------------------------------------------------------------------------

def test_deeply_nested_parentheses_and_functions_are_read_without_recursion():
    assert angle_of("(" * 5000 + "0.25" + ")" * 5000) == 0.25
    assert angle_of("sin(" * 3000 + "0.5" + ")" * 3000) == pytest.approx(_iterate(math.sin, 0.5, 3000), abs=1e-15)
    assert angle_of("2*(" * 1000 + "1" + ")" * 1000) == 2.0 ** 1000 * 1
    assert angle_of("1^" * 3000 + "1") == 1.0
    assert angle_of("0.5^-" * 3 + "2") == 0.5 ** -(0.5 ** -(0.5 ** -2))


def _iterate(f, x, n):
    for _ in range(n):
        x = f(x)
    return x


def test_long_sums_and_sign_runs_are_read_without_recursion():
    assert angle_of("+".join(["0.001"] * 5000)) == pytest.approx(5.0, rel=1e-12)
    assert angle_of("1" + "-0.5" * 5000) == pytest.approx(1 - 2500.0, rel=1e-12)
    assert angle_of("-" * 9999 + "0.5") == -0.5
    assert angle_of("-" * 10000 + "0.5") == 0.5
    assert angle_of("-+" * 5000 + "0.5") == 0.5
    assert angle_of("*".join(["1.001"] * 3000)) == pytest.approx(1.001 ** 3000, rel=1e-10)


def test_unbalanced_deep_expressions_name_the_place():
    err = error_of(HEADER + "qreg q[1];\nrz(" + "(" * 3000 + "1" + ")" * 2999 + ") q[0];")
    assert err.line == 4 and "expected ')'" in str(err)
    assert err.column == 4 + 3000 + 1 + 2999 + 1 + 1  # at 'q'
    err = error_of(HEADER + "qreg q[1];\nrz(" + "-" * 3000 + ") q[0];")
    assert (err.line, err.column) == (4, 4 + 3000) and "expected a number" in str(err)


def test_deeply_nested_gate_definitions_expand_without_recursion():
    depth = 1500
    lines = ["gate g0(t) a { rz(t) a; }"] + [f"gate g{k}(t) a {{ g{k - 1}(t + 0.001) a; }}" for k in range(1, depth)]
    src = HEADER + "\n".join(lines) + f"\nqreg q[1];\ng{depth - 1}(0.5) q[0];\n"
    c = circuit_from_qasm(src)
    assert len(c) == 1 and c.ops[0].params[0] == pytest.approx(0.5 + 0.001 * (depth - 1), rel=1e-12)
    t = circuit_from_qasm(src, trainable=True)
    assert (t.ops[0].params[0].index, t.ops[0].params[0].scale) == (0, 1.0)
    assert t.ops[0].params[0].offset == pytest.approx(0.001 * (depth - 1), rel=1e-9)
    # an error deep inside names the innermost calls and elides the rest
    lines[0] = "gate g0(t) a { rz(t / 0) a; }"
    err = error_of(HEADER + "\n".join(lines) + f"\nqreg q[1];\ng{depth - 1}(0.5) q[0];\n")
    assert err.line == 3 and "division by zero" in str(err)
    assert "(in 'g0' at line 4, called from 'g1' at line 5" in str(err)
    assert f"... {depth - 4} more)" in str(err) and len(str(err)) < 300


@pytest.mark.parametrize("body, line, column, fragment", [
    ("qreg q[100000000000000000000];", 3, 8, "the register size 100000000000... (21 digits) is too large"),
    ("qreg q[" + "7" * 4300 + "];", 3, 8, "(4300 digits) is too large"),
    ("qreg q[2];\nh q[" + "1" * 5000 + "];", 4, 5, "an index 111111111111... (5000 digits) is too large"),
    ("qreg q[2];\ncreg c[2];\nmeasure q[0] -> c[" + "9" * 30 + "];", 5, 19, "too large"),
    ("qreg q[000000000000000000000000000002];\nh q[1];", None, None, None),  # leading zeros are fine
    ("qreg q[999999999999999999];", 3, 8, "over the limit"),
    ("qreg q[1];\nrz(" + "9" * 5000 + ") q[0];", 4, 4, "angles must be finite"),
    ("qreg q[1];\nrz(" + "2^" * 50 + "2) q[0];", 4, None, "is undefined"),
    ("qreg q[1];\nrz(" + "exp(" * 5 + "1" + ")" * 5 + ") q[0];", 4, 8, "exp(3.81428e+06) is undefined"),
])
def test_huge_numbers(body, line, column, fragment):
    if fragment is None:
        assert circuit_from_qasm(HEADER + body).n_wires == 2
        return
    err = error_of(HEADER + body)
    assert err.line == line and fragment in str(err)
    if column is not None:
        assert err.column == column


# ------------------------------------------------------------------------------------------------
# paths
# ------------------------------------------------------------------------------------------------

SRC = HEADER + "qreg q[2];\nh q[0];\ncx q[0], q[1];\nrx(0.3) q[1];\n"


def _same(a, b):
    assert a.n_wires == b.n_wires and [o.name for o in a.ops] == [o.name for o in b.ops]
    np.testing.assert_allclose(pq.state(a), pq.state(b), atol=1e-14)


def test_from_qasm_reads_paths(tmp_path, monkeypatch):
    f = tmp_path / "bell.qasm"
    f.write_text(SRC)
    text = pq.Circuit.from_qasm(SRC)
    _same(pq.Circuit.from_qasm(str(f)), text)
    _same(pq.Circuit.from_qasm(f), text)
    g = tmp_path / "bell.txt"  # a Path may have any name
    g.write_text(SRC)
    _same(pq.Circuit.from_qasm(g), text)
    t = pq.Circuit.from_qasm(f, trainable=True)
    assert t.n_weights == 1 and t.default_weights[0] == 0.3
    monkeypatch.chdir(tmp_path)
    _same(pq.Circuit.from_qasm("bell.qasm"), text)
    (tmp_path / "upper.QASM").write_text(SRC)
    _same(pq.Circuit.from_qasm(" upper.QASM\t"), text)


def test_missing_file_says_so(tmp_path):
    missing = tmp_path / "nothere.qasm"
    for source in (str(missing), missing):
        with pytest.raises(FileNotFoundError, match=r"QASM file '.*nothere\.qasm' does not exist"):
            pq.Circuit.from_qasm(source)
    with pytest.raises(FileNotFoundError, match="is a directory"):
        pq.Circuit.from_qasm(tmp_path)


def test_errors_in_files_name_the_file(tmp_path):
    f = tmp_path / "bad.qasm"
    f.write_text(HEADER + "qreg q[2];\nh q[5];\n")
    with pytest.raises(QASMError) as info:
        pq.Circuit.from_qasm(f)
    err = info.value
    assert (err.line, err.column, err.filename) == (4, 3, str(f))
    assert str(err).startswith(f"{f}: line 4, column 3: index 5 is out of range")
    f.write_bytes(HEADER.encode() + b"qreg q[1];\n// caf\xe9\n")
    with pytest.raises(QASMError, match=r"line 4, column 7: the file is not UTF-8 text \(byte 0xe9\)"):
        pq.Circuit.from_qasm(f)


def test_a_file_name_without_the_suffix_gets_a_hint(tmp_path, monkeypatch):
    (tmp_path / "circuit.txt").write_text(SRC)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(QASMError, match=r"line 1, column 1: a program must start with 'OPENQASM 2.0;'; "
                                        r"'circuit.txt' names a file: pass pathlib.Path"):
        pq.Circuit.from_qasm("circuit.txt")
    _same(pq.Circuit.from_qasm(pathlib.Path("circuit.txt")), pq.Circuit.from_qasm(SRC))


def test_source_of_the_wrong_type():
    for bad in (b"OPENQASM 2.0;", 3, None, ["OPENQASM 2.0;"]):
        with pytest.raises(TypeError, match=r"must be a str or a path: .* got "):
            pq.Circuit.from_qasm(bad)
