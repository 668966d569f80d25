"""Barren plateaus: the variance of dC/dtheta_0 over random parameters of a hardware-efficient ansatz,
against the number of qubits, for a local and a global cost; saves a semilog plot.

    python examples/barren_plateau.py
"""
from pyqml.studies import gradient_variance, plot_gradient_variance


def main(n_qubits=(2, 4, 6, 8, 10), n_layers: int = 4, n_samples: int = 200, plot: str = "barren_plateau.png"):
    results = []
    for cost in ("local", "global"):
        r = gradient_variance("hardware_efficient", n_qubits=list(n_qubits), n_layers=n_layers, cost=cost,
                              n_samples=n_samples)
        results.append(r)
        print(f"{cost:6s} cost: Var[dC/dtheta_0] = "
              + ", ".join(f"{v:.2e}" for v in r["variance"]) + f"  (ln Var slope {r['decay_rate']:.2f} per qubit)")
    saved = plot_gradient_variance(results, plot) if plot else None
    if saved:
        print(f"plot saved to {saved}")
    return results


if __name__ == "__main__":
    main()
