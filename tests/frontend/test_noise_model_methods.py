"""``noise=`` (a pyqml.NoiseModel) on every method that simulates noise: the noisy light-cone tensor network
and trajectories against the density matrix of the same model (which tests/densitymatrix checks against a
dense numpy Kraus simulation), readout error included; "auto" with a noise model by register width."""
import dense_reference as ref
import numpy as np
import pytest
from random_circuits import RandomCircuit, random_pauli_sum

import pyqml as pq
from pyqml.frontend.execution import EXACT_PREFERENCE, choose_method, estimates
from pyqml.frontend.noise import apply_noise

# Gates of every kind (1- and 2-wire, parametrised and not, diagonal and dense) for the random circuits.
NAMES = ["RX", "RY", "RZ", "Hadamard", "CNOT", "CZ", "IsingZZ", "IsingXX", "CRX", "Rot", "S", "SWAP", "PhaseShift"]


def _model(rng):
    """A noise model with rules by gate name, by wire and for every gate, a 2-wire channel and readout."""
    return (pq.NoiseModel()
            .add(pq.DepolarizingChannel, float(rng.uniform(0.01, 0.1)))
            .add(pq.AmplitudeDamping, float(rng.uniform(0.02, 0.2)), gates=["CNOT", "CZ", "IsingZZ"])
            .add(pq.PauliError, "XZ", float(rng.uniform(0.01, 0.1)), gates=["CNOT", "IsingXX"])
            .add(pq.PhaseDamping, float(rng.uniform(0.02, 0.2)), wires=[0])
            .add(pq.GeneralizedAmplitudeDamping, 0.1, 0.3, gates="RY")
            .readout_error(float(rng.uniform(0.01, 0.05))))


@pytest.mark.parametrize("n,seed", [(1, 0), (2, 1), (3, 2), (5, 3), (8, 4)])
def test_tensornet_noise_model_matches_the_density_matrix(n, seed):
    rng = np.random.default_rng(ref.seed_of("nm-tn", n, seed))
    rc = RandomCircuit(n, 12, rng, n_inputs=2, names=NAMES)
    c = rc.circuit()
    nm = _model(rng)
    obs = [random_pauli_sum(n, rng)[0] for _ in range(2)] + [pq.Z(n - 1)]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    rows = 3 if n < 8 else 1  # the density matrix's Jacobian of 8 wires takes a second a row here
    x = rng.uniform(-1, 1, (rows, 2))
    dm = pq.jacobian(c, obs, weights=w, inputs=x, method="densitymatrix", noise=nm)
    tn = pq.jacobian(c, obs, weights=w, inputs=x, method="tensornet", noise=nm)
    for a, b in zip(dm, tn):
        np.testing.assert_allclose(b, a, atol=1e-10, rtol=0)
    # The readout error is in: without it the values differ.
    clean_readout = pq.NoiseModel()
    for cls, params, names, ws in nm.rules:
        clean_readout.add(cls, *params, gates=names, wires=ws)
    other = pq.expval(c, obs[-1], weights=w, inputs=x, method="tensornet", noise=clean_readout)
    assert np.abs(other - tn[0][:, -1]).max() > 1e-4
    ex = c.executor(obs, "tensornet", noise=nm)
    np.testing.assert_allclose(ex.var(w, x), c.executor(obs, "densitymatrix", noise=nm).var(w, x), atol=1e-10)
    wires = [0] if n == 1 else [n - 1, 0]
    np.testing.assert_allclose(pq.probs(c, wires, weights=w, inputs=x, method="tensornet", noise=nm),
                               pq.probs(c, wires, weights=w, inputs=x, method="densitymatrix", noise=nm),
                               atol=1e-10, rtol=0)
    cot = rng.normal(size=(rows, len(obs)))
    for a, b in zip(c.executor(obs, "densitymatrix", noise=nm).vjp(w, x, cot), ex.vjp(w, x, cot)):
        np.testing.assert_allclose(b, a, atol=1e-10, rtol=0)


