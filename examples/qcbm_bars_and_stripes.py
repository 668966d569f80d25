"""Quantum circuit Born machines (Liu & Wang, arXiv:1804.04168) trained with the MMD loss and exact gradients:

1. bars-and-stripes 3x3: 14 valid images of 9 pixels, one qubit per pixel (Hamming-distance kernel);
2. a two-peak Gaussian mixture on [0, 1] discretised to 2^6 bins (integer-distance kernel, the paper's).

Plots the learned against the target distribution and the MMD / exact KL curves of both (one png).

    python examples/qcbm_bars_and_stripes.py
"""
from __future__ import annotations

import time

import numpy as np
from pyqml.generative import QCBM, bars_and_stripes, bits_to_int, discretized_gaussian_mixture


def train_bars_and_stripes(n_layers: int = 6, epochs: int = 300, n_samples: int = 1000, seed: int = 0):
    bas = bars_and_stripes(3, 3)
    rng = np.random.default_rng(seed)
    data = bas[rng.integers(0, len(bas), n_samples)]
    model = QCBM(9, n_layers=n_layers, loss="mmd", metric="hamming", bandwidths=(0.25, 0.5, 1.0),
                 stepsize=0.1, epochs=epochs, random_state=seed)
    t0 = time.perf_counter()
    model.fit(data)
    seconds = time.perf_counter() - t0
    p = model.probabilities()
    valid = p[bits_to_int(bas)].sum()
    print(f"bars-and-stripes 3x3 ({model.circuit.n_weights} weights, {epochs} steps, {seconds:.1f} s): "
          f"MMD {model.loss_history_[0]:.4f} -> {model.loss_history_[-1]:.5f}, KL {model.kl_history_[-1]:.3f}, "
          f"probability on the 14 valid images {valid:.3f}")
    return model, data, valid


def train_gaussian_mixture(n_qubits: int = 6, n_layers: int = 4, epochs: int = 300, n_samples: int = 5000,
                           seed: int = 1):
    target = discretized_gaussian_mixture(n_qubits, centers=(0.3, 0.7), widths=(0.08, 0.1), weights=(0.6, 0.4))
    rng = np.random.default_rng(seed)
    data = rng.choice(2**n_qubits, size=n_samples, p=target)
    model = QCBM(n_qubits, n_layers=n_layers, loss="mmd", bandwidths=(0.25, 4.0, 16.0), stepsize=0.1,
                 epochs=epochs, random_state=seed)
    model.fit(data)
    kl = model.kl(target)
    print(f"Gaussian mixture on 2^{n_qubits} bins: MMD {model.loss_history_[0]:.4f} -> "
          f"{model.loss_history_[-1]:.6f}, KL(target || model) {kl:.4f}")
    return model, target, kl


def plot(bas_model, bas_data, gm_model, gm_target, path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 2, figsize=(10, 6.5))
    bas = bars_and_stripes(3, 3)
    idx = bits_to_int(bas)
    target = np.bincount(bits_to_int(bas_data), minlength=512) / len(bas_data)
    p = bas_model.probabilities()
    order = np.argsort(-target)[:24]
    ax[0, 0].bar(np.arange(24) - 0.2, target[order], 0.4, label="data")
    ax[0, 0].bar(np.arange(24) + 0.2, p[order], 0.4, label="QCBM")
    ax[0, 0].set_title(f"bars-and-stripes 3x3: 24 most frequent of 512 (valid mass {p[idx].sum():.2f})")
    ax[0, 0].set_xlabel("image (by data frequency)")
    ax[0, 0].legend()
    x = np.arange(gm_target.size)
    ax[0, 1].bar(x, gm_target, 1.0, alpha=0.4, label="target")
    ax[0, 1].plot(x, gm_model.probabilities(), "k.-", label="QCBM")
    ax[0, 1].set_title("Gaussian mixture, 2^6 bins")
    ax[0, 1].legend()
    for col, (m, name) in enumerate(((bas_model, "bars-and-stripes"), (gm_model, "Gaussian mixture"))):
        a = ax[1, col]
        a.semilogy(m.loss_history_, label="MMD$^2$")
        a.semilogy(m.kl_history_, label="KL(data || model)")
        a.set_xlabel("Adam step")
        a.set_title(f"{name}: training curves")
        a.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main(epochs: int = 300, bas_layers: int = 6, plot_path: str | None = "docs/qcbm.png"):
    bas_model, bas_data, valid = train_bars_and_stripes(n_layers=bas_layers, epochs=epochs)
    gm_model, gm_target, kl = train_gaussian_mixture(epochs=epochs)
    if plot_path:
        print(f"plot saved to {plot(bas_model, bas_data, gm_model, gm_target, plot_path)}")
    return valid, kl, bas_model, gm_model


if __name__ == "__main__":
    main()
