"""``python -m pyqml demo`` (or the ``pyqml`` console script): train the hybrid Iris classifier end to end.

The model: AngleEmbedding of the 4 standardised features, StronglyEntanglingLayers, <Z_i> on 4 wires, then a
dense layer to 3 logits and softmax cross-entropy; Adam on the whole training set each epoch (from the second
epoch on one engine call: the batched values, the dense layer and the loss, the batched VJP and the Adam step;
``HybridModel.fused_step``). Prints accuracy and time per epoch, times a peer (PennyLane)
on the same epoch when one is installed, and saves a training-curve PNG when matplotlib is installed.

``python -m pyqml demo --noise 0.01`` trains the same model under a depolarizing noise model
(``pq.NoiseModel().add(pq.DepolarizingChannel, 0.01)``: a depolarizing channel on each wire after every gate)
on the density-matrix method, with adjoint gradients through the channels.
"""
from __future__ import annotations

import argparse
import sys
import time

_T_START = time.perf_counter()


def _process_age() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere): start-up includes the interpreter
    and ``import pyqml``, which run before this module."""
    try:
        import os

        with open("/proc/self/stat") as fh:
            start_ticks = float(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


_AGE_AT_START = _process_age()


def iris_noise_model(p: float):
    """The noisy demo's model: DepolarizingChannel(p) on each wire after every gate (None for p = 0)."""
    import pyqml as pq

    p = float(p)
    if not 0.0 <= p <= 0.75:
        raise ValueError(f"--noise: the depolarizing probability must lie in [0, 3/4], got {p}")
    return None if p == 0.0 else pq.NoiseModel().add(pq.DepolarizingChannel, p)


def _iris_qnode(n_layers: int, noise=None):
    import pyqml as pq

    @pq.qnode(wires=4, **({} if noise is None else {"noise": noise}))
    def circuit(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(4))
        pq.StronglyEntanglingLayers(weights, wires=range(4))
        return [pq.expval(pq.Z(i)) for i in range(4)]

    return circuit


def build_iris_model(n_layers: int = 2, seed: int = 0, noise=None):
    """The demo's hybrid model: a 4-wire quantum layer (weights (n_layers, 4, 3)) then Dense(4, 3); with
    ``noise`` (a pyqml.NoiseModel) the quantum layer runs that noise model."""
    from .qml.models import Dense, HybridModel, QuantumLayer

    quantum = QuantumLayer(_iris_qnode(n_layers, noise), {"weights": (n_layers, 4, 3)}, rng=seed)
    quantum.input_grad = False  # the first layer: nothing reads its input gradient
    return HybridModel([quantum, Dense(4, 3, rng=seed)])


def iris_split(test_fraction: float = 0.2, seed: int = 0):
    """Standardised, stratified Iris train/test split (statistics from the training rows)."""
    from .qml.datasets import load_iris, standardize, train_test_split

    X, y = load_iris()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_fraction, seed=seed)
    Xtr, mean, std = standardize(Xtr)
    Xte, _, _ = standardize(Xte, mean, std)
    return Xtr, Xte, ytr, yte


