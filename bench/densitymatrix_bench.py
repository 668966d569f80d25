"""Density-matrix bench: the noisy seed QNN (DepolarizingChannel(0.01) after every RX and Rot on its wire
and on both wires of every CNOT; 150 Iris rows, values + Jacobian) and the density-matrix gradient of
StronglyEntanglingLayers L = 4 with depolarizing noise at 10-12 qubits. PennyLane default.mixed (backprop,
autograd) runs in the same process when PennyLane is installed. Writes bench/results/densitymatrix.json.

    python bench/densitymatrix_bench.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import pyqml as pq


def best_of(f, repeat=3):
    f()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


def iris():
    X, _ = pq.datasets.load_iris() if hasattr(pq, "datasets") else __import__(
        "pyqml.qml.datasets", fromlist=["load_iris"]).load_iris()
    return (X - X.mean(0)) / X.std(0)


def noisy_qnn(n, layers, p=0.01, embed=True):
    nm = pq.NoiseModel().add(pq.DepolarizingChannel, p, gates=["RX", "Rot", "CNOT"])

    @pq.qnode(wires=n, noise=nm)
    def f(inputs, weights):
        if embed:
            pq.AngleEmbedding(inputs, wires=range(n))
        pq.StronglyEntanglingLayers(weights, wires=range(n))
        return [pq.expval(pq.Z(i)) for i in range(n)]

    return f


def pennylane_qnn(n, p=0.01, embed=True):
    import pennylane as qml

    dev = qml.device("default.mixed", wires=n)

    @qml.qnode(dev, diff_method="backprop")
    def f(x, w):
        if embed:
            for j in range(n):
                qml.RX(x[j], wires=j)
                qml.DepolarizingChannel(p, wires=j)
        for layer in range(w.shape[0]):
            r = layer % (n - 1) + 1
            for i in range(n):
                qml.Rot(*w[layer, i], wires=i)
                qml.DepolarizingChannel(p, wires=i)
            for i in range(n):
                qml.CNOT(wires=[i, (i + r) % n])
                qml.DepolarizingChannel(p, wires=i)
                qml.DepolarizingChannel(p, wires=(i + r) % n)
        return [qml.expval(qml.PauliZ(i)) for i in range(n)]

    return f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    out = {"threads": pq.get_num_threads(), "rows": []}
    X = iris()
    W = np.random.default_rng(0).uniform(0, 2 * np.pi, (2, 4, 3))
    f = noisy_qnn(4, 2)
    t = best_of(lambda: f.jacobian(X, W))
    out["rows"].append({"case": "noisy seed QNN, 150 rows, values + Jacobian", "peer": "pyqml densitymatrix",
                        "seconds": t})
    print(f"pyqml noisy seed QNN jacobian (150 rows): {t * 1e3:.2f} ms")
    try:
        import pennylane as qml
        from pennylane import numpy as pnp

        g = pennylane_qnn(4)
        Wp = pnp.array(W, requires_grad=True)
        rows = 5 if args.quick else 15

        def pl_jac():
            for x in X[:rows]:
                qml.jacobian(g, argnum=1)(pnp.array(x, requires_grad=False), Wp)

        tp = best_of(pl_jac, repeat=1) * 150 / rows
        out["rows"].append({"case": "noisy seed QNN, 150 rows, values + Jacobian",
                            "peer": f"PennyLane {qml.__version__} default.mixed backprop (autograd), "
                                    f"extrapolated from {rows} rows", "seconds": tp})
        print(f"PennyLane default.mixed (autograd, x150/{rows}): {tp * 1e3:.1f} ms  ratio {tp / t:.0f}x")
    except ImportError:
        print("PennyLane not installed: no default.mixed row")
    for n in ([10] if args.quick else [10, 11, 12]):
        Wn = np.random.default_rng(0).uniform(0, 2 * np.pi, (4, n, 3))
        fn = noisy_qnn(n, 4, embed=False)
        x0 = np.zeros((1, n))
        tn = best_of(lambda fn=fn, x0=x0, Wn=Wn: fn.jacobian(x0, Wn), repeat=1)
        out["rows"].append({"case": f"SEL L=4 n={n} depolarizing 0.01, one row, values + gradient (n_obs={n})",
                            "peer": "pyqml densitymatrix", "seconds": tn})
        print(f"pyqml DM gradient n={n}: {tn:.3f} s")
    Path(__file__).parent.joinpath("results").mkdir(exist_ok=True)
    Path(__file__).parent.joinpath("results", "densitymatrix.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
