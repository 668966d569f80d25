"""The hybrid Iris classifier trained under depolarizing noise of several strengths: test accuracy and final
loss against the depolarizing probability p, plotted to docs/noisy_iris_accuracy.png (when matplotlib is
installed).

The model is the demo's (``python -m pyqml demo``): AngleEmbedding of the 4 standardised features,
StronglyEntanglingLayers, <Z_i> on 4 wires, then Dense(4, 3) and softmax cross-entropy, trained with Adam.
The noise model puts DepolarizingChannel(p) on each wire after every gate; on 4 wires ``method="auto"`` runs
it on the density matrix, with adjoint gradients through the channels (one forward and one backward sweep of
density matrices per batch, whatever the number of weights).

    python examples/noisy_iris.py [--epochs 60] [--ps 0 0.005 0.01 0.02 0.05 0.1] [--out docs/noisy_iris_accuracy.png]
"""
from __future__ import annotations

import argparse
import time

from pyqml.datasets import load_iris, standardize, train_test_split
from pyqml.models import Dense, HybridModel, QuantumLayer

import pyqml as pq

PS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)


def noise_model(p: float):
    """DepolarizingChannel(p) on each wire after every gate; None for p = 0 (the noiseless model)."""
    return None if p == 0 else pq.NoiseModel().add(pq.DepolarizingChannel, float(p))


def make_qnode(p: float, n_wires: int = 4):
    nm = noise_model(p)

    @pq.qnode(wires=n_wires, **({} if nm is None else {"noise": nm}))
    def features(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(n_wires))
        pq.StronglyEntanglingLayers(weights, wires=range(n_wires))
        return [pq.expval(pq.Z(i)) for i in range(n_wires)]

    return features


def iris_split(seed: int = 0):
    X, y = load_iris()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_fraction=0.2, seed=seed)
    Xtr, mean, std = standardize(Xtr)
    Xte, _, _ = standardize(Xte, mean, std)
    return Xtr, Xte, ytr, yte


def train(p: float, epochs: int = 60, n_layers: int = 2, seed: int = 0, stepsize: float = 0.1, data=None) -> dict:
    """Train the hybrid classifier at depolarizing strength ``p``; returns test accuracy, final loss, the
    model and the seconds it took. ``data`` = (Xtr, Xte, ytr, yte) (default: the Iris split)."""
    Xtr, Xte, ytr, yte = iris_split(seed) if data is None else data
    n_wires = Xtr.shape[1]
    model = HybridModel([QuantumLayer(make_qnode(p, n_wires), {"weights": (n_layers, n_wires, 3)}, rng=seed),
                         Dense(n_wires, 3, rng=seed)])
    t0 = time.perf_counter()
    history = model.fit(Xtr, ytr, epochs=epochs, optimizer=pq.AdamOptimizer(stepsize=stepsize))
    seconds = time.perf_counter() - t0
    return {"p": float(p), "test_accuracy": model.accuracy(Xte, yte), "train_accuracy": model.accuracy(Xtr, ytr),
            "final_loss": float(history["loss"][-1]), "seconds": seconds, "model": model}


def plot(results: list[dict], path: str) -> str | None:
    """Test accuracy and final loss against p; None (and nothing written) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    ps = [r["p"] for r in results]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ps, [r["test_accuracy"] for r in results], "o-", lw=2, color="C0", label="test accuracy")
    ax.set_xlabel("depolarizing probability p (after every gate, on each wire)")
    ax.set_ylabel("test accuracy", color="C0")
    ax.set_ylim(0, 1.05)
    ax2 = ax.twinx()
    ax2.plot(ps, [r["final_loss"] for r in results], "s--", lw=1.5, color="C3", label="final training loss")
    ax2.set_ylabel("final cross-entropy loss", color="C3")
    ax.set_title("pyqml hybrid Iris classifier under depolarizing noise (density matrix)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ps", type=float, nargs="+", default=list(PS))
    ap.add_argument("--out", default="docs/noisy_iris_accuracy.png")
    args = ap.parse_args(argv)
    data = iris_split(args.seed)
    results = []
    print(f"hybrid Iris classifier, {args.epochs} epochs of Adam, StronglyEntanglingLayers({args.layers}) on 4 wires")
    for p in args.ps:
        r = train(p, args.epochs, args.layers, args.seed, data=data)
        results.append(r)
        print(f"  p = {p:<6g} test accuracy {r['test_accuracy']:.3f}  train accuracy {r['train_accuracy']:.3f}  "
              f"final loss {r['final_loss']:.4f}  ({r['seconds']:.2f} s)")
    saved = plot(results, args.out)
    print(f"plot saved to {saved}" if saved else "matplotlib not installed: no plot (pip install matplotlib)")
    return results


if __name__ == "__main__":
    main()