def _epoch_time_full(n_layers: int, repeats: int = 50, noise=None) -> float:
    """Median seconds for one 150-row epoch (values, gradients, Adam step) on the whole Iris set."""
    import numpy as np

    from .qml.datasets import load_iris, standardize
    from .qml.optimizers import AdamOptimizer

    X, y = load_iris()
    X, _, _ = standardize(X)
    model = build_iris_model(n_layers, noise=noise)
    opt = AdamOptimizer(0.05)
    model.train_step(X, y, opt)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.train_step(X, y, opt)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _peer_epoch_time(n_layers: int, X, y, max_seconds: float = 20.0):
    """Seconds per epoch of the same model in PennyLane (default.qubit, autograd), or None if absent."""
    try:
        import pennylane as qml
        from pennylane import numpy as pnp
    except Exception:  # noqa: BLE001 - any import failure means no peer
        return None, None
    dev = qml.device("default.qubit", wires=4)

    @qml.qnode(dev)
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(4))
        qml.StronglyEntanglingLayers(weights, wires=range(4))
        return [qml.expval(qml.PauliZ(i)) for i in range(4)]

    Xb = pnp.array(X, requires_grad=False)  # (rows, 4): PennyLane broadcasts the batch through the gates
    onehot = pnp.array(__import__("numpy").eye(3)[y], requires_grad=False)

    def cost(w, Wd, b):
        q = pnp.stack(circuit(Xb, w), axis=1)
        z = q @ Wd + b
        z = z - pnp.max(z, axis=1, keepdims=True)
        logp = z - pnp.log(pnp.sum(pnp.exp(z), axis=1, keepdims=True))
        return -pnp.mean(pnp.sum(onehot * logp, axis=1))

    rng = __import__("numpy").random.default_rng(0)
    w = pnp.array(rng.uniform(0, 6.28, (n_layers, 4, 3)), requires_grad=True)
    Wd = pnp.array(rng.uniform(-0.8, 0.8, (4, 3)), requires_grad=True)
    b = pnp.zeros(3, requires_grad=True)
    opt = qml.AdamOptimizer(0.05)
    times = []
    t_all = time.perf_counter()
    while len(times) < 5 and time.perf_counter() - t_all < max_seconds:
        t0 = time.perf_counter()
        w, Wd, b = opt.step(cost, w, Wd, b)
        times.append(time.perf_counter() - t0)
    return f"PennyLane {qml.__version__} default.qubit (autograd, broadcast)", min(times)


