"""The arithmetic floor: the state-vector flop model (cpp/src/statevector/flops.cpp) against a hand count
of a tiny circuit, and the measured FMA peak's report."""
import pytest

from pyqml import _core
from pyqml.frontend.params import CONST, WEIGHT

# 2 wires, every kernel kind of the model: dense 1-qubit, CNOT, diagonal, controlled 1-qubit, and a fused
# run of two single-wire gates at the end (RY then a constant RZ on wire 0).
OPS = [
    ("RX", [0], [(WEIGHT, 0, 1.0, 0.0)], None),
    ("CNOT", [0, 1], [], None),
    ("RZ", [1], [(WEIGHT, 1, 1.0, 0.0)], None),
    ("CRX", [0, 1], [(WEIGHT, 2, 1.0, 0.0)], None),
    ("RY", [0], [(WEIGHT, 3, 1.0, 0.0)], None),
    ("RZ", [0], [(CONST, 0, 1.0, 0.3)], None),
]
OBS = [[(1.0, [0], "Z")], [(1.0, [0, 1], "ZZ"), (0.5, [1], "X")]]


def _sim():
    c = _core.Circuit(2, OPS, 4, 0)
    return _core.StateVector(c, OBS, "complex128")


def test_flops_hand_count():
    # Size 2^2 = 4. Complex mul 6 flops, complex add 2.
    # Forward (fused schedule: [RX0] [CNOT] [RZ1] [CRX] [RY0, RZ0]):
    #   RX dense 1-qubit 14*4 = 56; CNOT 0; RZ diagonal 6*4 = 24; CRX one group of a 2x2: 2*(2*6+2) = 28;
    #   fused run: 2 products of 2x2 (56 each) + one dense 1-qubit 56 = 168.       forward = 276
    # Values: 3 Pauli terms * 8 * 4 = 96.                                           values  = 372
    # Adjoint sweep, ops 5..0 (first trainable op 0), per lambda in brackets:
    #   op5 RZ const:   phi 24 + [lam 24]
    #   op4 RY:         phi 56 + [overlap 2 groups * 4 entries * 8 = 64, derivative 4*4+2 = 18, lam 56]
    #   op3 CRX:        phi 28 + [overlap 1 * 4 * 8 = 32, derivative 18, lam 28]
    #   op2 RZ:         phi 24 + [overlap 8*4 = 32, derivative 4*2+2 = 10, lam 24]
    #   op1 CNOT:       0
    #   op0 RX:         phi 56 + [overlap 64, derivative 18, no lam update at the last op]
    #   phi total 188, per lambda 24 + 138 + 78 + 66 + 82 = 388; lambda start H psi: 3 terms * 32 = 96.
    # Jacobian (2 lambdas): 372 + 96 + 188 + 2 * 388 = 1432; VJP (1 lambda): 372 + 96 + 188 + 388 = 1044.
    f = _sim().flops()
    assert f == {"forward": 276, "values": 372, "jacobian": 1432, "vjp": 1044}


def test_flops_scale_with_register():
    # Gate, overlap and observable terms grow with 2^n; a derivative's 4 * entries + 2 does not.
    ops = [("RX", [0], [(WEIGHT, 0, 1.0, 0.0)], None), ("CNOT", [0, 1], [], None)]
    f3 = _core.StateVector(_core.Circuit(3, ops, 1, 0), [[(1.0, [0], "Z")]]).flops()
    f5 = _core.StateVector(_core.Circuit(5, ops, 1, 0), [[(1.0, [0], "Z")]]).flops()
    assert f3["forward"] == 14 * 8 and f5["forward"] == 14 * 32
    # Forward RX 14*2^n + Z 8*2^n; sweep: Z into lambda 8*2^n, CNOT 0, RX phi 14*2^n + overlap 2^(n-1)*4*8
    # + derivative 18.
    assert f3["jacobian"] == (14 + 8) * 8 + 8 * 8 + 14 * 8 + 4 * 4 * 8 + 18


def test_fma_peak_report():
    p = _core.fma_peak(1, 0.002)
    assert p["threads"] == 1 and p["isa"] in ("avx512f", "avx2+fma", "baseline")
    assert p["gflops"] > 0
    with pytest.raises(ValueError, match="threads"):
        _core.fma_peak(-1)
    with pytest.raises(ValueError, match="seconds"):
        _core.fma_peak(1, 0.0)
