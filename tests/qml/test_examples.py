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


def test_qcbm_bars_and_stripes(tmp_path):
    import qcbm_bars_and_stripes as ex

    valid, kl, bas_model, gm_model = ex.main(epochs=25, bas_layers=2, plot_path=str(tmp_path / "qcbm.png"))
    assert (tmp_path / "qcbm.png").stat().st_size > 0
    # Training lowers both losses; the valid images gain probability over the uniform 14/512.
    for m in (bas_model, gm_model):
        assert m.loss_history_[-1] < m.loss_history_[0] and m.kl_history_[-1] < m.kl_history_[0]
    assert valid > 14 / 512


def test_kernel_pca(tmp_path):
    pytest.importorskip("sklearn")
    import kernel_pca

    out = kernel_pca.main(n_digits=150, plot_path=None)
    for key in ("iris", "digits"):
        q, c, sq, _ = out[key]
        assert q.shape[1] == 2 and np.all(np.isfinite(q))
        assert sq > 0.3      # well above chance (1/3 for Iris, 1/10 for digits)