def test_trajectories_noise_model_within_four_standard_errors():
    rng = np.random.default_rng(ref.seed_of("nm-traj", 4))
    rc = RandomCircuit(4, 14, rng, n_inputs=1, names=NAMES)
    c = rc.circuit()
    nm = _model(rng)
    obs = [pq.Z(0), pq.X(1) @ pq.Z(2), random_pauli_sum(4, rng)[0]]
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    x = rng.uniform(-1, 1, (2, 1))
    want = pq.jacobian(c, obs, weights=w, inputs=x, method="densitymatrix", noise=nm)
    ex = c.executor(obs, "trajectories", noise=nm, trajectories=2000, seed=7)
    assert ex.circuit is apply_noise(c, nm) and len(ex.circuit.ops) > len(c.ops)
    got, se = ex.jacobian_stderr(w, x)
    for a, b, s in zip(want, got, se):
        assert np.all(np.abs(b - a) <= 4 * s + 1e-12), (np.abs(b - a) / np.maximum(s, 1e-300)).max()
    v, sv = pq.expval(c, obs, weights=w, inputs=x, method="trajectories", noise=nm, trajectories=2000, seed=7,
                      return_stderr=True)
    # The same trajectories (the draws do not depend on the state); the forward-only pass fuses single-wire ops,
    # so the values agree to rounding.
    np.testing.assert_allclose(v, got[0], atol=1e-12, rtol=0)
    assert np.all(np.abs(v - want[0]) <= 4 * sv)


def test_qnodes_take_a_noise_model_on_tensornet_and_trajectories():
    nm = pq.NoiseModel().add(pq.DepolarizingChannel, 0.05, gates="CNOT").readout_error(0.02)

    def body(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(3))
        pq.BasicEntanglerLayers(weights, wires=range(3))
        return [pq.expval(pq.Z(0)), pq.expval(pq.Z(1) @ pq.Z(2))]

    x = np.array([[0.1, -0.4, 0.7], [0.3, 0.2, -1.0]])
    w = np.random.default_rng(1).uniform(0, 2 * np.pi, (2, 3))
    want = np.asarray(pq.qnode(wires=3, method="densitymatrix", noise=nm)(body)(x, w))
    tn = np.asarray(pq.qnode(wires=3, method="tensornet", noise=nm)(body)(x, w))
    np.testing.assert_allclose(tn, want, atol=1e-12)
    f = pq.qnode(wires=3, method="trajectories", noise=nm, trajectories=3000)(body)
    got = np.asarray(f(x, w))
    ex = f.compile([(2, 3)], 3).executor()
    _, se = ex.expval_stderr(f.compile([(2, 3)], 3).pack([w]), x)
    assert ex.method == "trajectories" and np.all(np.abs(got - want) <= 4 * se.T.reshape(got.shape))
    clean = np.asarray(pq.qnode(wires=3, method="tensornet")(body)(x, w))
    assert np.abs(clean - tn).max() > 1e-3


def _brickwork(n, layers=2):
    c = pq.Circuit(n)
    w = c.new_weights(layers, n)
    with c:
        for layer in range(layers):
            for i in range(n):
                pq.RY(w[layer, i], wires=i)
            for half in (0, 1):
                for i in range(half, n - 1, 2):
                    pq.CNOT(wires=[i, i + 1])
    return c


def test_auto_with_a_noise_model_on_a_wide_register_reaches_the_noisy_tensor_network():
    n, i = 1000, 501
    c = _brickwork(n)
    nm = pq.NoiseModel().add(pq.DepolarizingChannel, 0.02).add(pq.AmplitudeDamping, 0.03, gates="CNOT")
    obs = [pq.Z(i) @ pq.Z(i + 1)]
    assert choose_method(c, obs, options={"noise": nm}) == "tensornet"
    assert choose_method(c, obs, measurement="jacobian", options={"noise": nm}) == "tensornet"
    # pq.plan takes the model too: the cone holds the channels next to its gates.
    noisy_cone, clean_cone = pq.plan(c, obs, noise=nm).cones[0][0], pq.plan(c, obs).cones[0][0]
    assert len(noisy_cone) > 2 * len(clean_cone) > 0
    w = np.random.default_rng(3).uniform(-np.pi, np.pi, c.n_weights)
    got = pq.expval(c, obs[0], weights=w, noise=nm)
    # The cone of Z_i Z_i+1 (i odd) after two brickwork layers lies in wires [i - 3, i + 5): the same model on
    # that window alone (weights of the window's RY gates) gives the same value.
    lo, hi = i - 3, i + 5
    sub = pq.Circuit(hi - lo)
    sw = sub.new_weights(2, hi - lo)
    with sub:
        for layer in range(2):
            for j in range(lo, hi):
                pq.RY(sw[layer, j - lo], wires=j - lo)
            for half in (0, 1):
                for j in range(half, n - 1, 2):
                    if lo <= j and j + 1 < hi:
                        pq.CNOT(wires=[j - lo, j + 1 - lo])
    ws = w.reshape(2, n)[:, lo:hi].reshape(-1)
    want = pq.expval(sub, pq.Z(i - lo) @ pq.Z(i + 1 - lo), weights=ws, noise=nm, method="densitymatrix")
    assert abs(got - want) < 1e-10


