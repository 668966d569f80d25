"""Every example runs, on a small budget where it trains."""
import os
import sys

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")
sys.path.insert(0, EXAMPLES)


def test_qnn_forward(capsys):
    import qnn_forward

    out, dw, dx = qnn_forward.main(n_rows=6)
    assert out.shape == (6, 4) and dw.shape == (6, 4, 2, 4, 3) and dx.shape == (6, 4, 4)
    assert np.all(np.abs(out) <= 1)


def test_two_qubit_gradient_descent(capsys):
    import two_qubit_gradient_descent as ex

    _, costs = ex.main(steps=30)
    printed = capsys.readouterr().out
    assert printed.count("Cost after step") == 3
    # <Z1> = cos(p0) cos(p1): the cost falls monotonically from cos(0.5) cos(0.1)
    assert costs[-1] < -0.9 and all(b <= a + 1e-12 for a, b in zip(costs, costs[1:]))


def test_hybrid_iris():
    import hybrid_iris

    assert hybrid_iris.main(epochs=60) >= 0.9


def test_quantum_kernel_svc():
    pytest.importorskip("sklearn")
    import quantum_kernel_svc

    assert quantum_kernel_svc.main() >= 0.9


def test_barren_plateau(tmp_path):
    import barren_plateau

    loc, glo = barren_plateau.main(n_qubits=(2, 4, 6, 8), n_layers=2, n_samples=300, plot=str(tmp_path / "bp.png"))
    assert glo["decay_rate"] < loc["decay_rate"]
