"""The README's usage listing runs as printed, from the clone's root."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_usage_listing_runs(monkeypatch):
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the tests")
    text = readme.read_text()
    section = text[text.index("## Using it"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["vals"].shape == (2,) and scope["d_weights"].shape == (2, scope["c"].n_weights)


def test_readme_qiskit_listing_trains(monkeypatch):
    """The "Coming from Qiskit Machine Learning" listing runs as printed and its loss goes down."""
    pytest.importorskip("qiskit_machine_learning")
    pytest.importorskip("torch")
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the tests")
    text = readme.read_text()
    section = text[text.index("## Coming from Qiskit Machine Learning"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    losses = scope["losses"]
    assert len(losses) == 20 and losses[-1] < 0.8 * losses[0]

def test_readme_finite_shots_listing_runs(monkeypatch):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text[text.index("## Finite shots"):], re.S).group(1)
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    pq, c, w, est = scope["pq"], scope["c"], scope["w"], scope["est"]
    exact = pq.expval(c, pq.Z(0) @ pq.Z(1), weights=w)
    assert 0 < est.stderr < 0.02 and abs(est.values - exact) < 4 * est.stderr

def test_readme_coming_from_pennylane_listing_trains(monkeypatch, capsys):
    """The listing trains with plain numpy: its parameters follow gradient descent on the closed form
    <Z_1> = cos(x0) cos(x1) cos(p0) cos(p1) to 1e-10."""
    import numpy as np

    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the tests")
    text = readme.read_text()
    section = text[text.index("## Coming from PennyLane"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    X, Y = scope["X"], scope["Y"]
    np.random.seed(0)
    np.random.uniform(0, np.pi, (20, 2))
    p = np.random.rand(2)
    a = np.cos(X[:, 0]) * np.cos(X[:, 1])
    costs = []
    for _ in range(100):
        r = a * np.cos(p[0]) * np.cos(p[1]) - Y
        costs.append(np.mean(r ** 2))
        g = np.array([np.mean(2 * r * a * -np.sin(p[0]) * np.cos(p[1])),
                      np.mean(2 * r * a * np.cos(p[0]) * -np.sin(p[1]))])
        p = p - 0.1 * g
    np.testing.assert_allclose(scope["params"], p, atol=1e-10, rtol=0)
    assert abs(scope["c"] - costs[-1]) < 1e-10 and costs[-1] < 0.2 * costs[0]
    np.testing.assert_allclose(scope["circuit"](scope["params"], X), a * np.cos(p[0]) * np.cos(p[1]), atol=1e-10)
    assert "step 100" in capsys.readouterr().out


def test_readme_noise_listing_runs(monkeypatch):
    """The "Noise" listing runs as printed: the 300-wire value against the density matrix of the same model
    on the window [146, 156) that holds the cone of Z_150 Z_151, the trajectories within 4 standard errors of
    the density matrix."""
    import numpy as np

    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text[text.index("## Noise"):], re.S).group(1)
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    pq, nm, c = scope["pq"], scope["nm"], scope["c"]
    assert np.asarray(scope["vals"]).size == 32 and np.all(np.abs(scope["vals"]) <= 1)
    assert scope["d_w"].shape == (c.n_weights,) and np.count_nonzero(scope["d_w"]) > 0
    lo, hi = 146, 156
    sub = pq.Circuit(hi - lo)
    sw = sub.new_weights(2, hi - lo)
    with sub:
        for layer in range(2):
            for i in range(lo, hi):
                pq.RY(sw[layer, i - lo], wires=i - lo)
            for half in (0, 1):
                for i in range(half, 299, 2):
                    if lo <= i and i + 1 < hi:
                        pq.CNOT(wires=[i - lo, i + 1 - lo])
    want = pq.expval(sub, pq.Z(150 - lo) @ pq.Z(151 - lo), weights=np.full(sub.n_weights, 0.3), noise=nm,
                     method="densitymatrix")
    assert abs(scope["e"] - want) < 1e-10
    exact = pq.expval(scope["ghz"], pq.Z(0) @ pq.Z(7), noise=nm, method="densitymatrix")
    assert 0 < scope["se"] < 0.05 and abs(scope["t"] - exact) <= 4 * scope["se"]