def test_auto_with_a_noise_model_on_ten_to_twenty_wires_by_the_estimates():
    nm = pq.NoiseModel().add(pq.DepolarizingChannel, 0.01)
    for n, layers in [(8, 2), (12, 3), (16, 2)]:
        c = pq.Circuit(n)
        w = c.new_weights(layers, n, 3)
        with c:
            pq.StronglyEntanglingLayers(w, wires=range(n))
        obs = [sum((pq.X(k) for k in range(1, n)), pq.X(0))]  # every term's light cone spans the register
        for meas in ("expval", "jacobian"):
            est = estimates(c, obs, meas, "complex128", {"noise": nm}, methods=["densitymatrix", "trajectories"])
            feasible = {m: e.flops for m, e in est.items() if e.feasible}
            chosen = choose_method(c, obs, measurement=meas, options={"noise": nm})
            # The exact density matrix unless it is infeasible or over EXACT_PREFERENCE times the trajectories.
            dm_ok = ("densitymatrix" in feasible and "trajectories" in feasible
                     and feasible["densitymatrix"] <= EXACT_PREFERENCE * feasible["trajectories"])
            assert chosen == ("densitymatrix" if dm_ok else "trajectories"), (n, meas, chosen, feasible)
            assert chosen == ("densitymatrix" if n <= 12 else "trajectories")
    # A shallow circuit with local observables at 16 wires: the cones leave wires out, the network is planned
    # and wins by its estimate.
    c = _brickwork(16)
    assert choose_method(c, [pq.Z(3)], options={"noise": nm}) == "tensornet"


def test_noise_model_bad_input_and_refusals():
    c = _brickwork(3, 1)
    w = np.zeros(c.n_weights)
    nm = pq.NoiseModel().readout_error(0.1)
    with pytest.raises(TypeError, match="noise= takes a pyqml.NoiseModel"):
        pq.expval(c, pq.Z(0), weights=w, method="tensornet", noise=0.01)
    with pytest.raises(TypeError, match="noise= takes a pyqml.NoiseModel"):
        pq.expval(c, pq.Z(0), weights=w, method="trajectories", noise="depolarizing")
    with pytest.raises(ValueError, match="method 'statevector' does not take the option 'noise'"):
        pq.expval(c, pq.Z(0), weights=w, method="statevector", noise=nm)
    with pytest.raises(ValueError, match="method 'mps' does not take the option 'noise'"):
        pq.expval(c, pq.Z(0), weights=w, method="mps", noise=nm)
    # Where a method cannot apply a noise model, a named error (never the model dropped).
    with pytest.raises(ValueError, match="samples pure states only"):
        pq.sample(c, wires=[0], shots=10, weights=w, method="tensornet", noise=nm)
    with pytest.raises(ValueError, match="no amplitudes"):
        pq.amplitude(c, [0, 0, 0], weights=w, method="tensornet", noise=nm)
    with pytest.raises(ValueError, match="method 'trajectories' cannot compute probs"):
        pq.probs(c, [0], weights=w, method="trajectories", noise=nm)
    with pytest.raises(ValueError, match="readout error: p = 1.5 is outside"):
        pq.NoiseModel().readout_error(1.5)
    # The readout error alone: a bit flip before measuring, on the tensor network as on the density matrix.
    np.testing.assert_allclose(pq.expval(c, pq.Z(0), weights=w, method="tensornet", noise=nm), 0.8, atol=1e-14)
    np.testing.assert_allclose(pq.probs(c, [0], weights=w, method="tensornet", noise=nm), [0.9, 0.1], atol=1e-14)


