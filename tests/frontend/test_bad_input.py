"""Bad input raises a Python exception that names the problem: never a crash, a hang or a silent answer."""
import numpy as np
import pytest

import pyqml as pq
from pyqml import _core
from pyqml.io.qasm import QASMError

SV = {"method": "statevector"}


def _circuit():
    c = pq.Circuit(2)
    w = c.new_weights(2)
    x = c.new_inputs(1)
    with c:
        pq.RX(w[0], wires=0)
        pq.RY(2 * x[0] + 1, wires=1)
        pq.CRZ(w[1], wires=[0, 1])
    return c


@pytest.fixture
def restore_memory_limit():
    yield
    pq.set_memory_limit(0)  # back to the default (a fraction of available memory)


# --- wires ---
def test_wire_out_of_range():
    with pytest.raises(ValueError, match="wire 2 is out of range for 2 wires"):
        pq.state(pq.Circuit(2, [pq.H(wires=2)]))
    with pytest.raises(ValueError, match="wire 5 is out of range"):
        _core.Circuit(2, [("CNOT", [0, 5], [], None)], 0, 0)

    @pq.qnode(wires=2)
    def f(weights):
        pq.RX(weights[0], wires=3)
        return pq.expval(pq.Z(0))

    with pytest.raises(ValueError, match="RX on wire 3, but the qnode has 2 wires"):
        f(np.zeros(1))
    with pytest.raises(ValueError, match="wire -1 is negative"):
        pq.H(wires=-1)
    with pytest.raises(ValueError, match="wire 7 out of range"):
        pq.probs(_circuit(), [0, 7], weights=[0.1, 0.2], inputs=[0.3])


def test_repeated_wire_in_one_gate_or_measurement():
    with pytest.raises(ValueError, match=r"CNOT: wires \[1, 1\] are repeated"):
        pq.CNOT(wires=[1, 1])
    with pytest.raises(ValueError, match="wire 1 is repeated"):
        _core.Circuit(2, [("CNOT", [1, 1], [], None)], 0, 0)
    with pytest.raises(ValueError, match="are repeated"):
        pq.MultiRZ(0.1, wires=[0, 2, 0])
    c = pq.Circuit(2, [pq.H(wires=0)])
    with pytest.raises(ValueError, match=r"probs: wires \[0, 0\] are repeated"):
        pq.probs(c, [0, 0])
    with pytest.raises(ValueError, match="sample: wires"):
        pq.sample(c, [1, 1], shots=10)
    with pytest.raises(ValueError, match="are repeated"):
        pq.probs(wires=[1, 1])


def test_wrong_wire_or_parameter_count():
    with pytest.raises(ValueError, match=r"CNOT acts on 2 wire\(s\)"):
        pq.CNOT(wires=[0])
    with pytest.raises(TypeError, match=r"RX takes 1 parameter\(s\), got 0"):
        pq.RX(wires=0)
    with pytest.raises(TypeError, match=r"Rot takes 3 parameter\(s\), got 2"):
        pq.Rot(0.1, 0.2, wires=0)
    with pytest.raises(ValueError, match=r"takes 1 parameter\(s\), got 0"):
        _core.Circuit(1, [("RX", [0], [], None)], 0, 0)


# --- weights and inputs ---
def test_wrong_number_or_shape_of_weights_and_inputs():
    c = _circuit()
    ok = pq.expval(c, pq.Z(0), weights=[0.1, 0.2], inputs=[0.3], **SV)
    assert np.isfinite(ok)
    with pytest.raises(ValueError, match="weights must hold 2 values, got shape"):
        pq.expval(c, pq.Z(0), weights=[0.1], inputs=[0.3], **SV)
    with pytest.raises(ValueError, match="weights must hold 2 values"):
        pq.expval(c, pq.Z(0), weights=np.zeros((2, 2, 2)), inputs=[0.3], **SV)
    with pytest.raises(ValueError, match="different numbers of rows"):
        pq.expval(c, pq.Z(0), weights=np.zeros((3, 2)), inputs=np.zeros((2, 1)), **SV)
    with pytest.raises(ValueError, match="the circuit has 2 weights; pass weights="):
        pq.expval(c, pq.Z(0), inputs=[0.3], **SV)
    with pytest.raises(ValueError, match="the circuit takes 1 inputs per row; pass inputs="):
        pq.expval(c, pq.Z(0), weights=[0.1, 0.2], **SV)
    with pytest.raises(ValueError, match="inputs have 2 features per row, the circuit takes 1"):
        pq.expval(c, pq.Z(0), weights=[0.1, 0.2], inputs=[0.3, 0.4], **SV)
    with pytest.raises(ValueError, match="inputs must be"):
        pq.jacobian(c, pq.Z(0), weights=[0.1, 0.2], inputs=np.zeros((1, 1, 1)), **SV)
    with pytest.raises(TypeError, match="weights must be an array of real numbers"):
        pq.expval(c, pq.Z(0), weights="ab", inputs=[0.3], **SV)
    with pytest.raises(TypeError, match="weights must be real numbers, got complex"):
        pq.expval(c, pq.Z(0), weights=[0.1 + 1j, 0.2], inputs=[0.3], **SV)
    ex = c.executor([pq.Z(0)], "statevector")
    with pytest.raises(ValueError, match="inputs must have shape"):
        ex.expval(np.zeros(2), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="cotangent must have shape"):
        ex.vjp(np.zeros(2), np.zeros((2, 1)), np.zeros((3, 1)))


