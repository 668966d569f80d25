"""Barren-plateau studies: the variance of a cost's partial derivative over random parameters, against the
number of qubits (McClean et al., Nat. Commun. 9, 4812 (2018); Cerezo et al., Nat. Commun. 12, 1791 (2021)).

::

    for n in n_qubits:
        theta_s ~ U[0, 2 pi)^p,  s = 1..n_samples      (one weight set per row: one batched engine call)
        g_s = dC/dtheta_k (theta_s)                      (exact, adjoint or tensor-network reverse mode)
        Var[g]  ->  exponential decay in n = barren plateau

Costs: ``"global"`` is ``<Z_0 Z_1 ... Z_{n-1}>``; ``"local"`` is ``(1/n) sum_j <Z_j>``. The method is chosen by
``method="auto"`` from the methods' own estimates of the gradient (the state vector for small registers, the
tensor network or the MPS on 50-200 qubits, whichever is cheaper; local costs keep their light cones).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import numpy as np

from ..frontend.circuit import Circuit
from ..frontend.observables import Observable
from . import templates

__all__ = ["cost_observable", "gradient_samples", "gradient_variance", "plot_gradient_variance"]

_ANSATZE = {
    "hardware_efficient": templates.HardwareEfficientAnsatz,
    "strongly_entangling": templates.StronglyEntanglingLayers,
    "basic_entangler": templates.BasicEntanglerLayers,
}


def cost_observable(n: int, cost: str | Observable | Callable = "local") -> Observable:
    """The study's cost observable on n wires (a name, an observable, or ``cost(n) -> observable``)."""
    if isinstance(cost, Observable):
        return cost
    if callable(cost):
        return cost(n)
    if cost == "global":
        o = Observable.pauli("Z", 0)
        for j in range(1, n):
            o = o @ Observable.pauli("Z", j)
        return o
    if cost == "local":
        o = Observable()
        for j in range(n):
            o = o + (1.0 / n) * Observable.pauli("Z", j)
        return o
    raise ValueError(f"cost must be 'local', 'global', an observable or a callable, got {cost!r}")


def _ansatz(ansatz):
    if isinstance(ansatz, str):
        if ansatz not in _ANSATZE:
            raise ValueError(f"ansatz must be one of {sorted(_ANSATZE)} or a template function, got {ansatz!r}")
        return _ANSATZE[ansatz]
    if not callable(ansatz):
        raise TypeError(f"ansatz must be a template function or a name, got {ansatz!r}")
    return ansatz


def _build(ansatz, n: int, n_layers: int, shape: Callable | None, cost) -> tuple[Circuit, Observable, tuple]:
    fn = _ansatz(ansatz)
    shape_fn = shape or getattr(fn, "shape", None)
    if shape_fn is None:
        raise ValueError("pass shape=(n_layers, n_wires) -> weight shape for an ansatz without a .shape helper")
    wshape = tuple(shape_fn(n_layers, n))
    c = Circuit(n)
    w = c.new_weights(*wshape)
    with c:
        fn(w, wires=list(range(n)))
    return c, cost_observable(n, cost), wshape


