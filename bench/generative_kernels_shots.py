"""Generative models, projected kernels and finite shots, with PennyLane peers when installed, in one run.

    python bench/generative_kernels_shots.py [--quick]

1. QCBM training step (MMD loss and its exact gradient, 9 qubits, 6 strongly entangling layers, 1000 data
   samples): pyqml's two exact routes (Walsh-basis adjoint VJP, batched shift-rule probabilities) against
   PennyLane default.qubit (probs + autograd backprop through the same loss).
2. Projected quantum kernel Gram matrix, 200 rows: n = 20 (pyqml tensor network, pyqml state vector,
   PennyLane default.qubit with a broadcast batch, lightning.qubit per row) and n = 200 (pyqml tensor network).
3. Finite-shot expectation of a 20-term Hamiltonian at 10^4 shots on 16 qubits: pyqml (grouped, state vector)
   against lightning.qubit and default.qubit with shots=10000.

Each measurement: one untimed warm-up, then the median of the timed repeats. Writes
bench/results/generative_kernels_shots.{json,md}.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, os.path.dirname(HERE))

from pyqml.generative import QCBM, MMDLoss, bars_and_stripes  # noqa: E402
from pyqml.kernels import ProjectedQuantumKernel  # noqa: E402

import pyqml as pq  # noqa: E402


def measure(f, repeats: int, budget_s: float = 20.0, label: str = "") -> dict:
    t0 = time.perf_counter()
    f()
    print(f"  warm-up {label} {time.perf_counter() - t0:.3f} s", flush=True)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
        if sum(times) > budget_s:
            break
    return {"median_s": float(np.median(times)), "repeats": len(times)}


def _pennylane():
    try:
        import pennylane as qml
        return qml
    except ImportError:
        return None


# --- 1. QCBM step ---
def qcbm_step(repeats):
    rng = np.random.default_rng(0)
    bas = bars_and_stripes(3, 3)
    data = bas[rng.integers(0, len(bas), 1000)]
    m = QCBM(9, n_layers=6, loss="mmd", metric="hamming", bandwidths=(0.25, 0.5, 1.0), random_state=0)
    m.set_target(data)
    out = [{"workload": "qcbm_step", "sim": "pyqml walsh-adjoint", **measure(lambda: m.value_and_grad(), repeats)}]

    def shift():
        p, dp = m.probability_jacobian()
        return m._dloss_dp(p) @ dp

    out.append({"workload": "qcbm_step", "sim": "pyqml shift-rule probs", **measure(shift, repeats)})
    qml = _pennylane()
    if qml is not None:
        from pennylane import numpy as pnp

        dev = qml.device("default.qubit", wires=9)
        K = MMDLoss(9, (0.25, 0.5, 1.0), "hamming").matrix
        target = m.target_

        @qml.qnode(dev, diff_method="backprop")
        def probs(w):
            qml.StronglyEntanglingLayers(w, wires=range(9))
            return qml.probs(wires=range(9))

        def loss(w):
            d = probs(w) - target
            return d @ K @ d

        w = pnp.array(m.weights_.reshape(6, 9, 3), requires_grad=True)
        g = qml.grad(loss)
        ours = m.value_and_grad()[1].reshape(6, 9, 3)
        assert np.allclose(g(w), ours, atol=1e-8), "PennyLane and pyqml gradients differ"
        out.append({"workload": "qcbm_step", "sim": "pennylane default.qubit backprop",
                    **measure(lambda: g(w), max(1, repeats // 3))})
    return out


# --- 2. projected kernel ---
def projected_kernel(repeats, quick):
    rng = np.random.default_rng(1)
    X = rng.uniform(0, np.pi, size=(200, 20))
    out = []
    for n in (20, 200):
        k = ProjectedQuantumKernel(n_qubits=n, reps=2, method="tensornet")
        out.append({"workload": f"projected_kernel_n{n}", "sim": "pyqml tensornet",
                    **measure(lambda k=k: k(X), repeats)})
    # The state-vector reference on 10 of the 200 rows, scaled to 200 (2^20 amplitudes per row).
    sv = ProjectedQuantumKernel(n_qubits=20, reps=2, method="statevector")
    Xv = X[:10]
    ref_tn = ProjectedQuantumKernel(n_qubits=20, reps=2, method="tensornet").bloch_vectors(Xv)
    assert np.max(np.abs(sv.bloch_vectors(Xv) - ref_tn)) < 1e-10
    r = measure(lambda: sv.bloch_vectors(Xv), 1, 30.0)
    r["median_s"] *= len(X) / len(Xv)
    out.append({"workload": "projected_kernel_n20", "sim": "pyqml statevector (10 rows x 20)", **r})
    qml = _pennylane()
    if qml is not None and not quick:
        dev = qml.device("default.qubit", wires=20)

        @qml.qnode(dev)
        def local(x):
            for _ in range(2):
                for i in range(20):
                    qml.RY(x[..., i], wires=i)
                for start in (0, 1):
                    for i in range(start, 19, 2):
                        qml.CZ(wires=[i, i + 1])
                for i in range(20):
                    qml.RZ(x[..., i], wires=i)
            return [qml.expval(P(i)) for i in range(20) for P in (qml.PauliX, qml.PauliY, qml.PauliZ)]

        Xs = X[:2]  # 2 of the 200 rows, scaled up (per-row cost)
        a = np.stack(local(Xs), axis=-1).reshape(len(Xs), 20, 3)
        assert np.max(np.abs(a - ProjectedQuantumKernel(n_qubits=20, reps=2).bloch_vectors(Xs))) < 1e-8
        r = measure(lambda: local(Xs), 1, 60.0)
        r["median_s"] *= len(X) / len(Xs)
        out.append({"workload": "projected_kernel_n20", "sim": "pennylane default.qubit broadcast (2 rows x 100)",
                    **r})
    return out


# --- 3. finite shots ---
def hamiltonian(n=16, terms=20, seed=3):
    rng = np.random.default_rng(seed)
    H = 0
    words = []
    for _ in range(terms):
        k = int(rng.integers(1, 4))
        wires = sorted(rng.choice(n, size=k, replace=False).tolist())
        letters = rng.choice(list("XYZ"), size=k).tolist()
        words.append((float(rng.normal()), wires, letters))
        H = H + words[-1][0] * pq.Observable({tuple(zip(wires, letters)): 1.0})
    return H, words


def finite_shots(repeats):
    n = 16
    H, words = hamiltonian(n)
    c = pq.Circuit(n)
    w = c.new_weights(2, n)
    with c:
        for layer in range(2):
            for i in range(n):
                pq.RY(w[layer, i], wires=i)
            for i in range(n - 1):
                pq.CNOT(wires=[i, i + 1])
    W = np.random.default_rng(4).uniform(0, np.pi, 2 * n)
    seeds = iter(range(10**6))
    exact = pq.expval(c, H, weights=W)
    est = pq.shot_estimate(c, H, shots=10**4, seed=0, weights=W)
    from pyqml.frontend.shots import qwc_groups

    groups = len(qwc_groups([H])[0])
    out = [{"workload": "shots_16q_20terms", "sim": f"pyqml statevector ({groups} groups)",
            "exact": float(exact), "estimate": float(est.values), "stderr": float(est.stderr),
            **measure(lambda: pq.expval(c, H, weights=W, shots=10**4, seed=next(seeds)), repeats)}]
    qml = _pennylane()
    if qml is not None:
        obs = []
        for coef, ws, ls in words:
            o = None
            for wi, li in zip(ws, ls):
                p = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}[li](wi)
                o = p if o is None else o @ p
            obs.append((coef, o))
        Hq = qml.Hamiltonian([a for a, _ in obs], [o for _, o in obs])
        for name in ("lightning.qubit", "default.qubit"):
            dev = qml.device(name, wires=n)

            @qml.set_shots(10**4)
            @qml.qnode(dev)
            def f(wts, dev=dev):
                for layer in range(2):
                    for i in range(n):
                        qml.RY(wts[layer * n + i], wires=i)
                    for i in range(n - 1):
                        qml.CNOT(wires=[i, i + 1])
                return qml.expval(Hq)

            val = float(f(W))
            out.append({"workload": "shots_16q_20terms", "sim": f"pennylane {name}", "estimate": val,
                        **measure(lambda f=f: f(W), max(1, repeats // 2))})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeats = 3 if args.quick else 7
    records = qcbm_step(repeats) + projected_kernel(repeats, args.quick) + finite_shots(repeats)
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
            "cpus": os.cpu_count(), "pyqml_threads": pq.get_num_threads(),
            "note": "shared 2-core machine loaded by parallel builds; compare rows of the same run only"}
    try:
        import pennylane
        meta["pennylane"] = pennylane.__version__
    except ImportError:
        meta["pennylane"] = None
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "generative_kernels_shots.json"), "w") as fh:
        json.dump({"meta": meta, "records": records}, fh, indent=1)
    lines = [f"# Generative, projected kernels, finite shots ({meta['date']})", "", meta["note"], "",
             "| workload | simulator | median s | vs pyqml best |", "|---|---|---|---|"]
    best = {}
    for r in records:
        if r["sim"].startswith("pyqml"):
            best[r["workload"]] = min(best.get(r["workload"], np.inf), r["median_s"])
    for r in records:
        extra = f" (estimate {r['estimate']:.4f})" if "estimate" in r else ""
        lines.append(f"| {r['workload']} | {r['sim']}{extra} | {r['median_s']:.4g} | "
                     f"{r['median_s'] / best[r['workload']]:.1f}x |")
    if "exact" in records[-1 if False else 0] or any("exact" in r for r in records):
        r = next(r for r in records if "exact" in r)
        lines += ["", f"16-qubit Hamiltonian: exact {r['exact']:.5f}, pyqml 10^4-shot estimate {r['estimate']:.5f} "
                      f"+- {r['stderr']:.5f}"]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(RESULTS, "generative_kernels_shots.md"), "w") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