def test_qnode_argument_shapes():
    @pq.qnode(wires=2, method="statevector")
    def f(inputs, weights):
        pq.RX(inputs[1], wires=0)
        pq.RY(weights[0, 2], wires=1)
        return pq.expval(pq.Z(0) @ pq.Z(1))

    assert np.isfinite(f(np.zeros(2), np.zeros((1, 3))))
    with pytest.raises(ValueError, match=r"indexes past its arguments .* inputs of width 1"):
        f(np.zeros(1), np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"weights: \(3,\)"):
        f(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="inputs must be"):
        f(np.zeros((1, 1, 2)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="cotangent must have the values' shape"):
        f.vjp(np.zeros((4, 2)), np.zeros((1, 3)), cotangent=np.zeros(3))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_angles(bad):
    c = _circuit()
    with pytest.raises(ValueError, match=r"weights\[1\] is .*: weights must be finite"):
        pq.expval(c, pq.Z(0), weights=[0.1, bad], inputs=[0.3], **SV)
    with pytest.raises(ValueError, match=r"inputs\[1, 0\] is .*: inputs must be finite"):
        pq.jacobian(c, pq.Z(0), weights=[0.1, 0.2], inputs=[[0.3], [bad]], **SV)
    with pytest.raises(ValueError, match="must be finite"):
        pq.state(c, weights=[bad, 0.2], inputs=[0.3])
    with pytest.raises(ValueError, match="angles must be finite"):
        pq.RX(bad, wires=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        _core.Circuit(1, [("RX", [0], [(0, 0, 1.0, bad)], None)], 0, 0)
    # an infinite affine scale on an input
    c2 = pq.Circuit(1)
    x = c2.new_inputs(1)
    with c2:
        pq.RX(bad * x[0], wires=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        pq.expval(c2, pq.Z(0), inputs=[0.1], **SV)

    @pq.qnode(wires=1, method="statevector")
    def f(inputs, weights):
        pq.RX(inputs[0], wires=0)
        pq.RY(weights[0], wires=0)
        return pq.expval(pq.Z(0))

    with pytest.raises(ValueError, match=r"weights\[0\] is .*: weights must be finite"):
        f(np.zeros(1), np.array([bad]))
    with pytest.raises(ValueError, match=r"inputs\[0\] is .*: inputs must be finite"):
        f(np.array([bad]), np.zeros(1))


def test_angle_overflowing_to_inf_at_bind_time():
    c = pq.Circuit(1)
    x = c.new_inputs(1)
    with c:
        pq.RX(1e308 * x[0], wires=0)
    with pytest.raises(ValueError, match=r"op 0 \(RX\): angle is NaN or infinite \(from inputs\[0\]\)"):
        pq.expval(c, pq.Z(0), inputs=[1e10], **SV)


# --- gates ---
def test_non_unitary_qubit_unitary():
    with pytest.raises(ValueError, match="not unitary"):
        pq.QubitUnitary(np.array([[1, 1], [0, 1]]), wires=0)
    with pytest.raises(ValueError, match="not unitary"):
        pq.QubitUnitary(np.array([[np.nan, 0], [0, 1]]), wires=0)
    with pytest.raises(ValueError, match="needs a 2x2 matrix"):
        pq.QubitUnitary(np.eye(4), wires=0)
    with pytest.raises(ValueError, match="1 to 3 wires"):
        pq.QubitUnitary(np.eye(16), wires=[0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"op 0 \(QubitUnitary\): matrix is not unitary"):
        _core.Circuit(1, [("QubitUnitary", [0], [], np.array([[1, 1], [0, 1]], dtype=complex))], 0, 0)
    with pytest.raises(ValueError, match="matrix must be 4x4"):
        _core.Circuit(2, [("QubitUnitary", [0, 1], [], np.eye(2, dtype=complex))], 0, 0)


def test_unknown_gate_name():
    with pytest.raises(ValueError, match="unknown gate 'Foo'"):
        _core.Circuit(1, [("Foo", [0], [], None)], 0, 0)
    with pytest.raises(ValueError, match="unknown gate 'Foo'"):
        pq.gate_matrix("Foo")
    with pytest.raises(QASMError, match="line 3, column 1: unknown gate 'foo'"):
        pq.Circuit.from_qasm("OPENQASM 2.0;\nqreg q[1];\nfoo q[0];")


def test_qasm_syntax_error_has_line_number():
    src = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\ncx q[0] q[1];\n'
    with pytest.raises(QASMError, match="line 5, column 9: expected ';', found 'q'") as info:
        pq.Circuit.from_qasm(src)
    assert isinstance(info.value, ValueError) and info.value.line == 5


def test_non_hermitian_observable():
    c = pq.Circuit(1, [pq.H(wires=0)])
    with pytest.raises(ValueError, match="not Hermitian"):
        pq.expval(c, pq.X(0) @ pq.Z(0), **SV)


# --- memory ---
def test_more_qubits_than_memory_allows(restore_memory_limit):
    pq.set_memory_limit(2**30)
    assert pq.memory_limit() == 2**30
    big = pq.Circuit(36, [pq.H(wires=0)])
    with pytest.raises(pq.MemoryLimitError, match=r"36 wires needs .*1099511627776 bytes") as info:
        pq.expval(big, pq.Z(0), **SV)
    assert isinstance(info.value, MemoryError)
    assert "1073741824 bytes" in str(info.value)  # and the limit
    with pytest.raises(pq.MemoryLimitError, match="1099511627776 bytes"):
        pq.state(big)
    # 27 wires: 2 GiB for one state vector, 4 GiB for the two an adjoint sweep holds
    mid = pq.Circuit(27, [pq.RX(0.1, wires=0)])
    with pytest.raises(pq.MemoryLimitError, match="2147483648 bytes"):
        pq.expval(mid, pq.Z(0), **SV)
    w_mid = pq.Circuit(27)
    wt = w_mid.new_weights(1)
    with w_mid:
        pq.RX(wt[0], wires=0)
    with pytest.raises(pq.MemoryLimitError, match="bytes"):
        pq.jacobian(w_mid, pq.Z(0), weights=[0.1], **SV)
    pq.set_memory_limit(0)
    assert pq.memory_limit() > 2**30
    small = pq.Circuit(3, [pq.H(wires=0)])
    assert pq.expval(small, pq.X(0), **SV) == pytest.approx(1.0)


def test_memory_limit_default_refuses_a_36_wire_state():
    # 1 TiB: more than any machine this runs on offers, refused before allocating
    with pytest.raises(pq.MemoryLimitError, match="1099511627776 bytes"):
        pq.expval(pq.Circuit(36, [pq.H(wires=0)]), pq.Z(0), **SV)


def test_other_bad_arguments():
    c = pq.Circuit(1, [pq.H(wires=0)])
    with pytest.raises(ValueError, match="precision must be one of"):
        pq.expval(c, pq.Z(0), precision="float16")
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        pq.expval(c, pq.Z(0), method="magic")
    with pytest.raises(ValueError, match="shots must be a positive integer"):
        pq.sample(c, [0], shots=0)
    with pytest.raises(ValueError, match="at most 40 wires"):
        pq.expval(pq.Circuit(41, [pq.H(wires=0)]), pq.Z(0), **SV)
    with pytest.raises(ValueError, match="n_wires must be a positive integer"):
        pq.Circuit(0)

    @pq.qnode(wires=1)
    def f(weights):
        pq.RX(weights[0], wires=0)
        return pq.probs(wires=[0])

    with pytest.raises(ValueError, match="gradients are defined for expectation values only"):
        f.jacobian(np.zeros(1))


def test_input_gaps_raise_named_errors():
    """Complex, string and date inputs, None weights, fractional wires, NaN coefficients, bad seeds, a NaN
    memory limit and a RandomLayers that could never finish are refused with the problem named."""
    @pq.qnode(wires=2)
    def f(inputs, weights):
        pq.RX(inputs[0], wires=0)
        pq.RY(weights[0], wires=1)
        return pq.expval(pq.Z(0))

    w = np.array([0.1])
    with pytest.raises(TypeError, match="inputs must be real numbers, got complex"):
        f(np.array([1 + 1j]), w)
    with pytest.raises(TypeError, match="inputs must be an array of real numbers, got dtype <U1"):
        f(np.array(["1"]), w)
    with pytest.raises(TypeError, match="datetime64"):
        f(np.array(["2020-01-01"], dtype="datetime64[D]"), w)
    with pytest.raises(TypeError, match="weights is None"):
        f(np.array([0.1]), None)
    c = pq.Circuit(2, [pq.H(wires=0)])
    with pytest.raises(ValueError, match="wires are integers, got 1.5"):
        pq.probs(c, [1.5])

    @pq.qnode(wires=2)
    def g(weights):
        pq.RY(weights[0], wires=1)
        return pq.probs(wires=[1.5])

    with pytest.raises(ValueError, match="wires are integers, got 1.5"):
        g(w)
    with pytest.raises(ValueError, match="wire 7 out of range"):
        pq.probs(c, [2**40 // 2**40 * 7])
    with pytest.raises(ValueError, match="out of range"):
        pq.sample(c, [2**40], shots=3)
    with pytest.raises(ValueError, match="coefficient must be finite"):
        np.nan * pq.Z(0)
    with pytest.raises(ValueError, match="coefficients must be finite"):
        pq.Hamiltonian([np.inf], [pq.Z(0)])
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\^64\), got -1"):
        pq.sample(c, [0], shots=5, seed=-1)
    with pytest.raises(ValueError, match="shots must be a positive integer"):
        pq.sample(c, [0], shots=0)
    with pytest.raises(ValueError, match="seed must be"):
        pq.sample(wires=[0], shots=5, seed=2**64)
    limit = pq.memory_limit()
    with pytest.raises(ValueError, match="set_memory_limit: a finite number"):
        pq.set_memory_limit(float("nan"))
    assert pq.memory_limit() == limit
    with pytest.raises(ValueError, match=r"ratio_imprim must be in \[0, 1\)"):
        pq.RandomLayers(np.zeros((1, 2)), wires=[0, 1], ratio_imprim=1.0)


def test_vjp_results_of_every_binding_share_shapes_and_checks():
    """vjp, vjp_saved and the MPS vjp set up their results the same way: the cotangent's shape is checked
    first, dw is (n_weights,) for shared weights and (rows, n_weights) per row, dx is None with need_dx=False;
    the numbers are the Jacobian contracted with the cotangent."""
    c = _circuit()
    rng = np.random.default_rng(5)
    w, X, cot = rng.normal(size=2), rng.normal(size=(3, 1)), rng.normal(size=(3, 1))
    ex = c.executor([pq.Z(0)], "statevector")
    vals, jw, jx = ex.jacobian(w, X)
    ref_dw, ref_dx = np.einsum("ro,row->w", cot, jw), np.einsum("ro,rox->rx", cot, jx)
    v, dw, dx = ex.vjp(w, X, cot)
    np.testing.assert_allclose(dw, ref_dw, atol=1e-12)
    np.testing.assert_allclose(dx, ref_dx, atol=1e-12)
    np.testing.assert_array_equal(v, vals)
    _, saved = ex.forward(w, X)
    v2, dw2, dx2 = ex._sim.vjp_saved(saved, w, X, cot, need_dx=False)
    assert dx2 is None and dw2.shape == (2,)
    np.testing.assert_allclose(dw2, ref_dw, atol=1e-12)
    np.testing.assert_allclose(v2, vals, atol=1e-12)
    W = np.tile(w, (3, 1))  # weights per row: one gradient per row
    _, dwr, _ = ex._sim.vjp(W, X, cot)
    assert dwr.shape == (3, 2)
    np.testing.assert_allclose(dwr.sum(axis=0), ref_dw, atol=1e-12)
    for call in (lambda bad: ex._sim.vjp(w, X, bad), lambda bad: ex._sim.vjp_saved(saved, w, X, bad)):
        with pytest.raises(ValueError, match=r"cotangent must have shape \(3, 1\)"):
            call(np.zeros((2, 1)))
        with pytest.raises(ValueError, match=r"cotangent must have shape \(3, 1\)"):
            call(np.zeros(3))
    mps = c.executor([pq.Z(0)], "mps")
    vm, dwm, dxm = mps.vjp(w, X, cot)[:3]
    np.testing.assert_allclose(dwm, ref_dw, atol=1e-10)
    np.testing.assert_allclose(dxm, ref_dx, atol=1e-10)
    with pytest.raises(ValueError, match=r"cotangent must have shape \(3, 1\)"):
        mps._mps.vjp(w, X, np.zeros((3, 2)))