def gradient_samples(ansatz="hardware_efficient", n_qubits: int = 4, n_layers: int | Callable = 4,
                     cost="local", n_samples: int = 200, param_index: int | str = 0, seed: int = 0,
                     method: str = "auto", shape: Callable | None = None):
    """Partial derivatives dC/dtheta_k at ``n_samples`` uniformly random parameter sets.

    Returns ``(grads, thetas)``: (n_samples,) for one ``param_index`` or (n_samples, p) for ``"all"``, and
    the parameter sets (n_samples, p).
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    layers = n_layers(n_qubits) if callable(n_layers) else n_layers
    if not isinstance(layers, (int, np.integer)) or layers < 1:
        raise ValueError(f"n_layers must be a positive integer, got {layers!r}")
    c, obs, _ = _build(ansatz, int(n_qubits), int(layers), shape, cost)
    p = c.n_weights
    if param_index != "all" and not (isinstance(param_index, (int, np.integer)) and 0 <= param_index < p):
        raise ValueError(f"param_index must be 'all' or in [0, {p}), got {param_index!r}")
    rng = np.random.default_rng(seed)
    thetas = rng.uniform(0.0, 2 * np.pi, (int(n_samples), p))
    ex = c.executor([obs], method, measurement="jacobian")  # "auto": by the methods' gradient estimates
    try:
        _, dw, _ = ex.jacobian(thetas, None)  # one weight set per row: a single batched call
    except (TypeError, NotImplementedError):  # a method without per-row weights: one call per sample
        dw = np.concatenate([ex.jacobian(t, None)[1] for t in thetas], axis=0)
    g = dw[:, 0, :]
    return (g if param_index == "all" else g[:, int(param_index)]), thetas


def gradient_variance(ansatz="hardware_efficient", n_qubits: Sequence[int] = (2, 4, 6, 8),
                      n_layers: int | Callable = 4, cost="local", n_samples: int = 200,
                      param_index: int | str = 0, seed: int = 0, method: str = "auto",
                      shape: Callable | None = None, plot: str | None = None) -> dict:
    """Variance of dC/dtheta_k over random parameters for each qubit count.

    Parameters
    ----------
    ansatz : str or template function
        ``"hardware_efficient"``, ``"strongly_entangling"``, ``"basic_entangler"``, or ``f(weights, wires)``
        (with a ``.shape(n_layers, n_wires)`` helper or ``shape=``).
    n_qubits : sequence of int
    n_layers : int or callable
        Depth, or ``n_layers(n)`` (e.g. ``lambda n: n`` for depth growing with width).
    cost : {"local", "global"}, Observable or callable
    n_samples : int
        Random parameter sets per qubit count.
    param_index : int or "all"
        Which derivative (default the first parameter); "all" averages the variance over parameters.
    method : {"auto", "statevector", "tensornet", "mps"}
        "auto" takes the MPS for global costs of wide shallow circuits (50-200 qubits) by its cost estimate.
    plot : str, optional
        Save a semilog plot of the variance against n to this PNG path (needs matplotlib).

    Returns
    -------
    dict with ``n_qubits``, ``variance``, ``mean``, ``decay_rate`` (slope of ln Var against n, fitted by
    least squares; negative for a barren plateau), ``cost``, ``ansatz``, and ``plot`` (path or None).
    """
    ns = [int(n) for n in n_qubits]
    if not ns or min(ns) < 1:
        raise ValueError(f"n_qubits must be a non-empty list of positive integers, got {n_qubits!r}")
    var, mean = [], []
    for n in ns:
        g, _ = gradient_samples(ansatz, n, n_layers, cost, n_samples, param_index, seed + n, method, shape)
        var.append(float(np.mean(np.var(g, axis=0))))
        mean.append(float(np.mean(g)))
    decay = float("nan")
    if len(ns) >= 2 and all(v > 0 for v in var):
        decay = float(np.polyfit(ns, np.log(var), 1)[0])
    out = {"n_qubits": ns, "variance": var, "mean": mean, "decay_rate": decay,
           "cost": cost if isinstance(cost, str) else "custom",
           "ansatz": ansatz if isinstance(ansatz, str) else getattr(ansatz, "__name__", "custom"), "plot": None}
    if plot:
        out["plot"] = plot_gradient_variance([out], plot)
    return out


def plot_gradient_variance(results: Sequence[dict], path: str) -> str | None:
    """Semilog plot of Var[dC/dtheta] against n for one or more :func:`gradient_variance` results
    (e.g. local and global costs); returns the path, or None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in results:
        label = f"{r['ansatz']}, {r['cost']} cost (slope {r['decay_rate']:.2f})"
        ax.semilogy(r["n_qubits"], r["variance"], "o-", label=label)
    ax.set_xlabel("qubits")
    ax.set_ylabel("Var[dC/dθ]")
    ax.set_title("Gradient variance over random parameters")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