def _global_depolarizing_kraus(p):
    """The 2-wire global depolarizing channel rho -> (1 - p) rho + p I/4: sqrt(1 - 15p/16) I and sqrt(p/16) P
    for the 15 other Pauli words."""
    P = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0])]
    return [np.sqrt((1 - 15 * p / 16) if a == b == 0 else p / 16) * np.kron(P[a], P[b])
            for a in range(4) for b in range(4)]


def test_global_depolarizing_scales_every_expectation_by_one_minus_p_per_layer():
    # rho -> (1 - p) rho + p I/4 after each of L layers (it commutes with the unitary layers: I/4 is fixed),
    # so every traceless observable is scaled by (1 - p)^L, on every noise method, through a noise model.
    p, layers = 0.08, 3
    c = pq.Circuit(2)
    w = c.new_weights(layers, 2)
    with c:
        for layer in range(layers):
            pq.RY(w[layer, 0], wires=0)
            pq.RX(w[layer, 1], wires=1)
            pq.CNOT(wires=[0, 1])
    nm = pq.NoiseModel().add(pq.QubitChannel, _global_depolarizing_kraus(p), gates="CNOT")
    wv = np.random.default_rng(5).uniform(-np.pi, np.pi, c.n_weights)
    obs = [pq.Z(0), pq.X(1), pq.Y(0) @ pq.Z(1), pq.Z(0) @ pq.Z(1)]
    clean_vals, clean_dw, _ = pq.jacobian(c, obs, weights=wv, method="statevector")
    scale = (1 - p) ** layers
    for method in ("densitymatrix", "tensornet"):
        vals, dw, _ = pq.jacobian(c, obs, weights=wv, method=method, noise=nm)
        np.testing.assert_allclose(vals, scale * clean_vals, atol=1e-12, rtol=0)
        np.testing.assert_allclose(dw, scale * clean_dw, atol=1e-12, rtol=0)
    v, se = pq.expval(c, obs, weights=wv, method="trajectories", noise=nm, trajectories=4000, seed=3,
                      return_stderr=True)
    assert np.all(np.abs(v - scale * clean_vals) <= 4 * se + 1e-12)  # + rounding where an expectation is 0


def test_amplitude_damping_relaxes_to_its_fixed_point_on_every_noise_method():
    # |1> then k gates, each followed by AmplitudeDamping(g) (a noise model): <Z> = 1 - 2 (1 - g)^k -> 1.
    g, k = 0.2, 12
    c = pq.Circuit(1)
    with c:
        pq.PauliX(wires=0)
        for _ in range(k - 1):
            pq.Identity(wires=0)
    nm = pq.NoiseModel().add(pq.AmplitudeDamping, g)
    want = 1 - 2 * (1 - g) ** k
    for method in ("densitymatrix", "tensornet"):
        np.testing.assert_allclose(pq.expval(c, pq.Z(0), method=method, noise=nm), want, atol=1e-13, rtol=0)
    v, se = pq.expval(c, pq.Z(0), method="trajectories", noise=nm, trajectories=4000, return_stderr=True)
    assert abs(v - want) <= 4 * se and se > 0


def test_noise_model_on_wires_out_of_range_and_memory_limits_refused_by_name():
    c = _brickwork(3, 1)
    w = np.zeros(c.n_weights)
    nm = pq.NoiseModel().add(pq.AmplitudeDamping, 0.1, wires=[5])
    for method in ("densitymatrix", "tensornet", "trajectories"):
        with pytest.raises(ValueError, match="AmplitudeDamping rule names wire 5, out of range for 3 wires"):
            pq.expval(c, pq.Z(0), weights=w, method=method, noise=nm)
    with pytest.raises(ValueError, match="'mps' does not simulate noise channels"):
        pq.expval(apply_noise(c, pq.NoiseModel().add(pq.BitFlip, 0.1)), pq.Z(0), weights=w, method="mps")
    big = pq.Circuit(34, [pq.Hadamard(wires=0)])
    old = pq.memory_limit()
    try:
        pq.set_memory_limit(1 << 30)
        with pytest.raises(pq.MemoryLimitError, match="trajectories: state vectors of 34 wires.*memory limit"):
            pq.expval(big, pq.Z(0), method="trajectories", trajectories=10,
                      noise=pq.NoiseModel().add(pq.BitFlip, 0.1))
    finally:
        pq.set_memory_limit(0)
    assert pq.memory_limit() == pytest.approx(old, rel=0.5)
