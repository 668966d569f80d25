"""What a new user meets first: the package imported from a clone's source folder, pq.plan on a qnode, the
planning budget, and the demo's progress bar ending on the loss it prints."""
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pyqml as pq

PKG = pathlib.Path(pq.__file__).parent


def _source_copy(tmp_path) -> pathlib.Path:
    """The package's Python files without the compiled engine, as in a fresh clone."""
    dst = tmp_path / "clone" / "pyqml"
    shutil.copytree(PKG, dst, ignore=shutil.ignore_patterns("_core*", "__pycache__"))
    return dst.parent


def test_source_folder_takes_the_installed_engine(tmp_path):
    clone = _source_copy(tmp_path)
    code = ("import pyqml as pq, numpy as np; c = pq.Circuit(1, [pq.RX(0.3, wires=0)]);"
            "print(pyqml_file := pq.__file__); print(float(pq.expval(c, pq.Z(0))))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p) and
                                        os.path.normcase(os.path.abspath(p)) != os.path.normcase(str(clone)))
    out = subprocess.run([sys.executable, "-c", code], cwd=clone, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert abs(float(out.stdout.split()[-1]) - np.cos(0.3)) < 1e-12


def test_source_folder_without_any_engine_says_what_to_run(tmp_path):
    clone = _source_copy(tmp_path)
    # -S: no site-packages, so no installed copy of the engine can be found.
    out = subprocess.run([sys.executable, "-S", "-c", "import pyqml"], cwd=clone, capture_output=True, text=True)
    assert out.returncode != 0
    assert "compiled engine (pyqml._core) is not built" in out.stderr
    assert "pip install ." in out.stderr
    assert "circular import" not in out.stderr


def test_plan_accepts_a_qnode_with_its_arguments():
    @pq.qnode(wires=30, method="tensornet")
    def f(inputs, weights):
        for w in range(30):
            pq.RY(inputs[w % 2], wires=w)
            pq.RX(weights[w], wires=w)
        for w in range(29):
            pq.CNOT(wires=[w, w + 1])
        return [pq.expval(pq.Z(5)), pq.expval(pq.Z(20) @ pq.Z(21))]

    X, W = np.array([0.1, 0.2]), np.linspace(0, 1, 30)
    p = pq.plan(f, X, W)
    c = f.circuit(X, W)
    q = pq.plan(c, [pq.Z(5), pq.Z(20) @ pq.Z(21)])
    assert (p.n_terms, p.width, p.flops) == (q.n_terms, q.width, q.flops)
    assert pq.plan(f, inputs=X, weights=W).flops == q.flops


def test_plan_honours_a_time_budget_and_shows_progress(capsys):
    n = 40
    c = pq.Circuit(n, [pq.RY(0.1 * w, wires=w) for w in range(n)] +
                   [pq.CNOT(wires=[w, w + 1]) for w in range(n - 1)] + [pq.RX(0.2, wires=w) for w in range(n)])
    obs = [pq.Z(w) @ pq.X(w + 1) for w in range(n - 1)]
    pq.tensornet.clear_plan_cache()
    with pytest.raises(TimeoutError, match=r"planning stopped after .* structures planned"):
        pq.plan(c, obs, max_time=0.0)
    p = pq.plan(c, obs, progress=True)
    assert p.n_structures > 1
    assert "planning" in capsys.readouterr().err


def test_demo_progress_bar_ends_on_the_printed_loss(capsys):
    pytest.importorskip("tqdm")
    from pyqml.__main__ import demo

    out = demo(epochs=13, plot=None, progress=True, peers=False)
    err = capsys.readouterr()
    final = f"{out['final_loss']:.4f}"
    assert f"final loss {final}" in err.out
    assert f"loss={final}" in err.err.replace("\r", "\n").strip().splitlines()[-1]