def _plot(history, path: str, acc_train: float, acc_test: float, noise: float = 0.0) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(1, len(history["loss"]) + 1), history["loss"], lw=2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(f"pyqml hybrid Iris classifier{f' (depolarizing p={noise:g})' if noise else ''}\n"
                 f"train acc {acc_train:.3f}, test acc {acc_test:.3f}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def demo(epochs: int = 100, n_layers: int = 2, stepsize: float = 0.1, seed: int = 0, plot: str | None = None,
         progress: bool = True, peers: bool = True, noise: float = 0.0) -> dict:
    """Train the hybrid Iris classifier and report; returns the numbers printed. ``noise`` > 0 trains under
    a depolarizing noise model of that strength (:func:`iris_noise_model`) on the density-matrix method."""
    t_import = time.perf_counter()
    import numpy as np

    from .qml.optimizers import AdamOptimizer

    nm = iris_noise_model(noise)
    Xtr, Xte, ytr, yte = iris_split(seed=seed)
    model = build_iris_model(n_layers, seed, nm)
    t_built = time.perf_counter()
    show_bar = progress
    if progress:
        try:
            import tqdm  # noqa: F401
        except ImportError:
            print("(tqdm not installed: no progress bar; pip install 'pyqml[demo]')")
            show_bar = False
    t0 = time.perf_counter()
    history = model.fit(Xtr, ytr, epochs=epochs, optimizer=AdamOptimizer(stepsize), progress=show_bar)
    t_train = time.perf_counter() - t0
    acc_train, acc_test = model.accuracy(Xtr, ytr), model.accuracy(Xte, yte)
    before = _AGE_AT_START or 0.0  # interpreter start-up and `import pyqml`, before this module ran
    total = time.perf_counter() - _T_START + before
    per_epoch = float(np.median(history["epoch_time"]))
    mean_epoch = float(np.mean(history["epoch_time"][1:] or history["epoch_time"]))  # after the first (tracing)
    full_epoch = _epoch_time_full(n_layers, repeats=50 if nm is None else 5, noise=nm)
    out = {"train_accuracy": acc_train, "test_accuracy": acc_test, "epochs": epochs,
           "time_per_epoch_s": per_epoch, "mean_epoch_s": mean_epoch, "epoch_150_rows_s": full_epoch,
           "training_s": t_train,
           "startup_s": t_built - _T_START + before, "total_s": total, "final_loss": history["loss"][-1],
           "noise": float(noise)}
    print(f"hybrid Iris classifier: AngleEmbedding + StronglyEntanglingLayers({n_layers}) on 4 wires -> Dense(4, 3)")
    if nm is not None:
        print(f"  noise: DepolarizingChannel({noise:g}) on each wire after every gate, method "
              f"{model.net.layers[0].compiled(4).executor().method!r} (adjoint gradients "
              f"through the channels)")
    print(f"  rows: {len(ytr)} train / {len(yte)} test, {epochs} epochs of Adam(stepsize={stepsize})")
    print(f"  final loss {history['loss'][-1]:.4f}; accuracy: train {acc_train:.3f}, test {acc_test:.3f}")
    print(f"  time per epoch (values + gradients + step): median {per_epoch * 1e3:.3f} ms "
          f"(mean {mean_epoch * 1e3:.3f} ms) on {len(ytr)} rows; median {full_epoch * 1e3:.3f} ms on all 150 rows")
    print(f"  start-up {1e3 * out['startup_s']:.0f} ms (interpreter + import pyqml {1e3 * before:.0f} ms, "
          f"data + model {1e3 * (t_built - t_import):.0f} ms), training {1e3 * t_train:.0f} ms, "
          f"total {1e3 * total:.0f} ms")
    if peers and nm is not None:
        print("  peers: not timed with noise (the PennyLane peer is the noiseless default.qubit; "
              "bench/densitymatrix_bench.py times default.mixed)")
    elif peers:
        name, t_peer = _peer_epoch_time(n_layers, Xtr, ytr)
        if name is None:
            print("  peers: none installed (pip install pennylane to compare)")
        else:
            print(f"  peer: {name}: {t_peer * 1e3:.1f} ms per epoch ({t_peer / per_epoch:.0f}x pyqml)")
            out["peer"], out["peer_epoch_s"] = name, t_peer
    if plot:
        saved = _plot(history, plot, acc_train, acc_test, noise)
        if saved:
            print(f"  training curve saved to {saved}")
        else:
            print("  matplotlib not installed: training curve not plotted (pip install 'pyqml[demo]')")
        out["plot"] = saved
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pyqml", description="pyqml: quantum machine learning on a C++ simulator")
    sub = parser.add_subparsers(dest="command")
    d = sub.add_parser("demo", help="train the hybrid Iris classifier end to end")
    d.add_argument("--epochs", type=int, default=100)
    d.add_argument("--layers", type=int, default=2, help="StronglyEntanglingLayers depth")
    d.add_argument("--stepsize", type=float, default=0.1)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--plot", default="pyqml_demo_training.png", help="PNG path for the training curve")
    d.add_argument("--no-plot", action="store_true")
    d.add_argument("--no-progress", action="store_true")
    d.add_argument("--no-peers", action="store_true", help="do not time PennyLane even if installed")
    d.add_argument("--noise", type=float, default=0.0, metavar="P",
                   help="train under DepolarizingChannel(P) on each wire after every gate (density matrix)")
    args = parser.parse_args(argv)
    if args.command != "demo":
        parser.print_help()
        return 0 if args.command is None else 2
    if args.epochs < 1 or args.layers < 1:
        parser.error("--epochs and --layers must be positive")
    if not 0.0 <= args.noise <= 0.75:
        parser.error(f"--noise must lie in [0, 0.75] (a depolarizing probability), got {args.noise}")
    demo(epochs=args.epochs, n_layers=args.layers, stepsize=args.stepsize, seed=args.seed,
         plot=None if args.no_plot else args.plot, progress=not args.no_progress, peers=not args.no_peers,
         noise=args.noise)
    return 0


if __name__ == "__main__":
    sys.exit(main())
