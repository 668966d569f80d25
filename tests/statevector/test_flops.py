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
    # Size 2^2 = 4. Complex mul 6 flops, complex add 2. Registers of at most 8 wires count the lane kernels
    # (lanes.cpp): permutations are relabellings, the single-wire ops before the first multi-wire op (here
    # RX on wire 0) a product-state prefix, a diagonal observable one coefficient per amplitude.
    # Forward: the prefix's vector of wire 0 is RX's first column (0 flops), the product state of the two
    #   wires' vectors 6 * (2^3 - 2) = 36; then the lane schedule [CNOT] [RZ1] [CRX] [RY0, RZ0]: CNOT 0;
    #   RZ diagonal 6*4 = 24; CRX one group of a 2x2: 2*(2*6+2) = 28; fused run: 2 products of 2x2 (56
    #   each) + one dense 1-qubit 56 = 168.                                        forward = 256
    # Values: Z0 diagonal among non-diagonal observables, its own pass: 5 * 4 = 20; ZZ + 0.5 X: 2 Pauli
    #   terms * 8 * 4 = 64.                                                        values  = 340
    # Adjoint sweep, ops 5..1 (the prefix ends the sweep), per lambda in brackets:
    #   op5 RZ const:   phi 24 + [lam 24]
    #   op4 RY:         phi 56 + [overlap 2 groups * 4 entries * 8 = 64, derivative 4*4+2 = 18, lam 56]
    #   op3 CRX:        phi 28 + [overlap 1 * 4 * 8 = 32, derivative 18, lam 28]
    #   op2 RZ:         phi 24 + [overlap 8*4 = 32, derivative 4*2+2 = 10, lam 24]
    #   op1 CNOT:       0
    #   prefix:         RX's tangent against |0> is its derivative's first column (0 flops, once per row);
    #                   [the lambda contracted with the other wire's vector, for each of the 2 wires:
    #                    2 outputs * 14 = 28 each; the rank-one overlap with RX's tangent 4 * 2 + 2 = 10]
    #   phi total 132, per lambda 24 + 138 + 78 + 66 + 66 = 372; lambdas' start: Z0 4 * 4 = 16, the other
    #   2 terms * 32 = 64.
    # Jacobian (2 lambdas): 340 + 80 + 132 + 2 * 372 = 1296; VJP (1 lambda): 340 + 80 + 132 + 372 = 924.
    f = _sim().flops()
    assert f == {"forward": 256, "values": 340, "jacobian": 1296, "vjp": 924}


def test_flops_scale_with_register():
    # Lanes (up to 8 wires): RX on wire 0 then a CNOT is a product state (6 * (2^(n+1) - 2)) and a
    # relabelling; <Z0> one pass: |psi|^2 3 * 2^n, the value 2 * 2^n, lambda 2 * 2^n; the prefix's
    # derivative: the lambda contracted with the other wires (n = 3: 196 flops), the overlap with RX's
    # tangent (its derivative's first column) 10.
    ops = [("RX", [0], [(WEIGHT, 0, 1.0, 0.0)], None), ("CNOT", [0, 1], [], None)]
    f3 = _core.StateVector(_core.Circuit(3, ops, 1, 0), [[(1.0, [0], "Z")]]).flops()
    f5 = _core.StateVector(_core.Circuit(5, ops, 1, 0), [[(1.0, [0], "Z")]]).flops()
    assert f3["forward"] == 6 * 14 and f5["forward"] == 6 * 62
    assert f3["jacobian"] == 84 + 5 * 8 + 2 * 8 + 196 + 10
    # Beyond 8 wires the per-row kernels: gate, overlap and observable terms grow with 2^n; a derivative's
    # 4 * entries + 2 does not. Forward RX 14*2^n + Z 8*2^n; sweep: Z into lambda 8*2^n, CNOT 0, RX phi
    # 14*2^n + overlap 2^(n-1)*4*8 + derivative 18.
    f9 = _core.StateVector(_core.Circuit(9, ops, 1, 0), [[(1.0, [0], "Z")]]).flops()
    assert f9["forward"] == 14 * 512
    assert f9["jacobian"] == (14 + 8) * 512 + 8 * 512 + 14 * 512 + 256 * 4 * 8 + 18


def test_fma_peak_report():
    p = _core.fma_peak(1, 0.002)
    assert p["threads"] == 1 and p["isa"] in ("avx512f", "avx2+fma", "baseline")
    assert p["gflops"] > 0
    with pytest.raises(ValueError, match="threads"):
        _core.fma_peak(-1)
    with pytest.raises(ValueError, match="seconds"):
        _core.fma_peak(1, 0.0)
