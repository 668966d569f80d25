"""The noisy examples' core functions at tiny sizes (the full runs are examples/noisy_iris.py and
examples/noisy_qaoa_1000.py) and the noisy demo, with values checked against a dense numpy Kraus simulation
and the density-matrix method."""
import os
import sys

import dense_reference as ref
import numpy as np
import pytest
from noisy_reference import apply_dm, kraus

from pyqml.frontend.noise import apply_noise

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")
sys.path.insert(0, EXAMPLES)


def _dense_noisy_expvals(circuit, w, x_row, n_obs_wires):
    """<Z_i> of a circuit of gates and channels, simulated densely with the reference's own Kraus matrices
    (angles bound by the engine's Circuit.bind, which tests/frontend checks)."""
    n = circuit.n_wires
    angles = circuit.core.bind(w, x_row[None, :])[0]
    rho = np.zeros((2**n, 2**n), dtype=complex)
    rho[0, 0] = 1
    k = 0
    for op in circuit.ops:
        vals = [float(a) for a in angles[k:k + len(op.params)]]
        k += len(op.params)
        if getattr(op, "is_channel", False):
            rho = sum(apply_dm(rho, K, list(op.wires), n) for K in kraus(op.name, vals, len(op.wires)))
        else:
            rho = apply_dm(rho, ref.gate_matrix(op.name, vals, len(op.wires)), list(op.wires), n)
    return [float(np.real(np.trace(ref.pauli_matrix([(1.0, {i: "Z"})], n) @ rho))) for i in range(n_obs_wires)]


def test_noisy_iris_core_at_a_tiny_size():
    import noisy_iris

    Xtr, Xte, ytr, yte = noisy_iris.iris_split(0)
    data = (Xtr[::10], Xte[::5], ytr[::10], yte[::5])
    r = noisy_iris.train(0.05, epochs=2, n_layers=1, data=data)
    assert 0 <= r["test_accuracy"] <= 1 and np.isfinite(r["final_loss"])
    layer = r["model"].net.layers[0]
    cq = layer.compiled(4)
    ex = cq.executor()
    assert ex.method == "densitymatrix"
    noisy = apply_noise(cq.circuit, noisy_iris.noise_model(0.05))
    assert sum(getattr(op, "is_channel", False) for op in noisy.ops) == sum(len(op.wires) for op in cq.circuit.ops)
    w = cq.pack(layer.params)
    got = layer.forward(data[1][:2])
    for r_ in range(2):
        want = _dense_noisy_expvals(noisy, w, data[1][r_], 4)
        np.testing.assert_allclose(got[r_], want, atol=1e-10, rtol=0)
    # Noise changes the features; p = 0 is the noiseless model.
    assert noisy_iris.noise_model(0) is None
    clean = noisy_iris.train(0.0, epochs=2, n_layers=1, data=data)["model"].net.layers[0].forward(data[1][:2])
    assert np.abs(clean - got).max() > 1e-3


def test_noisy_qaoa_core_against_the_density_matrix(capsys):
    import noisy_qaoa_1000 as ex

    g = ex.CubicGraph(8, seed=1)
    deg = np.bincount(np.array(g.edges).ravel(), minlength=8)
    assert len(g.edges) == 12 and np.all(deg == 3) and len(set(g.edges)) == 12
    params = np.array([0.7, -0.4])
    e_tn, g_tn = ex.energy_and_gradient(ex.make_energy(g, 0.03, "tensornet"), params)
    e_dm, g_dm = ex.energy_and_gradient(ex.make_energy(g, 0.03, "densitymatrix"), params)
    assert abs(e_tn - e_dm) < 1e-10 and np.abs(g_tn - g_dm).max() < 1e-10
    e0, _ = ex.energy_and_gradient(ex.make_energy(g, 0.0, "tensornet"), params)
    assert abs(e0 - e_tn) > 1e-3  # the noise is applied
    new, hist = ex.main(nodes=10, p=0.02, steps=2)
    assert len(hist) == 2 and new.shape == (2,)
    assert capsys.readouterr().out.count("step ") == 2
    with pytest.raises(ValueError, match="even number of nodes"):
        ex.CubicGraph(7)


def test_noisy_demo_runs(capsys):
    from pyqml.__main__ import main

    assert main(["demo", "--epochs", "2", "--noise", "0.02", "--no-peers", "--no-progress", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "DepolarizingChannel(0.02)" in out and "'densitymatrix'" in out and "accuracy" in out
    with pytest.raises(SystemExit):
        main(["demo", "--noise", "0.9"])
    assert "--noise must lie in [0, 0.75]" in capsys.readouterr().err
