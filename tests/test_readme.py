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
